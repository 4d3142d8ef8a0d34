//! A member's roles and direct permissions in an organization, and the members who hold a
//! role.

use super::members::OrganizationUser;
use super::*;

/// The routes of this part.
pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(
            get_organization_user_roles,
            create_organization_user_role
        ))
        .routes(routes!(delete_organization_user_role))
        .routes(routes!(
            get_organization_user_permissions,
            create_organization_user_permission
        ))
        .routes(routes!(delete_organization_user_permission))
        .routes(routes!(get_organization_role_users))
}

/// A role of a member.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct OrganizationUserRole {
    /// The role's id.
    pub id: String,
    /// Its key.
    pub key: String,
    /// Its name.
    pub name: String,
}

/// `GET /organizations/{org_code}/users/{user_id}/roles`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct OrganizationUserRolesResponse {
    /// `OK`.
    pub code: String,
    /// `Success`.
    pub message: String,
    /// The member's roles, by key.
    pub roles: Vec<OrganizationUserRole>,
}

/// Lists a member's roles in an organization.
#[utoipa::path(get, path = "/organizations/{org_code}/users/{user_id}/roles",
    tag = "Organizations", operation_id = "getOrganizationUserRoles",
    params(
        ("org_code" = String, Path, description = "The organization's code"),
        ("user_id" = String, Path, description = "The user's id"),
    ),
    responses(
        (status = 200, description = "The roles", body = OrganizationUserRolesResponse),
        (status = 400, description = "Bad parameters", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
        (status = 404, description = "No such organization or member", body = ErrorBody),
    ),
    security(("bearer" = ["read:organization_user_roles"])))]
async fn get_organization_user_roles(
    State(state): State<AppState>,
    _caller: Caller,
    Path((code, user)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let code = org_code(&code)?;
    let user = member_id(&user)?;
    let outcome = state
        .store()
        .management()
        .org_member_roles(code, user)
        .await?;
    let roles = failure(outcome, Refs::Path)?;
    Ok(ok(OrganizationUserRolesResponse {
        code: "OK".into(),
        message: "Success".into(),
        roles: roles
            .into_iter()
            .map(|r| OrganizationUserRole {
                id: r.id,
                key: r.key,
                name: r.name,
            })
            .collect(),
    }))
}

/// Body of `POST …/users/{user_id}/roles`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RoleIdRequest {
    /// The role's id.
    role_id: String,
}

/// Gives a member a role in an organization.
#[utoipa::path(post, path = "/organizations/{org_code}/users/{user_id}/roles",
    tag = "Organizations", operation_id = "createOrganizationUserRole",
    params(
        ("org_code" = String, Path, description = "The organization's code"),
        ("user_id" = String, Path, description = "The user's id"),
    ),
    request_body = RoleIdRequest,
    responses(
        (status = 200, description = "Given", body = Success),
        (status = 400, description = "Invalid body or unknown role", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
        (status = 404, description = "No such organization or member", body = ErrorBody),
        (status = 409, description = "The member has the role already", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
    ),
    security(("bearer" = ["create:organization_user_roles"])))]
async fn create_organization_user_role(
    State(state): State<AppState>,
    _caller: Caller,
    Path((code, user)): Path<(String, String)>,
    Json(body): Json<RoleIdRequest>,
) -> Result<Response, ApiError> {
    let code = org_code(&code)?;
    let user = member_id(&user)?;
    if !plausible_id(&body.role_id) {
        return failure(OrgOutcome::UnknownRole(body.role_id), Refs::Body);
    }
    let outcome = state
        .store()
        .management()
        .add_org_member_role(code, user, &body.role_id)
        .await?;
    failure(outcome, Refs::Body)?;
    Ok(ok(Success::ok()))
}

/// Takes a role from a member in an organization.
#[utoipa::path(delete, path = "/organizations/{org_code}/users/{user_id}/roles/{role_id}",
    tag = "Organizations", operation_id = "deleteOrganizationUserRole",
    params(
        ("org_code" = String, Path, description = "The organization's code"),
        ("user_id" = String, Path, description = "The user's id"),
        ("role_id" = String, Path, description = "The role's id"),
    ),
    responses(
        (status = 200, description = "Taken", body = Success),
        (status = 400, description = "Bad parameters", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
        (status = 404, description = "No such organization, member or role of the member", body = ErrorBody),
    ),
    security(("bearer" = ["delete:organization_user_roles"])))]
