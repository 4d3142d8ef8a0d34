//! OpenID Connect / OAuth 2.0 endpoints: discovery, JWKS, and the token endpoint.
//!
//! Handlers stay thin: parse, call a rule, render. The discovery document advertises exactly
//! what is implemented.

use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest as _, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::json;
use subtle::ConstantTimeEq;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;

use crate::AppState;
use crate::clients::CachedClient;
use crate::domain::AppType;
use crate::error::OAuthError;
use crate::ids::hash_secret;
use crate::limits;

/// `GET /.well-known/openid-configuration`.
pub(crate) async fn discovery(State(state): State<AppState>) -> Response {
    let issuer = state.issuer();
    let alg = state.inner.keys_algorithm.as_str();
    let doc = json!({
        "issuer": issuer,
        "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
        "token_endpoint": format!("{issuer}/oauth2/token"),
        "userinfo_endpoint": format!("{issuer}/oauth2/userinfo"),
        "end_session_endpoint": format!("{issuer}/logout"),
        "introspection_endpoint": format!("{issuer}/oauth2/introspect"),
        "revocation_endpoint": format!("{issuer}/oauth2/revoke"),
        // RFC 8414 §2: client authentication methods or access token types (RFC 7662 §2.1).
        "introspection_endpoint_auth_methods_supported":
            ["client_secret_basic", "client_secret_post", "Bearer"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "authorization_endpoint": format!("{issuer}/oauth2/auth"),
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "code_challenge_methods_supported": ["S256"],
        "prompt_values_supported": ["none", "login", "create"],
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "azp", "email", "given_name", "family_name", "name", "picture", "updated_at", "org_codes"],
        "authorization_response_iss_parameter_supported": true,
        // Request objects are refused (security.md case 60); OIDC Discovery defaults
        // request_uri_parameter_supported to true, so say so explicitly.
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [alg],
        "scopes_supported": ["openid", "profile", "email", "offline"],
    });
    let mut response = axum::Json(doc).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    response
}

/// `GET /.well-known/jwks.json` and `/.well-known/jwks`.
pub(crate) async fn jwks(State(state): State<AppState>) -> Response {
    match state.inner.keys.ring(state.now()).await {
        Ok(ring) => (
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                ),
                (
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("public, max-age=300"),
                ),
            ],
            ring.jwks_json.to_string(),
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "cannot load the key set");
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}

/// The parameters of a form body. RFC 6749 §3.2: a parameter sent twice is an error.
pub(crate) struct Form(Vec<(String, String)>);

impl Form {
    pub(crate) fn parse(headers: &HeaderMap, body: &[u8]) -> Result<Form, OAuthError> {
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let mime = content_type.split(';').next().unwrap_or("").trim();
        if !mime.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
            return Err(OAuthError::invalid_request(
                "the body must be application/x-www-form-urlencoded",
            ));
        }
        let mut params: Vec<(String, String)> = Vec::new();
        for (k, v) in form_pairs(body) {
            if params.iter().any(|(seen, _)| *seen == k) {
                return Err(OAuthError::invalid_request(format!(
                    "parameter {k:?} is repeated"
                )));
            }
            if params.len() >= 64 {
                return Err(OAuthError::invalid_request("too many parameters"));
            }
            params.push((k, v));
        }
        Ok(Form(params))
    }

    /// A parameter; an empty value counts as absent (RFC 6749 §3.1).
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }
}

/// The name/value pairs of an `application/x-www-form-urlencoded` body, decoded exactly as
/// `url::form_urlencoded::parse` decodes them (the unit tests compare the two), in one pass
/// per component: pairs split on `&` (empty ones skipped), name and value on the first `=`;
/// `+` is a space and `%XX` a byte (a `%` without two hex digits stays as it is); invalid UTF-8
/// becomes U+FFFD.
fn form_pairs(body: &[u8]) -> impl Iterator<Item = (String, String)> + '_ {
    body.split(|b| *b == b'&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = match pair.iter().position(|b| *b == b'=') {
                Some(eq) => (&pair[..eq], &pair[eq + 1..]),
                None => (pair, &[][..]),
            };
            (form_decode(name), form_decode(value))
        })
}

