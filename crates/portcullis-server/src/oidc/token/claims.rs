//! The payloads of the tokens this server signs, as typed structs serialized straight into the
//! token: one access-token shape for users and machines (Kinde's, with RFC 9068's `client_id`),
//! one ID-token shape (OIDC Core §2). Members are declared in lexicographic order, the order a
//! `serde_json` map writes them, so the payloads are byte for byte what they were when they
//! were built as maps.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::store::{FlagClaim, RoleClaim};

/// An access token (`typ: at+jwt`). The user-only members are absent from machine tokens.
#[derive(Serialize)]
pub(super) struct AccessClaims<'a> {
    pub(super) aud: &'a [String],
    pub(super) azp: &'a str,
    /// RFC 9068 §2.2: required in JWT access tokens.
    pub(super) client_id: &'a str,
    pub(super) exp: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) feature_flags: Option<&'a BTreeMap<String, FlagClaim>>,
    /// Kinde's grant type mark, `["client_credentials"]` on machine tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) gty: Option<[&'static str; 1]>,
    pub(super) iat: i64,
    pub(super) iss: &'a str,
    pub(super) jti: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) org_code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) permissions: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) roles: Option<&'a [RoleClaim]>,
    pub(super) scope: &'a str,
    pub(super) scp: Scopes<'a>,
    pub(super) sub: &'a str,
    /// Kinde's token version.
    pub(super) v: &'static str,
}

/// The scopes of a token, as a JSON array, without collecting them first.
pub(super) enum Scopes<'a> {
    /// A checked `scope` parameter: its space-separated parts.
    Requested(&'a str),
    /// A list of scopes.
    Listed(&'a [String]),
}

impl Serialize for Scopes<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Scopes::Requested(scope) => serializer.collect_seq(scope.split(' ')),
            Scopes::Listed(scopes) => serializer.collect_seq(scopes.iter()),
        }
    }
}

/// An ID token (`typ: JWT`). The profile members come with the `profile` scope, `email` with
/// `email`; a member without a value is absent.
#[derive(Serialize)]
pub(super) struct IdClaims<'a> {
    pub(super) at_hash: &'a str,
    pub(super) aud: [&'a str; 1],
    pub(super) auth_time: i64,
    pub(super) azp: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) email: Option<&'a str>,
    pub(super) exp: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) family_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) given_name: Option<&'a str>,
    pub(super) iat: i64,
    pub(super) iss: &'a str,
    pub(super) jti: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) nonce: Option<&'a str>,
    pub(super) org_codes: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) picture: Option<&'a str>,
    pub(super) sub: &'a str,
    pub(super) updated_at: i64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn flags_and_roles_serialize_as_the_maps_did() {
        let mut flags = BTreeMap::new();
        flags.insert(
            "theme".to_owned(),
            FlagClaim {
                t: "s",
                v: json!("dark"),
            },
        );
        let roles = [RoleClaim {
            id: "r1".into(),
            key: "admin".into(),
            name: "Admin".into(),
        }];
        let aud = ["https://api".to_owned()];
        let permissions = ["read".to_owned()];
        let claims = AccessClaims {
            aud: &aud,
            azp: "c",
            client_id: "c",
            exp: 2,
            feature_flags: Some(&flags),
            gty: None,
            iat: 1,
            iss: "https://issuer",
            jti: "j",
            org_code: Some("org_1"),
            permissions: Some(&permissions),
            roles: Some(&roles),
            scope: "openid email",
            scp: Scopes::Requested("openid email"),
            sub: "u",
            v: "2",
        };
        let expected = json!({
            "aud": aud, "azp": "c", "client_id": "c", "exp": 2,
            "feature_flags": {"theme": {"t": "s", "v": "dark"}},
            "iat": 1, "iss": "https://issuer", "jti": "j", "org_code": "org_1",
            "permissions": permissions, "roles": [{"id": "r1", "key": "admin", "name": "Admin"}],
            "scope": "openid email", "scp": ["openid", "email"], "sub": "u", "v": "2",
        });
        assert_eq!(
            serde_json::to_string(&claims).unwrap(),
            expected.to_string()
        );
    }
}
