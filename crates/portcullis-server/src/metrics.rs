//! Prometheus metrics, served at `GET /metrics` in the OpenMetrics text format (which Prometheus
//! scrapes natively).
//!
//! Every [`AppState`] owns its own registry, so several servers in one process (many
//! [`TestIssuer`](crate::testing::TestIssuer)s in one test binary) never see each other's counts.
//!
//! What is recorded:
//! - `portcullis_http_requests_total{route, method, status}`: every request, by the *route
//!   pattern* it matched (`/oauth2/token`, never the raw URI, so no token, code or id can reach a
//!   label; requests that match no route count as `route="unmatched"`), method, and status class
//!   (`2xx` … `5xx`);
//! - `portcullis_http_request_duration_seconds{route}`: time to the response head, per route;
//! - `portcullis_tokens_issued_total{grant_type}`: bumped by the token endpoint through
//!   [`tokens_issued`];
//! - `portcullis_token_errors_total{error}`: RFC 6749 error codes answered, through
//!   [`token_error`];
//! - `portcullis_build_info{version}`.
//!
//! Label values are either route patterns fixed at compile time or values from a closed list, so
//! nothing a client sends can grow the number of series.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

use crate::AppState;

/// The content type of the exposition (OpenMetrics 1.0 text).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Latency buckets in seconds: sub-millisecond JWKS answers up to slow database calls.
const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Grant types counted by name; anything else counts as `other`.
const GRANT_TYPES: [&str; 3] = ["client_credentials", "authorization_code", "refresh_token"];

/// RFC 6749 §5.2 (and RFC 8707) error codes, exported at zero from the start so that rates and
/// alerts work before the first error.
const TOKEN_ERRORS: [&str; 8] = [
    "invalid_request",
    "invalid_client",
    "invalid_grant",
    "unauthorized_client",
    "unsupported_grant_type",
    "invalid_scope",
    "invalid_target",
    "server_error",
];

/// The route label of a request that matched no route.
const UNMATCHED: &str = "unmatched";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    route: String,
    method: &'static str,
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GrantLabels {
    grant_type: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    error: &'static str,
}

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

/// One server's metrics: a registry and the families in it.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    http_requests: Family<HttpLabels, Counter>,
    http_duration: Family<RouteLabels, Histogram, fn() -> Histogram>,
    tokens_issued: Family<GrantLabels, Counter>,
    token_errors: Family<ErrorLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh registry with every family registered (and nothing counted yet).
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let http_requests = Family::<HttpLabels, Counter>::default();
        registry.register(
            "portcullis_http_requests",
            "HTTP requests by matched route, method and status class",
            http_requests.clone(),
        );
        let http_duration =
            Family::<RouteLabels, Histogram, fn() -> Histogram>::new_with_constructor(
                latency_histogram,
            );
        registry.register(
            "portcullis_http_request_duration_seconds",
            "Time from receiving an HTTP request to sending the response head, by matched route",
            http_duration.clone(),
        );
        let tokens_issued = Family::<GrantLabels, Counter>::default();
        registry.register(
            "portcullis_tokens_issued",
            "Access tokens issued by the token endpoint, by grant type",
            tokens_issued.clone(),
        );
        let token_errors = Family::<ErrorLabels, Counter>::default();
        registry.register(
            "portcullis_token_errors",
            "Token-endpoint requests answered with an RFC 6749 error, by error code",
            token_errors.clone(),
        );
        registry.register(
            "portcullis_build",
            "The running version of portcullis",
            Info::new(vec![("version", env!("CARGO_PKG_VERSION"))]),
        );
        // Known series start at zero (an empty family is not exported at all).
        for grant_type in GRANT_TYPES {
            let _ = tokens_issued.get_or_create(&GrantLabels { grant_type });
        }
        for error in TOKEN_ERRORS {
            let _ = token_errors.get_or_create(&ErrorLabels { error });
        }
        Metrics {
            registry,
            http_requests,
            http_duration,
            tokens_issued,
            token_errors,
        }
    }

    /// Counts an access token issued with `grant_type`. Unknown grant types count as `other`,
    /// so a client cannot create new series.
    pub fn tokens_issued(&self, grant_type: &str) {
        let grant_type = GRANT_TYPES
            .into_iter()
            .find(|known| *known == grant_type)
            .unwrap_or("other");
        self.tokens_issued
            .get_or_create(&GrantLabels { grant_type })
            .inc();
    }

    /// Counts a token-endpoint error answer. `error` is the RFC 6749 code (a fixed string such
    /// as `invalid_client`, see [`OAuthError::code`](crate::error::OAuthError::code)).
    pub fn token_error(&self, error: &'static str) {
        self.token_errors
            .get_or_create(&ErrorLabels { error })
            .inc();
    }

    /// Records one answered HTTP request.
    fn record(&self, route: &str, method: &Method, status: u16, seconds: f64) {
        self.http_requests
            .get_or_create(&HttpLabels {
                route: route.to_owned(),
                method: method_label(method),
                status: status_class(status),
            })
            .inc();
        self.http_duration
            .get_or_create(&RouteLabels {
                route: route.to_owned(),
            })
            .observe(seconds);
    }

    /// The exposition: OpenMetrics text, ending with `# EOF`.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        // Writing into a String cannot fail; an encoding error would be a bug in a label.
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!(error = %e, "cannot encode the metrics");
        }
        out
    }
}

