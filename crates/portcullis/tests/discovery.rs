//! Discovery and outbound HTTP hygiene against real servers on 127.0.0.1 (docs/security.md case 30):
//! the metadata's issuer must match exactly; only https (or loopback http) is fetched; bodies are
//! capped without being buffered whole; a silent server times out; redirects are followed only
//! within the same origin; a configured `jwks_uri` skips discovery; a missing discovery document
//! falls back to `{issuer}/.well-known/jwks.json`.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use common::{AUD, TestIssuerServer, TestKey, kinde_claims};
use portcullis::error::FetchError;
use portcullis::{Config, Error, HttpOptions, Reason, TokenVerifier};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn fetch_error(r: Result<(), Error>) -> FetchError {
    match r {
        Err(Error::Fetch(e)) => e,
        Err(e) => panic!("expected a fetch error, got {e:?}"),
        Ok(()) => panic!("expected a fetch error, got Ok"),
    }
}

/// `warm_up`'s error, failing the test rather than hanging it when no limit stops the fetch.
async fn warm_up_err(verifier: &TokenVerifier) -> FetchError {
    match tokio::time::timeout(Duration::from_secs(10), verifier.warm_up()).await {
        Ok(r) => fetch_error(r),
        Err(_) => panic!("warm_up still running after 10 s: no timeout or size limit applied"),
    }
}

fn reason(r: Result<impl Sized, Error>) -> Reason {
    match r {
        Ok(_) => panic!("expected a rejection"),
        Err(e) => e
            .reason()
            .unwrap_or_else(|| panic!("not a token error: {e}")),
    }
}

fn timeouts(request: Duration) -> HttpOptions {
    HttpOptions {
        request_timeout: request,
        ..HttpOptions::default()
    }
}

/// An axum app on 127.0.0.1 that logs every request path.
struct AppServer {
    base: String,
    log: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl AppServer {
    /// Binds first, so `app` can name the server's own base URL.
    async fn start(app: impl FnOnce(&str) -> Router) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let log = Arc::new(Mutex::new(Vec::new()));
        let logger = log.clone();
        let app = app(&base).layer(axum::middleware::from_fn(
            move |req: Request, next: Next| {
                let log = logger.clone();
                async move {
                    log.lock().unwrap().push(req.uri().path().to_owned());
                    next.run(req).await
                }
            },
        ));
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        AppServer { base, log, task }
    }

    fn hits(&self, path: &str) -> usize {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|p| *p == path)
            .count()
    }

    fn total_hits(&self) -> usize {
        self.log.lock().unwrap().len()
    }
}

impl Drop for AppServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

const DISCOVERY: &str = "/.well-known/openid-configuration";
const JWKS: &str = "/.well-known/jwks.json";

