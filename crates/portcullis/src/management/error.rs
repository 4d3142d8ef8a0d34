//! [`ManagementError`]: why a management API call failed, with the HTTP status, the API's error
//! codes and messages, and the request id when the server sent one.
//!
//! Error bodies come in three shapes, all read:
//! - `{"errors": [{"code": "…", "message": "…"}, …]}` (validation and most errors);
//! - `{"errors": {"code": "ROUTE_NOT_FOUND", "message": "…"}}` (Kinde's unknown route);
//! - the envelope `{"code": "…", "message": "…"}`;
//!
//! and, for completeness, an OAuth-style `{"error": "…", "error_description": "…"}`.
//!
//! The request id is read from the first of these response headers that is present:
//! `x-request-id`, `kinde-request-id`, `request-id`.
//!
//! No message here ever contains the access token: errors are built from the method, the path
//! (without its query, which may hold an email), the status and the server's error body.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use crate::error::ConfigError;

/// The response headers a request id is read from, first match wins.
pub const REQUEST_ID_HEADERS: [&str; 3] = ["x-request-id", "kinde-request-id", "request-id"];

/// How much of a body that is not an error document an error quotes.
const SNIPPET_CHARS: usize = 200;

/// Why a management API call failed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ManagementError {
    /// The API answered with an error status (4xx or 5xx, after any retries).
    #[error(transparent)]
    Api(Box<ApiError>),
    /// No access token could be obtained for the management API (`client_credentials` with
    /// the management audience was refused, or the token endpoint could not be reached).
    #[error("could not get a management API token: {0}")]
    Token(#[source] crate::Error),
    /// The request could not be sent, or the response not read (connection refused, DNS, TLS,
    /// timeout, a body over the size cap).
    #[error("{method} {path} failed: {message}")]
    Transport {
        /// The HTTP method.
        method: &'static str,
        /// The request path (without the query).
        path: String,
        /// What went wrong.
        message: String,
        /// Whether the request timed out.
        timed_out: bool,
    },
    /// The API answered with a success status but a body that is not what the operation
    /// returns (not JSON, a missing member, a wrong type).
    #[error("{method} {path} answered HTTP {status} with an unexpected body: {message}")]
    InvalidResponse {
        /// The HTTP method.
        method: &'static str,
        /// The request path (without the query).
        path: String,
        /// The HTTP status.
        status: u16,
        /// What is wrong with the body.
        message: String,
        /// The request id, when a header gave one.
        request_id: Option<String>,
    },
    /// An argument cannot be sent (an empty id, `.` or `..` as an id, more than 100 items in a
    /// bulk body). Nothing was sent.
    #[error("invalid argument {name}: {problem}")]
    InvalidArgument {
        /// The argument.
        name: &'static str,
        /// What is wrong with it.
        problem: String,
    },
    /// The client's configuration is incomplete or invalid (e.g. no client secret).
    #[error(transparent)]
    Config(#[from] ConfigError),
}

impl ManagementError {
    /// The HTTP status of an API error or an invalid response.
    pub fn status(&self) -> Option<u16> {
        match self {
            ManagementError::Api(e) => Some(e.status),
            ManagementError::InvalidResponse { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The API error details, when the API answered with an error status.
    pub fn api_error(&self) -> Option<&ApiError> {
        match self {
            ManagementError::Api(e) => Some(e),
            _ => None,
        }
    }

    /// The API's error codes (e.g. `USER_NOT_FOUND`), empty when there are none.
    pub fn codes(&self) -> Vec<&str> {
        match self {
            ManagementError::Api(e) => e.errors.iter().filter_map(|d| d.code.as_deref()).collect(),
            _ => Vec::new(),
        }
    }

    /// Whether one of the API's error codes is `code`.
    pub fn has_code(&self, code: &str) -> bool {
        self.codes().contains(&code)
    }

    /// The request id the server gave (see [`REQUEST_ID_HEADERS`]).
    pub fn request_id(&self) -> Option<&str> {
        match self {
            ManagementError::Api(e) => e.request_id.as_deref(),
            ManagementError::InvalidResponse { request_id, .. } => request_id.as_deref(),
            _ => None,
        }
    }

    /// Whether the API said the thing does not exist (HTTP 404).
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    /// Whether the API refused the credentials or their scopes (Kinde answers 403 for both; 401
    /// is accepted too).
    pub fn is_forbidden(&self) -> bool {
        matches!(self.status(), Some(401 | 403))
    }

    /// How long the server asked to wait before trying again (429 and 503 answers with
    /// `RateLimit-Reset` or `Retry-After`), when the client gave up instead of waiting.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ManagementError::Api(e) => e.retry_after,
            _ => None,
        }
    }

    pub(crate) fn invalid_argument(name: &'static str, problem: impl Into<String>) -> Self {
        ManagementError::InvalidArgument {
            name,
            problem: problem.into(),
        }
    }
}

/// An error answer of the API.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ApiError {
    /// The HTTP method of the request.
    pub method: &'static str,
    /// The request path (without the query).
    pub path: String,
    /// The HTTP status.
    pub status: u16,
    /// The errors the body listed (one for the envelope and object shapes; none when the body
    /// was not an error document).
    pub errors: Vec<ErrorDetail>,
    /// The request id, when a header gave one.
    pub request_id: Option<String>,
    /// How long the server asked to wait (`RateLimit-Reset` / `Retry-After`), if it said.
    pub retry_after: Option<Duration>,
    /// The start of a body that was not an error document (HTML from a proxy, plain text).
    pub body_snippet: Option<String>,
}

/// One `{code, message}` of an error answer.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct ErrorDetail {
    /// The error code, e.g. `USER_NOT_FOUND`, `INVALID_EMAIL`.
    #[serde(default, deserialize_with = "lenient_string")]
    pub code: Option<String>,
    /// The human-readable message.
    #[serde(default, deserialize_with = "lenient_string")]
    pub message: Option<String>,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} answered HTTP {}",
            self.method, self.path, self.status
        )?;
        let mut first = true;
        for detail in &self.errors {
            f.write_str(if first { ": " } else { "; " })?;
            first = false;
            match (&detail.code, &detail.message) {
                (Some(c), Some(m)) => write!(f, "{c} ({m})")?,
                (Some(c), None) => f.write_str(c)?,
                (None, Some(m)) => f.write_str(m)?,
                (None, None) => f.write_str("unknown error")?,
            }
        }
        if self.errors.is_empty()
            && let Some(snippet) = &self.body_snippet
        {
            write!(f, ": {snippet:?}")?;
        }
        if let Some(id) = &self.request_id {
            write!(f, " [request id {id}]")?;
        }
        Ok(())
    }
}

