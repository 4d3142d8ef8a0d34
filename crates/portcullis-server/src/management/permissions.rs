//! Management API: permissions (`/permissions`, `/permissions/{permission_id}`).

use axum::extract::State;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{
    ApiError, Caller, ErrorBody, Json, Page, Path, Query, Sort, Success, created, ok, plausible_id,
    text,
};
use crate::AppState;
use crate::store::{KeyedPatch, KeyedWrite, ManagedPermission, NewPermission, SortBy};

/// The routes of this group.
pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_permissions, create_permission))
        .routes(routes!(update_permission, delete_permission))
}

/// The longest name.
pub(super) const MAX_NAME: usize = 200;
/// The longest description.
pub(super) const MAX_DESCRIPTION: usize = 1000;
/// The longest key.
pub(super) const MAX_KEY: usize = 128;

/// A role or permission key: 1 to 128 of ASCII letters, digits and `_ - : .` (`read:todos`).
pub(super) fn key(field: &str, value: &str) -> Result<String, ApiError> {
    let ok = !value.is_empty()
        && value.len() <= MAX_KEY
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-:.".contains(&b));
    if ok {
        Ok(value.to_owned())
    } else {
        Err(ApiError::bad_request(
            "INVALID_KEY",
            format!("{field} must be 1 to {MAX_KEY} ASCII letters, digits, _ - : or ."),
        ))
    }
}

/// A description: blank (or absent) is none.
pub(super) fn description(value: Option<&str>) -> Result<Option<String>, ApiError> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => text("description", v, MAX_DESCRIPTION).map(Some),
    }
}

/// The `sort` values of the role and permission lists: Kinde's.
pub(super) const SORTS: &[&str] = &["name_asc", "name_desc", "id_asc", "id_desc"];

pub(super) fn sort_schema() -> utoipa::openapi::Object {
    super::sort_schema(SORTS)
}

/// The position of a role or permission in a page token of `sort`.
pub(super) fn cursor(sort: &Sort, id: &str, name: &str) -> String {
    match sort.order.by {
        SortBy::Name => sort.cursor(name, id),
        SortBy::Key | SortBy::Email => sort.cursor(id, id),
    }
}

fn permission_not_found() -> ApiError {
    ApiError::not_found("PERMISSION_NOT_FOUND", "no permission has this id")
}

fn key_taken() -> ApiError {
    ApiError::conflict(
        "PERMISSION_ALREADY_EXISTS",
        "a permission with this key already exists",
    )
}

/// A permission.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct Permission {
    /// `perm_…`.
    pub id: String,
    /// What tokens carry (`read:todos`).
    pub key: String,
    /// Display name.
    pub name: String,
    /// What it is for.
    pub description: Option<String>,
}

impl From<ManagedPermission> for Permission {
    fn from(p: ManagedPermission) -> Self {
        Permission {
            id: p.id,
            key: p.key,
            name: p.name,
            description: p.description,
        }
    }
}

/// `GET /permissions`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct PermissionsResponse {
    /// `OK`.
    pub code: String,
    /// `Success`.
    pub message: String,
    /// This page.
    pub permissions: Vec<Permission>,
    /// The token of the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// Query of a page of a list ordered by id.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListQuery {
    /// Items per page: 1 to 500, default 10.
    #[param(minimum = 1, maximum = 500)]
    pub(super) page_size: Option<i64>,
    /// The `next_token` of the previous page.
    pub(super) next_token: Option<String>,
    /// `name_asc`, `name_desc`, `id_asc` or `id_desc` (ties by id). Without it, by id.
    #[param(schema_with = sort_schema)]
    pub(super) sort: Option<String>,
}

/// Lists permissions, ordered by id or by `sort`.
#[utoipa::path(get, path = "/permissions", tag = "Permissions", operation_id = "getPermissions",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of permissions", body = PermissionsResponse),
        (status = 400, description = "Bad parameters", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
    ),
    security(("bearer" = ["read:permissions"])))]
async fn get_permissions(
    State(state): State<AppState>,
    _caller: Caller,
    Query(q): Query<ListQuery>,
) -> Result<Response, ApiError> {
    let sort = Sort::parse(q.sort.as_deref(), SORTS)?;
    let list = sort.list("permissions");
    let page = Page::parse(&list, q.page_size, q.next_token.as_deref())?;
    let after = sort.after(page.after.as_deref())?;
    let rows = state
        .store()
        .management()
        .permissions_sorted(sort.order, after.as_ref(), page.fetch())
        .await?;
    let (rows, next_token) = page.finish_with(&list, rows, |p| cursor(&sort, &p.id, &p.name));
    Ok(ok(PermissionsResponse {
        code: "OK".into(),
        message: "Success".into(),
        permissions: rows.into_iter().map(Permission::from).collect(),
        next_token,
    }))
}

