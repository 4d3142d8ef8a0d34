//! Management API: organizations (`/organizations`, `/organization`, and
//! `/organizations/{org_code}/…`: members, their roles and direct permissions, role members,
//! feature-flag overrides).
//!
//! Tokens: claims are computed at every issue and refresh, so a change here shows in a user's
//! next token (a sign-in or a refresh); tokens already issued are left alone.

use std::collections::{BTreeMap, HashSet};

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{
    ApiError, ErrorBody, Json, MAX_BULK, Page, Path, Query, Sort, Success, authorize, ok,
    optional_text, plausible_id, text, timestamp,
};
use crate::AppState;
use crate::store::{
    AdminOrganization, MemberChange, MemberFilter, MemberMode, NewOrganization, OrgMember,
    OrgOutcome, OrganizationPatch, user_sort_value,
};

/// The routes of this group.
pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_organizations))
        .routes(routes!(get_organization, create_organization))
        .routes(routes!(update_organization, delete_organization))
        .routes(routes!(
            get_organization_users,
            add_organization_users,
            update_organization_users
        ))
        .routes(routes!(remove_organization_user))
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
        .routes(routes!(
            get_organization_feature_flags,
            delete_organization_feature_flag_overrides
        ))
        .routes(routes!(
            update_organization_feature_flag_override,
            delete_organization_feature_flag_override
        ))
}

/// Deserializes a present field (even `null`) as `Some`, so a PATCH can tell "clear" from
/// "leave alone".
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

fn org_not_found() -> ApiError {
    ApiError::not_found("ORGANIZATION_NOT_FOUND", "no organization has this code")
}

fn member_not_found() -> ApiError {
    ApiError::not_found(
        "ORGANIZATION_USER_NOT_FOUND",
        "the user is not a member of this organization",
    )
}

/// An organization code from the path or query, or a 404 without touching the database.
fn org_code(code: &str) -> Result<&str, ApiError> {
    if plausible_id(code) {
        Ok(code)
    } else {
        Err(org_not_found())
    }
}

/// A user id from the path: an implausible one names no member.
fn member_id(id: &str) -> Result<&str, ApiError> {
    if plausible_id(id) {
        Ok(id)
    } else {
        Err(member_not_found())
    }
}

/// Where the ids an operation names came from: unknown ones in a body are a 400, in the path a
/// 404.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Refs {
    Body,
    Path,
}

/// The error of a store outcome other than `Done`.
fn failure<T>(outcome: OrgOutcome<T>, refs: Refs) -> Result<T, ApiError> {
    let missing = |code_400: &str, code_404: &str, message: String| match refs {
        Refs::Body => ApiError::bad_request(code_400, message),
        Refs::Path => ApiError::not_found(code_404, message),
    };
    Err(match outcome {
        OrgOutcome::Done(value) => return Ok(value),
        OrgOutcome::NoOrganization => org_not_found(),
        OrgOutcome::NotMember => member_not_found(),
        OrgOutcome::CodeTaken => ApiError::conflict(
            "ORGANIZATION_ALREADY_EXISTS",
            "an organization with this code already exists",
        ),
        OrgOutcome::HandleTaken => ApiError::conflict(
            "ORGANIZATION_HANDLE_TAKEN",
            "another organization has this handle",
        ),
        OrgOutcome::OverrideNotAllowed(key) => super::override_not_allowed(&key, "organization"),
        OrgOutcome::UnknownUser(id) => missing(
            "USER_INVALID",
            "USER_NOT_FOUND",
            format!("no user has the id {id:?}"),
        ),
        OrgOutcome::UnknownRole(role) => missing(
            "ROLE_INVALID",
            "ROLE_NOT_FOUND",
            format!("no role is {role:?}"),
        ),
        OrgOutcome::UnknownPermission(p) => missing(
            "PERMISSION_INVALID",
            "PERMISSION_NOT_FOUND",
            format!("no permission is {p:?}"),
        ),
        OrgOutcome::UnknownFlag(key) => missing(
            "FEATURE_FLAG_INVALID",
            "FEATURE_FLAG_NOT_FOUND",
            format!("no feature flag has the key {key:?}"),
        ),
        OrgOutcome::InvalidFlagValue(key) => ApiError::bad_request(
            "INVALID_VALUE",
            format!("the value is not of the type of feature flag {key:?}"),
        ),
        OrgOutcome::AlreadyAssigned => ApiError::conflict(
            "ALREADY_ASSIGNED",
            "the user already has this in the organization",
        ),
        OrgOutcome::NotAssigned => ApiError::not_found(
            "NOT_ASSIGNED",
            "the user does not have this in the organization",
        ),
        OrgOutcome::Conflict => ApiError::conflict(
            "CONFLICT",
            "a concurrent change got in the way; nothing was written, try again",
        ),
    })
}

