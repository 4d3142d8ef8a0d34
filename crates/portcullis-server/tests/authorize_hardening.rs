//! The authorization endpoint and the hosted pages under attack, over real HTTP against the
//! in-process server: loopback redirects for native apps (case 52), duplicate, empty and unknown
//! parameters (55), `prompt` and `max_age` (56), `id_token_hint` (57), security headers on every
//! page (59), request objects (60), the shape of every authorization response (61), HTTP hygiene
//! (63) — and the hosted "Create your organization" page of `is_create_org=true` without
//! `org_name`.

use std::time::Duration;

use portcullis::IdTokenChecks;
use portcullis::clock::ManualClock;
use portcullis_server::seed::Seed;
use portcullis_server::testing::TestIssuer;
use serde_json::{Value, json};

mod common;

use common::browser::{Base, Browser, Page, http, pkce};
use common::demo::{
    self, ADA, ADA_PASSWORD, API, WEB, WEB_CALLBACK, demo_seed, error_of, get_json, redeem,
    redeem_code, replaced, sdk,
};
use common::unix_now;

const OTHER: &str = "other-web";
const OTHER_SECRET: &str = "other-web-secret-0123456789abcdefghijklmn";
const OTHER_CALLBACK: &str = "http://localhost:4000/callback";
const NATIVE: &str = "native-cli";
const BOB: &str = "bob@example.com";
const BOB_PASSWORD: &str = "can-we-fix-it-yes-we-can";

/// A native (public) client with loopback redirects, and a second web application.
const EXTRA_APPS: &str = r#"
[[applications]]
name = "Native CLI"
type = "spa"
client_id = "native-cli"
redirect_urls = ["http://127.0.0.1/cb", "http://[::1]:8080/cb", "http://localhost/cb"]

[[applications]]
name = "Other web app"
type = "reg"
client_id = "other-web"
client_secret = "other-web-secret-0123456789abcdefghijklmn"
redirect_urls = ["http://localhost:4000/callback"]
"#;

async fn start() -> TestIssuer {
    TestIssuer::builder()
        .seed(demo_seed())
        .seed(Seed::from_toml(EXTRA_APPS).unwrap())
        .start()
        .await
        .unwrap()
}

/// The web app's authorization request for the API, plus `extra`.
fn web<'a>(challenge: &'a str, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut p = demo::web_params(challenge, "openid profile email", &[("audience", API)]);
    p.extend_from_slice(extra);
    p
}

/// `web` with `extra` replacing parameters of the same name.
fn web_with<'a>(challenge: &'a str, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    replaced(web(challenge, &[]), extra)
}

/// An error redirect answering [`web`]'s request: back to its callback with `error`, its exact
/// state and `iss`, and no code.
fn assert_web_error(page: &Page, issuer: &TestIssuer, error: &str) {
    assert!(
        page.status == 302 || page.status == 303,
        "{error}: {} {}",
        page.status,
        page.body
    );
    let location = page.location.as_deref().unwrap();
    assert!(location.starts_with(WEB_CALLBACK), "{location}");
    assert_eq!(page.param("error").as_deref(), Some(error), "{location}");
    assert_eq!(
        page.param("state").as_deref(),
        Some("state-123"),
        "{location}"
    );
    assert_eq!(
        page.param("iss").as_deref(),
        Some(issuer.url()),
        "{location}"
    );
    assert_eq!(page.param("code"), None);
}

/// An error page: 400, no redirect, nothing sent back to the application.
fn assert_error_page(page: &Page) {
    assert_eq!(page.status, 400, "{:?} {}", page.location, page.body);
    assert!(page.location.is_none());
    assert!(page.body.contains("role=\"alert\""), "{}", page.body);
}

/// Redeems `code` for the native client, which asked for it with `redirect_uri`.
async fn redeem_native(
    issuer: &TestIssuer,
    code: &str,
    redirect_uri: &str,
    verifier: &str,
) -> (u16, Value) {
    redeem_code(issuer, (NATIVE, None), code, redirect_uri, verifier).await
}

/// Signs `email` in through the web app in `browser`; returns the token response.
async fn web_tokens(
    issuer: &TestIssuer,
    browser: &mut Browser,
    email: &str,
    password: &str,
) -> Value {
    let (verifier, challenge) = pkce();
    let form = browser.authorize(issuer, &web(&challenge, &[])).await;
    assert_eq!(form.status, 200, "{}", form.body);
    let done = browser.sign_in(issuer, &form, email, password).await;
    assert_eq!(done.status, 303, "{}", done.body);
    let code = done.param("code").unwrap();
    let (status, body) = redeem(issuer, &code, &verifier).await;
    assert_eq!(status, 200, "{body}");
    body
}

