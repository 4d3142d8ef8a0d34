//! Management API: applications (`/applications`, `/applications/{application_id}/…`).
//!
//! - A client secret is made here (256 random bits), shown once in the answer to
//!   `POST /applications` and stored only as its SHA-256; no other answer carries it, and a
//!   `PATCH` naming `client_secret` (or any other unknown field) is a 400 (docs/security.md case 82).
//!   `spa` applications are public clients and get no secret.
//! - Registered URLs are checked like the seed's (docs/security.md case 83): absolute, no fragment,
//!   `https` (or `http` on a loopback host), no credentials, no wildcard. `javascript:`,
//!   `data:` and every other scheme are refused with `INVALID_REDIRECT_URI` (or
//!   `INVALID_LOGOUT_URI`). An application holds at most 100 URLs of each kind.
//! - Deleting an application revokes its refresh tokens and removes its API grants and URLs.
//!   Its access tokens stop working at once wherever the server looks the application up
//!   (the management API, userinfo, logout); the token endpoint (and so introspection and
//!   revocation, which authenticate the client there) keeps a copy of each application for at
//!   most `Settings::client_cache_ttl` (5 s by default), so the deleted application's
//!   credentials may still get a token for that long. Access tokens are JWTs that resource
//!   servers verify on their own: those already issued stay valid there until they expire.

use axum::extract::State;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{
    ApiError, Caller, ErrorBody, Json, MAX_BULK, Page, Path, Query, Sort, Success, created, ok,
    plausible_id, text,
};
use crate::AppState;
use crate::domain::{AppType, ClientId};
use crate::store::{ApplicationPatch, ManagedApplication, NewApplication, UrlKind, UrlsOutcome};

/// The most URLs of one kind an application may hold.
const MAX_URLS: usize = 100;
/// The longest URL taken.
const MAX_URL_LEN: usize = 2048;

/// The routes of this group.
pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_applications, create_application))
        .routes(routes!(
            get_application,
            update_application,
            delete_application
        ))
        .routes(routes!(
            get_callback_urls,
            add_redirect_callback_urls,
            replace_redirect_callback_urls,
            delete_callback_urls
        ))
        .routes(routes!(
            get_logout_urls,
            add_logout_redirect_urls,
            replace_logout_redirect_urls,
            delete_logout_urls
        ))
}

fn application_not_found() -> ApiError {
    ApiError::not_found("APPLICATION_NOT_FOUND", "no application has this id")
}

/// An application id from the path, or a 404 without touching the database.
fn application_id(id: &str) -> Result<&str, ApiError> {
    if plausible_id(id) {
        Ok(id)
    } else {
        Err(application_not_found())
    }
}

/// Checks a URL to register (see the module docs); `logout` picks the error code.
fn registered_url(url: &str, kind: UrlKind) -> Result<String, ApiError> {
    let code = match kind {
        UrlKind::Redirect => "INVALID_REDIRECT_URI",
        UrlKind::Logout => "INVALID_LOGOUT_URI",
    };
    let bad = |why: &str| ApiError::bad_request(code, why.to_owned());
    if url.is_empty() || url.len() > MAX_URL_LEN {
        return Err(bad("a URL must be 1 to 2048 bytes"));
    }
    if url
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '*')
    {
        return Err(bad(
            "a URL must not contain spaces, control characters or wildcards",
        ));
    }
    if url.contains('#') {
        return Err(bad("a URL must not have a fragment"));
    }
    let parsed = url::Url::parse(url).map_err(|_| bad("a URL must be absolute"))?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(bad("a URL must not carry credentials"));
    }
    let loopback = matches!(parsed.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    match parsed.scheme() {
        "https" if parsed.host_str().is_some_and(|h| !h.is_empty()) => Ok(url.to_owned()),
        "http" if loopback => Ok(url.to_owned()),
        _ => Err(bad("a URL must be https (http only on localhost)")),
    }
}

/// Validates a list of URLs to register.
fn registered_urls(urls: &[String], kind: UrlKind) -> Result<Vec<String>, ApiError> {
    if urls.len() > MAX_BULK {
        return Err(ApiError::bad_request(
            "TOO_MANY_ITEMS",
            format!("at most {MAX_BULK} URLs"),
        ));
    }
    urls.iter().map(|u| registered_url(u, kind)).collect()
}

fn type_name(app: &ManagedApplication) -> String {
    app.app_type.as_str().to_owned()
}

// ---------------------------------------------------------------------------------------------
// /applications

