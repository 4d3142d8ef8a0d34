//! Client authentication at the token, introspection and revocation endpoints: HTTP Basic or
//! body credentials (RFC 6749 §2.3.1, never both), public clients by id alone where a grant
//! allows it, and — for introspection and revocation — an access token of the caller's own
//! (RFC 7662 §2.1). Failed attempts count against the limits of [`crate::limits`].

use std::net::IpAddr;
use std::sync::Arc;

use axum::http::{HeaderMap, header};
use base64::Engine as _;
use subtle::ConstantTimeEq;

use crate::AppState;
use crate::clients::CachedClient;
use crate::domain::{AppType, ClientId};
use crate::error::OAuthError;
use crate::limits;
use crate::oidc::Form;

/// How the client of a request must prove who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClientAuthentication {
    /// By its secret: confidential clients only.
    Secret,
    /// A public client (spa) by its id alone, sending no secret (PKCE and refresh-token
    /// binding protect it); every other client by its secret.
    SecretOrPublic,
    /// Either of [`ClientAuthentication::Secret`], or `Authorization: Bearer` with an access
    /// token issued to the caller (introspection and revocation).
    SecretOrAccessToken,
}

/// The calling client, authenticated as `how` says.
pub(crate) async fn authenticate(
    how: ClientAuthentication,
    state: &AppState,
    headers: &HeaderMap,
    form: &Form,
    ip: Option<IpAddr>,
) -> Result<Arc<CachedClient>, OAuthError> {
    match how {
        ClientAuthentication::Secret => by_secret(state, headers, form, ip).await,
        ClientAuthentication::SecretOrPublic => public_or_secret(state, headers, form, ip).await,
        ClientAuthentication::SecretOrAccessToken => {
            match bearer_caller(state, headers, form).await? {
                Some(client) => Ok(client),
                None => by_secret(state, headers, form, ip).await,
            }
        }
    }
}

/// A Basic header that cannot be read: RFC 6749 §5.2 `invalid_request` (docs/security.md case 68),
/// as opposed to readable but wrong credentials (`invalid_client`).
fn malformed_basic() -> OAuthError {
    OAuthError::invalid_request(
        "the Authorization header is not a valid Basic header (RFC 6749 §2.3.1)",
    )
}

/// The client's credentials, from the `Authorization: Basic` header (RFC 6749 §2.3.1, with the
/// Appendix B form-encoding) or from the body — never both.
fn client_credentials(
    headers: &HeaderMap,
    form: &Form,
) -> Result<(String, Option<String>), OAuthError> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().map_err(|_| malformed_basic()))
        .transpose()?;
    let body_id = form.get("client_id");
    let body_secret = form.get("client_secret");
    match basic {
        Some(value) => {
            if body_secret.is_some() {
                return Err(OAuthError::invalid_request(
                    "use one client authentication method, not two",
                ));
            }
            let encoded = value
                .strip_prefix("Basic ")
                .or_else(|| value.strip_prefix("basic "))
                .ok_or_else(malformed_basic)?;
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .map_err(|_| malformed_basic())?;
            let decoded = String::from_utf8(decoded).map_err(|_| malformed_basic())?;
            let (id, secret) = decoded.split_once(':').ok_or_else(malformed_basic)?;
            let id = form_unescape(id).ok_or_else(malformed_basic)?;
            if body_id.is_some_and(|b| b != id) {
                return Err(OAuthError::invalid_request(
                    "client_id in the body differs from the Authorization header",
                ));
            }
            Ok((id, Some(form_unescape(secret).ok_or_else(malformed_basic)?)))
        }
        None => {
            let id = body_id.ok_or_else(OAuthError::invalid_client)?;
            Ok((id.to_owned(), body_secret.map(str::to_owned)))
        }
    }
}

