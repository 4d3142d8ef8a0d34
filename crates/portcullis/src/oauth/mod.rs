//! OAuth 2.0 / OpenID Connect client flows: sign-in URLs (authorization code + PKCE S256), the
//! callback, refresh, client credentials (cached), revocation, introspection, UserInfo, logout.
//!
//! One [`AuthClient`] per app, built from [`Config`]; it is cheap to clone (an `Arc` inside) and
//! holds no per-user state: what a sign-in needs between the redirect and the callback is a
//! [`PendingLogin`] the app keeps (server-side, e.g. in its session).
//!
//! ```no_run
//! use portcullis::Config;
//! use portcullis::oauth::{AuthClient, AuthorizeOptions};
//!
//! # async fn run(callback_url: &str) -> Result<(), portcullis::Error> {
//! let config = Config::builder("https://acme.kinde.com")
//!     .client_id("my-app")
//!     .client_secret("my-secret")
//!     .redirect_uri("https://app.example.com/callback")
//!     .build()?;
//! let client = AuthClient::new(&config)?;
//!
//! // 1. Send the user to the provider; keep `pending` in the session.
//! let request = client.login_url(&AuthorizeOptions::new()).await?;
//! let pending = request.pending; // store it, keyed by pending.state()
//! // … redirect the browser to request.url …
//!
//! // 2. On the callback: checks state, exchanges the code, verifies the ID token.
//! let tokens = client.handle_callback(callback_url, &pending).await?;
//! println!("signed in: {:?}", tokens.subject());
//! # Ok(()) }
//! ```
//!
//! Why not the `oauth2` / `openidconnect` crates: `oauth2` 5 (and `openidconnect` 4 on top of it)
//! pins `reqwest` 0.12, while this crate uses 0.13 — depending on them would put two HTTP stacks
//! into every user's build. The protocol code here is small, strict, and reuses the SDK's
//! verifier (ID tokens), HTTP limits (timeouts, body cap, no redirects with credentials) and
//! metadata discovery.

mod authorize;
mod client_credentials;
mod logout;
mod response;

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use subtle::ConstantTimeEq;
use tokio::sync::OnceCell;
use url::Url;

/// Why a client flow failed (also at the crate root).
pub use crate::error::OAuthError;
pub use authorize::{AuthorizationRequest, AuthorizeOptions, PendingLogin};
pub use client_credentials::ClientToken;
pub use logout::LogoutOptions;
pub use response::TokenSet;

use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::discovery::{self, ProviderMetadata};
use crate::error::{ConfigError, Error};
use crate::http::{HttpClient, HttpOptions};
use crate::verify::{IdTokenChecks, TokenVerifier};

/// How the client authenticates at the token, revocation and introspection endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientAuthMethod {
    /// HTTP Basic with the form-encoded id and secret (RFC 6749 §2.3.1, Appendix B). The default
    /// when a secret is configured.
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the form body.
    ClientSecretPost,
    /// A public client (a SPA or native app): `client_id` only, PKCE protects the code. The
    /// default when no secret is configured.
    None,
}

/// The `token_type_hint` of a revocation or introspection request (RFC 7009 §2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenTypeHint {
    /// An access token.
    AccessToken,
    /// A refresh token.
    RefreshToken,
}

impl TokenTypeHint {
    fn as_str(self) -> &'static str {
        match self {
            TokenTypeHint::AccessToken => "access_token",
            TokenTypeHint::RefreshToken => "refresh_token",
        }
    }
}

/// What the introspection endpoint says about a token (RFC 7662 §2.2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Introspection {
    /// Whether the token is currently valid. When `false`, nothing else is meaningful.
    pub active: bool,
    /// Scopes of the token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The client the token was issued to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The subject.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// Expiry (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    /// Issued at (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    /// The token's type, e.g. `access_token` or `refresh_token`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
    /// Every other member.
    #[serde(flatten)]
    pub other: serde_json::Map<String, Value>,
}

/// The user's profile from the UserInfo endpoint (OIDC Core §5.3; Kinde's
/// `/oauth2/v2/user_profile` has the same names).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct UserInfo {
    /// The user's subject identifier (always present).
    pub sub: String,
    /// Email address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Whether the email address was verified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
    /// Full name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Given name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    /// Family name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    /// Picture URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub picture: Option<String>,
    /// Every other member.
    #[serde(flatten)]
    pub other: serde_json::Map<String, Value>,
}

