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
//! Permissions, roles, organizations, users (with argon2id-hashed passwords and memberships)
//! and feature flags (with environment, organization and user overrides) are seeded too; see
//! `examples/tenant.toml`. Applications are machine-to-machine only until the authorization
//! endpoint lands. Unknown sections are refused, not ignored, so a seed file never half-applies
//! silently.

use serde::Deserialize;

use crate::domain::{AppType, ClientId, Email, normalize_email};
use crate::error::ServerError;
use crate::ids::{hash_secret, new_id};
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
    /// Permissions.
    #[serde(default)]
    pub permissions: Vec<SeedPermission>,
    /// Roles, with their permissions.
    #[serde(default)]
    pub roles: Vec<SeedRole>,
    /// Organizations.
    #[serde(default)]
    pub organizations: Vec<SeedOrganization>,
    /// Users, with passwords and organization memberships.
    #[serde(default)]
    pub users: Vec<SeedUser>,
    /// Feature flags, with their overrides.
    #[serde(default)]
    pub feature_flags: Vec<SeedFlag>,
}

/// A permission in the seed file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedPermission {
    /// Its key (`read:todos`): what tokens carry.
    pub key: String,
    /// Display name (the key when absent).
    pub name: Option<String>,
}

/// A role in the seed file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedRole {
    /// Its key (`admin`).
    pub key: String,
    /// Display name (the key when absent).
    pub name: Option<String>,
    /// The permission keys it grants.
    #[serde(default)]
    pub permissions: Vec<String>,
}

/// An organization in the seed file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedOrganization {
    /// Its code (`org_acme`).
    pub code: String,
    /// Display name.
    pub name: String,
}

/// A user in the seed file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedUser {
    /// Email (the sign-in name).
    pub email: String,
    /// Given name.
    pub given_name: Option<String>,
    /// Family name.
    pub family_name: Option<String>,
    /// Password (8 to 256 bytes); stored only as an argon2id hash.
    pub password: Option<String>,
    /// Memberships.
    #[serde(default)]
    pub organizations: Vec<SeedMembership>,
}

/// A user's membership of an organization.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedMembership {
    /// The organization's code.
    pub code: String,
    /// Role keys in that organization.
    #[serde(default)]
    pub roles: Vec<String>,
    /// Permission keys granted directly in that organization.
    #[serde(default)]
    pub permissions: Vec<String>,
}

/// A feature flag in the seed file. Values are written as strings or TOML values of the type.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedFlag {
    /// Its key.
    pub key: String,
    /// Display name (the key when absent).
    pub name: Option<String>,
    /// `bool`, `str` or `int`.
    #[serde(rename = "type")]
    pub flag_type: String,
    /// The default value.
    pub default: toml::Value,
    /// The environment override.
    pub environment: Option<toml::Value>,
    /// Overrides per organization code.
    #[serde(default)]
    pub organizations: std::collections::BTreeMap<String, toml::Value>,
    /// Overrides per user email.
    #[serde(default)]
    pub users: std::collections::BTreeMap<String, toml::Value>,
}

/// A TOML flag value in its stored string form.
fn flag_string(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
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
    /// `reg` (a server-side web app), `spa` (a public single-page app using PKCE) or `m2m`.
    #[serde(rename = "type")]
    pub app_type: String,
    /// The OAuth client id: 1 to 255 bytes without control characters ([`ClientId`]).
    pub client_id: String,
    /// The client secret (at least 32 characters; stored only as a SHA-256 hash).
    pub client_secret: Option<String>,
    /// Access-token lifetime in seconds (the server's default when absent).
    pub access_token_ttl: Option<i64>,
    /// The APIs it may get tokens for.
    #[serde(default)]
    pub apis: Vec<SeedGrant>,
    /// Callback URLs (`reg`, `spa`), matched exactly at the authorization endpoint.
    #[serde(default)]
    pub redirect_urls: Vec<String>,
    /// Where users may be sent after sign-out.
    #[serde(default)]
    pub logout_urls: Vec<String>,
    /// Lets this `reg` application sign users in with the resource-owner password grant
    /// (`grant_type=password`). Off by default: the hosted pages are the safer way (RFC 9700
    /// §2.4); enable it only for first-party apps that cannot use a browser.
    #[serde(default)]
    pub allow_password_grant: bool,
    /// Scopes of the management API (`{issuer}/api`, `read:users`, `create:organizations`, …)
    /// this `m2m` application may get; `["*"]` grants them all. Empty by default.
    #[serde(default)]
    pub management_scopes: Vec<String>,
}

