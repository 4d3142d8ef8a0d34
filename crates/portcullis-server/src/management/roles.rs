//! Management API: roles (`/roles`, `/roles/{role_id}`, its permissions and users).

use std::collections::HashSet;

use axum::extract::State;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::permissions::{
    ListQuery, MAX_NAME, Permission, PermissionsResponse, SORTS, cursor, description, key,
};
use super::{
    ApiError, Caller, ErrorBody, Json, MAX_BULK, Page, Path, Query, Sort, Success, created, ok,
    plausible_id, text,
};
use crate::AppState;
use crate::store::{
    KeyedPatch, KeyedWrite, ManagedRole, NewRole, RolePermissionRemoval, RolePermissionsWrite,
};

/// The routes of this group.
pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_roles, create_role))
        .routes(routes!(get_role, update_role, delete_role))
        .routes(routes!(get_role_permissions, update_role_permissions))
        .routes(routes!(remove_role_permission))
        .routes(routes!(get_role_users))
}

fn role_not_found() -> ApiError {
    ApiError::not_found("ROLE_NOT_FOUND", "no role has this id")
}

fn key_taken() -> ApiError {
    ApiError::conflict("ROLE_ALREADY_EXISTS", "a role with this key already exists")
}

/// A role id from the path, or a 404 without touching the database.
fn role_id(id: &str) -> Result<&str, ApiError> {
    if plausible_id(id) {
        Ok(id)
    } else {
        Err(role_not_found())
    }
}

/// A role.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct Role {
    /// `role_…`.
    pub id: String,
    /// What tokens carry (`admin`).
    pub key: String,
    /// Display name.
    pub name: String,
    /// What it is for.
    pub description: Option<String>,
    /// Whether new organization members get it.
    pub is_default_role: bool,
}

impl From<ManagedRole> for Role {
    fn from(r: ManagedRole) -> Self {
        Role {
            id: r.id,
            key: r.key,
            name: r.name,
            description: r.description,
            is_default_role: r.is_default_role,
        }
    }
}

/// `GET /roles`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct RolesResponse {
    /// `OK`.
    pub code: String,
    /// `Success`.
    pub message: String,
    /// This page.
    pub roles: Vec<Role>,
    /// The token of the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// Lists roles, ordered by id or by `sort`.
#[utoipa::path(get, path = "/roles", tag = "Roles", operation_id = "getRoles",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of roles", body = RolesResponse),
        (status = 400, description = "Bad parameters", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
    ),
    security(("bearer" = ["read:roles"])))]
async fn get_roles(
    State(state): State<AppState>,
    _caller: Caller,
    Query(q): Query<ListQuery>,
) -> Result<Response, ApiError> {
    let sort = Sort::parse(q.sort.as_deref(), SORTS)?;
    let list = sort.list("roles");
    let page = Page::parse(&list, q.page_size, q.next_token.as_deref())?;
    let after = sort.after(page.after.as_deref())?;
    let rows = state
        .store()
        .management()
        .roles_sorted(sort.order, after.as_ref(), page.fetch())
        .await?;
    let (rows, next_token) = page.finish_with(&list, rows, |r| cursor(&sort, &r.id, &r.name));
    Ok(ok(RolesResponse {
        code: "OK".into(),
        message: "Success".into(),
        roles: rows.into_iter().map(Role::from).collect(),
        next_token,
    }))
}

/// Body of `POST /roles`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateRoleRequest {
    /// Display name (at most 200 characters).
    name: String,
    /// What it is for (at most 1000 characters).
    description: Option<String>,
    /// What tokens carry: 1 to 128 of ASCII letters, digits and `_ - : .`; unique.
    key: String,
    /// Whether new organization members get it (default `false`).
    is_default_role: Option<bool>,
}

/// The id of a new role.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct CreatedRole {
    /// `role_…`.
    pub id: String,
}

/// `POST /roles`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct CreateRoleResponse {
    /// `OK`.
    pub code: String,
    /// `Success`.
    pub message: String,
    /// The new role.
    pub role: CreatedRole,
}

/// Creates a role (without permissions: add them with `PATCH /roles/{role_id}/permissions`).
#[utoipa::path(post, path = "/roles", tag = "Roles", operation_id = "createRole",
    request_body = CreateRoleRequest,
    responses(
        (status = 201, description = "Created", body = CreateRoleResponse),
        (status = 400, description = "Invalid body", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
        (status = 409, description = "The key is in use", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
    ),
    security(("bearer" = ["create:roles"])))]
