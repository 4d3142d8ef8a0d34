//! The authorization endpoint (`GET /oauth2/auth`) and the hosted sign-in form
//! (`POST /oauth2/auth/sign-in`): authorization code flow with PKCE. The sign-up form
//! (`prompt=create`, Kinde v1's `start_page=registration`, `is_create_org=true`) lives in
//! [`sign_up`], which documents how an email that already has an account is answered.
//!
//! Both forms belong to one *interaction*: an id in the page, a CSRF token in the page, and a
//! browser secret in an `HttpOnly` cookie. `GET /oauth2/auth/sign-in?interaction=…` and
//! `GET /oauth2/auth/sign-up?interaction=…` switch between the two forms (the links carry the
//! interaction id only, and only the browser that opened the interaction gets a page back).
//! `login_hint` (an email; Kinde's `username:…` and `phone:…` forms are ignored) prefills the
//! email field and is never logged.
//!
//! Order of checks (RFC 6749 §4.1.2.1): the client and its redirect URI first — if either is
//! wrong, an error page and never a redirect; every later error is redirected back with
//! `error`, `state` and `iss` (RFC 9207). Every answer that goes back to the application, code
//! or error, carries `iss` and the `state` exactly as sent, with `303 See Other` (never 307,
//! which would replay a form post to the application: RFC 9700 §4.12).
//!
//! The request (security.md cases 50–63):
//! - `GET` with a query, or `POST` with an `application/x-www-form-urlencoded` body (any other
//!   body is 400). More than 16 KiB of parameters is 414 (`GET`; the HTTP front already
//!   refuses request targets over 8 KiB the same way) or 413 (`POST`), more than 64 parameters
//!   400, both before anything is looked up.
//! - A parameter without a value is treated as omitted (`state=` means no state); a parameter
//!   sent twice is `invalid_request` (an error page when it is `client_id` or `redirect_uri`);
//!   unknown parameters are ignored.
//! - `redirect_uri` must equal a registered one exactly, as a string. One exception
//!   (RFC 8252 §7.3): a registered `http://127.0.0.1…` or `http://[::1]…` URI matches a request
//!   that differs from it only in the port. `localhost` is matched exactly. The code is bound
//!   to the requested string, which the token request must repeat exactly.
//! - `request` / `request_uri`: `request_not_supported` / `request_uri_not_supported`.
//! - `prompt`: `none`, `login`, `create`; anything else, or `none` with another value, is
//!   `invalid_request`. `max_age`: 0–2147483647 seconds, digits only, else `invalid_request`;
//!   a session older than that (always, for 0) must sign in again. The ID token always carries
//!   `auth_time`.
//! - `id_token_hint`: see [`hint`]. A bad hint is `invalid_request`; a valid one (expired or
//!   not) naming another user than the session's makes the user sign in again
//!   (`login_required` with `prompt=none`).
//! - `is_create_org=true` with `org_name` creates that organization at sign-in; without
//!   `org_name`, [`create_org`] asks for the name on a hosted form once the user is signed in.
//! - No `org_code`: a member of exactly one organization is signed into it; a member of
//!   several chooses one on the hosted chooser ([`choose_org`]), after signing in or on single
//!   sign-on (with `prompt=none`, which shows no page: no organization).

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use crate::AppState;
use crate::domain::AppType;
use crate::error::ServerError;
use crate::ids::hash_secret;
use crate::ids::random_token;
use crate::oidc::{Form, Peer};
use crate::pages;
use crate::store::{InteractionRecord, SessionRecord};

/// Cookie binding a pending sign-in to the browser that started it.
const INTERACTION_COOKIE: &str = "pc_interaction";
/// The single sign-on session cookie.
pub(crate) const SESSION_COOKIE: &str = "pc_session";
/// How long a sign-in form stays valid.
const INTERACTION_TTL: i64 = 600;
/// How long a session lasts.
const SESSION_TTL: i64 = 14 * 86_400;
/// Most bytes of parameters the authorization endpoint reads (query or form body); real
/// requests stay well under 4 KiB (security.md cases 63 and 93).
const MAX_QUERY_BYTES: usize = 16 * 1024;
/// Most parameters an authorization request may carry.
const MAX_PARAMS: usize = 64;
/// Largest `max_age` accepted, in seconds (`i32::MAX`, about 68 years). Larger values, such as
/// JavaScript's `MAX_SAFE_INTEGER`, are `invalid_request` (security.md case 56).
const MAX_MAX_AGE: i64 = i32::MAX as i64;

