//! [`TestIssuer`]: the real server, in-process on `127.0.0.1:0` with in-memory SQLite, for your
//! own tests — no mocks. Tokens are obtained through the real endpoints: the `client_credentials`
//! grant, and a user's tokens through the real authorization code flow (authorize with PKCE,
//! the hosted sign-in form with its CSRF token and cookies, the code exchange), driven
//! programmatically.
//!
//! ```
//! use portcullis::{IdTokenChecks, TokenVerifier};
//! use portcullis_server::testing::{TestFlag, TestIssuer, TestUser, TokenRequest};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! const API: &str = "https://api.example.com";
//! let issuer = TestIssuer::builder()
//!     .api(API, &["read:todos"])
//!     .web_app("web", "web-secret-0123456789abcdefghijklmnop", &["http://localhost:3000/cb"])
//!     .grant("web", API, &["read:todos"])
//!     .permission("read:todos")
//!     .role("admin", "Admin", &["read:todos"])
//!     .organization("org_acme", "Acme")
//!     .user(
//!         TestUser::new("ada@example.com")
//!             .password("correct-horse-battery-staple")
//!             .name("Ada", "Lovelace")
//!             .member_of("org_acme", &["admin"]),
//!     )
//!     .feature_flag(TestFlag::new("theme", "light").org("org_acme", "pink"))
//!     .start()
//!     .await?;
//!
//! // Authorize → sign-in form → code → token endpoint, as a browser and the app would.
//! let tokens = issuer
//!     .user_tokens_with(
//!         "web",
//!         "ada@example.com",
//!         "correct-horse-battery-staple",
//!         &TokenRequest::new().audience(API).org_code("org_acme"),
//!     )
//!     .await?;
//!
//! // Verify with the SDK, as your API would.
//! let verifier = TokenVerifier::from_config(&issuer.verifier_config(API)?)?;
//! let claims = verifier.verify_access_token(&tokens.access_token).await?;
//! assert!(claims.has_role("admin"));
//! assert!(claims.has_permission("read:todos"));
//! assert_eq!(claims.org_code.as_deref(), Some("org_acme"));
//! assert_eq!(claims.string_flag("theme", None)?, "pink");
//!
//! // The ID token, with the nonce the helper sent.
//! let id = TokenVerifier::builder(issuer.issuer()).client_id("web").build()?;
//! let id_token = tokens.id_token.as_deref().ok_or("no ID token")?;
//! let checks = IdTokenChecks::nonce(tokens.nonce.as_deref().ok_or("no nonce")?);
//! let user = id.verify_id_token_with(id_token, &checks).await?;
//! assert_eq!(user.given_name.as_deref(), Some("Ada"));
//! # Ok(()) }
//! ```
//!
//! Everything the builder adds goes through [`Seed`], the same path as `portcullis serve
//! --seed`, so a mistake (a role granting an undefined permission, a user in an unknown
//! organization) is refused by [`TestIssuerBuilder::start`] with the seed's message.

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::header::{self, HeaderMap};
use reqwest::redirect::Policy;
use serde_json::Value;

use crate::error::ServerError;
use crate::ids::random_token;
use crate::keys::SigningAlgorithm;
use crate::seed::{
    Seed, SeedApi, SeedApplication, SeedFlag, SeedGrant, SeedMembership, SeedOrganization,
    SeedPermission, SeedRole, SeedUser,
};
use crate::store::{Store, StoreOptions};
use crate::{AppState, Settings};

/// How much of an unexpected answer an error quotes.
const SNIPPET_CHARS: usize = 300;

/// Builds a [`TestIssuer`].
#[derive(Clone)]
#[must_use]
pub struct TestIssuerBuilder {
    seed: Seed,
    /// `grant()` calls, attached to their applications at `start()` (so the order of calls
    /// does not matter).
    grants: Vec<(String, SeedGrant)>,
    /// `logout_urls()` calls, attached likewise.
    logout_urls: Vec<(String, Vec<String>)>,
    /// `allow_password_grant()` calls, attached likewise.
    password_grants: Vec<String>,
    database_url: String,
    store_options: StoreOptions,
    signing_algorithm: SigningAlgorithm,
    access_token_ttl: Option<i64>,
    refresh_reuse_grace: Option<i64>,
    clock: Option<std::sync::Arc<dyn portcullis::clock::Clock>>,
    tls: Option<TestTls>,
}

/// The certificate a [`TestIssuer`] serves HTTPS with ([`TestIssuerBuilder::tls`]).
#[derive(Clone)]
struct TestTls {
    cert_chain_pem: Vec<u8>,
    key_pem: Vec<u8>,
    ca_pem: Vec<u8>,
}

