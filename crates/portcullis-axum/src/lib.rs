//! # portcullis-axum
//!
//! [axum](https://docs.rs/axum) 0.8 integration of [Portcullis](portcullis): protect routes
//! with bearer tokens the axum way — extractors and `tower` layers — and answer refusals as
//! RFC 6750 says.
//!
//! ```no_run
//! use axum::{Router, routing::get};
//! use portcullis_axum::{Auth, Authenticated, RequirePermission};
//!
//! portcullis_axum::permission!(
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
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! // PORTCULLIS_ISSUER (or KINDE_DOMAIN) and PORTCULLIS_AUDIENCE.
//! let auth = Auth::from_config(&portcullis::Config::from_env()?)?;
//! let app: Router = Router::new()
//!     .route("/api/protected", get(protected))
//!     .route("/api/todos", get(todos))
//!     .route(
//!         "/api/admin",
//!         get(|| async { "admin" }).route_layer(auth.require_role("admin")),
//!     )
//!     .with_state(auth);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8000").await?;
//! axum::serve(listener, app).await?;
//! # Ok(()) }
//! ```
//!
//! - [`Auth`]: built once from [`portcullis::Config`]; handlers reach it through the router
//!   state (`Auth: FromRef<YourState>`).
//! - Extractors ([`extract`]): [`Authenticated`], [`MaybeAuthenticated`] (or
//!   `Option<Authenticated>`), and typed guards [`RequirePermission`], [`RequireRole`],
//!   [`RequireOrganization`], [`RequireFeatureFlag`] (aliases of one generic [`Require`]) with
//!   markers declared by [`permission!`], [`role!`], [`organization!`], [`feature_flag!`].
//! - Route guards ([`guard`]): [`Auth::require_permission`] and friends return layers for
//!   [`axum::Router::route_layer`].
//! - Refusals ([`rejection`]): 401 / 400 / 403 / 503 with `WWW-Authenticate` and a JSON body.
//!
//! What knows no framework — the refusals, the requirements, what a sign-in keeps in the
//! session, the sign-in routes' decisions — lives in [`portcullis::web`]; this crate adapts it
//! to axum.
//! - Browser sign-in ([`routes`]): [`Auth::router`] serves `/login`, `/register`,
//!   `/create-org`, `/callback`, `/logout` and `/user` on a `tower-sessions` session
//!   ([`session_layer`]; memory store by default, any `tower-sessions` store such as Redis);
//!   [`Authenticated`] then also accepts the signed-in session (bearer first), refreshing its
//!   access token shortly before it expires.
//!
//! ```no_run
//! use axum::{Router, routing::get};
//! use portcullis_axum::{Auth, Authenticated, MemoryStore, session_layer};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! // PORTCULLIS_ISSUER, PORTCULLIS_CLIENT_ID, PORTCULLIS_CLIENT_SECRET,
//! // PORTCULLIS_REDIRECT_URI (e.g. http://localhost:3000/callback), …
//! let auth = Auth::from_config(&portcullis::Config::from_env()?)?;
//! let app: Router = Router::new()
//!     .route("/", get(|user: Option<Authenticated>| async move {
//!         match user {
//!             Some(user) => format!("signed in as {}", user.subject().unwrap_or("?")),
//!             None => "<a href=\"/login?return_to=/\">sign in</a>".to_owned(),
//!         }
//!     }))
//!     .merge(auth.router())
//!     .layer(session_layer(MemoryStore::default()))
//!     .with_state(auth);
//! # let _ = app; Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod auth;
pub mod extract;
pub mod guard;
pub mod rejection;
pub mod return_to;
pub mod routes;
pub mod session;

pub use auth::{Auth, AuthBuilder, DEFAULT_REFRESH_MARGIN};
pub use extract::{
    Authenticated, FeatureFlagKey, MaybeAuthenticated, OrganizationCode, PermissionKey, Require,
    RequireFeatureFlag, RequireOrganization, RequirePermission, RequireRole, RoleKey, Via,
};
pub use guard::{RequireLayer, RequireService, Requirement};
pub use portcullis::web::{CookieKey, MAX_PENDING};
/// The typed-guard marker macros, the SDK's ([`portcullis::web`]): the same for axum and
/// actix-web.
pub use portcullis::{feature_flag, organization, permission, role};
pub use rejection::{AuthRejection, Rejection};
pub use routes::AuthRoutes;
pub use session::{AuthSession, MemoryStore, SessionError, session_layer};
/// The `tower-sessions` version this crate is built on, for your own session layer or store.
pub use tower_sessions;

/// The crate README's examples, compiled as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct CrateReadme;
