//! [`WebAuth`]: everything a web integration's `Auth` handle holds that knows no framework —
//! the token verifier, the OAuth client of the sign-in routes and their settings — and the
//! session half of authentication.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use crate::claims::Claims;
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::error::Error;
use crate::http::HttpOptions;
use crate::oauth::AuthClient;
use crate::verify::TokenVerifier;
use crate::web::bearer::{MALFORMED, bearer_credentials, is_b64token};
use crate::web::flow::AuthRoutes;
use crate::web::login_cookie::{CookieKey, LoginCookies};
use crate::web::rejection::{AuthRejection, quoted};
use crate::web::require::{Principal, Via};
use crate::web::session::{self, AuthSession, SessionError};
use crate::web::signin::{Refreshes, SignedIn, ends_sign_in};

/// The realm of `WWW-Authenticate` unless [`WebAuthBuilder::realm`] sets another.
pub const DEFAULT_REALM: &str = "api";

/// How long before its expiry a session's access token is refreshed, unless
/// [`WebAuthBuilder::refresh_margin`] says otherwise.
pub const DEFAULT_REFRESH_MARGIN: Duration = Duration::from_secs(60);

/// The framework-free core of `portcullis_axum::Auth` and `portcullis_actix::Auth`: bearer
/// verification, the session's signed-in user (refreshed shortly before it expires), and the
/// sign-in routes' answers ([`WebAuth::answer`]). `Send + Sync`; wrap it in an `Arc` to share.
pub struct WebAuth {
    verifier: TokenVerifier,
    client: Option<AuthClient>,
    realm: Arc<str>,
    /// Verifies the access tokens the sign-in routes receive from the token endpoint (for
    /// their claims): the bearer verifier when the app has an API audience, else one that
    /// accepts any audience but never an ID token of this client.
    session_verifier: Option<TokenVerifier>,
    routes: AuthRoutes,
    refresh_margin: Duration,
    clock: Arc<dyn Clock>,
    refreshes: Refreshes,
    /// The sealed cookies of the sign-ins under way (with the client).
    login_cookies: Option<LoginCookies>,
}

impl fmt::Debug for WebAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebAuth")
            .field("issuer", &self.verifier.issuer())
            .field("sign_in", &self.client.is_some())
            .field("realm", &self.realm)
            .finish_non_exhaustive()
    }
}

impl WebAuth {
    /// Starts configuring one. `framework` names the web framework to the provider (Kinde's
    /// `Kinde-SDK` header) when the client is built from `config`.
    pub fn builder(config: Config, framework: &'static str) -> WebAuthBuilder {
        WebAuthBuilder {
            config,
            framework,
            verifier: None,
            client: None,
            realm: DEFAULT_REALM.to_owned(),
            routes: None,
            refresh_margin: DEFAULT_REFRESH_MARGIN,
            clock: Arc::new(SystemClock),
            cookie_key: None,
        }
    }

    /// One for bearer tokens only, with a verifier configured by the caller.
    pub fn from_verifier(verifier: TokenVerifier) -> WebAuth {
        WebAuth {
            verifier,
            client: None,
            realm: Arc::from(DEFAULT_REALM),
            session_verifier: None,
            routes: AuthRoutes::default(),
            refresh_margin: DEFAULT_REFRESH_MARGIN,
            clock: Arc::new(SystemClock),
            refreshes: Refreshes::default(),
            login_cookies: None,
        }
    }

    /// The verifier of bearer tokens.
    pub fn verifier(&self) -> &TokenVerifier {
        &self.verifier
    }

    /// The OAuth client of the sign-in routes, when configured.
    pub fn client(&self) -> Option<&AuthClient> {
        self.client.as_ref()
    }

    /// The realm answered in `WWW-Authenticate` (already fit for a quoted-string).
    pub fn realm(&self) -> &str {
        &self.realm
    }

    /// The realm, shared.
    pub fn shared_realm(&self) -> Arc<str> {
        self.realm.clone()
    }

