//! Extractors: [`Authenticated`], [`MaybeAuthenticated`], and the typed guards
//! [`RequirePermission`], [`RequireRole`], [`RequireOrganization`], [`RequireFeatureFlag`].
//!
//! Each finds the [`Auth`] in the app data (`App::app_data(auth)` or `web::Data<Auth>`), and
//! fails with a [`Rejection`], a [`ResponseError`](actix_web::ResponseError) that answers
//! RFC 6750 by itself.
//!
//! A typed guard names what it requires with a marker type, declared with a macro:
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

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::ops::Deref;
use std::pin::Pin;
use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use portcullis::Claims;
use portcullis::oauth::TokenSet;

use crate::auth::Auth;
use crate::guard::Requirement;
use crate::rejection::{AuthRejection, Rejection};

/// How a request was authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Via {
    /// An `Authorization: Bearer` access token.
    Bearer,
    /// The browser session of the sign-in routes.
    Session,
}

/// An authenticated request: the verified claims of its access token (from the
/// `Authorization: Bearer` header, else from the signed-in session). Dereferences to
/// [`Claims`], so `user.has_permission(..)`, `user.org_code`, `user.bool_flag(..)` work
/// directly.
///
/// Refuses a request without credentials with 401 (`WWW-Authenticate: Bearer realm="…"`),
/// malformed credentials with 400 `invalid_request`, and an invalid token with 401
/// `invalid_token`.
#[derive(Clone)]
pub struct Authenticated {
    claims: Arc<Claims>,
    via: Via,
    tokens: Option<Arc<TokenSet>>,
}

impl Authenticated {
    pub(crate) fn new(claims: Arc<Claims>, via: Via) -> Self {
        Authenticated {
            claims,
            via,
            tokens: None,
        }
    }

    pub(crate) fn with_tokens(mut self, tokens: TokenSet) -> Self {
        self.tokens = Some(Arc::new(tokens));
        self
    }

    /// For a signed-in session ([`Via::Session`]): the session's tokens, already refreshed
    /// when they were about to expire — e.g. to call another API with
    /// `Authorization: Bearer {tokens.access_token}`, or to read the ID token's claims.
    /// `None` for a bearer request (the caller holds its token).
    pub fn tokens(&self) -> Option<&TokenSet> {
        self.tokens.as_deref()
    }

    /// The verified claims.
    pub fn claims(&self) -> &Arc<Claims> {
        &self.claims
    }

    /// The verified claims, owned.
    pub fn into_claims(self) -> Arc<Claims> {
        self.claims
    }

    /// Whether the request came with a bearer token or a session.
    pub fn via(&self) -> Via {
        self.via
    }
}

impl Deref for Authenticated {
    type Target = Claims;

    fn deref(&self) -> &Claims {
        &self.claims
    }
}

impl fmt::Debug for Authenticated {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authenticated")
            .field("subject", &self.claims.subject())
            .field("via", &self.via)
            .finish_non_exhaustive()
    }
}

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

/// The authenticated user, if any: `None` for a request without credentials. Malformed or
/// invalid credentials are still refused (400 / 401), so a client with a bad token learns so
/// instead of being served as anonymous.
#[derive(Debug, Clone)]
pub struct MaybeAuthenticated(pub Option<Authenticated>);

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

/// A permission a [`RequirePermission`] guard requires; declare one with
/// [`permission!`](crate::permission!).
pub trait PermissionKey: 'static {
    /// The permission's key, e.g. `read:todos`.
    const PERMISSION: &'static str;
}

/// A role a [`RequireRole`] guard requires; declare one with [`role!`](crate::role!).
pub trait RoleKey: 'static {
    /// The role's key, e.g. `admin`.
    const ROLE: &'static str;
}

/// An organization a [`RequireOrganization`] guard requires; declare one with
/// [`organization!`](crate::organization!).
pub trait OrganizationCode: 'static {
    /// The organization's code, e.g. `org_acme`.
    const ORG_CODE: &'static str;
}

/// A boolean feature flag a [`RequireFeatureFlag`] guard requires on; declare one with
/// [`feature_flag!`](crate::feature_flag!).
pub trait FeatureFlagKey: 'static {
    /// The flag's key, e.g. `beta_ui`.
    const FLAG: &'static str;
}

