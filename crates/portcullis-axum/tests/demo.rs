//! The `web_app` example (the demo's web app), its own router, against the real identity server
//! seeded with the demo tenant (`crates/portcullis-server/examples/tenant.toml`): sign in, the
//! claims on the page, the API call with the session's access token (allowed and refused),
//! sign out; and its configuration from the environment.

mod common;

#[path = "../examples/spa/server.rs"]
mod spa;
#[path = "../examples/web_app.rs"]
#[allow(dead_code)]
mod web_app;

use common::{http, location};
use portcullis::Config;
use portcullis_axum::Auth;
use portcullis_axum::session::SESSION_COOKIE;
use portcullis_server::seed::Seed;
use portcullis_server::testing::{TestIssuer, TestUser};

const TENANT: &str = include_str!("../../portcullis-server/examples/tenant.toml");
const ADA: (&str, &str) = ("ada@example.com", "correct-horse-battery-staple");
const BOB: (&str, &str) = ("bob@example.com", "can-we-fix-it-yes-we-can");
/// A user in no organization, whose name needs escaping.
const MALLORY: (&str, &str) = ("mallory@example.com", "mallory-password-0123");

async fn demo_issuer() -> TestIssuer {
    TestIssuer::builder()
        .seed(Seed::from_toml(TENANT).expect("the demo tenant loads"))
        .user(
            TestUser::new(MALLORY.0)
                .password(MALLORY.1)
                .name("<script>alert(1)</script>", "O'Hara & \"Co\""),
        )
        .start()
        .await
        .expect("the identity server starts")
}

/// The web app on 127.0.0.1:0, configured for the demo tenant's `demo-web` application.
async fn web(issuer: &TestIssuer, demo_logins: Vec<web_app::DemoLogin>) -> String {
    web_with_spa(issuer, demo_logins, None).await
}

