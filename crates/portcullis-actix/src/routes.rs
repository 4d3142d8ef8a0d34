//! The ready-made sign-in routes of [`Auth::configure`]: `/login`, `/register`,
//! `/create-org`, `/callback`, `/logout` and `/user` (paths set by [`AuthRoutes`]).
//!
//! | route | does |
//! | --- | --- |
//! | `GET /login?return_to=/path&org_code=…&login_hint=…&lang=…` | starts a sign-in: keeps its `state`, `nonce` and PKCE verifier in the session (by `state`, several at once), redirects to the provider |
//! | `GET /register?…` | the same, opening the sign-up page |
//! | `GET /create-org?org_name=…&…` | the same, creating an organization |
//! | `GET /callback` | checks `state` against the session's sign-ins (single use), exchanges the code, verifies the ID token, renews the session id, stores the tokens, redirects to `return_to` |
//! | `GET /logout` | ends the session (and revokes its refresh token), then redirects through the provider's logout |
//! | `GET /user` | the signed-in user's claims as JSON (`id_token`, `access_token`); 401 when signed out |
//!
//! `return_to` is honoured only when it is a same-site relative path (security.md case 37);
//! anything else sends the user to `/`. The routes need the session middleware around the app
//! ([`crate::session::session_middleware`]); without it nothing is remembered between
//! requests and every callback is refused as `invalid_state`.
//!
//! ```no_run
//! use actix_web::cookie::Key;
//! use actix_web::{App, HttpServer};
//! use portcullis_actix::{Auth, MemoryStore, session_middleware};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let auth = Auth::from_config(&portcullis::Config::from_env()?)?;
//! let (store, key) = (MemoryStore::default(), Key::generate());
//! HttpServer::new(move || {
//!     App::new()
//!         .app_data(auth.clone())
//!         .configure(auth.configure())
//!         .wrap(session_middleware(store.clone(), key.clone()))
//! })
//! .bind(("127.0.0.1", 3000))?
//! .run()
//! .await?;
//! # Ok(()) }
//! ```

use actix_session::{Session, SessionExt};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use portcullis::oauth::{AuthorizeOptions, TokenTypeHint};
use portcullis::{Error, OAuthError};
use serde_json::json;

use crate::auth::Auth;
use crate::rejection::AuthRejection;
use crate::shared::{self, PendingEntry, SignedIn};
use crate::signin::{MAX_PENDING, PENDING_KEY, PENDING_TTL, USER_KEY, session_get, session_insert};
use portcullis::web::safe_return_to;

/// The paths of the sign-in routes. Each path is normalized to start with `/`.
///
/// ```
/// use portcullis_actix::AuthRoutes;
///
/// let routes = AuthRoutes::default()
///     .login("/auth/login")
///     .callback("/auth/callback")
///     .logout("/auth/logout");
/// assert_eq!(routes.login_path(), "/auth/login");
/// assert_eq!(routes.user_path(), "/user");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthRoutes {
    login: String,
    register: String,
    create_org: String,
    callback: String,
    logout: String,
    user: String,
}

impl Default for AuthRoutes {
    fn default() -> Self {
        AuthRoutes {
            login: "/login".into(),
            register: "/register".into(),
            create_org: "/create-org".into(),
            callback: "/callback".into(),
            logout: "/logout".into(),
            user: "/user".into(),
        }
    }
}

fn path(p: impl Into<String>) -> String {
    let p = p.into();
    if p.starts_with('/') {
        p
    } else {
        format!("/{p}")
    }
}

impl AuthRoutes {
    /// The defaults, with the callback at the path of `redirect_uri` (the URL the provider
    /// sends users back to) when there is one.
    pub(crate) fn for_redirect_uri(redirect_uri: Option<&str>) -> Self {
        let callback = redirect_uri
            .and_then(|u| url::Url::parse(u).ok())
            .map(|u| u.path().to_owned())
            .filter(|p| p.len() > 1);
        let routes = AuthRoutes::default();
        match callback {
            Some(p) => routes.callback(p),
            None => routes,
        }
    }