async fn delete_organization_user_role(
    State(state): State<AppState>,
    _caller: Caller,
    Path((code, user, role)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    let code = org_code(&code)?;
    let user = member_id(&user)?;
    if !plausible_id(&role) {
        return failure(OrgOutcome::NotAssigned, Refs::Path);
    }
    let outcome = state
        .store()
        .management()
        .remove_org_member_role(code, user, &role)
        .await?;
    failure(outcome, Refs::Path)?;
    Ok(ok(Success::ok()))
}

/// A role granting a permission.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct PermissionRole {
    /// The role's id.
    pub id: String,
    /// Its key.
    pub key: String,
}

/// A permission of a member.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct OrganizationUserPermission {
    /// The permission's id.
    pub id: String,
    /// Its key.
    pub key: String,
    /// Its name.
    pub name: String,
    /// Its description.
    pub description: Option<String>,
    /// The member's roles that grant it; empty when it is only granted directly.
    pub roles: Vec<PermissionRole>,
}

/// `GET /organizations/{org_code}/users/{user_id}/permissions`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct OrganizationUserPermissionsResponse {
    /// `OK`.
    pub code: String,
    /// `Success`.
    pub message: String,
    /// The member's permissions (through roles and direct), by key.
    pub permissions: Vec<OrganizationUserPermission>,
}

/// `?expand=` of a member's permissions.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct PermissionsQuery {
    /// `roles` (accepted; the roles are always included).
    expand: Option<String>,
}

/// Lists a member's permissions in an organization: those of their roles and those granted
/// directly.
#[utoipa::path(get, path = "/organizations/{org_code}/users/{user_id}/permissions",
    tag = "Organizations", operation_id = "getOrganizationUserPermissions",
    params(
        ("org_code" = String, Path, description = "The organization's code"),
        ("user_id" = String, Path, description = "The user's id"),
        PermissionsQuery,
    ),
    responses(
        (status = 200, description = "The permissions", body = OrganizationUserPermissionsResponse),
        (status = 400, description = "Bad parameters", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
        (status = 404, description = "No such organization or member", body = ErrorBody),
    ),
    security(("bearer" = ["read:organization_user_permissions"])))]
async fn get_organization_user_permissions(
    State(state): State<AppState>,
    _caller: Caller,
    Path((code, user)): Path<(String, String)>,
    Query(q): Query<PermissionsQuery>,
) -> Result<Response, ApiError> {
    if !matches!(q.expand.as_deref(), None | Some("" | "roles")) {
        return Err(ApiError::bad_request(
            "INVALID_EXPAND",
            "expand takes roles only",
        ));
    }
    let code = org_code(&code)?;
    let user = member_id(&user)?;
    let outcome = state
        .store()
        .management()
        .org_member_permissions(code, user)
        .await?;
    let permissions = failure(outcome, Refs::Path)?;
    Ok(ok(OrganizationUserPermissionsResponse {
        code: "OK".into(),
        message: "Success".into(),
        permissions: permissions
            .into_iter()
            .map(|p| OrganizationUserPermission {
                id: p.id,
                key: p.key,
                name: p.name,
                description: p.description,
                roles: p
                    .roles
                    .into_iter()
                    .map(|(id, key)| PermissionRole { id, key })
                    .collect(),
            })
            .collect(),
    }))
}

/// Body of `POST …/users/{user_id}/permissions`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PermissionIdRequest {
    /// The permission's id.
    permission_id: String,
}

/// Grants a member a permission directly in an organization.
#[utoipa::path(post, path = "/organizations/{org_code}/users/{user_id}/permissions",
    tag = "Organizations", operation_id = "createOrganizationUserPermission",
    params(
        ("org_code" = String, Path, description = "The organization's code"),
        ("user_id" = String, Path, description = "The user's id"),
    ),
    request_body = PermissionIdRequest,
    responses(
        (status = 200, description = "Granted", body = Success),
        (status = 400, description = "Invalid body or unknown permission", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
        (status = 404, description = "No such organization or member", body = ErrorBody),
        (status = 409, description = "Granted directly already", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
    ),
    security(("bearer" = ["create:organization_user_permissions"])))]
