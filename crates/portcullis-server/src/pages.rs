//! Hosted pages: server-rendered HTML that works without JavaScript. Every value is escaped;
//! every page is sent with (docs/security.md case 59):
//!
//! - `Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'; frame-ancestors
//!   'none'; base-uri 'none'` (no scripts at all, never framed) and `X-Frame-Options: DENY` for
//!   browsers without CSP level 2;
//! - `X-Content-Type-Options: nosniff`, `Cache-Control: no-store` (and `Pragma: no-cache`);
//! - `Referrer-Policy: same-origin`;
//! - `Strict-Transport-Security: max-age=31536000` when the issuer is `https://` — added to
//!   every response by [`transport_security`], since a page does not know the issuer. Without
//!   `includeSubDomains`: the issuer's parent domain may host sites that are not ours.
//!
//! Two choices a real browser forces (found by the headless-Chromium test):
//! - `Referrer-Policy: same-origin`, not `no-referrer`: with `no-referrer`, Chromium sends
//!   `Origin: null` on the form's same-origin POST, which the cross-site check must refuse.
//!   Other sites still get no referrer, so a page or redirect that carries a code or an
//!   interaction id never leaks it to another origin (what case 59's `no-referrer` is for).
//! - No `form-action` directive: Chromium applies it to the whole redirect chain of a form
//!   submission, and a successful sign-in answers with a 303 to the application's (other-origin)
//!   callback. The pages have no scripts and every value is escaped, so no foreign form can be
//!   injected to exploit its absence.

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::AppState;

/// HSTS for one year (docs/security.md case 59 asks for at least a year).
const HSTS: &str = "max-age=31536000";

/// Middleware: `Strict-Transport-Security` on every response when the issuer is `https://`
/// (never over plain `http://`, where browsers ignore it and a development setup must keep
/// working).
pub(crate) async fn transport_security(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let mut response = next.run(request).await;
    if state.issuer().starts_with("https://") {
        response.headers_mut().insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(HSTS),
        );
    }
    response
}

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(s: &str) -> String {
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

const STYLE: &str = "body{font-family:system-ui,sans-serif;background:#f4f5f7;margin:0;color:#1d2330}\
main{max-width:24rem;margin:4rem auto;background:#fff;padding:2rem;border-radius:12px;\
box-shadow:0 2px 12px rgba(0,0,0,.08)}h1{font-size:1.4rem;margin:0 0 1.5rem}\
label{display:block;font-weight:600;margin:1rem 0 .3rem}input{width:100%;box-sizing:border-box;\
padding:.6rem;border:1px solid #9aa3b5;border-radius:6px;font-size:1rem}\
button{margin-top:1.5rem;width:100%;padding:.7rem;border:0;border-radius:6px;background:#2d4ee0;\
color:#fff;font-size:1rem;font-weight:600;cursor:pointer}button:focus,input:focus{outline:3px solid #f5b400}\
.error{background:#fdecec;color:#8a1212;padding:.7rem;border-radius:6px}\
fieldset{border:0;padding:0;margin:0}legend{font-weight:600;padding:0}\
.choice{display:flex;align-items:center;gap:.6rem;margin:.6rem 0}.choice input{width:auto;margin:0}\
.choice label{margin:0;font-weight:400}.code{color:#4a5468;font-size:.9rem}";

/// A complete page with the security headers.
pub fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{title}</title><style>{STYLE}</style></head><body><main>{body}</main></body></html>",
        title = escape(title),
    );
    let mut response = (status, html).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    // `same-origin`, not `no-referrer`: Chromium sends `Origin: null` on a form post from a
    // `no-referrer` page, and the cross-site check of the forms must then refuse it.
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    response
}

/// The error page shown when the request cannot be answered by redirecting (unknown client or
/// unregistered redirect URI: never redirect, RFC 6749 §4.1.2.1).
pub fn error(status: StatusCode, message: &str) -> Response {
    page(
        status,
        "Sign-in error",
        &format!(
            "<h1>Something is wrong with this sign-in link</h1><p class=\"error\" role=\"alert\">{}</p>\
             <p>Go back to the application and try again.</p>",
            escape(message)
        ),
    )
}

/// The page shown when the server could not complete a step of the sign-in (the cause is
/// logged by the caller, never shown): `503` with `Retry-After` when the database is unavailable
/// for now (the same step may succeed in a moment), `500` otherwise.
pub fn failure(unavailable: bool, message: &str) -> Response {
    if !unavailable {
        return error(StatusCode::INTERNAL_SERVER_ERROR, message);
    }
    let mut response = page(
        StatusCode::SERVICE_UNAVAILABLE,
        "Try again shortly",
        &format!(
            "<h1>Sign-in is unavailable just now</h1><p class=\"error\" role=\"alert\">{}</p>\
             <p>Nothing was changed. Wait a moment, then go back and try again.</p>",
            escape(message)
        ),
    );
    response.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from(crate::error::UNAVAILABLE_RETRY_AFTER_SECS),
    );
    response
}