/// A validated authorization request, kept while the user signs in and then inside the code.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct AuthRequest {
    pub client_id: String,
    pub redirect_uri: String,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub scopes: Vec<String>,
    pub audiences: Vec<String>,
    pub org_code: Option<String>,
    /// Filled in when the code is issued.
    #[serde(default)]
    pub user_id: String,
    #[serde(default)]
    pub auth_time: i64,
    /// `login_hint` when it is an email: prefills the forms; never put into a code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login_hint: Option<String>,
    /// `org_name` of `is_create_org=true`: the organization created once the user is signed
    /// in; never put into a code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_org: Option<String>,
    /// `is_create_org=true` without `org_name`: once the user is signed in, the hosted
    /// "Create your organization" form asks for the name; never put into a code.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ask_org_name: bool,
}

impl AuthRequest {
    /// The request an interaction was opened for.
    pub(crate) fn of(interaction: &InteractionRecord) -> Result<AuthRequest, ServerError> {
        serde_json::from_str(&interaction.request).map_err(|e| ServerError::Config(e.to_string()))
    }
}

mod choose_org;
mod create_org;
pub(crate) mod hint;
mod sign_up;
pub(crate) use choose_org::{choose_org, choose_org_page};
pub(crate) use create_org::{create_org, create_org_page};
pub(crate) use sign_up::{sign_up, sign_up_page};

/// 256 random bits, base64url: codes, refresh tokens, session and interaction ids, CSRF tokens.
pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

pub(crate) fn set_cookie(
    state: &AppState,
    name: &str,
    value: &str,
    path: &str,
    max_age: i64,
) -> HeaderValue {
    let secure = if state.issuer().starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}"
    ))
    .expect("cookie values are base64url")
}

pub(crate) fn redirect(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `redirect_uri` with response parameters added (keeping its own query).
pub(crate) fn back_to(redirect_uri: &str, params: &[(&str, &str)]) -> String {
    let mut url = match url::Url::parse(redirect_uri) {
        Ok(u) => u,
        Err(_) => return redirect_uri.to_owned(),
    };
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in params {
            q.append_pair(k, v);
        }
    }
    url.to_string()
}

fn error_redirect(
    state: &AppState,
    req_uri: &str,
    st: Option<&str>,
    error: &str,
    description: &str,
) -> Response {
    let description = crate::error::error_description(description);
    let mut params = vec![("error", error), ("error_description", &*description)];
    if let Some(s) = st {
        params.push(("state", s));
    }
    params.push(("iss", state.issuer()));
    redirect(&back_to(req_uri, &params))
}

pub(crate) fn is_pkce_value(s: &str) -> bool {
    (43..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

/// `GET /oauth2/auth`.
pub(crate) async fn authorize(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let query = query.unwrap_or_default();
    respond(&state, &headers, query.as_bytes(), StatusCode::URI_TOO_LONG).await
}

/// `POST /oauth2/auth` (OIDC Core §3.1.2.1): the same parameters as a form body. Only
/// `application/x-www-form-urlencoded` is read; anything else, such as JSON, is 400.
pub(crate) async fn authorize_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let mime = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .unwrap_or("")
        .trim();
    if !mime.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        return pages::error(
            StatusCode::BAD_REQUEST,
            "The authorization request must be sent as a form (application/x-www-form-urlencoded).",
        );
    }
    respond(&state, &headers, &body, StatusCode::PAYLOAD_TOO_LARGE).await
}

/// Both methods: `too_long` is the status for parameters over [`MAX_QUERY_BYTES`].
async fn respond(
    state: &AppState,
    headers: &HeaderMap,
    query: &[u8],
    too_long: StatusCode,
) -> Response {
    if query.len() > MAX_QUERY_BYTES {
        return pages::error(too_long, "The sign-in request is too long.");
    }
    or_server_error(
        authorize_inner(state, headers, query).await,
        "authorization request",
        "The server could not complete the sign-in.",
    )
}

/// A hosted page's answer, or — when the server failed (`what` failed, logged) — a page saying
/// `message`: 503 with `Retry-After` while the database is unavailable, 500 otherwise; the
/// error itself is never shown.
pub(crate) fn or_server_error(
    result: Result<Response, ServerError>,
    what: &str,
    message: &str,
) -> Response {
    result.unwrap_or_else(|e| {
        if e.is_unavailable() {
            tracing::warn!(error = %e, "{what} failed: database unavailable");
        } else {
            tracing::error!(error = %e, "{what} failed");
        }
        pages::failure(e.is_unavailable(), message)
    })
}

