//! Browser sign-in through the ready-made routes against the real identity server, on the
//! memory store and on real Redis: docs/security.md cases 27, 35, 37, 44–47, and refresh (33).
//! Each behaviour runs against [`Framework::serve_sessions`]'s app.

use std::time::Duration;

use portcullis::Config;
use portcullis::clock::ManualClock;
use portcullis::oauth::{AuthClient, TokenTypeHint};
use portcullis::web::MAX_PENDING;
use portcullis_server::testing::TestIssuer;
use serde_json::Value;

use crate::{
    ADA, API, AuthSpec, BOB, CALLBACK, Framework, LOGOUT, PASSWORD, Store, WEB, WEB_SECRET,
    futures_join, http, issuer, location, redis_url, tenant, web_config,
};

/// Serves the browser app with the default web configuration.
async fn serve_on<F: Framework>(store: Store, issuer: &TestIssuer) -> String {
    F::serve_sessions(AuthSpec::config(web_config(issuer)), store).await
}

/// A browser for the app: keeps its cookies by hand (the session cookie apart, in `cookie`;
/// the others by name, sent where their `Path` matches), follows no redirect.
struct Browser {
    base: String,
    /// The name of the session cookie.
    session_cookie: &'static str,
    cookie: Option<String>,
    /// Cookies other than the session's: (name, path, value).
    jar: Vec<(String, String, String)>,
    /// The `Set-Cookie` headers of the last answer.
    set_cookies: Vec<String>,
}

impl Browser {
    /// A browser without cookies for the app at `base` of the framework `F`.
    fn new<F: Framework>(base: &str) -> Self {
        Browser {
            base: base.to_owned(),
            session_cookie: F::SESSION_COOKIE,
            cookie: None,
            jar: Vec::new(),
            set_cookies: Vec::new(),
        }
    }

    /// The `Cookie` header this browser sends to `path`, if any.
    fn cookie_header(&self, path: &str) -> Option<String> {
        let path = path.split('?').next().unwrap_or("");
        let mut pairs: Vec<String> = self
            .cookie
            .iter()
            .map(|value| format!("{}={value}", self.session_cookie))
            .collect();
        for (name, cookie_path, value) in &self.jar {
            let matches = path == cookie_path
                || (path.starts_with(cookie_path.as_str())
                    && (cookie_path.ends_with('/') || path[cookie_path.len()..].starts_with('/')));
            if matches {
                pairs.push(format!("{name}={value}"));
            }
        }
        (!pairs.is_empty()).then(|| pairs.join("; "))
    }

    /// Keeps (or removes) the cookies an answer sets.
    fn absorb(&mut self, response: &reqwest::Response) {
        self.set_cookies = response
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect();
        for set in &self.set_cookies {
            let mut attributes = set.split(';');
            let pair = attributes.next().unwrap_or("");
            let Some((name, value)) = pair.split_once('=') else {
                continue;
            };
            let name = name.trim().to_owned();
            let mut path = "/".to_owned();
            let mut gone = value.is_empty();
            for a in attributes {
                let a = a.trim();
                if a.eq_ignore_ascii_case("max-age=0") {
                    gone = true;
                } else if a.len() > 5 && a[..5].eq_ignore_ascii_case("path=") {
                    path = a[5..].to_owned();
                }
            }
            if name == self.session_cookie {
                self.cookie = if gone { None } else { Some(value.to_owned()) };
                continue;
            }
            self.jar.retain(|(n, p, _)| !(n == &name && p == &path));
            if !gone {
                self.jar.push((name, path, value.to_owned()));
            }
        }
    }

    /// `GET path` with this browser's cookies; keeps the cookies of the answer.
    async fn get(&mut self, path: &str) -> reqwest::Response {
        let mut request = http().get(format!("{}{path}", self.base));
        if let Some(value) = self.cookie_header(path) {
            request = request.header("cookie", value);
        }
        let response = request.send().await.unwrap();
        self.absorb(&response);
        response
    }
}

fn encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// `/login?…` in the app: the provider's authorization URL it redirects to.
async fn start(browser: &mut Browser, query: &str) -> String {
    let r = browser.get(&format!("/login?{query}")).await;
    assert_eq!(r.status(), 303, "{:?}", r.text().await);
    location(&r)
}

/// The signed-in provider's redirect back to the app, as a path of the app.
async fn provider_sign_in(issuer: &TestIssuer, authorize_url: &str, email: &str) -> String {
    let callback = issuer
        .browser_sign_in(authorize_url, email, PASSWORD)
        .await
        .expect("the hosted sign-in succeeds");
    let url = url::Url::parse(&callback).unwrap();
    assert_eq!(url.path(), "/callback");
    format!("/callback?{}", url.query().unwrap_or(""))
}

