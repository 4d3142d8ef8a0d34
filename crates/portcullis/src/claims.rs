//! Typed token claims, with Kinde-style helpers for permissions, roles, organizations, feature
//! flags and user details.
//!
//! [`Claims`] holds the registered claims (RFC 7519, OIDC Core, RFC 9068), Kinde's claims
//! (`permissions`, `roles`, `org_code`, `org_codes`, `org_name`, `feature_flags`, `scp`), the user
//! profile claims, and every other claim in [`Claims::extra`]. Kinde's Hasura-style aliases
//! (`x-hasura-permissions`, `x-hasura-roles`, `x-hasura-org-code`, `x-hasura-org-codes`,
//! `x-hasura-feature-flags`) fill the same fields when the plain claim is absent.
//!
//! ```
//! use portcullis::Claims;
//!
//! let claims: Claims = serde_json::from_str(r#"{
//!     "sub": "kp_123", "org_code": "org_abc",
//!     "permissions": ["read:todos"],
//!     "roles": [{"id": "r1", "key": "admin", "name": "Admin"}],
//!     "feature_flags": {"theme": {"t": "s", "v": "pink"}, "beta": {"t": "b", "v": true}},
//!     "scp": ["openid", "email"]
//! }"#)?;
//!
//! assert!(claims.permission("read:todos").is_granted);
//! assert_eq!(claims.permission("read:todos").org_code, Some("org_abc"));
//! assert!(claims.has_role("admin"));
//! assert_eq!(claims.string_flag("theme", None)?, "pink");
//! assert_eq!(claims.integer_flag("limit", Some(5))?, 5);
//! assert!(claims.bool_flag("theme", None).is_err()); // a string flag, not a boolean
//! assert!(claims.has_scope("email"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, DeserializeOwned, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::error::ClaimError;

/// A role as Kinde puts it in the `roles` claim: `{"id", "key", "name"}`.
///
/// A plain string in the claim (as some providers emit) becomes a role with only a `key`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Role {
    /// The role's id, when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The role's key (`admin`): what guards check.
    pub key: String,
    /// The role's display name, when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl<'de> Deserialize<'de> for Role {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Key(String),
            Full {
                #[serde(default)]
                id: Option<String>,
                key: String,
                #[serde(default)]
                name: Option<String>,
            },
        }
        Ok(match Repr::deserialize(d)? {
            Repr::Key(key) => Role {
                id: None,
                key,
                name: None,
            },
            Repr::Full { id, key, name } => Role { id, key, name },
        })
    }
}

/// The value of a feature flag.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum FlagValue {
    /// A boolean flag (`"t": "b"`).
    Bool(bool),
    /// A string flag (`"t": "s"`).
    String(String),
    /// An integer flag (`"t": "i"`).
    Integer(i64),
    /// A flag of a type this crate does not know; kept as it came.
    Other(Value),
}

impl FlagValue {
    /// The type name used in errors: `boolean`, `string`, `integer` or `unknown`.
    pub fn type_name(&self) -> &'static str {
        match self {
            FlagValue::Bool(_) => "boolean",
            FlagValue::String(_) => "string",
            FlagValue::Integer(_) => "integer",
            FlagValue::Other(_) => "unknown",
        }
    }

    /// Kinde's one-letter type code: `b`, `s`, `i` (or `?`).
    pub fn type_code(&self) -> &'static str {
        match self {
            FlagValue::Bool(_) => "b",
            FlagValue::String(_) => "s",
            FlagValue::Integer(_) => "i",
            FlagValue::Other(_) => "?",
        }
    }
}

impl From<bool> for FlagValue {
    fn from(v: bool) -> Self {
        FlagValue::Bool(v)
    }
}
impl From<i64> for FlagValue {
    fn from(v: i64) -> Self {
        FlagValue::Integer(v)
    }
}
impl From<&str> for FlagValue {
    fn from(v: &str) -> Self {
        FlagValue::String(v.to_owned())
    }
}
impl From<String> for FlagValue {
    fn from(v: String) -> Self {
        FlagValue::String(v)
    }
}