/// The live session whose cookie `headers` carry, if any.
pub(crate) async fn current_session(
    state: &AppState,
    headers: &HeaderMap,
    now: i64,
) -> Result<Option<SessionRecord>, ServerError> {
    match cookie(headers, SESSION_COOKIE) {
        Some(id) => Ok(state.store().session(&hash_secret(&id), now).await?),
        None => Ok(None),
    }
}

/// The scopes of a space-separated `scope` parameter; `openid` when it is absent.
///
/// Every scope must be an RFC 6749 §3.3 `scope-token`: printable ASCII without `"` and `\`
/// (`%x21 / %x23-5B / %x5D-7E`). Anything else (control characters, non-ASCII, quotes) is
/// refused rather than copied into tokens and answers. Extra spaces between scopes are
/// tolerated.
pub(crate) fn requested_scopes(scope: Option<&str>) -> Result<Vec<String>, InvalidScope> {
    scope_tokens(scope.unwrap_or("openid")).map(|tokens| tokens.map(str::to_owned).collect())
}

/// The scope tokens of `scope`, split on spaces, once each is checked (see
/// [`requested_scopes`]).
pub(crate) fn scope_tokens(scope: &str) -> Result<impl Iterator<Item = &str>, InvalidScope> {
    if let Some(bad) = scope.chars().find(|&c| c != ' ' && !is_scope_char(c)) {
        return Err(InvalidScope(bad));
    }
    Ok(scope.split(' ').filter(|s| !s.is_empty()))
}

/// RFC 6749 §3.3 `NQCHAR`.
fn is_scope_char(c: char) -> bool {
    matches!(c, '\x21' | '\x23'..='\x5B' | '\x5D'..='\x7E')
}

/// A `scope` parameter with a character RFC 6749 §3.3 does not allow in a scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct InvalidScope(char);

impl std::fmt::Display for InvalidScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "scope holds the character U+{:04X}, which RFC 6749 §3.3 does not allow",
            u32::from(self.0)
        )
    }
}

/// The audiences of a space-separated `audience` parameter, if application `app_id` may use
/// every one of them (`invalid_target` otherwise); none when it is absent.
pub(crate) async fn granted_audiences(
    state: &AppState,
    app_id: &str,
    audience: Option<&str>,
) -> Result<Option<Vec<String>>, ServerError> {
    let mut audiences = Vec::new();
    for aud in audience.unwrap_or("").split_whitespace() {
        if state.store().api_grant(app_id, aud).await?.is_none() {
            return Ok(None);
        }
        audiences.push(aud.to_owned());
    }
    Ok(Some(audiences))
}

