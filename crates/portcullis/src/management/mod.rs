//! A typed client for the management API (`/api/v1`) of Portcullis and of Kinde: users,
//! organizations (with their users, roles, permissions and feature-flag overrides), roles,
//! permissions, feature flags, applications and APIs.
//!
//! The client authenticates as a machine-to-machine application: its token comes from
//! `client_credentials` with audience `{issuer}/api` through [`AuthClient`]'s token cache, so it
//! is fetched on first use, shared by every clone, and renewed shortly before it expires.
//!
//! ```no_run
//! use portcullis::Config;
//! use portcullis::management::ManagementClient;
//! use futures_util::TryStreamExt;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! // PORTCULLIS_ISSUER, PORTCULLIS_CLIENT_ID, PORTCULLIS_CLIENT_SECRET (or the KINDE_* names).
//! let client = ManagementClient::new(&Config::from_env()?)?;
//!
//! let created = client.create_user("Grace", "Hopper", "grace@example.com").await?;
//! let first_page = client.get_users(50).await?;
//! println!("{} users on the first page", first_page.items.len());
//!
//! // Every user, page after page.
//! let everyone: Vec<_> = client.users(Default::default()).try_collect().await?;
//! # let _ = everyone;
//! client.delete_user(&created.id).await?;
//! # Ok(()) }
//! ```
//!
//! **Naming.** Kinde's operation names (`get_users`, `create_role`, …) are the method names. A
//! list operation has a one-page form that takes a [`PageRequest`] (`page_size`, `next_token`)
//! and returns a [`Page`], and a `Stream` form (named for the items: [`ManagementClient::users`],
//! [`ManagementClient::organizations`], …) over every item of every page.
//!
//! # Retries
//! - **429 Too Many Requests** is retried for every method: the server refused the request
//!   before doing anything.
//! - **502, 503, 504** and timeouts are retried only for idempotent methods (`GET`, `PUT`,
//!   `DELETE`): the request may have been processed before the gateway gave up, and repeating a
//!   `POST` (create a user) or a `PATCH` (add users to an organization) could do it twice. A
//!   `DELETE` whose first try did go through answers 404 on the retry; the caller sees that.
//! - A connection that could not be opened is retried for every method (nothing was sent).
//! - The wait is the server's `RateLimit-Reset` (seconds) or `Retry-After` (seconds or an HTTP
//!   date) plus up to 10 % jitter; otherwise exponential backoff from 200 ms, doubling, at most
//!   5 s, half of it random. A server asking for more than
//!   [`max_retry_wait`](ManagementClientBuilder::max_retry_wait) (default 30 s) is not waited
//!   for: the error returns at once and [`ManagementError::retry_after`] says how long.
//!
//! # Errors
//! [`ManagementError`] carries the HTTP status, the API's `{code, message}` pairs (from either
//! `errors` shape or the `{code, message}` envelope) and the request id of the first of the
//! headers `x-request-id`, `kinde-request-id`, `request-id`. The access token never appears in an
//! error or a log line.

mod apis;
mod applications;
pub mod error;
mod feature_flags;
mod organizations;
mod pagination;
mod permissions;
mod retry;
mod roles;
mod users;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use reqwest::Method;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, WWW_AUTHENTICATE};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use url::Url;

pub use apis::{
    Api, ApiApplication, ApiScope, ApplicationOperation, NewApi, UpdatedApiApplications,
};
pub use applications::{
    Application, ApplicationType, CreatedApplication, NewApplication, UpdateApplication,
};
pub use error::{ApiError, ErrorDetail, ManagementError, REQUEST_ID_HEADERS};
pub use feature_flags::{
    FeatureFlag, FlagOverride, FlagType, NewFeatureFlag, OverrideLevel, UpdateFeatureFlag,
};
pub use organizations::{
    AddedOrganizationUsers, CreatedOrganization, NewOrganization, Organization, OrganizationUser,
    OrganizationUserChange, OrganizationUserPermission, OrganizationUsersQuery, UpdateOrganization,
    UpdatedOrganizationUsers,
};
pub use pagination::{MAX_PAGE_SIZE, Page, PageRequest};
pub use permissions::{NewPermission, Permission};
pub use roles::{NewRole, Role, RolePermissionChange, RolePermissionChanges, RoleUser, UpdateRole};
pub use users::{
    CreatedUser, NewIdentity, NewUser, NewUserProfile, SetPassword, UpdateUser, UpdatedUser, User,
    UserIdentity, UserSession, UsersQuery,
};