/// One component of a form body: see [`form_pairs`].
fn form_decode(input: &[u8]) -> String {
    if !input.iter().any(|b| matches!(b, b'+' | b'%')) {
        return String::from_utf8_lossy(input).into_owned();
    }
    let hex = |b: u8| {
        char::from(b)
            .to_digit(16)
            .and_then(|d| u8::try_from(d).ok())
    };
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while let Some(&b) = input.get(i) {
        i += 1;
        match b {
            b'+' => out.push(b' '),
            b'%' => match (
                input.get(i).copied().and_then(hex),
                input.get(i + 1).copied().and_then(hex),
            ) {
                (Some(high), Some(low)) => {
                    out.push((high << 4) | low);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
    }
    match String::from_utf8(out) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

/// A Basic header that cannot be read: RFC 6749 §5.2 `invalid_request` (security.md case 68),
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
async fn authenticate_client(
    state: &AppState,
    id: &str,
    secret: Option<&str>,
) -> Result<Arc<CachedClient>, OAuthError> {
    let client = state.inner.clients.get(&state.inner.store, id).await?;
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

/// Any other method on `/oauth2/token`: 405 with `Allow: POST`, in the endpoint's own error
/// format and never cached (security.md case 73).
pub(crate) async fn token_method_not_allowed() -> Response {
    let mut response = OAuthError::method_not_allowed().into_response();
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("POST"));
    response
}

/// The client's address: the TCP peer, or the address a trusted reverse proxy forwarded
/// ([`crate::proxies`]). `None` when the server was started without connection info (e.g. a
/// router driven directly in tests).
pub(crate) struct Peer(pub(crate) Option<IpAddr>);

impl FromRequestParts<AppState> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Peer(client_addr(state, parts)))
    }
}

/// See [`Peer`].
fn client_addr(state: &AppState, parts: &Parts) -> Option<IpAddr> {
    let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>()?.0.ip();
    Some(
        state
            .inner
            .settings
            .trusted_proxies
            .client_addr(peer, &parts.headers),
    )
}

/// Reads a form body. A body over the limit (or one that cannot be read) is answered like every
/// other error of these endpoints: JSON, never cached.
fn read_form(headers: &HeaderMap, body: Result<Bytes, BytesRejection>) -> Result<Form, OAuthError> {
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            OAuthError::body_too_large()
        } else {
            OAuthError::invalid_request("the request body could not be read")
        }
    })?;
    Form::parse(headers, &body)
}

/// Authenticates the calling client, within the failed-attempt limits of [`limits`].
async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    form: &Form,
    ip: Option<IpAddr>,
) -> Result<Arc<CachedClient>, OAuthError> {
    let (client_id, secret) = client_credentials(headers, form)?;
    let now = state.now();
    let clean = &state.inner.clean_callers;
    limits::check(&state.inner.store, clean, ip, &client_id, now).await?;
    match authenticate_client(state, &client_id, secret.as_deref()).await {
        Ok(app) => Ok(app),
        Err(e) => {
            if e.code() == "invalid_client" {
                limits::record_failure(&state.inner.store, clean, ip, &client_id, now).await?;
            }
            Err(e)
        }
    }
}

/// Authenticates the client of a user grant: a public client (spa) by its id alone (PKCE and
/// refresh-token binding protect it) and sending no secret; every other client by its secret.
async fn authenticate_user_client(
    state: &AppState,
    headers: &HeaderMap,
    form: &Form,
    peer: Option<IpAddr>,
) -> Result<Arc<CachedClient>, OAuthError> {
    let (id, secret) = client_credentials(headers, form)?;
    if secret.is_none()
        && let Some(client) = state.inner.clients.get(&state.inner.store, &id).await?
        && client.app.app_type == AppType::Spa
    {
        return Ok(client);
    }
    authenticate(state, headers, form, peer).await
}

