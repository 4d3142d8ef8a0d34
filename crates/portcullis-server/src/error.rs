//! Errors. Policy: an internal error is logged and answered as a generic 500 (never leaked);
//! protocol errors are answered in the protocol's own format (RFC 6749 §5.2 JSON).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// Seconds a client is told to wait (`Retry-After`) when the database is unavailable.
pub const UNAVAILABLE_RETRY_AFTER_SECS: u64 = 5;

/// A database failure or misconfiguration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database cannot serve the request just now, and may again soon without anyone
    /// changing anything: it cannot be reached (no connection within the acquire timeout, a
    /// connection lost), it is shutting down or starting, it cannot take writes (disk full,
    /// read-only, an I/O error), or it is busy (locked, a transaction lost a race). Answered
    /// 503 with `Retry-After`; nothing was acknowledged.
    #[error("database unavailable: {0}")]
    Unavailable(sqlx::Error),
    /// The connection was lost while a transaction was being committed: the write may or may
    /// not have been saved. Answered like [`StoreError::Unavailable`], and never repeated.
    #[error("database unavailable while committing (outcome unknown): {0}")]
    CommitUnknown(sqlx::Error),
    /// The database answered with any other error.
    #[error("database error: {0}")]
    Database(sqlx::Error),
    /// The database URL or schema is not usable.
    #[error("database configuration: {0}")]
    Config(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if is_unavailable(&e) {
            StoreError::Unavailable(e)
        } else {
            StoreError::Database(e)
        }
    }
}

impl StoreError {
    /// Whether this is [`StoreError::Unavailable`] or [`StoreError::CommitUnknown`]: retrying
    /// later may succeed.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            StoreError::Unavailable(_) | StoreError::CommitUnknown(_)
        )
    }

    /// Whether the connection was lost before the database answered (a network failure, the
    /// server ending the connection) — outside a commit: repeating the work on another
    /// connection is safe when the work was a read or an uncommitted transaction.
    pub(crate) fn connection_lost(&self) -> bool {
        let StoreError::Unavailable(e) = self else {
            return false;
        };
        match e {
            sqlx::Error::Io(_) | sqlx::Error::WorkerCrashed => true,
            sqlx::Error::Database(d) => d
                .code()
                .is_some_and(|c| c.starts_with("08") || matches!(&*c, "57P01" | "57P02")),
            _ => false,
        }
    }

    /// The database's own error, whichever way it was classified.
    pub fn sqlx(&self) -> Option<&sqlx::Error> {
        match self {
            StoreError::Unavailable(e) | StoreError::CommitUnknown(e) | StoreError::Database(e) => {
                Some(e)
            }
            StoreError::Config(_) => None,
        }
    }
}

/// Whether `e` says the database is unavailable for now rather than that the request is wrong
/// or the data broken (see [`StoreError::Unavailable`]).
fn is_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_) => true,
        sqlx::Error::Database(d) => {
            if d.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                // Primary result codes (the low byte of the extended code): BUSY, LOCKED,
                // NOMEM, READONLY, IOERR, FULL, CANTOPEN, PROTOCOL.
                d.code()
                    .and_then(|c| c.parse::<u32>().ok())
                    .is_some_and(|code| matches!(code & 0xff, 5 | 6 | 7 | 8 | 10 | 13 | 14 | 15))
            } else {
                // PostgreSQL SQLSTATE: connection exceptions (08), insufficient resources such
                // as a full disk (53), shutdown or start-up (57P01-57P03), system I/O errors
                // (58), a read-only transaction (25006: a standby after a fail-over), and a
                // transaction that lost a race (40001 serialization, 40P01 deadlock).
                d.code().is_some_and(|c| {
                    c.starts_with("08")
                        || c.starts_with("53")
                        || c.starts_with("58")
                        || matches!(
                            &*c,
                            "57P01" | "57P02" | "57P03" | "25006" | "40001" | "40P01"
                        )
                })
            }
        }
        _ => false,
    }
}

/// A failure of the server's own machinery (storage, keys).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Key generation, sealing or signing failed.
    #[error("key error: {0}")]
    Keys(String),
    /// The configuration or seed file is invalid.
    #[error("configuration error: {0}")]
    Config(String),
}

impl From<sqlx::Error> for ServerError {
    fn from(e: sqlx::Error) -> Self {
        ServerError::Store(StoreError::from(e))
    }
}

impl ServerError {
    /// Whether the database is unavailable for now (see [`StoreError::Unavailable`]).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, ServerError::Store(e) if e.is_unavailable())
    }
}

/// An RFC 6749 §5.2 error answer: `{"error", "error_description"}` with the right status,
/// `Cache-Control: no-store`, and `WWW-Authenticate` for `invalid_client`.
#[derive(Debug)]
pub struct OAuthError {
    status: StatusCode,
    code: &'static str,
    description: String,
    challenge: Option<Challenge>,
    retry_after: Option<i64>,
}

/// The `WWW-Authenticate` challenge of a 401.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Challenge {
    /// Client authentication failed (RFC 6749 §5.2).
    Basic,
    /// The bearer token a caller authenticated with is not valid (RFC 6750 §3.1).
    BearerInvalidToken,
}