#[tokio::test]
async fn case_52_loopback_any_port() {
    let issuer = start().await;
    let (verifier, challenge) = pkce();
    let native = |redirect: &'static str| {
        vec![
            ("client_id", NATIVE),
            ("redirect_uri", redirect),
            ("response_type", "code"),
            ("scope", "openid"),
            ("state", "native-state"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ]
    };
    // Any port of a registered loopback IP (registered without a port, or with another one).
    for allowed in [
        "http://127.0.0.1:53123/cb",
        "http://127.0.0.1/cb",
        "http://127.0.0.1:65535/cb",
        "http://[::1]:5555/cb",
        "http://[::1]/cb",
        "http://[::1]:8080/cb",
        "http://localhost/cb",
    ] {
        let page = Browser::default()
            .authorize(&issuer, &native(allowed))
            .await;
        assert_eq!(page.status, 200, "{allowed}: {}", page.body);
        assert!(page.body.contains("action=\"/oauth2/auth/sign-in\""));
    }
    // Everything but the port must match exactly; `localhost` is not a loopback IP literal.
    for refused in [
        "http://127.0.0.1:53123/cb?x=1",
        "http://127.0.0.1:53123/other",
        "http://127.0.0.1:53123/cb/",
        "http://127.0.0.1:53123/CB",
        "http://127.0.0.1:53123/cb#f",
        "https://127.0.0.1:53123/cb",
        "HTTP://127.0.0.1:53123/cb",
        "http://127.0.0.1:0/cb",
        "http://127.0.0.1:65536/cb",
        "http://127.0.0.1:053123/cb",
        "http://127.0.0.1:/cb",
        "http://127.0.0.1:53123@evil.example/cb",
        "http://127.0.0.1.evil.example/cb",
        "http://127.0.0.2:53123/cb",
        "http://[::1]:5555/other",
        "http://[::2]:5555/cb",
        "http://localhost:4444/cb",
        "http://LOCALHOST/cb",
    ] {
        let page = Browser::default()
            .authorize(&issuer, &native(refused))
            .await;
        assert_error_page(&page);
    }
    // Non-loopback http cannot even be registered for a native client.
    let evil = EXTRA_APPS.replace("http://127.0.0.1/cb", "http://evil.example/cb");
    let refused = match Seed::from_toml(&evil) {
        Err(e) => e.to_string(),
        Ok(seed) => TestIssuer::builder()
            .seed(seed)
            .start()
            .await
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default(),
    };
    assert!(refused.contains("evil.example"), "{refused:?}");

    // The full code flow on an ephemeral port: the code is bound to the requested string.
    let redirect = "http://127.0.0.1:53123/cb";
    let mut browser = Browser::default();
    let form = browser.authorize(&issuer, &native(redirect)).await;
    let done = browser.sign_in(&issuer, &form, ADA, ADA_PASSWORD).await;
    assert_eq!(done.status, 303, "{}", done.body);
    let location = done.location.as_deref().unwrap();
    assert!(
        location.starts_with("http://127.0.0.1:53123/cb?"),
        "{location}"
    );
    assert_eq!(done.param("state").as_deref(), Some("native-state"));
    assert_eq!(done.param("iss").as_deref(), Some(issuer.url()));
    // The registered string (without the port) is not what was used at authorize: refused.
    let code = done.param("code").unwrap();
    let answer = redeem_native(&issuer, &code, "http://127.0.0.1/cb", &verifier).await;
    assert_eq!(error_of(&answer), (400, "invalid_grant"), "{}", answer.1);
    // Nor is another port.
    let (verifier, challenge2) = pkce();
    let again = replaced(native(redirect), &[("code_challenge", &challenge2)]);
    let sso = browser.authorize(&issuer, &again).await;
    assert_eq!(sso.status, 303, "{}", sso.body);
    let answer = redeem_native(
        &issuer,
        &sso.param("code").unwrap(),
        "http://127.0.0.1:9999/cb",
        &verifier,
    )
    .await;
    assert_eq!(error_of(&answer), (400, "invalid_grant"), "{}", answer.1);
    // The exact string that was used at authorize works.
    let (verifier, challenge3) = pkce();
    let third = replaced(native(redirect), &[("code_challenge", &challenge3)]);
    let sso = browser.authorize(&issuer, &third).await;
    let (status, body) =
        redeem_native(&issuer, &sso.param("code").unwrap(), redirect, &verifier).await;
    assert_eq!(status, 200, "{body}");
    let id = sdk(&issuer, NATIVE)
        .verify_id_token(body["id_token"].as_str().unwrap(), None)
        .await
        .unwrap();
    assert!(id.sub.is_some());
}