async fn create_organization_user_permission(
    State(state): State<AppState>,
    _caller: Caller,
    Path((code, user)): Path<(String, String)>,
    Json(body): Json<PermissionIdRequest>,
) -> Result<Response, ApiError> {
    let code = org_code(&code)?;
    let user = member_id(&user)?;
    if !plausible_id(&body.permission_id) {
        return failure(
            OrgOutcome::UnknownPermission(body.permission_id),
            Refs::Body,
        );
    }
    let outcome = state
        .store()
        .management()
        .add_org_member_permission(code, user, &body.permission_id)
        .await?;
    failure(outcome, Refs::Body)?;
    Ok(ok(Success::ok()))
}

/// Takes a directly granted permission from a member (permissions of their roles stay).
#[utoipa::path(delete,
    path = "/organizations/{org_code}/users/{user_id}/permissions/{permission_id}",
    tag = "Organizations", operation_id = "deleteOrganizationUserPermission",
    params(
        ("org_code" = String, Path, description = "The organization's code"),
        ("user_id" = String, Path, description = "The user's id"),
        ("permission_id" = String, Path, description = "The permission's id"),
    ),
    responses(
        (status = 200, description = "Taken", body = Success),
        (status = 400, description = "Bad parameters", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
        (status = 404, description = "No such organization, member or direct permission", body = ErrorBody),
    ),
    security(("bearer" = ["delete:organization_user_permissions"])))]
async fn delete_organization_user_permission(
    State(state): State<AppState>,
    _caller: Caller,
    Path((code, user, permission)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    let code = org_code(&code)?;
    let user = member_id(&user)?;
    if !plausible_id(&permission) {
        return failure(OrgOutcome::NotAssigned, Refs::Path);
    }
    let outcome = state
        .store()
        .management()
        .remove_org_member_permission(code, user, &permission)
        .await?;
    failure(outcome, Refs::Path)?;
    Ok(ok(Success::ok()))
}

/// `GET /organizations/{org_code}/roles/{role_id}/users`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct OrganizationRoleUsersResponse {
    /// `OK`.
    pub code: String,
    /// `Success`.
    pub message: String,
    /// This page.
    pub users: Vec<OrganizationUser>,
    /// The token of the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// Paging of the members with a role.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct PageQuery {
    /// Items per page: 1 to 500, default 10.
    #[param(minimum = 1, maximum = 500)]
    page_size: Option<i64>,
    /// The `next_token` of the previous page.
    next_token: Option<String>,
}

/// Lists the members who have a role in an organization, ordered by user id.
#[utoipa::path(get, path = "/organizations/{org_code}/roles/{role_id}/users",
    tag = "Organizations", operation_id = "getOrganizationRoleUsers",
    params(
        ("org_code" = String, Path, description = "The organization's code"),
        ("role_id" = String, Path, description = "The role's id"),
        PageQuery,
    ),
    responses(
        (status = 200, description = "A page of members", body = OrganizationRoleUsersResponse),
        (status = 400, description = "Bad parameters", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
        (status = 404, description = "No such organization or role", body = ErrorBody),
    ),
    security(("bearer" = ["read:organization_users"])))]
async fn get_organization_role_users(
    State(state): State<AppState>,
    _caller: Caller,
    Path((code, role)): Path<(String, String)>,
    Query(q): Query<PageQuery>,
) -> Result<Response, ApiError> {
    let code = org_code(&code)?;
    if !plausible_id(&role) {
        return failure(OrgOutcome::UnknownRole(role), Refs::Path);
    }
    let list = format!("organization_role_users:{code}:{role}");
    let page = Page::parse(&list, q.page_size, q.next_token.as_deref())?;
    let outcome = state
        .store()
        .management()
        .org_role_members(code, &role, page.after.as_deref(), page.fetch())
        .await?;
    let rows = failure(outcome, Refs::Path)?;
    let (rows, next_token) = page.finish(&list, rows, |m| &m.id);
    Ok(ok(OrganizationRoleUsersResponse {
        code: "OK".into(),
        message: "Success".into(),
        users: rows.into_iter().map(OrganizationUser::from).collect(),
        next_token,
    }))
}