impl Serialize for FlagValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        if let FlagValue::Other(v) = self {
            return v.serialize(s);
        }
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("t", self.type_code())?;
        match self {
            FlagValue::Bool(b) => m.serialize_entry("v", b)?,
            FlagValue::String(v) => m.serialize_entry("v", v)?,
            FlagValue::Integer(i) => m.serialize_entry("v", i)?,
            FlagValue::Other(_) => {}
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for FlagValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        Ok(match (v.get("t").and_then(Value::as_str), v.get("v")) {
            (Some("b"), Some(Value::Bool(b))) => FlagValue::Bool(*b),
            (Some("s"), Some(Value::String(s))) => FlagValue::String(s.clone()),
            (Some("i"), Some(n)) if n.as_i64().is_some() => {
                FlagValue::Integer(n.as_i64().unwrap_or_default())
            }
            _ => FlagValue::Other(v),
        })
    }
}

/// A feature flag as Kinde's `get_flag` returns it.
#[derive(Debug, Clone, PartialEq)]
pub struct Flag {
    /// The flag's key.
    pub code: String,
    /// The flag's value.
    pub value: FlagValue,
    /// Whether `value` is the caller's default (the flag was not in the token).
    pub is_default: bool,
}

impl Flag {
    /// Kinde's type code (`b`, `s`, `i`).
    pub fn type_code(&self) -> &'static str {
        self.value.type_code()
    }
}

/// Whether the user holds a permission, in which organization (Kinde's `get_permission`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Permission<'a> {
    /// The organization the token was issued for.
    pub org_code: Option<&'a str>,
    /// Whether the permission is in the token.
    pub is_granted: bool,
}

/// All the user's permissions in the organization the token was issued for
/// (Kinde's `get_permissions`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Permissions<'a> {
    /// The organization the token was issued for.
    pub org_code: Option<&'a str>,
    /// The permission keys.
    pub permissions: &'a [String],
}

/// The organization the token was issued for (Kinde's `get_organization`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Organization<'a> {
    /// Its code (`org_...`).
    pub org_code: Option<&'a str>,
    /// Its name, when the token carries `org_name`.
    pub org_name: Option<&'a str>,
}

/// Every organization the user belongs to (Kinde's `get_user_organizations`, from the ID token).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserOrganizations<'a> {
    /// Their codes.
    pub org_codes: &'a [String],
}

/// The user's profile (Kinde's `get_user_details`, from the ID token).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserDetails<'a> {
    /// The user id (`sub`).
    pub id: Option<&'a str>,
    /// Given name.
    pub given_name: Option<&'a str>,
    /// Family name.
    pub family_name: Option<&'a str>,
    /// Email address.
    pub email: Option<&'a str>,
    /// Picture URL.
    pub picture: Option<&'a str>,
}

/// The audience claim: one string or an array of strings, kept as a list.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(transparent)]
pub struct Audience(pub Vec<String>);