async fn create_role(
    State(state): State<AppState>,
    _caller: Caller,
    Json(body): Json<CreateRoleRequest>,
) -> Result<Response, ApiError> {
    let name = text("name", &body.name, MAX_NAME)?;
    let description = description(body.description.as_deref())?;
    let key = key("key", &body.key)?;
    let id = crate::ids::new_id("role");
    let outcome = state
        .store()
        .management()
        .create_role(&NewRole {
            id: &id,
            key: &key,
            name: &name,
            description: description.as_deref(),
            is_default_role: body.is_default_role.unwrap_or(false),
        })
        .await?;
    match outcome {
        KeyedWrite::Done => Ok(created(CreateRoleResponse {
            code: "OK".into(),
            message: "Success".into(),
            role: CreatedRole { id },
        })),
        KeyedWrite::KeyTaken => Err(key_taken()),
        KeyedWrite::NotFound => Err(role_not_found()),
    }
}

/// `GET /roles/{role_id}`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct RoleResponse {
    /// `OK`.
    pub code: String,
    /// `Success`.
    pub message: String,
    /// The role.
    pub role: Role,
}

/// Gets one role.
#[utoipa::path(get, path = "/roles/{role_id}", tag = "Roles", operation_id = "getRole",
    params(("role_id" = String, Path, description = "The role's id")),
    responses(
        (status = 200, description = "The role", body = RoleResponse),
        (status = 400, description = "Bad parameters", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
        (status = 404, description = "No such role", body = ErrorBody),
    ),
    security(("bearer" = ["read:roles"])))]
async fn get_role(
    State(state): State<AppState>,
    _caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let role = state
        .store()
        .management()
        .role(role_id(&id)?)
        .await?
        .ok_or_else(role_not_found)?;
    Ok(ok(RoleResponse {
        code: "OK".into(),
        message: "Success".into(),
        role: role.into(),
    }))
}

/// Body of `PATCH /roles/{role_id}`: only the fields given change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UpdateRoleRequest {
    /// Display name (at most 200 characters).
    name: Option<String>,
    /// What it is for; blank clears it.
    description: Option<String>,
    /// What tokens carry; unique.
    key: Option<String>,
    /// Whether new organization members get it.
    is_default_role: Option<bool>,
}

/// Changes a role (tokens issued from now on carry the new key and name).
#[utoipa::path(patch, path = "/roles/{role_id}", tag = "Roles", operation_id = "updateRoles",
    params(("role_id" = String, Path, description = "The role's id")),
    request_body = UpdateRoleRequest,
    responses(
        (status = 201, description = "Updated (201, as in Kinde's specification)", body = Success),
        (status = 400, description = "Invalid body", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
        (status = 404, description = "No such role", body = ErrorBody),
        (status = 409, description = "The key is in use", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
    ),
    security(("bearer" = ["update:roles"])))]
async fn update_role(
    State(state): State<AppState>,
    _caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<UpdateRoleRequest>,
) -> Result<Response, ApiError> {
    let id = role_id(&id)?;
    let patch = KeyedPatch {
        name: body
            .name
            .as_deref()
            .map(|n| text("name", n, MAX_NAME))
            .transpose()?,
        key: body.key.as_deref().map(|k| key("key", k)).transpose()?,
        description: body
            .description
            .as_deref()
            .map(|d| description(Some(d)))
            .transpose()?,
    };
    match state
        .store()
        .management()
        .update_role(id, &patch, body.is_default_role)
        .await?
    {
        KeyedWrite::Done => Ok(created(Success::ok())),
        KeyedWrite::NotFound => Err(role_not_found()),
        KeyedWrite::KeyTaken => Err(key_taken()),
    }
}

/// Deletes a role: members lose it (tokens issued from now on).
#[utoipa::path(delete, path = "/roles/{role_id}", tag = "Roles", operation_id = "deleteRole",
    params(("role_id" = String, Path, description = "The role's id")),
    responses(
        (status = 200, description = "Deleted", body = Success),
        (status = 400, description = "Bad parameters", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
        (status = 404, description = "No such role", body = ErrorBody),
    ),
    security(("bearer" = ["delete:roles"])))]
async fn delete_role(
    State(state): State<AppState>,
    _caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    if !state
        .store()
        .management()
        .delete_role(role_id(&id)?)
        .await?
    {
        return Err(role_not_found());
    }
    Ok(ok(Success::ok()))
}

/// Lists a role's permissions, ordered by id or by `sort`.
#[utoipa::path(get, path = "/roles/{role_id}/permissions", tag = "Roles",
    operation_id = "getRolePermissions",
    params(("role_id" = String, Path, description = "The role's id"), ListQuery),
    responses(
        (status = 200, description = "A page of the role's permissions", body = PermissionsResponse),
        (status = 400, description = "Bad parameters", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
        (status = 404, description = "No such role", body = ErrorBody),
    ),
    security(("bearer" = ["read:role_permissions"])))]
