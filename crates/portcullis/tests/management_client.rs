//! The management client's retries, backoff timing, error parsing, request ids and pagination
//! against a *scripted peer*: a tiny axum server on 127.0.0.1 that answers what each test needs
//! — a 429 with `RateLimit-Reset`, a 503, an error body in each shape, a `next_token` that
//! repeats. The real identity server cannot produce these on demand, so this is the one place a
//! scripted peer stands in for it; everything the real server does answer is tested against it
//! in `management_api.rs`.
//!
//! The token is real: the client gets it from the real identity server (`TestIssuer`) by
//! `client_credentials`, and the scripted peer verifies every bearer token it receives with the
//! SDK's `TokenVerifier` against that issuer.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::{StreamExt, TryStreamExt};
use portcullis::management::{ManagementClient, ManagementError, PageRequest, UsersQuery};
use portcullis::{Config, TokenVerifier};
use portcullis_server::testing::TestIssuer;

/// The audience the scripted API pretends to be (the real one is `{issuer}/api`, which the
/// real server's own management API answers).
const AUDIENCE: &str = "https://scripted.example/api";
const M2M: &str = "scripted-worker";
const M2M_SECRET: &str = "scripted-worker-secret-0123456789abcdef";

type Script = Arc<dyn Fn(&Hit) -> Response + Send + Sync>;

/// One request the peer received.
#[derive(Debug, Clone)]
struct Hit {
    method: String,
    path: String,
    query: Vec<(String, String)>,
    at: Instant,
    /// The index of this hit on its path (0 for the first).
    nth: usize,
}

#[derive(Clone)]
struct Peer {
    hits: Arc<Mutex<Vec<Hit>>>,
    tokens: Arc<Mutex<Vec<String>>>,
    script: Script,
    verifier: TokenVerifier,
}

struct Setup {
    issuer: TestIssuer,
    peer: Peer,
    base: String,
}