impl Audience {
    /// Whether `aud` contains `audience`.
    pub fn contains(&self, audience: &str) -> bool {
        self.0.iter().any(|a| a == audience)
    }
    /// The audiences.
    pub fn as_slice(&self) -> &[String] {
        &self.0
    }
    /// Whether the claim listed no audience.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'de> Deserialize<'de> for Audience {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Audience;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or an array of strings")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Audience, E> {
                Ok(Audience(vec![v.to_owned()]))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Audience, E> {
                Ok(Audience(vec![v]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Audience, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(1).min(16));
                while let Some(s) = seq.next_element::<String>()? {
                    out.push(s);
                }
                Ok(Audience(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// A NumericDate (RFC 7519 §2): integer or fractional seconds, kept as whole seconds (floor,
/// saturating), so `1e300` or `-1` can never overflow later arithmetic.
fn numeric_date<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = i64;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a number of seconds")
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<i64, E> {
            Ok(v)
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<i64, E> {
            Ok(i64::try_from(v).unwrap_or(i64::MAX))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<i64, E> {
            if v.is_finite() {
                // `as` saturates at i64::MIN/MAX.
                Ok(v.floor() as i64)
            } else {
                Err(E::custom("not a finite number"))
            }
        }
    }
    d.deserialize_any(V)
}

/// The claims of an access token or ID token.
///
/// Fields are public for reading; prefer the helpers, which follow Kinde's SDK semantics.
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct Claims {
    /// `iss`: who issued the token.
    pub iss: Option<String>,
    /// `sub`: the user (or, for machine tokens, the client) the token is about.
    pub sub: Option<String>,
    /// `aud`: who the token is for.
    pub aud: Audience,
    /// `exp`: expiry, seconds since the epoch.
    pub exp: Option<i64>,
    /// `nbf`: not before, seconds since the epoch.
    pub nbf: Option<i64>,
    /// `iat`: issued at, seconds since the epoch.
    pub iat: Option<i64>,
    /// `jti`: unique token id.
    pub jti: Option<String>,
    /// `azp`: the client the token was issued to.
    pub azp: Option<String>,
    /// `client_id` (RFC 9068).
    pub client_id: Option<String>,
    /// `scope`: space-separated scopes (RFC 9068).
    pub scope: Option<String>,
    /// `scp`: scopes as an array (Kinde).
    pub scp: Option<Vec<String>>,
    /// `permissions` (Kinde), or `x-hasura-permissions`.
    pub permissions: Vec<String>,
    /// `roles` (Kinde), or `x-hasura-roles`.
    pub roles: Vec<Role>,
    /// `org_code` (Kinde), or `x-hasura-org-code`.
    pub org_code: Option<String>,
    /// `org_codes` (Kinde ID token), or `x-hasura-org-codes`.
    pub org_codes: Vec<String>,
    /// `org_name` (Kinde).
    pub org_name: Option<String>,
    /// `feature_flags` (Kinde), or `x-hasura-feature-flags`.
    pub feature_flags: BTreeMap<String, FlagValue>,
    /// `email`.
    pub email: Option<String>,
    /// `email_verified`.
    pub email_verified: Option<bool>,
    /// `name`.
    pub name: Option<String>,
    /// `given_name`.
    pub given_name: Option<String>,
    /// `family_name`.
    pub family_name: Option<String>,
    /// `picture`.
    pub picture: Option<String>,
    /// `preferred_username`.
    pub preferred_username: Option<String>,
    /// `updated_at`, seconds since the epoch.
    pub updated_at: Option<i64>,
    /// `provided_id` (Kinde: the id the app gave the user).
    pub provided_id: Option<String>,
    /// `external_org_id` (Kinde).
    pub external_org_id: Option<String>,
    /// `nonce` (ID tokens).
    pub nonce: Option<String>,
    /// `at_hash` (ID tokens).
    pub at_hash: Option<String>,
    /// `c_hash` (ID tokens, hybrid flow).
    pub c_hash: Option<String>,
    /// `auth_time`, seconds since the epoch.
    pub auth_time: Option<i64>,
    /// `sid`: the provider's session id.
    pub sid: Option<String>,
    /// Every other claim.
    pub extra: Map<String, Value>,
}

/// Names of the claims held in typed fields (for the parser's error messages).
const KNOWN: &[&str] = &[
    "iss",
    "sub",
    "aud",
    "exp",
    "nbf",
    "iat",
    "jti",
    "azp",
    "client_id",
    "scope",
    "scp",
    "permissions",
    "roles",
    "org_code",
    "org_codes",
    "org_name",
    "feature_flags",
    "email",
    "email_verified",
    "name",
    "given_name",
    "family_name",
    "picture",
    "preferred_username",
    "updated_at",
    "provided_id",
    "external_org_id",
    "nonce",
    "at_hash",
    "c_hash",
    "auth_time",
    "sid",
    "x-hasura-permissions",
    "x-hasura-roles",
    "x-hasura-org-code",
    "x-hasura-org-codes",
    "x-hasura-feature-flags",
];

/// Prefix of the parser's error for a claim of the wrong type; the verifier maps it to
/// [`Reason::InvalidClaim`](crate::Reason::InvalidClaim) with the claim's name.
pub(crate) const INVALID_CLAIM_PREFIX: &str = "invalid claim: ";

/// The static name of a known claim, for error reporting.
pub(crate) fn known_claim_name(name: &str) -> Option<&'static str> {
    KNOWN.iter().copied().find(|k| *k == name)
}

impl<'de> Deserialize<'de> for Claims {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(ClaimsVisitor)
    }
}

struct ClaimsVisitor;

/// `Option<T>` that rejects a repeated member (RFC 7519 §4: duplicate claim names are invalid
/// for us, as they are ambiguous between parsers).
fn set<'de, A, T>(map: &mut A, slot: &mut Option<T>, name: &'static str) -> Result<(), A::Error>
where
    A: MapAccess<'de>,
    T: Deserialize<'de>,
{
    if slot.is_some() {
        return Err(de::Error::custom(format_args!(
            "{INVALID_CLAIM_PREFIX}{name} (duplicate)"
        )));
    }
    let v = map
        .next_value::<T>()
        .map_err(|e| de::Error::custom(format_args!("{INVALID_CLAIM_PREFIX}{name} ({e})")))?;
    *slot = Some(v);
    Ok(())
}

fn set_date<'de, A: MapAccess<'de>>(
    map: &mut A,
    slot: &mut Option<i64>,
    name: &'static str,
) -> Result<(), A::Error> {
    struct Date(i64);
    impl<'de> Deserialize<'de> for Date {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            numeric_date(d).map(Date)
        }
    }
    let mut tmp: Option<Date> = None;
    if slot.is_some() {
        return Err(de::Error::custom(format_args!(
            "{INVALID_CLAIM_PREFIX}{name} (duplicate)"
        )));
    }
    set(map, &mut tmp, name)?;
    *slot = tmp.map(|d| d.0);
    Ok(())
}

impl<'de> Visitor<'de> for ClaimsVisitor {
    type Value = Claims;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object of claims")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Claims, A::Error> {
        let mut c = Claims::default();
        let mut aud: Option<Audience> = None;
        let mut permissions: Option<Vec<String>> = None;
        let mut roles: Option<Vec<Role>> = None;
        let mut org_codes: Option<Vec<String>> = None;
        let mut flags: Option<BTreeMap<String, FlagValue>> = None;
        let mut h_permissions: Option<Vec<String>> = None;
        let mut h_roles: Option<Vec<Role>> = None;
        let mut h_org_code: Option<String> = None;
        let mut h_org_codes: Option<Vec<String>> = None;
        let mut h_flags: Option<BTreeMap<String, FlagValue>> = None;
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            match key.as_ref() {
                "iss" => set(&mut map, &mut c.iss, "iss")?,
                "sub" => set(&mut map, &mut c.sub, "sub")?,
                "aud" => set(&mut map, &mut aud, "aud")?,
                "exp" => set_date(&mut map, &mut c.exp, "exp")?,
                "nbf" => set_date(&mut map, &mut c.nbf, "nbf")?,
                "iat" => set_date(&mut map, &mut c.iat, "iat")?,
                "jti" => set(&mut map, &mut c.jti, "jti")?,
                "azp" => set(&mut map, &mut c.azp, "azp")?,
                "client_id" => set(&mut map, &mut c.client_id, "client_id")?,
                "scope" => set(&mut map, &mut c.scope, "scope")?,
                "scp" => set(&mut map, &mut c.scp, "scp")?,
                "permissions" => set(&mut map, &mut permissions, "permissions")?,
                "roles" => set(&mut map, &mut roles, "roles")?,
                "org_code" => set(&mut map, &mut c.org_code, "org_code")?,
                "org_codes" => set(&mut map, &mut org_codes, "org_codes")?,
                "org_name" => set(&mut map, &mut c.org_name, "org_name")?,
                "feature_flags" => set(&mut map, &mut flags, "feature_flags")?,
                "email" => set(&mut map, &mut c.email, "email")?,
                "email_verified" => set(&mut map, &mut c.email_verified, "email_verified")?,
                "name" => set(&mut map, &mut c.name, "name")?,
                "given_name" => set(&mut map, &mut c.given_name, "given_name")?,
                "family_name" => set(&mut map, &mut c.family_name, "family_name")?,
                "picture" => set(&mut map, &mut c.picture, "picture")?,
                "preferred_username" => {
                    set(&mut map, &mut c.preferred_username, "preferred_username")?
                }
                "updated_at" => set_date(&mut map, &mut c.updated_at, "updated_at")?,
                "provided_id" => set(&mut map, &mut c.provided_id, "provided_id")?,
                "external_org_id" => set(&mut map, &mut c.external_org_id, "external_org_id")?,
                "nonce" => set(&mut map, &mut c.nonce, "nonce")?,
                "at_hash" => set(&mut map, &mut c.at_hash, "at_hash")?,
                "c_hash" => set(&mut map, &mut c.c_hash, "c_hash")?,
                "auth_time" => set_date(&mut map, &mut c.auth_time, "auth_time")?,
                "sid" => set(&mut map, &mut c.sid, "sid")?,
                "x-hasura-permissions" => {
                    set(&mut map, &mut h_permissions, "x-hasura-permissions")?
                }
                "x-hasura-roles" => set(&mut map, &mut h_roles, "x-hasura-roles")?,
                "x-hasura-org-code" => set(&mut map, &mut h_org_code, "x-hasura-org-code")?,
                "x-hasura-org-codes" => set(&mut map, &mut h_org_codes, "x-hasura-org-codes")?,
                "x-hasura-feature-flags" => set(&mut map, &mut h_flags, "x-hasura-feature-flags")?,
                other => {
                    let value: Value = map.next_value()?;
                    if c.extra.insert(other.to_owned(), value).is_some() {
                        return Err(de::Error::custom(format_args!("duplicate claim {other:?}")));
                    }
                }
            }
        }
        c.aud = aud.unwrap_or_default();
        c.permissions = permissions.or(h_permissions).unwrap_or_default();
        c.roles = roles.or(h_roles).unwrap_or_default();
        c.org_code = c.org_code.or(h_org_code);
        c.org_codes = org_codes.or(h_org_codes).unwrap_or_default();
        c.feature_flags = flags.or(h_flags).unwrap_or_default();
        Ok(c)
    }
}

