//! The management API, `/api/v1`, in Kinde's shape (docs/kinde-compat.md).
//!
//! Rules every operation follows:
//! - **Authorization.** A bearer access token from `client_credentials` (`gty` holds
//!   `client_credentials`) whose `aud` holds `{issuer}/api`, issued by this server, unexpired,
//!   not revoked, for an application that still exists, and whose `scp` holds the operation's
//!   `verb:resource` scope. Anything else is **403**, as Kinde answers, with an RFC 6750
//!   `WWW-Authenticate` challenge that tells `invalid_token` (no, bad, user or foreign token)
//!   from `insufficient_scope` (the scope is named), so a client can still tell them apart.
//! - **Envelope.** Success bodies carry `{"code": "OK", "message": "Success", …}` where Kinde's
//!   do; errors are `{"errors": [{"code", "message"}]}`, except an unknown route, which is
//!   `{"errors": {"code": "ROUTE_NOT_FOUND", "message"}}` as Kinde sends it.
//! - **Input.** JSON bodies must be `application/json`, at most 64 KiB, with no unknown fields
//!   (a mass-assignment attempt is a 400, never silently half-applied — docs/security.md case 82);
//!   bulk bodies take at most 100 items; query strings with unknown or duplicate parameters
//!   are 400. Validation errors are 400, unknown ids 404, duplicate keys or emails 409.
//! - **Pagination.** `page_size` (default 10, 1 to 500; more is a 400) and `next_token`. Lists
//!   are ordered by an immutable unique key and a token names the last key of its page and the
//!   list it belongs to, so inserts while a client pages through never duplicate or skip the
//!   rows that existed when it started; a forged or foreign token is a 400.
//! - **Atomicity.** Each operation is one transaction: it happens completely or not at all.
//! - **No secrets out.** Password hashes never leave the server; a client secret is shown once,
//!   when the application is created.
//!
//! The OpenAPI document of all of it is served at `/api/v1/openapi.json`, generated from the
//! handlers' annotations (utoipa).

use std::collections::HashMap;

use axum::Router;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, MatchedPath, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;

use crate::AppState;
use crate::domain::{AppType, ClientId};
use crate::error::{ServerError, StoreError};
use crate::store::{After, ListOrder, SortBy};

mod apis;
mod applications;
mod flags;
mod openapi;
mod organizations;
mod permissions;
mod roles;
mod users;

use openapi::ApiDoc;

/// Every scope of the management API, `verb:resource` as Kinde names them. An M2M application
/// granted the management API (`{issuer}/api`) may be given any subset.
pub const SCOPES: &[&str] = &[
    "read:users",
    "create:users",
    "update:users",
    "delete:users",
    "read:user_sessions",
    "delete:user_sessions",
    "update:user_feature_flags",
    "read:organizations",
    "create:organizations",
    "update:organizations",
    "delete:organizations",
    "read:organization_users",
    "create:organization_users",
    "update:organization_users",
    "delete:organization_users",
    "read:organization_user_roles",
    "create:organization_user_roles",
    "delete:organization_user_roles",
    "read:organization_user_permissions",
    "create:organization_user_permissions",
    "delete:organization_user_permissions",
    "read:organization_feature_flags",
    "update:organization_feature_flags",
    "delete:organization_feature_flags",
    "read:roles",
    "create:roles",
    "update:roles",
    "delete:roles",
    "read:role_permissions",
    "update:role_permissions",
    "delete:role_permissions",
    "read:permissions",
    "create:permissions",
    "update:permissions",
    "delete:permissions",
    "create:feature_flags",
    "update:feature_flags",
    "delete:feature_flags",
    "read:environment_feature_flags",
    "update:environment_feature_flags",
    "delete:environment_feature_flags",
    "read:applications",
    "create:applications",
    "update:applications",
    "delete:applications",
    "read:application_urls",
    "create:application_urls",
    "update:application_urls",
    "delete:application_urls",
    "read:apis",
    "create:apis",
    "update:apis",
    "delete:apis",
    "read:api_scopes",
    "create:api_scopes",
];

/// The audience of management-API tokens: `{issuer}/api`.
pub fn audience(issuer: &str) -> String {
    format!("{issuer}/api")
}

