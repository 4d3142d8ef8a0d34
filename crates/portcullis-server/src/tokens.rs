//! The authorization code grant (RFC 6749 §4.1.3 with PKCE, RFC 7636 §4.6) and the user tokens
//! it issues: a Kinde-shaped access token and an OpenID Connect ID token.
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
//! - **Randomness** (security.md case 65). Codes and refresh tokens are 256 random bits
//!   (base64url), token ids (`jti`) 128 random bits (hex).

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};
use subtle::ConstantTimeEq;

use crate::AppState;
use crate::authorize::{
    AuthRequest, granted_audiences, is_pkce_value, requested_scopes, scope_tokens,
};
use crate::domain::AppType;
use crate::error::OAuthError;
use crate::ids::hash_secret;
use crate::ids::new_jti;
use crate::keys::SigningAlgorithm;
use crate::oidc::Form;
use crate::store::{ApplicationRecord, CodeUse, NewRefresh, Rotation};

/// A token id (`jti`): 128 random bits, hex.
/// `at_hash`: base64url of the left half of the access token's hash (OIDC Core §3.1.3.6).
fn at_hash(alg: SigningAlgorithm, access_token: &str) -> String {
    let digest = match alg {
        SigningAlgorithm::EdDSA => &aws_lc_rs::digest::SHA512,
        _ => &aws_lc_rs::digest::SHA256,
    };
    let d = aws_lc_rs::digest::digest(digest, access_token.as_bytes());
    URL_SAFE_NO_PAD.encode(&d.as_ref()[..d.as_ref().len() / 2])
}

