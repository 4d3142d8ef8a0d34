//! The browser side of single sign-on: the session cookie and the session it names, and the
//! cookies of the hosted pages. A session's id is 256 random bits; the store keeps only its
//! SHA-256 (a database leak names no live session).

use axum::http::{HeaderMap, HeaderValue, header};

use crate::AppState;
use crate::error::ServerError;
use crate::ids::hash_secret;
use crate::store::SessionRecord;

/// The single sign-on session cookie.
pub(crate) const SESSION_COOKIE: &str = "pc_session";
/// How long a session lasts.
pub(crate) const SESSION_TTL: i64 = 14 * 86_400;

/// The value of cookie `name`, if the request carries it.
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

/// A `Set-Cookie` value: `HttpOnly`, `SameSite=Lax`, and `Secure` when the issuer is https.
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

/// Ends the session whose cookie `headers` carry, if any: its row is deleted, so the cookie
/// is no session anywhere any more (docs/security.md cases 45 and 47). `true` when a live session
/// ended. Logout calls it, and so does every sign-in before it starts the new session.
pub(crate) async fn end_session(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<bool, ServerError> {
    let Some(id) = cookie(headers, SESSION_COOKIE).filter(|id| !id.is_empty()) else {
        return Ok(false);
    };
    let store = state.store();
    let id_sha256 = hash_secret(&id);
    let live = store.session(&id_sha256, state.now()).await?.is_some();
    store.delete_session(&id_sha256).await?;
    Ok(live)
}
