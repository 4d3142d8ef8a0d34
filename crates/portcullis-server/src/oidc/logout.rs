//! `GET /logout` and `POST /logout`: Kinde's `?redirect=<url>` (its 2.x SDKs send
//! `redirect_uri`) and OpenID Connect RP-Initiated Logout 1.0 (`post_logout_redirect_uri`,
//! `client_id`, `id_token_hint`, `state`); when more than one names the target, they must agree.
//! GET reads the parameters from the query, POST from a form-encoded body (RP-Initiated
//! Logout §2: both methods). `HEAD /logout` is refused with 405 and ends nothing: link checkers and prefetchers
//! send HEAD, and must not sign anyone out.
//!
//! Rules (docs/security.md cases 47, 78, 89):
//! - The server session ends first, whatever else the request says: its row is deleted and the
//!   `pc_session` cookie is cleared (same attributes as when it was set, `Max-Age=0`). A bad
//!   redirect target or a bad hint never keeps a user signed in.
//! - The client is the one named by `client_id`, or by the `azp` (else the single `aud`) of a
//!   valid `id_token_hint`. The hint must be an ID token this server signed with a key it still
//!   publishes, for this issuer; it may have expired (OIDC RP-Initiated Logout §2: "even when the
//!   exp time has passed"). When both are given they must name the same client.
//! - The redirect target must exactly equal one of that client's registered logout URLs. With no
//!   client named, Kinde's `redirect`/`redirect_uri` form may return to a URL *some* application
//!   registered as a logout URL (Kinde's 1.x SDKs send no client id); the OIDC
//!   `post_logout_redirect_uri` form needs the client named.
//! - Anything else is never redirected to: the answer is a signed-out page, 400 when the request
//!   was wrong (unregistered target, bad or mismatched hint, unknown client, repeated parameter),
//!   200 when there was simply nowhere to go. `state` is appended to a successful redirect.
//!
//! Without a hint there is no confirmation step: Kinde's SDKs send users to
//! `/logout?redirect=...` and expect them signed out. A cross-site link can therefore sign a
//! user out (forced logout); that is accepted, as it ends a session and grants nothing.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::AppState;
use crate::domain::ClientId;
use crate::error::ServerError;
use crate::oidc::hint;
use crate::pages;
use crate::pages::{back_to, or_server_error, redirect};
use crate::session::{SESSION_COOKIE, end_session, set_cookie};

/// Which parameter named the redirect target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Form {
    /// OIDC `post_logout_redirect_uri`.
    Oidc,
    /// Kinde `redirect`.
    Kinde,
}

/// `GET /logout` (axum also routes `HEAD` here: refused without side effects).
pub(crate) async fn logout(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    if method == Method::HEAD {
        let mut response = StatusCode::METHOD_NOT_ALLOWED.into_response();
        let h = response.headers_mut();
        h.insert(header::ALLOW, HeaderValue::from_static("GET, POST"));
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        return response;
    }
    respond(&state, &headers, Ok(query.as_deref().unwrap_or(""))).await
}

/// `POST /logout`: the parameters come in an `application/x-www-form-urlencoded` body. A body
/// that cannot be read still ends the session, and is answered 400.
pub(crate) async fn logout_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| {
            mime.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    let params = match &body {
        Ok(body) if body.is_empty() => Ok(""),
        Ok(_) if !form => Err("the body must be application/x-www-form-urlencoded"),
        Ok(body) => std::str::from_utf8(body).map_err(|_| "the body is not UTF-8"),
        Err(_) => Err("the request body could not be read"),
    };
    respond(&state, &headers, params).await
}

/// Ends the session, then answers for the parameters `params` (a query string), or with 400
/// when they could not be read.
async fn respond(
    state: &AppState,
    headers: &HeaderMap,
    params: Result<&str, &'static str>,
) -> Response {
    let mut response = or_server_error(
        logout_inner(state, headers, params).await,
        "logout",
        "The server could not complete the sign-out. Try again.",
    );
    // Whatever happened, this browser forgets its session.
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(state, SESSION_COOKIE, "", "/", 0),
    );
    response
}