impl fmt::Debug for TestIssuerBuilder {
    // Secrets and passwords stay out of `Debug`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestIssuerBuilder")
            .field("apis", &self.seed.apis.len())
            .field("applications", &self.seed.applications.len())
            .field("users", &self.seed.users.len())
            .field("database_url", &self.database_url)
            .finish_non_exhaustive()
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn application(
    client_id: &str,
    app_type: &str,
    secret: Option<&str>,
    redirect_uris: &[&str],
) -> SeedApplication {
    SeedApplication {
        name: client_id.to_owned(),
        app_type: app_type.to_owned(),
        client_id: client_id.to_owned(),
        client_secret: secret.map(str::to_owned),
        access_token_ttl: None,
        apis: Vec::new(),
        redirect_urls: strings(redirect_uris),
        logout_urls: Vec::new(),
        allow_password_grant: false,
        management_scopes: Vec::new(),
    }
}

impl TestIssuerBuilder {
    /// Adds an API with the scopes it defines.
    pub fn api(mut self, audience: &str, scopes: &[&str]) -> Self {
        self.seed.apis.push(SeedApi {
            name: audience.to_owned(),
            audience: audience.to_owned(),
            scopes: strings(scopes),
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
        let mut app = application(client_id, "m2m", Some(secret), &[]);
        app.apis.push(SeedGrant {
            audience: audience.to_owned(),
            scopes: strings(scopes),
        });
        self.seed.applications.push(app);
        self
    }

    /// Adds a machine-to-machine application allowed to call the management API
    /// (`{issuer}/api`) with `scopes` (`["*"]`: every scope). Get its token with
    /// [`TestIssuer::management_token`]. The secret must be at least 32 characters.
    pub fn management_app(mut self, client_id: &str, secret: &str, scopes: &[&str]) -> Self {
        let mut app = application(client_id, "m2m", Some(secret), &[]);
        app.management_scopes = strings(scopes);
        self.seed.applications.push(app);
        self
    }

    /// Adds a regular web application (Kinde's `reg`: a confidential client that authenticates
    /// with `client_secret_basic`), with the callback URLs matched exactly at sign-in. The
    /// secret must be at least 32 characters. Give it APIs with [`TestIssuerBuilder::grant`].
    pub fn web_app(mut self, client_id: &str, secret: &str, redirect_uris: &[&str]) -> Self {
        self.seed
            .applications
            .push(application(client_id, "reg", Some(secret), redirect_uris));
        self
    }

    /// Adds a single-page application (Kinde's `spa`: a public client, no secret, PKCE
    /// required), with the callback URLs matched exactly at sign-in.
    pub fn spa_app(mut self, client_id: &str, redirect_uris: &[&str]) -> Self {
        self.seed
            .applications
            .push(application(client_id, "spa", None, redirect_uris));
        self
    }

    /// Lets application `client_id` get tokens for `audience` with `scopes` (each must be
    /// defined by the API). Calls for the same API add scopes. The application may be added
    /// before or after this call; an unknown one is an error at [`TestIssuerBuilder::start`].
    pub fn grant(mut self, client_id: &str, audience: &str, scopes: &[&str]) -> Self {
        self.grants.push((
            client_id.to_owned(),
            SeedGrant {
                audience: audience.to_owned(),
                scopes: strings(scopes),
            },
        ));
        self
    }

    /// Registers where application `client_id` may send users after sign-out (matched exactly
    /// at `/logout`).
    pub fn logout_urls(mut self, client_id: &str, urls: &[&str]) -> Self {
        self.logout_urls.push((client_id.to_owned(), strings(urls)));
        self
    }

    /// Lets web application `client_id` use the resource-owner password grant (off by
    /// default; see the seed's `allow_password_grant`).
    pub fn allow_password_grant(mut self, client_id: &str) -> Self {
        self.password_grants.push(client_id.to_owned());
        self
    }

    /// Adds a permission (`read:todos`).
    pub fn permission(mut self, key: &str) -> Self {
        self.seed.permissions.push(SeedPermission {
            key: key.to_owned(),
            name: None,
        });
        self
    }

    /// Adds a role granting `permissions` (each must be added with
    /// [`TestIssuerBuilder::permission`]).
    pub fn role(mut self, key: &str, name: &str, permissions: &[&str]) -> Self {
        self.seed.roles.push(SeedRole {
            key: key.to_owned(),
            name: Some(name.to_owned()),
            permissions: strings(permissions),
        });
        self
    }

    /// Adds an organization (`org_acme`).
    pub fn organization(mut self, code: &str, name: &str) -> Self {
        self.seed.organizations.push(SeedOrganization {
            code: code.to_owned(),
            name: name.to_owned(),
        });
        self
    }

    /// Adds a user. One without a password gets a strong random one, which
    /// [`TestIssuer::password_of`] tells.
    pub fn user(mut self, user: TestUser) -> Self {
        let password = user
            .password
            .unwrap_or_else(|| format!("test-{}", random_token()));
        self.seed.users.push(SeedUser {
            email: user.email,
            given_name: user.given_name,
            family_name: user.family_name,
            password: Some(password),
            organizations: user.memberships,
        });
        self
    }

    /// Adds a feature flag with its overrides.
    pub fn feature_flag(mut self, flag: TestFlag) -> Self {
        self.seed.feature_flags.push(SeedFlag {
            key: flag.key.clone(),
            name: None,
            flag_type: flag.default.type_name().to_owned(),
            default: flag.default.to_toml(),
            environment: flag.environment.as_ref().map(TestFlagValue::to_toml),
            organizations: flag
                .organizations
                .iter()
                .map(|(k, v)| (k.clone(), v.to_toml()))
                .collect(),
            users: flag
                .users
                .iter()
                .map(|(k, v)| (k.clone(), v.to_toml()))
                .collect(),
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

    /// How the server uses its database (e.g. a short acquire timeout, or a size cap to
    /// test a full disk).
    pub fn store_options(mut self, options: StoreOptions) -> Self {
        self.store_options = options;
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

    /// The server's clock ([`Settings::clock`]): pass a
    /// [`ManualClock`](portcullis::clock::ManualClock) and move it to test expiry, grace
    /// periods and rate-limit windows without sleeping. Tokens the server issues are stamped with
    /// its time, so a verifier checking them should read the same clock.
    pub fn clock(mut self, clock: impl portcullis::clock::Clock) -> Self {
        self.clock = Some(std::sync::Arc::new(clock));
        self
    }

    /// Seconds a rotated refresh token may still be used (default 30; 0 makes any reuse
    /// revoke the family at once).
    pub fn refresh_reuse_grace(mut self, secs: i64) -> Self {
        self.refresh_reuse_grace = Some(secs);
        self
    }

    /// Serves HTTPS instead of HTTP, with this certificate chain and private key (PEM), issued
    /// for `localhost` by the certificate authority `ca_pem` (a test CA made in the test, e.g.
    /// with `rcgen`). The issuer is then `https://localhost:PORT`; the helpers' own HTTP client
    /// and [`TestIssuer::verifier_config`] trust `ca_pem` (and nothing is trusted without it).
    pub fn tls(
        mut self,
        cert_chain_pem: impl Into<Vec<u8>>,
        key_pem: impl Into<Vec<u8>>,
        ca_pem: impl Into<Vec<u8>>,
    ) -> Self {
        self.tls = Some(TestTls {
            cert_chain_pem: cert_chain_pem.into(),
            key_pem: key_pem.into(),
            ca_pem: ca_pem.into(),
        });
        self
    }

    /// Attaches the `grant()` and `logout_urls()` calls to their applications.
    fn resolve(&mut self) -> Result<(), ServerError> {
        for (client_id, grant) in std::mem::take(&mut self.grants) {
            let app = app_mut(&mut self.seed, &client_id, "grant")?;
            match app.apis.iter_mut().find(|g| g.audience == grant.audience) {
                Some(existing) => {
                    for scope in grant.scopes {
                        if !existing.scopes.contains(&scope) {
                            existing.scopes.push(scope);
                        }
                    }
                }
                None => app.apis.push(grant),
            }
        }
        for (client_id, urls) in std::mem::take(&mut self.logout_urls) {
            let app = app_mut(&mut self.seed, &client_id, "logout_urls")?;
            for url in urls {
                if !app.logout_urls.contains(&url) {
                    app.logout_urls.push(url);
                }
            }
        }
        for client_id in std::mem::take(&mut self.password_grants) {
            app_mut(&mut self.seed, &client_id, "allow_password_grant")?.allow_password_grant =
                true;
        }
        Ok(())
    }

    /// Starts the server on an ephemeral port of 127.0.0.1. The tenant is checked first: a
    /// mistake in it is a [`ServerError::Config`] naming it.
    pub async fn start(mut self) -> Result<TestIssuer, ServerError> {
        self.resolve()?;
        self.seed.validate()?;
        let clients = self
            .seed
            .applications
            .iter()
            .map(|app| {
                (
                    app.client_id.clone(),
                    RegisteredClient {
                        secret: app.client_secret.clone(),
                        redirect_urls: app.redirect_urls.clone(),
                    },
                )
            })
            .collect();
        let passwords = self
            .seed
            .users
            .iter()
            .filter_map(|u| Some((normalize_email(&u.email), u.password.clone()?)))
            .collect();
        let mut http = reqwest::Client::builder().redirect(Policy::none());
        let mut certificate = None;
        let mut root_certificates = portcullis::tls::RootCertificates::default();
        if let Some(tls) = &self.tls {
            let config = |e: &dyn fmt::Display| ServerError::Config(format!("tls: {e}"));
            certificate = Some(
                crate::tls::ServerCertificate::from_pem(&tls.cert_chain_pem, &tls.key_pem)
                    .map_err(|e| config(&e))?,
            );
            root_certificates =
                portcullis::tls::RootCertificates::from_pem(&tls.ca_pem).map_err(|e| config(&e))?;
            let roots =
                reqwest::Certificate::from_pem_bundle(&tls.ca_pem).map_err(|e| config(&e))?;
            http = http.tls_certs_merge(roots);
        }
        let http = http
            .build()
            .map_err(|e| ServerError::Config(format!("cannot build the HTTP client: {e}")))?;

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| ServerError::Config(format!("cannot bind 127.0.0.1:0: {e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| ServerError::Config(e.to_string()))?;
        let url = match certificate {
            Some(_) => format!("https://localhost:{}", addr.port()),
            None => format!("http://{addr}"),
        };
        let store = Store::connect_with(&self.database_url, self.store_options.clone()).await?;
        let mut settings = Settings::new(&url);
        settings.signing_algorithm = self.signing_algorithm;
        if let Some(ttl) = self.access_token_ttl {
            settings.access_token_ttl = ttl;
        }
        if let Some(grace) = self.refresh_reuse_grace {
            settings.refresh_reuse_grace = grace;
        }
        if let Some(clock) = self.clock.clone() {
            settings.clock = clock;
        }
        let state = AppState::new(store, settings).await?;
        self.seed.apply_at(state.store(), state.now()).await?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let stopped = async move {
            let _ = stopped.await;
        };
        let task = match certificate {
            Some(certificate) => tokio::spawn(crate::run_tls(
                listener,
                state.clone(),
                certificate,
                stopped,
            )),
            None => tokio::spawn(crate::run(listener, state.clone(), stopped)),
        };
        Ok(TestIssuer {
            root_certificates,
            url,
            state,
            stop: Some(stop),
            task: Some(task),
            http,
            clients,
            passwords,
        })
    }
}

/// The last application added with `client_id`.
fn app_mut<'a>(
    seed: &'a mut Seed,
    client_id: &str,
    what: &str,
) -> Result<&'a mut SeedApplication, ServerError> {
    seed.applications
        .iter_mut()
        .rev()
        .find(|a| a.client_id == client_id)
        .ok_or_else(|| {
            ServerError::Config(format!(
                "{what}: no application {client_id:?} was added (add it with web_app, spa_app or \
                 m2m_app)"
            ))
        })
}

use crate::domain::normalize_email;

/// A user for [`TestIssuerBuilder::user`].
///
/// ```
/// use portcullis_server::testing::TestUser;
///
/// let ada = TestUser::new("ada@example.com")
///     .password("correct-horse-battery-staple")
///     .name("Ada", "Lovelace")
///     .member_of("org_acme", &["admin"])
///     .member_of("org_globex", &["member"])
///     .permissions_in("org_globex", &["delete:todos"]);
/// # let _ = ada;
/// ```
#[derive(Clone)]
#[must_use]
pub struct TestUser {
    email: String,
    password: Option<String>,
    given_name: Option<String>,
    family_name: Option<String>,
    memberships: Vec<SeedMembership>,
}

impl fmt::Debug for TestUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestUser")
            .field("email", &self.email)
            .field("password", &self.password.as_ref().map(|_| "[redacted]"))
            .field("given_name", &self.given_name)
            .field("family_name", &self.family_name)
            .field(
                "organizations",
                &self
                    .memberships
                    .iter()
                    .map(|m| m.code.as_str())
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl TestUser {
    /// A user who signs in with `email`.
    pub fn new(email: &str) -> Self {
        TestUser {
            email: email.to_owned(),
            password: None,
            given_name: None,
            family_name: None,
            memberships: Vec::new(),
        }
    }

    /// The password (8 to 256 bytes). Without one, the user gets a strong random password
    /// ([`TestIssuer::password_of`]).
    pub fn password(mut self, password: &str) -> Self {
        self.password = Some(password.to_owned());
        self
    }

    /// Given and family name.
    pub fn name(self, given: &str, family: &str) -> Self {
        self.given_name(given).family_name(family)
    }

    /// Given name.
    pub fn given_name(mut self, given: &str) -> Self {
        self.given_name = Some(given.to_owned());
        self
    }

    /// Family name.
    pub fn family_name(mut self, family: &str) -> Self {
        self.family_name = Some(family.to_owned());
        self
    }

    fn membership(&mut self, org_code: &str) -> &mut SeedMembership {
        let at = match self.memberships.iter().position(|m| m.code == org_code) {
            Some(at) => at,
            None => {
                self.memberships.push(SeedMembership {
                    code: org_code.to_owned(),
                    roles: Vec::new(),
                    permissions: Vec::new(),
                });
                self.memberships.len() - 1
            }
        };
        &mut self.memberships[at]
    }

    /// Makes the user a member of organization `org_code` with these role keys (none for a
    /// plain member). Calling again for the same organization adds roles.
    pub fn member_of(mut self, org_code: &str, roles: &[&str]) -> Self {
        let m = self.membership(org_code);
        for role in roles {
            if !m.roles.iter().any(|r| r == role) {
                m.roles.push((*role).to_owned());
            }
        }
        self
    }

    /// Grants permissions directly (not through a role) in organization `org_code`, making the
    /// user a member if they were not.
    pub fn permissions_in(mut self, org_code: &str, permissions: &[&str]) -> Self {
        let m = self.membership(org_code);
        for p in permissions {
            if !m.permissions.iter().any(|x| x == p) {
                m.permissions.push((*p).to_owned());
            }
        }
        self
    }
}

/// A feature-flag value: a boolean, a string or an integer (the flag's type follows its
/// default).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TestFlagValue {
    /// A boolean flag.
    Bool(bool),
    /// A string flag.
    Str(String),
    /// An integer flag.
    Int(i64),
}

impl TestFlagValue {
    fn type_name(&self) -> &'static str {
        match self {
            TestFlagValue::Bool(_) => "bool",
            TestFlagValue::Str(_) => "str",
            TestFlagValue::Int(_) => "int",
        }
    }

    fn to_toml(&self) -> toml::Value {
        match self {
            TestFlagValue::Bool(b) => toml::Value::Boolean(*b),
            TestFlagValue::Str(s) => toml::Value::String(s.clone()),
            TestFlagValue::Int(i) => toml::Value::Integer(*i),
        }
    }
}

impl From<bool> for TestFlagValue {
    fn from(v: bool) -> Self {
        TestFlagValue::Bool(v)
    }
}

impl From<&str> for TestFlagValue {
    fn from(v: &str) -> Self {
        TestFlagValue::Str(v.to_owned())
    }
}

impl From<String> for TestFlagValue {
    fn from(v: String) -> Self {
        TestFlagValue::Str(v)
    }
}

impl From<i64> for TestFlagValue {
    fn from(v: i64) -> Self {
        TestFlagValue::Int(v)
    }
}

impl From<i32> for TestFlagValue {
    fn from(v: i32) -> Self {
        TestFlagValue::Int(v.into())
    }
}

/// A feature flag for [`TestIssuerBuilder::feature_flag`]. Its type is its default's; an
/// override of another type is refused at [`TestIssuerBuilder::start`]. In tokens the most
/// specific value wins: user, then organization, then environment, then the default.
///
/// ```
/// use portcullis_server::testing::TestFlag;
///
/// let theme = TestFlag::new("theme", "light")
///     .environment("dark")
///     .org("org_acme", "pink")
///     .user("ada@example.com", "blue");
/// let analytics = TestFlag::new("analytics", false).org("org_globex", true);
/// let limit = TestFlag::new("competitions_limit", 5);
/// # let _ = (theme, analytics, limit);
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct TestFlag {
    key: String,
    default: TestFlagValue,
    environment: Option<TestFlagValue>,
    organizations: BTreeMap<String, TestFlagValue>,
    users: BTreeMap<String, TestFlagValue>,
}

impl TestFlag {
    /// A flag `key` with its default value.
    pub fn new(key: &str, default: impl Into<TestFlagValue>) -> Self {
        TestFlag {
            key: key.to_owned(),
            default: default.into(),
            environment: None,
            organizations: BTreeMap::new(),
            users: BTreeMap::new(),
        }
    }

    /// The environment's override.
    pub fn environment(mut self, value: impl Into<TestFlagValue>) -> Self {
        self.environment = Some(value.into());
        self
    }

    /// The override for organization `org_code`.
    pub fn org(mut self, org_code: &str, value: impl Into<TestFlagValue>) -> Self {
        self.organizations.insert(org_code.to_owned(), value.into());
        self
    }

    /// The override for the user with `email`.
    pub fn user(mut self, email: &str, value: impl Into<TestFlagValue>) -> Self {
        self.users.insert(email.to_owned(), value.into());
        self
    }
}

/// Options of a user sign-in ([`TestIssuer::user_tokens_with`]).
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct TokenRequest {
    audiences: Vec<String>,
    scopes: Option<Vec<String>>,
    org_code: Option<String>,
    nonce: Option<String>,
    redirect_uri: Option<String>,
}

impl TokenRequest {
    /// No `audience` parameter (the server decides the token's `aud`); scopes `openid profile
    /// email offline`; no organization; a random nonce; the application's first callback URL.
    pub fn new() -> Self {
        TokenRequest::default()
    }

    /// Asks for an access token for this API (call again for several). The application must
    /// have been granted it.
    pub fn audience(mut self, audience: &str) -> Self {
        self.audiences.push(audience.to_owned());
        self
    }

    /// Replaces the requested scopes (`offline` asks for a refresh token, `openid` for an ID
    /// token).
    pub fn scopes(mut self, scopes: &[&str]) -> Self {
        self.scopes = Some(strings(scopes));
        self
    }

    /// Signs the user into this organization (`org_code` of the access token).
    pub fn org_code(mut self, org_code: &str) -> Self {
        self.org_code = Some(org_code.to_owned());
        self
    }

    /// The nonce to send (echoed in the ID token). Default: a random one.
    pub fn nonce(mut self, nonce: &str) -> Self {
        self.nonce = Some(nonce.to_owned());
        self
    }

    /// The callback URL to use (one of the application's). Default: its first.
    pub fn redirect_uri(mut self, redirect_uri: &str) -> Self {
        self.redirect_uri = Some(redirect_uri.to_owned());
        self
    }
}

/// The token endpoint's answer to a user grant. `Debug` does not print the tokens.
#[derive(Clone)]
pub struct UserTokens {
    /// The access token (a JWT).
    pub access_token: String,
    /// The ID token, when `openid` was granted.
    pub id_token: Option<String>,
    /// The refresh token, when `offline` was granted.
    pub refresh_token: Option<String>,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// The granted scopes, space-separated.
    pub scope: String,
    /// `Bearer`.
    pub token_type: String,
    /// The nonce sent at the authorization endpoint (`None` after a refresh, whose ID token
    /// carries none).
    pub nonce: Option<String>,
}

impl UserTokens {
    /// The access token's claims, decoded but **not verified** (this server just issued it;
    /// tests that check verification use [`TestIssuer::verifier_config`]). `Value::Null` when
    /// the payload cannot be decoded.
    pub fn access_claims(&self) -> Value {
        decode_payload(&self.access_token)
    }

    /// The ID token's claims, decoded but not verified; `Value::Null` without an ID token.
    pub fn id_claims(&self) -> Value {
        self.id_token
            .as_deref()
            .map(decode_payload)
            .unwrap_or(Value::Null)
    }
}

/// The payload of a compact JWS, as JSON.
fn decode_payload(jwt: &str) -> Value {
    use base64::Engine as _;
    jwt.split('.')
        .nth(1)
        .and_then(|p| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(p)
                .ok()
        })
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or(Value::Null)
}

impl fmt::Debug for UserTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redacted = |t: &Option<String>| t.as_ref().map(|_| "[redacted]");
        f.debug_struct("UserTokens")
            .field("access_token", &"[redacted]")
            .field("id_token", &redacted(&self.id_token))
            .field("refresh_token", &redacted(&self.refresh_token))
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .field("token_type", &self.token_type)
            .field("nonce", &self.nonce)
            .finish()
    }
}

/// A step of a token helper, named in its errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FlowStep {
    /// `GET /oauth2/auth`.
    Authorize,
    /// `POST /oauth2/auth/sign-in` (the hosted form).
    SignIn,
    /// The redirect back to the application's callback URL.
    Callback,
    /// `POST /oauth2/token` with the code.
    CodeExchange,
    /// `POST /oauth2/token` with a refresh token.
    Refresh,
    /// `POST /oauth2/token` with `client_credentials`.
    ClientCredentials,
}

impl fmt::Display for FlowStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FlowStep::Authorize => "authorization request (GET /oauth2/auth)",
            FlowStep::SignIn => "sign-in (POST /oauth2/auth/sign-in)",
            FlowStep::Callback => "callback to the application",
            FlowStep::CodeExchange => "code exchange (POST /oauth2/token)",
            FlowStep::Refresh => "refresh (POST /oauth2/token)",
            FlowStep::ClientCredentials => "client credentials (POST /oauth2/token)",
        })
    }
}

