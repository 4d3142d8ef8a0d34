//! `GET /metrics` over real HTTP against the real server (`TestIssuer`): requests are counted by
//! the route they matched (never the raw URI), each server has its own registry, and nothing a
//! client sent (secrets, tokens, query strings, unknown paths) reaches the exposition.

use portcullis_server::testing::{TestIssuer, TestIssuerBuilder};

const AUD: &str = "https://api.example.com";
const WORKER: &str = "worker";
const WORKER_SECRET: &str = "worker-secret-0123456789abcdefghijklmnop";
const WRONG_SECRET: &str = "wrong-secret-SHOULD-NEVER-APPEAR-0123456789";

fn tenant() -> TestIssuerBuilder {
    TestIssuer::builder()
        .api(AUD, &["read:todos", "create:todos"])
        .m2m_app(WORKER, WORKER_SECRET, AUD, &["read:todos"])
}

/// The value of the sample `name{labels}` in an exposition, if present.
fn sample(text: &str, name: &str, labels: &str) -> Option<f64> {
    let prefix = if labels.is_empty() {
        format!("{name} ")
    } else {
        format!("{name}{{{labels}}} ")
    };
    text.lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .map(|v| v.trim().parse().expect("a numeric sample value"))
}

async fn scrape(http: &reqwest::Client, issuer: &TestIssuer) -> String {
    let response = http
        .get(format!("{}/metrics", issuer.url()))
        .send()
        .await
        .expect("GET /metrics");
    assert_eq!(response.status(), 200);
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "content type {content_type:?}"
    );
    assert_eq!(
        response
            .headers()
            .get(reqwest::header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok()),
        Some("no-store")
    );
    let text = response.text().await.expect("the exposition");
    assert!(text.ends_with("# EOF\n"), "OpenMetrics ends with # EOF");
    text
}

#[tokio::test]
async fn requests_are_counted_by_route_without_secrets() {
    let issuer = tenant().start().await.expect("the test issuer starts");
    let http = reqwest::Client::new();
    let base = issuer.url().to_owned();

    // JWKS twice; the second time with a query string that must not reach a label.
    for url in [
        format!("{base}/.well-known/jwks.json"),
        format!("{base}/.well-known/jwks.json?access_token=QUERY-SECRET-42"),
    ] {
        let response = http.get(url).send().await.unwrap();
        assert_eq!(response.status(), 200);
    }
    // A failed token request: wrong client secret (client_secret_post) → 401 invalid_client.
    let response = http
        .post(format!("{base}/oauth2/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", WORKER),
            ("client_secret", WRONG_SECRET),
            ("audience", AUD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    // A successful one, whose token must not show up either.
    let token = issuer
        .client_credentials_token(WORKER, WORKER_SECRET, AUD, None)
        .await
        .expect("a token");
    // A path that matches no route, carrying something that looks like an id.
    let response = http
        .get(format!("{base}/oauth2/token/PATH-SECRET-ID-7"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);

    let text = scrape(&http, &issuer).await;

    let requests = "portcullis_http_requests_total";
    assert_eq!(
        sample(
            &text,
            requests,
            r#"route="/.well-known/jwks.json",method="GET",status="2xx""#
        ),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            requests,
            r#"route="/oauth2/token",method="POST",status="4xx""#
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            requests,
            r#"route="/oauth2/token",method="POST",status="2xx""#
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            requests,
            r#"route="unmatched",method="GET",status="4xx""#
        ),
        Some(1.0),
        "{text}"
    );
    // The latency histogram, per route.
    let duration = "portcullis_http_request_duration_seconds";
    assert_eq!(
        sample(
            &text,
            &format!("{duration}_count"),
            r#"route="/.well-known/jwks.json""#
        ),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            &format!("{duration}_count"),
            r#"route="/oauth2/token""#
        ),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            &format!("{duration}_bucket"),
            r#"le="+Inf",route="/oauth2/token""#
        ),
        Some(2.0),
        "{text}"
    );
    let sum = sample(
        &text,
        &format!("{duration}_sum"),
        r#"route="/oauth2/token""#,
    )
    .expect("a latency sum");
    assert!(sum > 0.0 && sum < 60.0, "latency sum {sum}");
    // The token endpoint counts what it issued and the errors it answered.
    assert_eq!(
        sample(
            &text,
            "portcullis_tokens_issued_total",
            r#"grant_type="client_credentials""#
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "portcullis_token_errors_total",
            r#"error="invalid_client""#
        ),
        Some(1.0),
        "{text}"
    );
    assert!(text.contains(&format!(
        r#"portcullis_build_info{{version="{}"}} 1"#,
        env!("CARGO_PKG_VERSION")
    )));

    // Nothing the clients sent, and nothing the server issued, is in the exposition.
    for secret in [
        WORKER_SECRET,
        WRONG_SECRET,
        "QUERY-SECRET",
        "access_token",
        "PATH-SECRET",
        token.as_str(),
        // Any part of the token (its signature is the secret bit, but no part belongs here).
        token.split('.').next_back().unwrap(),
    ] {
        assert!(
            !text.contains(secret),
            "{secret:?} leaked into the metrics:\n{text}"
        );
    }
    // Every route label is a route pattern or `unmatched`.
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        if let Some(rest) = line.split("route=\"").nth(1) {
            let route = rest.split('"').next().unwrap();
            assert!(
                [
                    "/.well-known/jwks.json",
                    "/oauth2/token",
                    "/metrics",
                    "unmatched"
                ]
                .contains(&route),
                "unexpected route label {route:?} in {line}"
            );
        }
    }

    // The scrape itself is counted (by the next scrape).
    let again = scrape(&http, &issuer).await;
    assert_eq!(
        sample(
            &again,
            requests,
            r#"route="/metrics",method="GET",status="2xx""#
        ),
        Some(1.0),
        "{again}"
    );
    issuer.shutdown().await;
}

