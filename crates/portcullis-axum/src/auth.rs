//! [`Auth`]: the one handle an app builds (from [`Config`]) and puts in its router state.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use axum::http::request::Parts;
use portcullis::clock::{Clock, SystemClock};
use portcullis::oauth::AuthClient;
use portcullis::{Config, Error, HttpOptions, TokenVerifier};

use crate::credentials::{self, Credentials};
use crate::extract::{Authenticated, Via};
use crate::guard::{RequireLayer, Requirement};
use crate::rejection::{AuthRejection, Rejection};
use crate::routes::AuthRoutes;
use crate::session::{AuthSession, SessionSource, tower_sessions_source};
use crate::signin::Refreshes;

/// The realm of `WWW-Authenticate` unless [`AuthBuilder::realm`] sets another.
pub(crate) const DEFAULT_REALM: &str = "api";

/// Everything the extractors, guards and sign-in routes need: the token verifier, the OAuth
/// client (for browser sign-in), and their settings. Build one per app; it is cheap to clone
/// (an `Arc` inside) and every clone shares the verifier's key cache.
///
/// Handlers reach it through the router state, the axum way: `Auth` is the state itself, or
/// your state implements `FromRef` for it.
///
/// ```no_run
/// use axum::{Router, extract::FromRef, routing::get};
/// use portcullis_axum::{Auth, Authenticated};
///
/// #[derive(Clone)]
/// struct AppState {
///     auth: Auth,
///     // … your database pool, templates …
/// }
///
/// impl FromRef<AppState> for Auth {
///     fn from_ref(state: &AppState) -> Auth {
///         state.auth.clone()
///     }
/// }
///
/// async fn me(user: Authenticated) -> String {
///     format!("hello {}", user.subject().unwrap_or("?"))
/// }
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let auth = Auth::from_config(&portcullis::Config::from_env()?)?;
/// let app: Router = Router::new()
///     .route("/me", get(me))
///     .with_state(AppState { auth });
/// # let _ = app; Ok(()) }
/// ```
#[derive(Clone)]
pub struct Auth {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) verifier: TokenVerifier,
    pub(crate) client: Option<AuthClient>,
    realm: Arc<str>,
    /// Verifies the access tokens the sign-in routes receive from the token endpoint (for their
    /// claims): the bearer verifier when the app has an API audience, else one that accepts
    /// any audience but never an ID token of this client.
    pub(crate) session_verifier: Option<TokenVerifier>,
    pub(crate) session_source: SessionSource,
    pub(crate) routes: AuthRoutes,
    pub(crate) refresh_margin: Duration,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) refreshes: Refreshes,
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Auth")
            .field("issuer", &self.inner.verifier.issuer())
            .field("sign_in", &self.inner.client.is_some())
            .field("realm", &self.inner.realm)
            .finish_non_exhaustive()
    }
}

impl Auth {
    /// An `Auth` for `config`: a [`TokenVerifier`] for its issuer and audiences, and — when it
    /// has a client id — an [`AuthClient`] for the sign-in routes. No network request is made
    /// here (keys are fetched on first use).
    pub fn from_config(config: &Config) -> Result<Auth, Error> {
        Auth::builder(config.clone()).build()
    }

    /// An `Auth` for bearer tokens only, with a verifier you configured yourself (token cache,
    /// leeway, clock, …).
    pub fn from_verifier(verifier: TokenVerifier) -> Auth {
        Auth {
            inner: Arc::new(Inner {
                verifier,
                client: None,
                realm: Arc::from(DEFAULT_REALM),
                session_verifier: None,
                session_source: tower_sessions_source(),
                routes: AuthRoutes::default(),
                refresh_margin: DEFAULT_REFRESH_MARGIN,
                clock: Arc::new(SystemClock),
                refreshes: Refreshes::default(),
            }),
        }
    }

    /// Starts configuring an `Auth`.
    pub fn builder(config: Config) -> AuthBuilder {
        AuthBuilder {
            config,
            verifier: None,
            client: None,
            realm: DEFAULT_REALM.to_owned(),
            session_source: None,
            routes: None,
            refresh_margin: DEFAULT_REFRESH_MARGIN,
            clock: Arc::new(SystemClock),
        }
    }

    pub(crate) fn inner(&self) -> &Inner {
        &self.inner
    }

