//! The framework-free half of a web integration, shared by `portcullis-axum` and
//! `portcullis-actix`: each of those crates only adapts what is here to its framework
//! (extractors, middleware, `IntoResponse` / `ResponseError`, its session library).
//!
//! - reading a request's bearer token strictly ([`bearer_token`], RFC 6750 §2.1, docs/security.md
//!   cases 39 and 42) and checking a post-sign-in `return_to` ([`safe_return_to`], case 37);
//! - refusals ([`AuthRejection`]: status, RFC 6750 `WWW-Authenticate`, JSON body) and what a
//!   route can require ([`Requirement`]: a permission, role, organization or feature flag);
//! - browser sign-in: each sign-in under way in a sealed cookie of its own ([`PendingEntry`],
//!   [`CookieKey`]: concurrent sign-ins in one browser never overwrite each other), what a
//!   session keeps ([`SignedIn`]; never the client secret), the session behind a small trait ([`AuthSession`]) so a release of
//!   `tower-sessions` or `actix-session` cannot break apps, one refresh for concurrent requests
//!   ([`Refreshes`]), and the decisions of the sign-in routes ([`WebAuth::answer`]), answered as
//!   a framework-free [`WebResponse`]; server-side sessions in memory, bounded, their expired
//!   entries purged ([`MemorySessions`]);
//! - guards, written once for every framework: who a request is ([`WebAuth::authenticate`]:
//!   the bearer token first, else the session; a [`Principal`]), the typed-guard markers
//!   ([`PermissionKey`], [`RoleKey`], [`OrganizationCode`], [`FeatureFlagKey`], declared with
//!   [`permission!`](crate::permission!) and its siblings, each naming its [`Requirement`]
//!   through [`RequirementMarker`]), and the decision of a guard ([`admit`]: let the user
//!   through, or which [`AuthRejection`]).
//!
//! Headers come in as bytes or strings and the query as a string, so any framework can call
//! them.
//!
//! ```
//! use portcullis::web::{bearer_token, safe_return_to};
//!
//! assert_eq!(bearer_token([&b"Bearer abc"[..]], None), Ok(Some("abc")));
//! assert!(bearer_token([&b"Bearer a b"[..]], None).is_err());
//! assert_eq!(bearer_token([&b"Basic eHl6"[..]], None), Ok(None));
//! assert_eq!(safe_return_to(Some("//evil.example")), "/");
//! ```

mod auth;
mod bearer;
mod flow;
mod login_cookie;
mod memory;
mod rejection;
mod require;
mod response;
mod return_to;
mod session;
mod signin;

pub use auth::{DEFAULT_REALM, DEFAULT_REFRESH_MARGIN, WebAuth, WebAuthBuilder};
pub use bearer::{MAX_AUTHORIZATION_LEN, bearer_token};
pub use flow::{AuthRoutes, RouteRequest, SignInRoute, prefers_html};
pub use login_cookie::{CookieKey, LOGIN_COOKIE_PREFIX, MIN_COOKIE_KEY_LEN};
pub use memory::{MemorySessions, expiry_after};
pub use rejection::{AuthRejection, Requirement};
pub use require::{
    FeatureFlagKey, OrganizationCode, PermissionKey, Principal, RequirementMarker, RoleKey, Via,
    admit, kind,
};
pub use response::WebResponse;
pub use return_to::safe_return_to;
pub use session::{AuthSession, SessionError, SessionFuture};
pub use signin::{MAX_PENDING, PendingEntry, Refreshes, SignedIn};
