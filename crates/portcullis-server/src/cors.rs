//! CORS for single-page applications (architecture.md): discovery, JWKS, token, userinfo and
//! revocation answer cross-origin requests — preflight included — from the origins of the
//! redirect URIs registered by `spa` applications, and from no other origin. Never `*`, never
//! with credentials (docs/security.md case 73).

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::AppState;

/// Paths a browser app may call cross-origin.
const CORS_PATHS: &[&str] = &[
    "/.well-known/openid-configuration",
    "/.well-known/jwks.json",
    "/.well-known/jwks",
    "/oauth2/token",
    "/oauth2/userinfo",
    "/oauth2/v2/user_profile",
    "/oauth2/revoke",
];

/// The `Origin` of a URL (`scheme://host[:port]`), as browsers send it.
fn origin_of(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    match parsed.origin() {
        url::Origin::Tuple(..) => Some(parsed.origin().ascii_serialization()),
        url::Origin::Opaque(_) => None,
    }
}

async fn allowed(state: &AppState, origin: &str) -> bool {
    match state.store().spa_redirect_urls().await {
        Ok(urls) => urls.iter().any(|u| origin_of(u).as_deref() == Some(origin)),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read SPA origins");
            false
        }
    }
}

fn add_headers(headers: &mut HeaderMap, origin: &HeaderValue) {
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
    headers.append(header::VARY, HeaderValue::from_static("Origin"));
}

/// The middleware.
pub(crate) async fn cors(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let origin = request.headers().get(header::ORIGIN).cloned();
    let path_ok = CORS_PATHS.contains(&request.uri().path());
    let Some(origin) = origin.filter(|_| path_ok) else {
        return next.run(request).await;
    };
    let ok = match origin.to_str() {
        Ok(o) => allowed(&state, o).await,
        Err(_) => false,
    };
    if request.method() == Method::OPTIONS
        && request
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
    {
        // Preflight: answered here; an unknown origin gets no CORS headers (the browser then
        // refuses the real request).
        let mut response = StatusCode::NO_CONTENT.into_response();
        if ok {
            let h = response.headers_mut();
            add_headers(h, &origin);
            h.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("GET, POST, OPTIONS"),
            );
            h.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static("authorization, content-type"),
            );
            h.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static("600"),
            );
        }
        return response;
    }
    let mut response = next.run(request).await;
    if ok {
        add_headers(response.headers_mut(), &origin);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::origin_of;

    #[test]
    fn origins() {
        assert_eq!(
            origin_of("http://localhost:5173/callback?x=1").as_deref(),
            Some("http://localhost:5173")
        );
        assert_eq!(
            origin_of("https://app.example.com/cb").as_deref(),
            Some("https://app.example.com")
        );
        assert_eq!(origin_of("not a url"), None);
    }
}