use crate::config::{Config, is_loopback};
use crate::error::ConfigError;
use crate::http::HttpOptions;
use crate::oauth::AuthClient;
use crate::tls::RootCertificates;
use retry::{Decision, Failure, RetryPolicy};

/// The largest number of items a bulk body (users added to an organization, permissions of a
/// role, …) may hold.
pub const MAX_BULK_ITEMS: usize = 100;

/// The plain success answer of an operation that returns nothing else:
/// `{"code": "OK", "message": "Success"}` (fields absent when the server sent an empty body).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[non_exhaustive]
pub struct Success {
    /// The result code, e.g. `OK`, `USER_DELETED`.
    #[serde(default)]
    pub code: Option<String>,
    /// The result message, e.g. `Success`.
    #[serde(default)]
    pub message: Option<String>,
}

/// Configures a [`ManagementClient`]; see [`ManagementClient::builder`].
#[derive(Debug)]
#[must_use]
pub struct ManagementClientBuilder {
    config: Config,
    auth: Option<AuthClient>,
    base_url: Option<String>,
    audience: Option<String>,
    scopes: Vec<String>,
    timeout: Duration,
    connect_timeout: Duration,
    max_body_bytes: usize,
    retry: RetryPolicy,
    root_certificates: RootCertificates,
}

impl ManagementClientBuilder {
    /// Trusts these certificate authorities for HTTPS to the issuer, besides the system's
    /// roots and the configuration's (`PORTCULLIS_CA_FILE`): for an issuer whose certificate
    /// comes from a private CA. Verification itself cannot be turned off.
    ///
    /// ```no_run
    /// use portcullis::{Config, management::ManagementClient, tls::RootCertificates};
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let config = Config::builder("https://id.internal.example")
    ///     .client_id("admin-scripts")
    ///     .client_secret("…")
    ///     .build()?;
    /// let client = ManagementClient::builder(config)
    ///     .root_certificates(RootCertificates::from_pem_file("/etc/ssl/private-ca.pem")?)
    ///     .build()?;
    /// # let _ = client; Ok(()) }
    /// ```
    pub fn root_certificates(mut self, roots: RootCertificates) -> Self {
        self.root_certificates = roots;
        self
    }

    /// Time allowed for one try of a request, body included. Default 30 s.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Time allowed to open a connection. Default 5 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How many times a failed request is tried again (see the [module docs](self#retries)).
    /// Default 3; 0 turns retries off.
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.retry.max_retries = retries;
        self
    }

    /// The longest wait a server's `RateLimit-Reset` / `Retry-After` may ask for; beyond it the
    /// error is returned at once. Default 30 s.
    pub fn max_retry_wait(mut self, wait: Duration) -> Self {
        self.retry.max_wait = wait;
        self
    }

    /// The first backoff delay and the largest one (before jitter), used when the server gives
    /// no wait. Default 200 ms and 5 s.
    pub fn backoff(mut self, first: Duration, max: Duration) -> Self {
        self.retry.base_delay = first;
        self.retry.max_backoff = max.max(first);
        self
    }

    /// The API's base URL, instead of `{issuer}/api/v1` (e.g. behind a proxy). The token's
    /// audience stays `{issuer}/api` unless [`ManagementClientBuilder::audience`] says otherwise.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }

    /// The audience of the management token, instead of `{issuer}/api`.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// Scopes to request for the management token (default none: all the application was
    /// granted for the management API).
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Uses this client's token cache (and its discovery metadata) instead of a new one: an app
    /// that already has an [`AuthClient`] for the same M2M application shares its tokens.
    pub fn auth_client(mut self, client: AuthClient) -> Self {
        self.auth = Some(client);
        self
    }

    /// The largest response body accepted. Default 8 MiB.
    pub fn max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body_bytes = bytes;
        self
    }

    /// Builds the client. Needs a client id and secret (of a machine-to-machine application
    /// granted the management API).
    pub fn build(self) -> Result<ManagementClient, ManagementError> {
        let issuer = self.config.issuer().trim_end_matches('/').to_owned();
        let auth = match self.auth {
            Some(auth) => auth,
            None => {
                let options = HttpOptions {
                    connect_timeout: self.connect_timeout,
                    request_timeout: self.timeout,
                    root_certificates: self.root_certificates.clone(),
                    ..HttpOptions::default()
                };
                AuthClient::builder(self.config.clone())
                    .http_options(options)
                    .build()
                    .map_err(|e| match e {
                        crate::Error::Config(c) => ManagementError::Config(c),
                        other => ManagementError::Token(other),
                    })?
            }
        };
        if auth.config().client_secret().is_none() {
            return Err(ConfigError::new(
                "client_secret",
                "the management API needs a machine-to-machine application's client secret (PORTCULLIS_CLIENT_SECRET)",
            )
            .into());
        }
        let base = self.base_url.unwrap_or_else(|| format!("{issuer}/api/v1"));
        let base = check_base_url(&base, self.config.allows_insecure_http())
            .map_err(|p| ConfigError::new("management base_url", p))?;
        let audience = self.audience.unwrap_or_else(|| format!("{issuer}/api"));
        if audience.trim().is_empty() {
            return Err(ConfigError::new("management audience", "must not be empty").into());
        }
        let roots = self
            .root_certificates
            .merged(self.config.root_certificates());
        let http = crate::http::client_builder(&roots)
            .map_err(|e| ManagementError::Transport {
                method: "-",
                path: base.path().to_owned(),
                message: e.to_string(),
                timed_out: false,
            })?
            .connect_timeout(self.connect_timeout)
            .timeout(self.timeout)
            // The bearer token must never be re-sent elsewhere, and a redirected POST or PATCH
            // would repeat its body: no redirects at all.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("portcullis/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ManagementError::Transport {
                method: "-",
                path: base.path().to_owned(),
                message: format!("could not build the HTTP client: {e}"),
                timed_out: false,
            })?;
        Ok(ManagementClient {
            inner: Arc::new(Inner {
                auth,
                audience,
                scopes: self.scopes,
                base,
                http,
                retry: self.retry,
                max_body_bytes: self.max_body_bytes,
            }),
        })
    }
}

