//! Introspection (RFC 7662), revocation (RFC 7009) and the failed-authentication limits, over
//! real HTTP against the in-process server (docs/security.md cases 76, 77, 97).

mod common;

use portcullis::TokenVerifier;
use portcullis_server::limits::{PER_ADDRESS, PER_CLIENT};
use portcullis_server::testing::{TestIssuer, TestIssuerBuilder};
use serde_json::{Value, json};

const AUD: &str = "https://api.example.com";
const WORKER_SECRET: &str = "worker-secret-0123456789abcdefghijklmnop";
const OTHER_SECRET: &str = "other-secret-0123456789abcdefghijklmnopq";

fn tenant() -> TestIssuerBuilder {
    TestIssuer::builder()
        .api(AUD, &["read:todos"])
        .m2m_app("worker", WORKER_SECRET, AUD, &["read:todos"])
        .m2m_app("other", OTHER_SECRET, AUD, &["read:todos"])
}

async fn start() -> TestIssuer {
    tenant().start().await.unwrap()
}

struct Answer {
    status: u16,
    cache_control: Option<String>,
    retry_after: Option<String>,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

async fn post(
    issuer: &TestIssuer,
    path: &str,
    auth: Option<(&str, &str)>,
    form: &[(&str, &str)],
) -> Answer {
    let mut request = reqwest::Client::new()
        .post(format!("{}{path}", issuer.url()))
        .form(form);
    if let Some((id, secret)) = auth {
        request = request.basic_auth(id, Some(secret));
    }
    let response = request.send().await.unwrap();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    Answer {
        status: response.status().as_u16(),
        cache_control: header("cache-control"),
        retry_after: header("retry-after"),
        body: response.text().await.unwrap(),
    }
}

async fn token(issuer: &TestIssuer, id: &str, secret: &str) -> String {
    issuer
        .client_credentials_token(id, secret, AUD, None)
        .await
        .unwrap()
}

#[tokio::test]
async fn case_76_introspection() {
    let issuer = start().await;
    let worker = ("worker", WORKER_SECRET);
    let t = token(&issuer, "worker", WORKER_SECRET).await;

    // Its own token: active, with the RFC 7662 members.
    let a = post(
        &issuer,
        "/oauth2/introspect",
        Some(worker),
        &[("token", &t)],
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.cache_control.as_deref(), Some("no-store"));
    let j = a.json();
    assert_eq!(j["active"], true);
    assert_eq!(j["client_id"], "worker");
    assert_eq!(j["aud"], json!([AUD]));
    assert_eq!(j["scope"], "read:todos");
    assert_eq!(j["iss"], issuer.url());
    assert!(j["exp"].as_i64().is_some() && j["iat"].as_i64().is_some());

    // A hint does not change the answer.
    for hint in ["access_token", "refresh_token", "nonsense"] {
        let a = post(
            &issuer,
            "/oauth2/introspect",
            Some(worker),
            &[("token", &t), ("token_type_hint", hint)],
        )
        .await;
        assert_eq!(a.json()["active"], true, "{hint}");
    }

    // Garbage, a tampered token, and another client's token: only {"active": false}.
    let theirs = token(&issuer, "other", OTHER_SECRET).await;
    let mut tampered = t.clone();
    tampered.pop();
    tampered.push(if t.ends_with('A') { 'B' } else { 'A' });
    for bad in [
        "garbage",
        "a.b.c",
        tampered.as_str(),
        theirs.as_str(),
        &"x".repeat(20_000),
    ] {
        let a = post(
            &issuer,
            "/oauth2/introspect",
            Some(worker),
            &[("token", bad)],
        )
        .await;
        assert_eq!(a.status, 200);
        assert_eq!(a.json(), json!({"active": false}));
        assert_eq!(a.cache_control.as_deref(), Some("no-store"));
    }

    // Unauthenticated: 401 invalid_client. Missing token: 400 invalid_request.
    let a = post(&issuer, "/oauth2/introspect", None, &[("token", &t)]).await;
    assert_eq!(
        (a.status, a.json()["error"].clone()),
        (401, json!("invalid_client"))
    );
    let a = post(
        &issuer,
        "/oauth2/introspect",
        Some(("worker", "wrong-secret")),
        &[("token", &t)],
    )
    .await;
    assert_eq!(a.status, 401);
    let a = post(&issuer, "/oauth2/introspect", Some(worker), &[]).await;
    assert_eq!(
        (a.status, a.json()["error"].clone()),
        (400, json!("invalid_request"))
    );
    assert_eq!(a.cache_control.as_deref(), Some("no-store"));
}

/// `POST /oauth2/introspect` with `Authorization: Bearer <token>` and `form`.
async fn introspect_as_bearer(
    issuer: &TestIssuer,
    bearer: &str,
    form: &[(&str, &str)],
) -> BearerAnswer {
    let response = reqwest::Client::new()
        .post(format!("{}/oauth2/introspect", issuer.url()))
        .header("authorization", format!("Bearer {bearer}"))
        .form(form)
        .send()
        .await
        .unwrap();
    BearerAnswer {
        status: response.status().as_u16(),
        challenge: response
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_owned()),
        body: response.json().await.unwrap_or(Value::Null),
    }
}

