//! The resource-owner password grant (RFC 6749 §4.3), for `reg` applications that enabled it
//! (seed `allow_password_grant`; GenAuth's `sign_in_by_email_password`). Everything else about
//! a sign-in holds: the same limits per address and per account as the hosted form (the two
//! share counters), one answer and one cost for an unknown email, a suspended account or a
//! wrong password, org membership for `org_code`, and audiences limited to granted APIs. No
//! session is created (single sign-on needs the browser flow).

use std::net::IpAddr;

use super::TokenResponse;
use super::user_tokens::{self, Nonce};
use crate::AppState;
use crate::domain::AppType;
use crate::error::OAuthError;
use crate::ids::new_jti;
use crate::oidc::Form;
use crate::oidc::grant::AuthRequest;
use crate::oidc::scope::{granted_audiences, requested_scopes};
use crate::store::ApplicationRecord;

/// The parameters of a `password` request.
pub(crate) struct PasswordRequest<'f> {
    /// The email, trimmed.
    username: &'f str,
    password: &'f str,
    /// Checked scopes (`openid` when none were asked for).
    scopes: Vec<String>,
    audience: Option<&'f str>,
    org_code: Option<&'f str>,
}

impl<'f> PasswordRequest<'f> {
    pub(super) fn parse(app: &ApplicationRecord, form: &'f Form) -> Result<Self, OAuthError> {
        if !app.password_grant || app.app_type != AppType::Reg {
            return Err(OAuthError::unauthorized_client(
                "this application may not use the password grant",
            ));
        }
        let username = form
            .get("username")
            .ok_or_else(|| OAuthError::invalid_request("username is missing"))?
            .trim();
        let password = form
            .get("password")
            .ok_or_else(|| OAuthError::invalid_request("password is missing"))?;
        let scopes = requested_scopes(form.get("scope"))
            .map_err(|e| OAuthError::invalid_scope(e.to_string()))?;
        Ok(PasswordRequest {
            username,
            password,
            scopes,
            audience: form.get("audience"),
            org_code: form.get("org_code"),
        })
    }
}

/// Signs the user in and issues their tokens.
pub(super) async fn sign_in(
    state: &AppState,
    app: &ApplicationRecord,
    request: PasswordRequest<'_>,
    ip: Option<IpAddr>,
) -> Result<TokenResponse, OAuthError> {
    let store = state.store();
    let Some(audiences) = granted_audiences(state, &app.id, request.audience).await? else {
        return Err(OAuthError::invalid_target(
            "the application may not use that audience",
        ));
    };
    let username = request.username;
    let now = state.now();
    if let Some(retry_after) = crate::limits::sign_in_retry_after(store, ip, username, now).await? {
        return Err(OAuthError::too_many_attempts(retry_after));
    }
    let user = store.user_by_email(username).await?;
    let hash = user
        .as_ref()
        .filter(|u| !u.is_suspended)
        .and_then(|u| u.password_hash.as_deref());
    // Unknown email, suspended account, wrong password: one answer, one cost (case 86).
    let ok = crate::passwords::verify(request.password, hash)
        .await
        .map_err(|e| OAuthError::server_error(&e))?;
    let Some(user) = user.filter(|_| ok) else {
        crate::limits::record_sign_in_failure(store, ip, username, now).await?;
        tracing::info!(client_id = %app.client_id, "failed password-grant sign-in");
        return Err(OAuthError::invalid_grant(
            "the email or password is incorrect",
        ));
    };
    let orgs = store.user_org_codes(&user.id).await?;
    let org_code = match request.org_code {
        Some(org) if !orgs.iter().any(|o| o == org) => {
            return Err(OAuthError::invalid_grant(
                "the user is not a member of that organization",
            ));
        }
        Some(org) => Some(org.to_owned()),
        None => crate::domain::default_org(orgs),
    };
    let grant = AuthRequest {
        client_id: app.client_id.clone(),
        redirect_uri: String::new(),
        state: None,
        nonce: None,
        code_challenge: None,
        scopes: request.scopes,
        audiences,
        org_code,
        user_id: user.id.clone(),
        auth_time: now,
    };
    let family = format!("pw_{}", new_jti());
    let tokens =
        user_tokens::issue(state, app, &grant, &grant.scopes, Nonce::Omit, &family, now).await?;
    if let Some(refresh) = &tokens.refresh {
        store.create_refresh(refresh).await?;
    }
    Ok(tokens.response)
}