async fn setup(script: impl Fn(&Hit) -> Response + Send + Sync + 'static) -> Setup {
    let issuer = TestIssuer::builder()
        .api(AUDIENCE, &["read:users"])
        .m2m_app(M2M, M2M_SECRET, AUDIENCE, &["read:users"])
        .start()
        .await
        .expect("the test issuer starts");
    let verifier = TokenVerifier::from_config(&issuer.verifier_config(AUDIENCE).unwrap()).unwrap();
    let peer = Peer {
        hits: Arc::default(),
        tokens: Arc::default(),
        script: Arc::new(script),
        verifier,
    };
    let app = Router::new().fallback(answer).with_state(peer.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    Setup {
        issuer,
        peer,
        base: format!("http://{addr}/api/v1"),
    }
}

async fn answer(
    State(peer): State<Peer>,
    method: axum::http::Method,
    uri: axum::http::Uri,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Response {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_owned();
    if peer.verifier.verify_access_token(&token).await.is_err() {
        return (StatusCode::FORBIDDEN, "bad token").into_response();
    }
    peer.tokens.lock().unwrap().push(token);
    let hit = {
        let mut hits = peer.hits.lock().unwrap();
        let nth = hits.iter().filter(|h| h.path == uri.path()).count();
        let hit = Hit {
            method: method.to_string(),
            path: uri.path().to_owned(),
            query,
            at: Instant::now(),
            nth,
        };
        hits.push(hit.clone());
        hit
    };
    (peer.script)(&hit)
}

impl Setup {
    fn builder(&self) -> portcullis::management::ManagementClientBuilder {
        let config = Config::builder(self.issuer.issuer())
            .client_id(M2M)
            .client_secret(M2M_SECRET)
            .build()
            .unwrap();
        ManagementClient::builder(config)
            .audience(AUDIENCE)
            .base_url(&self.base)
            .backoff(Duration::from_millis(20), Duration::from_millis(100))
    }

    fn client(&self) -> ManagementClient {
        self.builder().build().unwrap()
    }

    fn hits(&self, path: &str) -> Vec<Hit> {
        let hits = self.peer.hits.lock().unwrap();
        hits.iter().filter(|h| h.path == path).cloned().collect()
    }
}

fn json(status: u16, body: serde_json::Value) -> Response {
    (
        StatusCode::from_u16(status).unwrap(),
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn with_header(mut response: Response, name: &'static str, value: &str) -> Response {
    response.headers_mut().insert(name, value.parse().unwrap());
    response
}

fn users_page() -> Response {
    json(
        200,
        serde_json::json!({"code": "OK", "message": "Success",
            "users": [{"id": "kp_1", "email": "ada@example.com"}], "next_token": null}),
    )
}

#[tokio::test]
async fn rate_limited_request_waits_for_ratelimit_reset_then_succeeds() {
    let s = setup(|hit| match hit.nth {
        0 => with_header(
            json(429, serde_json::json!({"errors": [{"code": "TOO_MANY_REQUESTS", "message": "slow down"}]})),
            "ratelimit-reset",
            "1",
        ),
        _ => users_page(),
    })
    .await;
    let client = s.client();
    let started = Instant::now();
    let page = client.get_users(10).await.unwrap();
    let elapsed = started.elapsed();
    assert_eq!(page.items[0].email(), Some("ada@example.com"));
    let hits = s.hits("/api/v1/users");
    assert_eq!(hits.len(), 2);
    let gap = hits[1].at - hits[0].at;
    // RateLimit-Reset: 1 → at least 1 s, plus at most 10 % jitter (and some scheduling).
    assert!(gap >= Duration::from_secs(1), "retried after {gap:?}");
    assert!(gap < Duration::from_millis(1600), "retried after {gap:?}");
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
    assert_eq!(
        hits[1].query,
        [("page_size".to_owned(), "10".to_owned())],
        "the retry repeats the same query"
    );
}

#[tokio::test]
async fn retry_after_is_honoured_and_a_post_is_retried_after_429() {
    let s = setup(|hit| match hit.nth {
        0 => with_header(json(429, serde_json::json!({})), "retry-after", "1"),
        _ => json(
            200,
            serde_json::json!({"id": "kp_new", "created": true, "identities": []}),
        ),
    })
    .await;
    let created = s
        .client()
        .create_user("Grace", "Hopper", "grace@example.com")
        .await
        .unwrap();
    assert_eq!(created.id, "kp_new");
    let hits = s.hits("/api/v1/user");
    assert_eq!(hits.len(), 2, "429 is retried even for a POST");
    assert!(hits[1].at - hits[0].at >= Duration::from_secs(1));
}

#[tokio::test]
async fn a_wait_longer_than_max_retry_wait_is_returned_at_once() {
    let s = setup(|_| {
        with_header(
            json(429, serde_json::json!({"errors": []})),
            "ratelimit-reset",
            "120",
        )
    })
    .await;
    let client = s
        .builder()
        .max_retry_wait(Duration::from_secs(5))
        .build()
        .unwrap();
    let started = Instant::now();
    let e = client.get_roles(PageRequest::new()).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(e.status(), Some(429));
    assert_eq!(e.retry_after(), Some(Duration::from_secs(120)));
    assert_eq!(s.hits("/api/v1/roles").len(), 1);
}

#[tokio::test]
async fn gateway_errors_are_retried_with_backoff_for_get_but_not_for_post() {
    let s = setup(|hit| match (hit.method.as_str(), hit.nth) {
        ("GET", 0 | 1) => json(503, serde_json::json!({})),
        ("GET", _) => json(
            200,
            serde_json::json!({"organizations": [{"code": "org_1"}]}),
        ),
        _ => (StatusCode::BAD_GATEWAY, "<html>bad gateway</html>").into_response(),
    })
    .await;
    let client = s.client();
    let page = client.get_organizations(PageRequest::new()).await.unwrap();
    assert_eq!(page.items[0].code, "org_1");
    let hits = s.hits("/api/v1/organizations");
    assert_eq!(hits.len(), 3);
    // Backoff from 20 ms, doubling, equal jitter: [10, 20) ms then [20, 40) ms.
    let first = hits[1].at - hits[0].at;
    let second = hits[2].at - hits[1].at;
    assert!(first >= Duration::from_millis(10), "{first:?}");
    assert!(second >= Duration::from_millis(20), "{second:?}");
    assert!(
        first + second < Duration::from_millis(500),
        "{first:?} {second:?}"
    );

    // A POST that met a 502 may have been processed: not repeated.
    let e = client.create_organization("Acme").await.unwrap_err();
    assert_eq!(e.status(), Some(502));
    assert_eq!(s.hits("/api/v1/organization").len(), 1);
    let api = e.api_error().unwrap();
    assert!(api.errors.is_empty());
    assert_eq!(
        api.body_snippet.as_deref(),
        Some("<html>bad gateway</html>")
    );
}

#[tokio::test]
async fn retry_count_is_configurable_and_bounded() {
    let s = setup(|_| {
        json(
            504,
            serde_json::json!({"code": "TIMEOUT", "message": "upstream"}),
        )
    })
    .await;
    let e = s
        .builder()
        .max_retries(2)
        .build()
        .unwrap()
        .get_user("kp_1")
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(504));
    assert!(e.has_code("TIMEOUT"));
    assert_eq!(s.hits("/api/v1/user").len(), 3, "one try and two retries");

    let e = s
        .builder()
        .max_retries(0)
        .build()
        .unwrap()
        .delete_role("r1")
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(504));
    assert_eq!(s.hits("/api/v1/roles/r1").len(), 1);
}

#[tokio::test]
async fn errors_carry_status_codes_messages_and_the_request_id() {
    let s = setup(|hit| match hit.path.as_str() {
        "/api/v1/roles/missing" => with_header(
            json(
                404,
                serde_json::json!({"errors": {"code": "ROUTE_NOT_FOUND", "message": "The requested API route does not exist"}}),
            ),
            "kinde-request-id",
            "kinde-42",
        ),
        "/api/v1/user" => with_header(
            json(
                400,
                serde_json::json!({"errors": [
                    {"code": "INVALID_EMAIL", "message": "Invalid email"},
                    {"code": "NAME_REQUIRED", "message": "Name is required"}]}),
            ),
            "x-request-id",
            "req-7",
        ),
        _ => json(409, serde_json::json!({"code": "ROLE_KEY_EXISTS", "message": "Key taken"})),
    })
    .await;
    let client = s.client();
    let e = client.get_role("missing").await.unwrap_err();
    assert!(e.is_not_found());
    assert!(e.has_code("ROUTE_NOT_FOUND"));
    assert_eq!(e.request_id(), Some("kinde-42"));

    let e = client
        .create_user("", "", "not-an-email")
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(400));
    assert_eq!(e.codes(), ["INVALID_EMAIL", "NAME_REQUIRED"]);
    assert_eq!(e.request_id(), Some("req-7"));
    let shown = e.to_string();
    assert!(
        shown.contains("POST /api/v1/user answered HTTP 400: INVALID_EMAIL (Invalid email)"),
        "{shown}"
    );

    let e = client.create_role("Admin", "", "admin").await.unwrap_err();
    assert_eq!(e.status(), Some(409));
    assert_eq!(e.codes(), ["ROLE_KEY_EXISTS"]);

    // No error and no debug output carries the token the peer received.
    let tokens = s.peer.tokens.lock().unwrap().clone();
    assert!(!tokens.is_empty());
    for token in &tokens {
        for shown in [e.to_string(), format!("{e:?}"), format!("{client:?}")] {
            assert!(!shown.contains(token.as_str()));
        }
    }
}

#[tokio::test]
async fn bad_ids_and_oversized_pages_are_refused_before_sending() {
    let s = setup(|_| users_page()).await;
    let client = s.client();
    for e in [
        client.delete_role("..").await.unwrap_err(),
        client.delete_user("").await.unwrap_err(),
        client.get_users(501).await.unwrap_err(),
        client.get_users(0).await.unwrap_err(),
    ] {
        assert!(
            matches!(e, ManagementError::InvalidArgument { .. }),
            "{e:?}"
        );
    }
    let too_many: Vec<_> = (0..101)
        .map(|i| portcullis::management::OrganizationUserChange::add(format!("kp_{i}")))
        .collect();
    let e = client
        .add_organization_users("org_1", &too_many)
        .await
        .unwrap_err();
    assert!(matches!(
        e,
        ManagementError::InvalidArgument { name: "users", .. }
    ));
    assert!(s.peer.hits.lock().unwrap().is_empty());
    // An id with a slash stays one segment.
    client
        .update_organization_feature_flag_override("org/../x", "theme", "pink")
        .await
        .unwrap();
    let hits = s.peer.hits.lock().unwrap().clone();
    assert_eq!(
        hits[0].path,
        "/api/v1/organizations/org%2F..%2Fx/feature_flags/theme"
    );
    assert_eq!(hits[0].query, [("value".to_owned(), "pink".to_owned())]);
}

#[tokio::test]
async fn the_stream_follows_next_token_across_pages() {
    let s = setup(|hit| {
        let token = hit
            .query
            .iter()
            .find(|(k, _)| k == "next_token")
            .map(|(_, v)| v.as_str());
        let (ids, next) = match token {
            None => (vec!["r1", "r2"], Some("p2")),
            // An empty page in the middle does not end the stream.
            Some("p2") => (vec![], Some("p3")),
            Some("p3") => (vec!["r3"], None),
            Some(other) => panic!("unexpected token {other}"),
        };
        let roles: Vec<_> = ids
            .iter()
            .map(|id| serde_json::json!({"id": id, "key": id}))
            .collect();
        json(
            200,
            serde_json::json!({"code": "OK", "roles": roles, "next_token": next}),
        )
    })
    .await;
    let client = s.client();
    let ids: Vec<String> = client
        .roles(PageRequest::of_size(2))
        .map_ok(|r| r.id)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(ids, ["r1", "r2", "r3"]);
    let hits = s.hits("/api/v1/roles");
    assert_eq!(hits.len(), 3);
    for hit in &hits {
        assert!(
            hit.query
                .contains(&("page_size".to_owned(), "2".to_owned()))
        );
    }
    // A stream started from a request that carried a token still starts at the first page.
    let again: Vec<_> = client
        .roles(PageRequest::of_size(2).next_token("p3"))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(again.len(), 3);
}

#[tokio::test]
async fn a_repeating_next_token_ends_the_stream_with_an_error() {
    let s = setup(|hit| {
        let next = if hit.nth == 0 { "a" } else { "b" };
        // Pages: first → a → b → b …: the second "b" is a loop.
        json(
            200,
            serde_json::json!({"users": [{"id": format!("kp_{}", hit.nth)}], "next_token": next}),
        )
    })
    .await;
    let items: Vec<Result<_, _>> = s.client().users(UsersQuery::new()).collect().await;
    assert_eq!(items.len(), 4, "{items:?}");
    assert!(items[..3].iter().all(Result::is_ok));
    let e = items[3].as_ref().unwrap_err();
    assert!(
        matches!(e, ManagementError::InvalidResponse { .. }),
        "{e:?}"
    );
    assert!(e.to_string().contains("next_token repeats"));
}

#[tokio::test]
async fn one_token_is_fetched_and_shared_by_clones() {
    let s = setup(|_| users_page()).await;
    let client = s.client();
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let c = client.clone();
            tokio::spawn(async move { c.get_users(1).await })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let tokens = s.peer.tokens.lock().unwrap().clone();
    assert_eq!(tokens.len(), 8);
    assert!(
        tokens.iter().all(|t| *t == tokens[0]),
        "one token for all clones"
    );
}

#[tokio::test]
async fn an_unusable_token_endpoint_is_a_token_error() {
    let s = setup(|_| users_page()).await;
    let config = Config::builder(s.issuer.issuer())
        .client_id(M2M)
        .client_secret("wrong-secret-0123456789abcdefghijklmnop")
        .build()
        .unwrap();
    let client = ManagementClient::builder(config)
        .audience(AUDIENCE)
        .base_url(&s.base)
        .build()
        .unwrap();
    let e = client.get_users(1).await.unwrap_err();
    assert!(matches!(e, ManagementError::Token(_)), "{e:?}");
    assert!(!e.to_string().contains("wrong-secret"));
    assert!(s.peer.hits.lock().unwrap().is_empty());
}