#[tokio::test]
async fn each_server_counts_only_its_own_requests() {
    let a = tenant().start().await.expect("issuer A starts");
    let b = tenant().start().await.expect("issuer B starts");
    let http = reqwest::Client::new();
    for _ in 0..3 {
        let response = http
            .get(format!("{}/.well-known/jwks.json", a.url()))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    let response = http
        .get(format!("{}/.well-known/jwks.json", b.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let jwks_ok = r#"route="/.well-known/jwks.json",method="GET",status="2xx""#;
    let text_a = scrape(&http, &a).await;
    let text_b = scrape(&http, &b).await;
    assert_eq!(
        sample(&text_a, "portcullis_http_requests_total", jwks_ok),
        Some(3.0),
        "{text_a}"
    );
    assert_eq!(
        sample(&text_b, "portcullis_http_requests_total", jwks_ok),
        Some(1.0),
        "{text_b}"
    );
    // A method the route does not take is counted under the route, with its 4xx.
    let response = http
        .delete(format!("{}/.well-known/jwks.json", b.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    let text_b = scrape(&http, &b).await;
    assert_eq!(
        sample(
            &text_b,
            "portcullis_http_requests_total",
            r#"route="/.well-known/jwks.json",method="DELETE",status="4xx""#
        ),
        Some(1.0),
        "{text_b}"
    );
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn a_metrics_token_guards_the_exposition() {
    use portcullis_server::store::Store;
    use portcullis_server::{AppState, Settings};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let settings = Settings {
        metrics_token: Some("scrape-token-0123456789".into()),
        ..Settings::new(&url)
    };
    let store = Store::connect("sqlite::memory:").await.unwrap();
    let state = AppState::new(store, settings).await.unwrap();
    let (_stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(portcullis_server::run(listener, state, async move {
        let _ = stopped.await;
    }));
    let http = reqwest::Client::new();
    let get = |auth: Option<&'static str>| {
        let mut request = http.get(format!("{url}/metrics"));
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        request.send()
    };
    for refused in [
        None,
        Some("Bearer wrong"),
        Some("Bearer scrape-token-012345678"),
        Some("Basic c2NyYXBlOnRva2Vu"),
    ] {
        let answer = get(refused).await.unwrap();
        assert_eq!(answer.status(), 401, "{refused:?}");
        assert_eq!(
            answer.headers().get("www-authenticate").unwrap(),
            "Bearer realm=\"metrics\""
        );
        assert!(!answer.text().await.unwrap().contains("http_requests"));
    }
    let answer = get(Some("bearer scrape-token-0123456789")).await.unwrap();
    assert_eq!(answer.status(), 200);
    assert!(answer.text().await.unwrap().ends_with("# EOF\n"));
}
