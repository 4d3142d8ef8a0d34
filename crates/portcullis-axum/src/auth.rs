//! [`Auth`]: the one handle an app builds (from [`Config`]) and puts in its router state.

use std::fmt;
use std::sync::Arc;

use axum::http::header;
use axum::http::request::Parts;
use portcullis::oauth::AuthClient;
use portcullis::web::{WebAuth, WebAuthBuilder};
use portcullis::{Config, Error, TokenVerifier};

use crate::extract::Authenticated;
use crate::guard::RequireLayer;
use crate::rejection::{AuthRejection, Rejection};
use crate::session::{SessionSource, SharedSession, tower_sessions_source};

pub use portcullis::web::DEFAULT_REFRESH_MARGIN;

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

struct Inner {
    web: WebAuth,
    session_source: SessionSource,
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Auth").field(&self.inner.web).finish()
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
                web: WebAuth::from_verifier(verifier),
                session_source: tower_sessions_source(),
            }),
        }
    }

    /// Starts configuring an `Auth`.
    pub fn builder(config: Config) -> AuthBuilder {
        AuthBuilder {
            web: WebAuth::builder(config, "axum"),
            session_source: None,
        }
    }

    /// The session of a request (see [`AuthBuilder::session_source`]), if a session layer put
    /// one there.
    pub fn session(&self, parts: &Parts) -> Option<SharedSession> {
        (self.inner.session_source)(parts)
    }

    /// The verifier of bearer tokens.
    pub fn verifier(&self) -> &TokenVerifier {
        self.inner.web.verifier()
    }

    /// The OAuth client of the sign-in routes, when configured.
    pub fn client(&self) -> Option<&AuthClient> {
        self.inner.web.client()
    }

    /// The realm answered in `WWW-Authenticate`.
    pub fn realm(&self) -> &str {
        self.inner.web.realm()
    }

    /// The framework-free core (verifier, sign-in client, session logic) this `Auth` adapts.
    pub fn web(&self) -> &WebAuth {
        &self.inner.web
    }

    portcullis::__web_auth_guards!(RequireLayer);

    /// The authenticated user of a request: an earlier guard's result, else the bearer token,
    /// else (when the app has sign-in routes and a session layer) the signed-in session, whose
    /// access token is refreshed shortly before it expires. No credentials at all is
    /// [`AuthRejection::MissingCredentials`].
    ///
    /// A session whose sign-in has just ended (expired, refresh refused) is
    /// [`AuthRejection::SessionExpired`]: "sign in again" rather than "sign in".
    pub async fn authenticated(&self, parts: &mut Parts) -> Result<Authenticated, AuthRejection> {
        self.resolve(parts)
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
        match self.resolve(parts).await {
            Err(AuthRejection::SessionExpired) => Ok(None),
            other => other,
        }
    }

    /// The request's user: the one an earlier guard or extractor left in the request, else
    /// [`WebAuth::authenticate`]'s (the bearer token's, else the session's).
    async fn resolve(&self, parts: &mut Parts) -> Result<Option<Authenticated>, AuthRejection> {
        if let Some(known) = parts.extensions.get::<Authenticated>() {
            return Ok(Some(known.clone()));
        }
        let authorization = parts
            .headers
            .get_all(header::AUTHORIZATION)
            .iter()
            .map(|v| v.as_bytes());
        let principal = self
            .inner
            .web
            .authenticate(authorization, parts.uri.query(), || self.session(parts))
            .await?;
        let Some(principal) = principal else {
            return Ok(None);
        };
        let remember = self.inner.web.remembers(&principal);
        let user = Authenticated::from(principal);
        if remember {
            parts.extensions.insert(user.clone());
        }
        Ok(Some(user))
    }

    /// `rejection`, to be answered with this `Auth`'s realm.
    pub fn reject(&self, rejection: AuthRejection) -> Rejection {
        Rejection::new(rejection, self.inner.web.shared_realm())
    }
}

/// Configures an [`Auth`]; see [`Auth::builder`].
#[must_use]
pub struct AuthBuilder {
    web: WebAuthBuilder,
    session_source: Option<SessionSource>,
}

impl fmt::Debug for AuthBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("AuthBuilder").field(&self.web).finish()
    }
}

impl AuthBuilder {
    portcullis::__web_auth_builder_settings!();

    /// Where the sign-in routes and the session fallback of [`Authenticated`] find the
    /// request's session. Default: the `tower_sessions::Session` a `SessionManagerLayer` put
    /// in the request's extensions. Use this to plug in another session library through
    /// [`AuthSession`](crate::AuthSession).
    pub fn session_source(
        mut self,
        source: impl Fn(&Parts) -> Option<SharedSession> + Send + Sync + 'static,
    ) -> Self {
        self.session_source = Some(Arc::new(source));
        self
    }

    /// Builds the `Auth`. Errors name the configuration setting at fault.
    pub fn build(self) -> Result<Auth, Error> {
        Ok(Auth {
            inner: Arc::new(Inner {
                web: self.web.build()?,
                session_source: self.session_source.unwrap_or_else(tower_sessions_source),
            }),
        })
    }
}
