//! The seed file: a declarative tenant loaded with `portcullis serve --seed FILE`. Loading it twice
//! changes nothing (every entry is keyed by its natural key: an API by its audience, an
//! application by its client id).
//!
//! ```toml
//! [[apis]]
//! name = "Todos API"
//! audience = "https://api.example.com"
//! scopes = ["read:todos", "create:todos"]
//!
//! [[applications]]
//! name = "Nightly report job"
//! type = "m2m"
//! client_id = "report-job"
//! client_secret = "a-long-random-secret-of-at-least-32-characters"
//! apis = [{ audience = "https://api.example.com", scopes = ["read:todos"] }]
//! ```
//!
//! This release seeds APIs and machine-to-machine applications; users, organizations, roles,
//! permissions and feature flags come with the sign-in pages. Unknown sections are refused, not
//! ignored, so a seed file never half-applies silently.

use serde::Deserialize;

use crate::error::ServerError;
use crate::store::{ApplicationRecord, Store};

/// A parsed seed file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Seed {
    /// APIs (resource servers).
    #[serde(default)]
    pub apis: Vec<SeedApi>,
    /// Applications (OAuth clients).
    #[serde(default)]
    pub applications: Vec<SeedApplication>,
}

/// An API in the seed file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedApi {
    /// Display name.
    pub name: String,
    /// The `aud` of its tokens.
    pub audience: String,
    /// The scopes it defines.
    #[serde(default)]
    pub scopes: Vec<String>,
}

/// An application in the seed file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedApplication {
    /// Display name.
    pub name: String,
    /// `m2m` (this release); `reg` and `spa` come with the authorization endpoint.
    #[serde(rename = "type")]
    pub app_type: String,
    /// The OAuth client id.
    pub client_id: String,
    /// The client secret (at least 32 characters; stored only as a SHA-256 hash).
    pub client_secret: Option<String>,
    /// Access-token lifetime in seconds (the server's default when absent).
    pub access_token_ttl: Option<i64>,
    /// The APIs it may get tokens for.
    #[serde(default)]
    pub apis: Vec<SeedGrant>,
}

/// An API an application may use, with the scopes it may request.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedGrant {
    /// The API's audience.
    pub audience: String,
    /// Scopes granted (each must be defined by the API).
    #[serde(default)]
    pub scopes: Vec<String>,
}

/// SHA-256 of a client secret, hex. Client secrets are random and long, so a fast hash is the
/// right tool (as for API tokens); passwords get argon2id.
pub fn hash_secret(secret: &str) -> String {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, secret.as_bytes());
    d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// A random identifier with a prefix (`app_…`, `api_…`).
pub(crate) fn new_id(prefix: &str) -> String {
    use aws_lc_rs::rand::SecureRandom;
    let mut bytes = [0u8; 12];
    aws_lc_rs::rand::SystemRandom::new()
        .fill(&mut bytes)
        .expect("the OS random source failed");
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{prefix}_{hex}")
}

impl Seed {
    /// Parses TOML.
    pub fn from_toml(text: &str) -> Result<Seed, ServerError> {
        toml::from_str(text).map_err(|e| ServerError::Config(format!("seed file: {e}")))
    }

    /// Checks the seed for mistakes before anything is written.
    pub fn validate(&self) -> Result<(), ServerError> {
        let bad = |m: String| Err(ServerError::Config(format!("seed file: {m}")));
        for api in &self.apis {
            if api.audience.trim().is_empty() {
                return bad(format!("API {:?} has an empty audience", api.name));
            }
        }
        for app in &self.applications {
            if app.app_type != "m2m" {
                return bad(format!(
                    "application {:?}: type {:?} is not supported yet (only m2m)",
                    app.name, app.app_type
                ));
            }
            match &app.client_secret {
                Some(s) if s.len() >= 32 => {}
                _ => {
                    return bad(format!(
                        "application {:?}: an m2m application needs a client_secret of at least 32 characters",
                        app.name
                    ));
                }
            }
            if app
                .access_token_ttl
                .is_some_and(|t| !(60..=30 * 86400).contains(&t))
            {
                return bad(format!(
                    "application {:?}: access_token_ttl must be between 60 s and 30 days",
                    app.name
                ));
            }
            for grant in &app.apis {
                let Some(api) = self.apis.iter().find(|a| a.audience == grant.audience) else {
                    return bad(format!(
                        "application {:?} uses API {:?}, which the seed does not define",
                        app.name, grant.audience
                    ));
                };
                if let Some(s) = grant.scopes.iter().find(|s| !api.scopes.contains(s)) {
                    return bad(format!(
                        "application {:?} is granted scope {s:?}, which API {:?} does not define",
                        app.name, api.audience
                    ));
                }
            }
        }
        Ok(())
    }

    /// Writes the seed into the store (idempotent).
    pub async fn apply(&self, store: &Store) -> Result<(), ServerError> {
        self.validate()?;
        for api in &self.apis {
            let id = store
                .upsert_api(&new_id("api"), &api.name, &api.audience)
                .await?;
            store.set_api_scopes(&id, &api.scopes).await?;
        }
        for app in &self.applications {
            let id = store
                .upsert_application(&ApplicationRecord {
                    id: new_id("app"),
                    name: app.name.clone(),
                    app_type: app.app_type.clone(),
                    client_id: app.client_id.clone(),
                    client_secret_sha256: app.client_secret.as_deref().map(hash_secret),
                    access_token_ttl: app.access_token_ttl,
                })
                .await?;
            for grant in &app.apis {
                let api = store
                    .api_by_audience(&grant.audience)
                    .await?
                    .ok_or_else(|| ServerError::Config("seeded API vanished".into()))?;
                store.grant_api(&id, &api.id, &grant.scopes).await?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_tenant_is_valid() {
        let seed = Seed::from_toml(include_str!("../examples/tenant.toml")).unwrap();
        seed.validate().unwrap();
        assert_eq!(seed.apis.len(), 2);
        assert_eq!(seed.applications[0].apis.len(), 2);
    }

    #[test]
    fn mistakes_are_named() {
        let err = |text: &str| {
            Seed::from_toml(text)
                .and_then(|s| s.validate())
                .unwrap_err()
                .to_string()
        };
        assert!(err("[[users]]\nemail = \"a@b\"").contains("users"));
        let app = |extra: &str| {
            format!(
                "[[apis]]\nname = \"A\"\naudience = \"https://a\"\nscopes = [\"r\"]\n\
                 [[applications]]\nname = \"W\"\ntype = \"m2m\"\nclient_id = \"w\"\n{extra}"
            )
        };
        assert!(err(&app("client_secret = \"short\"")).contains("32 characters"));
        let secret = "client_secret = \"0123456789abcdefghijklmnopqrstuvwxyz\"\n";
        assert!(
            err(&app(&format!(
                "{secret}apis = [{{ audience = \"https://b\" }}]"
            )))
            .contains("does not define")
        );
        assert!(
            err(&app(&format!(
                "{secret}apis = [{{ audience = \"https://a\", scopes = [\"w\"] }}]"
            )))
            .contains("scope \"w\"")
        );
        assert!(err(&app(&format!("{secret}access_token_ttl = 5"))).contains("access_token_ttl"));
        assert!(err(&app(secret).replace("m2m", "spa")).contains("not supported yet"));
    }
}