fn check_base_url(base: &str, allow_insecure_http: bool) -> Result<Url, String> {
    let url = Url::parse(base).map_err(|e| format!("{base:?} is not a URL ({e})"))?;
    if url.cannot_be_a_base() || url.host().is_none() {
        return Err(format!("{base:?} is not an http(s) URL with a host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("{base:?} must not contain a query or fragment"));
    }
    match url.scheme() {
        "https" => Ok(url),
        "http" if is_loopback(&url) || allow_insecure_http => Ok(url),
        _ => Err(format!(
            "{base:?}: the management API is called over https (http only on loopback, or with allow_insecure_http)"
        )),
    }
}

/// The management API client. Cheap to clone (an `Arc` inside): clones share the HTTP
/// connection pool and the token. See the [module docs](self).
#[derive(Clone)]
pub struct ManagementClient {
    inner: Arc<Inner>,
}

struct Inner {
    auth: AuthClient,
    audience: String,
    scopes: Vec<String>,
    base: Url,
    http: reqwest::Client,
    retry: RetryPolicy,
    max_body_bytes: usize,
}

impl fmt::Debug for ManagementClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManagementClient")
            .field("base_url", &self.inner.base.as_str())
            .field("audience", &self.inner.audience)
            .field("max_retries", &self.inner.retry.max_retries)
            .finish_non_exhaustive()
    }
}

/// One request, ready to send (and to send again).
#[derive(Debug, Clone)]
pub(crate) struct Call {
    method: Method,
    url: Url,
    body: Option<Vec<u8>>,
}

impl Call {
    pub(crate) fn query(mut self, name: &str, value: impl fmt::Display) -> Self {
        self.url
            .query_pairs_mut()
            .append_pair(name, &value.to_string());
        self
    }

    pub(crate) fn query_opt(self, name: &str, value: Option<impl fmt::Display>) -> Self {
        match value {
            Some(v) => self.query(name, v),
            None => self,
        }
    }

    pub(crate) fn json(mut self, body: &impl Serialize) -> Result<Self, ManagementError> {
        let bytes = serde_json::to_vec(body)
            .map_err(|e| ManagementError::invalid_argument("body", e.to_string()))?;
        self.body = Some(bytes);
        Ok(self)
    }

    fn method_name(&self) -> &'static str {
        match self.method {
            Method::GET => "GET",
            Method::POST => "POST",
            Method::PUT => "PUT",
            Method::PATCH => "PATCH",
            Method::DELETE => "DELETE",
            _ => "OTHER",
        }
    }
}