/// How long a pending login is accepted by default: ten minutes.
pub const DEFAULT_PENDING_LOGIN_TTL: Duration = Duration::from_secs(600);

/// Configures an [`AuthClient`].
#[derive(Debug)]
pub struct AuthClientBuilder {
    config: Config,
    auth_method: Option<ClientAuthMethod>,
    http_options: HttpOptions,
    framework: Option<String>,
    pending_login_ttl: Duration,
    clock: Arc<dyn Clock>,
    metadata: Option<ProviderMetadata>,
}

impl AuthClientBuilder {
    /// How to authenticate at the token endpoint (default: Basic with a secret, none without).
    pub fn client_auth_method(mut self, method: ClientAuthMethod) -> Self {
        self.auth_method = Some(method);
        self
    }

    /// Timeouts and limits of requests to the provider.
    pub fn http_options(mut self, options: HttpOptions) -> Self {
        self.http_options = options;
        self
    }

    /// Names the web framework in the SDK header of token requests (e.g. `axum`); framework
    /// integrations set it.
    pub fn framework(mut self, name: impl Into<String>) -> Self {
        self.framework = Some(name.into());
        self
    }

    /// How long after [`AuthClient::login_url`] the callback is accepted. Default ten minutes.
    pub fn pending_login_ttl(mut self, ttl: Duration) -> Self {
        self.pending_login_ttl = ttl;
        self
    }

    /// The clock for expiry decisions (tests).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Use this provider metadata instead of discovering it.
    pub fn metadata(mut self, metadata: ProviderMetadata) -> Self {
        self.metadata = Some(metadata);
        self
    }

    /// Builds the client. Needs a client id.
    pub fn build(self) -> Result<AuthClient, Error> {
        let client_id = self
            .config
            .client_id()
            .ok_or_else(|| {
                ConfigError::new(
                    "client_id",
                    "the client flows need the application's client id (PORTCULLIS_CLIENT_ID)",
                )
            })?
            .to_owned();
        let auth_method = match (self.auth_method, self.config.client_secret()) {
            (Some(ClientAuthMethod::None), _) | (None, None) => ClientAuthMethod::None,
            (Some(method), Some(_)) => method,
            (None, Some(_)) => ClientAuthMethod::ClientSecretBasic,
            (Some(_), None) => {
                return Err(ConfigError::new(
                    "client_secret",
                    "this client authentication method needs a client secret",
                )
                .into());
            }
        };
        let mut http_options = self.http_options;
        http_options.allow_insecure_http |= self.config.allows_insecure_http();
        http_options.root_certificates = http_options
            .root_certificates
            .merged(self.config.root_certificates());
        let http = HttpClient::new(http_options.clone())?;
        let mut verifier = TokenVerifier::builder(self.config.issuer())
            .client_id(client_id.clone())
            .http_options(http_options)
            .clock(ClockRef(self.clock.clone()));
        for audience in self.config.audiences() {
            verifier = verifier.audience(audience.clone());
        }
        if let Some(m) = &self.metadata {
            verifier = verifier.jwks_uri(m.jwks_uri.clone());
        }
        let verifier = verifier.build()?;
        let sdk_header = match &self.framework {
            Some(f) => format!("Rust-{f}/{}", env!("CARGO_PKG_VERSION")),
            None => format!("Rust/{}", env!("CARGO_PKG_VERSION")),
        };
        let metadata = OnceCell::new_with(self.metadata.map(Arc::new));
        Ok(AuthClient {
            inner: Arc::new(Inner {
                config: self.config,
                client_id,
                auth_method,
                http,
                verifier,
                metadata,
                sdk_header,
                pending_login_ttl: self.pending_login_ttl,
                clock: self.clock,
                machine_tokens: client_credentials::Cache::default(),
            }),
        })
    }
}

/// A `Clock` shared between the client and its verifier.
#[derive(Debug, Clone)]
struct ClockRef(Arc<dyn Clock>);

impl Clock for ClockRef {
    fn now_millis(&self) -> i64 {
        self.0.now_millis()
    }
}

