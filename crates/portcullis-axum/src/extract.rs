//! Extractors: [`Authenticated`], [`MaybeAuthenticated`], and the typed guards
//! [`RequirePermission`], [`RequireRole`], [`RequireOrganization`], [`RequireFeatureFlag`].
//!
//! Each needs [`Auth`] from the router state (`Auth: FromRef<S>`), and rejects with a
//! [`Rejection`] that answers RFC 6750 by itself.
//!
//! A typed guard names what it requires with a marker type, declared with a macro (the
//! markers, their macros and the guard's decision are [`portcullis::web`]'s, shared with
//! `portcullis-actix`):
//!
//! ```
//! use portcullis_axum::{RequirePermission, RequireRole};
//!
//! portcullis_axum::permission!(
//!     /// May read todos.
//!     pub ReadTodos = "read:todos"
//! );
//! portcullis_axum::role!(
//!     /// Administrators.
//!     pub Admin = "admin"
//! );
//!
//! async fn list(user: RequirePermission<ReadTodos>) -> String {
//!     format!("todos of {}", user.subject().unwrap_or("?"))
//! }
//!
//! async fn admin(_: RequireRole<Admin>) -> &'static str {
//!     "welcome, admin"
//! }
//! ```

use axum::extract::{FromRef, FromRequestParts, OptionalFromRequestParts};
use axum::http::request::Parts;
pub use portcullis::web::{FeatureFlagKey, OrganizationCode, PermissionKey, RoleKey, Via};
use portcullis::web::{RequirementMarker, admit};

use crate::auth::Auth;
use crate::rejection::Rejection;

portcullis::__web_extractor_types!();

impl<S> FromRequestParts<S> for Authenticated
where
    Auth: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Rejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let auth = Auth::from_ref(state);
        auth.authenticated(parts).await.map_err(|r| auth.reject(r))
    }
}

/// `Option<Authenticated>` works as an extractor too: `None` without credentials.
impl<S> OptionalFromRequestParts<S> for Authenticated
where
    Auth: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Rejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        let auth = Auth::from_ref(state);
        auth.maybe_authenticated(parts)
            .await
            .map_err(|r| auth.reject(r))
    }
}

impl<S> FromRequestParts<S> for MaybeAuthenticated
where
    Auth: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Rejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let auth = Auth::from_ref(state);
        auth.maybe_authenticated(parts)
            .await
            .map(MaybeAuthenticated)
            .map_err(|r| auth.reject(r))
    }
}

impl<S, K, M> FromRequestParts<S> for Require<K, M>
where
    Auth: FromRef<S>,
    S: Send + Sync,
    M: RequirementMarker<K>,
{
    type Rejection = Rejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let auth = Auth::from_ref(state);
        let user = admit(auth.authenticated(parts).await, Some(&M::requirement()))
            .map_err(|r| auth.reject(r))?;
        Ok(Require::admitted(user))
    }
}
