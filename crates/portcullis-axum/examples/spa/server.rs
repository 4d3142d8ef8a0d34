//! Serves the single-page-app demo: `index.html` (at `/` and at `/callback`, where the provider
//! sends the browser back), `app.js`, and `/config.json` with the settings the page reads. The
//! page signs in with the authorization code flow and PKCE as the public client `demo-spa`, and
//! calls the bearer API (`bearer_api` example, served by the web app with CORS for this origin).

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;

const INDEX: &str = include_str!("index.html");
const APP_JS: &str = include_str!("app.js");

/// What the page needs to know: the contents of `/config.json`.
#[derive(Debug, Clone, Serialize)]
pub struct SpaConfig {
    /// The issuer (its discovery document is read from the browser).
    pub issuer: String,
    /// The public client's id.
    pub client_id: String,
    /// This page's `/callback`, as registered for the client.
    pub redirect_uri: String,
    /// Where the provider's logout sends the browser back to.
    pub post_logout_redirect_uri: String,
    /// The API's audience.
    pub audience: String,
    /// The API's origin (`http://localhost:3000`).
    pub api: String,
    /// The organization to sign in to.
    pub org_code: String,
}

/// The SPA's router. Its `Content-Security-Policy` lets the page run only its own script and
/// talk only to itself, the issuer and the API.
pub fn router(config: SpaConfig) -> Result<Router, String> {
    let csp = format!(
        "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; \
         connect-src 'self' {} {}; base-uri 'none'; frame-ancestors 'none'; form-action 'none'",
        origin(&config.issuer)?,
        origin(&config.api)?,
    );
    let csp =
        HeaderValue::from_str(&csp).map_err(|_| "the SPA's URLs are not valid in a header")?;
    let json = serde_json::to_string(&config).map_err(|e| e.to_string())?;
    let asset = move |content_type: &'static str, body: String| {
        let csp = csp.clone();
        move || async move { with_headers(content_type, body, csp) }
    };
    Ok(Router::new()
        .route(
            "/",
            get(asset("text/html; charset=utf-8", INDEX.to_owned())),
        )
        .route(
            "/callback",
            get(asset("text/html; charset=utf-8", INDEX.to_owned())),
        )
        .route(
            "/app.js",
            get(asset("text/javascript; charset=utf-8", APP_JS.to_owned())),
        )
        .route("/config.json", get(asset("application/json", json)))
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found") }))
}

/// The origin of an http(s) URL.
fn origin(url: &str) -> Result<String, String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("{url:?} is not a URL ({e})"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!("{url:?} is not an http(s) URL"));
    }
    Ok(parsed.origin().ascii_serialization())
}

fn with_headers(content_type: &'static str, body: String, csp: HeaderValue) -> Response {
    let mut response = body.into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CONTENT_SECURITY_POLICY, csp);
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // The callback's URL carries a code: never send it as a referrer.
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}