/// Counts an access token issued by `state`'s server (see [`Metrics::tokens_issued`]).
pub fn tokens_issued(state: &AppState, grant_type: &str) {
    state.inner.metrics.tokens_issued(grant_type);
}

/// Counts a token-endpoint error answered by `state`'s server (see [`Metrics::token_error`]).
pub fn token_error(state: &AppState, error: &'static str) {
    state.inner.metrics.token_error(error);
}

/// Methods outside the usual set share one label, so arbitrary methods cannot add series.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        _ => "other",
    }
}

fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

/// The middleware (`axum::middleware::from_fn_with_state`): counts and times every request by
/// the route pattern it matched. Must be added with `Router::layer` after the routes, so the
/// router has already set [`MatchedPath`].
pub(crate) async fn track(
    State(metrics): State<Arc<Metrics>>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned());
    let response = next.run(request).await;
    metrics.record(
        route.as_deref().unwrap_or(UNMATCHED),
        &method,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

/// `GET /metrics`; with [`crate::Settings::metrics_token`], only for that bearer token
/// (compared in constant time).
pub(crate) async fn render(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
) -> Response {
    if let Some(expected) = &state.inner.settings.metrics_token {
        use subtle::ConstantTimeEq;
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .unwrap_or("");
        // Equal-length comparison of digests, so the token's length does not leak either.
        let digest = |s: &str| aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, s.as_bytes());
        if !bool::from(digest(presented).as_ref().ct_eq(digest(expected).as_ref())) {
            return (
                axum::http::StatusCode::UNAUTHORIZED,
                [
                    (
                        header::WWW_AUTHENTICATE,
                        HeaderValue::from_static("Bearer realm=\"metrics\""),
                    ),
                    (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
                ],
            )
                .into_response();
        }
    }
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE)),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        state.inner.metrics.render(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_render_with_bounded_labels() {
        let m = Metrics::new();
        m.record("/oauth2/token", &Method::POST, 401, 0.002);
        m.record(
            "/oauth2/token",
            &Method::from_bytes(b"BREW").unwrap(),
            405,
            0.001,
        );
        m.tokens_issued("client_credentials");
        m.tokens_issued("urn:made-up:grant");
        m.token_error("invalid_client");
        let fresh = Metrics::new().render();
        assert!(fresh.contains(r#"portcullis_tokens_issued_total{grant_type="refresh_token"} 0"#));
        assert!(fresh.contains(r#"portcullis_token_errors_total{error="invalid_grant"} 0"#));
        assert!(!fresh.contains("portcullis_http_requests_total"));
        let text = m.render();
        assert!(text.contains(
            r#"portcullis_http_requests_total{route="/oauth2/token",method="POST",status="4xx"} 1"#
        ));
        assert!(text.contains(r#"method="other""#));
        assert!(!text.contains("BREW"));
        assert!(
            text.contains(r#"portcullis_tokens_issued_total{grant_type="client_credentials"} 1"#)
        );
        assert!(text.contains(r#"portcullis_tokens_issued_total{grant_type="other"} 1"#));
        assert!(!text.contains("made-up"));
        assert!(text.contains(r#"portcullis_token_errors_total{error="invalid_client"} 1"#));
        assert!(text.contains(
            r#"portcullis_http_request_duration_seconds_count{route="/oauth2/token"} 2"#
        ));
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn status_classes() {
        assert_eq!(status_class(101), "1xx");
        assert_eq!(status_class(204), "2xx");
        assert_eq!(status_class(302), "3xx");
        assert_eq!(status_class(429), "4xx");
        assert_eq!(status_class(503), "5xx");
    }
}