/// A response read in full.
struct Answer {
    status: u16,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn request_id(&self) -> Option<String> {
        REQUEST_ID_HEADERS.iter().find_map(|name| {
            self.headers
                .get(*name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|v| !v.is_empty())
                // A header is not trusted to be short.
                .map(|v| v.chars().take(128).collect())
        })
    }
}

impl ManagementClient {
    /// A client for the machine-to-machine application of `config` (client id and secret),
    /// calling `{issuer}/api/v1` with a token for audience `{issuer}/api`.
    pub fn new(config: &Config) -> Result<ManagementClient, ManagementError> {
        Self::builder(config.clone()).build()
    }

    /// Starts configuring a client.
    pub fn builder(config: Config) -> ManagementClientBuilder {
        let defaults = RetryPolicy::default();
        ManagementClientBuilder {
            config,
            auth: None,
            base_url: None,
            audience: None,
            scopes: Vec::new(),
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
            max_body_bytes: 8 * 1024 * 1024,
            retry: defaults,
            root_certificates: RootCertificates::default(),
        }
    }

    /// The API's base URL (`{issuer}/api/v1` unless overridden).
    pub fn base_url(&self) -> &str {
        self.inner.base.as_str()
    }

    /// The audience of the management token (`{issuer}/api` unless overridden).
    pub fn audience(&self) -> &str {
        &self.inner.audience
    }

    /// The [`AuthClient`] whose token cache this client uses.
    pub fn auth_client(&self) -> &AuthClient {
        &self.inner.auth
    }

    /// A request to `{base}/{segments…}`. Each segment is percent-encoded (an id with `/` stays
    /// one segment); empty segments, `.` and `..` are refused, so an id can never move the
    /// request to another path.
    pub(crate) fn call(&self, method: Method, segments: &[&str]) -> Result<Call, ManagementError> {
        for segment in segments {
            if segment.is_empty() || *segment == "." || *segment == ".." {
                return Err(ManagementError::invalid_argument(
                    "id",
                    format!("{segment:?} cannot be used as an id"),
                ));
            }
        }
        let mut url = self.inner.base.clone();
        {
            let mut path = url
                .path_segments_mut()
                .map_err(|()| ManagementError::invalid_argument("base_url", "cannot be a base"))?;
            path.pop_if_empty();
            path.extend(segments);
        }
        Ok(Call {
            method,
            url,
            body: None,
        })
    }

    /// Sends a request (with retries) and reads the JSON answer as `T`. An empty body reads as
    /// `{}`.
    pub(crate) async fn send<T: DeserializeOwned>(&self, call: Call) -> Result<T, ManagementError> {
        let method = call.method_name();
        let path = call.url.path().to_owned();
        let answer = self.execute(&call).await?;
        parse_json(&answer.body).map_err(|message| ManagementError::InvalidResponse {
            method,
            path,
            status: answer.status,
            message,
            request_id: answer.request_id(),
        })
    }

    /// Sends a request and reads the member `key` of the answer as `T`.
    pub(crate) async fn send_member<T: DeserializeOwned>(
        &self,
        call: Call,
        key: &'static str,
    ) -> Result<T, ManagementError> {
        let method = call.method_name();
        let path = call.url.path().to_owned();
        let answer = self.execute(&call).await?;
        let invalid = |message: String| ManagementError::InvalidResponse {
            method,
            path: path.clone(),
            status: answer.status,
            message,
            request_id: answer.request_id(),
        };
        let mut body: Map<String, Value> = parse_json(&answer.body).map_err(invalid)?;
        let value = body
            .remove(key)
            .ok_or_else(|| invalid(format!("no {key:?} member")))?;
        serde_json::from_value(value).map_err(|e| invalid(format!("{key}: {e}")))
    }