async fn get_role_permissions(
    State(state): State<AppState>,
    _caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<ListQuery>,
) -> Result<Response, ApiError> {
    let id = role_id(&id)?;
    let sort = Sort::parse(q.sort.as_deref(), SORTS)?;
    // The token names the role (and the order), so it cannot page through another role's list.
    let list = sort.list(&format!("roles/{id}/permissions"));
    let page = Page::parse(&list, q.page_size, q.next_token.as_deref())?;
    let after = sort.after(page.after.as_deref())?;
    let rows = state
        .store()
        .management()
        .role_permissions_sorted(id, sort.order, after.as_ref(), page.fetch())
        .await?
        .ok_or_else(role_not_found)?;
    let (rows, next_token) = page.finish_with(&list, rows, |p| cursor(&sort, &p.id, &p.name));
    Ok(ok(PermissionsResponse {
        code: "OK".into(),
        message: "Success".into(),
        permissions: rows.into_iter().map(Permission::from).collect(),
        next_token,
    }))
}

/// One change of `PATCH /roles/{role_id}/permissions`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RolePermissionChange {
    /// The permission's id.
    id: String,
    /// `delete` removes it from the role; absent adds it.
    operation: Option<String>,
}

/// Body of `PATCH /roles/{role_id}/permissions`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UpdateRolePermissionsRequest {
    /// At most 100 changes, applied all or nothing.
    #[schema(max_items = 100)]
    permissions: Vec<RolePermissionChange>,
}

/// `PATCH /roles/{role_id}/permissions`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct UpdateRolePermissionsResponse {
    /// `OK`.
    pub code: String,
    /// `Success`.
    pub message: String,
    /// The role's id.
    pub role_id: String,
    /// Ids of the permissions the role now grants by this request (including ones it already
    /// granted), in request order.
    pub permissions_added: Vec<String>,
    /// Ids of the permissions the role no longer grants (including ones it did not grant).
    pub permissions_removed: Vec<String>,
}

/// Adds and removes permissions of a role, all or nothing: an unknown permission id changes
/// nothing. Users' tokens issued from now on carry the new permissions.
#[utoipa::path(patch, path = "/roles/{role_id}/permissions", tag = "Roles",
    operation_id = "updateRolePermissions",
    params(("role_id" = String, Path, description = "The role's id")),
    request_body = UpdateRolePermissionsRequest,
    responses(
        (status = 200, description = "Updated", body = UpdateRolePermissionsResponse),
        (status = 400, description = "Invalid body or unknown permission", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
        (status = 404, description = "No such role", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
    ),
    security(("bearer" = ["update:role_permissions"])))]
async fn update_role_permissions(
    State(state): State<AppState>,
    _caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<UpdateRolePermissionsRequest>,
) -> Result<Response, ApiError> {
    if body.permissions.len() > MAX_BULK {
        return Err(ApiError::bad_request(
            "TOO_MANY_ITEMS",
            format!("at most {MAX_BULK} permissions"),
        ));
    }
    let id = role_id(&id)?;
    let unknown = |pid: &str| {
        ApiError::bad_request(
            "PERMISSION_INVALID",
            format!("no permission has the id {pid:?}"),
        )
    };
    let mut seen = HashSet::new();
    let mut changes = Vec::with_capacity(body.permissions.len());
    let mut added = Vec::new();
    let mut removed = Vec::new();
    for change in body.permissions {
        let remove = match change.operation.as_deref() {
            None => false,
            Some("delete") => true,
            Some(_) => {
                return Err(ApiError::bad_request(
                    "INVALID_OPERATION",
                    "operation is delete or absent",
                ));
            }
        };
        if !plausible_id(&change.id) {
            return Err(unknown(&change.id.chars().take(64).collect::<String>()));
        }
        if !seen.insert(change.id.clone()) {
            return Err(ApiError::bad_request(
                "DUPLICATE_PERMISSION",
                format!("permission {:?} is named more than once", change.id),
            ));
        }
        if remove {
            removed.push(change.id.clone());
        } else {
            added.push(change.id.clone());
        }
        changes.push((change.id, remove));
    }
    match state
        .store()
        .management()
        .update_role_permissions(id, &changes)
        .await?
    {
        RolePermissionsWrite::Done => Ok(ok(UpdateRolePermissionsResponse {
            code: "OK".into(),
            message: "Success".into(),
            role_id: id.to_owned(),
            permissions_added: added,
            permissions_removed: removed,
        })),
        RolePermissionsWrite::RoleNotFound => Err(role_not_found()),
        RolePermissionsWrite::UnknownPermission(pid) => Err(unknown(&pid)),
    }
}

