//! `id_token_hint` verification, shared by the authorization endpoint (OIDC Core §3.1.2.1,
//! docs/security.md case 57) and logout (OIDC RP-Initiated Logout §2, docs/security.md case 47).
//!
//! A hint is accepted when it is an ID token this server signed with a key it still publishes:
//! at most 16 KiB, a compact JWS with an allowed algorithm, typed `JWT` or untyped (an access
//! token is refused), `iss` exactly this issuer, and issued to the application it is checked
//! against (`aud` contains its client id; `azp`, when present, is it). Everything else —
//! malformed, bad signature, another issuer, another application — is refused.
//!
//! An *expired* hint is accepted (it only names who the application believes is signed in; RP-
//! Initiated Logout accepts one "even when the exp time has passed"). The SDK verifier has no
//! switch to skip `exp`, but it reads time from a [`portcullis::clock::Clock`]: the hint is
//! verified as of one second before its own `exp` (or now, if that is earlier). `exp` is read
//! unverified only to set that clock; the verifier then checks the signature over it like every
//! other claim, so a forged `exp` fails.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

use crate::AppState;
use crate::domain::ClientId;
use crate::error::ServerError;

/// Largest hint looked at (the SDK verifier's default limit).
const MAX_HINT: usize = 16 * 1024;

/// The `sub` of `hint` when it is a valid ID token of this server issued to `client_id`,
/// expired or not; `None` when it is not.
pub(crate) async fn subject(
    state: &AppState,
    client_id: &ClientId,
    hint: &str,
    now: i64,
) -> Result<Option<String>, ServerError> {
    Ok(verify(state, client_id.as_str(), hint, now)
        .await?
        .and_then(|claims| claims.sub))
}

/// The application `hint` was issued to — its `azp`, else its single `aud` — when it is a valid
/// ID token of this server issued to that application, expired or not; `None` when it is not.
pub(crate) async fn client(
    state: &AppState,
    hint: &str,
    now: i64,
) -> Result<Option<ClientId>, ServerError> {
    // Read the client unverified, to configure the verifier that then checks everything:
    // signature, iss, typ, aud/azp against that client.
    let Some(payload) = unverified_payload(hint) else {
        return Ok(None);
    };
    let client = match (&payload["azp"], &payload["aud"]) {
        (Value::String(azp), _) => azp,
        (_, Value::String(aud)) => aud,
        (_, Value::Array(auds)) if auds.len() == 1 => match &auds[0] {
            Value::String(aud) => aud,
            _ => return Ok(None),
        },
        _ => return Ok(None),
    };
    let Ok(client) = ClientId::parse(client) else {
        return Ok(None);
    };
    Ok(verify(state, client.as_str(), hint, now)
        .await?
        .map(|_| client))
}

/// The claims of `hint` when it is a valid ID token of this server issued to `client_id`,
/// expired or not; `None` when it is not.
async fn verify(
    state: &AppState,
    client_id: &str,
    hint: &str,
    now: i64,
) -> Result<Option<portcullis::Claims>, ServerError> {
    let Some(exp) = unverified_payload(hint).and_then(|payload| payload.get("exp")?.as_i64())
    else {
        return Ok(None);
    };
    let at = now.min(exp.saturating_sub(1));
    // A hint signed by a key another instance created since this one read the keys is
    // accepted too: an unknown kid makes the key set be read again.
    let verified = state
        .keys()
        .verify(now, |ring| async move {
            let verifier = portcullis::TokenVerifier::builder(state.issuer())
                .client_id(client_id)
                .jwks_json(ring.jwks_json.to_string())
                .leeway(Duration::ZERO)
                .max_token_age(None)
                .clock(portcullis::clock::ManualClock::at_secs(at))
                .build()
                .map_err(|e| ServerError::Keys(format!("cannot build the hint verifier: {e}")))?;
            Ok(verifier.verify_id_token(hint, None).await)
        })
        .await?;
    Ok(verified.ok())
}

/// The JSON payload of a JWT of at most [`MAX_HINT`] bytes, without verifying anything.
fn unverified_payload(token: &str) -> Option<Value> {
    if token.len() > MAX_HINT {
        return None;
    }
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    serde_json::from_slice(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The unverified `exp`, as [`verify`] reads it.
    fn unverified_exp(token: &str) -> Option<i64> {
        unverified_payload(token)?.get("exp")?.as_i64()
    }

    #[test]
    fn exp_is_read_only_from_a_well_formed_payload() {
        let payload = URL_SAFE_NO_PAD.encode(br#"{"exp":1700000000,"sub":"kp_1"}"#);
        assert_eq!(
            unverified_exp(&format!("h.{payload}.s")),
            Some(1_700_000_000)
        );
        assert_eq!(unverified_exp("not a token"), None);
        assert_eq!(unverified_exp("a.!!!.c"), None);
        let no_exp = URL_SAFE_NO_PAD.encode(br#"{"sub":"kp_1"}"#);
        assert_eq!(unverified_exp(&format!("h.{no_exp}.s")), None);
        let text_exp = URL_SAFE_NO_PAD.encode(br#"{"exp":"soon"}"#);
        assert_eq!(unverified_exp(&format!("h.{text_exp}.s")), None);
        let oversized = format!("h.{payload}.{}", "s".repeat(MAX_HINT));
        assert_eq!(unverified_exp(&oversized), None);
    }
}
