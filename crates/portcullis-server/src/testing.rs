//! [`TestIssuer`]: the real server, in-process on `127.0.0.1:0` with in-memory SQLite, for your
//! own tests — no mocks. Tokens are obtained through the real endpoints.
//!
//! ```no_run
//! use portcullis_server::testing::TestIssuer;
//!
//! # async fn t() -> Result<(), Box<dyn std::error::Error>> {
//! let issuer = TestIssuer::builder()
//!     .api("https://api.example.com", &["read:todos", "create:todos"])
//!     .m2m_app("worker", "worker-secret-0123456789abcdefghijklmnop",
//!              "https://api.example.com", &["read:todos"])
//!     .start()
//!     .await?;
//! let token = issuer
//!     .client_credentials_token("worker", "worker-secret-0123456789abcdefghijklmnop",
//!                               "https://api.example.com", None)
//!     .await?;
//! // Verify `token` with portcullis::TokenVerifier::builder(issuer.url())…
//! # Ok(()) }
//! ```

use crate::error::ServerError;
use crate::keys::SigningAlgorithm;
use crate::seed::{Seed, SeedApi, SeedApplication, SeedGrant};
use crate::store::Store;
use crate::{AppState, Settings};

/// Builds a [`TestIssuer`].
#[derive(Debug, Clone)]
#[must_use]
pub struct TestIssuerBuilder {
    seed: Seed,
    database_url: String,
    signing_algorithm: SigningAlgorithm,
    access_token_ttl: Option<i64>,
    refresh_reuse_grace: Option<i64>,
}

impl TestIssuerBuilder {
    /// Adds an API with the scopes it defines.
    pub fn api(mut self, audience: &str, scopes: &[&str]) -> Self {
        self.seed.apis.push(SeedApi {
            name: audience.to_owned(),
            audience: audience.to_owned(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
        });
        self
    }

    /// Adds a machine-to-machine application allowed to get tokens for `audience` with `scopes`.
    /// The secret must be at least 32 characters.
    pub fn m2m_app(
        mut self,
        client_id: &str,
        secret: &str,
        audience: &str,
        scopes: &[&str],
    ) -> Self {
        self.seed.applications.push(SeedApplication {
            name: client_id.to_owned(),
            app_type: "m2m".to_owned(),
            client_id: client_id.to_owned(),
            client_secret: Some(secret.to_owned()),
            access_token_ttl: None,
            apis: vec![SeedGrant {
                audience: audience.to_owned(),
                scopes: scopes.iter().map(|s| s.to_string()).collect(),
            }],
            redirect_urls: Vec::new(),
            logout_urls: Vec::new(),
        });
        self
    }

    /// Loads a whole seed (in addition to what was added so far).
    pub fn seed(mut self, seed: Seed) -> Self {
        self.seed.apis.extend(seed.apis);
        self.seed.applications.extend(seed.applications);
        self.seed.permissions.extend(seed.permissions);
        self.seed.roles.extend(seed.roles);
        self.seed.organizations.extend(seed.organizations);
        self.seed.users.extend(seed.users);
        self.seed.feature_flags.extend(seed.feature_flags);
        self
    }

    /// Uses this database instead of in-memory SQLite (e.g. a PostgreSQL test schema).
    pub fn database_url(mut self, url: impl Into<String>) -> Self {
        self.database_url = url.into();
        self
    }

    /// The algorithm of the signing key. Default RS256.
    pub fn signing_algorithm(mut self, alg: SigningAlgorithm) -> Self {
        self.signing_algorithm = alg;
        self
    }

    /// The default access-token lifetime in seconds.
    pub fn access_token_ttl(mut self, secs: i64) -> Self {
        self.access_token_ttl = Some(secs);
        self
    }

    /// Seconds a rotated refresh token may still be used (default 30; 0 makes any reuse
    /// revoke the family at once).
    pub fn refresh_reuse_grace(mut self, secs: i64) -> Self {
        self.refresh_reuse_grace = Some(secs);
        self
    }

    /// Starts the server on an ephemeral port of 127.0.0.1.
    pub async fn start(self) -> Result<TestIssuer, ServerError> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| ServerError::Config(format!("cannot bind 127.0.0.1:0: {e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| ServerError::Config(e.to_string()))?;
        let url = format!("http://{addr}");
        let store = Store::connect(&self.database_url).await?;
        let mut settings = Settings::new(&url);
        settings.signing_algorithm = self.signing_algorithm;
        if let Some(ttl) = self.access_token_ttl {
            settings.access_token_ttl = ttl;
        }
        if let Some(grace) = self.refresh_reuse_grace {
            settings.refresh_reuse_grace = grace;
        }
        let state = AppState::new(store, settings).await?;
        self.seed.apply(state.store()).await?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(crate::run(listener, state.clone(), async move {
            let _ = stopped.await;
        }));
        Ok(TestIssuer {
            url,
            state,
            stop: Some(stop),
            task: Some(task),
            http: reqwest::Client::new(),
        })
    }
}

/// The real identity server, running in-process until dropped.
#[derive(Debug)]
pub struct TestIssuer {
    url: String,
    state: AppState,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    http: reqwest::Client,
}

/// Why a test helper could not get a token.
#[derive(Debug, thiserror::Error)]
pub enum TestIssuerError {
    /// The HTTP request failed.
    #[error("request failed: {0}")]
    Http(#[from] reqwest::Error),
    /// The server answered with an OAuth error.
    #[error("the server answered {status}: {body}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The error body.
        body: String,
    },
}

impl TestIssuer {
    /// Starts configuring a test issuer (in-memory SQLite, RS256).
    pub fn builder() -> TestIssuerBuilder {
        TestIssuerBuilder {
            seed: Seed::default(),
            database_url: "sqlite::memory:".to_owned(),
            signing_algorithm: SigningAlgorithm::RS256,
            access_token_ttl: None,
            refresh_reuse_grace: None,
        }
    }

    /// The issuer URL (`http://127.0.0.1:PORT`), as tokens carry it in `iss`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The server's state (store, keys), for tests that need to reach behind the HTTP API.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Gets an access token with the `client_credentials` grant through the real token
    /// endpoint (client_secret_basic).
    pub async fn client_credentials_token(
        &self,
        client_id: &str,
        client_secret: &str,
        audience: &str,
        scope: Option<&str>,
    ) -> Result<String, TestIssuerError> {
        let mut form = vec![("grant_type", "client_credentials"), ("audience", audience)];
        if let Some(scope) = scope {
            form.push(("scope", scope));
        }
        let response = self
            .http
            .post(format!("{}/oauth2/token", self.url))
            .basic_auth(client_id, Some(client_secret))
            .form(&form)
            .send()
            .await?;
        let status = response.status().as_u16();
        let body: serde_json::Value = response.json().await?;
        match body.get("access_token").and_then(|t| t.as_str()) {
            Some(token) if status == 200 => Ok(token.to_owned()),
            _ => Err(TestIssuerError::Refused {
                status,
                body: body.to_string(),
            }),
        }
    }

    /// Stops the server and waits for it to finish.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for TestIssuer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