/// An application in a list.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct ApplicationListItem {
    /// Its id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// `reg`, `spa` or `m2m`.
    #[serde(rename = "type")]
    pub kind: String,
}

/// `GET /applications`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct ApplicationsResponse {
    /// `OK`.
    pub code: String,
    /// `Success`.
    pub message: String,
    /// This page.
    pub applications: Vec<ApplicationListItem>,
    /// The token of the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_token: Option<String>,
}

/// Query of `GET /applications`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct ApplicationsQuery {
    /// Items per page: 1 to 500, default 10.
    #[param(minimum = 1, maximum = 500)]
    page_size: Option<i64>,
    /// The `next_token` of the previous page.
    next_token: Option<String>,
    /// `name_asc` or `name_desc` (ties by id). Without it, by id.
    #[param(schema_with = applications_sort_schema)]
    sort: Option<String>,
}

/// The `sort` values of `GET /applications`: Kinde's.
const APPLICATION_SORTS: &[&str] = &["name_asc", "name_desc"];

fn applications_sort_schema() -> utoipa::openapi::Object {
    super::sort_schema(APPLICATION_SORTS)
}

/// Lists applications, ordered by id or by `sort`.
#[utoipa::path(get, path = "/applications", tag = "Applications",
    operation_id = "getApplications",
    params(ApplicationsQuery),
    responses(
        (status = 200, description = "A page of applications", body = ApplicationsResponse),
        (status = 400, description = "Bad parameters", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
    ),
    security(("bearer" = ["read:applications"])))]
async fn get_applications(
    State(state): State<AppState>,
    _caller: Caller,
    Query(q): Query<ApplicationsQuery>,
) -> Result<Response, ApiError> {
    let sort = Sort::parse(q.sort.as_deref(), APPLICATION_SORTS)?;
    let list = sort.list("applications");
    let page = Page::parse(&list, q.page_size, q.next_token.as_deref())?;
    let after = sort.after(page.after.as_deref())?;
    let rows = state
        .store()
        .management()
        .applications_sorted(sort.order, after.as_ref(), page.fetch())
        .await?;
    let (rows, next_token) = page.finish_with(&list, rows, |a| sort.cursor(&a.name, &a.id));
    let applications = rows
        .into_iter()
        .map(|a| ApplicationListItem {
            kind: type_name(&a),
            id: a.id,
            name: a.name,
        })
        .collect();
    Ok(ok(ApplicationsResponse {
        code: "OK".into(),
        message: "Success".into(),
        applications,
        next_token,
    }))
}

/// Body of `POST /applications`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateApplicationRequest {
    /// Display name (at most 200 characters).
    name: String,
    /// `reg` (server-side web app), `spa` (public single-page app, PKCE) or `m2m`.
    #[serde(rename = "type")]
    kind: String,
    /// Where the application starts a sign-in (absolute `https`, or `http` on localhost).
    login_uri: Option<String>,
    /// The application's home page (absolute `https`, or `http` on localhost).
    homepage_uri: Option<String>,
}

/// A `login_uri` or `homepage_uri`: absolute `https` (`http` on a loopback host), at most
/// 2048 bytes, no fragment, credentials or wildcard.
fn page_uri(field: &str, value: &str) -> Result<String, ApiError> {
    registered_url(value, UrlKind::Redirect).map_err(|_| {
        ApiError::bad_request(
            "INVALID_URI",
            format!("{field} must be an absolute https URL (http only on localhost)"),
        )
    })
}

/// The new application, with its secret (shown this once).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct CreatedApplication {
    /// Its id.
    pub id: String,
    /// The OAuth client id.
    pub client_id: String,
    /// The client secret, shown only here; absent for `spa` applications.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
}

/// `POST /applications`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct CreateApplicationResponse {
    /// `OK`.
    pub code: String,
    /// `Success`.
    pub message: String,
    /// The new application.
    pub application: CreatedApplication,
}

/// Creates an application. Its secret is in this answer and nowhere else, ever.
#[utoipa::path(post, path = "/applications", tag = "Applications",
    operation_id = "createApplication",
    request_body = CreateApplicationRequest,
    responses(
        (status = 201, description = "Created", body = CreateApplicationResponse),
        (status = 400, description = "Invalid body", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
        (status = 409, description = "The generated ids collided (retry)", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
    ),
    security(("bearer" = ["create:applications"])))]