    /// The session of a request (see [`AuthBuilder::session_source`]), if a session layer put
    /// one there.
    pub fn session(&self, parts: &Parts) -> Option<Arc<dyn AuthSession>> {
        (self.inner.session_source)(parts)
    }

    /// The verifier of bearer tokens.
    pub fn verifier(&self) -> &TokenVerifier {
        &self.inner.verifier
    }

    /// The OAuth client of the sign-in routes, when configured.
    pub fn client(&self) -> Option<&AuthClient> {
        self.inner.client.as_ref()
    }

    /// The realm answered in `WWW-Authenticate`.
    pub fn realm(&self) -> &str {
        &self.inner.realm
    }

    /// A guard for [`axum::Router::route_layer`]: any authenticated request passes.
    pub fn require_authenticated(&self) -> RequireLayer {
        RequireLayer::new(self.clone(), None)
    }

    /// A guard for [`axum::Router::route_layer`]: the token must grant `permission`, else 403
    /// `insufficient_scope`.
    ///
    /// ```no_run
    /// # use axum::{Router, routing::get};
    /// # fn app(auth: portcullis_axum::Auth) -> Router {
    /// Router::new()
    ///     .route("/api/todos", get(|| async { "[]" }))
    ///     .route_layer(auth.require_permission("read:todos"))
    ///     .with_state(auth)
    /// # }
    /// ```
    pub fn require_permission(&self, permission: impl Into<Cow<'static, str>>) -> RequireLayer {
        self.require(Requirement::Permission(permission.into()))
    }

    /// A guard: the user must have the role `role` (its key).
    pub fn require_role(&self, role: impl Into<Cow<'static, str>>) -> RequireLayer {
        self.require(Requirement::Role(role.into()))
    }

    /// A guard: the token must be issued for the organization `org_code`.
    pub fn require_organization(&self, org_code: impl Into<Cow<'static, str>>) -> RequireLayer {
        self.require(Requirement::Organization(org_code.into()))
    }

    /// A guard: the boolean feature flag `flag` must be on for the user.
    pub fn require_feature_flag(&self, flag: impl Into<Cow<'static, str>>) -> RequireLayer {
        self.require(Requirement::FeatureFlag(flag.into()))
    }

    /// A guard for any [`Requirement`].
    pub fn require(&self, requirement: Requirement) -> RequireLayer {
        RequireLayer::new(self.clone(), Some(requirement))
    }

    /// The authenticated user of a request: an earlier guard's result, else the bearer token,
    /// else (when the app has sign-in routes and a session layer) the signed-in session, whose
    /// access token is refreshed shortly before it expires. No credentials at all is
    /// [`AuthRejection::MissingCredentials`].
    pub async fn authenticated(&self, parts: &mut Parts) -> Result<Authenticated, AuthRejection> {
        self.maybe_authenticated(parts)
            .await?
            .ok_or(AuthRejection::MissingCredentials)
    }

    /// Like [`Auth::authenticated`], with `None` for a request without credentials. Credentials
    /// that are present but malformed or invalid are still an error: a client with a bad token
    /// learns so, rather than being served as anonymous.
    pub async fn maybe_authenticated(
        &self,
        parts: &mut Parts,
    ) -> Result<Option<Authenticated>, AuthRejection> {
        if let Some(known) = parts.extensions.get::<Authenticated>() {
            return Ok(Some(known.clone()));
        }
        match credentials::bearer(parts)? {
            Credentials::Bearer(token) => {
                let claims = self
                    .inner
                    .verifier
                    .verify_access_token(token)
                    .await
                    .map_err(|e| AuthRejection::from_error(&e))?;
                let user = Authenticated::new(claims, Via::Bearer);
                parts.extensions.insert(user.clone());
                Ok(Some(user))
            }
            Credentials::None => {
                if self.inner.client.is_none() {
                    return Ok(None);
                }
                let Some(session) = self.session(parts) else {
                    return Ok(None);
                };
                let user = self.session_user(&*session).await?.map(|signed_in| {
                    Authenticated::new(Arc::new(signed_in.access_claims), Via::Session)
                        .with_tokens(signed_in.tokens)
                });
                if let Some(user) = &user {
                    parts.extensions.insert(user.clone());
                }
                Ok(user)
            }
        }
    }

