//! # portcullis-server
//!
//! A self-hostable, Kinde-compatible OpenID Connect provider — and, through
//! [`testing::TestIssuer`], the real issuer your own tests run against.
//!
//! Layout (handlers parse, call a service, render; SQL in one place): [`oidc`](crate) the
//! protocol layer (one module per endpoint, the token endpoint one module per grant),
//! `authorize` the authorization endpoint, `interaction` the hosted sign-in as a state machine
//! (one module per step), [`management`] the management API, [`keys`] signing keys, [`store`]
//! persistence (SQLite and PostgreSQL), [`seed`] declarative tenants, [`testing`] the
//! in-process issuer.
//!
//! It serves discovery, the JWKS (both Kinde paths), the authorization endpoint with hosted
//! sign-in, sign-up and create-organization pages, the token endpoint (`authorization_code` with
//! PKCE, `refresh_token` with rotation and reuse detection, `client_credentials`), UserInfo and
//! Kinde's profile endpoints, introspection, revocation and logout, on SQLite or PostgreSQL.
#![forbid(unsafe_code)]

mod authorize;
mod clients;
mod cors;
pub mod domain;
pub mod error;
pub mod ids;
mod interaction;
pub mod keys;
pub mod limits;
pub mod management;
pub mod metrics;
mod oidc;
mod pages;
pub mod passwords;
pub mod proxies;
pub mod seed;
mod serve;
mod session;
pub mod store;
pub mod testing;
pub mod tls;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use portcullis::clock::{Clock, SystemClock};

use crate::error::ServerError;
use crate::keys::{KeyManager, MasterKey, SigningAlgorithm};
use crate::store::Store;

pub use crate::clients::CLIENT_CACHE_TTL;

/// Server settings that do not come from the database.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The issuer URL, exactly as it appears in `iss` (no trailing slash).
    pub issuer: String,
    /// Default access-token lifetime in seconds (applications may override). Default 1 hour.
    pub access_token_ttl: i64,
    /// Seconds an authorization code may be redeemed after it is issued; later it gets
    /// `invalid_grant` (RFC 6749 §4.1.2: at most 10 minutes; docs/security.md case 65). Default 60;
    /// 1 to 600.
    pub code_ttl: i64,
    /// Absolute lifetime of a refresh-token family in seconds, counted from the code exchange
    /// that started it. Rotation hands out new tokens but never extends it: after it the user
    /// signs in again (docs/security.md case 72). Default 30 days.
    pub refresh_token_ttl: i64,
    /// How long a client may take to send a request line and its headers (and, over TLS, to
    /// finish the handshake), and how long an idle keep-alive connection stays open. Slower connections are closed, so a client that drips
    /// bytes cannot hold a connection forever (docs/security.md case 93). Default 10 seconds.
    pub header_read_timeout: std::time::Duration,
    /// How long a handler may take to receive a whole request body, counted from when it starts
    /// reading it. A slower body is answered `408 Request Timeout` and its connection closed, so
    /// a client dripping its body cannot hold a connection, or a shutdown, forever. Default 20
    /// seconds; more than zero.
    pub body_read_timeout: std::time::Duration,
    /// How long [`run`] lets requests in flight finish once its shutdown signal came; the
    /// connections still open after that are closed and `run` returns. Zero closes them at once.
    /// Default 25 seconds (more than `body_read_timeout`, so a body being read when the signal
    /// comes is answered either way).
    pub shutdown_timeout: std::time::Duration,
    /// The algorithm of new signing keys. Default RS256.
    pub signing_algorithm: SigningAlgorithm,
    /// Seals private signing keys at rest when set.
    pub master_key: Option<MasterKey>,
    /// Seconds a rotated refresh token may still be used (retries after a lost response);
    /// a later reuse revokes its whole family. Default 30.
    pub refresh_reuse_grace: i64,
    /// How long the token endpoint trusts its in-memory copy of an application (secret, type,
    /// API grants) before reading it again: the longest another instance's change (a rotated
    /// secret, a removed grant) takes to be seen here. Zero reads the database every time.
    /// Default 5 seconds.
    pub client_cache_ttl: std::time::Duration,
    /// How long an instance uses the signing keys it read before reading them again, in the
    /// background (requests keep being answered from the keys already read, even while the
    /// database is down): the longest a rotation made through another instance takes to be
    /// published and used here. A token signed by a key not read yet is accepted at once (an
    /// unknown `kid` makes the instance read the keys). Default 5 seconds.
    pub key_reload_interval: std::time::Duration,
    /// When set, `GET /metrics` answers only requests with `Authorization: Bearer <this>`
    /// (Prometheus: `authorization: { credentials: … }`); otherwise it is open, for a server
    /// whose port only the scraper can reach. Default unset.
    pub metrics_token: Option<String>,
    /// The reverse proxies whose forwarding header gives the client address that failed
    /// sign-ins and client authentications are counted under ([`proxies`]). Default: none, and
    /// the client address is the TCP peer.
    pub trusted_proxies: proxies::TrustedProxies,
    /// Where the server reads the time: every expiry, lifetime, grace period, rate-limit window
    /// and `max_age` is measured on it. Default the system clock; tests pass a
    /// [`ManualClock`](portcullis::clock::ManualClock) and move time instead of sleeping.
    pub clock: Arc<dyn Clock>,
}

