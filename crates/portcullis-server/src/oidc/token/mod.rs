//! `POST /oauth2/token` (RFC 6749 §3.2): the request is read into a [`TokenRequest`], one
//! variant per `grant_type`, each grant in its own module:
//!
//! - [`authorization_code`]: a code (and PKCE verifier) for user tokens;
//! - [`refresh_token`]: rotation with reuse detection;
//! - [`client_credentials`]: machine-to-machine tokens for a granted API;
//! - [`password`]: the resource-owner password grant, for applications that enabled it.
//!
//! Every grant returns a [`TokenResponse`]; [`user_tokens`] builds the tokens of the user
//! grants and [`claims`] the token payloads. The handler reads the form, authenticates the
//! client as the grant requires ([`GrantType::client_authentication`]), checks the client may
//! use the grant, and renders the outcome — in that order, so a request that fails several
//! checks is always answered with the same error.

mod authorization_code;
mod claims;
mod client_credentials;
mod password;
mod refresh_token;
mod user_tokens;

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest as _, Request, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::AppState;
use crate::error::OAuthError;
use crate::oidc::Form;
use crate::oidc::client_auth::{self, ClientAuthentication};
use crate::oidc::form::read_form;
use crate::store::ApplicationRecord;

/// The `grant_type` of a token request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GrantType {
    /// RFC 6749 §4.1.3.
    AuthorizationCode,
    /// RFC 6749 §6.
    RefreshToken,
    /// RFC 6749 §4.4.
    ClientCredentials,
    /// RFC 6749 §4.3.
    Password,
}

impl GrantType {
    /// The grants discovery advertises: the password grant is for the applications that
    /// enabled it, not for clients discovering what to use.
    pub(crate) const ADVERTISED: [GrantType; 3] = [
        GrantType::AuthorizationCode,
        GrantType::RefreshToken,
        GrantType::ClientCredentials,
    ];

    /// The request's `grant_type`.
    fn parse(form: &Form) -> Result<GrantType, OAuthError> {
        match form.get("grant_type") {
            None => Err(OAuthError::invalid_request("grant_type is missing")),
            Some("authorization_code") => Ok(GrantType::AuthorizationCode),
            Some("refresh_token") => Ok(GrantType::RefreshToken),
            Some("client_credentials") => Ok(GrantType::ClientCredentials),
            Some("password") => Ok(GrantType::Password),
            Some(_) => Err(OAuthError::unsupported_grant_type(
                "grant_type must be authorization_code, refresh_token, client_credentials or password",
            )),
        }
    }

    /// The wire name.
    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            GrantType::AuthorizationCode => "authorization_code",
            GrantType::RefreshToken => "refresh_token",
            GrantType::ClientCredentials => "client_credentials",
            GrantType::Password => "password",
        }
    }

    /// How the client of this grant authenticates: the user grants of public clients by id
    /// alone; `client_credentials` and `password` always with the secret.
    const fn client_authentication(self) -> ClientAuthentication {
        match self {
            GrantType::AuthorizationCode | GrantType::RefreshToken => {
                ClientAuthentication::SecretOrPublic
            }
            GrantType::ClientCredentials | GrantType::Password => ClientAuthentication::Secret,
        }
    }
}

