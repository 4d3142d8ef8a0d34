//! Domain types: values the server's rules are about, checked once where they enter (a seed
//! file, a management request, a database row) instead of compared as strings everywhere.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What kind of application a client is (Kinde's application types).
///
/// ```
/// use portcullis_server::domain::AppType;
///
/// let spa: AppType = "spa".parse()?;
/// assert!(!spa.is_confidential());
/// assert!(spa.signs_users_in());
/// assert_eq!(AppType::M2m.as_str(), "m2m");
/// assert!("web".parse::<AppType>().is_err());
/// # Ok::<(), portcullis_server::domain::UnknownAppType>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AppType {
    /// A back-end web app ("regular"): signs users in, keeps a client secret.
    Reg,
    /// A single-page (or native) app: signs users in, a public client with no secret (PKCE
    /// and refresh-token binding protect it).
    Spa,
    /// A machine-to-machine client: `client_credentials` only, never a user.
    M2m,
}

impl AppType {
    /// Every type, in Kinde's order.
    pub const ALL: [AppType; 3] = [AppType::Reg, AppType::Spa, AppType::M2m];

    /// The wire and database name: `reg`, `spa`, `m2m`.
    pub const fn as_str(self) -> &'static str {
        match self {
            AppType::Reg => "reg",
            AppType::Spa => "spa",
            AppType::M2m => "m2m",
        }
    }

    /// Whether the client keeps a secret (every type but `spa`).
    pub const fn is_confidential(self) -> bool {
        !matches!(self, AppType::Spa)
    }

    /// Whether users sign in through it (every type but `m2m`): authorization requests,
    /// logout redirects, UserInfo and user tokens are for these.
    pub const fn signs_users_in(self) -> bool {
        !matches!(self, AppType::M2m)
    }
}

impl fmt::Display for AppType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that is not an application type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("application type {0:?} is not one of reg, spa, m2m")]
pub struct UnknownAppType(pub String);

impl FromStr for AppType {
    type Err = UnknownAppType;

    fn from_str(s: &str) -> Result<Self, UnknownAppType> {
        AppType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| UnknownAppType(s.to_owned()))
    }
}

impl AppType {
    /// Reads a database column holding an application type.
    pub(crate) fn from_column(s: &str) -> Result<AppType, sqlx::Error> {
        s.parse().map_err(|e| sqlx::Error::Decode(Box::new(e)))
    }
}

/// Longest client id accepted, in bytes.
pub const MAX_CLIENT_ID_BYTES: usize = 255;

/// An OAuth client id (RFC 6749 §2.2): 1 to 255 bytes of UTF-8 without control characters.
/// Appendix A.1 names printable ASCII (`VSCHAR`); other printable characters are kept too, sent
/// form-encoded as UTF-8 (Appendix B), as seed files have always allowed them. Seed files and
/// stored applications hold only ids of this shape; the management API makes 32 lower-case hex
/// digits ([`ClientId::generate`], Kinde's form).
///
/// A request's `client_id` is parsed at the edge: one that is not a client id is answered
/// exactly as an unknown one, so no unchecked string reaches a lookup.
///
/// ```
/// use portcullis_server::domain::ClientId;
///
/// let id = ClientId::parse("demo-web")?;
/// assert_eq!(id.as_str(), "demo-web");
/// assert_eq!(ClientId::generate().as_str().len(), 32);
/// assert!(ClientId::parse("ops:team+batch 100% \u{e9}").is_ok());
/// for bad in ["", "a\tb", "a\u{85}b", &"x".repeat(256)] {
///     assert!(ClientId::parse(bad).is_err(), "{bad:?}");
/// }
/// # Ok::<(), portcullis_server::domain::InvalidClientId>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ClientId(String);

/// A string that is not a client id by [`ClientId`]'s rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a client id is 1 to 255 bytes without control characters")]
pub struct InvalidClientId;

impl ClientId {
    /// Checks `s` (nothing is trimmed or changed: ids compare exactly).
    pub fn parse(s: &str) -> Result<ClientId, InvalidClientId> {
        ClientId::check(s)?;
        Ok(ClientId(s.to_owned()))
    }

    fn check(s: &str) -> Result<(), InvalidClientId> {
        let valid =
            !s.is_empty() && s.len() <= MAX_CLIENT_ID_BYTES && !s.chars().any(char::is_control);
        if valid { Ok(()) } else { Err(InvalidClientId) }
    }

