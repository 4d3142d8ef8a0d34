//! Management API: APIs (`/apis`, `/apis/{api_id}/…`): resource servers, the scopes they
//! define, and which applications may get tokens for them.
//!
//! - **Granting scopes.** `PATCH /apis/{api_id}/applications` authorizes an application for the
//!   API with every scope the API defines at that moment; an item may narrow that with
//!   `scopes: [keys]` (each defined by the API — a Portcullis extension of Kinde's body).
//!   Authorizing an application again replaces its scopes. Scopes added to the API later are
//!   not granted to applications already authorized (authorize them again to grant them).
//!   `operation: "delete"` deauthorizes. The grant reaches the token endpoint within its
//!   client-cache lifetime (`Settings::client_cache_ttl`, 5 s by default).
//! - **The management API** (`{issuer}/api`, id [`crate::store::MANAGEMENT_API_ID`]) is listed
//!   and readable but cannot be deleted, given scopes or have applications authorized here
//!   (403 `MANAGEMENT_API_PROTECTED`): an application able to edit APIs must not be able to
//!   grant itself (or another) the management API. It is granted in the tenant file only.
//! - **Scope descriptions** are accepted but not stored yet (the schema has no column for
//!   them); answers carry `description: null`. A scope's id is its key.

use axum::extract::State;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{
    ApiError, Caller, ErrorBody, Json, MAX_BULK, Page, Path, Query, Success, ok, plausible_id, text,
};
use crate::AppState;
use crate::store::{ApiApplicationChange, ApiChangeOutcome, MANAGEMENT_API_ID, ManagedApiScope};

/// The routes of this group.
pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_apis, add_apis))
        .routes(routes!(get_api, delete_api))
        .routes(routes!(get_api_scopes, add_api_scope))
        .routes(routes!(update_api_applications))
}

fn api_not_found() -> ApiError {
    ApiError::not_found("API_NOT_FOUND", "no API has this id")
}

fn management_api_protected() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::FORBIDDEN,
        "MANAGEMENT_API_PROTECTED",
        "the management API cannot be changed through the management API",
    )
}

/// An API id from the path, or a 404 without touching the database.
fn api_id(id: &str) -> Result<&str, ApiError> {
    if plausible_id(id) {
        Ok(id)
    } else {
        Err(api_not_found())
    }
}

/// An audience: 1 to 2048 bytes, no spaces or control characters (token requests separate
/// audiences with spaces).
fn audience(value: &str) -> Result<String, ApiError> {
    let value = value.trim();
    if value.is_empty()
        || value.len() > 2048
        || value.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(ApiError::bad_request(
            "INVALID_AUDIENCE",
            "audience must be 1 to 2048 bytes without spaces or control characters",
        ));
    }
    Ok(value.to_owned())
}

/// A scope key: an RFC 6749 §3.3 scope-token (printable ASCII without space, `"` or `\`) of
/// at most 128 bytes.
fn scope_key(value: &str) -> Result<String, ApiError> {
    let ok = !value.is_empty()
        && value.len() <= 128
        && value
            .bytes()
            .all(|b| (0x21..=0x7e).contains(&b) && b != b'"' && b != b'\\');
    if !ok {
        return Err(ApiError::bad_request(
            "INVALID_SCOPE_KEY",
            "key must be 1 to 128 printable ASCII characters without spaces, quotes or \
             backslashes",
        ));
    }
    Ok(value.to_owned())
}

/// A scope of an API.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct ScopeItem {
    /// Its id (the key: unique within the API).
    pub id: String,
    /// The scope, as tokens carry it.
    pub key: String,
    /// What it allows.
    pub description: Option<String>,
}