/// Checks a registered URL: absolute, no fragment (RFC 6749 §3.1.2), https or http on
/// loopback.
fn check_registered_url(url: &str) -> Result<(), String> {
    let parsed =
        url::Url::parse(url).map_err(|e| format!("{url:?} is not an absolute URL ({e})"))?;
    if parsed.fragment().is_some() {
        return Err(format!("{url:?} must not have a fragment"));
    }
    let loopback = matches!(parsed.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err(format!("{url:?} must be https (http only on localhost)")),
    }
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
            let kind = match app.app_type.parse::<AppType>() {
                Ok(kind) => kind,
                Err(e) => return bad(format!("application {:?}: {e}", app.name)),
            };
            if let Err(e) = ClientId::parse(&app.client_id) {
                return bad(format!(
                    "application {:?}: {e} ({:?})",
                    app.name, app.client_id
                ));
            }
            let confidential = kind.is_confidential();
            match (&app.client_secret, confidential) {
                (Some(s), true) if s.len() >= 32 => {}
                (None, false) => {}
                (_, true) => {
                    return bad(format!(
                        "application {:?}: a {} application needs a client_secret of at least 32 characters",
                        app.name, app.app_type
                    ));
                }
                (Some(_), false) => {
                    return bad(format!(
                        "application {:?}: an spa application is a public client and has no client_secret",
                        app.name
                    ));
                }
            }
            for url in app.redirect_urls.iter().chain(&app.logout_urls) {
                check_registered_url(url)
                    .or_else(|why| bad(format!("application {:?}: {why}", app.name)))?;
            }
            if app.allow_password_grant && kind != AppType::Reg {
                return bad(format!(
                    "application {:?}: allow_password_grant is only for reg applications \
                     (a confidential client that authenticates with its secret)",
                    app.name
                ));
            }
            if !app.management_scopes.is_empty() && kind != AppType::M2m {
                return bad(format!(
                    "application {:?}: management_scopes are for m2m applications",
                    app.name
                ));
            }
            if let Some(unknown) = app
                .management_scopes
                .iter()
                .find(|s| *s != "*" && !crate::management::SCOPES.contains(&s.as_str()))
            {
                return bad(format!(
                    "application {:?}: {unknown:?} is not a management API scope",
                    app.name
                ));
            }
            if kind.signs_users_in() && app.redirect_urls.is_empty() {
                return bad(format!(
                    "application {:?}: a {} application needs at least one redirect_url",
                    app.name, app.app_type
                ));
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
        let permission = |k: &String| self.permissions.iter().any(|p| &p.key == k);
        for role in &self.roles {
            if let Some(p) = role.permissions.iter().find(|p| !permission(p)) {
                return bad(format!(
                    "role {:?} grants undefined permission {p:?}",
                    role.key
                ));
            }
        }
        let mut emails = std::collections::BTreeSet::new();
        for user in &self.users {
            let Ok(email) = Email::parse(&user.email) else {
                return bad(format!("user {:?}: not an email address", user.email));
            };
            if !emails.insert(email) {
                return bad(format!("user {:?} appears twice", user.email));
            }
            if let Some(p) = &user.password {
                crate::passwords::check_policy(p)
                    .or_else(|why| bad(format!("user {:?}: {why}", user.email)))?;
            }
            for m in &user.organizations {
                if !self.organizations.iter().any(|o| o.code == m.code) {
                    return bad(format!(
                        "user {:?}: undefined organization {:?}",
                        user.email, m.code
                    ));
                }
                if let Some(r) = m
                    .roles
                    .iter()
                    .find(|r| !self.roles.iter().any(|x| &&x.key == r))
                {
                    return bad(format!("user {:?}: undefined role {r:?}", user.email));
                }
                if let Some(p) = m.permissions.iter().find(|p| !permission(p)) {
                    return bad(format!("user {:?}: undefined permission {p:?}", user.email));
                }
            }
        }
        for flag in &self.feature_flags {
            let ok = |v: &toml::Value| {
                crate::store::flag_value(&flag.flag_type, &flag_string(v)).is_some()
            };
            if !ok(&flag.default)
                || flag.environment.as_ref().is_some_and(|v| !ok(v))
                || flag.organizations.values().any(|v| !ok(v))
                || flag.users.values().any(|v| !ok(v))
            {
                return bad(format!(
                    "flag {:?}: every value must be a {} (type is bool, str or int)",
                    flag.key, flag.flag_type
                ));
            }
            if let Some(o) = flag
                .organizations
                .keys()
                .find(|c| !self.organizations.iter().any(|o| &&o.code == c))
            {
                return bad(format!("flag {:?}: undefined organization {o:?}", flag.key));
            }
            if let Some(u) = flag.users.keys().find(|e| {
                !emails
                    .iter()
                    .any(|known: &Email| known.as_str() == normalize_email(e))
            }) {
                return bad(format!("flag {:?}: undefined user {u:?}", flag.key));
            }
        }
        Ok(())
    }

    /// Writes the seed into the store (idempotent), timestamped by the system clock.
    pub async fn apply(&self, store: &Store) -> Result<(), ServerError> {
        use portcullis::clock::Clock as _;
        self.apply_at(store, portcullis::clock::SystemClock.now_secs())
            .await
    }

    /// [`Seed::apply`] at `now` (Unix seconds): what a server with its own
    /// [`Settings::clock`](crate::Settings::clock) uses.
    pub async fn apply_at(&self, store: &Store, now: i64) -> Result<(), ServerError> {
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
                    app_type: app
                        .app_type
                        .parse()
                        .map_err(|e| ServerError::Config(format!("seed file: {e}")))?,
                    client_id: ClientId::parse(&app.client_id)
                        .map_err(|e| ServerError::Config(format!("seed file: {e}")))?,
                    client_secret_sha256: app.client_secret.as_deref().map(hash_secret),
                    access_token_ttl: app.access_token_ttl,
                    password_grant: app.allow_password_grant,
                })
                .await?;
            if !app.management_scopes.is_empty() {
                let scopes: Vec<String> = if app.management_scopes.iter().any(|s| s == "*") {
                    crate::management::SCOPES
                        .iter()
                        .map(|s| (*s).to_owned())
                        .collect()
                } else {
                    app.management_scopes.clone()
                };
                store
                    .grant_api(&id, crate::store::MANAGEMENT_API_ID, &scopes)
                    .await?;
            }
            for grant in &app.apis {
                let api = store
                    .api_by_audience(&grant.audience)
                    .await?
                    .ok_or_else(|| ServerError::Config("seeded API vanished".into()))?;
                store.grant_api(&id, &api.id, &grant.scopes).await?;
            }
            store
                .set_application_urls(&id, "login", &app.redirect_urls)
                .await?;
            store
                .set_application_urls(&id, "logout", &app.logout_urls)
                .await?;
        }
        for p in &self.permissions {
            store
                .upsert_permission(&new_id("perm"), &p.key, p.name.as_deref().unwrap_or(&p.key))
                .await?;
        }
        for r in &self.roles {
            let id = store
                .upsert_role(&new_id("role"), &r.key, r.name.as_deref().unwrap_or(&r.key))
                .await?;
            store.set_role_permissions(&id, &r.permissions).await?;
        }
        for o in &self.organizations {
            store.upsert_organization(&o.code, &o.name, now).await?;
        }
        let mut user_ids = std::collections::BTreeMap::new();
        for u in &self.users {
            // Keep an existing hash when the seed's password still matches it: loading the seed
            // again changes nothing.
            let existing = store.user_by_email(&u.email).await?;
            let hash = match (
                &u.password,
                existing.as_ref().and_then(|e| e.password_hash.as_deref()),
            ) {
                (Some(p), Some(h)) if crate::passwords::verify(p, Some(h)).await? => None,
                (Some(p), _) => Some(crate::passwords::hash(p).await?),
                (None, _) => None,
            };
            let id = store
                .upsert_user(
                    &new_id("kp"),
                    &u.email,
                    u.given_name.as_deref(),
                    u.family_name.as_deref(),
                    hash.as_deref(),
                    existing.map_or(now, |e| e.updated_at),
                )
                .await?;
            for m in &u.organizations {
                store
                    .set_membership(&m.code, &id, &m.roles, &m.permissions)
                    .await?;
            }
            user_ids.insert(normalize_email(&u.email), id);
        }
        for f in &self.feature_flags {
            store
                .upsert_flag(
                    &f.key,
                    f.name.as_deref().unwrap_or(&f.key),
                    &f.flag_type,
                    &flag_string(&f.default),
                )
                .await?;
            if let Some(v) = &f.environment {
                store
                    .set_flag_override(&f.key, "env", "", &flag_string(v))
                    .await?;
            }
            for (org, v) in &f.organizations {
                store
                    .set_flag_override(&f.key, "org", org, &flag_string(v))
                    .await?;
            }
            for (email, v) in &f.users {
                let id = &user_ids[&normalize_email(email)];
                store
                    .set_flag_override(&f.key, "usr", id, &flag_string(v))
                    .await?;
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
        assert!(err("[[customers]]\nemail = \"a@b\"").contains("customers"));
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
        assert!(
            err(&app(&format!("{secret}allow_password_grant = true")))
                .contains("only for reg applications")
        );
        assert!(err(&app(secret).replace("m2m", "web")).contains("not one of"));
        for bad_id in ["", "a\tb", &"w".repeat(256)] {
            let text =
                app(secret).replace("client_id = \"w\"", &format!("client_id = \"{bad_id}\""));
            assert!(err(&text).contains("control characters"), "{bad_id:?}");
        }
        assert!(err(&app(secret).replace("m2m", "spa")).contains("public client"));
        assert!(err(&app("").replace("m2m", "spa")).contains("redirect_url"));
        for bad_url in [
            "/callback",
            "http://app.example.com/cb",
            "https://a.example/cb#x",
        ] {
            let text =
                app(&format!("{secret}redirect_urls = [\"{bad_url}\"]")).replace("m2m", "reg");
            assert!(
                err(&text).contains("redirect") || err(&text).contains(bad_url),
                "{bad_url}"
            );
        }
        let ok = app(&format!(
            "{secret}redirect_urls = [\"http://localhost:3000/callback\"]\nlogout_urls = [\"https://app.example.com/\"]"
        ))
        .replace("m2m", "reg");
        Seed::from_toml(&ok).unwrap().validate().unwrap();
    }
}