// ---------------------------------------------------------------------------------------------
// Organizations

/// An organization.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct Organization {
    /// `org_…`.
    pub code: String,
    /// Its name.
    pub name: String,
    /// A unique, human-readable handle.
    pub handle: Option<String>,
    /// Always `false`: Portcullis has no default organization.
    pub is_default: bool,
    /// The id in the customer's own system.
    pub external_id: Option<String>,
    /// Created (RFC 3339).
    pub created_on: String,
    /// Whether anyone may sign up into it (hosted sign-up with its `org_code`; new members get
    /// the default roles).
    pub is_allow_registrations: bool,
}

impl From<AdminOrganization> for Organization {
    fn from(org: AdminOrganization) -> Self {
        Organization {
            code: org.code,
            name: org.name,
            handle: org.handle,
            is_default: false,
            external_id: org.external_id,
            created_on: timestamp(org.created_at),
            is_allow_registrations: org.is_allow_registrations,
        }
    }
}

/// `GET /organizations`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct OrganizationsResponse {
    /// `OK`.
    pub code: String,
    /// `Success`.
    pub message: String,
    /// This page.
    pub organizations: Vec<Organization>,
    /// The token of the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// Paging of a list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListQuery {
    /// Items per page: 1 to 500, default 10.
    #[param(minimum = 1, maximum = 500)]
    page_size: Option<i64>,
    /// The `next_token` of the previous page.
    next_token: Option<String>,
    /// `name_asc` or `name_desc` (ties by code). Without it, by code. (Kinde also lists
    /// `email_asc` and `email_desc`; organizations have no email, so those are a 400.)
    #[param(schema_with = organizations_sort_schema)]
    sort: Option<String>,
}

/// The `sort` values of `GET /organizations`.
const ORGANIZATION_SORTS: &[&str] = &["name_asc", "name_desc"];

fn organizations_sort_schema() -> utoipa::openapi::Object {
    super::sort_schema(ORGANIZATION_SORTS)
}

/// Lists organizations, ordered by code or by `sort`.
#[utoipa::path(get, path = "/organizations", tag = "Organizations",
    operation_id = "getOrganizations",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of organizations", body = OrganizationsResponse),
        (status = 400, description = "Bad parameters", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
    ),
    security(("bearer" = ["read:organizations"])))]
async fn get_organizations(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> Result<Response, ApiError> {
    authorize(&state, &headers, "read:organizations").await?;
    let sort = Sort::parse(q.sort.as_deref(), ORGANIZATION_SORTS)?;
    let list = sort.list("organizations");
    let page = Page::parse(&list, q.page_size, q.next_token.as_deref())?;
    let after = sort.after(page.after.as_deref())?;
    let rows = state
        .store()
        .admin_organizations_sorted(sort.order, after.as_ref(), page.fetch())
        .await?;
    let (rows, next_token) = page.finish_with(&list, rows, |o| sort.cursor(&o.name, &o.code));
    Ok(ok(OrganizationsResponse {
        code: "OK".into(),
        message: "Success".into(),
        organizations: rows.into_iter().map(Organization::from).collect(),
        next_token,
    }))
}

/// `?code=&expand=`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct OrganizationQuery {
    /// The organization's code.
    code: String,
    /// `billing` (accepted; Portcullis has no billing).
    expand: Option<String>,
}

/// `expand` of an organization: `billing` only, which adds nothing here.
fn org_expand(expand: Option<&str>) -> Result<(), ApiError> {
    for part in expand.unwrap_or("").split(',').map(str::trim) {
        if !matches!(part, "" | "billing") {
            return Err(ApiError::bad_request(
                "INVALID_EXPAND",
                "expand takes billing only",
            ));
        }
    }
    Ok(())
}