    /// Sends a request and reads the member `key` of the answer as `T`; `None` when it is
    /// absent or `null`.
    pub(crate) async fn send_member_opt<T: DeserializeOwned>(
        &self,
        call: Call,
        key: &'static str,
    ) -> Result<Option<T>, ManagementError> {
        let method = call.method_name();
        let path = call.url.path().to_owned();
        let answer = self.execute(&call).await?;
        let invalid = |message: String| ManagementError::InvalidResponse {
            method,
            path: path.clone(),
            status: answer.status,
            message,
            request_id: answer.request_id(),
        };
        let mut body: Map<String, Value> = parse_json(&answer.body).map_err(invalid)?;
        match body.remove(key) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => serde_json::from_value(value)
                .map(Some)
                .map_err(|e| invalid(format!("{key}: {e}"))),
        }
    }

    /// Sends a list request and reads the page under `key`.
    pub(crate) async fn page<T: DeserializeOwned>(
        &self,
        call: Call,
        key: &'static str,
    ) -> Result<Page<T>, ManagementError> {
        self.page_with_path(call, key)
            .await
            .map(|(page, _, _)| page)
    }

    pub(crate) async fn page_with_path<T: DeserializeOwned>(
        &self,
        call: Call,
        key: &'static str,
    ) -> Result<(Page<T>, String, u16), ManagementError> {
        let method = call.method_name();
        let path = call.url.path().to_owned();
        let answer = self.execute(&call).await?;
        let invalid = |message: String| ManagementError::InvalidResponse {
            method,
            path: path.clone(),
            status: answer.status,
            message,
            request_id: answer.request_id(),
        };
        let body: Map<String, Value> = parse_json(&answer.body).map_err(invalid)?;
        let page = pagination::parse_page(body, key).map_err(invalid)?;
        Ok((page, path, answer.status))
    }

    /// Sends `call`, retrying as the [module docs](self#retries) say; a success status returns
    /// the answer, any other an [`ManagementError::Api`].
    async fn execute(&self, call: &Call) -> Result<Answer, ManagementError> {
        let inner = &*self.inner;
        let method = call.method_name();
        let path = call.url.path();
        let idempotent = retry::is_idempotent(&call.method);
        let scopes: Vec<&str> = inner.scopes.iter().map(String::as_str).collect();
        let mut attempt = 0u32;
        let mut renewed_token = false;
        loop {
            let token = inner
                .auth
                .client_credentials(&inner.audience, &scopes)
                .await
                .map_err(ManagementError::Token)?;
            let mut request = inner
                .http
                .request(call.method.clone(), call.url.clone())
                .bearer_auth(token.access_token())
                .header(ACCEPT, "application/json");
            if let Some(body) = &call.body {
                request = request
                    .header(CONTENT_TYPE, "application/json")
                    .body(body.clone());
            }
            let (failure, hint, error) = match self.try_once(request, method, path).await {
                Ok(answer) if (200..300).contains(&answer.status) => return Ok(answer),
                // The cached token was refused (revoked, or its application changed): drop it
                // and send once more with a new one. The server refused before doing anything,
                // so even a POST is safe to repeat; this does not count as a retry.
                Ok(answer) if !renewed_token && refuses_token(&answer) => {
                    renewed_token = true;
                    tracing::debug!(
                        method,
                        path,
                        status = answer.status,
                        "the management API refused the cached token; retrying with a new one"
                    );
                    inner
                        .auth
                        .forget_client_credentials(&inner.audience, &scopes, &token)
                        .await;
                    continue;
                }
                Ok(answer) => {
                    let hint = retry::server_wait(&answer.headers, SystemTime::now());
                    let failure = Failure::from_status(answer.status);
                    (failure, hint, api_error(method, path, &answer, hint))
                }
                Err((failure, error)) => (failure, None, error),
            };
            let Some(failure) = failure else {
                return Err(error);
            };
            match inner
                .retry
                .decide(attempt, failure, idempotent, hint, retry::jitter())
            {
                Decision::GiveUp => return Err(error),
                Decision::RetryAfter(wait) => {
                    tracing::debug!(
                        method,
                        path,
                        attempt,
                        wait_ms = wait.as_millis() as u64,
                        error = %error,
                        "retrying a management API request"
                    );
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
            }
        }
    }

    /// One try: the answer, or the transport failure (with what kind of failure it is, `None`
    /// when no retry could help).
    async fn try_once(
        &self,
        request: reqwest::RequestBuilder,
        method: &'static str,
        path: &str,
    ) -> Result<Answer, (Option<Failure>, ManagementError)> {
        let failed = |message: String, timed_out: bool| ManagementError::Transport {
            method,
            path: path.to_owned(),
            message,
            timed_out,
        };
        let transport = |e: &reqwest::Error, read: bool| {
            let failure = if e.is_connect() && !read {
                Failure::NotConnected
            } else {
                Failure::Interrupted
            };
            (Some(failure), failed(describe(e), e.is_timeout()))
        };
        let mut response = request.send().await.map_err(|e| transport(&e, false))?;
        let status = response.status().as_u16();
        let headers = std::mem::take(response.headers_mut());
        let limit = self.inner.max_body_bytes;
        // Reading it again would not make it smaller: not retried.
        let too_large = || {
            (
                None,
                failed(format!("the response is larger than {limit} bytes"), false),
            )
        };
        if response.content_length().is_some_and(|l| l > limit as u64) {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| transport(&e, true))? {
            if body.len() + chunk.len() > limit {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Answer {
            status,
            headers,
            body,
        })
    }
}

/// Whether an answer refuses the bearer token itself (RFC 6750 `invalid_token`): a 401, or a
/// 403 whose `WWW-Authenticate` challenge says `invalid_token` (the management API answers 403
/// for every refused token, and names the reason in the challenge). A 403 for a missing scope
/// (`insufficient_scope`) or without a challenge is not: a new token would not change it.
fn refuses_token(answer: &Answer) -> bool {
    let challenges: Vec<&str> = answer
        .headers
        .get_all(WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    let names = |error: &str| {
        challenges
            .iter()
            .any(|c| challenge_error(c).is_some_and(|e| e.eq_ignore_ascii_case(error)))
    };
    match answer.status {
        401 => !names("insufficient_scope"),
        403 => names("invalid_token"),
        _ => false,
    }
}

/// The `error` parameter of a `Bearer` challenge (`Bearer realm="x", error="invalid_token"`).
fn challenge_error(challenge: &str) -> Option<&str> {
    let (scheme, params) = challenge.trim().split_once(char::is_whitespace)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    params.split(',').find_map(|param| {
        let (name, value) = param.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("error")
            .then(|| value.trim().trim_matches('"'))
    })
}

/// Reads a JSON body; an empty one as `{}`.
fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        body
    };
    serde_json::from_slice(body).map_err(|e| e.to_string())
}

