//! The `bearer_api` example (the SPA back end of the architecture notes' contract), its own
//! router, against the real identity server.

mod common;

#[path = "../examples/bearer_api.rs"]
#[allow(dead_code)]
mod bearer_api;

use common::*;
use portcullis_axum::Auth;
use serde_json::{Value, json};

const SPA_ORIGIN: &str = "http://localhost:5173";

#[tokio::test]
async fn the_example_serves_the_bearer_api_contract() {
    let issuer = issuer().await;
    let auth = Auth::from_config(&issuer.verifier_config(API).unwrap()).unwrap();
    let origin = bearer_api::spa_origin(Some(SPA_ORIGIN)).unwrap();
    let base = serve(bearer_api::app(auth, origin)).await;
    let ada = token(&issuer, ADA, "org_acme", API).await;
    let bob = token(&issuer, BOB, "org_globex", API).await;
    let http = http();
    let get = |path: &str, token: Option<&str>| {
        let mut r = http.get(format!("{base}{path}"));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r.send()
    };

    // Public: no token needed.
    assert_eq!(get("/api/public", None).await.unwrap().status(), 200);
    // Protected: 401 with RFC 6750 WWW-Authenticate without a token or with a bad one.
    let r = get("/api/protected", None).await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        www_authenticate(&r).as_deref(),
        Some("Bearer realm=\"api\"")
    );
    let r = get("/api/protected", Some("bad.token.here")).await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(
        www_authenticate(&r)
            .unwrap()
            .contains("error=\"invalid_token\"")
    );
    let r = get("/api/protected", Some(&bob)).await.unwrap();
    assert_eq!(r.status(), 200);
    // Admin: role admin.
    assert_eq!(get("/api/admin", Some(&ada)).await.unwrap().status(), 200);
    let r = get("/api/admin", Some(&bob)).await.unwrap();
    assert_eq!(r.status(), 403);
    assert!(
        www_authenticate(&r)
            .unwrap()
            .contains("error=\"insufficient_scope\"")
    );
    assert_eq!(get("/api/admin", None).await.unwrap().status(), 401);

    // Todos: Bob reads but may not create; Ada does both.
    let r = get("/api/todos", Some(&bob)).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap(), json!({ "todos": [] }));
    let post = |token: &str, body: Value| {
        http.post(format!("{base}/api/todos"))
            .bearer_auth(token)
            .json(&body)
            .send()
    };
    let r = post(&bob, json!({ "title": "mine" })).await.unwrap();
    assert_eq!(r.status(), 403);
    assert!(
        www_authenticate(&r)
            .unwrap()
            .contains("scope=\"create:todos\"")
    );
    let r = post(&ada, json!({ "title": "write the docs" }))
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = post(&ada, json!({ "title": "  " })).await.unwrap();
    assert_eq!(r.status(), 400);
    let r = get("/api/todos", Some(&ada)).await.unwrap();
    let todos = r.json::<Value>().await.unwrap();
    assert_eq!(todos["todos"][0]["title"], "write the docs");
    assert_eq!(get("/api/todos", None).await.unwrap().status(), 401);

    // CORS: the SPA's origin is allowed (preflight included), others are not.
    let preflight = http
        .request(reqwest::Method::OPTIONS, format!("{base}/api/todos"))
        .header("origin", SPA_ORIGIN)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization, content-type",
        )
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success());
    assert_eq!(
        preflight
            .headers()
            .get("access-control-allow-origin")
            .unwrap(),
        SPA_ORIGIN
    );
    let refused = http
        .get(format!("{base}/api/protected"))
        .header("origin", SPA_ORIGIN)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    assert_eq!(
        refused
            .headers()
            .get("access-control-allow-origin")
            .unwrap(),
        SPA_ORIGIN
    );
    assert!(
        refused
            .headers()
            .get("access-control-expose-headers")
            .unwrap()
            .to_str()
            .unwrap()
            .contains("www-authenticate")
    );
    let evil = http
        .get(format!("{base}/api/public"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert!(evil.headers().get("access-control-allow-origin").is_none());
}

#[test]
fn the_spa_origin_must_be_an_origin() {
    assert!(bearer_api::spa_origin(None).unwrap().is_none());
    assert!(bearer_api::spa_origin(Some("")).unwrap().is_none());
    assert!(
        bearer_api::spa_origin(Some("https://app.example.com"))
            .unwrap()
            .is_some()
    );
    assert!(
        bearer_api::spa_origin(Some("https://app.example.com/"))
            .unwrap()
            .is_some()
    );
    for bad in [
        "https://app.example.com/path",
        "app.example.com",
        "ftp://x.example",
        "*",
    ] {
        assert!(bearer_api::spa_origin(Some(bad)).is_err(), "{bad}");
    }
}
