//! Faults lose nothing (issue 13): a refresh-token rotation that fails half-way leaves the
//! presented token usable; instances starting at once on a fresh database seed it and create
//! its first signing key once; an instance accepts a token signed by a key another instance
//! created after it read the keys, and refuses unknown kids with bounded reads; the key ring is
//! served while the database is gone.
//!
//! Every test runs on SQLite (a file, shared by the instances and by the test's own connection)
//! and on PostgreSQL (`PORTCULLIS_TEST_POSTGRES_URL`, each test in a schema of its own).

mod common;
mod tenant;

use std::path::PathBuf;
use std::time::Duration;

use common::TestDb;
use common::browser::http;
use common::demo::{self, WEB};
use portcullis_server::error::ServerError;
use portcullis_server::keys::{KeyManager, SigningAlgorithm};
use portcullis_server::seed::Seed;
use portcullis_server::store::Store;
use portcullis_server::{AppState, Settings};
use serde_json::{Value, json};
use sqlx::Connection as _;

/// The public issuer every instance of a test serves under (a load balancer in production).
const ISSUER: &str = "https://id.example.com";
const ADMIN: &str = "admin-scripts";
const ADMIN_SECRET: &str = "admin-scripts-secret-0123456789abcdefghij";

#[derive(Clone, Copy, Debug)]
enum Kind {
    Sqlite,
    Postgres,
}

macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Kind::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Kind::Postgres).await;
                }
            )*
        }
    };
}

on_both!(
    a_rotation_that_fails_half_way_leaves_the_presented_token_live,
    instances_starting_at_once_seed_once_and_create_one_key,
    a_token_of_a_key_created_by_another_instance_is_accepted_at_once,
    unknown_kids_are_refused_with_at_most_one_read_per_interval,
    the_key_ring_is_served_while_the_database_is_gone,
);

/// A database that several instances (and the test itself) connect to: a SQLite file in a
/// directory of its own, or a PostgreSQL schema.
struct SharedDb {
    url: String,
    kind: Kind,
    postgres: Option<TestDb>,
    dir: Option<PathBuf>,
}

impl SharedDb {
    /// A fresh database, or `None` when PostgreSQL is asked for and not configured.
    async fn new(kind: Kind) -> Option<SharedDb> {
        match kind {
            Kind::Sqlite => {
                let mut rand = [0u8; 8];
                aws_lc_rs::rand::fill(&mut rand).unwrap();
                let suffix: String = rand.iter().map(|b| format!("{b:02x}")).collect();
                let dir = std::env::temp_dir().join(format!("portcullis-faults-{suffix}"));
                std::fs::create_dir_all(&dir).unwrap();
                Some(SharedDb {
                    url: format!("sqlite://{}", dir.join("portcullis.db").display()),
                    kind,
                    postgres: None,
                    dir: Some(dir),
                })
            }
            Kind::Postgres => {
                let db = TestDb::postgres().await?;
                Some(SharedDb {
                    url: db.url.clone(),
                    kind,
                    postgres: Some(db),
                    dir: None,
                })
            }
        }
    }

    /// Runs `sql` on a connection of the test's own.
    async fn execute(&self, sql: &str) {
        sqlx::any::install_default_drivers();
        let mut conn = sqlx::AnyConnection::connect(&self.url).await.unwrap();
        sqlx::raw_sql(sql).execute(&mut conn).await.unwrap();
        conn.close().await.unwrap();
    }

