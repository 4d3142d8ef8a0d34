//! Members of an organization: list, add, change and remove them in bulk.

use super::*;

/// The routes of this part.
pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(
            get_organization_users,
            add_organization_users,
            update_organization_users
        ))
        .routes(routes!(remove_organization_user))
}

/// A member of an organization.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct OrganizationUser {
    /// `kp_…`.
    pub id: String,
    /// Email.
    pub email: String,
    /// Given and family name.
    pub full_name: Option<String>,
    /// Family name.
    pub last_name: Option<String>,
    /// Given name.
    pub first_name: Option<String>,
    /// Picture URL.
    pub picture: Option<String>,
    /// Keys of the user's roles in the organization.
    pub roles: Vec<String>,
}

impl From<OrgMember> for OrganizationUser {
    fn from(m: OrgMember) -> Self {
        let full_name = match (&m.given_name, &m.family_name) {
            (Some(g), Some(f)) => Some(format!("{g} {f}")),
            (Some(n), None) | (None, Some(n)) => Some(n.clone()),
            (None, None) => None,
        };
        OrganizationUser {
            id: m.id,
            email: m.email,
            full_name,
            last_name: m.family_name,
            first_name: m.given_name,
            picture: m.picture,
            roles: m.roles,
        }
    }
}

/// `GET /organizations/{org_code}/users`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct OrganizationUsersResponse {
    /// `OK`.
    pub code: String,
    /// `Success`.
    pub message: String,
    /// This page.
    pub organization_users: Vec<OrganizationUser>,
    /// The token of the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// Paging and filters of `GET /organizations/{org_code}/users`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct OrganizationUsersQuery {
    /// Items per page: 1 to 500, default 10.
    #[param(minimum = 1, maximum = 500)]
    page_size: Option<i64>,
    /// The `next_token` of the previous page (of the same filters).
    next_token: Option<String>,
    /// `name_asc`, `name_desc` (by `"{first_name} {last_name}"`), `email_asc`, `email_desc`,
    /// `id_asc` or `id_desc`; ties by user id. Without it, by user id.
    #[param(schema_with = organization_users_sort_schema)]
    sort: Option<String>,
    /// Only members with any of these roles (comma-separated keys, at most 200 characters).
    roles: Option<String>,
    /// Only members with any of these permissions, through a role or directly
    /// (comma-separated keys, at most 200 characters).
    permissions: Option<String>,
}

/// The `sort` values of `GET /organizations/{org_code}/users`: Kinde's.
const ORGANIZATION_USER_SORTS: &[&str] = &[
    "name_asc",
    "name_desc",
    "email_asc",
    "email_desc",
    "id_asc",
    "id_desc",
];

fn organization_users_sort_schema() -> utoipa::openapi::Object {
    super::super::sort_schema(ORGANIZATION_USER_SORTS)
}

/// The keys of a comma-separated filter.
fn filter_keys(field: &str, value: Option<&str>) -> Result<Vec<String>, ApiError> {
    let value = value.unwrap_or("");
    let keys: Vec<String> = value
        .split(',')
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(str::to_owned)
        .collect();
    if value.len() > 200 || keys.iter().any(|k| !plausible_id(k)) {
        return Err(ApiError::bad_request(
            "INVALID_FILTER",
            format!("{field} takes comma-separated keys, at most 200 characters"),
        ));
    }
    Ok(keys)
}

/// Lists an organization's members, ordered by user id or by `sort`.
#[utoipa::path(get, path = "/organizations/{org_code}/users", tag = "Organizations",
    operation_id = "getOrganizationUsers",
    params(
        ("org_code" = String, Path, description = "The organization's code"),
        OrganizationUsersQuery,
    ),
    responses(
        (status = 200, description = "A page of members", body = OrganizationUsersResponse),
        (status = 400, description = "Bad parameters", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
        (status = 404, description = "No such organization", body = ErrorBody),
    ),
    security(("bearer" = ["read:organization_users"])))]
