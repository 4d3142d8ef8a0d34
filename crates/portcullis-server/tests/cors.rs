//! CORS only for the origins of registered single-page applications, on the endpoints a
//! browser app calls; never `*`, never with credentials.

use portcullis_server::seed::Seed;
use portcullis_server::testing::TestIssuer;

const SPA_ORIGIN: &str = "http://localhost:5173";

async fn start() -> TestIssuer {
    TestIssuer::builder()
        .seed(Seed::from_toml(include_str!("../examples/tenant.toml")).unwrap())
        .start()
        .await
        .unwrap()
}

async fn preflight(issuer: &TestIssuer, path: &str, origin: &str) -> reqwest::Response {
    reqwest::Client::new()
        .request(reqwest::Method::OPTIONS, format!("{}{path}", issuer.url()))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .unwrap()
}

fn acao(r: &reqwest::Response) -> Option<String> {
    r.headers()
        .get("access-control-allow-origin")
        .map(|v| v.to_str().unwrap().to_owned())
}

#[tokio::test]
async fn spa_origins_get_cors_and_nobody_else_does() {
    let issuer = start().await;
    for path in [
        "/oauth2/token",
        "/oauth2/revoke",
        "/oauth2/userinfo",
        "/.well-known/jwks.json",
    ] {
        let ok = preflight(&issuer, path, SPA_ORIGIN).await;
        assert_eq!(ok.status(), 204, "{path}");
        assert_eq!(acao(&ok).as_deref(), Some(SPA_ORIGIN), "{path}");
        assert!(
            ok.headers()
                .get("access-control-allow-credentials")
                .is_none()
        );
        let methods = ok.headers()["access-control-allow-methods"]
            .to_str()
            .unwrap();
        assert!(methods.contains("POST"));
        for origin in [
            "https://evil.example",
            "http://localhost:3000", // a registered *web* app, not an SPA
            "http://localhost:5174",
            "null",
        ] {
            let refused = preflight(&issuer, path, origin).await;
            assert_eq!(acao(&refused), None, "{path} {origin}");
        }
    }
    // Simple requests: the header only for the SPA's origin.
    let get = |origin: &'static str| {
        let url = format!("{}/.well-known/jwks.json", issuer.url());
        async move {
            reqwest::Client::new()
                .get(url)
                .header("origin", origin)
                .send()
                .await
                .unwrap()
        }
    };
    let ok = get(SPA_ORIGIN).await;
    assert_eq!(acao(&ok).as_deref(), Some(SPA_ORIGIN));
    assert!(ok.headers()["vary"].to_str().unwrap().contains("Origin"));
    assert_eq!(acao(&get("https://evil.example").await), None);
    // Endpoints a browser app has no business calling get no CORS at all.
    let r = preflight(&issuer, "/oauth2/introspect", SPA_ORIGIN).await;
    assert_eq!(acao(&r), None);
    // A token request from the SPA's origin is answered with the header (errors included).
    let r = reqwest::Client::new()
        .post(format!("{}/oauth2/token", issuer.url()))
        .header("origin", SPA_ORIGIN)
        .form(&[
            ("grant_type", "refresh_token"),
            ("client_id", "demo-spa"),
            ("refresh_token", "x"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(acao(&r).as_deref(), Some(SPA_ORIGIN));
}
