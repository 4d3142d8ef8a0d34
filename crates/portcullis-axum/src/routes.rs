//! The ready-made sign-in routes of [`Auth::router`]: `/login`, `/register`, `/create-org`,
//! `/callback`, `/logout` and `/user` (paths set by [`AuthRoutes`]).
//!
//! | route | does |
//! | --- | --- |
//! | `GET /login?return_to=/path&org_code=…&login_hint=…&lang=…` | starts a sign-in: keeps its `state`, `nonce` and PKCE verifier in a sealed cookie of its own (several at once), redirects to the provider |
//! | `GET /register?…` | the same, opening the sign-up page |
//! | `GET /create-org?org_name=…&…` | the same, creating an organization |
//! | `GET /callback` | checks `state` against the sign-in's cookie (cleared: single use), exchanges the code, verifies the ID token, gives the session a new id, stores the tokens, redirects to `return_to`; errors as an HTML page to a browser, else JSON |
//! | `GET` or `POST /logout` | ends the session (and revokes its refresh token), then redirects through the provider's logout |
//! | `GET /user` | the signed-in user's claims as JSON (`id_token`, `access_token`); 401 when signed out |
//!
//! `return_to` is honoured only when it is a same-site relative path (docs/security.md case 37);
//! anything else sends the user to `/`. The routes need a session layer around the app
//! ([`crate::session::session_layer`]).
//!
//! The decisions are the SDK's ([`portcullis::web::WebAuth::answer`]); this module registers
//! the routes and adapts requests and answers.

use axum::Router;
use axum::extract::{Request, State};
use axum::http::header;
use axum::response::Response;
use axum::routing::{MethodRouter, get};
pub use portcullis::web::AuthRoutes;
use portcullis::web::{RouteRequest, SignInRoute};

use crate::auth::Auth;
use crate::rejection::response;

impl Auth {
    /// The sign-in routes (see the [module docs](crate::routes)), to merge into your router:
    /// `Router::new().merge(auth.router()).layer(session_layer(MemoryStore::default()))`.
    ///
    /// Needs an `Auth` with a client id (and a redirect URI) in its configuration; without one
    /// the routes answer 500 and log why.
    ///
    /// # Panics
    ///
    /// When two of the [`AuthRoutes`] paths are the same (axum refuses duplicate routes).
    pub fn router<S: Clone + Send + Sync + 'static>(&self) -> Router<S> {
        let mut router = Router::new();
        for (path, route) in self.routes().all() {
            let handler = move |State(auth): State<Auth>, request: Request| async move {
                answer(&auth, route, request).await
            };
            let method: MethodRouter<Auth> = if route.accepts_post() {
                get(handler).post(handler)
            } else {
                get(handler)
            };
            router = router.route(path, method);
        }
        router.with_state(self.clone())
    }

    /// The paths of the sign-in routes.
    pub fn routes(&self) -> &AuthRoutes {
        self.web().routes()
    }
}

/// The SDK's answer to `request` on `route`, as an axum response.
async fn answer(auth: &Auth, route: SignInRoute, request: Request) -> Response {
    let (parts, _) = request.into_parts();
    let session = auth.session(&parts);
    let cookie = cookie_header(&parts.headers);
    let request = RouteRequest {
        query: parts.uri.query().unwrap_or(""),
        accept: parts
            .headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok()),
        cookie: cookie.as_deref(),
    };
    response(auth.web().answer(route, session.as_deref(), request).await)
}

/// The request's `Cookie` headers, joined (HTTP/2 may split them).
fn cookie_header(headers: &axum::http::HeaderMap) -> Option<String> {
    let values: Vec<&str> = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    (!values.is_empty()).then(|| values.join("; "))
}
