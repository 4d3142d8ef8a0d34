//! The JWS compact serialization: splitting a token, decoding its header, and the algorithms we
//! verify. Signatures themselves are checked with aws-lc-rs, on keys parsed once (see `jwks`).

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Deserializer};

use crate::error::{Reason, TokenError};

/// A JWS signature algorithm this crate verifies.
///
/// `none` is not one of them, and never will be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Algorithm {
    /// HMAC with SHA-256 (shared secret only, never with a key set).
    HS256,
    /// HMAC with SHA-384 (shared secret only).
    HS384,
    /// HMAC with SHA-512 (shared secret only).
    HS512,
    /// RSASSA-PKCS1-v1_5 with SHA-256 (Kinde's algorithm).
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RS512,
    /// RSASSA-PSS with SHA-256.
    PS256,
    /// RSASSA-PSS with SHA-384.
    PS384,
    /// RSASSA-PSS with SHA-512.
    PS512,
    /// ECDSA on P-256 with SHA-256.
    ES256,
    /// ECDSA on P-384 with SHA-384.
    ES384,
    /// EdDSA on Ed25519.
    EdDSA,
}

impl Algorithm {
    /// Every algorithm, in a fixed order.
    pub const ALL: &'static [Algorithm] = &[
        Algorithm::HS256,
        Algorithm::HS384,
        Algorithm::HS512,
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::EdDSA,
    ];

    /// The asymmetric algorithms: the default allow-list of a verifier that uses a key set.
    pub const ASYMMETRIC: &'static [Algorithm] = &[
        Algorithm::RS256,
        Algorithm::RS384,
        Algorithm::RS512,
        Algorithm::PS256,
        Algorithm::PS384,
        Algorithm::PS512,
        Algorithm::ES256,
        Algorithm::ES384,
        Algorithm::EdDSA,
    ];

    /// The JOSE name (`"RS256"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::HS256 => "HS256",
            Algorithm::HS384 => "HS384",
            Algorithm::HS512 => "HS512",
            Algorithm::RS256 => "RS256",
            Algorithm::RS384 => "RS384",
            Algorithm::RS512 => "RS512",
            Algorithm::PS256 => "PS256",
            Algorithm::PS384 => "PS384",
            Algorithm::PS512 => "PS512",
            Algorithm::ES256 => "ES256",
            Algorithm::ES384 => "ES384",
            Algorithm::EdDSA => "EdDSA",
        }
    }

    /// Whether this is an HMAC algorithm.
    pub fn is_hmac(self) -> bool {
        matches!(self, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512)
    }

    pub(crate) fn bit(self) -> u16 {
        1 << (self as u16)
    }

    /// The digest `at_hash` / `c_hash` use with this algorithm (OIDC Core §3.1.3.6).
    pub(crate) fn half_hash_digest(self) -> &'static aws_lc_rs::digest::Algorithm {
        use aws_lc_rs::digest;
        match self {
            Algorithm::HS256 | Algorithm::RS256 | Algorithm::PS256 | Algorithm::ES256 => {
                &digest::SHA256
            }
            Algorithm::HS384 | Algorithm::RS384 | Algorithm::PS384 | Algorithm::ES384 => {
                &digest::SHA384
            }
            Algorithm::HS512 | Algorithm::RS512 | Algorithm::PS512 | Algorithm::EdDSA => {
                &digest::SHA512
            }
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not one of the [`Algorithm`]s (`none` included, on purpose).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unsupported JWS algorithm (expected one of RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA, HS256, HS384, HS512)"
)]
pub struct UnknownAlgorithm;

impl FromStr for Algorithm {
    type Err = UnknownAlgorithm;

    /// Exact, case-sensitive JOSE names (RFC 7518 §3.1); `none` and unknown names fail.
    fn from_str(s: &str) -> Result<Self, UnknownAlgorithm> {
        Algorithm::ALL
            .iter()
            .copied()
            .find(|a| a.as_str() == s)
            .ok_or(UnknownAlgorithm)
    }
}

/// A set of algorithms as a bit mask (cheap to copy and test on the hot path).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct AlgSet(u16);

impl AlgSet {
    pub(crate) fn of(algs: &[Algorithm]) -> Self {
        AlgSet(algs.iter().fold(0, |m, a| m | a.bit()))
    }
    pub(crate) fn contains(self, alg: Algorithm) -> bool {
        self.0 & alg.bit() != 0
    }
    pub(crate) fn intersect(self, other: AlgSet) -> AlgSet {
        AlgSet(self.0 & other.0)
    }
    pub(crate) fn is_empty(self) -> bool {
        self.0 == 0
    }
}

/// The three segments of a compact JWS.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Segments<'a> {
    pub header: &'a str,
    pub payload: &'a str,
    pub signature: &'a str,
    /// `header.payload`: the bytes the signature covers.
    pub signing_input: &'a str,
}

/// Splits a compact JWS into its segments. Exactly three segments; a five-segment JWE is named as
/// such. The caller has already bounded the length, so scanning is bounded too.
pub(crate) fn split(token: &str) -> Result<Segments<'_>, TokenError> {
    let bytes = token.as_bytes();
    let mut dots = [0usize; 2];
    let mut n = 0usize;
    for (i, b) in bytes.iter().enumerate() {
        if *b == b'.' {
            if n < 2 {
                dots[n] = i;
            }
            n += 1;
        }
    }
    match n {
        2 => {}
        4 => {
            return Err(TokenError::new(
                Reason::Malformed,
                "an encrypted token (JWE) where a signed JWT is expected",
            ));
        }
        _ => {
            return Err(TokenError::new(
                Reason::Malformed,
                "not a compact JWS (expected three dot-separated segments)",
            ));
        }
    }
    let (h, p) = (dots[0], dots[1]);
    Ok(Segments {
        header: &token[..h],
        payload: &token[h + 1..p],
        signature: &token[p + 1..],
        signing_input: &token[..p],
    })
}

