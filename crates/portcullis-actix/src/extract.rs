//! Extractors: [`Authenticated`], [`MaybeAuthenticated`], and the typed guards
//! [`RequirePermission`], [`RequireRole`], [`RequireOrganization`], [`RequireFeatureFlag`].
//!
//! Each finds the [`Auth`] in the app data (`App::app_data(auth)` or `web::Data<Auth>`), and
//! fails with a [`Rejection`], a [`ResponseError`](actix_web::ResponseError) that answers
//! RFC 6750 by itself.
//!
//! A typed guard names what it requires with a marker type, declared with a macro (the
//! markers, their macros and the guard's decision are [`portcullis::web`]'s, shared with
//! `portcullis-axum`):
//!
//! ```
//! use portcullis_actix::{RequirePermission, RequireRole};
//!
//! portcullis_actix::permission!(
//!     /// May read todos.
//!     pub ReadTodos = "read:todos"
//! );
//! portcullis_actix::role!(
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
//!
//! `Option<Authenticated>` is actix-web's own blanket `Option<T>` extractor: it is `None` for
//! *any* refusal, an invalid token included. Use [`MaybeAuthenticated`] when a bad token must
//! still be refused (400 / 401) rather than served as anonymous.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
pub use portcullis::web::{FeatureFlagKey, OrganizationCode, PermissionKey, RoleKey, Via};
use portcullis::web::{RequirementMarker, admit};

use crate::auth::Auth;
use crate::rejection::{AuthRejection, Rejection};

portcullis::__web_extractor_types!();

/// The future of this crate's extractors (actix-web extractors need not be `Send`).
pub type ExtractFuture<T> = Pin<Box<dyn Future<Output = Result<T, Rejection>>>>;

/// The [`Auth`] of the app: `app_data(Auth)` or `app_data(web::Data<Auth>)`.
pub(crate) fn auth_of(request: &HttpRequest) -> Result<Auth, Rejection> {
    if let Some(auth) = request.app_data::<Auth>() {
        return Ok(auth.clone());
    }
    if let Some(auth) = request.app_data::<web::Data<Auth>>() {
        return Ok(auth.get_ref().clone());
    }
    tracing::error!(
        "no portcullis_actix::Auth in the app data: add it with App::app_data(auth) or web::Data"
    );
    Err(Rejection::new(
        AuthRejection::Internal("authentication is not configured"),
        Arc::from(portcullis::web::DEFAULT_REALM),
    ))
}

impl FromRequest for Authenticated {
    type Error = Rejection;
    type Future = ExtractFuture<Self>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let request = request.clone();
        Box::pin(async move {
            let auth = auth_of(&request)?;
            auth.authenticated(&request)
                .await
                .map_err(|r| auth.reject(r))
        })
    }
}

impl FromRequest for MaybeAuthenticated {
    type Error = Rejection;
    type Future = ExtractFuture<Self>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let request = request.clone();
        Box::pin(async move {
            let auth = auth_of(&request)?;
            auth.maybe_authenticated(&request)
                .await
                .map(MaybeAuthenticated)
                .map_err(|r| auth.reject(r))
        })
    }
}

impl<K, M: RequirementMarker<K>> FromRequest for Require<K, M> {
    type Error = Rejection;
    type Future = ExtractFuture<Self>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let request = request.clone();
        Box::pin(async move {
            let auth = auth_of(&request)?;
            let user = admit(auth.authenticated(&request).await, Some(&M::requirement()))
                .map_err(|r| auth.reject(r))?;
            Ok(Require::admitted(user))
        })
    }
}