async fn create_application(
    State(state): State<AppState>,
    _caller: Caller,
    Json(body): Json<CreateApplicationRequest>,
) -> Result<Response, ApiError> {
    let name = text("name", &body.name, 200)?;
    let login_uri = body
        .login_uri
        .as_deref()
        .map(|u| page_uri("login_uri", u))
        .transpose()?;
    let homepage_uri = body
        .homepage_uri
        .as_deref()
        .map(|u| page_uri("homepage_uri", u))
        .transpose()?;
    let Ok(app_type) = body.kind.parse::<AppType>() else {
        return Err(ApiError::bad_request(
            "INVALID_APPLICATION_TYPE",
            "type must be reg, spa or m2m",
        ));
    };
    let confidential = app_type.is_confidential();
    let id = crate::ids::new_id("app");
    let client_id = ClientId::generate();
    let secret = confidential.then(|| crate::ids::hex(&crate::ids::bytes::<32>()));
    let secret_sha256 = secret.as_deref().map(crate::ids::hash_secret);
    let created_row = state
        .store()
        .management()
        .create_application(&NewApplication {
            id: &id,
            name: &name,
            app_type,
            client_id: &client_id,
            client_secret_sha256: secret_sha256.as_deref(),
            login_uri: login_uri.as_deref(),
            homepage_uri: homepage_uri.as_deref(),
        })
        .await?;
    if !created_row {
        return Err(ApiError::conflict(
            "APPLICATION_ALREADY_EXISTS",
            "the generated ids are taken: try again",
        ));
    }
    Ok(created(CreateApplicationResponse {
        code: "OK".into(),
        message: "Success".into(),
        application: CreatedApplication {
            id,
            client_id: client_id.into(),
            client_secret: secret,
        },
    }))
}

// ---------------------------------------------------------------------------------------------
// /applications/{application_id}

/// An application (never its secret).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct Application {
    /// Its id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// `reg`, `spa` or `m2m`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The OAuth client id.
    pub client_id: String,
    /// Where the application starts a sign-in.
    pub login_uri: Option<String>,
    /// The application's home page.
    pub homepage_uri: Option<String>,
}

/// `GET /applications/{application_id}`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct ApplicationResponse {
    /// `OK`.
    pub code: String,
    /// `Success`.
    pub message: String,
    /// The application.
    pub application: Application,
}

/// Gets one application (without its secret).
#[utoipa::path(get, path = "/applications/{application_id}", tag = "Applications",
    operation_id = "getApplication",
    params(("application_id" = String, Path, description = "The application's id")),
    responses(
        (status = 200, description = "The application", body = ApplicationResponse),
        (status = 400, description = "Bad parameters", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
        (status = 404, description = "No such application", body = ErrorBody),
    ),
    security(("bearer" = ["read:applications"])))]
async fn get_application(
    State(state): State<AppState>,
    _caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = application_id(&id)?;
    let app = state
        .store()
        .management()
        .application(id)
        .await?
        .ok_or_else(application_not_found)?;
    Ok(ok(ApplicationResponse {
        code: "OK".into(),
        message: "Success".into(),
        application: Application {
            kind: type_name(&app),
            id: app.id,
            name: app.name,
            client_id: app.client_id.into(),
            login_uri: app.login_uri,
            homepage_uri: app.homepage_uri,
        },
    }))
}

/// Body of `PATCH /applications/{application_id}`. Secrets, grant types and every other
/// field are not changeable here: naming one is a 400.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UpdateApplicationRequest {
    /// Display name (at most 200 characters).
    name: Option<String>,
    /// Replaces the callback URLs (`reg` and `spa` applications).
    #[schema(max_items = 100)]
    redirect_uris: Option<Vec<String>>,
    /// Replaces the post-logout URLs (`reg` and `spa` applications).
    #[schema(max_items = 100)]
    logout_uris: Option<Vec<String>>,
    /// Where the application starts a sign-in (absolute `https`, or `http` on localhost);
    /// `null` clears it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, nullable)]
    login_uri: Option<Option<String>>,
    /// The application's home page (absolute `https`, or `http` on localhost); `null` clears
    /// it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, nullable)]
    homepage_uri: Option<Option<String>>,
}

/// Deserializes a present field (even `null`) as `Some`, so a PATCH can tell "clear" from
/// "leave alone".
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

fn no_urls_for_m2m(app: &ManagedApplication) -> Result<(), ApiError> {
    if app.app_type == AppType::M2m {
        return Err(ApiError::bad_request(
            "INVALID_APPLICATION_TYPE",
            "machine-to-machine applications have no redirect or logout URLs",
        ));
    }
    Ok(())
}