    /// The paths of the sign-in routes.
    pub fn routes(&self) -> &AuthRoutes {
        &self.routes
    }

    /// The clock of the session's expiry decisions.
    pub(crate) fn clock(&self) -> &dyn Clock {
        &*self.clock
    }

    /// The client, the verifier and the login cookies of the sign-in routes, when configured.
    pub(crate) fn sign_in(&self) -> Option<(&AuthClient, &TokenVerifier, &LoginCookies)> {
        Some((
            self.client.as_ref()?,
            self.session_verifier.as_ref()?,
            self.login_cookies.as_ref()?,
        ))
    }

    /// The verified claims of a bearer token, or why it is refused.
    pub async fn verify_bearer(&self, token: &str) -> Result<Arc<Claims>, AuthRejection> {
        self.verifier
            .verify_access_token(token)
            .await
            .map_err(|e| AuthRejection::from_error(&e))
    }

    /// The verified claims of a request's bearer token, read from its `Authorization` header
    /// values and query string as strictly as [`bearer_token`](super::bearer_token) does; `None`
    /// without an `Authorization` header. A malformed header is
    /// [`AuthRejection::InvalidRequest`] (400), a refused token what [`WebAuth::verify_bearer`]
    /// says (401).
    ///
    /// The token's characters are looked at only when its verification fails: a verified token
    /// is a JWS (base64url and dots) and so a `b64token`, and a token the verified-token cache
    /// answers is then not read twice on every request.
    pub async fn verify_bearer_header<'a, I>(
        &self,
        authorization: I,
        query: Option<&str>,
    ) -> Result<Option<Arc<Claims>>, AuthRejection>
    where
        I: IntoIterator<Item = &'a [u8]>,
    {
        let Some(token) =
            bearer_credentials(authorization, query).map_err(AuthRejection::InvalidRequest)?
        else {
            return Ok(None);
        };
        match self.verify_bearer(token).await {
            Ok(claims) => Ok(Some(claims)),
            Err(_) if !is_b64token(token) => Err(AuthRejection::InvalidRequest(MALFORMED)),
            Err(refused) => Err(refused),
        }
    }

    /// Who a request is: the bearer token's principal (its `Authorization` header values and
    /// query string read as [`WebAuth::verify_bearer_header`] does), else — without an
    /// `Authorization: Bearer` header — the signed-in user of the request's session, found by
    /// `session` only then ([`WebAuth::session_user`]: refreshed shortly before it expires).
    /// `None` without credentials. This is the one authentication of the framework crates'
    /// extractors and guards.
    pub async fn authenticate<'a, I, G, S>(
        &self,
        authorization: I,
        query: Option<&str>,
        session: impl FnOnce() -> Option<G>,
    ) -> Result<Option<Principal>, AuthRejection>
    where
        I: IntoIterator<Item = &'a [u8]>,
        G: Deref<Target = S>,
        S: AuthSession + ?Sized,
    {
        if let Some(claims) = self.verify_bearer_header(authorization, query).await? {
            return Ok(Some(Principal::bearer(claims)));
        }
        let Some(session) = session() else {
            return Ok(None);
        };
        // Boxed: reading (and maybe refreshing) the session is a future several times the
        // size of the rest, which every bearer request would otherwise carry and copy.
        let signed_in = Box::pin(self.session_user(&*session)).await?;
        Ok(signed_in.map(Principal::session))
    }

    /// Whether a framework crate keeps `principal` in its request (for the request's next
    /// extractor or guard): always for a session's, and for a bearer token's unless the
    /// verifier caches verified tokens — a second lookup then costs less than building the
    /// request's extension map (allocations, on every request).
    pub fn remembers(&self, principal: &Principal) -> bool {
        principal.via() == Via::Session || !self.verifier.caches_verified_tokens()
    }

    /// The session's signed-in user, its tokens refreshed first when they expire within the
    /// refresh margin (one refresh for concurrent requests, [`Refreshes`]). `None` without a
    /// signed-in user (or when the app has no sign-in configured).
    ///
    /// A sign-in that has ended — expired without a refresh token, or its refresh refused —
    /// is removed from the session and answered [`AuthRejection::SessionExpired`]; a provider
    /// that cannot be reached while the token has expired is [`AuthRejection::Unavailable`].
    pub async fn session_user<S: AuthSession + ?Sized>(
        &self,
        session: &S,
    ) -> Result<Option<SignedIn>, AuthRejection> {
        if self.client.is_none() {
            return Ok(None);
        }
        let Some(user) = session::get::<SignedIn, S>(session, SignedIn::SESSION_KEY)
            .await
            .map_err(store_failed)?
        else {
            return Ok(None);
        };
        let now = self.clock.now_secs();
        let margin = i64::try_from(self.refresh_margin.as_secs()).unwrap_or(i64::MAX);
        if !user.tokens.expires_within(now, margin) {
            return Ok(Some(user));
        }
        let expired = user.tokens.expires_within(now, 0);
        let (Some((client, verifier, _)), Some(refresh_token)) =
            (self.sign_in(), user.tokens.refresh_token.as_deref())
        else {
            if expired {
                return Err(self.end_sign_in(session).await);
            }
            return Ok(Some(user));
        };
        match self
            .refreshes
            .refresh(client, verifier, refresh_token, &user)
            .await
        {
            Ok(fresh) => {
                session::insert(session, SignedIn::SESSION_KEY, &fresh)
                    .await
                    .map_err(store_failed)?;
                Ok(Some(fresh))
            }
            Err(e) if ends_sign_in(&e) => {
                tracing::info!(error = %e, "the session's sign-in has ended");
                Err(self.end_sign_in(session).await)
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not refresh the session's access token");
                if expired {
                    Err(AuthRejection::Unavailable)
                } else {
                    Ok(Some(user))
                }
            }
        }
    }

    /// Removes the session's ended sign-in: [`AuthRejection::SessionExpired`], or the store's
    /// failure.
    async fn end_sign_in<S: AuthSession + ?Sized>(&self, session: &S) -> AuthRejection {
        match session.remove_value(SignedIn::SESSION_KEY).await {
            Ok(()) => AuthRejection::SessionExpired,
            Err(e) => store_failed(e),
        }
    }
}