/// Whether `requested` may be used for the registered redirect URI `registered`: the same
/// string, or — for a registered `http://127.0.0.1` or `http://[::1]` URI — the same string
/// with any port (RFC 8252 §7.3: native apps listen on an ephemeral loopback port).
pub(crate) fn redirect_uri_matches(registered: &str, requested: &str) -> bool {
    if registered == requested {
        return true;
    }
    match (loopback_parts(registered), loopback_parts(requested)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

/// `(scheme and host, everything after the port)` of an `http` URI whose host is the literal
/// loopback IP `127.0.0.1` or `[::1]`; `None` for anything else. The port, when present, must
/// be 1–65535 without leading zeros, and must be followed by the path (or nothing), so
/// `http://127.0.0.1:80@evil.example/` is not loopback. `localhost` is deliberately not
/// included (RFC 8252 §8.3): it stays matched exactly.
fn loopback_parts(uri: &str) -> Option<(&'static str, &str)> {
    for host in ["http://127.0.0.1", "http://[::1]"] {
        let Some(after) = uri.strip_prefix(host) else {
            continue;
        };
        let rest = match after.strip_prefix(':') {
            Some(port_and_rest) => {
                let end = port_and_rest
                    .find(|c: char| !c.is_ascii_digit())
                    .unwrap_or(port_and_rest.len());
                let port = &port_and_rest[..end];
                let valid = !port.starts_with('0') && port.parse::<u16>().is_ok_and(|p| p > 0);
                if !valid {
                    return None;
                }
                &port_and_rest[end..]
            }
            None => after,
        };
        return (rest.is_empty() || rest.starts_with('/')).then_some((host, rest));
    }
    None
}

/// `max_age` (OIDC Core §3.1.2.1): decimal seconds from 0 to [`MAX_MAX_AGE`], digits only.
fn parse_max_age(value: &str) -> Option<i64> {
    if value.is_empty() || value.len() > 10 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse::<i64>().ok().filter(|v| *v <= MAX_MAX_AGE)
}

async fn authorize_inner(
    state: &AppState,
    headers: &HeaderMap,
    query: &[u8],
) -> Result<Response, ServerError> {
    let store = state.store();
    let mut params: Vec<(String, String)> = Vec::new();
    let mut duplicate = None;
    for (i, (k, v)) in url::form_urlencoded::parse(query).enumerate() {
        if i >= MAX_PARAMS {
            return Ok(pages::error(
                StatusCode::BAD_REQUEST,
                "The sign-in request has too many parameters.",
            ));
        }
        // RFC 6749 §3.1: a parameter sent without a value is treated as omitted.
        if v.is_empty() {
            continue;
        }
        if params.iter().any(|(seen, _)| *seen == k) {
            duplicate.get_or_insert_with(|| k.to_string());
            continue;
        }
        params.push((k.into_owned(), v.into_owned()));
    }
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };

    // 1. Client and redirect URI, before anything else; never redirect when either is wrong.
    let Some(client_id) = get("client_id") else {
        return Ok(pages::error(
            StatusCode::BAD_REQUEST,
            "The request names no application (client_id).",
        ));
    };
    let app = match store.application_by_client_id(client_id).await? {
        Some(app) if app.app_type.signs_users_in() => app,
        _ => {
            return Ok(pages::error(
                StatusCode::BAD_REQUEST,
                "This application is not registered for sign-in.",
            ));
        }
    };
    let registered = store.application_urls(&app.id, "login").await?;
    // The requested string itself is kept (and bound to the code): with a loopback port it is
    // what the token request must repeat exactly.
    let Some(redirect_uri) =
        get("redirect_uri").filter(|r| registered.iter().any(|u| redirect_uri_matches(u, r)))
    else {
        return Ok(pages::error(
            StatusCode::BAD_REQUEST,
            "The redirect URI is not registered for this application.",
        ));
    };
    if let Some(name) = &duplicate
        && (name == "client_id" || name == "redirect_uri")
    {
        return Ok(pages::error(
            StatusCode::BAD_REQUEST,
            "A parameter is repeated.",
        ));
    }
    let st = get("state");
    let fail = |error: &str, description: &str| {
        Ok(error_redirect(state, redirect_uri, st, error, description))
    };

    // 2. Everything else is answered by redirecting back.
    if let Some(name) = duplicate {
        return fail("invalid_request", &format!("parameter {name} is repeated"));
    }
    if get("request").is_some() {
        return fail("request_not_supported", "request objects are not supported");
    }
    if get("request_uri").is_some() {
        return fail("request_uri_not_supported", "request_uri is not supported");
    }
    if get("response_type") != Some("code") {
        return fail(
            "unsupported_response_type",
            "only response_type=code is supported",
        );
    }
    let code_challenge = get("code_challenge");
    match (code_challenge, get("code_challenge_method")) {
        (Some(c), Some("S256")) if is_pkce_value(c) => {}
        (Some(_), Some("S256")) => return fail("invalid_request", "code_challenge is malformed"),
        (Some(_), _) => {
            return fail(
                "invalid_request",
                "code_challenge_method must be S256 (plain is not accepted)",
            );
        }
        (None, Some(_)) => {
            return fail(
                "invalid_request",
                "code_challenge_method without code_challenge",
            );
        }
        (None, None) if app.app_type == AppType::Spa => {
            return fail(
                "invalid_request",
                "single-page applications must use PKCE (S256)",
            );
        }
        (None, None) => {}
    }
    let scopes = match requested_scopes(get("scope")) {
        Ok(scopes) => scopes,
        Err(e) => return fail("invalid_scope", &e.to_string()),
    };
    let Some(audiences) = granted_audiences(state, &app.id, get("audience")).await? else {
        return fail(
            "invalid_target",
            "the application may not use that audience",
        );
    };
    let org_code = get("org_code").map(str::to_owned);
    let prompt: Vec<&str> = get("prompt")
        .unwrap_or("")
        .split(' ')
        .filter(|p| !p.is_empty())
        .collect();
    if prompt
        .iter()
        .any(|p| !matches!(*p, "none" | "login" | "create"))
    {
        return fail(
            "invalid_request",
            "supported prompt values are none, login and create",
        );
    }
    // OIDC Core §3.1.2.1: `none` with any other value is an error.
    if prompt.contains(&"none") && prompt.iter().any(|p| *p != "none") {
        return fail(
            "invalid_request",
            "prompt=none cannot be combined with other values",
        );
    }
    let max_age = match get("max_age") {
        None => None,
        Some(v) => match parse_max_age(v) {
            Some(secs) => Some(secs),
            None => {
                return fail(
                    "invalid_request",
                    "max_age must be a whole number of seconds from 0 to 2147483647",
                );
            }
        },
    };
    // `is_create_org=true` with `org_name`: created at sign-in; without: named on a form.
    let (create_org, ask_org_name) = match get("is_create_org") {
        Some("true") => match get("org_name").map(sign_up::org_name) {
            Some(Ok(name)) => (Some(name), false),
            Some(Err(why)) => return fail("invalid_request", why),
            None => (None, true),
        },
        _ => (None, false),
    };
    let wants_sign_up = prompt.contains(&"create")
        || get("start_page") == Some("registration")
        || create_org.is_some()
        || ask_org_name;
    if wants_sign_up && prompt.contains(&"none") {
        return fail(
            "invalid_request",
            "prompt=none cannot be combined with sign-up",
        );
    }
    let now = state.now();
    let hinted_user = match get("id_token_hint") {
        None => None,
        Some(h) => match hint::subject(state, client_id, h, now).await? {
            Some(sub) => Some(sub),
            None => {
                return fail(
                    "invalid_request",
                    "id_token_hint is not an ID token this server issued to this application",
                );
            }
        },
    };
    // Kinde's `username:joe` and `phone:+44…:gb` hints have no form field here: ignored.
    let login_hint = get("login_hint")
        .filter(|h| sign_up::is_valid_email(h))
        .map(|h| h.trim().to_owned());
    let request = AuthRequest {
        client_id: client_id.to_owned(),
        redirect_uri: redirect_uri.to_owned(),
        state: st.map(str::to_owned),
        nonce: get("nonce").map(str::to_owned),
        code_challenge: code_challenge.map(str::to_owned),
        scopes,
        audiences,
        org_code,
        user_id: String::new(),
        auth_time: 0,
        login_hint,
        create_org,
        ask_org_name,
    };

    // 3. Single sign-on: an existing session answers at once — unless prompt=login, the
    // session is older than max_age (max_age=0 always asks), or the id_token_hint names
    // another user. Then the user signs in again (prompt=none: login_required).
    let session = current_session(state, headers, now).await?.filter(|s| {
        let fresh_enough = max_age.is_none_or(|m| m > 0 && now.saturating_sub(s.auth_time) <= m);
        let same_user = hinted_user.as_deref().is_none_or(|sub| sub == s.user_id);
        fresh_enough && same_user && !prompt.contains(&"login")
    });
    if prompt.contains(&"none") {
        return match session {
            Some(s) => issue_code(state, request, &s).await,
            None => fail("login_required", "the user must sign in"),
        };
    }
    if let Some(s) = session
        && !wants_sign_up
    {
        return choose_org::or_issue_code(state, request, &s, None, now).await;
    }

    // 4. Show the sign-in (or sign-up) form, bound to this browser.
    let interaction = random_token();
    let browser = random_token();
    let csrf = random_token();
    store
        .create_interaction(
            &hash_secret(&interaction),
            &InteractionRecord {
                browser_sha256: hash_secret(&browser),
                csrf: csrf.clone(),
                request: serde_json::to_string(&request)
                    .map_err(|e| ServerError::Config(e.to_string()))?,
                expires_at: now + INTERACTION_TTL,
            },
        )
        .await?;
    let hint = request.login_hint.as_deref().unwrap_or("");
    let mut response = if wants_sign_up {
        pages::sign_up(
            &interaction,
            &csrf,
            &pages::SignUpFields {
                email: hint,
                org_name: request.create_org.as_deref(),
                org_named_next: request.ask_org_name,
                ..Default::default()
            },
            None,
        )
    } else {
        pages::sign_in(&interaction, &csrf, hint, None)
    };
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(
            state,
            INTERACTION_COOKIE,
            &browser,
            "/oauth2/auth",
            INTERACTION_TTL,
        ),
    );
    Ok(response)
}

