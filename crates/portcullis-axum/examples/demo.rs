//! The demo: the identity server and the `web_app` example in one process.
//!
//! ```text
//! cargo run -p portcullis-axum --example demo
//! ```
//!
//! Starts the identity server on `http://localhost:8080` (in-memory SQLite, the demo tenant of
//! `crates/portcullis-server/examples/tenant.toml`: APIs, applications, users with roles in two
//! organizations, permissions, feature flags), the web app on `http://localhost:3000` (with the
//! bearer API under `/api`), and the single-page app of `examples/spa/` on
//! `http://localhost:5173`; prints the URLs and the demo logins, and stops them all on Ctrl-C.
//! All listen on 127.0.0.1 only. `PORTCULLIS_DEMO_ISSUER_PORT`, `PORTCULLIS_DEMO_PORT` and
//! `PORTCULLIS_DEMO_SPA_PORT` move them to other ports (the demo applications' redirect URIs
//! follow); `RUST_LOG` sets the log filter (default `warn`).

use std::io::ErrorKind;
use std::process::ExitCode;

use portcullis::Config;
use portcullis_axum::Auth;
use portcullis_server::seed::Seed;
use portcullis_server::store::Store;
use portcullis_server::{AppState, Settings};
use tokio::net::TcpListener;
use tokio::sync::watch;

#[path = "spa/server.rs"]
mod spa;
#[path = "web_app.rs"]
#[allow(dead_code)]
mod web_app;

/// The demo tenant, as `portcullis dev` and the server's tests load it.
const TENANT: &str = include_str!("../../portcullis-server/examples/tenant.toml");
/// The demo tenant's web app's redirect URIs name this origin; another port replaces it.
const TENANT_APP_ORIGIN: &str = "http://localhost:3000";
/// The demo tenant's single-page app's origin.
const TENANT_SPA_ORIGIN: &str = "http://localhost:5173";
/// The demo tenant's single-page app.
const SPA_CLIENT_ID: &str = "demo-spa";

/// A port from `name`, else `default`.
fn port(name: &str, default: u16) -> Result<u16, String> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v
            .trim()
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| format!("{name}: {v:?} is not a port number (1-65535)")),
        _ => Ok(default),
    }
}

/// Listens on 127.0.0.1:`port`, or says what to do when it is taken.
async fn listen(port: u16, what: &str, variable: &str) -> Result<TcpListener, String> {
    TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|e| match e.kind() {
            ErrorKind::AddrInUse => format!(
                "port {port} ({what}) is already in use — is another demo or `portcullis dev` \
                 running? Stop it, or pick another port: {variable}={} cargo run -p \
                 portcullis-axum --example demo",
                port.saturating_add(1)
            ),
            _ => format!("cannot listen on 127.0.0.1:{port} ({what}): {e}"),
        })
}

/// The demo tenant, with the web app's and the SPA's URLs moved to their origins.
fn tenant(app_origin: &str, spa_origin: &str) -> Result<Seed, String> {
    let mut seed =
        Seed::from_toml(TENANT).map_err(|e| format!("the demo tenant does not load: {e}"))?;
    for app in &mut seed.applications {
        let (from, to) = match app.client_id.as_str() {
            web_app::DEMO_CLIENT_ID => (TENANT_APP_ORIGIN, app_origin),
            SPA_CLIENT_ID => (TENANT_SPA_ORIGIN, spa_origin),
            _ => continue,
        };
        for url in app
            .redirect_urls
            .iter_mut()
            .chain(app.logout_urls.iter_mut())
        {
            if let Some(rest) = url.strip_prefix(from) {
                *url = format!("{to}{rest}");
            }
        }
    }
    Ok(seed)
}

/// The tenant's users who can sign in with a password, for the banner and the signed-out page.
fn demo_logins(seed: &Seed) -> Vec<web_app::DemoLogin> {
    seed.users
        .iter()
        .filter_map(|user| {
            let password = user.password.clone()?;
            let about = user
                .organizations
                .iter()
                .map(|m| {
                    let roles = if m.roles.is_empty() {
                        "member".to_owned()
                    } else {
                        m.roles.join(", ")
                    };
                    format!("{roles} in {}", m.code)
                })
                .collect::<Vec<_>>()
                .join("; ");
            Some(web_app::DemoLogin {
                email: user.email.clone(),
                password,
                about: if about.is_empty() {
                    "in no organization".to_owned()
                } else {
                    about
                },
                org_code: user.organizations.first().map(|m| m.code.clone()),
            })
        })
        .collect()
}

/// Completes on Ctrl-C or SIGTERM.
async fn stop_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

