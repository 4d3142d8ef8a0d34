//! The load target of `bench/guard.sh`: what the bearer guard costs an axum endpoint.
//!
//! ```console
//! $ cargo run --release -p portcullis-axum --example guard_bench            # serve
//! $ cargo run --release -p portcullis-axum --example guard_bench -- raw 20000
//! ```
//!
//! Serve mode starts the real identity server in-process (`TestIssuer`, RS256) for the keys and
//! one access token, then an axum app on 127.0.0.1 with three routes answering the same small
//! JSON body:
//!
//! - `GET /plain`: no authentication;
//! - `GET /guarded`: the `Authenticated` extractor, verified-token cache **off** (every request
//!   verifies the RS256 signature and every claim);
//! - `GET /cached`: the same with `.cache_verified_tokens(10_000)`.
//!
//! It prints `PORT=…` and `TOKEN=…` lines, then serves until killed.
//!
//! `raw N` mode measures, on the calling core, one raw `jsonwebtoken` RS256 verification of the
//! same kind of token (the figure the guard's added cost is compared with) and prints
//! `RAW_JSONWEBTOKEN_US=…`.

use std::time::Instant;

use axum::routing::get;
use axum::{Json, Router};
use portcullis::TokenVerifier;
use portcullis_axum::{Auth, Authenticated};
use portcullis_server::testing::TestIssuer;
use serde_json::{Value, json};

const API: &str = "https://api.example.com";
const CLIENT: &str = "bench";
const SECRET: &str = "bench-secret-0123456789abcdefghijklmnop";

async fn issuer_and_token() -> Result<(TestIssuer, String), Box<dyn std::error::Error>> {
    let issuer = TestIssuer::builder()
        .api(API, &["read:todos"])
        .m2m_app(CLIENT, SECRET, API, &["read:todos"])
        .access_token_ttl(24 * 3600)
        .start()
        .await?;
    let token = issuer
        .client_credentials_token(CLIENT, SECRET, API, None)
        .await?;
    Ok((issuer, token))
}

fn verifier(issuer: &TestIssuer, cache: bool) -> Result<TokenVerifier, portcullis::Error> {
    let mut builder = TokenVerifier::builder(issuer.issuer()).audience(API);
    if cache {
        builder = builder.cache_verified_tokens(10_000);
    }
    builder.build()
}

async fn plain() -> Json<Value> {
    Json(json!({ "ok": true, "sub": "anonymous" }))
}

async fn guarded(user: Authenticated) -> Json<Value> {
    Json(json!({ "ok": true, "sub": user.subject().unwrap_or("?") }))
}

async fn serve() -> Result<(), Box<dyn std::error::Error>> {
    let (issuer, token) = issuer_and_token().await?;
    let uncached = verifier(&issuer, false)?;
    let cached = verifier(&issuer, true)?;
    // Keys are fetched now, not during the measurement.
    uncached.verify_access_token(&token).await?;
    cached.verify_access_token(&token).await?;
    let app = Router::new()
        .route("/plain", get(plain))
        .merge(
            Router::new()
                .route("/guarded", get(guarded))
                .with_state(Auth::from_verifier(uncached)),
        )
        .merge(
            Router::new()
                .route("/cached", get(guarded))
                .with_state(Auth::from_verifier(cached)),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("PORT={}", listener.local_addr()?.port());
    println!("TOKEN={token}");
    axum::serve(listener, app).await?;
    drop(issuer);
    Ok(())
}

/// One raw `jsonwebtoken` RS256 verification, in microseconds (median of 5 rounds of `n`).
async fn raw(n: u32) -> Result<(), Box<dyn std::error::Error>> {
    let (issuer, token) = issuer_and_token().await?;
    let jwks: Value = reqwest::get(issuer.jwks_url()).await?.json().await?;
    let jwk = &jwks["keys"][0];
    let component = |k: &str| jwk[k].as_str().ok_or("JWKS key without n/e");
    let key = jsonwebtoken::DecodingKey::from_rsa_components(component("n")?, component("e")?)?;
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_issuer(&[issuer.issuer()]);
    validation.set_audience(&[API]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    validation.leeway = 30;
    jsonwebtoken::decode::<Value>(&token, &key, &validation)?;
    let mut rounds = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        for _ in 0..n {
            std::hint::black_box(jsonwebtoken::decode::<Value>(
                std::hint::black_box(&token),
                &key,
                &validation,
            )?);
        }
        rounds.push(started.elapsed().as_secs_f64() * 1e6 / f64::from(n));
    }
    rounds.sort_by(f64::total_cmp);
    println!("RAW_JSONWEBTOKEN_US={:.2}", rounds[2]);
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // One worker: the script pins the process to one core and compares per-core throughputs.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        None | Some("serve") => runtime.block_on(serve()),
        Some("raw") => {
            let n = args.get(1).map_or(Ok(20_000), |s| s.parse())?;
            runtime.block_on(raw(n))
        }
        Some(other) => Err(format!("unknown mode {other:?}: serve or raw N").into()),
    }
}