/// Exchanges a code for tokens.
pub(crate) async fn authorization_code_grant(
    state: &AppState,
    app: &ApplicationRecord,
    form: &Form,
) -> Result<Response, OAuthError> {
    if app.app_type == AppType::M2m {
        return Err(OAuthError::unauthorized_client(
            "machine-to-machine applications use client_credentials",
        ));
    }
    let code = form
        .get("code")
        .ok_or_else(|| OAuthError::invalid_request("code is missing"))?;
    let redirect_uri = form
        .get("redirect_uri")
        .ok_or_else(|| OAuthError::invalid_request("redirect_uri is missing"))?;
    let store = state.store();
    let now = state.now();
    let code_sha256 = hash_secret(code);
    let request: AuthRequest = match store.use_code(&code_sha256, now).await? {
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
    if request.client_id != app.client_id {
        return Err(OAuthError::invalid_grant(
            "the code was issued to another client",
        ));
    }
    if request.redirect_uri != redirect_uri {
        return Err(OAuthError::invalid_grant(
            "redirect_uri differs from the authorization request",
        ));
    }
    match (&request.code_challenge, form.get("code_verifier")) {
        (Some(challenge), Some(verifier)) => {
            let computed = URL_SAFE_NO_PAD.encode(
                aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes()).as_ref(),
            );
            if !is_pkce_value(verifier)
                || !bool::from(computed.as_bytes().ct_eq(challenge.as_bytes()))
            {
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
    let body = issue_user_tokens(
        state,
        app,
        &request,
        &request.scopes,
        true,
        Some(&code_sha256),
        now,
    )
    .await?;
    if let Some(refresh) = &body.refresh {
        store.create_refresh(refresh).await?;
    }
    store.set_code_jti(&code_sha256, &body.access_jti).await?;
    crate::metrics::tokens_issued(state, "authorization_code");
    Ok(no_store(body.json))
}

fn no_store(body: Value) -> Response {
    let mut response = axum::Json(body).into_response();
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// What a user grant returns: the token response, and the refresh token in it, which the
/// caller stores (a refresh grant together with spending the presented one).
struct UserTokens {
    json: Value,
    access_jti: String,
    refresh: Option<NewRefresh>,
}

fn wants_refresh(request: &AuthRequest) -> bool {
    request
        .scopes
        .iter()
        .any(|s| s == "offline" || s == "offline_access")
}

/// Access token (claims recomputed now: role and permission changes apply at once) with
/// `scopes` (the grant's, or a narrower set on refresh), ID token when `scopes` include
/// `openid`, and a new refresh token in `family` carrying the whole grant when the grant has
/// `offline` (not stored yet: see [`UserTokens`]).
async fn issue_user_tokens(
    state: &AppState,
    app: &ApplicationRecord,
    request: &AuthRequest,
    scopes: &[String],
    with_nonce: bool,
    family: Option<&str>,
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
    let audiences = if request.audiences.is_empty() {
        store.granted_audiences(&app.id).await?
    } else {
        request.audiences.clone()
    };
    let jti = new_jti();
    let mut flags = Map::new();
    for (k, f) in &effective.feature_flags {
        flags.insert(k.clone(), json!({"t": f.t, "v": f.v}));
    }
    let mut access = json!({
        "aud": audiences,
        "azp": app.client_id,
        // RFC 9068 §2.2: required in JWT access tokens.
        "client_id": app.client_id,
        "exp": now + ttl,
        "iat": now,
        "iss": state.issuer(),
        "jti": jti,
        "sub": user.id,
        "scp": scopes,
        "scope": scopes.join(" "),
        "permissions": effective.permissions,
        "roles": effective.roles,
        "feature_flags": flags,
        "v": "2",
    });
    if let Some(org) = &request.org_code {
        access["org_code"] = json!(org);
    }
    let ring = state.inner.keys.ring(now).await?;
    let access_token = ring.active.sign_jwt("at+jwt", &access)?;
    let mut body = json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": ttl,
        "scope": scopes.join(" "),
    });
    if scopes.iter().any(|s| s == "openid") {
        let org_codes = store.user_org_codes(&user.id).await?;
        let name = match (&user.given_name, &user.family_name) {
            (Some(g), Some(f)) => Some(format!("{g} {f}")),
            (Some(n), None) | (None, Some(n)) => Some(n.clone()),
            (None, None) => None,
        };
        let mut id = json!({
            "iss": state.issuer(),
            "sub": user.id,
            "aud": [app.client_id],
            "azp": app.client_id,
            "exp": now + ttl.min(3600),
            "iat": now,
            "auth_time": request.auth_time,
            "jti": new_jti(),
            "at_hash": at_hash(ring.active.alg(), &access_token),
            "org_codes": org_codes,
            "updated_at": user.updated_at,
        });
        if with_nonce && let Some(nonce) = &request.nonce {
            id["nonce"] = json!(nonce);
        }
        let has = |scope: &str| scopes.iter().any(|s| s == scope);
        if has("profile") {
            for (k, v) in [
                ("given_name", &user.given_name),
                ("family_name", &user.family_name),
                ("name", &name),
                ("picture", &user.picture),
            ] {
                if let Some(v) = v {
                    id[k] = json!(v);
                }
            }
        }
        if has("email") {
            id["email"] = json!(user.email);
        }
        body["id_token"] = json!(ring.active.sign_jwt("JWT", &id)?);
    }
    let mut new_refresh = None;
    if let Some(family) = family
        && wants_refresh(request)
        && app.app_type.signs_users_in()
    {
        let refresh = crate::ids::random_token();
        let data = serde_json::to_string(request).map_err(|e| OAuthError::server_error(&e))?;
        let expires_at = match store.refresh_family_expiry(family).await? {
            Some(e) => e,
            None => now.saturating_add(state.inner.settings.refresh_token_ttl),
        };
        new_refresh = Some(NewRefresh {
            token_sha256: hash_secret(&refresh),
            family_id: family.to_owned(),
            client_id: app.client_id.clone(),
            grant_data: data,
            access_jti: jti.clone(),
            created_at: now,
            expires_at,
        });
        body["refresh_token"] = json!(refresh);
    }
    Ok(UserTokens {
        json: body,
        access_jti: jti,
        refresh: new_refresh,
    })
}

/// RFC 6749 §6 with rotation: the presented token is spent, a new one comes back. Spending the
/// one and storing the other are one transaction, after everything else (claims, signing) has
/// succeeded: a failure anywhere leaves the presented token as it was, so the client's retry
/// is not mistaken for reuse.
pub(crate) async fn refresh_token_grant(
    state: &AppState,
    app: &ApplicationRecord,
    form: &Form,
) -> Result<Response, OAuthError> {
    let presented = form
        .get("refresh_token")
        .ok_or_else(|| OAuthError::invalid_request("refresh_token is missing"))?;
    let store = state.store();
    let now = state.now();
    let token_sha256 = hash_secret(presented);
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
    let request: AuthRequest =
        serde_json::from_str(&record.grant_data).map_err(|e| OAuthError::server_error(&e))?;
    // RFC 6749 §6: a narrower scope may be asked for, never a wider one. Checked before the
    // token is spent, so a refused request leaves the grant as it was.
    let scopes: Vec<String> = match form.get("scope") {
        None => request.scopes.clone(),
        Some(scope) => {
            let asked: Vec<String> = scope_tokens(scope)
                .map_err(|e| OAuthError::invalid_scope(e.to_string()))?
                .map(str::to_owned)
                .collect();
            if let Some(bad) = asked.iter().find(|s| !request.scopes.contains(s)) {
                return Err(OAuthError::invalid_scope(format!(
                    "scope {bad:?} was not granted"
                )));
            }
            asked
        }
    };
    // A rotated token still works for a short grace (retries after a lost response); reuse
    // after that revokes the family (security.md case 71). Checked here before any work, and
    // again when the token is spent (another request may spend it meanwhile).
    let grace = state.inner.settings.refresh_reuse_grace;
    if record
        .rotated_at
        .is_some_and(|at| now.saturating_sub(at) > grace)
    {
        return Err(refresh_reused(state, app, &record.family_id, now).await?);
    }
    let body = issue_user_tokens(
        state,
        app,
        &request,
        &scopes,
        false,
        Some(&record.family_id),
        now,
    )
    .await?;
    match store
        .rotate_refresh(&token_sha256, now, grace, body.refresh.as_ref())
        .await?
    {
        Rotation::Rotated => {}
        Rotation::Reused => return Err(refresh_reused(state, app, &record.family_id, now).await?),
    }
    crate::metrics::tokens_issued(state, "refresh_token");
    Ok(no_store(body.json))
}

/// Reuse of a spent refresh token: someone else holds a copy. Revokes the whole family, and
/// returns the refusal to answer.
async fn refresh_reused(
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

/// The resource-owner password grant (RFC 6749 §4.3), for `reg` applications that enabled it
/// (seed `allow_password_grant`; GenAuth's `sign_in_by_email_password`). Everything else about
/// a sign-in holds: the same limits per address and per account as the hosted form (the two
/// share counters), one answer and one cost for an unknown email, a suspended account or a
/// wrong password, org membership for `org_code`, and audiences limited to granted APIs. No
/// session is created (single sign-on needs the browser flow).
pub(crate) async fn password_grant(
    state: &AppState,
    app: &ApplicationRecord,
    form: &Form,
    ip: Option<std::net::IpAddr>,
) -> Result<Response, OAuthError> {
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
    let store = state.store();
    let scopes = requested_scopes(form.get("scope"))
        .map_err(|e| OAuthError::invalid_scope(e.to_string()))?;
    let Some(audiences) = granted_audiences(state, &app.id, form.get("audience")).await? else {
        return Err(OAuthError::invalid_target(
            "the application may not use that audience",
        ));
    };
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
    let ok = crate::passwords::verify(password, hash)
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
    let org_code = match form.get("org_code") {
        Some(org) if !orgs.iter().any(|o| o == org) => {
            return Err(OAuthError::invalid_grant(
                "the user is not a member of that organization",
            ));
        }
        Some(org) => Some(org.to_owned()),
        None => crate::authorize::default_org(orgs),
    };
    let request = AuthRequest {
        client_id: app.client_id.clone(),
        redirect_uri: String::new(),
        state: None,
        nonce: None,
        code_challenge: None,
        scopes: scopes.clone(),
        audiences,
        org_code,
        user_id: user.id.clone(),
        auth_time: now,
        login_hint: None,
        create_org: None,
        ask_org_name: false,
    };
    let family = format!("pw_{}", new_jti());
    let body = issue_user_tokens(state, app, &request, &scopes, false, Some(&family), now).await?;
    if let Some(refresh) = &body.refresh {
        store.create_refresh(refresh).await?;
    }
    crate::metrics::tokens_issued(state, "password");
    Ok(no_store(body.json))
}