/// The rejection for a failed session store (logged here).
pub(crate) fn store_failed(e: SessionError) -> AuthRejection {
    tracing::error!(error = %e, "the session store failed");
    AuthRejection::Internal("the session store failed")
}

/// Configures a [`WebAuth`]; see [`WebAuth::builder`].
#[must_use]
pub struct WebAuthBuilder {
    config: Config,
    framework: &'static str,
    verifier: Option<TokenVerifier>,
    client: Option<AuthClient>,
    realm: String,
    routes: Option<AuthRoutes>,
    refresh_margin: Duration,
    clock: Arc<dyn Clock>,
    cookie_key: Option<CookieKey>,
}

impl fmt::Debug for WebAuthBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebAuthBuilder")
            .field("issuer", &self.config.issuer())
            .field("realm", &self.realm)
            .finish_non_exhaustive()
    }
}

impl WebAuthBuilder {
    /// The realm of `WWW-Authenticate` answers (default `api`). Quotes, backslashes, control
    /// and non-ASCII characters are dropped.
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

    /// The paths of the sign-in routes (default: [`AuthRoutes::default`], with the callback
    /// at the path of the configured redirect URI).
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
    /// ([`WebAuthBuilder::client`]).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The key that seals the cookie of each sign-in under way (its `state`, `nonce` and PKCE
    /// verifier; see [`CookieKey`]). Without one it is derived from the client secret; a
    /// client without a secret gets a random key for the life of the process, so an app that
    /// runs several instances of a public client must set the same key on each (else a
    /// sign-in started on one instance fails its `state` check on another).
    pub fn cookie_key(mut self, key: CookieKey) -> Self {
        self.cookie_key = Some(key);
        self
    }