/// The OAuth / OIDC client of one application. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct AuthClient {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: Config,
    client_id: String,
    auth_method: ClientAuthMethod,
    http: HttpClient,
    verifier: TokenVerifier,
    metadata: OnceCell<Arc<ProviderMetadata>>,
    sdk_header: String,
    pending_login_ttl: Duration,
    clock: Arc<dyn Clock>,
    machine_tokens: client_credentials::Cache,
}

/// What kind of sign-in page an authorization request opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start<'a> {
    Login,
    Register,
    CreateOrg(Option<&'a str>),
}

impl AuthClient {
    /// A client for the application of `config` (client id required; secret for confidential
    /// apps; redirect URI for sign-in flows).
    pub fn new(config: &Config) -> Result<AuthClient, Error> {
        Self::builder(config.clone()).build()
    }

    /// Starts configuring a client.
    pub fn builder(config: Config) -> AuthClientBuilder {
        AuthClientBuilder {
            config,
            auth_method: None,
            http_options: HttpOptions::default(),
            framework: None,
            pending_login_ttl: DEFAULT_PENDING_LOGIN_TTL,
            clock: Arc::new(SystemClock),
            metadata: None,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The clock this client (and its verifier) reads: [`TokenSet::expires_at`] is stamped
    /// with it, so expiry decisions about its tokens should use it too.
    pub fn clock(&self) -> &dyn Clock {
        &*self.inner.clock
    }

    /// The verifier this client checks ID tokens with; it also verifies access tokens for the
    /// configured audiences, sharing the key cache.
    pub fn verifier(&self) -> &TokenVerifier {
        &self.inner.verifier
    }

    /// The provider's metadata (discovered once, then kept; a failed discovery is retried on the
    /// next call).
    pub async fn metadata(&self) -> Result<Arc<ProviderMetadata>, Error> {
        let inner = &*self.inner;
        inner
            .metadata
            .get_or_try_init(|| async {
                discovery::discover(&inner.http, inner.config.issuer())
                    .await
                    .map(Arc::new)
            })
            .await
            .cloned()
            .map_err(Error::from)
    }

    async fn endpoint(
        &self,
        name: &'static str,
        pick: impl FnOnce(&ProviderMetadata) -> Option<&String>,
    ) -> Result<String, Error> {
        let metadata = self.metadata().await?;
        pick(&metadata)
            .cloned()
            .ok_or_else(|| OAuthError::MissingEndpoint(name).into())
    }

    /// A sign-in URL (authorization code flow with PKCE S256, `state` and `nonce`).
    pub async fn login_url(
        &self,
        options: &AuthorizeOptions,
    ) -> Result<AuthorizationRequest, Error> {
        self.authorization_request(options, Start::Login).await
    }

    /// A sign-up URL (`prompt=create`, and Kinde v1's `start_page=registration`).
    pub async fn register_url(
        &self,
        options: &AuthorizeOptions,
    ) -> Result<AuthorizationRequest, Error> {
        self.authorization_request(options, Start::Register).await
    }

    /// A URL that signs the user up or in and creates an organization (Kinde `is_create_org`),
    /// named `org_name` — or, without a name, one the user types on the hosted page.
    pub async fn create_org_url(
        &self,
        org_name: Option<&str>,
        options: &AuthorizeOptions,
    ) -> Result<AuthorizationRequest, Error> {
        self.authorization_request(options, Start::CreateOrg(org_name))
            .await
    }

    async fn authorization_request(
        &self,
        options: &AuthorizeOptions,
        start: Start<'_>,
    ) -> Result<AuthorizationRequest, Error> {
        let inner = &*self.inner;
        for (name, _) in &options.extra {
            if authorize::RESERVED.contains(&name.as_str()) {
                return Err(OAuthError::ReservedParameter(name.clone()).into());
            }
        }
        let redirect_uri = options
            .redirect_uri
            .as_deref()
            .or(inner.config.redirect_uri())
            .ok_or_else(|| {
                ConfigError::new(
                    "redirect_uri",
                    "sign-in needs the app's callback URL (PORTCULLIS_REDIRECT_URI)",
                )
            })?
            .to_owned();
        let endpoint = self
            .endpoint("authorization", |m| m.authorization_endpoint.as_ref())
            .await?;
        let mut url = Url::parse(&endpoint).map_err(|e| OAuthError::InvalidResponse {
            endpoint: "discovery",
            message: format!("authorization_endpoint is not a URL: {e}"),
        })?;
        let state = authorize::random_token(32);
        let nonce = authorize::random_token(32);
        let code_verifier = authorize::code_verifier();
        let scopes = options
            .scopes
            .as_deref()
            .unwrap_or(inner.config.scopes())
            .join(" ");
        let audience_list = options
            .audiences
            .as_deref()
            .unwrap_or(inner.config.audiences());
        let audiences = audience_list.join(" ");
        // RFC 8707: every audience that is an absolute URI is also a `resource`, unless the app
        // already names it as an extra `resource` (sent below, once).
        let extra_resources: Vec<&str> = options
            .extra
            .iter()
            .filter(|(name, _)| name == "resource")
            .map(|(_, value)| value.as_str())
            .collect();
        let added_resources: Vec<&str> = resource_indicators(audience_list)
            .filter(|r| !extra_resources.contains(r))
            .collect();
        let mut all_resources = added_resources.iter().chain(&extra_resources);
        // One resource is named again at the code exchange (RFC 8707 §2.2); with several, the
        // provider decides (one access token cannot be for several of them).
        let resource = match (all_resources.next(), all_resources.next()) {
            (Some(only), None) => Some((*only).to_owned()),
            _ => None,
        };
        let org_code = options.org_code.as_deref().or(inner.config.org_code());
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("response_type", "code")
                .append_pair("client_id", &inner.client_id)
                .append_pair("redirect_uri", &redirect_uri)
                .append_pair("scope", &scopes)
                .append_pair("state", &state)
                .append_pair("nonce", &nonce)
                .append_pair("code_challenge", &authorize::code_challenge(&code_verifier))
                .append_pair("code_challenge_method", "S256");
            if !audiences.is_empty() {
                q.append_pair("audience", &audiences);
            }
            for resource in &added_resources {
                q.append_pair("resource", resource);
            }
            let mut prompt = options.prompt.as_deref();
            match start {
                Start::Login => {}
                Start::Register => {
                    prompt = Some("create");
                    q.append_pair("start_page", "registration");
                }
                Start::CreateOrg(name) => {
                    prompt = Some("create");
                    q.append_pair("is_create_org", "true");
                    if let Some(name) = name {
                        q.append_pair("org_name", name);
                    }
                }
            }
            let optional = [
                ("prompt", prompt),
                ("org_code", org_code),
                ("login_hint", options.login_hint.as_deref()),
                ("connection_id", options.connection_id.as_deref()),
                ("lang", options.lang.as_deref()),
            ];
            for (name, value) in optional {
                if let Some(value) = value {
                    q.append_pair(name, value);
                }
            }
            if let Some(max_age) = options.max_age {
                q.append_pair("max_age", &max_age.as_secs().to_string());
            }
            for (name, value) in &options.extra {
                q.append_pair(name, value);
            }
        }
        Ok(AuthorizationRequest {
            url,
            pending: PendingLogin {
                state,
                nonce,
                code_verifier,
                redirect_uri,
                created_at: inner.clock.now_secs(),
                max_age: options.max_age.map(|d| d.as_secs()),
                resource,
            },
        })
    }

    /// Handles the sign-in callback: `callback` is the full callback URL or its query string.
    ///
    /// Checks, in order and before any token request: one `state`, equal to the pending login's
    /// (constant time); the pending login is not too old; `iss` (RFC 9207), when present, is the
    /// issuer, and is present when the provider's metadata says it always sends it
    /// (`authorization_response_iss_parameter_supported`); no `error=`; one `code`. Then exchanges the code with the PKCE verifier (and the
    /// request's RFC 8707 `resource` when it named exactly one) and verifies the ID token (signature, `iss`, `aud`, `exp`, `nonce`, `at_hash`, `auth_time`
    /// against `max_age`).
    pub async fn handle_callback(
        &self,
        callback: &str,
        pending: &PendingLogin,
    ) -> Result<TokenSet, Error> {
        let inner = &*self.inner;
        let params = callback_params(callback)?;
        let one = |name: &'static str| -> Result<Option<&str>, OAuthError> {
            let mut values = params.iter().filter(|(k, _)| k == name).map(|(_, v)| v);
            let first = values.next();
            if values.next().is_some() {
                return Err(OAuthError::MalformedCallback(match name {
                    "state" => "state appears twice",
                    "code" => "code appears twice",
                    "iss" => "iss appears twice",
                    _ => "a parameter appears twice",
                }));
            }
            Ok(first.map(String::as_str).filter(|v| !v.is_empty()))
        };
        let state = one("state")?.ok_or(OAuthError::StateMismatch("the callback has no state"))?;
        if !bool::from(state.as_bytes().ct_eq(pending.state.as_bytes())) {
            return Err(OAuthError::StateMismatch("another sign-in's state").into());
        }
        let age = inner.clock.now_secs() - pending.created_at;
        if age < -60 || age > inner.pending_login_ttl.as_secs() as i64 {
            return Err(OAuthError::LoginExpired.into());
        }
        // RFC 9207: an `iss` that is present must be the issuer (an empty one is not); a
        // provider that says it always sends one must have sent one.
        match one("iss")? {
            Some(iss) if iss != inner.config.issuer() => {
                return Err(OAuthError::IssuerMismatch.into());
            }
            Some(_) => {}
            None if params.iter().any(|(k, _)| k == "iss") => {
                return Err(OAuthError::IssuerMismatch.into());
            }
            None => {
                if self
                    .metadata()
                    .await?
                    .authorization_response_iss_parameter_supported
                {
                    return Err(OAuthError::MissingIssuer.into());
                }
            }
        }
        if let Some(error) = one("error")? {
            return Err(OAuthError::Callback {
                error: error.chars().take(100).collect(),
                description: one("error_description")?.map(|d| d.chars().take(300).collect()),
            }
            .into());
        }
        let code = one("code")?.ok_or(OAuthError::MalformedCallback(
            "the callback has neither code nor error",
        ))?;
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", pending.redirect_uri.as_str()),
            ("code_verifier", pending.code_verifier.as_str()),
        ];
        if let Some(resource) = &pending.resource {
            form.push(("resource", resource.as_str()));
        }
        let response = self.token_request(&form).await?;
        let id_token_claims = match &response.id_token {
            Some(id_token) => {
                let mut checks = IdTokenChecks::nonce(&pending.nonce)
                    .with_access_token(&response.access_token)
                    .with_code(code);
                if let Some(max_age) = pending.max_age {
                    checks = checks.with_max_age(Duration::from_secs(max_age));
                }
                Some(
                    inner
                        .verifier
                        .verify_id_token_with(id_token, &checks)
                        .await?,
                )
            }
            None => None,
        };
        Ok(self.token_set(response, id_token_claims, None))
    }

    fn token_set(
        &self,
        response: response::TokenResponse,
        id_token_claims: Option<crate::Claims>,
        previous_refresh_token: Option<&str>,
    ) -> TokenSet {
        let now = self.inner.clock.now_secs();
        TokenSet {
            expires_at: response.expires_in.map(|s| now + s),
            refresh_token: response
                .refresh_token
                .or_else(|| previous_refresh_token.map(str::to_owned)),
            id_token: response.id_token,
            id_token_claims,
            scopes: response
                .scope
                .unwrap_or_else(|| self.inner.config.scopes().to_vec()),
            access_token: response.access_token,
        }
    }

    /// Exchanges a refresh token for new tokens (the provider rotates it: keep the returned
    /// one). An ID token in the answer is verified. On `invalid_grant`
    /// ([`OAuthError::is_invalid_grant`]) the refresh token is dead: drop it and sign in again.
    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenSet, Error> {
        let response = self
            .token_request(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
            ])
            .await?;
        let claims = match &response.id_token {
            Some(id_token) => Some(
                self.inner
                    .verifier
                    .verify_id_token_with(
                        id_token,
                        &IdTokenChecks::default().with_access_token(&response.access_token),
                    )
                    .await?,
            ),
            None => None,
        };
        Ok(self.token_set(response, claims, Some(refresh_token)))
    }

    /// Signs in with an email (or username) and password through the resource-owner password
    /// grant — only for providers that allow it for this application (GenAuth's
    /// `sign_in_by_email_password`; off by default on the Portcullis server). Prefer the
    /// browser flow: it supports every sign-in method and never shows the app the password.
    ///
    /// The configured audiences are sent as Kinde's `audience` and, those that are absolute URIs,
    /// as RFC 8707 `resource`s.
    pub async fn password_login(&self, username: &str, password: &str) -> Result<TokenSet, Error> {
        let scopes = self.inner.config.scopes().join(" ");
        let audiences = self.inner.config.audiences().join(" ");
        let mut form = vec![
            ("grant_type", "password"),
            ("username", username),
            ("password", password),
            ("scope", scopes.as_str()),
        ];
        if !audiences.is_empty() {
            form.push(("audience", audiences.as_str()));
        }
        for resource in resource_indicators(self.inner.config.audiences()) {
            form.push(("resource", resource));
        }
        let response = self.token_request(&form).await?;
        let claims = match &response.id_token {
            Some(id_token) => Some(
                self.inner
                    .verifier
                    .verify_id_token_with(
                        id_token,
                        &IdTokenChecks::default().with_access_token(&response.access_token),
                    )
                    .await?,
            ),
            None => None,
        };
        Ok(self.token_set(response, claims, None))
    }

    /// An access token of the application itself (client credentials grant) for `audience` with
    /// `scopes` (empty: what the application was granted). Cached per audience and scopes until
    /// shortly before it expires, shared by every clone of this client; concurrent callers wait
    /// for one request.
    ///
    /// The API is named as `audience` (Kinde, Auth0) and, when it is a URL, also as
    /// RFC 8707's `resource`, which standard providers (e.g. node's `oidc-provider`) read instead:
    /// without it they answer with a token that is not for the API at all.
    pub async fn client_credentials(
        &self,
        audience: &str,
        scopes: &[&str],
    ) -> Result<Arc<ClientToken>, Error> {
        let inner = &*self.inner;
        let slot = inner.machine_tokens.slot(audience, scopes);
        let mut guard = slot.lock().await;
        let now = inner.clock.now_secs();
        if let Some(token) = guard.as_ref()
            && token.is_fresh(now)
        {
            return Ok(token.clone());
        }
        let scope = scopes.join(" ");
        let mut form = vec![("grant_type", "client_credentials"), ("audience", audience)];
        if is_resource_indicator(audience) {
            form.push(("resource", audience));
        }
        if !scope.is_empty() {
            form.push(("scope", scope.as_str()));
        }
        let response = self.token_request(&form).await?;
        let token = Arc::new(ClientToken::new(response, now, scopes));
        *guard = Some(token.clone());
        Ok(token)
    }

    /// Drops the cached client-credentials token of (`audience`, `scopes`) if it is still
    /// `stale`, so the next [`AuthClient::client_credentials`] fetches a new one. A token another
    /// caller already replaced is left alone: one refusal renews the token once, not once per
    /// caller.
    pub(crate) async fn forget_client_credentials(
        &self,
        audience: &str,
        scopes: &[&str],
        stale: &Arc<ClientToken>,
    ) {
        let slot = self.inner.machine_tokens.slot(audience, scopes);
        let mut guard = slot.lock().await;
        if guard
            .as_ref()
            .is_some_and(|cached| Arc::ptr_eq(cached, stale))
        {
            *guard = None;
        }
    }

    /// Revokes a token (RFC 7009). Revoking a refresh token also ends its access tokens on
    /// providers that link them (Portcullis does).
    pub async fn revoke(&self, token: &str, hint: Option<TokenTypeHint>) -> Result<(), Error> {
        let endpoint = self
            .endpoint("revocation", |m| m.revocation_endpoint.as_ref())
            .await?;
        let mut form = vec![("token", token)];
        if let Some(hint) = hint {
            form.push(("token_type_hint", hint.as_str()));
        }
        let answer = self.post_authenticated(&endpoint, &mut form).await?;
        if (200..300).contains(&answer.status) {
            Ok(())
        } else {
            Err(response::json_object("revocation", &answer)
                .err()
                .unwrap_or(OAuthError::Provider {
                    endpoint: "revocation",
                    status: answer.status,
                    error: format!("http_{}", answer.status),
                    description: None,
                })
                .into())
        }
    }

    /// Asks the provider whether a token is active (RFC 7662).
    pub async fn introspect(
        &self,
        token: &str,
        hint: Option<TokenTypeHint>,
    ) -> Result<Introspection, Error> {
        let endpoint = self
            .endpoint("introspection", |m| m.introspection_endpoint.as_ref())
            .await?;
        let mut form = vec![("token", token)];
        if let Some(hint) = hint {
            form.push(("token_type_hint", hint.as_str()));
        }
        let answer = self.post_authenticated(&endpoint, &mut form).await?;
        let map = response::json_object("introspection", &answer)?;
        serde_json::from_value(Value::Object(map)).map_err(|e| {
            OAuthError::InvalidResponse {
                endpoint: "introspection",
                message: e.to_string(),
            }
            .into()
        })
    }

    /// The signed-in user's profile from the UserInfo endpoint.
    pub async fn userinfo(&self, access_token: &str) -> Result<UserInfo, Error> {
        let endpoint = self
            .endpoint("userinfo", |m| m.userinfo_endpoint.as_ref())
            .await?;
        let answer = self.inner.http.get_bearer(&endpoint, access_token).await?;
        if answer.status == 401 || answer.status == 403 {
            return Err(OAuthError::Provider {
                endpoint: "userinfo",
                status: answer.status,
                error: "invalid_token".to_owned(),
                description: None,
            }
            .into());
        }
        let map = response::json_object("userinfo", &answer)?;
        serde_json::from_value(Value::Object(map)).map_err(|e| {
            OAuthError::InvalidResponse {
                endpoint: "userinfo",
                message: e.to_string(),
            }
            .into()
        })
    }

    /// The provider's logout URL (RP-initiated logout): ends the provider's session, then sends
    /// the browser to `redirect` (a registered logout URL; default: the configured
    /// post-logout redirect URI). Carries Kinde's `redirect` and OIDC's
    /// `post_logout_redirect_uri` + `client_id`, and `id_token_hint` when given. For `state`,
    /// see [`AuthClient::logout_url_with`].
    ///
    /// End the app's own session first: it must end even when the provider is unreachable.
    pub async fn logout_url(
        &self,
        redirect: Option<&str>,
        id_token_hint: Option<&str>,
    ) -> Result<Url, Error> {
        let mut options = LogoutOptions::new();
        if let Some(redirect) = redirect {
            options = options.redirect(redirect);
        }
        if let Some(hint) = id_token_hint {
            options = options.id_token_hint(hint);
        }
        self.logout_url_with(&options).await
    }

    /// The provider's logout URL with [`LogoutOptions`]: as [`AuthClient::logout_url`], plus
    /// OIDC RP-Initiated Logout's `state`, which the provider appends to the post-logout
    /// redirect (an app that sends one should check it there, as it checks a sign-in's).
    ///
    /// ```no_run
    /// # async fn run(client: portcullis::oauth::AuthClient, id_token: &str) -> Result<(), portcullis::Error> {
    /// use portcullis::oauth::LogoutOptions;
    ///
    /// let url = client
    ///     .logout_url_with(&LogoutOptions::new().id_token_hint(id_token).state("st_123"))
    ///     .await?;
    /// // … redirect the browser to url; it comes back to the logout URL with ?state=st_123 …
    /// # let _ = url; Ok(()) }
    /// ```
    pub async fn logout_url_with(&self, options: &LogoutOptions) -> Result<Url, Error> {
        let endpoint = self
            .endpoint("end_session", |m| m.end_session_endpoint.as_ref())
            .await?;
        let mut url = Url::parse(&endpoint).map_err(|e| OAuthError::InvalidResponse {
            endpoint: "discovery",
            message: format!("end_session_endpoint is not a URL: {e}"),
        })?;
        let redirect = options
            .redirect
            .as_deref()
            .or(self.inner.config.post_logout_redirect_uri());
        {
            let mut q = url.query_pairs_mut();
            if let Some(redirect) = redirect {
                q.append_pair("redirect", redirect)
                    .append_pair("post_logout_redirect_uri", redirect);
            }
            q.append_pair("client_id", &self.inner.client_id);
            if let Some(hint) = &options.id_token_hint {
                q.append_pair("id_token_hint", hint);
            }
            if let Some(state) = &options.state {
                q.append_pair("state", state);
            }
        }
        Ok(url)
    }

    async fn token_request(&self, form: &[(&str, &str)]) -> Result<response::TokenResponse, Error> {
        let endpoint = self
            .endpoint("token", |m| m.token_endpoint.as_ref())
            .await?;
        let mut form = form.to_vec();
        let answer = self.post_authenticated(&endpoint, &mut form).await?;
        Ok(response::parse_token_response(&answer)?)
    }

    /// POSTs `form` to `url` with the client's authentication and the SDK header.
    async fn post_authenticated<'a>(
        &'a self,
        url: &str,
        form: &mut Vec<(&'a str, &'a str)>,
    ) -> Result<crate::http::Answer, Error> {
        let inner = &*self.inner;
        let secret = inner.config.client_secret().map(|s| s.expose());
        let basic;
        let mut authorization = None;
        match (inner.auth_method, secret) {
            (ClientAuthMethod::ClientSecretBasic, Some(secret)) => {
                basic = basic_credentials(&inner.client_id, secret);
                authorization = Some(basic.as_str());
            }
            (ClientAuthMethod::ClientSecretPost, Some(secret)) => {
                form.push(("client_id", &inner.client_id));
                form.push(("client_secret", secret));
            }
            _ => form.push(("client_id", &inner.client_id)),
        }
        Ok(inner
            .http
            .post_form(
                url,
                form,
                authorization,
                &[("kinde-sdk", inner.sdk_header.as_str())],
            )
            .await?)
    }
}