/// Registers the management API (audience `{issuer}/api`) with every scope in [`SCOPES`], so
/// M2M applications can be granted it. Idempotent; run at every start.
pub(crate) async fn register(store: &crate::store::Store, issuer: &str) -> Result<(), StoreError> {
    let scopes: Vec<String> = SCOPES.iter().map(|s| (*s).to_owned()).collect();
    store
        .register_management_api(&audience(issuer), &scopes)
        .await
}

/// Where the API lives.
pub(crate) const BASE: &str = "/api/v1";

/// The routes (nested under [`BASE`]) and the OpenAPI document describing them.
pub(crate) fn router() -> Router<AppState> {
    let (routes, doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(users::routes())
        .merge(organizations::routes())
        .merge(roles::routes())
        .merge(permissions::routes())
        .merge(flags::routes())
        .merge(applications::routes())
        .merge(apis::routes())
        .split_for_parts();
    let scopes = std::sync::Arc::new(OperationScopes::of(&doc));
    let document = openapi::finish(doc);
    let routes = routes
        .route(
            "/openapi.json",
            axum::routing::get(move || {
                let document = document.clone();
                async move {
                    (
                        [(
                            header::CONTENT_TYPE,
                            HeaderValue::from_static("application/json"),
                        )],
                        document,
                    )
                }
            }),
        )
        .fallback(route_not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::Extension(scopes))
        .layer(axum::middleware::from_fn(request_id));
    Router::new().nest(BASE, routes)
}

/// The header that names a management request, in both directions.
pub(crate) const REQUEST_ID: &str = "x-request-id";

/// Gives every management request an id: the caller's `x-request-id` when it is a plausible
/// one (1 to 64 of `A-Z a-z 0-9 - _ .`), else 16 random bytes in hex. It is sent back in the
/// answer's `x-request-id` (the SDK's `ManagementError::request_id` reads it) and names the
/// request in the server's log lines, so a user's report can be found in the logs.
async fn request_id(request: Request, next: axum::middleware::Next) -> Response {
    use tracing::Instrument as _;
    let id = request
        .headers()
        .get(REQUEST_ID)
        .filter(|v| is_plausible_request_id(v.as_bytes()))
        .cloned()
        .unwrap_or_else(|| {
            let fresh = crate::ids::hex(&crate::ids::bytes::<16>());
            HeaderValue::try_from(fresh).expect("hex is a valid header value")
        });
    // Plausible ids are ASCII, so `to_str` always succeeds here.
    let span = tracing::info_span!("management_api", request_id = id.to_str().unwrap_or(""));
    let mut response = next.run(request).instrument(span).await;
    response.headers_mut().insert(REQUEST_ID, id);
    response
}

fn is_plausible_request_id(id: &[u8]) -> bool {
    (1..=64).contains(&id.len())
        && id
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

async fn route_not_found() -> Response {
    let body = serde_json::json!({"errors": {
        "code": "ROUTE_NOT_FOUND",
        "message": "The requested API route does not exist",
    }});
    no_store((StatusCode::NOT_FOUND, axum::Json(body)).into_response())
}

async fn method_not_allowed() -> Response {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
        "this route does not accept that method",
    )
    .into_response()
}

fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

// ---------------------------------------------------------------------------------------------
// Errors

/// One entry of an error body.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub(crate) struct ErrorItem {
    /// A stable, upper-case code (`USER_NOT_FOUND`, `INVALID_EMAIL`, …).
    pub code: String,
    /// What went wrong, for a person.
    pub message: String,
}

/// The error body: `{"errors": [{"code", "message"}]}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub(crate) struct ErrorBody {
    /// What went wrong.
    pub errors: Vec<ErrorItem>,
}

