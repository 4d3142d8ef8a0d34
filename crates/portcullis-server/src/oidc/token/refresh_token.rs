//! The refresh grant (RFC 6749 §6) with rotation: the presented token is spent, a new one
//! comes back. Spending the one and storing the other are one transaction, after everything
//! else (claims, signing) has succeeded: a failure anywhere leaves the presented token as it
//! was, so the client's retry is not mistaken for reuse. A rotated token still works for a
//! short grace (retries after a lost response); reuse after that revokes the whole family
//! (docs/security.md case 71).

use super::TokenResponse;
use super::user_tokens::{self, Nonce};
use crate::AppState;
use crate::error::OAuthError;
use crate::ids::hash_secret;
use crate::oidc::Form;
use crate::oidc::grant::AuthRequest;
use crate::oidc::scope::scope_tokens;
use crate::store::{ApplicationRecord, Rotation};

/// The parameters of a `refresh_token` request.
pub(crate) struct RefreshRequest<'f> {
    refresh_token: &'f str,
    /// A narrower scope than the grant's, checked against the grant.
    scope: Option<&'f str>,
}

impl<'f> RefreshRequest<'f> {
    pub(super) fn parse(form: &'f Form) -> Result<Self, OAuthError> {
        Ok(RefreshRequest {
            refresh_token: form
                .get("refresh_token")
                .ok_or_else(|| OAuthError::invalid_request("refresh_token is missing"))?,
            scope: form.get("scope"),
        })
    }
}

/// Spends the presented refresh token for new tokens.
pub(super) async fn exchange(
    state: &AppState,
    app: &ApplicationRecord,
    request: RefreshRequest<'_>,
) -> Result<TokenResponse, OAuthError> {
    let store = state.store();
    let now = state.now();
    let token_sha256 = hash_secret(request.refresh_token);
    let Some(record) = store.refresh(&token_sha256).await? else {
        return Err(OAuthError::invalid_grant("the refresh token is invalid"));
    };
    if record.client_id != app.client_id {
        return Err(OAuthError::invalid_grant(
            "the refresh token was issued to another client",
        ));
    }
    if record.revoked || record.expires_at <= now {
        return Err(OAuthError::invalid_grant(
            "the refresh token was revoked or has expired",
        ));
    }
    let grant: AuthRequest =
        serde_json::from_str(&record.grant_data).map_err(|e| OAuthError::server_error(&e))?;
    // RFC 6749 §6: a narrower scope may be asked for, never a wider one. Checked before the
    // token is spent, so a refused request leaves the grant as it was.
    let scopes: Vec<String> = match request.scope {
        None => grant.scopes.clone(),
        Some(scope) => {
            let asked: Vec<String> = scope_tokens(scope)
                .map_err(|e| OAuthError::invalid_scope(e.to_string()))?
                .map(str::to_owned)
                .collect();
            if let Some(bad) = asked.iter().find(|s| !grant.scopes.contains(s)) {
                return Err(OAuthError::invalid_scope(format!(
                    "scope {bad:?} was not granted"
                )));
            }
            asked
        }
    };
    // Reuse after the grace: checked here before any work, and again when the token is spent
    // (another request may spend it meanwhile).
    let grace = state.inner.settings.refresh_reuse_grace;
    if record
        .rotated_at
        .is_some_and(|at| now.saturating_sub(at) > grace)
    {
        return Err(reused(state, app, &record.family_id, now).await?);
    }
    let tokens = user_tokens::issue(
        state,
        app,
        &grant,
        &scopes,
        Nonce::Omit,
        &record.family_id,
        now,
    )
    .await?;
    match store
        .rotate_refresh(&token_sha256, now, grace, tokens.refresh.as_ref())
        .await?
    {
        Rotation::Rotated => Ok(tokens.response),
        Rotation::Reused => Err(reused(state, app, &record.family_id, now).await?),
    }
}

/// Reuse of a spent refresh token: someone else holds a copy. Revokes the whole family, and
/// returns the refusal to answer.
async fn reused(
    state: &AppState,
    app: &ApplicationRecord,
    family_id: &str,
    now: i64,
) -> Result<OAuthError, OAuthError> {
    state.store().revoke_family(family_id, now).await?;
    tracing::warn!(client_id = %app.client_id, "refresh token reused; its family is revoked");
    Ok(OAuthError::invalid_grant(
        "the refresh token was already used",
    ))
}
