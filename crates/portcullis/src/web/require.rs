//! What a guard lets through, written once for every framework crate: the typed-guard markers
//! ([`PermissionKey`], [`RoleKey`], [`OrganizationCode`], [`FeatureFlagKey`], declared with
//! [`permission!`](crate::permission!), [`role!`](crate::role!),
//! [`organization!`](crate::organization!), [`feature_flag!`](crate::feature_flag!)), the
//! authenticated [`Principal`], and the decision of a guard ([`admit`]).
//!
//! A framework crate keeps only the glue: its extractor and middleware types call
//! [`WebAuth::authenticate`](super::WebAuth::authenticate) and [`admit`], and turn the
//! [`AuthRejection`] into its response type.
//!
//! ```
//! use portcullis::web::{Requirement, RequirementMarker, kind};
//!
//! portcullis::permission!(
//!     /// May read todos.
//!     pub ReadTodos = "read:todos"
//! );
//!
//! assert_eq!(
//!     <ReadTodos as RequirementMarker<kind::Permission>>::requirement(),
//!     Requirement::Permission("read:todos".into())
//! );
//! ```

use std::borrow::Cow;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use crate::claims::Claims;
use crate::oauth::TokenSet;
use crate::web::rejection::{AuthRejection, Requirement};
use crate::web::signin::SignedIn;

/// A permission a typed guard (`RequirePermission<P>`) requires; declare one with
/// [`permission!`](crate::permission!).
pub trait PermissionKey: 'static {
    /// The permission's key, e.g. `read:todos`.
    const PERMISSION: &'static str;
}

/// A role a typed guard (`RequireRole<R>`) requires; declare one with [`role!`](crate::role!).
pub trait RoleKey: 'static {
    /// The role's key, e.g. `admin`.
    const ROLE: &'static str;
}

/// An organization a typed guard (`RequireOrganization<O>`) requires; declare one with
/// [`organization!`](crate::organization!).
pub trait OrganizationCode: 'static {
    /// The organization's code, e.g. `org_acme`.
    const ORG_CODE: &'static str;
}

/// A boolean feature flag a typed guard (`RequireFeatureFlag<F>`) requires on; declare one with
/// [`feature_flag!`](crate::feature_flag!).
pub trait FeatureFlagKey: 'static {
    /// The flag's key, e.g. `beta_ui`.
    const FLAG: &'static str;
}

/// The kinds of typed guard: the `K` of [`RequirementMarker<K>`] and of the framework crates'
/// `Require<K, M>` (`RequirePermission<M>` is `Require<kind::Permission, M>`).
pub mod kind {
    /// A permission ([`PermissionKey`](super::PermissionKey) markers).
    #[derive(Debug)]
    pub enum Permission {}
    /// A role ([`RoleKey`](super::RoleKey) markers).
    #[derive(Debug)]
    pub enum Role {}
    /// An organization ([`OrganizationCode`](super::OrganizationCode) markers).
    #[derive(Debug)]
    pub enum Organization {}
    /// A feature flag ([`FeatureFlagKey`](super::FeatureFlagKey) markers).
    #[derive(Debug)]
    pub enum FeatureFlag {}
}

/// A marker type of the kind `K` names a [`Requirement`]. Implemented for every
/// [`PermissionKey`] (kind [`kind::Permission`]), [`RoleKey`], [`OrganizationCode`] and
/// [`FeatureFlagKey`]: implement those, not this.
pub trait RequirementMarker<K>: 'static {
    /// What the marker requires.
    fn requirement() -> Requirement;
}

impl<M: PermissionKey> RequirementMarker<kind::Permission> for M {
    fn requirement() -> Requirement {
        Requirement::Permission(Cow::Borrowed(M::PERMISSION))
    }
}

impl<M: RoleKey> RequirementMarker<kind::Role> for M {
    fn requirement() -> Requirement {
        Requirement::Role(Cow::Borrowed(M::ROLE))
    }
}

