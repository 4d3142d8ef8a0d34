//! Client configuration: [`Config`], built with [`Config::builder`] or read from the environment
//! with [`Config::from_env`].
//!
//! | setting | variable | Kinde alias |
//! |---|---|---|
//! | issuer | `PORTCULLIS_ISSUER` | `KINDE_DOMAIN`, `KINDE_HOST` |
//! | client id | `PORTCULLIS_CLIENT_ID` | `KINDE_CLIENT_ID` |
//! | client secret | `PORTCULLIS_CLIENT_SECRET` | `KINDE_CLIENT_SECRET` |
//! | redirect URI | `PORTCULLIS_REDIRECT_URI` | `KINDE_REDIRECT_URI`, `KINDE_REDIRECT_URL` |
//! | post-logout redirect | `PORTCULLIS_POST_LOGOUT_REDIRECT_URI` | `KINDE_POST_LOGOUT_REDIRECT_URL` |
//! | audience(s) | `PORTCULLIS_AUDIENCE` | `KINDE_AUDIENCE` |
//! | scopes | `PORTCULLIS_SCOPES` | — (default `openid profile email offline`) |
//! | organization | `PORTCULLIS_ORG_CODE` | — |
//! | extra CA certificates (PEM file) | `PORTCULLIS_CA_FILE` | — |
//!
//! The `PORTCULLIS_*` name wins when both are set. Lists (audiences, scopes) are separated by
//! spaces or commas.

use std::fmt;

use url::Url;

use crate::error::ConfigError;
use crate::tls::{CA_FILE_VAR, RootCertificates};

/// The scopes requested when none are configured: Kinde's default, where `offline` asks for a
/// refresh token.
pub const DEFAULT_SCOPES: [&str; 4] = ["openid", "profile", "email", "offline"];

/// A client secret. Its `Debug` and `Display` print `[redacted]`, so it cannot leak into logs by
/// accident; [`ClientSecret::expose`] is the one way to read it.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientSecret(String);

impl ClientSecret {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Self {
        ClientSecret(secret.into())
    }

    /// The secret itself. Call this only where it is sent to the issuer.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientSecret([redacted])")
    }
}

impl fmt::Display for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// How this app talks to its identity provider.
///
/// ```
/// use portcullis::Config;
///
/// let config = Config::builder("https://acme.kinde.com")
///     .client_id("my-app")
///     .audience("https://api.acme.com")
///     .build()?;
/// assert_eq!(config.issuer(), "https://acme.kinde.com");
/// assert_eq!(config.scopes(), ["openid", "profile", "email", "offline"]);
/// # Ok::<(), portcullis::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    issuer: String,
    client_id: Option<String>,
    client_secret: Option<ClientSecret>,
    redirect_uri: Option<String>,
    post_logout_redirect_uri: Option<String>,
    audiences: Vec<String>,
    scopes: Vec<String>,
    org_code: Option<String>,
    allow_insecure_http: bool,
    root_certificates: RootCertificates,
}

impl Config {
    /// Starts a configuration for the issuer at `issuer` (e.g. `https://acme.kinde.com`).
    pub fn builder(issuer: impl Into<String>) -> ConfigBuilder {
        ConfigBuilder {
            issuer: (issuer.into(), "issuer"),
            client_id: None,
            client_secret: None,
            redirect_uri: None,
            post_logout_redirect_uri: None,
            audiences: Vec::new(),
            scopes: None,
            org_code: None,
            allow_insecure_http: false,
            root_certificates: RootCertificates::default(),
        }
    }

    /// Reads the configuration from the process environment (see the module docs for names).
    ///
    /// A missing issuer, or a value that does not parse, is an error naming the variable;
    /// `PORTCULLIS_CA_FILE`, when set, must name a readable PEM file with at least one
    /// certificate (its certificate authorities are then trusted besides the system's, see
    /// [`crate::tls`]).
    pub fn from_env() -> Result<Config, ConfigError> {
        Self::from_env_with(|name| std::env::var(name).ok())
    }

