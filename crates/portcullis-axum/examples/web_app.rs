//! A server-rendered web app signed in through Portcullis: the user's profile, organization,
//! roles, permissions and feature flags, a call to a bearer-protected API with the session's
//! access token, sign-up, create organization and sign-out. Plain HTML, no JavaScript.
//!
//! ```text
//! cargo run -p portcullis-axum --example demo      # with its own identity server
//! cargo run -p portcullis-axum --example web_app   # against PORTCULLIS_ISSUER
//! ```
//!
//! | route | shows |
//! | --- | --- |
//! | `GET /` | signed out: sign in, sign up, create an organization; signed in: the claims |
//! | `GET /call-api?endpoint=todos\|admin\|protected` | the answer of the app's own `/api/…` to the session's access token |
//! | `/login` `/register` `/create-org` `/callback` `/logout` `/user` | [`Auth::router`] |
//! | `/api/…` | the bearer API of the `bearer_api` example (bearer tokens only) |
//!
//! Environment: `PORTCULLIS_ISSUER`, `PORTCULLIS_CLIENT_ID`, `PORTCULLIS_CLIENT_SECRET`,
//! `PORTCULLIS_REDIRECT_URI`, `PORTCULLIS_POST_LOGOUT_REDIRECT_URI`, `PORTCULLIS_AUDIENCE` (the
//! API's audience), `PORT` (default 3000), `HOST` (default 127.0.0.1) and
//! `PORTCULLIS_SPA_ORIGIN` (a single-page app allowed to call the API). When no issuer is set
//! (`PORTCULLIS_ISSUER`, `KINDE_DOMAIN` or `KINDE_HOST`), the unset ones take the values of the
//! demo tenant (`crates/portcullis-server/examples/tenant.toml`, issuer
//! `http://localhost:8080`); with an issuer of your own, nothing is filled in for you.

use std::fmt::Write as _;
use std::io::IsTerminal as _;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{FromRef, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use portcullis::oauth::TokenSet;
use portcullis::{Claims, Config, FlagValue};
use portcullis_axum::{Auth, Authenticated, MemoryStore, Rejection, session_layer};
use serde::Deserialize;

#[path = "bearer_api.rs"]
#[allow(dead_code)]
mod bearer_api;

/// The demo tenant's issuer.
pub const DEMO_ISSUER: &str = "http://localhost:8080";
/// The demo tenant's web application.
pub const DEMO_CLIENT_ID: &str = "demo-web";
/// The demo web application's secret (public: it is in the demo tenant's file).
pub const DEMO_CLIENT_SECRET: &str = "demo-web-secret-change-me-0123456789abcdef";
/// The demo tenant's API, which this app serves under `/api`.
pub const DEMO_AUDIENCE: &str = "https://api.example.com";
/// The port the demo tenant's redirect URIs name.
pub const DEMO_PORT: u16 = 3000;

/// The largest API answer shown on a page.
const MAX_SHOWN_BODY: usize = 16 * 1024;

/// A demo login shown on the signed-out page (the demo passes its tenant's users).
#[derive(Debug, Clone)]
pub struct DemoLogin {
    /// The email to sign in with.
    pub email: String,
    /// The password (a demo tenant's, shown on purpose).
    pub password: String,
    /// What the user is, e.g. "admin in org_acme".
    pub about: String,
    /// The organization to sign in to.
    pub org_code: Option<String>,
}

/// What the app needs besides [`Auth`].
#[derive(Debug, Clone)]
pub struct Options {
    /// Where the app reaches its own bearer API (`http://127.0.0.1:PORT`), without a trailing
    /// slash.
    pub api_url: String,
    /// Logins listed on the signed-out page; empty outside the demo.
    pub demo_logins: Vec<DemoLogin>,
    /// A single-page app's origin, allowed by the API's CORS (the SPA demo's).
    pub spa_origin: Option<HeaderValue>,
}

#[derive(Clone)]
struct WebState {
    auth: Auth,
    http: reqwest::Client,
    options: Arc<Options>,
}

impl FromRef<WebState> for Auth {
    fn from_ref(state: &WebState) -> Auth {
        state.auth.clone()
    }
}

/// The app: pages, sign-in routes, the bearer API under `/api`, and a memory session store.
/// `auth` must have a client id, a secret, a redirect URI and the API's audience.
pub fn app(auth: Auth, options: Options) -> Result<Router, String> {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
    // The API accepts bearer tokens only: an `Auth` without a client never reads the session.
    let api = bearer_api::app(
        Auth::from_verifier(auth.verifier().clone()),
        options.spa_origin.clone(),
    );
    let state = WebState {
        auth: auth.clone(),
        http,
        options: Arc::new(options),
    };
    Ok(Router::new()
        .route("/", get(home))
        .route("/call-api", get(call_api))
        .merge(auth.router())
        .with_state(state)
        .merge(api)
        .layer(session_layer(MemoryStore::default())))
}

/// The configuration from `lookup` (the environment), and the port to listen on. See the
/// module docs for the variables and the demo defaults.
pub fn config_from(lookup: impl Fn(&str) -> Option<String>) -> Result<(Config, u16), String> {
    let set = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
    let port = match set("PORT") {
        Some(p) => p
            .trim()
            .parse::<u16>()
            .map_err(|_| format!("PORT: {p:?} is not a port number"))?,
        None => DEMO_PORT,
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
            "PORTCULLIS_CLIENT_ID" => DEMO_CLIENT_ID.to_owned(),
            "PORTCULLIS_CLIENT_SECRET" => DEMO_CLIENT_SECRET.to_owned(),
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
            "PORTCULLIS_CLIENT_ID and PORTCULLIS_REDIRECT_URI must be set (the app signs \
                    users in)"
                .to_owned(),
        );
    }
    if config.audiences().is_empty() {
        return Err(
            "PORTCULLIS_AUDIENCE is not set: set it to the audience of the API this app \
                    serves under /api, e.g. https://api.example.com"
                .to_owned(),
        );
    }
    Ok((config, port))
}