impl<M: OrganizationCode> RequirementMarker<kind::Organization> for M {
    fn requirement() -> Requirement {
        Requirement::Organization(Cow::Borrowed(M::ORG_CODE))
    }
}

impl<M: FeatureFlagKey> RequirementMarker<kind::FeatureFlag> for M {
    fn requirement() -> Requirement {
        Requirement::FeatureFlag(Cow::Borrowed(M::FLAG))
    }
}

/// How a request was authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Via {
    /// An `Authorization: Bearer` access token.
    Bearer,
    /// The browser session of the sign-in routes.
    Session,
}

/// Who an authenticated request is: the verified claims of its access token, how it came (a
/// bearer token or the session), and for a session its tokens. What the framework crates'
/// `Authenticated` holds. Dereferences to [`Claims`].
#[derive(Clone)]
pub struct Principal {
    claims: Arc<Claims>,
    via: Via,
    tokens: Option<Arc<TokenSet>>,
}

impl Principal {
    /// The principal of a verified bearer token.
    pub fn bearer(claims: Arc<Claims>) -> Self {
        Principal {
            claims,
            via: Via::Bearer,
            tokens: None,
        }
    }

    /// The principal of a session's sign-in.
    pub fn session(signed_in: SignedIn) -> Self {
        Principal {
            claims: Arc::new(signed_in.access_claims),
            via: Via::Session,
            tokens: Some(Arc::new(signed_in.tokens)),
        }
    }

    /// For a signed-in session ([`Via::Session`]): the session's tokens, already refreshed when
    /// they were about to expire — e.g. to call another API with
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

impl Deref for Principal {
    type Target = Claims;

    fn deref(&self) -> &Claims {
        &self.claims
    }
}

impl fmt::Debug for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Principal")
            .field("subject", &self.claims.subject())
            .field("via", &self.via)
            .finish_non_exhaustive()
    }
}

/// The decision of a guard: the request's authentication (`Err` when it failed) and what the
/// route requires (`None`: any authenticated request) give the user to let through, or the
/// rejection to answer — the authentication's own (401 / 400 / 503), else 403
/// `insufficient_scope` naming the requirement.
///
/// ```
/// use portcullis::web::{AuthRejection, Requirement, admit};
///
/// let user = std::sync::Arc::new(portcullis::Claims::default());
/// let admin = Requirement::Role("admin".into());
/// assert!(admit(Ok(user.clone()), None).is_ok());
/// assert!(matches!(
///     admit(Ok(user), Some(&admin)),
///     Err(AuthRejection::InsufficientScope(_))
/// ));
/// assert!(matches!(
///     admit::<std::sync::Arc<portcullis::Claims>>(Err(AuthRejection::MissingCredentials), Some(&admin)),
///     Err(AuthRejection::MissingCredentials)
/// ));
/// ```
pub fn admit<P: Deref<Target = Claims>>(
    authenticated: Result<P, AuthRejection>,
    requirement: Option<&Requirement>,
) -> Result<P, AuthRejection> {
    let user = authenticated?;
    match requirement {
        Some(requirement) => requirement.check(&user).map(|()| user),
        None => Ok(user),
    }
}