/// A token request: its grant and that grant's parameters, borrowed from the form.
pub(crate) enum TokenRequest<'f> {
    AuthorizationCode(authorization_code::CodeRequest<'f>),
    RefreshToken(refresh_token::RefreshRequest<'f>),
    ClientCredentials(client_credentials::ClientCredentialsRequest<'f>),
    Password(password::PasswordRequest<'f>),
}

impl<'f> TokenRequest<'f> {
    /// The parameters of `grant` in `form`, once `app` (the authenticated client) is found
    /// allowed to use it (`unauthorized_client` otherwise).
    pub(crate) fn parse(
        grant: GrantType,
        app: &ApplicationRecord,
        form: &'f Form,
    ) -> Result<TokenRequest<'f>, OAuthError> {
        Ok(match grant {
            GrantType::AuthorizationCode => {
                TokenRequest::AuthorizationCode(authorization_code::CodeRequest::parse(app, form)?)
            }
            GrantType::RefreshToken => {
                TokenRequest::RefreshToken(refresh_token::RefreshRequest::parse(form)?)
            }
            GrantType::ClientCredentials => TokenRequest::ClientCredentials(
                client_credentials::ClientCredentialsRequest::parse(app, form)?,
            ),
            GrantType::Password => {
                TokenRequest::Password(password::PasswordRequest::parse(app, form)?)
            }
        })
    }
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
    let peer = crate::proxies::client_addr(&state, &parts);
    let headers = std::mem::take(&mut parts.headers);
    // The body limit (`DefaultBodyLimit`) travels in the extensions, which stay with the body.
    let body = Bytes::from_request(Request::from_parts(parts, body), &()).await;
    let result = async {
        let form = read_form(&headers, body)?;
        let grant = GrantType::parse(&form)?;
        let how = grant.client_authentication();
        let client = client_auth::authenticate(how, &state, &headers, &form, peer).await?;
        let app = &client.app;
        let tokens = match TokenRequest::parse(grant, app, &form)? {
            TokenRequest::AuthorizationCode(r) => {
                authorization_code::exchange(&state, app, r).await?
            }
            TokenRequest::RefreshToken(r) => refresh_token::exchange(&state, app, r).await?,
            TokenRequest::ClientCredentials(r) => {
                client_credentials::issue(&state, &client, r).await?
            }
            TokenRequest::Password(r) => password::sign_in(&state, app, r, peer).await?,
        };
        crate::metrics::tokens_issued(&state, grant.as_str());
        tokens.into_http()
    }
    .await;
    if let Err(e) = &result {
        crate::metrics::token_error(&state, e.code());
    }
    result
}

/// Any other method on `/oauth2/token`: 405 with `Allow: POST`, in the endpoint's own error
/// format and never cached (docs/security.md case 73).
pub(crate) async fn token_method_not_allowed() -> Response {
    let mut response = OAuthError::method_not_allowed().into_response();
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("POST"));
    response
}

/// A successful token response (RFC 6749 §5.1), whatever the grant.
#[derive(Debug)]
pub(crate) struct TokenResponse {
    /// A compact JWS from [`crate::keys::ActiveKey::sign_jwt`].
    pub(crate) access_token: String,
    pub(crate) expires_in: i64,
    /// A compact JWS too, when the grant includes `openid`.
    pub(crate) id_token: Option<String>,
    /// A new refresh token (base64url), when the grant includes `offline`.
    pub(crate) refresh_token: Option<String>,
    pub(crate) scope: String,
}

impl TokenResponse {
    /// `{"access_token", "expires_in", "id_token"?, "refresh_token"?, "scope", "token_type":
    /// "Bearer"}`, members in lexicographic order (as a `serde_json` map writes them). The
    /// tokens are JWS or base64url — letters, digits, `-`, `_` and dots, which JSON never
    /// escapes — so they are copied as they are rather than scanned.
    fn to_json(&self) -> Result<Vec<u8>, serde_json::Error> {
        use std::io::Write as _;
        let plain = |token: &str| {
            token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        };
        let tokens = [
            Some(&self.access_token),
            self.id_token.as_ref(),
            self.refresh_token.as_ref(),
        ];
        debug_assert!(tokens.iter().flatten().all(|t| plain(t)));
        let len: usize = tokens.iter().flatten().map(|t| t.len()).sum();
        let mut body = Vec::with_capacity(len + self.scope.len() + 128);
        body.extend_from_slice(b"{\"access_token\":\"");
        body.extend_from_slice(self.access_token.as_bytes());
        write!(body, "\",\"expires_in\":{}", self.expires_in).map_err(serde_json::Error::io)?;
        for (name, token) in [
            ("id_token", &self.id_token),
            ("refresh_token", &self.refresh_token),
        ] {
            if let Some(token) = token {
                write!(body, ",\"{name}\":").map_err(serde_json::Error::io)?;
                serde_json::to_writer(&mut body, token)?;
            }
        }
        body.extend_from_slice(b",\"scope\":");
        serde_json::to_writer(&mut body, &self.scope)?;
        body.extend_from_slice(b",\"token_type\":\"Bearer\"}");
        Ok(body)
    }

    /// The HTTP answer: JSON, never cached (RFC 6749 §5.1).
    fn into_http(self) -> Result<Response, OAuthError> {
        let body = self.to_json().map_err(|e| OAuthError::server_error(&e))?;
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_response_is_the_json_it_was() {
        let token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln-_";
        for (scope, ttl, id_token, refresh_token) in [
            ("read:todos create:todos", 3600, None, None),
            ("", 1, Some(token), None),
            ("q\"\\\u{1}", -5, None, Some("rt-_x")),
            ("openid offline", 60, Some(token), Some("rt-_x")),
        ] {
            let response = TokenResponse {
                access_token: token.to_owned(),
                expires_in: ttl,
                id_token: id_token.map(str::to_owned),
                refresh_token: refresh_token.map(str::to_owned),
                scope: scope.to_owned(),
            };
            let mut expected = serde_json::json!({
                "access_token": token,
                "token_type": "Bearer",
                "expires_in": ttl,
                "scope": scope,
            });
            if let Some(t) = id_token {
                expected["id_token"] = t.into();
            }
            if let Some(t) = refresh_token {
                expected["refresh_token"] = t.into();
            }
            assert_eq!(
                response.to_json().unwrap(),
                expected.to_string().into_bytes()
            );
        }
    }
}
