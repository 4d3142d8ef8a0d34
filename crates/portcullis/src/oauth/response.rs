//! Token-endpoint responses (RFC 6749 §5.1, §5.2), parsed strictly: what a provider sends is
//! checked before an app relies on it (docs/security.md cases 31, 32).

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::claims::Claims;
use crate::error::OAuthError;
use crate::http::Answer;

/// Tokens from the token endpoint. Serializable, to keep in a server-side session; its `Debug`
/// output never shows a token.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenSet {
    /// The access token (send it as `Authorization: Bearer …`).
    pub access_token: String,
    /// When the access token expires (Unix seconds), if the provider said (`expires_in`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    /// The refresh token, when `offline` (Kinde) or `offline_access` was granted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// The ID token, when `openid` was granted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    /// The ID token's verified claims (the user's profile, `org_codes`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token_claims: Option<Claims>,
    /// The scopes granted (the requested ones when the provider did not say).
    #[serde(default)]
    pub scopes: Vec<String>,
}

impl TokenSet {
    /// Whether the access token expires within `margin_secs` of `now` (Unix seconds). A token
    /// without a known expiry is never considered expiring.
    pub fn expires_within(&self, now: i64, margin_secs: i64) -> bool {
        self.expires_at
            .is_some_and(|at| at <= now.saturating_add(margin_secs))
    }

    /// The user's subject (`sub` of the ID token), when there is an ID token.
    pub fn subject(&self) -> Option<&str> {
        self.id_token_claims.as_ref()?.sub.as_deref()
    }
}

impl fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSet")
            .field("expires_at", &self.expires_at)
            .field("has_refresh_token", &self.refresh_token.is_some())
            .field("has_id_token", &self.id_token.is_some())
            .field("subject", &self.subject())
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

/// A token response, checked.
#[derive(Debug)]
pub(crate) struct TokenResponse {
    pub access_token: String,
    pub expires_in: Option<i64>,
    pub refresh_token: Option<String>,
    pub id_token: Option<String>,
    pub scope: Option<Vec<String>>,
}

/// Longest `expires_in` believed: ten years. Larger values are a broken provider.
const MAX_EXPIRES_IN: i64 = 10 * 365 * 24 * 3600;

/// Turns an error status into [`OAuthError::Provider`] (reading RFC 6749 §5.2's body when there
/// is one), and a success into its JSON object.
pub(crate) fn json_object(
    endpoint: &'static str,
    answer: &Answer,
) -> Result<serde_json::Map<String, Value>, OAuthError> {
    let parsed: Option<serde_json::Map<String, Value>> = serde_json::from_slice(&answer.body).ok();
    let error_of = |map: &serde_json::Map<String, Value>| {
        map.get("error").and_then(Value::as_str).map(|error| {
            let description = map
                .get("error_description")
                .and_then(Value::as_str)
                .map(|d| d.chars().take(300).collect());
            OAuthError::Provider {
                endpoint,
                status: answer.status,
                error: error.chars().take(100).collect(),
                description,
            }
        })
    };
    if !(200..300).contains(&answer.status) {
        return Err(parsed
            .as_ref()
            .and_then(error_of)
            .unwrap_or_else(|| OAuthError::Provider {
                endpoint,
                status: answer.status,
                error: format!("http_{}", answer.status),
                description: None,
            }));
    }
    let map = parsed.ok_or_else(|| OAuthError::InvalidResponse {
        endpoint,
        message: match &answer.content_type {
            Some(ct) if !ct.contains("json") => format!("expected JSON, got {ct}"),
            _ => "the body is not a JSON object".to_owned(),
        },
    })?;
    // A 200 carrying an error is still an error.
    if let Some(e) = error_of(&map) {
        return Err(e);
    }
    Ok(map)
}

