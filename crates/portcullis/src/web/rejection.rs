//! [`AuthRejection`]: why a request was not let through, answered as RFC 6750 §3 says; and
//! [`Requirement`]: what a route requires of an authenticated request.
//!
//! | case | status | `WWW-Authenticate` |
//! | --- | --- | --- |
//! | no credentials (docs/security.md case 38), or another scheme (`Basic …`, case 39) | 401 | `Bearer realm="…"` (no `error`) |
//! | a malformed `Bearer` credential, two headers, header and query token (case 39) | 400 | `Bearer realm="…", error="invalid_request", …` |
//! | invalid token (case 40) | 401 | `Bearer realm="…", error="invalid_token", error_description="<reason code>"` |
//! | the session's sign-in has ended | 401 | `Bearer realm="…", error="invalid_token", error_description="session_expired"` |
//! | missing permission / role / organization / flag (case 41) | 403 | `Bearer realm="…", error="insufficient_scope", …` |
//! | the issuer's keys are unavailable | 503 | none; `Retry-After` |
//!
//! Every answer has a JSON body `{"error": …, "error_description": …}` and `Cache-Control:
//! no-store`. Descriptions name the failed check, never the token or a claim's value.

use std::borrow::Cow;
use std::fmt;

use crate::claims::Claims;
use crate::error::{Error, TokenError};
use crate::web::response::WebResponse;

/// What a route requires and the request's token or session does not grant.
///
/// ```
/// use portcullis::web::{AuthRejection, Requirement};
///
/// let admin = Requirement::Role("admin".into());
/// let claims = portcullis::Claims::default();
/// assert!(matches!(admin.check(&claims), Err(AuthRejection::InsufficientScope(_))));
/// assert_eq!(admin.to_string(), "the role admin is required");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Requirement {
    /// A permission (Kinde `permissions` claim), e.g. `read:todos`.
    Permission(Cow<'static, str>),
    /// A role key, e.g. `admin`.
    Role(Cow<'static, str>),
    /// Being signed into an organization (`org_code`), e.g. `org_acme`.
    Organization(Cow<'static, str>),
    /// A boolean feature flag that must be on (absent, off, or not a boolean: refused).
    FeatureFlag(Cow<'static, str>),
}

impl Requirement {
    /// Whether `claims` meet the requirement.
    pub fn is_met_by(&self, claims: &Claims) -> bool {
        match self {
            Requirement::Permission(p) => claims.has_permission(p),
            Requirement::Role(r) => claims.has_role(r),
            Requirement::Organization(o) => claims.org_code.as_deref() == Some(o.as_ref()),
            Requirement::FeatureFlag(f) => claims.bool_flag(f, Some(false)).unwrap_or(false),
        }
    }

    /// `Ok` when `claims` meet it, else the `insufficient_scope` rejection.
    pub fn check(&self, claims: &Claims) -> Result<(), AuthRejection> {
        if self.is_met_by(claims) {
            Ok(())
        } else {
            Err(AuthRejection::InsufficientScope(self.clone()))
        }
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Requirement::Permission(p) => write!(f, "the permission {p} is required"),
            Requirement::Role(r) => write!(f, "the role {r} is required"),
            Requirement::Organization(o) => {
                write!(f, "a sign-in to the organization {o} is required")
            }
            Requirement::FeatureFlag(k) => write!(f, "the feature flag {k} must be on"),
        }
    }
}

/// Why a request was refused by an extractor or a guard. See the [`web`](crate::web) module docs for the
/// answers; [`AuthRejection::response`] builds one.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum AuthRejection {
    /// No credentials: no `Authorization` header (or one of another scheme than `Bearer`,
    /// RFC 6750 §3.1) and no signed-in session. A token in the query string does not count
    /// (docs/security.md case 42).
    MissingCredentials,
    /// The `Authorization` header is malformed or ambiguous (RFC 6750 §3.1 `invalid_request`).
    InvalidRequest(&'static str),
    /// The token was rejected by the verifier (`invalid_token`).
    InvalidToken(TokenError),
    /// The session's sign-in has ended: its access token expired and could not be refreshed
    /// (no refresh token, or the provider refused it). The session no longer holds it: the
    /// user signs in again.
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
    pub fn status(&self) -> u16 {
        match self {
            AuthRejection::MissingCredentials
            | AuthRejection::InvalidToken(_)
            | AuthRejection::SessionExpired => 401,
            AuthRejection::InvalidRequest(_) => 400,
            AuthRejection::InsufficientScope(_) => 403,
            AuthRejection::Unavailable => 503,
            AuthRejection::Internal(_) => 500,
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

    /// The answer, with `realm` in `WWW-Authenticate`: status, headers, JSON body. An
    /// [`AuthRejection::Internal`] is logged here.
    pub fn response(&self, realm: &str) -> WebResponse {
        if let AuthRejection::Internal(what) = self {
            tracing::error!(what, "authentication failed on the server side");
        }
        let mut response =
            WebResponse::error(self.status(), self.error_code(), &self.description());
        if let Some(value) = self.www_authenticate(realm) {
            response = response.with_header("www-authenticate", value);
        }
        if matches!(self, AuthRejection::Unavailable) {
            response = response.with_header("retry-after", "5");
        }
        response
    }
}

impl fmt::Display for AuthRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.error_code(), self.description())
    }
}

impl std::error::Error for AuthRejection {}

/// A value fit for a quoted-string of `WWW-Authenticate` (RFC 9110 §5.6.4): no quote,
/// backslash, control or non-ASCII character.
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

    #[test]
    fn answers_carry_status_challenge_and_json_body() {
        let r = AuthRejection::SessionExpired.response("api");
        assert_eq!(r.status, 401);
        assert_eq!(r.header("cache-control"), Some("no-store"));
        assert!(
            r.header("www-authenticate")
                .is_some_and(|v| v.contains("session_expired"))
        );
        let body: serde_json::Value = serde_json::from_str(&r.body).unwrap_or_default();
        assert_eq!(body["error"], "invalid_token");
        let r = AuthRejection::Unavailable.response("api");
        assert_eq!((r.status, r.header("retry-after")), (503, Some("5")));
        assert_eq!(r.header("www-authenticate"), None);
    }
}
