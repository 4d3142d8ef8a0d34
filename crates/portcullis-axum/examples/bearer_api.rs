//! The bearer API behind a single-page app (the contract of the project's architecture notes).
//!
//! ```text
//! PORTCULLIS_ISSUER=http://localhost:8080 PORTCULLIS_AUDIENCE=https://api.example.com \
//! PORTCULLIS_SPA_ORIGIN=http://localhost:5173 PORT=8000 \
//!     cargo run -p portcullis-axum --example bearer_api
//! ```
//!
//! | route | needs |
//! | --- | --- |
//! | `GET /api/public` | nothing |
//! | `GET /api/protected` | any valid access token |
//! | `GET /api/admin` | the role `admin` (a `route_layer` guard) |
//! | `GET /api/todos` | the permission `read:todos` (a typed extractor) |
//! | `POST /api/todos` `{"title": "…"}` | the permission `create:todos` |
//!
//! Refusals follow RFC 6750 §3.1:
//!
//! | request | answer |
//! | --- | --- |
//! | no `Authorization` header, or another scheme (`Basic …`, `Token …`) | 401, bare `WWW-Authenticate: Bearer realm="api"` |
//! | a malformed `Bearer` credential (`Bearer`, `Bearer a b`), two headers, or a header and `?access_token=` | 400 `invalid_request` |
//! | a token that fails verification (expired, wrong audience, bad signature, …) | 401 `invalid_token` |
//! | a valid token without the route's role or permission | 403 `insufficient_scope` |
//!
//! Environment: `PORTCULLIS_ISSUER` (or
//! `KINDE_DOMAIN`), `PORTCULLIS_AUDIENCE`, `PORT` (default 8000), `HOST` (default 127.0.0.1),
//! and `PORTCULLIS_SPA_ORIGIN`: the single-page app's origin, allowed by CORS (none when unset).
//!
//! Logs go to stderr, filtered with `RUST_LOG` (default `info`): among them the SDK's warnings,
//! such as an issuer whose keys cannot be fetched. Ctrl-C or SIGTERM stops accepting requests,
//! lets those in flight finish (each has at most 20 s), and exits.

use std::collections::HashMap;
use std::io::IsTerminal as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{FromRef, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use portcullis_axum::{Auth, Authenticated, RequirePermission};
use serde::Deserialize;
use serde_json::{Value, json};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::timeout::TimeoutLayer;

portcullis_axum::permission!(
    /// May list todos.
    pub ReadTodos = "read:todos"
);
portcullis_axum::permission!(
    /// May create todos.
    pub CreateTodos = "create:todos"
);

/// Most todos one user may keep (the store is in memory).
const MAX_TODOS_PER_USER: usize = 100;
/// Longest title, in characters.
const MAX_TITLE_CHARS: usize = 200;

/// The router's state: the `Auth` handle and the todos, by user.
#[derive(Clone)]
pub struct ApiState {
    auth: Auth,
    todos: Arc<Mutex<HashMap<String, Vec<Value>>>>,
}

impl FromRef<ApiState> for Auth {
    fn from_ref(state: &ApiState) -> Auth {
        state.auth.clone()
    }
}

/// The API's router; `spa_origin` is allowed by CORS when given.
pub fn app(auth: Auth, spa_origin: Option<HeaderValue>) -> Router {
    let state = ApiState {
        auth: auth.clone(),
        todos: Arc::default(),
    };
    let router = Router::new()
        .route("/api/public", get(public))
        .route("/api/protected", get(protected))
        .route(
            "/api/admin",
            get(admin).route_layer(auth.require_role("admin")),
        )
        .route("/api/todos", get(list_todos).post(create_todo))
        .with_state(state);
    match spa_origin {
        // The browser may send the token and JSON, and read WWW-Authenticate on a refusal.
        Some(origin) => router.layer(
            CorsLayer::new()
                // Only the SPA's origin is echoed back; any other gets no CORS headers.
                .allow_origin(AllowOrigin::list([origin]))
                .allow_methods([Method::GET, Method::POST])
                .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
                .expose_headers([header::WWW_AUTHENTICATE]),
        ),
        None => router,
    }
}

async fn public() -> Json<Value> {
    Json(json!({ "message": "Hello from a public endpoint: no token needed." }))
}

async fn protected(user: Authenticated) -> Json<Value> {
    Json(json!({
        "message": "Hello from a protected endpoint: your token is valid.",
        "sub": user.subject(),
    }))
}

/// Behind the `require_role("admin")` guard: the extractor reuses the guard's verification.
async fn admin(user: Authenticated) -> Json<Value> {
    Json(json!({
        "message": "Hello, admin.",
        "sub": user.subject(),
        "org_code": user.org_code,
    }))
}

/// Whose todos: the user (`sub`), or the application of a machine token.
fn owner(claims: &portcullis::Claims) -> String {
    claims
        .subject()
        .or(claims.authorized_party())
        .unwrap_or_default()
        .to_owned()
}

async fn list_todos(State(state): State<ApiState>, user: RequirePermission<ReadTodos>) -> Response {
    let owner = owner(&user);
    let todos = match state.todos.lock() {
        Ok(all) => all.get(&owner).cloned().unwrap_or_default(),
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    Json(json!({ "todos": todos })).into_response()
}

/// The body of `POST /api/todos`.
#[derive(Deserialize)]
pub struct NewTodo {
    title: String,
}

fn bad_request(description: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({ "error": "invalid_request", "error_description": description })),
    )
        .into_response()
}