fn api_error(
    method: &'static str,
    path: &str,
    answer: &Answer,
    retry_after: Option<Duration>,
) -> ManagementError {
    let errors = error::parse_error_body(&answer.body);
    let body_snippet = match errors {
        Some(_) => None,
        None => error::snippet(&answer.body),
    };
    ManagementError::Api(Box::new(ApiError {
        method,
        path: path.to_owned(),
        status: answer.status,
        errors: errors.unwrap_or_default(),
        request_id: answer.request_id(),
        retry_after,
        body_snippet,
    }))
}

/// A reqwest error with its causes (reqwest never puts headers, so never the token, in them).
fn describe(e: &reqwest::Error) -> String {
    use std::error::Error as _;
    let mut out = if e.is_timeout() {
        "timed out".to_owned()
    } else if e.is_connect() {
        "could not connect".to_owned()
    } else {
        "transport error".to_owned()
    };
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// Checks a bulk body's size.
pub(crate) fn check_bulk(name: &'static str, len: usize) -> Result<(), ManagementError> {
    if len > MAX_BULK_ITEMS {
        return Err(ManagementError::invalid_argument(
            name,
            format!("at most {MAX_BULK_ITEMS} items per request, not {len}"),
        ));
    }
    Ok(())
}

/// What a create operation returns when it returns only the new thing's id (roles, APIs, API
/// scopes: `{"role": {"id": "…"}}`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct Created {
    /// The new id.
    pub id: String,
}

/// `null` (or an absent member, with `#[serde(default)]`) as the type's default: lists and maps
/// the server may send as `null`.
pub(crate) fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// Strings, numbers and booleans as a string (flag values are strings on the wire, but a
/// server may send the JSON type); anything else as absent.
pub(crate) fn lenient_string<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<String>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => Some(s),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    })
}