fn scope_items(scopes: Vec<ManagedApiScope>) -> Vec<ScopeItem> {
    scopes
        .into_iter()
        .map(|s| ScopeItem {
            id: s.key.clone(),
            key: s.key,
            description: s.description,
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// /apis

/// An API in a list.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct ApiListItem {
    /// Its id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// The audience (`aud`) of its tokens.
    pub audience: String,
    /// Whether it is the management API.
    pub is_management_api: bool,
    /// Its scopes (with `expand=scopes`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<ScopeItem>>,
}

/// `GET /apis`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct ApisResponse {
    /// `OK`.
    pub code: String,
    /// `Success`.
    pub message: String,
    /// This page.
    pub apis: Vec<ApiListItem>,
    /// The token of the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// Query of `GET /apis`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct ApisQuery {
    /// Items per page: 1 to 500, default 10.
    #[param(minimum = 1, maximum = 500)]
    page_size: Option<i64>,
    /// The `next_token` of the previous page.
    next_token: Option<String>,
    /// `scopes`: include each API's scopes.
    expand: Option<String>,
}

/// Lists APIs, ordered by id.
#[utoipa::path(get, path = "/apis", tag = "Apis", operation_id = "getApis",
    params(ApisQuery),
    responses(
        (status = 200, description = "A page of APIs", body = ApisResponse),
        (status = 400, description = "Bad parameters", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
    ),
    security(("bearer" = ["read:apis"])))]
async fn get_apis(
    State(state): State<AppState>,
    _caller: Caller,
    Query(q): Query<ApisQuery>,
) -> Result<Response, ApiError> {
    let page = Page::parse("apis", q.page_size, q.next_token.as_deref())?;
    let with_scopes = match q.expand.as_deref().map(str::trim) {
        None | Some("") => false,
        Some("scopes") => true,
        Some(_) => {
            return Err(ApiError::bad_request(
                "INVALID_EXPAND",
                "expand takes scopes",
            ));
        }
    };
    let store = state.store();
    let rows = store
        .management()
        .apis(page.after.as_deref(), page.fetch())
        .await?;
    let (rows, next_token) = page.finish("apis", rows, |a| &a.id);
    let mut apis = Vec::with_capacity(rows.len());
    for api in rows {
        let scopes = if with_scopes {
            // An API deleted since the page was read has no scopes.
            Some(scope_items(
                store
                    .management()
                    .api_scope_details(&api.id)
                    .await?
                    .unwrap_or_default(),
            ))
        } else {
            None
        };
        apis.push(ApiListItem {
            is_management_api: api.id == MANAGEMENT_API_ID,
            id: api.id,
            name: api.name,
            audience: api.audience,
            scopes,
        });
    }
    Ok(ok(ApisResponse {
        code: "OK".into(),
        message: "Success".into(),
        apis,
        next_token,
    }))
}

/// Body of `POST /apis`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AddApiRequest {
    /// Display name (at most 200 characters).
    name: String,
    /// The audience (`aud`) of its tokens, unique (at most 2048 bytes, no spaces).
    audience: String,
}

/// The new API.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct CreatedApi {
    /// Its id.
    pub id: String,
}

/// `POST /apis`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct AddApiResponse {
    /// `OK`.
    pub code: String,
    /// `Success`.
    pub message: String,
    /// The new API.
    pub api: CreatedApi,
}

/// Creates an API (without scopes or applications).
#[utoipa::path(post, path = "/apis", tag = "Apis", operation_id = "addApis",
    request_body = AddApiRequest,
    responses(
        (status = 200, description = "Created", body = AddApiResponse),
        (status = 400, description = "Invalid body", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
        (status = 409, description = "An API has this audience", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
    ),
    security(("bearer" = ["create:apis"])))]
async fn add_apis(
    State(state): State<AppState>,
    _caller: Caller,
    Json(body): Json<AddApiRequest>,
) -> Result<Response, ApiError> {
    let name = text("name", &body.name, 200)?;
    let audience = audience(&body.audience)?;
    let id = crate::ids::new_id("api");
    if !state
        .store()
        .management()
        .create_api(&id, &name, &audience)
        .await?
    {
        return Err(ApiError::conflict(
            "API_AUDIENCE_ALREADY_EXISTS",
            "an API with this audience already exists",
        ));
    }
    Ok(ok(AddApiResponse {
        code: "OK".into(),
        message: "Success".into(),
        api: CreatedApi { id },
    }))
}

