//! HTTPS on the server itself (`--tls-cert` / `--tls-key`, [`portcullis_server::run_tls`]):
//! TLS 1.2 and 1.3, HTTP/2 and HTTP/1.1 by ALPN, and certificates replaced while serving —
//! on a change of the files or on SIGHUP — without dropping a connection or a request, while a
//! bad new pair keeps the one in use. Every certificate comes from a test CA made here.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use portcullis_server::store::Store;
use portcullis_server::testing::TestIssuer;
use portcullis_server::tls::{ServerCertificate, TlsError};
use portcullis_server::{AppState, Settings};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

const BIN: &str = env!("CARGO_BIN_EXE_portcullis");

/// A certificate authority made for one test.
struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
}

/// A server certificate for `localhost` and 127.0.0.1, with its key.
#[derive(Clone)]
struct Leaf {
    cert_pem: String,
    key_pem: String,
    der: Vec<u8>,
}

impl TestCa {
    fn new(name: &str) -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        TestCa {
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    fn leaf(&self, name: &str) -> Leaf {
        let mut params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().to_vec(),
        }
    }

    /// A reqwest client trusting this CA only (HTTP/2 when the server offers it).
    fn client(&self) -> reqwest::ClientBuilder {
        reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(self.pem.as_bytes()).unwrap()])
            .tls_info(true)
    }

    fn tls_client(
        &self,
        alpn: &[&[u8]],
        versions: &[&'static rustls::SupportedProtocolVersion],
    ) -> tokio_rustls::TlsConnector {
        tokio_rustls::TlsConnector::from(Arc::new(self.rustls_client(alpn, versions)))
    }

    /// A rustls client trusting this CA only, without session resumption (so that every
    /// connection is shown the server's certificate).
    fn rustls_client(
        &self,
        alpn: &[&[u8]],
        versions: &[&'static rustls::SupportedProtocolVersion],
    ) -> rustls::ClientConfig {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(self.pem.as_bytes()).unwrap())
            .unwrap();
        let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        // Every connection a full handshake: a resumed session is not shown a certificate.
        config.resumption = rustls::client::Resumption::disabled();
        config
    }
}

/// A TLS connection to `port`, and the certificate the server presented.
async fn connect(
    connector: &tokio_rustls::TlsConnector,
    port: u16,
) -> (tokio_rustls::client::TlsStream<TcpStream>, Vec<u8>) {
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let tls = connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    let presented = tls.get_ref().1.peer_certificates().unwrap()[0].to_vec();
    (tls, presented)
}

/// `GET /healthz` on an open HTTP/1.1 connection (kept alive): the status line.
async fn healthz_on(stream: &mut tokio_rustls::client::TlsStream<TcpStream>) -> String {
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    // The body is "ok", after the head.
    while !answer.windows(6).any(|w| w == b"\r\n\r\nok") {
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
            .await
            .expect("an answer within 5 s")
            .unwrap();
        assert!(
            n > 0,
            "connection closed: {}",
            String::from_utf8_lossy(&answer)
        );
        answer.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&answer)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// The first line of base64 of a leaf's private key.
fn key_body(leaf: &Leaf) -> &str {
    leaf.key_pem.lines().nth(1).unwrap()
}

/// Files in a directory of their own, removed at the end.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "portcullis-tls-{name}-{}-{}",
            std::process::id(),
            rand_suffix()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher as _, Hasher as _};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0);
    h.finish()
}

/// Replaces `path`'s contents at once (write aside, then rename), as deployment tools do.
fn replace(path: &Path, contents: &str) {
    let aside = path.with_extension("new");
    std::fs::write(&aside, contents).unwrap();
    std::fs::rename(&aside, path).unwrap();
}

fn install(dir: &TempDir, leaf: &Leaf) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.path("tls.crt"), dir.path("tls.key"));
    replace(&cert, &leaf.cert_pem);
    replace(&key, &leaf.key_pem);
    (cert, key)
}

/// A server on 127.0.0.1 with `certificate`, stopped when the returned sender is dropped.
async fn serve(certificate: ServerCertificate) -> (u16, tokio::sync::oneshot::Sender<()>) {
    serve_with(certificate, Duration::from_secs(10)).await
}

