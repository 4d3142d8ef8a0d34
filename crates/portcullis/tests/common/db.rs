//! Test databases for tests that run the real server (`TestIssuer`): in-memory SQLite, and
//! PostgreSQL from `PORTCULLIS_TEST_POSTGRES_URL`, each test in a schema of its own so runs never
//! collide. Included with `#[path = "common/db.rs"] mod db;` by the tests that need it.
#![allow(dead_code)]

use sqlx::Connection as _;

/// Where the PostgreSQL tests get their server.
pub const POSTGRES_ENV: &str = "PORTCULLIS_TEST_POSTGRES_URL";

/// A database for one test.
pub struct TestDb {
    /// The URL the server connects with.
    pub url: String,
    /// `"sqlite"` or `"postgres"`, for messages.
    pub kind: &'static str,
    schema: Option<(String, String)>,
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

impl TestDb {
    /// A fresh in-memory SQLite database.
    pub fn sqlite() -> TestDb {
        TestDb {
            url: "sqlite::memory:".into(),
            kind: "sqlite",
            schema: None,
        }
    }

    /// A fresh schema on the test PostgreSQL server, or `None` (with a note on stderr) when
    /// [`POSTGRES_ENV`] is not set. Set, it must work: a server that cannot be reached is a
    /// failure, not a skip. Under CI (`CI` set) a missing configuration is a failure too.
    pub async fn postgres() -> Option<TestDb> {
        let Ok(base) = std::env::var(POSTGRES_ENV) else {
            assert!(
                std::env::var("CI").is_err(),
                "{POSTGRES_ENV} must be set in CI: the PostgreSQL runs may not be skipped"
            );
            eprintln!("note: {POSTGRES_ENV} is not set; skipping the PostgreSQL run");
            return None;
        };
        let mut conn = sqlx::PgConnection::connect(&base)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to {POSTGRES_ENV}: {e}"));
        let now = unix_now();
        // Schemas left behind by crashed runs more than an hour ago.
        let old: Vec<(String,)> =
            sqlx::query_as("SELECT nspname::text FROM pg_namespace WHERE nspname LIKE 'pcsdk\\_%'")
                .fetch_all(&mut conn)
                .await
                .unwrap();
        for (name,) in old {
            let born: u64 = name
                .split('_')
                .nth(1)
                .and_then(|t| t.parse().ok())
                .unwrap_or(0);
            if born + 3600 < now {
                let _ = sqlx::query(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"))
                    .execute(&mut conn)
                    .await;
            }
        }
        let mut rand = [0u8; 6];
        aws_lc_rs::rand::fill(&mut rand).unwrap();
        let suffix: String = rand.iter().map(|b| format!("{b:02x}")).collect();
        let schema = format!("pcsdk_{now}_{suffix}");
        sqlx::query(&format!("CREATE SCHEMA {schema}"))
            .execute(&mut conn)
            .await
            .unwrap();
        let _ = conn.close().await;
        let sep = if base.contains('?') { '&' } else { '?' };
        Some(TestDb {
            url: format!("{base}{sep}options=-c%20search_path%3D{schema}"),
            kind: "postgres",
            schema: Some((base, schema)),
        })
    }

    /// Drops the test schema (PostgreSQL). Call at the end of a test, after the server stopped.
    pub async fn cleanup(self) {
        if let Some((base, schema)) = &self.schema {
            let mut conn = sqlx::PgConnection::connect(base).await.unwrap();
            sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                .execute(&mut conn)
                .await
                .unwrap();
            let _ = conn.close().await;
        }
    }
}

/// Runs `case` on SQLite, then on PostgreSQL (when [`POSTGRES_ENV`] is set).
pub async fn on_both<F, Fut>(case: F)
where
    F: Fn(TestDb) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    case(TestDb::sqlite()).await;
    if let Some(db) = TestDb::postgres().await {
        case(db).await;
    }
}