    /// The sign-in route (default `/login`).
    pub fn login(mut self, p: impl Into<String>) -> Self {
        self.login = path(p);
        self
    }

    /// The sign-up route (default `/register`).
    pub fn register(mut self, p: impl Into<String>) -> Self {
        self.register = path(p);
        self
    }

    /// The create-organization route (default `/create-org`).
    pub fn create_org(mut self, p: impl Into<String>) -> Self {
        self.create_org = path(p);
        self
    }

    /// The callback route (default: the path of the configured redirect URI, else
    /// `/callback`). It must be the path of the redirect URI registered with the provider.
    pub fn callback(mut self, p: impl Into<String>) -> Self {
        self.callback = path(p);
        self
    }

    /// The sign-out route (default `/logout`).
    pub fn logout(mut self, p: impl Into<String>) -> Self {
        self.logout = path(p);
        self
    }

    /// The route answering the user's claims (default `/user`).
    pub fn user(mut self, p: impl Into<String>) -> Self {
        self.user = path(p);
        self
    }

    /// The sign-in path.
    pub fn login_path(&self) -> &str {
        &self.login
    }

    /// The sign-up path.
    pub fn register_path(&self) -> &str {
        &self.register
    }

    /// The create-organization path.
    pub fn create_org_path(&self) -> &str {
        &self.create_org
    }

    /// The callback path.
    pub fn callback_path(&self) -> &str {
        &self.callback
    }

    /// The sign-out path.
    pub fn logout_path(&self) -> &str {
        &self.logout
    }

    /// The user path.
    pub fn user_path(&self) -> &str {
        &self.user
    }
}

#[derive(Clone, Copy)]
enum Route {
    Start(Start),
    Callback,
    Logout,
    User,
}

#[derive(Clone, Copy)]
enum Start {
    Login,
    Register,
    CreateOrg,
}

impl Auth {
    /// The sign-in routes (see the [module docs](crate::routes)), for `App::configure` or
    /// `Scope::configure`: `App::new().configure(auth.configure())`. Paths are those of
    /// [`AuthRoutes`]; inside a `web::scope("/auth")` they are relative to the scope.
    ///
    /// Needs an `Auth` with a client id (and a redirect URI) in its configuration; without one
    /// the routes answer 500 and log why.
    pub fn configure(&self) -> impl FnOnce(&mut web::ServiceConfig) + 'static {
        let auth = self.clone();
        move |config: &mut web::ServiceConfig| {
            let r = auth.inner().routes.clone();
            for (p, route) in [
                (r.login, Route::Start(Start::Login)),
                (r.register, Route::Start(Start::Register)),
                (r.create_org, Route::Start(Start::CreateOrg)),
                (r.callback, Route::Callback),
                (r.logout, Route::Logout),
                (r.user, Route::User),
            ] {
                let auth = auth.clone();
                config.route(
                    &p,
                    web::get().to(move |request: HttpRequest| {
                        let auth = auth.clone();
                        async move {
                            match route {
                                Route::Start(kind) => start(&auth, &request, kind).await,
                                Route::Callback => callback(&auth, &request).await,
                                Route::Logout => logout(&auth, &request).await,
                                Route::User => user(&auth, &request).await,
                            }
                        }
                    }),
                );
            }
        }
    }

    /// The paths of the sign-in routes.
    pub fn routes(&self) -> &AuthRoutes {
        &self.inner().routes
    }
}

/// A JSON error answer (`Cache-Control: no-store`).
fn error(status: StatusCode, code: &str, description: impl Into<String>) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .json(json!({ "error": code, "error_description": description.into() }))
}

/// 303 to `to`, not cached.
fn redirect(to: &str) -> HttpResponse {
    match HeaderValue::from_str(to) {
        Ok(location) => HttpResponse::SeeOther()
            .insert_header((header::LOCATION, location))
            .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
            .finish(),
        Err(_) => {
            tracing::error!("a redirect target is not a valid header value");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "sign-in failed",
            )
        }
    }
}

fn not_configured() -> HttpResponse {
    tracing::error!(
        "the sign-in routes need an Auth built from a Config with a client id and a redirect URI"
    );
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "server_error",
        "sign-in is not configured",
    )
}