fn discovery_doc(issuer: &str, jwks_uri: &str) -> Value {
    json!({
        "issuer": issuer,
        "jwks_uri": jwks_uri,
        "authorization_endpoint": format!("{issuer}/oauth2/auth"),
        "token_endpoint": format!("{issuer}/oauth2/token"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"]
    })
}

fn jwks_doc(keys: &[&TestKey]) -> Value {
    json!({"keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>()})
}

fn redirect(status: u16, location: &str) -> Response {
    (
        StatusCode::from_u16(status).unwrap(),
        [(header::LOCATION, location.to_owned())],
    )
        .into_response()
}

/// How a [`RawServer`] answers one request.
#[derive(Debug, Clone)]
enum Raw {
    /// 200 with this JSON body (and a correct Content-Length).
    Json(String),
    /// Reads the request, then never answers.
    Silent,
    /// 200, `Transfer-Encoding: chunked`, then up to this many body bytes as fast as they are
    /// taken.
    Chunked(usize),
    /// 200 with `Content-Length` of this many bytes, then streams them.
    Declared(usize),
    /// 200 with a Content-Length, then one body byte every 50 ms.
    DripBody,
    /// A status line, then header lines forever.
    EndlessHeaders,
}

/// What a [`RawServer`] observed.
#[derive(Default)]
struct RawStats {
    /// Body (or filler header) bytes the kernel accepted from the server.
    sent: AtomicUsize,
    /// The client closed the connection while the server was still writing.
    hung_up: AtomicBool,
    /// A whole streamed body was written.
    completed: AtomicBool,
    paths: Mutex<Vec<String>>,
}

/// A bare HTTP/1.1 server over TCP, for answers axum will not give: bodies streamed without
/// end, silence, drip-feeding.
struct RawServer {
    base: String,
    stats: Arc<RawStats>,
    task: tokio::task::JoinHandle<()>,
}

type Route = Arc<dyn Fn(&str, &str) -> Raw + Send + Sync>;

impl RawServer {
    /// `route(path, base)` says how to answer a request for `path`.
    async fn start(route: impl Fn(&str, &str) -> Raw + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let stats = Arc::new(RawStats::default());
        let route: Route = Arc::new(route);
        let (b, st) = (base.clone(), stats.clone());
        let task = tokio::spawn(async move {
            // Connections live in the set, so stopping the server drops them all.
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((sock, _)) = listener.accept().await {
                connections.spawn(serve_raw(sock, route.clone(), b.clone(), st.clone()));
            }
        });
        RawServer { base, stats, task }
    }

    fn sent(&self) -> usize {
        self.stats.sent.load(Ordering::SeqCst)
    }

    fn hits(&self, path: &str) -> usize {
        self.stats
            .paths
            .lock()
            .unwrap()
            .iter()
            .filter(|p| *p == path)
            .count()
    }

    /// Waits (up to `limit`) for the client to hang up on a streamed body.
    async fn wait_for_hang_up(&self, limit: Duration) -> bool {
        let started = Instant::now();
        while started.elapsed() < limit {
            if self.stats.hung_up.load(Ordering::SeqCst) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        false
    }
}

impl Drop for RawServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn read_request_path(sock: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = sock.read(&mut tmp).await.ok()?;
        if n == 0 || buf.len() > 64 * 1024 {
            return None;
        }
        buf.extend_from_slice(&tmp[..n]);
    }
    let head = String::from_utf8_lossy(&buf);
    head.split_whitespace().nth(1).map(str::to_owned)
}

/// Counts a write of `n` bytes; false (and a hang-up noted) when the client is gone.
fn account(stats: &RawStats, r: std::io::Result<()>, n: usize) -> bool {
    match r {
        Ok(()) => {
            stats.sent.fetch_add(n, Ordering::SeqCst);
            true
        }
        Err(_) => {
            stats.hung_up.store(true, Ordering::SeqCst);
            false
        }
    }
}

async fn serve_raw(mut sock: TcpStream, route: Route, base: String, stats: Arc<RawStats>) {
    let Some(path) = read_request_path(&mut sock).await else {
        return;
    };
    stats.paths.lock().unwrap().push(path.clone());
    const CHUNK: usize = 64 * 1024;
    let filler = vec![b'a'; CHUNK];
    match route(&path, &base) {
        Raw::Json(body) => {
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                 content-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            );
            let _ = sock.write_all(head.as_bytes()).await;
            let _ = sock.write_all(body.as_bytes()).await;
        }
        Raw::Silent => {
            tokio::time::sleep(Duration::from_secs(600)).await;
        }
        Raw::Chunked(total) => {
            let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                        transfer-encoding: chunked\r\n\r\n";
            if sock.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            let mut frame = format!("{CHUNK:x}\r\n").into_bytes();
            frame.extend_from_slice(&filler);
            frame.extend_from_slice(b"\r\n");
            for _ in 0..total / CHUNK {
                if !account(&stats, sock.write_all(&frame).await, CHUNK) {
                    return;
                }
            }
            stats.completed.store(true, Ordering::SeqCst);
            let _ = sock.write_all(b"0\r\n\r\n").await;
        }
        Raw::Declared(total) => {
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                 content-length: {}\r\n\r\n",
                total / CHUNK * CHUNK
            );
            if sock.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            for _ in 0..total / CHUNK {
                if !account(&stats, sock.write_all(&filler).await, CHUNK) {
                    return;
                }
            }
            stats.completed.store(true, Ordering::SeqCst);
        }
        Raw::DripBody => {
            let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                        content-length: 100000\r\n\r\n{";
            if sock.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            for _ in 0..100_000 {
                tokio::time::sleep(Duration::from_millis(50)).await;
                if !account(&stats, sock.write_all(b" ").await, 1) {
                    return;
                }
            }
        }
        Raw::EndlessHeaders => {
            if sock.write_all(b"HTTP/1.1 200 OK\r\n").await.is_err() {
                return;
            }
            let line = format!("x-filler: {}\r\n", "a".repeat(1000));
            // 50 MB of header lines at most.
            for _ in 0..50 * 1024 {
                if !account(&stats, sock.write_all(line.as_bytes()).await, line.len()) {
                    return;
                }
            }
            stats.completed.store(true, Ordering::SeqCst);
        }
    }
}

/// An issuer on `server` publishing `keys` at `/.well-known/jwks.json`, whose discovery document
/// says `doc(base)`.
fn issuer_app(
    keys: &[&TestKey],
    doc: impl Fn(&str) -> Value + Send + Sync + 'static,
) -> impl FnOnce(&str) -> Router {
    let jwks = jwks_doc(keys);
    move |base: &str| {
        let doc = doc(base);
        Router::new()
            .route(DISCOVERY, get(move || async move { axum::Json(doc) }))
            .route(JWKS, get(move || async move { axum::Json(jwks) }))
    }
}

// ---------------------------------------------------------------------------------------------
// The metadata's issuer
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn metadata_naming_another_issuer_is_refused() {
    let k1 = TestKey::rsa("k1");
    let other = TestIssuerServer::start(&[&k1]).await;
    let server = TestIssuerServer::start(&[&k1]).await;
    let base = server.issuer.clone();
    let upper_scheme = base.replacen("http://", "HTTP://", 1);
    let by_name = base.replacen("127.0.0.1", "localhost", 1);
    for named in [
        format!("{base}/"),
        format!("{base}//"),
        format!("{base}/tenant"),
        base.replacen("http://", "https://", 1),
        upper_scheme,
        by_name,
        other.issuer.clone(),
        format!("{base}?x=1"),
        format!("{base}#"),
        format!(" {base}"),
        String::new(),
    ] {
        server.set_metadata_issuer(&named);
        let verifier = server.verifier().build().unwrap();
        let err = warm_up_err(&verifier).await;
        match &err {
            FetchError::IssuerMismatch { expected, found } => {
                assert_eq!(expected, &base);
                assert_eq!(found, &named);
            }
            other => panic!("{named:?}: expected IssuerMismatch, got {other:?}"),
        }
        assert!(
            verifier.metadata().is_none(),
            "{named:?}: metadata not kept"
        );
        let r = verifier
            .verify_access_token(&k1.token(&kinde_claims(&base)))
            .await;
        let e = r.map(|_| ()).unwrap_err();
        assert_eq!(e.reason(), Some(Reason::KeysUnavailable), "{named:?}");
        assert_eq!(e.http_status(), 503);
    }
    assert_eq!(
        server.jwks_hits(),
        0,
        "keys are never fetched after a mismatch"
    );
    assert_eq!(other.jwks_hits() + other.discovery_hits(), 0);
}

#[tokio::test]
async fn configured_issuer_with_a_trailing_slash_does_not_match_one_without() {
    let k1 = TestKey::rsa("k1");
    let server = TestIssuerServer::start(&[&k1]).await;
    // Discovery is fetched from `{issuer without slash}/.well-known/...` and names the issuer
    // without its slash: not the configured string, so refused (no normalization).
    let verifier = TokenVerifier::builder(format!("{}/", server.issuer))
        .audience(AUD)
        .build()
        .unwrap();
    let err = warm_up_err(&verifier).await;
    assert!(matches!(err, FetchError::IssuerMismatch { .. }), "{err:?}");
    assert_eq!(server.discovery_hits(), 1);
    assert_eq!(server.jwks_hits(), 0);
}

#[tokio::test]
async fn matching_metadata_with_a_trailing_slash_issuer_verifies() {
    // The mirror image: issuer configured and published identically, slash included.
    let k1 = TestKey::ec256("k1");
    let app = AppServer::start(issuer_app(&[&k1], |base| {
        discovery_doc(&format!("{base}/"), &format!("{base}{JWKS}"))
    }))
    .await;
    let issuer = format!("{}/", app.base);
    let verifier = TokenVerifier::builder(&issuer)
        .audience(AUD)
        .build()
        .unwrap();
    verifier.warm_up().await.unwrap();
    verifier
        .verify_access_token(&k1.token(&kinde_claims(&issuer)))
        .await
        .unwrap();
    assert_eq!(app.hits(DISCOVERY), 1, "{:?}", app.log.lock().unwrap());
}

#[tokio::test]
async fn invalid_discovery_documents_are_errors() {
    for body in [
        "<html>not json</html>".to_owned(),
        "[]".to_owned(),
        "null".to_owned(),
        // No jwks_uri.
        r#"{"issuer":"ISSUER"}"#.to_owned(),
        // The issuer of the wrong type.
        r#"{"issuer":["ISSUER"],"jwks_uri":"ISSUER/.well-known/jwks.json"}"#.to_owned(),
        format!(
            r#"{{"issuer":"ISSUER","jwks_uri":"ISSUER/x","pad":{}}}"#,
            "[".repeat(10_000)
        ),
    ] {
        let app = AppServer::start(|base: &str| {
            let body = body.replace("ISSUER", base);
            Router::new().route(
                DISCOVERY,
                get(move || async move { ([(header::CONTENT_TYPE, "application/json")], body) }),
            )
        })
        .await;
        let verifier = TokenVerifier::builder(&app.base)
            .audience(AUD)
            .build()
            .unwrap();
        let err = warm_up_err(&verifier).await;
        assert!(
            matches!(err, FetchError::InvalidDocument { .. }),
            "{}: {err:?}",
            &body[..body.len().min(60)]
        );
        assert_eq!(
            app.total_hits(),
            1,
            "no key fetch after an invalid document"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// No discovery document
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn no_discovery_document_falls_back_to_the_well_known_jwks() {
    let k1 = TestKey::rsa("k1");
    let jwks = jwks_doc(&[&k1]);
    let app = AppServer::start(move |_: &str| {
        // Only the key set: discovery answers 404.
        Router::new().route(JWKS, get(move || async move { axum::Json(jwks) }))
    })
    .await;
    let verifier = TokenVerifier::builder(&app.base)
        .audience(AUD)
        .build()
        .unwrap();
    verifier
        .verify_access_token(&k1.token(&kinde_claims(&app.base)))
        .await
        .unwrap();
    assert_eq!(app.hits(DISCOVERY), 1);
    assert_eq!(app.hits(JWKS), 1);
    let metadata = verifier.metadata().expect("the fallback metadata is kept");
    assert_eq!(metadata.issuer, app.base);
    assert_eq!(metadata.jwks_uri, format!("{}{JWKS}", app.base));
}

#[tokio::test]
async fn no_discovery_document_under_an_issuer_path_falls_back_under_that_path() {
    let k1 = TestKey::ed25519("k1");
    let jwks = jwks_doc(&[&k1]);
    let app = AppServer::start(move |_: &str| {
        Router::new().route(
            &format!("/tenant{JWKS}"),
            get(move || async move { axum::Json(jwks) }),
        )
    })
    .await;
    let issuer = format!("{}/tenant", app.base);
    let verifier = TokenVerifier::builder(&issuer)
        .audience(AUD)
        .build()
        .unwrap();
    verifier
        .verify_access_token(&k1.token(&kinde_claims(&issuer)))
        .await
        .unwrap();
    assert_eq!(app.hits(&format!("/tenant{DISCOVERY}")), 1);
    assert_eq!(app.hits(&format!("/tenant{JWKS}")), 1);
    assert_eq!(app.hits(JWKS), 0);
}

#[tokio::test]
async fn a_failing_discovery_endpoint_is_an_error_not_a_fallback() {
    let k1 = TestKey::rsa("k1");
    for status in [500u16, 503, 403, 401, 410] {
        let jwks = jwks_doc(&[&k1]);
        let app = AppServer::start(move |_: &str| {
            Router::new()
                .route(
                    DISCOVERY,
                    get(move || async move { StatusCode::from_u16(status).unwrap() }),
                )
                .route(JWKS, get(move || async move { axum::Json(jwks) }))
        })
        .await;
        let verifier = TokenVerifier::builder(&app.base)
            .audience(AUD)
            .build()
            .unwrap();
        let err = warm_up_err(&verifier).await;
        assert!(
            matches!(err, FetchError::Status { status: s, .. } if s == status),
            "{status}: {err:?}"
        );
        assert_eq!(app.hits(JWKS), 0, "{status}: no fallback");
        let r = verifier
            .verify_access_token(&k1.token(&kinde_claims(&app.base)))
            .await;
        assert_eq!(reason(r), Reason::KeysUnavailable);
    }
}

// ---------------------------------------------------------------------------------------------
// Plain http and other schemes
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_jwks_uri_that_is_not_https_is_refused_before_any_request() {
    let k1 = TestKey::rsa("k1");
    for jwks_uri in [
        "http://example.com/jwks",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/.well-known/jwks.json",
        "http://0.0.0.0/jwks",
        "http://localhost.example.com/jwks",
        "http://127.0.0.1.nip.io/jwks",
        "file:///etc/passwd",
        "ftp://example.com/jwks",
        "gopher://example.com/jwks",
        "javascript:alert(1)",
        "/relative/jwks",
        "",
    ] {
        let app = AppServer::start(issuer_app(&[&k1], move |base| {
            discovery_doc(base, jwks_uri)
        }))
        .await;
        let verifier = TokenVerifier::builder(&app.base)
            .audience(AUD)
            .build()
            .unwrap();
        let started = Instant::now();
        let err = warm_up_err(&verifier).await;
        match &err {
            FetchError::InsecureUrl { url, .. } => assert_eq!(url, jwks_uri),
            other => panic!("{jwks_uri:?}: expected InsecureUrl, got {other:?}"),
        }
        // Refused without trying: no timeout, no DNS, no connection.
        assert!(started.elapsed() < Duration::from_secs(2), "{jwks_uri:?}");
        assert_eq!(
            app.total_hits(),
            1,
            "{jwks_uri:?}: only the discovery request"
        );
        assert!(verifier.metadata().is_none());
        let r = verifier
            .verify_access_token(&k1.token(&kinde_claims(&app.base)))
            .await;
        assert_eq!(reason(r), Reason::KeysUnavailable);
    }
}

#[test]
fn a_plain_http_issuer_on_another_host_is_a_build_error() {
    for issuer in [
        "http://example.com",
        "http://example.com/",
        "http://10.0.0.1",
        "http://0.0.0.0:8080",
        "http://localhost.example.com",
        "http://127.0.0.1.nip.io",
        "http://[::ffff:7f00:1]",
    ] {
        let err = TokenVerifier::builder(issuer)
            .audience(AUD)
            .build()
            .unwrap_err();
        let Error::Config(c) = &err else {
            panic!("{issuer}: expected a configuration error, got {err:?}");
        };
        assert_eq!(c.setting(), "issuer", "{issuer}");
        assert!(c.problem().contains(issuer), "{issuer}: {}", c.problem());
        assert!(err.to_string().contains("allow_insecure_http"), "{err}");

        // The same through Config.
        let err = Config::builder(issuer).audience(AUD).build().unwrap_err();
        assert!(err.to_string().contains(issuer), "{issuer}: {err}");
    }
    for issuer in [
        "ftp://example.com",
        "file:///etc",
        "example.com",
        "https://op.example?tenant=1",
        "https://op.example#x",
        "",
    ] {
        let err = TokenVerifier::builder(issuer)
            .audience(AUD)
            .http_options(HttpOptions {
                allow_insecure_http: true,
                ..HttpOptions::default()
            })
            .build()
            .unwrap_err();
        assert!(
            matches!(&err, Error::Config(c) if c.setting() == "issuer"),
            "{issuer}: {err:?}"
        );
    }
}

#[test]
fn loopback_http_issuers_need_no_opt_in() {
    for issuer in [
        "http://localhost",
        "http://localhost:3000",
        "http://LOCALHOST:3000",
        "http://127.0.0.1",
        "http://127.1.2.3:9000",
        "http://[::1]:8080",
        "https://op.example",
    ] {
        TokenVerifier::builder(issuer)
            .audience(AUD)
            .build()
            .unwrap_or_else(|e| panic!("{issuer}: {e}"));
        let config = Config::builder(issuer)
            .audience(AUD)
            .build()
            .unwrap_or_else(|e| panic!("{issuer}: {e}"));
        TokenVerifier::from_config(&config).unwrap();
    }
}

#[test]
fn allow_insecure_http_opts_in_explicitly() {
    let insecure = HttpOptions {
        allow_insecure_http: true,
        ..HttpOptions::default()
    };
    TokenVerifier::builder("http://issuer.internal")
        .audience(AUD)
        .http_options(insecure.clone())
        .build()
        .unwrap();
    let config = Config::builder("http://issuer.internal")
        .audience(AUD)
        .allow_insecure_http()
        .build()
        .unwrap();
    assert!(config.allows_insecure_http());
    let verifier = TokenVerifier::from_config(&config).unwrap();
    assert_eq!(verifier.issuer(), "http://issuer.internal");

    // A configured jwks_uri follows the same rule.
    let err = TokenVerifier::builder("https://op.example")
        .audience(AUD)
        .jwks_uri("http://example.com/jwks")
        .build()
        .unwrap_err();
    assert!(
        matches!(&err, Error::Config(c) if c.setting() == "jwks_uri"),
        "{err:?}"
    );
    TokenVerifier::builder("https://op.example")
        .audience(AUD)
        .jwks_uri("http://keys.internal/jwks")
        .http_options(insecure.clone())
        .build()
        .unwrap();
    for uri in [
        "file:///etc/passwd",
        "ftp://keys.internal/jwks",
        "jwks.json",
    ] {
        let err = TokenVerifier::builder("https://op.example")
            .audience(AUD)
            .jwks_uri(uri)
            .http_options(insecure.clone())
            .build()
            .unwrap_err();
        assert!(
            matches!(&err, Error::Config(c) if c.setting() == "jwks_uri"),
            "{uri}: {err:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Size limits
// ---------------------------------------------------------------------------------------------

const FIFTY_MB: usize = 50 * 1024 * 1024;

/// Checks that a 50 MB answer was cut off at the limit: the client hung up early and the server
/// got nowhere near sending it all.
async fn assert_not_buffered(raw: &RawServer, what: &str) {
    assert!(
        raw.wait_for_hang_up(Duration::from_secs(5)).await,
        "{what}: the client must drop the connection, not keep reading (sent {} bytes)",
        raw.sent()
    );
    assert!(!raw.stats.completed.load(Ordering::SeqCst), "{what}");
    assert!(
        raw.sent() < FIFTY_MB / 2,
        "{what}: {} bytes were taken from the server",
        raw.sent()
    );
}

#[tokio::test]
async fn a_50_mb_discovery_document_is_too_large() {
    for chunked in [true, false] {
        let raw = RawServer::start(move |_, _| {
            if chunked {
                Raw::Chunked(FIFTY_MB)
            } else {
                Raw::Declared(FIFTY_MB)
            }
        })
        .await;
        let verifier = TokenVerifier::builder(&raw.base)
            .audience(AUD)
            .build()
            .unwrap();
        let started = Instant::now();
        let err = warm_up_err(&verifier).await;
        assert!(
            matches!(err, FetchError::TooLarge { limit, .. } if limit == 1024 * 1024),
            "chunked={chunked}: {err:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_not_buffered(&raw, &format!("discovery, chunked={chunked}")).await;
        assert_eq!(raw.hits(DISCOVERY), 1);
        assert_eq!(raw.hits("/jwks"), 0);
    }
}

#[tokio::test]
async fn a_50_mb_key_set_is_too_large() {
    let k1 = TestKey::rsa("k1");
    for chunked in [true, false] {
        let raw = RawServer::start(move |path, base| match path {
            DISCOVERY => Raw::Json(discovery_doc(base, &format!("{base}/jwks")).to_string()),
            _ if chunked => Raw::Chunked(FIFTY_MB),
            _ => Raw::Declared(FIFTY_MB),
        })
        .await;
        let verifier = TokenVerifier::builder(&raw.base)
            .audience(AUD)
            .build()
            .unwrap();
        let err = warm_up_err(&verifier).await;
        assert!(
            matches!(&err, FetchError::TooLarge { url, .. } if url.ends_with("/jwks")),
            "chunked={chunked}: {err:?}"
        );
        assert_not_buffered(&raw, &format!("jwks, chunked={chunked}")).await;
        let r = verifier
            .verify_access_token(&k1.token(&kinde_claims(&raw.base)))
            .await;
        assert_eq!(reason(r), Reason::KeysUnavailable);
    }
}

#[tokio::test]
async fn a_smaller_body_limit_is_honoured() {
    let k1 = TestKey::rsa("k1");
    let server = TestIssuerServer::start(&[&k1]).await;
    // The discovery document is a few hundred bytes: over a 64-byte limit.
    let verifier = server
        .verifier()
        .http_options(HttpOptions {
            max_body_bytes: 64,
            ..HttpOptions::default()
        })
        .build()
        .unwrap();
    let err = warm_up_err(&verifier).await;
    assert!(
        matches!(err, FetchError::TooLarge { limit: 64, .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn endless_response_headers_are_cut_off() {
    let raw = RawServer::start(|_, _| Raw::EndlessHeaders).await;
    let verifier = TokenVerifier::builder(&raw.base)
        .audience(AUD)
        .http_options(timeouts(Duration::from_secs(3)))
        .build()
        .unwrap();
    let started = Instant::now();
    let err = warm_up_err(&verifier).await;
    assert!(matches!(err, FetchError::Transport { .. }), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_not_buffered(&raw, "headers").await;
}

// ---------------------------------------------------------------------------------------------
// Timeouts
// ---------------------------------------------------------------------------------------------

/// Checks a fetch gave up on time: a transport error that says it timed out, after about
/// `timeout` and well within 5 s.
fn assert_timed_out(err: &FetchError, elapsed: Duration, timeout: Duration, what: &str) {
    match err {
        FetchError::Transport { message, .. } => {
            assert!(message.contains("timed out"), "{what}: {message}");
        }
        other => panic!("{what}: expected a timeout, got {other:?}"),
    }
    assert!(
        elapsed >= timeout.mul_f32(0.8),
        "{what}: gave up early ({elapsed:?})"
    );
    assert!(elapsed < Duration::from_secs(5), "{what}: took {elapsed:?}");
}

#[tokio::test]
async fn a_discovery_endpoint_that_never_answers_times_out() {
    let timeout = Duration::from_millis(300);
    let raw = RawServer::start(|_, _| Raw::Silent).await;
    let verifier = TokenVerifier::builder(&raw.base)
        .audience(AUD)
        .http_options(timeouts(timeout))
        .build()
        .unwrap();
    let started = Instant::now();
    let err = warm_up_err(&verifier).await;
    assert_timed_out(&err, started.elapsed(), timeout, "silent discovery");
    assert_eq!(raw.hits(DISCOVERY), 1);
}

#[tokio::test]
async fn a_server_that_never_accepts_times_out() {
    // Bound but never accepting: the kernel completes the handshake, nobody reads the request.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let timeout = Duration::from_millis(300);
    let verifier = TokenVerifier::builder(&issuer)
        .audience(AUD)
        .http_options(timeouts(timeout))
        .build()
        .unwrap();
    let started = Instant::now();
    let err = warm_up_err(&verifier).await;
    assert_timed_out(&err, started.elapsed(), timeout, "never accepting");
    drop(listener);
}

#[tokio::test]
async fn a_key_set_endpoint_that_never_answers_times_out() {
    let k1 = TestKey::rsa("k1");
    let server = TestIssuerServer::start(&[&k1]).await;
    server.set_mode(common::Mode::JwksHang);
    let timeout = Duration::from_millis(300);
    let verifier = server
        .verifier()
        .http_options(timeouts(timeout))
        .build()
        .unwrap();
    let started = Instant::now();
    let err = warm_up_err(&verifier).await;
    assert_timed_out(&err, started.elapsed(), timeout, "silent jwks");
    // The first verification fails the same way, within the same bound.
    let other = server
        .verifier()
        .http_options(timeouts(timeout))
        .build()
        .unwrap();
    let started = Instant::now();
    let token = k1.token(&kinde_claims(&server.issuer));
    let r = tokio::time::timeout(Duration::from_secs(10), other.verify_access_token(&token))
        .await
        .expect("verification must not wait for a silent issuer");
    assert_eq!(reason(r), Reason::KeysUnavailable);
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn a_drip_fed_body_hits_the_request_timeout() {
    // Bytes keep coming, so no read ever stalls: only a whole-request deadline stops this.
    let timeout = Duration::from_millis(300);
    let raw = RawServer::start(|_, _| Raw::DripBody).await;
    let verifier = TokenVerifier::builder(&raw.base)
        .audience(AUD)
        .http_options(timeouts(timeout))
        .build()
        .unwrap();
    let started = Instant::now();
    let err = warm_up_err(&verifier).await;
    assert_timed_out(&err, started.elapsed(), timeout, "drip-fed body");
}

#[tokio::test]
async fn a_connection_that_is_never_established_hits_the_connect_timeout() {
    // A listener with a backlog of 1 that never accepts: once its queue is full, the kernel drops
    // further SYNs, so a new connection hangs in the handshake.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = socket.local_addr().unwrap();
    let listener = socket.listen(1).unwrap();
    let mut fillers = Vec::new();
    let mut hangs = false;
    for _ in 0..16 {
        match tokio::time::timeout(Duration::from_millis(200), TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => fillers.push(stream),
            Ok(Err(e)) => panic!("filling the backlog: {e}"),
            Err(_) => {
                hangs = true;
                break;
            }
        }
    }
    if !hangs {
        eprintln!("this kernel completes every handshake; the connect timeout is not observable");
        return;
    }
    let connect_timeout = Duration::from_millis(300);
    let verifier = TokenVerifier::builder(format!("http://{addr}"))
        .audience(AUD)
        .http_options(HttpOptions {
            connect_timeout,
            request_timeout: Duration::from_secs(60),
            ..HttpOptions::default()
        })
        .build()
        .unwrap();
    let started = Instant::now();
    let err = warm_up_err(&verifier).await;
    let elapsed = started.elapsed();
    assert!(matches!(err, FetchError::Transport { .. }), "{err:?}");
    assert!(elapsed >= connect_timeout.mul_f32(0.8), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
    drop((listener, fillers));
}

// ---------------------------------------------------------------------------------------------
// Redirects
// ---------------------------------------------------------------------------------------------

/// A redirect that was not followed: the 3xx itself is the (failed) answer, or a transport error
/// naming the redirect.
fn assert_redirect_refused(err: &FetchError, status: u16, what: &str) {
    match err {
        FetchError::Status { status: s, .. } => assert_eq!(*s, status, "{what}"),
        FetchError::Transport { message, .. } if message.contains("redirect") => {}
        other => panic!("{what}: expected the redirect to be refused, got {other:?}"),
    }
}

#[tokio::test]
async fn a_cross_origin_redirect_from_the_key_set_is_not_followed() {
    let k1 = TestKey::rsa("k1");
    // The other origin serves perfectly good keys: following would "work", and must not happen.
    let elsewhere = TestIssuerServer::start(&[&k1]).await;
    for status in [301u16, 302, 303, 307, 308] {
        let target = format!("{}{JWKS}", elsewhere.issuer);
        let app = AppServer::start(move |base: &str| {
            let doc = discovery_doc(base, &format!("{base}/keys"));
            Router::new()
                .route(DISCOVERY, get(move || async move { axum::Json(doc) }))
                .route(
                    "/keys",
                    get(move || async move { redirect(status, &target) }),
                )
        })
        .await;
        let verifier = TokenVerifier::builder(&app.base)
            .audience(AUD)
            .build()
            .unwrap();
        let err = warm_up_err(&verifier).await;
        assert_redirect_refused(&err, status, &status.to_string());
        assert_eq!(app.hits("/keys"), 1);
        let r = verifier
            .verify_access_token(&k1.token(&kinde_claims(&app.base)))
            .await;
        assert_eq!(reason(r), Reason::KeysUnavailable);
    }
    assert_eq!(
        elsewhere.jwks_hits(),
        0,
        "the other origin never saw a request"
    );
    assert_eq!(elsewhere.discovery_hits() + elsewhere.other_hits(), 0);
}

#[tokio::test]
async fn a_redirect_to_the_same_port_under_another_host_name_is_cross_origin() {
    let k1 = TestKey::rsa("k1");
    let jwks = jwks_doc(&[&k1]);
    let app = AppServer::start(move |base: &str| {
        let doc = discovery_doc(base, &format!("{base}/keys"));
        let target = format!("{}{JWKS}", base.replacen("127.0.0.1", "localhost", 1));
        Router::new()
            .route(DISCOVERY, get(move || async move { axum::Json(doc) }))
            .route("/keys", get(move || async move { redirect(302, &target) }))
            .route(JWKS, get(move || async move { axum::Json(jwks) }))
    })
    .await;
    let verifier = TokenVerifier::builder(&app.base)
        .audience(AUD)
        .build()
        .unwrap();
    let err = warm_up_err(&verifier).await;
    assert_redirect_refused(&err, 302, "localhost");
    assert_eq!(app.hits(JWKS), 0);
}

#[tokio::test]
async fn a_same_origin_redirect_is_followed() {
    let k1 = TestKey::rsa("k1");
    for (status, relative) in [(301u16, true), (302, false), (307, true), (308, false)] {
        let jwks = jwks_doc(&[&k1]);
        let app = AppServer::start(move |base: &str| {
            let doc = discovery_doc(base, &format!("{base}/keys"));
            let target = if relative {
                JWKS.to_owned()
            } else {
                format!("{base}{JWKS}")
            };
            Router::new()
                .route(DISCOVERY, get(move || async move { axum::Json(doc) }))
                .route(
                    "/keys",
                    get(move || async move { redirect(status, &target) }),
                )
                .route(JWKS, get(move || async move { axum::Json(jwks) }))
        })
        .await;
        let verifier = TokenVerifier::builder(&app.base)
            .audience(AUD)
            .build()
            .unwrap();
        verifier
            .verify_access_token(&k1.token(&kinde_claims(&app.base)))
            .await
            .unwrap_or_else(|e| panic!("{status}: {e}"));
        assert_eq!(app.hits("/keys"), 1);
        assert_eq!(app.hits(JWKS), 1);
    }
}

#[tokio::test]
async fn a_same_origin_hop_then_a_cross_origin_redirect_is_not_followed() {
    let k1 = TestKey::rsa("k1");
    let elsewhere = TestIssuerServer::start(&[&k1]).await;
    let target = format!("{}{JWKS}", elsewhere.issuer);
    let app = AppServer::start(move |base: &str| {
        let doc = discovery_doc(base, &format!("{base}/keys"));
        Router::new()
            .route(DISCOVERY, get(move || async move { axum::Json(doc) }))
            .route("/keys", get(|| async { redirect(302, "/hop") }))
            .route("/hop", get(move || async move { redirect(302, &target) }))
    })
    .await;
    let verifier = TokenVerifier::builder(&app.base)
        .audience(AUD)
        .build()
        .unwrap();
    let err = warm_up_err(&verifier).await;
    assert_redirect_refused(&err, 302, "hop");
    assert_eq!(app.hits("/hop"), 1);
    assert_eq!(elsewhere.jwks_hits(), 0);
}

#[tokio::test]
async fn a_redirect_loop_is_bounded() {
    let app = AppServer::start(move |base: &str| {
        let doc = discovery_doc(base, &format!("{base}/loop"));
        Router::new()
            .route(DISCOVERY, get(move || async move { axum::Json(doc) }))
            .route("/loop", get(|| async { redirect(302, "/loop") }))
    })
    .await;
    let verifier = TokenVerifier::builder(&app.base)
        .audience(AUD)
        .build()
        .unwrap();
    let err = warm_up_err(&verifier).await;
    assert!(
        matches!(
            err,
            FetchError::Status { status: 302, .. } | FetchError::Transport { .. }
        ),
        "{err:?}"
    );
    let loops = app.hits("/loop");
    assert!((1..=5).contains(&loops), "{loops} requests");
}

#[tokio::test]
async fn a_cross_origin_redirect_from_discovery_is_not_followed() {
    let k1 = TestKey::rsa("k1");
    // The other origin claims to be our issuer and serves keys: following it would hand it the
    // keys we trust.
    let elsewhere = TestIssuerServer::start(&[&k1]).await;
    let target = format!("{}{DISCOVERY}", elsewhere.issuer);
    let app = AppServer::start(move |_: &str| {
        Router::new().route(
            DISCOVERY,
            get(move || async move { redirect(302, &target) }),
        )
    })
    .await;
    elsewhere.set_metadata_issuer(&app.base);
    let verifier = TokenVerifier::builder(&app.base)
        .audience(AUD)
        .build()
        .unwrap();
    let err = warm_up_err(&verifier).await;
    assert_redirect_refused(&err, 302, "discovery");
    assert_eq!(elsewhere.discovery_hits() + elsewhere.jwks_hits(), 0);
    let r = verifier
        .verify_access_token(&k1.token(&kinde_claims(&app.base)))
        .await;
    assert_eq!(reason(r), Reason::KeysUnavailable);
}

// ---------------------------------------------------------------------------------------------
// A configured jwks_uri
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_configured_jwks_uri_skips_discovery() {
    let k1 = TestKey::rsa("k1");
    let server = TestIssuerServer::start(&[&k1]).await;
    let verifier = server
        .verifier()
        .jwks_uri(format!("{}{JWKS}", server.issuer))
        .build()
        .unwrap();
    verifier.warm_up().await.unwrap();
    verifier
        .verify_access_token(&k1.token(&kinde_claims(&server.issuer)))
        .await
        .unwrap();
    assert_eq!(server.discovery_hits(), 0);
    assert_eq!(server.jwks_hits(), 1);
    assert!(verifier.metadata().is_none(), "no metadata was fetched");
}

#[tokio::test]
async fn a_configured_jwks_uri_may_live_elsewhere_and_discovery_is_never_tried() {
    let k1 = TestKey::ec384("k1");
    let keys = TestIssuerServer::start(&[&k1]).await;
    // The issuer has no server at all: only the key set is fetched.
    let issuer = "https://issuer.invalid";
    let verifier = TokenVerifier::builder(issuer)
        .audience(AUD)
        .jwks_uri(format!("{}{JWKS}", keys.issuer))
        .build()
        .unwrap();
    verifier
        .verify_access_token(&k1.token(&kinde_claims(issuer)))
        .await
        .unwrap();
    assert_eq!(keys.discovery_hits(), 0);
    assert_eq!(keys.jwks_hits(), 1);
}