/// A failed operation: status and Kinde-shaped body.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    errors: Vec<ErrorItem>,
    /// An RFC 6750 challenge for authorization failures.
    challenge: Option<String>,
    /// Seconds for `Retry-After`, when the client should come back later.
    retry_after: Option<u64>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            errors: vec![ErrorItem {
                code: code.to_owned(),
                message: message.into(),
            }],
            challenge: None,
            retry_after: None,
        }
    }

    /// 400 with `code`.
    pub(crate) fn bad_request(code: &str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 404 with `code`.
    pub(crate) fn not_found(code: &str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, code, message)
    }

    /// 409 with `code`.
    pub(crate) fn conflict(code: &str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, code, message)
    }

    /// 403: the token is missing, invalid, or not a management token.
    fn invalid_token(message: &str) -> ApiError {
        let mut e = ApiError::new(StatusCode::FORBIDDEN, "INVALID_CREDENTIALS", message);
        e.challenge = Some(format!(
            "Bearer realm=\"portcullis\", error=\"invalid_token\", error_description=\"{message}\""
        ));
        e
    }

    /// 403: the token lacks `scope`.
    fn insufficient_scope(scope: &'static str) -> ApiError {
        let mut e = ApiError::new(
            StatusCode::FORBIDDEN,
            "FORBIDDEN",
            format!("the access token lacks the {scope} scope"),
        );
        e.challenge = Some(format!(
            "Bearer realm=\"portcullis\", error=\"insufficient_scope\", scope=\"{scope}\""
        ));
        e
    }

    /// 500; the cause is logged, never sent.
    pub(crate) fn internal(cause: &dyn std::fmt::Display) -> ApiError {
        tracing::error!(error = %cause, "management API operation failed");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_ERROR",
            "the server could not complete the operation",
        )
    }
}

impl ApiError {
    /// 503 `SERVICE_UNAVAILABLE` with `Retry-After`: the database is unavailable for now and
    /// nothing was changed. The cause is logged, never sent.
    pub(crate) fn unavailable(cause: &dyn std::fmt::Display) -> ApiError {
        tracing::warn!(error = %cause, "management API operation failed: database unavailable");
        let mut e = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "SERVICE_UNAVAILABLE",
            "the server cannot complete the operation just now: nothing was changed, retry later",
        );
        e.retry_after = Some(crate::error::UNAVAILABLE_RETRY_AFTER_SECS);
        e
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ServerError::from(e).into()
    }
}

impl From<ServerError> for ApiError {
    fn from(e: ServerError) -> Self {
        if e.is_unavailable() {
            ApiError::unavailable(&e)
        } else {
            ApiError::internal(&e)
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            axum::Json(ErrorBody {
                errors: self.errors,
            }),
        )
            .into_response();
        if let Some(challenge) = self.challenge
            && let Ok(value) = HeaderValue::from_str(&challenge)
        {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, value);
        }
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        no_store(response)
    }
}

impl From<JsonRejection> for ApiError {
    fn from(e: JsonRejection) -> Self {
        match e.status() {
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "PAYLOAD_TOO_LARGE",
                "the body is larger than 64 KiB",
            ),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "UNSUPPORTED_MEDIA_TYPE",
                "send the body as application/json",
            ),
            _ => ApiError::bad_request("INVALID_BODY", e.body_text()),
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(e: QueryRejection) -> Self {
        ApiError::bad_request("INVALID_QUERY", e.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(e: PathRejection) -> Self {
        ApiError::bad_request("INVALID_PATH", e.body_text())
    }
}

/// 400: flag `key`'s `allow_override_level` does not reach `level` (`organization` or `user`).
pub(crate) fn override_not_allowed(key: &str, level: &str) -> ApiError {
    ApiError::bad_request(
        "FEATURE_FLAG_OVERRIDE_NOT_ALLOWED",
        format!(
            "feature flag {key:?} cannot be overridden per {level}: see its allow_override_level"
        ),
    )
}

// ---------------------------------------------------------------------------------------------
// Extractors with Kinde-shaped rejections

/// A JSON body (`application/json`, no unknown fields where the type says so).
pub(crate) struct Json<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let axum::Json(v) = axum::Json::<T>::from_request(req, state).await?;
        Ok(Json(v))
    }
}

/// Query parameters (unknown or repeated parameters are a 400 where the type denies them).
pub(crate) struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let axum::extract::Query(v) =
            axum::extract::Query::<T>::from_request_parts(parts, state).await?;
        Ok(Query(v))
    }
}

/// Path parameters.
pub(crate) struct Path<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let axum::extract::Path(v) =
            axum::extract::Path::<T>::from_request_parts(parts, state).await?;
        Ok(Path(v))
    }
}

