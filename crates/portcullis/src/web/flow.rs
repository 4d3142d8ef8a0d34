//! The decisions of the browser sign-in routes — `/login`, `/register`, `/create-org`,
//! `/callback`, `/logout`, `/user` — without a framework: [`WebAuth::answer`] takes the route,
//! the request's session, query and `Accept` header, and returns a [`WebResponse`].
//!
//! | route | does |
//! | --- | --- |
//! | `GET /login?return_to=/path&org_code=…&login_hint=…&lang=…` | starts a sign-in: keeps its `state`, `nonce` and PKCE verifier in a sealed cookie of its own (named for its `state`: several at once, even started at the same moment), redirects to the provider |
//! | `GET /register?…` | the same, opening the sign-up page |
//! | `GET /create-org?org_name=…&…` | the same, creating an organization |
//! | `GET /callback` | checks `state` against the sign-in cookie named for it (cleared: single use), exchanges the code, verifies the tokens, gives the session a new id, stores the tokens, redirects to `return_to`; errors as an HTML page to a browser (`Accept: text/html`), else JSON |
//! | `GET` or `POST /logout` | ends the session (and revokes its refresh token), then redirects through the provider's logout |
//! | `GET /user` | the signed-in user's claims as JSON (`id_token`, `access_token`); 401 when signed out |
//!
//! `return_to` is honoured only when it is a same-site relative path (docs/security.md case 37);
//! anything else sends the user to `/`. A failed `/login`, `/register`, `/create-org` or
//! `/callback` answers, like the callback, an HTML page to a browser (`Accept` preferring
//! `text/html`) and JSON to anything else.

use serde_json::json;

use crate::error::{Error, OAuthError};
use crate::oauth::{AuthorizeOptions, TokenTypeHint};
use crate::web::auth::{WebAuth, store_failed};
use crate::web::rejection::AuthRejection;
use crate::web::response::WebResponse;
use crate::web::return_to::safe_return_to;
use crate::web::session::{self, AuthSession};
use crate::web::signin::{PendingEntry, SignedIn};

/// The paths of the sign-in routes. Each path is normalized to start with `/`.
///
/// ```
/// use portcullis::web::AuthRoutes;
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

    /// Every route with its path, for a framework to register.
    pub fn all(&self) -> [(&str, SignInRoute); 6] {
        [
            (&self.login, SignInRoute::Login),
            (&self.register, SignInRoute::Register),
            (&self.create_org, SignInRoute::CreateOrg),
            (&self.callback, SignInRoute::Callback),
            (&self.logout, SignInRoute::Logout),
            (&self.user, SignInRoute::User),
        ]
    }
}

/// One of the sign-in routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignInRoute {
    /// Starts a sign-in.
    Login,
    /// Starts a sign-up.
    Register,
    /// Starts a sign-up that creates an organization.
    CreateOrg,
    /// Finishes a sign-in.
    Callback,
    /// Ends the session.
    Logout,
    /// Answers the signed-in user's claims.
    User,
}

impl SignInRoute {
    /// Whether the route also answers `POST` (sign-out: from a form as well as a link).
    pub fn accepts_post(self) -> bool {
        matches!(self, SignInRoute::Logout)
    }
}

/// What a sign-in route reads of its request.
#[derive(Debug, Clone, Copy, Default)]
pub struct RouteRequest<'a> {
    /// The query string, without `?`.
    pub query: &'a str,
    /// The `Accept` header, if any.
    pub accept: Option<&'a str>,
    /// The `Cookie` header, if any (several joined with `; `): the sign-in routes read their
    /// login cookies from it.
    pub cookie: Option<&'a str>,
}

/// Whether an `Accept` header prefers `text/html` to JSON (a browser's navigation), by its
/// quality values (RFC 9110 §12.5.1). No header, or `*/*` alone: no.
///
/// ```
/// use portcullis::web::prefers_html;
///
/// assert!(prefers_html(Some("text/html,application/xhtml+xml,*/*;q=0.8")));
/// assert!(!prefers_html(Some("application/json")));
/// assert!(!prefers_html(Some("*/*")));
/// assert!(!prefers_html(None));
/// ```
pub fn prefers_html(accept: Option<&str>) -> bool {
    let Some(accept) = accept else {
        return false;
    };
    let (mut html, mut json) = (0.0_f32, 0.0_f32);
    for range in accept.split(',').take(32) {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0)
            .clamp(0.0, 1.0);
        match media.as_str() {
            "text/html" | "application/xhtml+xml" => html = html.max(q),
            "application/json" => json = json.max(q),
            _ => {}
        }
    }
    html > 0.0 && html > json
}

/// Why a sign-in route failed: answered as JSON, or as a page to a browser.
struct Failure {
    status: u16,
    code: String,
    description: String,
}

impl Failure {
    fn new(status: u16, code: &str, description: impl Into<String>) -> Self {
        Failure {
            status,
            code: code.to_owned(),
            description: description.into(),
        }
    }

