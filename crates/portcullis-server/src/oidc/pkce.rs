//! Proof Key for Code Exchange (RFC 7636), `S256` only.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use subtle::ConstantTimeEq;

/// Whether `s` is a well-formed `code_challenge` or `code_verifier`: 43 to 128 characters of
/// `[A-Za-z0-9-._~]` (RFC 7636 §4.1, §4.2).
pub(crate) fn is_pkce_value(s: &str) -> bool {
    (43..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

/// Whether `verifier` is well formed and its `S256` transform equals `challenge` (RFC 7636
/// §4.6), compared in constant time.
pub(crate) fn verifies(challenge: &str, verifier: &str) -> bool {
    let computed = URL_SAFE_NO_PAD.encode(
        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes()).as_ref(),
    );
    is_pkce_value(verifier) && bool::from(computed.as_bytes().ct_eq(challenge.as_bytes()))
}