    /// A new random id: 32 lower-case hex digits (128 bits), as Kinde makes them.
    pub fn generate() -> ClientId {
        ClientId(crate::ids::hex(&crate::ids::bytes::<16>()))
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Reads a database column holding a client id.
    pub(crate) fn from_column(s: &str) -> Result<ClientId, sqlx::Error> {
        ClientId::parse(s).map_err(|e| sqlx::Error::Decode(Box::new(e)))
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for ClientId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl FromStr for ClientId {
    type Err = InvalidClientId;

    fn from_str(s: &str) -> Result<Self, InvalidClientId> {
        ClientId::parse(s)
    }
}

impl TryFrom<String> for ClientId {
    type Error = InvalidClientId;

    fn try_from(s: String) -> Result<Self, InvalidClientId> {
        ClientId::check(&s)?;
        Ok(ClientId(s))
    }
}

impl From<ClientId> for String {
    fn from(id: ClientId) -> String {
        id.0
    }
}

impl PartialEq<str> for ClientId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for ClientId {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

/// Longest email address accepted, in bytes (RFC 5321 §4.5.3.1.3: a 256-byte path less its
/// angle brackets).
pub const MAX_EMAIL_BYTES: usize = 254;
/// Longest local part (before the `@`), in bytes (RFC 5321 §4.5.3.1.1).
pub const MAX_EMAIL_LOCAL_BYTES: usize = 64;

/// An email address as the server keeps it: checked by one rule, the same for sign-up, the
/// management API, seed files and login hints, and normalised one way (surrounding spaces
/// removed, lower-cased), so lookups and rate-limit keys always agree.
///
/// The rule: one `@`; a local part of 1 to 64 bytes; a domain with a dot, not at either end,
/// never two in a row; no whitespace or control characters; at most 254 bytes.
///
/// ```
/// use portcullis_server::domain::Email;
///
/// let email = Email::parse(" Ada@Example.COM ")?;
/// assert_eq!(email.as_str(), "ada@example.com");
/// for bad in ["ada", "ada@localhost", "ada@example..com", "a da@example.com", "@example.com"] {
///     assert!(Email::parse(bad).is_err(), "{bad}");
/// }
/// # Ok::<(), portcullis_server::domain::InvalidEmail>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Email(String);

/// A string that is not an email address by [`Email`]'s rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a valid email address")]
pub struct InvalidEmail;

impl Email {
    /// Checks and normalises `s`.
    pub fn parse(s: &str) -> Result<Email, InvalidEmail> {
        let s = s.trim();
        if s.len() > MAX_EMAIL_BYTES || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(InvalidEmail);
        }
        let (local, domain) = s.split_once('@').ok_or(InvalidEmail)?;
        let valid = !local.is_empty()
            && local.len() <= MAX_EMAIL_LOCAL_BYTES
            && !domain.contains('@')
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..");
        if !valid {
            return Err(InvalidEmail);
        }
        Ok(Email(normalize_email(s)))
    }

    /// The normalised address.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The normalised address, owned.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How an address typed anywhere is compared with the stored ones (sign-in, lookups,
/// rate-limit keys): surrounding spaces removed, lower-cased. [`Email::parse`] normalises the
/// same way; this is for input that is looked up rather than accepted.
pub fn normalize_email(s: &str) -> String {
    s.trim().to_lowercase()
}

/// The organization a sign-in without `org_code` is for: the user's only one, if exactly one.
/// (A member of several chooses on the hosted chooser first, except with `prompt=none`.)
pub fn default_org(mut orgs: Vec<String>) -> Option<String> {
    if orgs.len() == 1 { orgs.pop() } else { None }
}

/// Longest name (given, family, organization) accepted, in characters.
pub const MAX_NAME_CHARS: usize = 100;

/// Validates Kinde's `org_name`: not empty, at most 100 characters, no control characters.
pub fn org_name(s: &str) -> Result<String, &'static str> {
    let s = s.trim();
    if s.is_empty() {
        return Err("org_name is empty");
    }
    if s.chars().count() > MAX_NAME_CHARS || s.chars().any(char::is_control) {
        return Err("org_name must be at most 100 characters, without control characters");
    }
    Ok(s.to_owned())
}

/// A level below the environment at which a flag can be overridden.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverrideLevel {
    /// For one organization.
    Org,
    /// For one user.
    User,
}

/// Whether a flag whose `allow_override_level` is `level` may be overridden `at` that level.
/// The level is the lowest scope overrides reach, as in Kinde: `env` allows neither
/// organization nor user overrides, `org` allows organization overrides, `usr` both. A flag
/// without a level (one defined without it) allows both, as it always did here.
pub fn override_allowed(level: Option<&str>, at: OverrideLevel) -> bool {
    match (level, at) {
        (None | Some("usr"), _) | (Some("org"), OverrideLevel::Org) => true,
        (Some(_), _) => false,
    }
}
