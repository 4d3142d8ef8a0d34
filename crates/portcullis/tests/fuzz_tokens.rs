//! Structural fuzzing of the token verifier (docs/security.md case 91): random and mutated tokens —
//! truncated, re-encoded, bit-flipped, huge headers, non-JSON, nested JSON bombs, duplicate
//! members — must each be rejected with a typed [`Reason`], never accepted and never panic.
//!
//! One verifier with static keys (no network) serves every case; async verification runs on one
//! runtime created once. Headers and payloads that should exercise the JSON parsers are signed
//! with the real key, so the signature passes and the parser behind it is what is tested.
//!
//! One exception is pinned down rather than rejected: well-formed but deeply nested JSON inside a
//! header member the verifier ignores is skipped iteratively by serde_json, so a correctly signed
//! token carrying it may verify; the property only requires that this ends promptly.

mod common;

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use common::{AUD, CLIENT_ID, TestKey, b64, kinde_claims};
use portcullis::{Error, Reason, TokenVerifier};
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{Value, json};

const ISSUER: &str = "https://op.example";

struct Fixture {
    rt: tokio::runtime::Runtime,
    /// The default limits (16 KiB tokens).
    verifier: TokenVerifier,
    /// The same keys with a 4 MiB token limit, to reach the parsers with very large input.
    roomy: TokenVerifier,
    /// RSA, P-256 and Ed25519 keys, all in the verifiers' key set.
    keys: Vec<TestKey>,
}

fn fx() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let keys = vec![
            TestKey::rsa("rsa"),
            TestKey::ec256("p256"),
            TestKey::ed25519("ed"),
        ];
        let jwks = json!({"keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>()});
        let build = |max: usize| {
            TokenVerifier::builder(ISSUER)
                .audience(AUD)
                .client_id(CLIENT_ID)
                .max_token_size(max)
                .jwks_json(jwks.to_string())
                .build()
                .unwrap()
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let fixture = Fixture {
            rt,
            verifier: build(16 * 1024),
            roomy: build(4 * 1024 * 1024),
            keys,
        };
        // The baseline: an untouched token verifies with every key.
        for key in &fixture.keys {
            let token = key.token(&kinde_claims(ISSUER));
            fixture
                .rt
                .block_on(fixture.verifier.verify_access_token(&token))
                .unwrap_or_else(|e| panic!("baseline {} token must verify: {e}", key.alg));
        }
        fixture
    })
}

fn key(i: usize) -> &'static TestKey {
    let keys = &fx().keys;
    &keys[i % keys.len()]
}

/// A valid access token signed by key `i`, with a `jti` that varies its payload.
fn valid_token(i: usize, jti: &str) -> String {
    let mut claims = kinde_claims(ISSUER);
    claims["jti"] = json!(jti);
    key(i).token(&claims)
}

/// `header.payload.signature` over raw header and payload bytes, signed with the key's own
/// algorithm so the signature verifies whatever the bytes are.
fn sign_raw(key: &TestKey, header: &[u8], payload: &[u8]) -> String {
    let input = format!("{}.{}", b64(header), b64(payload));
    let sig = key.sign_bytes(key.alg, input.as_bytes());
    format!("{input}.{}", b64(sig))
}

fn header_json(key: &TestKey) -> Vec<u8> {
    serde_json::to_vec(&key.header()).unwrap()
}

fn claims_json() -> Vec<u8> {
    serde_json::to_vec(&kinde_claims(ISSUER)).unwrap()
}

fn describe(token: &str) -> String {
    if token.len() > 200 {
        format!(
            "{}… ({} bytes)",
            token.chars().take(200).collect::<String>(),
            token.len()
        )
    } else {
        format!("{token:?}")
    }
}

/// Checks one rejection: a token error with a reason, answering 401, whose message does not echo
/// the token.
fn check_err(token: &str, entry: &str, r: Result<(), Error>) -> Reason {
    match r {
        Ok(()) => panic!("{entry} accepted a bad token: {}", describe(token)),
        Err(e) => {
            let reason = e.reason().unwrap_or_else(|| {
                panic!("{entry}: not a token error: {e} for {}", describe(token))
            });
            assert_eq!(e.http_status(), 401, "{entry}: {e}");
            let message = e.to_string();
            if token.len() >= 24 {
                assert!(
                    !message.contains(token),
                    "{entry}: the error message echoes the token"
                );
            }
            reason
        }
    }
}

/// Runs `token` through every entry point of `verifier` and requires each to reject it.
/// Returns the access-token reason.
fn rejected_by(verifier: &TokenVerifier, token: &str) -> Reason {
    let f = fx();
    let access =
        f.rt.block_on(verifier.verify_access_token(token))
            .map(|_| ());
    let reason = check_err(token, "verify_access_token", access);
    let typed =
        f.rt.block_on(verifier.verify_access_token_as::<Value>(token))
            .map(|_| ());
    check_err(token, "verify_access_token_as", typed);
    let id =
        f.rt.block_on(verifier.verify_id_token(token, None))
            .map(|_| ());
    check_err(token, "verify_id_token", id);
    reason
}

/// The reason for a token whose segment `i` alone is not canonical base64url: the header and the
/// signature fail to decode, while a changed payload no longer matches the signature (which is
/// checked before the payload is decoded).
fn segment_reason(i: usize) -> Reason {
    if i == 1 {
        Reason::BadSignature
    } else {
        Reason::Malformed
    }
}

fn rejected(token: &str) -> Reason {
    rejected_by(&fx().verifier, token)
}