/// Gets one organization (Kinde sends it without an envelope).
#[utoipa::path(get, path = "/organization", tag = "Organizations",
    operation_id = "getOrganization",
    params(OrganizationQuery),
    responses(
        (status = 200, description = "The organization", body = Organization),
        (status = 400, description = "Bad parameters", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
        (status = 404, description = "No such organization", body = ErrorBody),
    ),
    security(("bearer" = ["read:organizations"])))]
async fn get_organization(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<OrganizationQuery>,
) -> Result<Response, ApiError> {
    authorize(&state, &headers, "read:organizations").await?;
    org_expand(q.expand.as_deref())?;
    let code = org_code(&q.code)?;
    let org = state
        .store()
        .admin_organization(code)
        .await?
        .ok_or_else(org_not_found)?;
    Ok(ok(Organization::from(org)))
}

/// Body of `POST /organization`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateOrganizationRequest {
    /// The name (1 to 200 characters).
    name: String,
    /// The id in the customer's own system (at most 200 characters).
    external_id: Option<String>,
    /// Feature-flag overrides for the organization: flag key to value, as a string of the
    /// flag's type (`"true"`, `"42"`, `"pink"`); at most 100. A flag whose
    /// `allow_override_level` is `env` cannot be overridden per organization (400).
    #[serde(default)]
    feature_flags: BTreeMap<String, String>,
    /// A unique handle: 1 to 64 of lower-case ASCII letters, digits, `_` and `-`.
    handle: Option<String>,
    /// Whether anyone may sign up into it (default `false`).
    is_allow_registrations: Option<bool>,
}

/// An organization handle: 1 to 64 of `a-z 0-9 _ -`.
fn handle(value: &str) -> Result<String, ApiError> {
    let ok = !value.is_empty()
        && value.len() <= 64
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if ok {
        Ok(value.to_owned())
    } else {
        Err(ApiError::bad_request(
            "INVALID_HANDLE",
            "handle must be 1 to 64 lower-case ASCII letters, digits, _ or -",
        ))
    }
}

/// `{code}` of a new organization.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct CreatedOrganization {
    /// The new organization's code.
    pub code: String,
}

/// `POST /organization`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct CreateOrganizationResponse {
    /// `OK`.
    pub code: String,
    /// `Success`.
    pub message: String,
    /// The new organization.
    pub organization: CreatedOrganization,
}

/// Creates an organization (code `org_` + random hex) with its flag overrides, in one
/// transaction.
#[utoipa::path(post, path = "/organization", tag = "Organizations",
    operation_id = "createOrganization",
    request_body = CreateOrganizationRequest,
    responses(
        (status = 200, description = "Created", body = CreateOrganizationResponse),
        (status = 400, description = "Invalid body", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
        (status = 409, description = "The handle is taken", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
    ),
    security(("bearer" = ["create:organizations"])))]
async fn create_organization(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(body): Json<CreateOrganizationRequest>,
) -> Result<Response, ApiError> {
    authorize(&state, &headers, "create:organizations").await?;
    let name = text("name", &body.name, 200)?;
    let external_id = optional_text("external_id", body.external_id.as_deref(), 200)?;
    let handle = body.handle.as_deref().map(handle).transpose()?;
    if body.feature_flags.len() > MAX_BULK {
        return Err(ApiError::bad_request(
            "TOO_MANY_ITEMS",
            format!("at most {MAX_BULK} feature_flags"),
        ));
    }
    let mut flags = Vec::with_capacity(body.feature_flags.len());
    for (key, value) in body.feature_flags {
        if !plausible_id(&key) {
            return Err(ApiError::bad_request(
                "FEATURE_FLAG_INVALID",
                "a feature_flags key is not a flag key",
            ));
        }
        flags.push((key, value));
    }
    let code = crate::ids::new_id("org");
    let outcome = state
        .store()
        .admin_create_organization(
            &NewOrganization {
                code: &code,
                name: &name,
                external_id: external_id.as_deref(),
                feature_flags: &flags,
                handle: handle.as_deref(),
                is_allow_registrations: body.is_allow_registrations.unwrap_or(false),
            },
            state.now(),
        )
        .await?;
    failure(outcome, Refs::Body)?;
    Ok(ok(CreateOrganizationResponse {
        code: "OK".into(),
        message: "Success".into(),
        organization: CreatedOrganization { code },
    }))
}

