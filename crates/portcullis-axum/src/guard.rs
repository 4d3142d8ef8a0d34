//! Per-route guards as `tower` layers, for [`axum::Router::route_layer`]: built by
//! [`Auth::require_authenticated`], [`Auth::require_permission`], [`Auth::require_role`],
//! [`Auth::require_organization`] and [`Auth::require_feature_flag`].
//!
//! ```no_run
//! # use axum::{Router, routing::get};
//! # fn app(auth: portcullis_axum::Auth) -> Router {
//! Router::new()
//!     .route("/api/todos", get(|| async { "[]" }))
//!     .route_layer(auth.require_permission("read:todos"))
//!     .with_state(auth)
//! # }
//! ```
//!
//! A guard authenticates the request (bearer token, else the session), checks its requirement,
//! and answers the [`AuthRejection`](portcullis::web::AuthRejection) itself when either fails
//! (the decision is [`portcullis::web::admit`], shared with `portcullis-actix`); when both
//! pass, the handler runs, and an [`Authenticated`] extractor in it reuses the guard's result
//! instead of verifying the token again.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
pub use portcullis::web::Requirement;
use portcullis::web::admit;
use tower::{Layer, Service};

use crate::auth::Auth;
use crate::extract::Authenticated;

/// A `tower` layer that lets a request through only when it is authenticated and meets the
/// requirement. See the [module docs](self).
#[derive(Debug, Clone)]
#[must_use]
pub struct RequireLayer {
    auth: Auth,
    requirement: Option<Requirement>,
}

impl RequireLayer {
    pub(crate) fn new(auth: Auth, requirement: Option<Requirement>) -> Self {
        RequireLayer { auth, requirement }
    }
}

impl<S> Layer<S> for RequireLayer {
    type Service = RequireService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireService {
            inner,
            auth: self.auth.clone(),
            requirement: self.requirement.clone(),
        }
    }
}

/// The service of a [`RequireLayer`].
#[derive(Debug, Clone)]
pub struct RequireService<S> {
    inner: S,
    auth: Auth,
    requirement: Option<Requirement>,
}

impl<S> Service<Request> for RequireService<S>
where
    S: Service<Request, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, S::Error>> + Send + 'static>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        // The clone that was made ready is the one called (tower's usual dance).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let auth = self.auth.clone();
        let requirement = self.requirement.clone();
        Box::pin(async move {
            let (mut parts, body) = request.into_parts();
            let checked = admit(auth.authenticated(&mut parts).await, requirement.as_ref());
            match checked {
                Ok(user) => {
                    // For the handler's extractors (`authenticated` may have left it already).
                    if parts.extensions.get::<Authenticated>().is_none() {
                        parts.extensions.insert(user);
                    }
                    inner.call(Request::from_parts(parts, body)).await
                }
                Err(rejection) => Ok(auth.reject(rejection).into_response()),
            }
        })
    }
}
