//! `portcullis`: the identity server's command line.
//!
//! ```text
//! portcullis serve --issuer https://id.example.com --bind 0.0.0.0:8080 \
//!                  --database postgres://… --seed tenant.toml
//! portcullis serve … --bind 0.0.0.0:443 --tls-cert fullchain.pem --tls-key key.pem
//! portcullis dev                 # local SQLite, a demo tenant, prints what to try
//! portcullis migrate --database URL
//! portcullis keys rotate --database URL
//! portcullis users list          # admin tasks (users, orgs, roles, flags) through the
//!                                # management API of a running server
//! ```
//!
//! Every flag can also come from the environment (`PORTCULLIS_ISSUER`, `PORTCULLIS_BIND`,
//! `PORTCULLIS_DATABASE_URL`, `PORTCULLIS_SEED`, `PORTCULLIS_MASTER_KEY`, …) or from a TOML file
//! given with `--config` (flags and environment win over the file).
//!
//! Logs go to stderr (filter with `RUST_LOG`); stdout carries only what a command reports, such
//! as the kid printed by `keys rotate`. Bad configuration ends the command with a non-zero exit
//! and a message naming the problem, before the database is touched where possible.

mod cli;

use std::future::Future;
use std::io::IsTerminal as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use portcullis_server::keys::{KeyManager, MasterKey, SigningAlgorithm};
use portcullis_server::seed::Seed;
use portcullis_server::store::{Store, StoreOptions};
use portcullis_server::tls::ServerCertificate;
use portcullis_server::{AppState, Settings};
use serde::Deserialize;

#[derive(Parser)]
#[command(
    name = "portcullis",
    version,
    about = "A Kinde-compatible OpenID Connect provider"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve(ServeArgs),
    /// Run a local development server with a demo tenant (SQLite).
    Dev(DevArgs),
    /// Apply database migrations and exit.
    Migrate(DbArgs),
    /// Manage signing keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    #[command(flatten)]
    Admin(cli::ManagementCommand),
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create a new signing key; older keys stay published until their tokens expire.
    Rotate(RotateArgs),
}

#[derive(Args)]
struct DbArgs {
    /// Database URL: sqlite://FILE, sqlite::memory:, or postgres://…
    #[arg(long = "database", env = "PORTCULLIS_DATABASE_URL")]
    database: String,
}

#[derive(Args)]
struct RotateArgs {
    #[command(flatten)]
    db: DbArgs,
    /// Algorithm of the new key (RS256, ES256, EdDSA).
    #[arg(long, env = "PORTCULLIS_SIGNING_ALG", default_value = "RS256")]
    alg: SigningAlgorithm,
    /// Seconds before the new key starts signing (it is published at once).
    #[arg(long, default_value_t = 0)]
    activation_delay: u64,
    /// Seconds the old keys stay published after that: the longest access-token lifetime.
    #[arg(long, default_value_t = 86_400)]
    overlap: u64,
}