/// Body of `PATCH /organization/{org_code}`: only the fields sent change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UpdateOrganizationRequest {
    /// The name (1 to 200 characters).
    name: Option<String>,
    /// The id in the customer's own system; `null` clears it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, nullable)]
    external_id: Option<Option<String>>,
    /// A unique handle (1 to 64 of `a-z 0-9 _ -`); `null` clears it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, nullable)]
    handle: Option<Option<String>>,
    /// Whether anyone may sign up into it.
    is_allow_registrations: Option<bool>,
}

/// `?expand=` of a change.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExpandQuery {
    /// `billing` (accepted; Portcullis has no billing).
    expand: Option<String>,
}

/// Changes an organization's name, external id, handle or `is_allow_registrations`.
#[utoipa::path(patch, path = "/organization/{org_code}", tag = "Organizations",
    operation_id = "updateOrganization",
    params(("org_code" = String, Path, description = "The organization's code"), ExpandQuery),
    request_body = UpdateOrganizationRequest,
    responses(
        (status = 200, description = "Updated", body = Success),
        (status = 400, description = "Invalid body", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
        (status = 404, description = "No such organization", body = ErrorBody),
        (status = 409, description = "The handle is taken", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
    ),
    security(("bearer" = ["update:organizations"])))]
async fn update_organization(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(code): Path<String>,
    Query(q): Query<ExpandQuery>,
    Json(body): Json<UpdateOrganizationRequest>,
) -> Result<Response, ApiError> {
    authorize(&state, &headers, "update:organizations").await?;
    org_expand(q.expand.as_deref())?;
    let code = org_code(&code)?;
    let patch = OrganizationPatch {
        name: body.name.map(|n| text("name", &n, 200)).transpose()?,
        external_id: body
            .external_id
            .map(|e| optional_text("external_id", e.as_deref(), 200))
            .transpose()?,
        handle: body
            .handle
            .map(|h| h.as_deref().map(handle).transpose())
            .transpose()?,
        is_allow_registrations: body.is_allow_registrations,
    };
    let outcome = state
        .store()
        .admin_update_organization(code, &patch)
        .await?;
    failure(outcome, Refs::Path)?;
    Ok(ok(Success::ok()))
}

/// Deletes an organization with its memberships and flag overrides. Tokens already issued
/// keep their claims until they expire; refreshed ones carry none of its roles or permissions.
#[utoipa::path(delete, path = "/organization/{org_code}", tag = "Organizations",
    operation_id = "deleteOrganization",
    params(("org_code" = String, Path, description = "The organization's code")),
    responses(
        (status = 200, description = "Deleted", body = Success),
        (status = 400, description = "Bad parameters", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
        (status = 404, description = "No such organization", body = ErrorBody),
    ),
    security(("bearer" = ["delete:organizations"])))]
async fn delete_organization(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(code): Path<String>,
) -> Result<Response, ApiError> {
    authorize(&state, &headers, "delete:organizations").await?;
    let code = org_code(&code)?;
    if !state.store().admin_delete_organization(code).await? {
        return Err(org_not_found());
    }
    Ok(ok(Success::ok()))
}