/// `POST /oauth2/token`.
///
/// Takes the request whole rather than through a `HeaderMap` extractor, which would copy the
/// headers on every token request.
pub(crate) async fn token(
    State(state): State<AppState>,
    request: Request,
) -> Result<Response, OAuthError> {
    let (mut parts, body) = request.into_parts();
    let peer = client_addr(&state, &parts);
    let headers = std::mem::take(&mut parts.headers);
    // The body limit (`DefaultBodyLimit`) travels in the extensions, which stay with the body.
    let body = Bytes::from_request(Request::from_parts(parts, body), &()).await;
    let result = async {
        let form = read_form(&headers, body)?;
        let grant_type = form
            .get("grant_type")
            .ok_or_else(|| OAuthError::invalid_request("grant_type is missing"))?;
        match grant_type {
            "client_credentials" => {
                let client = authenticate(&state, &headers, &form, peer).await?;
                let response = client_credentials_grant(&state, &client, &form).await?;
                crate::metrics::tokens_issued(&state, "client_credentials");
                Ok(response)
            }
            "authorization_code" => {
                let client = authenticate_user_client(&state, &headers, &form, peer).await?;
                crate::tokens::authorization_code_grant(&state, &client.app, &form).await
            }
            "refresh_token" => {
                let client = authenticate_user_client(&state, &headers, &form, peer).await?;
                crate::tokens::refresh_token_grant(&state, &client.app, &form).await
            }
            "password" => {
                // Confidential applications only: the secret is required.
                let client = authenticate(&state, &headers, &form, peer).await?;
                crate::tokens::password_grant(&state, &client.app, &form, peer)
                    .await
            }
            _ => Err(OAuthError::unsupported_grant_type(
                "grant_type must be authorization_code, refresh_token, client_credentials or password",
            )),
        }
    }
    .await;
    if let Err(e) = &result {
        crate::metrics::token_error(&state, e.code());
    }
    result
}

/// The claims of a `client_credentials` access token, borrowed from the request, the cached
/// application and the settings, and serialized straight into the token. Members in
/// lexicographic order, as before (a `serde_json` map).
#[derive(serde::Serialize)]
struct ClientCredentialsClaims<'a> {
    aud: [&'a str; 1],
    azp: &'a str,
    client_id: &'a str,
    exp: i64,
    gty: [&'static str; 1],
    iat: i64,
    iss: &'a str,
    jti: &'a str,
    scope: &'a str,
    scp: Scopes<'a>,
    sub: &'a str,
    v: &'static str,
}

/// The scopes of a token, as a JSON array, without collecting them first.
enum Scopes<'a> {
    /// The `scope` parameter, checked against the grant: its space-separated parts.
    Requested(&'a str),
    /// None asked for: every scope of the grant.
    Granted(&'a [String]),
}

impl serde::Serialize for Scopes<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Scopes::Requested(scope) => serializer.collect_seq(scope.split(' ')),
            Scopes::Granted(scopes) => serializer.collect_seq(scopes.iter()),
        }
    }
}

/// The token response of RFC 6749 §5.1, `{"access_token", "expires_in", "scope",
/// "token_type": "Bearer"}` (members in lexicographic order, as a `serde_json` map writes them).
/// `access_token` must be a compact JWS from [`crate::keys::ActiveKey::sign_jwt`]: base64url and
/// dots, which JSON never escapes, so it is copied as it is rather than scanned.
fn token_response_json(
    access_token: &str,
    expires_in: i64,
    scope: &str,
) -> Result<Vec<u8>, serde_json::Error> {
    use std::io::Write as _;
    debug_assert!(
        access_token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    );
    let mut body = Vec::with_capacity(access_token.len() + scope.len() + 96);
    body.extend_from_slice(b"{\"access_token\":\"");
    body.extend_from_slice(access_token.as_bytes());
    write!(body, "\",\"expires_in\":{expires_in},\"scope\":").map_err(serde_json::Error::io)?;
    serde_json::to_writer(&mut body, scope)?;
    body.extend_from_slice(b",\"token_type\":\"Bearer\"}");
    Ok(body)
}