async fn create_todo(
    State(state): State<ApiState>,
    user: RequirePermission<CreateTodos>,
    Json(new): Json<NewTodo>,
) -> Response {
    let title = new.title.trim();
    if title.is_empty() || title.chars().count() > MAX_TITLE_CHARS {
        return bad_request("title must be 1 to 200 characters");
    }
    let Ok(mut all) = state.todos.lock() else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let todos = all.entry(owner(&user)).or_default();
    if todos.len() >= MAX_TODOS_PER_USER {
        return bad_request("at most 100 todos per user");
    }
    let todo = json!({ "id": todos.len() + 1, "title": title, "done": false });
    todos.push(todo.clone());
    (StatusCode::CREATED, Json(todo)).into_response()
}

/// `PORTCULLIS_SPA_ORIGIN`, checked: an origin like `https://app.example.com`, no path.
pub fn spa_origin(value: Option<&str>) -> Result<Option<HeaderValue>, String> {
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let url = url::Url::parse(value)
        .map_err(|e| format!("PORTCULLIS_SPA_ORIGIN: {value:?} is not a URL ({e})"))?;
    let origin = url.origin().ascii_serialization();
    if !matches!(url.scheme(), "http" | "https")
        || origin.trim_end_matches('/') != value.trim_end_matches('/')
    {
        return Err(format!(
            "PORTCULLIS_SPA_ORIGIN: {value:?} is not an origin (scheme://host[:port], no path)"
        ));
    }
    HeaderValue::from_str(&origin)
        .map(Some)
        .map_err(|_| format!("PORTCULLIS_SPA_ORIGIN: {value:?} is not a valid header value"))
}

/// Completes on Ctrl-C or SIGTERM (what `docker stop` and Kubernetes send).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
    tracing::info!("shutting down: finishing the requests in flight");
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let config = portcullis::Config::from_env()?;
    if config.audiences().is_empty() {
        return Err("PORTCULLIS_AUDIENCE is not set: set it to this API's audience, e.g. https://api.example.com".into());
    }
    let auth = Auth::from_verifier(portcullis::TokenVerifier::from_config(&config)?);
    let origin = spa_origin(std::env::var("PORTCULLIS_SPA_ORIGIN").ok().as_deref())?;
    let port: u16 = match std::env::var("PORT") {
        Ok(p) => p
            .trim()
            .parse()
            .map_err(|_| format!("PORT: {p:?} is not a port number"))?,
        Err(_) => 8000,
    };
    let host = std::env::var("HOST").unwrap_or_else(|_| "127.0.0.1".to_owned());
    let listener = tokio::net::TcpListener::bind((host.as_str(), port)).await?;
    println!(
        "bearer API on http://{} (issuer {})",
        listener.local_addr()?,
        config.issuer()
    );
    // Each request, its body included, gets at most 20 s (then 408 Request Timeout), so a slow
    // client cannot hold the graceful shutdown for longer. It is more than the SDK's fetches of
    // the issuer's keys take to time out (10 s each): their warnings are logged, not cut off.
    let app = app(auth, origin).layer(TimeoutLayer::with_status_code(
        StatusCode::REQUEST_TIMEOUT,
        Duration::from_secs(20),
    ));
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await?;
    Ok(())
}
