//! `POST /oauth2/introspect` (RFC 7662).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::AppState;
use crate::domain::ClientId;
use crate::error::OAuthError;
use crate::ids::hash_secret;
use crate::oidc::client_auth::TokenCaller;
use crate::oidc::{no_store, own_access_token};
use crate::proxies::Peer;
use crate::store::ApplicationRecord;

/// `POST /oauth2/introspect` (RFC 7662). The caller authenticates as a client (Basic or body
/// credentials) or with an access token of its own ([`TokenCaller`]); either way it sees only
/// its own tokens as active (docs/security.md case 76). Resource servers verify JWT access tokens
/// locally.
pub(crate) async fn introspect(
    State(state): State<AppState>,
    Peer(peer): Peer,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, OAuthError> {
    let TokenCaller { client, token } = TokenCaller::read(&state, peer, &headers, body).await?;
    let answer = match introspect_token(&state, &client.app, &token).await? {
        Introspection::Inactive => json!({"active": false}),
        Introspection::Refresh { client_id, exp } => json!({
            "active": true,
            "token_type": "refresh_token",
            "client_id": client_id,
            "iss": state.issuer(),
            "exp": exp,
        }),
        Introspection::Access(claims) => {
            let scope: Vec<&str> = claims.scopes().collect();
            json!({
                "active": true,
                "token_type": "Bearer",
                "client_id": client.app.client_id,
                "iss": claims.iss,
                "sub": claims.sub,
                "aud": claims.aud,
                "scope": scope.join(" "),
                "exp": claims.exp,
                "iat": claims.iat,
                "jti": claims.jti,
            })
        }
    };
    Ok(no_store(axum::Json(answer).into_response()))
}

/// What introspection tells the caller of a token (RFC 7662 §2.2).
enum Introspection {
    /// Not a token of this caller's that is usable now: expired, revoked, rotated, foreign,
    /// unknown or garbage — one answer for all.
    Inactive,
    /// One of the caller's refresh tokens.
    Refresh { client_id: ClientId, exp: i64 },
    /// One of the caller's access tokens, verified.
    Access(Arc<portcullis::Claims>),
}

/// What `app` may learn of `token`: only its own tokens are active (docs/security.md case 76).
async fn introspect_token(
    state: &AppState,
    app: &ApplicationRecord,
    token: &str,
) -> Result<Introspection, OAuthError> {
    if let Some(refresh) = state.inner.store.refresh(&hash_secret(token)).await? {
        let now = state.now();
        let usable = !refresh.revoked && refresh.expires_at > now && refresh.rotated_at.is_none();
        if !usable || refresh.client_id != app.client_id {
            return Ok(Introspection::Inactive);
        }
        return Ok(Introspection::Refresh {
            client_id: refresh.client_id,
            exp: refresh.expires_at,
        });
    }
    let Some(claims) = own_access_token(state, token).await? else {
        return Ok(Introspection::Inactive);
    };
    if claims.authorized_party() != Some(app.client_id.as_str()) {
        return Ok(Introspection::Inactive);
    }
    Ok(Introspection::Access(claims))
}