    fn not_configured() -> Self {
        tracing::error!(
            "the sign-in routes need an Auth built from a Config with a client id and a redirect URI"
        );
        Failure::new(500, "server_error", "sign-in is not configured")
    }

    fn no_session() -> Self {
        tracing::error!(
            "the sign-in routes need a session layer (or middleware) around the app: see the \
             framework crate's session module"
        );
        Failure::new(500, "server_error", "sign-in is not configured")
    }

    fn store(e: crate::web::SessionError) -> Self {
        let _ = store_failed(e);
        Failure::new(500, "server_error", "internal error")
    }

    fn response(&self, html: bool) -> WebResponse {
        if html {
            WebResponse::error_page(self.status, &self.code, &self.description)
        } else {
            WebResponse::error(self.status, &self.code, &self.description)
        }
    }
}

impl From<BadParameter> for Failure {
    fn from(BadParameter(description): BadParameter) -> Self {
        Failure::new(400, "invalid_request", description)
    }
}

/// The answer to a failed client flow. Messages name the failed check, never a token or code.
fn flow_failure(e: &Error) -> Failure {
    match e {
        Error::OAuth(o) => {
            let status = o.http_status();
            let code = match o {
                OAuthError::StateMismatch(_) => "invalid_state",
                OAuthError::IssuerMismatch | OAuthError::MissingIssuer => "invalid_issuer",
                OAuthError::MalformedCallback(_) => "invalid_request",
                OAuthError::LoginExpired => "login_expired",
                other => other.error_code().unwrap_or("server_error"),
            };
            if status >= 500 {
                tracing::warn!(error = %o, "a sign-in request to the provider failed");
            }
            Failure::new(status, code, o.to_string())
        }
        Error::Token(t) if t.http_status() == 401 => {
            tracing::warn!(error = %t, "the provider's tokens were rejected at sign-in");
            Failure::new(
                400,
                "invalid_id_token",
                format!("the tokens of the sign-in were rejected ({})", t.reason()),
            )
        }
        Error::Token(_) | Error::Fetch(_) => {
            tracing::warn!(error = %e, "the provider is unreachable");
            Failure::new(
                503,
                "temporarily_unavailable",
                "the identity provider cannot be reached: try again shortly",
            )
        }
        _ => {
            tracing::error!(error = %e, "sign-in failed");
            Failure::new(500, "server_error", "sign-in failed")
        }
    }
}

/// The query's parameters; one that appears twice is refused.
struct Params(Vec<(String, String)>);

/// A query parameter refused by [`Params::get`].
struct BadParameter(String);

impl Params {
    fn of(query: &str) -> Self {
        Params(
            url::form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect(),
        )
    }

    /// The non-empty value of `name` (at most 2 KiB); a parameter given twice is refused
    /// with 400 `invalid_request`.
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

impl WebAuth {
    /// The answer of the sign-in route `route` to a request with `session` (`None` when the
    /// app has no session layer) — see [`AuthRoutes`] for the routes. Every answer is
    /// `Cache-Control: no-store`.
    pub async fn answer<S: AuthSession + ?Sized>(
        &self,
        route: SignInRoute,
        session: Option<&S>,
        request: RouteRequest<'_>,
    ) -> WebResponse {
        let html = prefers_html(request.accept);
        // The login cookies to set or clear, whatever the outcome.
        let mut cookies = Vec::new();
        let outcome = match route {
            SignInRoute::Login | SignInRoute::Register | SignInRoute::CreateOrg => {
                self.start(route, session, request, &mut cookies).await
            }
            SignInRoute::Callback => self.callback(session, request, &mut cookies).await,
            SignInRoute::Logout => return self.logout(session).await,
            SignInRoute::User => return self.user(session).await,
        };
        let response = outcome.unwrap_or_else(|failure| failure.response(html));
        cookies
            .into_iter()
            .fold(response, |r, c| r.with_header("set-cookie", c))
    }

    /// Starts a sign-in. It is kept in a login cookie of its own, never in the session: two
    /// sign-ins started at the same moment in one session would otherwise each load, change
    /// and save the session, and the last save would win (issue 4).
    async fn start<S: AuthSession + ?Sized>(
        &self,
        route: SignInRoute,
        session: Option<&S>,
        request: RouteRequest<'_>,
        cookies: &mut Vec<String>,
    ) -> Result<WebResponse, Failure> {
        let (client, _, login_cookies) = self.sign_in().ok_or_else(Failure::not_configured)?;
        // The callback stores the signed-in user in the session: refuse to start without one.
        session.ok_or_else(Failure::no_session)?;
        let params = Params::of(request.query);
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
        let started = match route {
            SignInRoute::Register => client.register_url(&options).await,
            SignInRoute::CreateOrg => {
                client
                    .create_org_url(params.get("org_name")?, &options)
                    .await
            }
            _ => client.login_url(&options).await,
        }
        .map_err(|e| flow_failure(&e))?;
        let entry = PendingEntry {
            login: started.pending,
            return_to,
        };
        let Some((name, set_cookie)) = login_cookies.seal(&entry) else {
            tracing::error!("a sign-in could not be sealed in its cookie");
            return Err(Failure::new(500, "server_error", "internal error"));
        };
        // At most MAX_PENDING sign-ins per browser: the oldest (and any cookie that does not
        // open or has expired) are cleared (docs/security.md case 44).
        let present = login_cookies.read(request.cookie);
        for old in login_cookies.to_drop(&present, &name, self.clock().now_secs()) {
            cookies.push(login_cookies.clear(&old));
        }
        cookies.push(set_cookie);
        Ok(WebResponse::redirect(started.url.as_str()))
    }