// ---------------------------------------------------------------------------------------------
// Authorization

/// The scope each operation requires, read from the `security` entry of its
/// `#[utoipa::path]`: an operation states its scope once, and the document and the check
/// cannot disagree. An operation without one refuses every caller (500: a server bug, never
/// an open door).
#[derive(Debug, Default)]
pub(crate) struct OperationScopes(HashMap<String, Vec<(Method, &'static str)>>);

impl OperationScopes {
    /// The scopes of the operations of `doc` (paths relative to [`BASE`]).
    fn of(doc: &utoipa::openapi::OpenApi) -> OperationScopes {
        let mut scopes = HashMap::new();
        let Ok(doc) = serde_json::to_value(doc) else {
            return OperationScopes(scopes);
        };
        let paths = doc["paths"].as_object().into_iter().flatten();
        for (path, item) in paths {
            for (method, operation) in item.as_object().into_iter().flatten() {
                let Ok(method) = Method::from_bytes(method.to_ascii_uppercase().as_bytes()) else {
                    continue;
                };
                // `[{"bearer": ["read:users"]}]`; only scopes of [`SCOPES`] count.
                let scope = operation["security"][0]["bearer"][0].as_str();
                if let Some(scope) = scope.and_then(|s| SCOPES.iter().find(|k| **k == s)) {
                    scopes
                        .entry(format!("{BASE}{path}"))
                        .or_insert_with(Vec::new)
                        .push((method, *scope));
                }
            }
        }
        OperationScopes(scopes)
    }

    /// The scope of the operation at route `path` (as matched, under [`BASE`]) and `method`.
    fn get(&self, method: &Method, path: &str) -> Option<&'static str> {
        // A HEAD request runs the GET operation.
        let method = if method == Method::HEAD {
            &Method::GET
        } else {
            method
        };
        // Looked up by the borrowed path: no allocation per request.
        let operations = self.0.get(path)?;
        operations
            .iter()
            .find(|(m, _)| m == method)
            .map(|(_, scope)| *scope)
    }
}

/// The application calling the API, authorized for the operation's scope (see the module
/// docs): an extractor, so a handler that takes it cannot run for anyone else. It runs before
/// the handler reads anything else of the request.
#[derive(Debug)]
pub(crate) struct Caller {
    /// Its client id.
    #[allow(dead_code)]
    pub client_id: ClientId,
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Caller, ApiError> {
        let scope = parts
            .extensions
            .get::<std::sync::Arc<OperationScopes>>()
            .zip(parts.extensions.get::<MatchedPath>())
            .and_then(|(scopes, path)| scopes.get(&parts.method, path.as_str()));
        let Some(scope) = scope else {
            return Err(ApiError::internal(
                &"a management operation states no scope",
            ));
        };
        authorize(state, &parts.headers, scope).await
    }
}

/// Checks the request's bearer token for `scope` (see the module docs).
async fn authorize(
    state: &AppState,
    headers: &HeaderMap,
    scope: &'static str,
) -> Result<Caller, ApiError> {
    let values = headers
        .get_all(header::AUTHORIZATION)
        .iter()
        .map(HeaderValue::as_bytes);
    let token = match portcullis::web::bearer_token(values, None) {
        Ok(Some(token)) => token,
        Ok(None) => return Err(ApiError::invalid_token("a bearer token is required")),
        Err(reason) => return Err(ApiError::invalid_token(reason)),
    };
    let invalid = || ApiError::invalid_token("the access token is invalid, expired or revoked");
    let claims = state
        .keys()
        .verify_access_token(state.issuer(), token, state.now())
        .await?
        .map_err(|_| invalid())?;
    if !claims.aud.contains(&audience(state.issuer())) {
        return Err(ApiError::invalid_token(
            "the access token is not for the management API",
        ));
    }
    let machine = claims
        .extra
        .get("gty")
        .and_then(|g| g.as_array())
        .is_some_and(|g| g.iter().any(|v| v == "client_credentials"));
    if !machine {
        return Err(ApiError::invalid_token(
            "the management API takes client_credentials tokens only",
        ));
    }
    let Some(jti) = claims.jti.as_deref() else {
        return Err(invalid());
    };
    if state.store().is_revoked(jti).await? {
        return Err(invalid());
    }
    let client_id = claims
        .authorized_party()
        .and_then(|id| ClientId::parse(id).ok())
        .ok_or_else(invalid)?;
    let app = state.store().application_by_client_id(&client_id).await?;
    match app {
        Some(app) if app.app_type == AppType::M2m => {}
        _ => return Err(invalid()),
    }
    if !claims.has_scope(scope) {
        return Err(ApiError::insufficient_scope(scope));
    }
    Ok(Caller { client_id })
}

// ---------------------------------------------------------------------------------------------
// Envelopes and pagination

/// `{"code": "OK", "message": "Success"}`: the body of operations that return nothing else.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub(crate) struct Success {
    /// `OK`.
    pub code: String,
    /// `Success`.
    pub message: String,
}