impl std::error::Error for ApiError {}

/// Strings, numbers and booleans as a string; anything else as absent (an error body is read
/// for what it says, and a strange one must not hide the status).
fn lenient_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => Some(s),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    })
}

/// The `{code, message}` pairs of an error body, in any of the shapes the API uses; `None` when
/// the body is not an error document at all.
pub(crate) fn parse_error_body(body: &[u8]) -> Option<Vec<ErrorDetail>> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let object = value.as_object()?;
    // A bare string is a message without a code.
    let detail = |v: &Value| match v {
        Value::String(s) => Some(ErrorDetail {
            code: None,
            message: Some(s.clone()),
        }),
        _ => ErrorDetail::deserialize(v).ok(),
    };
    if let Some(errors) = object.get("errors") {
        return match errors {
            Value::Array(items) => Some(items.iter().filter_map(detail).collect()),
            Value::Object(_) | Value::String(_) => detail(errors).map(|d| vec![d]),
            _ => None,
        };
    }
    if object.contains_key("code") || object.contains_key("message") {
        return detail(&value).map(|d| vec![d]);
    }
    if let Some(error) = object.get("error") {
        // OAuth style (RFC 6749 §5.2), as a gateway in front of the API may answer.
        let code = match error {
            Value::String(s) => Some(s.clone()),
            _ => None,
        };
        let message = object
            .get("error_description")
            .and_then(Value::as_str)
            .map(str::to_owned);
        return Some(vec![ErrorDetail { code, message }]);
    }
    None
}