/// The query's parameters; one that appears twice is refused.
struct Params(Vec<(String, String)>);

impl Params {
    fn of(request: &HttpRequest) -> Self {
        Params(
            url::form_urlencoded::parse(request.query_string().as_bytes())
                .into_owned()
                .collect(),
        )
    }

    /// The non-empty value of `name` (at most 2 KiB); a parameter given twice is refused with
    /// 400 `invalid_request`.
    fn get(&self, name: &str) -> Result<Option<&str>, BadParameter> {
        let mut values = self.0.iter().filter(|(k, _)| k == name).map(|(_, v)| v);
        let first = values.next();
        if values.next().is_some() {
            return Err(BadParameter(format!("the parameter {name} appears twice")));
        }
        match first {
            Some(v) if v.len() > 2048 => {
                Err(BadParameter(format!("the parameter {name} is too long")))
            }
            Some(v) if !v.is_empty() => Ok(Some(v.as_str())),
            _ => Ok(None),
        }
    }
}

/// A query parameter refused by [`Params::get`].
struct BadParameter(String);

impl From<BadParameter> for HttpResponse {
    fn from(BadParameter(description): BadParameter) -> HttpResponse {
        error(StatusCode::BAD_REQUEST, "invalid_request", description)
    }
}

async fn start(auth: &Auth, request: &HttpRequest, kind: Start) -> HttpResponse {
    let Some((client, _)) = auth.sign_in() else {
        return not_configured();
    };
    let session = request.get_session();
    let params = Params::of(request);
    let outcome = async {
        let mut options = AuthorizeOptions::new();
        if let Some(org) = params.get("org_code")? {
            options = options.org_code(org);
        }
        if let Some(hint) = params.get("login_hint")? {
            options = options.login_hint(hint);
        }
        if let Some(lang) = params.get("lang")? {
            options = options.lang(lang);
        }
        let return_to = safe_return_to(params.get("return_to")?);
        let started = match kind {
            Start::Login => client.login_url(&options).await,
            Start::Register => client.register_url(&options).await,
            Start::CreateOrg => {
                client
                    .create_org_url(params.get("org_name")?, &options)
                    .await
            }
        }
        .map_err(|e| flow_error(&e))?;
        let mut pending: Vec<PendingEntry> = session_get(&session, PENDING_KEY).unwrap_or_default();
        let ttl = i64::try_from(PENDING_TTL.as_secs()).unwrap_or(i64::MAX);
        shared::push_pending(
            &mut pending,
            PendingEntry {
                login: started.pending,
                return_to,
            },
            auth.inner().clock.now_secs(),
            ttl,
            MAX_PENDING,
        );
        session_insert(&session, PENDING_KEY, &pending).map_err(|r| auth.reject(r).response())?;
        Ok::<_, HttpResponse>(redirect(started.url.as_str()))
    };
    outcome.await.unwrap_or_else(|response| response)
}

/// The answer to a failed client flow. Messages name the failed check, never a token or
/// code.
fn flow_error(e: &Error) -> HttpResponse {
    match e {
        Error::OAuth(o) => {
            let status = StatusCode::from_u16(o.http_status()).unwrap_or(StatusCode::BAD_GATEWAY);
            let code = match o {
                OAuthError::StateMismatch(_) => "invalid_state",
                OAuthError::IssuerMismatch => "invalid_issuer",
                OAuthError::MalformedCallback(_) => "invalid_request",
                OAuthError::LoginExpired => "login_expired",
                other => other.error_code().unwrap_or("server_error"),
            };
            if status.is_server_error() {
                tracing::warn!(error = %o, "a sign-in request to the provider failed");
            }
            error(status, code, o.to_string())
        }
        Error::Token(t) if t.http_status() == 401 => {
            tracing::warn!(error = %t, "the provider's tokens were rejected at sign-in");
            error(
                StatusCode::BAD_REQUEST,
                "invalid_id_token",
                format!("the tokens of the sign-in were rejected ({})", t.reason()),
            )
        }
        Error::Token(_) | Error::Fetch(_) => {
            tracing::warn!(error = %e, "the provider is unreachable");
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "the identity provider cannot be reached: try again shortly",
            )
        }
        _ => {
            tracing::error!(error = %e, "sign-in failed");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "sign-in failed",
            )
        }
    }
}