async fn run() -> Result<(), String> {
    let issuer_port = port("PORTCULLIS_DEMO_ISSUER_PORT", 8080)?;
    let app_port = port("PORTCULLIS_DEMO_PORT", web_app::DEMO_PORT)?;
    let spa_port = port("PORTCULLIS_DEMO_SPA_PORT", 5173)?;
    if issuer_port == app_port || spa_port == app_port || spa_port == issuer_port {
        return Err(format!(
            "PORTCULLIS_DEMO_ISSUER_PORT, PORTCULLIS_DEMO_PORT and PORTCULLIS_DEMO_SPA_PORT \
             must differ (they are {issuer_port}, {app_port} and {spa_port})"
        ));
    }
    let issuer = format!("http://localhost:{issuer_port}");
    let app_origin = format!("http://localhost:{app_port}");
    let spa_origin = format!("http://localhost:{spa_port}");
    let seed = tenant(&app_origin, &spa_origin)?;

    // Both ports first: a taken port is reported before anything starts.
    let issuer_listener = listen(
        issuer_port,
        "the identity server",
        "PORTCULLIS_DEMO_ISSUER_PORT",
    )
    .await?;
    let app_listener = listen(app_port, "the web app", "PORTCULLIS_DEMO_PORT").await?;
    let spa_listener = listen(spa_port, "the single-page app", "PORTCULLIS_DEMO_SPA_PORT").await?;

    // The identity server: in-memory SQLite, the demo tenant.
    let store = Store::connect("sqlite::memory:")
        .await
        .map_err(|e| format!("the in-memory database does not open: {e}"))?;
    let state = AppState::new(store, Settings::new(&issuer))
        .await
        .map_err(|e| format!("the identity server does not start: {e}"))?;
    seed.apply(state.store())
        .await
        .map_err(|e| format!("the demo tenant does not load: {e}"))?;

    // The web app, pointed at it.
    let config = Config::builder(&issuer)
        .client_id(web_app::DEMO_CLIENT_ID)
        .client_secret(web_app::DEMO_CLIENT_SECRET)
        .redirect_uri(format!("{app_origin}/callback"))
        .post_logout_redirect_uri(format!("{app_origin}/"))
        .audience(web_app::DEMO_AUDIENCE)
        .build()
        .map_err(|e| format!("the web app's configuration: {e}"))?;
    let auth = Auth::from_config(&config).map_err(|e| format!("the web app: {e}"))?;
    let logins = demo_logins(&seed);
    let app = web_app::app(
        auth,
        web_app::Options {
            api_url: format!("http://127.0.0.1:{app_port}"),
            demo_logins: logins.clone(),
            spa_origin: Some(
                spa_origin
                    .parse()
                    .map_err(|_| format!("{spa_origin} is not a valid origin"))?,
            ),
        },
    )?;
    // The single-page app: PKCE as the public client demo-spa, then the web app's API.
    let spa = spa::router(spa::SpaConfig {
        issuer: issuer.clone(),
        client_id: SPA_CLIENT_ID.to_owned(),
        redirect_uri: format!("{spa_origin}/callback"),
        post_logout_redirect_uri: format!("{spa_origin}/"),
        audience: web_app::DEMO_AUDIENCE.to_owned(),
        api: app_origin.clone(),
        org_code: "org_acme".to_owned(),
    })?;

    let (stop, stopped) = watch::channel(false);
    let wait = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let server = tokio::spawn(portcullis_server::run(
        issuer_listener,
        state,
        wait(stopped.clone()),
    ));
    let web = tokio::spawn({
        let stopped = stopped.clone();
        async move {
            axum::serve(app_listener, app)
                .with_graceful_shutdown(wait(stopped))
                .await
        }
    });
    let spa = tokio::spawn(async move {
        axum::serve(spa_listener, spa)
            .with_graceful_shutdown(wait(stopped))
            .await
    });

    print_banner(&issuer, &app_origin, &spa_origin, &logins);

    stop_signal().await;
    println!("\nStopping…");
    let _ = stop.send(true);
    let (server, web, spa) = tokio::join!(server, web, spa);
    for (what, result) in [
        ("identity server", server),
        ("web app", web),
        ("single-page app", spa),
    ] {
        match result {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(format!("the {what} failed: {e}")),
            Err(e) => return Err(format!("the {what} stopped abnormally: {e}")),
        }
    }
    Ok(())
}

fn print_banner(issuer: &str, app: &str, spa: &str, logins: &[web_app::DemoLogin]) {
    println!();
    println!("Portcullis demo is running (everything in memory; Ctrl-C stops it).");
    println!();
    println!("  Web app          {app}   (its bearer API: {app}/api/todos)");
    println!("  Single-page app  {spa}   (PKCE, public client demo-spa)");
    println!(
        "  Identity server  {issuer}   (discovery: {issuer}/.well-known/openid-configuration)"
    );
    println!();
    println!("Demo logins:");
    let width = logins
        .iter()
        .map(|l| l.email.len() + l.password.len() + 3)
        .max()
        .unwrap_or(0);
    for login in logins {
        let pair = format!("{} / {}", login.email, login.password);
        println!("  {pair:width$}   {}", login.about);
    }
    println!();
    println!("Try:");
    println!("  1. Open {app} and press \"Sign in\" next to ada@example.com.");
    println!("  2. See her organization, roles, permissions and feature flags;");
    println!("     call GET /api/todos and GET /api/admin with her access token.");
    println!("  3. Sign out, sign in as bob@example.com: GET /api/admin is refused (403).");
    println!("  4. Sign up a new account, or create an organization.");
    println!("  5. Open {spa}: the same sign-in from JavaScript (PKCE), and the API through CORS.");
    println!();
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("demo: {message}");
            ExitCode::FAILURE
        }
    }
}
