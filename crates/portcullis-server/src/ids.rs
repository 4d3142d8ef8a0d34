//! Identifiers, random tokens and secret digests, written once: ids of stored things
//! (`new_id`), codes and refresh tokens (`random_token`), token ids (`new_jti`), and the hash a
//! client secret or an opaque token is stored as ([`hash_secret`]).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// SHA-256 of a client secret (or an opaque token), hex. Client secrets are random and long,
/// so a fast hash is the right tool (as for API tokens); passwords get argon2id.
pub fn hash_secret(secret: &str) -> String {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, secret.as_bytes());
    hex(d.as_ref())
}

/// A random identifier with a prefix (`app_…`, `api_…`, `kp_…`): 96 random bits, hex.
pub(crate) fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", hex(&bytes::<12>()))
}

/// A random secret value (authorization codes, refresh tokens, session and interaction ids):
/// 256 random bits, base64url.
pub(crate) fn random_token() -> String {
    URL_SAFE_NO_PAD.encode(bytes::<32>())
}

/// A token id (`jti`): 128 random bits, hex.
pub(crate) fn new_jti() -> String {
    hex(&bytes::<16>())
}

/// `N` bytes from the operating system's CSPRNG. A failing OS random source is not something the
/// server can serve through, so it stops rather than issue guessable values.
pub(crate) fn bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    aws_lc_rs::rand::fill(&mut out).expect("the OS random source failed");
    out
}

/// Lower-case hex, in one allocation (these run on every token request).
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn hex_is_lower_case_and_complete() {
        assert_eq!(super::hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
        assert_eq!(super::hex(&[]), "");
        assert_ne!(super::bytes::<16>(), super::bytes::<16>());
    }
}
