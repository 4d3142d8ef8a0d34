//! Per-route guards as `tower` layers, for [`axum::Router::route_layer`]: built by
//! [`Auth::require_authenticated`], [`Auth::require_permission`], [`Auth::require_role`],
//! [`Auth::require_organization`] and [`Auth::require_feature_flag`].
//!
//! A guard authenticates the request (bearer token, else the session), checks its requirement,
//! and answers the [`AuthRejection`] itself when either fails; when both pass, the handler runs,
//! and an [`Authenticated`] extractor in it reuses the guard's result instead of verifying the
//! token again.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use portcullis::Claims;
use tower::{Layer, Service};

use crate::auth::Auth;
use crate::extract::Authenticated;
use crate::rejection::AuthRejection;

/// What a route requires and the request's token or session does not grant.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Requirement {
    /// A permission (Kinde `permissions` claim), e.g. `read:todos`.
    Permission(Cow<'static, str>),
    /// A role key, e.g. `admin`.
    Role(Cow<'static, str>),
    /// Being signed into an organization (`org_code`), e.g. `org_acme`.
    Organization(Cow<'static, str>),
    /// A boolean feature flag that must be on (absent, off, or not a boolean: refused).
    FeatureFlag(Cow<'static, str>),
}

impl Requirement {
    /// Whether `claims` meet the requirement.
    pub fn is_met_by(&self, claims: &Claims) -> bool {
        match self {
            Requirement::Permission(p) => claims.has_permission(p),
            Requirement::Role(r) => claims.has_role(r),
            Requirement::Organization(o) => claims.org_code.as_deref() == Some(o.as_ref()),
            Requirement::FeatureFlag(f) => claims.bool_flag(f, Some(false)).unwrap_or(false),
        }
    }

    /// `Ok` when `claims` meet it, else the `insufficient_scope` rejection.
    pub fn check(&self, claims: &Claims) -> Result<(), AuthRejection> {
        if self.is_met_by(claims) {
            Ok(())
        } else {
            Err(AuthRejection::InsufficientScope(self.clone()))
        }
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Requirement::Permission(p) => write!(f, "the permission {p} is required"),
            Requirement::Role(r) => write!(f, "the role {r} is required"),
            Requirement::Organization(o) => {
                write!(f, "a sign-in to the organization {o} is required")
            }
            Requirement::FeatureFlag(k) => write!(f, "the feature flag {k} must be on"),
        }
    }
}

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
            let checked = match auth.authenticated(&mut parts).await {
                Ok(user) => match &requirement {
                    Some(r) => r.check(user.claims()).map(|()| user),
                    None => Ok(user),
                },
                Err(e) => Err(e),
            };
            match checked {
                Ok(user) => {
                    parts.extensions.insert::<Authenticated>(user);
                    inner.call(Request::from_parts(parts, body)).await
                }
                Err(rejection) => Ok(auth.reject(rejection).into_response()),
            }
        })
    }
}