/// A whole sign-in; returns the app's answer to the callback.
async fn sign_in(
    issuer: &TestIssuer,
    browser: &mut Browser,
    email: &str,
    query: &str,
) -> reqwest::Response {
    let authorize = start(browser, query).await;
    let callback = provider_sign_in(issuer, &authorize, email).await;
    browser.get(&callback).await
}

fn state_of(authorize_url: &str) -> String {
    url::Url::parse(authorize_url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned()
}

async fn json_of(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Sign-in: cookie attributes (case 44), a sealed login cookie, a new session id (case 45),
/// the user served by `/user`, `/me`, typed guards and guard middleware; a bearer header
/// comes first.
pub async fn sign_in_stores_the_session_and_serves_the_user<F: Framework>(store: Store) {
    let issuer = issuer().await;
    let base = serve_on::<F>(store, &issuer).await;
    let mut browser = Browser::new::<F>(&base);
    let (status, body) = json_of(browser.get("/user").await).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("unauthenticated"))
    );

    // The app keeps something in the session before the sign-in (case 45 below).
    browser.get("/test/visit").await;
    // Case 44: the session cookie's attributes.
    let set = browser.set_cookies.join("\n");
    assert!(set.starts_with(&format!("{}=", F::SESSION_COOKIE)), "{set}");
    for attribute in ["Secure", "HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(set.contains(attribute), "{attribute} missing: {set}");
    }
    assert!(!set.to_ascii_lowercase().contains("domain="), "{set}");
    let before = browser.cookie.clone().expect("a session cookie");

    let authorize = start(
        &mut browser,
        "org_code=org_acme&return_to=%2Fdashboard%3Ftab%3D1",
    )
    .await;
    assert!(authorize.starts_with(&format!("{}/oauth2/auth?", issuer.url())));
    // Case 44: the sign-in is in a short-lived cookie of its own, sealed (the redirect URI is
    // plain-http localhost: not `Secure`, so no `__Host-` prefix); the session is untouched
    // (a session middleware may re-send its cookie: actix-session extends its lifetime on
    // every request).
    if !F::RESENDS_SESSION_COOKIE {
        assert_eq!(browser.set_cookies.len(), 1, "{:?}", browser.set_cookies);
    }
    let logins: Vec<&String> = browser
        .set_cookies
        .iter()
        .filter(|c| c.starts_with("portcullis-login-"))
        .collect();
    let [set] = logins[..] else {
        panic!("one login cookie: {:?}", browser.set_cookies);
    };
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=600"] {
        assert!(set.contains(attribute), "{attribute} missing: {set}");
    }
    assert!(!set.to_ascii_lowercase().contains("domain="), "{set}");
    assert!(set.len() < 4096, "{set}");
    assert!(!set.contains(&state_of(&authorize)), "{set}");

    let callback = provider_sign_in(&issuer, &authorize, ADA).await;
    let r = browser.get(&callback).await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/dashboard?tab=1");
    assert!(r.headers().get("cache-control").is_some());
    assert!(browser.jar.is_empty(), "the login cookie is cleared");
    // Case 45: a new session id after sign-in; the old one is not signed in.
    let after = browser.cookie.clone().expect("a session cookie");
    assert_ne!(before, after);
    let mut fixed = Browser::new::<F>(&base);
    fixed.cookie = Some(before);
    assert_eq!(fixed.get("/user").await.status(), 401);

    let (status, body) = json_of(browser.get("/user").await).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["id_token"]["email"], ADA);
    assert_eq!(body["access_token"]["org_code"], "org_acme");
    assert!(body.to_string().find("refresh_token").is_none());
    // The session authenticates the app's own routes and guards.
    let (status, body) = json_of(browser.get("/me").await).await;
    assert_eq!((status, body["via"].as_str()), (200, Some("Session")));
    // The session's tokens reach the handler (e.g. to call another API).
    assert_eq!(body["email"], ADA);
    assert_eq!(browser.get("/admin").await.status(), 200);
    assert_eq!(browser.get("/guarded").await.status(), 200);
    assert_eq!(Browser::new::<F>(&base).get("/guarded").await.status(), 401);
    // A bearer header comes first: a bad one is refused even with a signed-in session.
    let r = http()
        .get(format!("{base}/me"))
        .header("cookie", format!("{}={after}", F::SESSION_COOKIE))
        .bearer_auth("not-a-jwt")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