fn accepted(token: &str) -> bool {
    let f = fx();
    f.rt.block_on(f.verifier.verify_access_token(token)).is_ok()
}

// ---------------------------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------------------------

/// Arbitrary JSON values, a few levels deep.
fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f)
            .map(Value::Number)),
        "\\PC{0,24}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("\\PC{0,10}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A byte-level mutation of a token.
#[derive(Debug, Clone)]
enum Mutation {
    FlipBit(Index, u8),
    SetByte(Index, u8),
    Insert(Index, u8),
    Delete(Index),
    Truncate(Index),
    Swap(Index, Index),
    Whitespace(Index, &'static str),
    DuplicateRange(Index, Index),
}

fn arb_mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<Index>(), 0u8..8).prop_map(|(i, b)| Mutation::FlipBit(i, b)),
        (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::SetByte(i, b)),
        (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        any::<Index>().prop_map(Mutation::Delete),
        any::<Index>().prop_map(Mutation::Truncate),
        (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Mutation::Swap(a, b)),
        (
            any::<Index>(),
            prop::sample::select(vec![" ", "\n", "\r\n", "\t", "\u{a0}", "\u{feff}", "\0"])
        )
            .prop_map(|(i, w)| Mutation::Whitespace(i, w)),
        (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Mutation::DuplicateRange(a, b)),
    ]
}

fn apply(token: &str, m: &Mutation) -> String {
    let mut b = token.as_bytes().to_vec();
    let in_place = !matches!(
        m,
        Mutation::Insert(..) | Mutation::Truncate(_) | Mutation::Whitespace(..)
    );
    if b.is_empty() && in_place {
        // An earlier truncation left nothing to flip, delete or copy.
        return String::new();
    }
    match m {
        Mutation::FlipBit(i, bit) => {
            let i = i.index(b.len());
            b[i] ^= 1 << bit;
        }
        Mutation::SetByte(i, v) => {
            let i = i.index(b.len());
            b[i] = *v;
        }
        Mutation::Insert(i, v) => b.insert(i.index(b.len() + 1), *v),
        Mutation::Delete(i) => {
            b.remove(i.index(b.len()));
        }
        Mutation::Truncate(i) => b.truncate(i.index(b.len() + 1)),
        Mutation::Swap(x, y) => {
            let (x, y) = (x.index(b.len()), y.index(b.len()));
            b.swap(x, y);
        }
        Mutation::Whitespace(i, w) => {
            let i = i.index(b.len() + 1);
            b.splice(i..i, w.bytes());
        }
        Mutation::DuplicateRange(x, y) => {
            let (x, y) = (x.index(b.len()), y.index(b.len()));
            let (lo, hi) = (x.min(y), x.max(y));
            let copy = b[lo..=hi].to_vec();
            b.splice(hi + 1..hi + 1, copy);
        }
    }
    String::from_utf8_lossy(&b).into_owned()
}