    /// Like [`Config::from_env`], reading variables through `lookup` (handy in tests, or to read
    /// a `.env` map).
    ///
    /// ```
    /// use portcullis::Config;
    /// use std::collections::HashMap;
    ///
    /// let env = HashMap::from([
    ///     ("KINDE_DOMAIN", "https://acme.kinde.com"),
    ///     ("KINDE_CLIENT_ID", "abc"),
    ///     ("PORTCULLIS_AUDIENCE", "https://api.acme.com"),
    /// ]);
    /// let config = Config::from_env_with(|k| env.get(k).map(|v| v.to_string()))?;
    /// assert_eq!(config.client_id(), Some("abc"));
    /// assert_eq!(config.audiences(), ["https://api.acme.com"]);
    /// # Ok::<(), portcullis::error::ConfigError>(())
    /// ```
    pub fn from_env_with(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        // First set (non-empty) of the names, with the name it came from.
        let read = |names: &[&'static str]| -> Option<(String, &'static str)> {
            names.iter().find_map(|name| {
                lookup(name)
                    .map(|v| v.trim().to_owned())
                    .filter(|v| !v.is_empty())
                    .map(|v| (v, *name))
            })
        };

        let (issuer, issuer_var) = match read(&["PORTCULLIS_ISSUER", "KINDE_DOMAIN", "KINDE_HOST"])
        {
            Some(v) => v,
            None => {
                return Err(ConfigError::new(
                    "PORTCULLIS_ISSUER",
                    "is not set (nor KINDE_DOMAIN / KINDE_HOST): set it to your issuer's URL, e.g. https://acme.kinde.com",
                ));
            }
        };
        // Kinde's docs sometimes show the domain without a scheme.
        let issuer = if issuer.contains("://") {
            issuer
        } else {
            format!("https://{issuer}")
        };
        let mut builder = Config::builder(issuer);
        builder.issuer.1 = issuer_var;
        if let Some((v, _)) = read(&["PORTCULLIS_CLIENT_ID", "KINDE_CLIENT_ID"]) {
            builder.client_id = Some(v);
        }
        if let Some((v, _)) = read(&["PORTCULLIS_CLIENT_SECRET", "KINDE_CLIENT_SECRET"]) {
            builder.client_secret = Some(ClientSecret(v));
        }
        if let Some(v) = read(&[
            "PORTCULLIS_REDIRECT_URI",
            "KINDE_REDIRECT_URI",
            "KINDE_REDIRECT_URL",
        ]) {
            builder.redirect_uri = Some(v);
        }
        if let Some(v) = read(&[
            "PORTCULLIS_POST_LOGOUT_REDIRECT_URI",
            "KINDE_POST_LOGOUT_REDIRECT_URL",
        ]) {
            builder.post_logout_redirect_uri = Some(v);
        }
        if let Some((v, _)) = read(&["PORTCULLIS_AUDIENCE", "KINDE_AUDIENCE"]) {
            builder.audiences = split_list(&v);
        }
        if let Some((v, _)) = read(&["PORTCULLIS_SCOPES"]) {
            builder.scopes = Some((split_list(&v), "PORTCULLIS_SCOPES"));
        }
        if let Some((v, _)) = read(&["PORTCULLIS_ORG_CODE"]) {
            builder.org_code = Some(v);
        }
        builder.root_certificates = RootCertificates::from_env_with(&lookup)
            .map_err(|e| ConfigError::new(CA_FILE_VAR, e.to_string()))?;
        builder.build_inner()
    }

    /// The issuer URL, exactly as tokens must carry it in `iss`.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The OAuth client id, if configured.
    pub fn client_id(&self) -> Option<&str> {
        self.client_id.as_deref()
    }

    /// The client secret, if configured (confidential clients only).
    pub fn client_secret(&self) -> Option<&ClientSecret> {
        self.client_secret.as_ref()
    }

    /// Where the provider sends users back after sign-in.
    pub fn redirect_uri(&self) -> Option<&str> {
        self.redirect_uri.as_deref()
    }

    /// Where the provider sends users after sign-out.
    pub fn post_logout_redirect_uri(&self) -> Option<&str> {
        self.post_logout_redirect_uri.as_deref()
    }

    /// The API audiences: access tokens must carry one of them in `aud`.
    pub fn audiences(&self) -> &[String] {
        &self.audiences
    }