    /// `rejection`, to be answered with this `Auth`'s realm.
    pub fn reject(&self, rejection: AuthRejection) -> Rejection {
        Rejection::new(rejection, self.inner.realm.clone())
    }
}

/// How long before its expiry a session's access token is refreshed, unless
/// [`AuthBuilder::refresh_margin`] says otherwise.
pub const DEFAULT_REFRESH_MARGIN: Duration = Duration::from_secs(60);

/// Configures an [`Auth`]; see [`Auth::builder`].
#[must_use]
pub struct AuthBuilder {
    config: Config,
    verifier: Option<TokenVerifier>,
    client: Option<AuthClient>,
    realm: String,
    session_source: Option<SessionSource>,
    routes: Option<AuthRoutes>,
    refresh_margin: Duration,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for AuthBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthBuilder")
            .field("issuer", &self.config.issuer())
            .field("realm", &self.realm)
            .finish_non_exhaustive()
    }
}

impl AuthBuilder {
    /// The realm of `WWW-Authenticate` answers (default `api`). Quotes, backslashes and control
    /// characters are dropped.
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        self.realm = realm.into();
        self
    }

    /// Verify bearer tokens with this verifier instead of one built from the configuration.
    pub fn verifier(mut self, verifier: TokenVerifier) -> Self {
        self.verifier = Some(verifier);
        self
    }

    /// Use this OAuth client for the sign-in routes instead of one built from the
    /// configuration.
    pub fn client(mut self, client: AuthClient) -> Self {
        self.client = Some(client);
        self
    }

    /// The paths of the sign-in routes ([`Auth::router`]).
    pub fn routes(mut self, routes: AuthRoutes) -> Self {
        self.routes = Some(routes);
        self
    }

    /// How long before it expires a session's access token is refreshed (default one minute).
    pub fn refresh_margin(mut self, margin: Duration) -> Self {
        self.refresh_margin = margin;
        self
    }

    /// The clock for the session's expiry decisions (tests move it instead of sleeping). The
    /// [`AuthClient`] stamps token expiry with its own clock: give it the same one
    /// ([`AuthBuilder::client`]).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Where the sign-in routes and the session fallback of [`Authenticated`] find the
    /// request's session. Default: the `tower_sessions::Session` a `SessionManagerLayer` put
    /// in the request's extensions. Use this to plug in another session library through
    /// [`AuthSession`].
    pub fn session_source(
        mut self,
        source: impl Fn(&Parts) -> Option<Arc<dyn AuthSession>> + Send + Sync + 'static,
    ) -> Self {
        self.session_source = Some(Arc::new(source));
        self
    }

    /// Builds the `Auth`. Errors name the configuration setting at fault.
    pub fn build(self) -> Result<Auth, Error> {
        let verifier = match self.verifier {
            Some(v) => v,
            None => TokenVerifier::from_config(&self.config)?,
        };
        let client = match (self.client, self.config.client_id()) {
            (Some(c), _) => Some(c),
            (None, Some(_)) => Some(
                AuthClient::builder(self.config.clone())
                    .framework("axum")
                    .build()?,
            ),
            (None, None) => None,
        };
        let realm: String = self
            .realm
            .chars()
            .filter(|c| *c != '"' && *c != '\\' && !c.is_control() && c.is_ascii())
            .collect();
        let session_verifier = match &client {
            None => None,
            Some(_) if !self.config.audiences().is_empty() => Some(verifier.clone()),
            Some(client) => {
                let mut b = TokenVerifier::builder(self.config.issuer())
                    .allow_any_audience()
                    .http_options(HttpOptions {
                        allow_insecure_http: self.config.allows_insecure_http(),
                        ..HttpOptions::default()
                    });
                if let Some(id) = client.config().client_id() {
                    b = b.client_id(id);
                }
                Some(b.build()?)
            }
        };
        let routes = self
            .routes
            .unwrap_or_else(|| AuthRoutes::for_redirect_uri(self.config.redirect_uri()));
        Ok(Auth {
            inner: Arc::new(Inner {
                verifier,
                client,
                realm: Arc::from(realm),
                session_verifier,
                session_source: self.session_source.unwrap_or_else(tower_sessions_source),
                routes,
                refresh_margin: self.refresh_margin,
                clock: self.clock,
                refreshes: Refreshes::default(),
            }),
        })
    }
}