    async fn callback<S: AuthSession + ?Sized>(
        &self,
        session: Option<&S>,
        request: RouteRequest<'_>,
        cookies: &mut Vec<String>,
    ) -> Result<WebResponse, Failure> {
        let (client, verifier, login_cookies) =
            self.sign_in().ok_or_else(Failure::not_configured)?;
        let session = session.ok_or_else(Failure::no_session)?;
        let query = request.query;
        let mut states = url::form_urlencoded::parse(query.as_bytes())
            .filter(|(k, _)| k == "state")
            .map(|(_, v)| v);
        let (Some(state), None) = (states.next(), states.next()) else {
            return Err(Failure::new(
                400,
                "invalid_state",
                "the callback has no state, or several: start the sign-in again",
            ));
        };
        // The state must be one this browser started: its login cookie, sealed under our key,
        // holds that very state (docs/security.md case 27). It is used once: the cookie is cleared
        // by this answer, whatever happens next.
        let name = login_cookies.name(&state);
        if login_cookies.is_present(request.cookie, &name) {
            cookies.push(login_cookies.clear(&name));
        }
        let Some(entry) = login_cookies.find(request.cookie, &state) else {
            return Err(Failure::new(
                400,
                "invalid_state",
                "this callback does not belong to a sign-in started in this browser (forged, \
                 replayed, or expired): start the sign-in again",
            ));
        };
        // As `?query`, so the SDK never reads the query itself as a URL.
        let tokens = client
            .handle_callback(&format!("?{query}"), &entry.login)
            .await
            .map_err(|e| flow_failure(&e))?;
        let claims = verifier
            .verify_access_token(&tokens.access_token)
            .await
            .map_err(|e| flow_failure(&e))?;
        // A new session id for the signed-in session (docs/security.md case 45: session fixation).
        session.cycle_id().await.map_err(Failure::store)?;
        let user = SignedIn {
            tokens,
            access_claims: (*claims).clone(),
        };
        session::insert(session, SignedIn::SESSION_KEY, &user)
            .await
            .map_err(Failure::store)?;
        Ok(WebResponse::redirect(&safe_return_to(Some(
            &entry.return_to,
        ))))
    }

    async fn logout<S: AuthSession + ?Sized>(&self, session: Option<&S>) -> WebResponse {
        let client = self.client();
        let mut id_token = None;
        let mut refresh_token = None;
        // The local session ends first, whatever the provider does (docs/security.md case 35).
        if let Some(session) = session {
            if let Ok(Some(user)) =
                session::get::<SignedIn, S>(session, SignedIn::SESSION_KEY).await
            {
                id_token = user.tokens.id_token;
                refresh_token = user.tokens.refresh_token;
            }
            if let Err(e) = session.flush().await {
                return store_failed(e).response(self.realm());
            }
        }
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
        WebResponse::redirect(provider.as_deref().unwrap_or(fallback))
    }

    async fn user<S: AuthSession + ?Sized>(&self, session: Option<&S>) -> WebResponse {
        if self.sign_in().is_none() {
            return Failure::not_configured().response(false);
        }
        let Some(session) = session else {
            return Failure::no_session().response(false);
        };
        let rejection = match self.session_user(session).await {
            Ok(Some(user)) => {
                return WebResponse::json(
                    200,
                    &json!({
                        "id_token": user.tokens.id_token_claims,
                        "access_token": user.access_claims,
                    }),
                );
            }
            Ok(None) => AuthRejection::MissingCredentials,
            Err(r) => r,
        };
        rejection.response(self.realm())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn browsers_get_pages_and_clients_json() {
        let firefox = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
        assert!(prefers_html(Some(firefox)));
        assert!(prefers_html(Some("application/json;q=0.5, text/html")));
        assert!(!prefers_html(Some("text/html;q=0.5, application/json")));
        assert!(!prefers_html(Some("text/html;q=0")));
        assert!(!prefers_html(Some("*/*")));
        assert!(!prefers_html(Some("")));
        assert!(!prefers_html(None));
    }

    #[test]
    fn routes_are_normalized_and_listed() {
        let r = AuthRoutes::for_redirect_uri(Some("http://localhost:3000/auth/cb")).logout("out");
        assert_eq!(r.callback_path(), "/auth/cb");
        assert_eq!(r.logout_path(), "/out");
        assert!(
            r.all()
                .iter()
                .any(|(p, route)| *p == "/out" && route.accepts_post())
        );
        assert_eq!(AuthRoutes::for_redirect_uri(None), AuthRoutes::default());
    }
}