/// `/register` and `/create-org` open the provider's hosted pages; a parameter given twice is
/// refused.
pub async fn register_and_create_org_open_the_hosted_pages<F: Framework>() {
    let issuer = issuer().await;
    let base = serve_on::<F>(Store::Memory, &issuer).await;
    let mut browser = Browser::new::<F>(&base);
    let r = browser.get("/register?login_hint=new%40example.com").await;
    assert_eq!(r.status(), 303);
    let url = url::Url::parse(&location(&r)).unwrap();
    let get = |n: &str| {
        url.query_pairs()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.into_owned())
    };
    assert_eq!(get("prompt").as_deref(), Some("create"));
    assert_eq!(get("login_hint").as_deref(), Some("new@example.com"));
    let r = browser.get("/create-org?org_name=Initech").await;
    let url = url::Url::parse(&location(&r)).unwrap();
    assert!(
        url.query_pairs()
            .any(|(k, v)| k == "is_create_org" && v == "true")
    );
    assert!(
        url.query_pairs()
            .any(|(k, v)| k == "org_name" && v == "Initech")
    );
    // A parameter given twice is refused.
    let (status, body) = json_of(browser.get("/login?org_code=a&org_code=b").await).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request"))
    );
}

/// RFC 9207: a callback without the provider's `iss` (or with an empty or foreign one) is
/// refused before the code is exchanged.
pub async fn a_callback_without_the_providers_issuer_is_refused<F: Framework>() {
    let issuer = issuer().await;
    let base = serve_on::<F>(Store::Memory, &issuer).await;
    // RFC 9207 §2.4: the provider says it always sends `iss`, so a callback without it (or
    // with an empty or foreign one) is refused before the code is exchanged. A refused
    // callback ends its sign-in, so each case starts one.
    for (iss, what) in [
        (None, "missing"),
        (Some(""), "empty"),
        (Some("https://evil.example"), "foreign"),
    ] {
        let mut browser = Browser::new::<F>(&base);
        let authorize = start(&mut browser, "").await;
        let callback = provider_sign_in(&issuer, &authorize, ADA).await;
        assert!(callback.contains("iss="), "{callback}");
        let (status, body) = json_of(browser.get(&with_iss(&callback, iss)).await).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_issuer")),
            "{what} iss: {body}"
        );
        assert_eq!(browser.get("/user").await.status(), 401, "not signed in");
    }
    // The genuine callback signs in.
    let mut browser = Browser::new::<F>(&base);
    let authorize = start(&mut browser, "").await;
    let callback = provider_sign_in(&issuer, &authorize, ADA).await;
    assert_eq!(browser.get(&callback).await.status(), 303);
    assert_eq!(browser.get("/user").await.status(), 200);
}

/// `issuer`'s identifier as a callback's `iss` carries it (RFC 9207), URL-encoded.
fn iss_of(issuer: &TestIssuer) -> String {
    url::form_urlencoded::byte_serialize(issuer.issuer().as_bytes()).collect()
}

/// The app-relative `callback` with its `iss` removed (`None`) or set to `value`.
fn with_iss(callback: &str, value: Option<&str>) -> String {
    let mut url = url::Url::parse(&format!("http://app.test{callback}")).unwrap();
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != "iss")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    {
        let mut q = url.query_pairs_mut();
        q.clear();
        for (k, v) in &kept {
            q.append_pair(k, v);
        }
        if let Some(value) = value {
            q.append_pair("iss", value);
        }
    }
    format!("{}?{}", url.path(), url.query().unwrap_or(""))
}