impl Success {
    pub(crate) fn ok() -> Success {
        Success {
            code: "OK".into(),
            message: "Success".into(),
        }
    }
}

/// `200` with `body`, `Cache-Control: no-store`.
pub(crate) fn ok<T: Serialize>(body: T) -> Response {
    no_store(axum::Json(body).into_response())
}

/// `201` with `body`.
pub(crate) fn created<T: Serialize>(body: T) -> Response {
    no_store((StatusCode::CREATED, axum::Json(body)).into_response())
}

/// The default page size.
pub(crate) const DEFAULT_PAGE_SIZE: i64 = 10;
/// The largest page size.
pub(crate) const MAX_PAGE_SIZE: i64 = 500;
/// The most items a bulk body may hold.
pub(crate) const MAX_BULK: usize = 100;

/// A validated page request: how many rows, after which key.
#[derive(Debug)]
pub(crate) struct Page {
    /// Rows to return.
    pub size: i64,
    /// Return rows whose key is greater than this.
    pub after: Option<String>,
}

impl Page {
    /// Validates `page_size` and decodes `next_token`, which must belong to `list`.
    pub(crate) fn parse(
        list: &str,
        page_size: Option<i64>,
        next_token: Option<&str>,
    ) -> Result<Page, ApiError> {
        let size = page_size.unwrap_or(DEFAULT_PAGE_SIZE);
        if !(1..=MAX_PAGE_SIZE).contains(&size) {
            return Err(ApiError::bad_request(
                "INVALID_PAGE_SIZE",
                format!("page_size must be 1 to {MAX_PAGE_SIZE}"),
            ));
        }
        let after = match next_token {
            None | Some("") => None,
            Some(token) => Some(decode_token(list, token).ok_or_else(|| {
                ApiError::bad_request(
                    "INVALID_NEXT_TOKEN",
                    "next_token is not a token this list returned",
                )
            })?),
        };
        Ok(Page { size, after })
    }

    /// The rows fetched (at most `size + 1`, to see whether there is more) cut to the page,
    /// and the token of the next page when there is one.
    pub(crate) fn finish<T>(
        &self,
        list: &str,
        rows: Vec<T>,
        key: impl Fn(&T) -> &str,
    ) -> (Vec<T>, Option<String>) {
        self.finish_with(list, rows, |row| key(row).to_owned())
    }

    /// [`Page::finish`] where the token's position is computed (a [`Sort::cursor`]).
    pub(crate) fn finish_with<T>(
        &self,
        list: &str,
        mut rows: Vec<T>,
        position: impl Fn(&T) -> String,
    ) -> (Vec<T>, Option<String>) {
        let size = usize::try_from(self.size).unwrap_or(usize::MAX);
        if rows.len() > size {
            rows.truncate(size);
            let next = rows.last().map(|last| encode_token(list, &position(last)));
            (rows, next)
        } else {
            (rows, None)
        }
    }

    /// What to ask the store for: one row more than the page.
    pub(crate) fn fetch(&self) -> i64 {
        self.size + 1
    }
}

/// A list's `sort` (Kinde's `name_asc`, `email_desc`, …), validated against the orders that list
/// takes. The order is part of a page token: a token names the list *and* its order, so a token
/// from one order is a 400 under another. Without `sort` (or with the list's own key order,
/// `id_asc`) a list is in key order and its tokens are the plain keys they always were.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sort {
    /// The `sort` value, when it is not the key order.
    name: Option<&'static str>,
    /// The order.
    pub order: ListOrder,
}

