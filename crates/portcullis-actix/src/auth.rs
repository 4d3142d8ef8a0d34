//! [`Auth`]: the one handle an app builds (from [`Config`]) and puts in its app data.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use actix_session::SessionExt;
use actix_web::http::header;
use actix_web::{HttpMessage, HttpRequest};
use portcullis::clock::Clock;
use portcullis::oauth::AuthClient;
use portcullis::web::{CookieKey, WebAuth, WebAuthBuilder};
use portcullis::{Config, Error, TokenVerifier};

use crate::extract::Authenticated;
use crate::guard::{RequireAuth, Requirement};
use crate::rejection::{AuthRejection, Rejection};
use crate::routes::AuthRoutes;
use crate::session::ActixSession;

pub use portcullis::web::DEFAULT_REFRESH_MARGIN;

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
    inner: Arc<WebAuth>,
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Auth").field(&self.inner).finish()
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
            inner: Arc::new(WebAuth::from_verifier(verifier)),
        }
    }

    /// Starts configuring an `Auth`.
    pub fn builder(config: Config) -> AuthBuilder {
        AuthBuilder {
            web: WebAuth::builder(config, "actix-web"),
        }
    }

    /// The framework-free core (verifier, sign-in client, session logic) this `Auth` adapts.
    pub fn web(&self) -> &WebAuth {
        &self.inner
    }

    /// The verifier of bearer tokens.
    pub fn verifier(&self) -> &TokenVerifier {
        self.inner.verifier()
    }

    /// The OAuth client of the sign-in routes, when configured.
    pub fn client(&self) -> Option<&AuthClient> {
        self.inner.client()
    }

    /// The realm answered in `WWW-Authenticate`.
    pub fn realm(&self) -> &str {
        self.inner.realm()
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
    ///
    /// A session whose sign-in has just ended (expired, refresh refused) is
    /// [`AuthRejection::SessionExpired`]: "sign in again" rather than "sign in".
    pub async fn authenticated(
        &self,
        request: &HttpRequest,
    ) -> Result<Authenticated, AuthRejection> {
        self.resolve(request)
            .await?
            .ok_or(AuthRejection::MissingCredentials)
    }

    /// Like [`Auth::authenticated`], with `None` for a request without credentials (or whose
    /// session's sign-in has ended). Credentials that are present but malformed or invalid
    /// are still an error.
    pub async fn maybe_authenticated(
        &self,
        request: &HttpRequest,
    ) -> Result<Option<Authenticated>, AuthRejection> {
        match self.resolve(request).await {
            Err(AuthRejection::SessionExpired) => Ok(None),
            other => other,
        }
    }

    /// The request's user: the one an earlier guard or extractor left in the request, else
    /// [`WebAuth::authenticate`]'s (the bearer token's, else the session's).
    async fn resolve(&self, request: &HttpRequest) -> Result<Option<Authenticated>, AuthRejection> {
        if let Some(known) = request.extensions().get::<Authenticated>() {
            return Ok(Some(known.clone()));
        }
        let authorization = request
            .headers()
            .get_all(header::AUTHORIZATION)
            .map(|v| v.as_bytes());
        let query = Some(request.query_string()).filter(|q| !q.is_empty());
        // The token borrows the request's header: no copy per request.
        let session = || Some(Box::new(ActixSession(request.get_session())));
        let Some(principal) = self
            .inner
            .authenticate(authorization, query, session)
            .await?
        else {
            return Ok(None);
        };
        let remember = self.inner.remembers(&principal);
        let user = Authenticated::from(principal);
        if remember {
            request.extensions_mut().insert(user.clone());
        }
        Ok(Some(user))
    }

    /// `rejection`, to be answered with this `Auth`'s realm.
    pub fn reject(&self, rejection: AuthRejection) -> Rejection {
        Rejection::new(rejection, self.inner.shared_realm())
    }
}

/// Configures an [`Auth`]; see [`Auth::builder`].
#[must_use]
pub struct AuthBuilder {
    web: WebAuthBuilder,
}

impl fmt::Debug for AuthBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("AuthBuilder").field(&self.web).finish()
    }
}

impl AuthBuilder {
    /// The realm of `WWW-Authenticate` answers (default `api`). Quotes, backslashes and
    /// control characters are dropped.
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        self.web = self.web.realm(realm);
        self
    }

    /// Verify bearer tokens with this verifier instead of one built from the configuration.
    pub fn verifier(mut self, verifier: TokenVerifier) -> Self {
        self.web = self.web.verifier(verifier);
        self
    }

    /// Use this OAuth client for the sign-in routes instead of one built from the
    /// configuration.
    pub fn client(mut self, client: AuthClient) -> Self {
        self.web = self.web.client(client);
        self
    }

    /// The paths of the sign-in routes ([`Auth::configure`]).
    pub fn routes(mut self, routes: AuthRoutes) -> Self {
        self.web = self.web.routes(routes);
        self
    }

    /// How long before it expires a session's access token is refreshed (default one
    /// minute).
    pub fn refresh_margin(mut self, margin: Duration) -> Self {
        self.web = self.web.refresh_margin(margin);
        self
    }

    /// The key that seals the cookie of each sign-in under way (its `state`, `nonce` and PKCE
    /// verifier). Default: derived from the client secret; for a client without a secret, a
    /// random key for the life of the process — an app running several instances of a public
    /// client must give each the same key. See [`CookieKey`].
    pub fn cookie_key(mut self, key: CookieKey) -> Self {
        self.web = self.web.cookie_key(key);
        self
    }

    /// The clock for the session's expiry decisions (tests move it instead of sleeping). The
    /// [`AuthClient`] stamps token expiry with its own clock: give it the same one
    /// ([`AuthBuilder::client`]).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.web = self.web.clock(clock);
        self
    }

    /// Builds the `Auth`. Errors name the configuration setting at fault.
    pub fn build(self) -> Result<Auth, Error> {
        Ok(Auth {
            inner: Arc::new(self.web.build()?),
        })
    }
}