/// Why a test helper could not get a token. Messages never contain passwords, secrets or
/// tokens.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TestIssuerError {
    /// The HTTP request failed.
    #[error("{step}: the request failed: {source}")]
    Http {
        /// Where.
        step: FlowStep,
        /// The transport error.
        #[source]
        source: reqwest::Error,
    },
    /// The server refused: an OAuth error, an error page, or the sign-in form again (a wrong
    /// password).
    #[error("{step}: the server answered {status}: {body}")]
    Refused {
        /// Where.
        step: FlowStep,
        /// The HTTP status.
        status: u16,
        /// The OAuth error body, the page's message, or the start of the body.
        body: String,
    },
    /// The server answered something the flow does not expect (a `state` or `iss` that does not
    /// match, a page without a form, a token answer that does not parse).
    #[error("{step}: {detail}")]
    Unexpected {
        /// Where.
        step: FlowStep,
        /// What was wrong.
        detail: String,
    },
    /// The client id names no application of this issuer.
    #[error("no application {0:?} was added to this test issuer")]
    UnknownClient(String),
}

/// An application as the helpers need it.
#[derive(Clone)]
struct RegisteredClient {
    secret: Option<String>,
    redirect_urls: Vec<String>,
}

/// The real identity server, running in-process until dropped.
pub struct TestIssuer {
    url: String,
    /// The test CA of [`TestIssuerBuilder::tls`], if any.
    root_certificates: portcullis::tls::RootCertificates,
    state: AppState,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    /// Follows no redirect: the flow reads every `Location` itself.
    http: reqwest::Client,
    clients: BTreeMap<String, RegisteredClient>,
    /// Seeded passwords by normalized email.
    passwords: BTreeMap<String, String>,
}

