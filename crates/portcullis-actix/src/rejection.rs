//! Refusals, answered as RFC 6750 §3 says. The decisions — status, `WWW-Authenticate`, JSON
//! body — are the SDK's ([`AuthRejection`], re-exported here; see
//! [`portcullis::web::AuthRejection`]); this module only turns them into actix-web responses.
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
//!
//! [`Rejection`] (an [`AuthRejection`] with the realm of its [`crate::Auth`]) implements
//! [`ResponseError`], so it is the error of every extractor of this crate and can be returned
//! from handlers with `?` (an [`AuthRejection`] converts into one, with the default realm).

use std::fmt;
use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
pub use portcullis::web::AuthRejection;
use portcullis::web::{DEFAULT_REALM, WebResponse};

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
        response(self.reason.response(&self.realm))
    }
}

/// With the default realm (`api`); extractors answer with the configured one.
impl From<AuthRejection> for Rejection {
    fn from(reason: AuthRejection) -> Self {
        Rejection::new(reason, Arc::from(DEFAULT_REALM))
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.reason.fmt(f)
    }
}

impl ResponseError for Rejection {
    fn status_code(&self) -> StatusCode {
        status(self.reason.status())
    }

    fn error_response(&self) -> HttpResponse {
        self.response()
    }
}

fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// The actix-web response of an SDK answer. A header that is not valid in HTTP (none built by
/// the SDK is) turns it into a logged 500.
pub(crate) fn response(answer: WebResponse) -> HttpResponse {
    let mut response = HttpResponse::build(status(answer.status));
    for (name, value) in &answer.headers {
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) else {
            tracing::error!(name, "an answer's header is not valid in HTTP");
            return HttpResponse::InternalServerError().finish();
        };
        response.append_header((name, value));
    }
    response.body(answer.body)
}
