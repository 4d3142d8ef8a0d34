//! OpenID provider metadata (OIDC Discovery 1.0 / RFC 8414), with Kinde's default paths as the
//! fallback when a provider publishes no discovery document.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::FetchError;
use crate::http::HttpClient;

/// What a provider says about itself at `/.well-known/openid-configuration`.
///
/// Only `issuer` and `jwks_uri` are required here; the client flows check for the endpoints they
/// use when they use them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ProviderMetadata {
    /// The issuer identifier; must equal the configured issuer exactly.
    pub issuer: String,
    /// Where the provider publishes its signing keys.
    pub jwks_uri: String,
    /// The authorization endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_endpoint: Option<String>,
    /// The token endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint: Option<String>,
    /// The UserInfo endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userinfo_endpoint: Option<String>,
    /// The RP-initiated logout endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_session_endpoint: Option<String>,
    /// The RFC 7009 revocation endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation_endpoint: Option<String>,
    /// The RFC 7662 introspection endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub introspection_endpoint: Option<String>,
    /// Scopes the provider supports.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes_supported: Vec<String>,
    /// Response types the provider supports.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub response_types_supported: Vec<String>,
    /// Grant types the provider supports.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub grant_types_supported: Vec<String>,
    /// Signing algorithms used for ID tokens.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub id_token_signing_alg_values_supported: Vec<String>,
    /// Client authentication methods at the token endpoint.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub token_endpoint_auth_methods_supported: Vec<String>,
    /// PKCE methods supported.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub code_challenge_methods_supported: Vec<String>,
    /// Whether every authorization response carries `iss` (RFC 9207). When `true`, a sign-in
    /// callback without it is refused as a possible mix-up attack (RFC 9207 §2.4).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub authorization_response_iss_parameter_supported: bool,
    /// Subject identifier types (`public`, `pairwise`); OIDC Discovery requires it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subject_types_supported: Vec<String>,
    /// `prompt` values the authorization endpoint understands.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prompt_values_supported: Vec<String>,
    /// Claims the provider may put in tokens and UserInfo answers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub claims_supported: Vec<String>,
    /// Whether request objects (`request`) are accepted; absent means `false`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_parameter_supported: Option<bool>,
    /// Whether `request_uri` is accepted; OIDC Discovery reads an absent member as `true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_uri_parameter_supported: Option<bool>,
    /// How callers authenticate at the introspection endpoint: client authentication methods,
    /// or access token types such as `Bearer` (RFC 8414 §2).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub introspection_endpoint_auth_methods_supported: Vec<String>,
    /// How callers authenticate at the revocation endpoint.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub revocation_endpoint_auth_methods_supported: Vec<String>,
    /// Every other member of the document.
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}

impl ProviderMetadata {
    /// The metadata Kinde's SDKs assume when no discovery document is fetched: its default
    /// endpoint paths under the issuer.
    pub fn kinde_defaults(issuer: &str) -> Self {
        let base = issuer.trim_end_matches('/');
        let at = |path: &str| format!("{base}{path}");
        ProviderMetadata {
            issuer: issuer.to_owned(),
            jwks_uri: at("/.well-known/jwks.json"),
            authorization_endpoint: Some(at("/oauth2/auth")),
            token_endpoint: Some(at("/oauth2/token")),
            userinfo_endpoint: Some(at("/oauth2/v2/user_profile")),
            end_session_endpoint: Some(at("/logout")),
            revocation_endpoint: Some(at("/oauth2/revoke")),
            introspection_endpoint: Some(at("/oauth2/introspect")),
            scopes_supported: Vec::new(),
            response_types_supported: vec!["code".to_owned()],
            grant_types_supported: Vec::new(),
            id_token_signing_alg_values_supported: vec!["RS256".to_owned()],
            token_endpoint_auth_methods_supported: Vec::new(),
            code_challenge_methods_supported: vec!["S256".to_owned()],
            authorization_response_iss_parameter_supported: false,
            subject_types_supported: Vec::new(),
            prompt_values_supported: Vec::new(),
            claims_supported: Vec::new(),
            request_parameter_supported: None,
            request_uri_parameter_supported: None,
            introspection_endpoint_auth_methods_supported: Vec::new(),
            revocation_endpoint_auth_methods_supported: Vec::new(),
            other: BTreeMap::new(),
        }
    }

    /// The discovery URL for `issuer` (OIDC Discovery §4.1: the issuer with any trailing slash
    /// removed, then `/.well-known/openid-configuration`).
    pub fn discovery_url(issuer: &str) -> String {
        format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        )
    }

    /// Parses a discovery document and checks it belongs to `expected_issuer`.
    pub fn from_json(expected_issuer: &str, url: &str, body: &[u8]) -> Result<Self, FetchError> {
        let metadata: ProviderMetadata =
            serde_json::from_slice(body).map_err(|e| FetchError::InvalidDocument {
                url: url.to_owned(),
                message: e.to_string(),
            })?;
        // OIDC Discovery §4.3 / RFC 8414 §3.3: exactly the same string, no normalization.
        if metadata.issuer != expected_issuer {
            return Err(FetchError::IssuerMismatch {
                expected: expected_issuer.to_owned(),
                found: metadata.issuer,
            });
        }
        Ok(metadata)
    }
}

/// Fetches the provider's metadata. When the provider has no discovery document (404), falls back
/// to [`ProviderMetadata::kinde_defaults`] (whose `jwks_uri` is `/.well-known/jwks.json`). Any
/// other failure, including an issuer mismatch, is an error: a mismatch must never be papered over.
pub(crate) async fn discover(
    http: &HttpClient,
    issuer: &str,
) -> Result<ProviderMetadata, FetchError> {
    let url = ProviderMetadata::discovery_url(issuer);
    match http.get(&url).await {
        Ok(fetched) => ProviderMetadata::from_json(issuer, &url, &fetched.body),
        Err(FetchError::Status { status: 404, .. }) => {
            tracing::debug!(issuer, "no discovery document; using Kinde's default paths");
            Ok(ProviderMetadata::kinde_defaults(issuer))
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuer_must_match_exactly() {
        let doc = br#"{"issuer":"https://op.example/","jwks_uri":"https://op.example/jwks"}"#;
        let err = ProviderMetadata::from_json("https://op.example", "u", doc).unwrap_err();
        assert!(matches!(err, FetchError::IssuerMismatch { .. }));
        let ok = ProviderMetadata::from_json("https://op.example/", "u", doc).unwrap();
        assert_eq!(ok.jwks_uri, "https://op.example/jwks");
    }

    #[test]
    fn kinde_defaults_paths() {
        let m = ProviderMetadata::kinde_defaults("https://acme.kinde.com");
        assert_eq!(m.jwks_uri, "https://acme.kinde.com/.well-known/jwks.json");
        assert_eq!(
            m.token_endpoint.as_deref(),
            Some("https://acme.kinde.com/oauth2/token")
        );
        assert_eq!(
            ProviderMetadata::discovery_url("https://acme.kinde.com/"),
            "https://acme.kinde.com/.well-known/openid-configuration"
        );
    }
}
