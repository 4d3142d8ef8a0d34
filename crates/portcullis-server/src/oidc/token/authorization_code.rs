//! The authorization code grant (RFC 6749 §4.1.3) with PKCE (RFC 7636 §4.6): a single-use
//! code, bound to its client, redirect URI and challenge, for the user's tokens. A replayed
//! code revokes what it issued (RFC 6749 §4.1.2).

use super::TokenResponse;
use super::user_tokens::{self, Nonce};
use crate::AppState;
use crate::domain::AppType;
use crate::error::OAuthError;
use crate::ids::hash_secret;
use crate::oidc::grant::AuthRequest;
use crate::oidc::{Form, pkce};
use crate::store::{ApplicationRecord, CodeUse};

/// The parameters of an `authorization_code` request.
pub(crate) struct CodeRequest<'f> {
    code: &'f str,
    redirect_uri: &'f str,
    code_verifier: Option<&'f str>,
}

impl<'f> CodeRequest<'f> {
    pub(super) fn parse(app: &ApplicationRecord, form: &'f Form) -> Result<Self, OAuthError> {
        if app.app_type == AppType::M2m {
            return Err(OAuthError::unauthorized_client(
                "machine-to-machine applications use client_credentials",
            ));
        }
        Ok(CodeRequest {
            code: form
                .get("code")
                .ok_or_else(|| OAuthError::invalid_request("code is missing"))?,
            redirect_uri: form
                .get("redirect_uri")
                .ok_or_else(|| OAuthError::invalid_request("redirect_uri is missing"))?,
            code_verifier: form.get("code_verifier"),
        })
    }
}

/// Exchanges the code for tokens.
pub(super) async fn exchange(
    state: &AppState,
    app: &ApplicationRecord,
    request: CodeRequest<'_>,
) -> Result<TokenResponse, OAuthError> {
    let store = state.store();
    let now = state.now();
    let code_sha256 = hash_secret(request.code);
    let grant: AuthRequest = match store.use_code(&code_sha256, now).await? {
        CodeUse::Fresh(data) => {
            serde_json::from_str(&data).map_err(|e| OAuthError::server_error(&e))?
        }
        CodeUse::Replayed(jti) => {
            // RFC 6749 §4.1.2: a replayed code revokes what it issued.
            if let Some(jti) = jti {
                store.revoke_token(&jti, now + 30 * 86_400).await?;
            }
            store.revoke_family(&code_sha256, now).await?;
            tracing::warn!(client_id = %app.client_id, "authorization code replayed; what it issued is revoked");
            return Err(OAuthError::invalid_grant("the code was already used"));
        }
        CodeUse::Invalid => {
            return Err(OAuthError::invalid_grant("the code is invalid or expired"));
        }
    };
    if grant.client_id != app.client_id {
        return Err(OAuthError::invalid_grant(
            "the code was issued to another client",
        ));
    }
    if grant.redirect_uri != request.redirect_uri {
        return Err(OAuthError::invalid_grant(
            "redirect_uri differs from the authorization request",
        ));
    }
    match (&grant.code_challenge, request.code_verifier) {
        (Some(challenge), Some(verifier)) => {
            if !pkce::verifies(challenge, verifier) {
                return Err(OAuthError::invalid_grant(
                    "code_verifier does not match the challenge",
                ));
            }
        }
        (Some(_), None) => return Err(OAuthError::invalid_grant("code_verifier is required")),
        // RFC 9700 §2.1.1: a verifier for a code issued without a challenge is a downgrade.
        (None, Some(_)) => {
            return Err(OAuthError::invalid_grant(
                "the code was issued without PKCE",
            ));
        }
        (None, None) => {}
    }
    // A family of refresh tokens born from this code is named after it, so a replayed code
    // can revoke the family too.
    let tokens = user_tokens::issue(
        state,
        app,
        &grant,
        &grant.scopes,
        Nonce::Include,
        &code_sha256,
        now,
    )
    .await?;
    if let Some(refresh) = &tokens.refresh {
        store.create_refresh(refresh).await?;
    }
    store.set_code_jti(&code_sha256, &tokens.access_jti).await?;
    Ok(tokens.response)
}