/// Updates an application's name, URLs, login URI and home page URI, in one transaction.
#[utoipa::path(patch, path = "/applications/{application_id}", tag = "Applications",
    operation_id = "updateApplication",
    params(("application_id" = String, Path, description = "The application's id")),
    request_body = UpdateApplicationRequest,
    responses(
        (status = 200, description = "Updated", body = Success),
        (status = 400, description = "Invalid body", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
        (status = 404, description = "No such application", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
    ),
    security(("bearer" = ["update:applications"])))]
async fn update_application(
    State(state): State<AppState>,
    _caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<UpdateApplicationRequest>,
) -> Result<Response, ApiError> {
    let id = application_id(&id)?;
    let patch = ApplicationPatch {
        name: body.name.map(|n| text("name", &n, 200)).transpose()?,
        redirect_urls: body
            .redirect_uris
            .map(|u| registered_urls(&u, UrlKind::Redirect))
            .transpose()?,
        logout_urls: body
            .logout_uris
            .map(|u| registered_urls(&u, UrlKind::Logout))
            .transpose()?,
        login_uri: body
            .login_uri
            .map(|u| u.as_deref().map(|u| page_uri("login_uri", u)).transpose())
            .transpose()?,
        homepage_uri: body
            .homepage_uri
            .map(|u| {
                u.as_deref()
                    .map(|u| page_uri("homepage_uri", u))
                    .transpose()
            })
            .transpose()?,
    };
    let store = state.store();
    if patch.redirect_urls.is_some() || patch.logout_urls.is_some() {
        // The type never changes, so checking it before the update's transaction is safe.
        let app = store
            .management()
            .application(id)
            .await?
            .ok_or_else(application_not_found)?;
        no_urls_for_m2m(&app)?;
    }
    store
        .management()
        .update_application(id, &patch)
        .await?
        .ok_or_else(application_not_found)?;
    Ok(ok(Success::ok()))
}

/// Deletes an application: its refresh tokens are revoked and its grants and URLs removed.
/// The token endpoint may accept its credentials for up to its client-cache lifetime (5 s by
/// default) after this answer.
#[utoipa::path(delete, path = "/applications/{application_id}", tag = "Applications",
    operation_id = "deleteApplication",
    params(("application_id" = String, Path, description = "The application's id")),
    responses(
        (status = 200, description = "Deleted", body = Success),
        (status = 400, description = "Bad parameters", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
        (status = 404, description = "No such application", body = ErrorBody),
    ),
    security(("bearer" = ["delete:applications"])))]
async fn delete_application(
    State(state): State<AppState>,
    _caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = application_id(&id)?;
    if !state.store().management().delete_application(id).await? {
        return Err(application_not_found());
    }
    Ok(ok(Success::ok()))
}

// ---------------------------------------------------------------------------------------------
// /applications/{application_id}/auth_redirect_urls and /auth_logout_urls

/// `GET /applications/{application_id}/auth_redirect_urls`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct RedirectUrlsResponse {
    /// `OK`.
    pub code: String,
    /// `Success`.
    pub message: String,
    /// The callback URLs, sorted.
    pub redirect_urls: Vec<String>,
}

/// `GET /applications/{application_id}/auth_logout_urls`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct LogoutUrlsResponse {
    /// `OK`.
    pub code: String,
    /// `Success`.
    pub message: String,
    /// The post-logout URLs, sorted.
    pub logout_urls: Vec<String>,
}

/// Body of the `POST` and `PUT` of an application's URLs.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UrlsRequest {
    /// Absolute `https` URLs (`http` on localhost), without fragment or wildcard; at most 100.
    #[schema(max_items = 100)]
    urls: Vec<String>,
}

/// `?urls=` of a `DELETE` of an application's URLs.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct UrlsQuery {
    /// The URLs to remove, comma-separated (at most 100; URLs not registered are ignored).
    urls: String,
}

async fn read_urls(state: &AppState, id: &str, kind: UrlKind) -> Result<Vec<String>, ApiError> {
    let id = application_id(id)?;
    state
        .store()
        .management()
        .application_urls(id, kind)
        .await?
        .ok_or_else(application_not_found)
}

fn urls_outcome(outcome: UrlsOutcome) -> Result<Response, ApiError> {
    match outcome {
        UrlsOutcome::Done => Ok(ok(Success::ok())),
        UrlsOutcome::NoApplication => Err(application_not_found()),
        UrlsOutcome::TooMany => Err(ApiError::bad_request(
            "TOO_MANY_ITEMS",
            format!("an application holds at most {MAX_URLS} URLs of each kind"),
        )),
    }
}

