//! The authorization request (RFC 6749 §4.1.1, OIDC Core §3.1.2.1, RFC 7636), read and checked
//! into an [`AuthorizationRequest`], or refused with an [`AuthorizeError`] that says whether
//! the answer may go back to the application.
//!
//! Order of checks (RFC 6749 §4.1.2.1): the client and its redirect URI first — if either is
//! wrong, an error page and never a redirect; every later error is redirected back with
//! `error`, `state` and `iss` (RFC 9207).
//!
//! The request (docs/security.md cases 50–63):
//! - More than [`MAX_QUERY_BYTES`] of parameters is refused by the handler before this reads
//!   anything; more than [`MAX_PARAMS`] parameters is an error page.
//! - A parameter without a value is treated as omitted (`state=` means no state); a parameter
//!   sent twice is `invalid_request` (an error page when it is `client_id` or `redirect_uri`),
//!   except RFC 8707's `resource`, which may repeat (and is not read: `audience` is);
//!   unknown parameters are ignored.
//! - `redirect_uri` must equal a registered one exactly, as a string. One exception
//!   (RFC 8252 §7.3): a registered `http://127.0.0.1…` or `http://[::1]…` URI matches a request
//!   that differs from it only in the port. `localhost` is matched exactly. The code is bound
//!   to the requested string, which the token request must repeat exactly.
//! - `request` / `request_uri`: `request_not_supported` / `request_uri_not_supported`.
//! - `response_type=code` only; PKCE `S256` only, and required of single-page applications.
//! - `prompt`: `none`, `login`, `create`; anything else, or `none` with another value, is
//!   `invalid_request`. `max_age`: 0–2147483647 seconds, digits only, else `invalid_request`.
//! - `id_token_hint`: see [`crate::oidc::hint`]; a bad hint is `invalid_request`.
//! - `is_create_org=true` with `org_name` creates that organization at sign-in; without
//!   `org_name`, the hosted "Create your organization" form asks for the name.
//! - `login_hint` (an email; Kinde's `username:…` and `phone:…` forms are ignored) prefills the
//!   email field and is never logged.

use std::borrow::Cow;

use crate::AppState;
use crate::domain::{AppType, ClientId};
use crate::error::ServerError;
use crate::ids::{hash_secret, random_token};
use crate::oidc::grant::AuthRequest;
use crate::oidc::hint;
use crate::oidc::pkce::is_pkce_value;
use crate::oidc::scope::{granted_audiences, requested_scopes};
use crate::pages::{back_to, redirect};
use crate::store::SessionRecord;
use axum::response::Response;

/// Most bytes of parameters the authorization endpoint reads (query or form body); real
/// requests stay well under 4 KiB (docs/security.md cases 63 and 93).
pub(crate) const MAX_QUERY_BYTES: usize = 16 * 1024;
/// Most parameters an authorization request may carry.
const MAX_PARAMS: usize = 64;
/// Largest `max_age` accepted, in seconds (`i32::MAX`, about 68 years). Larger values, such as
/// JavaScript's `MAX_SAFE_INTEGER`, are `invalid_request` (docs/security.md case 56).
const MAX_MAX_AGE: i64 = i32::MAX as i64;

/// A checked authorization request.
#[derive(Debug)]
pub(crate) struct AuthorizationRequest {
    /// What the code will grant, once a user is signed in.
    pub(crate) grant: AuthRequest,
    /// The `prompt` values.
    pub(crate) prompt: Prompt,
    /// `max_age`: how old a session may be to answer without a new sign-in.
    max_age: Option<i64>,
    /// The user an `id_token_hint` names.
    hinted_user: Option<String>,
    /// Whether the sign-up form comes first: `prompt=create`, Kinde's
    /// `start_page=registration`, or `is_create_org=true`.
    pub(crate) wants_sign_up: bool,
    /// `login_hint` when it is an email: prefills the forms.
    pub(crate) login_hint: Option<String>,
    /// `org_name` of `is_create_org=true`: the organization created once the user is signed
    /// in.
    pub(crate) create_org: Option<String>,
    /// `is_create_org=true` without `org_name`: the user names the organization once signed
    /// in.
    pub(crate) ask_org_name: bool,
}

