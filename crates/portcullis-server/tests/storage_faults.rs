//! Storage faults lose nothing (issue 13): while the database cannot take writes, the server
//! answers 503 with `Retry-After` — never a 500, never a 200 for a write it did not keep — says
//! so on `/readyz`, and recovers by itself when the database does.
//!
//! A full disk, without special mounts: SQLite's `max_page_count` caps the server's
//! connections at a chosen size, and the test fills the file from a connection of its own.
//! PostgreSQL outages on a private cluster of the test's own ([`common::pg_cluster`]): stopped
//! and started again under requests, and its connections killed with `pg_terminate_backend`.

mod common;

use std::path::PathBuf;

use std::time::{Duration, Instant};

use common::pg_cluster::PgCluster;
use portcullis_server::store::StoreOptions;
use portcullis_server::testing::{TestIssuer, TestIssuerBuilder, TestUser};
use serde_json::json;
use sqlx::{Connection as _, Row as _, SqliteConnection};

const ADMIN_ID: &str = "admin-m2m";
const ADMIN_SECRET: &str = "admin-secret-admin-secret-admin-secret-0123";

/// A directory removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let mut rand = [0u8; 8];
        aws_lc_rs::rand::fill(&mut rand).unwrap();
        let name: String = rand.iter().map(|b| format!("{b:02x}")).collect();
        let path = std::env::temp_dir().join(format!("portcullis-faults-{name}"));
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `POST /api/v1/user` for `email`: the status, and whether `Retry-After` came with it.
async fn create_user(http: &reqwest::Client, base: &str, token: &str, email: &str) -> (u16, bool) {
    create_user_in(http, base, token, email, None).await
}