impl OAuthError {
    fn new(status: StatusCode, code: &'static str, description: impl Into<String>) -> Self {
        OAuthError {
            status,
            code,
            description: description.into(),
            challenge: None,
            retry_after: None,
        }
    }

    /// 429 after too many failed client authentications (docs/security.md case 97), with
    /// `Retry-After` (RFC 6585 §4).
    pub fn too_many_attempts(retry_after_secs: i64) -> Self {
        OAuthError {
            retry_after: Some(retry_after_secs.max(1)),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "temporarily_unavailable",
                "too many failed client authentications: retry later",
            )
        }
    }

    /// `unsupported_token_type` (400, RFC 7009 §2.2.1).
    pub fn unsupported_token_type(description: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "unsupported_token_type",
            description,
        )
    }

    /// `invalid_request` (400).
    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }

    /// `invalid_client` (401, with a `Basic` challenge: RFC 6749 §5.2).
    pub fn invalid_client() -> Self {
        OAuthError {
            challenge: Some(Challenge::Basic),
            ..Self::new(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "client authentication failed",
            )
        }
    }

    /// `invalid_token` (401, with a `Bearer` challenge: RFC 7662 §2.3, RFC 6750 §3.1): the
    /// access token a caller authenticated with is not a valid token of this server.
    pub fn invalid_bearer() -> Self {
        OAuthError {
            challenge: Some(Challenge::BearerInvalidToken),
            ..Self::new(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "the bearer token is invalid, expired or revoked",
            )
        }
    }

    /// `invalid_grant` (400).
    pub fn invalid_grant(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_grant", description)
    }

    /// `unauthorized_client` (400).
    pub fn unauthorized_client(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "unauthorized_client", description)
    }

    /// `unsupported_grant_type` (400).
    pub fn unsupported_grant_type(description: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            description,
        )
    }

    /// `invalid_scope` (400).
    pub fn invalid_scope(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_scope", description)
    }

    /// `invalid_target` (400, RFC 8707): an audience the client may not use.
    pub fn invalid_target(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_target", description)
    }

    /// `invalid_request` with 413: the body is over the size limit (docs/security.md case 73).
    pub fn body_too_large() -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request",
            "the request body is too large",
        )
    }

    /// `invalid_request` with 405: the token endpoint takes only POST (docs/security.md case 73).
    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "invalid_request",
            "this endpoint accepts only POST",
        )
    }

    /// `server_error` (500). The cause is logged, never sent.
    pub fn server_error(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "the server could not complete the request",
        )
    }

    /// `temporarily_unavailable` (503, with `Retry-After`): the database is unavailable for now
    /// (RFC 6749 §4.1.2.1 names the code; the token endpoint uses it the same way). The cause
    /// is logged, never sent.
    pub fn unavailable(cause: &dyn std::fmt::Display) -> Self {
        tracing::warn!(error = %cause, "database unavailable");
        OAuthError {
            retry_after: Some(UNAVAILABLE_RETRY_AFTER_SECS as i64),
            ..Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "the server cannot complete the request just now: retry later",
            )
        }
    }

    /// The error code.
    pub fn code(&self) -> &'static str {
        self.code
    }
}

impl From<ServerError> for OAuthError {
    fn from(e: ServerError) -> Self {
        if e.is_unavailable() {
            OAuthError::unavailable(&e)
        } else {
            OAuthError::server_error(&e)
        }
    }
}

impl From<StoreError> for OAuthError {
    fn from(e: StoreError) -> Self {
        ServerError::from(e).into()
    }
}

/// `description` in the characters RFC 6749 §5.2 allows in `error_description`
/// (`%x20-21 / %x23-5B / %x5D-7E`): `"` becomes `'`, `\` becomes `/`, anything else
/// outside the set (control characters, non-ASCII) becomes `?`.
pub(crate) fn error_description(description: &str) -> std::borrow::Cow<'_, str> {
    let allowed = |c: char| matches!(c, '\x20'..='\x21' | '\x23'..='\x5B' | '\x5D'..='\x7E');
    if description.chars().all(allowed) {
        return std::borrow::Cow::Borrowed(description);
    }
    description
        .chars()
        .map(|c| match c {
            '"' => '\'',
            '\\' => '/',
            c if allowed(c) => c,
            _ => '?',
        })
        .collect()
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = json!({
            "error": self.code,
            "error_description": error_description(&self.description),
        });
        let mut response = (self.status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        if let Some(secs) = self.retry_after
            && let Ok(v) = HeaderValue::from_str(&secs.to_string())
        {
            headers.insert(header::RETRY_AFTER, v);
        }
        let challenge = match self.challenge {
            Some(Challenge::Basic) => "Basic realm=\"portcullis\", charset=\"UTF-8\"",
            Some(Challenge::BearerInvalidToken) => {
                "Bearer realm=\"portcullis\", error=\"invalid_token\""
            }
            None => "",
        };
        if !challenge.is_empty() {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        response
    }
}