impl Serialize for Claims {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        macro_rules! opt {
            ($($field:ident),*) => {$(
                if let Some(v) = &self.$field {
                    m.serialize_entry(stringify!($field), v)?;
                }
            )*};
        }
        macro_rules! list {
            ($($field:ident),*) => {$(
                if !self.$field.is_empty() {
                    m.serialize_entry(stringify!($field), &self.$field)?;
                }
            )*};
        }
        opt!(iss, sub);
        list!(aud);
        opt!(exp, nbf, iat, jti, azp, client_id, scope, scp);
        list!(permissions, roles);
        opt!(org_code);
        list!(org_codes);
        opt!(org_name);
        list!(feature_flags);
        opt!(
            email,
            email_verified,
            name,
            given_name,
            family_name,
            picture,
            preferred_username,
            updated_at,
            provided_id,
            external_org_id,
            nonce,
            at_hash,
            c_hash,
            auth_time,
            sid
        );
        for (k, v) in &self.extra {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

impl Claims {
    /// Any claim by name, as JSON (Kinde's `get_claim`). Typed claims are converted back to
    /// their JSON form; unknown claims come from [`Claims::extra`].
    pub fn claim(&self, name: &str) -> Option<Value> {
        if let Some(v) = self.extra.get(name) {
            return Some(v.clone());
        }
        known_claim_name(name)?;
        // Rare path: serialize and pick. Keeps one source of truth for the JSON form.
        match serde_json::to_value(self) {
            Ok(Value::Object(mut m)) => m.remove(name),
            _ => None,
        }
    }

    /// A claim converted to `T`; `Ok(None)` when absent.
    pub fn claim_as<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>, ClaimError> {
        match self.claim(name) {
            None => Ok(None),
            // serde's message would quote the value (an email, say): errors never echo claims.
            Some(v) => serde_json::from_value(v)
                .map(Some)
                .map_err(|_| ClaimError::Invalid {
                    name: name.to_owned(),
                    message: "the claim's JSON type does not fit the requested type".to_owned(),
                }),
        }
    }

    /// The subject (`sub`).
    pub fn subject(&self) -> Option<&str> {
        self.sub.as_deref()
    }

    /// The client the token was issued to: `azp`, else `client_id`.
    pub fn authorized_party(&self) -> Option<&str> {
        self.azp.as_deref().or(self.client_id.as_deref())
    }

    /// Whether the token grants `key`, and in which organization (Kinde's `get_permission`).
    pub fn permission(&self, key: &str) -> Permission<'_> {
        Permission {
            org_code: self.org_code.as_deref(),
            is_granted: self.has_permission(key),
        }
    }

    /// Whether `permissions` contains `key`.
    pub fn has_permission(&self, key: &str) -> bool {
        self.permissions.iter().any(|p| p == key)
    }

    /// All permissions, with the organization (Kinde's `get_permissions`).
    pub fn permissions(&self) -> Permissions<'_> {
        Permissions {
            org_code: self.org_code.as_deref(),
            permissions: &self.permissions,
        }
    }

