//! The JWS compact serialization: splitting a token, decoding its header, and the algorithms we
//! verify. Signatures themselves are checked with aws-lc-rs, on keys parsed once (see `jwks`).

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::{self, MapAccess, SeqAccess, Visitor};
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
///
/// "Ignored" members are still parsed under the limits the payload is parsed under (nesting
/// depth, number range: [`Limited`]), and a member may appear once: a validly signed header
/// cannot carry what a payload could not.
#[derive(Debug, Default)]
pub(crate) struct Header<'a> {
    pub alg: Option<Cow<'a, str>>,
    pub kid: Option<Cow<'a, str>>,
    pub typ: Option<Cow<'a, str>>,
    pub cty: Option<Cow<'a, str>>,
    pub crit: bool,
    pub enc: bool,
    pub zip: bool,
    pub b64: bool,
}

impl<'de: 'a, 'a> Deserialize<'de> for Header<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(HeaderVisitor(std::marker::PhantomData))
    }
}

struct HeaderVisitor<'a>(std::marker::PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for HeaderVisitor<'a> {
    type Value = Header<'a>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JOSE header object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Header<'a>, A::Error> {
        fn text<'de, A: MapAccess<'de>>(
            map: &mut A,
            slot: &mut Option<Cow<'de, str>>,
            seen: &mut bool,
        ) -> Result<(), A::Error> {
            if std::mem::replace(seen, true) {
                return Err(de::Error::custom("duplicate header member"));
            }
            *slot = map.next_value::<Option<CowStr<'de>>>()?.map(|s| s.0);
            Ok(())
        }
        fn present<'de, A: MapAccess<'de>>(map: &mut A, slot: &mut bool) -> Result<(), A::Error> {
            if *slot {
                return Err(de::Error::custom("duplicate header member"));
            }
            map.next_value::<Limited>()?;
            *slot = true;
            Ok(())
        }
        let mut h = Header::default();
        let mut seen = [false; 4];
        // Names of other members, kept only when there are some (rare), to refuse repeats.
        let mut others: Vec<String> = Vec::new();
        while let Some(key) = map.next_key::<CowStr<'de>>()? {
            match key.0.as_ref() {
                "alg" => text(&mut map, &mut h.alg, &mut seen[0])?,
                "kid" => text(&mut map, &mut h.kid, &mut seen[1])?,
                "typ" => text(&mut map, &mut h.typ, &mut seen[2])?,
                "cty" => text(&mut map, &mut h.cty, &mut seen[3])?,
                "crit" => present(&mut map, &mut h.crit)?,
                "enc" => present(&mut map, &mut h.enc)?,
                "zip" => present(&mut map, &mut h.zip)?,
                "b64" => present(&mut map, &mut h.b64)?,
                other => {
                    if others.iter().any(|seen| seen == other) {
                        return Err(de::Error::custom("duplicate header member"));
                    }
                    map.next_value::<Limited>()?;
                    others.push(key.0.into_owned());
                }
            }
        }
        Ok(h)
    }
}

/// A string that borrows from the input when it has no escapes.
struct CowStr<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for CowStr<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = CowStr<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<CowStr<'de>, E> {
                Ok(CowStr(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<CowStr<'de>, E> {
                Ok(CowStr(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<CowStr<'de>, E> {
                Ok(CowStr(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// Any JSON value, walked and dropped without being kept, under the limits a parsed
/// `serde_json::Value` has: nesting at most 128 deep, numbers within `f64` range. (serde's
/// `IgnoredAny` skips a value without either check.)
pub(crate) struct Limited;

impl<'de> Deserialize<'de> for Limited {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(LimitedVisitor)
    }
}

struct LimitedVisitor;

impl<'de> Visitor<'de> for LimitedVisitor {
    type Value = Limited;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Limited, E> {
        Ok(Limited)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Limited, E> {
        Ok(Limited)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Limited, E> {
        Ok(Limited)
    }
    fn visit_i128<E: de::Error>(self, _: i128) -> Result<Limited, E> {
        Ok(Limited)
    }
    fn visit_u128<E: de::Error>(self, _: u128) -> Result<Limited, E> {
        Ok(Limited)
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Limited, E> {
        if v.is_finite() {
            Ok(Limited)
        } else {
            Err(E::custom("number out of range"))
        }
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Limited, E> {
        Ok(Limited)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Limited, E> {
        Ok(Limited)
    }
    fn visit_none<E: de::Error>(self) -> Result<Limited, E> {
        Ok(Limited)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Limited, D::Error> {
        Limited::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Limited, A::Error> {
        while seq.next_element::<Limited>()?.is_some() {}
        Ok(Limited)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Limited, A::Error> {
        while map.next_key::<de::IgnoredAny>()?.is_some() {
            map.next_value::<Limited>()?;
        }
        Ok(Limited)
    }
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
        for json in [
            &br#"{"alg":"RS256","alg":"HS256"}"#[..],
            br#"{"alg":"RS256","kid":"a","kid":"a"}"#,
            br#"{"alg":"RS256","x":1,"x":1}"#,
            br#"{"alg":"RS256","crit":["a"],"crit":["a"]}"#,
        ] {
            assert!(
                parse_header(json).is_err(),
                "{}",
                String::from_utf8_lossy(json)
            );
        }
    }

    #[test]
    fn other_members_are_parsed_under_the_payloads_limits() {
        // Accepted and ignored: any JSON within the limits, escapes in known members too.
        let ok = br#"{"alg":"RS256","k\u0069d":"k\u00e9","x":[1,-2,3.5e300,{"a":null}],"y":"s"}"#;
        let (header, alg) = parse_header(ok).unwrap();
        assert_eq!(alg, Algorithm::RS256);
        assert_eq!(header.kid.as_deref(), Some("k\u{e9}"));
        let nested = |depth: usize| {
            format!(
                r#"{{"alg":"RS256","x":{}1{}}}"#,
                "[".repeat(depth),
                "]".repeat(depth)
            )
        };
        assert!(parse_header(nested(100).as_bytes()).is_ok());
        for json in [
            nested(5000),
            nested(200),
            r#"{"alg":"RS256","x":1e400}"#.to_owned(),
            r#"{"alg":"RS256","x":[-1e400]}"#.to_owned(),
            r#"{"alg":"RS256","x":{"a":1e999}}"#.to_owned(),
            r#"{"alg":"RS256","crit":1e400}"#.to_owned(),
        ] {
            let e = parse_header(json.as_bytes()).unwrap_err();
            assert_eq!(
                e.reason(),
                Reason::Malformed,
                "{}",
                &json[..json.len().min(60)]
            );
        }
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