/// Declares a permission marker for the typed guard `RequirePermission<P>` of the framework
/// crates: `permission!(pub ReadTodos = "read:todos");` (doc comments and attributes may
/// precede the visibility). `portcullis_axum::permission!` and `portcullis_actix::permission!`
/// are this macro.
#[macro_export]
macro_rules! permission {
    ($(#[$meta:meta])* $vis:vis $name:ident = $key:expr) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, Default)]
        $vis struct $name;
        impl $crate::web::PermissionKey for $name {
            const PERMISSION: &'static str = $key;
        }
    };
}

/// Declares a role marker for the typed guard `RequireRole<R>`: `role!(pub Admin = "admin");`.
#[macro_export]
macro_rules! role {
    ($(#[$meta:meta])* $vis:vis $name:ident = $key:expr) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, Default)]
        $vis struct $name;
        impl $crate::web::RoleKey for $name {
            const ROLE: &'static str = $key;
        }
    };
}

/// Declares an organization marker for the typed guard `RequireOrganization<O>`:
/// `organization!(pub Acme = "org_acme");`.
#[macro_export]
macro_rules! organization {
    ($(#[$meta:meta])* $vis:vis $name:ident = $key:expr) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, Default)]
        $vis struct $name;
        impl $crate::web::OrganizationCode for $name {
            const ORG_CODE: &'static str = $key;
        }
    };
}

/// Declares a feature-flag marker for the typed guard `RequireFeatureFlag<F>`:
/// `feature_flag!(pub BetaUi = "beta_ui");`.
#[macro_export]
macro_rules! feature_flag {
    ($(#[$meta:meta])* $vis:vis $name:ident = $key:expr) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, Default)]
        $vis struct $name;
        impl $crate::web::FeatureFlagKey for $name {
            const FLAG: &'static str = $key;
        }
    };
}

/// Defines, in a framework crate (at the place of the call), the two types its extractors are
/// implemented for — written once here, while the orphan rule wants each framework's
/// extractor traits implemented on types of its own crate:
///
/// - `Authenticated`: a [`Principal`](crate::web::Principal) (claims, [`Via`](crate::web::Via),
///   the session's tokens), dereferencing to [`Claims`](crate::Claims), and
///   `MaybeAuthenticated`, an `Option` of one;
/// - `Require<K, M>`: an `Authenticated` that meets what the marker `M` of the kind `K`
///   requires ([`RequirementMarker`](crate::web::RequirementMarker)), with the aliases
///   `RequirePermission`, `RequireRole`, `RequireOrganization` and `RequireFeatureFlag`.
///
/// The framework crate adds the extractor impls: for `Authenticated` (and `MaybeAuthenticated`),
/// its authentication; for
/// `Require`, that and [`admit`](crate::web::admit) with `M::requirement()`.
#[doc(hidden)]
#[macro_export]
macro_rules! __web_extractor_types {
    () => {
        /// An authenticated request: the verified claims of its access token (from the
        /// `Authorization: Bearer` header, else from the signed-in session). Dereferences to
        /// [`Claims`](portcullis::Claims), so `user.has_permission(..)`, `user.org_code`,
        /// `user.bool_flag(..)` work directly.
        ///
        /// Refuses a request without credentials with 401 (`WWW-Authenticate: Bearer
        /// realm="…"`), malformed credentials with 400 `invalid_request`, and an invalid token
        /// with 401 `invalid_token`.
        #[derive(Clone)]
        pub struct Authenticated($crate::web::Principal);

        impl Authenticated {
            /// For a signed-in session ([`Via::Session`](portcullis::web::Via::Session)): the
            /// session's tokens, already refreshed when they were about to expire — e.g. to
            /// call another API with `Authorization: Bearer {tokens.access_token}`, or to read
            /// the ID token's claims. `None` for a bearer request (the caller holds its token).
            pub fn tokens(&self) -> ::std::option::Option<&$crate::oauth::TokenSet> {
                self.0.tokens()
            }

            /// The verified claims.
            pub fn claims(&self) -> &::std::sync::Arc<$crate::Claims> {
                self.0.claims()
            }

            /// The verified claims, owned.
            pub fn into_claims(self) -> ::std::sync::Arc<$crate::Claims> {
                self.0.into_claims()
            }

            /// Whether the request came with a bearer token or a session.
            pub fn via(&self) -> $crate::web::Via {
                self.0.via()
            }

            /// Who the request is, in the SDK's framework-free form.
            pub fn principal(&self) -> &$crate::web::Principal {
                &self.0
            }
        }

        impl ::std::convert::From<$crate::web::Principal> for Authenticated {
            fn from(principal: $crate::web::Principal) -> Self {
                Authenticated(principal)
            }
        }

        impl ::std::ops::Deref for Authenticated {
            type Target = $crate::Claims;

            fn deref(&self) -> &$crate::Claims {
                &self.0
            }
        }

        impl ::std::fmt::Debug for Authenticated {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.debug_struct("Authenticated")
                    .field("subject", &self.0.subject())
                    .field("via", &self.0.via())
                    .finish_non_exhaustive()
            }
        }

        /// The authenticated user, if any: `None` for a request without credentials. Malformed
        /// or invalid credentials are still refused (400 / 401), so a client with a bad token
        /// learns so instead of being served as anonymous.
        #[derive(Debug, Clone)]
        pub struct MaybeAuthenticated(pub ::std::option::Option<Authenticated>);

        /// A typed guard: an authenticated request that meets what the marker `M` of the kind
        /// `K` requires (see [`RequirementMarker`](portcullis::web::RequirementMarker)), else
        /// 403 `insufficient_scope`. Written through its aliases [`RequirePermission`],
        /// [`RequireRole`], [`RequireOrganization`] and [`RequireFeatureFlag`]. Dereferences to
        /// [`Claims`](portcullis::Claims).
        pub struct Require<K, M> {
            user: Authenticated,
            marker: ::std::marker::PhantomData<fn() -> (K, M)>,
        }

        /// An authenticated request whose token grants the permission `P` (a
        /// [`PermissionKey`](portcullis::web::PermissionKey)), else 403 `insufficient_scope`
        /// with `scope="<permission>"`.
        pub type RequirePermission<P> = Require<$crate::web::kind::Permission, P>;

        /// An authenticated request whose user has the role `R` (a
        /// [`RoleKey`](portcullis::web::RoleKey)), else 403 `insufficient_scope`.
        pub type RequireRole<R> = Require<$crate::web::kind::Role, R>;

        /// An authenticated request signed into the organization `O` (an
        /// [`OrganizationCode`](portcullis::web::OrganizationCode)), else 403
        /// `insufficient_scope`.
        pub type RequireOrganization<O> = Require<$crate::web::kind::Organization, O>;

        /// An authenticated request for which the boolean feature flag `F` (a
        /// [`FeatureFlagKey`](portcullis::web::FeatureFlagKey)) is on, else 403
        /// `insufficient_scope`.
        pub type RequireFeatureFlag<F> = Require<$crate::web::kind::FeatureFlag, F>;

        impl<K, M> Require<K, M> {
            /// The authenticated user.
            pub fn user(&self) -> &Authenticated {
                &self.user
            }

            /// The authenticated user, owned.
            pub fn into_user(self) -> Authenticated {
                self.user
            }

            /// The guard for `user`, who meets `M`'s requirement (checked by the caller).
            fn admitted(user: Authenticated) -> Self {
                Require {
                    user,
                    marker: ::std::marker::PhantomData,
                }
            }
        }

        impl<K, M> ::std::ops::Deref for Require<K, M> {
            type Target = $crate::Claims;

            fn deref(&self) -> &$crate::Claims {
                &self.user
            }
        }

        impl<K, M> ::std::clone::Clone for Require<K, M> {
            fn clone(&self) -> Self {
                Require::admitted(self.user.clone())
            }
        }

        impl<K, M> ::std::fmt::Debug for Require<K, M> {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.debug_tuple("Require").field(&self.user).finish()
            }
        }
    };
}

/// A framework crate's guard constructors on its `Auth`, written once:
/// `require_authenticated`, `require_permission`, `require_role`, `require_organization`,
/// `require_feature_flag` and `require`, each a `$guard::new(auth, Option<Requirement>)` (the
/// crate's layer or middleware type). Called inside the crate's `impl Auth { … }`.
#[doc(hidden)]
#[macro_export]
macro_rules! __web_auth_guards {
    ($guard:ident) => {
        /// A guard (see the [`guard`](crate::guard) module): any authenticated request passes.
        pub fn require_authenticated(&self) -> $guard {
            $guard::new(self.clone(), ::std::option::Option::None)
        }

        /// A guard: the token must grant `permission`, else 403 `insufficient_scope` (with
        /// `scope="<permission>"`).
        pub fn require_permission(
            &self,
            permission: impl ::std::convert::Into<::std::borrow::Cow<'static, str>>,
        ) -> $guard {
            self.require($crate::web::Requirement::Permission(permission.into()))
        }

        /// A guard: the user must have the role `role` (its key), else 403
        /// `insufficient_scope`.
        pub fn require_role(
            &self,
            role: impl ::std::convert::Into<::std::borrow::Cow<'static, str>>,
        ) -> $guard {
            self.require($crate::web::Requirement::Role(role.into()))
        }

        /// A guard: the token must be issued for the organization `org_code`, else 403
        /// `insufficient_scope`.
        pub fn require_organization(
            &self,
            org_code: impl ::std::convert::Into<::std::borrow::Cow<'static, str>>,
        ) -> $guard {
            self.require($crate::web::Requirement::Organization(org_code.into()))
        }

        /// A guard: the boolean feature flag `flag` must be on for the user, else 403
        /// `insufficient_scope`.
        pub fn require_feature_flag(
            &self,
            flag: impl ::std::convert::Into<::std::borrow::Cow<'static, str>>,
        ) -> $guard {
            self.require($crate::web::Requirement::FeatureFlag(flag.into()))
        }

        /// A guard for any [`Requirement`](portcullis::web::Requirement).
        pub fn require(&self, requirement: $crate::web::Requirement) -> $guard {
            $guard::new(self.clone(), ::std::option::Option::Some(requirement))
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::permission!(Read = "read:todos");
    crate::role!(Admin = "admin");
    crate::organization!(Acme = "org_acme");
    crate::feature_flag!(Beta = "beta");

    #[test]
    fn each_marker_names_its_requirement() {
        assert_eq!(
            <Read as RequirementMarker<kind::Permission>>::requirement(),
            Requirement::Permission("read:todos".into())
        );
        assert_eq!(
            <Admin as RequirementMarker<kind::Role>>::requirement(),
            Requirement::Role("admin".into())
        );
        assert_eq!(
            <Acme as RequirementMarker<kind::Organization>>::requirement(),
            Requirement::Organization("org_acme".into())
        );
        assert_eq!(
            <Beta as RequirementMarker<kind::FeatureFlag>>::requirement(),
            Requirement::FeatureFlag("beta".into())
        );
    }

    #[test]
    fn a_guard_lets_through_what_meets_its_requirement() {
        let claims: Claims = serde_json::from_value(serde_json::json!({
            "sub": "kp_1",
            "permissions": ["read:todos"],
            "org_code": "org_acme",
        }))
        .unwrap_or_default();
        let user = Principal::bearer(Arc::new(claims));
        assert_eq!(user.via(), Via::Bearer);
        assert!(user.tokens().is_none());
        let read = Requirement::Permission("read:todos".into());
        let acme = Requirement::Organization("org_acme".into());
        let admin = Requirement::Role("admin".into());
        for ok in [None, Some(&read), Some(&acme)] {
            assert!(admit(Ok(user.clone()), ok).is_ok(), "{ok:?}");
        }
        match admit(Ok(user.clone()), Some(&admin)) {
            Err(AuthRejection::InsufficientScope(r)) => assert_eq!(r, admin),
            other => panic!("{other:?}"),
        }
        // A failed authentication is answered as it is, whatever the requirement.
        match admit::<Principal>(Err(AuthRejection::Unavailable), Some(&read)) {
            Err(AuthRejection::Unavailable) => {}
            other => panic!("{other:?}"),
        }
    }
}