/// The organization a sign-in without `org_code` is for: the user's only one, if exactly one.
/// (A member of several chooses on the hosted chooser first, except with `prompt=none`.)
pub(crate) fn default_org(mut orgs: Vec<String>) -> Option<String> {
    if orgs.len() == 1 { orgs.pop() } else { None }
}

/// Issues a code for a signed-in user and redirects back.
async fn issue_code(
    state: &AppState,
    mut request: AuthRequest,
    session: &SessionRecord,
) -> Result<Response, ServerError> {
    let orgs = state.store().user_org_codes(&session.user_id).await?;
    match &request.org_code {
        Some(org) if !orgs.contains(org) => {
            return Ok(error_redirect(
                state,
                &request.redirect_uri,
                request.state.as_deref(),
                "access_denied",
                "the user is not a member of that organization",
            ));
        }
        Some(_) => {}
        // No org_code: a member of exactly one organization is signed into it, so the token
        // carries its roles and permissions; a member of several has chosen one on the hosted
        // chooser before this — unless the request was `prompt=none`, which shows no page:
        // then no organization.
        None => request.org_code = default_org(orgs),
    }
    request.user_id = session.user_id.clone();
    request.auth_time = session.auth_time;
    request.login_hint = None;
    request.create_org = None;
    request.ask_org_name = false;
    let code = random_token();
    let data = serde_json::to_string(&request).map_err(|e| ServerError::Config(e.to_string()))?;
    state
        .store()
        .create_code(
            &hash_secret(&code),
            &data,
            state.now() + state.inner.settings.code_ttl,
        )
        .await?;
    let mut params = vec![("code", code.as_str())];
    if let Some(s) = &request.state {
        params.push(("state", s));
    }
    params.push(("iss", state.issuer()));
    Ok(redirect(&back_to(&request.redirect_uri, &params)))
}