async fn logout_inner(
    state: &AppState,
    headers: &HeaderMap,
    params: Result<&str, &'static str>,
) -> Result<Response, ServerError> {
    let now = state.now();
    // 1. End the session first: nothing below can keep the user signed in.
    let ended = end_session(state, headers).await?;
    if ended {
        tracing::info!("session ended by logout");
    }
    let query = match params {
        Ok(query) => query,
        Err(reason) => return Ok(signed_out(StatusCode::BAD_REQUEST, ended, Some(reason))),
    };
    // 2. Where to send the browser, if anywhere.
    Ok(match target(state, query, now).await? {
        Ok(Some(location)) => redirect(&location),
        Ok(None) => signed_out(StatusCode::OK, ended, None),
        Err(reason) => signed_out(StatusCode::BAD_REQUEST, ended, Some(reason)),
    })
}

/// The redirect target (`Ok(None)`: none was asked for), or why the request is refused.
async fn target(
    state: &AppState,
    query: &str,
    now: i64,
) -> Result<Result<Option<String>, &'static str>, ServerError> {
    let store = state.store();
    let mut params: Vec<(String, String)> = Vec::new();
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()).take(64) {
        if params.iter().any(|(seen, _)| *seen == k) {
            return Ok(Err("a parameter is repeated"));
        }
        params.push((k.into_owned(), v.into_owned()));
    }
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    };
    // Kinde's 1.x SDKs send `redirect`, its 2.x SDKs `redirect_uri`, OIDC relying parties
    // `post_logout_redirect_uri`: one target, however many of them name it.
    let mut wanted: Option<(&str, Form)> = None;
    for (name, form) in [
        ("post_logout_redirect_uri", Form::Oidc),
        ("redirect", Form::Kinde),
        ("redirect_uri", Form::Kinde),
    ] {
        match (get(name), wanted) {
            (Some(url), Some((seen, _))) if url != seen => {
                return Ok(Err(
                    "post_logout_redirect_uri, redirect and redirect_uri name different URLs",
                ));
            }
            (Some(url), None) => wanted = Some((url, form)),
            _ => {}
        }
    }

    // The client: named, or the one the hint was issued to (and then both must agree).
    let hinted = match get("id_token_hint") {
        Some(hint) => match hint::client(state, hint, now).await? {
            Some(client) => Some(client),
            None => {
                return Ok(Err(
                    "the id_token_hint is not a valid ID token of this server",
                ));
            }
        },
        None => None,
    };
    let named = get("client_id");
    if let (Some(named), Some(hinted)) = (named, &hinted)
        && hinted.as_str() != named
    {
        return Ok(Err("client_id does not match the id_token_hint"));
    }
    let not_registered = Ok(Err("the application is not registered for sign-in"));
    let client_id = match (named, hinted) {
        // A `client_id` that is not a client id is answered as an unknown one.
        (Some(named), _) => match ClientId::parse(named) {
            Ok(id) => Some(id),
            Err(_) => return not_registered,
        },
        (None, hinted) => hinted,
    };
    let app = match client_id {
        Some(client_id) => match store.application_by_client_id(&client_id).await? {
            Some(app) if app.app_type.signs_users_in() => Some(app),
            _ => return not_registered,
        },
        None => None,
    };

    let Some((url, form)) = wanted else {
        return Ok(Ok(None));
    };
    let registered = match (&app, form) {
        (Some(app), _) => store
            .application_urls(&app.id, "logout")
            .await?
            .iter()
            .any(|u| u == url),
        (None, Form::Kinde) => store.is_registered_logout_url(url).await?,
        (None, Form::Oidc) => {
            return Ok(Err(
                "post_logout_redirect_uri needs client_id or id_token_hint",
            ));
        }
    };
    if !registered {
        return Ok(Err("the post-logout redirect URL is not registered"));
    }
    Ok(Ok(Some(match get("state") {
        Some(st) => back_to(url, &[("state", st)]),
        None => url.to_owned(),
    })))
}

/// The page shown when the browser is not sent back to an application.
fn signed_out(status: StatusCode, ended: bool, problem: Option<&str>) -> Response {
    let lead = if ended {
        "You have been signed out."
    } else {
        "You are not signed in."
    };
    let problem = problem
        .map(|p| {
            format!(
                "<p class=\"error\" role=\"alert\">You were not sent back to the application: {} \
                 (invalid_request).</p>",
                pages::escape(p)
            )
        })
        .unwrap_or_default();
    pages::page(
        status,
        "Signed out",
        &format!("<h1>Signed out</h1><p>{lead}</p>{problem}<p>You can close this window.</p>"),
    )
}