#[derive(Args)]
struct ServeArgs {
    /// A TOML file with any of: issuer, bind, database, seed, access_token_ttl, signing_alg,
    /// code_ttl, refresh_token_ttl, metrics_token, database_acquire_timeout,
    /// body_read_timeout, shutdown_timeout, trusted_proxies, proxy_header, tls_cert, tls_key,
    /// tls_reload_interval.
    #[arg(long, env = "PORTCULLIS_CONFIG")]
    config: Option<PathBuf>,
    /// The issuer URL, exactly as tokens will carry it in `iss`.
    #[arg(long, env = "PORTCULLIS_ISSUER")]
    issuer: Option<String>,
    /// Address to listen on.
    #[arg(long, env = "PORTCULLIS_BIND")]
    bind: Option<SocketAddr>,
    /// Database URL: sqlite://FILE, sqlite::memory:, or postgres://…
    #[arg(long = "database", env = "PORTCULLIS_DATABASE_URL")]
    database: Option<String>,
    /// A seed file (TOML) loaded at start (idempotent).
    #[arg(long, env = "PORTCULLIS_SEED")]
    seed: Option<PathBuf>,
    /// Default access-token lifetime in seconds.
    #[arg(long, env = "PORTCULLIS_ACCESS_TOKEN_TTL")]
    access_token_ttl: Option<i64>,
    /// Algorithm of new signing keys (RS256, ES256, EdDSA).
    #[arg(long, env = "PORTCULLIS_SIGNING_ALG")]
    signing_alg: Option<SigningAlgorithm>,
    /// Authorization-code lifetime in seconds (1 to 600; default 60).
    #[arg(long, env = "PORTCULLIS_CODE_TTL")]
    code_ttl: Option<i64>,
    /// Absolute refresh-token family lifetime in seconds (default 30 days).
    #[arg(long, env = "PORTCULLIS_REFRESH_TOKEN_TTL")]
    refresh_token_ttl: Option<i64>,
    /// Require `Authorization: Bearer <token>` on /metrics.
    #[arg(long, env = "PORTCULLIS_METRICS_TOKEN", hide_env_values = true)]
    metrics_token: Option<String>,
    /// Seconds a request waits for a database connection before it is answered 503 with
    /// Retry-After (1 to 60; default 3).
    #[arg(long, env = "PORTCULLIS_DATABASE_ACQUIRE_TIMEOUT")]
    database_acquire_timeout: Option<u64>,
    /// Seconds a client may take to send a request body; a slower one gets 408 (1 to 3600;
    /// default 20).
    #[arg(long, env = "PORTCULLIS_BODY_READ_TIMEOUT")]
    body_read_timeout: Option<u64>,
    /// Seconds requests in flight may take to finish after SIGTERM or Ctrl-C; then the
    /// remaining connections are closed (0 to 3600; default 25).
    #[arg(long, env = "PORTCULLIS_SHUTDOWN_TIMEOUT")]
    shutdown_timeout: Option<u64>,
    /// Reverse proxies (comma-separated CIDR blocks or addresses, e.g. 10.0.0.0/8,::1) whose
    /// forwarding header gives the client address used by rate limits and logs: the
    /// right-most address in it that is not one of these. Default: none (the TCP peer).
    #[arg(long, env = "PORTCULLIS_TRUSTED_PROXIES")]
    trusted_proxies: Option<String>,
    /// The header those proxies write: x-forwarded-for (default) or forwarded (RFC 7239).
    #[arg(long, env = "PORTCULLIS_PROXY_HEADER")]
    proxy_header: Option<String>,
    /// Serve HTTPS with this certificate chain (PEM: the server's certificate first, then its
    /// intermediates). Re-read when it changes or on SIGHUP. Without it the server speaks
    /// plain HTTP (behind a proxy that terminates TLS).
    #[arg(long, env = "PORTCULLIS_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM: PKCS#8, PKCS#1 or SEC1, unencrypted).
    #[arg(long, env = "PORTCULLIS_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Seconds between checks of the TLS files for changes (0 to 86400; default 10; 0: only on
    /// SIGHUP).
    #[arg(long, env = "PORTCULLIS_TLS_RELOAD_INTERVAL")]
    tls_reload_interval: Option<u64>,
}

#[derive(Args)]
struct DevArgs {
    /// Address to listen on.
    #[arg(long, env = "PORTCULLIS_BIND", default_value = "127.0.0.1:8080")]
    bind: SocketAddr,
    /// Database URL (default: a throw-away in-memory SQLite).
    #[arg(
        long = "database",
        env = "PORTCULLIS_DATABASE_URL",
        default_value = "sqlite::memory:"
    )]
    database: String,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    issuer: Option<String>,
    bind: Option<SocketAddr>,
    database: Option<String>,
    seed: Option<PathBuf>,
    access_token_ttl: Option<i64>,
    signing_alg: Option<String>,
    code_ttl: Option<i64>,
    refresh_token_ttl: Option<i64>,
    metrics_token: Option<String>,
    database_acquire_timeout: Option<u64>,
    body_read_timeout: Option<u64>,
    shutdown_timeout: Option<u64>,
    trusted_proxies: Option<String>,
    proxy_header: Option<String>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    tls_reload_interval: Option<u64>,
}

const DEV_SEED: &str = r#"
[[apis]]
name = "Todos API"
audience = "https://api.example.com"
scopes = ["read:todos", "create:todos", "delete:todos"]

[[applications]]
name = "Demo worker"
type = "m2m"
client_id = "demo-worker"
client_secret = "demo-worker-secret-change-me-0123456789"
apis = [{ audience = "https://api.example.com", scopes = ["read:todos", "create:todos"] }]

[[applications]]
name = "Demo admin scripts"
type = "m2m"
client_id = "demo-admin"
client_secret = "demo-admin-secret-change-me-0123456789"
management_scopes = ["*"]
"#;

