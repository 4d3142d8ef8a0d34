//! Errors: one [`Error`] type for the crate, with a [`Reason`] a program can match on when a
//! token is rejected.
//!
//! Policy (after crates.io's): messages say what failed and what to do about it, and never echo a
//! token, a secret or a password. A rejected token is described by *which check failed*, never by
//! its contents.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

/// The one error type of the `portcullis` crate.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A token was rejected by the verifier. [`TokenError::reason`] says which check failed.
    #[error(transparent)]
    Token(#[from] TokenError),

    /// Configuration is missing or invalid. The message names the setting (or environment
    /// variable) to fix.
    #[error(transparent)]
    Config(#[from] ConfigError),

    /// Fetching provider metadata or keys from the issuer failed.
    #[error(transparent)]
    Fetch(#[from] FetchError),

    /// A claim helper could not answer (e.g. a feature flag is missing and no default was given,
    /// or it has another type than asked for).
    #[error(transparent)]
    Claim(#[from] ClaimError),

    /// A client flow failed: the provider refused a request (RFC 6749 error), the sign-in
    /// callback was refused (`state`, `error=`), or the provider answered something invalid.
    #[error(transparent)]
    OAuth(#[from] OAuthError),

    /// Extra root certificates (a private CA) could not be read or used.
    #[error(transparent)]
    Certificate(#[from] crate::tls::CertificateError),
}

impl Error {
    /// The verification failure reason, when this error is a rejected token.
    pub fn reason(&self) -> Option<Reason> {
        match self {
            Error::Token(t) => Some(t.reason()),
            _ => None,
        }
    }

    /// The HTTP status a resource server should answer with for this error:
    /// 401 for a rejected token (RFC 6750 §3.1 `invalid_token`), 503 when the issuer's keys could
    /// not be obtained (the token may be fine: the client should retry), 500 otherwise.
    pub fn http_status(&self) -> u16 {
        match self {
            Error::Token(t) => t.http_status(),
            Error::Fetch(_) => 503,
            Error::OAuth(o) => o.http_status(),
            _ => 500,
        }
    }

    /// The OAuth error code (RFC 6749 §5.2, e.g. `invalid_grant`), when the provider or the
    /// sign-in callback returned one.
    pub fn oauth_error_code(&self) -> Option<&str> {
        match self {
            Error::OAuth(o) => o.error_code(),
            _ => None,
        }
    }
}

/// Why a client flow failed. Messages never contain a token, a code, a secret or a verifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OAuthError {
    /// The provider refused a request with an RFC 6749 §5.2 error response (or an error status
    /// without one, `error` then being `http_<status>`).
    #[error(
        "the {endpoint} endpoint answered HTTP {status} {error}{}",
        describe(description)
    )]
    Provider {
        /// Which endpoint: `token`, `revocation`, `introspection`, `userinfo`.
        endpoint: &'static str,
        /// The HTTP status.
        status: u16,
        /// The error code, e.g. `invalid_grant`, `invalid_client`, `invalid_scope`.
        error: String,
        /// The provider's `error_description`, if any.
        description: Option<String>,
    },
    /// The sign-in callback carried an error (`error=access_denied`, `login_required`, …) instead
    /// of a code.
    #[error("sign-in failed: {error}{}", describe(description))]
    Callback {
        /// The error code from the callback.
        error: String,
        /// The provider's `error_description`, if any.
        description: Option<String>,
    },
    /// The callback's `state` is missing or is not the one of this pending login: a forged or
    /// replayed callback, or one meant for another browser. No token request was sent.
    #[error("the sign-in callback's state does not match this sign-in ({0})")]
    StateMismatch(&'static str),
    /// The callback's `iss` (RFC 9207) names another issuer: a mix-up attack. No token request
    /// was sent.
    #[error("the sign-in callback comes from another issuer")]
    IssuerMismatch,
    /// The callback has no `iss` although the provider's metadata says every authorization
    /// response carries it (`authorization_response_iss_parameter_supported`, RFC 9207 §2.4):
    /// it may come from another provider (a mix-up attack). No token request was sent.
    #[error("the sign-in callback has no iss, which this provider always sends")]
    MissingIssuer,
    /// The callback carried neither `code` nor `error`, or a parameter twice.
    #[error("the sign-in callback is malformed: {0}")]
    MalformedCallback(&'static str),
    /// The pending login is older than allowed: the user took too long, or it was replayed.
    #[error("the sign-in took too long; start again")]
    LoginExpired,
    /// The provider answered with something that is not a valid response (not JSON, no
    /// `access_token`, an unknown `token_type`, a negative `expires_in`, …).
    #[error("the {endpoint} endpoint answered an invalid response: {message}")]
    InvalidResponse {
        /// Which endpoint.
        endpoint: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// The provider's metadata names no endpoint for this operation.
    #[error("the provider publishes no {0} endpoint")]
    MissingEndpoint(&'static str),
    /// An authorization-request parameter would override one the SDK sets itself.
    #[error("the parameter {0:?} is set by the SDK and cannot be passed as an extra parameter")]
    ReservedParameter(String),
}

fn describe(description: &Option<String>) -> String {
    match description {
        Some(d) => format!(": {d}"),
        None => String::new(),
    }
}

impl OAuthError {
    /// The RFC 6749 error code, when there is one.
    pub fn error_code(&self) -> Option<&str> {
        match self {
            OAuthError::Provider { error, .. } | OAuthError::Callback { error, .. } => Some(error),
            _ => None,
        }
    }

    /// Whether the provider refused a grant (`invalid_grant`): the code or refresh token is no
    /// longer valid and the user must sign in again. Never retry such a request.
    pub fn is_invalid_grant(&self) -> bool {
        self.error_code() == Some("invalid_grant")
    }

    /// The status an app should answer its caller with: 400 for a refused or malformed callback,
    /// 401 for a refused grant (sign in again), 502 when the provider misbehaved or refused the
    /// app itself.
    pub fn http_status(&self) -> u16 {
        match self {
            OAuthError::Callback { .. }
            | OAuthError::StateMismatch(_)
            | OAuthError::IssuerMismatch
            | OAuthError::MissingIssuer
            | OAuthError::MalformedCallback(_)
            | OAuthError::LoginExpired => 400,
            OAuthError::Provider { error, .. } if error == "invalid_grant" => 401,
            OAuthError::ReservedParameter(_) => 500,
            _ => 502,
        }
    }
}

/// Why a token was rejected. Stable and matchable: use it to decide what to answer or log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Reason {
    /// Not a well-formed compact JWS: wrong number of segments, bad base64url, invalid JSON,
    /// a JWE or a nested JWT. (A known claim of the wrong JSON type is
    /// [`Reason::InvalidClaim`].)
    Malformed,
    /// Longer than the configured maximum token size; rejected before any decoding.
    TooLarge,
    /// The `alg` header is `none`, not on the allow-list, or does not fit the key
    /// (RFC 8725 §3.1: one key, one algorithm family).
    AlgorithmNotAllowed,
    /// No key in the issuer's key set matches the token's `kid` (after at most one rate-limited
    /// refresh), or the token has no `kid` and several keys could apply.
    UnknownKey,
    /// The signature does not verify.
    BadSignature,
    /// The header carries a `crit` parameter (RFC 7515 §4.1.11): no extension is understood.
    UnsupportedCriticalHeader,
    /// The token's `typ` says it is another kind of token (e.g. an ID token presented as an access
    /// token, RFC 8725 §3.11).
    WrongTokenType,
    /// `exp` is in the past (beyond the leeway).
    Expired,
    /// `nbf` is in the future (beyond the leeway).
    NotYetValid,
    /// `iat` is in the future (beyond the leeway).
    IssuedInFuture,
    /// `iat` is older than the configured maximum token age.
    TooOld,
    /// `iss` is not exactly the configured issuer.
    WrongIssuer,
    /// `aud` does not contain the configured audience (or, for ID tokens, contains an untrusted
    /// one).
    WrongAudience,
    /// `azp` is present and is not this client, or is missing when there are several audiences.
    WrongAuthorizedParty,
    /// A required claim is absent. [`TokenError::claim_name`] names it.
    MissingClaim,
    /// A claim has an invalid value (e.g. an empty `sub`). [`TokenError::claim_name`] names it.
    InvalidClaim,
    /// The ID token's `nonce` is not the one sent in the authorization request.
    NonceMismatch,
    /// The ID token's `at_hash` does not match the access token it came with.
    AccessTokenHashMismatch,
    /// The ID token's `c_hash` does not match the authorization code it came with.
    CodeHashMismatch,
    /// `auth_time` is missing or older than the requested `max_age`.
    AuthenticationTooOld,
    /// The issuer's keys could not be fetched and no usable cached copy exists (or the cached copy
    /// is older than the configured maximum staleness).
    KeysUnavailable,
}

impl Reason {
    /// A short, stable, lower-case code for logs and metrics (e.g. `"expired"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Malformed => "malformed",
            Reason::TooLarge => "too_large",
            Reason::AlgorithmNotAllowed => "algorithm_not_allowed",
            Reason::UnknownKey => "unknown_key",
            Reason::BadSignature => "bad_signature",
            Reason::UnsupportedCriticalHeader => "unsupported_critical_header",
            Reason::WrongTokenType => "wrong_token_type",
            Reason::Expired => "expired",
            Reason::NotYetValid => "not_yet_valid",
            Reason::IssuedInFuture => "issued_in_future",
            Reason::TooOld => "too_old",
            Reason::WrongIssuer => "wrong_issuer",
            Reason::WrongAudience => "wrong_audience",
            Reason::WrongAuthorizedParty => "wrong_authorized_party",
            Reason::MissingClaim => "missing_claim",
            Reason::InvalidClaim => "invalid_claim",
            Reason::NonceMismatch => "nonce_mismatch",
            Reason::AccessTokenHashMismatch => "at_hash_mismatch",
            Reason::CodeHashMismatch => "c_hash_mismatch",
            Reason::AuthenticationTooOld => "authentication_too_old",
            Reason::KeysUnavailable => "keys_unavailable",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A rejected token: the [`Reason`], the claim concerned (if any) and a short detail.
///
/// The message never contains the token or any of its claim values.
#[derive(Debug, Clone)]
pub struct TokenError {
    reason: Reason,
    claim: Option<&'static str>,
    detail: Cow<'static, str>,
    source: Option<Arc<FetchError>>,
}

impl TokenError {
    pub(crate) fn new(reason: Reason, detail: impl Into<Cow<'static, str>>) -> Self {
        TokenError {
            reason,
            claim: None,
            detail: detail.into(),
            source: None,
        }
    }

    pub(crate) fn claim(reason: Reason, claim: &'static str, detail: &'static str) -> Self {
        TokenError {
            reason,
            claim: Some(claim),
            detail: Cow::Borrowed(detail),
            source: None,
        }
    }

    pub(crate) fn missing(claim: &'static str) -> Self {
        Self::claim(Reason::MissingClaim, claim, "required claim is missing")
    }

    pub(crate) fn keys_unavailable(source: Arc<FetchError>) -> Self {
        TokenError {
            reason: Reason::KeysUnavailable,
            claim: None,
            detail: Cow::Borrowed("the issuer's signing keys could not be obtained"),
            source: Some(source),
        }
    }

    /// Which check failed.
    pub fn reason(&self) -> Reason {
        self.reason
    }

    /// The claim the failure concerns (`"exp"`, `"aud"`, …), when there is one.
    pub fn claim_name(&self) -> Option<&'static str> {
        self.claim
    }

    /// A short human-readable detail (never contains token contents).
    pub fn detail(&self) -> &str {
        &self.detail
    }

    /// 401 for every rejection, except 503 when the keys were unavailable (a server-side
    /// problem: the token itself may be valid).
    pub fn http_status(&self) -> u16 {
        match self.reason {
            Reason::KeysUnavailable => 503,
            _ => 401,
        }
    }

    /// The value of an RFC 6750 §3 `WWW-Authenticate` header for this rejection, e.g.
    /// `Bearer realm="api", error="invalid_token", error_description="expired"`.
    ///
    /// The description is the stable reason code, so it leaks nothing about the token.
    pub fn www_authenticate(&self, realm: &str) -> String {
        let realm: String = realm
            .chars()
            .filter(|c| *c != '"' && *c != '\\' && !c.is_control())
            .collect();
        format!(
            "Bearer realm=\"{realm}\", error=\"invalid_token\", error_description=\"{}\"",
            self.reason.as_str()
        )
    }
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "token rejected ({})", self.reason)?;
        if let Some(claim) = self.claim {
            write!(f, " [{claim}]")?;
        }
        if !self.detail.is_empty() {
            write!(f, ": {}", self.detail)?;
        }
        // The cause (for KeysUnavailable) is reported through `source()`, not repeated here.
        Ok(())
    }
}

impl std::error::Error for TokenError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// Missing or invalid configuration. The message names the variable or setting to fix.
#[derive(Debug, Clone, thiserror::Error)]
#[error("invalid configuration: {setting}: {problem}")]
pub struct ConfigError {
    setting: Cow<'static, str>,
    problem: Cow<'static, str>,
}

impl ConfigError {
    /// A configuration error for `setting` (a setting or environment variable name) saying
    /// what is wrong with it — for integrations that add settings of their own.
    ///
    /// ```
    /// let e = portcullis::error::ConfigError::new("login_path", "must start with /");
    /// assert_eq!(e.setting(), "login_path");
    /// ```
    pub fn new(
        setting: impl Into<Cow<'static, str>>,
        problem: impl Into<Cow<'static, str>>,
    ) -> Self {
        ConfigError {
            setting: setting.into(),
            problem: problem.into(),
        }
    }

    /// The setting or environment variable at fault (e.g. `PORTCULLIS_ISSUER`).
    pub fn setting(&self) -> &str {
        &self.setting
    }

    /// What is wrong with it.
    pub fn problem(&self) -> &str {
        &self.problem
    }
}

/// Fetching a document (discovery metadata, a key set) from the issuer failed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The request could not be sent or the response not read (connection refused, DNS, TLS,
    /// timeout).
    #[error("request to {url} failed: {message}")]
    Transport {
        /// The URL requested.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// The server answered with a non-success status.
    #[error("{url} answered HTTP {status}")]
    Status {
        /// The URL requested.
        url: String,
        /// The HTTP status code.
        status: u16,
    },
    /// The response body was larger than the configured limit.
    #[error("{url} returned more than {limit} bytes")]
    TooLarge {
        /// The URL requested.
        url: String,
        /// The limit in bytes.
        limit: usize,
    },
    /// The response was not the JSON document expected.
    #[error("{url} returned an invalid document: {message}")]
    InvalidDocument {
        /// The URL requested.
        url: String,
        /// What is wrong with it.
        message: String,
    },
    /// The discovery document names another issuer than the configured one (OIDC Discovery
    /// §4.3: they must be identical).
    #[error("discovery document names issuer {found:?}, but the configured issuer is {expected:?}")]
    IssuerMismatch {
        /// The configured issuer.
        expected: String,
        /// The issuer in the document.
        found: String,
    },
    /// A URL is not allowed (plain `http` to a non-loopback host, or not a URL at all).
    #[error("refusing to fetch {url}: {message}")]
    InsecureUrl {
        /// The URL refused.
        url: String,
        /// Why.
        message: String,
    },
    /// The cached key set expired longer ago than the allowed staleness and could not be
    /// refreshed.
    #[error("the cached key set expired {expired_secs_ago} s ago and could not be refreshed")]
    Stale {
        /// How long ago the key set expired, in seconds.
        expired_secs_ago: i64,
    },
    /// The key set has not been fetched yet (a first attempt is under way or was abandoned).
    #[error("the issuer's key set has not been fetched yet")]
    NotLoaded,
    /// The key set contains no key this verifier can use.
    #[error("{url} contains no usable signing key")]
    NoUsableKeys {
        /// The URL of the key set.
        url: String,
    },
}

/// A claim helper could not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClaimError {
    /// The feature flag is not in the token and no default was given.
    #[error("feature flag {code:?} is not in the token and no default value was given")]
    FlagNotFound {
        /// The flag's key.
        code: String,
    },
    /// The feature flag has another type than the one asked for.
    #[error("feature flag {code:?} is a {actual}, not a {requested}")]
    FlagTypeMismatch {
        /// The flag's key.
        code: String,
        /// The type asked for (`boolean`, `string`, `integer`).
        requested: &'static str,
        /// The flag's type in the token.
        actual: &'static str,
    },
    /// A claim could not be converted into the requested type.
    #[error("claim {name:?} could not be read: {message}")]
    Invalid {
        /// The claim's name.
        name: String,
        /// What went wrong.
        message: String,
    },
}

/// Shorthand for `Result<T, portcullis::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;