// ---------------------------------------------------------------------------------------------
// Members

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
    super::sort_schema(ORGANIZATION_USER_SORTS)
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
    headers: HeaderMap,
    Path(code): Path<String>,
    Query(q): Query<OrganizationUsersQuery>,
) -> Result<Response, ApiError> {
    authorize(&state, &headers, "read:organization_users").await?;
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
        .admin_org_members_sorted(code, &filter, sort.order, after.as_ref(), page.fetch())
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
    headers: HeaderMap,
    Path(code): Path<String>,
    Json(body): Json<OrganizationUsersRequest>,
) -> Result<Response, ApiError> {
    authorize(&state, &headers, "create:organization_users").await?;
    let code = org_code(&code)?;
    let changes = member_changes(body.users, false)?;
    let outcome = state
        .store()
        .admin_change_org_members(code, &changes, MemberMode::Add)
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
    headers: HeaderMap,
    Path(code): Path<String>,
    Json(body): Json<OrganizationUsersRequest>,
) -> Result<Response, ApiError> {
    authorize(&state, &headers, "update:organization_users").await?;
    let code = org_code(&code)?;
    let changes = member_changes(body.users, true)?;
    let outcome = state
        .store()
        .admin_change_org_members(code, &changes, MemberMode::Replace)
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
    headers: HeaderMap,
    Path((code, user)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    authorize(&state, &headers, "delete:organization_users").await?;
    let code = org_code(&code)?;
    let user = member_id(&user)?;
    let outcome = state.store().admin_remove_org_member(code, user).await?;
    failure(outcome, Refs::Path)?;
    Ok(ok(Success::ok()))
}

// ---------------------------------------------------------------------------------------------
// A member's roles and permissions

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
    headers: HeaderMap,
    Path((code, user)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    authorize(&state, &headers, "read:organization_user_roles").await?;
    let code = org_code(&code)?;
    let user = member_id(&user)?;
    let outcome = state.store().admin_org_member_roles(code, user).await?;
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
    headers: HeaderMap,
    Path((code, user)): Path<(String, String)>,
    Json(body): Json<RoleIdRequest>,
) -> Result<Response, ApiError> {
    authorize(&state, &headers, "create:organization_user_roles").await?;
    let code = org_code(&code)?;
    let user = member_id(&user)?;
    if !plausible_id(&body.role_id) {
        return failure(OrgOutcome::UnknownRole(body.role_id), Refs::Body);
    }
    let outcome = state
        .store()
        .admin_add_org_member_role(code, user, &body.role_id)
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
    headers: HeaderMap,
    Path((code, user, role)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    authorize(&state, &headers, "delete:organization_user_roles").await?;
    let code = org_code(&code)?;
    let user = member_id(&user)?;
    if !plausible_id(&role) {
        return failure(OrgOutcome::NotAssigned, Refs::Path);
    }
    let outcome = state
        .store()
        .admin_remove_org_member_role(code, user, &role)
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
    headers: HeaderMap,
    Path((code, user)): Path<(String, String)>,
    Query(q): Query<PermissionsQuery>,
) -> Result<Response, ApiError> {
    authorize(&state, &headers, "read:organization_user_permissions").await?;
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
        .admin_org_member_permissions(code, user)
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
    headers: HeaderMap,
    Path((code, user)): Path<(String, String)>,
    Json(body): Json<PermissionIdRequest>,
) -> Result<Response, ApiError> {
    authorize(&state, &headers, "create:organization_user_permissions").await?;
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
        .admin_add_org_member_permission(code, user, &body.permission_id)
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
    headers: HeaderMap,
    Path((code, user, permission)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    authorize(&state, &headers, "delete:organization_user_permissions").await?;
    let code = org_code(&code)?;
    let user = member_id(&user)?;
    if !plausible_id(&permission) {
        return failure(OrgOutcome::NotAssigned, Refs::Path);
    }
    let outcome = state
        .store()
        .admin_remove_org_member_permission(code, user, &permission)
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
    headers: HeaderMap,
    Path((code, role)): Path<(String, String)>,
    Query(q): Query<PageQuery>,
) -> Result<Response, ApiError> {
    authorize(&state, &headers, "read:organization_users").await?;
    let code = org_code(&code)?;
    if !plausible_id(&role) {
        return failure(OrgOutcome::UnknownRole(role), Refs::Path);
    }
    let list = format!("organization_role_users:{code}:{role}");
    let page = Page::parse(&list, q.page_size, q.next_token.as_deref())?;
    let outcome = state
        .store()
        .admin_org_role_members(code, &role, page.after.as_deref(), page.fetch())
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

// ---------------------------------------------------------------------------------------------
// Feature flags

/// A flag's value for the organization.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct OrganizationFlag {
    /// `str`, `int` or `bool`.
    #[serde(rename = "type")]
    pub flag_type: String,
    /// The value, as a string.
    pub value: String,
}

/// `GET /organizations/{org_code}/feature_flags`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct OrganizationFlagsResponse {
    /// `OK`.
    pub code: String,
    /// `Success`.
    pub message: String,
    /// Every flag by key, with its value for the organization.
    pub feature_flags: BTreeMap<String, OrganizationFlag>,
}

/// Lists every feature flag with its value for the organization: the organization's
/// override, else the environment's, else the default.
#[utoipa::path(get, path = "/organizations/{org_code}/feature_flags", tag = "Organizations",
    operation_id = "getOrganizationFeatureFlags",
    params(("org_code" = String, Path, description = "The organization's code")),
    responses(
        (status = 200, description = "The flags", body = OrganizationFlagsResponse),
        (status = 400, description = "Bad parameters", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
        (status = 404, description = "No such organization", body = ErrorBody),
    ),
    security(("bearer" = ["read:organization_feature_flags"])))]
async fn get_organization_feature_flags(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(code): Path<String>,
) -> Result<Response, ApiError> {
    authorize(&state, &headers, "read:organization_feature_flags").await?;
    let code = org_code(&code)?;
    let flags = state
        .store()
        .admin_org_flags(code)
        .await?
        .ok_or_else(org_not_found)?;
    Ok(ok(OrganizationFlagsResponse {
        code: "OK".into(),
        message: "Success".into(),
        feature_flags: flags
            .into_iter()
            .map(|f| {
                (
                    f.key,
                    OrganizationFlag {
                        flag_type: f.flag_type,
                        value: f.value,
                    },
                )
            })
            .collect(),
    }))
}

/// Removes every feature-flag override of an organization.
#[utoipa::path(delete, path = "/organizations/{org_code}/feature_flags", tag = "Organizations",
    operation_id = "deleteOrganizationFeatureFlagOverrides",
    params(("org_code" = String, Path, description = "The organization's code")),
    responses(
        (status = 200, description = "Removed", body = Success),
        (status = 400, description = "Bad parameters", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
        (status = 404, description = "No such organization", body = ErrorBody),
    ),
    security(("bearer" = ["delete:organization_feature_flags"])))]