/// The start of a body, for an error that could not read it as an error document.
pub(crate) fn snippet(body: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let mut out: String = text.chars().take(SNIPPET_CHARS).collect();
    if text.chars().count() > SNIPPET_CHARS {
        out.push('…');
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn details(body: &str) -> Vec<(Option<String>, Option<String>)> {
        parse_error_body(body.as_bytes())
            .expect("an error document")
            .into_iter()
            .map(|d| (d.code, d.message))
            .collect()
    }

    fn pair(code: &str, message: &str) -> (Option<String>, Option<String>) {
        (Some(code.to_owned()), Some(message.to_owned()))
    }

    #[test]
    fn errors_as_an_array() {
        let d = details(
            r#"{"errors":[{"code":"INVALID_EMAIL","message":"Invalid email"},
                {"code":"NAME_REQUIRED","message":"Name is required"}]}"#,
        );
        assert_eq!(
            d,
            [
                pair("INVALID_EMAIL", "Invalid email"),
                pair("NAME_REQUIRED", "Name is required")
            ]
        );
    }

    #[test]
    fn errors_as_an_object() {
        let d = details(
            r#"{"errors":{"code":"ROUTE_NOT_FOUND","message":"The requested API route does not exist"}}"#,
        );
        assert_eq!(
            d,
            [pair(
                "ROUTE_NOT_FOUND",
                "The requested API route does not exist"
            )]
        );
    }

    #[test]
    fn envelope_code_and_message() {
        let d = details(r#"{"code":"USER_NOT_FOUND","message":"No user with this id"}"#);
        assert_eq!(d, [pair("USER_NOT_FOUND", "No user with this id")]);
    }

    #[test]
    fn oauth_style_error() {
        let d = details(r#"{"error":"invalid_token","error_description":"expired"}"#);
        assert_eq!(d, [pair("invalid_token", "expired")]);
    }

    #[test]
    fn odd_members_do_not_hide_the_rest() {
        // A numeric code, a bare string, a number item (dropped), an extra member.
        let d = details(r#"{"errors":[{"code":42},"text",7,{"message":"m","extra":[1]}]}"#);
        assert_eq!(
            d,
            [
                (Some("42".to_owned()), None),
                (None, Some("text".to_owned())),
                (None, Some("m".to_owned()))
            ]
        );
        assert_eq!(
            details(r#"{"errors":"plain"}"#),
            [(None, Some("plain".to_owned()))]
        );
    }

    #[test]
    fn non_error_documents_are_none() {
        for body in [
            "",
            "<html>Bad gateway</html>",
            "[1,2]",
            "{}",
            r#"{"users":[]}"#,
            "null",
        ] {
            assert!(parse_error_body(body.as_bytes()).is_none(), "{body}");
        }
    }

    #[test]
    fn snippets_are_capped() {
        assert_eq!(snippet(b"  "), None);
        assert_eq!(snippet(b" Bad gateway\n").as_deref(), Some("Bad gateway"));
        let long = "x".repeat(500);
        let s = snippet(long.as_bytes()).unwrap();
        assert_eq!(s.chars().count(), SNIPPET_CHARS + 1);
    }

    #[test]
    fn display_names_status_codes_and_request_id() {
        let e = ManagementError::Api(Box::new(ApiError {
            method: "GET",
            path: "/api/v1/user".to_owned(),
            status: 404,
            errors: vec![ErrorDetail {
                code: Some("USER_NOT_FOUND".to_owned()),
                message: Some("No user".to_owned()),
            }],
            request_id: Some("req-1".to_owned()),
            retry_after: None,
            body_snippet: None,
        }));
        assert_eq!(
            e.to_string(),
            "GET /api/v1/user answered HTTP 404: USER_NOT_FOUND (No user) [request id req-1]"
        );
        assert_eq!(e.status(), Some(404));
        assert!(e.is_not_found());
        assert!(e.has_code("USER_NOT_FOUND"));
        assert_eq!(e.request_id(), Some("req-1"));
    }
}
