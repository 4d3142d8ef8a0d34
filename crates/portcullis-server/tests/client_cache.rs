//! The token endpoint's in-memory application cache: a change made elsewhere (another instance,
//! an operator) is seen within `Settings::client_cache_ttl`, and immediately when it is zero.

use std::sync::Arc;
use std::time::Duration;

use portcullis::clock::ManualClock;

use portcullis_server::seed::Seed;
use portcullis_server::store::Store;
use portcullis_server::{AppState, Settings};

const API: &str = "https://api.example.com";
const OLD: &str = "old-secret-0123456789abcdefghijklmnopq";
const NEW: &str = "new-secret-0123456789abcdefghijklmnopq";

fn seed(secret: &str) -> Seed {
    Seed::from_toml(&format!(
        r#"
[[apis]]
name = "API"
audience = "{API}"
scopes = ["read:todos"]

[[applications]]
name = "Worker"
type = "m2m"
client_id = "worker"
client_secret = "{secret}"
[[applications.apis]]
audience = "{API}"
scopes = ["read:todos"]
"#
    ))
    .unwrap()
}

async fn start(
    ttl: Duration,
    clock: &ManualClock,
) -> (String, Store, tokio::sync::oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let store = Store::connect("sqlite::memory:").await.unwrap();
    let settings = Settings {
        client_cache_ttl: ttl,
        clock: Arc::new(clock.clone()),
        ..Settings::new(&url)
    };
    let state = AppState::new(store.clone(), settings).await.unwrap();
    seed(OLD).apply(&store).await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(portcullis_server::run(listener, state, async move {
        let _ = stopped.await;
    }));
    (url, store, stop)
}

async fn token_status(url: &str, secret: &str) -> u16 {
    reqwest::Client::new()
        .post(format!("{url}/oauth2/token"))
        .basic_auth("worker", Some(secret))
        .form(&[("grant_type", "client_credentials"), ("audience", API)])
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_rotated_secret_is_seen_within_the_cache_ttl() {
    let clock = ManualClock::now();
    let (url, store, _stop) = start(Duration::from_secs(5), &clock).await;
    assert_eq!(token_status(&url, OLD).await, 200);
    // The secret changes behind the server's back (as another instance would change it).
    seed(NEW).apply(&store).await.unwrap();
    // Within the TTL the cached application still answers; past it, the new one.
    clock.advance(Duration::from_millis(4_900));
    assert_eq!(token_status(&url, OLD).await, 200, "still cached");
    clock.advance(Duration::from_millis(200));
    assert_eq!(
        token_status(&url, OLD).await,
        401,
        "the old secret is refused"
    );
    assert_eq!(token_status(&url, NEW).await, 200);
}

#[tokio::test]
async fn a_zero_ttl_reads_the_database_every_time() {
    let (url, store, _stop) = start(Duration::ZERO, &ManualClock::now()).await;
    assert_eq!(token_status(&url, OLD).await, 200);
    seed(NEW).apply(&store).await.unwrap();
    assert_eq!(token_status(&url, OLD).await, 401);
    assert_eq!(token_status(&url, NEW).await, 200);
}