impl fmt::Debug for TestIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestIssuer")
            .field("url", &self.url)
            .field("clients", &self.clients.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// Cookies of one flow, kept by hand (the helper's "browser").
#[derive(Default)]
struct CookieJar(Vec<(String, String)>);

impl CookieJar {
    fn apply(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        if self.0.is_empty() {
            return request;
        }
        let header = self
            .0
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        request.header(header::COOKIE, header)
    }

    fn store(&mut self, headers: &HeaderMap) {
        for set in headers.get_all(header::SET_COOKIE) {
            let Ok(set) = set.to_str() else { continue };
            let pair = set.split(';').next().unwrap_or("");
            let Some((name, value)) = pair.split_once('=') else {
                continue;
            };
            let name = name.trim();
            self.0.retain(|(k, _)| k != name);
            let expired = set
                .split(';')
                .any(|a| a.trim().eq_ignore_ascii_case("max-age=0"));
            if !value.is_empty() && !expired {
                self.0.push((name.to_owned(), value.trim().to_owned()));
            }
        }
    }
}

/// One HTTP answer of the flow.
struct Answer {
    status: u16,
    location: Option<String>,
    body: String,
}

/// What a refusal quotes: the page's alert message, or the start of the body.
fn snippet(body: &str) -> String {
    if let Some(rest) = body.split("role=\"alert\">").nth(1) {
        let text = rest.split('<').next().unwrap_or("");
        return text
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&amp;", "&");
    }
    let body = body.trim();
    match body.char_indices().nth(SNIPPET_CHARS) {
        Some((at, _)) => format!("{}…", &body[..at]),
        None => body.to_owned(),
    }
}

/// The value of the hidden form field `name`.
fn hidden(body: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = body.find(&marker)? + marker.len();
    let len = body[start..].find('"')?;
    Some(body[start..start + len].to_owned())
}

/// RFC 6749 Appendix B: client ids and secrets are form-urlencoded before Basic encoding.
fn form_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Whether `location` is `redirect_uri` with response parameters added.
fn same_endpoint(location: &url::Url, redirect_uri: &str) -> bool {
    url::Url::parse(redirect_uri).is_ok_and(|r| {
        r.scheme() == location.scheme()
            && r.host_str() == location.host_str()
            && r.port_or_known_default() == location.port_or_known_default()
            && r.path() == location.path()
    })
}

impl TestIssuer {
    /// Starts configuring a test issuer (in-memory SQLite, RS256).
    pub fn builder() -> TestIssuerBuilder {
        TestIssuerBuilder {
            seed: Seed::default(),
            grants: Vec::new(),
            logout_urls: Vec::new(),
            password_grants: Vec::new(),
            database_url: "sqlite::memory:".to_owned(),
            store_options: StoreOptions::default(),
            signing_algorithm: SigningAlgorithm::RS256,
            access_token_ttl: None,
            refresh_reuse_grace: None,
            clock: None,
            tls: None,
        }
    }

    /// The issuer URL (`http://127.0.0.1:PORT`, or `https://localhost:PORT` with
    /// [`TestIssuerBuilder::tls`]), as tokens carry it in `iss`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The issuer URL, as tokens carry it in `iss` (the same as [`TestIssuer::url`]).
    pub fn issuer(&self) -> &str {
        &self.url
    }

    /// Where the signing keys are published (`/.well-known/jwks.json`).
    pub fn jwks_url(&self) -> String {
        format!("{}/.well-known/jwks.json", self.url)
    }

    /// A [`portcullis::Config`] for verifying this issuer's access tokens for `audience`
    /// (`TokenVerifier::from_config(&issuer.verifier_config(API)?)`).
    /// With [`TestIssuerBuilder::tls`], the configuration trusts the test CA.
    pub fn verifier_config(&self, audience: &str) -> Result<portcullis::Config, portcullis::Error> {
        portcullis::Config::builder(&self.url)
            .audience(audience)
            .root_certificates(self.root_certificates.clone())
            .build()
    }

    /// The test CA of [`TestIssuerBuilder::tls`] (empty without it), for SDK clients of this
    /// issuer: `HttpOptions { root_certificates: issuer.root_certificates(), .. }`.
    pub fn root_certificates(&self) -> portcullis::tls::RootCertificates {
        self.root_certificates.clone()
    }

    /// The server's state (store, keys), for tests that need to reach behind the HTTP API.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The password of a seeded user: the one given, or the random one a [`TestUser`] without
    /// a password was given.
    pub fn password_of(&self, email: &str) -> Option<&str> {
        self.passwords
            .get(&normalize_email(email))
            .map(String::as_str)
    }

    fn client(&self, client_id: &str) -> Result<&RegisteredClient, TestIssuerError> {
        self.clients
            .get(client_id)
            .ok_or_else(|| TestIssuerError::UnknownClient(client_id.to_owned()))
    }

    /// Sends `request` with the jar's cookies and keeps the ones it sets.
    async fn fetch(
        &self,
        jar: &mut CookieJar,
        request: reqwest::RequestBuilder,
        step: FlowStep,
    ) -> Result<Answer, TestIssuerError> {
        let response = jar
            .apply(request)
            .send()
            .await
            .map_err(|source| TestIssuerError::Http { step, source })?;
        jar.store(response.headers());
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response
            .text()
            .await
            .map_err(|source| TestIssuerError::Http { step, source })?;
        Ok(Answer {
            status,
            location,
            body,
        })
    }

    /// Posts `form` to the token endpoint as `client_id` (client_secret_basic when the
    /// application has a secret, else a public client naming itself) and reads a user grant's
    /// answer.
    async fn token_request(
        &self,
        client_id: &str,
        mut form: Vec<(&str, &str)>,
        nonce: Option<String>,
        step: FlowStep,
    ) -> Result<UserTokens, TestIssuerError> {
        let client = self.client(client_id)?;
        if client.secret.is_none() {
            form.push(("client_id", client_id));
        }
        let mut request = self
            .http
            .post(format!("{}/oauth2/token", self.url))
            .form(&form);
        if let Some(secret) = &client.secret {
            request = request.basic_auth(form_encode(client_id), Some(form_encode(secret)));
        }
        let answer = self.fetch(&mut CookieJar::default(), request, step).await?;
        if answer.status != 200 {
            return Err(TestIssuerError::Refused {
                step,
                status: answer.status,
                body: snippet(&answer.body),
            });
        }
        // The body holds tokens: never quoted in an error.
        let unexpected = |detail: &str| TestIssuerError::Unexpected {
            step,
            detail: detail.to_owned(),
        };
        let json: Value = serde_json::from_str(&answer.body)
            .map_err(|_| unexpected("the token answer is not JSON"))?;
        let text = |name: &str| json.get(name).and_then(Value::as_str).map(str::to_owned);
        Ok(UserTokens {
            access_token: text("access_token")
                .ok_or_else(|| unexpected("the token answer has no access_token"))?,
            id_token: text("id_token"),
            refresh_token: text("refresh_token"),
            expires_in: json
                .get("expires_in")
                .and_then(Value::as_i64)
                .ok_or_else(|| unexpected("the token answer has no numeric expires_in"))?,
            scope: text("scope").unwrap_or_default(),
            token_type: text("token_type")
                .ok_or_else(|| unexpected("the token answer has no token_type"))?,
            nonce,
        })
    }

    /// A user's tokens for application `client_id` with the default [`TokenRequest`] (scopes
    /// `openid profile email offline`, no `audience` parameter, no `org_code`). See
    /// [`TestIssuer::user_tokens_with`].
    pub async fn user_tokens(
        &self,
        client_id: &str,
        email: &str,
        password: &str,
    ) -> Result<UserTokens, TestIssuerError> {
        self.user_tokens_with(client_id, email, password, &TokenRequest::new())
            .await
    }

    /// A user's tokens through the real authorization code flow, as a fresh browser and the
    /// application would get them: `GET /oauth2/auth` with PKCE (S256), `state` and a nonce;
    /// the hosted sign-in form, posted with its CSRF token and the browser cookie; the redirect
    /// to the callback URL (read, never fetched), whose `state` and `iss` are checked; and the
    /// code exchanged at `/oauth2/token` (`client_secret_basic` for web applications, the
    /// client id alone for single-page applications).
    ///
    /// Without an `org_code`, a member of exactly one organization is signed into it; a member
    /// of several meets the hosted organization chooser, where this browser chooses the first
    /// one listed (by name) — name the organization to get another.
    ///
    /// A wrong password is [`TestIssuerError::Refused`] at [`FlowStep::SignIn`] with the
    /// form's message; a refusal of the server names its step likewise.
    pub async fn user_tokens_with(
        &self,
        client_id: &str,
        email: &str,
        password: &str,
        options: &TokenRequest,
    ) -> Result<UserTokens, TestIssuerError> {
        let client = self.client(client_id)?;
        let redirect_uri = match (&options.redirect_uri, client.redirect_urls.first()) {
            (Some(uri), _) => uri.clone(),
            (None, Some(uri)) => uri.clone(),
            (None, None) => {
                return Err(TestIssuerError::Unexpected {
                    step: FlowStep::Authorize,
                    detail: format!(
                        "application {client_id:?} has no callback URL (a machine-to-machine \
                         application cannot sign users in)"
                    ),
                });
            }
        };
        let verifier = random_token();
        let challenge = URL_SAFE_NO_PAD.encode(
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes()).as_ref(),
        );
        let state = random_token();
        let nonce = options.nonce.clone().unwrap_or_else(random_token);
        let scope = match &options.scopes {
            Some(scopes) => scopes.join(" "),
            None => portcullis::config::DEFAULT_SCOPES.join(" "),
        };
        let audience = options.audiences.join(" ");
        let mut params = vec![
            ("client_id", client_id),
            ("redirect_uri", redirect_uri.as_str()),
            ("response_type", "code"),
            ("scope", scope.as_str()),
            ("state", state.as_str()),
            ("nonce", nonce.as_str()),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ];
        if !audience.is_empty() {
            params.push(("audience", audience.as_str()));
        }
        if let Some(org) = &options.org_code {
            params.push(("org_code", org.as_str()));
        }
        let authorize = url::Url::parse_with_params(&format!("{}/oauth2/auth", self.url), &params)
            .map_err(|e| TestIssuerError::Unexpected {
                step: FlowStep::Authorize,
                detail: format!("cannot build the authorization URL: {e}"),
            })?;

        let (location, step) = self
            .drive_sign_in(authorize.as_str(), email, password)
            .await?;
        let code = self.read_callback(&location, &redirect_uri, &state, step)?;
        let form = vec![
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", redirect_uri.as_str()),
            ("code_verifier", verifier.as_str()),
        ];
        self.token_request(client_id, form, Some(nonce), FlowStep::CodeExchange)
            .await
    }

    /// Signs `email` in at the hosted page, as a browser would, for an authorization URL your
    /// app built (with its own `state`, `nonce` and PKCE challenge), and returns where the
    /// server sends the browser next: your callback URL with `code`, `state` and `iss` (or an
    /// error redirect, returned as is). Your app then handles that callback itself.
    ///
    /// A fresh browser each time: no identity-server session carries over.
    pub async fn browser_sign_in(
        &self,
        authorize_url: &str,
        email: &str,
        password: &str,
    ) -> Result<String, TestIssuerError> {
        self.drive_sign_in(authorize_url, email, password)
            .await
            .map(|(location, _)| location)
    }

    /// The browser part of a sign-in: the authorization URL, the form, the post. Returns the
    /// final redirect and the step it answers.
    async fn drive_sign_in(
        &self,
        authorize_url: &str,
        email: &str,
        password: &str,
    ) -> Result<(String, FlowStep), TestIssuerError> {
        // A fresh browser for every sign-in: no session carries over between users.
        let mut jar = CookieJar::default();
        let page = self
            .fetch(&mut jar, self.http.get(authorize_url), FlowStep::Authorize)
            .await?;
        let (location, step) = match (page.status, page.location) {
            (200, _) => {
                let (Some(interaction), Some(csrf)) = (
                    hidden(&page.body, "interaction"),
                    hidden(&page.body, "csrf"),
                ) else {
                    return Err(TestIssuerError::Unexpected {
                        step: FlowStep::Authorize,
                        detail: format!(
                            "the answer is not a sign-in form: {}",
                            snippet(&page.body)
                        ),
                    });
                };
                let form = [
                    ("interaction", interaction.as_str()),
                    ("csrf", csrf.as_str()),
                    ("email", email),
                    ("password", password),
                ];
                let request = self
                    .http
                    .post(format!("{}/oauth2/auth/sign-in", self.url))
                    // A browser's same-origin form post carries the issuer's origin.
                    .header(header::ORIGIN, &self.url)
                    .form(&form);
                let done = self.fetch(&mut jar, request, FlowStep::SignIn).await?;
                match (done.status, done.location) {
                    (303, Some(location)) => (
                        self.through_chooser(&mut jar, location).await?,
                        FlowStep::Callback,
                    ),
                    (status, _) => {
                        return Err(TestIssuerError::Refused {
                            step: FlowStep::SignIn,
                            status,
                            body: snippet(&done.body),
                        });
                    }
                }
            }
            // Answered at once (an error redirect).
            (303, Some(location)) => (location, FlowStep::Authorize),
            (status, _) => {
                return Err(TestIssuerError::Refused {
                    step: FlowStep::Authorize,
                    status,
                    body: snippet(&page.body),
                });
            }
        };
        Ok((location, step))
    }

    /// A member of several organizations whose request names none is sent to the hosted
    /// organization chooser after signing in: `location` is then that page, and the browser
    /// chooses the first organization it lists (by name), as a user pressing Continue would,
    /// and returns where that sends it. Any other `location` is returned as is.
    async fn through_chooser(
        &self,
        jar: &mut CookieJar,
        location: String,
    ) -> Result<String, TestIssuerError> {
        if !location.starts_with(&format!("{}/oauth2/auth/choose-org?", self.url)) {
            return Ok(location);
        }
        let page = self
            .fetch(jar, self.http.get(&location), FlowStep::SignIn)
            .await?;
        let (Some(interaction), Some(csrf), Some(org)) = (
            hidden(&page.body, "interaction"),
            hidden(&page.body, "csrf"),
            hidden(&page.body, "org_code"),
        ) else {
            return Err(TestIssuerError::Refused {
                step: FlowStep::SignIn,
                status: page.status,
                body: snippet(&page.body),
            });
        };
        let form = [
            ("interaction", interaction.as_str()),
            ("csrf", csrf.as_str()),
            ("org_code", org.as_str()),
        ];
        let request = self
            .http
            .post(format!("{}/oauth2/auth/choose-org", self.url))
            .header(header::ORIGIN, &self.url)
            .form(&form);
        let done = self.fetch(jar, request, FlowStep::SignIn).await?;
        match (done.status, done.location) {
            (303, Some(location)) => Ok(location),
            (status, _) => Err(TestIssuerError::Refused {
                step: FlowStep::SignIn,
                status,
                body: snippet(&done.body),
            }),
        }
    }

    /// The code of a redirect to the application, after checking it is one (RFC 6749 §4.1.2):
    /// to `redirect_uri`, with our `state` and this issuer's `iss` (RFC 9207). An `error`
    /// there is a refusal at `step`.
    fn read_callback(
        &self,
        location: &str,
        redirect_uri: &str,
        state: &str,
        step: FlowStep,
    ) -> Result<String, TestIssuerError> {
        let unexpected = |detail: String| TestIssuerError::Unexpected {
            step: FlowStep::Callback,
            detail,
        };
        let url = url::Url::parse(location)
            .map_err(|e| unexpected(format!("the redirect is not an absolute URL ({e})")))?;
        if !same_endpoint(&url, redirect_uri) {
            return Err(unexpected(format!(
                "the redirect goes to {}, not to the callback URL {redirect_uri}",
                url.origin().ascii_serialization()
            )));
        }
        let param = |name: &str| {
            url.query_pairs()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
        };
        if let Some(error) = param("error") {
            let description = param("error_description").unwrap_or_default();
            return Err(TestIssuerError::Refused {
                step,
                status: 303,
                body: format!("{error}: {description}"),
            });
        }
        if param("state").as_deref() != Some(state) {
            return Err(unexpected(
                "the state in the redirect is not the one sent".to_owned(),
            ));
        }
        if param("iss").as_deref() != Some(self.url.as_str()) {
            return Err(unexpected(format!(
                "the iss in the redirect is {:?}, not {:?}",
                param("iss"),
                self.url
            )));
        }
        param("code").ok_or_else(|| unexpected("the redirect carries no code".to_owned()))
    }

    /// New tokens for a refresh token of application `client_id` (the server rotates it: use
    /// the returned `refresh_token` next time).
    pub async fn refresh(
        &self,
        client_id: &str,
        refresh_token: &str,
    ) -> Result<UserTokens, TestIssuerError> {
        let form = vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ];
        self.token_request(client_id, form, None, FlowStep::Refresh)
            .await
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
        let step = FlowStep::ClientCredentials;
        let mut form = vec![("grant_type", "client_credentials"), ("audience", audience)];
        if let Some(scope) = scope {
            form.push(("scope", scope));
        }
        let request = self
            .http
            .post(format!("{}/oauth2/token", self.url))
            .basic_auth(form_encode(client_id), Some(form_encode(client_secret)))
            .form(&form);
        let answer = self.fetch(&mut CookieJar::default(), request, step).await?;
        if answer.status != 200 {
            return Err(TestIssuerError::Refused {
                step,
                status: answer.status,
                body: snippet(&answer.body),
            });
        }
        serde_json::from_str::<Value>(&answer.body)
            .ok()
            .and_then(|body| body.get("access_token")?.as_str().map(str::to_owned))
            .ok_or_else(|| TestIssuerError::Unexpected {
                step,
                detail: "the token answer has no access_token".to_owned(),
            })
    }

    /// The audience of management-API tokens: `{issuer}/api`.
    pub fn management_audience(&self) -> String {
        crate::management::audience(&self.url)
    }

    /// A management-API token for an application added with
    /// [`TestIssuerBuilder::management_app`], through the real token endpoint; `scope` narrows
    /// it (space-separated), `None` asks for every granted scope.
    pub async fn management_token(
        &self,
        client_id: &str,
        client_secret: &str,
        scope: Option<&str>,
    ) -> Result<String, TestIssuerError> {
        let audience = self.management_audience();
        self.client_credentials_token(client_id, client_secret, &audience, scope)
            .await
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snippets_quote_the_message_or_the_start() {
        let page = "<p class=\"error\" role=\"alert\">The email &amp; password</p><input \
                    type=\"hidden\" name=\"csrf\" value=\"secret\">";
        assert_eq!(snippet(page), "The email & password");
        let long = "x".repeat(1000);
        assert_eq!(snippet(&long).chars().count(), SNIPPET_CHARS + 1);
        assert_eq!(
            snippet("  {\"error\":\"invalid_grant\"} "),
            "{\"error\":\"invalid_grant\"}"
        );
    }

    #[test]
    fn the_jar_keeps_and_forgets_cookies() {
        let mut jar = CookieJar::default();
        let mut headers = HeaderMap::new();
        headers.append(header::SET_COOKIE, "a=1; Path=/; HttpOnly".parse().unwrap());
        headers.append(header::SET_COOKIE, "b=2; Max-Age=60".parse().unwrap());
        headers.append(header::SET_COOKIE, "garbage".parse().unwrap());
        jar.store(&headers);
        assert_eq!(jar.0.len(), 2);
        let mut headers = HeaderMap::new();
        headers.append(header::SET_COOKIE, "a=; Max-Age=0".parse().unwrap());
        headers.append(header::SET_COOKIE, "b=3; Max-Age=0".parse().unwrap());
        jar.store(&headers);
        assert!(jar.0.is_empty());
    }

    #[test]
    fn callbacks_are_compared_without_their_query() {
        let at = |s: &str| url::Url::parse(s).unwrap();
        assert!(same_endpoint(
            &at("http://localhost:3000/cb?code=1&state=2"),
            "http://localhost:3000/cb"
        ));
        assert!(!same_endpoint(
            &at("http://localhost:3001/cb?code=1"),
            "http://localhost:3000/cb"
        ));
        assert!(!same_endpoint(
            &at("http://localhost:3000/other"),
            "http://localhost:3000/cb"
        ));
    }
}