/// Case 27: a forged, replayed or foreign `state` (or login cookie) is refused.
pub async fn case_27_forged_replayed_and_foreign_states_are_refused<F: Framework>(store: Store) {
    let issuer = issuer().await;
    let base = serve_on::<F>(store, &issuer).await;
    let mut browser = Browser::new::<F>(&base);
    let authorize = start(&mut browser, "").await;
    let callback = provider_sign_in(&issuer, &authorize, ADA).await;

    // The callback in another browser (no session, or another session): not its sign-in.
    let mut other = Browser::new::<F>(&base);
    start(&mut other, "").await;
    for b in [&mut Browser::new::<F>(&base), &mut other] {
        let (status, body) = json_of(b.get(&callback).await).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_state"))
        );
    }
    // A forged state, no state, two states.
    let code = "code=abc";
    for bad in [
        format!("/callback?{code}&state=forged"),
        format!("/callback?{code}"),
        format!("/callback?{code}&state=a&state=b"),
    ] {
        let (status, body) = json_of(browser.get(&bad).await).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_state")),
            "{bad}"
        );
    }
    // The right state with its login cookie tampered with (or swapped for another's): 400.
    let (name, value) = {
        let (n, _, v) = &browser.jar[0];
        (n.clone(), v.clone())
    };
    let mut bytes = value.into_bytes();
    let at = bytes.len() / 2;
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    let other_value = other.jar[0].2.clone();
    for forged in [String::from_utf8(bytes).unwrap(), other_value, "!!".into()] {
        let r = http()
            .get(format!("{base}{callback}"))
            .header("cookie", format!("{name}={forged}"))
            .send()
            .await
            .unwrap();
        let (status, body) = json_of(r).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_state"))
        );
    }
    // The real one works once; replayed, it is refused.
    assert_eq!(browser.get(&callback).await.status(), 303);
    let (status, body) = json_of(browser.get(&callback).await).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_state"))
    );
    assert_eq!(browser.get("/user").await.status(), 200);
}

/// Case 44: sign-ins under way in one browser keep their own state, at most `MAX_PENDING`.
pub async fn concurrent_sign_ins_in_one_browser_keep_their_own_state<F: Framework>(store: Store) {
    let issuer = issuer().await;
    let base = serve_on::<F>(store, &issuer).await;
    let mut browser = Browser::new::<F>(&base);
    // Two tabs: both signed in at the provider, finished in the other order.
    let first = start(&mut browser, "return_to=/first").await;
    let second = start(&mut browser, "return_to=/second").await;
    let first_cb = provider_sign_in(&issuer, &first, ADA).await;
    let second_cb = provider_sign_in(&issuer, &second, BOB).await;
    let r = browser.get(&second_cb).await;
    assert_eq!(
        (r.status().as_u16(), location(&r)),
        (303, "/second".to_owned())
    );
    let r = browser.get(&first_cb).await;
    assert_eq!(
        (r.status().as_u16(), location(&r)),
        (303, "/first".to_owned())
    );
    let (_, body) = json_of(browser.get("/user").await).await;
    assert_eq!(body["id_token"]["email"], ADA);

    // Case 44: at most MAX_PENDING sign-ins under way; the oldest are dropped.
    let mut browser = Browser::new::<F>(&base);
    let mut states = Vec::new();
    for _ in 0..MAX_PENDING + 2 {
        states.push(state_of(&start(&mut browser, "").await));
    }
    for (i, state) in states.iter().enumerate() {
        // A made-up code: a kept sign-in gets as far as the code exchange (refused by the
        // provider), a dropped one is refused at once.
        let (status, body) = json_of(
            browser
                .get(&format!(
                    "/callback?code=x&state={state}&iss={}",
                    iss_of(&issuer)
                ))
                .await,
        )
        .await;
        if i < 2 {
            assert_eq!(
                (status, body["error"].as_str()),
                (400, Some("invalid_state")),
                "{i}"
            );
        } else {
            assert_eq!(
                (status, body["error"].as_str()),
                (401, Some("invalid_grant")),
                "{i}"
            );
        }
    }
}

/// Issue 4: `n` sign-ins started at the same time in one session (one cookie, several tabs)
/// each keep their own state and verifier: every callback signs in.
async fn simultaneous_sign_ins_all_finish<F: Framework>(issuer: &TestIssuer, base: &str, n: usize) {
    let mut browser = Browser::new::<F>(base);
    // The session exists before the sign-ins (the app keeps something in it).
    assert_eq!(browser.get("/test/visit").await.status(), 200);
    assert!(browser.cookie.is_some(), "a session cookie");
    let cookie = browser.cookie_header("/login").unwrap();
    let logins = futures_join((0..n).map(|i| {
        http()
            .get(format!("{base}/login?return_to=/tab{i}"))
            .header("cookie", cookie.clone())
            .header("x-test-slow", "1")
            .send()
    }))
    .await;
    let mut authorize_urls = Vec::new();
    for r in logins {
        let r = r.unwrap();
        assert_eq!(r.status(), 303);
        authorize_urls.push(location(&r));
        browser.absorb(&r);
    }
    for (i, authorize) in authorize_urls.iter().enumerate() {
        let email = if i % 2 == 0 { ADA } else { BOB };
        let callback = provider_sign_in(issuer, authorize, email).await;
        let r = browser.get(&callback).await;
        let status = r.status().as_u16();
        let to = location(&r);
        assert_eq!(
            (status, to.as_str()),
            (303, format!("/tab{i}").as_str()),
            "tab {i}: {:?}",
            r.text().await
        );
        let (status, body) = json_of(browser.get("/user").await).await;
        assert_eq!(
            (status, body["id_token"]["email"].as_str()),
            (200, Some(email))
        );
    }
}

