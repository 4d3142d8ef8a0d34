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
