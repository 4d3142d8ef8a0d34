//! `TokenVerifier` against the attack catalogue in docs/security.md, sections A
//! (JOSE and signature layer) and B (claims), plus case 102 (no `kid`) and the verified-token
//! cache. Every test is named after its case and asserts the exact [`Reason`] of each rejection;
//! every rejection is also checked not to echo the token in its message.
//!
//! Case 6 (`jku`/`x5u`/`x5c`) lives in `jwks_lifecycle.rs`, next to the other tests that count
//! requests to the issuer. Cases 24 and 25 are client-flow checks (refresh, UserInfo) with no
//! `TokenVerifier` API.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use common::{AUD, CLIENT_ID, TestIssuerServer, TestKey, b64, id_claims, kinde_claims};
use portcullis::clock::ManualClock;
use portcullis::{
    AccessTokenType, Algorithm, Error, IdTokenChecks, JwksOptions, Reason, TokenVerifier,
};
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// The [`Reason`] of a rejection, after checking that the error (Display and Debug) does not
/// contain the token or any of its segments.
#[track_caller]
fn rejected<T>(result: Result<T, Error>, token: &str) -> Reason {
    match result {
        Ok(_) => panic!("expected a rejection"),
        Err(e) => {
            assert_no_leak(&e, token);
            e.reason()
                .unwrap_or_else(|| panic!("not a token rejection: {e}"))
        }
    }
}

#[track_caller]
fn assert_no_leak(e: &Error, token: &str) {
    let shown = format!("{e} | {e:?}");
    if !token.is_empty() {
        assert!(
            !shown.contains(token),
            "the error echoes the token: {shown}"
        );
    }
    for segment in token.split('.').filter(|s| s.len() >= 8) {
        assert!(
            !shown.contains(segment),
            "the error echoes a token segment: {shown}"
        );
    }
}

/// The config error's setting, for a builder that must refuse to build.
#[track_caller]
fn config_setting(result: Result<TokenVerifier, Error>) -> String {
    match result {
        Ok(_) => panic!("expected a configuration error"),
        Err(Error::Config(c)) => c.setting().to_owned(),
        Err(other) => panic!("expected a configuration error, got {other}"),
    }
}

fn json_bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap()
}

/// A token from raw header and payload bytes, signed by `key` with `alg`.
fn sign_raw(key: &TestKey, alg: &str, header: &[u8], payload: &[u8]) -> String {
    let input = format!("{}.{}", b64(header), b64(payload));
    let sig = key.sign_bytes(alg, input.as_bytes());
    format!("{input}.{}", b64(sig))
}

/// A token MAC'd with `secret` (any bytes) using `alg` (HS256/384/512).
fn mac_token(alg: &str, secret: &[u8], header: &Value, claims: &Value) -> String {
    TestKey::hmac(secret).sign(alg, header, claims)
}

/// An unsigned token (`h.p.`).
fn unsigned(header: &Value, claims: &Value) -> String {
    format!("{}.{}.", b64(json_bytes(header)), b64(json_bytes(claims)))
}

fn segments(token: &str) -> (&str, &str, &str) {
    let mut it = token.split('.');
    let parts = (it.next().unwrap(), it.next().unwrap(), it.next().unwrap());
    assert!(it.next().is_none());
    parts
}

/// Access-token claims valid at `now`.
fn access_at(issuer: &str, now: i64) -> Value {
    let mut c = kinde_claims(issuer);
    c["iat"] = json!(now - 10);
    c["exp"] = json!(now + 3600);
    c
}

/// ID-token claims valid at `now`.
fn id_at(issuer: &str, nonce: Option<&str>, now: i64) -> Value {
    let mut c = id_claims(issuer, nonce);
    c["iat"] = json!(now - 5);
    c["auth_time"] = json!(now - 5);
    c["exp"] = json!(now + 3600);
    c
}

fn without(mut claims: Value, name: &str) -> Value {
    claims.as_object_mut().unwrap().remove(name);
    claims
}

fn with(mut claims: Value, name: &str, value: Value) -> Value {
    claims[name] = value;
    claims
}

/// The JWK's `n` and `e` as bytes.
fn rsa_components(jwk: &Value) -> (Vec<u8>, Vec<u8>) {
    let field = |name: &str| URL_SAFE_NO_PAD.decode(jwk[name].as_str().unwrap()).unwrap();
    (field("n"), field("e"))
}

/// The uncompressed EC point `04 || x || y` of a JWK.
fn ec_point(jwk: &Value) -> Vec<u8> {
    let field = |name: &str| URL_SAFE_NO_PAD.decode(jwk[name].as_str().unwrap()).unwrap();
    let mut point = vec![4u8];
    point.extend(field("x"));
    point.extend(field("y"));
    point
}

fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let first = bytes.iter().position(|b| *b != 0).unwrap();
        out.push(0x80 | (bytes.len() - first) as u8);
        out.extend_from_slice(&bytes[first..]);
    }
    out.extend_from_slice(content);
    out
}

fn der_uint(bytes: &[u8]) -> Vec<u8> {
    let first = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    let mut v = bytes[first..].to_vec();
    if v.first().is_none_or(|b| b & 0x80 != 0) {
        v.insert(0, 0);
    }
    der(0x02, &v)
}

/// PKCS#1 `RSAPublicKey` DER.
fn rsa_pkcs1_der(n: &[u8], e: &[u8]) -> Vec<u8> {
    der(0x30, &[der_uint(n), der_uint(e)].concat())
}

/// X.509 `SubjectPublicKeyInfo` DER for an RSA key.
fn rsa_spki_der(n: &[u8], e: &[u8]) -> Vec<u8> {
    const RSA_ENCRYPTION: [u8; 9] = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
    let algorithm = der(0x30, &[der(0x06, &RSA_ENCRYPTION), der(0x05, &[])].concat());
    let bits = der(0x03, &[&[0u8][..], &rsa_pkcs1_der(n, e)].concat());
    der(0x30, &[algorithm, bits].concat())
}