/// The web app, its API allowing `spa_origin` by CORS.
async fn web_with_spa(
    issuer: &TestIssuer,
    demo_logins: Vec<web_app::DemoLogin>,
    spa_origin: Option<&str>,
) -> String {
    let config = Config::builder(issuer.issuer())
        .client_id(web_app::DEMO_CLIENT_ID)
        .client_secret(web_app::DEMO_CLIENT_SECRET)
        .redirect_uri("http://localhost:3000/callback")
        .post_logout_redirect_uri("http://localhost:3000/")
        .audience(web_app::DEMO_AUDIENCE)
        .build()
        .unwrap();
    let auth = Auth::from_config(&config).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = web_app::app(
        auth,
        web_app::Options {
            api_url: base.clone(),
            demo_logins,
            spa_origin: spa_origin.map(|o| o.parse().unwrap()),
        },
    )
    .unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

/// A browser on the web app: keeps its session cookie (and the sign-ins' login cookies),
/// follows no redirect.
struct Browser {
    base: String,
    cookie: Option<String>,
    logins: Vec<(String, String)>,
}

impl Browser {
    fn new(base: &str) -> Self {
        Browser {
            base: base.to_owned(),
            cookie: None,
            logins: Vec::new(),
        }
    }

    async fn get(&mut self, path: &str) -> reqwest::Response {
        let mut request = http().get(format!("{}{path}", self.base));
        let pairs: Vec<String> = (self.cookie.iter().map(|v| format!("{SESSION_COOKIE}={v}")))
            .chain(self.logins.iter().map(|(n, v)| format!("{n}={v}")))
            .collect();
        if !pairs.is_empty() {
            request = request.header("cookie", pairs.join("; "));
        }
        let response = request.send().await.unwrap();
        for set in response.headers().get_all("set-cookie") {
            let set = set.to_str().unwrap_or_default();
            let Some((name, value)) = set.split(';').next().and_then(|p| p.split_once('=')) else {
                continue;
            };
            let gone = value.is_empty() || set.to_ascii_lowercase().contains("max-age=0");
            if name.trim() == SESSION_COOKIE {
                self.cookie = (!gone).then(|| value.to_owned());
            } else if name.contains("portcullis-login-") {
                self.logins.retain(|(n, _)| n != name.trim());
                if !gone {
                    self.logins.push((name.trim().to_owned(), value.to_owned()));
                }
            }
        }
        response
    }

    /// A page: its status and HTML.
    async fn page(&mut self, path: &str) -> (u16, String) {
        let response = self.get(path).await;
        let status = response.status().as_u16();
        (status, response.text().await.unwrap())
    }

    /// Signs in through the app's `/login?{query}` and the hosted sign-in form; returns the
    /// home page the callback leads to.
    async fn sign_in(&mut self, issuer: &TestIssuer, login: (&str, &str), query: &str) -> String {
        let r = self.get(&format!("/login?{query}")).await;
        assert_eq!(r.status(), 303);
        let authorize = location(&r);
        let callback = issuer
            .browser_sign_in(&authorize, login.0, login.1)
            .await
            .expect("the hosted sign-in succeeds");
        let callback = url::Url::parse(&callback).unwrap();
        assert_eq!(callback.path(), "/callback");
        let r = self
            .get(&format!("/callback?{}", callback.query().unwrap_or("")))
            .await;
        assert_eq!(r.status(), 303, "{:?}", r.text().await);
        assert_eq!(location(&r), "/");
        let (status, html) = self.page("/").await;
        assert_eq!(status, 200);
        html
    }
}

fn assert_contains(html: &str, parts: &[&str]) {
    for part in parts {
        assert!(html.contains(part), "{part:?} is not on the page:\n{html}");
    }
}

#[tokio::test]
async fn ada_sees_her_claims_and_calls_the_api() {
    let issuer = demo_issuer().await;
    let base = web(&issuer, Vec::new()).await;
    let mut browser = Browser::new(&base);

    let (status, html) = browser.page("/").await;
    assert_eq!(status, 200);
    assert_contains(
        &html,
        &[
            "You are signed out",
            "href=\"/login\"",
            "href=\"/register\"",
            "href=\"/create-org\"",
        ],
    );
    assert!(!html.contains("Demo logins"));

    let html = browser.sign_in(&issuer, ADA, "org_code=org_acme").await;
    assert_contains(
        &html,
        &[
            "Hello, Ada Lovelace",
            "ada@example.com",
            "<tr><th>Organization</th><td><code>org_acme</code></td></tr>",
            "<span class=\"tag\">Admin</span>",
            "<span class=\"tag\">read:todos</span>",
            "<span class=\"tag\">create:todos</span>",
            "<span class=\"tag\">delete:todos</span>",
            // Feature flags: ada's own theme, org_acme's analytics default, the int default.
            "<td><code>theme</code></td><td>string</td><td><code>&quot;blue&quot;</code></td>",
            "<td><code>analytics</code></td><td>boolean</td><td><code>false</code></td>",
            "<td><code>competitions_limit</code></td><td>integer</td><td><code>5</code></td>",
            // The theme flag colours the page.
            "--accent:#1565c0",
            // Her other organization, one click away.
            "<h2>Switch organization</h2>",
            "href=\"/login?org_code=org_globex\"",
            "href=\"/logout\"",
        ],
    );

    let (status, html) = browser.page("/call-api?endpoint=todos").await;
    assert_eq!(status, 200);
    assert_contains(
        &html,
        &[
            "<h1>GET /api/todos</h1>",
            "<strong>200 OK</strong> — Allowed",
            "&quot;todos&quot;: []",
        ],
    );
    let (_, html) = browser.page("/call-api?endpoint=admin").await;
    assert_contains(
        &html,
        &["<strong>200 OK</strong>", "&quot;Hello, admin.&quot;"],
    );

    // The API itself takes bearer tokens only, not the browser's session.
    let r = browser.get("/api/todos").await;
    assert_eq!(r.status(), 401);

    // In org_globex she is a member with delete:todos given directly.
    let html = browser.sign_in(&issuer, ADA, "org_code=org_globex").await;
    assert_contains(
        &html,
        &[
            "<code>org_globex</code>",
            "<span class=\"tag\">Member</span>",
            "<span class=\"tag\">delete:todos</span>",
            "<td><code>analytics</code></td><td>boolean</td><td><code>true</code></td>",
            "href=\"/login?org_code=org_acme\"",
        ],
    );
    let (_, html) = browser.page("/call-api?endpoint=admin").await;
    assert_contains(
        &html,
        &["<strong>403 Forbidden</strong>", "lacks the role admin"],
    );
}

#[tokio::test]
async fn bob_is_refused_the_admin_api_and_signs_out() {
    let issuer = demo_issuer().await;
    let base = web(&issuer, Vec::new()).await;
    let mut browser = Browser::new(&base);
    let html = browser.sign_in(&issuer, BOB, "org_code=org_acme").await;
    assert_contains(
        &html,
        &[
            "Hello, Bob Builder",
            "<span class=\"tag\">Member</span>",
            "<span class=\"tag\">read:todos</span>",
            // org_acme's theme.
            "<td><code>theme</code></td><td>string</td><td><code>&quot;pink&quot;</code></td>",
        ],
    );
    assert!(!html.contains("delete:todos"), "{html}");
    assert!(!html.contains("Switch organization"), "{html}");

    let (_, html) = browser.page("/call-api?endpoint=todos").await;
    assert_contains(&html, &["<strong>200 OK</strong>"]);
    let (status, html) = browser.page("/call-api?endpoint=admin").await;
    assert_eq!(status, 200);
    assert_contains(
        &html,
        &[
            "<strong>403 Forbidden</strong> — Refused: your token is valid, but lacks the role admin.",
            "WWW-Authenticate: Bearer realm=&quot;api&quot;, error=&quot;insufficient_scope&quot;",
        ],
    );

    // Sign out: the session ends here, the browser goes through the issuer's logout back to
    // the app.
    let signed_in_cookie = browser.cookie.clone().expect("a session cookie");
    let r = browser.get("/logout").await;
    assert_eq!(r.status(), 303);
    let to = location(&r);
    assert!(to.starts_with(&format!("{}/logout?", issuer.url())), "{to}");
    assert!(
        to.contains("redirect=http%3A%2F%2Flocalhost%3A3000%2F"),
        "{to}"
    );
    let (_, html) = browser.page("/").await;
    assert_contains(&html, &["You are signed out"]);
    // The old cookie is worth nothing now.
    browser.cookie = Some(signed_in_cookie);
    let (_, html) = browser.page("/").await;
    assert_contains(&html, &["You are signed out"]);
    let (status, html) = browser.page("/call-api?endpoint=todos").await;
    assert_eq!(status, 401);
    assert_contains(
        &html,
        &[
            "Sign in first",
            "/login?return_to=%2Fcall-api%3Fendpoint%3Dtodos",
        ],
    );
}

#[tokio::test]
async fn a_user_without_an_organization_is_refused_and_everything_is_escaped() {
    let issuer = demo_issuer().await;
    let logins = vec![web_app::DemoLogin {
        email: "ada@example.com".into(),
        password: "<b>pw</b>".into(),
        about: "admin & co".into(),
        org_code: Some("org_acme".into()),
    }];
    let base = web(&issuer, logins).await;
    let mut browser = Browser::new(&base);
    let (_, html) = browser.page("/").await;
    assert_contains(
        &html,
        &[
            "Demo logins",
            "<code>&lt;b&gt;pw&lt;/b&gt;</code>",
            "admin &amp; co",
            "href=\"/login?login_hint=ada%40example.com&amp;org_code=org_acme\"",
        ],
    );

    let html = browser.sign_in(&issuer, MALLORY, "").await;
    assert_contains(
        &html,
        &[
            "Hello, &lt;script&gt;alert(1)&lt;/script&gt; O&#39;Hara &amp; &quot;Co&quot;",
            "none: roles and permissions come with an organization",
        ],
    );
    assert!(!html.contains("<script>"), "{html}");
    assert!(!html.contains("Choose an organization"), "{html}");

    let (_, html) = browser.page("/call-api?endpoint=todos").await;
    assert_contains(
        &html,
        &[
            "<strong>403 Forbidden</strong>",
            "lacks the permission read:todos",
            "scope=&quot;read:todos&quot;",
        ],
    );
    for bad in [
        "/call-api",
        "/call-api?endpoint=../../admin",
        "/call-api?endpoint=https://evil.example/",
        "/call-api?endpoint=todos&endpoint=admin",
    ] {
        let (status, html) = browser.page(bad).await;
        assert_eq!(status, 400, "{bad}");
        assert!(html.contains("Bad request"), "{bad}: {html}");
    }
}

#[tokio::test]
async fn ada_without_an_organization_chooses_one_on_the_hosted_page() {
    // Ada is in two organizations and the login names none: the identity server's hosted
    // chooser asks (the test browser picks the first by name, Acme), and the app offers the
    // other one to switch to.
    let issuer = demo_issuer().await;
    let base = web(&issuer, Vec::new()).await;
    let mut browser = Browser::new(&base);
    let html = browser.sign_in(&issuer, ADA, "").await;
    assert_contains(
        &html,
        &[
            "org_acme",
            "<h2>Switch organization</h2>",
            "href=\"/login?org_code=org_globex\"",
        ],
    );
}

#[test]
fn the_configuration_defaults_to_the_demo_only_without_an_issuer() {
    let env = |pairs: &'static [(&'static str, &'static str)]| {
        move |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    };
    let (config, port) = web_app::config_from(env(&[])).unwrap();
    assert_eq!(port, 3000);
    assert_eq!(config.issuer(), "http://localhost:8080");
    assert_eq!(config.client_id(), Some("demo-web"));
    assert_eq!(
        config.redirect_uri(),
        Some("http://localhost:3000/callback")
    );
    assert_eq!(config.audiences(), ["https://api.example.com"]);

    let (config, port) = web_app::config_from(env(&[("PORT", "4000")])).unwrap();
    assert_eq!(port, 4000);
    assert_eq!(
        config.redirect_uri(),
        Some("http://localhost:4000/callback")
    );
    assert_eq!(
        config.post_logout_redirect_uri(),
        Some("http://localhost:4000/")
    );
    // A value that is set wins over the demo's.
    let (config, _) =
        web_app::config_from(env(&[("PORTCULLIS_AUDIENCE", "https://other.example")])).unwrap();
    assert_eq!(config.audiences(), ["https://other.example"]);

    // An issuer of your own: nothing is filled in.
    let e =
        web_app::config_from(env(&[("PORTCULLIS_ISSUER", "https://acme.kinde.com")])).unwrap_err();
    assert!(e.contains("PORTCULLIS_CLIENT_ID"), "{e}");
    let e = web_app::config_from(env(&[
        ("KINDE_DOMAIN", "https://acme.kinde.com"),
        ("PORTCULLIS_CLIENT_ID", "app"),
        ("PORTCULLIS_REDIRECT_URI", "https://app.example/callback"),
    ]))
    .unwrap_err();
    assert!(e.contains("PORTCULLIS_AUDIENCE"), "{e}");

    let e = web_app::config_from(env(&[("PORT", "http")])).unwrap_err();
    assert!(e.contains("PORT"), "{e}");
    let e = web_app::config_from(env(&[("PORTCULLIS_ISSUER", "not a url")])).unwrap_err();
    assert!(e.contains("PORTCULLIS_ISSUER"), "{e}");
}