/// RFC 6749 §4.4: a token for an API the application was granted, with scopes within its grant.
async fn client_credentials_grant(
    state: &AppState,
    client: &CachedClient,
    form: &Form,
) -> Result<Response, OAuthError> {
    let app = &client.app;
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
    let cached = client
        .grant(audience)
        .ok_or_else(|| OAuthError::invalid_target("this application may not use that API"))?;
    let grant = &cached.grant;
    let (scope, scopes) = match form.get("scope") {
        None => (cached.scope.as_str(), Scopes::Granted(&grant.scopes)),
        Some(requested) => {
            // Checked first, so a refusal never echoes a control character back.
            if let Err(e) = crate::authorize::scope_tokens(requested) {
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
    let claims = ClientCredentialsClaims {
        aud: [grant.api.audience.as_str()],
        azp: &app.client_id,
        client_id: &app.client_id,
        exp: now.saturating_add(ttl),
        gty: ["client_credentials"],
        iat: now,
        iss: state.issuer(),
        jti: &jti,
        scope,
        scp: scopes,
        sub: &app.client_id,
        v: "2",
    };
    let ring = state.inner.keys.ring(now).await?;
    let access_token = ring.active.sign_jwt("at+jwt", &claims)?;
    let body =
        token_response_json(&access_token, ttl, scope).map_err(|e| OAuthError::server_error(&e))?;
    let mut response = Response::new(Body::from(body));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    Ok(response)
}

fn no_store(body: Response) -> Response {
    let mut response = body;
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// The access token in `form`, verified as one of this server's own, not revoked, and issued
/// to `app`. `Ok(None)` when it is not (garbage, expired, revoked, another issuer's).
async fn own_token(
    state: &AppState,
    token: &str,
) -> Result<Option<std::sync::Arc<portcullis::Claims>>, OAuthError> {
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
    let Some(claims) = own_token(state, token).await? else {
        return Err(OAuthError::invalid_bearer());
    };
    let Some(client_id) = claims.authorized_party() else {
        return Err(OAuthError::invalid_bearer());
    };
    if form.get("client_id").is_some_and(|id| id != client_id) {
        return Err(OAuthError::invalid_request(
            "client_id in the body differs from the bearer token's client",
        ));
    }
    match state
        .inner
        .clients
        .get(&state.inner.store, client_id)
        .await?
    {
        Some(client) => Ok(Some(client)),
        // The application was deleted after the token was issued.
        None => Err(OAuthError::invalid_bearer()),
    }
}

/// `POST /oauth2/introspect` (RFC 7662). The caller authenticates as a client (Basic or body
/// credentials) or with an access token of its own ([`bearer_caller`]); either way it sees only
/// its own tokens as active (security.md case 76). Resource servers verify JWT access tokens
/// locally.
pub(crate) async fn introspect(
    State(state): State<AppState>,
    Peer(peer): Peer,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, OAuthError> {
    let form = read_form(&headers, body)?;
    let client = match bearer_caller(&state, &headers, &form).await? {
        Some(client) => client,
        None => authenticate(&state, &headers, &form, peer).await?,
    };
    let app = &client.app;
    let token = form
        .get("token")
        .ok_or_else(|| OAuthError::invalid_request("token is missing"))?;
    let inactive = || no_store(axum::Json(json!({"active": false})).into_response());
    if let Some(refresh) = state.inner.store.refresh(&hash_secret(token)).await? {
        let now = state.now();
        let usable = !refresh.revoked && refresh.expires_at > now && refresh.rotated_at.is_none();
        if !usable || refresh.client_id != app.client_id {
            return Ok(inactive());
        }
        return Ok(no_store(
            axum::Json(json!({
                "active": true,
                "token_type": "refresh_token",
                "client_id": refresh.client_id,
                "iss": state.issuer(),
                "exp": refresh.expires_at,
            }))
            .into_response(),
        ));
    }
    let Some(claims) = own_token(&state, token).await? else {
        return Ok(inactive());
    };
    if claims.authorized_party() != Some(app.client_id.as_str()) {
        return Ok(inactive());
    }
    let scope: Vec<&str> = claims.scopes().collect();
    Ok(no_store(
        axum::Json(json!({
            "active": true,
            "token_type": "Bearer",
            "client_id": app.client_id,
            "iss": claims.iss,
            "sub": claims.sub,
            "aud": claims.aud,
            "scope": scope.join(" "),
            "exp": claims.exp,
            "iat": claims.iat,
            "jti": claims.jti,
        }))
        .into_response(),
    ))
}

/// `POST /oauth2/revoke` (RFC 7009). Client-authenticated; unknown or garbage tokens get 200
/// (no oracle); a token of another client is refused and stays valid (security.md case 77).
pub(crate) async fn revoke(
    State(state): State<AppState>,
    Peer(peer): Peer,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, OAuthError> {
    let form = read_form(&headers, body)?;
    let client = match bearer_caller(&state, &headers, &form).await? {
        Some(client) => client,
        None => authenticate(&state, &headers, &form, peer).await?,
    };
    let app = &client.app;
    let token = form
        .get("token")
        .ok_or_else(|| OAuthError::invalid_request("token is missing"))?;
    // RFC 7009 §2.1: the hint is only a hint. Only access tokens exist today; a refresh-token
    // hint is still looked up as an access token.
    let ok = || no_store(StatusCode::OK.into_response());
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
        return Ok(ok());
    }
    let Some(claims) = own_token(&state, token).await? else {
        return Ok(ok());
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
    Ok(ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(body: &[u8]) -> Vec<(String, String)> {
        url::form_urlencoded::parse(body)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    #[test]
    fn form_bodies_decode_like_form_urlencoded() {
        let cases: &[&[u8]] = &[
            b"",
            b"&",
            b"&&a=1&&",
            b"grant_type=client_credentials&audience=https%3A%2F%2Fapi.example.com&scope=read%3Atodos+create%3Atodos",
            b"a",
            b"a=",
            b"=b",
            b"a=b=c",
            b"a+b=c+d",
            b"%2B=%2b+%20",
            b"%=%%&%4=%4g&%g4=%%41&x=%",
            b"e=%C3%A9&bad=%FF%FE&cut=%C3",
            "u=\u{e9}\u{1f600}".as_bytes(),
            b"raw=\xff\xfe&nul=%00",
            b"a=1&a=2",
        ];
        for case in cases {
            assert_eq!(
                form_pairs(case).collect::<Vec<_>>(),
                reference(case),
                "{case:?}"
            );
        }
        // Every short body over a small alphabet of the interesting bytes.
        let alphabet = b"a=&+%2Fg\xc3\xa9";
        let mut body = Vec::new();
        for n in 0..=4u32 {
            for mut code in 0..alphabet.len().pow(n) {
                body.clear();
                for _ in 0..n {
                    body.push(alphabet[code % alphabet.len()]);
                    code /= alphabet.len();
                }
                assert_eq!(
                    form_pairs(&body).collect::<Vec<_>>(),
                    reference(&body),
                    "{body:?}"
                );
            }
        }
    }

    #[test]
    fn token_response_is_the_json_it_was() {
        let token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln-_";
        for (scope, ttl) in [
            ("read:todos create:todos", 3600),
            ("", 1),
            ("q\"\\\u{1}", -5),
        ] {
            let body = token_response_json(token, ttl, scope).unwrap();
            let expected = serde_json::json!({
                "access_token": token,
                "token_type": "Bearer",
                "expires_in": ttl,
                "scope": scope,
            });
            assert_eq!(body, expected.to_string().into_bytes());
        }
    }
}
