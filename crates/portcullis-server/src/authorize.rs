//! The authorization endpoint, `GET /oauth2/auth` and `POST /oauth2/auth` (OIDC Core
//! §3.1.2.1: the same parameters as a form body): authorization code flow with PKCE.
//!
//! The request is read and checked by [`AuthorizationRequest::parse`], which documents the
//! order of checks and every parameter. Then single sign-on: an existing session answers at
//! once — unless `prompt=login`, the session is older than `max_age` (always, for 0), or an
//! `id_token_hint` names another user; with `prompt=none` and no such session the answer is
//! `login_required`. Otherwise the hosted sign-in starts ([`crate::interaction`]).
//!
//! Every answer that goes back to the application, code or error, carries `iss` and the
//! `state` exactly as sent, with `303 See Other` (never 307, which would replay a form post to
//! the application: RFC 9700 §4.12). The ID token always carries `auth_time`.
//!
//! `GET` takes a query, `POST` an `application/x-www-form-urlencoded` body (any other body is
//! 400). More than 16 KiB of parameters is 414 (`GET`; the HTTP front already refuses request
//! targets over 8 KiB the same way) or 413 (`POST`), before anything is looked up.

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;

use crate::AppState;
use crate::error::ServerError;
use crate::interaction::{self, Interaction};
use crate::oidc::authorization::{self, AuthorizationRequest, AuthorizeError, MAX_QUERY_BYTES};
use crate::pages::{self, or_server_error};
use crate::session::current_session;

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

async fn authorize_inner(
    state: &AppState,
    headers: &HeaderMap,
    query: &[u8],
) -> Result<Response, ServerError> {
    let request = match AuthorizationRequest::parse(state, query).await? {
        Ok(request) => request,
        Err(AuthorizeError::Page(message)) => {
            return Ok(pages::error(StatusCode::BAD_REQUEST, message));
        }
        Err(AuthorizeError::Redirect(e)) => return Ok(authorization::error_redirect(state, e)),
    };
    // Single sign-on: an existing session answers at once, unless the request asks for a
    // fresh sign-in (prompt=login, max_age, another user's id_token_hint).
    let now = state.now();
    let session = current_session(state, headers, now)
        .await?
        .filter(|s| request.accepts_session(s, now));
    if request.prompt.none {
        return match session {
            Some(s) => {
                let orgs = state.store().user_org_codes(&s.user_id).await?;
                authorization::issue_code(state, request.grant, &s, orgs).await
            }
            None => Ok(authorization::error_redirect(
                state,
                request.refuse("login_required", "the user must sign in"),
            )),
        };
    }
    if let Some(s) = session
        && !request.wants_sign_up
    {
        return interaction::proceed(state, Interaction::new(request), &s, None, now).await;
    }
    interaction::start(state, request, now).await
}