/// Adds (`replace == false`) or replaces URLs of one kind.
async fn write_urls(
    state: &AppState,
    id: &str,
    kind: UrlKind,
    urls: &[String],
    replace: bool,
) -> Result<Response, ApiError> {
    let id = application_id(id)?;
    let urls = registered_urls(urls, kind)?;
    let store = state.store();
    let app = store
        .management()
        .application(id)
        .await?
        .ok_or_else(application_not_found)?;
    no_urls_for_m2m(&app)?;
    let outcome = if replace {
        store
            .management()
            .replace_application_urls(id, kind, &urls)
            .await?
    } else {
        store
            .management()
            .add_application_urls(id, kind, &urls, MAX_URLS)
            .await?
    };
    urls_outcome(outcome)
}

async fn remove_urls(
    state: &AppState,
    id: &str,
    kind: UrlKind,
    urls: &str,
) -> Result<Response, ApiError> {
    let id = application_id(id)?;
    let urls: Vec<String> = urls
        .split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(str::to_owned)
        .collect();
    if urls.is_empty() {
        return Err(ApiError::bad_request(
            "INVALID_URLS",
            "urls must name at least one URL",
        ));
    }
    if urls.len() > MAX_BULK || urls.iter().any(|u| u.len() > MAX_URL_LEN) {
        return Err(ApiError::bad_request(
            "TOO_MANY_ITEMS",
            format!("at most {MAX_BULK} URLs of at most {MAX_URL_LEN} bytes"),
        ));
    }
    urls_outcome(
        state
            .store()
            .management()
            .remove_application_urls(id, kind, &urls)
            .await?,
    )
}

/// Lists an application's callback URLs.
#[utoipa::path(get, path = "/applications/{application_id}/auth_redirect_urls",
    tag = "Callbacks", operation_id = "getCallbackUrls",
    params(("application_id" = String, Path, description = "The application's id")),
    responses(
        (status = 200, description = "The callback URLs", body = RedirectUrlsResponse),
        (status = 400, description = "Bad parameters", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
        (status = 404, description = "No such application", body = ErrorBody),
    ),
    security(("bearer" = ["read:application_urls"])))]
async fn get_callback_urls(
    State(state): State<AppState>,
    _caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let redirect_urls = read_urls(&state, &id, UrlKind::Redirect).await?;
    Ok(ok(RedirectUrlsResponse {
        code: "OK".into(),
        message: "Success".into(),
        redirect_urls,
    }))
}

/// Adds callback URLs (those already registered stay).
#[utoipa::path(post, path = "/applications/{application_id}/auth_redirect_urls",
    tag = "Callbacks", operation_id = "addRedirectCallbackUrls",
    params(("application_id" = String, Path, description = "The application's id")),
    request_body = UrlsRequest,
    responses(
        (status = 200, description = "Added", body = Success),
        (status = 400, description = "Invalid URL or body", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
        (status = 404, description = "No such application", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
    ),
    security(("bearer" = ["create:application_urls"])))]
async fn add_redirect_callback_urls(
    State(state): State<AppState>,
    _caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<UrlsRequest>,
) -> Result<Response, ApiError> {
    write_urls(&state, &id, UrlKind::Redirect, &body.urls, false).await
}

/// Replaces the callback URLs.
#[utoipa::path(put, path = "/applications/{application_id}/auth_redirect_urls",
    tag = "Callbacks", operation_id = "replaceRedirectCallbackUrls",
    params(("application_id" = String, Path, description = "The application's id")),
    request_body = UrlsRequest,
    responses(
        (status = 200, description = "Replaced", body = Success),
        (status = 400, description = "Invalid URL or body", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
        (status = 404, description = "No such application", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
    ),
    security(("bearer" = ["update:application_urls"])))]
async fn replace_redirect_callback_urls(
    State(state): State<AppState>,
    _caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<UrlsRequest>,
) -> Result<Response, ApiError> {
    write_urls(&state, &id, UrlKind::Redirect, &body.urls, true).await
}

/// Removes callback URLs.
#[utoipa::path(delete, path = "/applications/{application_id}/auth_redirect_urls",
    tag = "Callbacks", operation_id = "deleteCallbackUrls",
    params(
        ("application_id" = String, Path, description = "The application's id"),
        UrlsQuery,
    ),
    responses(
        (status = 200, description = "Removed", body = Success),
        (status = 400, description = "Bad parameters", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
        (status = 404, description = "No such application", body = ErrorBody),
    ),
    security(("bearer" = ["delete:application_urls"])))]