/// The `prompt` values of a request (OIDC Core §3.1.2.1, Initiating User Registration 1.0).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Prompt {
    /// `none`: no page may be shown.
    pub(crate) none: bool,
    /// `login`: the user signs in again, whatever session there is.
    pub(crate) login: bool,
    /// `create`: the sign-up form.
    pub(crate) create: bool,
}

/// Why an authorization request is refused.
#[derive(Debug)]
pub(crate) enum AuthorizeError {
    /// The client or the redirect URI cannot be trusted (or the request cannot be read): an
    /// error page (400) saying this, never a redirect.
    Page(&'static str),
    /// Everything else: back to the application's redirect URI with the error.
    Redirect(ErrorRedirect),
}

/// An error answer to send back to the application (RFC 6749 §4.1.2.1).
#[derive(Debug)]
pub(crate) struct ErrorRedirect {
    pub(crate) redirect_uri: String,
    pub(crate) state: Option<String>,
    pub(crate) error: &'static str,
    pub(crate) description: Cow<'static, str>,
}

impl ErrorRedirect {
    /// `error` for the application of `grant`, at its redirect URI and with its `state`.
    pub(crate) fn to(
        grant: &AuthRequest,
        error: &'static str,
        description: impl Into<Cow<'static, str>>,
    ) -> ErrorRedirect {
        ErrorRedirect {
            redirect_uri: grant.redirect_uri.clone(),
            state: grant.state.clone(),
            error,
            description: description.into(),
        }
    }
}

/// The parameters of a request: the first value of each name, empty values dropped, and the
/// first name that came twice.
struct Params {
    pairs: Vec<(String, String)>,
    repeated: Option<String>,
}

impl Params {
    fn read(query: &[u8]) -> Result<Params, AuthorizeError> {
        let mut pairs: Vec<(String, String)> = Vec::new();
        let mut repeated = None;
        for (i, (k, v)) in url::form_urlencoded::parse(query).enumerate() {
            if i >= MAX_PARAMS {
                return Err(AuthorizeError::Page(
                    "The sign-in request has too many parameters.",
                ));
            }
            // RFC 6749 §3.1: a parameter sent without a value is treated as omitted.
            if v.is_empty() {
                continue;
            }
            if k != super::form::MAY_REPEAT && pairs.iter().any(|(seen, _)| *seen == k) {
                repeated.get_or_insert_with(|| k.to_string());
                continue;
            }
            pairs.push((k.into_owned(), v.into_owned()));
        }
        Ok(Params { pairs, repeated })
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

impl AuthorizationRequest {
    /// Reads and checks the request in `query` (a query string or a form body).
    pub(crate) async fn parse(
        state: &AppState,
        query: &[u8],
    ) -> Result<Result<AuthorizationRequest, AuthorizeError>, ServerError> {
        let params = match Params::read(query) {
            Ok(params) => params,
            Err(e) => return Ok(Err(e)),
        };
        let get = |name: &str| params.get(name);

        // 1. Client and redirect URI, before anything else; never redirect when either is wrong.
        let page = |message| Ok(Err(AuthorizeError::Page(message)));
        let Some(client_id) = get("client_id") else {
            return page("The request names no application (client_id).");
        };
        let store = state.store();
        // A `client_id` that is not a client id is answered as an unknown one.
        let app = match ClientId::parse(client_id) {
            Ok(id) => store.application_by_client_id(&id).await?,
            Err(_) => None,
        };
        let app = match app {
            Some(app) if app.app_type.signs_users_in() => app,
            _ => return page("This application is not registered for sign-in."),
        };
        let registered = store.application_urls(&app.id, "login").await?;
        // The requested string itself is kept (and bound to the code): with a loopback port
        // it is what the token request must repeat exactly.
        let Some(redirect_uri) =
            get("redirect_uri").filter(|r| registered.iter().any(|u| redirect_uri_matches(u, r)))
        else {
            return page("The redirect URI is not registered for this application.");
        };
        if let Some(name) = &params.repeated
            && (name == "client_id" || name == "redirect_uri")
        {
            return page("A parameter is repeated.");
        }
        let st = get("state");
        let fail = |error: &'static str, description: Cow<'static, str>| {
            Ok(Err(AuthorizeError::Redirect(ErrorRedirect {
                redirect_uri: redirect_uri.to_owned(),
                state: st.map(str::to_owned),
                error,
                description,
            })))
        };
        let invalid = |description: &'static str| fail("invalid_request", description.into());

        // 2. Everything else is answered by redirecting back.
        if let Some(name) = &params.repeated {
            return fail(
                "invalid_request",
                format!("parameter {name} is repeated").into(),
            );
        }
        if get("request").is_some() {
            return fail(
                "request_not_supported",
                "request objects are not supported".into(),
            );
        }
        if get("request_uri").is_some() {
            return fail(
                "request_uri_not_supported",
                "request_uri is not supported".into(),
            );
        }
        if get("response_type") != Some("code") {
            return fail(
                "unsupported_response_type",
                "only response_type=code is supported".into(),
            );
        }
        let code_challenge = get("code_challenge");
        match (code_challenge, get("code_challenge_method")) {
            (Some(c), Some("S256")) if is_pkce_value(c) => {}
            (Some(_), Some("S256")) => return invalid("code_challenge is malformed"),
            (Some(_), _) => {
                return invalid("code_challenge_method must be S256 (plain is not accepted)");
            }
            (None, Some(_)) => return invalid("code_challenge_method without code_challenge"),
            (None, None) if app.app_type == AppType::Spa => {
                return invalid("single-page applications must use PKCE (S256)");
            }
            (None, None) => {}
        }
        let scopes = match requested_scopes(get("scope")) {
            Ok(scopes) => scopes,
            Err(e) => return fail("invalid_scope", e.to_string().into()),
        };
        let Some(audiences) = granted_audiences(state, &app.id, get("audience")).await? else {
            return fail(
                "invalid_target",
                "the application may not use that audience".into(),
            );
        };
        let Some(prompt) = Prompt::parse(get("prompt").unwrap_or("")) else {
            return invalid("supported prompt values are none, login and create");
        };
        // OIDC Core §3.1.2.1: `none` with any other value is an error.
        if prompt.none && (prompt.login || prompt.create) {
            return invalid("prompt=none cannot be combined with other values");
        }
        let max_age = match get("max_age").map(parse_max_age) {
            None => None,
            Some(Some(secs)) => Some(secs),
            Some(None) => {
                return invalid("max_age must be a whole number of seconds from 0 to 2147483647");
            }
        };
        // `is_create_org=true` with `org_name`: created at sign-in; without: named on a form.
        let (create_org, ask_org_name) = match get("is_create_org") {
            Some("true") => match get("org_name").map(crate::domain::org_name) {
                Some(Ok(name)) => (Some(name), false),
                Some(Err(why)) => return invalid(why),
                None => (None, true),
            },
            _ => (None, false),
        };
        let wants_sign_up = prompt.create
            || get("start_page") == Some("registration")
            || create_org.is_some()
            || ask_org_name;
        if wants_sign_up && prompt.none {
            return invalid("prompt=none cannot be combined with sign-up");
        }
        let hinted_user = match get("id_token_hint") {
            None => None,
            Some(h) => match hint::subject(state, &app.client_id, h, state.now()).await? {
                Some(sub) => Some(sub),
                None => {
                    return invalid(
                        "id_token_hint is not an ID token this server issued to this application",
                    );
                }
            },
        };
        // Kinde's `username:joe` and `phone:+44…:gb` hints have no form field here: ignored.
        let login_hint = get("login_hint")
            .filter(|h| crate::domain::Email::parse(h).is_ok())
            .map(|h| h.trim().to_owned());
        Ok(Ok(AuthorizationRequest {
            grant: AuthRequest {
                client_id: app.client_id,
                redirect_uri: redirect_uri.to_owned(),
                state: st.map(str::to_owned),
                nonce: get("nonce").map(str::to_owned),
                code_challenge: code_challenge.map(str::to_owned),
                scopes,
                audiences,
                org_code: get("org_code").map(str::to_owned),
                user_id: String::new(),
                auth_time: 0,
            },
            prompt,
            max_age,
            hinted_user,
            wants_sign_up,
            login_hint,
            create_org,
            ask_org_name,
        }))
    }

    /// Whether `session` may answer this request without a new sign-in: not with
    /// `prompt=login`, not when it is older than `max_age` (`max_age=0` always asks), and not
    /// when the `id_token_hint` names another user.
    pub(crate) fn accepts_session(&self, session: &SessionRecord, now: i64) -> bool {
        let fresh_enough = self
            .max_age
            .is_none_or(|m| m > 0 && now.saturating_sub(session.auth_time) <= m);
        let same_user = self
            .hinted_user
            .as_deref()
            .is_none_or(|sub| sub == session.user_id);
        fresh_enough && same_user && !self.prompt.login
    }

    /// An error answer to this request's application.
    pub(crate) fn refuse(&self, error: &'static str, description: &'static str) -> ErrorRedirect {
        ErrorRedirect::to(&self.grant, error, description)
    }
}

// The authorization response (RFC 6749 §4.1.2, RFC 9207): a code, or an error.

/// An error sent back to the application: `error`, `error_description`, `state` exactly as
/// sent, and `iss` (RFC 9207), with `303 See Other`.
pub(crate) fn error_redirect(state: &AppState, e: ErrorRedirect) -> Response {
    let description = crate::error::error_description(&e.description);
    let mut params = vec![("error", e.error), ("error_description", &*description)];
    if let Some(s) = &e.state {
        params.push(("state", s));
    }
    params.push(("iss", state.issuer()));
    redirect(&back_to(&e.redirect_uri, &params))
}

/// Issues a code for a signed-in user, a member of `orgs` (the codes of their organizations),
/// and redirects back.
pub(crate) async fn issue_code(
    state: &AppState,
    mut request: AuthRequest,
    session: &SessionRecord,
    orgs: Vec<String>,
) -> Result<Response, ServerError> {
    match &request.org_code {
        Some(org) if !orgs.contains(org) => {
            return Ok(error_redirect(
                state,
                ErrorRedirect::to(
                    &request,
                    "access_denied",
                    "the user is not a member of that organization",
                ),
            ));
        }
        Some(_) => {}
        // No org_code: a member of exactly one organization is signed into it, so the token
        // carries its roles and permissions; a member of several has chosen one on the hosted
        // chooser before this — unless the request was `prompt=none`, which shows no page:
        // then no organization.
        None => request.org_code = crate::domain::default_org(orgs),
    }
    request.user_id = session.user_id.clone();
    request.auth_time = session.auth_time;
    let code = random_token();
    let data = serde_json::to_string(&request).map_err(|e| ServerError::Config(e.to_string()))?;
    state
        .store()
        .create_code(
            &hash_secret(&code),
            &data,
            state.now() + state.inner.settings.code_ttl,
        )
        .await?;
    let mut params = vec![("code", code.as_str())];
    if let Some(s) = &request.state {
        params.push(("state", s));
    }
    params.push(("iss", state.issuer()));
    Ok(redirect(&back_to(&request.redirect_uri, &params)))
}

impl Prompt {
    /// The space-separated `prompt` values; `None` when one is unknown.
    fn parse(value: &str) -> Option<Prompt> {
        let mut prompt = Prompt::default();
        for p in value.split(' ').filter(|p| !p.is_empty()) {
            match p {
                "none" => prompt.none = true,
                "login" => prompt.login = true,
                "create" => prompt.create = true,
                _ => return None,
            }
        }
        Some(prompt)
    }
}

/// Whether `requested` may be used for the registered redirect URI `registered`: the same
/// string, or — for a registered `http://127.0.0.1` or `http://[::1]` URI — the same string
/// with any port (RFC 8252 §7.3: native apps listen on an ephemeral loopback port).
pub(crate) fn redirect_uri_matches(registered: &str, requested: &str) -> bool {
    if registered == requested {
        return true;
    }
    match (loopback_parts(registered), loopback_parts(requested)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

/// `(scheme and host, everything after the port)` of an `http` URI whose host is the literal
/// loopback IP `127.0.0.1` or `[::1]`; `None` for anything else. The port, when present, must
/// be 1–65535 without leading zeros, and must be followed by the path (or nothing), so
/// `http://127.0.0.1:80@evil.example/` is not loopback. `localhost` is deliberately not
/// included (RFC 8252 §8.3): it stays matched exactly.
fn loopback_parts(uri: &str) -> Option<(&'static str, &str)> {
    for host in ["http://127.0.0.1", "http://[::1]"] {
        let Some(after) = uri.strip_prefix(host) else {
            continue;
        };
        let rest = match after.strip_prefix(':') {
            Some(port_and_rest) => {
                let end = port_and_rest
                    .find(|c: char| !c.is_ascii_digit())
                    .unwrap_or(port_and_rest.len());
                let port = &port_and_rest[..end];
                let valid = !port.starts_with('0') && port.parse::<u16>().is_ok_and(|p| p > 0);
                if !valid {
                    return None;
                }
                &port_and_rest[end..]
            }
            None => after,
        };
        return (rest.is_empty() || rest.starts_with('/')).then_some((host, rest));
    }
    None
}

/// `max_age` (OIDC Core §3.1.2.1): decimal seconds from 0 to [`MAX_MAX_AGE`], digits only.
fn parse_max_age(value: &str) -> Option<i64> {
    if value.is_empty() || value.len() > 10 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse::<i64>().ok().filter(|v| *v <= MAX_MAX_AGE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_redirects_match_on_any_port_only() {
        let v4 = "http://127.0.0.1/cb";
        assert!(redirect_uri_matches(v4, v4));
        assert!(redirect_uri_matches(v4, "http://127.0.0.1:53123/cb"));
        assert!(redirect_uri_matches(
            "http://127.0.0.1:80/cb",
            "http://127.0.0.1/cb"
        ));
        assert!(redirect_uri_matches(
            "http://[::1]:8080/cb?a=b",
            "http://[::1]:1/cb?a=b"
        ));
        assert!(redirect_uri_matches(
            "http://127.0.0.1",
            "http://127.0.0.1:9"
        ));
        for bad in [
            "http://127.0.0.1:53123/cb?x=1",
            "http://127.0.0.1:53123/other",
            "https://127.0.0.1:53123/cb",
            "http://127.0.0.1:0/cb",
            "http://127.0.0.1:65536/cb",
            "http://127.0.0.1:01/cb",
            "http://127.0.0.1:/cb",
            "http://127.0.0.1:80@evil.example/cb",
            "http://127.0.0.1.evil.example/cb",
            "http://[::1]:5/cb",
        ] {
            assert!(!redirect_uri_matches(v4, bad), "{bad}");
        }
        // `localhost` and other hosts: exact only.
        assert!(!redirect_uri_matches(
            "http://localhost/cb",
            "http://localhost:1/cb"
        ));
        assert!(!redirect_uri_matches(
            "https://app.example/cb",
            "https://app.example:443/cb"
        ));
    }

    #[test]
    fn max_age_is_digits_within_range() {
        assert_eq!(parse_max_age("0"), Some(0));
        assert_eq!(parse_max_age("3600"), Some(3600));
        assert_eq!(parse_max_age("2147483647"), Some(2_147_483_647));
        for bad in [
            "",
            "-1",
            "+1",
            "abc",
            "1.5",
            " 1",
            "2147483648",
            "9007199254740991",
        ] {
            assert_eq!(parse_max_age(bad), None, "{bad:?}");
        }
    }
}
