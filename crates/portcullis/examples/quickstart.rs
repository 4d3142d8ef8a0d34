//! What runs today, offline, in one command:
//!
//! ```text
//! cargo run -p portcullis --example quickstart
//! ```
//!
//! It starts a tiny issuer on 127.0.0.1 (discovery + JWKS, with a freshly generated RSA key),
//! signs a Kinde-shaped access token with it, and protects an ordinary async function with a
//! [`TokenVerifier`]: the token is verified (signature, issuer, audience, expiry…), then the
//! function reads permissions, roles, the organization and feature flags from the claims.
//! A forged and an expired token are rejected with their reasons.
//!
//! Against a real provider you only need the verifier part:
//! `TokenVerifier::builder("https://<you>.kinde.com").audience("<your API>").build()?`.

use std::sync::Arc;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeySize, PublicKeyComponents};
use aws_lc_rs::signature::{KeyPair, RSA_PKCS1_SHA256, RsaKeyPair};
use axum::Router;
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use portcullis::{Claims, Error, TokenVerifier};
use serde_json::{Value, json};

const API: &str = "https://api.example.com";

/// The function we protect: it only runs for a verified token with the right permission.
async fn list_todos(verifier: &TokenVerifier, bearer: &str) -> Result<String, Error> {
    let claims: Arc<Claims> = verifier.verify_access_token(bearer).await?;
    if !claims.has_permission("read:todos") {
        return Ok("403: missing permission read:todos".into());
    }
    let theme = claims.string_flag("theme", Some("light"))?;
    let limit = claims.integer_flag("competitions_limit", Some(1))?;
    Ok(format!(
        "200: todos for {} in {} (roles: {:?}, theme: {theme}, limit: {limit}, admin: {})",
        claims.subject().unwrap_or("?"),
        claims.organization().org_code.unwrap_or("no org"),
        claims
            .roles()
            .iter()
            .map(|r| r.key.as_str())
            .collect::<Vec<_>>(),
        claims.has_role("admin"),
    ))
}

fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn sign(key: &RsaKeyPair, claims: &Value) -> String {
    let header = json!({"alg": "RS256", "kid": "demo-key", "typ": "JWT"});
    let input = format!("{}.{}", b64(header.to_string()), b64(claims.to_string()));
    let mut sig = vec![0; key.public_modulus_len()];
    key.sign(
        &RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        input.as_bytes(),
        &mut sig,
    )
    .expect("signing");
    format!("{input}.{}", b64(sig))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // 1. A throw-away issuer on 127.0.0.1 publishing one RSA key.
    let key = RsaKeyPair::generate(KeySize::Rsa2048)?;
    let public = PublicKeyComponents::<Vec<u8>>::from(key.public_key());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let issuer = format!("http://{}", listener.local_addr()?);
    let jwks = json!({"keys": [{"kty": "RSA", "kid": "demo-key", "use": "sig", "alg": "RS256",
                                "n": b64(&public.n), "e": b64(&public.e)}]});
    let discovery = json!({"issuer": issuer, "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
                           "response_types_supported": ["code"],
                           "id_token_signing_alg_values_supported": ["RS256"]});
    let app = Router::new()
        .route(
            "/.well-known/openid-configuration",
            get(move || async move { axum::Json(discovery) }),
        )
        .route(
            "/.well-known/jwks.json",
            get(move || async move { axum::Json(jwks) }),
        );
    tokio::spawn(async move { axum::serve(listener, app).await });
    println!("issuer running at {issuer}");

    // 2. The verifier: built once, shared by every request (clone it freely).
    let verifier = TokenVerifier::builder(&issuer).audience(API).build()?;

    // 3. A token as Kinde would issue it.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs() as i64;
    let claims = json!({
        "iss": issuer, "aud": [API], "sub": "kp_ada", "azp": "demo-app",
        "iat": now, "exp": now + 3600, "jti": "demo-1",
        "org_code": "org_acme", "permissions": ["read:todos", "create:todos"],
        "roles": [{"id": "r1", "key": "admin", "name": "Admin"}],
        "scp": ["openid", "profile", "email", "offline"],
        "feature_flags": {"theme": {"t": "s", "v": "pink"}, "competitions_limit": {"t": "i", "v": 5}}
    });
    let token = sign(&key, &claims);
    println!(
        "valid token      -> {}",
        list_todos(&verifier, &token).await?
    );

    // 4. What gets rejected, and why.
    let mut forged = claims.clone();
    forged["permissions"] = json!(["read:todos", "delete:everything"]);
    let tampered = {
        let good: Vec<&str> = token.split('.').collect();
        format!("{}.{}.{}", good[0], b64(forged.to_string()), good[2])
    };
    let mut expired = claims.clone();
    expired["exp"] = json!(now - 3600);
    let mut other_api = claims.clone();
    other_api["aud"] = json!(["https://billing.example.com"]);
    for (what, token) in [
        ("tampered claims", tampered),
        ("expired token  ", sign(&key, &expired)),
        ("other API's aud", sign(&key, &other_api)),
        ("not a JWT      ", "hello".to_string()),
    ] {
        match list_todos(&verifier, &token).await {
            Ok(answer) => println!("{what}  -> unexpectedly accepted: {answer}"),
            Err(e) => println!(
                "{what}  -> {} ({})",
                e.http_status(),
                e.reason().map(|r| r.as_str()).unwrap_or("?")
            ),
        }
    }
    Ok(())
}
