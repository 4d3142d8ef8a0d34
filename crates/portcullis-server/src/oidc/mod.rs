//! The OpenID Connect / OAuth 2.0 protocol layer: each endpoint in its own module, handlers
//! that parse the request, call a service and render its outcome.
//!
//! - [`authorization`]: `AuthorizationRequest::parse` and the code or error response;
//! - [`discovery`]: the discovery document (the SDK's `ProviderMetadata`) and the key set;
//! - [`token`]: `POST /oauth2/token`, one module per grant;
//! - [`introspection`] and [`revocation`]: RFC 7662 and RFC 7009;
//! - [`userinfo`]: UserInfo and Kinde's profile endpoints;
//! - [`logout`]: RP-initiated logout, Kinde's `/logout`;
//! - beneath them: [`form`] (form bodies), [`client_auth`] (who is calling), [`grant`] (what a
//!   sign-in grants, carried by codes and refresh tokens), [`scope`], [`pkce`] and [`hint`]
//!   (`id_token_hint`).
//!
//! [`authorization`] reads authorization requests and writes their answers; the endpoint's
//! handler is `crate::authorize`, the hosted sign-in `crate::interaction`.

pub(crate) mod authorization;
pub(crate) mod client_auth;
pub(crate) mod discovery;
pub(crate) mod form;
pub(crate) mod grant;
pub(crate) mod hint;
pub(crate) mod introspection;
pub(crate) mod logout;
pub(crate) mod pkce;
pub(crate) mod revocation;
pub(crate) mod scope;
pub(crate) mod token;
pub(crate) mod userinfo;

use std::sync::Arc;

use axum::http::{HeaderValue, header};
use axum::response::Response;

use crate::AppState;
use crate::error::ServerError;

pub(crate) use form::Form;

/// `token` verified as an access token of this server (signature, issuer, expiry, `typ`) that
/// has not been revoked. `Ok(None)` when it is not one (garbage, expired, revoked, another
/// issuer's, or without a `jti` to revoke it by).
pub(crate) async fn own_access_token(
    state: &AppState,
    token: &str,
) -> Result<Option<Arc<portcullis::Claims>>, ServerError> {
    let verified = state
        .inner
        .keys
        .verify_access_token(state.issuer(), token, state.now())
        .await?;
    let Ok(claims) = verified else {
        return Ok(None);
    };
    match &claims.jti {
        Some(jti) if !state.inner.store.is_revoked(jti).await? => Ok(Some(claims)),
        _ => Ok(None),
    }
}

/// `response`, marked never to be cached (RFC 6749 §5.1).
pub(crate) fn no_store(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}