/// [`create_user`], as a member of `org` when given (one transaction: the user, the
/// membership, and the default roles copied in one multi-row statement).
async fn create_user_in(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    email: &str,
    org: Option<&str>,
) -> (u16, bool) {
    let mut body = json!({
        "profile": {"given_name": "Grace", "family_name": "Hopper"},
        "identities": [{"type": "email", "details": {"email": email}}],
    });
    if let Some(org) = org {
        body["organization_code"] = json!(org);
    }
    let response = http
        .post(format!("{base}/api/v1/user"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let retry_after = response.headers().contains_key("retry-after");
    (status, retry_after)
}

async fn readyz(http: &reqwest::Client, base: &str) -> u16 {
    http.get(format!("{base}/readyz"))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn page_count(conn: &mut SqliteConnection) -> u32 {
    sqlx::query("PRAGMA page_count")
        .fetch_one(&mut *conn)
        .await
        .unwrap()
        .get::<i64, _>(0) as u32
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_sqlite_database_acknowledges_only_what_it_saved_and_recovers() {
    const MAX_PAGES: u32 = 800;
    let dir = TempDir::new();
    let url = format!("sqlite://{}", dir.0.join("portcullis.db").display());
    let issuer = TestIssuer::builder()
        .management_app(ADMIN_ID, ADMIN_SECRET, &["*"])
        .organization("org_acme", "Acme")
        .database_url(url.clone())
        .store_options(StoreOptions::new().sqlite_max_page_count(MAX_PAGES))
        .start()
        .await
        .unwrap();
    let base = issuer.url().to_owned();
    let token = issuer
        .management_token(ADMIN_ID, ADMIN_SECRET, None)
        .await
        .unwrap();
    let http = reqwest::Client::new();
    assert_eq!(readyz(&http, &base).await, 200);
    for i in 0..8 {
        let a = http
            .post(format!("{base}/api/v1/roles"))
            .bearer_auth(&token)
            .json(&json!({"name": "Default {i}", "key": format!("default-{i}"), "is_default_role": true}))
            .send()
            .await
            .unwrap();
        assert!(a.status().is_success());
    }

    // Fill the file to a few pages short of the server's cap (the test's own connection has
    // no cap), leaving room for a few users only.
    let mut own = SqliteConnection::connect(&url).await.unwrap();
    sqlx::query("CREATE TABLE filler (b BLOB NOT NULL)")
        .execute(&mut own)
        .await
        .unwrap();
    loop {
        let pages = page_count(&mut own).await;
        if pages + 4 >= MAX_PAGES {
            break;
        }
        let mut tx = own.begin().await.unwrap();
        for _ in 0..(MAX_PAGES - 4 - pages) {
            sqlx::query("INSERT INTO filler (b) VALUES (zeroblob(3000))")
                .execute(&mut *tx)
                .await
                .unwrap();
        }
        tx.commit().await.unwrap();
    }
    assert!(page_count(&mut own).await <= MAX_PAGES);

    // Writes until the database has refused a good number of them: each answer is either an
    // acknowledgement or a 503 with Retry-After. Every other user joins an organization, a
    // transaction of several statements.
    let mut acknowledged: Vec<String> = Vec::new();
    let mut refused = Vec::new();
    for i in 0..2000 {
        let email = format!("user{i}@example.com");
        let org = (i % 2 == 1).then_some("org_acme");
        if i % 3 == 2 && !acknowledged.is_empty() {
            // A refusal of the request itself, inside a transaction, between the failures.
            let (status, _) = create_user(&http, &base, &token, &acknowledged[0]).await;
            assert!(matches!(status, 409 | 503), "a duplicate answered {status}");
        }
        match create_user_in(&http, &base, &token, &email, org).await {
            (200, _) => acknowledged.push(email),
            (503, retry_after) => {
                assert!(retry_after, "a 503 without Retry-After");
                refused.push(email);
            }
            (status, _) => panic!("creating {email} while the disk fills answered {status}"),
        }
        if refused.len() >= 40 {
            break;
        }
    }
    assert!(
        refused.len() >= 40,
        "the database never filled: {} users created",
        acknowledged.len()
    );
    // Full: not ready, but reads still answer.
    assert_eq!(readyz(&http, &base).await, 503);
    let a = http
        .get(format!("{base}/api/v1/users"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(a.status(), 200);

    // Room again: the server recovers by itself, without a restart.
    sqlx::query("DELETE FROM filler")
        .execute(&mut own)
        .await
        .expect("the server holds no write lock once its writes failed");
    assert_eq!(readyz(&http, &base).await, 200);
    for i in 0..20 {
        let email = format!("after{i}@example.com");
        let (status, _) = create_user(&http, &base, &token, &email).await;
        assert_eq!(status, 200, "creating {email} after space returned");
        acknowledged.push(email);
    }

    // Every acknowledged user is there after a restart; no refused one is.
    issuer.shutdown().await;
    drop(own);
    let mut own = SqliteConnection::connect(&url).await.unwrap();
    let stored: std::collections::HashSet<String> = sqlx::query("SELECT email FROM users")
        .fetch_all(&mut own)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<String, _>(0))
        .collect();
    let lost: Vec<&String> = acknowledged
        .iter()
        .filter(|e| !stored.contains(*e))
        .collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged users were not saved: {lost:?}",
        lost.len(),
        acknowledged.len()
    );
    let kept: Vec<&String> = refused.iter().filter(|e| stored.contains(*e)).collect();
    assert!(kept.is_empty(), "refused users were saved: {kept:?}");
}

const AUD: &str = "https://api.example.com";
const WORKER_SECRET: &str = "worker-secret-worker-secret-worker-secret-0";
const WEB_SECRET: &str = "web-secret-web-secret-web-secret-web-secret";
const ADA_PASSWORD: &str = "correct-horse-battery-staple";

fn tenant() -> TestIssuerBuilder {
    TestIssuer::builder()
        .api(AUD, &["read:todos"])
        .m2m_app("worker", WORKER_SECRET, AUD, &["read:todos"])
        .management_app(ADMIN_ID, ADMIN_SECRET, &["*"])
        .web_app("web", WEB_SECRET, &["http://127.0.0.1:9/callback"])
        .user(TestUser::new("ada@example.com").password(ADA_PASSWORD))
}

/// An answer's status, its `Retry-After`, and its JSON body (`Null` when not JSON).
struct Answer {
    status: u16,
    retry_after: bool,
    body: serde_json::Value,
}

async fn answer(request: reqwest::RequestBuilder) -> Answer {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let retry_after = response.headers().contains_key("retry-after");
    let body = response.json().await.unwrap_or(serde_json::Value::Null);
    Answer {
        status,
        retry_after,
        body,
    }
}

async fn client_credentials(http: &reqwest::Client, base: &str) -> Answer {
    answer(
        http.post(format!("{base}/oauth2/token"))
            .basic_auth("worker", Some(WORKER_SECRET))
            .form(&[("grant_type", "client_credentials"), ("audience", AUD)]),
    )
    .await
}

async fn refresh(http: &reqwest::Client, base: &str, token: &str) -> Answer {
    answer(
        http.post(format!("{base}/oauth2/token"))
            .basic_auth("web", Some(WEB_SECRET))
            .form(&[("grant_type", "refresh_token"), ("refresh_token", token)]),
    )
    .await
}

/// Asserts `a` is the storage-outage answer: 503, `Retry-After`, and the endpoint's own error
/// shape.
#[track_caller]
fn assert_unavailable(what: &str, a: &Answer, code: &str) {
    assert_eq!(a.status, 503, "{what}: {:?}", a.body);
    assert!(a.retry_after, "{what}: 503 without Retry-After");
    let found = a.body["error"]
        .as_str()
        .or_else(|| a.body["errors"][0]["code"].as_str());
    assert_eq!(found, Some(code), "{what}: {:?}", a.body);
}

/// The tenant's server on `pg` with this acquire timeout: the server, its URL, an HTTP client,
/// and a management token.
async fn start_on(
    pg: &PgCluster,
    acquire_timeout: Duration,
) -> (TestIssuer, String, reqwest::Client, String) {
    let issuer = tenant()
        .database_url(pg.url())
        .store_options(StoreOptions::new().acquire_timeout(acquire_timeout))
        .start()
        .await
        .unwrap();
    let base = issuer.url().to_owned();
    let admin = issuer
        .management_token(ADMIN_ID, ADMIN_SECRET, None)
        .await
        .unwrap();
    (issuer, base, reqwest::Client::new(), admin)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_outage_answers_503_promptly_and_recovers_within_a_second() {
    let Some(pg) = PgCluster::start() else {
        return;
    };
    let (issuer, base, http, admin) = start_on(&pg, Duration::from_secs(1)).await;
    assert_eq!(client_credentials(&http, &base).await.status, 200);
    let last_token = Instant::now();
    let tokens = issuer
        .user_tokens("web", "ada@example.com", ADA_PASSWORD)
        .await
        .unwrap();
    let refresh_token = tokens.refresh_token.unwrap();
    let (status, _) = create_user(&http, &base, &admin, "before@example.com").await;
    assert_eq!(status, 200);

    tokio::task::block_in_place(|| pg.stop());

    // What needs it answers 503 with Retry-After within the acquire timeout (1 s here), in
    // each endpoint's own error shape.
    let started = Instant::now();
    let a = answer(
        http.post(format!("{base}/api/v1/user"))
            .bearer_auth(&admin)
            .json(&json!({"identities": [{"type": "email", "details": {"email": "during@example.com"}}]})),
    )
    .await;
    assert_unavailable("POST /api/v1/user", &a, "SERVICE_UNAVAILABLE");
    let a = refresh(&http, &base, &refresh_token).await;
    assert_unavailable("refresh", &a, "temporarily_unavailable");
    let a = answer(
        http.get(format!("{base}/oauth2/userinfo"))
            .bearer_auth(&tokens.access_token),
    )
    .await;
    assert_unavailable("userinfo", &a, "temporarily_unavailable");
    let a = answer(http.get(format!(
        "{base}/oauth2/auth?client_id=web&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcallback\
         &response_type=code&scope=openid&state=s&code_challenge=\
         E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256"
    )))
    .await;
    assert_eq!(a.status, 503, "the hosted sign-in during the outage");
    assert!(a.retry_after);
    assert_eq!(readyz(&http, &base).await, 503);
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_secs(12),
        "five answers during the outage took {elapsed:?}"
    );

    // What needs no database keeps answering: the key set, discovery, and machine tokens for
    // an application read before the outage — also once the instance's copies of the
    // application (5 s) and of its clean failure count (1 s) are due to be read again.
    while last_token.elapsed() <= portcullis_server::limits::CLEAN_FOR + Duration::from_secs(5) {
        let a = answer(http.get(format!("{base}/readyz"))).await;
        assert_eq!(a.status, 503);
    }
    for path in [
        "/.well-known/jwks.json",
        "/.well-known/openid-configuration",
    ] {
        let a = answer(http.get(format!("{base}{path}"))).await;
        assert_eq!(a.status, 200, "{path} during the outage");
    }
    let a = client_credentials(&http, &base).await;
    assert_eq!(
        a.status, 200,
        "client_credentials during the outage: {:?}",
        a.body
    );

    // The database returns: the server is back within a second, with nothing lost.
    tokio::task::block_in_place(|| pg.start_again());
    let back = Instant::now();
    let (status, _) = create_user(&http, &base, &admin, "after@example.com").await;
    assert_eq!(status, 200, "the first write after the database returned");
    let recovery = back.elapsed();
    assert!(
        recovery < Duration::from_secs(1),
        "recovery took {recovery:?}"
    );
    assert_eq!(readyz(&http, &base).await, 200);
    // The refresh token refused during the outage still works (it was not used up), once.
    let a = refresh(&http, &base, &refresh_token).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let next = a.body["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(refresh(&http, &base, &next).await.status, 200);
    for email in ["before@example.com", "after@example.com"] {
        let a = answer(
            http.get(format!("{base}/api/v1/users?email={email}"))
                .bearer_auth(&admin),
        )
        .await;
        assert_eq!(a.status, 200);
        assert_eq!(a.body["users"].as_array().map(Vec::len), Some(1), "{email}");
    }
    issuer.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_connections_lose_nothing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let Some(pg) = PgCluster::start() else {
        return;
    };
    let (issuer, base, http, admin) = start_on(&pg, Duration::from_secs(2)).await;
    let mut chains = Vec::new();
    for _ in 0..3 {
        let tokens = issuer
            .user_tokens("web", "ada@example.com", ADA_PASSWORD)
            .await
            .unwrap();
        chains.push(tokens.refresh_token.unwrap());
    }

    // Every 20 ms, every connection of the server's is killed, while three clients refresh
    // their tokens, create, list and update users.
    let killing = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let killer = tokio::spawn({
        let url = pg.url();
        let killing = killing.clone();
        async move {
            let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
            let mut kills = 0u64;
            while killing.load(std::sync::atomic::Ordering::Relaxed) {
                let n = sqlx::query(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                     WHERE datname = current_database() AND pid <> pg_backend_pid() \
                     AND backend_type = 'client backend'",
                )
                .fetch_one(&mut conn)
                .await
                .unwrap()
                .get::<i64, _>(0);
                kills += n as u64;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            kills
        }
    });
    let ada_id = answer(
        http.get(format!("{base}/api/v1/users?email=ada@example.com"))
            .bearer_auth(&admin),
    )
    .await
    .body["users"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut clients = Vec::new();
    for (c, chain) in chains.into_iter().enumerate() {
        let http = http.clone();
        let base = base.clone();
        let admin = admin.clone();
        let ada_id = ada_id.clone();
        clients.push(tokio::spawn(async move {
            let mut token = chain;
            let mut acknowledged = Vec::new();
            // 503s of: refresh (a transaction), user creation (a transaction), a management
            // list (a read), a user update (a read-modify-write transaction).
            let mut unavailable = [0u32; 4];
            for i in 0..40 {
                let a = refresh(&http, &base, &token).await;
                match a.status {
                    200 => token = a.body["refresh_token"].as_str().unwrap().to_owned(),
                    503 => unavailable[0] += 1,
                    s => panic!("a refresh while connections die answered {s}: {:?}", a.body),
                }
                let email = format!("c{c}-{i}@example.com");
                match create_user(&http, &base, &admin, &email).await {
                    (200, _) => acknowledged.push(email),
                    (503, true) => unavailable[1] += 1,
                    (s, _) => panic!("creating a user while connections die answered {s}"),
                }
                let a = answer(
                    http.get(format!("{base}/api/v1/users?page_size=5"))
                        .bearer_auth(&admin),
                )
                .await;
                match (a.status, a.retry_after) {
                    (200, _) => assert!(a.body["users"].is_array(), "{:?}", a.body),
                    (503, true) => unavailable[2] += 1,
                    (s, _) => panic!("listing users while connections die answered {s}"),
                }
                let a = answer(
                    http.patch(format!("{base}/api/v1/user?id={ada_id}"))
                        .bearer_auth(&admin)
                        .json(&json!({"given_name": format!("Ada {c}-{i}")})),
                )
                .await;
                match (a.status, a.retry_after) {
                    (200, _) => {}
                    (503, true) => unavailable[3] += 1,
                    (s, _) => panic!("updating a user while connections die answered {s}"),
                }
            }
            (token, acknowledged, unavailable)
        }));
    }
    let mut results = Vec::new();
    for client in clients {
        results.push(client.await.unwrap());
    }
    killing.store(false, std::sync::atomic::Ordering::Relaxed);
    let kills = killer.await.unwrap();
    let mut unavailable = [0u32; 4];
    for r in &results {
        for (total, n) in unavailable.iter_mut().zip(r.2) {
            *total += n;
        }
    }
    eprintln!(
        "{kills} connections killed; 503 answers of 120 each: refresh {}, create user {}, \
         list users {}, update user {}",
        unavailable[0], unavailable[1], unavailable[2], unavailable[3]
    );
    assert!(kills > 0, "no connection was killed");

    // Nothing lost: each chain's newest refresh token works, and every acknowledged user is
    // there.
    for (token, acknowledged, _) in &results {
        let a = refresh(&http, &base, token).await;
        assert_eq!(a.status, 200, "a refresh chain broke: {:?}", a.body);
        for email in acknowledged {
            let a = answer(
                http.get(format!("{base}/api/v1/users?email={email}"))
                    .bearer_auth(&admin),
            )
            .await;
            assert_eq!(a.body["users"].as_array().map(Vec::len), Some(1), "{email}");
        }
    }
    issuer.shutdown().await;
}