// ---------------------------------------------------------------------------------------------
// /apis/{api_id}

/// An application authorized for an API.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct ApiApplicationItem {
    /// The application's id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// `reg`, `spa` or `m2m`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Always `true`: only authorized applications are listed.
    pub is_active: bool,
    /// The scopes granted to it.
    pub scopes: Vec<String>,
}

/// One API with its scopes and applications.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct ApiDetail {
    /// Its id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// The audience (`aud`) of its tokens.
    pub audience: String,
    /// Whether it is the management API.
    pub is_management_api: bool,
    /// Its scopes.
    pub scopes: Vec<ScopeItem>,
    /// The applications authorized for it.
    pub applications: Vec<ApiApplicationItem>,
}

/// `GET /apis/{api_id}`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct ApiResponse {
    /// `OK`.
    pub code: String,
    /// `Success`.
    pub message: String,
    /// The API.
    pub api: ApiDetail,
}

/// Gets one API with its scopes and the applications authorized for it.
#[utoipa::path(get, path = "/apis/{api_id}", tag = "Apis", operation_id = "getApi",
    params(("api_id" = String, Path, description = "The API's id")),
    responses(
        (status = 200, description = "The API", body = ApiResponse),
        (status = 400, description = "Bad parameters", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
        (status = 404, description = "No such API", body = ErrorBody),
    ),
    security(("bearer" = ["read:apis"])))]
async fn get_api(
    State(state): State<AppState>,
    _caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = api_id(&id)?;
    let store = state.store();
    let api = store
        .management()
        .api(id)
        .await?
        .ok_or_else(api_not_found)?;
    let scopes = store
        .management()
        .api_scope_details(id)
        .await?
        .unwrap_or_default();
    let applications = store
        .management()
        .api_applications(id)
        .await?
        .into_iter()
        .map(|a| ApiApplicationItem {
            id: a.application.id,
            name: a.application.name,
            kind: a.application.app_type.as_str().to_owned(),
            is_active: true,
            scopes: a.scopes,
        })
        .collect();
    Ok(ok(ApiResponse {
        code: "OK".into(),
        message: "Success".into(),
        api: ApiDetail {
            is_management_api: api.id == MANAGEMENT_API_ID,
            id: api.id,
            name: api.name,
            audience: api.audience,
            scopes: scope_items(scopes),
            applications,
        },
    }))
}

/// Deletes an API with its scopes and grants. Tokens already issued for it stay valid until
/// they expire. The management API cannot be deleted.
#[utoipa::path(delete, path = "/apis/{api_id}", tag = "Apis", operation_id = "deleteApi",
    params(("api_id" = String, Path, description = "The API's id")),
    responses(
        (status = 200, description = "Deleted", body = Success),
        (status = 400, description = "Bad parameters", body = ErrorBody),
        (status = 403, description = "Not allowed (or the management API)", body = ErrorBody),
        (status = 404, description = "No such API", body = ErrorBody),
    ),
    security(("bearer" = ["delete:apis"])))]
async fn delete_api(
    State(state): State<AppState>,
    _caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = api_id(&id)?;
    match state.store().management().delete_api(id).await? {
        ApiChangeOutcome::Done { .. } => Ok(ok(Success::ok())),
        ApiChangeOutcome::ManagementApi => Err(management_api_protected()),
        _ => Err(api_not_found()),
    }
}

// ---------------------------------------------------------------------------------------------
// /apis/{api_id}/scopes

/// `GET /apis/{api_id}/scopes`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct ScopesResponse {
    /// `OK`.
    pub code: String,
    /// `Success`.
    pub message: String,
    /// The API's scopes, sorted by key.
    pub scopes: Vec<ScopeItem>,
}