#[tokio::test]
async fn case_55_duplicate_empty_and_unknown_parameters() {
    let issuer = start().await;
    let (verifier, challenge) = pkce();

    // Duplicates: invalid_request, redirected with the (first) state and iss.
    for dupe in [
        ("scope", "admin"),
        ("response_mode", "query"),
        ("response_type", "code"),
        ("nonce", "other"),
        ("state", "other"),
    ] {
        let mut params = web(&challenge, &[("response_mode", "query")]);
        params.push(dupe);
        let page = Browser::default().authorize(&issuer, &params).await;
        assert_web_error(&page, &issuer, "invalid_request");
    }
    // A repeated client_id or redirect_uri: an error page, never a redirect.
    for dupe in [("redirect_uri", WEB_CALLBACK), ("client_id", WEB)] {
        let mut params = web(&challenge, &[]);
        params.push(dupe);
        assert_error_page(&Browser::default().authorize(&issuer, &params).await);
    }
    // RFC 8707's `resource` may repeat (the SDK sends one per absolute audience): the request
    // goes on to the sign-in form.
    let mut params = web(&challenge, &[]);
    params.push(("resource", "https://api.example.com"));
    params.push(("resource", "https://billing.example.com/v1"));
    let form = Browser::default().authorize(&issuer, &params).await;
    assert_eq!(form.status, 200, "{}", form.body);
    assert!(form.body.contains("name=\"password\""), "{}", form.body);
    // Too many parameters: an error page.
    let many: Vec<(String, String)> = (0..70).map(|i| (format!("p{i}"), "x".into())).collect();
    let mut params = web(&challenge, &[]);
    params.extend(many.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    assert_error_page(&Browser::default().authorize(&issuer, &params).await);

    // Empty values are omitted: `state=` means no state, `prompt=` is fine, and an empty
    // value does not count as a repeat. Unknown parameters are ignored.
    let mut browser = Browser::default();
    let params = web_with(
        &challenge,
        &[
            ("state", ""),
            ("prompt", ""),
            ("max_age", ""),
            ("id_token_hint", ""),
            ("foo", "bar"),
            ("claims_locales", "de"),
        ],
    );
    let form = browser.authorize(&issuer, &params).await;
    assert_eq!(form.status, 200, "{}", form.body);
    let done = browser.sign_in(&issuer, &form, ADA, ADA_PASSWORD).await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(done.param("state"), None, "{:?}", done.location);
    assert!(!done.location.as_deref().unwrap().contains("state="));
    assert_eq!(done.param("iss").as_deref(), Some(issuer.url()));
    let (status, body) = redeem(&issuer, &done.param("code").unwrap(), &verifier).await;
    assert_eq!(status, 200, "{body}");

    let (_, challenge) = pkce();
    let mut params = web_with(&challenge, &[("state", "")]);
    params.push(("state", "kept"));
    let sso = browser.authorize(&issuer, &params).await;
    assert_eq!(sso.status, 303, "{}", sso.body);
    assert!(sso.param("code").is_some());
    assert_eq!(sso.param("state").as_deref(), Some("kept"));
}

#[tokio::test]
async fn case_56_prompt_and_max_age() {
    let clock = ManualClock::now();
    let issuer = TestIssuer::builder()
        .seed(demo_seed())
        .seed(Seed::from_toml(EXTRA_APPS).unwrap())
        .clock(clock.clone())
        .start()
        .await
        .unwrap();
    let (_, challenge) = pkce();
    let prompts = [
        "bogus",
        "none login",
        "login none",
        "none consent",
        "select_account",
    ];
    let max_ages = [
        "-1",
        "abc",
        "9007199254740991",
        "2147483648",
        "1.5",
        "+5",
        " 5",
        "1e3",
    ];
    for (param, value) in prompts
        .map(|p| ("prompt", p))
        .into_iter()
        .chain(max_ages.map(|m| ("max_age", m)))
    {
        let page = Browser::default()
            .authorize(&issuer, &web(&challenge, &[(param, value)]))
            .await;
        assert_web_error(&page, &issuer, "invalid_request");
    }
    // No session: prompt=none is login_required.
    let page = Browser::default()
        .authorize(&issuer, &web(&challenge, &[("prompt", "none")]))
        .await;
    assert_web_error(&page, &issuer, "login_required");
    // The largest max_age accepted.
    let page = Browser::default()
        .authorize(&issuer, &web(&challenge, &[("max_age", "2147483647")]))
        .await;
    assert_eq!(page.status, 200, "{}", page.body);

    // Signed in: max_age=0 forces the sign-in form; prompt=none with it is login_required.
    let before = issuer.state().now();
    let mut browser = Browser::default();
    web_tokens(&issuer, &mut browser, ADA, ADA_PASSWORD).await;
    let forced = browser
        .authorize(&issuer, &web(&challenge, &[("max_age", "0")]))
        .await;
    assert_eq!(forced.status, 200, "{:?}", forced.location);
    assert!(forced.body.contains("action=\"/oauth2/auth/sign-in\""));
    let page = browser
        .authorize(
            &issuer,
            &web(&challenge, &[("max_age", "0"), ("prompt", "none")]),
        )
        .await;
    assert_web_error(&page, &issuer, "login_required");

    // A recent enough session answers at once; the ID token carries auth_time.
    let (verifier, challenge2) = pkce();
    let sso = browser
        .authorize(&issuer, &web(&challenge2, &[("max_age", "3600")]))
        .await;
    assert_eq!(sso.status, 303, "{}", sso.body);
    let (status, body) = redeem(&issuer, &sso.param("code").unwrap(), &verifier).await;
    assert_eq!(status, 200, "{body}");
    let id = sdk(&issuer, WEB)
        .verify_id_token_with(
            body["id_token"].as_str().unwrap(),
            &IdTokenChecks::nonce("nonce-456").with_max_age(Duration::from_secs(3600)),
        )
        .await
        .unwrap();
    let auth_time = id.auth_time.expect("auth_time");
    assert!(
        auth_time >= before && auth_time <= issuer.state().now(),
        "{auth_time}"
    );

    // A session older than max_age must sign in again (the server's clock moves; nothing
    // sleeps).
    clock.advance(Duration::from_secs(2));
    let stale = browser
        .authorize(&issuer, &web(&challenge, &[("max_age", "1")]))
        .await;
    assert_eq!(stale.status, 200, "{:?}", stale.location);
    assert!(stale.body.contains("action=\"/oauth2/auth/sign-in\""));
    // Signing in again renews auth_time.
    let (verifier, challenge3) = pkce();
    let form = browser
        .authorize(&issuer, &web(&challenge3, &[("max_age", "1")]))
        .await;
    let done = browser.sign_in(&issuer, &form, ADA, ADA_PASSWORD).await;
    let (_, body) = redeem(&issuer, &done.param("code").unwrap(), &verifier).await;
    let renewed = sdk(&issuer, WEB)
        .verify_id_token(body["id_token"].as_str().unwrap(), Some("nonce-456"))
        .await
        .unwrap();
    assert!(renewed.auth_time.unwrap() > auth_time);
}

#[tokio::test]
async fn case_57_id_token_hint() {
    let issuer = start().await;
    let (_, challenge) = pkce();
    let mut ada = Browser::default();
    let ada_tokens = web_tokens(&issuer, &mut ada, ADA, ADA_PASSWORD).await;
    let ada_hint = ada_tokens["id_token"].as_str().unwrap().to_owned();
    let ada_id = sdk(&issuer, WEB)
        .verify_id_token(&ada_hint, Some("nonce-456"))
        .await
        .unwrap()
        .sub
        .unwrap();
    let bob_hint =
        web_tokens(&issuer, &mut Browser::default(), BOB, BOB_PASSWORD).await["id_token"]
            .as_str()
            .unwrap()
            .to_owned();

    // A hint issued to another application of this server.
    let (other_verifier, other_challenge) = pkce();
    let mut other = Browser::default();
    let form = other
        .authorize(
            &issuer,
            &[
                ("client_id", OTHER),
                ("redirect_uri", OTHER_CALLBACK),
                ("response_type", "code"),
                ("scope", "openid"),
                ("code_challenge", &other_challenge),
                ("code_challenge_method", "S256"),
            ],
        )
        .await;
    let done = other.sign_in(&issuer, &form, ADA, ADA_PASSWORD).await;
    let (status, body) = redeem_code(
        &issuer,
        (OTHER, Some(OTHER_SECRET)),
        &done.param("code").unwrap(),
        OTHER_CALLBACK,
        &other_verifier,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let other_client_hint = body["id_token"].as_str().unwrap().to_owned();

    // A hint from another OP, and one signed with our key but naming another issuer.
    let foreign = start().await;
    let foreign_hint =
        web_tokens(&foreign, &mut Browser::default(), ADA, ADA_PASSWORD).await["id_token"]
            .as_str()
            .unwrap()
            .to_owned();
    let now = unix_now();
    let ring = issuer.state().keys().ring(now).await.unwrap();
    let claims = |iss: &str, exp: i64| {
        json!({
            "iss": iss, "sub": ada_id, "aud": [WEB], "azp": WEB,
            "iat": exp - 3600, "exp": exp, "auth_time": exp - 3600,
        })
    };
    let wrong_iss = ring
        .active
        .sign_jwt("JWT", &claims("https://evil.example", now + 600))
        .unwrap();
    let expired = ring
        .active
        .sign_jwt("JWT", &claims(issuer.url(), now - 86_400))
        .unwrap();
    // Bad signature: one character in the middle of the signature changed.
    let at = ada_hint.len() - 20;
    let flipped = if &ada_hint[at..=at] == "A" { "B" } else { "A" };
    let bad_signature = format!("{}{flipped}{}", &ada_hint[..at], &ada_hint[at + 1..]);
    // Another payload under Ada's signature (an attempt to extend an expired hint).
    let mut parts: Vec<&str> = expired.split('.').collect();
    let resigned_payload = {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(claims(issuer.url(), now + 3600).to_string())
    };
    parts[1] = &resigned_payload;
    let tampered = parts.join(".");
    let access_token = ada_tokens["access_token"].as_str().unwrap().to_owned();

    for (why, hint) in [
        ("malformed", "not-a-jwt".to_owned()),
        ("two segments", "eyJhbGciOiJSUzI1NiJ9.e30".to_owned()),
        ("bad signature", bad_signature),
        ("tampered payload", tampered),
        ("another OP", foreign_hint),
        ("another issuer", wrong_iss),
        ("another client", other_client_hint),
        ("an access token", access_token),
        ("large garbage", "a".repeat(6_000)),
    ] {
        let page = ada
            .authorize(&issuer, &web(&challenge, &[("id_token_hint", &hint)]))
            .await;
        assert_eq!(page.status, 303, "{why}: {}", page.body);
        assert_web_error(&page, &issuer, "invalid_request");
    }

    // Valid hints for the signed-in user — current or expired — are accepted: a code at once.
    for (why, hint) in [("current", &ada_hint), ("expired", &expired)] {
        for prompt in [None, Some("none")] {
            let mut extra = vec![("id_token_hint", hint.as_str())];
            extra.extend(prompt.map(|p| ("prompt", p)));
            let page = ada.authorize(&issuer, &web(&challenge, &extra)).await;
            assert_eq!(page.status, 303, "{why}: {}", page.body);
            assert!(page.param("code").is_some(), "{why}: {:?}", page.location);
            assert_eq!(page.param("state").as_deref(), Some("state-123"));
        }
    }
    // Without a session, a valid expired hint leads to the sign-in form.
    let page = Browser::default()
        .authorize(&issuer, &web(&challenge, &[("id_token_hint", &expired)]))
        .await;
    assert_eq!(page.status, 200, "{:?}", page.location);

    // A hint naming another user than the session's: sign in again, or login_required.
    let page = ada
        .authorize(&issuer, &web(&challenge, &[("id_token_hint", &bob_hint)]))
        .await;
    assert_eq!(page.status, 200, "{:?}", page.location);
    assert!(page.body.contains("action=\"/oauth2/auth/sign-in\""));
    let page = ada
        .authorize(
            &issuer,
            &web(
                &challenge,
                &[("id_token_hint", &bob_hint), ("prompt", "none")],
            ),
        )
        .await;
    assert_web_error(&page, &issuer, "login_required");
}

fn assert_page_headers(page: &Page, what: &str) {
    let h = &page.headers;
    let header = |name: &str| {
        h.get(name)
            .unwrap_or_else(|| panic!("{what}: no {name}"))
            .to_str()
            .unwrap()
            .to_owned()
    };
    assert!(
        header("content-type").starts_with("text/html"),
        "{what}: not HTML"
    );
    let csp = header("content-security-policy");
    assert!(csp.contains("frame-ancestors 'none'"), "{what}: {csp}");
    assert!(csp.contains("default-src 'none'"), "{what}: {csp}");
    assert_eq!(header("x-frame-options"), "DENY", "{what}");
    assert_eq!(header("x-content-type-options"), "nosniff", "{what}");
    assert_eq!(header("cache-control"), "no-store", "{what}");
    assert_eq!(header("referrer-policy"), "same-origin", "{what}");
    assert!(!page.body.contains("<script"), "{what}");
}

#[tokio::test]
async fn case_59_security_headers_on_every_html_page() {
    let issuer = start().await;
    let (_, challenge) = pkce();
    let mut pages: Vec<(&str, Page)> = Vec::new();
    let mut browser = Browser::default();
    pages.push((
        "authorize error page",
        browser.authorize(&issuer, &[("client_id", "nobody")]).await,
    ));
    let sign_in = browser.authorize(&issuer, &web(&challenge, &[])).await;
    let retry = browser
        .sign_in(&issuer, &sign_in, ADA, "not-the-password")
        .await;
    let sign_up = browser
        .authorize(&issuer, &web(&challenge, &[("prompt", "create")]))
        .await;
    let create_org_form = {
        let mut b = Browser::default();
        let form = b
            .authorize(&issuer, &web(&challenge, &[("is_create_org", "true")]))
            .await;
        // The sign-up form carries the interaction: signing in from it works too.
        let link = b.sign_in(&issuer, &form, ADA, ADA_PASSWORD).await;
        b.send(http().get(link.location.clone().unwrap())).await
    };
    let refused = Browser::default()
        .send(
            http()
                .post(format!("{}/oauth2/auth/sign-in", issuer.url()))
                .form(&[("interaction", "nope"), ("csrf", "nope")]),
        )
        .await;
    let logout = browser
        .send(http().get(format!("{}/logout", issuer.url())))
        .await;
    pages.extend([
        ("sign-in form", sign_in),
        ("sign-in retry", retry),
        ("sign-up form", sign_up),
        ("create-organization form", create_org_form),
        ("refused form post", refused),
        ("logout page", logout),
    ]);
    for (what, page) in &pages {
        assert_page_headers(page, what);
        // Over http, no HSTS.
        assert!(
            page.headers.get("strict-transport-security").is_none(),
            "{what}"
        );
    }
}

#[tokio::test]
async fn case_59_hsts_when_the_issuer_is_https() {
    use portcullis_server::store::Store;
    use portcullis_server::{AppState, Settings};

    let store = Store::connect("sqlite::memory:").await.unwrap();
    let state = AppState::new(store, Settings::new("https://login.example.test"))
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(portcullis_server::run(listener, state, async move {
        let _ = stopped.await;
    }));

    let page = Browser::default()
        .authorize(&base, &[("client_id", "nobody")])
        .await;
    assert_eq!(page.status, 400);
    assert_page_headers(&page, "https error page");
    assert_eq!(
        page.headers["strict-transport-security"],
        "max-age=31536000"
    );
    let discovery = http()
        .get(format!("{base}/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        discovery.headers()["strict-transport-security"],
        "max-age=31536000"
    );
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn case_60_request_objects_are_refused() {
    let issuer = start().await;
    let (_, challenge) = pkce();
    for (param, error) in [
        ("request", "request_not_supported"),
        ("request_uri", "request_uri_not_supported"),
    ] {
        let value = if param == "request" {
            "eyJhbGciOiJub25lIn0.eyJzY29wZSI6Im9wZW5pZCJ9."
        } else {
            "http://169.254.169.254/latest/meta-data/"
        };
        let page = Browser::default()
            .authorize(&issuer, &web(&challenge, &[(param, value)]))
            .await;
        assert_web_error(&page, &issuer, error);
    }
    let discovery = get_json(&format!(
        "{}/.well-known/openid-configuration",
        issuer.url()
    ))
    .await;
    assert_eq!(discovery["request_parameter_supported"], json!(false));
    assert_eq!(discovery["request_uri_parameter_supported"], json!(false));
}

#[tokio::test]
async fn case_61_every_authorization_response_carries_iss_and_the_exact_state() {
    let issuer = start().await;
    let (_, challenge) = pkce();
    let odd_state = "a b&c=d/é+%25?#\"<x>";
    let check = |page: &Page, what: &str| {
        assert!(
            page.status == 302 || page.status == 303,
            "{what}: {}",
            page.status
        );
        assert_eq!(page.param("state").as_deref(), Some(odd_state), "{what}");
        assert_eq!(page.param("iss").as_deref(), Some(issuer.url()), "{what}");
        let location = page.location.as_deref().unwrap();
        assert!(location.starts_with(WEB_CALLBACK), "{what}: {location}");
    };
    let with_state = |extra: &[(&'static str, &'static str)]| {
        let mut p = web_with(&challenge, &[("state", odd_state)]);
        p.extend_from_slice(extra);
        p
    };
    let mut browser = Browser::default();
    // Errors.
    let page = browser
        .authorize(&issuer, &with_state(&[("prompt", "bogus")]))
        .await;
    check(&page, "invalid_request");
    let page = browser
        .authorize(&issuer, &with_state(&[("prompt", "none")]))
        .await;
    check(&page, "login_required");
    // Success after the sign-in form post: 303, never 307 (which would replay the POST).
    let form = browser.authorize(&issuer, &with_state(&[])).await;
    let done = browser.sign_in(&issuer, &form, ADA, ADA_PASSWORD).await;
    assert_eq!(done.status, 303);
    check(&done, "code after sign-in");
    assert!(done.param("code").is_some());
    // Success from the session.
    let page = browser.authorize(&issuer, &with_state(&[])).await;
    check(&page, "code from the session");
    // An error after sign-in (not a member of the organization).
    let page = browser
        .authorize(&issuer, &with_state(&[("org_code", "org_nobody")]))
        .await;
    check(&page, "access_denied");
    assert_eq!(page.param("error").as_deref(), Some("access_denied"));
}

#[tokio::test]
async fn case_63_authorization_endpoint_http_hygiene() {
    let issuer = start().await;
    let (_, challenge) = pkce();
    let url = format!("{}/oauth2/auth", issuer.url());
    // JSON: 400, an error page, never a redirect.
    let params: serde_json::Map<String, Value> = web(&challenge, &[])
        .into_iter()
        .map(|(k, v)| (k.to_owned(), json!(v)))
        .collect();
    let mut browser = Browser::default();
    let page = browser.send(http().post(&url).json(&params)).await;
    assert_error_page(&page);
    assert_page_headers(&page, "JSON post");
    let page = browser
        .send(http().post(&url).body("client_id=demo-web"))
        .await;
    assert_error_page(&page);
    // A form post is an authorization request like a GET.
    let page = browser
        .send(http().post(&url).form(&web(&challenge, &[])))
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("action=\"/oauth2/auth/sign-in\""));
    let done = browser.sign_in(&issuer, &page, ADA, ADA_PASSWORD).await;
    assert_eq!(done.status, 303);
    assert!(done.param("code").is_some());

    // Oversized queries: 414 or 400, quickly, and the server keeps serving. (A 100 KB URI is
    // more than HTTP clients build, so it goes over a raw connection.)
    for size in [20 * 1024, 100 * 1024] {
        let head = raw_get(
            issuer.url(),
            &format!(
                "/oauth2/auth?client_id={WEB}&redirect_uri={WEB_CALLBACK}&response_type=code&foo={}",
                "a".repeat(size)
            ),
        )
        .await;
        let status_line = head.lines().next().unwrap_or_default().to_owned();
        assert!(
            status_line.starts_with("HTTP/1.1 414") || status_line.starts_with("HTTP/1.1 400"),
            "{size}: {status_line}"
        );
        assert!(
            !head.to_ascii_lowercase().contains("\r\nlocation:"),
            "{head}"
        );
    }
    // An oversized form body: refused too.
    let body = format!("client_id={WEB}&foo={}", "a".repeat(40 * 1024));
    let response = http()
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert!(
        [400, 413].contains(&response.status().as_u16()),
        "{}",
        response.status()
    );
    let ok = http()
        .get(format!("{}/.well-known/openid-configuration", issuer.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
}

/// Sends `GET {path}` over a raw HTTP/1.1 connection to `base` and returns the response head
/// (status line and headers). Fails if the server takes more than 10 seconds.
async fn raw_get(base: &str, path: &str) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let addr = base.trim_start_matches("http://").to_owned();
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        // The server may answer and close before reading everything: ignore write errors.
        let _ = stream.write_all(request.as_bytes()).await;
        let mut response = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => response.extend_from_slice(&buf[..n]),
            }
            if response.windows(4).any(|w| w == b"\r\n\r\n") {
                break;
            }
        }
        String::from_utf8_lossy(&response).into_owned()
    };
    let response = tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .expect("the server answers an oversized request without hanging");
    response
        .split("\r\n\r\n")
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// Posts the create-organization form `form` with `org_name`.
async fn submit_org(
    browser: &mut Browser,
    issuer: &(impl Base + ?Sized),
    form: &Page,
    org_name: &str,
) -> Page {
    browser
        .submit(
            issuer,
            "/oauth2/auth/create-org",
            form,
            &[("org_name", org_name)],
        )
        .await
}

#[tokio::test]
async fn hosted_create_organization_page_after_sign_in() {
    let issuer = start().await;
    let (verifier, challenge) = pkce();
    let mut browser = Browser::default();
    let params = web(&challenge, &[("is_create_org", "true")]);
    let form = browser.authorize(&issuer, &params).await;
    assert_eq!(form.status, 200, "{}", form.body);
    assert!(form.body.contains("action=\"/oauth2/auth/sign-up\""));
    assert!(form.body.contains("name your organization"));
    // The user has an account: sign in from the sign-up form's link.
    let switched = browser
        .send(http().get(format!(
            "{}/oauth2/auth/sign-in?interaction={}",
            issuer.url(),
            form.hidden("interaction")
        )))
        .await;
    let signed_in = browser.sign_in(&issuer, &switched, BOB, BOB_PASSWORD).await;
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);
    assert!(
        browser.session().is_some(),
        "signed in before naming the org"
    );
    let link = signed_in.location.clone().unwrap();
    assert!(
        link.starts_with(&format!(
            "{}/oauth2/auth/create-org?interaction=",
            issuer.url()
        )),
        "{link}"
    );
    assert_eq!(signed_in.param("code"), None);

    let page = browser.send(http().get(&link)).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_page_headers(&page, "create-organization form");
    assert!(page.body.contains("<h1>Create your organization</h1>"));
    assert!(page.body.contains("action=\"/oauth2/auth/create-org\""));
    assert!(page.body.contains("<label for=\"org_name\">"));
    assert!(page.body.contains("id=\"org_name\" name=\"org_name\""));
    assert_ne!(page.hidden("interaction"), switched.hidden("interaction"));
    assert_ne!(page.hidden("csrf"), switched.hidden("csrf"));

    // Another browser cannot open or post it; a post without the CSRF token is refused.
    let mut stranger = Browser::default();
    assert_eq!(stranger.send(http().get(&link)).await.status, 403);
    assert_eq!(
        submit_org(&mut stranger, &issuer, &page, "Stolen")
            .await
            .status,
        403
    );
    let no_csrf = browser
        .send(
            http()
                .post(format!("{}/oauth2/auth/create-org", issuer.url()))
                .form(&[
                    ("interaction", page.hidden("interaction")),
                    ("org_name", "No CSRF".to_owned()),
                ]),
        )
        .await;
    assert_eq!(no_csrf.status, 403);
    let cross_site = browser
        .send(
            http()
                .post(format!("{}/oauth2/auth/create-org", issuer.url()))
                .header("origin", "https://evil.example")
                .form(&[
                    ("interaction", page.hidden("interaction")),
                    ("csrf", page.hidden("csrf")),
                    ("org_name", "Cross site".to_owned()),
                ]),
        )
        .await;
    assert_eq!(cross_site.status, 403);

    // Refused names re-render the form with a message (400), the entry escaped.
    for (name, message) in [
        ("", "Enter a name"),
        ("   ", "Enter a name"),
        ("x<b>y".repeat(30).leak() as &str, "100 characters"),
        ("a\u{7}b", "control characters"),
    ] {
        let refused = submit_org(&mut browser, &issuer, &page, name).await;
        assert_eq!(refused.status, 400, "{name:?}");
        assert_page_headers(&refused, "refused organization name");
        assert!(refused.body.contains(message), "{name:?}: {}", refused.body);
        assert!(refused.body.contains("aria-invalid=\"true\""));
        assert!(!refused.body.contains("<b>"));
        assert_eq!(refused.hidden("csrf"), page.hidden("csrf"));
    }

    // A valid name: the organization is created, the code is for it.
    let done = submit_org(&mut browser, &issuer, &page, "  Bob's <Builders>  ").await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert!(done.location.as_deref().unwrap().starts_with(WEB_CALLBACK));
    assert_eq!(done.param("state").as_deref(), Some("state-123"));
    assert_eq!(done.param("iss").as_deref(), Some(issuer.url()));
    let (status, body) = redeem(&issuer, &done.param("code").unwrap(), &verifier).await;
    assert_eq!(status, 200, "{body}");
    let verifier_sdk = sdk(&issuer, WEB);
    let claims = verifier_sdk
        .verify_access_token(body["access_token"].as_str().unwrap())
        .await
        .unwrap();
    let org = claims.org_code.clone().expect("org_code");
    assert!(org.starts_with("org_") && org != "org_acme", "{org}");
    assert!(claims.roles.is_empty());
    let bob = claims.sub.clone().unwrap();
    let member_of = issuer.state().store().user_org_codes(&bob).await.unwrap();
    assert!(member_of.contains(&org), "{member_of:?}");
    assert!(member_of.contains(&"org_acme".to_owned()), "{member_of:?}");
    let id = verifier_sdk
        .verify_id_token(body["id_token"].as_str().unwrap(), Some("nonce-456"))
        .await
        .unwrap();
    assert!(id.user_organizations().org_codes.contains(&org));

    // The interaction is spent: the form cannot create a second organization.
    let replay = submit_org(&mut browser, &issuer, &page, "Again").await;
    assert_eq!(replay.status, 400);
    assert_eq!(
        issuer
            .state()
            .store()
            .user_org_codes(&bob)
            .await
            .unwrap()
            .len(),
        member_of.len()
    );
}

#[tokio::test]
async fn hosted_create_organization_page_after_sign_up_and_after_sign_out() {
    let issuer = start().await;
    let (verifier, challenge) = pkce();
    let mut browser = Browser::default();
    let form = browser
        .authorize(&issuer, &web(&challenge, &[("is_create_org", "true")]))
        .await;
    let signed_up = browser
        .send(
            http()
                .post(format!("{}/oauth2/auth/sign-up", issuer.url()))
                .form(&[
                    ("interaction", form.hidden("interaction")),
                    ("csrf", form.hidden("csrf")),
                    ("email", "carol@example.com".to_owned()),
                    ("password", "a-long-enough-password".to_owned()),
                    ("given_name", "Carol".to_owned()),
                ]),
        )
        .await;
    assert_eq!(signed_up.status, 303, "{}", signed_up.body);
    let page = browser
        .send(http().get(signed_up.location.clone().unwrap()))
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    let done = submit_org(&mut browser, &issuer, &page, "Carol & Co").await;
    assert_eq!(done.status, 303, "{}", done.body);
    let (status, body) = redeem(&issuer, &done.param("code").unwrap(), &verifier).await;
    assert_eq!(status, 200, "{body}");
    let claims = sdk(&issuer, WEB)
        .verify_access_token(body["access_token"].as_str().unwrap())
        .await
        .unwrap();
    let org = claims.org_code.clone().expect("org_code");
    let carol = claims.sub.clone().unwrap();
    assert_eq!(
        issuer.state().store().user_org_codes(&carol).await.unwrap(),
        [org]
    );

    // Signed out between signing in and naming the organization: nothing is created.
    let (_, challenge) = pkce();
    let mut browser = Browser::default();
    let form = browser
        .authorize(&issuer, &web(&challenge, &[("is_create_org", "true")]))
        .await;
    let switched = browser
        .send(http().get(format!(
            "{}/oauth2/auth/sign-in?interaction={}",
            issuer.url(),
            form.hidden("interaction")
        )))
        .await;
    let signed_in = browser.sign_in(&issuer, &switched, ADA, ADA_PASSWORD).await;
    let page = browser
        .send(http().get(signed_in.location.clone().unwrap()))
        .await;
    assert_eq!(page.status, 200);
    let ada = issuer
        .state()
        .store()
        .user_by_email(ADA)
        .await
        .unwrap()
        .unwrap()
        .id;
    let before = issuer.state().store().user_org_codes(&ada).await.unwrap();
    browser
        .send(http().get(format!("{}/logout", issuer.url())))
        .await;
    let refused = submit_org(&mut browser, &issuer, &page, "Too late").await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(refused.location.is_none());
    assert_eq!(
        issuer.state().store().user_org_codes(&ada).await.unwrap(),
        before
    );
    // The `org_name` form still creates the organization at sign-in, with no extra page.
    let (_, challenge) = pkce();
    let mut browser = Browser::default();
    let form = browser
        .authorize(
            &issuer,
            &web(
                &challenge,
                &[("is_create_org", "true"), ("org_name", "Named Up Front")],
            ),
        )
        .await;
    assert!(!form.body.contains("name your organization"));
    let switched = browser
        .send(http().get(format!(
            "{}/oauth2/auth/sign-in?interaction={}",
            issuer.url(),
            form.hidden("interaction")
        )))
        .await;
    let done = browser.sign_in(&issuer, &switched, ADA, ADA_PASSWORD).await;
    assert_eq!(done.status, 303);
    assert!(done.param("code").is_some(), "{:?}", done.location);
}
