//! Token verification cost: raw `jsonwebtoken` vs `TokenVerifier` (full checks) vs a
//! verified-token-cache hit, for RS256, ES256 and EdDSA, on one realistic Kinde access token.
//!
//! Run: `cargo bench -p portcullis --bench verify`
//!
//! For an instruction count of the cache-hit path (deterministic, unlike times on a shared
//! machine), set `PORTCULLIS_CACHE_HIT_LOOP=N`: the binary then verifies one RS256 token once and
//! answers it from the cache `N` times, without criterion, e.g.
//! `PORTCULLIS_CACHE_HIT_LOOP=10000 valgrind --tool=callgrind --toggle-collect='*cache_hits*'
//! target/release/deps/verify-…` (instructions ÷ N: the cost of one hit, set-up excluded).
//!
//! The verifier's future never waits once keys are cached, so it is polled once with a no-op
//! waker: the figures are the verification work itself, not an executor's.

#[path = "../tests/common/mod.rs"]
mod common;

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use common::{AUD, CLIENT_ID, TestKey, now};
use criterion::{Criterion, criterion_group};
use jsonwebtoken::{DecodingKey, Validation};
use portcullis::TokenVerifier;
use serde::Deserialize;
use serde_json::json;

const ISSUER: &str = "https://acme.kinde.com";

/// The access token of Kinde's documentation (docs/kinde-compat.md): permissions, scopes and three
/// feature flags. About 1 KB with RS256, 760 bytes with ES256 or EdDSA.
fn kinde_token_claims() -> serde_json::Value {
    let now = now();
    json!({
        "aud": [AUD], "azp": CLIENT_ID, "exp": now + 86400, "iat": now - 10,
        "iss": ISSUER, "jti": "0d7e3f0a-8f7c-4a52-9a0b-6f9e5c3b2a11",
        "sub": "kp_7f3b2c1d9e8a4b5c6d7e8f9a0b1c2d3e", "org_code": "org_1a2b3c4d5e6f",
        "permissions": ["create:todos", "read:todos"],
        "scp": ["openid", "profile", "email", "offline"],
        "feature_flags": {
            "analytics": {"t": "b", "v": true},
            "theme": {"t": "s", "v": "pink"},
            "competitions_limit": {"t": "i", "v": 5}
        }
    })
}

/// What a user of raw `jsonwebtoken` would deserialize that token into.
#[allow(dead_code)]
#[derive(Debug, Deserialize)]
struct KindeClaims {
    aud: Vec<String>,
    azp: String,
    exp: i64,
    iat: i64,
    iss: String,
    jti: String,
    sub: String,
    org_code: String,
    permissions: Vec<String>,
    scp: Vec<String>,
    feature_flags: std::collections::HashMap<String, serde_json::Value>,
}

fn poll_once<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("verification waited on I/O in a benchmark"),
    }
}

fn raw_key(jwk: &serde_json::Value) -> DecodingKey {
    let s = |k: &str| jwk[k].as_str().unwrap();
    match s("kty") {
        "RSA" => DecodingKey::from_rsa_components(s("n"), s("e")).unwrap(),
        "EC" => DecodingKey::from_ec_components(s("x"), s("y")).unwrap(),
        "OKP" => DecodingKey::from_ed_components(s("x")).unwrap(),
        other => panic!("{other}"),
    }
}

fn bench_verify(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _guard = rt.enter();
    for key in [
        TestKey::rsa("rsa-1"),
        TestKey::ec256("ec-1"),
        TestKey::ed25519("ed-1"),
    ] {
        let token = key.token(&kinde_token_claims());
        eprintln!("{} token: {} bytes", key.alg, token.len());
        let jwks = json!({ "keys": [key.jwk] }).to_string();
        let mut group = c.benchmark_group(format!("verify/{}", key.alg));

        // Raw jsonwebtoken, with the same checks it can express: alg, iss, aud, exp, nbf.
        let decoding_key = raw_key(&key.jwk);
        let mut validation = Validation::new(key.alg.parse().unwrap());
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUD]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = 30;
        jsonwebtoken::decode::<KindeClaims>(&token, &decoding_key, &validation).unwrap();
        group.bench_function("jsonwebtoken", |b| {
            b.iter(|| {
                jsonwebtoken::decode::<KindeClaims>(black_box(&token), &decoding_key, &validation)
                    .unwrap()
            })
        });

        let verifier = TokenVerifier::builder(ISSUER)
            .audience(AUD)
            .jwks_json(jwks.clone())
            .build()
            .unwrap();
        poll_once(verifier.verify_access_token(&token)).unwrap();
        group.bench_function("portcullis", |b| {
            b.iter(|| poll_once(verifier.verify_access_token(black_box(&token))).unwrap())
        });

        let cached = TokenVerifier::builder(ISSUER)
            .audience(AUD)
            .jwks_json(jwks)
            .cache_verified_tokens(10_000)
            .build()
            .unwrap();
        poll_once(cached.verify_access_token(&token)).unwrap();
        group.bench_function("portcullis_cache_hit", |b| {
            b.iter(|| poll_once(cached.verify_access_token(black_box(&token))).unwrap())
        });
        group.finish();
    }
}

/// `PORTCULLIS_CACHE_HIT_LOOP=N`: `N` cache hits of one RS256 token, for callgrind.
fn cache_hit_loop(n: u64) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _guard = rt.enter();
    let key = TestKey::rsa("rsa-1");
    let token = key.token(&kinde_token_claims());
    let cached = TokenVerifier::builder(ISSUER)
        .audience(AUD)
        .jwks_json(json!({ "keys": [key.jwk] }).to_string())
        .cache_verified_tokens(10_000)
        .build()
        .unwrap();
    poll_once(cached.verify_access_token(&token)).unwrap();
    cache_hits(&cached, &token, n);
}

/// The measured loop, by name for `valgrind --tool=callgrind --toggle-collect='*cache_hits*'`.
#[inline(never)]
fn cache_hits(verifier: &TokenVerifier, token: &str, n: u64) {
    for _ in 0..n {
        black_box(poll_once(verifier.verify_access_token(black_box(token))).unwrap());
    }
}

criterion_group!(benches, bench_verify);

fn main() {
    if let Some(n) = std::env::var("PORTCULLIS_CACHE_HIT_LOOP")
        .ok()
        .and_then(|n| n.parse().ok())
    {
        cache_hit_loop(n);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
