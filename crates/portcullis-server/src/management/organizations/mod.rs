//! Management API: organizations (`/organizations`, `/organization`, and
//! `/organizations/{org_code}/…`: members, their roles and direct permissions, role members,
//! feature-flag overrides).
//!
//! Tokens: claims are computed at every issue and refresh, so a change here shows in a user's
//! next token (a sign-in or a refresh); tokens already issued are left alone.

mod access;
mod flags;
mod members;

use std::collections::{BTreeMap, HashSet};

use axum::extract::State;
use axum::response::Response;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{
    ApiError, Caller, ErrorBody, Json, MAX_BULK, Page, Path, Query, Sort, Success, ok,
    optional_text, plausible_id, text, timestamp,
};
use crate::AppState;
use crate::store::{
    ManagedOrganization, MemberChange, MemberFilter, MemberMode, NewOrganization, OrgMember,
    OrgOutcome, OrganizationPatch, user_sort_value,
};

/// The routes of this group.
pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_organizations))
        .routes(routes!(get_organization, create_organization))
        .routes(routes!(update_organization, delete_organization))
        .merge(members::routes())
        .merge(access::routes())
        .merge(flags::routes())
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

impl From<ManagedOrganization> for Organization {
    fn from(org: ManagedOrganization) -> Self {
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
    _caller: Caller,
    Query(q): Query<ListQuery>,
) -> Result<Response, ApiError> {
    let sort = Sort::parse(q.sort.as_deref(), ORGANIZATION_SORTS)?;
    let list = sort.list("organizations");
    let page = Page::parse(&list, q.page_size, q.next_token.as_deref())?;
    let after = sort.after(page.after.as_deref())?;
    let rows = state
        .store()
        .management()
        .organizations_sorted(sort.order, after.as_ref(), page.fetch())
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
    _caller: Caller,
    Query(q): Query<OrganizationQuery>,
) -> Result<Response, ApiError> {
    org_expand(q.expand.as_deref())?;
    let code = org_code(&q.code)?;
    let org = state
        .store()
        .management()
        .organization(code)
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
    _caller: Caller,
    Json(body): Json<CreateOrganizationRequest>,
) -> Result<Response, ApiError> {
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
        .management()
        .create_organization(
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
    _caller: Caller,
    Path(code): Path<String>,
    Query(q): Query<ExpandQuery>,
    Json(body): Json<UpdateOrganizationRequest>,
) -> Result<Response, ApiError> {
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
        .management()
        .update_organization(code, &patch)
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
    _caller: Caller,
    Path(code): Path<String>,
) -> Result<Response, ApiError> {
    let code = org_code(&code)?;
    if !state.store().management().delete_organization(code).await? {
        return Err(org_not_found());
    }
    Ok(ok(Success::ok()))
}