async fn get_organization_users(
    State(state): State<AppState>,
    _caller: Caller,
    Path(code): Path<String>,
    Query(q): Query<OrganizationUsersQuery>,
) -> Result<Response, ApiError> {
    let sort = Sort::parse(q.sort.as_deref(), ORGANIZATION_USER_SORTS)?;
    let filter = MemberFilter {
        roles: filter_keys("roles", q.roles.as_deref())?,
        permissions: filter_keys("permissions", q.permissions.as_deref())?,
    };
    let code = org_code(&code)?;
    // A token belongs to one organization, one set of filters and one order.
    let list = sort.list(&format!(
        "organization_users:{code}:{}:{}",
        filter.roles.join(","),
        filter.permissions.join(",")
    ));
    let page = Page::parse(&list, q.page_size, q.next_token.as_deref())?;
    let after = sort.after(page.after.as_deref())?;
    let rows = state
        .store()
        .management()
        .org_members_sorted(code, &filter, sort.order, after.as_ref(), page.fetch())
        .await?
        .ok_or_else(org_not_found)?;
    let (rows, next_token) = page.finish_with(&list, rows, |m| {
        let value = user_sort_value(
            sort.order.by,
            &m.id,
            &m.email,
            m.given_name.as_deref(),
            m.family_name.as_deref(),
        );
        sort.cursor(&value, &m.id)
    });
    Ok(ok(OrganizationUsersResponse {
        code: "OK".into(),
        message: "Success".into(),
        organization_users: rows.into_iter().map(OrganizationUser::from).collect(),
        next_token,
    }))
}

/// One user of a bulk change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct OrganizationUserChange {
    /// The user's id.
    id: String,
    /// Role keys: added (`POST`) or, when present, the user's roles from now on (`PATCH`).
    #[schema(max_items = 100)]
    roles: Option<Vec<String>>,
    /// Permission keys granted directly: added (`POST`) or, when present, the user's direct
    /// permissions from now on (`PATCH`).
    #[schema(max_items = 100)]
    permissions: Option<Vec<String>>,
    /// `delete` removes the user (`PATCH` only).
    operation: Option<String>,
}

/// Body of `POST` and `PATCH /organizations/{org_code}/users`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct OrganizationUsersRequest {
    /// At most 100 users, each once.
    #[schema(max_items = 100)]
    users: Vec<OrganizationUserChange>,
}

/// Checks a bulk body and turns it into store changes.
fn member_changes(
    users: Vec<OrganizationUserChange>,
    allow_delete: bool,
) -> Result<Vec<MemberChange>, ApiError> {
    if users.len() > MAX_BULK {
        return Err(ApiError::bad_request(
            "TOO_MANY_ITEMS",
            format!("at most {MAX_BULK} users"),
        ));
    }
    let mut seen = HashSet::new();
    let mut changes = Vec::with_capacity(users.len());
    for user in users {
        if !plausible_id(&user.id) {
            return Err(ApiError::bad_request(
                "USER_INVALID",
                format!("no user has the id {:?}", user.id),
            ));
        }
        if !seen.insert(user.id.clone()) {
            return Err(ApiError::bad_request(
                "DUPLICATE_USER",
                format!("user {:?} appears more than once", user.id),
            ));
        }
        let remove = match user.operation.as_deref() {
            None => false,
            Some("delete") if allow_delete => true,
            Some(_) => {
                return Err(ApiError::bad_request(
                    "INVALID_OPERATION",
                    if allow_delete {
                        "operation takes delete only"
                    } else {
                        "operation is for PATCH only"
                    },
                ));
            }
        };
        for (list, code) in [
            (&user.roles, "ROLE_INVALID"),
            (&user.permissions, "PERMISSION_INVALID"),
        ] {
            let Some(list) = list else { continue };
            if list.len() > MAX_BULK {
                return Err(ApiError::bad_request(
                    "TOO_MANY_ITEMS",
                    format!("at most {MAX_BULK} roles or permissions per user"),
                ));
            }
            if let Some(bad) = list.iter().find(|k| !plausible_id(k)) {
                return Err(ApiError::bad_request(code, format!("no such key {bad:?}")));
            }
        }
        if remove && (user.roles.is_some() || user.permissions.is_some()) {
            return Err(ApiError::bad_request(
                "INVALID_OPERATION",
                "a user being removed takes no roles or permissions",
            ));
        }
        changes.push(MemberChange {
            user_id: user.id,
            roles: user.roles,
            permissions: user.permissions,
            remove,
        });
    }
    Ok(changes)
}

/// `POST /organizations/{org_code}/users`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct AddOrganizationUsersResponse {
    /// `OK`.
    pub code: String,
    /// `Success`.
    pub message: String,
    /// Ids of the users in the body: all of them are members now.
    pub users_added: Vec<String>,
}