impl Settings {
    /// Settings for `issuer` with the defaults.
    pub fn new(issuer: impl Into<String>) -> Self {
        Settings {
            issuer: issuer.into().trim_end_matches('/').to_owned(),
            access_token_ttl: 3600,
            code_ttl: 60,
            refresh_token_ttl: 30 * 86_400,
            header_read_timeout: std::time::Duration::from_secs(10),
            body_read_timeout: std::time::Duration::from_secs(20),
            shutdown_timeout: std::time::Duration::from_secs(25),
            signing_algorithm: SigningAlgorithm::RS256,
            master_key: None,
            refresh_reuse_grace: 30,
            client_cache_ttl: clients::CLIENT_CACHE_TTL,
            trusted_proxies: proxies::TrustedProxies::none(),
            clock: Arc::new(SystemClock),
            key_reload_interval: keys::KEY_RELOAD_INTERVAL,
            metrics_token: None,
        }
    }
}

impl Settings {
    /// Refuses lifetimes outside their documented ranges.
    fn check(&self) -> Result<(), ServerError> {
        if !(1..=600).contains(&self.code_ttl) {
            return Err(ServerError::Config(
                "code_ttl must be 1 to 600 seconds (RFC 6749 §4.1.2)".into(),
            ));
        }
        if self.refresh_token_ttl < 1 {
            return Err(ServerError::Config(
                "refresh_token_ttl must be at least 1 second".into(),
            ));
        }
        if self.header_read_timeout.is_zero() {
            return Err(ServerError::Config(
                "header_read_timeout must be more than zero".into(),
            ));
        }
        if self.body_read_timeout.is_zero() {
            return Err(ServerError::Config(
                "body_read_timeout must be more than zero".into(),
            ));
        }
        Ok(())
    }
}

pub(crate) struct Inner {
    pub(crate) store: Store,
    pub(crate) keys: KeyManager,
    pub(crate) keys_algorithm: SigningAlgorithm,
    pub(crate) settings: Settings,
    /// This server's own metrics registry (never shared between instances).
    pub(crate) metrics: Arc<metrics::Metrics>,
    /// Applications as the token endpoint needs them.
    pub(crate) clients: clients::ClientCache,
    /// Callers known to have no failed client authentication just now (see [`limits`]).
    pub(crate) clean_callers: limits::CleanCallers,
}

/// Everything a request handler needs; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("issuer", &self.inner.settings.issuer)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// Prepares a server: migrates the database and makes sure a signing key exists.
    pub async fn new(store: Store, settings: Settings) -> Result<AppState, ServerError> {
        settings.check()?;
        store.migrate().await?;
        let keys = KeyManager::with_reload_interval(
            store.clone(),
            settings.master_key.clone(),
            settings.signing_algorithm,
            settings.key_reload_interval,
            settings.clock.clone(),
        );
        keys.ensure_key(settings.clock.now_secs()).await?;
        management::register(&store, &settings.issuer).await?;
        Ok(AppState {
            inner: Arc::new(Inner {
                store,
                keys,
                keys_algorithm: settings.signing_algorithm,
                clients: clients::ClientCache::new(
                    settings.client_cache_ttl,
                    settings.clock.clone(),
                ),
                clean_callers: limits::CleanCallers::new(settings.clock.clone()),
                settings,
                metrics: Arc::new(metrics::Metrics::new()),
            }),
        })
    }

    /// Unix seconds now, on [`Settings::clock`].
    pub fn now(&self) -> i64 {
        self.inner.settings.clock.now_secs()
    }

    /// The issuer URL.
    pub fn issuer(&self) -> &str {
        &self.inner.settings.issuer
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The signing keys.
    pub fn keys(&self) -> &KeyManager {
        &self.inner.keys
    }
}

