//! A small actix-web app signed in through Portcullis: sign in / sign up / sign out, a page
//! showing the signed-in user's claims, and protected JSON routes that take the browser
//! session or a bearer token.
//!
//! Run it against the identity server's dev mode (its demo tenant registers the web app
//! `demo-web` with the callback `http://localhost:3000/callback`):
//!
//! ```text
//! cargo run -p portcullis-server -- dev                 # terminal 1: http://localhost:8080
//! cargo run -p portcullis-actix --example actix_app     # terminal 2: http://localhost:3000
//! ```
//!
//! Open <http://localhost:3000> and sign in as `ada@example.com` /
//! `correct-horse-battery-staple` (admin of org_acme) or `bob@example.com` /
//! `can-we-fix-it-yes-we-can` (member of org_acme). Use `localhost`, not `127.0.0.1`: the
//! provider only sends users back to the registered `http://localhost:3000/callback`, and the
//! session cookie (`__Host-`, `Secure`) is kept by browsers on `http://localhost`.
//!
//! | route | needs |
//! | --- | --- |
//! | `GET /` | nothing: sign-in links, or the user's claims |
//! | `GET /api/me` | a signed-in session or a bearer token (`Authenticated`) |
//! | `GET /api/todos` | the permission `read:todos` (typed extractor `RequirePermission`) |
//! | `GET /api/admin/stats` | the role `admin` (middleware on a scope) |
//! | `/login` `/register` `/create-org` `/callback` `/logout` `/user` | [`Auth::configure`] |
//!
//! Environment: `PORTCULLIS_ISSUER` (or `KINDE_DOMAIN`), `PORTCULLIS_CLIENT_ID`,
//! `PORTCULLIS_CLIENT_SECRET`, `PORTCULLIS_REDIRECT_URI`, `PORTCULLIS_POST_LOGOUT_REDIRECT_URI`,
//! `PORTCULLIS_AUDIENCE`, `PORT` (default 3000). With no issuer set, all of them take the
//! values of the dev server's demo tenant (issuer `http://localhost:8080`).
//!
//! Logs go to stderr, filtered with `RUST_LOG` (default `info`): among them the SDK's warnings,
//! such as a provider that cannot be reached. SIGTERM stops accepting requests and lets those in
//! flight finish for up to 10 s; Ctrl-C stops at once (actix-web's convention).

use std::io::IsTerminal as _;

use actix_web::body::MessageBody;
use actix_web::cookie::Key;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::header::ContentType;
use actix_web::{App, HttpResponse, HttpServer, web};
use portcullis::Config;
use portcullis_actix::{
    Auth, Authenticated, MaybeAuthenticated, MemoryStore, RequirePermission, session_middleware,
};
use serde_json::json;

portcullis_actix::permission!(
    /// May list todos.
    pub ReadTodos = "read:todos"
);

/// The dev server's issuer (`portcullis dev` names itself by its bind address).
pub const DEMO_ISSUER: &str = "http://localhost:8080";
/// The demo tenant's web application and its (public, demo-only) secret.
pub const DEMO_CLIENT: (&str, &str) = ("demo-web", "demo-web-secret-change-me-0123456789abcdef");
/// The demo tenant's API.
pub const DEMO_AUDIENCE: &str = "https://api.example.com";

/// The configuration from `lookup` (the environment) and the port to listen on; the demo
/// tenant's values when no issuer is set.
pub fn config_from(lookup: impl Fn(&str) -> Option<String>) -> Result<(Config, u16), String> {
    let set = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
    let port = match set("PORT") {
        Some(p) => p
            .trim()
            .parse::<u16>()
            .map_err(|_| format!("PORT: {p:?} is not a port number"))?,
        None => 3000,
    };
    let demo = ["PORTCULLIS_ISSUER", "KINDE_DOMAIN", "KINDE_HOST"]
        .iter()
        .all(|name| set(name).is_none());
    let default = |name: &str| -> Option<String> {
        if !demo {
            return None;
        }
        Some(match name {
            "PORTCULLIS_ISSUER" => DEMO_ISSUER.to_owned(),
            "PORTCULLIS_CLIENT_ID" => DEMO_CLIENT.0.to_owned(),
            "PORTCULLIS_CLIENT_SECRET" => DEMO_CLIENT.1.to_owned(),
            "PORTCULLIS_REDIRECT_URI" => format!("http://localhost:{port}/callback"),
            "PORTCULLIS_POST_LOGOUT_REDIRECT_URI" => format!("http://localhost:{port}/"),
            "PORTCULLIS_AUDIENCE" => DEMO_AUDIENCE.to_owned(),
            _ => return None,
        })
    };
    let config = Config::from_env_with(|name| set(name).or_else(|| default(name)))
        .map_err(|e| e.to_string())?;
    if config.client_id().is_none() || config.redirect_uri().is_none() {
        return Err(
            "PORTCULLIS_CLIENT_ID and PORTCULLIS_REDIRECT_URI must be set (the app signs users in)"
                .to_owned(),
        );
    }
    Ok((config, port))
}

