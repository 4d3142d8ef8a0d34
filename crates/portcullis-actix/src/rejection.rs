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
//!
//! [`Rejection`] (an [`AuthRejection`] with the realm of its [`crate::Auth`]) implements
//! [`ResponseError`], so it is the error of every extractor of this crate and can be returned
//! from handlers with `?`.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use portcullis::{Error, TokenError};

use crate::guard::Requirement;

/// Why a request was refused by an extractor or a guard of this crate.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum AuthRejection {
    /// No credentials: no `Authorization` header and no signed-in session. A token in the
    /// query string does not count (security.md case 42).
    MissingCredentials,
    /// The `Authorization` header is malformed or ambiguous (RFC 6750 §3.1 `invalid_request`).
    InvalidRequest(&'static str),
    /// The token was rejected by the verifier (`invalid_token`).
    InvalidToken(TokenError),
    /// A valid token without what the route requires (`insufficient_scope`).
    InsufficientScope(Requirement),
    /// The issuer's signing keys (or its token endpoint, for a session refresh) could not be
    /// reached: the credentials may be fine, the client should retry.
    Unavailable,
    /// A server-side problem (configuration, the session store). Logged; answered as a
    /// generic 500.
    Internal(&'static str),
}

// The status codes, error codes, descriptions and `WWW-Authenticate` values below are
// shared with portcullis-axum; to move into the SDK (they know no framework).
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
            AuthRejection::MissingCredentials | AuthRejection::InvalidToken(_) => {
                StatusCode::UNAUTHORIZED
            }
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
            AuthRejection::InvalidToken(_) => "invalid_token",
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
    pub fn response_with_realm(&self, realm: &str) -> HttpResponse {
        if let AuthRejection::Internal(what) = self {
            tracing::error!(what, "authentication failed on the server side");
        }
        let mut response = HttpResponse::build(self.status());
        response.insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")));
        if let Some(value) = self.www_authenticate(realm)
            && let Ok(value) = HeaderValue::from_str(&value)
        {
            response.insert_header((header::WWW_AUTHENTICATE, value));
        }
        if matches!(self, AuthRejection::Unavailable) {
            response.insert_header((header::RETRY_AFTER, HeaderValue::from_static("5")));
        }
        response.json(serde_json::json!({
            "error": self.error_code(),
            "error_description": self.description(),
        }))
    }
}

impl fmt::Display for AuthRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.error_code(), self.description())
    }
}

/// Answers with the default realm (`api`); extractors answer with [`Rejection`], which carries
/// the configured one.
impl ResponseError for AuthRejection {
    fn status_code(&self) -> StatusCode {
        self.status()
    }

    fn error_response(&self) -> HttpResponse {
        self.response_with_realm(crate::auth::DEFAULT_REALM)
    }
}

/// A rejection and the realm to answer it with: the error of this crate's extractors (the
/// realm comes from the [`crate::Auth`] they found in the app data).
#[derive(Debug, Clone)]
pub struct Rejection {
    /// Why.
    pub reason: AuthRejection,
    pub(crate) realm: Arc<str>,
}

impl Rejection {
    pub(crate) fn new(reason: AuthRejection, realm: Arc<str>) -> Self {
        Rejection { reason, realm }
    }

    /// The answer: status, `WWW-Authenticate` with the realm, JSON body.
    pub fn response(&self) -> HttpResponse {
        self.reason.response_with_realm(&self.realm)
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.reason.fmt(f)
    }
}

impl ResponseError for Rejection {
    fn status_code(&self) -> StatusCode {
        self.reason.status()
    }

    fn error_response(&self) -> HttpResponse {
        self.response()
    }
}

// shared with portcullis-axum; to move into the SDK
/// A value fit for a quoted-string of `WWW-Authenticate` (RFC 9110 §5.6.4): no quote,
/// backslash or control character.
pub(crate) fn quoted(value: &str) -> String {
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
        let v = AuthRejection::MissingCredentials.www_authenticate("api");
        assert_eq!(v.as_deref(), Some("Bearer realm=\"api\""));
    }

    #[test]
    fn insufficient_permission_names_the_scope() {
        let v = AuthRejection::InsufficientScope(Requirement::Permission("read:todos".into()))
            .www_authenticate("a\"pi")
            .unwrap_or_default();
        assert!(v.starts_with("Bearer realm=\"api\", error=\"insufficient_scope\""));
        assert!(v.ends_with("scope=\"read:todos\""));
    }
}
