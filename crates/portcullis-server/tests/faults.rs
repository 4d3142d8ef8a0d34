//! Faults lose nothing (issue 13): a refresh-token rotation that fails half-way leaves the
//! presented token usable.
//!
//! Every test runs on SQLite (a file, shared by the instances and by the test's own connection)
//! and on PostgreSQL (`PORTCULLIS_TEST_POSTGRES_URL`, each test in a schema of its own).

mod common;
mod tenant;

use std::path::PathBuf;

use common::TestDb;
use common::demo;
use serde_json::json;
use sqlx::Connection as _;

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

on_both!(a_rotation_that_fails_half_way_leaves_the_presented_token_live,);

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