async fn delete_organization_feature_flag_overrides(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(code): Path<String>,
) -> Result<Response, ApiError> {
    authorize(&state, &headers, "delete:organization_feature_flags").await?;
    let code = org_code(&code)?;
    let outcome = state.store().admin_delete_org_flags(code, None).await?;
    failure(outcome, Refs::Path)?;
    Ok(ok(Success::ok()))
}

/// `?value=` of a flag override.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct FlagValueQuery {
    /// The value, as a string of the flag's type (`true`, `42`, `pink`).
    value: String,
}

/// Overrides a feature flag for an organization (not for a flag whose `allow_override_level`
/// is `env`: `FEATURE_FLAG_OVERRIDE_NOT_ALLOWED`, 400).
#[utoipa::path(patch, path = "/organizations/{org_code}/feature_flags/{feature_flag_key}",
    tag = "Organizations", operation_id = "updateOrganizationFeatureFlagOverride",
    params(
        ("org_code" = String, Path, description = "The organization's code"),
        ("feature_flag_key" = String, Path, description = "The flag's key"),
        FlagValueQuery,
    ),
    responses(
        (status = 200, description = "Overridden", body = Success),
        (status = 400, description = "Bad value, or the flag's allow_override_level is env", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
        (status = 404, description = "No such organization or flag", body = ErrorBody),
        (status = 409, description = "A concurrent change", body = ErrorBody),
    ),
    security(("bearer" = ["update:organization_feature_flags"])))]
async fn update_organization_feature_flag_override(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((code, key)): Path<(String, String)>,
    Query(q): Query<FlagValueQuery>,
) -> Result<Response, ApiError> {
    authorize(&state, &headers, "update:organization_feature_flags").await?;
    let code = org_code(&code)?;
    if !plausible_id(&key) {
        return failure(OrgOutcome::UnknownFlag(key), Refs::Path);
    }
    let outcome = state
        .store()
        .admin_set_org_flag(code, &key, &q.value)
        .await?;
    failure(outcome, Refs::Path)?;
    Ok(ok(Success::ok()))
}

/// Removes an organization's override of one feature flag (no override is no error).
#[utoipa::path(delete, path = "/organizations/{org_code}/feature_flags/{feature_flag_key}",
    tag = "Organizations", operation_id = "deleteOrganizationFeatureFlagOverride",
    params(
        ("org_code" = String, Path, description = "The organization's code"),
        ("feature_flag_key" = String, Path, description = "The flag's key"),
    ),
    responses(
        (status = 200, description = "Removed", body = Success),
        (status = 400, description = "Bad parameters", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
        (status = 404, description = "No such organization or flag", body = ErrorBody),
    ),
    security(("bearer" = ["delete:organization_feature_flags"])))]
async fn delete_organization_feature_flag_override(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((code, key)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    authorize(&state, &headers, "delete:organization_feature_flags").await?;
    let code = org_code(&code)?;
    if !plausible_id(&key) {
        return failure(OrgOutcome::UnknownFlag(key), Refs::Path);
    }
    let outcome = state
        .store()
        .admin_delete_org_flags(code, Some(&key))
        .await?;
    failure(outcome, Refs::Path)?;
    Ok(ok(Success::ok()))
}