/// Issues a code for a user signed in through an interaction's forms, and clears the browser's
/// interaction cookie: the interaction is over.
async fn issue_final_code(
    state: &AppState,
    request: AuthRequest,
    session: &SessionRecord,
) -> Result<Response, ServerError> {
    let mut response = issue_code(state, request, session).await?;
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(state, INTERACTION_COOKIE, "", "/oauth2/auth", 0),
    );
    Ok(response)
}

/// `POST /oauth2/auth/sign-in`: the hosted form's submission.
pub(crate) async fn sign_in(
    State(state): State<AppState>,
    Peer(ip): Peer,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    or_server_error(
        sign_in_inner(&state, ip, &headers, &body).await,
        "sign-in",
        "The server could not complete the sign-in.",
    )
}

/// Why a form submission or page switch is refused before anything else happens.
pub(crate) enum Refusal {
    /// Unknown or expired interaction: 400.
    Expired,
    /// Another browser, a missing or wrong CSRF token, or a cross-site post: 403.
    Forbidden,
}

impl Refusal {
    fn page(&self) -> Response {
        match self {
            Refusal::Expired => pages::error(
                StatusCode::BAD_REQUEST,
                "This sign-in form has expired. Go back to the application and start again.",
            ),
            Refusal::Forbidden => pages::error(
                StatusCode::FORBIDDEN,
                "This sign-in form was not opened in this browser.",
            ),
        }
    }
}

/// Whether a form post comes from another site (security.md case 49): `Sec-Fetch-Site:
/// cross-site`, or an `Origin` that is not the issuer's. Browsers that send neither are
/// still held to the cookie and CSRF token.
fn cross_site(state: &AppState, headers: &HeaderMap) -> bool {
    if headers
        .get("sec-fetch-site")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"cross-site"))
    {
        return true;
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return false;
    };
    // A browser that withholds the origin (`Origin: null`) but vouches for a same-origin request.
    if origin.as_bytes() == b"null"
        && headers
            .get("sec-fetch-site")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"same-origin"))
    {
        return false;
    }
    let ours = url::Url::parse(state.issuer())
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_default();
    origin.to_str().map_or(true, |o| o != ours)
}

