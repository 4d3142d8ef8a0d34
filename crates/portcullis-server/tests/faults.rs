//! Faults lose nothing (issue 13): a refresh-token rotation that fails half-way leaves the
//! presented token usable; instances starting at once on a fresh database seed it and create
//! its first signing key once.
//!
//! Every test runs on SQLite (a file, shared by the instances and by the test's own connection)
//! and on PostgreSQL (`PORTCULLIS_TEST_POSTGRES_URL`, each test in a schema of its own).

mod common;
mod tenant;

use std::path::PathBuf;

use common::TestDb;
use common::demo;
use portcullis_server::error::ServerError;
use portcullis_server::seed::Seed;
use portcullis_server::store::Store;
use portcullis_server::{AppState, Settings};
use serde_json::json;
use sqlx::Connection as _;

/// The public issuer every instance of a test serves under (a load balancer in production).
const ISSUER: &str = "https://id.example.com";

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
            portcullis_server::api::SCOPES.len()
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
