//! [`Auth`]: the one handle an app builds (from [`Config`]) and puts in its app data.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use actix_session::SessionExt;
use actix_web::http::header;
use actix_web::{HttpMessage, HttpRequest};
use portcullis::clock::{Clock, SystemClock};
use portcullis::oauth::AuthClient;
use portcullis::{Config, Error, HttpOptions, TokenVerifier};

use crate::extract::{Authenticated, Via};
use crate::guard::{RequireAuth, Requirement};
use crate::rejection::{AuthRejection, Rejection};
use crate::routes::AuthRoutes;
use crate::signin::Refreshes;

/// The realm of `WWW-Authenticate` unless [`AuthBuilder::realm`] sets another.
pub(crate) const DEFAULT_REALM: &str = "api";

/// How long before its expiry a session's access token is refreshed, unless
/// [`AuthBuilder::refresh_margin`] says otherwise.
pub const DEFAULT_REFRESH_MARGIN: Duration = Duration::from_secs(60);

/// Everything the extractors, guards and sign-in routes need: the token verifier, the OAuth
/// client (for browser sign-in), and their settings. Build one per app; it is cheap to clone
/// (an `Arc` inside), `Send + Sync`, and every clone shares the verifier's key cache.
///
/// Handlers reach it through the app data, the actix-web way: register it once with
/// `App::app_data(auth.clone())` (or as `web::Data<Auth>`) inside the `HttpServer::new`
/// factory, and every worker's app shares it.
///
/// ```no_run
/// use actix_web::{App, HttpServer, web};
/// use portcullis_actix::{Auth, Authenticated};
///
/// async fn me(user: Authenticated) -> String {
///     format!("hello {}", user.subject().unwrap_or("?"))
/// }
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let auth = Auth::from_config(&portcullis::Config::from_env()?)?;
/// HttpServer::new(move || {
///     App::new()
///         .app_data(auth.clone())
///         .route("/me", web::get().to(me))
/// })
/// .bind(("127.0.0.1", 8000))?
/// .run()
/// .await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Auth {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) verifier: TokenVerifier,
    pub(crate) client: Option<AuthClient>,
    realm: Arc<str>,
    /// Verifies the access tokens the sign-in routes receive from the token endpoint (for
    /// their claims): the bearer verifier when the app has an API audience, else one that
    /// accepts any audience but never an ID token of this client.
    pub(crate) session_verifier: Option<TokenVerifier>,
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
    /// has a client id — an [`AuthClient`] (framework `actix-web`) for the sign-in routes. No
    /// network request is made here (keys are fetched on first use).
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
            routes: None,
            refresh_margin: DEFAULT_REFRESH_MARGIN,
            clock: Arc::new(SystemClock),
        }
    }

    pub(crate) fn inner(&self) -> &Inner {
        &self.inner
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

    /// Guard middleware for `.wrap(…)`: any authenticated request passes.
    pub fn require_authenticated(&self) -> RequireAuth {
        RequireAuth::new(self.clone(), None)
    }

    /// Guard middleware for `.wrap(…)`: the token must grant `permission`, else 403
    /// `insufficient_scope`.
    ///
    /// ```no_run
    /// use actix_web::{App, web};
    /// # fn app(auth: portcullis_actix::Auth) {
    /// let app = App::new().app_data(auth.clone()).service(
    ///     web::resource("/api/todos")
    ///         .wrap(auth.require_permission("read:todos"))
    ///         .route(web::get().to(|| async { "[]" })),
    /// );
    /// # let _ = app; }
    /// ```
    pub fn require_permission(&self, permission: impl Into<Cow<'static, str>>) -> RequireAuth {
        self.require(Requirement::Permission(permission.into()))
    }

    /// Guard middleware: the user must have the role `role` (its key).
    pub fn require_role(&self, role: impl Into<Cow<'static, str>>) -> RequireAuth {
        self.require(Requirement::Role(role.into()))
    }

    /// Guard middleware: the token must be issued for the organization `org_code`.
    pub fn require_organization(&self, org_code: impl Into<Cow<'static, str>>) -> RequireAuth {
        self.require(Requirement::Organization(org_code.into()))
    }

    /// Guard middleware: the boolean feature flag `flag` must be on for the user.
    pub fn require_feature_flag(&self, flag: impl Into<Cow<'static, str>>) -> RequireAuth {
        self.require(Requirement::FeatureFlag(flag.into()))
    }

    /// Guard middleware for any [`Requirement`].
    pub fn require(&self, requirement: Requirement) -> RequireAuth {
        RequireAuth::new(self.clone(), Some(requirement))
    }

    /// The authenticated user of a request: an earlier guard's result, else the bearer token,
    /// else (when the app has sign-in configured and a session middleware) the signed-in
    /// session, whose access token is refreshed shortly before it expires. No credentials at
    /// all is [`AuthRejection::MissingCredentials`].
    pub async fn authenticated(
        &self,
        request: &HttpRequest,
    ) -> Result<Authenticated, AuthRejection> {
        self.maybe_authenticated(request)
            .await?
            .ok_or(AuthRejection::MissingCredentials)
    }

    /// Like [`Auth::authenticated`], with `None` for a request without credentials.
    /// Credentials that are present but malformed or invalid are still an error.
    pub async fn maybe_authenticated(
        &self,
        request: &HttpRequest,
    ) -> Result<Option<Authenticated>, AuthRejection> {
        if let Some(known) = request.extensions().get::<Authenticated>() {
            return Ok(Some(known.clone()));
        }
        let authorization = request
            .headers()
            .get_all(header::AUTHORIZATION)
            .map(|v| v.as_bytes());
        let query = Some(request.query_string()).filter(|q| !q.is_empty());
        let found = portcullis::web::bearer_token(authorization, query)
            .map_err(AuthRejection::InvalidRequest)?
            .map(str::to_owned);
        let user = match found {
            Some(token) => {
                let claims = self
                    .inner
                    .verifier
                    .verify_access_token(&token)
                    .await
                    .map_err(|e| AuthRejection::from_error(&e))?;
                Some(Authenticated::new(claims, Via::Bearer))
            }
            None if self.inner.client.is_none() => None,
            None => {
                let session = request.get_session();
                self.session_user(&session).await?.map(|signed_in| {
                    Authenticated::new(Arc::new(signed_in.access_claims), Via::Session)
                        .with_tokens(signed_in.tokens)
                })
            }
        };
        if let Some(user) = &user {
            request.extensions_mut().insert(user.clone());
        }
        Ok(user)
    }

    /// `rejection`, to be answered with this `Auth`'s realm.
    pub fn reject(&self, rejection: AuthRejection) -> Rejection {
        Rejection::new(rejection, self.inner.realm.clone())
    }
}

/// Configures an [`Auth`]; see [`Auth::builder`].
#[must_use]
pub struct AuthBuilder {
    config: Config,
    verifier: Option<TokenVerifier>,
    client: Option<AuthClient>,
    realm: String,
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
    /// The realm of `WWW-Authenticate` answers (default `api`). Quotes, backslashes and
    /// control characters are dropped.
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

    /// The paths of the sign-in routes ([`Auth::configure`]).
    pub fn routes(mut self, routes: AuthRoutes) -> Self {
        self.routes = Some(routes);
        self
    }

    /// How long before it expires a session's access token is refreshed (default one
    /// minute).
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
                    .framework("actix-web")
                    .build()?,
            ),
            (None, None) => None,
        };
        let realm = crate::rejection::quoted(&self.realm);
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
                routes,
                refresh_margin: self.refresh_margin,
                clock: self.clock,
                refreshes: Refreshes::default(),
            }),
        })
    }
}