/// The interaction `interaction_id`, if it was opened by this browser and (when `csrf` is
/// given) the token matches (login CSRF, security.md cases 49 and 88).
pub(crate) async fn bound_interaction(
    state: &AppState,
    headers: &HeaderMap,
    interaction_id: &str,
    csrf: Option<Option<&str>>,
) -> Result<Result<InteractionRecord, Refusal>, ServerError> {
    let Some(interaction) = state
        .store()
        .interaction(&hash_secret(interaction_id), state.now())
        .await?
    else {
        return Ok(Err(Refusal::Expired));
    };
    let browser_ok = cookie(headers, INTERACTION_COOKIE).is_some_and(|b| {
        bool::from(
            hash_secret(&b)
                .as_bytes()
                .ct_eq(interaction.browser_sha256.as_bytes()),
        )
    });
    let csrf_ok = match csrf {
        None => true,
        Some(c) => {
            !cross_site(state, headers)
                && c.is_some_and(|c| bool::from(c.as_bytes().ct_eq(interaction.csrf.as_bytes())))
        }
    };
    if !browser_ok || !csrf_ok {
        return Ok(Err(Refusal::Forbidden));
    }
    Ok(Ok(interaction))
}

/// A hosted page's interaction: the `interaction` parameter of `query` and its record, if this
/// browser opened it; otherwise the refusal page to answer with.
pub(crate) async fn page_interaction(
    state: &AppState,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Result<Result<(String, InteractionRecord), Response>, ServerError> {
    let id = url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .find(|(k, _)| k == "interaction")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    Ok(match bound_interaction(state, headers, &id, None).await? {
        Ok(interaction) => Ok((id, interaction)),
        Err(refusal) => Err(refusal.page()),
    })
}

/// A hosted form's submission and its interaction, if the body is a form, this browser opened
/// the interaction and the form carries its CSRF token from this site; otherwise the page to
/// answer with (400 for an unreadable form, else the refusal).
pub(crate) async fn posted_interaction(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Result<(Form, InteractionRecord), Response>, ServerError> {
    let Ok(form) = Form::parse(headers, body) else {
        return Ok(Err(pages::error(
            StatusCode::BAD_REQUEST,
            "The form could not be read.",
        )));
    };
    let id = form.get("interaction").unwrap_or("");
    Ok(
        match bound_interaction(state, headers, id, Some(form.get("csrf"))).await? {
            Ok(interaction) => Ok((form, interaction)),
            Err(refusal) => Err(refusal.page()),
        },
    )
}

/// `GET /oauth2/auth/sign-in?interaction=…`: the sign-in form of an interaction (the link on
/// the sign-up form).
pub(crate) async fn sign_in_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    switch_page(&state, &headers, query.as_deref(), false).await
}

pub(crate) async fn switch_page(
    state: &AppState,
    headers: &HeaderMap,
    query: Option<&str>,
    to_sign_up: bool,
) -> Response {
    let result = async {
        let (id, interaction) = match page_interaction(state, headers, query).await? {
            Ok(found) => found,
            Err(refusal) => return Ok(refusal),
        };
        let request = AuthRequest::of(&interaction)?;
        let hint = request.login_hint.as_deref().unwrap_or("");
        Ok(if to_sign_up {
            pages::sign_up(
                &id,
                &interaction.csrf,
                &pages::SignUpFields {
                    email: hint,
                    org_name: request.create_org.as_deref(),
                    org_named_next: request.ask_org_name,
                    ..Default::default()
                },
                None,
            )
        } else {
            pages::sign_in(&id, &interaction.csrf, hint, None)
        })
    }
    .await;
    or_server_error(
        result,
        "sign-in page",
        "The server could not complete the sign-in.",
    )
}

/// Ends an interaction for `user_id`: starts a session with a fresh id (no fixation, case 45),
/// then either creates the organization of `is_create_org` + `org_name`, issues the code and
/// redirects back, or — `is_create_org` without a name — sends the browser on to the
/// "Create your organization" form ([`create_org`]), still bound to it; or — a member of
/// several organizations and no `org_code` — on to the organization chooser ([`choose_org`]).
pub(crate) async fn finish(
    state: &AppState,
    interaction_id: &str,
    interaction: &InteractionRecord,
    mut request: AuthRequest,
    user_id: &str,
    now: i64,
) -> Result<Response, ServerError> {
    let store = state.store();
    store
        .delete_interaction(&hash_secret(interaction_id))
        .await?;
    let session_id = random_token();
    let session = SessionRecord {
        user_id: user_id.to_owned(),
        auth_time: now,
        expires_at: now + SESSION_TTL,
    };
    store
        .create_session(&hash_secret(&session_id), &session)
        .await?;
    let mut response = if request.ask_org_name {
        create_org::ask(state, interaction, request, &session, now).await?
    } else {
        if let Some(name) = request.create_org.take() {
            request.org_code = Some(create_org::create(state, &name, user_id, now).await?);
        }
        choose_org::or_issue_code(
            state,
            request,
            &session,
            Some(&interaction.browser_sha256),
            now,
        )
        .await?
    };
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(state, SESSION_COOKIE, &session_id, "/", SESSION_TTL),
    );
    Ok(response)
}

