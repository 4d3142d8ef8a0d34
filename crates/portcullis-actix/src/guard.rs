//! Guards as actix-web middleware, for `.wrap(…)` on an `App`, a `Scope` or a `Resource`:
//! built by [`Auth::require_authenticated`], [`Auth::require_permission`],
//! [`Auth::require_role`], [`Auth::require_organization`] and [`Auth::require_feature_flag`].
//!
//! ```no_run
//! use actix_web::{App, HttpResponse, web};
//! # fn app(auth: portcullis_actix::Auth) {
//! let app = App::new()
//!     .app_data(auth.clone())
//!     .service(
//!         web::scope("/api/admin")
//!             .wrap(auth.require_role("admin"))
//!             .route("/stats", web::get().to(|| async { HttpResponse::Ok().body("42") })),
//!     );
//! # let _ = app; }
//! ```
//!
//! Or on one resource:
//!
//! ```no_run
//! use actix_web::{App, web};
//! # fn app(auth: portcullis_actix::Auth) {
//! let app = App::new().app_data(auth.clone()).service(
//!     web::resource("/api/todos")
//!         .wrap(auth.require_permission("read:todos"))
//!         .route(web::get().to(|| async { "[]" })),
//! );
//! # let _ = app; }
//! ```
//!
//! A guard authenticates the request (bearer token, else the session), checks its
//! requirement, and answers the [`AuthRejection`](crate::AuthRejection) itself when either
//! fails (the decision is [`portcullis::web::admit`], shared with `portcullis-axum`); when both
//! pass, the service runs, and an [`Authenticated`] extractor in it reuses the guard's result
//! instead of verifying the token again.
//!
//! Why a `Transform` rather than an actix-web routing `Guard`: a routing guard can only say
//! "no match" (a 404, or the next route), never answer 401 / 403 with `WWW-Authenticate`; and
//! `middleware::from_fn` would give an unnameable type. [`RequireAuth`] is a plain value you
//! can store and clone.

use std::fmt;
use std::future::{Future, Ready, ready};
use std::pin::Pin;
use std::rc::Rc;

use actix_web::HttpMessage;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
pub use portcullis::web::Requirement;
use portcullis::web::admit;

use crate::auth::Auth;
use crate::extract::Authenticated;

/// Middleware that lets a request through only when it is authenticated and meets the
/// requirement. See the [module docs](self).
#[derive(Debug, Clone)]
#[must_use]
pub struct RequireAuth {
    auth: Auth,
    requirement: Option<Requirement>,
}

impl RequireAuth {
    pub(crate) fn new(auth: Auth, requirement: Option<Requirement>) -> Self {
        RequireAuth { auth, requirement }
    }
}

impl<S, B> Transform<S, ServiceRequest> for RequireAuth
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Transform = RequireAuthMiddleware<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(RequireAuthMiddleware {
            service: Rc::new(service),
            auth: self.auth.clone(),
            requirement: self.requirement.clone(),
        }))
    }
}

/// The service of a [`RequireAuth`].
pub struct RequireAuthMiddleware<S> {
    service: Rc<S>,
    auth: Auth,
    requirement: Option<Requirement>,
}

impl<S> fmt::Debug for RequireAuthMiddleware<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequireAuthMiddleware")
            .field("requirement", &self.requirement)
            .finish_non_exhaustive()
    }
}

impl<S, B> Service<ServiceRequest> for RequireAuthMiddleware<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>>>>;

    forward_ready!(service);

    fn call(&self, request: ServiceRequest) -> Self::Future {
        let service = Rc::clone(&self.service);
        let auth = self.auth.clone();
        let requirement = self.requirement.clone();
        Box::pin(async move {
            let checked = admit(
                auth.authenticated(request.request()).await,
                requirement.as_ref(),
            );
            match checked {
                Ok(user) => {
                    // For the handler's extractors (`authenticated` may have left it already).
                    if request.extensions().get::<Authenticated>().is_none() {
                        request.extensions_mut().insert(user);
                    }
                    service
                        .call(request)
                        .await
                        .map(ServiceResponse::map_into_left_body)
                }
                Err(rejection) => {
                    let response = auth.reject(rejection).response();
                    Ok(request.into_response(response).map_into_right_body())
                }
            }
        })
    }
}