/// Every `sort` value of Kinde's lists and its order.
const SORTS: &[(&str, SortBy, bool)] = &[
    ("id_asc", SortBy::Key, false),
    ("id_desc", SortBy::Key, true),
    ("name_asc", SortBy::Name, false),
    ("name_desc", SortBy::Name, true),
    ("email_asc", SortBy::Email, false),
    ("email_desc", SortBy::Email, true),
];

impl Sort {
    /// `value` if `allowed` holds it (absent or empty: key order), else a 400.
    pub(crate) fn parse(value: Option<&str>, allowed: &[&'static str]) -> Result<Sort, ApiError> {
        let value = match value {
            None | Some("") => return Ok(Sort::key_order()),
            Some(v) => v,
        };
        let found = allowed
            .iter()
            .find(|a| **a == value)
            .and_then(|a| SORTS.iter().find(|(name, _, _)| name == a));
        let Some(&(name, by, descending)) = found else {
            return Err(ApiError::bad_request(
                "INVALID_SORT",
                format!("sort takes {}", allowed.join(", ")),
            ));
        };
        let order = ListOrder { by, descending };
        Ok(if order == ListOrder::default() {
            Sort::key_order()
        } else {
            Sort {
                name: Some(name),
                order,
            }
        })
    }

    fn key_order() -> Sort {
        Sort {
            name: None,
            order: ListOrder::default(),
        }
    }

    /// The name page tokens of `list` in this order carry.
    pub(crate) fn list(&self, list: &str) -> String {
        match self.name {
            None => list.to_owned(),
            Some(name) => format!("{list}:{name}"),
        }
    }

    /// Where the page of a [`Page::after`] starts.
    pub(crate) fn after(&self, after: Option<&str>) -> Result<Option<After>, ApiError> {
        let Some(after) = after else { return Ok(None) };
        if self.name.is_none() {
            return Ok(Some(After {
                value: after.to_owned(),
                key: after.to_owned(),
            }));
        }
        let bad = || {
            ApiError::bad_request(
                "INVALID_NEXT_TOKEN",
                "next_token is not a token this list returned",
            )
        };
        let (value, key): (String, String) = serde_json::from_str(after).map_err(|_| bad())?;
        if key.is_empty() {
            return Err(bad());
        }
        Ok(Some(After { value, key }))
    }

    /// The position a token names: the last row's sort `value` and `key`.
    pub(crate) fn cursor(&self, value: &str, key: &str) -> String {
        match self.name {
            None => key.to_owned(),
            Some(_) => serde_json::to_string(&(value, key)).unwrap_or_default(),
        }
    }
}

/// The OpenAPI schema of a `sort` parameter taking `values`.
pub(crate) fn sort_schema(values: &[&str]) -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(values.iter().copied()))
        .description(Some("Field and order to sort the result by."))
        .build()
}

const TOKEN_VERSION: &str = "v1";

fn encode_token(list: &str, last_key: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{TOKEN_VERSION}\n{list}\n{last_key}"))
}

fn decode_token(list: &str, token: &str) -> Option<String> {
    if token.len() > 4096 {
        return None;
    }
    let raw = URL_SAFE_NO_PAD.decode(token).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let mut parts = text.splitn(3, '\n');
    let (version, owner, key) = (parts.next()?, parts.next()?, parts.next()?);
    (version == TOKEN_VERSION && owner == list && !key.is_empty()).then(|| key.to_owned())
}

// ---------------------------------------------------------------------------------------------
// Validation helpers

/// A trimmed, non-empty text of at most `max` characters without control characters.
pub(crate) fn text(field: &str, value: &str, max: usize) -> Result<String, ApiError> {
    let value = value.trim();
    if value.is_empty() || value.chars().count() > max || value.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "INVALID_FIELD",
            format!("{field} must be 1 to {max} characters without control characters"),
        ));
    }
    Ok(value.to_owned())
}

/// An optional [`text`]: `None` stays `None`.
pub(crate) fn optional_text(
    field: &str,
    value: Option<&str>,
    max: usize,
) -> Result<Option<String>, ApiError> {
    value.map(|v| text(field, v, max)).transpose()
}