/// Defines chainable setters for `Option` fields of a request struct.
macro_rules! setters {
    ($ty:ty { $($(#[$doc:meta])* $field:ident: $val:ty),* $(,)? }) => {
        impl $ty {
            $(
                $(#[$doc])*
                #[must_use]
                pub fn $field(mut self, value: impl Into<$val>) -> Self {
                    self.$field = Some(value.into());
                    self
                }
            )*
        }
    };
}
pub(crate) use setters;

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> ManagementClient {
        let config = Config::builder("https://acme.example.com/")
            .client_id("m2m")
            .client_secret("secret")
            .build()
            .unwrap();
        ManagementClient::new(&config).unwrap()
    }

    #[test]
    fn defaults_derive_from_the_issuer() {
        let c = client();
        assert_eq!(c.base_url(), "https://acme.example.com/api/v1");
        assert_eq!(c.audience(), "https://acme.example.com/api");
        assert!(!format!("{c:?}").contains("secret"));
    }

    #[test]
    fn needs_a_client_secret() {
        let config = Config::builder("https://acme.example.com")
            .client_id("m2m")
            .build()
            .unwrap();
        let e = ManagementClient::new(&config).unwrap_err();
        assert!(matches!(e, ManagementError::Config(ref c) if c.setting() == "client_secret"));
    }

    #[test]
    fn base_url_must_be_https_or_loopback() {
        let config = Config::builder("https://acme.example.com")
            .client_id("m2m")
            .client_secret("s")
            .build()
            .unwrap();
        for bad in [
            "http://proxy.example/api/v1",
            "ftp://x/",
            "/api/v1",
            "https://x/?q=1",
        ] {
            assert!(
                ManagementClient::builder(config.clone())
                    .base_url(bad)
                    .build()
                    .is_err(),
                "{bad}"
            );
        }
        let c = ManagementClient::builder(config)
            .base_url("http://127.0.0.1:9000/api/v1/")
            .build()
            .unwrap();
        assert_eq!(c.base_url(), "http://127.0.0.1:9000/api/v1/");
    }

    #[test]
    fn ids_are_one_encoded_segment() {
        let c = client();
        let call = c
            .call(Method::GET, &["organizations", "org/../x?y#z", "users"])
            .unwrap();
        assert_eq!(
            call.url.as_str(),
            "https://acme.example.com/api/v1/organizations/org%2F..%2Fx%3Fy%23z/users"
        );
        let call = c.call(Method::GET, &["roles", "100%"]).unwrap();
        assert_eq!(call.url.path(), "/api/v1/roles/100%25");
        for bad in ["", ".", ".."] {
            let e = c.call(Method::DELETE, &["roles", bad]).unwrap_err();
            assert!(matches!(
                e,
                ManagementError::InvalidArgument { name: "id", .. }
            ));
        }
        let call = c
            .call(Method::GET, &["user"])
            .unwrap()
            .query("id", "a&b=c")
            .query_opt("expand", None::<&str>);
        assert_eq!(call.url.query(), Some("id=a%26b%3Dc"));
    }

    #[test]
    fn empty_bodies_read_as_empty_objects() {
        let s: Success = parse_json(b"").unwrap();
        assert_eq!(s, Success::default());
        let s: Success = parse_json(br#"{"code":"OK","message":"Success","x":1}"#).unwrap();
        assert_eq!(s.code.as_deref(), Some("OK"));
        assert!(parse_json::<Success>(b"<html>").is_err());
    }

    fn answer(status: u16, challenges: &[&str]) -> Answer {
        let mut headers = HeaderMap::new();
        for c in challenges {
            headers.append(WWW_AUTHENTICATE, c.parse().unwrap());
        }
        Answer {
            status,
            headers,
            body: Vec::new(),
        }
    }

    #[test]
    fn only_a_refused_token_is_renewed() {
        let invalid = r#"Bearer realm="portcullis", error="invalid_token", error_description="the access token is invalid, expired or revoked""#;
        let scope =
            r#"Bearer realm="portcullis", error="insufficient_scope", scope="create:users""#;
        assert!(refuses_token(&answer(403, &[invalid])));
        assert!(refuses_token(&answer(
            403,
            &["Basic realm=x", "bearer error=INVALID_TOKEN"]
        )));
        assert!(refuses_token(&answer(401, &[])));
        assert!(refuses_token(&answer(401, &[invalid])));
        assert!(!refuses_token(&answer(401, &[scope])));
        assert!(!refuses_token(&answer(403, &[scope])));
        assert!(!refuses_token(&answer(403, &[])));
        assert!(!refuses_token(&answer(
            403,
            &["Basic error=\"invalid_token\""]
        )));
        assert!(!refuses_token(&answer(400, &[invalid])));
        assert!(!refuses_token(&answer(404, &[invalid])));
        assert_eq!(challenge_error("Bearer"), None);
        assert_eq!(challenge_error("Bearer realm=\"a,b\""), None);
    }

    #[test]
    fn bulk_bodies_are_capped() {
        assert!(check_bulk("users", 100).is_ok());
        assert!(check_bulk("users", 101).is_err());
    }
}