fn alert(error: Option<&str>) -> String {
    error
        .map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>", escape(e)))
        .unwrap_or_default()
}

/// The sign-in form. `error` is shown above the fields (the same text for an unknown email and
/// a wrong password: no user enumeration). Links to the sign-up form of the same interaction
/// (the link carries the interaction id only).
pub fn sign_in(interaction: &str, csrf: &str, email: &str, error: Option<&str>) -> Response {
    page(
        StatusCode::OK,
        "Sign in",
        &format!(
            "<h1>Sign in</h1>{alert}\
             <form method=\"post\" action=\"/oauth2/auth/sign-in\">\
             <input type=\"hidden\" name=\"interaction\" value=\"{interaction}\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
             <label for=\"email\">Email</label>\
             <input id=\"email\" name=\"email\" type=\"email\" autocomplete=\"username\" required value=\"{email}\">\
             <label for=\"password\">Password</label>\
             <input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required>\
             <button type=\"submit\">Sign in</button></form>\
             <p>No account yet? <a href=\"/oauth2/auth/sign-up?interaction={interaction}\">Create an account</a></p>",
            alert = alert(error),
            interaction = escape(interaction),
            csrf = escape(csrf),
            email = escape(email),
        ),
    )
}

/// What the sign-up form shows again after a refused submission (never the password).
#[derive(Debug, Default, Clone, Copy)]
pub struct SignUpFields<'a> {
    /// Email as entered.
    pub email: &'a str,
    /// Given name as entered.
    pub given_name: &'a str,
    /// Family name as entered.
    pub family_name: &'a str,
    /// The organization that will be created with the account, if any.
    pub org_name: Option<&'a str>,
    /// `is_create_org=true` without a name: the organization is named on the next page.
    pub org_named_next: bool,
}

/// The sign-up form (`prompt=create`, `start_page=registration`, `is_create_org=true`). Links
/// back to the sign-in form of the same interaction.
pub fn sign_up(
    interaction: &str,
    csrf: &str,
    fields: &SignUpFields<'_>,
    error: Option<&str>,
) -> Response {
    let org = fields
        .org_name
        .map(|o| {
            format!(
                "<p>Your account will be the first member of the organization <strong>{}</strong>.</p>",
                escape(o)
            )
        })
        .unwrap_or_else(|| {
            if fields.org_named_next {
                "<p>Next, you will name your organization.</p>".to_owned()
            } else {
                String::new()
            }
        });
    page(
        StatusCode::OK,
        "Create your account",
        &format!(
            "<h1>Create your account</h1>{org}{alert}\
             <form method=\"post\" action=\"/oauth2/auth/sign-up\">\
             <input type=\"hidden\" name=\"interaction\" value=\"{interaction}\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
             <label for=\"given_name\">First name</label>\
             <input id=\"given_name\" name=\"given_name\" type=\"text\" autocomplete=\"given-name\" maxlength=\"100\" value=\"{given}\">\
             <label for=\"family_name\">Last name</label>\
             <input id=\"family_name\" name=\"family_name\" type=\"text\" autocomplete=\"family-name\" maxlength=\"100\" value=\"{family}\">\
             <label for=\"email\">Email</label>\
             <input id=\"email\" name=\"email\" type=\"email\" autocomplete=\"email\" maxlength=\"254\" required value=\"{email}\">\
             <label for=\"password\">Password</label>\
             <input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"new-password\" minlength=\"8\" required aria-describedby=\"password-help\">\
             <p id=\"password-help\">At least 8 characters, and not your email address.</p>\
             <button type=\"submit\">Create account</button></form>\
             <p>Already have an account? <a href=\"/oauth2/auth/sign-in?interaction={interaction}\">Sign in</a></p>",
            alert = alert(error),
            interaction = escape(interaction),
            csrf = escape(csrf),
            given = escape(fields.given_name),
            family = escape(fields.family_name),
            email = escape(fields.email),
        ),
    )
}

/// The hosted "Create your organization" form, shown once the user is signed in when the
/// application asked for `is_create_org=true` without an `org_name`. `status` is 200, or 400
/// when `error` explains why the submitted name was refused (`org_name` is then shown again).
pub fn create_org(
    status: StatusCode,
    interaction: &str,
    csrf: &str,
    org_name: &str,
    error: Option<&str>,
) -> Response {
    let invalid = if error.is_some() {
        " aria-invalid=\"true\""
    } else {
        ""
    };
    page(
        status,
        "Create your organization",
        &format!(
            "<h1>Create your organization</h1>{alert}\
             <p>You are signed in. Name your organization: you will be its first member.</p>\
             <form method=\"post\" action=\"/oauth2/auth/create-org\">\
             <input type=\"hidden\" name=\"interaction\" value=\"{interaction}\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
             <label for=\"org_name\">Organization name</label>\
             <input id=\"org_name\" name=\"org_name\" type=\"text\" autocomplete=\"organization\" maxlength=\"100\" required aria-describedby=\"org-name-help\"{invalid} value=\"{org_name}\">\
             <p id=\"org-name-help\">At most 100 characters.</p>\
             <button type=\"submit\">Create organization</button></form>",
            alert = alert(error),
            interaction = escape(interaction),
            csrf = escape(csrf),
            org_name = escape(org_name),
        ),
    )
}