/// Adds users to an organization (new members also get the default roles) and gives them the
/// listed roles and permissions, all or nothing.
#[utoipa::path(post, path = "/organizations/{org_code}/users", tag = "Organizations",
    operation_id = "addOrganizationUsers",
    params(("org_code" = String, Path, description = "The organization's code")),
    request_body = OrganizationUsersRequest,
    responses(
        (status = 200, description = "Added", body = AddOrganizationUsersResponse),
        (status = 400, description = "Invalid body, or an unknown user, role or permission", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
        (status = 404, description = "No such organization", body = ErrorBody),
        (status = 409, description = "A concurrent change", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
    ),
    security(("bearer" = ["create:organization_users"])))]
async fn add_organization_users(
    State(state): State<AppState>,
    _caller: Caller,
    Path(code): Path<String>,
    Json(body): Json<OrganizationUsersRequest>,
) -> Result<Response, ApiError> {
    let code = org_code(&code)?;
    let changes = member_changes(body.users, false)?;
    let outcome = state
        .store()
        .management()
        .change_org_members(code, &changes, MemberMode::Add)
        .await?;
    failure(outcome, Refs::Body)?;
    Ok(ok(AddOrganizationUsersResponse {
        code: "OK".into(),
        message: "Success".into(),
        users_added: changes.into_iter().map(|c| c.user_id).collect(),
    }))
}

/// `PATCH /organizations/{org_code}/users`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct UpdateOrganizationUsersResponse {
    /// `OK`.
    pub code: String,
    /// `Success`.
    pub message: String,
    /// Users who were not members before.
    pub users_added: Vec<String>,
    /// Members whose roles or permissions were set.
    pub users_updated: Vec<String>,
    /// Members removed.
    pub users_removed: Vec<String>,
}

/// Adds, changes (listed roles and permissions replace the user's) or removes (`operation:
/// "delete"`; removing a non-member does nothing) users of an organization, all or nothing.
#[utoipa::path(patch, path = "/organizations/{org_code}/users", tag = "Organizations",
    operation_id = "updateOrganizationUsers",
    params(("org_code" = String, Path, description = "The organization's code")),
    request_body = OrganizationUsersRequest,
    responses(
        (status = 200, description = "Changed", body = UpdateOrganizationUsersResponse),
        (status = 400, description = "Invalid body, or an unknown user, role or permission", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
        (status = 404, description = "No such organization", body = ErrorBody),
        (status = 409, description = "A concurrent change", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
    ),
    security(("bearer" = ["update:organization_users"])))]
async fn update_organization_users(
    State(state): State<AppState>,
    _caller: Caller,
    Path(code): Path<String>,
    Json(body): Json<OrganizationUsersRequest>,
) -> Result<Response, ApiError> {
    let code = org_code(&code)?;
    let changes = member_changes(body.users, true)?;
    let outcome = state
        .store()
        .management()
        .change_org_members(code, &changes, MemberMode::Replace)
        .await?;
    let done = failure(outcome, Refs::Body)?;
    Ok(ok(UpdateOrganizationUsersResponse {
        code: "OK".into(),
        message: "Success".into(),
        users_added: done.added,
        users_updated: done.updated,
        users_removed: done.removed,
    }))
}

/// Removes a user from an organization, with their roles and permissions in it.
#[utoipa::path(delete, path = "/organizations/{org_code}/users/{user_id}", tag = "Organizations",
    operation_id = "removeOrganizationUser",
    params(
        ("org_code" = String, Path, description = "The organization's code"),
        ("user_id" = String, Path, description = "The user's id"),
    ),
    responses(
        (status = 200, description = "Removed", body = Success),
        (status = 400, description = "Bad parameters", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
        (status = 404, description = "No such organization or member", body = ErrorBody),
    ),
    security(("bearer" = ["delete:organization_users"])))]
async fn remove_organization_user(
    State(state): State<AppState>,
    _caller: Caller,
    Path((code, user)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let code = org_code(&code)?;
    let user = member_id(&user)?;
    let outcome = state
        .store()
        .management()
        .remove_org_member(code, user)
        .await?;
    failure(outcome, Refs::Path)?;
    Ok(ok(Success::ok()))
}