fn master_key() -> anyhow::Result<Option<MasterKey>> {
    match std::env::var("PORTCULLIS_MASTER_KEY") {
        Ok(v) if !v.trim().is_empty() => Ok(Some(
            MasterKey::from_base64(&v).context("PORTCULLIS_MASTER_KEY")?,
        )),
        _ => Ok(None),
    }
}

fn check_issuer(issuer: &str) -> anyhow::Result<()> {
    let url = url::Url::parse(issuer).with_context(|| format!("issuer {issuer:?} is not a URL"))?;
    if url.query().is_some() || url.fragment().is_some() {
        bail!("issuer {issuer:?} must not have a query or fragment");
    }
    let loopback = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    if url.scheme() != "https" && !(url.scheme() == "http" && loopback) {
        bail!("issuer {issuer:?} must be https (http only for localhost)");
    }
    Ok(())
}

/// Unix seconds now: the command line runs on the system clock.
fn unix_now() -> anyhow::Result<i64> {
    use portcullis::clock::Clock as _;
    Ok(portcullis::clock::SystemClock.now_secs())
}

/// Reads and checks a seed file, before anything touches the database.
fn read_seed(path: &std::path::Path) -> anyhow::Result<Seed> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read seed file {}", path.display()))?;
    let seed = Seed::from_toml(&text).with_context(|| format!("seed file {}", path.display()))?;
    seed.validate()
        .with_context(|| format!("seed file {}", path.display()))?;
    Ok(seed)
}

/// Fails unless the stored signing keys can be used with this master key (or its absence):
/// better a clear error at start than a server whose every token request fails.
async fn check_signing_keys(keys: &KeyManager) -> anyhow::Result<()> {
    keys.ring(unix_now()?).await.context(
        "the signing keys cannot be loaded (is PORTCULLIS_MASTER_KEY the master key they were \
         sealed with?)",
    )?;
    Ok(())
}

/// Handles Ctrl-C and SIGTERM from now on (instead of the default: an immediate exit), and
/// completes at the first of them. Installed before the server says it is serving, so that a
/// signal right after that is a graceful shutdown too.
fn shutdown_signal() -> anyhow::Result<impl Future<Output = ()> + Send + 'static> {
    #[cfg(unix)]
    let signals = {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
        let mut interrupt = signal(SignalKind::interrupt()).context("cannot handle Ctrl-C")?;
        async move {
            tokio::select! {
                _ = term.recv() => {}
                _ = interrupt.recv() => {}
            }
        }
    };
    #[cfg(not(unix))]
    let signals = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    Ok(async move {
        signals.await;
        tracing::info!("shutting down: finishing in-flight requests");
    })
}

/// The TLS certificate of `serve`, when one is configured: both files or neither.
fn server_certificate(
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
) -> anyhow::Result<Option<ServerCertificate>> {
    match (cert, key) {
        (None, None) => Ok(None),
        (Some(cert), Some(key)) => Ok(Some(ServerCertificate::from_files(cert, key)?)),
        (Some(_), None) => bail!("tls_cert is set without tls_key: set both, or neither"),
        (None, Some(_)) => bail!("tls_key is set without tls_cert: set both, or neither"),
    }
}