    async fn cleanup(self) {
        if let Some(db) = self.postgres {
            db.cleanup().await;
        }
        if let Some(dir) = self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// A server instance on `url`, serving [`ISSUER`].
struct Instance {
    url: String,
    state: AppState,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Instance {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The example tenant plus an application that may read users through the management API.
fn tenant_seed() -> Seed {
    let mut seed = demo::demo_seed();
    let admin = Seed::from_toml(&format!(
        r#"
[[applications]]
name = "Admin scripts"
type = "m2m"
client_id = "{ADMIN}"
client_secret = "{ADMIN_SECRET}"
management_scopes = ["read:users"]
"#
    ))
    .unwrap();
    seed.applications.extend(admin.applications);
    seed
}

/// Starts an instance on `url` with `configure` applied to the default settings, and seeds the
/// tenant (idempotent: every instance may).
async fn serve(url: &str, configure: impl FnOnce(&mut Settings)) -> Instance {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let mut settings = Settings::new(ISSUER);
    configure(&mut settings);
    let state = AppState::new(Store::connect(url).await.unwrap(), settings)
        .await
        .unwrap();
    tenant_seed().apply(state.store()).await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(portcullis_server::run(
        listener,
        state.clone(),
        async move {
            let _ = stopped.await;
        },
    ));
    Instance {
        url: base,
        state,
        stop: Some(stop),
    }
}

fn kid_of(token: &str) -> String {
    let (header, _) = demo::jwt_parts(token);
    header["kid"].as_str().unwrap().to_owned()
}

async fn introspect(base: &str, token: &str) -> Value {
    demo::introspect(base, token).await
}

/// `GET path` on `base` with a bearer token: the status.
async fn get_with_bearer(base: &str, path: &str, token: &str) -> u16 {
    http()
        .get(format!("{base}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// A management-API token from `base`.
async fn admin_token(base: &str) -> String {
    let (status, body) = demo::exchange(
        base,
        Some((ADMIN, ADMIN_SECRET)),
        &[
            ("grant_type", "client_credentials"),
            ("audience", &format!("{ISSUER}/api")),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_owned()
}

/// Ada's access token (scope `openid`) through the web app on `base`.
async fn user_token(base: &str) -> String {
    let tokens = demo::ada_tokens(base, "openid", &[]).await;
    tokens["access_token"].as_str().unwrap().to_owned()
}

// ---------------------------------------------------------------------------------------------
// Refresh-token rotation (issue 13, item 3)
// ---------------------------------------------------------------------------------------------

/// A trigger that makes the database refuse any new refresh token: the second step of a
/// rotation (storing the successor) fails after the first (spending the presented token) ran.
fn refuse_new_refresh_tokens(kind: Kind) -> &'static str {
    match kind {
        Kind::Sqlite => {
            "CREATE TRIGGER refuse_refresh BEFORE INSERT ON refresh_tokens \
             BEGIN SELECT RAISE(ABORT, 'injected fault: no new refresh token'); END"
        }
        Kind::Postgres => {
            "CREATE FUNCTION refuse_refresh() RETURNS trigger LANGUAGE plpgsql AS $$ \
             BEGIN RAISE EXCEPTION 'injected fault: no new refresh token'; END $$; \
             CREATE TRIGGER refuse_refresh BEFORE INSERT ON refresh_tokens \
             FOR EACH ROW EXECUTE FUNCTION refuse_refresh()"
        }
    }
}

fn accept_new_refresh_tokens(kind: Kind) -> &'static str {
    match kind {
        Kind::Sqlite => "DROP TRIGGER refuse_refresh",
        Kind::Postgres => "DROP TRIGGER refuse_refresh ON refresh_tokens",
    }
}

async fn a_rotation_that_fails_half_way_leaves_the_presented_token_live(kind: Kind) {
    let Some(db) = SharedDb::new(kind).await else {
        return;
    };
    let server = tenant::start_on(&db.url, |_| {}).await;
    let first = demo::ada_tokens(&server, "openid offline", &[]).await;
    let r1 = first["refresh_token"].as_str().unwrap().to_owned();

    db.execute(refuse_new_refresh_tokens(db.kind)).await;
    let (status, body) = tenant::refresh(&server, &r1, None).await;
    assert_ne!(status, 200, "the successor could not be stored: {body}");
    assert!(body.get("refresh_token").is_none(), "{body}");
    assert_eq!(
        demo::introspect(&server, &r1).await["active"],
        json!(true),
        "the presented refresh token is still live after the failed rotation"
    );

    // The database recovers; the client retries with the same token: a rotation, not reuse.
    db.execute(accept_new_refresh_tokens(db.kind)).await;
    let (status, second) = tenant::refresh(&server, &r1, None).await;
    assert_eq!(status, 200, "{second}");
    let r2 = second["refresh_token"].as_str().unwrap();
    let a2 = second["access_token"].as_str().unwrap();
    assert_ne!(r2, r1);
    assert_eq!(
        demo::introspect(&server, a2).await["active"],
        json!(true),
        "the family is not revoked"
    );
    assert_eq!(
        demo::introspect(&server, &r1).await,
        json!({"active": false}),
        "the presented token is spent now"
    );
    // The new chain goes on.
    let (status, third) = tenant::refresh(&server, r2, None).await;
    assert_eq!(status, 200, "{third}");
    assert_eq!(
        demo::introspect(&server, third["access_token"].as_str().unwrap()).await["active"],
        json!(true)
    );

    server.store().close().await;
    drop(server);
    db.cleanup().await;
}

// ---------------------------------------------------------------------------------------------
// Instances starting at once on a fresh database (issue 13, item 4)
// ---------------------------------------------------------------------------------------------

/// Roles with permissions, APIs with scopes, memberships with roles and direct permissions:
/// every table whose rows a seed replaces. No password, so no password hashing.
const START_SEED: &str = r#"
[[apis]]
name = "Todos"
audience = "https://api.example.com"
scopes = ["read:todos", "create:todos", "delete:todos"]

[[apis]]
name = "Billing"
audience = "https://billing.example.com"
scopes = ["read:invoices", "pay:invoices"]

[[applications]]
name = "Worker"
type = "m2m"
client_id = "worker"
client_secret = "worker-secret-0123456789abcdefghijklmnop"
apis = [{ audience = "https://api.example.com", scopes = ["read:todos"] }]
management_scopes = ["read:users"]

[[permissions]]
key = "read:todos"

[[permissions]]
key = "create:todos"

[[permissions]]
key = "delete:todos"

[[roles]]
key = "admin"
permissions = ["read:todos", "create:todos", "delete:todos"]

[[roles]]
key = "member"
permissions = ["read:todos"]

[[organizations]]
code = "org_acme"
name = "Acme"

[[organizations]]
code = "org_globex"
name = "Globex"

[[users]]
email = "ada@example.com"
organizations = [
  { code = "org_acme", roles = ["admin"] },
  { code = "org_globex", roles = ["member"], permissions = ["delete:todos"] },
]
"#;

async fn instances_starting_at_once_seed_once_and_create_one_key(kind: Kind) {
    const TRIALS: usize = 4;
    const INSTANCES: usize = 4;
    let seed = Seed::from_toml(START_SEED).unwrap();
    for trial in 0..TRIALS {
        let Some(db) = SharedDb::new(kind).await else {
            return;
        };
        let started: Vec<_> = (0..INSTANCES)
            .map(|_| {
                let url = db.url.clone();
                let seed = seed.clone();
                tokio::spawn(async move {
                    let state =
                        AppState::new(Store::connect(&url).await?, Settings::new(ISSUER)).await?;
                    seed.apply(state.store()).await?;
                    Ok::<_, ServerError>(state)
                })
            })
            .collect();
        let mut states = Vec::new();
        for (i, handle) in started.into_iter().enumerate() {
            let started = handle.await.unwrap();
            states.push(
                started.unwrap_or_else(|e| panic!("trial {trial}: instance {i} failed: {e}")),
            );
        }
        let store = states[0].store();
        let keys = store.keys().await.unwrap();
        assert_eq!(
            keys.len(),
            1,
            "trial {trial}: exactly one first signing key"
        );
        for state in &states {
            let ring = state.keys().ring(common::unix_now()).await.unwrap();
            assert_eq!(ring.active.kid(), keys[0].kid, "trial {trial}");
        }
        // The seed is there, whole, once.
        for (audience, scopes) in [
            (
                "https://api.example.com",
                vec!["create:todos", "delete:todos", "read:todos"],
            ),
            (
                "https://billing.example.com",
                vec!["pay:invoices", "read:invoices"],
            ),
        ] {
            let api = store.api_by_audience(audience).await.unwrap().unwrap();
            assert_eq!(store.api_scopes(&api.id).await.unwrap(), scopes);
        }
        let management = store
            .api_by_audience(&format!("{ISSUER}/api"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            store.api_scopes(&management.id).await.unwrap().len(),
            portcullis_server::management::SCOPES.len()
        );
        let ada = store
            .user_by_email("ada@example.com")
            .await
            .unwrap()
            .unwrap();
        let acme = store
            .effective_claims(&ada.id, Some("org_acme"))
            .await
            .unwrap();
        assert_eq!(
            acme.permissions,
            ["create:todos", "delete:todos", "read:todos"],
            "trial {trial}: the admin role's permissions"
        );
        let globex = store
            .effective_claims(&ada.id, Some("org_globex"))
            .await
            .unwrap();
        assert_eq!(
            globex
                .roles
                .iter()
                .map(|r| r.key.as_str())
                .collect::<Vec<_>>(),
            ["member"]
        );
        assert_eq!(globex.permissions, ["delete:todos", "read:todos"]);
        for state in states {
            state.store().close().await;
        }
        db.cleanup().await;
    }
}

// ---------------------------------------------------------------------------------------------
// Keys another instance created (issue 13, item 4)
// ---------------------------------------------------------------------------------------------

async fn a_token_of_a_key_created_by_another_instance_is_accepted_at_once(kind: Kind) {
    let Some(db) = SharedDb::new(kind).await else {
        return;
    };
    let a = serve(&db.url, |_| {}).await;
    // B would re-read the keys only after an hour: what it learns here, it learns because a
    // token named a key it did not know.
    let b = serve(&db.url, |s| {
        s.key_reload_interval = Duration::from_secs(3600);
    })
    .await;
    let jwks = http()
        .get(format!("{}/.well-known/jwks.json", b.url))
        .send()
        .await
        .unwrap();
    assert_eq!(jwks.status(), 200);
    let rotate = || async {
        a.state
            .keys()
            .rotate(
                common::unix_now(),
                Duration::ZERO,
                Duration::from_secs(3600),
            )
            .await
            .unwrap()
    };

    // Introspection.
    let kid = rotate().await;
    let token = user_token(&a.url).await;
    assert_eq!(kid_of(&token), kid, "A signs with the key it just created");
    let reads = b.state.keys().key_set_reads();
    assert_eq!(introspect(&b.url, &token).await["active"], json!(true));
    assert_eq!(
        b.state.keys().key_set_reads(),
        reads + 1,
        "B read the keys once"
    );
    // Known now: no further read.
    assert_eq!(introspect(&b.url, &token).await["active"], json!(true));
    assert_eq!(b.state.keys().key_set_reads(), reads + 1);

    // UserInfo.
    let kid = rotate().await;
    let token = user_token(&a.url).await;
    assert_eq!(kid_of(&token), kid);
    assert_eq!(
        get_with_bearer(&b.url, "/oauth2/userinfo", &token).await,
        200
    );

    // The management API.
    let kid = rotate().await;
    let token = admin_token(&a.url).await;
    assert_eq!(kid_of(&token), kid);
    assert_eq!(get_with_bearer(&b.url, "/api/v1/users", &token).await, 200);

    a.state.store().close().await;
    b.state.store().close().await;
    drop((a, b));
    db.cleanup().await;
}

/// An access token for Ada through the web app, with every claim this server's tokens have,
/// signed by `keys` (a key in no database the server reads).
fn forged(keys: &portcullis_server::keys::KeyRing, ada_id: &str) -> String {
    let now = common::unix_now();
    let claims = json!({
        "aud": ["https://api.example.com"],
        "azp": WEB,
        "client_id": WEB,
        "exp": now + 600,
        "iat": now,
        "iss": ISSUER,
        "jti": format!("forged-{now}-{}", keys.active.kid()),
        "sub": ada_id,
        "scp": ["openid"],
        "scope": "openid",
        "v": "2",
    });
    keys.active.sign_jwt("at+jwt", &claims).unwrap()
}

async fn unknown_kids_are_refused_with_at_most_one_read_per_interval(kind: Kind) {
    let Some(db) = SharedDb::new(kind).await else {
        return;
    };
    let server = serve(&db.url, |s| {
        s.key_reload_interval = Duration::from_secs(3600);
    })
    .await;
    let ada = server
        .state
        .store()
        .user_by_email(demo::ADA)
        .await
        .unwrap()
        .unwrap();
    // Two keys no database of the server holds.
    let elsewhere = Store::connect("sqlite::memory:").await.unwrap();
    elsewhere.migrate().await.unwrap();
    let foreign = KeyManager::new(elsewhere.clone(), None, SigningAlgorithm::RS256);
    let now = common::unix_now();
    foreign.ensure_key(now).await.unwrap();
    let first = forged(&foreign.ring(now).await.unwrap(), &ada.id);
    foreign
        .rotate(now, Duration::ZERO, Duration::from_secs(3600))
        .await
        .unwrap();
    let second = forged(&foreign.ring(now).await.unwrap(), &ada.id);
    assert_ne!(kid_of(&first), kid_of(&second));

    // A token of the server's own passes, and the keys are read.
    let own = user_token(&server.url).await;
    assert_eq!(introspect(&server.url, &own).await["active"], json!(true));
    let keys = server.state.keys();
    let reads = keys.key_set_reads();

    // The first unknown kid: the keys are read again, and the token is refused.
    assert_eq!(
        introspect(&server.url, &first).await,
        json!({"active": false})
    );
    assert_eq!(
        keys.key_set_reads(),
        reads + 1,
        "one read for the unknown kid"
    );
    // Another unknown kid within the interval: refused everywhere without reading again.
    assert_eq!(
        introspect(&server.url, &second).await,
        json!({"active": false})
    );
    assert_eq!(
        get_with_bearer(&server.url, "/oauth2/userinfo", &second).await,
        401
    );
    assert_eq!(
        get_with_bearer(&server.url, "/api/v1/users", &second).await,
        403
    );
    assert_eq!(
        keys.key_set_reads(),
        reads + 1,
        "no second read within {:?}",
        portcullis_server::keys::UNKNOWN_KID_REREAD_INTERVAL
    );
    // The server's own tokens still pass.
    assert_eq!(introspect(&server.url, &own).await["active"], json!(true));

    elsewhere.close().await;
    server.state.store().close().await;
    drop(server);
    db.cleanup().await;
}

// ---------------------------------------------------------------------------------------------
// The key ring without the database (issue 13, item 2)
// ---------------------------------------------------------------------------------------------

async fn the_key_ring_is_served_while_the_database_is_gone(kind: Kind) {
    let Some(db) = SharedDb::new(kind).await else {
        return;
    };
    let reload = Duration::from_millis(200);
    let clock = portcullis::clock::ManualClock::now();
    let server = serve(&db.url, |s| {
        s.key_reload_interval = reload;
        s.clock = std::sync::Arc::new(clock.clone());
    })
    .await;
    let get = |path: &'static str| {
        let url = format!("{}{path}", server.url);
        async move {
            let response = http().get(url).send().await.unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        }
    };
    let (status, jwks) = get("/.well-known/jwks.json").await;
    assert_eq!(status, 200);
    let (status, discovery) = get("/.well-known/openid-configuration").await;
    assert_eq!(status, 200);

    // The database goes away: every query fails from now on.
    server.state.store().close().await;
    assert_eq!(get("/readyz").await.0, 503, "the database is really gone");
    // Past the reload interval, the ring is due for a read, which fails; it is served still,
    // as long as the outage lasts (several failed reads).
    let reads = server.state.keys().key_set_reads();
    for _ in 0..3 {
        clock.advance(reload + Duration::from_millis(100));
        assert_eq!(get("/.well-known/jwks.json").await, (200, jwks.clone()));
        assert_eq!(
            get("/.well-known/openid-configuration").await,
            (200, discovery.clone())
        );
    }
    assert!(
        server.state.keys().key_set_reads() > reads,
        "the due ring was read again (and the read failed)"
    );
    drop(server);
    db.cleanup().await;
}