/// Issue 4: four sign-ins started at once in one session all finish, on `store`.
pub async fn issue_4_simultaneous_sign_ins_in_one_session<F: Framework>(store: Store) {
    let issuer = issuer().await;
    let base = serve_on::<F>(store, &issuer).await;
    simultaneous_sign_ins_all_finish::<F>(&issuer, &base, 4).await;
}

/// Errors of `/login`, `/register`, `/create-org` are an escaped page for a browser and JSON
/// for a client; an unreachable provider is 503.
pub async fn start_errors_are_pages_for_browsers_and_json_for_clients<F: Framework>() {
    const BROWSER: &str = "text/html,application/xhtml+xml,*/*;q=0.8";
    async fn page(base: &str, path: &str, accept: &str) -> (u16, String, String, String) {
        let r = http()
            .get(format!("{base}{path}"))
            .header("accept", accept)
            .send()
            .await
            .unwrap();
        let header = |n: &str| {
            r.headers()
                .get(n)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        let (content_type, cache) = (header("content-type"), header("cache-control"));
        (
            r.status().as_u16(),
            content_type,
            cache,
            r.text().await.unwrap(),
        )
    }
    let issuer = issuer().await;
    let base = serve_on::<F>(Store::Memory, &issuer).await;
    for route in ["/login", "/register", "/create-org"] {
        let path = format!("{route}?org_code=%3Cb%3E&org_code=b");
        let (status, content_type, cache, body) = page(&base, &path, BROWSER).await;
        assert_eq!((status, cache.as_str()), (400, "no-store"), "{route}");
        assert!(
            content_type.starts_with("text/html"),
            "{route} {content_type}"
        );
        assert!(
            body.contains("invalid_request") && !body.contains("<b>"),
            "{body}"
        );
        let (status, content_type, _, body) = page(&base, &path, "application/json").await;
        assert_eq!(status, 400);
        assert!(
            content_type.starts_with("application/json"),
            "{content_type}"
        );
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["error"], "invalid_request");
    }
    // The provider cannot be reached (discovery fails): 503, a page to a browser.
    let config = Config::builder("http://127.0.0.1:9")
        .client_id(WEB)
        .client_secret(WEB_SECRET)
        .redirect_uri(CALLBACK)
        .build()
        .unwrap();
    let down = F::serve_sessions(AuthSpec::config(config), Store::Memory).await;
    let (status, content_type, cache, body) = page(&down, "/login", BROWSER).await;
    assert_eq!((status, cache.as_str()), (503, "no-store"));
    assert!(content_type.starts_with("text/html"), "{content_type}");
    assert!(body.contains("temporarily_unavailable"), "{body}");
    let (status, _, _, body) = page(&down, "/login", "application/json").await;
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (status, body["error"].as_str()),
        (503, Some("temporarily_unavailable"))
    );
}

/// A failed callback is an escaped page for a browser, JSON for a client; `POST /logout`
/// signs out like `GET`.
pub async fn callback_errors_are_pages_for_browsers_and_logout_answers_post<F: Framework>() {
    let issuer = issuer().await;
    let base = serve_on::<F>(Store::Memory, &issuer).await;
    let mut browser = Browser::new::<F>(&base);
    let state = state_of(&start(&mut browser, "").await);
    let cookie = browser.cookie_header("/callback").unwrap();
    // A browser's navigation to a failed callback gets a page: the provider's text escaped,
    // not cached.
    let denied = format!(
        "{base}/callback?error=access_denied&error_description=%3Cscript%3Ealert(1)%3C%2Fscript%3E&state={state}&iss={}",
        iss_of(&issuer)
    );
    let r = http()
        .get(&denied)
        .header("cookie", cookie)
        .header("accept", "text/html,application/xhtml+xml,*/*;q=0.8")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let content_type = r.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("text/html"), "{content_type}");
    let page = r.text().await.unwrap();
    assert!(page.contains("access_denied"), "{page}");
    assert!(page.contains("&lt;script&gt;"), "{page}");
    assert!(!page.contains("<script>"), "{page}");
    // An API client gets JSON for the same failure.
    let r = http()
        .get(format!("{base}/callback?code=x&state=x"))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(r).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_state"))
    );
    // Sign-out from a form: POST ends the session like GET.
    assert_eq!(sign_in(&issuer, &mut browser, ADA, "").await.status(), 303);
    assert_eq!(browser.get("/user").await.status(), 200);
    let cookie = browser.cookie.clone().unwrap();
    let r = http()
        .post(format!("{base}/logout"))
        .header("cookie", format!("{}={cookie}", F::SESSION_COOKIE))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert!(location(&r).starts_with(&format!("{}/logout?", issuer.url())));
    let mut replay = Browser::new::<F>(&base);
    replay.cookie = Some(cookie);
    assert_eq!(replay.get("/user").await.status(), 401);
}