struct BearerAnswer {
    status: u16,
    challenge: Option<String>,
    body: Value,
}

/// Kinde's SDKs (`validate_and_set_via_introspection`) authenticate introspection with an
/// access token of the application instead of its credentials.
#[tokio::test]
async fn introspection_accepts_an_access_token_of_the_caller() {
    let issuer = start().await;
    let caller = token(&issuer, "worker", WORKER_SECRET).await;
    let second = token(&issuer, "worker", WORKER_SECRET).await;
    let theirs = token(&issuer, "other", OTHER_SECRET).await;

    // The caller is the application the bearer token was issued to; it sees its own tokens.
    for t in [&caller, &second] {
        let a = introspect_as_bearer(&issuer, &caller, &[("token", t)]).await;
        assert_eq!(a.status, 200, "{}", a.body);
        assert_eq!(a.body["active"], true);
        assert_eq!(a.body["client_id"], "worker");
    }
    // The "own tokens only" rule is unchanged: another client's token is inactive.
    let a = introspect_as_bearer(&issuer, &caller, &[("token", &theirs)]).await;
    assert_eq!((a.status, a.body.clone()), (200, json!({"active": false})));
    // client_id in the body may repeat the token's client, not name another; a secret as
    // well is two authentication methods.
    let a = introspect_as_bearer(
        &issuer,
        &caller,
        &[("token", &second), ("client_id", "worker")],
    )
    .await;
    assert_eq!(a.body["active"], true);
    for extra in [("client_id", "other"), ("client_secret", WORKER_SECRET)] {
        let a = introspect_as_bearer(&issuer, &caller, &[("token", &second), extra]).await;
        assert_eq!(
            (a.status, a.body["error"].clone()),
            (400, json!("invalid_request")),
            "{extra:?}"
        );
    }

    // A bearer token that is not a valid access token of this server: 401 with a Bearer
    // challenge (RFC 7662 §2.3, RFC 6750 §3.1), and nothing about the token asked after.
    let now = common::unix_now();
    let ring = issuer.state().keys().ring(now).await.unwrap();
    let claims = |iss: &str, exp: i64| {
        json!({
            "iss": iss, "aud": [AUD], "azp": "worker", "client_id": "worker",
            "sub": "worker", "iat": exp - 600, "exp": exp, "jti": format!("j-{exp}-{iss}"),
            "scope": "read:todos",
        })
    };
    let expired = ring
        .active
        .sign_jwt("at+jwt", &claims(issuer.url(), now - 60))
        .unwrap();
    let foreign_issuer = ring
        .active
        .sign_jwt("at+jwt", &claims("https://evil.example", now + 600))
        .unwrap();
    let mut tampered = caller.clone();
    tampered.pop();
    tampered.push(if caller.ends_with('A') { 'B' } else { 'A' });
    let revoked = token(&issuer, "worker", WORKER_SECRET).await;
    let r = post(
        &issuer,
        "/oauth2/revoke",
        Some(("worker", WORKER_SECRET)),
        &[("token", &revoked)],
    )
    .await;
    assert_eq!(r.status, 200);
    let refresh_like = "x".repeat(43);
    for bad in [
        "garbage",
        tampered.as_str(),
        expired.as_str(),
        foreign_issuer.as_str(),
        revoked.as_str(),
        refresh_like.as_str(),
        "two words",
    ] {
        let a = introspect_as_bearer(&issuer, bad, &[("token", &second)]).await;
        assert_eq!(a.status, 401, "{bad}: {}", a.body);
        assert_eq!(a.body["error"], "invalid_token", "{bad}");
        assert_eq!(
            a.challenge.as_deref(),
            Some("Bearer realm=\"portcullis\", error=\"invalid_token\""),
            "{bad}"
        );
        assert!(a.body.get("active").is_none(), "{bad}");
    }

    // Basic credentials keep working, and discovery says Bearer is accepted (RFC 8414 §2).
    let a = post(
        &issuer,
        "/oauth2/introspect",
        Some(("worker", WORKER_SECRET)),
        &[("token", &second)],
    )
    .await;
    assert_eq!(a.json()["active"], true);
    let discovery: Value =
        reqwest::get(format!("{}/.well-known/openid-configuration", issuer.url()))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(
        discovery["introspection_endpoint_auth_methods_supported"],
        json!(["client_secret_basic", "client_secret_post", "Bearer"])
    );
}