/// The app: pages, the protected API, the sign-in routes, and the session middleware over
/// `store` (cookie encrypted with `key`). Called in each worker; `store` and `key` are shared.
pub fn app(
    auth: Auth,
    store: MemoryStore,
    key: Key,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .app_data(auth.clone())
        .route("/", web::get().to(home))
        .route("/api/me", web::get().to(me))
        .route("/api/todos", web::get().to(todos))
        .service(
            web::scope("/api/admin")
                .wrap(auth.require_role("admin"))
                .route("/stats", web::get().to(stats)),
        )
        .configure(auth.configure())
        .wrap(session_middleware(store, key))
}

async fn home(MaybeAuthenticated(user): MaybeAuthenticated) -> HttpResponse {
    let body = match user {
        None => "<p>You are signed out.</p>\n<p><a href=\"/login?return_to=/\">Sign in</a> · \
                 <a href=\"/register\">Sign up</a> · \
                 <a href=\"/create-org?org_name=My%20team\">Create an organization</a></p>"
            .to_owned(),
        Some(user) => {
            let roles: Vec<&str> = user.roles().iter().map(|r| r.key.as_str()).collect();
            let claims = serde_json::to_string_pretty(user.claims().as_ref())
                .unwrap_or_else(|_| "{}".to_owned());
            format!(
                "<p>Signed in as <b>{}</b>, organization <b>{}</b>, roles <b>{}</b>.</p>\n\
                 <p><a href=\"/api/me\">/api/me</a> · <a href=\"/api/todos\">/api/todos</a> · \
                 <a href=\"/api/admin/stats\">/api/admin/stats</a> · \
                 <a href=\"/logout\">Sign out</a></p>\n<h2>Access token claims</h2>\n<pre>{}</pre>",
                escape(user.subject().unwrap_or("?")),
                escape(user.org_code.as_deref().unwrap_or("none")),
                escape(&roles.join(", ")),
                escape(&claims),
            )
        }
    };
    HttpResponse::Ok()
        .content_type(ContentType::html())
        .insert_header(("cache-control", "no-store"))
        .body(format!(
            "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>Portcullis + \
             actix-web</title></head>\n<body>\n<h1>Portcullis + actix-web</h1>\n{body}\n\
             </body></html>\n"
        ))
}

async fn me(user: Authenticated) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "sub": user.subject(),
        "org_code": user.org_code,
        "via": format!("{:?}", user.via()),
    }))
}

async fn todos(user: RequirePermission<ReadTodos>) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "owner": user.subject(),
        "todos": [{ "title": "Try Portcullis with actix-web", "done": true }],
    }))
}

async fn stats(user: Authenticated) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "admin": user.subject(), "users": 2 }))
}

/// `text` for HTML text and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let (config, port) = match config_from(|name| std::env::var(name).ok()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("actix_app: {e}");
            std::process::exit(2);
        }
    };
    let auth = match Auth::from_config(&config) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("actix_app: {e}");
            std::process::exit(2);
        }
    };
    // One store and one cookie key for every worker. A new key per run: sessions end when the
    // app restarts, as the in-memory store's do anyway.
    let (store, key) = (MemoryStore::default(), Key::generate());
    println!(
        "actix_app on http://localhost:{port} (issuer {})",
        config.issuer()
    );
    HttpServer::new(move || app(auth.clone(), store.clone(), key.clone()))
        .bind(("127.0.0.1", port))?
        .shutdown_timeout(10)
        .run()
        .await
}
