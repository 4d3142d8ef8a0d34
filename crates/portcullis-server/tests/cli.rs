//! The `portcullis` binary, run for real: `migrate`, `keys rotate`, `serve` (with a TOML config
//! file, a seed, graceful shutdown on SIGTERM), `dev`, and the errors for bad configuration.
//!
//! Every child process is owned by a guard that kills it if the test fails; every temporary file
//! has a random name under the system temp directory and is removed when the test ends. Waits
//! poll for readiness (up to 30 s) instead of sleeping fixed amounts, so a loaded machine only
//! makes the tests slower, not flaky.
#![cfg(unix)] // SIGTERM is sent with kill(1).

use std::ffi::OsStr;
use std::hash::{BuildHasher, Hasher};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use base64::Engine as _;
use portcullis_server::keys::MasterKey;
use portcullis_server::store::{KeyRecord, Store};
use serde_json::Value;

mod common;

use common::demo::get_json;

const BIN: &str = env!("CARGO_BIN_EXE_portcullis");
/// The example tenant shipped in the repository (absolute path).
const SEED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/tenant.toml");
/// Its machine-to-machine client.
const SEED_CLIENT: (&str, &str) = ("report-job", "replace-me-with-32-random-bytes-in-base64");
/// How long a server may take to become ready, or a one-shot command to finish.
const PATIENCE: Duration = Duration::from_secs(30);
/// How long a server may take to exit after SIGTERM.
const SHUTDOWN: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------------
// Temporary files
// ---------------------------------------------------------------------------------------------

fn unique_name(prefix: &str, ext: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    // RandomState is seeded randomly per instance: a random 64-bit value without a dependency.
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos(),
    );
    format!("{prefix}-{:016x}.{ext}", h.finish())
}

/// A file under the temp directory, removed (with SQLite's side files) on drop.
struct TempFile(PathBuf);

impl TempFile {
    fn new(ext: &str) -> TempFile {
        TempFile(std::env::temp_dir().join(unique_name("portcullis-cli-test", ext)))
    }

    fn with_contents(ext: &str, contents: &str) -> TempFile {
        let file = TempFile::new(ext);
        std::fs::write(&file.0, contents).unwrap();
        file
    }

    fn path(&self) -> &Path {
        &self.0
    }

    /// `sqlite://` URL of this file.
    fn sqlite_url(&self) -> String {
        format!("sqlite://{}", self.0.display())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
        for side in ["-wal", "-shm", "-journal"] {
            let mut name = self.0.clone().into_os_string();
            name.push(side);
            let _ = std::fs::remove_file(name);
        }
    }
}

/// A TOML basic string (quotes and backslashes escaped).
fn toml_str(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

// ---------------------------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------------------------

/// `portcullis` with a clean environment: no `PORTCULLIS_*` or `KINDE_*` from the caller.
fn portcullis<I, S>(args: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = Command::new(BIN);
    for (key, _) in std::env::vars_os() {
        let key_str = key.to_string_lossy();
        if key_str.starts_with("PORTCULLIS_") || key_str.starts_with("KINDE_") {
            cmd.env_remove(&key);
        }
    }
    cmd.args(args)
        .env("RUST_LOG", "info,sqlx=warn")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

fn drain(mut from: impl Read + Send + 'static, into: Arc<Mutex<Vec<u8>>>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => into.lock().unwrap().extend_from_slice(&buf[..n]),
            }
        }
    })
}

/// A running `portcullis`; killed on drop if it is still running (e.g. the test failed).
struct Proc {
    child: Child,
    stdout: Arc<Mutex<Vec<u8>>>,
    stderr: Arc<Mutex<Vec<u8>>>,
    readers: Vec<JoinHandle<()>>,
    status: Option<ExitStatus>,
}

/// A finished `portcullis`.
#[derive(Debug)]
struct Finished {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl Proc {
    fn spawn(mut cmd: Command) -> Proc {
        let mut child = cmd.spawn().expect("the portcullis binary starts");
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let readers = vec![
            drain(child.stdout.take().unwrap(), stdout.clone()),
            drain(child.stderr.take().unwrap(), stderr.clone()),
        ];
        Proc {
            child,
            stdout,
            stderr,
            readers,
            status: None,
        }
    }

    fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.stdout.lock().unwrap()).into_owned()
    }

    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().unwrap()).into_owned()
    }

    /// Its exit status, if it has exited.
    fn exited(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().expect("try_wait");
        }
        self.status
    }

    /// Sends SIGTERM.
    fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -TERM failed");
    }

    /// Waits (polling, so it also works inside an async test) up to `limit` for the exit, then
    /// collects all output. Panics, after killing the process, on timeout.
    fn finish(mut self, limit: Duration) -> Finished {
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Some(status) = self.exited() {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "portcullis did not exit within {limit:?}\nstdout:\n{}\nstderr:\n{}",
                self.stdout(),
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
        Finished {
            status,
            stdout: self.stdout(),
            stderr: self.stderr(),
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.exited().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs a one-shot command to completion.
fn run(cmd: Command) -> Finished {
    Proc::spawn(cmd).finish(PATIENCE * 2)
}

/// Runs a command that must succeed.
fn run_ok(cmd: Command) -> Finished {
    let done = run(cmd);
    assert!(done.status.success(), "portcullis failed: {done:#?}");
    done
}

/// Runs a command that must fail, quickly, naming the problem on stderr.
fn run_err(cmd: Command, needles: &[&str]) -> Finished {
    let done = Proc::spawn(cmd).finish(PATIENCE);
    assert!(
        !done.status.success(),
        "portcullis should have failed: {done:#?}"
    );
    for needle in needles {
        assert!(
            done.stderr.contains(needle),
            "the error should mention {needle:?}: {done:#?}"
        );
    }
    assert!(
        !done.stderr.contains("panicked"),
        "a bad configuration must not panic: {done:#?}"
    );
    done
}

/// A port that was free a moment ago.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Polls `{base}/healthz` until it answers 200; `Err` with the reason if the process exits or
/// does not get ready within [`PATIENCE`].
async fn poll_ready(proc: &mut Proc, http: &reqwest::Client, base: &str) -> Result<(), String> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(status) = proc.exited() {
            return Err(format!("portcullis exited ({status}) before it was ready"));
        }
        if let Ok(response) = http.get(format!("{base}/healthz")).send().await
            && response.status() == 200
        {
            assert_eq!(response.text().await.unwrap(), "ok");
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!("portcullis was not ready within {PATIENCE:?}"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// [`poll_ready`], or panic with the process's output.
async fn wait_ready(proc: &mut Proc, http: &reqwest::Client, base: &str) {
    if let Err(why) = poll_ready(proc, http, base).await {
        panic!(
            "{why}\nstdout:\n{}\nstderr:\n{}",
            proc.stdout(),
            proc.stderr()
        );
    }
}

/// Sends SIGTERM and expects a clean exit (code 0) within [`SHUTDOWN`].
fn stop_cleanly(proc: Proc) -> Finished {
    proc.terminate();
    let done = proc.finish(SHUTDOWN);
    assert_eq!(
        done.status.code(),
        Some(0),
        "SIGTERM should end the server cleanly: {done:#?}"
    );
    done
}

/// Starts `portcullis serve` on a free port (retrying if another process took the port in the
/// meantime), with `configure` adding the rest of the configuration for that port.
async fn start_server(
    http: &reqwest::Client,
    configure: impl Fn(u16) -> (Command, Vec<TempFile>),
) -> (Proc, String, Vec<TempFile>) {
    for _ in 0..5 {
        let port = free_port();
        let (cmd, files) = configure(port);
        let mut proc = Proc::spawn(cmd);
        let base = format!("http://127.0.0.1:{port}");
        let ready = poll_ready(&mut proc, http, &base).await;
        // A port race shows as an early exit naming the address: try another port.
        if ready.is_err() && proc.exited().is_some() && proc.stderr().contains("cannot listen") {
            continue;
        }
        if let Err(why) = ready {
            panic!(
                "{why}\nstdout:\n{}\nstderr:\n{}",
                proc.stdout(),
                proc.stderr()
            );
        }
        // Ready, and it is this process that answers (not another one that won the port): it
        // logs that it is serving only once it holds the port. (The log may reach us a moment
        // after the answer did.)
        let deadline = Instant::now() + PATIENCE;
        while !proc.stderr().contains("portcullis is serving") {
            assert!(
                proc.exited().is_none() && Instant::now() < deadline,
                "another process answered on port {port}\nstderr:\n{}",
                proc.stderr()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        return (proc, base, files);
    }
    panic!("no free port after 5 attempts");
}

async fn keys_of(url: &str) -> Vec<KeyRecord> {
    let store = Store::connect(url)
        .await
        .expect("the test opens the database");
    let keys = store.keys().await.expect("keys");
    store.close().await;
    keys
}

fn kid_from(stdout: &str) -> String {
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("new signing key "))
        .unwrap_or_else(|| panic!("no `new signing key` line in {stdout:?}"));
    let kid = line.trim().to_owned();
    assert!(
        kid.len() >= 40 && !kid.contains(char::is_whitespace),
        "{kid:?} is not a key id"
    );
    kid
}

// ---------------------------------------------------------------------------------------------
// migrate, keys rotate
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn migrate_succeeds_and_is_idempotent() {
    let db = TempFile::new("db");
    for _ in 0..2 {
        let done = run_ok(portcullis(["migrate", "--database", &db.sqlite_url()]));
        assert!(done.stdout.contains("up to date"), "{done:#?}");
    }
    assert!(db.path().exists(), "the SQLite file is created");
    // The schema is there: the tables answer (and no key was created by migrate).
    assert!(keys_of(&db.sqlite_url()).await.is_empty());
    // The database URL can also come from the environment.
    let mut cmd = portcullis(["migrate"]);
    cmd.env("PORTCULLIS_DATABASE_URL", db.sqlite_url());
    run_ok(cmd);
}

#[tokio::test]
async fn keys_rotate_prints_a_new_kid_every_time() {
    let db = TempFile::new("db");
    let first = kid_from(
        &run_ok(portcullis([
            "keys",
            "rotate",
            "--database",
            &db.sqlite_url(),
        ]))
        .stdout,
    );
    let second = kid_from(
        &run_ok(portcullis([
            "keys",
            "rotate",
            "--database",
            &db.sqlite_url(),
            "--alg",
            "ES256",
        ]))
        .stdout,
    );
    assert_ne!(first, second);
    let keys = keys_of(&db.sqlite_url()).await;
    let find = |kid: &str| {
        keys.iter()
            .find(|k| k.kid == kid)
            .unwrap_or_else(|| panic!("{kid} is stored: {keys:#?}"))
    };
    assert_eq!(keys.len(), 2);
    // The first key is retired but stays published; the second signs.
    let old = find(&first);
    assert!(old.retired_at.is_some() && old.publish_until.is_some());
    let new = find(&second);
    assert_eq!(new.alg, "ES256");
    assert!(new.retired_at.is_none());
    // No master key: stored unsealed.
    assert!(keys.iter().all(|k| !k.sealed));
}

// ---------------------------------------------------------------------------------------------
// The master key
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_master_key_seals_the_signing_keys() {
    let db = TempFile::new("db");
    let master = MasterKey::generate().to_base64();
    let http = reqwest::Client::new();

    // `serve` creates the first key, sealed.
    let (server, base, _files) = start_server(&http, |port| {
        let mut cmd = portcullis([
            "serve".to_owned(),
            "--issuer".to_owned(),
            format!("http://127.0.0.1:{port}"),
            "--bind".to_owned(),
            format!("127.0.0.1:{port}"),
            "--database".to_owned(),
            db.sqlite_url(),
        ]);
        cmd.env("PORTCULLIS_MASTER_KEY", &master);
        (cmd, Vec::new())
    })
    .await;
    let jwks = get_json(&format!("{base}/.well-known/jwks.json")).await;
    assert_eq!(jwks["keys"].as_array().map(Vec::len), Some(1));
    drop(http);
    stop_cleanly(server);
    let keys = keys_of(&db.sqlite_url()).await;
    assert_eq!(keys.len(), 1);
    assert!(keys[0].sealed, "the key is sealed at rest");
    // Sealed: the stored form is not the PKCS#8 DER itself.
    let stored = base64::engine::general_purpose::STANDARD
        .decode(&keys[0].private_key)
        .unwrap();
    assert_ne!(stored.first(), Some(&0x30), "not a bare DER SEQUENCE");

    // `keys rotate` with the master key: the new key is sealed too.
    let mut cmd = portcullis(["keys", "rotate", "--database", &db.sqlite_url()]);
    cmd.env("PORTCULLIS_MASTER_KEY", &master);
    let kid = kid_from(&run_ok(cmd).stdout);
    let keys = keys_of(&db.sqlite_url()).await;
    assert_eq!(keys.len(), 2);
    assert!(keys.iter().all(|k| k.sealed), "{keys:#?}");
    assert!(keys.iter().any(|k| k.kid == kid));

    // Without the master key, or with another one, neither command may go on: rotating would
    // store a key the servers cannot open (or an unsealed one), and serving would fail on the
    // first token.
    let other = MasterKey::generate().to_base64();
    let mut cmd = portcullis(["keys", "rotate", "--database", &db.sqlite_url()]);
    run_err(cmd, &["PORTCULLIS_MASTER_KEY"]);
    cmd = portcullis(["keys", "rotate", "--database", &db.sqlite_url()]);
    cmd.env("PORTCULLIS_MASTER_KEY", &other);
    run_err(cmd, &["master key"]);
    let serve = |key: Option<&str>| {
        let mut cmd = portcullis([
            "serve",
            "--issuer",
            "http://127.0.0.1:9",
            "--bind",
            "127.0.0.1:0",
            "--database",
            &db.sqlite_url(),
        ]);
        if let Some(key) = key {
            cmd.env("PORTCULLIS_MASTER_KEY", key);
        }
        cmd
    };
    run_err(serve(None), &["PORTCULLIS_MASTER_KEY"]);
    run_err(serve(Some(&other)), &["master key"]);
    // Nothing was added by the refused commands.
    assert_eq!(keys_of(&db.sqlite_url()).await.len(), 2);
}

// ---------------------------------------------------------------------------------------------
// serve
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn serve_with_a_config_file_answers_and_stops_on_sigterm() {
    let db = TempFile::new("db");
    let http = reqwest::Client::new();
    let (server, base, _files) = start_server(&http, |port| {
        let config = TempFile::with_contents(
            "toml",
            &format!(
                "issuer = {}\nbind = {}\ndatabase = {}\nseed = {}\naccess_token_ttl = 600\n",
                toml_str(&format!("http://127.0.0.1:{port}")),
                toml_str(&format!("127.0.0.1:{port}")),
                toml_str(&db.sqlite_url()),
                toml_str(SEED),
            ),
        );
        let cmd = portcullis([
            OsStr::new("serve"),
            OsStr::new("--config"),
            config.path().as_os_str(),
        ]);
        (cmd, vec![config])
    })
    .await;

    // Discovery carries the configured issuer.
    let discovery = get_json(&format!("{base}/.well-known/openid-configuration")).await;
    assert_eq!(discovery["issuer"], base.as_str());
    assert_eq!(
        discovery["token_endpoint"],
        format!("{base}/oauth2/token").as_str()
    );
    let ready = http.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    // The seed was loaded: its client gets a token, with the lifetime the seed gives that
    // application (3600 s), which wins over the server default from the config file (600 s).
    let token: Value = http
        .post(format!("{base}/oauth2/token"))
        .basic_auth(SEED_CLIENT.0, Some(SEED_CLIENT.1))
        .form(&[
            ("grant_type", "client_credentials"),
            ("audience", "https://api.example.com"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(token["access_token"].is_string(), "{token}");
    assert_eq!(token["expires_in"], 3600);
    // Metrics are served by the binary too.
    let metrics = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains(r#"route="/oauth2/token""#), "{metrics}");

    // SIGTERM with a keep-alive connection still open (the client is alive): a clean exit.
    let done = stop_cleanly(server);
    assert!(
        done.stderr.contains("shutting down"),
        "the shutdown is logged: {done:#?}"
    );
    // Logs never carry the client secret or the token.
    let secret = SEED_CLIENT.1;
    let access_token = token["access_token"].as_str().unwrap();
    for leak in [secret, access_token] {
        assert!(!done.stdout.contains(leak) && !done.stderr.contains(leak));
    }
    drop(http);

    // Started again on the same database: the seed loads again (idempotent) and the key stays.
    let keys_before = keys_of(&db.sqlite_url()).await;
    let http = reqwest::Client::new();
    let (server, _base, _files) = start_server(&http, |port| {
        let cmd = portcullis([
            "serve".to_owned(),
            format!("--issuer=http://127.0.0.1:{port}"),
            format!("--bind=127.0.0.1:{port}"),
            format!("--database={}", db.sqlite_url()),
            format!("--seed={SEED}"),
        ]);
        (cmd, Vec::new())
    })
    .await;
    stop_cleanly(server);
    let keys_after = keys_of(&db.sqlite_url()).await;
    assert_eq!(
        keys_before.iter().map(|k| &k.kid).collect::<Vec<_>>(),
        keys_after.iter().map(|k| &k.kid).collect::<Vec<_>>()
    );
}

#[test]
fn sigterm_as_soon_as_the_server_says_it_is_serving_is_a_clean_shutdown() {
    let db = TempFile::new("db");
    for attempt in 0..5 {
        let port = free_port();
        let mut server = Proc::spawn(portcullis([
            "serve".to_owned(),
            format!("--issuer=http://127.0.0.1:{port}"),
            format!("--bind=127.0.0.1:{port}"),
            format!("--database={}", db.sqlite_url()),
        ]));
        let deadline = Instant::now() + PATIENCE;
        while !server.stderr().contains("portcullis is serving") {
            if server.exited().is_some() || Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        if server.exited().is_some() && server.stderr().contains("cannot listen") && attempt < 4 {
            continue; // another process took the port
        }
        assert!(
            server.stderr().contains("portcullis is serving"),
            "the server did not start: {}",
            server.stderr()
        );
        stop_cleanly(server);
        return;
    }
}

#[tokio::test]
async fn sigterm_does_not_wait_for_a_client_that_never_finishes_its_body() {
    use std::io::Write as _;

    let db = TempFile::new("db");
    let http = reqwest::Client::new();
    let (server, base, _files) = start_server(&http, |port| {
        let cmd = portcullis([
            "serve".to_owned(),
            format!("--issuer=http://127.0.0.1:{port}"),
            format!("--bind=127.0.0.1:{port}"),
            format!("--database={}", db.sqlite_url()),
            "--shutdown-timeout=1".to_owned(),
        ]);
        (cmd, Vec::new())
    })
    .await;

    // A token request that sends 10 of its 1000 body bytes, once the server reads its body
    // (its `100 Continue`), and then nothing.
    let addr = base.trim_start_matches("http://");
    let mut stalled = std::net::TcpStream::connect(addr).unwrap();
    stalled
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stalled
        .write_all(
            b"POST /oauth2/token HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\
              Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n",
        )
        .unwrap();
    let mut interim = [0u8; 25];
    stalled.read_exact(&mut interim).unwrap();
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    stalled.write_all(b"grant_type").unwrap();

    // SIGTERM: the server waits 1 s for it, closes it, and exits cleanly.
    let done = stop_cleanly(server);
    assert!(
        done.stderr.contains("closing their connections"),
        "the cut-off is logged: {done:#?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Bad configuration
// ---------------------------------------------------------------------------------------------

#[test]
fn bad_configuration_is_refused_with_a_message_naming_the_problem() {
    let db = TempFile::new("db");
    let url = db.sqlite_url();
    let serve = |extra: &[&str]| {
        let mut args = vec!["serve"];
        args.extend_from_slice(extra);
        portcullis(args)
    };
    let with_config = |toml: &str| {
        let config = TempFile::with_contents("toml", toml);
        let cmd = portcullis([
            OsStr::new("serve"),
            OsStr::new("--config"),
            config.path().as_os_str(),
        ]);
        (cmd, config)
    };

    // No issuer anywhere.
    run_err(serve(&["--database", &url]), &["issuer is not set"]);
    // http is for loopback only.
    run_err(
        serve(&["--issuer", "http://id.example.com", "--database", &url]),
        &["http://id.example.com", "must be https"],
    );
    run_err(
        serve(&[
            "--issuer",
            "https://id.example.com/?x=1",
            "--database",
            &url,
        ]),
        &["query"],
    );
    run_err(
        serve(&["--issuer", "not a url", "--database", &url]),
        &["not a URL"],
    );
    // No database.
    run_err(
        serve(&["--issuer", "https://id.example.com"]),
        &["database is not set"],
    );
    run_err(
        serve(&[
            "--issuer",
            "https://id.example.com",
            "--database",
            "mysql://x",
        ]),
        &["sqlite: or postgres:"],
    );

    // An unknown key in the config file (a typo must not be ignored).
    let (cmd, config) = with_config(&format!(
        "isuer = \"https://id.example.com\"\ndatabase = {}\n",
        toml_str(&url)
    ));
    let done = run_err(cmd, &["unknown field", "isuer"]);
    assert!(
        done.stderr.contains(&config.path().display().to_string()),
        "the config file is named: {done:#?}"
    );
    // A config file that is not there, or not TOML, or has out-of-range values.
    let missing = TempFile::new("toml");
    run_err(
        portcullis([
            OsStr::new("serve"),
            OsStr::new("--config"),
            missing.path().as_os_str(),
        ]),
        &["cannot read config file"],
    );
    let (cmd, _config) = with_config("issuer = https://id.example.com\n");
    run_err(cmd, &["config file"]);
    let (cmd, _config) = with_config(&format!(
        "issuer = \"https://id.example.com\"\ndatabase = {}\naccess_token_ttl = 5\n",
        toml_str(&url)
    ));
    run_err(cmd, &["access_token_ttl"]);
    let (cmd, _config) = with_config(&format!(
        "issuer = \"https://id.example.com\"\ndatabase = {}\nsigning_alg = \"HS256\"\n",
        toml_str(&url)
    ));
    run_err(cmd, &["HS256"]);
    let (cmd, _config) = with_config("bind = \"not-an-address\"\n");
    run_err(cmd, &["bind"]);

    // A seed file with an unknown section: refused before the database is touched.
    let seed = TempFile::with_contents("toml", "[[customers]]\nemail = \"a@example.com\"\n");
    let untouched = TempFile::new("db");
    let done = run_err(
        serve(&[
            "--issuer",
            "https://id.example.com",
            "--database",
            &untouched.sqlite_url(),
            "--seed",
            &seed.path().display().to_string(),
        ]),
        &["seed", "customers"],
    );
    assert!(
        done.stderr.contains(&seed.path().display().to_string()),
        "the seed file is named: {done:#?}"
    );
    assert!(
        !untouched.path().exists(),
        "a bad seed must be refused before the database is created"
    );
    let missing_seed = TempFile::new("toml");
    run_err(
        serve(&[
            "--issuer",
            "https://id.example.com",
            "--database",
            &url,
            "--seed",
            &missing_seed.path().display().to_string(),
        ]),
        &["cannot read seed file"],
    );

    // A bad master key: not base64, or not 32 bytes. Refused by every command that uses it.
    let short = base64::engine::general_purpose::STANDARD.encode([7u8; 16]);
    for (key, needle) in [
        ("not base64 !!", "not base64"),
        (short.as_str(), "32 bytes"),
    ] {
        let mut cmd = serve(&["--issuer", "https://id.example.com", "--database", &url]);
        cmd.env("PORTCULLIS_MASTER_KEY", key);
        run_err(cmd, &["PORTCULLIS_MASTER_KEY", needle]);
        let mut cmd = portcullis(["keys", "rotate", "--database", &url]);
        cmd.env("PORTCULLIS_MASTER_KEY", key);
        run_err(cmd, &["PORTCULLIS_MASTER_KEY", needle]);
    }
    // Slow-client bounds out of range.
    run_err(
        serve(&[
            "--issuer",
            "https://id.example.com",
            "--database",
            &url,
            "--body-read-timeout",
            "0",
        ]),
        &["body_read_timeout must be between 1 and 3600"],
    );
    let (cmd, _config) = with_config(&format!(
        "issuer = \"https://id.example.com\"\ndatabase = {}\nshutdown_timeout = 86400\n",
        toml_str(&url)
    ));
    run_err(cmd, &["shutdown_timeout must be between 0 and 3600"]);
    // Trusted proxies: not an address, or an unknown header.
    run_err(
        serve(&[
            "--issuer",
            "https://id.example.com",
            "--database",
            &url,
            "--trusted-proxies",
            "10.0.0.0/8,proxy.internal",
        ]),
        &["\"proxy.internal\" is not an IP address or CIDR block"],
    );
    let (cmd, _config) = with_config(&format!(
        "issuer = \"https://id.example.com\"\ndatabase = {}\ntrusted_proxies = \"10.0.0.1\"\n\
         proxy_header = \"x-real-ip\"\n",
        toml_str(&url)
    ));
    run_err(cmd, &["unknown proxy header \"x-real-ip\""]);
    // Unknown flags and subcommands (clap).
    run_err(portcullis(["serve", "--isuer", "x"]), &["--isuer"]);
    run_err(portcullis(["frobnicate"]), &["frobnicate"]);
}

// ---------------------------------------------------------------------------------------------
// dev
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn dev_prints_the_url_and_a_working_curl_command() {
    let mut dev = Proc::spawn(portcullis(["dev", "--bind", "127.0.0.1:0"]));
    // Wait for the banner, up to the curl command.
    let deadline = Instant::now() + PATIENCE;
    let banner = loop {
        let out = dev.stdout();
        if out.contains("curl ") && out.contains("/oauth2/token") {
            break out;
        }
        if let Some(status) = dev.exited() {
            panic!(
                "portcullis dev exited ({status})\nstdout:\n{out}\nstderr:\n{}",
                dev.stderr()
            );
        }
        assert!(
            Instant::now() < deadline,
            "no banner within {PATIENCE:?}\nstdout:\n{out}\nstderr:\n{}",
            dev.stderr()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let base = banner
        .lines()
        .find_map(|l| l.strip_prefix("Portcullis dev server: "))
        .unwrap_or_else(|| panic!("no URL in {banner}"))
        .trim()
        .to_owned();
    assert!(base.starts_with("http://localhost:"), "{base}");
    assert!(!base.ends_with(":0"), "the real port is printed: {base}");
    // The curl command: `curl -s -u ID:SECRET \ -d … URL/oauth2/token`.
    let curl = banner.split("curl ").nth(1).unwrap().replace("\\\n", " ");
    let curl = curl.lines().next().unwrap();
    let words: Vec<&str> = curl.split_whitespace().collect();
    let credentials = words[words.iter().position(|w| *w == "-u").unwrap() + 1];
    let (id, secret) = credentials.split_once(':').unwrap();
    let form: Vec<(&str, &str)> = words
        .windows(2)
        .filter(|w| w[0] == "-d")
        .map(|w| w[1].split_once('=').unwrap())
        .collect();
    let target = *words.iter().find(|w| w.starts_with("http")).unwrap();
    assert_eq!(target, format!("{base}/oauth2/token"));

    let http = reqwest::Client::new();
    wait_ready(&mut dev, &http, &base).await;
    let discovery = get_json(&format!("{base}/.well-known/openid-configuration")).await;
    assert_eq!(discovery["issuer"], base.as_str());
    // What the banner tells a newcomer to run works.
    let response = http
        .post(target)
        .basic_auth(id, Some(secret))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let token: Value = response.json().await.unwrap();
    assert!(token["access_token"].is_string(), "{token}");
    stop_cleanly(dev);
}