/// Lists the scopes an API defines.
#[utoipa::path(get, path = "/apis/{api_id}/scopes", tag = "Apis",
    operation_id = "getApiScopes",
    params(("api_id" = String, Path, description = "The API's id")),
    responses(
        (status = 200, description = "The scopes", body = ScopesResponse),
        (status = 400, description = "Bad parameters", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
        (status = 404, description = "No such API", body = ErrorBody),
    ),
    security(("bearer" = ["read:api_scopes"])))]
async fn get_api_scopes(
    State(state): State<AppState>,
    _caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = api_id(&id)?;
    let scopes = state
        .store()
        .management()
        .api_scope_details(id)
        .await?
        .ok_or_else(api_not_found)?;
    Ok(ok(ScopesResponse {
        code: "OK".into(),
        message: "Success".into(),
        scopes: scope_items(scopes),
    }))
}

/// Body of `POST /apis/{api_id}/scopes`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AddScopeRequest {
    /// The scope, as tokens will carry it (`read:todos`).
    key: String,
    /// What it allows (at most 500 characters).
    description: Option<String>,
}

/// The new scope.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct CreatedScope {
    /// Its id (the key).
    pub id: String,
}

/// `POST /apis/{api_id}/scopes`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct AddScopeResponse {
    /// `OK`.
    pub code: String,
    /// `Success`.
    pub message: String,
    /// The new scope.
    pub scope: CreatedScope,
}

/// Adds a scope to an API. Applications already authorized do not get it until they are
/// authorized again.
#[utoipa::path(post, path = "/apis/{api_id}/scopes", tag = "Apis",
    operation_id = "addApiScope",
    params(("api_id" = String, Path, description = "The API's id")),
    request_body = AddScopeRequest,
    responses(
        (status = 200, description = "Added", body = AddScopeResponse),
        (status = 400, description = "Invalid body", body = ErrorBody),
        (status = 403, description = "Not allowed (or the management API)", body = ErrorBody),
        (status = 404, description = "No such API", body = ErrorBody),
        (status = 409, description = "The API already has this scope", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
    ),
    security(("bearer" = ["create:api_scopes"])))]
async fn add_api_scope(
    State(state): State<AppState>,
    _caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<AddScopeRequest>,
) -> Result<Response, ApiError> {
    let id = api_id(&id)?;
    let key = scope_key(&body.key)?;
    let description = match body.description.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(d) => Some(text("description", d, 500)?),
    };
    match state
        .store()
        .management()
        .add_described_api_scope(id, &key, description.as_deref())
        .await?
    {
        ApiChangeOutcome::Done { .. } => Ok(ok(AddScopeResponse {
            code: "OK".into(),
            message: "Success".into(),
            scope: CreatedScope { id: key },
        })),
        ApiChangeOutcome::ManagementApi => Err(management_api_protected()),
        ApiChangeOutcome::Exists => Err(ApiError::conflict(
            "API_SCOPE_ALREADY_EXISTS",
            "the API already has a scope with this key",
        )),
        _ => Err(api_not_found()),
    }
}

// ---------------------------------------------------------------------------------------------
// /apis/{api_id}/applications

/// One change of `PATCH /apis/{api_id}/applications`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ApiApplicationChangeItem {
    /// The application's id.
    id: String,
    /// `delete` deauthorizes the application; absent authorizes it.
    operation: Option<String>,
    /// The scopes to grant (each defined by the API; at most 100). Absent grants every scope
    /// the API defines now. Not with `operation: "delete"`.
    #[schema(max_items = 100)]
    scopes: Option<Vec<String>>,
}

/// Body of `PATCH /apis/{api_id}/applications`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UpdateApiApplicationsRequest {
    /// The changes, applied in order (at most 100).
    #[schema(max_items = 100)]
    applications: Vec<ApiApplicationChangeItem>,
}