macro_rules! guard_extractor {
    ($(#[$meta:meta])* $name:ident, $marker:ident, $konst:ident, $variant:ident) => {
        $(#[$meta])*
        pub struct $name<M> {
            user: Authenticated,
            marker: PhantomData<fn() -> M>,
        }

        impl<M> $name<M> {
            /// The authenticated user.
            pub fn user(&self) -> &Authenticated {
                &self.user
            }

            /// The authenticated user, owned.
            pub fn into_user(self) -> Authenticated {
                self.user
            }
        }

        impl<M> Deref for $name<M> {
            type Target = Claims;

            fn deref(&self) -> &Claims {
                &self.user.claims
            }
        }

        impl<M> Clone for $name<M> {
            fn clone(&self) -> Self {
                $name {
                    user: self.user.clone(),
                    marker: PhantomData,
                }
            }
        }

        impl<M> fmt::Debug for $name<M> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_tuple(stringify!($name)).field(&self.user).finish()
            }
        }

        impl<M: $marker> FromRequest for $name<M> {
            type Error = Rejection;
            type Future = ExtractFuture<Self>;

            fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
                let request = request.clone();
                Box::pin(async move {
                    let auth = auth_of(&request)?;
                    let user = auth
                        .authenticated(&request)
                        .await
                        .map_err(|r| auth.reject(r))?;
                    Requirement::$variant(M::$konst.into())
                        .check(&user)
                        .map_err(|r| auth.reject(r))?;
                    Ok($name {
                        user,
                        marker: PhantomData,
                    })
                })
            }
        }
    };
}

guard_extractor!(
    /// An authenticated request whose token grants the permission `P` (a [`PermissionKey`]),
    /// else 403 `insufficient_scope` with `scope="<permission>"`.
    RequirePermission,
    PermissionKey,
    PERMISSION,
    Permission
);
guard_extractor!(
    /// An authenticated request whose user has the role `R` (a [`RoleKey`]), else 403
    /// `insufficient_scope`.
    RequireRole,
    RoleKey,
    ROLE,
    Role
);
guard_extractor!(
    /// An authenticated request signed into the organization `O` (an [`OrganizationCode`]),
    /// else 403 `insufficient_scope`.
    RequireOrganization,
    OrganizationCode,
    ORG_CODE,
    Organization
);
guard_extractor!(
    /// An authenticated request for which the boolean feature flag `F` (a [`FeatureFlagKey`])
    /// is on, else 403 `insufficient_scope`.
    RequireFeatureFlag,
    FeatureFlagKey,
    FLAG,
    FeatureFlag
);

/// Declares a permission marker for [`RequirePermission`]:
/// `permission!(pub ReadTodos = "read:todos");` (doc comments and attributes may precede the
/// visibility).
#[macro_export]
macro_rules! permission {
    ($(#[$meta:meta])* $vis:vis $name:ident = $key:expr) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, Default)]
        $vis struct $name;
        impl $crate::PermissionKey for $name {
            const PERMISSION: &'static str = $key;
        }
    };
}

/// Declares a role marker for [`RequireRole`]: `role!(pub Admin = "admin");`.
#[macro_export]
macro_rules! role {
    ($(#[$meta:meta])* $vis:vis $name:ident = $key:expr) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, Default)]
        $vis struct $name;
        impl $crate::RoleKey for $name {
            const ROLE: &'static str = $key;
        }
    };
}

/// Declares an organization marker for [`RequireOrganization`]:
/// `organization!(pub Acme = "org_acme");`.
#[macro_export]
macro_rules! organization {
    ($(#[$meta:meta])* $vis:vis $name:ident = $key:expr) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, Default)]
        $vis struct $name;
        impl $crate::OrganizationCode for $name {
            const ORG_CODE: &'static str = $key;
        }
    };
}

/// Declares a feature-flag marker for [`RequireFeatureFlag`]:
/// `feature_flag!(pub BetaUi = "beta_ui");`.
#[macro_export]
macro_rules! feature_flag {
    ($(#[$meta:meta])* $vis:vis $name:ident = $key:expr) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, Default)]
        $vis struct $name;
        impl $crate::FeatureFlagKey for $name {
            const FLAG: &'static str = $key;
        }
    };
}
