//! [`Auth`]: the one handle an app builds (from [`Config`]) and puts in its app data.

use std::fmt;
use std::sync::Arc;

use actix_session::SessionExt;
use actix_web::http::header;
use actix_web::{HttpMessage, HttpRequest};
use portcullis::oauth::AuthClient;
use portcullis::web::{WebAuth, WebAuthBuilder};
use portcullis::{Config, Error, TokenVerifier};

use crate::extract::Authenticated;
use crate::guard::RequireAuth;
use crate::rejection::{AuthRejection, Rejection};
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

    portcullis::__web_auth_guards!(RequireAuth);

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
    portcullis::__web_auth_builder_settings!();

    /// Builds the `Auth`. Errors name the configuration setting at fault.
    pub fn build(self) -> Result<Auth, Error> {
        Ok(Auth {
            inner: Arc::new(self.web.build()?),
        })
    }
}