async fn serve_with(
    certificate: ServerCertificate,
    header_read_timeout: Duration,
) -> (u16, tokio::sync::oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let store = Store::connect("sqlite::memory:").await.unwrap();
    let mut settings = Settings::new(format!("https://localhost:{port}"));
    settings.header_read_timeout = header_read_timeout;
    let state = AppState::new(store, settings).await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(portcullis_server::run_tls(
        listener,
        state,
        certificate,
        async move {
            let _ = stopped.await;
        },
    ));
    (port, stop)
}

/// Waits up to `limit` for a new connection to be handed `want`.
async fn wait_for_certificate(
    connector: &tokio_rustls::TlsConnector,
    port: u16,
    want: &[u8],
    limit: Duration,
) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if connect(connector, port).await.1 == want {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

#[tokio::test]
async fn https_serves_http2_and_http11_by_alpn_on_tls12_and_tls13() {
    let ca = TestCa::new("Portcullis test CA");
    let leaf = ca.leaf("server");
    let issuer = TestIssuer::builder()
        .api("https://api.example.com", &["read"])
        .m2m_app(
            "worker",
            "worker-secret-0123456789abcdefghijklmnop",
            "https://api.example.com",
            &["read"],
        )
        .tls(leaf.cert_pem.clone(), leaf.key_pem.clone(), ca.pem.clone())
        .start()
        .await
        .unwrap();
    let url = issuer.url().to_owned();
    assert!(url.starts_with("https://localhost:"), "{url}");
    let port: u16 = url.rsplit(':').next().unwrap().parse().unwrap();

    // A client that offers h2 gets it; one that speaks only HTTP/1.1 gets that.
    let discovery = format!("{url}/.well-known/openid-configuration");
    let h2 = ca
        .client()
        .build()
        .unwrap()
        .get(&discovery)
        .send()
        .await
        .unwrap();
    assert_eq!(h2.version(), reqwest::Version::HTTP_2);
    assert_eq!(h2.status(), 200);
    let doc: serde_json::Value = h2.json().await.unwrap();
    assert_eq!(doc["issuer"], url.as_str());
    let h1 = ca
        .client()
        .http1_only()
        .build()
        .unwrap()
        .get(&discovery)
        .send()
        .await
        .unwrap();
    assert_eq!(h1.version(), reqwest::Version::HTTP_11);
    assert_eq!(h1.status(), 200);
    // HSTS on an https issuer.
    assert!(h1.headers().contains_key("strict-transport-security"));

    // The negotiated protocol, seen from a bare TLS client.
    for (alpn, versions, want_alpn, want_version) in [
        (
            &[b"h2".as_slice(), b"http/1.1"][..],
            &[&rustls::version::TLS13][..],
            Some(b"h2".as_slice()),
            rustls::ProtocolVersion::TLSv1_3,
        ),
        (
            &[b"http/1.1".as_slice()][..],
            &[&rustls::version::TLS12][..],
            Some(b"http/1.1".as_slice()),
            rustls::ProtocolVersion::TLSv1_2,
        ),
        (
            &[][..],
            &[&rustls::version::TLS12][..],
            None,
            rustls::ProtocolVersion::TLSv1_2,
        ),
    ] {
        let (stream, presented) = connect(&ca.tls_client(alpn, versions), port).await;
        assert_eq!(presented, leaf.der);
        let session = stream.get_ref().1;
        assert_eq!(session.alpn_protocol(), want_alpn);
        assert_eq!(session.protocol_version(), Some(want_version));
    }

    // The issuer's own helpers work over HTTPS (they trust the test CA), and so do its tokens.
    let token = issuer
        .client_credentials_token(
            "worker",
            "worker-secret-0123456789abcdefghijklmnop",
            "https://api.example.com",
            None,
        )
        .await
        .unwrap();
    assert_eq!(token.split('.').count(), 3);

    // A client that does not trust the test CA is refused during the handshake.
    let err = reqwest::Client::new()
        .get(&discovery)
        .send()
        .await
        .unwrap_err();
    let chain = error_chain(&err);
    assert!(chain.contains("certificate"), "{chain}");

    // Plain HTTP to the TLS port gets no HTTP answer.
    let plain = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}/healthz"))
        .timeout(Duration::from_secs(5))
        .send()
        .await;
    assert!(plain.is_err(), "{plain:?}");
    issuer.shutdown().await;
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// Reads until the server closes the connection; false if it is still open after `limit`.
async fn closed_within(stream: &mut (impl tokio::io::AsyncRead + Unpin), limit: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

#[tokio::test]
async fn silent_and_idle_connections_are_closed_after_the_header_read_timeout() {
    let ca = TestCa::new("Portcullis test CA");
    let leaf = ca.leaf("server");
    let certificate =
        ServerCertificate::from_pem(leaf.cert_pem.as_bytes(), leaf.key_pem.as_bytes()).unwrap();
    let (port, _stop) = serve_with(certificate, Duration::from_millis(300)).await;
    // A handshake never started.
    let mut silent = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    assert!(closed_within(&mut silent, Duration::from_secs(3)).await);
    // HTTP/2 and HTTP/1.1 connections that never send a request.
    for alpn in [b"h2".as_slice(), b"http/1.1"] {
        let connector = ca.tls_client(&[alpn], &[&rustls::version::TLS13]);
        let (mut idle, _) = connect(&connector, port).await;
        if alpn == b"h2" {
            idle.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
                .await
                .unwrap();
        }
        assert!(
            closed_within(&mut idle, Duration::from_secs(3)).await,
            "{} connection left open",
            String::from_utf8_lossy(alpn)
        );
    }
}

#[tokio::test]
async fn a_changed_certificate_is_used_for_new_connections_while_open_ones_go_on() {
    let ca = TestCa::new("Portcullis test CA");
    let (first, second) = (ca.leaf("first"), ca.leaf("second"));
    let dir = TempDir::new("reload");
    let (cert, key) = install(&dir, &first);
    let certificate = ServerCertificate::from_files(&cert, &key)
        .unwrap()
        .reload_interval(Duration::from_millis(50));
    let (port, _stop) = serve(certificate).await;
    let connector = ca.tls_client(&[b"http/1.1"], &[&rustls::version::TLS13]);

    let (mut open, presented) = connect(&connector, port).await;
    assert_eq!(presented, first.der);
    assert_eq!(healthz_on(&mut open).await, "HTTP/1.1 200 OK");

    install(&dir, &second);
    assert!(
        wait_for_certificate(&connector, port, &second.der, Duration::from_secs(5)).await,
        "new connections get the new certificate within 5 s"
    );
    // The connection opened before the change is still served, with its certificate.
    assert_eq!(healthz_on(&mut open).await, "HTTP/1.1 200 OK");
    assert_eq!(
        open.get_ref().1.peer_certificates().unwrap()[0].as_ref(),
        first.der
    );
}

#[tokio::test]
async fn a_bad_new_pair_keeps_the_certificate_in_use() {
    let ca = TestCa::new("Portcullis test CA");
    let (first, second) = (ca.leaf("first"), ca.leaf("second"));
    let dir = TempDir::new("bad-pair");
    let (cert, key) = install(&dir, &first);
    // No polling: each reload below is the one that SIGHUP would make.
    let certificate = ServerCertificate::from_files(&cert, &key)
        .unwrap()
        .reload_interval(Duration::ZERO);
    let (port, _stop) = serve(certificate.clone()).await;
    let connector = ca.tls_client(&[b"http/1.1"], &[&rustls::version::TLS13]);
    assert!(
        !certificate.reload().unwrap(),
        "unchanged files are not reloaded"
    );

    let cert_name = cert.display().to_string();
    let key_name = key.display().to_string();
    // (certificate file, key file, the error expected, what its message names)
    type Case<'a> = (&'a str, &'a str, &'a dyn Fn(&TlsError) -> bool, &'a str);
    let cases: [Case; 5] = [
        (
            "garbage",
            &first.key_pem,
            &|e| matches!(e, TlsError::NoCertificate { .. }),
            &cert_name,
        ),
        (
            "-----BEGIN CERTIFICATE-----\nMIIB\n",
            &first.key_pem,
            &|e| matches!(e, TlsError::Pem { .. }),
            &cert_name,
        ),
        (
            &second.cert_pem,
            &first.key_pem,
            &|e| matches!(e, TlsError::Unusable { .. }),
            "does not belong",
        ),
        (
            &second.cert_pem,
            "",
            &|e| matches!(e, TlsError::NoPrivateKey { .. }),
            &key_name,
        ),
        (
            &second.cert_pem,
            &second.cert_pem,
            &|e| matches!(e, TlsError::NoPrivateKey { .. }),
            "no private key",
        ),
    ];
    for (cert_pem, key_pem, expected, named) in cases {
        replace(&cert, cert_pem);
        replace(&key, key_pem);
        let err = certificate.reload().unwrap_err();
        assert!(expected(&err), "{err:?}");
        let message = err.to_string();
        assert!(message.contains(named), "{message}");
        // The key's contents are never quoted.
        assert!(!message.contains(key_body(&first)), "{message}");
        assert_eq!(
            connect(&connector, port).await.1,
            first.der,
            "still the first certificate"
        );
    }
    // Asked again (another SIGHUP), the same bad pair is reported again.
    assert!(matches!(
        certificate.reload(),
        Err(TlsError::NoPrivateKey { .. })
    ));
    std::fs::remove_file(&key).unwrap();
    assert!(matches!(certificate.reload(), Err(TlsError::Read { .. })));
    assert_eq!(connect(&connector, port).await.1, first.der);

    install(&dir, &second);
    assert!(certificate.reload().unwrap());
    assert_eq!(connect(&connector, port).await.1, second.der);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn certificate_rotation_under_load_loses_no_request() {
    let ca = TestCa::new("Portcullis test CA");
    let leaves: Vec<Leaf> = (0..3).map(|i| ca.leaf(&format!("leaf-{i}"))).collect();
    let dir = TempDir::new("load");
    let (cert, key) = install(&dir, &leaves[0]);
    let certificate = ServerCertificate::from_files(&cert, &key)
        .unwrap()
        .reload_interval(Duration::from_millis(20));
    let (port, _stop) = serve(certificate).await;
    let url = format!("https://localhost:{port}/.well-known/openid-configuration");

    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicUsize::new(0));
    let seen = Arc::new(std::sync::Mutex::new(std::collections::BTreeMap::<
        Vec<u8>,
        usize,
    >::new()));
    let mut workers = Vec::new();
    for worker in 0..12 {
        // A third keep their connections (HTTP/2), a third keep HTTP/1.1 connections, and a
        // third open a new connection (a new handshake) for every request.
        let client = match worker % 3 {
            0 => ca.client().build().unwrap(),
            1 => ca.client().http1_only().build().unwrap(),
            _ => reqwest::Client::builder()
                .tls_backend_preconfigured(ca.rustls_client(
                    &[b"http/1.1"],
                    &[&rustls::version::TLS13, &rustls::version::TLS12],
                ))
                .tls_info(true)
                .http1_only()
                .pool_max_idle_per_host(0)
                .build()
                .unwrap(),
        };
        let (stop, ok, seen, url) = (stop.clone(), ok.clone(), seen.clone(), url.clone());
        workers.push(tokio::spawn(async move {
            let mut failures = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                match client.get(&url).send().await {
                    Ok(response) if response.status() == 200 => {
                        if let Some(info) = response.extensions().get::<reqwest::tls::TlsInfo>()
                            && let Some(der) = info.peer_certificate()
                        {
                            *seen.lock().unwrap().entry(der.to_vec()).or_default() += 1;
                        }
                        match response.bytes().await {
                            Ok(_) => {
                                ok.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(e) => failures.push(error_chain(&e)),
                        }
                    }
                    Ok(response) => failures.push(format!("status {}", response.status())),
                    Err(e) => failures.push(error_chain(&e)),
                }
            }
            failures
        }));
    }
    // Rotate through the three pairs (certificate file first, then key: in between the pair
    // does not match, which must change nothing) while the requests run.
    let started = Instant::now();
    let mut rotations = 0;
    while started.elapsed() < Duration::from_secs(4) {
        tokio::time::sleep(Duration::from_millis(150)).await;
        rotations += 1;
        install(&dir, &leaves[rotations % leaves.len()]);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    let mut failures = Vec::new();
    for w in workers {
        failures.extend(w.await.unwrap());
    }
    let ok = ok.load(Ordering::Relaxed);
    let seen = seen.lock().unwrap().clone();

    eprintln!(
        "{ok} requests succeeded, {} failed, over {rotations} rotations; requests per certificate: {:?}",
        failures.len(),
        seen.values().collect::<Vec<_>>()
    );
    assert!(
        failures.is_empty(),
        "{} failed: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    assert!(ok > 100, "only {ok} requests");
    // Every certificate of the rotation was handed to new connections.
    for leaf in &leaves {
        assert!(
            seen.contains_key(&leaf.der),
            "a certificate was never served"
        );
    }
}

// --- the binary: flags, start-up errors and SIGHUP ------------------------------------------

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn portcullis(args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1")
        .env("PORTCULLIS_DATABASE_URL", "sqlite::memory:")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (name, _) in std::env::vars() {
        if name.starts_with("PORTCULLIS_") && name != "PORTCULLIS_DATABASE_URL" {
            cmd.env_remove(name);
        }
    }
    cmd
}

/// A running server whose stderr is collected.
struct Server {
    child: Child,
    stderr: Arc<std::sync::Mutex<Vec<u8>>>,
}

impl Server {
    fn start(mut cmd: Command) -> Server {
        let mut child = cmd.spawn().unwrap();
        let stderr = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut pipe = child.stderr.take().unwrap();
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        Server { child, stderr }
    }

    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().unwrap()).into_owned()
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn bad_tls_files_stop_the_start_with_a_message_naming_them() {
    let ca = TestCa::new("Portcullis test CA");
    let (first, second) = (ca.leaf("first"), ca.leaf("second"));
    let dir = TempDir::new("cli-errors");
    let (cert, key) = install(&dir, &first);
    let garbage = dir.path("garbage.pem");
    std::fs::write(&garbage, "hello").unwrap();
    let other_key = dir.path("other.key");
    std::fs::write(&other_key, &second.key_pem).unwrap();
    let missing = dir.path("missing.pem");
    let s = |p: &Path| p.display().to_string();
    let issuer = "https://localhost:1";
    let cases: Vec<(Vec<String>, Vec<String>)> = vec![
        (
            vec![s(&missing), s(&key)],
            vec![s(&missing), "cannot read the TLS certificate".into()],
        ),
        (
            vec![s(&cert), s(&missing)],
            vec![s(&missing), "cannot read the TLS private key".into()],
        ),
        (
            vec![s(&garbage), s(&key)],
            vec![s(&garbage), "holds no certificate".into()],
        ),
        (
            vec![s(&cert), s(&garbage)],
            vec![s(&garbage), "holds no private key".into()],
        ),
        (
            vec![s(&cert), s(&other_key)],
            vec![s(&other_key), "does not belong".into()],
        ),
    ];
    for (files, needles) in cases {
        let out = portcullis(&[
            "serve",
            "--issuer",
            issuer,
            "--tls-cert",
            &files[0],
            "--tls-key",
            &files[1],
        ])
        .output()
        .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "started with {files:?}");
        for needle in &needles {
            assert!(
                stderr.contains(needle.as_str()),
                "{needle:?} not in: {stderr}"
            );
        }
        assert!(!stderr.contains(key_body(&first)), "{stderr}");
        assert!(!stderr.contains(key_body(&second)), "{stderr}");
    }
    // Half a pair, and TLS with an http issuer.
    let out = portcullis(&["serve", "--issuer", issuer, "--tls-cert", &s(&cert)])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--tls-key"));
    let out = portcullis(&[
        "serve",
        "--issuer",
        "http://localhost:1",
        "--tls-cert",
        &s(&cert),
        "--tls-key",
        &s(&key),
    ])
    .output()
    .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("must be an https URL"));
}

#[tokio::test]
async fn serve_with_tls_flags_answers_https_and_reloads_on_sighup() {
    let ca = TestCa::new("Portcullis test CA");
    let (first, second, third) = (ca.leaf("first"), ca.leaf("second"), ca.leaf("third"));
    let dir = TempDir::new("cli-sighup");
    let (cert, key) = install(&dir, &first);
    let port = free_port();
    let issuer = format!("https://localhost:{port}");
    let mut cmd = portcullis(&[
        "serve",
        "--issuer",
        &issuer,
        "--bind",
        &format!("127.0.0.1:{port}"),
    ]);
    // The environment names work too; polling off, so only SIGHUP reloads.
    cmd.env("PORTCULLIS_TLS_CERT", &cert)
        .env("PORTCULLIS_TLS_KEY", &key)
        .env("PORTCULLIS_TLS_RELOAD_INTERVAL", "0");
    let server = Server::start(cmd);
    let http = ca.client().build().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = http.get(format!("{issuer}/healthz")).send().await
            && r.status() == 200
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not healthy: {}",
            server.stderr()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let connector = ca.tls_client(&[b"h2", b"http/1.1"], &[&rustls::version::TLS13]);
    let (_, presented) = connect(&connector, port).await;
    assert_eq!(presented, first.der);
    let doc: serde_json::Value = http
        .get(format!("{issuer}/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["issuer"], issuer.as_str());

    // New files: nothing changes until SIGHUP.
    install(&dir, &second);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(connect(&connector, port).await.1, first.der);
    server.signal("HUP");
    assert!(
        wait_for_certificate(&connector, port, &second.der, Duration::from_secs(5)).await,
        "SIGHUP reloads: {}",
        server.stderr()
    );
    // The new certificate is served before the log line reaches the captured stderr.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !server.stderr().contains("TLS certificate reloaded") {
        assert!(
            Instant::now() < deadline,
            "no reload log line: {}",
            server.stderr()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // A bad pair on SIGHUP is logged, and the certificate in use stays.
    replace(&cert, &third.cert_pem);
    server.signal("HUP");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !server.stderr().contains("TLS certificate not reloaded") {
        assert!(Instant::now() < deadline, "no warning: {}", server.stderr());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        server.stderr().contains("does not belong"),
        "{}",
        server.stderr()
    );
    assert_eq!(connect(&connector, port).await.1, second.der);
    assert!(
        http.get(format!("{issuer}/healthz"))
            .send()
            .await
            .unwrap()
            .status()
            == 200
    );

    // The key follows: the pair is whole again.
    replace(&key, &third.key_pem);
    server.signal("HUP");
    assert!(wait_for_certificate(&connector, port, &third.der, Duration::from_secs(5)).await);
    for leaf in [&first, &second, &third] {
        assert!(!server.stderr().contains(key_body(leaf)));
    }

    server.signal("TERM");
}

#[tokio::test]
async fn an_https_issuer_without_tls_flags_speaks_plain_http_to_a_terminating_proxy() {
    // What a proxy that terminates TLS sees: plain HTTP, and an https issuer in every document.
    let port = free_port();
    let issuer = "https://id.example.com";
    let server = Server::start(portcullis(&[
        "serve",
        "--issuer",
        issuer,
        "--bind",
        &format!("127.0.0.1:{port}"),
    ]));
    let http = reqwest::Client::new();
    let discovery = format!("http://127.0.0.1:{port}/.well-known/openid-configuration");
    let deadline = Instant::now() + Duration::from_secs(30);
    let response = loop {
        if let Ok(r) = http.get(&discovery).send().await {
            break r;
        }
        assert!(
            Instant::now() < deadline,
            "not serving: {}",
            server.stderr()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(response.status(), 200);
    assert!(response.headers().contains_key("strict-transport-security"));
    let doc: serde_json::Value = response.json().await.unwrap();
    assert_eq!(doc["issuer"], issuer);
    assert_eq!(
        doc["token_endpoint"],
        format!("{issuer}/oauth2/token").as_str()
    );
    assert!(server.stderr().contains("tls=false"), "{}", server.stderr());
    server.signal("TERM");
}
