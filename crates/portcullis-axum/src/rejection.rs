//! Refusals, answered as RFC 6750 §3 says. The decisions — status, `WWW-Authenticate`, JSON
//! body — are the SDK's ([`AuthRejection`], re-exported here; see
//! [`portcullis::web::AuthRejection`] for the table); this module only turns them into axum
//! responses.
//!
//! | case | status | `WWW-Authenticate` |
//! | --- | --- | --- |
//! | no credentials (docs/security.md case 38) | 401 | `Bearer realm="…"` (no `error`) |
//! | malformed or duplicated credentials (case 39) | 400 | `Bearer realm="…", error="invalid_request", …` |
//! | invalid token (case 40), or a session whose sign-in has ended | 401 | `Bearer realm="…", error="invalid_token", …` |
//! | missing permission / role / organization / flag (case 41) | 403 | `Bearer realm="…", error="insufficient_scope", …` |
//! | the issuer's keys are unavailable | 503 | none; `Retry-After` |
//!
//! Every answer has a JSON body `{"error": …, "error_description": …}` and `Cache-Control:
//! no-store`. Descriptions name the failed check, never the token or a claim's value.

use std::fmt;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
pub use portcullis::web::AuthRejection;
use portcullis::web::{DEFAULT_REALM, WebResponse};

/// A rejection and the realm to answer it with: what extractors return (the realm comes from
/// the [`crate::Auth`] they were built with). Implements [`IntoResponse`].
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

    /// The HTTP status of the answer.
    pub fn status(&self) -> StatusCode {
        status(self.reason.status())
    }
}

/// With the default realm (`api`); extractors answer with the configured one.
impl From<AuthRejection> for Rejection {
    fn from(reason: AuthRejection) -> Self {
        Rejection::new(reason, Arc::from(DEFAULT_REALM))
    }
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        response(self.reason.response(&self.realm))
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.reason.fmt(f)
    }
}

impl std::error::Error for Rejection {}

fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// The axum response of an SDK answer. A header that is not valid in HTTP (none built by the
/// SDK is) turns it into a logged 500.
pub(crate) fn response(answer: WebResponse) -> Response {
    let mut response = Response::new(Body::from(answer.body));
    *response.status_mut() = status(answer.status);
    for (name, value) in answer.headers {
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) else {
            tracing::error!(name, "an answer's header is not valid in HTTP");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        };
        response.headers_mut().append(name, value);
    }
    response
}
