//! Authorization requests: options, PKCE, `state`, `nonce`, and the pending login an app keeps
//! until the callback.

use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use url::Url;

/// Parameters the SDK sets itself; extra parameters may not override them.
pub(crate) const RESERVED: &[&str] = &[
    "client_id",
    "redirect_uri",
    "response_type",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "scope",
    "audience",
    "prompt",
    "max_age",
    "org_code",
    "login_hint",
    "connection_id",
    "lang",
    "is_create_org",
    "org_name",
];

/// What to ask for in an authorization request, beyond the [`crate::Config`] defaults.
///
/// ```
/// use portcullis::oauth::AuthorizeOptions;
///
/// let options = AuthorizeOptions::new()
///     .audience("https://api.example.com")
///     .org_code("org_acme")
///     .login_hint("ada@example.com")
///     .extra("invitation_code", "inv_123");
/// # let _ = options;
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthorizeOptions {
    pub(crate) audiences: Option<Vec<String>>,
    pub(crate) scopes: Option<Vec<String>>,
    pub(crate) org_code: Option<String>,
    pub(crate) connection_id: Option<String>,
    pub(crate) login_hint: Option<String>,
    pub(crate) lang: Option<String>,
    pub(crate) prompt: Option<String>,
    pub(crate) max_age: Option<Duration>,
    pub(crate) redirect_uri: Option<String>,
    pub(crate) extra: Vec<(String, String)>,
}

impl AuthorizeOptions {
    /// No options: the configuration's audiences, scopes and redirect URI.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks for an access token for this API (repeat for several; replaces the configured
    /// audiences). Sent as Kinde's `audience` and, when it is an absolute URI (such as
    /// `https://api.example.com`), also as an RFC 8707 `resource`, which standard providers
    /// read instead.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences
            .get_or_insert_with(Vec::new)
            .push(audience.into());
        self
    }

    /// Asks for these scopes instead of the configured ones.
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = Some(scopes.into_iter().map(Into::into).collect());
        self
    }

    /// Signs the user into this organization (Kinde `org_code`).
    pub fn org_code(mut self, org_code: impl Into<String>) -> Self {
        self.org_code = Some(org_code.into());
        self
    }

    /// Goes straight to one connection (Kinde `connection_id`, e.g. `conn_…`).
    pub fn connection_id(mut self, connection_id: impl Into<String>) -> Self {
        self.connection_id = Some(connection_id.into());
        self
    }

    /// Pre-fills the sign-in form (`login_hint`, e.g. an email address).
    pub fn login_hint(mut self, hint: impl Into<String>) -> Self {
        self.login_hint = Some(hint.into());
        self
    }

    /// The language of the hosted pages (Kinde `lang`).
    pub fn lang(mut self, lang: impl Into<String>) -> Self {
        self.lang = Some(lang.into());
        self
    }

    /// OIDC `prompt`: `login` forces a new sign-in, `none` fails rather than showing a page,
    /// `create` shows sign-up.
    pub fn prompt(mut self, prompt: impl Into<String>) -> Self {
        self.prompt = Some(prompt.into());
        self
    }

    /// OIDC `max_age`: the sign-in may be at most this old; the ID token's `auth_time` is checked.
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = Some(max_age);
        self
    }

    /// Returns to this redirect URI instead of the configured one (it must be registered).
    pub fn redirect_uri(mut self, uri: impl Into<String>) -> Self {
        self.redirect_uri = Some(uri.into());
        self
    }

    /// Any other parameter (e.g. Kinde's `invitation_code`). Parameters the SDK sets itself
    /// (`state`, `nonce`, `code_challenge`, …) are refused when the URL is built.
    pub fn extra(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.extra.push((name.into(), value.into()));
        self
    }
}

/// What an app keeps (server-side, e.g. in its session) between sending the user to the provider
/// and handling the callback. Serializable; its `Debug` output hides the secrets.
///
/// One pending login per sign-in attempt: keep them keyed by [`PendingLogin::state`] so that
/// several sign-ins in one browser (two tabs) do not overwrite each other.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingLogin {
    pub(crate) state: String,
    pub(crate) nonce: String,
    pub(crate) code_verifier: String,
    pub(crate) redirect_uri: String,
    /// Unix seconds.
    pub(crate) created_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) max_age: Option<u64>,
    /// The request's one RFC 8707 `resource`, named again at the code exchange.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) resource: Option<String>,
}

impl PendingLogin {
    /// The `state` sent with the request: the key to find this pending login again when the
    /// callback arrives.
    pub fn state(&self) -> &str {
        &self.state
    }

    /// The redirect URI the callback must come back to.
    pub fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }

    /// When the login started (Unix seconds).
    pub fn created_at(&self) -> i64 {
        self.created_at
    }
}

impl fmt::Debug for PendingLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingLogin")
            .field("redirect_uri", &self.redirect_uri)
            .field("created_at", &self.created_at)
            .field("max_age", &self.max_age)
            .field("resource", &self.resource)
            .finish_non_exhaustive()
    }
}

/// An authorization URL to send the user to, and the pending login to keep until the callback.
#[derive(Debug, Clone)]
pub struct AuthorizationRequest {
    /// Redirect the user's browser here.
    pub url: Url,
    /// Keep this server-side; pass it to [`crate::oauth::AuthClient::handle_callback`].
    pub pending: PendingLogin,
}

/// `n` random bytes from the operating system's CSPRNG, base64url without padding.
pub(crate) fn random_token(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    // The OS random source failing is not something a program can recover from.
    aws_lc_rs::rand::fill(&mut bytes).expect("the operating system's random source failed");
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A PKCE verifier (RFC 7636 §4.1): 32 random bytes as 43 base64url characters (256 bits).
pub(crate) fn code_verifier() -> String {
    random_token(32)
}

/// The S256 challenge of a verifier (RFC 7636 §4.2). `plain` is never used.
pub(crate) fn code_challenge(verifier: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes());
    URL_SAFE_NO_PAD.encode(digest.as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_verifiers_are_strong_and_s256() {
        // docs/security.md case 26
        let mut seen = std::collections::HashSet::new();
        for _ in 0..10_000 {
            let v = code_verifier();
            assert_eq!(v.len(), 43);
            assert!(
                v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
            );
            assert!(seen.insert(v));
        }
        // RFC 7636 Appendix B.
        assert_eq!(
            code_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn debug_hides_secrets() {
        let p = PendingLogin {
            state: "st4te".into(),
            nonce: "n0nce".into(),
            code_verifier: "v3rifier".into(),
            redirect_uri: "http://localhost/cb".into(),
            created_at: 1,
            max_age: None,
            resource: None,
        };
        let out = format!("{p:?}");
        assert!(!out.contains("st4te") && !out.contains("n0nce") && !out.contains("v3rifier"));
    }
}
