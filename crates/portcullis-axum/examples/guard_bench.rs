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
//!
//! `poll URL TOKEN CONNECTIONS WARMUP_S DURATION_S` mode is a load generator that never sleeps:
//! keep-alive connections on non-blocking sockets, polled in a loop, one request in flight on
//! each; it prints `REQUESTS_PER_SEC=…`. wrk sleeps in `epoll_wait` whenever every connection
//! waits for the server, and on a virtual machine each response then pays for waking wrk's idle
//! virtual CPU (an inter-processor interrupt, a VM exit) inside the server's `write` — ~10 µs
//! per request when the server is slow (`/guarded`), nothing when wrk is busy (`/plain`). With
//! this load the server's figures are its own work on every route.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

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

/// One keep-alive connection of the polling load generator.
struct Connection {
    stream: TcpStream,
    received: Vec<u8>,
}

impl Connection {
    /// The length of the complete response at the start of `received`, if it is all there.
    /// Refuses anything but `200` with a `content-length` (what the bench app answers).
    fn complete_response(&self) -> Result<Option<usize>, String> {
        let Some(head_end) = self.received.windows(4).position(|w| w == b"\r\n\r\n") else {
            return Ok(None);
        };
        let head = std::str::from_utf8(&self.received[..head_end]).map_err(|e| e.to_string())?;
        if !head.starts_with("HTTP/1.1 200 ") {
            return Err(format!("answer: {}", head.lines().next().unwrap_or("")));
        }
        let length = head
            .lines()
            .filter_map(|line| line.split_once(':'))
            .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
            .ok_or("an answer without content-length")?
            .1
            .trim()
            .parse::<usize>()
            .map_err(|e| e.to_string())?;
        let total = head_end + 4 + length;
        Ok((self.received.len() >= total).then_some(total))
    }
}

/// The polling load generator (see the module docs): requests per second over `duration`,
/// after `warmup`.
fn poll_load(
    url: &str,
    token: &str,
    connections: usize,
    warmup: Duration,
    duration: Duration,
) -> Result<(), Box<dyn std::error::Error>> {
    let rest = url
        .strip_prefix("http://")
        .ok_or("poll: http:// URLs only")?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nAuthorization: Bearer {token}\r\n\r\n"
    );
    let request = request.as_bytes();
    let mut pool = Vec::with_capacity(connections);
    for _ in 0..connections {
        let stream = TcpStream::connect(authority)?;
        stream.set_nodelay(true)?;
        // Written while blocking (a few hundred bytes into an empty socket buffer), read
        // without.
        stream.set_nonblocking(true)?;
        pool.push(Connection {
            stream,
            received: Vec::with_capacity(4096),
        });
    }
    let send = |stream: &mut TcpStream| -> std::io::Result<()> {
        let mut sent = 0;
        while sent < request.len() {
            match stream.write(&request[sent..]) {
                Ok(n) => sent += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => std::hint::spin_loop(),
                Err(e) => return Err(e),
            }
        }
        Ok(())
    };
    for connection in &mut pool {
        send(&mut connection.stream)?;
    }
    let started = Instant::now();
    let (mut counted_from, mut counted) = (None, 0u64);
    let mut chunk = [0u8; 16 * 1024];
    loop {
        for connection in &mut pool {
            match connection.stream.read(&mut chunk) {
                Ok(0) => return Err("poll: the server closed a connection".into()),
                Ok(n) => connection.received.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e.into()),
            }
            while let Some(length) = connection.complete_response()? {
                connection.received.drain(..length);
                counted += 1;
                send(&mut connection.stream)?;
            }
        }
        let elapsed = started.elapsed();
        match counted_from {
            None if elapsed >= warmup => counted_from = Some((elapsed, counted)),
            Some((from, before)) if elapsed >= from + duration => {
                let seconds = (elapsed - from).as_secs_f64();
                #[allow(clippy::cast_precision_loss)]
                let rate = (counted - before) as f64 / seconds;
                println!("REQUESTS_PER_SEC={rate:.0}");
                return Ok(());
            }
            _ => {}
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // One worker: the script pins the process to one core and compares per-core throughputs.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("poll") {
        let [_, url, token, connections, warmup, duration] = &args[..] else {
            return Err("usage: poll URL TOKEN CONNECTIONS WARMUP_S DURATION_S".into());
        };
        let seconds = |s: &str| s.parse::<f64>().map(Duration::from_secs_f64);
        return poll_load(
            url,
            token,
            connections.parse()?,
            seconds(warmup)?,
            seconds(duration)?,
        );
    }
    match args.first().map(String::as_str) {
        None | Some("serve") => runtime.block_on(serve()),
        Some("raw") => {
            let n = args.get(1).map_or(Ok(20_000), |s| s.parse())?;
            runtime.block_on(raw(n))
        }
        Some(other) => Err(format!("unknown mode {other:?}: serve, raw N or poll …").into()),
    }
}