    /// Builds it. Errors name the configuration setting at fault.
    pub fn build(self) -> Result<WebAuth, Error> {
        let verifier = match self.verifier {
            Some(v) => v,
            None => TokenVerifier::from_config(&self.config)?,
        };
        let client = match (self.client, self.config.client_id()) {
            (Some(c), _) => Some(c),
            (None, Some(_)) => Some(
                AuthClient::builder(self.config.clone())
                    .framework(self.framework)
                    .build()?,
            ),
            (None, None) => None,
        };
        let session_verifier = match &client {
            None => None,
            Some(_) if !self.config.audiences().is_empty() => Some(verifier.clone()),
            Some(client) => {
                let mut b = TokenVerifier::builder(self.config.issuer())
                    .allow_any_audience()
                    .http_options(HttpOptions {
                        allow_insecure_http: self.config.allows_insecure_http(),
                        root_certificates: self.config.root_certificates().clone(),
                        ..HttpOptions::default()
                    });
                if let Some(id) = client.config().client_id() {
                    b = b.client_id(id);
                }
                Some(b.build()?)
            }
        };
        let login_cookies = match &client {
            Some(c) => Some(LoginCookies::new(c.config(), self.cookie_key.as_ref())?),
            None => None,
        };
        let routes = self
            .routes
            .unwrap_or_else(|| AuthRoutes::for_redirect_uri(self.config.redirect_uri()));
        Ok(WebAuth {
            verifier,
            client,
            realm: Arc::from(quoted(&self.realm)),
            session_verifier,
            routes,
            refresh_margin: self.refresh_margin,
            clock: self.clock,
            refreshes: Refreshes::default(),
            login_cookies,
        })
    }
}

/// The settings a framework crate's `AuthBuilder` passes on to its [`WebAuthBuilder`] (a field
/// `web`), written once: `realm`, `verifier`, `client`, `routes`, `refresh_margin`,
/// `cookie_key` and `clock`. Called inside the crate's `impl AuthBuilder { … }`.
#[doc(hidden)]
#[macro_export]
macro_rules! __web_auth_builder_settings {
    () => {
        /// The realm of `WWW-Authenticate` answers (default `api`). Quotes, backslashes and
        /// control characters are dropped.
        pub fn realm(mut self, realm: impl ::std::convert::Into<::std::string::String>) -> Self {
            self.web = self.web.realm(realm);
            self
        }

        /// Verify bearer tokens with this verifier instead of one built from the configuration.
        pub fn verifier(mut self, verifier: $crate::TokenVerifier) -> Self {
            self.web = self.web.verifier(verifier);
            self
        }

        /// Use this OAuth client for the sign-in routes instead of one built from the
        /// configuration.
        pub fn client(mut self, client: $crate::oauth::AuthClient) -> Self {
            self.web = self.web.client(client);
            self
        }

        /// The paths of the sign-in routes (default: the usual ones, with the callback at the
        /// path of the configured redirect URI).
        pub fn routes(mut self, routes: $crate::web::AuthRoutes) -> Self {
            self.web = self.web.routes(routes);
            self
        }

        /// How long before it expires a session's access token is refreshed (default one
        /// minute).
        pub fn refresh_margin(mut self, margin: ::std::time::Duration) -> Self {
            self.web = self.web.refresh_margin(margin);
            self
        }

        /// The key that seals the cookie of each sign-in under way (its `state`, `nonce` and
        /// PKCE verifier). Default: derived from the client secret; for a client without a
        /// secret, a random key for the life of the process — an app running several
        /// instances of a public client must give each the same key. See
        /// [`CookieKey`](portcullis::web::CookieKey).
        pub fn cookie_key(mut self, key: $crate::web::CookieKey) -> Self {
            self.web = self.web.cookie_key(key);
            self
        }

        /// The clock for the session's expiry decisions (tests move it instead of sleeping).
        /// The [`AuthClient`](portcullis::oauth::AuthClient) stamps token expiry with its own
        /// clock: give it the same one (`AuthBuilder::client`).
        pub fn clock(mut self, clock: impl $crate::clock::Clock) -> Self {
            self.web = self.web.clock(clock);
            self
        }
    };
}