// ---------------------------------------------------------------------------------------------
// Pages

/// Escapes text for HTML element content and quoted attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
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

/// A query-string value, percent-encoded.
fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;background:#f4f5f7;margin:0;color:#1d2330}\
main{max-width:46rem;margin:2rem auto;background:#fff;padding:2rem;border-radius:12px;\
box-shadow:0 2px 12px rgba(0,0,0,.08);border-top:6px solid var(--accent)}\
h1{font-size:1.5rem;margin:0 0 1rem}h2{font-size:1.1rem;margin:1.6rem 0 .5rem}\
a.button{display:inline-block;margin:.3rem .4rem .3rem 0;padding:.55rem 1rem;border-radius:6px;\
background:var(--accent);color:#fff;text-decoration:none;font-weight:600}\
a.button.secondary{background:#e4e7ee;color:#1d2330}a:focus{outline:3px solid #f5b400}\
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.35rem .5rem;\
border-bottom:1px solid #e4e7ee;vertical-align:top}th{width:11rem;color:#4a5366;font-weight:600}\
code{background:#f0f2f6;padding:.05rem .3rem;border-radius:4px}\
pre{background:#f0f2f6;padding:.8rem;border-radius:6px;overflow:auto;max-height:24rem}\
.tag{display:inline-block;background:#eef1fb;color:#223;padding:.1rem .5rem;margin:.1rem;\
border-radius:999px;font-size:.9rem}.muted{color:#5d6577}\
.ok{background:#e7f6ec;color:#135a2a;padding:.7rem;border-radius:6px}\
.error{background:#fdecec;color:#8a1212;padding:.7rem;border-radius:6px}";

/// The accent colour for the string feature flag `theme` (the demo tenant sets it per user
/// and organization); anything unknown gets the default.
fn accent(claims: Option<&Claims>) -> &'static str {
    let theme = claims.and_then(|c| match c.feature_flags.get("theme") {
        Some(FlagValue::String(s)) => Some(s.as_str()),
        _ => None,
    });
    match theme {
        Some("pink") => "#c2185b",
        Some("blue") => "#1565c0",
        Some("dark") => "#263238",
        _ => "#2d4ee0",
    }
}

/// A complete page: escaped title, `body` (already HTML), no scripts, never cached or framed.
fn page(status: StatusCode, title: &str, accent: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{title}</title><style>:root{{--accent:{accent}}}{STYLE}</style></head>\
         <body><main>{body}</main></body></html>",
        title = esc(title),
    );
    let mut response = (status, html).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; \
             base-uri 'none'; form-action 'self'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    response
}

/// The page for a session that could not be read (store down, identity server unreachable …).
fn rejection_page(rejection: &Rejection) -> Response {
    let reason = &rejection.reason;
    page(
        rejection.status(),
        "Sign-in problem",
        accent(None),
        &format!(
            "<h1>Your sign-in could not be checked</h1><p class=\"error\" role=\"alert\">{}</p>\
             <p><a class=\"button\" href=\"/login\">Sign in again</a>\
             <a class=\"button secondary\" href=\"/\">Home</a></p>",
            esc(&reason.description())
        ),
    )
}

fn signed_out(options: &Options) -> String {
    let mut body = String::from(
        "<h1>Portcullis demo</h1>\
         <p>You are signed out. Sign in on the identity server's hosted page; you come back here \
         with your claims.</p>\
         <p><a class=\"button\" href=\"/login\">Sign in</a>\
         <a class=\"button\" href=\"/register\">Sign up</a>\
         <a class=\"button secondary\" href=\"/create-org\">Create an organization</a></p>\
         <p class=\"muted\">Create an organization signs up a new account and names its \
         organization.</p>",
    );
    if !options.demo_logins.is_empty() {
        body.push_str(
            "<h2>Demo logins</h2><table><tr><th>Email</th><th>Password</th><th>Is</th><th></th></tr>",
        );
        for login in &options.demo_logins {
            let mut href = format!("/login?login_hint={}", enc(&login.email));
            if let Some(org) = &login.org_code {
                let _ = write!(href, "&org_code={}", enc(org));
            }
            let _ = write!(
                body,
                "<tr><td><code>{email}</code></td><td><code>{password}</code></td><td>{about}</td>\
                 <td><a class=\"button secondary\" href=\"{href}\">Sign in</a></td></tr>",
                email = esc(&login.email),
                password = esc(&login.password),
                about = esc(&login.about),
                href = esc(&href),
            );
        }
        body.push_str("</table>");
    }
    body
}

fn tags<'a>(items: impl IntoIterator<Item = &'a str>, none: &str) -> String {
    let list: Vec<String> = items
        .into_iter()
        .map(|i| format!("<span class=\"tag\">{}</span>", esc(i)))
        .collect();
    if list.is_empty() {
        format!("<span class=\"muted\">{}</span>", esc(none))
    } else {
        list.concat()
    }
}

fn flag_value(value: &FlagValue) -> String {
    match value {
        FlagValue::Bool(b) => b.to_string(),
        FlagValue::String(s) => format!("\"{s}\""),
        FlagValue::Integer(i) => i.to_string(),
        other => serde_json::to_string(other).unwrap_or_default(),
    }
}

fn signed_in(access: &Claims, tokens: Option<&TokenSet>) -> String {
    let id = tokens.and_then(|t| t.id_token_claims.as_ref());
    let profile = id.map(Claims::user_details);
    let name = id
        .and_then(|c| c.name.clone())
        .or_else(|| {
            let p = profile?;
            match (p.given_name, p.family_name) {
                (Some(g), Some(f)) => Some(format!("{g} {f}")),
                (Some(n), None) | (None, Some(n)) => Some(n.to_owned()),
                (None, None) => None,
            }
        })
        .unwrap_or_else(|| "(no name)".to_owned());
    let email = profile.and_then(|p| p.email).unwrap_or("(no email)");
    let sub = access.subject().unwrap_or("?");
    let org = access.organization();
    let user_orgs: &[String] = id.map(|c| c.user_organizations().org_codes).unwrap_or(&[]);

    let mut body = format!(
        "<h1>Hello, {name}</h1>\
         <table>\
         <tr><th>Email</th><td>{email}</td></tr>\
         <tr><th>User id</th><td><code>{sub}</code></td></tr>\
         <tr><th>Organization</th><td>{org}</td></tr>\
         <tr><th>Your organizations</th><td>{orgs}</td></tr>\
         <tr><th>Roles</th><td>{roles}</td></tr>\
         <tr><th>Permissions</th><td>{permissions}</td></tr>\
         </table>",
        name = esc(&name),
        email = esc(email),
        sub = esc(sub),
        org = match (org.org_code, org.org_name) {
            (Some(code), Some(name)) => format!("{} <code>{}</code>", esc(name), esc(code)),
            (Some(code), None) => format!("<code>{}</code>", esc(code)),
            _ => "<span class=\"muted\">none: roles and permissions come with an organization\
                  </span>"
                .to_owned(),
        },
        orgs = tags(user_orgs.iter().map(String::as_str), "none"),
        roles = tags(
            access
                .roles()
                .iter()
                .map(|r| r.name.as_deref().unwrap_or(&r.key)),
            "none in this organization"
        ),
        permissions = tags(
            access.permissions().permissions.iter().map(String::as_str),
            "none in this organization"
        ),
    );

    let others: Vec<&String> = user_orgs
        .iter()
        .filter(|code| org.org_code != Some(code.as_str()))
        .collect();
    if !others.is_empty() {
        body.push_str(if org.org_code.is_some() {
            "<h2>Switch organization</h2><p>"
        } else {
            "<h2>Choose an organization</h2><p>You are a member of these organizations: open \
             one to get your roles and permissions in it (no password needed: you are signed \
             in at the identity server).</p><p>"
        });
        for code in others {
            let _ = write!(
                body,
                "<a class=\"button secondary\" href=\"/login?org_code={href}\">Open {code}</a>",
                href = esc(&enc(code)),
                code = esc(code),
            );
        }
        body.push_str("</p>");
    }

    body.push_str("<h2>Feature flags</h2>");
    if access.feature_flags.is_empty() {
        body.push_str("<p class=\"muted\">none</p>");
    } else {
        body.push_str("<table><tr><th>Flag</th><th>Type</th><th>Value</th></tr>");
        for (key, value) in &access.feature_flags {
            let _ = write!(
                body,
                "<tr><td><code>{}</code></td><td>{}</td><td><code>{}</code></td></tr>",
                esc(key),
                esc(value.type_name()),
                esc(&flag_value(value)),
            );
        }
        body.push_str("</table><p class=\"muted\">The page's colour comes from the flag <code>theme</code>.</p>");
    }

    body.push_str(
        "<h2>Call the protected API</h2>\
         <p>The app sends your access token as <code>Authorization: Bearer …</code> to its own \
         API, which verifies it and checks the right the route needs.</p>\
         <p><a class=\"button\" href=\"/call-api?endpoint=todos\">GET /api/todos</a> \
         <span class=\"muted\">needs the permission <code>read:todos</code></span></p>\
         <p><a class=\"button\" href=\"/call-api?endpoint=admin\">GET /api/admin</a> \
         <span class=\"muted\">needs the role <code>admin</code></span></p>\
         <h2>More</h2>\
         <p><a class=\"button secondary\" href=\"/user\">Your claims as JSON</a>\
         <a class=\"button secondary\" href=\"/create-org\">Create an organization</a>\
         <a class=\"button\" href=\"/logout\">Sign out</a></p>",
    );
    body
}

async fn home(
    State(state): State<WebState>,
    user: Result<Option<Authenticated>, Rejection>,
) -> Response {
    match user {
        Err(rejection) => rejection_page(&rejection),
        Ok(None) => page(
            StatusCode::OK,
            "Portcullis demo",
            accent(None),
            &signed_out(&state.options),
        ),
        Ok(Some(user)) => page(
            StatusCode::OK,
            "Portcullis demo",
            accent(Some(&user)),
            &signed_in(&user, user.tokens()),
        ),
    }
}

/// The query of `/call-api`.
#[derive(Deserialize)]
struct CallApi {
    #[serde(default)]
    endpoint: Option<String>,
}

/// The API routes the page may call, and what each needs.
fn api_route(endpoint: &str) -> Option<(&'static str, &'static str)> {
    match endpoint {
        "todos" => Some(("/api/todos", "the permission read:todos")),
        "admin" => Some(("/api/admin", "the role admin")),
        "protected" => Some(("/api/protected", "any valid access token")),
        _ => None,
    }
}

async fn call_api(
    State(state): State<WebState>,
    user: Result<Option<Authenticated>, Rejection>,
    query: Result<Query<CallApi>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let bad = |message: &str| {
        page(
            StatusCode::BAD_REQUEST,
            "Bad request",
            accent(None),
            &format!(
                "<h1>Bad request</h1><p class=\"error\" role=\"alert\">{}</p>\
                 <p><a class=\"button\" href=\"/\">Home</a></p>",
                esc(message)
            ),
        )
    };
    let endpoint = match query {
        Ok(Query(q)) => q.endpoint.unwrap_or_default(),
        Err(_) => return bad("the query string is malformed"),
    };
    let Some((path, needs)) = api_route(&endpoint) else {
        return bad("endpoint must be todos, admin or protected");
    };
    let user = match user {
        Err(rejection) => return rejection_page(&rejection),
        Ok(None) => {
            let back = format!("/call-api?endpoint={endpoint}");
            return page(
                StatusCode::UNAUTHORIZED,
                "Sign in first",
                accent(None),
                &format!(
                    "<h1>Sign in first</h1><p>Calling the API needs your access token.</p>\
                     <p><a class=\"button\" href=\"/login?return_to={}\">Sign in</a></p>",
                    esc(&enc(&back))
                ),
            );
        }
        Ok(Some(user)) => user,
    };
    // The session's tokens (a bearer request to this page has none to pass on).
    let Some(tokens) = user.tokens() else {
        return bad(
            "this page calls the API with the signed-in session's tokens; a bearer request has none to pass on",
        );
    };
    let url = format!("{}{path}", state.options.api_url);
    let answer = state
        .http
        .get(&url)
        .bearer_auth(&tokens.access_token)
        .send()
        .await;
    let result = match answer {
        Err(e) => {
            tracing::warn!(error = %e, %url, "the API call failed");
            "<p class=\"error\" role=\"alert\">The API could not be reached.</p>".to_owned()
        }
        Ok(response) => {
            let status = response.status();
            let challenge = response
                .headers()
                .get(header::WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let body = response.bytes().await.unwrap_or_default();
            let shown = match serde_json::from_slice::<serde_json::Value>(&body) {
                Ok(json) => serde_json::to_string_pretty(&json).unwrap_or_default(),
                Err(_) => String::from_utf8_lossy(&body).into_owned(),
            };
            let shown: String = shown.chars().take(MAX_SHOWN_BODY).collect();
            let class = if status.is_success() { "ok" } else { "error" };
            let verdict = if status.is_success() {
                "Allowed: your token grants it.".to_owned()
            } else if status == StatusCode::FORBIDDEN {
                format!("Refused: your token is valid, but lacks {needs}.")
            } else {
                "Refused.".to_owned()
            };
            let mut html = format!(
                "<p class=\"{class}\" role=\"status\"><strong>{status}</strong> — {verdict}</p>",
                status = esc(&status.to_string()),
                verdict = esc(&verdict),
            );
            if let Some(challenge) = challenge {
                let _ = write!(
                    html,
                    "<p><code>WWW-Authenticate: {}</code></p>",
                    esc(&challenge)
                );
            }
            let _ = write!(html, "<pre>{}</pre>", esc(&shown));
            html
        }
    };
    page(
        StatusCode::OK,
        "API call",
        accent(Some(&user)),
        &format!(
            "<h1>GET {path}</h1><p class=\"muted\">Needs {needs}. Sent with your access token \
             as <code>Authorization: Bearer …</code>.</p>{result}\
             <p><a class=\"button\" href=\"/\">Back</a></p>",
            path = esc(path),
            needs = esc(needs),
        ),
    )
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("web_app: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let (config, port) = config_from(|name| std::env::var(name).ok())?;
    if config.issuer() == DEMO_ISSUER && std::env::var_os("PORTCULLIS_ISSUER").is_none() {
        println!(
            "PORTCULLIS_ISSUER is not set: using the demo tenant's settings, which expect its \
             identity server at {DEMO_ISSUER} (`cargo run -p portcullis-axum --example demo` \
             runs both)"
        );
    }
    let host = std::env::var("HOST").unwrap_or_else(|_| "127.0.0.1".to_owned());
    let listener = tokio::net::TcpListener::bind((host.as_str(), port))
        .await
        .map_err(|e| format!("cannot listen on {host}:{port}: {e}"))?;
    let auth = Auth::from_config(&config)?;
    let options = Options {
        api_url: format!("http://127.0.0.1:{}", listener.local_addr()?.port()),
        demo_logins: Vec::new(),
        spa_origin: bearer_api::spa_origin(std::env::var("PORTCULLIS_SPA_ORIGIN").ok().as_deref())?,
    };
    println!(
        "web app on http://localhost:{port} (issuer {})",
        config.issuer()
    );
    // As in the bearer API: every request bounded, a graceful stop on Ctrl-C or SIGTERM.
    let app = app(auth, options)?.layer(tower_http::timeout::TimeoutLayer::with_status_code(
        StatusCode::REQUEST_TIMEOUT,
        Duration::from_secs(20),
    ));
    axum::serve(listener, app)
        .with_graceful_shutdown(bearer_api::shutdown_signal())
        .await?;
    Ok(())
}