/// Undoes `application/x-www-form-urlencoded` encoding (RFC 6749 Appendix B): `+` is a space,
/// `%XX` a byte; the result must be UTF-8. `None` for a malformed escape.
fn form_unescape(s: &str) -> Option<String> {
    if !s.contains(['+', '%']) {
        return Some(s.to_owned());
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                if !hex.iter().all(u8::is_ascii_hexdigit) {
                    return None;
                }
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// Looks the client up and checks its secret in constant time. Unknown clients cost the same
/// hash as known ones, so timing does not tell whether a client id exists.
async fn check_secret(
    state: &AppState,
    id: &str,
    secret: Option<&str>,
) -> Result<Arc<CachedClient>, OAuthError> {
    // An id that is not a client id is an unknown client (and costs the same hash).
    let client = match ClientId::parse(id) {
        Ok(id) => state.inner.clients.get(&state.inner.store, &id).await?,
        Err(_) => None,
    };
    // One SHA-256 whether or not the client exists, compared as 32 bytes in constant time.
    let presented =
        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, secret.unwrap_or("").as_bytes());
    match client {
        Some(client) => match (client.secret_sha256(), secret) {
            (Some(stored), Some(_)) if bool::from(stored[..].ct_eq(presented.as_ref())) => {
                Ok(client)
            }
            _ => Err(OAuthError::invalid_client()),
        },
        None => Err(OAuthError::invalid_client()),
    }
}

/// Authenticates the calling client by its secret, within the failed-attempt limits of
/// [`limits`].
async fn by_secret(
    state: &AppState,
    headers: &HeaderMap,
    form: &Form,
    ip: Option<IpAddr>,
) -> Result<Arc<CachedClient>, OAuthError> {
    let (client_id, secret) = client_credentials(headers, form)?;
    secret_within_limits(state, &client_id, secret.as_deref(), ip).await
}

/// [`check_secret`], the failure counted against the limits of [`limits`] (which refuse the
/// caller before the check once it has failed too often).
async fn secret_within_limits(
    state: &AppState,
    client_id: &str,
    secret: Option<&str>,
    ip: Option<IpAddr>,
) -> Result<Arc<CachedClient>, OAuthError> {
    let now = state.now();
    let clean = &state.inner.clean_callers;
    limits::check(&state.inner.store, clean, ip, client_id, now).await?;
    match check_secret(state, client_id, secret).await {
        Ok(app) => Ok(app),
        Err(e) => {
            if e.code() == "invalid_client" {
                limits::record_failure(&state.inner.store, clean, ip, client_id, now).await?;
            }
            Err(e)
        }
    }
}

/// Authenticates the client of a user grant: a public client (spa) by its id alone (PKCE and
/// refresh-token binding protect it) and sending no secret; every other client by its secret.
async fn public_or_secret(
    state: &AppState,
    headers: &HeaderMap,
    form: &Form,
    peer: Option<IpAddr>,
) -> Result<Arc<CachedClient>, OAuthError> {
    let (id, secret) = client_credentials(headers, form)?;
    if secret.is_none()
        && let Ok(client_id) = ClientId::parse(&id)
        && let Some(client) = state
            .inner
            .clients
            .get(&state.inner.store, &client_id)
            .await?
        && client.app.app_type == AppType::Spa
    {
        return Ok(client);
    }
    secret_within_limits(state, &id, secret.as_deref(), peer).await
}

/// The caller of an introspection request that authenticates with `Authorization: Bearer
/// <access token>` (RFC 7662 §2.1 allows it; Kinde's SDKs do it with a `client_credentials`
/// token): the application the token was issued to (`azp`, else `client_id`), once the token is
/// checked like any access token of this server (signature, issuer, expiry, not revoked).
/// `Ok(None)` when the request uses another scheme (client credentials then apply).
async fn bearer_caller(
    state: &AppState,
    headers: &HeaderMap,
    form: &Form,
) -> Result<Option<Arc<CachedClient>>, OAuthError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let Some((scheme, token)) = value.to_str().ok().and_then(|v| v.split_once(' ')) else {
        return Ok(None);
    };
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Ok(None);
    }
    if form.get("client_secret").is_some() {
        return Err(OAuthError::invalid_request(
            "use one client authentication method, not two",
        ));
    }
    let token = token.trim();
    if token.is_empty() || token.contains(' ') {
        return Err(OAuthError::invalid_bearer());
    }
    let Some(claims) = super::own_access_token(state, token).await? else {
        return Err(OAuthError::invalid_bearer());
    };
    let Some(client_id) = claims
        .authorized_party()
        .and_then(|id| ClientId::parse(id).ok())
    else {
        return Err(OAuthError::invalid_bearer());
    };
    if form.get("client_id").is_some_and(|id| client_id != id) {
        return Err(OAuthError::invalid_request(
            "client_id in the body differs from the bearer token's client",
        ));
    }
    match state
        .inner
        .clients
        .get(&state.inner.store, &client_id)
        .await?
    {
        Some(client) => Ok(Some(client)),
        // The application was deleted after the token was issued.
        None => Err(OAuthError::invalid_bearer()),
    }
}

/// A request about one token (introspection, revocation): the authenticated caller and its
/// `token` parameter, read in that order (a caller that fails authentication learns nothing
/// about its parameters).
pub(crate) struct TokenCaller {
    pub(crate) client: Arc<CachedClient>,
    pub(crate) token: String,
}

impl TokenCaller {
    /// Reads the form body, authenticates the caller (client credentials or its own access
    /// token) and takes the `token` parameter.
    pub(crate) async fn read(
        state: &AppState,
        ip: Option<IpAddr>,
        headers: &HeaderMap,
        body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
    ) -> Result<TokenCaller, OAuthError> {
        let form = super::form::read_form(headers, body)?;
        let how = ClientAuthentication::SecretOrAccessToken;
        let client = authenticate(how, state, headers, &form, ip).await?;
        let token = form
            .get("token")
            .ok_or_else(|| OAuthError::invalid_request("token is missing"))?;
        Ok(TokenCaller {
            client,
            token: token.to_owned(),
        })
    }
}
