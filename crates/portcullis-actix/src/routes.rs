//! The ready-made sign-in routes of [`Auth::configure`]: `/login`, `/register`,
//! `/create-org`, `/callback`, `/logout` and `/user` (paths set by [`AuthRoutes`]).
//!
//! | route | does |
//! | --- | --- |
//! | `GET /login?return_to=/path&org_code=…&login_hint=…&lang=…` | starts a sign-in: keeps its `state`, `nonce` and PKCE verifier in a sealed cookie of its own (several at once), redirects to the provider |
//! | `GET /register?…` | the same, opening the sign-up page |
//! | `GET /create-org?org_name=…&…` | the same, creating an organization |
//! | `GET /callback` | checks `state` against the sign-in's cookie (cleared: single use), exchanges the code, verifies the ID token, renews the session id, stores the tokens, redirects to `return_to`; errors as an HTML page to a browser, else JSON |
//! | `GET` or `POST /logout` | ends the session (and revokes its refresh token), then redirects through the provider's logout |
//! | `GET /user` | the signed-in user's claims as JSON (`id_token`, `access_token`); 401 when signed out |
//!
//! `return_to` is honoured only when it is a same-site relative path (docs/security.md case 37);
//! anything else sends the user to `/`. The routes need the session middleware around the app
//! ([`crate::session::session_middleware`]); without it nothing is remembered between
//! requests and every callback is refused as `invalid_state`.
//!
//! The decisions are the SDK's ([`portcullis::web::WebAuth::answer`]); this module registers
//! the routes and adapts requests and answers.
//!
//! ```no_run
//! use actix_web::cookie::Key;
//! use actix_web::{App, HttpServer};
//! use portcullis_actix::{Auth, MemoryStore, session_middleware};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let auth = Auth::from_config(&portcullis::Config::from_env()?)?;
//! let (store, key) = (MemoryStore::default(), Key::generate());
//! HttpServer::new(move || {
//!     App::new()
//!         .app_data(auth.clone())
//!         .configure(auth.configure())
//!         .wrap(session_middleware(store.clone(), key.clone()))
//! })
//! .bind(("127.0.0.1", 3000))?
//! .run()
//! .await?;
//! # Ok(()) }
//! ```

use actix_session::SessionExt;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, guard, web};
pub use portcullis::web::AuthRoutes;
use portcullis::web::{RouteRequest, SignInRoute};

use crate::auth::Auth;
use crate::rejection::response;
use crate::session::ActixSession;

impl Auth {
    /// The sign-in routes (see the [module docs](crate::routes)), for `App::configure` or
    /// `Scope::configure`: `App::new().configure(auth.configure())`. Paths are those of
    /// [`AuthRoutes`]; inside a `web::scope("/auth")` they are relative to the scope.
    ///
    /// Needs an `Auth` with a client id (and a redirect URI) in its configuration; without one
    /// the routes answer 500 and log why.
    pub fn configure(&self) -> impl FnOnce(&mut web::ServiceConfig) + 'static {
        let auth = self.clone();
        move |config: &mut web::ServiceConfig| {
            for (path, route) in auth.routes().all() {
                let auth = auth.clone();
                let handler = move |request: HttpRequest| {
                    let auth = auth.clone();
                    async move { answer(&auth, route, &request).await }
                };
                let methods = if route.accepts_post() {
                    web::route().guard(guard::Any(guard::Get()).or(guard::Post()))
                } else {
                    web::get()
                };
                config.route(path, methods.to(handler));
            }
        }
    }

    /// The paths of the sign-in routes.
    pub fn routes(&self) -> &AuthRoutes {
        self.web().routes()
    }
}

/// The SDK's answer to `request` on `route`, as an actix-web response.
async fn answer(auth: &Auth, route: SignInRoute, request: &HttpRequest) -> HttpResponse {
    let session = ActixSession(request.get_session());
    let cookies: Vec<&str> = request
        .headers()
        .get_all(header::COOKIE)
        .filter_map(|v| v.to_str().ok())
        .collect();
    let cookie = (!cookies.is_empty()).then(|| cookies.join("; "));
    let request = RouteRequest {
        query: request.query_string(),
        accept: request
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok()),
        cookie: cookie.as_deref(),
    };
    response(auth.web().answer(route, Some(&session), request).await)
}
