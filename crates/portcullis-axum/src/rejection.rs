//! [`AuthRejection`]: why a request was not let through, answered as RFC 6750 §3 says.
//!
//! | case | status | `WWW-Authenticate` |
//! | --- | --- | --- |
//! | no credentials (security.md case 38) | 401 | `Bearer realm="…"` (no `error`) |
//! | malformed or duplicated credentials (case 39) | 400 | `Bearer realm="…", error="invalid_request", …` |
//! | invalid token (case 40) | 401 | `Bearer realm="…", error="invalid_token", error_description="<reason code>"` |
//! | missing permission / role / organization / flag (case 41) | 403 | `Bearer realm="…", error="insufficient_scope", …` |
//! | the issuer's keys are unavailable | 503 | none; `Retry-After` |
//!
//! Every answer has a JSON body `{"error": …, "error_description": …}` and `Cache-Control:
//! no-store`. Descriptions name the failed check, never the token or a claim's value.

use std::borrow::Cow;
use std::fmt;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use portcullis::{Error, TokenError};

use crate::guard::Requirement;

/// Why a request was refused by an extractor or a guard of this crate. Implements
/// [`IntoResponse`] with the status, `WWW-Authenticate` header and JSON body of the [module
/// docs](self).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum AuthRejection {
    /// No credentials: no `Authorization` header and no signed-in session. A token in the
    /// query string does not count (security.md case 42).
    MissingCredentials,
    /// The `Authorization` header is malformed or ambiguous (RFC 6750 §3.1 `invalid_request`).
    InvalidRequest(&'static str),
    /// The token was rejected by the verifier (`invalid_token`), or the session's tokens could
    /// not be renewed.
    InvalidToken(TokenError),
    /// The session's sign-in has ended: its access token expired and could not be refreshed.
    SessionExpired,
    /// A valid token without what the route requires (`insufficient_scope`).
    InsufficientScope(Requirement),
    /// The issuer's signing keys (or its token endpoint, for a session refresh) could not be
    /// reached: the credentials may be fine, the client should retry.
    Unavailable,
    /// A server-side problem (configuration, the session store). Logged; answered as a generic
    /// 500.
    Internal(&'static str),
}

impl AuthRejection {
    /// The rejection for a verifier error.
    pub fn from_error(error: &Error) -> Self {
        match error {
            Error::Token(t) if t.http_status() == 503 => AuthRejection::Unavailable,
            Error::Token(t) => AuthRejection::InvalidToken(t.clone()),
            Error::Fetch(_) => AuthRejection::Unavailable,
            _ => AuthRejection::Internal("the token could not be checked"),
        }
    }

    /// The HTTP status of the answer.
    pub fn status(&self) -> StatusCode {
        match self {
            AuthRejection::MissingCredentials
            | AuthRejection::InvalidToken(_)
            | AuthRejection::SessionExpired => StatusCode::UNAUTHORIZED,
            AuthRejection::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            AuthRejection::InsufficientScope(_) => StatusCode::FORBIDDEN,
            AuthRejection::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            AuthRejection::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The `error` code of the body (and of `WWW-Authenticate`, where there is one).
    pub fn error_code(&self) -> &'static str {
        match self {
            AuthRejection::MissingCredentials => "unauthenticated",
            AuthRejection::InvalidRequest(_) => "invalid_request",
            AuthRejection::InvalidToken(_) | AuthRejection::SessionExpired => "invalid_token",
            AuthRejection::InsufficientScope(_) => "insufficient_scope",
            AuthRejection::Unavailable => "temporarily_unavailable",
            AuthRejection::Internal(_) => "server_error",
        }
    }

    /// The human-readable description (never the token or a claim's value).
    pub fn description(&self) -> Cow<'static, str> {
        match self {
            AuthRejection::MissingCredentials => Cow::Borrowed(
                "authentication is required: sign in, or send an access token as Authorization: Bearer",
            ),
            AuthRejection::InvalidRequest(why) => Cow::Borrowed(why),
            AuthRejection::InvalidToken(t) => {
                Cow::Owned(format!("the access token was rejected ({})", t.reason()))
            }
            AuthRejection::SessionExpired => {
                Cow::Borrowed("the sign-in has expired: sign in again")
            }
            AuthRejection::InsufficientScope(r) => Cow::Owned(r.to_string()),
            AuthRejection::Unavailable => {
                Cow::Borrowed("the token cannot be checked right now: retry shortly")
            }
            AuthRejection::Internal(_) => Cow::Borrowed("internal error"),
        }
    }

    /// The `WWW-Authenticate` value for `realm` (RFC 6750 §3), if this rejection has one.
    pub fn www_authenticate(&self, realm: &str) -> Option<String> {
        let realm = quoted(realm);
        match self {
            // Case 38: no error attribute when the request carried no credentials (§3.1).
            AuthRejection::MissingCredentials => Some(format!("Bearer realm=\"{realm}\"")),
            AuthRejection::InvalidToken(t) => Some(t.www_authenticate(&realm)),
            AuthRejection::SessionExpired => Some(format!(
                "Bearer realm=\"{realm}\", error=\"invalid_token\", error_description=\"session_expired\""
            )),
            AuthRejection::InvalidRequest(why) => Some(format!(
                "Bearer realm=\"{realm}\", error=\"invalid_request\", error_description=\"{}\"",
                quoted(why)
            )),
            AuthRejection::InsufficientScope(r) => {
                let mut value = format!(
                    "Bearer realm=\"{realm}\", error=\"insufficient_scope\", error_description=\"{}\"",
                    quoted(&r.to_string())
                );
                if let Requirement::Permission(p) = r {
                    value.push_str(&format!(", scope=\"{}\"", quoted(p)));
                }
                Some(value)
            }
            AuthRejection::Unavailable | AuthRejection::Internal(_) => None,
        }
    }

    /// The response, with `realm` in `WWW-Authenticate`.
    pub fn into_response_with_realm(self, realm: &str) -> Response {
        if let AuthRejection::Internal(what) = &self {
            tracing::error!(what, "authentication failed on the server side");
        }
        let body = serde_json::json!({
            "error": self.error_code(),
            "error_description": self.description(),
        });
        let mut response = (self.status(), axum::Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(value) = self.www_authenticate(realm)
            && let Ok(value) = HeaderValue::from_str(&value)
        {
            headers.insert(header::WWW_AUTHENTICATE, value);
        }
        if matches!(self, AuthRejection::Unavailable) {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        response
    }
}

/// A rejection and the realm to answer it with: what extractors return (the realm comes from
/// the [`crate::Auth`] they were built with).
#[derive(Debug, Clone)]
pub struct Rejection {
    /// Why.
    pub reason: AuthRejection,
    pub(crate) realm: std::sync::Arc<str>,
}

impl Rejection {
    pub(crate) fn new(reason: AuthRejection, realm: std::sync::Arc<str>) -> Self {
        Rejection { reason, realm }
    }
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        self.reason.into_response_with_realm(&self.realm)
    }
}

impl IntoResponse for AuthRejection {
    /// Answers with the default realm (`api`); extractors answer with [`Rejection`], which
    /// carries the configured one.
    fn into_response(self) -> Response {
        self.into_response_with_realm(crate::auth::DEFAULT_REALM)
    }
}

impl fmt::Display for AuthRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.error_code(), self.description())
    }
}

impl std::error::Error for AuthRejection {}

/// A value fit for a quoted-string of `WWW-Authenticate` (RFC 9110 §5.6.4): no quote, backslash
/// or control character.
fn quoted(value: &str) -> String {
    value
        .chars()
        .filter(|c| *c != '"' && *c != '\\' && !c.is_control() && c.is_ascii())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_credentials_has_no_error_attribute() {
        let v = AuthRejection::MissingCredentials
            .www_authenticate("api")
            .unwrap();
        assert_eq!(v, "Bearer realm=\"api\"");
    }

    #[test]
    fn insufficient_permission_names_the_scope() {
        let v = AuthRejection::InsufficientScope(Requirement::Permission("read:todos".into()))
            .www_authenticate("a\"pi")
            .unwrap();
        assert!(v.starts_with("Bearer realm=\"api\", error=\"insufficient_scope\""));
        assert!(v.ends_with("scope=\"read:todos\""));
    }
}