    /// The organization the token was issued for (Kinde's `get_organization`).
    pub fn organization(&self) -> Organization<'_> {
        Organization {
            org_code: self.org_code.as_deref(),
            org_name: self.org_name.as_deref(),
        }
    }

    /// Every organization the user belongs to (Kinde's `get_user_organizations`; from the ID
    /// token's `org_codes`).
    pub fn user_organizations(&self) -> UserOrganizations<'_> {
        UserOrganizations {
            org_codes: &self.org_codes,
        }
    }

    /// The user's profile (Kinde's `get_user_details`; from the ID token).
    pub fn user_details(&self) -> UserDetails<'_> {
        UserDetails {
            id: self.sub.as_deref(),
            given_name: self.given_name.as_deref(),
            family_name: self.family_name.as_deref(),
            email: self.email.as_deref(),
            picture: self.picture.as_deref(),
        }
    }

    /// The user's roles.
    pub fn roles(&self) -> &[Role] {
        &self.roles
    }

    /// Whether the user has the role with this key.
    pub fn has_role(&self, key: &str) -> bool {
        self.roles.iter().any(|r| r.key == key)
    }

    /// The granted scopes: `scp` when present, else the space-separated `scope`.
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        let from_scp = self.scp.as_deref().map(|s| s.iter().map(String::as_str));
        let from_scope = match &self.scp {
            Some(_) => None,
            None => self.scope.as_deref().map(str::split_ascii_whitespace),
        };
        from_scp
            .into_iter()
            .flatten()
            .chain(from_scope.into_iter().flatten())
    }

    /// Whether `scope` was granted.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes().any(|s| s == scope)
    }

    /// A feature flag (Kinde's `get_flag`). Absent from the token: `default` if given (with
    /// `is_default: true`), else [`ClaimError::FlagNotFound`].
    pub fn flag(&self, code: &str, default: Option<FlagValue>) -> Result<Flag, ClaimError> {
        match (self.feature_flags.get(code), default) {
            (Some(v), _) => Ok(Flag {
                code: code.to_owned(),
                value: v.clone(),
                is_default: false,
            }),
            (None, Some(d)) => Ok(Flag {
                code: code.to_owned(),
                value: d,
                is_default: true,
            }),
            (None, None) => Err(ClaimError::FlagNotFound {
                code: code.to_owned(),
            }),
        }
    }

    fn typed_flag<T>(
        &self,
        code: &str,
        default: Option<T>,
        requested: &'static str,
        pick: impl Fn(&FlagValue) -> Option<T>,
    ) -> Result<T, ClaimError> {
        match self.feature_flags.get(code) {
            Some(v) => pick(v).ok_or_else(|| ClaimError::FlagTypeMismatch {
                code: code.to_owned(),
                requested,
                actual: v.type_name(),
            }),
            None => default.ok_or_else(|| ClaimError::FlagNotFound {
                code: code.to_owned(),
            }),
        }
    }

    /// A boolean flag (Kinde's `get_boolean_flag`).
    pub fn bool_flag(&self, code: &str, default: Option<bool>) -> Result<bool, ClaimError> {
        self.typed_flag(code, default, "boolean", |v| match v {
            FlagValue::Bool(b) => Some(*b),
            _ => None,
        })
    }

    /// A string flag (Kinde's `get_string_flag`).
    pub fn string_flag(&self, code: &str, default: Option<&str>) -> Result<String, ClaimError> {
        self.typed_flag(code, default.map(str::to_owned), "string", |v| match v {
            FlagValue::String(s) => Some(s.clone()),
            _ => None,
        })
    }

    /// An integer flag (Kinde's `get_integer_flag`).
    pub fn integer_flag(&self, code: &str, default: Option<i64>) -> Result<i64, ClaimError> {
        self.typed_flag(code, default, "integer", |v| match v {
            FlagValue::Integer(i) => Some(*i),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn kinde_access_token_claims() -> Value {
        json!({
            "aud": ["api.example.com"], "azp": "cid", "exp": 1693371599, "iat": 1693285199,
            "iss": "https://acme.kinde.com", "jti": "j1", "sub": "kp_1",
            "org_code": "org_1", "permissions": ["create:todos", "read:todos"],
            "scp": ["openid", "profile", "email", "offline"],
            "feature_flags": {
                "analytics": {"t": "b", "v": true},
                "theme": {"t": "s", "v": "pink"},
                "competitions_limit": {"t": "i", "v": 5},
                "odd": {"t": "j", "v": {"x": 1}}
            },
            "roles": [{"id": "r1", "key": "admin", "name": "Admin"}, "viewer"],
            "custom": {"a": [1, 2]}
        })
    }

    #[test]
    fn parses_kinde_access_token() {
        let c: Claims = serde_json::from_value(kinde_access_token_claims()).unwrap();
        assert_eq!(c.iss.as_deref(), Some("https://acme.kinde.com"));
        assert!(c.aud.contains("api.example.com"));
        assert_eq!(c.exp, Some(1693371599));
        assert_eq!(c.permissions().permissions.len(), 2);
        assert_eq!(
            c.permission("read:todos"),
            Permission {
                org_code: Some("org_1"),
                is_granted: true
            }
        );
        assert!(!c.permission("delete:todos").is_granted);
        assert!(c.has_role("admin") && c.has_role("viewer") && !c.has_role("owner"));
        assert_eq!(c.roles()[0].name.as_deref(), Some("Admin"));
        assert!(c.bool_flag("analytics", None).unwrap());
        assert_eq!(c.string_flag("theme", None).unwrap(), "pink");
        assert_eq!(c.integer_flag("competitions_limit", None).unwrap(), 5);
        assert_eq!(c.extra["custom"], json!({"a": [1, 2]}));
        assert!(matches!(c.feature_flags["odd"], FlagValue::Other(_)));
        assert_eq!(c.claim("org_code"), Some(json!("org_1")));
        assert_eq!(c.claim("custom"), Some(json!({"a": [1, 2]})));
        assert_eq!(c.claim("nope"), None);
        assert_eq!(
            c.scopes().collect::<Vec<_>>(),
            ["openid", "profile", "email", "offline"]
        );
    }

    #[test]
    fn flag_semantics_follow_kinde() {
        let c: Claims = serde_json::from_value(kinde_access_token_claims()).unwrap();
        let f = c.flag("theme", None).unwrap();
        assert_eq!(
            (f.value.clone(), f.is_default, f.type_code()),
            (FlagValue::from("pink"), false, "s")
        );
        let f = c.flag("missing", Some(true.into())).unwrap();
        assert!(f.is_default);
        assert_eq!(
            c.flag("missing", None),
            Err(ClaimError::FlagNotFound {
                code: "missing".into()
            })
        );
        assert_eq!(c.bool_flag("missing", Some(false)), Ok(false));
        assert_eq!(c.string_flag("missing", Some("x")).unwrap(), "x");
        let err = c.integer_flag("theme", Some(1)).unwrap_err();
        assert_eq!(
            err,
            ClaimError::FlagTypeMismatch {
                code: "theme".into(),
                requested: "integer",
                actual: "string"
            }
        );
        assert!(err.to_string().contains("string") && err.to_string().contains("integer"));
        assert!(c.bool_flag("competitions_limit", None).is_err());
    }

    #[test]
    fn hasura_aliases_fill_in() {
        let c: Claims = serde_json::from_value(json!({
            "x-hasura-permissions": ["read:x"],
            "x-hasura-roles": ["admin"],
            "x-hasura-org-code": "org_h",
            "x-hasura-org-codes": ["org_h", "org_i"],
            "x-hasura-feature-flags": {"f": {"t": "b", "v": false}}
        }))
        .unwrap();
        assert!(c.has_permission("read:x"));
        assert!(c.has_role("admin"));
        assert_eq!(c.organization().org_code, Some("org_h"));
        assert_eq!(c.user_organizations().org_codes.len(), 2);
        assert!(!c.bool_flag("f", None).unwrap());
        // The plain claim wins over the alias.
        let c: Claims = serde_json::from_value(json!({
            "permissions": ["a"], "x-hasura-permissions": ["b"]
        }))
        .unwrap();
        assert_eq!(c.permissions, ["a"]);
    }

    #[test]
    fn numeric_dates_are_saturating() {
        let c: Claims = serde_json::from_str(
            r#"{"exp": 1e300, "nbf": -1, "iat": 1.5e9, "auth_time": 18446744073709551615}"#,
        )
        .unwrap();
        assert_eq!(c.exp, Some(i64::MAX));
        assert_eq!(c.nbf, Some(-1));
        assert_eq!(c.iat, Some(1_500_000_000));
        assert_eq!(c.auth_time, Some(i64::MAX));
    }

    #[test]
    fn wrong_types_and_duplicates_are_errors() {
        for bad in [
            r#"{"sub": 5}"#,
            r#"{"aud": ["a", 5]}"#,
            r#"{"aud": {"x": 1}}"#,
            r#"{"exp": "soon"}"#,
            r#"{"iss": "a", "iss": "b"}"#,
            r#"{"x": 1, "x": 2}"#,
            r#"[]"#,
        ] {
            assert!(serde_json::from_str::<Claims>(bad).is_err(), "{bad}");
        }
        let e = serde_json::from_str::<Claims>(r#"{"sub": 5}"#).unwrap_err();
        assert!(e.to_string().starts_with("invalid claim: sub"), "{e}");
    }

    #[test]
    fn user_details_and_scope_string() {
        let c: Claims = serde_json::from_value(json!({
            "sub": "kp_1", "given_name": "Ada", "family_name": "Lovelace",
            "email": "ada@example.com", "picture": "https://p", "scope": "openid  email",
            "org_codes": ["org_1"]
        }))
        .unwrap();
        let u = c.user_details();
        assert_eq!(
            (u.id, u.given_name, u.family_name, u.email, u.picture),
            (
                Some("kp_1"),
                Some("Ada"),
                Some("Lovelace"),
                Some("ada@example.com"),
                Some("https://p")
            )
        );
        assert!(c.has_scope("email") && !c.has_scope("profile"));
        assert_eq!(c.user_organizations().org_codes, ["org_1"]);
    }

    #[test]
    fn round_trips_through_json() {
        let c: Claims = serde_json::from_value(kinde_access_token_claims()).unwrap();
        let again: Claims = serde_json::from_value(serde_json::to_value(&c).unwrap()).unwrap();
        assert_eq!(c, again);
    }
}