fn pem(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

fn ssh_string(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// `ecdsa-sha2-nistp256 AAAA…` (OpenSSH public key line) for a P-256 JWK.
fn openssh_ecdsa(jwk: &Value) -> String {
    let mut blob = Vec::new();
    ssh_string(&mut blob, b"ecdsa-sha2-nistp256");
    ssh_string(&mut blob, b"nistp256");
    ssh_string(&mut blob, &ec_point(jwk));
    format!(
        "ecdsa-sha2-nistp256 {} attacker@example",
        STANDARD.encode(blob)
    )
}

/// `ssh-rsa AAAA…` for an RSA JWK.
fn openssh_rsa(jwk: &Value) -> String {
    let (n, e) = rsa_components(jwk);
    let mpint = |b: &[u8]| {
        let first = b.iter().position(|x| *x != 0).unwrap_or(b.len());
        let mut v = b[first..].to_vec();
        if v.first().is_some_and(|x| x & 0x80 != 0) {
            v.insert(0, 0);
        }
        v
    };
    let mut blob = Vec::new();
    ssh_string(&mut blob, b"ssh-rsa");
    ssh_string(&mut blob, &mpint(&e));
    ssh_string(&mut blob, &mpint(&n));
    format!("ssh-rsa {}", STANDARD.encode(blob))
}

/// `at_hash`: base64url of the left half of `digest(access_token)`.
fn half_hash(digest: &'static aws_lc_rs::digest::Algorithm, access_token: &str) -> String {
    let d = aws_lc_rs::digest::digest(digest, access_token.as_bytes());
    let bytes = d.as_ref();
    b64(&bytes[..bytes.len() / 2])
}

fn random_bytes(len: usize) -> Vec<u8> {
    use aws_lc_rs::rand::SecureRandom as _;
    let mut out = vec![0u8; len];
    aws_lc_rs::rand::SystemRandom::new().fill(&mut out).unwrap();
    out
}

// ---------------------------------------------------------------------------------------------
// A. JOSE and signature layer
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn case_01_alg_none_in_every_spelling() {
    let k1 = TestKey::rsa("k1");
    let server = TestIssuerServer::start(&[&k1]).await;
    let verifier = server.verifier().build().unwrap();
    let access = kinde_claims(&server.issuer);
    let id = id_claims(&server.issuer, Some("n-1"));
    for alg in ["none", "None", "NONE", "nOnE"] {
        assert!(
            alg.parse::<Algorithm>().is_err(),
            "{alg} is not an Algorithm"
        );
        let headers = [
            json!({"alg": alg}),
            json!({"alg": alg, "typ": "JWT"}),
            json!({"alg": alg, "kid": "k1", "typ": "JWT"}),
        ];
        for header in &headers {
            // `h.p.`: the empty signature of jwt_tool's `-X a`.
            let token = unsigned(header, &access);
            let r = verifier.verify_access_token(&token).await;
            assert_eq!(rejected(r, &token), Reason::AlgorithmNotAllowed, "{header}");
            let r = verifier.verify_access_token_as::<Value>(&token).await;
            assert_eq!(rejected(r, &token), Reason::AlgorithmNotAllowed, "{header}");

            let token = unsigned(header, &id);
            let r = verifier.verify_id_token(&token, Some("n-1")).await;
            assert_eq!(rejected(r, &token), Reason::AlgorithmNotAllowed, "{header}");

            // A real RS256 signature over the same input does not help.
            let token = sign_raw(&k1, "RS256", &json_bytes(header), &json_bytes(&access));
            let r = verifier.verify_access_token(&token).await;
            assert_eq!(rejected(r, &token), Reason::AlgorithmNotAllowed, "{header}");
        }
    }
    assert_eq!(
        server.jwks_hits(),
        0,
        "alg none is refused before any key is even fetched"
    );
    // The verifier still works for a real token.
    verifier
        .verify_access_token(&k1.token(&access))
        .await
        .unwrap();
}

#[tokio::test]
async fn case_02_null_truncated_and_bit_flipped_signatures_then_the_original_still_verifies() {
    let rsa = TestKey::rsa("rsa");
    let ec = TestKey::ec256("ec");
    let server = TestIssuerServer::start(&[&rsa, &ec]).await;
    let claims = kinde_claims(&server.issuer);
    for cached in [false, true] {
        let builder = server.verifier();
        let builder = if cached {
            builder.cache_verified_tokens(1000)
        } else {
            builder
        };
        let verifier = builder.build().unwrap();
        for key in [&rsa, &ec] {
            let original = key.token(&claims);
            verifier.verify_access_token(&original).await.unwrap();
            let (h, p, s) = segments(&original);
            let label = format!("{} cached={cached}", key.alg);

            // Null signature (jwt_tool -X n).
            let token = format!("{h}.{p}.");
            let r = verifier.verify_access_token(&token).await;
            assert_eq!(rejected(r, &token), Reason::BadSignature, "{label}");

            // Truncated ("broken signature"): cutting 1 character leaves an impossible base64url
            // length (Malformed); cutting 2 leaves whole bytes (BadSignature); cutting 4 leaves a
            // final character whose unused bits may or may not be zero, so the strict decoder
            // decides.
            for cut in 1..=4 {
                let short = &s[..s.len() - cut];
                let token = format!("{h}.{p}.{short}");
                let expected = if URL_SAFE_NO_PAD.decode(short).is_ok() {
                    Reason::BadSignature
                } else {
                    Reason::Malformed
                };
                match short.len() % 4 {
                    1 => assert_eq!(expected, Reason::Malformed),
                    0 => assert_eq!(expected, Reason::BadSignature),
                    _ => {}
                }
                let r = verifier.verify_access_token(&token).await;
                assert_eq!(rejected(r, &token), expected, "{label} cut {cut}");
            }

            // One flipped bit in the signature: first, middle and last byte, low and high bit.
            let sig = URL_SAFE_NO_PAD.decode(s).unwrap();
            for (i, bit) in [(0, 0), (sig.len() / 2, 7), (sig.len() - 1, 0)] {
                let mut flipped = sig.clone();
                flipped[i] ^= 1 << bit;
                let token = format!("{h}.{p}.{}", b64(&flipped));
                let r = verifier.verify_access_token(&token).await;
                assert_eq!(
                    rejected(r, &token),
                    Reason::BadSignature,
                    "{label} sig byte {i}"
                );
            }

            // One flipped bit in the payload (e.g. a permission, an expiry, a subject).
            let payload = URL_SAFE_NO_PAD.decode(p).unwrap();
            for i in [2, payload.len() / 2, payload.len() - 2] {
                let mut flipped = payload.clone();
                flipped[i] ^= 0x01;
                let token = format!("{h}.{}.{s}", b64(&flipped));
                let r = verifier.verify_access_token(&token).await;
                assert_eq!(
                    rejected(r, &token),
                    Reason::BadSignature,
                    "{label} payload byte {i}"
                );
            }

            // The same altered tokens as ID tokens.
            let token = format!("{h}.{p}.");
            let r = verifier.verify_id_token(&token, None).await;
            assert_eq!(rejected(r, &token), Reason::BadSignature, "{label}");

            // Persistence check: no negative caching, no lockout of the good token.
            for _ in 0..3 {
                let c = verifier.verify_access_token(&original).await.unwrap();
                assert!(c.has_permission("read:todos"));
            }
        }
    }
}

#[tokio::test]
async fn case_03_rs_hs_key_confusion() {
    let rsa = TestKey::rsa("k1");
    let ec = TestKey::ec256("e1");
    let server = TestIssuerServer::start(&[&rsa, &ec]).await;
    let claims = kinde_claims(&server.issuer);

    let (n, e) = rsa_components(&rsa.jwk);
    let pkcs1 = rsa_pkcs1_der(&n, &e);
    let spki = rsa_spki_der(&n, &e);
    // Sanity: the DER built here is the issuer's real public key.
    {
        use aws_lc_rs::signature::{RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};
        let good = rsa.token(&claims);
        let (h, p, s) = segments(&good);
        let sig = URL_SAFE_NO_PAD.decode(s).unwrap();
        let input = format!("{h}.{p}");
        UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &pkcs1)
            .verify(input.as_bytes(), &sig)
            .expect("the PKCS#1 DER is the issuer's key");
    }
    let jwks_doc = json!({"keys": [rsa.jwk.clone(), ec.jwk.clone()]});
    let secrets: Vec<(&str, Vec<u8>)> = vec![
        ("PEM SPKI", pem("PUBLIC KEY", &spki).into_bytes()),
        (
            "PEM SPKI without final newline",
            pem("PUBLIC KEY", &spki).trim_end().as_bytes().to_vec(),
        ),
        ("PEM PKCS#1", pem("RSA PUBLIC KEY", &pkcs1).into_bytes()),
        ("DER SPKI", spki.clone()),
        ("DER PKCS#1", pkcs1.clone()),
        ("JWK JSON", serde_json::to_vec(&rsa.jwk).unwrap()),
        ("JWKS JSON", serde_json::to_vec(&jwks_doc).unwrap()),
        ("raw modulus", n.clone()),
        (
            "base64url modulus",
            rsa.jwk["n"].as_str().unwrap().as_bytes().to_vec(),
        ),
        ("OpenSSH RSA", openssh_rsa(&rsa.jwk).into_bytes()),
        ("OpenSSH ECDSA", openssh_ecdsa(&ec.jwk).into_bytes()),
        ("raw EC point", ec_point(&ec.jwk)),
    ];

    let default = server.verifier().build().unwrap();
    // A caller who lists HS256 next to RS256 while using the issuer's key set: HS* is still never
    // allowed, because a key set never supplies HMAC keys.
    let listed = server
        .verifier()
        .algorithms(&[Algorithm::RS256, Algorithm::HS256])
        .build()
        .unwrap();
    for (what, secret) in &secrets {
        for alg in ["HS256", "HS384", "HS512"] {
            let headers = [
                json!({"alg": alg, "kid": "k1", "typ": "JWT"}),
                json!({"alg": alg, "kid": "e1", "typ": "JWT"}),
                json!({"alg": alg, "typ": "JWT"}),
            ];
            for header in &headers {
                let token = mac_token(alg, secret, header, &claims);
                for verifier in [&default, &listed] {
                    let r = verifier.verify_access_token(&token).await;
                    assert_eq!(
                        rejected(r, &token),
                        Reason::AlgorithmNotAllowed,
                        "{what} {header}"
                    );
                }
                let id = mac_token(alg, secret, header, &id_claims(&server.issuer, None));
                let r = default.verify_id_token(&id, None).await;
                assert_eq!(
                    rejected(r, &id),
                    Reason::AlgorithmNotAllowed,
                    "{what} {header}"
                );
            }
        }
    }

    // The listed HS256 is dropped from the allow-list: on its own it leaves nothing to verify
    // with, which is a configuration error rather than a verifier that rejects everything.
    let setting = config_setting(
        server
            .verifier()
            .algorithms(&[Algorithm::HS256, Algorithm::HS512])
            .build(),
    );
    assert_eq!(setting, "algorithms");

    // An `oct` key published in the JWKS is never used, whatever the allow-list says; the other
    // keys of the set still work.
    let secret = random_bytes(32);
    let oct = TestKey::hmac(&secret);
    server.set_jwks(vec![oct.jwk.clone(), rsa.jwk.clone()]);
    let fresh = server
        .verifier()
        .algorithms(&[Algorithm::RS256, Algorithm::HS256])
        .build()
        .unwrap();
    fresh
        .verify_access_token(&rsa.token(&claims))
        .await
        .unwrap();
    for header in [
        json!({"alg": "HS256", "kid": "hmac", "typ": "JWT"}),
        json!({"alg": "HS256", "typ": "JWT"}),
    ] {
        let token = oct.sign("HS256", &header, &claims);
        for verifier in [&fresh, &server.verifier().build().unwrap()] {
            let r = verifier.verify_access_token(&token).await;
            assert_eq!(rejected(r, &token), Reason::AlgorithmNotAllowed, "{header}");
        }
    }
    // Even an RS256 token naming the `oct` kid finds no key.
    let token = rsa.sign("RS256", &json!({"alg": "RS256", "kid": "hmac"}), &claims);
    let r = fresh.verify_access_token(&token).await;
    assert_eq!(rejected(r, &token), Reason::UnknownKey);
}

#[tokio::test]
async fn case_04_alg_not_allowed_for_this_key_or_context() {
    let rsa = TestKey::rsa("rsa");
    let rsa_pinned = TestKey::rsa("rsa-pinned");
    let p256 = TestKey::ec256("p256");
    let p384 = TestKey::ec384("p384");
    let ed = TestKey::ed25519("ed");
    let mislabelled = TestKey::ec256("mislabelled");
    let p256_es384 = TestKey::ec256("p256-es384");
    let server = TestIssuerServer::start(&[]).await;
    server.set_jwks(vec![
        rsa.jwk.clone(),
        rsa_pinned.jwk_with(json!({"alg": "RS256"})),
        p256.jwk.clone(),
        p384.jwk.clone(),
        ed.jwk.clone(),
        // A P-256 key whose JWK claims P-384: unusable, so ignored.
        mislabelled.jwk_with(json!({"crv": "P-384"})),
        // A P-256 key whose JWK says alg ES384: the alg does not fit the key, so ignored.
        p256_es384.jwk_with(json!({"alg": "ES384"})),
    ]);
    let claims = kinde_claims(&server.issuer);
    let default = server.verifier().build().unwrap();
    let rs256_only = server
        .verifier()
        .algorithms(&[Algorithm::RS256])
        .build()
        .unwrap();

    // PS256 / RS512 when only RS256 is configured (the default allow-list accepts them).
    rs256_only
        .verify_access_token(&rsa.token(&claims))
        .await
        .unwrap();
    for alg in ["PS256", "RS512", "RS384", "PS512"] {
        let token = rsa.sign(alg, &json!({"alg": alg, "kid": "rsa"}), &claims);
        default.verify_access_token(&token).await.unwrap();
        let r = rs256_only.verify_access_token(&token).await;
        assert_eq!(rejected(r, &token), Reason::AlgorithmNotAllowed, "{alg}");
        let id = rsa.sign(
            alg,
            &json!({"alg": alg, "kid": "rsa"}),
            &id_claims(&server.issuer, None),
        );
        let r = rs256_only.verify_id_token(&id, None).await;
        assert_eq!(rejected(r, &id), Reason::AlgorithmNotAllowed, "{alg}");
    }
    // An EC or EdDSA token is outside an RS256-only allow-list too.
    for key in [&p256, &ed] {
        let token = key.token(&claims);
        let r = rs256_only.verify_access_token(&token).await;
        assert_eq!(
            rejected(r, &token),
            Reason::AlgorithmNotAllowed,
            "{}",
            key.alg
        );
    }

    // The algorithm must fit the key the kid names.
    let mismatches = [
        // ES384 header, signed with the P-256 key it names.
        (&p256, "ES384", "p256"),
        // ES256 header naming the P-384 key, signed with it.
        (&p384, "ES256", "p384"),
        // EdDSA token naming an RSA kid.
        (&ed, "EdDSA", "rsa"),
        // RS256 token naming an EC key / an OKP key.
        (&rsa, "RS256", "p256"),
        (&rsa, "RS256", "ed"),
        // ES256 naming an RSA key.
        (&p256, "ES256", "rsa"),
        // The JWK pins alg RS256; the header says PS256 (signed correctly with PS256).
        (&rsa_pinned, "PS256", "rsa-pinned"),
        (&rsa_pinned, "RS512", "rsa-pinned"),
    ];
    for (key, alg, kid) in mismatches {
        let header = json!({"alg": alg, "kid": kid, "typ": "JWT"});
        let token = sign_raw(
            key,
            alg_for_signing(key, alg),
            &json_bytes(&header),
            &json_bytes(&claims),
        );
        let r = default.verify_access_token(&token).await;
        assert_eq!(rejected(r, &token), Reason::AlgorithmNotAllowed, "{header}");
    }
    // The pinned key still verifies its own algorithm.
    default
        .verify_access_token(&rsa_pinned.token(&claims))
        .await
        .unwrap();

    // Keys whose JWK contradicts itself are dropped from the set: no key, whatever the alg.
    for (key, kid) in [(&mislabelled, "mislabelled"), (&p256_es384, "p256-es384")] {
        for alg in ["ES256", "ES384"] {
            let header = json!({"alg": alg, "kid": kid, "typ": "JWT"});
            let token = sign_raw(key, "ES256", &json_bytes(&header), &json_bytes(&claims));
            let r = default.verify_access_token(&token).await;
            assert_eq!(rejected(r, &token), Reason::UnknownKey, "{header}");
        }
    }
}

/// The algorithm `key` can really sign with for a test that puts `header_alg` in the header: RSA
/// keys sign with the header's algorithm, EC and Ed keys with their own.
fn alg_for_signing(key: &TestKey, header_alg: &'static str) -> &'static str {
    if key.alg == "RS256" {
        header_alg
    } else {
        key.alg
    }
}

#[tokio::test]
async fn case_05_embedded_jwk_header_is_ignored() {
    let rsa = TestKey::rsa("k1");
    let ec = TestKey::ec256("e1");
    let server = TestIssuerServer::start(&[&rsa, &ec]).await;
    let verifier = server.verifier().build().unwrap();
    let claims = kinde_claims(&server.issuer);
    // The attacker's fresh keys, with the issuer's kids.
    let attacker_rsa = TestKey::rsa("k1");
    let attacker_ec = TestKey::ec256("e1");
    let cases = [
        (
            &attacker_rsa,
            json!({"alg": "RS256", "kid": "k1", "typ": "JWT", "jwk": attacker_rsa.jwk}),
        ),
        (
            &attacker_rsa,
            json!({"alg": "RS256", "typ": "JWT", "jwk": attacker_rsa.jwk}),
        ),
        (
            &attacker_rsa,
            json!({"alg": "PS256", "kid": "k1", "jwk": attacker_rsa.jwk}),
        ),
        (
            &attacker_ec,
            json!({"alg": "ES256", "kid": "e1", "typ": "JWT", "jwk": attacker_ec.jwk}),
        ),
        (
            &attacker_ec,
            json!({"alg": "ES256", "jwk": attacker_ec.jwk}),
        ),
    ];
    for (key, header) in &cases {
        let alg = header["alg"].as_str().unwrap();
        let token = key.sign(alg, header, &claims);
        let r = verifier.verify_access_token(&token).await;
        assert_eq!(rejected(r, &token), Reason::BadSignature, "{header}");
        let id = key.sign(alg, header, &id_claims(&server.issuer, None));
        let r = verifier.verify_id_token(&id, None).await;
        assert_eq!(rejected(r, &id), Reason::BadSignature, "{header}");
    }
    // A kid the issuer does not have: the embedded key does not make it known.
    let header = json!({"alg": "RS256", "kid": "attacker", "jwk": attacker_rsa.jwk_with(json!({"kid": "attacker"}))});
    let token = attacker_rsa.sign("RS256", &header, &claims);
    let r = verifier.verify_access_token(&token).await;
    assert_eq!(rejected(r, &token), Reason::UnknownKey);
    assert_eq!(server.other_hits(), 0);
}

/// A validly signed token whose header carries, in a member the verifier otherwise ignores,
/// what the payload may not carry (a 5,000-deep array, a number beyond `f64`): refused like the
/// same content in the payload, and promptly. Within the limits, such members are ignored.
#[tokio::test]
async fn header_members_are_parsed_under_the_payloads_limits() {
    let rsa = TestKey::rsa("k1");
    let server = TestIssuerServer::start(&[&rsa]).await;
    let verifier = server.verifier().build().unwrap();
    let claims = kinde_claims(&server.issuer);
    let base = String::from_utf8(json_bytes(&rsa.header())).unwrap();
    let with_member = |value: &str| format!("{},\"x-extra\":{value}}}", base.trim_end_matches('}'));
    let deep = format!("{}1{}", "[".repeat(5000), "]".repeat(5000));
    let payload = json_bytes(&claims);
    for (what, value) in [
        ("5,000-deep array", deep.as_str()),
        ("1e400", "1e400"),
        ("-1e400 in an array", "[1,-1e400]"),
        ("1e400 in an object", "{\"a\":1e400}"),
    ] {
        let token = sign_raw(&rsa, "RS256", with_member(value).as_bytes(), &payload);
        let started = std::time::Instant::now();
        let r = verifier.verify_access_token(&token).await;
        assert_eq!(
            rejected(r, &token),
            Reason::Malformed,
            "{what} in the header"
        );
        assert!(
            started.elapsed() < std::time::Duration::from_secs(1),
            "{what}"
        );
        // The same content in the payload is refused too.
        let mut in_payload = claims.clone();
        in_payload["x-extra"] = json!(null);
        let body = String::from_utf8(json_bytes(&in_payload))
            .unwrap()
            .replace("\"x-extra\":null", &format!("\"x-extra\":{value}"));
        let token = sign_raw(&rsa, "RS256", base.as_bytes(), body.as_bytes());
        let r = verifier.verify_access_token(&token).await;
        assert_eq!(
            rejected(r, &token),
            Reason::Malformed,
            "{what} in the payload"
        );
    }
    // Unknown members within the limits are still ignored.
    for value in ["[[[1]]]", "1e300", "{\"a\":[null,true,\"s\"]}", "\"x5u\""] {
        let token = sign_raw(&rsa, "RS256", with_member(value).as_bytes(), &payload);
        verifier
            .verify_access_token(&token)
            .await
            .unwrap_or_else(|e| panic!("{value}: {e}"));
    }
}

#[tokio::test]
async fn case_07_kid_injection() {
    let k1 = TestKey::rsa("k1");
    let server = TestIssuerServer::start(&[&k1]).await;
    let verifier = server.verifier().build().unwrap();
    let claims = kinde_claims(&server.issuer);
    verifier
        .verify_access_token(&k1.token(&claims))
        .await
        .unwrap();
    assert_eq!(server.jwks_hits(), 1);

    let listener = format!("{}/kid-listener", server.issuer);
    let kids: Vec<String> = vec![
        String::new(),
        " ".into(),
        "../../../../../../dev/null".into(),
        "/dev/null".into(),
        "/invalid_path".into(),
        "|sleep 10".into(),
        "; sleep 10".into(),
        "$(sleep 10)".into(),
        "`sleep 10`".into(),
        format!("| curl {listener}"),
        "x' UNION SELECT '1';--".into(),
        "k1' OR '1'='1".into(),
        "k1\u{0000}".into(),
        "\u{0000}".into(),
        "k1\r\nX-Injected: 1".into(),
        "k1\n".into(),
        " k1".into(),
        "K1".into(),
        "k".repeat(10 * 1024),
        "\u{202e}1k".into(),
    ];
    for kid in &kids {
        let header = json!({"alg": "RS256", "kid": kid, "typ": "JWT"});
        let token = k1.sign("RS256", &header, &claims);
        assert!(
            token.len() <= 16 * 1024,
            "the kid, not the size, is under test"
        );
        let started = Instant::now();
        let r = verifier.verify_access_token(&token).await;
        let took = started.elapsed();
        let shown = kid.chars().take(40).collect::<String>();
        assert_eq!(rejected(r, &token), Reason::UnknownKey, "kid {shown:?}");
        assert!(
            took < Duration::from_secs(2),
            "kid {shown:?} took {took:?}: the kid must not be executed"
        );
    }

    // jwt_tool's SQL variant MACs the token with the secret `1`: refused by algorithm first.
    let header = json!({"alg": "HS256", "kid": "x' UNION SELECT '1';--", "typ": "JWT"});
    let token = mac_token("HS256", b"1", &header, &claims);
    let r = verifier.verify_access_token(&token).await;
    assert_eq!(rejected(r, &token), Reason::AlgorithmNotAllowed);

    // A kid with non-UTF-8 bytes is not valid JSON text: malformed header.
    let mut header = br#"{"alg":"RS256","typ":"JWT","kid":"k1"#.to_vec();
    header.extend_from_slice(&[0xff, 0xfe, b'"', b'}']);
    let token = sign_raw(&k1, "RS256", &header, &json_bytes(&claims));
    let r = verifier.verify_access_token(&token).await;
    assert_eq!(rejected(r, &token), Reason::Malformed);
    // A kid that is not a string.
    for kid in [json!(1), json!(["k1"]), json!({"k": "k1"}), json!(true)] {
        let header = json!({"alg": "RS256", "kid": kid});
        let token = k1.sign("RS256", &header, &claims);
        let r = verifier.verify_access_token(&token).await;
        assert_eq!(rejected(r, &token), Reason::Malformed, "{kid}");
    }
    // `"kid": null` is the same as no kid (case 102): the only RSA key applies, and verifies.
    let token = k1.sign("RS256", &json!({"alg": "RS256", "kid": null}), &claims);
    verifier.verify_access_token(&token).await.unwrap();

    assert_eq!(server.other_hits(), 0, "nothing contacted the listener");
    assert!(
        server.jwks_hits() <= 2,
        "unknown kids cause at most one rate-limited refresh, got {}",
        server.jwks_hits()
    );
}

#[tokio::test]
async fn case_09_weak_blank_or_guessable_hmac_secrets() {
    let issuer = "https://op.example";
    let secret = random_bytes(32);
    let builder = || {
        TokenVerifier::builder(issuer)
            .audience(AUD)
            .client_id(CLIENT_ID)
    };
    let verifier = builder().hmac_secret(secret.clone()).build().unwrap();
    let claims = kinde_claims(issuer);
    let header = json!({"alg": "HS256", "typ": "JWT"});

    // The configured 32-byte secret verifies HS256, whatever kid the token names.
    verifier
        .verify_access_token(&mac_token("HS256", &secret, &header, &claims))
        .await
        .unwrap();
    verifier
        .verify_access_token(&mac_token(
            "HS256",
            &secret,
            &json!({"alg": "HS256", "kid": "whatever"}),
            &claims,
        ))
        .await
        .unwrap();
    verifier
        .verify_id_token(
            &mac_token("HS256", &secret, &header, &id_claims(issuer, Some("n"))),
            Some("n"),
        )
        .await
        .unwrap();

    // Guessable and blank secrets (jwt_tool -X b and jwt-common.txt) never verify.
    let mut guesses: Vec<Vec<u8>> = ["", "secret", "password", "1", "123456", "changeme", "key"]
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .collect();
    guesses.push(secret[..31].to_vec());
    let mut flipped = secret.clone();
    flipped[31] ^= 1;
    guesses.push(flipped);
    // (Not `secret || 0x00`: HMAC pads short keys with zeros, so that is the same key.)
    for guess in &guesses {
        let token = mac_token("HS256", guess, &header, &claims);
        let r = verifier.verify_access_token(&token).await;
        assert_eq!(
            rejected(r, &token),
            Reason::BadSignature,
            "{:?}",
            String::from_utf8_lossy(guess)
        );
    }
    // The empty signature is not "the MAC with an empty key".
    let token = unsigned(&header, &claims);
    let r = verifier.verify_access_token(&token).await;
    assert_eq!(rejected(r, &token), Reason::BadSignature);

    // A 32-byte secret is too short for HS384/HS512 (RFC 7518 §3.2), and asymmetric algorithms
    // have no key here.
    for alg in ["HS384", "HS512"] {
        let token = mac_token(alg, &secret, &json!({"alg": alg}), &claims);
        let r = verifier.verify_access_token(&token).await;
        assert_eq!(rejected(r, &token), Reason::AlgorithmNotAllowed, "{alg}");
    }
    let rsa = TestKey::rsa("k1");
    let token = rsa.token(&claims);
    let r = verifier.verify_access_token(&token).await;
    assert_eq!(rejected(r, &token), Reason::AlgorithmNotAllowed);

    // A 64-byte secret allows all three.
    let long = random_bytes(64);
    let verifier = builder().hmac_secret(long.clone()).build().unwrap();
    for alg in ["HS256", "HS384", "HS512"] {
        let token = mac_token(alg, &long, &json!({"alg": alg}), &claims);
        verifier.verify_access_token(&token).await.unwrap();
    }

    // Blank and short secrets are refused when the verifier is built, and the message does not
    // repeat the secret.
    for weak in [&b""[..], &b"hunter2"[..], &b"secret"[..], &secret[..31]] {
        let result = builder().hmac_secret(weak.to_vec()).build();
        if let Err(e) = &result {
            assert!(!e.to_string().contains("hunter2"));
        }
        assert_eq!(config_setting(result), "hmac_secret");
    }
    // A 32-byte secret with only HS512 allowed: too short for every allowed algorithm.
    let result = builder()
        .algorithms(&[Algorithm::HS512])
        .hmac_secret(secret.clone())
        .build();
    assert_eq!(config_setting(result), "hmac_secret");
}

#[tokio::test]
async fn case_10_weak_or_unsuitable_keys_in_the_jwks_are_ignored() {
    let good = TestKey::rsa("good");
    let (n, _) = rsa_components(&good.jwk);
    let n_b64 = good.jwk["n"].as_str().unwrap().to_owned();
    let mut n1024 = vec![0xffu8; 128];
    n1024[0] = 0xc1;
    let rsa = |kid: &str, n: &str, e: &str| json!({"kty": "RSA", "kid": kid, "n": n, "e": e});
    let bad = vec![
        rsa("weak-1024", &b64(&n1024), "AQAB"),
        // The good key's own modulus, with e = 3 or e = 1.
        rsa("e3", &n_b64, &b64([3u8])),
        rsa("e1", &n_b64, &b64([1u8])),
        rsa("e-even", &n_b64, &b64([1u8, 0, 0])),
        // The good key itself, but marked for encryption or without `verify` in key_ops.
        good.jwk_with(json!({"kid": "enc", "use": "enc"})),
        good.jwk_with(json!({"kid": "ops", "key_ops": ["encrypt", "wrapKey"]})),
        good.jwk_with(json!({"kid": "ops-type", "key_ops": "verify"})),
        good.jwk_with(json!({"kid": "use-type", "use": 1})),
        // Unparseable or unknown key types.
        json!({"kty": "AKP", "kid": "akp", "alg": "ML-DSA-44", "pub": "AAAA"}),
        json!({"kty": "RSA", "kid": "garbage", "n": "!!!", "e": "AQAB"}),
        json!({"kty": "RSA", "kid": "no-e", "n": n_b64}),
        json!({"kty": "EC", "kid": "off-curve", "crv": "P-256", "x": b64([1u8; 32]), "y": b64([2u8; 32])}),
        json!({"kty": "OKP", "kid": "x448", "crv": "X448", "x": b64([0u8; 56])}),
        json!({"kid": "no-kty"}),
        json!(["not", "an", "object"]),
        json!("nope"),
    ];
    assert_eq!(n.len(), 256);
    let server = TestIssuerServer::start(&[]).await;
    let mut jwks = bad.clone();
    jwks.push(good.jwk.clone());
    server.set_jwks(jwks);
    let verifier = server.verifier().build().unwrap();
    let claims = kinde_claims(&server.issuer);

    // The good key still verifies: one bad key never fails the whole set.
    verifier
        .verify_access_token(&good.token(&claims))
        .await
        .unwrap();

    // Tokens signed by the good key's private key but naming a skipped entry find no key, even
    // where the skipped entry carries the very same public key (enc, key_ops).
    for kid in [
        "weak-1024",
        "e3",
        "e1",
        "e-even",
        "enc",
        "ops",
        "ops-type",
        "use-type",
        "akp",
        "garbage",
        "no-e",
    ] {
        let token = good.sign("RS256", &json!({"alg": "RS256", "kid": kid}), &claims);
        let r = verifier.verify_access_token(&token).await;
        assert_eq!(rejected(r, &token), Reason::UnknownKey, "{kid}");
    }

    // A set with nothing usable: every token is rejected (the keys are unavailable).
    let only_bad = TestIssuerServer::start(&[]).await;
    only_bad.set_jwks(bad);
    let verifier = only_bad.verifier().build().unwrap();
    let token = good.sign("RS256", &json!({"alg": "RS256", "kid": "enc"}), &claims);
    let r = verifier.verify_access_token(&token).await;
    assert_eq!(rejected(r, &token), Reason::KeysUnavailable);
}

#[tokio::test]
async fn case_11_crit_header_is_rejected() {
    let k1 = TestKey::rsa("k1");
    let server = TestIssuerServer::start(&[&k1]).await;
    let verifier = server.verifier().build().unwrap();
    let claims = kinde_claims(&server.issuer);
    let headers = [
        json!({"alg": "RS256", "kid": "k1", "crit": ["foo"], "foo": "bar"}),
        json!({"alg": "RS256", "kid": "k1", "crit": ["b64"], "b64": false}),
        json!({"alg": "RS256", "kid": "k1", "crit": []}),
        json!({"alg": "RS256", "kid": "k1", "crit": ["exp"], "exp": 4102444800_i64}),
        json!({"alg": "RS256", "kid": "k1", "crit": ["foo"]}),
        json!({"alg": "RS256", "kid": "k1", "crit": "foo", "foo": 1}),
        json!({"alg": "RS256", "kid": "k1", "crit": null}),
    ];
    for header in &headers {
        let token = k1.sign("RS256", header, &claims);
        let r = verifier.verify_access_token(&token).await;
        assert_eq!(
            rejected(r, &token),
            Reason::UnsupportedCriticalHeader,
            "{header}"
        );
        let id = k1.sign("RS256", header, &id_claims(&server.issuer, None));
        let r = verifier.verify_id_token(&id, None).await;
        assert_eq!(
            rejected(r, &id),
            Reason::UnsupportedCriticalHeader,
            "{header}"
        );
    }
    // `b64: false` without `crit` is not understood either (RFC 7797 needs crit): malformed.
    let header = json!({"alg": "RS256", "kid": "k1", "b64": false});
    let token = k1.sign("RS256", &header, &claims);
    let r = verifier.verify_access_token(&token).await;
    assert_eq!(rejected(r, &token), Reason::Malformed);
}

#[tokio::test]
async fn case_12_jwe_and_nested_jwt_are_malformed() {
    let k1 = TestKey::rsa("k1");
    let server = TestIssuerServer::start(&[&k1]).await;
    let verifier = server.verifier().build().unwrap();
    let claims = kinde_claims(&server.issuer);
    let inner = k1.token(&claims);

    // Five-segment JWEs, including a PBES2 one with p2c = 2^31 and a zip one.
    let jwe_headers = [
        json!({"alg": "RSA-OAEP-256", "enc": "A256GCM", "kid": "k1"}),
        json!({"alg": "PBES2-HS256+A128KW", "enc": "A128GCM", "p2c": 2147483648_i64, "p2s": b64([0u8; 16])}),
        json!({"alg": "dir", "enc": "A128GCM", "zip": "DEF", "cty": "JWT"}),
        json!({"alg": "RS256", "kid": "k1"}),
    ];
    for header in &jwe_headers {
        let token = format!(
            "{}.{}.{}.{}.{}",
            b64(json_bytes(header)),
            b64(random_bytes(256)),
            b64(random_bytes(12)),
            b64(inner.as_bytes()),
            b64(random_bytes(16))
        );
        let started = Instant::now();
        let r = verifier.verify_access_token(&token).await;
        assert_eq!(rejected(r, &token), Reason::Malformed, "{header}");
        let r = verifier.verify_id_token(&token, None).await;
        assert_eq!(rejected(r, &token), Reason::Malformed, "{header}");
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "no key derivation is attempted"
        );
    }
    // Other segment counts.
    for token in [
        "a.b".to_owned(),
        "a.b.c.d".to_owned(),
        "a.b.c.d.e.f".to_owned(),
        format!("{inner}."),
        format!(".{inner}"),
        String::new(),
        "...".to_owned(),
    ] {
        let r = verifier.verify_access_token(&token).await;
        assert_eq!(rejected(r, &token), Reason::Malformed, "{token:?}");
    }

    // A signed JWS whose header announces a nested JWT, a JWE `enc`, or compression: the
    // signature is valid, but there is no "unwrap and trust the inner token" path.
    let nested_payload = inner.as_bytes().to_vec();
    for (header, payload) in [
        (
            json!({"alg": "RS256", "kid": "k1", "cty": "JWT"}),
            nested_payload.clone(),
        ),
        (
            json!({"alg": "RS256", "kid": "k1", "cty": "jwt"}),
            nested_payload.clone(),
        ),
        (
            json!({"alg": "RS256", "kid": "k1", "cty": "JWT"}),
            json_bytes(&claims),
        ),
        (
            json!({"alg": "RS256", "kid": "k1", "enc": "A256GCM"}),
            json_bytes(&claims),
        ),
        (
            json!({"alg": "RS256", "kid": "k1", "zip": "DEF"}),
            json_bytes(&claims),
        ),
    ] {
        let token = sign_raw(&k1, "RS256", &json_bytes(&header), &payload);
        let r = verifier.verify_access_token(&token).await;
        assert_eq!(rejected(r, &token), Reason::Malformed, "{header}");
        let r = verifier.verify_id_token(&token, None).await;
        assert_eq!(rejected(r, &token), Reason::Malformed, "{header}");
    }
    // A properly signed token whose payload is itself a JWT (no cty): not a claims object.
    let token = sign_raw(&k1, "RS256", &json_bytes(&k1.header()), &nested_payload);
    let r = verifier.verify_access_token(&token).await;
    assert_eq!(rejected(r, &token), Reason::Malformed);
}

#[tokio::test]
async fn case_13_token_type_confusion() {
    let k1 = TestKey::rsa("k1");
    let server = TestIssuerServer::start(&[&k1]).await;
    let verifier = server.verifier().build().unwrap();
    let strict = server
        .verifier()
        .access_token_type(AccessTokenType::AtJwtOnly)
        .build()
        .unwrap();
    let iss = server.issuer.clone();
    let typed = |typ: Option<&str>, claims: &Value| {
        let mut header = json!({"alg": "RS256", "kid": "k1"});
        if let Some(t) = typ {
            header["typ"] = json!(t);
        }
        k1.sign("RS256", &header, claims)
    };

    // An ID token (typ JWT, with nonce / at_hash / c_hash) sent as a Bearer access token. Its
    // audience is made the API's too, so only the token type can stop it.
    let mut id = id_claims(&iss, Some("n-1"));
    id["aud"] = json!([CLIENT_ID, AUD]);
    for (what, claims) in [
        ("nonce", id.clone()),
        (
            "at_hash",
            with(without(id.clone(), "nonce"), "at_hash", json!("x")),
        ),
        (
            "c_hash",
            with(without(id.clone(), "nonce"), "c_hash", json!("x")),
        ),
    ] {
        for typ in [Some("JWT"), None] {
            let token = typed(typ, &claims);
            let r = verifier.verify_access_token(&token).await;
            assert_eq!(
                rejected(r, &token),
                Reason::WrongTokenType,
                "{what} {typ:?}"
            );
            let r = strict.verify_access_token(&token).await;
            assert_eq!(
                rejected(r, &token),
                Reason::WrongTokenType,
                "{what} {typ:?}"
            );
        }
    }
    // An ID token without those claims (as a refresh returns) still is not for this API.
    let token = typed(Some("JWT"), &id_claims(&iss, None));
    let r = verifier.verify_access_token(&token).await;
    assert_eq!(rejected(r, &token), Reason::WrongAudience);

    // An access token (typ at+jwt) sent as an ID token, even with the client in its audience.
    let mut access = kinde_claims(&iss);
    access["aud"] = json!([CLIENT_ID]);
    for typ in ["at+jwt", "application/at+jwt", "AT+JWT"] {
        let token = typed(Some(typ), &access);
        let r = verifier.verify_id_token(&token, None).await;
        assert_eq!(rejected(r, &token), Reason::WrongTokenType, "{typ}");
    }

    // A back-channel logout token fed to both.
    let now = common::now();
    let logout = json!({
        "iss": iss, "aud": [CLIENT_ID, AUD], "iat": now - 5, "exp": now + 120, "jti": "lo-1",
        "sub": "kp_123", "sid": "s-1",
        "events": {"http://schemas.openid.net/event/backchannel-logout": {}}
    });
    for typ in ["logout+jwt", "application/logout+jwt"] {
        let token = typed(Some(typ), &logout);
        let r = verifier.verify_id_token(&token, None).await;
        assert_eq!(rejected(r, &token), Reason::WrongTokenType, "{typ}");
        let r = verifier.verify_access_token(&token).await;
        assert_eq!(rejected(r, &token), Reason::WrongTokenType, "{typ}");
        let r = strict.verify_access_token(&token).await;
        assert_eq!(rejected(r, &token), Reason::WrongTokenType, "{typ}");
    }
    // Any other explicit type.
    for typ in ["secevent+jwt", "dpop+jwt", "JOSE", "text/plain"] {
        let token = typed(Some(typ), &kinde_claims(&iss));
        let r = verifier.verify_access_token(&token).await;
        assert_eq!(rejected(r, &token), Reason::WrongTokenType, "{typ}");
    }

    // RFC 9068 strictly: typ JWT or no typ is refused; at+jwt and application/at+jwt pass.
    let access = kinde_claims(&iss);
    for typ in [Some("JWT"), None] {
        let token = typed(typ, &access);
        verifier.verify_access_token(&token).await.unwrap();
        let r = strict.verify_access_token(&token).await;
        assert_eq!(rejected(r, &token), Reason::WrongTokenType, "{typ:?}");
    }
    for typ in ["at+jwt", "application/at+jwt", "Application/AT+JWT"] {
        let token = typed(Some(typ), &access);
        strict.verify_access_token(&token).await.unwrap();
        verifier.verify_access_token(&token).await.unwrap();
    }
    // RFC 9068 §2.2: the strict mode also requires `sub`; the default (Kinde M2M tokens carry
    // none) does not.
    let no_sub = typed(Some("at+jwt"), &without(access.clone(), "sub"));
    verifier.verify_access_token(&no_sub).await.unwrap();
    let err = strict.verify_access_token(&no_sub).await.unwrap_err();
    assert_eq!(err.reason(), Some(Reason::MissingClaim));

    // A client-assertion JWT (private_key_jwt / client_secret_jwt) sent as a Bearer token.
    let assertion = json!({
        "iss": CLIENT_ID, "sub": CLIENT_ID, "aud": format!("{iss}/oauth2/token"),
        "jti": "ca-1", "iat": now - 5, "exp": now + 60
    });
    let token = typed(Some("JWT"), &assertion);
    let r = verifier.verify_access_token(&token).await;
    assert_eq!(rejected(r, &token), Reason::WrongIssuer);
    let token = mac_token(
        "HS256",
        &random_bytes(32),
        &json!({"alg": "HS256"}),
        &assertion,
    );
    let r = verifier.verify_access_token(&token).await;
    assert_eq!(rejected(r, &token), Reason::AlgorithmNotAllowed);
    let client_key = TestKey::rsa("client-key");
    let token = client_key.token(&assertion);
    let r = verifier.verify_access_token(&token).await;
    assert_eq!(rejected(r, &token), Reason::UnknownKey);
}

// ---------------------------------------------------------------------------------------------
// B. Claims
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn case_15_iss_must_match_exactly() {
    let k1 = TestKey::rsa("k1");
    let server = TestIssuerServer::start(&[&k1]).await;
    let verifier = server.verifier().build().unwrap();
    let iss = server.issuer.clone(); // http://127.0.0.1:PORT
    let host_port = iss.strip_prefix("http://").unwrap().to_owned();
    let variants = [
        format!("{iss}.evil"),
        format!("{iss}.evil.example"),
        format!("{iss}/"),
        format!("{iss}/evil"),
        format!("{iss}#"),
        iss.to_uppercase(),
        format!("HTTP://{host_port}"),
        format!("https://{host_port}"),
        host_port.clone(),
        "http".to_owned(),
        "http://".to_owned(),
        iss[..iss.len() - 1].to_owned(),
        format!(" {iss}"),
        format!("{iss} "),
        format!("{iss}\u{0000}"),
        format!("http://localhost:{}", host_port.rsplit(':').next().unwrap()),
        String::new(),
    ];
    for bad in &variants {
        let token = k1.token(&with(kinde_claims(&iss), "iss", json!(bad)));
        let r = verifier.verify_access_token(&token).await;
        assert_eq!(rejected(r, &token), Reason::WrongIssuer, "{bad:?}");
        let token = k1.token(&with(id_claims(&iss, None), "iss", json!(bad)));
        let r = verifier.verify_id_token(&token, None).await;
        assert_eq!(rejected(r, &token), Reason::WrongIssuer, "{bad:?}");
    }
    // No iss at all.
    let token = k1.token(&without(kinde_claims(&iss), "iss"));
    let err = verifier.verify_access_token(&token).await.unwrap_err();
    assert_eq!(err.reason(), Some(Reason::MissingClaim));
    assert!(matches!(&err, Error::Token(t) if t.claim_name() == Some("iss")));
    let token = k1.token(&without(id_claims(&iss, None), "iss"));
    let r = verifier.verify_id_token(&token, None).await;
    assert_eq!(rejected(r, &token), Reason::MissingClaim);
    // Not a string.
    for bad in [json!(null), json!(5), json!([iss]), json!({"iss": iss})] {
        let token = k1.token(&with(kinde_claims(&iss), "iss", bad.clone()));
        let r = verifier.verify_access_token(&token).await;
        assert_eq!(rejected(r, &token), Reason::InvalidClaim, "{bad}");
    }
    // The exact issuer passes.
    verifier
        .verify_access_token(&k1.token(&kinde_claims(&iss)))
        .await
        .unwrap();
}

#[tokio::test]
async fn case_16_aud_attacks() {
    let k1 = TestKey::rsa("k1");
    let server = TestIssuerServer::start(&[&k1]).await;
    let verifier = server.verifier().build().unwrap();
    let iss = server.issuer.clone();
    let access = kinde_claims(&iss);

    // Access tokens.
    let cases = [
        (
            json!("https://other-api.example.com"),
            Reason::WrongAudience,
        ),
        (
            json!(["https://other-api.example.com"]),
            Reason::WrongAudience,
        ),
        (json!([CLIENT_ID]), Reason::WrongAudience),
        (json!(format!("{AUD}/")), Reason::WrongAudience),
        (json!("https://api.example.co"), Reason::WrongAudience),
        (json!(AUD.to_uppercase()), Reason::WrongAudience),
        (json!(""), Reason::WrongAudience),
        (json!([]), Reason::MissingClaim),
        (json!([AUD, 5]), Reason::InvalidClaim),
        (json!([5, AUD]), Reason::InvalidClaim),
        (json!([AUD, null]), Reason::InvalidClaim),
        (json!([[AUD]]), Reason::InvalidClaim),
        (json!({"x": 1}), Reason::InvalidClaim),
        (
            json!({"https://api.example.com": true}),
            Reason::InvalidClaim,
        ),
        (json!(5), Reason::InvalidClaim),
        (json!(null), Reason::InvalidClaim),
        (json!(true), Reason::InvalidClaim),
    ];
    for (aud, expected) in &cases {
        let token = k1.token(&with(access.clone(), "aud", aud.clone()));
        let r = verifier.verify_access_token(&token).await;
        assert_eq!(rejected(r, &token), *expected, "aud {aud}");
    }
    let token = k1.token(&without(access.clone(), "aud"));
    let r = verifier.verify_access_token(&token).await;
    assert_eq!(rejected(r, &token), Reason::MissingClaim);
    // Accepted: a plain string, or an array containing the API next to others.
    for aud in [
        json!(AUD),
        json!([AUD]),
        json!(["https://other-api.example.com", AUD]),
    ] {
        let token = k1.token(&with(access.clone(), "aud", aud));
        verifier.verify_access_token(&token).await.unwrap();
    }

    // ID tokens: the client id must be there and no untrusted audience besides it.
    let id = id_claims(&iss, None);
    let id_cases = [
        (json!([CLIENT_ID, "untrusted-rp"]), Reason::WrongAudience),
        (json!(["untrusted-rp", CLIENT_ID]), Reason::WrongAudience),
        (json!([CLIENT_ID, AUD]), Reason::WrongAudience),
        (json!("other-client"), Reason::WrongAudience),
        (json!([AUD]), Reason::WrongAudience),
        (json!(format!("{CLIENT_ID} ")), Reason::WrongAudience),
        (json!([]), Reason::MissingClaim),
        (json!([CLIENT_ID, 5]), Reason::InvalidClaim),
        (json!({"x": 1}), Reason::InvalidClaim),
    ];
    for (aud, expected) in &id_cases {
        let token = k1.token(&with(id.clone(), "aud", aud.clone()));
        let r = verifier.verify_id_token(&token, None).await;
        assert_eq!(rejected(r, &token), *expected, "ID token aud {aud}");
    }
    let token = k1.token(&without(id.clone(), "aud"));
    let r = verifier.verify_id_token(&token, None).await;
    assert_eq!(rejected(r, &token), Reason::MissingClaim);
    verifier
        .verify_id_token(&k1.token(&with(id.clone(), "aud", json!(CLIENT_ID))), None)
        .await
        .unwrap();

    // allow_any_audience(): any audience is accepted for access tokens (a named opt-out), but ID
    // tokens are still checked against the client id.
    let any = server.verifier().allow_any_audience().build().unwrap();
    for aud in [
        json!("https://other-api.example.com"),
        json!(["a", "b"]),
        json!(AUD),
    ] {
        let token = k1.token(&with(access.clone(), "aud", aud));
        any.verify_access_token(&token).await.unwrap();
    }
    let token = k1.token(&with(id.clone(), "aud", json!(["other-client"])));
    let r = any.verify_id_token(&token, None).await;
    assert_eq!(rejected(r, &token), Reason::WrongAudience);
    // A malformed aud is still malformed.
    let token = k1.token(&with(access.clone(), "aud", json!([AUD, 5])));
    let r = any.verify_access_token(&token).await;
    assert_eq!(rejected(r, &token), Reason::InvalidClaim);
}

#[tokio::test]
async fn case_17_azp() {
    let k1 = TestKey::rsa("k1");
    let server = TestIssuerServer::start(&[&k1]).await;
    let iss = server.issuer.clone();
    let verifier = server
        .verifier()
        .trusted_id_token_audience("trusted-rp")
        .build()
        .unwrap();
    let id = id_claims(&iss, None);

    // azp present and not this client.
    for azp in [
        json!("other-client"),
        json!(""),
        json!(format!("{CLIENT_ID} ")),
        json!("TEST-CLIENT"),
    ] {
        let token = k1.token(&with(id.clone(), "azp", azp.clone()));
        let r = verifier.verify_id_token(&token, None).await;
        assert_eq!(rejected(r, &token), Reason::WrongAuthorizedParty, "{azp}");
    }
    // Several (trusted) audiences and no azp.
    let multi = with(id.clone(), "aud", json!([CLIENT_ID, "trusted-rp"]));
    let token = k1.token(&without(multi.clone(), "azp"));
    let r = verifier.verify_id_token(&token, None).await;
    assert_eq!(rejected(r, &token), Reason::WrongAuthorizedParty);
    // Several audiences with azp = another (trusted) audience.
    let token = k1.token(&with(multi.clone(), "azp", json!("trusted-rp")));
    let r = verifier.verify_id_token(&token, None).await;
    assert_eq!(rejected(r, &token), Reason::WrongAuthorizedParty);
    // azp of the wrong type.
    let token = k1.token(&with(id.clone(), "azp", json!([CLIENT_ID])));
    let r = verifier.verify_id_token(&token, None).await;
    assert_eq!(rejected(r, &token), Reason::InvalidClaim);

    // Accepted: azp = client with several audiences; a single audience with or without azp.
    verifier
        .verify_id_token(&k1.token(&with(multi, "azp", json!(CLIENT_ID))), None)
        .await
        .unwrap();
    verifier
        .verify_id_token(&k1.token(&without(id.clone(), "azp")), None)
        .await
        .unwrap();
    verifier
        .verify_id_token(&k1.token(&id), None)
        .await
        .unwrap();
}

#[tokio::test]
async fn case_18_time_claims() {
    const T: i64 = 1_700_000_000;
    let k1 = TestKey::rsa("k1");
    let server = TestIssuerServer::start(&[&k1]).await;
    let iss = server.issuer.clone();
    let clock = ManualClock::at_secs(T);
    // Default leeway (30 s).
    let verifier = server.verifier().clock(clock.clone()).build().unwrap();
    let no_leeway = server
        .verifier()
        .clock(clock.clone())
        .leeway(Duration::ZERO)
        .build()
        .unwrap();
    let access = access_at(&iss, T);
    let id = id_at(&iss, None, T);
    verifier
        .verify_access_token(&k1.token(&access))
        .await
        .unwrap();

    let check = |claims: Value| k1.token(&claims);
    // (claims, verifier is no-leeway, expected: None = accepted)
    let cases: Vec<(&str, Value, bool, Option<Reason>)> = vec![
        (
            "exp missing",
            without(access.clone(), "exp"),
            false,
            Some(Reason::MissingClaim),
        ),
        (
            "exp null",
            with(access.clone(), "exp", json!(null)),
            false,
            Some(Reason::InvalidClaim),
        ),
        (
            "exp string",
            with(access.clone(), "exp", json!("4102444800")),
            false,
            Some(Reason::InvalidClaim),
        ),
        (
            "exp bool",
            with(access.clone(), "exp", json!(true)),
            false,
            Some(Reason::InvalidClaim),
        ),
        (
            "exp = now-(leeway+1)",
            with(access.clone(), "exp", json!(T - 31)),
            false,
            Some(Reason::Expired),
        ),
        (
            "exp = now-leeway",
            with(access.clone(), "exp", json!(T - 30)),
            false,
            Some(Reason::Expired),
        ),
        (
            "exp = now-(leeway-1)",
            with(access.clone(), "exp", json!(T - 29)),
            false,
            None,
        ),
        (
            "default leeway <= 60 s",
            with(access.clone(), "exp", json!(T - 61)),
            false,
            Some(Reason::Expired),
        ),
        (
            "exp = now, leeway 0",
            with(access.clone(), "exp", json!(T)),
            true,
            Some(Reason::Expired),
        ),
        (
            "exp = now+1, leeway 0",
            with(access.clone(), "exp", json!(T + 1)),
            true,
            None,
        ),
        (
            "nbf = now+(leeway+1)",
            with(access.clone(), "nbf", json!(T + 31)),
            false,
            Some(Reason::NotYetValid),
        ),
        (
            "nbf = now+leeway",
            with(access.clone(), "nbf", json!(T + 30)),
            false,
            None,
        ),
        (
            "nbf = now+1, leeway 0",
            with(access.clone(), "nbf", json!(T + 1)),
            true,
            Some(Reason::NotYetValid),
        ),
        (
            "nbf = now, leeway 0",
            with(access.clone(), "nbf", json!(T)),
            true,
            None,
        ),
        (
            "nbf = i64::MAX",
            with(access.clone(), "nbf", json!(i64::MAX)),
            false,
            Some(Reason::NotYetValid),
        ),
        (
            "nbf = 1e300",
            with(access.clone(), "nbf", json!(1e300)),
            false,
            Some(Reason::NotYetValid),
        ),
        (
            "nbf = i64::MIN",
            with(access.clone(), "nbf", json!(i64::MIN)),
            false,
            None,
        ),
        (
            "nbf = -1e300",
            with(access.clone(), "nbf", json!(-1e300)),
            false,
            None,
        ),
        (
            "exp = 1e300",
            with(access.clone(), "exp", json!(1e300)),
            false,
            None,
        ),
        (
            "exp = i64::MAX",
            with(access.clone(), "exp", json!(i64::MAX)),
            false,
            None,
        ),
        (
            "exp = i64::MAX, leeway 0",
            with(access.clone(), "exp", json!(i64::MAX)),
            true,
            None,
        ),
        (
            "exp = u64::MAX",
            with(access.clone(), "exp", json!(u64::MAX)),
            false,
            None,
        ),
        (
            "exp = -1",
            with(access.clone(), "exp", json!(-1)),
            false,
            Some(Reason::Expired),
        ),
        (
            "exp = i64::MIN",
            with(access.clone(), "exp", json!(i64::MIN)),
            false,
            Some(Reason::Expired),
        ),
        (
            "exp = -1e300",
            with(access.clone(), "exp", json!(-1e300)),
            false,
            Some(Reason::Expired),
        ),
        (
            "exp = 1.5e9 (past)",
            with(access.clone(), "exp", json!(1.5e9)),
            false,
            Some(Reason::Expired),
        ),
        (
            "exp = 0",
            with(access.clone(), "exp", json!(0)),
            false,
            Some(Reason::Expired),
        ),
        (
            "fractional exp/iat/nbf",
            with(
                with(
                    with(access.clone(), "exp", json!(T as f64 + 3600.5)),
                    "iat",
                    json!(T as f64 - 10.25),
                ),
                "nbf",
                json!(T as f64 - 0.75),
            ),
            false,
            None,
        ),
        (
            "fractional exp just past, leeway 0",
            with(access.clone(), "exp", json!(T as f64 - 0.5)),
            true,
            Some(Reason::Expired),
        ),
        (
            "fractional exp just ahead, leeway 0",
            with(access.clone(), "exp", json!(T as f64 + 1.5)),
            true,
            None,
        ),
    ];
    for (what, claims, strict, expected) in cases {
        let v = if strict { &no_leeway } else { &verifier };
        let token = check(claims);
        let r = v.verify_access_token(&token).await;
        match expected {
            None => {
                r.unwrap_or_else(|e| panic!("{what}: {e}"));
            }
            Some(reason) => assert_eq!(rejected(r, &token), reason, "{what}"),
        }
    }
    // A NumericDate too large for f64 is not a number we can use.
    let payload = serde_json::to_string(&without(access.clone(), "exp")).unwrap();
    let payload = format!("{},\"exp\":1e400}}", payload.trim_end_matches('}'));
    let token = sign_raw(&k1, "RS256", &json_bytes(&k1.header()), payload.as_bytes());
    let r = verifier.verify_access_token(&token).await;
    assert_eq!(rejected(r, &token), Reason::InvalidClaim);

    // ID tokens follow the same rules.
    let token = k1.token(&without(id.clone(), "exp"));
    let r = verifier.verify_id_token(&token, None).await;
    assert_eq!(rejected(r, &token), Reason::MissingClaim);
    let token = k1.token(&with(id.clone(), "exp", json!(T - 31)));
    let r = verifier.verify_id_token(&token, None).await;
    assert_eq!(rejected(r, &token), Reason::Expired);
    let token = k1.token(&with(id.clone(), "nbf", json!(T + 31)));
    let r = verifier.verify_id_token(&token, None).await;
    assert_eq!(rejected(r, &token), Reason::NotYetValid);
    verifier
        .verify_id_token(&k1.token(&with(id.clone(), "exp", json!(1e300))), None)
        .await
        .unwrap();

    // Time moves: a token valid now expires once the clock passes exp + leeway.
    let token = k1.token(&with(access.clone(), "exp", json!(T + 100)));
    verifier.verify_access_token(&token).await.unwrap();
    clock.advance(Duration::from_secs(129));
    verifier.verify_access_token(&token).await.unwrap();
    clock.advance(Duration::from_secs(1));
    let r = verifier.verify_access_token(&token).await;
    assert_eq!(rejected(r, &token), Reason::Expired);

    // A leeway of a day is refused; 5 minutes is the ceiling.
    let r = server
        .verifier()
        .leeway(Duration::from_secs(86_400))
        .build();
    assert_eq!(config_setting(r), "leeway");
    let r = server.verifier().leeway(Duration::from_secs(301)).build();
    assert_eq!(config_setting(r), "leeway");
    server
        .verifier()
        .leeway(Duration::from_secs(300))
        .build()
        .unwrap();
}

#[tokio::test]
async fn case_20_iat_and_sub() {
    const T: i64 = 1_700_000_000;
    const WEEK: i64 = 7 * 24 * 3600;
    let k1 = TestKey::rsa("k1");
    let server = TestIssuerServer::start(&[&k1]).await;
    let iss = server.issuer.clone();
    let clock = ManualClock::at_secs(T);
    let verifier = server.verifier().clock(clock.clone()).build().unwrap();
    let no_max_age = server
        .verifier()
        .clock(clock.clone())
        .max_token_age(None)
        .build()
        .unwrap();
    let access = access_at(&iss, T);
    let id = id_at(&iss, None, T);

    for (kind, claims) in [("access", &access), ("id", &id)] {
        let verify = |token: String, v: TokenVerifier| async move {
            let r = if kind == "access" {
                v.verify_access_token(&token).await.map(|_| ())
            } else {
                v.verify_id_token(&token, None).await.map(|_| ())
            };
            (r, token)
        };
        let cases: Vec<(&str, Value, Reason)> = vec![
            (
                "iat missing",
                without(claims.clone(), "iat"),
                Reason::MissingClaim,
            ),
            (
                "iat 1h in the future",
                with(claims.clone(), "iat", json!(T + 3600)),
                Reason::IssuedInFuture,
            ),
            (
                "iat now+(leeway+1)",
                with(claims.clone(), "iat", json!(T + 31)),
                Reason::IssuedInFuture,
            ),
            (
                "iat 1e300",
                with(claims.clone(), "iat", json!(1e300)),
                Reason::IssuedInFuture,
            ),
            (
                "iat a week old",
                with(claims.clone(), "iat", json!(T - WEEK)),
                Reason::TooOld,
            ),
            (
                "iat 24h + leeway + 1 old",
                with(claims.clone(), "iat", json!(T - 86_400 - 31)),
                Reason::TooOld,
            ),
            (
                "iat -1",
                with(claims.clone(), "iat", json!(-1)),
                Reason::TooOld,
            ),
            (
                "iat string",
                with(claims.clone(), "iat", json!("now")),
                Reason::InvalidClaim,
            ),
            (
                "sub empty",
                with(claims.clone(), "sub", json!("")),
                Reason::InvalidClaim,
            ),
            (
                "sub number",
                with(claims.clone(), "sub", json!(12345)),
                Reason::InvalidClaim,
            ),
            (
                "sub null",
                with(claims.clone(), "sub", json!(null)),
                Reason::InvalidClaim,
            ),
            (
                "sub array",
                with(claims.clone(), "sub", json!(["kp_123"])),
                Reason::InvalidClaim,
            ),
        ];
        for (what, c, expected) in cases {
            let (r, token) = verify(k1.token(&c), verifier.clone()).await;
            assert_eq!(rejected(r, &token), expected, "{kind}: {what}");
        }
        // Accepted: iat within the leeway ahead, and a week-old iat once max_token_age is off.
        let (r, _) = verify(
            k1.token(&with(claims.clone(), "iat", json!(T + 30))),
            verifier.clone(),
        )
        .await;
        r.unwrap();
        let week_old = with(claims.clone(), "iat", json!(T - WEEK));
        let (r, _) = verify(k1.token(&week_old), no_max_age.clone()).await;
        r.unwrap_or_else(|e| panic!("{kind}: {e}"));
        // Missing or future iat is still refused without a max age.
        let (r, token) = verify(
            k1.token(&without(claims.clone(), "iat")),
            no_max_age.clone(),
        )
        .await;
        assert_eq!(rejected(r, &token), Reason::MissingClaim);
        let (r, token) = verify(
            k1.token(&with(claims.clone(), "iat", json!(T + 3600))),
            no_max_age.clone(),
        )
        .await;
        assert_eq!(rejected(r, &token), Reason::IssuedInFuture);
    }
    // A longer max age accepts the week-old token.
    let eight_days = server
        .verifier()
        .clock(clock.clone())
        .max_token_age(Some(Duration::from_secs(8 * 24 * 3600)))
        .build()
        .unwrap();
    eight_days
        .verify_access_token(&k1.token(&with(access.clone(), "iat", json!(T - WEEK))))
        .await
        .unwrap();

    // sub missing in an ID token.
    let token = k1.token(&without(id.clone(), "sub"));
    let err = verifier.verify_id_token(&token, None).await.unwrap_err();
    assert_eq!(err.reason(), Some(Reason::MissingClaim));
    assert!(matches!(&err, Error::Token(t) if t.claim_name() == Some("sub")));
    assert_no_leak(&err, &token);
    // The subject is the (iss, sub) pair, read back as given.
    let claims = verifier
        .verify_id_token(&k1.token(&id), None)
        .await
        .unwrap();
    assert_eq!(claims.iss.as_deref(), Some(iss.as_str()));
    assert_eq!(claims.sub.as_deref(), Some("kp_123"));
}

#[tokio::test]
async fn case_21_nonce() {
    let k1 = TestKey::rsa("k1");
    let server = TestIssuerServer::start(&[&k1]).await;
    let iss = server.issuer.clone();
    let verifier = server.verifier().build().unwrap();
    let nonce = "n-0S6_WzA2Mj";

    // Sent, but absent from the token.
    let token = k1.token(&id_claims(&iss, None));
    let err = verifier
        .verify_id_token(&token, Some(nonce))
        .await
        .unwrap_err();
    assert_eq!(err.reason(), Some(Reason::MissingClaim));
    assert!(matches!(&err, Error::Token(t) if t.claim_name() == Some("nonce")));
    let r = verifier
        .verify_id_token_with(&token, &IdTokenChecks::nonce(nonce))
        .await;
    assert_eq!(rejected(r, &token), Reason::MissingClaim);

    // Different: another value, a prefix, an extension, a case change, empty.
    for other in [
        "n-other",
        "n-0S6_WzA2M",
        "n-0S6_WzA2Mj2",
        "N-0S6_WZA2MJ",
        "",
    ] {
        let token = k1.token(&id_claims(&iss, Some(other)));
        let r = verifier.verify_id_token(&token, Some(nonce)).await;
        assert_eq!(rejected(r, &token), Reason::NonceMismatch, "{other:?}");
        assert_no_leak(
            &verifier
                .verify_id_token(&token, Some(nonce))
                .await
                .unwrap_err(),
            nonce,
        );
    }
    // Not a string.
    let token = k1.token(&with(id_claims(&iss, None), "nonce", json!(12345)));
    let r = verifier.verify_id_token(&token, Some(nonce)).await;
    assert_eq!(rejected(r, &token), Reason::InvalidClaim);

    // The right one.
    let token = k1.token(&id_claims(&iss, Some(nonce)));
    let claims = verifier.verify_id_token(&token, Some(nonce)).await.unwrap();
    assert_eq!(claims.nonce.as_deref(), Some(nonce));
}

#[tokio::test]
async fn case_22_at_hash() {
    use aws_lc_rs::digest::{SHA256, SHA384, SHA512};
    let rsa = TestKey::rsa("rsa");
    let p384 = TestKey::ec384("p384");
    let ed = TestKey::ed25519("ed");
    let server = TestIssuerServer::start(&[&rsa, &p384, &ed]).await;
    let iss = server.issuer.clone();
    let verifier = server.verifier().build().unwrap();
    let nonce = "n-22";
    let access_token = rsa.token(&kinde_claims(&iss));
    let other_access_token = rsa.token(&with(kinde_claims(&iss), "jti", json!("other")));
    let checks = IdTokenChecks::nonce(nonce).with_access_token(&access_token);

    // RS256: SHA-256, left half.
    let right = half_hash(&SHA256, &access_token);
    assert_eq!(right.len(), 22);
    let id = |key: &TestKey, at_hash: &str| {
        key.token(&with(
            id_claims(&iss, Some(nonce)),
            "at_hash",
            json!(at_hash),
        ))
    };
    verifier
        .verify_id_token_with(&id(&rsa, &right), &checks)
        .await
        .unwrap();
    let full = {
        let d = aws_lc_rs::digest::digest(&SHA256, access_token.as_bytes());
        b64(d.as_ref())
    };
    let right_half = {
        let d = aws_lc_rs::digest::digest(&SHA256, access_token.as_bytes());
        b64(&d.as_ref()[16..])
    };
    let wrong = [
        (
            "another token's hash",
            half_hash(&SHA256, &other_access_token),
        ),
        ("SHA-512 for RS256", half_hash(&SHA512, &access_token)),
        ("SHA-384 for RS256", half_hash(&SHA384, &access_token)),
        ("the full hash", full),
        ("the right half", right_half),
        ("padded", format!("{right}==")),
        (
            "standard base64",
            STANDARD.encode(URL_SAFE_NO_PAD.decode(&right).unwrap()),
        ),
        ("truncated", right[..21].to_owned()),
        ("empty", String::new()),
    ];
    for (what, at_hash) in &wrong {
        if at_hash == &right {
            continue; // standard base64 may coincide when no +/ occur
        }
        let token = id(&rsa, at_hash);
        let r = verifier.verify_id_token_with(&token, &checks).await;
        assert_eq!(
            rejected(r, &token),
            Reason::AccessTokenHashMismatch,
            "{what}"
        );
    }

    // ES384: SHA-384. EdDSA: SHA-512.
    for (key, digest, wrong_digest) in [(&p384, &SHA384, &SHA256), (&ed, &SHA512, &SHA256)] {
        verifier
            .verify_id_token_with(&id(key, &half_hash(digest, &access_token)), &checks)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", key.alg));
        let token = id(key, &half_hash(wrong_digest, &access_token));
        let r = verifier.verify_id_token_with(&token, &checks).await;
        assert_eq!(
            rejected(r, &token),
            Reason::AccessTokenHashMismatch,
            "{}",
            key.alg
        );
    }

    // at_hash of the wrong JSON type.
    let token = rsa.token(&with(id_claims(&iss, Some(nonce)), "at_hash", json!(5)));
    let r = verifier.verify_id_token_with(&token, &checks).await;
    assert_eq!(rejected(r, &token), Reason::InvalidClaim);
    // Without an access token to compare with, at_hash is not checked (OIDC Core §3.1.3.7).
    verifier
        .verify_id_token_with(&id(&rsa, "whatever"), &IdTokenChecks::nonce(nonce))
        .await
        .unwrap();

    // c_hash against the authorization code, the same way.
    let code = "SplxlOBeZQQYbYS6WxSbIA";
    let with_c_hash =
        |c_hash: &str| rsa.token(&with(id_claims(&iss, Some(nonce)), "c_hash", json!(c_hash)));
    let code_checks = IdTokenChecks::nonce(nonce).with_code(code);
    verifier
        .verify_id_token_with(&with_c_hash(&half_hash(&SHA256, code)), &code_checks)
        .await
        .unwrap();
    for wrong in [half_hash(&SHA256, "another code"), half_hash(&SHA512, code)] {
        let token = with_c_hash(&wrong);
        let r = verifier.verify_id_token_with(&token, &code_checks).await;
        assert_eq!(rejected(r, &token), Reason::CodeHashMismatch);
    }
}

#[tokio::test]
async fn case_23_auth_time_and_max_age() {
    let k1 = TestKey::rsa("k1");
    let server = TestIssuerServer::start(&[&k1]).await;
    let iss = server.issuer.clone();
    let clock = ManualClock::now();
    let now = clock_now(&clock);
    let verifier = server.verifier().clock(clock.clone()).build().unwrap();
    let nonce = "n-23";
    let checks = IdTokenChecks::nonce(nonce).with_max_age(Duration::from_secs(60));
    let id = id_at(&iss, Some(nonce), now);

    let token = k1.token(&without(id.clone(), "auth_time"));
    let err = verifier
        .verify_id_token_with(&token, &checks)
        .await
        .unwrap_err();
    assert_eq!(err.reason(), Some(Reason::MissingClaim));
    assert!(matches!(&err, Error::Token(t) if t.claim_name() == Some("auth_time")));
    assert_no_leak(&err, &token);

    for auth_time in [
        json!(now - 3600),
        json!(now - 60 - 31),
        json!(-1),
        json!(i64::MIN),
        json!(-1e300),
    ] {
        let token = k1.token(&with(id.clone(), "auth_time", auth_time.clone()));
        let r = verifier.verify_id_token_with(&token, &checks).await;
        assert_eq!(
            rejected(r, &token),
            Reason::AuthenticationTooOld,
            "{auth_time}"
        );
    }
    let token = k1.token(&with(id.clone(), "auth_time", json!("yesterday")));
    let r = verifier.verify_id_token_with(&token, &checks).await;
    assert_eq!(rejected(r, &token), Reason::InvalidClaim);

    // Recent enough (within max_age + leeway).
    for auth_time in [now - 30, now - 60, now - 60 - 30] {
        let token = k1.token(&with(id.clone(), "auth_time", json!(auth_time)));
        verifier
            .verify_id_token_with(&token, &checks)
            .await
            .unwrap();
    }
    // The same stale login is fine when no max_age was sent.
    let token = k1.token(&with(id.clone(), "auth_time", json!(now - 3600)));
    verifier
        .verify_id_token_with(&token, &IdTokenChecks::nonce(nonce))
        .await
        .unwrap();
    // And max_age is measured against the verifier's clock.
    let token = k1.token(&with(id.clone(), "auth_time", json!(now - 30)));
    verifier
        .verify_id_token_with(&token, &checks)
        .await
        .unwrap();
    clock.advance(Duration::from_secs(61));
    let r = verifier.verify_id_token_with(&token, &checks).await;
    assert_eq!(rejected(r, &token), Reason::AuthenticationTooOld);
}

fn clock_now(clock: &ManualClock) -> i64 {
    use portcullis::clock::Clock as _;
    clock.now_secs()
}

// ---------------------------------------------------------------------------------------------
// M. Key rotation: no kid
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn case_102_kid_absent() {
    let k1 = TestKey::rsa("k1");
    let k2 = TestKey::rsa("k2");
    let ec = TestKey::ec256("e1");
    let claims = |iss: &str| kinde_claims(iss);
    let no_kid = |key: &TestKey, iss: &str| {
        key.sign(
            key.alg,
            &json!({"alg": key.alg, "typ": "JWT"}),
            &claims(iss),
        )
    };

    // One key: it is used.
    let server = TestIssuerServer::start(&[&k1]).await;
    let verifier = server.verifier().build().unwrap();
    verifier
        .verify_access_token(&no_kid(&k1, &server.issuer))
        .await
        .unwrap();
    // A kid-less token signed by someone else still fails on its signature.
    let token = no_kid(&k2, &server.issuer);
    let r = verifier.verify_access_token(&token).await;
    assert_eq!(rejected(r, &token), Reason::BadSignature);

    // Two keys of the same kty and alg: rejected (a kid is required), not tried in turn.
    let server = TestIssuerServer::start(&[&k1, &k2]).await;
    let verifier = server.verifier().build().unwrap();
    for key in [&k1, &k2] {
        let token = no_kid(key, &server.issuer);
        let r = verifier.verify_access_token(&token).await;
        assert_eq!(rejected(r, &token), Reason::UnknownKey);
        let id = key.sign(
            "RS256",
            &json!({"alg": "RS256"}),
            &id_claims(&server.issuer, None),
        );
        let r = verifier.verify_id_token(&id, None).await;
        assert_eq!(rejected(r, &id), Reason::UnknownKey);
        // With its kid it verifies.
        verifier
            .verify_access_token(&key.token(&claims(&server.issuer)))
            .await
            .unwrap();
    }

    // Keys of different types: only one can verify the token's alg, so it is used.
    let server = TestIssuerServer::start(&[&k1, &ec]).await;
    let verifier = server.verifier().build().unwrap();
    verifier
        .verify_access_token(&no_kid(&k1, &server.issuer))
        .await
        .unwrap();
    verifier
        .verify_access_token(&no_kid(&ec, &server.issuer))
        .await
        .unwrap();
}

// ---------------------------------------------------------------------------------------------
// Size limit and error messages
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn too_large_tokens_are_rejected_before_decoding() {
    let k1 = TestKey::rsa("k1");
    let server = TestIssuerServer::start(&[&k1]).await;
    let verifier = server.verifier().build().unwrap();
    let iss = server.issuer.clone();

    // A validly signed token that is just too big.
    let mut claims = kinde_claims(&iss);
    claims["padding"] = json!("x".repeat(16 * 1024));
    let token = k1.token(&claims);
    assert!(token.len() > 16 * 1024);
    let r = verifier.verify_access_token(&token).await;
    assert_eq!(rejected(r, &token), Reason::TooLarge);
    let r = verifier.verify_access_token_as::<Value>(&token).await;
    assert_eq!(rejected(r, &token), Reason::TooLarge);
    let mut id = id_claims(&iss, None);
    id["padding"] = json!("x".repeat(16 * 1024));
    let token = k1.token(&id);
    let r = verifier.verify_id_token(&token, None).await;
    assert_eq!(rejected(r, &token), Reason::TooLarge);

    // Garbage of 16 KiB + 1 is too large; 16 KiB exactly is examined (and is malformed).
    let token = "A".repeat(16 * 1024 + 1);
    let r = verifier.verify_access_token(&token).await;
    assert_eq!(rejected(r, &token), Reason::TooLarge);
    let token = "A".repeat(16 * 1024);
    let r = verifier.verify_access_token(&token).await;
    assert_eq!(rejected(r, &token), Reason::Malformed);
    assert_eq!(
        server.jwks_hits(),
        0,
        "nothing was fetched for oversized input"
    );

    // A smaller configured limit.
    let small = server.verifier().max_token_size(1024).build().unwrap();
    let token = k1.token(&kinde_claims(&iss));
    assert!(token.len() > 1024);
    let r = small.verify_access_token(&token).await;
    assert_eq!(rejected(r, &token), Reason::TooLarge);
    let r = server.verifier().max_token_size(10).build();
    assert_eq!(config_setting(r), "max_token_size");
}

#[tokio::test]
async fn error_messages_never_contain_the_token_or_its_claims() {
    let k1 = TestKey::rsa("k1");
    let server = TestIssuerServer::start(&[&k1]).await;
    let verifier = server.verifier().build().unwrap();
    let iss = server.issuer.clone();
    let marker = "SECRET-MARKER-7f3a";
    let base = with(kinde_claims(&iss), "sub", json!(format!("{marker}-sub")));
    let tokens = [
        k1.token(&with(
            base.clone(),
            "iss",
            json!(format!("https://{marker}.example")),
        )),
        k1.token(&with(base.clone(), "aud", json!([format!("{marker}-aud")]))),
        k1.token(&with(
            base.clone(),
            "aud",
            json!([format!("{marker}-aud"), 5]),
        )),
        k1.token(&with(base.clone(), "exp", json!(1))),
        k1.token(&with(base.clone(), "exp", json!(format!("{marker}-exp")))),
        k1.token(&with(base.clone(), "sub", json!(""))),
        k1.token(&with(base.clone(), "iat", json!({ "v": marker }))),
        k1.token(&with(base.clone(), "nonce", json!(marker))),
        k1.sign("RS256", &json!({"alg": "RS256", "kid": marker}), &base),
        k1.sign(
            "RS256",
            &json!({"alg": "RS256", "kid": "k1", "typ": marker}),
            &base,
        ),
        k1.sign(
            "RS256",
            &json!({"alg": "RS256", "kid": "k1", "crit": [marker]}),
            &base,
        ),
        unsigned(&json!({"alg": marker}), &base),
        format!("{}.{}.", b64(marker), b64(marker)),
        format!("{marker}.{marker}.{marker}"),
        format!("{}.x", k1.token(&base)),
    ];
    for token in &tokens {
        let err = verifier.verify_access_token(token).await.unwrap_err();
        assert_no_leak(&err, token);
        let shown = format!("{err} | {err:?}");
        assert!(!shown.contains(marker), "{shown}");
        if let Error::Token(t) = &err {
            assert!(!t.detail().contains(marker));
            assert!(!t.www_authenticate("api").contains(marker));
        }
        let err = verifier
            .verify_id_token(token, Some("n"))
            .await
            .unwrap_err();
        assert!(!format!("{err} | {err:?}").contains(marker), "{err}");
    }
    // A nonce mismatch does not show either nonce.
    let token = k1.token(&id_claims(&iss, Some(&format!("{marker}-got"))));
    let err = verifier
        .verify_id_token(&token, Some(&format!("{marker}-want")))
        .await
        .unwrap_err();
    assert_eq!(err.reason(), Some(Reason::NonceMismatch));
    assert!(!format!("{err} | {err:?}").contains(marker));
}

// ---------------------------------------------------------------------------------------------
// The verified-token cache
// ---------------------------------------------------------------------------------------------

fn jwks_opts(default_ttl: Duration, max_staleness: Duration) -> JwksOptions {
    let mut o = JwksOptions::default();
    o.default_ttl = default_ttl;
    o.max_staleness = max_staleness;
    o.refresh_interval = Duration::from_secs(5);
    o
}

async fn wait_for_jwks_hits(server: &TestIssuerServer, hits: usize) {
    for _ in 0..200 {
        if server.jwks_hits() >= hits {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(server.jwks_hits(), hits, "the background refresh ran once");
    // Let the refresh store its result.
    tokio::time::sleep(Duration::from_millis(50)).await;
}

#[tokio::test]
async fn token_cache_hit_needs_neither_the_issuer_nor_decoding() {
    let k1 = TestKey::rsa("k1");
    let server = TestIssuerServer::start(&[&k1]).await;
    let verifier = server
        .verifier()
        .cache_verified_tokens(1000)
        .build()
        .unwrap();
    let uncached = server.verifier().build().unwrap();
    let token = k1.token(&kinde_claims(&server.issuer));
    let first = verifier.verify_access_token(&token).await.unwrap();
    let a = uncached.verify_access_token(&token).await.unwrap();
    let b = uncached.verify_access_token(&token).await.unwrap();
    assert!(
        !Arc::ptr_eq(&a, &b),
        "without the cache, every call decodes anew"
    );

    server.stop().await;
    let second = verifier.verify_access_token(&token).await.unwrap();
    assert!(
        Arc::ptr_eq(&first, &second),
        "the second verification is answered from the cache"
    );
    assert!(second.has_permission("read:todos"));
    // Clones share the cache.
    let third = verifier.clone().verify_access_token(&token).await.unwrap();
    assert!(Arc::ptr_eq(&first, &third));

    // A token differing by one bit never hits the cached entry.
    let (h, p, s) = segments(&token);
    let mut sig = URL_SAFE_NO_PAD.decode(s).unwrap();
    sig[10] ^= 1;
    let forged = format!("{h}.{p}.{}", b64(&sig));
    let r = verifier.verify_access_token(&forged).await;
    assert_eq!(rejected(r, &forged), Reason::BadSignature);
}

#[tokio::test]
async fn token_cache_entry_never_outlives_exp() {
    let k1 = TestKey::rsa("k1");
    let server = TestIssuerServer::start(&[&k1]).await;
    let clock = ManualClock::now();
    let now = clock_now(&clock);
    let verifier = server
        .verifier()
        .clock(clock.clone())
        .cache_verified_tokens(1000)
        .build()
        .unwrap();
    let token = k1.token(&with(
        access_at(&server.issuer, now),
        "exp",
        json!(now + 100),
    ));
    let first = verifier.verify_access_token(&token).await.unwrap();
    clock.advance(Duration::from_secs(99));
    let hit = verifier.verify_access_token(&token).await.unwrap();
    assert!(Arc::ptr_eq(&first, &hit));
    // At exp the cache no longer answers (within the leeway the token is verified afresh).
    clock.advance(Duration::from_secs(1));
    let fresh = verifier.verify_access_token(&token).await.unwrap();
    assert!(
        !Arc::ptr_eq(&first, &fresh),
        "not served from the cache at exp"
    );
    // Past exp + leeway: expired.
    clock.advance(Duration::from_secs(30));
    let r = verifier.verify_access_token(&token).await;
    assert_eq!(rejected(r, &token), Reason::Expired);
    let r = verifier.verify_access_token(&token).await;
    assert_eq!(rejected(r, &token), Reason::Expired);
}

#[tokio::test]
async fn token_cache_entry_never_outlives_max_token_age() {
    let k1 = TestKey::rsa("k1");
    let server = TestIssuerServer::start(&[&k1]).await;
    let clock = ManualClock::now();
    let now = clock_now(&clock);
    let verifier = server
        .verifier()
        .clock(clock.clone())
        .max_token_age(Some(Duration::from_secs(3600)))
        .jwks_options(jwks_opts(
            Duration::from_secs(24 * 3600),
            Duration::from_secs(3600),
        ))
        .cache_verified_tokens(1000)
        .build()
        .unwrap();
    // Valid for a week, but this API accepts tokens issued at most an hour ago.
    let claims = with(
        access_at(&server.issuer, now),
        "exp",
        json!(now + 7 * 24 * 3600),
    );
    let token = k1.token(&claims);
    verifier.verify_access_token(&token).await.unwrap();
    clock.advance(Duration::from_secs(1800));
    verifier.verify_access_token(&token).await.unwrap();
    clock.advance(Duration::from_secs(1900));
    let r = verifier.verify_access_token(&token).await;
    assert_eq!(rejected(r, &token), Reason::TooOld);
}

#[tokio::test]
async fn token_cache_entry_is_dropped_once_the_refreshed_key_set_lacks_its_key() {
    let k1 = TestKey::rsa("k1");
    let k2 = TestKey::rsa("k2");
    let server = TestIssuerServer::start(&[&k1, &k2]).await;
    let clock = ManualClock::now();
    let verifier = server
        .verifier()
        .clock(clock.clone())
        .jwks_options(jwks_opts(
            Duration::from_secs(600),
            Duration::from_secs(3600),
        ))
        .cache_verified_tokens(1000)
        .build()
        .unwrap();
    let k1_token = k1.token(&kinde_claims(&server.issuer));
    let k2_token = k2.token(&kinde_claims(&server.issuer));
    let first = verifier.verify_access_token(&k1_token).await.unwrap();
    verifier.verify_access_token(&k2_token).await.unwrap();
    assert_eq!(server.jwks_hits(), 1);

    // The issuer drops K1. Until the key set is refreshed, the cached token is still answered.
    server.set_keys(&[&k2]);
    clock.advance(Duration::from_secs(300));
    let hit = verifier.verify_access_token(&k1_token).await.unwrap();
    assert!(Arc::ptr_eq(&first, &hit));
    assert_eq!(server.jwks_hits(), 1);

    // Past the key set's TTL, the next request (even one answered from the cache) refreshes the
    // key set in the background...
    clock.advance(Duration::from_secs(301));
    let _ = verifier.verify_access_token(&k1_token).await;
    wait_for_jwks_hits(&server, 2).await;
    // ...and from then on the K1 token is rejected, cached or not.
    let r = verifier.verify_access_token(&k1_token).await;
    assert_eq!(rejected(r, &k1_token), Reason::UnknownKey);
    verifier.verify_access_token(&k2_token).await.unwrap();
    let r = verifier.verify_access_token(&k1_token).await;
    assert_eq!(rejected(r, &k1_token), Reason::UnknownKey);
}

#[tokio::test]
async fn token_cache_does_not_outlive_the_key_staleness_limit() {
    let k1 = TestKey::rsa("k1");
    let server = TestIssuerServer::start(&[&k1]).await;
    let clock = ManualClock::now();
    let opts = jwks_opts(Duration::from_secs(600), Duration::from_secs(60));
    let cached = server
        .verifier()
        .clock(clock.clone())
        .jwks_options(opts.clone())
        .cache_verified_tokens(1000)
        .build()
        .unwrap();
    let uncached = server
        .verifier()
        .clock(clock.clone())
        .jwks_options(opts)
        .build()
        .unwrap();
    let token = k1.token(&kinde_claims(&server.issuer));
    cached.verify_access_token(&token).await.unwrap();
    uncached.verify_access_token(&token).await.unwrap();

    // The issuer goes away. Within TTL + max_staleness both still accept.
    server.stop().await;
    clock.advance(Duration::from_secs(630));
    cached.verify_access_token(&token).await.unwrap();
    uncached.verify_access_token(&token).await.unwrap();
    // Beyond it, neither does: the cache answers exactly as a full verification would.
    clock.advance(Duration::from_secs(60));
    let r = uncached.verify_access_token(&token).await;
    assert_eq!(rejected(r, &token), Reason::KeysUnavailable);
    let r = cached.verify_access_token(&token).await;
    assert_eq!(rejected(r, &token), Reason::KeysUnavailable);
}