/// Re-reads the TLS certificate at every SIGHUP (the files are also polled for changes).
fn reload_on_sighup(certificate: ServerCertificate) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut hangup = signal(SignalKind::hangup()).context("cannot handle SIGHUP")?;
        tokio::spawn(async move {
            while hangup.recv().await.is_some() {
                tracing::info!("SIGHUP: re-reading the TLS certificate");
                let certificate = certificate.clone();
                let _ = tokio::task::spawn_blocking(move || certificate.reload_and_log()).await;
            }
        });
    }
    #[cfg(not(unix))]
    let _ = certificate;
    Ok(())
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let file: FileConfig = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read config file {}", path.display()))?;
            toml::from_str(&text).with_context(|| format!("config file {}", path.display()))?
        }
        None => FileConfig::default(),
    };
    let issuer = args.issuer.or(file.issuer).context(
        "the issuer is not set: --issuer, PORTCULLIS_ISSUER or `issuer` in the config file",
    )?;
    check_issuer(&issuer)?;
    let bind = args
        .bind
        .or(file.bind)
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080)));
    let database = args
        .database
        .or(file.database)
        .context("the database is not set: --database, PORTCULLIS_DATABASE_URL or `database`")?;
    let mut settings = Settings::new(issuer);
    settings.master_key = master_key()?;
    if let Some(ttl) = args.access_token_ttl.or(file.access_token_ttl) {
        if !(60..=30 * 86_400).contains(&ttl) {
            bail!("access_token_ttl must be between 60 and 2592000 seconds");
        }
        settings.access_token_ttl = ttl;
    }
    if let Some(ttl) = args.code_ttl.or(file.code_ttl) {
        settings.code_ttl = ttl;
    }
    if let Some(ttl) = args.refresh_token_ttl.or(file.refresh_token_ttl) {
        if !(3600..=365 * 86_400).contains(&ttl) {
            bail!("refresh_token_ttl must be between 3600 and 31536000 seconds");
        }
        settings.refresh_token_ttl = ttl;
    }
    if let Some(seconds) = args.body_read_timeout.or(file.body_read_timeout) {
        if !(1..=3600).contains(&seconds) {
            bail!("body_read_timeout must be between 1 and 3600 seconds");
        }
        settings.body_read_timeout = Duration::from_secs(seconds);
    }
    if let Some(seconds) = args.shutdown_timeout.or(file.shutdown_timeout) {
        if seconds > 3600 {
            bail!("shutdown_timeout must be between 0 and 3600 seconds");
        }
        settings.shutdown_timeout = Duration::from_secs(seconds);
    }
    if let Some(proxies) = args.trusted_proxies.or(file.trusted_proxies) {
        settings.trusted_proxies = proxies.parse().map_err(anyhow::Error::msg)?;
    }
    if let Some(header) = args.proxy_header.or(file.proxy_header) {
        let header = header.parse().map_err(anyhow::Error::msg)?;
        settings.trusted_proxies = settings.trusted_proxies.header(header);
    }
    settings.metrics_token = args
        .metrics_token
        .or(file.metrics_token)
        .filter(|t| !t.trim().is_empty());
    if let Some(alg) = args.signing_alg {
        settings.signing_algorithm = alg;
    } else if let Some(alg) = file.signing_alg {
        settings.signing_algorithm = alg.parse().map_err(anyhow::Error::msg)?;
    }
    // Read before the database is touched: a missing or bad file stops the start, naming it.
    let certificate = server_certificate(
        args.tls_cert.or(file.tls_cert),
        args.tls_key.or(file.tls_key),
    )?;
    if certificate.is_some() && !settings.issuer.starts_with("https://") {
        bail!("with --tls-cert the issuer must be an https URL (tokens carry it in `iss`)");
    }
    let certificate = match args.tls_reload_interval.or(file.tls_reload_interval) {
        Some(seconds) if seconds > 86_400 => {
            bail!("tls_reload_interval must be between 0 and 86400 seconds")
        }
        Some(seconds) => certificate.map(|c| c.reload_interval(Duration::from_secs(seconds))),
        None => certificate,
    };
    let seed = match args.seed.or(file.seed) {
        Some(path) => Some((read_seed(&path)?, path)),
        None => None,
    };
    let mut store_options = StoreOptions::new();
    if let Some(secs) = args
        .database_acquire_timeout
        .or(file.database_acquire_timeout)
    {
        if !(1..=60).contains(&secs) {
            bail!("database_acquire_timeout must be between 1 and 60 seconds");
        }
        store_options = store_options.acquire_timeout(Duration::from_secs(secs));
    }
    let store = Store::connect_with(&database, store_options)
        .await
        .context("database")?;
    let state = AppState::new(store, settings).await?;
    check_signing_keys(state.keys()).await?;
    if let Some((seed, path)) = seed {
        seed.apply(state.store())
            .await
            .with_context(|| format!("seed file {}", path.display()))?;
        tracing::info!(seed = %path.display(), "seed loaded");
    }
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .with_context(|| format!("cannot listen on {bind}"))?;
    let shutdown = shutdown_signal()?;
    match certificate {
        Some(certificate) => {
            reload_on_sighup(certificate.clone())?;
            tracing::info!(issuer = state.issuer(), %bind, tls = true, "portcullis is serving");
            portcullis_server::run_tls(listener, state, certificate, shutdown).await?;
        }
        None => {
            tracing::info!(issuer = state.issuer(), %bind, tls = false, "portcullis is serving");
            portcullis_server::run(listener, state, shutdown).await?;
        }
    }
    Ok(())
}

