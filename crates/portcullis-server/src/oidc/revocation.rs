//! `POST /oauth2/revoke` (RFC 7009).

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::AppState;
use crate::error::OAuthError;
use crate::ids::hash_secret;
use crate::oidc::client_auth::TokenCaller;
use crate::oidc::{no_store, own_access_token};
use crate::proxies::Peer;
use crate::store::ApplicationRecord;

/// `POST /oauth2/revoke` (RFC 7009). Client-authenticated; unknown or garbage tokens get 200
/// (no oracle); a token of another client is refused and stays valid (docs/security.md case 77).
pub(crate) async fn revoke(
    State(state): State<AppState>,
    Peer(peer): Peer,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, OAuthError> {
    let TokenCaller { client, token } = TokenCaller::read(&state, peer, &headers, body).await?;
    revoke_token(&state, &client.app, &token).await?;
    Ok(no_store(StatusCode::OK.into_response()))
}

/// Revokes `token` for the caller `app`: a refresh token with its whole family and the access
/// tokens it issued, an access token by its `jti`. A token of another client is refused and
/// stays valid; an unknown one is no error (no oracle).
async fn revoke_token(
    state: &AppState,
    app: &ApplicationRecord,
    token: &str,
) -> Result<(), OAuthError> {
    // RFC 7009 §2.1: the hint is only a hint. Only access tokens exist today; a refresh-token
    // hint is still looked up as an access token.
    // A refresh token: revoking it revokes its whole family and the access tokens it issued.
    if let Some(refresh) = state.inner.store.refresh(&hash_secret(token)).await? {
        if refresh.client_id != app.client_id {
            return Err(OAuthError::invalid_request(
                "the token was not issued to this client",
            ));
        }
        state
            .inner
            .store
            .revoke_family(&refresh.family_id, state.now())
            .await?;
        tracing::info!(client_id = %app.client_id, "refresh token family revoked");
        return Ok(());
    }
    let Some(claims) = own_access_token(state, token).await? else {
        return Ok(());
    };
    if claims.authorized_party() != Some(app.client_id.as_str()) {
        return Err(OAuthError::invalid_request(
            "the token was not issued to this client",
        ));
    }
    if let (Some(jti), Some(exp)) = (&claims.jti, claims.exp) {
        state.inner.store.revoke_token(jti, exp).await?;
        tracing::info!(client_id = %app.client_id, "access token revoked");
    }
    Ok(())
}