/// The hosted organization chooser, shown once the user is signed in when they belong to
/// several organizations and the application named none. `orgs` are `(code, name)`; `status`
/// is 200, or 400 / 403 when `error` explains why the submitted choice was refused.
pub fn choose_org(
    status: StatusCode,
    interaction: &str,
    csrf: &str,
    orgs: &[(String, String)],
    error: Option<&str>,
) -> Response {
    let choices: String = orgs
        .iter()
        .enumerate()
        .map(|(i, (code, name))| {
            // The first one is preselected: one press of Continue (or Enter) goes on.
            let checked = if i == 0 { " checked" } else { "" };
            format!(
                "<div class=\"choice\"><input type=\"radio\" id=\"org-{i}\" name=\"org_code\" \
                 value=\"{code}\" required{checked}><label for=\"org-{i}\">{name} \
                 <span class=\"code\">({code})</span></label></div>",
                code = escape(code),
                name = escape(name),
            )
        })
        .collect();
    page(
        status,
        "Choose an organization",
        &format!(
            "<h1>Choose an organization</h1>{alert}\
             <p>You are signed in, and you belong to several organizations. Which one do you want to use?</p>\
             <form method=\"post\" action=\"/oauth2/auth/choose-org\">\
             <input type=\"hidden\" name=\"interaction\" value=\"{interaction}\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
             <fieldset><legend>Organization</legend>{choices}</fieldset>\
             <button type=\"submit\">Continue</button></form>",
            alert = alert(error),
            interaction = escape(interaction),
            csrf = escape(csrf),
        ),
    )
}

/// A `303 See Other` to `location`, never cached (never 307, which would replay a form post:
/// RFC 9700 §4.12).
pub(crate) fn redirect(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `redirect_uri` with response parameters added (keeping its own query).
pub(crate) fn back_to(redirect_uri: &str, params: &[(&str, &str)]) -> String {
    let mut url = match url::Url::parse(redirect_uri) {
        Ok(u) => u,
        Err(_) => return redirect_uri.to_owned(),
    };
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in params {
            q.append_pair(k, v);
        }
    }
    url.to_string()
}

/// A hosted page's answer, or — when the server failed (`what` failed, logged) — a page saying
/// `message`: 503 with `Retry-After` while the database is unavailable, 500 otherwise; the
/// error itself is never shown.
pub(crate) fn or_server_error(
    result: Result<Response, crate::error::ServerError>,
    what: &str,
    message: &str,
) -> Response {
    result.unwrap_or_else(|e| {
        if e.is_unavailable() {
            tracing::warn!(error = %e, "{what} failed: database unavailable");
        } else {
            tracing::error!(error = %e, "{what} failed");
        }
        failure(e.is_unavailable(), message)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_everything_that_matters() {
        assert_eq!(
            escape(r#"<script>"x"&'y'</script>"#),
            "&lt;script&gt;&quot;x&quot;&amp;&#39;y&#39;&lt;/script&gt;"
        );
    }

    #[tokio::test]
    async fn the_organization_chooser_escapes_names_and_codes() {
        let orgs = [
            ("org_a\"><script>".to_owned(), "<img src=x>".to_owned()),
            ("org_b".to_owned(), "B & Co".to_owned()),
        ];
        let page = choose_org(StatusCode::FORBIDDEN, "i", "c", &orgs, Some("<b>no</b>"));
        assert_eq!(page.status(), StatusCode::FORBIDDEN);
        let body = axum::body::to_bytes(page.into_body(), usize::MAX)
            .await
            .unwrap();
        let html = String::from_utf8(body.to_vec()).unwrap();
        assert!(
            !html.contains("<script>") && !html.contains("<img") && !html.contains("<b>"),
            "{html}"
        );
        assert!(html.contains("value=\"org_a&quot;&gt;&lt;script&gt;\""));
        assert!(html.contains("<label for=\"org-1\">B &amp; Co "));
        assert!(html.contains("<legend>Organization</legend>"));
        assert!(html.contains("role=\"alert\""));
    }

    #[tokio::test]
    async fn the_create_organization_form_escapes_what_it_shows_again() {
        let page = create_org(
            StatusCode::BAD_REQUEST,
            "i\"d",
            "c<s>rf",
            "\"><script>",
            Some("<b>no</b>"),
        );
        assert_eq!(page.status(), StatusCode::BAD_REQUEST);
        let body = axum::body::to_bytes(page.into_body(), usize::MAX)
            .await
            .unwrap();
        let html = String::from_utf8(body.to_vec()).unwrap();
        assert!(
            !html.contains("<script>") && !html.contains("<b>"),
            "{html}"
        );
        assert!(html.contains("value=\"&quot;&gt;&lt;script&gt;\""));
        assert!(html.contains("name=\"csrf\" value=\"c&lt;s&gt;rf\""));
        assert!(html.contains("aria-invalid=\"true\""));
    }
}
