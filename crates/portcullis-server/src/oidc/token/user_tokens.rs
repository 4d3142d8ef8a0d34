//! The tokens of the user grants (authorization code, refresh, password): a Kinde-shaped
//! access token, an OpenID Connect ID token, and a refresh token of the grant's family.
//!
//! Rules:
//! - **Audience.** An access token's `aud` is the `audience` of the authorization request.
//!   When the request named none, it is every API the application is granted (read at each
//!   issue, so a refresh follows grant changes); an application granted no API gets `aud: []`.
//!   A resource server that requires its audience therefore accepts tokens of applications it
//!   was granted to, and never others.
//! - **Lifetimes.** Codes live [`crate::Settings::code_ttl`] seconds (default 60) and are
//!   single-use. A refresh-token family lives [`crate::Settings::refresh_token_ttl`] (default
//!   30 days) from the code exchange; rotation never extends it.
//! - **Refresh scope** (RFC 6749 §6). A narrower `scope` is allowed and narrows the access
//!   token (and ID token) issued now; the new refresh token keeps the scope of the grant. A
//!   scope outside the grant is `invalid_scope`, checked before the presented token is spent.
//! - **Randomness** (docs/security.md case 65). Codes and refresh tokens are 256 random bits
//!   (base64url), token ids (`jti`) 128 random bits (hex).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::TokenResponse;
use super::claims::{AccessClaims, IdClaims, Scopes};
use crate::AppState;
use crate::error::OAuthError;
use crate::ids::{hash_secret, new_jti};
use crate::keys::SigningAlgorithm;
use crate::oidc::grant::AuthRequest;
use crate::store::{ApplicationRecord, NewRefresh};

/// `at_hash`: base64url of the left half of the access token's hash (OIDC Core §3.1.3.6).
fn at_hash(alg: SigningAlgorithm, access_token: &str) -> String {
    let digest = match alg {
        SigningAlgorithm::EdDSA => &aws_lc_rs::digest::SHA512,
        _ => &aws_lc_rs::digest::SHA256,
    };
    let d = aws_lc_rs::digest::digest(digest, access_token.as_bytes());
    URL_SAFE_NO_PAD.encode(&d.as_ref()[..d.as_ref().len() / 2])
}

/// What a user grant issues: the token response, and the refresh token in it, which the
/// grant stores (a refresh grant together with spending the presented one).
pub(super) struct UserTokens {
    pub(super) response: TokenResponse,
    pub(super) access_jti: String,
    pub(super) refresh: Option<NewRefresh>,
}

/// Whether the grant asked for a refresh token.
fn wants_refresh(request: &AuthRequest) -> bool {
    request
        .scopes
        .iter()
        .any(|s| s == "offline" || s == "offline_access")
}

/// Whether an ID token's `nonce` is the request's: only in the tokens of the code exchange
/// (OIDC Core §12.2: a refreshed ID token carries none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Nonce {
    Include,
    Omit,
}

/// Access token (claims recomputed now: role and permission changes apply at once) with
/// `scopes` (the grant's, or a narrower set on refresh), ID token when `scopes` include
/// `openid`, and a new refresh token in `family` carrying the whole grant when the grant has
/// `offline` (not stored yet: see [`UserTokens`]).
pub(super) async fn issue(
    state: &AppState,
    app: &ApplicationRecord,
    request: &AuthRequest,
    scopes: &[String],
    nonce: Nonce,
    family: &str,
    now: i64,
) -> Result<UserTokens, OAuthError> {
    let store = state.store();
    let user = store
        .user_by_id(&request.user_id)
        .await?
        .filter(|u| !u.is_suspended)
        .ok_or_else(|| OAuthError::invalid_grant("the user can no longer sign in"))?;
    let effective = store
        .effective_claims(&user.id, request.org_code.as_deref())
        .await?;
    let ttl = app
        .access_token_ttl
        .unwrap_or(state.inner.settings.access_token_ttl);
    let granted;
    let audiences = if request.audiences.is_empty() {
        granted = store.granted_audiences(&app.id).await?;
        &granted
    } else {
        &request.audiences
    };
    let scope = scopes.join(" ");
    let jti = new_jti();
    let access = AccessClaims {
        aud: audiences,
        azp: app.client_id.as_str(),
        client_id: app.client_id.as_str(),
        exp: now + ttl,
        feature_flags: Some(&effective.feature_flags),
        gty: None,
        iat: now,
        iss: state.issuer(),
        jti: &jti,
        org_code: request.org_code.as_deref(),
        permissions: Some(&effective.permissions),
        roles: Some(&effective.roles),
        scope: &scope,
        scp: Scopes::Listed(scopes),
        sub: &user.id,
        v: "2",
    };
    let ring = state.inner.keys.ring(now).await?;
    let access_token = ring.active.sign_jwt("at+jwt", &access)?;
    let has = |wanted: &str| scopes.iter().any(|s| s == wanted);
    let id_token = if has("openid") {
        let org_codes = store.user_org_codes(&user.id).await?;
        let profile = has("profile");
        let name = user.full_name();
        let id = IdClaims {
            at_hash: &at_hash(ring.active.alg(), &access_token),
            aud: [app.client_id.as_str()],
            auth_time: request.auth_time,
            azp: app.client_id.as_str(),
            email: has("email").then_some(user.email.as_str()),
            exp: now + ttl.min(3600),
            family_name: user.family_name.as_deref().filter(|_| profile),
            given_name: user.given_name.as_deref().filter(|_| profile),
            iat: now,
            iss: state.issuer(),
            jti: &new_jti(),
            name: name.as_deref().filter(|_| profile),
            nonce: request.nonce.as_deref().filter(|_| nonce == Nonce::Include),
            org_codes: &org_codes,
            picture: user.picture.as_deref().filter(|_| profile),
            sub: &user.id,
            updated_at: user.updated_at,
        };
        Some(ring.active.sign_jwt("JWT", &id)?)
    } else {
        None
    };
    let mut refresh = None;
    let mut new_refresh = None;
    if wants_refresh(request) && app.app_type.signs_users_in() {
        let token = crate::ids::random_token();
        let data = serde_json::to_string(request).map_err(|e| OAuthError::server_error(&e))?;
        let expires_at = match store.refresh_family_expiry(family).await? {
            Some(e) => e,
            None => now.saturating_add(state.inner.settings.refresh_token_ttl),
        };
        new_refresh = Some(NewRefresh {
            token_sha256: hash_secret(&token),
            family_id: family.to_owned(),
            client_id: app.client_id.clone(),
            grant_data: data,
            access_jti: jti.clone(),
            created_at: now,
            expires_at,
        });
        refresh = Some(token);
    }
    Ok(UserTokens {
        response: TokenResponse {
            access_token,
            expires_in: ttl,
            id_token,
            refresh_token: refresh,
            scope,
        },
        access_jti: jti,
        refresh: new_refresh,
    })
}