async fn dev(args: DevArgs) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(args.bind)
        .await
        .with_context(|| format!("cannot listen on {}", args.bind))?;
    let addr = listener.local_addr()?;
    // On a loopback address the issuer is named `localhost`, like the demo tenant's callback
    // URLs and the demo apps' default issuer (`http://localhost:8080`), so an app started
    // separately against `portcullis dev` finds the issuer it expects.
    let issuer = if addr.ip().is_loopback() {
        format!("http://localhost:{}", addr.port())
    } else {
        format!("http://{addr}")
    };
    let store = Store::connect(&args.database).await.context("database")?;
    let state = AppState::new(store, Settings::new(&issuer)).await?;
    check_signing_keys(state.keys()).await?;
    Seed::from_toml(include_str!("../examples/tenant.toml"))?
        .apply(state.store())
        .await?;
    Seed::from_toml(DEV_SEED)?.apply(state.store()).await?;
    let shutdown = shutdown_signal()?;
    println!("Portcullis dev server: {issuer}");
    println!("  discovery  {issuer}/.well-known/openid-configuration");
    println!("  JWKS       {issuer}/.well-known/jwks.json");
    println!("  API        https://api.example.com (scopes read:todos create:todos delete:todos)");
    println!("  M2M client demo-worker / demo-worker-secret-change-me-0123456789");
    println!();
    println!("Get a token:");
    println!(
        "  curl -s -u demo-worker:demo-worker-secret-change-me-0123456789 \\\n    -d grant_type=client_credentials -d audience=https://api.example.com {issuer}/oauth2/token"
    );
    println!();
    println!("Management API ({issuer}/api/v1, OpenAPI at {issuer}/api/v1/openapi.json):");
    println!("  M2M client demo-admin / demo-admin-secret-change-me-0123456789 (every scope)");
    println!(
        "  curl -s -u demo-admin:demo-admin-secret-change-me-0123456789 \\\n    -d grant_type=client_credentials -d audience={issuer}/api {issuer}/oauth2/token"
    );
    println!();
    println!("Sign in (hosted pages, authorization code + PKCE):");
    println!("  users      ada@example.com / correct-horse-battery-staple (admin in org_acme)");
    println!("             bob@example.com / can-we-fix-it-yes-we-can (member in org_acme)");
    println!(
        "  web app    demo-web / demo-web-secret-change-me-0123456789abcdef, callback http://localhost:3000/callback"
    );
    println!("  SPA        demo-spa (public, PKCE), callback http://localhost:5173/callback");
    println!(
        "  try        {issuer}/oauth2/auth?client_id=demo-web&redirect_uri=http%3A%2F%2Flocalhost%3A3000%2Fcallback&response_type=code&scope=openid%20profile%20email&audience=https%3A%2F%2Fapi.example.com&org_code=org_acme&state=xyz"
    );
    portcullis_server::run(listener, state, shutdown).await?;
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // Logs go to stderr, so that stdout carries only what a command prints (e.g. the new kid
    // of `keys rotate`); colours only on a terminal (and never with NO_COLOR).
    let ansi = std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        .init();
    match Cli::parse().command {
        Command::Serve(args) => serve(args).await,
        Command::Dev(args) => dev(args).await,
        Command::Admin(command) => {
            // Errors are printed by the command itself, with an exit code scripts can tell
            // apart (see `cli::exit`).
            let code = cli::run(command).await;
            std::process::exit(i32::from(code));
        }
        Command::Migrate(db) => {
            let store = Store::connect(&db.database).await.context("database")?;
            store.migrate().await?;
            println!("database is up to date");
            Ok(())
        }
        Command::Keys {
            command: KeysCommand::Rotate(args),
        } => {
            let master_key = master_key()?;
            let store = Store::connect(&args.db.database)
                .await
                .context("database")?;
            store.migrate().await?;
            // A new key must be usable by the servers, and must not be stored in the clear
            // next to sealed ones: the master key has to be the one the stored keys use.
            let stored = store.keys().await?;
            let sealed = stored.iter().any(|k| k.sealed);
            if sealed && master_key.is_none() {
                bail!(
                    "the stored signing keys are sealed: set PORTCULLIS_MASTER_KEY to the \
                     servers' master key"
                );
            }
            let keys = KeyManager::new(store, master_key, args.alg);
            if sealed {
                check_signing_keys(&keys).await?;
            }
            let now = unix_now()?;
            let kid = keys
                .rotate(
                    now,
                    Duration::from_secs(args.activation_delay),
                    Duration::from_secs(args.overlap),
                )
                .await?;
            println!("new signing key {kid}");
            Ok(())
        }
    }
}