pub(crate) fn parse_token_response(answer: &Answer) -> Result<TokenResponse, OAuthError> {
    const ENDPOINT: &str = "token";
    let invalid = |message: &str| OAuthError::InvalidResponse {
        endpoint: ENDPOINT,
        message: message.to_owned(),
    };
    let map = json_object(ENDPOINT, answer)?;
    let access_token = match map.get("access_token") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        _ => return Err(invalid("no access_token")),
    };
    match map.get("token_type") {
        // RFC 6749 §5.1: case-insensitive.
        Some(Value::String(t)) if t.eq_ignore_ascii_case("bearer") => {}
        Some(Value::String(_)) => {
            return Err(invalid("token_type is not Bearer"));
        }
        _ => return Err(invalid("no token_type")),
    }
    let expires_in = match map.get("expires_in") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => match n.as_i64() {
            Some(secs) if (0..=MAX_EXPIRES_IN).contains(&secs) => Some(secs),
            _ => return Err(invalid("expires_in is not a sensible number of seconds")),
        },
        // Some providers send a numeric string; accept digits only.
        Some(Value::String(s)) => match s.parse::<i64>() {
            Ok(secs) if (0..=MAX_EXPIRES_IN).contains(&secs) => Some(secs),
            _ => return Err(invalid("expires_in is not a number of seconds")),
        },
        Some(_) => return Err(invalid("expires_in is not a number")),
    };
    let optional_string = |name: &str| -> Result<Option<String>, OAuthError> {
        match map.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if !s.is_empty() => Ok(Some(s.clone())),
            Some(_) => Err(OAuthError::InvalidResponse {
                endpoint: ENDPOINT,
                message: format!("{name} is not a string"),
            }),
        }
    };
    let refresh_token = optional_string("refresh_token")?;
    let id_token = optional_string("id_token")?;
    // An empty `scope` is a grant of no scopes (an M2M application granted none), not an
    // error.
    let scope = match map.get("scope") {
        Some(Value::String(s)) if s.trim().is_empty() => Some(Vec::new()),
        _ => optional_string("scope")?
            .map(|s| s.split_whitespace().map(str::to_owned).collect::<Vec<_>>()),
    };
    Ok(TokenResponse {
        access_token,
        expires_in,
        refresh_token,
        id_token,
        scope,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, body: &str) -> Answer {
        Answer {
            status,
            content_type: Some("application/json".into()),
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn malformed_token_responses_are_typed_errors() {
        // docs/security.md case 31
        let bad = [
            r#"{"token_type":"Bearer"}"#,
            r#"{"access_token":"","token_type":"Bearer"}"#,
            r#"{"access_token":"a","token_type":"mac"}"#,
            r#"{"access_token":"a"}"#,
            r#"{"access_token":"a","token_type":"Bearer","expires_in":-5}"#,
            r#"{"access_token":"a","token_type":"Bearer","expires_in":1e20}"#,
            r#"{"access_token":"a","token_type":"Bearer","expires_in":"soon"}"#,
            r#"{"access_token":"a","token_type":"Bearer","refresh_token":7}"#,
            "<html>oops</html>",
            "{not json",
            "[]",
        ];
        for body in bad {
            let err = parse_token_response(&answer(200, body)).unwrap_err();
            assert!(
                matches!(err, OAuthError::InvalidResponse { .. }),
                "{body}: {err:?}"
            );
        }
        let err = parse_token_response(&answer(200, r#"{"error":"invalid_grant"}"#)).unwrap_err();
        assert!(err.is_invalid_grant());
    }

    #[test]
    fn lenient_where_the_rfc_allows() {
        let ok = parse_token_response(&answer(
            200,
            r#"{"access_token":"a","token_type":"bearer","expires_in":"3600"}"#,
        ))
        .unwrap();
        assert_eq!(ok.expires_in, Some(3600));
        assert_eq!(ok.scope, None);
        let ok = parse_token_response(&answer(
            200,
            r#"{"access_token":"a","token_type":"Bearer","scope":"openid  email"}"#,
        ))
        .unwrap();
        assert_eq!(ok.expires_in, None);
        assert_eq!(ok.scope.unwrap(), ["openid", "email"]);
        let ok = parse_token_response(&answer(
            200,
            r#"{"access_token":"a","token_type":"Bearer","scope":""}"#,
        ))
        .unwrap();
        assert_eq!(ok.scope, Some(Vec::new()));
    }

    #[test]
    fn error_responses_map_to_provider_errors() {
        // docs/security.md case 32
        for (status, body, code) in [
            (400, r#"{"error":"invalid_grant"}"#, "invalid_grant"),
            (401, r#"{"error":"invalid_client"}"#, "invalid_client"),
            (
                400,
                r#"{"error":"invalid_scope","error_description":"x"}"#,
                "invalid_scope",
            ),
            (500, "<html>", "http_500"),
        ] {
            let err = parse_token_response(&answer(status, body)).unwrap_err();
            match err {
                OAuthError::Provider {
                    status: s, error, ..
                } => {
                    assert_eq!(s, status);
                    assert_eq!(error, code);
                }
                other => panic!("{other:?}"),
            }
        }
    }
}