/// The HTTP routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route(
            "/.well-known/openid-configuration",
            get(oidc::discovery::discovery),
        )
        .route("/.well-known/jwks.json", get(oidc::discovery::jwks))
        .route("/.well-known/jwks", get(oidc::discovery::jwks))
        .route(
            "/oauth2/token",
            post(oidc::token::token).fallback(oidc::token::token_method_not_allowed),
        )
        .route(
            "/oauth2/auth",
            get(authorize::authorize).post(authorize::authorize_post),
        )
        .route(
            "/oauth2/auth/create-org",
            get(interaction::create_org_page).post(interaction::create_org),
        )
        .route(
            "/oauth2/auth/choose-org",
            get(interaction::choose_org_page).post(interaction::choose_org),
        )
        .route(
            "/oauth2/auth/sign-in",
            get(interaction::sign_in_page).post(interaction::sign_in),
        )
        .route(
            "/oauth2/auth/sign-up",
            get(interaction::sign_up_page).post(interaction::sign_up),
        )
        .route("/oauth2/introspect", post(oidc::introspection::introspect))
        .route("/oauth2/revoke", post(oidc::revocation::revoke))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics::render))
        .route(
            "/oauth2/userinfo",
            get(oidc::userinfo::userinfo_get).post(oidc::userinfo::userinfo_post),
        )
        .route(
            "/oauth2/v2/user_profile",
            get(oidc::userinfo::user_profile_v2),
        )
        .route(
            "/oauth2/user_profile",
            get(oidc::userinfo::user_profile_legacy),
        )
        .route(
            "/logout",
            get(oidc::logout::logout).post(oidc::logout::logout_post),
        )
        .merge(management::router())
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            cors::cors,
        ))
        // HSTS on every response when the issuer is https (docs/security.md case 59).
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            pages::transport_security,
        ))
        // Keep this after every route: it labels requests with the route they matched.
        // Inside `track`, so that its 408s are counted.
        .layer(axum::middleware::from_fn_with_state(
            state.inner.settings.body_read_timeout,
            serve::bound_body_read,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.inner.metrics.clone(),
            metrics::track,
        ))
        .layer(DefaultBodyLimit::max(64 * 1024))
        .with_state(state)
}

/// `GET /readyz`: 200 while the database takes writes, else 503 — a server whose database is
/// unreachable, full or read-only cannot sign anyone in, so a load balancer should send its
/// traffic elsewhere. It turns ready again by itself when the database recovers.
async fn readyz(State(state): State<AppState>) -> (StatusCode, &'static str) {
    match state.inner.store.probe_write().await {
        Ok(()) => (StatusCode::OK, "ready"),
        Err(e) => {
            tracing::warn!(error = %e, "not ready: the database does not take writes");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable")
        }
    }
}

/// Serves `state` on `listener` (HTTP/1.1) until `shutdown` completes, then lets requests in
/// flight finish for up to [`Settings::shutdown_timeout`], closes the connections still open,
/// and returns. Request targets over 8 KiB are answered 414, headers over 16 KiB 431, a
/// connection that does not deliver its request head within
/// [`Settings::header_read_timeout`] is closed (docs/security.md case 93), and a body not received
/// within [`Settings::body_read_timeout`] is answered 408.
///
/// This is plain HTTP: for an `https` issuer, behind a proxy that terminates TLS. To terminate
/// TLS here, see [`run_tls`].
pub async fn run(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, state, None, shutdown).await
}

/// [`run`] over TLS: HTTPS with `certificate` (HTTP/2 or HTTP/1.1 by ALPN, TLS 1.2 and 1.3),
/// whose files are re-read when they change (see [`tls`]); a TLS handshake must finish within
/// [`Settings::header_read_timeout`].
pub async fn run_tls(
    listener: tokio::net::TcpListener,
    state: AppState,
    certificate: tls::ServerCertificate,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let config = certificate
        .server_config()
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let watcher = tokio::spawn(certificate.watch());
    let result = serve_with(
        listener,
        state,
        Some(tokio_rustls::TlsAcceptor::from(config)),
        shutdown,
    )
    .await;
    watcher.abort();
    result
}

async fn serve_with(
    listener: tokio::net::TcpListener,
    state: AppState,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let janitor = tokio::spawn(janitor(state.clone()));
    let header_read_timeout = state.inner.settings.header_read_timeout;
    let shutdown_timeout = state.inner.settings.shutdown_timeout;
    let result = serve::serve(
        listener,
        router(state),
        header_read_timeout,
        shutdown_timeout,
        tls,
        shutdown,
    )
    .await;
    janitor.abort();
    result
}

/// Every few minutes, forgets what has expired: sessions, pending sign-ins, codes (a day after
/// expiry, so replays are still recognised), revocations of expired tokens, old rate-limit
/// windows, and retired keys past their publication. Safe on every instance at once.
async fn janitor(state: AppState) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(300));
    loop {
        tick.tick().await;
        let now = state.now();
        let store = state.store();
        let result = async {
            store.purge_flows(now).await?;
            store.purge_revoked_tokens(now).await?;
            store.purge_rate_limits(now - 2 * limits::WINDOW).await?;
            store.delete_expired_keys(now).await?;
            Ok::<(), crate::error::StoreError>(())
        }
        .await;
        if let Err(e) = result {
            tracing::warn!(error = %e, "cleanup of expired data failed");
        }
    }
}