/// An id as the server makes them (`kp_…`, `org_…`, …) or a seeded key: short, no spaces or
/// control characters. Anything else cannot name a row, so it is a 404 without a query.
pub(crate) fn plausible_id(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 128
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-:.@".contains(&b))
}

/// An email address by [`crate::domain::Email`]'s rule, normalised; `INVALID_EMAIL` otherwise.
pub(crate) fn email(value: &str) -> Result<String, ApiError> {
    crate::domain::Email::parse(value)
        .map(crate::domain::Email::into_string)
        .map_err(|_| ApiError::bad_request("INVALID_EMAIL", "the email address is not valid"))
}

/// A `picture` URL: absolute `https` (or `http`), at most 2048 bytes.
pub(crate) fn picture(value: Option<&str>) -> Result<Option<String>, ApiError> {
    let Some(value) = value else { return Ok(None) };
    let bad = || ApiError::bad_request("INVALID_PICTURE", "picture must be an http(s) URL");
    if value.len() > 2048 {
        return Err(bad());
    }
    let url = url::Url::parse(value).map_err(|_| bad())?;
    if !matches!(url.scheme(), "https" | "http") {
        return Err(bad());
    }
    Ok(Some(value.to_owned()))
}

/// ISO 8601 / RFC 3339 UTC of Unix seconds (Kinde's `created_on` form), by the `time` crate's
/// calendar. Seconds beyond the years -9999..=9999 (no clock gives them) are written as the
/// nearest representable instant.
pub(crate) fn timestamp(unix: i64) -> String {
    use time::{OffsetDateTime, PrimitiveDateTime};
    let t = OffsetDateTime::from_unix_timestamp(unix).unwrap_or_else(|_| {
        if unix < 0 {
            PrimitiveDateTime::MIN.assume_utc()
        } else {
            PrimitiveDateTime::MAX.assume_utc()
        }
    });
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}+00:00",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_tokens_belong_to_their_list() {
        let page = Page::parse("users", Some(2), None).unwrap();
        let (rows, next) = page.finish("users", vec!["a", "b", "c"], |s| s);
        assert_eq!(rows, ["a", "b"]);
        let next = next.unwrap();
        assert_eq!(
            Page::parse("users", None, Some(&next))
                .unwrap()
                .after
                .as_deref(),
            Some("b")
        );
        assert!(Page::parse("roles", None, Some(&next)).is_err());
        assert!(Page::parse("users", None, Some("not a token!")).is_err());
        assert!(Page::parse("users", None, Some(&URL_SAFE_NO_PAD.encode("v1\nusers\n"))).is_err());
        assert!(Page::parse("users", Some(0), None).is_err());
        assert!(Page::parse("users", Some(501), None).is_err());
        assert!(Page::parse("users", Some(100_000), None).is_err());
        let (rows, next) = page.finish("users", vec!["a", "b"], |s| s);
        assert_eq!((rows.len(), next), (2, None));
    }

    #[test]
    fn emails() {
        assert_eq!(email(" Ann@Example.COM ").unwrap(), "ann@example.com");
        for bad in [
            "",
            "ann",
            "@example.com",
            "ann@",
            "ann@example",
            "ann@@example.com",
            "a n@example.com",
            "ann@.example.com",
            "ann@example..com",
        ] {
            assert!(email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn timestamps() {
        assert_eq!(timestamp(0), "1970-01-01T00:00:00+00:00");
        assert_eq!(timestamp(1_693_285_199), "2023-08-29T04:59:59+00:00");
        assert_eq!(timestamp(951_782_400), "2000-02-29T00:00:00+00:00");
        assert_eq!(timestamp(-1), "1969-12-31T23:59:59+00:00");
        assert_eq!(timestamp(253_402_300_799), "9999-12-31T23:59:59+00:00");
        assert_eq!(timestamp(i64::MAX), "9999-12-31T23:59:59+00:00");
    }

    #[test]
    fn ids() {
        assert!(plausible_id("kp_0123abcd"));
        assert!(!plausible_id("../etc/passwd"));
        assert!(!plausible_id("1' OR '1'='1"));
        assert!(!plausible_id(""));
    }
}