/// `Basic base64(urlencode(id) ":" urlencode(secret))` (RFC 6749 §2.3.1, Appendix B).
fn basic_credentials(id: &str, secret: &str) -> String {
    let encode = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let raw = format!("{}:{}", encode(id), encode(secret));
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

/// Whether `audience` may also be sent as an RFC 8707 `resource`: an absolute URI without a
/// fragment (§2), here one with a host (so `localhost:8080`, which parses as a scheme, is not).
/// A bare API name is not: a standard provider would refuse it as `invalid_target`.
fn is_resource_indicator(audience: &str) -> bool {
    Url::parse(audience).is_ok_and(|u| u.has_host() && u.fragment().is_none())
}

/// The audiences that are also sent as RFC 8707 `resource`s, in order.
fn resource_indicators(audiences: &[String]) -> impl Iterator<Item = &str> {
    audiences
        .iter()
        .map(String::as_str)
        .filter(|a| is_resource_indicator(a))
}

/// The query parameters of a callback URL (or of a bare query string).
fn callback_params(callback: &str) -> Result<Vec<(String, String)>, OAuthError> {
    let query = match Url::parse(callback) {
        Ok(url) => url.query().unwrap_or("").to_owned(),
        Err(_) => callback
            .split_once('?')
            .map_or(callback, |(_, q)| q)
            .split('#')
            .next()
            .unwrap_or("")
            .to_owned(),
    };
    if query.len() > 16 * 1024 {
        return Err(OAuthError::MalformedCallback("the callback is too long"));
    }
    let params: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    Ok(params)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_form_encoded_first() {
        // docs/security.md case 34 (RFC 6749 Appendix B)
        let header = basic_credentials("my:client", "s3cr%t +ü");
        let raw = base64::engine::general_purpose::STANDARD
            .decode(header.trim_start_matches("Basic "))
            .unwrap();
        assert_eq!(
            String::from_utf8(raw).unwrap(),
            "my%3Aclient:s3cr%25t+%2B%C3%BC"
        );
    }

    #[test]
    fn absolute_audiences_are_also_resource_indicators() {
        // RFC 8707 §2: an absolute URI without a fragment.
        for yes in [
            "https://api.example.com",
            "https://acme.kinde.com/api",
            "http://[::1]:8/",
        ] {
            assert!(is_resource_indicator(yes), "{yes}");
        }
        let no = [
            "my-api",
            "",
            "/api",
            "https://a.example/#x",
            "api.example.com",
            "localhost:8080",
        ];
        for no in no {
            assert!(!is_resource_indicator(no), "{no}");
        }
    }

    #[test]
    fn callback_params_from_url_or_query() {
        let p = callback_params("https://app.example/cb?code=abc&state=xyz#frag").unwrap();
        assert_eq!(
            p,
            [
                ("code".into(), "abc".into()),
                ("state".into(), "xyz".into())
            ]
        );
        let p = callback_params("?code=a%20b").unwrap();
        assert_eq!(p, [("code".into(), "a b".into())]);
        let p = callback_params("code=1").unwrap();
        assert_eq!(p, [("code".into(), "1".into())]);
    }
}
