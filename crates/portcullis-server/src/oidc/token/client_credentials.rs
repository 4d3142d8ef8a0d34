//! The client credentials grant (RFC 6749 §4.4): a machine-to-machine application gets a token
//! for one API it was granted, with scopes within its grant. The application comes from the
//! client cache, so the common case reads no database.

use super::TokenResponse;
use super::claims::{AccessClaims, Scopes};
use crate::AppState;
use crate::clients::CachedClient;
use crate::error::OAuthError;
use crate::oidc::Form;
use crate::oidc::scope::scope_tokens;
use crate::store::ApplicationRecord;

/// The parameters of a `client_credentials` request.
pub(crate) struct ClientCredentialsRequest<'f> {
    /// The one API the token is for.
    audience: &'f str,
    /// Scopes within the grant; all of them when absent.
    scope: Option<&'f str>,
}

impl<'f> ClientCredentialsRequest<'f> {
    pub(super) fn parse(app: &ApplicationRecord, form: &'f Form) -> Result<Self, OAuthError> {
        if app.app_type.signs_users_in() {
            return Err(OAuthError::unauthorized_client(
                "only machine-to-machine applications may use client_credentials",
            ));
        }
        let audience = form.get("audience").ok_or_else(|| {
            OAuthError::invalid_request("audience is required: the API the token is for")
        })?;
        let mut audiences = audience.split_whitespace();
        let (Some(audience), None) = (audiences.next(), audiences.next()) else {
            return Err(OAuthError::invalid_target("ask for exactly one audience"));
        };
        Ok(ClientCredentialsRequest {
            audience,
            scope: form.get("scope"),
        })
    }
}

/// Issues the machine token.
pub(super) async fn issue(
    state: &AppState,
    client: &CachedClient,
    request: ClientCredentialsRequest<'_>,
) -> Result<TokenResponse, OAuthError> {
    let app = &client.app;
    let cached = client
        .grant(request.audience)
        .ok_or_else(|| OAuthError::invalid_target("this application may not use that API"))?;
    let grant = &cached.grant;
    let (scope, scopes) = match request.scope {
        None => (cached.scope.as_str(), Scopes::Listed(&grant.scopes)),
        Some(requested) => {
            // Checked first, so a refusal never echoes a control character back.
            if let Err(e) = scope_tokens(requested) {
                return Err(OAuthError::invalid_scope(e.to_string()));
            }
            if let Some(bad) = requested
                .split(' ')
                .find(|s| !grant.scopes.iter().any(|g| g == s))
            {
                return Err(OAuthError::invalid_scope(format!(
                    "scope {bad:?} is not granted to this application"
                )));
            }
            // Split on single spaces and joined again, the request is its own `scope`.
            (requested, Scopes::Requested(requested))
        }
    };
    let now = state.now();
    let ttl = app
        .access_token_ttl
        .unwrap_or(state.inner.settings.access_token_ttl);
    let jti = crate::ids::new_jti();
    let claims = AccessClaims {
        aud: std::slice::from_ref(&grant.api.audience),
        azp: app.client_id.as_str(),
        client_id: app.client_id.as_str(),
        exp: now.saturating_add(ttl),
        feature_flags: None,
        gty: Some(["client_credentials"]),
        iat: now,
        iss: state.issuer(),
        jti: &jti,
        org_code: None,
        permissions: None,
        roles: None,
        scope,
        scp: scopes,
        sub: app.client_id.as_str(),
        v: "2",
    };
    let ring = state.inner.keys.ring(now).await?;
    Ok(TokenResponse {
        access_token: ring.active.sign_jwt("at+jwt", &claims)?,
        expires_in: ttl,
        id_token: None,
        refresh_token: None,
        scope: scope.to_owned(),
    })
}