const SPA_ORIGIN: &str = "http://localhost:5173";

fn spa_config() -> spa::SpaConfig {
    spa::SpaConfig {
        issuer: "http://localhost:8080".into(),
        client_id: "demo-spa".into(),
        redirect_uri: format!("{SPA_ORIGIN}/callback"),
        post_logout_redirect_uri: format!("{SPA_ORIGIN}/"),
        audience: web_app::DEMO_AUDIENCE.into(),
        api: "http://localhost:3000".into(),
        org_code: "org_acme".into(),
    }
}

#[tokio::test]
async fn the_spa_is_served_with_its_settings_and_a_strict_policy() {
    let base = common::serve(spa::router(spa_config()).unwrap()).await;
    let client = http();
    for path in ["/", "/callback?code=abc&state=xyz"] {
        let r = client.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        let csp = r.headers()["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("script-src 'self';"), "{csp}");
        assert!(
            csp.contains("connect-src 'self' http://localhost:8080 http://localhost:3000;"),
            "{csp}"
        );
        assert_eq!(r.headers()["referrer-policy"], "no-referrer");
        let html = r.text().await.unwrap();
        assert!(
            html.contains("<script src=\"/app.js\" defer></script>"),
            "{html}"
        );
        // No inline script: the policy would block it.
        assert_eq!(html.matches("<script").count(), 1, "{html}");
    }
    let r = client.get(format!("{base}/app.js")).send().await.unwrap();
    assert_eq!(
        r.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("code_challenge_method: 'S256'")
    );
    let config: serde_json::Value = client
        .get(format!("{base}/config.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(config["client_id"], "demo-spa");
    assert_eq!(config["redirect_uri"], "http://localhost:5173/callback");
    assert_eq!(config["api"], "http://localhost:3000");
    let r = client.get(format!("{base}/.env")).send().await.unwrap();
    assert_eq!(r.status(), 404);

    let mut bad = spa_config();
    bad.api = "javascript:alert(1)".into();
    assert!(spa::router(bad).is_err());
}

#[tokio::test]
async fn the_api_answers_cors_for_the_spa_origin_only() {
    let issuer = demo_issuer().await;
    let base = web_with_spa(&issuer, Vec::new(), Some(SPA_ORIGIN)).await;
    let preflight = http()
        .request(reqwest::Method::OPTIONS, format!("{base}/api/todos"))
        .header("origin", SPA_ORIGIN)
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "authorization")
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success());
    assert_eq!(
        preflight.headers()["access-control-allow-origin"],
        SPA_ORIGIN
    );
    let other = http()
        .get(format!("{base}/api/todos"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 401);
    assert!(other.headers().get("access-control-allow-origin").is_none());
    // The pages are not part of the API: no CORS there.
    let page = http()
        .get(format!("{base}/"))
        .header("origin", SPA_ORIGIN)
        .send()
        .await
        .unwrap();
    assert!(page.headers().get("access-control-allow-origin").is_none());
}