/// Body of `POST /permissions`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreatePermissionRequest {
    /// Display name (at most 200 characters).
    name: String,
    /// What it is for (at most 1000 characters).
    description: Option<String>,
    /// What tokens carry: 1 to 128 of ASCII letters, digits and `_ - : .`; unique.
    key: String,
}

/// The id of a new permission.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct CreatedPermission {
    /// `perm_…`.
    pub id: String,
}

/// `POST /permissions`: Kinde's `{code, message}`, plus the new id.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct CreatePermissionResponse {
    /// `OK`.
    pub code: String,
    /// `Success`.
    pub message: String,
    /// The new permission.
    pub permission: CreatedPermission,
}

/// Creates a permission.
#[utoipa::path(post, path = "/permissions", tag = "Permissions",
    operation_id = "createPermission",
    request_body = CreatePermissionRequest,
    responses(
        (status = 201, description = "Created", body = CreatePermissionResponse),
        (status = 400, description = "Invalid body", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
        (status = 409, description = "The key is in use", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
    ),
    security(("bearer" = ["create:permissions"])))]
async fn create_permission(
    State(state): State<AppState>,
    _caller: Caller,
    Json(body): Json<CreatePermissionRequest>,
) -> Result<Response, ApiError> {
    let name = text("name", &body.name, MAX_NAME)?;
    let description = description(body.description.as_deref())?;
    let key = key("key", &body.key)?;
    let id = crate::ids::new_id("perm");
    let outcome = state
        .store()
        .management()
        .create_permission(&NewPermission {
            id: &id,
            key: &key,
            name: &name,
            description: description.as_deref(),
        })
        .await?;
    match outcome {
        KeyedWrite::Done => Ok(created(CreatePermissionResponse {
            code: "OK".into(),
            message: "Success".into(),
            permission: CreatedPermission { id },
        })),
        KeyedWrite::KeyTaken => Err(key_taken()),
        KeyedWrite::NotFound => Err(permission_not_found()),
    }
}

/// Body of `PATCH /permissions/{permission_id}`: only the fields given change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UpdatePermissionRequest {
    /// Display name (at most 200 characters).
    name: Option<String>,
    /// What it is for; blank clears it.
    description: Option<String>,
    /// What tokens carry; unique.
    key: Option<String>,
}

/// Changes a permission (tokens issued from now on carry a new key).
#[utoipa::path(patch, path = "/permissions/{permission_id}", tag = "Permissions",
    operation_id = "updatePermissions",
    params(("permission_id" = String, Path, description = "The permission's id")),
    request_body = UpdatePermissionRequest,
    responses(
        (status = 200, description = "Updated", body = Success),
        (status = 400, description = "Invalid body", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
        (status = 404, description = "No such permission", body = ErrorBody),
        (status = 409, description = "The key is in use", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
    ),
    security(("bearer" = ["update:permissions"])))]
async fn update_permission(
    State(state): State<AppState>,
    _caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<UpdatePermissionRequest>,
) -> Result<Response, ApiError> {
    if !plausible_id(&id) {
        return Err(permission_not_found());
    }
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
        .update_permission(&id, &patch)
        .await?
    {
        KeyedWrite::Done => Ok(ok(Success::ok())),
        KeyedWrite::NotFound => Err(permission_not_found()),
        KeyedWrite::KeyTaken => Err(key_taken()),
    }
}

/// Deletes a permission: every role and member loses it (tokens issued from now on).
#[utoipa::path(delete, path = "/permissions/{permission_id}", tag = "Permissions",
    operation_id = "deletePermission",
    params(("permission_id" = String, Path, description = "The permission's id")),
    responses(
        (status = 200, description = "Deleted", body = Success),
        (status = 400, description = "Bad parameters", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
        (status = 404, description = "No such permission", body = ErrorBody),
    ),
    security(("bearer" = ["delete:permissions"])))]
async fn delete_permission(
    State(state): State<AppState>,
    _caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    if !plausible_id(&id) || !state.store().management().delete_permission(&id).await? {
        return Err(permission_not_found());
    }
    Ok(ok(Success::ok()))
}