/// A callback error names the provider's error and ends that sign-in; an issuer mix-up is
/// refused.
pub async fn callback_errors_are_clear_and_end_that_sign_in<F: Framework>() {
    let issuer = issuer().await;
    let base = serve_on::<F>(Store::Memory, &issuer).await;
    let mut browser = Browser::new::<F>(&base);
    let state = state_of(&start(&mut browser, "").await);
    let denied = format!(
        "/callback?error=access_denied&error_description=no&state={state}&iss={}",
        iss_of(&issuer)
    );
    let (status, body) = json_of(browser.get(&denied).await).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("access_denied"))
    );
    // That sign-in is over.
    let (status, body) = json_of(
        browser
            .get(&format!(
                "/callback?code=x&state={state}&iss={}",
                iss_of(&issuer)
            ))
            .await,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_state"))
    );
    // Issuer mix-up (RFC 9207).
    let state = state_of(&start(&mut browser, "").await);
    let mixed = format!("/callback?code=x&state={state}&iss=https%3A%2F%2Fevil.example");
    let (status, body) = json_of(browser.get(&mixed).await).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_issuer"))
    );
    assert_eq!(browser.get("/user").await.status(), 401);
}

/// Case 46: a tampered, truncated, empty or absent session cookie is no session.
pub async fn case_46_tampered_or_absent_session_cookies_are_no_session<F: Framework>(store: Store) {
    let issuer = issuer().await;
    let base = serve_on::<F>(store, &issuer).await;
    let mut browser = Browser::new::<F>(&base);
    assert_eq!(sign_in(&issuer, &mut browser, ADA, "").await.status(), 303);
    let good = browser.cookie.clone().unwrap();
    assert_eq!(browser.get("/user").await.status(), 200);
    let mut flipped = good.clone().into_bytes();
    flipped[3] = if flipped[3] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(flipped).unwrap();
    for cookie in [
        Some(flipped),
        Some(good[..good.len() / 2].to_owned()),
        Some("!!!".to_owned()),
        Some(String::new()),
        None,
    ] {
        let mut b = Browser::new::<F>(&base);
        b.cookie = cookie.clone();
        for path in ["/user", "/me"] {
            let (status, body) = json_of(b.get(path).await).await;
            assert_eq!(
                (status, body["error"].as_str()),
                (401, Some("unauthenticated")),
                "{path} {cookie:?}"
            );
        }
    }
}

/// Case 37: `return_to` only takes same-site paths.
pub async fn case_37_return_to_only_accepts_same_site_paths<F: Framework>(store: Store) {
    let issuer = issuer().await;
    let base = serve_on::<F>(store, &issuer).await;
    for evil in [
        "https://evil",
        "//evil",
        "/\\evil",
        "https:evil",
        "javascript:alert(1)",
        "%2F%2Fevil",
        "/\t/evil",
        "/\\t/evil",
    ] {
        let mut browser = Browser::new::<F>(&base);
        let r = sign_in(
            &issuer,
            &mut browser,
            ADA,
            &format!("return_to={}", encode(evil)),
        )
        .await;
        assert_eq!(
            (r.status().as_u16(), location(&r)),
            (303, "/".to_owned()),
            "{evil:?}"
        );
    }
    let mut browser = Browser::new::<F>(&base);
    let r = sign_in(&issuer, &mut browser, ADA, "return_to=%2Fok%3Fa%3Db").await;
    assert_eq!(location(&r), "/ok?a=b");
}