/// Removes one permission from a role.
#[utoipa::path(delete, path = "/roles/{role_id}/permissions/{permission_id}", tag = "Roles",
    operation_id = "removeRolePermission",
    params(
        ("role_id" = String, Path, description = "The role's id"),
        ("permission_id" = String, Path, description = "The permission's id"),
    ),
    responses(
        (status = 200, description = "Removed", body = Success),
        (status = 400, description = "Bad parameters", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
        (status = 404, description = "No such role, or the role does not grant it", body = ErrorBody),
    ),
    security(("bearer" = ["delete:role_permissions"])))]
async fn remove_role_permission(
    State(state): State<AppState>,
    _caller: Caller,
    Path((id, permission)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let id = role_id(&id)?;
    let not_granted = || {
        ApiError::not_found(
            "PERMISSION_NOT_FOUND",
            "the role does not grant this permission",
        )
    };
    if !plausible_id(&permission) {
        return Err(not_granted());
    }
    match state
        .store()
        .management()
        .remove_role_permission(id, &permission)
        .await?
    {
        RolePermissionRemoval::Removed => Ok(ok(Success::ok())),
        RolePermissionRemoval::RoleNotFound => Err(role_not_found()),
        RolePermissionRemoval::NotGranted => Err(not_granted()),
    }
}

/// A user who has a role in an organization.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct RoleUser {
    /// `kp_…`.
    pub id: String,
    /// Email address.
    pub email: String,
    /// Given and family name.
    pub full_name: Option<String>,
    /// Given name.
    pub first_name: Option<String>,
    /// Family name.
    pub last_name: Option<String>,
    /// Picture URL.
    pub picture: Option<String>,
    /// The organization where the user has the role (a user with it in two organizations is
    /// listed twice).
    pub org_code: String,
}

/// `GET /roles/{role_id}/users`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct RoleUsersResponse {
    /// `OK`.
    pub code: String,
    /// `Success`.
    pub message: String,
    /// This page.
    pub users: Vec<RoleUser>,
    /// The token of the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// Query of `GET /roles/{role_id}/users`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct RoleUsersQuery {
    /// Items per page: 1 to 500, default 10.
    #[param(minimum = 1, maximum = 500)]
    page_size: Option<i64>,
    /// The `next_token` of the previous page.
    next_token: Option<String>,
}

/// Lists who has a role in which organization, ordered by user id then organization code.
#[utoipa::path(get, path = "/roles/{role_id}/users", tag = "Roles", operation_id = "getRoleUsers",
    params(("role_id" = String, Path, description = "The role's id"), RoleUsersQuery),
    responses(
        (status = 200, description = "A page of the role's users", body = RoleUsersResponse),
        (status = 400, description = "Bad parameters", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
        (status = 404, description = "No such role", body = ErrorBody),
    ),
    security(("bearer" = ["read:roles"])))]
async fn get_role_users(
    State(state): State<AppState>,
    _caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<RoleUsersQuery>,
) -> Result<Response, ApiError> {
    let id = role_id(&id)?;
    let list = format!("roles/{id}/users");
    let page = Page::parse(&list, q.page_size, q.next_token.as_deref())?;
    // A page key is `user_id\norg_code`.
    let after = match page.after.as_deref() {
        None => None,
        Some(key) => Some(key.split_once('\n').ok_or_else(|| {
            ApiError::bad_request(
                "INVALID_NEXT_TOKEN",
                "next_token is not a token this list returned",
            )
        })?),
    };
    let rows = state
        .store()
        .management()
        .role_holders(id, after, page.fetch())
        .await?
        .ok_or_else(role_not_found)?;
    let keyed: Vec<(String, _)> = rows
        .into_iter()
        .map(|r| (format!("{}\n{}", r.user_id, r.org_code), r))
        .collect();
    let (rows, next_token) = page.finish(&list, keyed, |(k, _)| k);
    let users = rows
        .into_iter()
        .map(|(_, r)| RoleUser {
            full_name: full_name(r.given_name.as_deref(), r.family_name.as_deref()),
            id: r.user_id,
            email: r.email,
            first_name: r.given_name,
            last_name: r.family_name,
            picture: r.picture,
            org_code: r.org_code,
        })
        .collect();
    Ok(ok(RoleUsersResponse {
        code: "OK".into(),
        message: "Success".into(),
        users,
        next_token,
    }))
}

fn full_name(given: Option<&str>, family: Option<&str>) -> Option<String> {
    match (given, family) {
        (Some(g), Some(f)) => Some(format!("{g} {f}")),
        (Some(n), None) | (None, Some(n)) => Some(n.to_owned()),
        (None, None) => None,
    }
}