async fn delete_callback_urls(
    State(state): State<AppState>,
    _caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<UrlsQuery>,
) -> Result<Response, ApiError> {
    remove_urls(&state, &id, UrlKind::Redirect, &q.urls).await
}

/// Lists an application's post-logout URLs.
#[utoipa::path(get, path = "/applications/{application_id}/auth_logout_urls",
    tag = "Callbacks", operation_id = "getLogoutUrls",
    params(("application_id" = String, Path, description = "The application's id")),
    responses(
        (status = 200, description = "The logout URLs", body = LogoutUrlsResponse),
        (status = 400, description = "Bad parameters", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
        (status = 404, description = "No such application", body = ErrorBody),
    ),
    security(("bearer" = ["read:application_urls"])))]
async fn get_logout_urls(
    State(state): State<AppState>,
    _caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let logout_urls = read_urls(&state, &id, UrlKind::Logout).await?;
    Ok(ok(LogoutUrlsResponse {
        code: "OK".into(),
        message: "Success".into(),
        logout_urls,
    }))
}

/// Adds post-logout URLs (those already registered stay).
#[utoipa::path(post, path = "/applications/{application_id}/auth_logout_urls",
    tag = "Callbacks", operation_id = "addLogoutRedirectUrls",
    params(("application_id" = String, Path, description = "The application's id")),
    request_body = UrlsRequest,
    responses(
        (status = 200, description = "Added", body = Success),
        (status = 400, description = "Invalid URL or body", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
        (status = 404, description = "No such application", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
    ),
    security(("bearer" = ["create:application_urls"])))]
async fn add_logout_redirect_urls(
    State(state): State<AppState>,
    _caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<UrlsRequest>,
) -> Result<Response, ApiError> {
    write_urls(&state, &id, UrlKind::Logout, &body.urls, false).await
}

/// Replaces the post-logout URLs.
#[utoipa::path(put, path = "/applications/{application_id}/auth_logout_urls",
    tag = "Callbacks", operation_id = "replaceLogoutRedirectUrls",
    params(("application_id" = String, Path, description = "The application's id")),
    request_body = UrlsRequest,
    responses(
        (status = 200, description = "Replaced", body = Success),
        (status = 400, description = "Invalid URL or body", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
        (status = 404, description = "No such application", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
    ),
    security(("bearer" = ["update:application_urls"])))]
async fn replace_logout_redirect_urls(
    State(state): State<AppState>,
    _caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<UrlsRequest>,
) -> Result<Response, ApiError> {
    write_urls(&state, &id, UrlKind::Logout, &body.urls, true).await
}

/// Removes post-logout URLs.
#[utoipa::path(delete, path = "/applications/{application_id}/auth_logout_urls",
    tag = "Callbacks", operation_id = "deleteLogoutUrls",
    params(
        ("application_id" = String, Path, description = "The application's id"),
        UrlsQuery,
    ),
    responses(
        (status = 200, description = "Removed", body = Success),
        (status = 400, description = "Bad parameters", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
        (status = 404, description = "No such application", body = ErrorBody),
    ),
    security(("bearer" = ["delete:application_urls"])))]
async fn delete_logout_urls(
    State(state): State<AppState>,
    _caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<UrlsQuery>,
) -> Result<Response, ApiError> {
    remove_urls(&state, &id, UrlKind::Logout, &q.urls).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_urls_are_checked() {
        for good in [
            "https://app.example.com/callback",
            "https://app.example.com/cb?x=1",
            "http://localhost:3000/callback",
            "http://127.0.0.1:8080/cb",
            "http://[::1]:8080/cb",
        ] {
            assert!(registered_url(good, UrlKind::Redirect).is_ok(), "{good}");
        }
        for bad in [
            "",
            "/callback",
            "app.example.com/callback",
            "https://app.example.com/cb#frag",
            "https://app.example.com/cb#",
            "javascript:alert(1)",
            "data:text/html,hi",
            "https://*.example.com/cb",
            "https://app.example.com/*",
            "http://app.example.com/cb",
            "file:///etc/passwd",
            "https://user:pw@app.example.com/cb",
            "https://app.example.com/c b",
        ] {
            assert!(registered_url(bad, UrlKind::Redirect).is_err(), "{bad}");
        }
        let long = format!("https://app.example.com/{}", "a".repeat(MAX_URL_LEN));
        assert!(registered_url(&long, UrlKind::Logout).is_err());
    }
}