/// Cases 35 and 47: logout ends the session, then the provider's (its refresh token revoked).
pub async fn case_35_47_logout_ends_the_session_then_the_providers<F: Framework>(store: Store) {
    let issuer = issuer().await;
    let base = serve_on::<F>(store, &issuer).await;
    let mut browser = Browser::new::<F>(&base);
    assert_eq!(sign_in(&issuer, &mut browser, ADA, "").await.status(), 303);
    let old = browser.cookie.clone().unwrap();
    let refresh_token = browser
        .get("/test/refresh-token")
        .await
        .text()
        .await
        .unwrap();
    assert!(!refresh_token.is_empty());

    let r = browser.get("/logout").await;
    assert_eq!(r.status(), 303);
    let to = location(&r);
    assert!(to.starts_with(&format!("{}/logout?", issuer.url())), "{to}");
    assert!(to.contains("id_token_hint="));
    assert!(browser.cookie.is_none(), "the cookie is removed");
    // The provider accepts it and sends the browser to the registered logout URL.
    let r = http().get(&to).send().await.unwrap();
    assert_eq!(location(&r), LOGOUT);
    // Case 47: the old cookie is dead, and so is the refresh token.
    let mut replay = Browser::new::<F>(&base);
    replay.cookie = Some(old);
    assert_eq!(replay.get("/user").await.status(), 401);
    let client = AuthClient::new(&web_config(&issuer)).unwrap();
    let e = client.refresh(&refresh_token).await.unwrap_err();
    assert_eq!(e.oauth_error_code(), Some("invalid_grant"));
    // Signed out, /logout still answers (no session to end).
    assert_eq!(Browser::new::<F>(&base).get("/logout").await.status(), 303);
}

/// Case 33: a session's tokens are refreshed shortly before they expire, once for concurrent
/// requests; a revoked refresh token ends the session.
pub async fn tokens_are_refreshed_before_they_expire_once_for_concurrent_requests<F: Framework>(
    store: Store,
) {
    let issuer = tenant().access_token_ttl(120).start().await.unwrap();
    let clock = ManualClock::now();
    let config = web_config(&issuer);
    let client = AuthClient::builder(config.clone())
        .framework(F::NAME)
        .clock(clock.clone())
        .build()
        .unwrap();
    let spec = AuthSpec {
        client: Some(client),
        clock: Some(clock.clone()),
        refresh_margin: Some(Duration::from_secs(60)),
        ..AuthSpec::config(config.clone())
    };
    let base = F::serve_sessions(spec, store).await;
    let mut browser = Browser::new::<F>(&base);
    assert_eq!(sign_in(&issuer, &mut browser, ADA, "").await.status(), 303);
    let (_, first) = json_of(browser.get("/user").await).await;
    let first_jti = first["access_token"]["jti"].clone();
    let (_, again) = json_of(browser.get("/user").await).await;
    assert_eq!(again["access_token"]["jti"], first_jti, "not refreshed yet");

    // 90 s later the token expires within the margin: 10 concurrent requests, one refresh.
    clock.advance(Duration::from_secs(90));
    let cookie = browser.cookie.clone().unwrap();
    let requests = (0..10).map(|_| {
        http()
            .get(format!("{base}/user"))
            .header("cookie", format!("{}={cookie}", F::SESSION_COOKIE))
            .send()
    });
    let answers = futures_join(requests).await;
    let mut jtis = Vec::new();
    for r in answers {
        let (status, body) = json_of(r.unwrap()).await;
        assert_eq!(status, 200, "{body}");
        jtis.push(body["access_token"]["jti"].clone());
    }
    assert_ne!(jtis[0], first_jti, "refreshed");
    assert!(jtis.iter().all(|j| *j == jtis[0]), "one refresh: {jtis:?}");
    assert_eq!(browser.get("/me").await.status(), 200);

    // The refresh token revoked at the provider: the next refresh ends the session.
    let refresh_token = browser
        .get("/test/refresh-token")
        .await
        .text()
        .await
        .unwrap();
    AuthClient::new(&config)
        .unwrap()
        .revoke(&refresh_token, Some(TokenTypeHint::RefreshToken))
        .await
        .unwrap();
    clock.advance(Duration::from_secs(90));
    assert_eq!(browser.get("/user").await.status(), 401);
    assert_eq!(browser.get("/me").await.status(), 401);
}

