//! Two server instances on one PostgreSQL database behave as one server: a token issued by A
//! verifies against B's key set, and a key rotated through B is published and used by A.
//! (`PORTCULLIS_TEST_POSTGRES_URL`; skipped locally without it, required under CI.)

mod common;

use std::time::Duration;

use common::TestDb;
use portcullis::TokenVerifier;
use portcullis_server::seed::Seed;
use portcullis_server::store::Store;
use portcullis_server::{AppState, Settings};

const AUD: &str = "https://api.example.com";
const SECRET: &str = "worker-secret-0123456789abcdefghijklmnop";

async fn instance(url: &str, issuer: &str) -> (AppState, String) {
    instance_with(url, Settings::new(issuer)).await
}

async fn instance_with(url: &str, settings: Settings) -> (AppState, String) {
    let state = AppState::new(Store::connect(url).await.unwrap(), settings)
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(portcullis_server::run(
        listener,
        state.clone(),
        std::future::pending(),
    ));
    (state, base)
}

async fn token(base: &str) -> String {
    let response = reqwest::Client::new()
        .post(format!("{base}/oauth2/token"))
        .basic_auth("worker", Some(SECRET))
        .form(&[("grant_type", "client_credentials"), ("audience", AUD)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

async fn jwks_kids(base: &str) -> Vec<String> {
    let jwks: serde_json::Value = reqwest::get(format!("{base}/.well-known/jwks.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

fn kid_of(token: &str) -> String {
    use base64::Engine as _;
    let header = token.split('.').next().unwrap();
    let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .unwrap();
    let header: serde_json::Value = serde_json::from_slice(&header).unwrap();
    header["kid"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_postgres_behave_as_one() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    // The public issuer URL both instances serve under (a load balancer in production).
    let issuer = "https://id.example.com";
    // Both start at once on an empty database: migrations and the first key must not clash.
    // They share a clock the test moves (the key reload interval passes without waiting).
    // The SDK's verifier reads the same clock (its unknown-kid refresh is rate-limited by it).
    let clock = portcullis::clock::ManualClock::now();
    let settings = || {
        let mut s = Settings::new(issuer);
        s.clock = std::sync::Arc::new(clock.clone());
        s
    };
    let ((a, a_url), (b, b_url)) = tokio::join!(
        instance_with(&db.url, settings()),
        instance_with(&db.url, settings())
    );
    Seed::from_toml(&format!(
        r#"
[[apis]]
name = "Todos"
audience = "{AUD}"
scopes = ["read:todos"]

[[applications]]
name = "Worker"
type = "m2m"
client_id = "worker"
client_secret = "{SECRET}"
apis = [{{ audience = "{AUD}", scopes = ["read:todos"] }}]
"#
    ))
    .unwrap()
    .apply(a.store())
    .await
    .unwrap();

    // Issued by A, verified against B's key set.
    let verifier = TokenVerifier::builder(issuer)
        .audience(AUD)
        .jwks_uri(format!("{b_url}/.well-known/jwks.json"))
        .clock(clock.clone())
        .build()
        .unwrap();
    let from_a = token(&a_url).await;
    let claims = verifier.verify_access_token(&from_a).await.unwrap();
    assert_eq!(claims.azp.as_deref(), Some("worker"));
    // And the other way round: the client registered through A's store is known to B.
    let from_b = token(&b_url).await;
    verifier.verify_access_token(&from_b).await.unwrap();

    // Rotate through B: A publishes the new key and signs with it once it re-reads the keys.
    let now = b.now();
    let new_kid = b
        .keys()
        .rotate(now, Duration::ZERO, Duration::from_secs(3600))
        .await
        .unwrap();
    // Within its reload interval A serves the key set it read (no database read per request).
    assert!(!jwks_kids(&a_url).await.contains(&new_kid));
    assert_ne!(kid_of(&token(&a_url).await), new_kid);
    // Once the interval has passed, A's next request starts one read in the background and is
    // answered from the keys in use; the key shows once that read is done (a database round
    // trip: polled, not timed; the 2 s bound is below the 5 s interval, so a reload scheduled
    // by the wall clock instead of the server's would fail here).
    clock.advance(portcullis_server::keys::KEY_RELOAD_INTERVAL);
    let mut seen = false;
    for _ in 0..200 {
        if jwks_kids(&a_url).await.contains(&new_kid) {
            seen = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        seen,
        "A publishes the key rotated through B once its reload interval has passed"
    );
    let after = token(&a_url).await;
    assert_eq!(kid_of(&after), new_kid);
    verifier.verify_access_token(&after).await.unwrap();
    // The token signed before the rotation still verifies (old key still published).
    verifier.verify_access_token(&from_a).await.unwrap();

    a.store().close().await;
    b.store().close().await;
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_on_a_refresh_on_b_revoke_on_a_introspect_on_b() {
    use common::browser::Browser;
    use serde_json::{Value, json};

    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let issuer = "https://id.example.com";
    let ((a, a_url), (b, b_url)) =
        tokio::join!(instance(&db.url, issuer), instance(&db.url, issuer));
    Seed::from_toml(include_str!("../examples/tenant.toml"))
        .unwrap()
        .apply(a.store())
        .await
        .unwrap();
    const WEB: &str = "demo-web";
    const WEB_SECRET: &str = "demo-web-secret-change-me-0123456789abcdef";
    const CALLBACK: &str = "http://localhost:3000/callback";

    // Sign in through A (the form is served by A, the code redeemed there).
    let mut browser = Browser::default();
    let form = browser
        .authorize(
            &a_url,
            &[
                ("client_id", WEB),
                ("redirect_uri", CALLBACK),
                ("response_type", "code"),
                ("scope", "openid offline"),
                ("audience", AUD),
                ("org_code", "org_acme"),
            ],
        )
        .await;
    assert_eq!(form.status, 200, "{}", form.body);
    let done = browser
        .sign_in(
            &a_url,
            &form,
            "ada@example.com",
            "correct-horse-battery-staple",
        )
        .await;
    let code = done.param("code").expect("a code");
    let post = |base: &str, form: Vec<(&'static str, String)>| {
        let url = format!("{base}/oauth2/token");
        async move {
            let r = reqwest::Client::new()
                .post(url)
                .basic_auth(WEB, Some(WEB_SECRET))
                .form(&form)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (status, tokens) = post(
        &a_url,
        vec![
            ("grant_type", "authorization_code".to_owned()),
            ("code", code),
            ("redirect_uri", CALLBACK.to_owned()),
        ],
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();

    // Single sign-on holds on B too: the session lives in the shared database.
    let again = browser
        .authorize(
            &b_url,
            &[
                ("client_id", WEB),
                ("redirect_uri", CALLBACK),
                ("response_type", "code"),
                ("scope", "openid"),
            ],
        )
        .await;
    assert!(again.param("code").is_some(), "B recognises A's session");

    // Refresh through B.
    let (status, refreshed) = post(
        &b_url,
        vec![
            ("grant_type", "refresh_token".to_owned()),
            ("refresh_token", refresh.clone()),
        ],
    )
    .await;
    assert_eq!(status, 200, "{refreshed}");
    let access = refreshed["access_token"].as_str().unwrap().to_owned();
    let refresh2 = refreshed["refresh_token"].as_str().unwrap().to_owned();

    // Revoke through A, introspect through B.
    let introspect = |token: String| {
        let url = format!("{b_url}/oauth2/introspect");
        async move {
            reqwest::Client::new()
                .post(url)
                .basic_auth(WEB, Some(WEB_SECRET))
                .form(&[("token", token)])
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    assert_eq!(introspect(access.clone()).await["active"], true);
    let status = reqwest::Client::new()
        .post(format!("{a_url}/oauth2/revoke"))
        .basic_auth(WEB, Some(WEB_SECRET))
        .form(&[("token", refresh2.as_str())])
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);
    assert_eq!(introspect(refresh2.clone()).await, json!({"active": false}));
    assert_eq!(
        introspect(access).await,
        json!({"active": false}),
        "the family's access tokens are revoked on every instance"
    );

    a.store().close().await;
    b.store().close().await;
    db.cleanup().await;
}

/// Failed client authentications through B lock the caller out of A too, within
/// `limits::CLEAN_FOR` of A having seen the caller clean (docs/security.md case 97 across instances).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_authentications_through_one_instance_limit_the_other() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    // Both instances on one clock, stopped at the start of a rate-limit window.
    let clock = std::sync::Arc::new(common::clock_at_window_start());
    let settings = || {
        let mut s = Settings::new("https://id.example.com");
        s.clock = clock.clone();
        s
    };
    let (a, a_url) = instance_with(&db.url, settings()).await;
    let (_b, b_url) = instance_with(&db.url, settings()).await;
    Seed::from_toml(&format!(
        r#"
[[apis]]
name = "Todos"
audience = "{AUD}"
scopes = ["read:todos"]

[[applications]]
name = "Worker"
type = "m2m"
client_id = "worker"
client_secret = "{SECRET}"
apis = [{{ audience = "{AUD}", scopes = ["read:todos"] }}]
"#
    ))
    .unwrap()
    .apply(a.store())
    .await
    .unwrap();
    // A has just seen this caller without failures.
    token(&a_url).await;
    let http = reqwest::Client::new();
    let attempt = |base: &str, secret: &str| {
        http.post(format!("{base}/oauth2/token"))
            .basic_auth("worker", Some(secret.to_owned()))
            .form(&[("grant_type", "client_credentials"), ("audience", AUD)])
            .send()
    };
    for _ in 0..portcullis_server::limits::PER_CLIENT {
        let answer = attempt(&b_url, "wrong-secret").await.unwrap();
        assert_eq!(answer.status(), 401);
    }
    assert_eq!(attempt(&b_url, SECRET).await.unwrap().status(), 429);
    // A's clean view expires (the clock moves; the rate-limit window is still the same).
    clock.advance(portcullis_server::limits::CLEAN_FOR + Duration::from_millis(100));
    assert_eq!(
        attempt(&a_url, SECRET).await.unwrap().status(),
        429,
        "A sees B's failures once its clean view has expired"
    );
}
