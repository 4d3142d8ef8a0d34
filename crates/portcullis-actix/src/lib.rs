//! # portcullis-actix
//!
//! [actix-web](https://docs.rs/actix-web) 4 integration of [Portcullis](portcullis): protect
//! routes with bearer tokens or a browser session the actix-web way — `FromRequest`
//! extractors and `wrap` middleware — and answer refusals as RFC 6750 says.
//!
//! ```no_run
//! use actix_web::{App, HttpServer, web};
//! use portcullis_actix::{Auth, Authenticated, RequirePermission};
//!
//! portcullis_actix::permission!(
//!     /// May read todos.
//!     ReadTodos = "read:todos"
//! );
//!
//! async fn protected(user: Authenticated) -> String {
//!     format!("hello {}", user.subject().unwrap_or("?"))
//! }
//!
//! async fn todos(_: RequirePermission<ReadTodos>) -> &'static str {
//!     "[]"
//! }
//!
//! #[actix_web::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     // PORTCULLIS_ISSUER (or KINDE_DOMAIN) and PORTCULLIS_AUDIENCE.
//!     let auth = Auth::from_config(&portcullis::Config::from_env()?)?;
//!     HttpServer::new(move || {
//!         App::new()
//!             .app_data(auth.clone())
//!             .route("/api/protected", web::get().to(protected))
//!             .route("/api/todos", web::get().to(todos))
//!             .service(
//!                 web::scope("/api/admin")
//!                     .wrap(auth.require_role("admin"))
//!                     .route("", web::get().to(|| async { "admin" })),
//!             )
//!     })
//!     .bind(("127.0.0.1", 8000))?
//!     .run()
//!     .await?;
//!     Ok(())
//! }
//! ```
//!
//! - [`Auth`]: built once from [`portcullis::Config`] (a `TokenVerifier`, and an
//!   `AuthClient` naming the framework `actix-web`); handlers find it in the app data
//!   (`App::app_data(auth)` or `web::Data<Auth>`).
//! - Extractors ([`extract`]): [`Authenticated`], [`MaybeAuthenticated`], and typed guards
//!   [`RequirePermission`], [`RequireRole`], [`RequireOrganization`], [`RequireFeatureFlag`]
//!   (aliases of one generic [`Require`]) with markers declared by [`permission!`], [`role!`],
//!   [`organization!`], [`feature_flag!`].
//! - Guard middleware ([`guard`]): [`Auth::require_permission`] and friends, for `.wrap(…)`
//!   on an app, scope or resource.
//! - Refusals ([`rejection`]): 401 / 400 / 403 / 503 with `WWW-Authenticate` and a JSON body,
//!   as `ResponseError`s.
//! - Browser sign-in ([`routes`]): [`Auth::configure`] serves `/login`, `/register`,
//!   `/create-org`, `/callback`, `/logout` and `/user` on an actix-session session
//!   ([`session_middleware`]; this crate's bounded [`MemoryStore`] by default, Redis with the
//!   `redis-session` feature); [`Authenticated`] then also accepts the signed-in session
//!   (bearer first), refreshing its access token shortly before it expires.
//!
//! What knows no framework — the refusals, the requirements, what a sign-in keeps in the
//! session, the sign-in routes' decisions — lives in [`portcullis::web`]; this crate adapts it
//! to actix-web.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod auth;
pub mod extract;
pub mod guard;
pub mod rejection;
pub mod routes;
pub mod session;

/// The actix-session version this crate is built on, for your own session middleware or
/// store.
pub use actix_session;
pub use auth::{Auth, AuthBuilder, DEFAULT_REFRESH_MARGIN};
pub use extract::{
    Authenticated, FeatureFlagKey, MaybeAuthenticated, OrganizationCode, PermissionKey, Require,
    RequireFeatureFlag, RequireOrganization, RequirePermission, RequireRole, RoleKey, Via,
};
pub use guard::{RequireAuth, RequireAuthMiddleware, Requirement};
pub use portcullis::web::safe_return_to;
pub use portcullis::web::{CookieKey, MAX_PENDING};
/// The typed-guard marker macros, the SDK's ([`portcullis::web`]): the same for actix-web and
/// axum.
pub use portcullis::{feature_flag, organization, permission, role};
pub use rejection::{AuthRejection, Rejection};
pub use routes::AuthRoutes;
pub use session::{MemoryStore, SESSION_COOKIE, session_middleware};

/// The crate README's examples, compiled as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct CrateReadme;