    /// The scopes requested at sign-in.
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }

    /// The organization to sign users into, if any.
    pub fn org_code(&self) -> Option<&str> {
        self.org_code.as_deref()
    }

    /// Whether a plain-`http` issuer on a non-loopback host was explicitly allowed.
    pub fn allows_insecure_http(&self) -> bool {
        self.allow_insecure_http
    }

    /// Certificate authorities trusted for HTTPS to the issuer besides the system's
    /// (`PORTCULLIS_CA_FILE`, or [`ConfigBuilder::root_certificates`]).
    pub fn root_certificates(&self) -> &RootCertificates {
        &self.root_certificates
    }
}

/// Builds a [`Config`]; see [`Config::builder`].
#[derive(Debug, Clone)]
#[must_use]
pub struct ConfigBuilder {
    issuer: (String, &'static str),
    client_id: Option<String>,
    client_secret: Option<ClientSecret>,
    redirect_uri: Option<(String, &'static str)>,
    post_logout_redirect_uri: Option<(String, &'static str)>,
    audiences: Vec<String>,
    scopes: Option<(Vec<String>, &'static str)>,
    org_code: Option<String>,
    allow_insecure_http: bool,
    root_certificates: RootCertificates,
}

impl ConfigBuilder {
    /// The OAuth client id.
    pub fn client_id(mut self, id: impl Into<String>) -> Self {
        self.client_id = Some(id.into());
        self
    }

    /// The client secret (confidential clients only).
    pub fn client_secret(mut self, secret: impl Into<String>) -> Self {
        self.client_secret = Some(ClientSecret(secret.into()));
        self
    }

    /// Where the provider sends users back after sign-in.
    pub fn redirect_uri(mut self, uri: impl Into<String>) -> Self {
        self.redirect_uri = Some((uri.into(), "redirect_uri"));
        self
    }

    /// Where the provider sends users after sign-out.
    pub fn post_logout_redirect_uri(mut self, uri: impl Into<String>) -> Self {
        self.post_logout_redirect_uri = Some((uri.into(), "post_logout_redirect_uri"));
        self
    }

    /// Adds an API audience (call again for several).
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }

    /// Replaces the requested scopes.
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = Some((scopes.into_iter().map(Into::into).collect(), "scopes"));
        self
    }

    /// The organization to sign users into.
    pub fn org_code(mut self, org_code: impl Into<String>) -> Self {
        self.org_code = Some(org_code.into());
        self
    }

    /// Allows a plain-`http` issuer on a host that is not loopback (e.g. a service name inside a
    /// private container network). Tokens and secrets then cross the network unencrypted: use
    /// only where that network is trusted. Loopback hosts (`localhost`, `127.0.0.1`, `[::1]`)
    /// never need this.
    pub fn allow_insecure_http(mut self) -> Self {
        self.allow_insecure_http = true;
        self
    }

    /// Trusts these certificate authorities for HTTPS to the issuer, besides the system's
    /// roots: for an issuer whose certificate comes from a private CA. Every client built from
    /// this configuration (verifier, [`AuthClient`](crate::oauth::AuthClient),
    /// [`ManagementClient`](crate::management::ManagementClient), the web integrations) uses
    /// them. [`Config::from_env`] reads them from the file named by `PORTCULLIS_CA_FILE`.
    ///
    /// ```no_run
    /// use portcullis::{Config, tls::RootCertificates};
    ///
    /// let config = Config::builder("https://id.internal.example")
    ///     .root_certificates(RootCertificates::from_pem_file("/etc/ssl/private-ca.pem")?)
    ///     .build()?;
    /// assert_eq!(config.root_certificates().len(), 1);
    /// # Ok::<(), portcullis::Error>(())
    /// ```
    pub fn root_certificates(mut self, roots: RootCertificates) -> Self {
        self.root_certificates = roots;
        self
    }

    /// Checks and builds the configuration.
    pub fn build(self) -> Result<Config, crate::Error> {
        Ok(self.build_inner()?)
    }

    fn build_inner(self) -> Result<Config, ConfigError> {
        let (issuer, issuer_setting) = self.issuer;
        check_issuer(&issuer, self.allow_insecure_http)
            .map_err(|p| ConfigError::new(issuer_setting, p))?;
        let redirect_uri = self
            .redirect_uri
            .map(|(uri, setting)| {
                check_absolute_url(&uri)
                    .map(|_| uri)
                    .map_err(|p| ConfigError::new(setting, p))
            })
            .transpose()?;
        let post_logout_redirect_uri = self
            .post_logout_redirect_uri
            .map(|(uri, setting)| {
                check_absolute_url(&uri)
                    .map(|_| uri)
                    .map_err(|p| ConfigError::new(setting, p))
            })
            .transpose()?;
        if let Some(id) = &self.client_id
            && (id.trim().is_empty() || id.chars().any(char::is_control))
        {
            return Err(ConfigError::new(
                "client_id",
                "must be a non-empty string without control characters",
            ));
        }
        if self.audiences.iter().any(|a| a.trim().is_empty()) {
            return Err(ConfigError::new("audience", "must not be empty"));
        }
        let scopes = match self.scopes {
            Some((scopes, setting)) => {
                if scopes.is_empty() {
                    return Err(ConfigError::new(setting, "must list at least one scope"));
                }
                if let Some(bad) = scopes.iter().find(|s| !is_scope_token(s)) {
                    return Err(ConfigError::new(
                        setting,
                        format!(
                            "{bad:?} is not a valid scope (RFC 6749 §3.3: printable ASCII, no spaces, quotes or backslashes)"
                        ),
                    ));
                }
                scopes
            }
            None => DEFAULT_SCOPES.iter().map(|s| s.to_string()).collect(),
        };
        Ok(Config {
            issuer,
            client_id: self.client_id,
            client_secret: self.client_secret,
            redirect_uri,
            post_logout_redirect_uri,
            audiences: self.audiences,
            scopes,
            org_code: self.org_code,
            allow_insecure_http: self.allow_insecure_http,
            root_certificates: self.root_certificates,
        })
    }
}

fn split_list(v: &str) -> Vec<String> {
    v.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// RFC 6749 §3.3 scope-token: %x21 / %x23-5B / %x5D-7E.
fn is_scope_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}

fn check_absolute_url(uri: &str) -> Result<Url, String> {
    let url = Url::parse(uri).map_err(|e| format!("{uri:?} is not an absolute URL ({e})"))?;
    if url.fragment().is_some() {
        return Err(format!(
            "{uri:?} must not contain a fragment (RFC 6749 §3.1.2)"
        ));
    }
    Ok(url)
}

/// Whether `url` points at this machine (where plain http is acceptable).
pub(crate) fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Checks an issuer identifier (OIDC Discovery §2, RFC 8414 §2): an https URL with a host, no
/// query and no fragment. Plain http is accepted for loopback hosts, or when explicitly allowed.
pub(crate) fn check_issuer(issuer: &str, allow_insecure_http: bool) -> Result<Url, String> {
    let url = Url::parse(issuer).map_err(|e| format!("{issuer:?} is not a URL ({e})"))?;
    if url.host().is_none() {
        return Err(format!("{issuer:?} has no host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("{issuer:?} must not contain a query or fragment"));
    }
    match url.scheme() {
        "https" => Ok(url),
        "http" if is_loopback(&url) || allow_insecure_http => Ok(url),
        "http" => Err(format!(
            "{issuer:?} uses plain http: use https (http is accepted only for localhost, or with allow_insecure_http)"
        )),
        other => Err(format!("{issuer:?} has scheme {other:?}; expected https")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn reads_portcullis_names() {
        let c = Config::from_env_with(env(&[
            ("PORTCULLIS_ISSUER", "https://id.example.com"),
            ("PORTCULLIS_CLIENT_ID", "cid"),
            ("PORTCULLIS_CLIENT_SECRET", "s3cret"),
            (
                "PORTCULLIS_REDIRECT_URI",
                "https://app.example.com/callback",
            ),
            (
                "PORTCULLIS_POST_LOGOUT_REDIRECT_URI",
                "https://app.example.com/",
            ),
            ("PORTCULLIS_AUDIENCE", "api1 api2,api3"),
            ("PORTCULLIS_SCOPES", "openid email"),
            ("PORTCULLIS_ORG_CODE", "org_1"),
        ]))
        .unwrap();
        assert_eq!(c.issuer(), "https://id.example.com");
        assert_eq!(c.client_id(), Some("cid"));
        assert_eq!(c.client_secret().unwrap().expose(), "s3cret");
        assert_eq!(c.redirect_uri(), Some("https://app.example.com/callback"));
        assert_eq!(
            c.post_logout_redirect_uri(),
            Some("https://app.example.com/")
        );
        assert_eq!(c.audiences(), ["api1", "api2", "api3"]);
        assert_eq!(c.scopes(), ["openid", "email"]);
        assert_eq!(c.org_code(), Some("org_1"));
    }

    #[test]
    fn reads_kinde_aliases_and_prefers_portcullis_names() {
        let c = Config::from_env_with(env(&[
            ("KINDE_DOMAIN", "acme.kinde.com"),
            ("KINDE_CLIENT_ID", "kinde-id"),
            ("KINDE_CLIENT_SECRET", "ks"),
            ("KINDE_REDIRECT_URL", "http://localhost:8000/callback"),
            ("KINDE_POST_LOGOUT_REDIRECT_URL", "http://localhost:8000"),
            ("KINDE_AUDIENCE", "https://api.acme.com"),
            ("PORTCULLIS_CLIENT_ID", "wins"),
        ]))
        .unwrap();
        assert_eq!(c.issuer(), "https://acme.kinde.com");
        assert_eq!(c.client_id(), Some("wins"));
        assert_eq!(c.redirect_uri(), Some("http://localhost:8000/callback"));
        assert_eq!(c.audiences(), ["https://api.acme.com"]);
        assert_eq!(c.scopes(), DEFAULT_SCOPES);
        let c = Config::from_env_with(env(&[("KINDE_HOST", "https://h.kinde.com")])).unwrap();
        assert_eq!(c.issuer(), "https://h.kinde.com");
    }

    #[test]
    fn missing_issuer_names_the_variable() {
        let e = Config::from_env_with(env(&[])).unwrap_err();
        assert_eq!(e.setting(), "PORTCULLIS_ISSUER");
        assert!(e.to_string().contains("KINDE_DOMAIN"));
    }

    #[test]
    fn bad_values_name_the_variable() {
        let e =
            Config::from_env_with(env(&[("KINDE_DOMAIN", "http://acme.kinde.com")])).unwrap_err();
        assert_eq!(e.setting(), "KINDE_DOMAIN");
        let e = Config::from_env_with(env(&[("PORTCULLIS_ISSUER", "not a url")])).unwrap_err();
        assert_eq!(e.setting(), "PORTCULLIS_ISSUER");
        let e = Config::from_env_with(env(&[
            ("PORTCULLIS_ISSUER", "https://a.example"),
            ("KINDE_REDIRECT_URI", "/callback"),
        ]))
        .unwrap_err();
        assert_eq!(e.setting(), "KINDE_REDIRECT_URI");
        let e = Config::from_env_with(env(&[
            ("PORTCULLIS_ISSUER", "https://a.example"),
            ("PORTCULLIS_POST_LOGOUT_REDIRECT_URI", "nope"),
        ]))
        .unwrap_err();
        assert_eq!(e.setting(), "PORTCULLIS_POST_LOGOUT_REDIRECT_URI");
        let e = Config::from_env_with(env(&[
            ("PORTCULLIS_ISSUER", "https://a.example"),
            ("PORTCULLIS_SCOPES", "openid \"bad\""),
        ]))
        .unwrap_err();
        assert_eq!(e.setting(), "PORTCULLIS_SCOPES");
        let e = Config::from_env_with(env(&[("PORTCULLIS_ISSUER", "https://a.example/?x=1")]))
            .unwrap_err();
        assert_eq!(e.setting(), "PORTCULLIS_ISSUER");
    }

    #[test]
    fn loopback_http_is_fine_and_other_http_needs_opt_in() {
        assert!(Config::builder("http://127.0.0.1:8080").build().is_ok());
        assert!(Config::builder("http://localhost:8080").build().is_ok());
        assert!(Config::builder("http://[::1]:8080").build().is_ok());
        assert!(Config::builder("http://portcullis:8080").build().is_err());
        assert!(
            Config::builder("http://portcullis:8080")
                .allow_insecure_http()
                .build()
                .is_ok()
        );
        assert!(Config::builder("ftp://x.example").build().is_err());
    }

    #[test]
    fn secrets_do_not_print() {
        let c = Config::builder("https://a.example")
            .client_secret("hunter2")
            .build()
            .unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
        assert_eq!(c.client_secret().unwrap().to_string(), "[redacted]");
    }
}