/// `PATCH /apis/{api_id}/applications`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct UpdateApiApplicationsResponse {
    /// `OK`.
    pub code: String,
    /// `Success`.
    pub message: String,
    /// The applications authorized (or re-authorized).
    pub applications_authorized: Vec<String>,
    /// The applications deauthorized.
    pub applications_deauthorized: Vec<String>,
}

/// Authorizes or deauthorizes applications for an API, all or nothing (see the module docs for
/// how scopes are granted). The management API cannot be changed here.
#[utoipa::path(patch, path = "/apis/{api_id}/applications", tag = "Apis",
    operation_id = "updateApiApplications",
    params(("api_id" = String, Path, description = "The API's id")),
    request_body = UpdateApiApplicationsRequest,
    responses(
        (status = 200, description = "Updated", body = UpdateApiApplicationsResponse),
        (status = 400, description = "Invalid body, unknown application or scope", body = ErrorBody),
        (status = 403, description = "Not allowed (or the management API)", body = ErrorBody),
        (status = 404, description = "No such API", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
    ),
    security(("bearer" = ["update:apis"])))]
async fn update_api_applications(
    State(state): State<AppState>,
    _caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<UpdateApiApplicationsRequest>,
) -> Result<Response, ApiError> {
    let id = api_id(&id)?;
    if body.applications.len() > MAX_BULK {
        return Err(ApiError::bad_request(
            "TOO_MANY_ITEMS",
            format!("at most {MAX_BULK} applications"),
        ));
    }
    let mut changes = Vec::with_capacity(body.applications.len());
    for item in body.applications {
        if !plausible_id(&item.id) {
            return Err(ApiError::bad_request(
                "APPLICATION_INVALID",
                "no application has this id",
            ));
        }
        let authorize = match item.operation.as_deref() {
            None => true,
            Some("delete") => false,
            Some(_) => {
                return Err(ApiError::bad_request(
                    "INVALID_OPERATION",
                    "operation must be delete, or absent",
                ));
            }
        };
        let scopes = match item.scopes {
            None => None,
            Some(_) if !authorize => {
                return Err(ApiError::bad_request(
                    "INVALID_FIELD",
                    "scopes cannot go with operation delete",
                ));
            }
            Some(scopes) if scopes.len() > MAX_BULK => {
                return Err(ApiError::bad_request(
                    "TOO_MANY_ITEMS",
                    format!("at most {MAX_BULK} scopes"),
                ));
            }
            Some(scopes) => Some(
                scopes
                    .iter()
                    .map(|s| scope_key(s))
                    .collect::<Result<Vec<_>, _>>()?,
            ),
        };
        changes.push(ApiApplicationChange {
            application_id: item.id,
            authorize,
            scopes,
        });
    }
    match state
        .store()
        .management()
        .update_api_applications(id, &changes)
        .await?
    {
        ApiChangeOutcome::Done {
            authorized,
            deauthorized,
        } => Ok(ok(UpdateApiApplicationsResponse {
            code: "OK".into(),
            message: "Success".into(),
            applications_authorized: authorized,
            applications_deauthorized: deauthorized,
        })),
        ApiChangeOutcome::ManagementApi => Err(management_api_protected()),
        ApiChangeOutcome::UnknownApplication(app) => Err(ApiError::bad_request(
            "APPLICATION_INVALID",
            format!("no application has the id {app}"),
        )),
        ApiChangeOutcome::UnknownScope(scope) => Err(ApiError::bad_request(
            "SCOPE_INVALID",
            format!("the API does not define the scope {scope}"),
        )),
        ApiChangeOutcome::NoApi | ApiChangeOutcome::Exists => Err(api_not_found()),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn scope_keys_and_audiences() {
        assert!(super::scope_key("read:todos").is_ok());
        for bad in ["", "read todos", "a\"b", "a\\b", "é", &"a".repeat(129)] {
            assert!(super::scope_key(bad).is_err(), "{bad}");
        }
        assert!(super::audience("https://api.example.com").is_ok());
        assert!(super::audience("a b").is_err());
        assert!(super::audience("  ").is_err());
    }
}