async fn sign_in_inner(
    state: &AppState,
    ip: Option<std::net::IpAddr>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, ServerError> {
    let (form, interaction) = match posted_interaction(state, headers, body).await? {
        Ok(posted) => posted,
        Err(refusal) => return Ok(refusal),
    };
    let store = state.store();
    let now = state.now();
    let interaction_id = form.get("interaction").unwrap_or("");
    let email = form.get("email").unwrap_or("").trim().to_owned();
    let password = form.get("password").unwrap_or("");
    let retry =
        |message: &str| pages::sign_in(interaction_id, &interaction.csrf, &email, Some(message));

    // Brute force (case 96): limits per address and per (account, address).
    if let Err(limited) = crate::limits::check_sign_in(store, ip, &email, now).await {
        return Ok(limited);
    }
    let user = store.user_by_email(&email).await?;
    let hash = user
        .as_ref()
        .filter(|u| !u.is_suspended)
        .and_then(|u| u.password_hash.as_deref());
    // Unknown email, suspended account, wrong password: one answer, one cost (case 86).
    let ok = crate::passwords::verify(password, hash).await?;
    let Some(user) = user.filter(|_| ok) else {
        crate::limits::record_sign_in_failure(store, ip, &email, now).await?;
        tracing::info!("failed sign-in");
        return Ok(retry("The email or password is incorrect."));
    };
    let request = AuthRequest::of(&interaction)?;
    // A sign-in replaces any session this browser had (case 45).
    crate::logout::end_session(state, headers).await?;
    finish(state, interaction_id, &interaction, request, &user.id, now).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_redirects_match_on_any_port_only() {
        let v4 = "http://127.0.0.1/cb";
        assert!(redirect_uri_matches(v4, v4));
        assert!(redirect_uri_matches(v4, "http://127.0.0.1:53123/cb"));
        assert!(redirect_uri_matches(
            "http://127.0.0.1:80/cb",
            "http://127.0.0.1/cb"
        ));
        assert!(redirect_uri_matches(
            "http://[::1]:8080/cb?a=b",
            "http://[::1]:1/cb?a=b"
        ));
        assert!(redirect_uri_matches(
            "http://127.0.0.1",
            "http://127.0.0.1:9"
        ));
        for bad in [
            "http://127.0.0.1:53123/cb?x=1",
            "http://127.0.0.1:53123/other",
            "https://127.0.0.1:53123/cb",
            "http://127.0.0.1:0/cb",
            "http://127.0.0.1:65536/cb",
            "http://127.0.0.1:01/cb",
            "http://127.0.0.1:/cb",
            "http://127.0.0.1:80@evil.example/cb",
            "http://127.0.0.1.evil.example/cb",
            "http://[::1]:5/cb",
        ] {
            assert!(!redirect_uri_matches(v4, bad), "{bad}");
        }
        // `localhost` and other hosts: exact only.
        assert!(!redirect_uri_matches(
            "http://localhost/cb",
            "http://localhost:1/cb"
        ));
        assert!(!redirect_uri_matches(
            "https://app.example/cb",
            "https://app.example:443/cb"
        ));
    }

    #[test]
    fn max_age_is_digits_within_range() {
        assert_eq!(parse_max_age("0"), Some(0));
        assert_eq!(parse_max_age("3600"), Some(3600));
        assert_eq!(parse_max_age("2147483647"), Some(2_147_483_647));
        for bad in [
            "",
            "-1",
            "+1",
            "abc",
            "1.5",
            " 1",
            "2147483648",
            "9007199254740991",
        ] {
            assert_eq!(parse_max_age(bad), None, "{bad:?}");
        }
    }
}