/// Headers that must make a correctly signed token unacceptable: the key's own header with one
/// poisoned member (plus `extra` harmless members), or no JSON object at all.
fn poison_headers(key: &TestKey, extra: &serde_json::Map<String, Value>) -> Vec<Vec<u8>> {
    let mut h = key.header().as_object().unwrap().clone();
    for (k, v) in extra {
        h.entry(k.clone()).or_insert(v.clone());
    }
    let obj = |h: &serde_json::Map<String, Value>| serde_json::to_vec(h).unwrap();
    let with = |name: &str, v: Value| {
        let mut h = h.clone();
        h.insert(name.to_owned(), v);
        obj(&h)
    };
    let without = |name: &str| {
        let mut h = h.clone();
        h.remove(name);
        obj(&h)
    };
    let base = String::from_utf8(obj(&h)).unwrap();
    let inner = &base[1..base.len() - 1];
    let other_alg = if key.alg == "RS256" { "ES256" } else { "RS256" };
    vec![
        with("alg", json!("none")),
        with("alg", json!("None")),
        with("alg", json!("NONE")),
        with("alg", json!("HS256")),
        with("alg", json!("HS512")),
        with("alg", json!(key.alg.to_lowercase())),
        with("alg", json!(format!("{} ", key.alg))),
        with("alg", json!(format!("{}\u{0}", key.alg))),
        with("alg", json!("")),
        with("alg", json!(other_alg)),
        with("alg", json!(null)),
        with("alg", json!(256)),
        with("alg", json!([key.alg])),
        with("alg", json!({"name": key.alg})),
        without("alg"),
        with("kid", json!(format!("{}-unknown", key.kid))),
        with("kid", json!(7)),
        with("kid", json!([key.kid])),
        with("typ", json!("logout+jwt")),
        with("typ", json!("secevent+jwt")),
        with("typ", json!("JWE")),
        with("typ", json!("")),
        with("typ", json!(1)),
        with("crit", json!(["exp"])),
        with("crit", json!([])),
        with("crit", json!(null)),
        with("enc", json!("A256GCM")),
        with("zip", json!("DEF")),
        with("b64", json!(false)),
        with("cty", json!("JWT")),
        with("cty", json!("jwt")),
        // Duplicate members: each known member twice, even with the same value.
        format!("{{{inner},\"alg\":\"{}\"}}", key.alg).into_bytes(),
        format!("{{\"kid\":\"{}\",{inner}}}", key.kid).into_bytes(),
        format!("{{{inner},\"typ\":\"JWT\"}}").into_bytes(),
        format!("{{{inner},\"crit\":[],\"crit\":[]}}").into_bytes(),
        // Not a JSON object, or not only one.
        format!("[{base}]").into_bytes(),
        format!("{base}{base}").into_bytes(),
        format!("{base}x").into_bytes(),
        format!("{{{inner},}}").into_bytes(),
        format!("\u{feff}{base}").into_bytes(),
        format!("{{/*c*/{inner}}}").into_bytes(),
        format!("{{{inner}").into_bytes(),
        base.replace('"', "'").into_bytes(),
        // The members as a JSON array (what a derived struct deserializer would also accept).
        serde_json::to_vec(&json!([key.alg, key.kid, "JWT"])).unwrap(),
        serde_json::to_vec(&json!([key.alg])).unwrap(),
        format!(" \n[\"{}\"]", key.alg).into_bytes(),
        b"null".to_vec(),
        b"\"JWT\"".to_vec(),
        b"42".to_vec(),
        b"{}".to_vec(),
        Vec::new(),
    ]
}

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        // Failures are reported with their minimal input; nothing is written into the tree.
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_bytes_are_rejected(bytes in prop::collection::vec(any::<u8>(), 0..4096)) {
        rejected(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn random_strings_are_rejected(s in "\\PC{0,3000}") {
        rejected(&s);
    }

    #[test]
    fn random_base64url_alphabet_strings_are_rejected(s in "[A-Za-z0-9_\\-.=+/ ]{0,3000}") {
        rejected(&s);
    }

    #[test]
    fn random_three_segment_tokens_are_rejected(
        h in "[A-Za-z0-9_-]{0,400}",
        p in "[A-Za-z0-9_-]{0,800}",
        s in "[A-Za-z0-9_-]{0,400}",
    ) {
        rejected(&format!("{h}.{p}.{s}"));
    }

    #[test]
    fn random_segment_counts_are_rejected(
        mut segments in prop::collection::vec("[A-Za-z0-9_-]{0,40}", 0..12),
        k in 0usize..3,
    ) {
        if segments.len() == 3 {
            // Three is the one valid count: make it four.
            segments.push(String::new());
        }
        // Real segments of a valid token, in a wrong number.
        let token = valid_token(k, "n");
        let real: Vec<&str> = token.split('.').collect();
        let mixed: Vec<String> = segments
            .iter()
            .enumerate()
            .map(|(i, s)| if i % 2 == 0 { real[i % 3].to_owned() } else { s.clone() })
            .collect();
        prop_assert_eq!(rejected(&segments.join(".")), Reason::Malformed);
        prop_assert_eq!(rejected(&mixed.join(".")), Reason::Malformed);
    }

    #[test]
    fn random_header_bytes_behind_a_valid_payload_are_rejected(
        header in prop::collection::vec(any::<u8>(), 0..2048),
        k in 0usize..3,
    ) {
        let token = valid_token(k, "h");
        let rest = token.split_once('.').unwrap().1;
        rejected(&format!("{}.{rest}", b64(&header)));
        // The same bytes correctly signed: only the header parser stands in the way.
        rejected(&sign_raw(key(k), &header, &claims_json()));
    }

    #[test]
    fn mutated_valid_tokens_are_rejected_unless_unchanged(
        k in 0usize..3,
        jti in "[a-z0-9]{0,12}",
        mutations in prop::collection::vec(arb_mutation(), 1..4),
    ) {
        let token = valid_token(k, &jti);
        let mut mutated = token.clone();
        for m in &mutations {
            mutated = apply(&mutated, m);
        }
        if mutated == token {
            prop_assert!(accepted(&mutated), "an unchanged token must still verify");
        } else {
            rejected(&mutated);
        }
    }

    #[test]
    fn re_encoded_segments_are_rejected_unless_identical(
        k in 0usize..3,
        jti in "[a-zA-Z0-9?>~]{0,12}",
        segment in 0usize..3,
        engine in 0usize..4,
    ) {
        let token = valid_token(k, &jti);
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let raw = URL_SAFE_NO_PAD.decode(&parts[segment]).unwrap();
        parts[segment] = match engine {
            0 => STANDARD.encode(&raw),
            1 => STANDARD_NO_PAD.encode(&raw),
            2 => URL_SAFE.encode(&raw),
            _ => {
                // Standard padding appended to the url-safe form, whatever the length.
                format!("{}==", parts[segment])
            }
        };
        let re_encoded = parts.join(".");
        if re_encoded == token {
            prop_assert!(accepted(&re_encoded));
        } else {
            prop_assert_eq!(rejected(&re_encoded), segment_reason(segment));
        }
    }

    #[test]
    fn non_canonical_trailing_bits_are_rejected(
        k in 0usize..3,
        jti in "[a-z0-9]{0,12}",
        segment in 0usize..3,
        bits in 1u8..16,
    ) {
        const ALPHABET: &[u8] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let token = valid_token(k, &jti);
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        // 2 chars over a multiple of 4 leave 4 unused bits; 3 chars leave 2; 0 leave none.
        let unused = |len: usize| -> u8 {
            match len % 4 {
                2 => 0b1111,
                3 => 0b11,
                _ => 0,
            }
        };
        // The chosen segment, or the next one that has unused bits (every signature here does).
        let segment = (segment..segment + 3)
            .map(|i| i % 3)
            .find(|i| unused(parts[*i].len()) != 0)
            .unwrap();
        let seg = &parts[segment];
        let mask = unused(seg.len());
        // Some non-zero pattern within the unused bits.
        let bits = bits % mask + 1;
        let last = *seg.as_bytes().last().unwrap();
        let value = ALPHABET.iter().position(|c| *c == last).unwrap() as u8;
        prop_assert_eq!(value & mask, 0, "the signer's encoding is canonical");
        let twisted = ALPHABET[usize::from(value | bits)] as char;
        let mut s = seg[..seg.len() - 1].to_owned();
        s.push(twisted);
        // The lenient decoding of the twisted segment is the very same bytes.
        prop_assert_eq!(
            base64::engine::GeneralPurpose::new(
                &base64::alphabet::URL_SAFE,
                base64::engine::GeneralPurposeConfig::new()
                    .with_decode_allow_trailing_bits(true)
                    .with_decode_padding_mode(base64::engine::DecodePaddingMode::RequireNone),
            )
            .decode(&s)
            .unwrap(),
            URL_SAFE_NO_PAD.decode(seg).unwrap()
        );
        parts[segment] = s;
        prop_assert_eq!(rejected(&parts.join(".")), segment_reason(segment));
    }

    #[test]
    fn poisoned_but_correctly_signed_headers_are_rejected(
        k in 0usize..3,
        which in 0usize..64,
        extra in prop::collection::btree_map("x-[a-z]{1,8}", arb_json(), 0..4),
    ) {
        let key = key(k);
        let extra: serde_json::Map<String, Value> = extra.into_iter().collect();
        let headers = poison_headers(key, &extra);
        rejected(&sign_raw(key, &headers[which % headers.len()], &claims_json()));
    }

    #[test]
    fn correctly_signed_header_json_bombs_are_rejected(
        k in 0usize..3,
        depth in 129usize..10_000,
        closed in any::<bool>(),
        shape in 0usize..4,
    ) {
        let key = key(k);
        let (open, close) = match shape % 2 {
            0 => ("[", "]"),
            _ => ("{\"a\":", "}"),
        };
        let bomb = if closed {
            format!("{}1{}", open.repeat(depth), close.repeat(depth))
        } else {
            open.repeat(depth)
        };
        let header = if shape < 2 {
            // The header itself is the bomb.
            bomb
        } else {
            // A valid header carrying the bomb in an extra member.
            let base = String::from_utf8(header_json(key)).unwrap();
            format!("{},\"x\":{bomb}}}", &base[..base.len() - 1])
        };
        let token = sign_raw(key, header.as_bytes(), &claims_json());
        let verifier = if token.len() > 16 * 1024 {
            prop_assert_eq!(rejected(&token), Reason::TooLarge);
            &fx().roomy
        } else {
            &fx().verifier
        };
        // Too deep, in the header itself or in a member the verifier otherwise ignores: the
        // header is parsed under the payload's limits, so both are malformed.
        let started = Instant::now();
        prop_assert_eq!(rejected_by(verifier, &token), Reason::Malformed);
        prop_assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn huge_correctly_signed_headers_are_too_large(
        k in 0usize..3,
        pad in 16_000usize..200_000,
    ) {
        let key = key(k);
        let mut h = key.header();
        h["x-pad"] = json!("a".repeat(pad));
        let token = sign_raw(key, &serde_json::to_vec(&h).unwrap(), &claims_json());
        prop_assert_eq!(rejected(&token), Reason::TooLarge);
    }

    #[test]
    fn random_json_payloads_correctly_signed_are_rejected(
        k in 0usize..3,
        payload in arb_json(),
    ) {
        let key = key(k);
        let token = sign_raw(key, &header_json(key), &serde_json::to_vec(&payload).unwrap());
        rejected(&token);
    }

    #[test]
    fn random_payload_bytes_correctly_signed_are_rejected(
        k in 0usize..3,
        payload in prop::collection::vec(any::<u8>(), 0..2048),
    ) {
        let key = key(k);
        prop_assert_eq!(
            rejected(&sign_raw(key, &header_json(key), &payload)),
            Reason::Malformed
        );
    }

    #[test]
    fn correctly_signed_payload_json_bombs_are_rejected(
        k in 0usize..3,
        depth in 129usize..10_000,
        closed in any::<bool>(),
        shape in 0usize..4,
        claim in prop::sample::select(vec!["x", "aud", "roles", "feature_flags", "permissions"]),
    ) {
        let key = key(k);
        let (open, close) = match shape % 2 {
            0 => ("[", "]"),
            _ => ("{\"a\":", "}"),
        };
        let bomb = if closed {
            format!("{}1{}", open.repeat(depth), close.repeat(depth))
        } else {
            open.repeat(depth)
        };
        let payload = if shape < 2 {
            bomb
        } else {
            let base = String::from_utf8(claims_json()).unwrap();
            format!("{},\"{claim}\":{bomb}}}", &base[..base.len() - 1])
        };
        let token = sign_raw(key, &header_json(key), payload.as_bytes());
        let reason = rejected(&token);
        if token.len() > 16 * 1024 {
            prop_assert_eq!(reason, Reason::TooLarge);
            let roomy = rejected_by(&fx().roomy, &token);
            prop_assert!(matches!(roomy, Reason::Malformed | Reason::InvalidClaim), "{roomy:?}");
        } else {
            prop_assert!(matches!(reason, Reason::Malformed | Reason::InvalidClaim), "{reason:?}");
        }
    }

    #[test]
    fn wrongly_typed_claims_correctly_signed_are_rejected(
        k in 0usize..3,
        claim in prop::sample::select(CLAIM_TYPES.to_vec()),
        value in arb_json(),
    ) {
        let (name, kind) = claim;
        let mut claims = kinde_claims(ISSUER);
        let violates = kind.violated_by(&value);
        claims[name] = value;
        let key = key(k);
        let token = key.token(&claims);
        if violates {
            rejected(&token);
        } else {
            // Well-typed: whatever the outcome, it is a typed result and not a panic.
            let f = fx();
            if let Err(e) = f.rt.block_on(f.verifier.verify_access_token(&token)) {
                prop_assert!(e.reason().is_some(), "{e}");
            }
        }
    }

    #[test]
    fn duplicate_claims_correctly_signed_are_rejected(
        k in 0usize..3,
        name in prop::sample::select(
            ["iss", "aud", "exp", "iat", "nbf", "sub", "permissions", "org_code",
             "feature_flags", "roles", "scp", "jti", "azp", "custom", "x-hasura-roles"].to_vec()
        ),
        value in arb_json(),
        first in any::<bool>(),
    ) {
        let key = key(k);
        let mut claims = kinde_claims(ISSUER);
        if claims.get(name).is_none() {
            claims[name] = json!("v");
        }
        let base = serde_json::to_string(&claims).unwrap();
        let dup = format!("\"{name}\":{value}");
        let payload = if first {
            format!("{{{dup},{}", &base[1..])
        } else {
            format!("{},{dup}}}", &base[..base.len() - 1])
        };
        let token = sign_raw(key, &header_json(key), payload.as_bytes());
        prop_assert!(
            matches!(rejected(&token), Reason::Malformed | Reason::InvalidClaim)
        );
    }
}

/// The JSON type a known claim must have.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// `iss`: any value other than the exact issuer string is wrong.
    Issuer,
    /// `aud`: any value not naming the audience is wrong.
    Audience,
    Str,
    Bool,
    Num,
    StrArray,
    Roles,
    Object,
}

impl Kind {
    fn violated_by(self, v: &Value) -> bool {
        match self {
            Kind::Issuer => v != &json!(ISSUER),
            Kind::Audience => {
                !(v == &json!(AUD)
                    || v.as_array()
                        .is_some_and(|a| a.iter().all(Value::is_string) && a.contains(&json!(AUD))))
            }
            Kind::Str => !v.is_string(),
            Kind::Bool => !v.is_boolean(),
            Kind::Num => !v.is_number(),
            Kind::StrArray => !v.as_array().is_some_and(|a| a.iter().all(Value::is_string)),
            Kind::Roles => !v.as_array().is_some_and(|a| {
                a.iter().all(|r| {
                    r.is_string()
                        || r.get("key").is_some_and(Value::is_string)
                            && r.get("id").is_none_or(|x| x.is_string() || x.is_null())
                            && r.get("name").is_none_or(|x| x.is_string() || x.is_null())
                })
            }),
            Kind::Object => !v.is_object(),
        }
    }
}

const CLAIM_TYPES: &[(&str, Kind)] = &[
    ("iss", Kind::Issuer),
    ("aud", Kind::Audience),
    ("exp", Kind::Num),
    ("iat", Kind::Num),
    ("nbf", Kind::Num),
    ("auth_time", Kind::Num),
    ("updated_at", Kind::Num),
    ("sub", Kind::Str),
    ("jti", Kind::Str),
    ("azp", Kind::Str),
    ("client_id", Kind::Str),
    ("scope", Kind::Str),
    ("org_code", Kind::Str),
    ("org_name", Kind::Str),
    ("email", Kind::Str),
    ("name", Kind::Str),
    ("picture", Kind::Str),
    ("sid", Kind::Str),
    ("nonce", Kind::Str),
    ("x-hasura-org-code", Kind::Str),
    ("email_verified", Kind::Bool),
    ("scp", Kind::StrArray),
    ("permissions", Kind::StrArray),
    ("org_codes", Kind::StrArray),
    ("x-hasura-permissions", Kind::StrArray),
    ("roles", Kind::Roles),
    ("x-hasura-roles", Kind::Roles),
    ("feature_flags", Kind::Object),
    ("x-hasura-feature-flags", Kind::Object),
];

// ---------------------------------------------------------------------------------------------
// Deterministic cases (docs/security.md case 91's list)
// ---------------------------------------------------------------------------------------------

#[test]
fn every_poisoned_header_is_rejected_with_its_reason() {
    use Reason::*;
    let expected = [
        AlgorithmNotAllowed,       // none
        AlgorithmNotAllowed,       // None
        AlgorithmNotAllowed,       // NONE
        AlgorithmNotAllowed,       // HS256 with a key set
        AlgorithmNotAllowed,       // HS512
        AlgorithmNotAllowed,       // lower case
        AlgorithmNotAllowed,       // trailing space
        AlgorithmNotAllowed,       // trailing NUL
        AlgorithmNotAllowed,       // ""
        AlgorithmNotAllowed,       // another key type's alg with this kid
        Malformed,                 // alg null
        Malformed,                 // alg number
        Malformed,                 // alg array
        Malformed,                 // alg object
        Malformed,                 // no alg
        UnknownKey,                // unknown kid
        Malformed,                 // kid number
        Malformed,                 // kid array
        WrongTokenType,            // logout+jwt
        WrongTokenType,            // secevent+jwt
        WrongTokenType,            // JWE
        WrongTokenType,            // ""
        Malformed,                 // typ number
        UnsupportedCriticalHeader, // crit ["exp"]
        UnsupportedCriticalHeader, // crit []
        UnsupportedCriticalHeader, // crit null
        Malformed,                 // enc
        Malformed,                 // zip
        Malformed,                 // b64
        Malformed,                 // cty JWT
        Malformed,                 // cty jwt
        Malformed,                 // duplicate alg
        Malformed,                 // duplicate kid
        Malformed,                 // duplicate typ
        Malformed,                 // duplicate crit
        Malformed,                 // wrapped in an array
        Malformed,                 // two objects
        Malformed,                 // trailing garbage
        Malformed,                 // trailing comma
        Malformed,                 // BOM
        Malformed,                 // comment
        Malformed,                 // unterminated
        Malformed,                 // single quotes
        Malformed,                 // members as an array
        Malformed,                 // [alg]
        Malformed,                 // [alg] after whitespace
        Malformed,                 // null
        Malformed,                 // string
        Malformed,                 // number
        Malformed,                 // {} (no alg)
        Malformed,                 // empty
    ];
    for k in 0..3 {
        let key = key(k);
        let headers = poison_headers(key, &serde_json::Map::new());
        assert_eq!(
            headers.len(),
            expected.len(),
            "the list and its reasons are in step"
        );
        for (header, want) in headers.iter().zip(expected) {
            let got = rejected(&sign_raw(key, header, &claims_json()));
            assert_eq!(
                got,
                want,
                "{} header {}",
                key.alg,
                String::from_utf8_lossy(header)
            );
        }
    }
}

#[test]
fn case_91_segment_counts() {
    let token = valid_token(0, "seg");
    let p: Vec<&str> = token.split('.').collect();
    let cases = [
        String::new(),                                                    // 0 segments
        p[0].to_owned(),                                                  // 1
        format!("{}.{}", p[0], p[1]),                                     // 2
        format!("{}.{}.{}.{}", p[0], p[1], p[2], p[2]),                   // 4
        format!("{}.{}.{}.{}.{}.{}", p[0], p[1], p[2], p[0], p[1], p[2]), // 6
        format!("{token}."),
        format!(".{token}"),
        ".".into(),
        "..".into(),
        "...".into(),
        "....".into(), // a five-segment JWE shape, all empty
    ];
    for t in &cases {
        assert_eq!(rejected(t), Reason::Malformed, "{}", describe(t));
    }
    // A five-segment JWE built from real-looking parts.
    let jwe_header = b64(br#"{"alg":"RSA-OAEP","enc":"A256GCM"}"#);
    let jwe = format!(
        "{jwe_header}.{}.{}.{}.{}",
        p[2],
        b64([0u8; 12]),
        p[1],
        b64([0u8; 16])
    );
    assert_eq!(rejected(&jwe), Reason::Malformed);
}

#[test]
fn case_91_empty_segments() {
    let token = valid_token(0, "empty");
    let p: Vec<&str> = token.split('.').collect();
    let cases = [
        (format!(".{}.{}", p[1], p[2]), Reason::Malformed),
        (format!("{}..{}", p[0], p[2]), Reason::BadSignature),
        (format!("{}.{}.", p[0], p[1]), Reason::BadSignature),
        ("..".to_owned(), Reason::Malformed),
    ];
    for (t, want) in &cases {
        assert_eq!(rejected(t), *want, "{}", describe(t));
    }
    // An empty payload, correctly signed.
    let key = key(0);
    assert_eq!(
        rejected(&sign_raw(key, &header_json(key), b"")),
        Reason::Malformed
    );
}

#[test]
fn case_91_one_hundred_thousand_dots() {
    let dots = ".".repeat(100_000);
    assert_eq!(rejected(&dots), Reason::TooLarge);
    // With a limit high enough to reach the splitter, it still answers at once.
    let started = Instant::now();
    assert_eq!(rejected_by(&fx().roomy, &dots), Reason::Malformed);
    let token = valid_token(1, "dots");
    let dotted = format!("{token}{dots}");
    assert_eq!(rejected_by(&fx().roomy, &dotted), Reason::Malformed);
    let interleaved: String = "a.".repeat(100_000);
    assert_eq!(rejected_by(&fx().roomy, &interleaved), Reason::Malformed);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "splitting is linear: {:?}",
        started.elapsed()
    );
}

#[test]
fn case_91_one_megabyte_token_is_too_large_before_decoding() {
    let token = valid_token(0, "big");
    let (h, rest) = token.split_once('.').unwrap();
    let huge_payload = format!("{h}.{}{rest}", "A".repeat(1024 * 1024));
    let cases = [
        "a".repeat(1024 * 1024),
        huge_payload,
        format!("{token}{}", "=".repeat(1024 * 1024)),
        "é".repeat(512 * 1024),
    ];
    for t in &cases {
        let started = Instant::now();
        assert_eq!(rejected(t), Reason::TooLarge, "{}", describe(t));
        assert!(started.elapsed() < Duration::from_secs(2));
    }
    // Exactly at the limit is decoded; one byte over is not.
    let at_limit = format!("{token}{}", "A".repeat(16 * 1024 - token.len()));
    assert_eq!(at_limit.len(), 16 * 1024);
    assert_ne!(rejected(&at_limit), Reason::TooLarge);
    assert_eq!(rejected(&format!("{at_limit}A")), Reason::TooLarge);
}

#[test]
fn case_91_whitespace_and_newlines_inside() {
    let token = valid_token(2, "ws");
    let (h, rest) = token.split_once('.').unwrap();
    let (p, s) = rest.split_once('.').unwrap();
    let cases = [
        format!(" {token}"),
        format!("{token} "),
        format!("{token}\n"),
        format!("{token}\r\n"),
        format!("Bearer {token}"),
        format!("{h} .{p}.{s}"),
        format!("{h}.{p}.{s}\t"),
        format!("{}\n{}.{p}.{s}", &h[..4], &h[4..]),
        format!("{h}.{p}.{}\u{0}{}", &s[..5], &s[5..]),
        format!("{h}.{p}.{}\u{200b}{}", &s[..5], &s[5..]),
    ];
    for t in &cases {
        assert_eq!(rejected(t), Reason::Malformed, "{}", describe(t));
    }
    // In the payload, the signature no longer matches (it is checked before the payload is
    // decoded).
    for t in [
        format!("{h}.\n{p}.{s}"),
        format!("{h}.{}\r\n{}.{s}", &p[..10], &p[10..]),
        format!("{h}.{p} .{s}"),
    ] {
        assert_eq!(rejected(&t), Reason::BadSignature, "{}", describe(&t));
    }
}

#[test]
fn case_91_standard_base64_and_padding() {
    let key = key(0);
    // A header and payload whose base64url forms contain '-' or '_', so standard base64 differs.
    let mut claims = kinde_claims(ISSUER);
    claims["jti"] = json!("?>?>~~~~??>>");
    let token = key.token(&claims);
    let parts: Vec<&str> = token.split('.').collect();
    assert!(
        parts[1].contains(['-', '_']),
        "the payload needs url-safe characters"
    );
    for i in 0..3 {
        let raw = URL_SAFE_NO_PAD.decode(parts[i]).unwrap();
        for encoded in [
            STANDARD.encode(&raw),
            STANDARD_NO_PAD.encode(&raw),
            URL_SAFE.encode(&raw),
            format!("{}=", parts[i]),
            format!("{}==", parts[i]),
            format!("{}%3D", parts[i]),
        ] {
            if encoded == parts[i] {
                continue;
            }
            let mut p: Vec<&str> = parts.clone();
            p[i] = &encoded;
            let t = p.join(".");
            assert_eq!(
                rejected(&t),
                segment_reason(i),
                "segment {i}: {}",
                describe(&t)
            );
        }
    }
}

#[test]
fn case_91_non_canonical_base64url() {
    let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut tried = [0usize; 3];
    for k in 0..3 {
        for jti in ["a", "ab", "abc"] {
            let token = valid_token(k, jti);
            let parts: Vec<&str> = token.split('.').collect();
            for (i, part) in parts.iter().enumerate() {
                // 2 characters over a multiple of 4 leave 4 unused bits, 3 leave 2.
                let unused = match part.len() % 4 {
                    2 => 0b1111,
                    3 => 0b11,
                    _ => continue,
                };
                let v = alphabet.find(part.chars().last().unwrap()).unwrap();
                assert_eq!(v & unused, 0, "the signer encodes canonically");
                for bits in (1..16).filter(|b| b & unused != 0) {
                    let twisted = alphabet.as_bytes()[v | (bits & unused)] as char;
                    let mut p = parts.iter().map(|s| s.to_string()).collect::<Vec<_>>();
                    p[i] = format!("{}{twisted}", &part[..part.len() - 1]);
                    let t = p.join(".");
                    assert_eq!(
                        rejected(&t),
                        segment_reason(i),
                        "key {k}, segment {i}, trailing bits {bits:#06b}"
                    );
                }
                tried[i] += 1;
            }
        }
    }
    assert!(
        tried.iter().all(|n| *n > 0),
        "every segment was twisted: {tried:?}"
    );
}

#[test]
fn case_91_huge_and_non_json_headers() {
    let key = key(0);
    let claims = claims_json();
    let mut huge = key.header();
    huge["x-pad"] = json!("a".repeat(20_000));
    let deep_array = "[".repeat(10_000);
    let deep_closed = format!("{}{}", "[".repeat(5_000), "]".repeat(5_000));
    let cases: Vec<(Vec<u8>, Reason)> = vec![
        (serde_json::to_vec(&huge).unwrap(), Reason::TooLarge),
        (b"not json".to_vec(), Reason::Malformed),
        (vec![0xff, 0xfe, 0x00, 0x7b], Reason::Malformed),
        (b"[\"RS256\"]".to_vec(), Reason::Malformed),
        (
            br#"[{"alg":"RS256","kid":"rsa"}]"#.to_vec(),
            Reason::Malformed,
        ),
        (deep_array.into_bytes(), Reason::Malformed),
        (deep_closed.into_bytes(), Reason::Malformed),
        (
            format!(
                r#"{{"alg":"RS256","kid":"rsa","x":{}}}"#,
                "[".repeat(10_000)
            )
            .into_bytes(),
            Reason::Malformed,
        ),
        (
            br#"{"alg":"RS256","kid":"rsa","alg":"RS256"}"#.to_vec(),
            Reason::Malformed,
        ),
        (
            br#"{"alg":"RS256","kid":"rsa","kid":"rsa"}"#.to_vec(),
            Reason::Malformed,
        ),
        (
            br#"{"alg":"RS256","kid":"rsa","alg":"none"}"#.to_vec(),
            Reason::Malformed,
        ),
        (
            br#"{"alg":"RS256","kid":"rsa","typ":"JWT","typ":"JWT"}"#.to_vec(),
            Reason::Malformed,
        ),
    ];
    for (header, want) in &cases {
        let t = sign_raw(key, header, &claims);
        assert_eq!(
            rejected(&t),
            *want,
            "{}",
            String::from_utf8_lossy(&header[..header.len().min(80)])
        );
    }
    // With a roomy limit, the 20 KB header reaches the parser, and then the signature decides:
    // it is correctly signed, so an extra member is harmless; a 100,000-deep array is not.
    let t = sign_raw(key, &serde_json::to_vec(&huge).unwrap(), &claims);
    fx().rt
        .block_on(fx().roomy.verify_access_token(&t))
        .unwrap();
    let bomb = sign_raw(key, "[".repeat(100_000).as_bytes(), &claims);
    assert_eq!(rejected_by(&fx().roomy, &bomb), Reason::Malformed);
    let bomb = sign_raw(
        key,
        format!(
            r#"{{"alg":"RS256","kid":"rsa","x":{}}}"#,
            "{\"a\":".repeat(100_000)
        )
        .as_bytes(),
        &claims,
    );
    assert_eq!(rejected_by(&fx().roomy, &bomb), Reason::Malformed);
}

/// The valid claims without `names`, as JSON text missing its closing brace (to append members).
fn open_claims_without(names: &[&str]) -> String {
    let mut claims = kinde_claims(ISSUER);
    for n in names {
        claims.as_object_mut().unwrap().remove(*n);
    }
    let s = claims.to_string();
    s[..s.len() - 1].to_owned()
}

#[test]
fn case_91_huge_and_non_json_payloads() {
    let key = key(1);
    let header = header_json(key);
    let base = String::from_utf8(claims_json()).unwrap();
    let open = open_claims_without(&[]);
    let no_roles = open_claims_without(&["roles"]);
    let no_exp = open_claims_without(&["exp"]);
    let no_aud = open_claims_without(&["aud"]);
    let mut huge = kinde_claims(ISSUER);
    huge["x-pad"] = json!("a".repeat(20_000));
    let cases: Vec<(Vec<u8>, Reason)> = vec![
        (serde_json::to_vec(&huge).unwrap(), Reason::TooLarge),
        (b"not json".to_vec(), Reason::Malformed),
        (vec![0xff, 0xfe, 0x00, 0x7b], Reason::Malformed),
        (format!("[{base}]").into_bytes(), Reason::Malformed),
        (
            serde_json::to_vec(&json!([ISSUER, "kp_1", [AUD], common::now() + 60])).unwrap(),
            Reason::Malformed,
        ),
        (format!("{base}{base}").into_bytes(), Reason::Malformed),
        (format!("{base} x").into_bytes(), Reason::Malformed),
        (format!("\u{feff}{base}").into_bytes(), Reason::Malformed),
        ("[".repeat(10_000).into_bytes(), Reason::Malformed),
        ("{\"a\":".repeat(2_000).into_bytes(), Reason::Malformed),
        (
            format!("{open},\"x\":{}}}", "[".repeat(10_000)).into_bytes(),
            Reason::Malformed,
        ),
        (
            format!("{open},\"x\":{}1{}}}", "[".repeat(200), "]".repeat(200)).into_bytes(),
            Reason::Malformed,
        ),
        (
            format!("{no_roles},\"roles\":{}}}", "[".repeat(10_000)).into_bytes(),
            Reason::InvalidClaim,
        ),
        (
            format!("{no_aud},\"aud\":{}}}", "[".repeat(10_000)).into_bytes(),
            Reason::InvalidClaim,
        ),
        (
            format!("{open},\"iss\":\"{ISSUER}\"}}").into_bytes(),
            Reason::InvalidClaim,
        ),
        (
            format!("{open},\"exp\":1}}").into_bytes(),
            Reason::InvalidClaim,
        ),
        (
            format!("{open},\"x\":1,\"x\":1}}").into_bytes(),
            Reason::Malformed,
        ),
        (
            format!("{no_exp},\"exp\":1e400}}").into_bytes(),
            Reason::InvalidClaim,
        ),
        (
            format!("{no_exp},\"exp\":\"tomorrow\"}}").into_bytes(),
            Reason::InvalidClaim,
        ),
        (b"{}".to_vec(), Reason::MissingClaim),
        (b"null".to_vec(), Reason::Malformed),
        (Vec::new(), Reason::Malformed),
    ];
    for (payload, want) in &cases {
        let t = sign_raw(key, &header, payload);
        let got = rejected(&t);
        assert_eq!(
            got,
            *want,
            "{}",
            String::from_utf8_lossy(&payload[payload.len().saturating_sub(80)..])
        );
    }
    // Even far past the token limit (with a roomy verifier), deep nesting is refused, not
    // recursed into.
    let bomb = sign_raw(
        key,
        &header,
        format!("{open},\"x\":{}}}", "[".repeat(500_000)).as_bytes(),
    );
    assert_eq!(rejected_by(&fx().roomy, &bomb), Reason::Malformed);
}

#[test]
fn case_91_random_bytes_examples() {
    let samples: [&[u8]; 8] = [
        b"",
        b"\0",
        b"\xff\xfe\xfd",
        b"eyJ",
        b"eyJhbGciOiJub25lIn0",
        b"eyJhbGciOiJub25lIn0.e30.",
        b"eyJhbGciOiJub25lIn0.e30",
        "\u{1F600}.\u{1F600}.\u{1F600}".as_bytes(),
    ];
    for s in samples {
        rejected(&String::from_utf8_lossy(s));
    }
    // alg:none with an empty and a made-up signature.
    assert_eq!(
        rejected("eyJhbGciOiJub25lIn0.e30."),
        Reason::AlgorithmNotAllowed
    );
    assert_eq!(
        rejected("eyJhbGciOiJub25lIn0.e30.c2ln"),
        Reason::AlgorithmNotAllowed
    );
}