/// An expired session without a refresh token is signed out, told so once
/// (`session_expired`).
pub async fn an_expired_session_without_a_refresh_token_is_signed_out<F: Framework>() {
    let issuer = tenant().access_token_ttl(120).start().await.unwrap();
    let clock = ManualClock::now();
    // No `offline` scope: no refresh token.
    let config = Config::builder(issuer.issuer())
        .client_id(WEB)
        .client_secret(WEB_SECRET)
        .redirect_uri(CALLBACK)
        .audience(API)
        .scopes(["openid", "profile", "email"])
        .build()
        .unwrap();
    let client = AuthClient::builder(config.clone())
        .clock(clock.clone())
        .build()
        .unwrap();
    let spec = AuthSpec {
        client: Some(client),
        clock: Some(clock.clone()),
        ..AuthSpec::config(config)
    };
    let base = F::serve_sessions(spec, Store::Memory).await;
    let mut browser = Browser::new::<F>(&base);
    assert_eq!(sign_in(&issuer, &mut browser, ADA, "").await.status(), 303);
    assert!(
        browser
            .get("/test/refresh-token")
            .await
            .text()
            .await
            .unwrap()
            .is_empty()
    );
    // Within the refresh margin but not expired: still signed in.
    clock.advance(Duration::from_secs(90));
    assert_eq!(browser.get("/user").await.status(), 200);
    // Expired, nothing to refresh with: signed out, told so once ("sign in again").
    clock.advance(Duration::from_secs(60));
    let r = browser.get("/me").await;
    let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert!(
        challenge.contains("error_description=\"session_expired\""),
        "{challenge}"
    );
    let (status, body) = json_of(r).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_token"))
    );
    assert!(
        body["error_description"]
            .as_str()
            .is_some_and(|d| d.contains("sign in again"))
    );
    // The session no longer holds the ended sign-in.
    let (status, body) = json_of(browser.get("/me").await).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("unauthenticated"))
    );
    assert_eq!(browser.get("/user").await.status(), 401);
}

/// Sessions on real Redis: sign-in, a new id, replays refused, sign-out deletes the session.
/// Skipped without `PORTCULLIS_TEST_REDIS_URL` (not in CI).
pub async fn sessions_work_on_real_redis<F: Framework>() {
    if redis_url().is_none() {
        return;
    }
    let issuer = issuer().await;
    let base = serve_on::<F>(Store::Redis, &issuer).await;
    let mut browser = Browser::new::<F>(&base);
    browser.get("/test/visit").await;
    let before = browser.cookie.clone().unwrap();
    let authorize = start(&mut browser, "return_to=/redis&org_code=org_acme").await;
    let callback = provider_sign_in(&issuer, &authorize, ADA).await;
    let r = browser.get(&callback).await;
    assert_eq!(
        (r.status().as_u16(), location(&r)),
        (303, "/redis".to_owned())
    );
    assert_ne!(
        browser.cookie.clone().unwrap(),
        before,
        "new id after sign-in"
    );
    let (status, body) = json_of(browser.get("/user").await).await;
    assert_eq!(
        (status, body["id_token"]["email"].as_str()),
        (200, Some(ADA))
    );
    assert_eq!(browser.get("/admin").await.status(), 200);
    // Replayed callback and the pre-login cookie are refused.
    let (status, _) = json_of(browser.get(&callback).await).await;
    assert_eq!(status, 400);
    let mut fixed = Browser::new::<F>(&base);
    fixed.cookie = Some(before);
    assert_eq!(fixed.get("/user").await.status(), 401);
    // A tampered cookie is no session.
    let mut tampered = Browser::new::<F>(&base);
    tampered.cookie = browser.cookie.clone().map(|c| format!("x{c}"));
    assert_eq!(tampered.get("/user").await.status(), 401);
    // Sign-out deletes the session from Redis.
    let old = browser.cookie.clone().unwrap();
    assert_eq!(browser.get("/logout").await.status(), 303);
    let mut replay = Browser::new::<F>(&base);
    replay.cookie = Some(old);
    assert_eq!(replay.get("/user").await.status(), 401);
}

/// Case 35: logout ends the local session even when the provider cannot be reached.
pub async fn case_35_logout_ends_the_local_session_when_the_provider_is_unreachable<
    F: Framework,
>() {
    let issuer = issuer().await;
    let base = serve_on::<F>(Store::Memory, &issuer).await;
    let mut browser = Browser::new::<F>(&base);
    assert_eq!(sign_in(&issuer, &mut browser, ADA, "").await.status(), 303);
    let old = browser.cookie.clone().unwrap();
    assert_eq!(browser.get("/user").await.status(), 200);
    // The provider goes away: no revocation, maybe no logout URL.
    let provider = issuer.url().to_owned();
    tokio::time::timeout(Duration::from_secs(10), issuer.shutdown())
        .await
        .expect("the issuer stops");
    let r = browser.get("/logout").await;
    assert_eq!(r.status(), 303);
    let to = location(&r);
    assert!(
        to == LOGOUT || to.starts_with(&format!("{provider}/logout?")),
        "{to}"
    );
    assert!(browser.cookie.is_none(), "the cookie is removed");
    let mut replay = Browser::new::<F>(&base);
    replay.cookie = Some(old);
    assert_eq!(replay.get("/user").await.status(), 401);
}