/// Decodes one base64url segment (no padding, canonical trailing bits).
pub(crate) fn b64(segment: &str, what: &'static str) -> Result<Vec<u8>, TokenError> {
    URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| TokenError::new(Reason::Malformed, what))
}

/// The JOSE header members the verifier looks at. Everything else is ignored; in particular
/// `jku`, `x5u`, `x5c` and `jwk` are never used to find or fetch keys (RFC 8725 §3.10).
#[derive(Debug, Deserialize)]
pub(crate) struct Header<'a> {
    #[serde(borrow, default)]
    pub alg: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub kid: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub typ: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub cty: Option<Cow<'a, str>>,
    #[serde(default, deserialize_with = "present")]
    pub crit: bool,
    #[serde(default, deserialize_with = "present")]
    pub enc: bool,
    #[serde(default, deserialize_with = "present")]
    pub zip: bool,
    #[serde(default, deserialize_with = "present")]
    pub b64: bool,
}

fn present<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    serde::de::IgnoredAny::deserialize(d).map(|_| true)
}

/// Decodes and checks the header: a JSON object, no `crit`, not a JWE or nested JWT, and an `alg`
/// that is a known JWS algorithm (never `none`).
pub(crate) fn parse_header<'a>(json: &'a [u8]) -> Result<(Header<'a>, Algorithm), TokenError> {
    let malformed = || TokenError::new(Reason::Malformed, "the header is not a valid JSON object");
    // RFC 7515 §4: the header is a JSON object. A derived struct deserializer would also take
    // the members as an array (`["RS256","kid"]`), so refuse anything but an object up front.
    let first = json
        .iter()
        .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'));
    if first != Some(&b'{') {
        return Err(malformed());
    }
    let header: Header<'a> = serde_json::from_slice(json).map_err(|_| malformed())?;
    if header.crit {
        // RFC 7515 §4.1.11: a recipient that does not understand a listed extension must reject
        // the JWS, and we understand none. An empty or malformed `crit` is invalid too.
        return Err(TokenError::new(
            Reason::UnsupportedCriticalHeader,
            "the header has a crit parameter; no JWS extension is supported",
        ));
    }
    if header.enc || header.zip {
        return Err(TokenError::new(
            Reason::Malformed,
            "the header describes an encrypted or compressed token",
        ));
    }
    if header.b64 {
        return Err(TokenError::new(
            Reason::Malformed,
            "unencoded payloads (b64) are not supported",
        ));
    }
    if header
        .cty
        .as_deref()
        .is_some_and(|c| c.eq_ignore_ascii_case("JWT"))
    {
        // RFC 8725 §3.6 / §2.8: never unwrap and trust a nested token.
        return Err(TokenError::new(
            Reason::Malformed,
            "nested JWTs are not accepted",
        ));
    }
    let alg = match header.alg.as_deref() {
        None => {
            return Err(TokenError::new(Reason::Malformed, "the header has no alg"));
        }
        Some(name) => name.parse::<Algorithm>().map_err(|_| {
            TokenError::new(
                Reason::AlgorithmNotAllowed,
                if name.eq_ignore_ascii_case("none") {
                    "alg none is never accepted"
                } else {
                    "the header's alg is not a supported signature algorithm"
                },
            )
        })?,
    };
    Ok((header, alg))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_counts_segments() {
        assert!(split("a.b.c").is_ok());
        assert!(split("a.b").is_err());
        assert!(split("a.b.c.d").is_err());
        let e = split("a.b.c.d.e").unwrap_err();
        assert_eq!(e.reason(), Reason::Malformed);
        assert!(e.detail().contains("JWE"));
        let s = split("h.p.").unwrap();
        assert_eq!(s.signature, "");
        assert_eq!(s.signing_input, "h.p");
    }

    #[test]
    fn none_in_every_case_is_refused() {
        for alg in ["none", "None", "NONE", "nOnE"] {
            let json = format!(r#"{{"alg":"{alg}"}}"#);
            let e = parse_header(json.as_bytes()).unwrap_err();
            assert_eq!(e.reason(), Reason::AlgorithmNotAllowed);
        }
    }

    #[test]
    fn crit_in_any_form_is_refused() {
        for crit in [r#"["foo"]"#, "[]", r#"["exp"]"#, "null", r#"["b64"]"#] {
            let json = format!(r#"{{"alg":"RS256","crit":{crit}}}"#);
            let e = parse_header(json.as_bytes()).unwrap_err();
            assert_eq!(e.reason(), Reason::UnsupportedCriticalHeader, "{crit}");
        }
    }

    #[test]
    fn duplicate_header_members_are_refused() {
        assert!(parse_header(br#"{"alg":"RS256","alg":"HS256"}"#).is_err());
    }

    #[test]
    fn the_header_must_be_an_object() {
        assert!(parse_header(br#" {"alg":"RS256"}"#).is_ok());
        for json in [&br#"["RS256"]"#[..], br#" ["RS256","kid"]"#, b"null", b""] {
            let e = parse_header(json).unwrap_err();
            assert_eq!(e.reason(), Reason::Malformed);
        }
    }

    #[test]
    fn base64_is_strict() {
        assert!(b64("eyJ9", "x").is_ok());
        assert!(b64("eyJ9==", "x").is_err());
        assert!(b64("ey+/", "x").is_err());
        // Non-canonical trailing bits.
        assert_eq!(b64("QQ", "x").unwrap(), b"A");
        assert!(b64("QR", "x").is_err());
    }
}
