//! The `actix_app` example, served against the real identity server: its pages and protected
//! routes, signed in through the browser flow and with a bearer token.

mod common;

#[path = "../examples/actix_app.rs"]
#[allow(dead_code)]
mod actix_app;

use actix_web::cookie::Key;
use common::*;
use portcullis_actix::session::SESSION_COOKIE;
use portcullis_actix::{Auth, MemoryStore};
use portcullis_server::testing::TestIssuer;

fn serve_example(issuer: &TestIssuer) -> String {
    let auth = Auth::from_config(&web_config(issuer)).unwrap();
    let (store, key) = (MemoryStore::default(), Key::generate());
    serve!(move || actix_app::app(auth.clone(), store.clone(), key.clone()))
}

/// `GET path` with the session cookie `cookie`, if any.
async fn get(base: &str, path: &str, cookie: Option<&str>) -> reqwest::Response {
    let mut request = http().get(format!("{base}{path}"));
    if let Some(c) = cookie {
        request = request.header("cookie", format!("{SESSION_COOKIE}={c}"));
    }
    request.send().await.unwrap()
}

fn session_cookie(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next()?.split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.to_owned())
}

/// Signs `email` in through the example's `/login` (into `org`); returns the session cookie.
async fn sign_in(issuer: &TestIssuer, base: &str, email: &str, org: &str) -> String {
    let r = get(base, &format!("/login?org_code={org}&return_to=/"), None).await;
    assert_eq!(r.status(), 303);
    // The sign-in is kept in a login cookie of its own.
    let login = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok()?.split(';').next())
        .find(|pair| pair.starts_with("portcullis-login-"))
        .expect("a login cookie")
        .to_owned();
    let authorize = r.headers()["location"].to_str().unwrap().to_owned();
    let callback = issuer
        .browser_sign_in(&authorize, email, PASSWORD)
        .await
        .expect("the hosted sign-in succeeds");
    let query = url::Url::parse(&callback)
        .unwrap()
        .query()
        .unwrap()
        .to_owned();
    let r = http()
        .get(format!("{base}/callback?{query}"))
        .header("cookie", login)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/");
    session_cookie(&r).expect("a renewed session cookie")
}

#[tokio::test]
async fn signed_out_the_pages_offer_sign_in_and_the_api_refuses() {
    let issuer = issuer().await;
    let base = serve_example(&issuer);
    let page = get(&base, "/", None).await.text().await.unwrap();
    assert!(page.contains("href=\"/login?return_to=/\""), "{page}");
    for path in ["/api/me", "/api/todos", "/api/admin/stats"] {
        let r = get(&base, path, None).await;
        assert_eq!(r.status(), 401, "{path}");
        assert_eq!(
            www_authenticate(&r).as_deref(),
            Some("Bearer realm=\"api\"")
        );
    }
}

#[tokio::test]
async fn a_signed_in_admin_sees_the_claims_and_every_route() {
    let issuer = issuer().await;
    let base = serve_example(&issuer);
    let cookie = sign_in(&issuer, &base, ADA, "org_acme").await;
    let page = get(&base, "/", Some(&cookie)).await.text().await.unwrap();
    assert!(page.contains("organization <b>org_acme</b>"), "{page}");
    assert!(page.contains("roles <b>admin</b>"), "{page}");
    assert!(page.contains("read:todos"), "the claims are shown: {page}");
    let me: serde_json::Value = get(&base, "/api/me", Some(&cookie))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["via"], "Session");
    for path in ["/api/todos", "/api/admin/stats"] {
        assert_eq!(
            get(&base, path, Some(&cookie)).await.status(),
            200,
            "{path}"
        );
    }
    // Sign-out ends the session.
    let r = get(&base, "/logout", Some(&cookie)).await;
    assert_eq!(r.status(), 303);
    assert_eq!(get(&base, "/api/me", Some(&cookie)).await.status(), 401);
}

#[tokio::test]
async fn bearer_tokens_work_and_rights_are_checked() {
    let issuer = issuer().await;
    let base = serve_example(&issuer);
    let bob = token(&issuer, BOB, "org_globex", API).await;
    let call = |path: &'static str| http().get(format!("{base}{path}")).bearer_auth(&bob).send();
    let me: serde_json::Value = call("/api/me").await.unwrap().json().await.unwrap();
    assert_eq!(me["via"], "Bearer");
    assert_eq!(call("/api/todos").await.unwrap().status(), 200);
    let r = call("/api/admin/stats").await.unwrap();
    assert_eq!(r.status(), 403);
    assert!(
        www_authenticate(&r)
            .unwrap()
            .contains("error=\"insufficient_scope\"")
    );
}

#[test]
fn the_configuration_defaults_to_the_demo_tenant_only_without_an_issuer() {
    let (config, port) = actix_app::config_from(|_| None).unwrap();
    assert_eq!(port, 3000);
    assert_eq!(config.client_id(), Some("demo-web"));
    assert_eq!(
        config.redirect_uri(),
        Some("http://localhost:3000/callback")
    );
    let with_issuer =
        |name: &str| (name == "PORTCULLIS_ISSUER").then(|| "https://id.example.com".to_owned());
    let e = actix_app::config_from(with_issuer).unwrap_err();
    assert!(e.contains("PORTCULLIS_CLIENT_ID"), "{e}");
    let bad_port = |name: &str| (name == "PORT").then(|| "eighty".to_owned());
    assert!(
        actix_app::config_from(bad_port)
            .unwrap_err()
            .contains("PORT")
    );
}