#[tokio::test]
async fn case_77_revocation() {
    let issuer = start().await;
    let worker = ("worker", WORKER_SECRET);
    let t = token(&issuer, "worker", WORKER_SECRET).await;
    let theirs = token(&issuer, "other", OTHER_SECRET).await;

    // Unknown or garbage tokens: 200, no oracle.
    for bad in ["garbage", "a.b.c"] {
        let a = post(&issuer, "/oauth2/revoke", Some(worker), &[("token", bad)]).await;
        assert_eq!(a.status, 200, "{}", a.body);
    }
    // No client authentication: invalid_client.
    let a = post(&issuer, "/oauth2/revoke", None, &[("token", &t)]).await;
    assert_eq!(
        (a.status, a.json()["error"].clone()),
        (401, json!("invalid_client"))
    );
    // Another client's token: refused, and it stays valid.
    let a = post(
        &issuer,
        "/oauth2/revoke",
        Some(worker),
        &[("token", &theirs)],
    )
    .await;
    assert_eq!(
        (a.status, a.json()["error"].clone()),
        (400, json!("invalid_request"))
    );
    let a = post(
        &issuer,
        "/oauth2/introspect",
        Some(("other", OTHER_SECRET)),
        &[("token", &theirs)],
    )
    .await;
    assert_eq!(a.json()["active"], true);
    // Missing token: invalid_request.
    let a = post(&issuer, "/oauth2/revoke", Some(worker), &[]).await;
    assert_eq!(a.status, 400);

    // Its own token, with a wrong hint (ignored): revoked.
    let a = post(
        &issuer,
        "/oauth2/revoke",
        Some(worker),
        &[("token", &t), ("token_type_hint", "refresh_token")],
    )
    .await;
    assert_eq!(a.status, 200);
    assert_eq!(a.cache_control.as_deref(), Some("no-store"));
    let a = post(
        &issuer,
        "/oauth2/introspect",
        Some(worker),
        &[("token", &t)],
    )
    .await;
    assert_eq!(a.json(), json!({"active": false}));
    // Revoking twice is fine.
    let a = post(&issuer, "/oauth2/revoke", Some(worker), &[("token", &t)]).await;
    assert_eq!(a.status, 200);
    // A revoked JWT still verifies offline until it expires: resource servers that must see
    // revocations introspect (documented), the signature itself cannot be recalled.
    let v = TokenVerifier::builder(issuer.url())
        .audience(AUD)
        .build()
        .unwrap();
    v.verify_access_token(&t).await.unwrap();
}

#[tokio::test]
async fn case_97_client_secret_guessing_is_rate_limited() {
    let issuer = tenant()
        .clock(common::clock_at_window_start())
        .start()
        .await
        .unwrap();
    let form = [("grant_type", "client_credentials"), ("audience", AUD)];
    let guess = |n: usize| format!("guess-{n}");
    for n in 0..PER_CLIENT as usize {
        let g = guess(n);
        let a = post(&issuer, "/oauth2/token", Some(("worker", &g)), &form).await;
        assert_eq!(a.status, 401, "attempt {n}");
    }
    // Over the limit: 429 with Retry-After, even with the right secret from this address.
    let a = post(
        &issuer,
        "/oauth2/token",
        Some(("worker", "one-more")),
        &form,
    )
    .await;
    assert_eq!(a.status, 429, "{}", a.body);
    let retry: i64 = a.retry_after.as_deref().unwrap().parse().unwrap();
    assert!((1..=300).contains(&retry), "{retry}");
    assert_eq!(a.json()["error"], "temporarily_unavailable");
    let a = post(
        &issuer,
        "/oauth2/token",
        Some(("worker", WORKER_SECRET)),
        &form,
    )
    .await;
    assert_eq!(a.status, 429);
    // Introspection and revocation share the limit.
    let a = post(
        &issuer,
        "/oauth2/introspect",
        Some(("worker", WORKER_SECRET)),
        &[("token", "x")],
    )
    .await;
    assert_eq!(a.status, 429);

    // An unknown client id behaves exactly the same (no existence oracle).
    for n in 0..PER_CLIENT as usize {
        let g = guess(n);
        let a = post(&issuer, "/oauth2/token", Some(("nobody", &g)), &form).await;
        assert_eq!(a.status, 401);
    }
    let a = post(&issuer, "/oauth2/token", Some(("nobody", "x")), &form).await;
    assert_eq!(a.status, 429);

    // Another client from this address still works until the per-address limit.
    let ok = post(
        &issuer,
        "/oauth2/token",
        Some(("other", OTHER_SECRET)),
        &form,
    )
    .await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    let used = 2 * PER_CLIENT;
    for n in used..PER_ADDRESS {
        let id = format!("spray-{n}");
        let a = post(&issuer, "/oauth2/token", Some((&id, "x")), &form).await;
        assert_eq!(a.status, 401, "attempt {n}");
    }
    let a = post(
        &issuer,
        "/oauth2/token",
        Some(("other", OTHER_SECRET)),
        &form,
    )
    .await;
    assert_eq!(a.status, 429, "the address is over its limit");
}