async fn callback(auth: &Auth, request: &HttpRequest) -> HttpResponse {
    let Some((client, verifier)) = auth.sign_in() else {
        return not_configured();
    };
    let session = request.get_session();
    let query = request.query_string();
    let states: Vec<String> = url::form_urlencoded::parse(query.as_bytes())
        .filter(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .collect();
    let [state] = states.as_slice() else {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_state",
            "the callback has no state, or several: start the sign-in again",
        );
    };
    let outcome = async {
        let mut pending: Vec<PendingEntry> = session_get(&session, PENDING_KEY).unwrap_or_default();
        // The state must be one this browser's session started (security.md case 27). It is
        // used once: removed before the code is exchanged, whatever happens next.
        let Some(entry) = shared::take_pending(&mut pending, state) else {
            return Err(error(
                StatusCode::BAD_REQUEST,
                "invalid_state",
                "this callback does not belong to a sign-in started in this browser (forged, \
                 replayed, or expired): start the sign-in again",
            ));
        };
        if pending.is_empty() {
            session.remove(PENDING_KEY);
        } else {
            session_insert(&session, PENDING_KEY, &pending)
                .map_err(|r| auth.reject(r).response())?;
        }
        // As `?query`, so the SDK never reads the query itself as a URL.
        let tokens = client
            .handle_callback(&format!("?{query}"), &entry.login)
            .await
            .map_err(|e| flow_error(&e))?;
        let claims = verifier
            .verify_access_token(&tokens.access_token)
            .await
            .map_err(|e| flow_error(&e))?;
        // A new session key for the signed-in session; the old one is deleted from the store
        // (security.md case 45: session fixation).
        session.renew();
        let user = SignedIn {
            tokens,
            access_claims: (*claims).clone(),
        };
        session_insert(&session, USER_KEY, &user).map_err(|r| auth.reject(r).response())?;
        Ok(redirect(&safe_return_to(Some(&entry.return_to))))
    };
    outcome.await.unwrap_or_else(|response| response)
}

async fn logout(auth: &Auth, request: &HttpRequest) -> HttpResponse {
    let client = auth.inner().client.as_ref();
    let session: Session = request.get_session();
    let user = session_get::<SignedIn>(&session, USER_KEY);
    // The local session ends whatever the provider does (security.md case 35): it is purged
    // here, and the session middleware deletes it from the store and the browser on the way
    // out, even when the revocation below fails.
    session.purge();
    let (id_token, refresh_token) = match user {
        Some(u) => (u.tokens.id_token, u.tokens.refresh_token),
        None => (None, None),
    };
    if let (Some(client), Some(token)) = (client, refresh_token)
        && let Err(e) = client
            .revoke(&token, Some(TokenTypeHint::RefreshToken))
            .await
    {
        tracing::warn!(error = %e, "could not revoke the refresh token at sign-out");
    }
    let provider = match client {
        Some(c) => match c.logout_url(None, id_token.as_deref()).await {
            Ok(url) => Some(url.to_string()),
            Err(e) => {
                tracing::warn!(error = %e, "no provider logout URL; signing out locally only");
                None
            }
        },
        None => None,
    };
    let fallback = client
        .and_then(|c| c.config().post_logout_redirect_uri())
        .unwrap_or("/");
    redirect(provider.as_deref().unwrap_or(fallback))
}

async fn user(auth: &Auth, request: &HttpRequest) -> HttpResponse {
    if auth.sign_in().is_none() {
        return not_configured();
    }
    let session = request.get_session();
    match auth.session_user(&session).await {
        Ok(Some(user)) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
            .json(json!({
                "id_token": user.tokens.id_token_claims,
                "access_token": user.access_claims,
            })),
        Ok(None) => auth.reject(AuthRejection::MissingCredentials).response(),
        Err(r) => auth.reject(r).response(),
    }
}
