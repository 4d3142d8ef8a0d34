//! Test databases: in-memory SQLite, and PostgreSQL from `PORTCULLIS_TEST_POSTGRES_URL`, each
//! test in a schema of its own so runs never collide.
#![allow(dead_code)]

pub mod browser;
pub mod demo;
pub mod pg_cluster;

use sqlx::Connection as _;

/// Where the PostgreSQL tests get their server.
pub const POSTGRES_ENV: &str = "PORTCULLIS_TEST_POSTGRES_URL";

/// A database for one test.
pub struct TestDb {
    /// The URL to connect with.
    pub url: String,
    schema: Option<(String, String)>,
}

/// The current time in Unix seconds, on the system clock (a server started without a clock of
/// its own reads the same).
pub fn unix_now() -> i64 {
    use portcullis::clock::Clock as _;
    portcullis::clock::SystemClock.now_secs()
}

/// A server clock stopped at the start of the current rate-limit window
/// (`portcullis_server::limits::WINDOW`), a few minutes at most before the system clock: a test
/// that fills a counter runs inside one window however long it takes, with no waiting.
pub fn clock_at_window_start() -> portcullis::clock::ManualClock {
    let now = unix_now();
    portcullis::clock::ManualClock::at_secs(now - now.rem_euclid(portcullis_server::limits::WINDOW))
}

impl TestDb {
    /// A fresh in-memory SQLite database.
    pub fn sqlite() -> TestDb {
        TestDb {
            url: "sqlite::memory:".into(),
            schema: None,
        }
    }

    /// A fresh schema on the test PostgreSQL server, or `None` when none is configured.
    /// Under CI (`CI=true`) a missing configuration is a failure, not a skip.
    pub async fn postgres() -> Option<TestDb> {
        let Ok(base) = std::env::var(POSTGRES_ENV) else {
            assert!(
                std::env::var("CI").is_err(),
                "{POSTGRES_ENV} must be set in CI: the PostgreSQL suite may not be skipped"
            );
            eprintln!("skipping: {POSTGRES_ENV} is not set");
            return None;
        };
        let mut conn = sqlx::PgConnection::connect(&base)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to {POSTGRES_ENV}: {e}"));
        let now = unix_now() as u64;
        // Drop schemas left behind by crashed runs more than an hour ago.
        let old: Vec<(String,)> = sqlx::query_as(
            "SELECT nspname::text FROM pg_namespace WHERE nspname LIKE 'pctest\\_%'",
        )
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
        let schema = format!("pctest_{now}_{suffix}");
        sqlx::query(&format!("CREATE SCHEMA {schema}"))
            .execute(&mut conn)
            .await
            .unwrap();
        let sep = if base.contains('?') { '&' } else { '?' };
        Some(TestDb {
            url: format!("{base}{sep}options=-c%20search_path%3D{schema}"),
            schema: Some((base, schema)),
        })
    }

    /// Drops the test schema (PostgreSQL). Call at the end of a test.
    pub async fn cleanup(self) {
        if let Some((base, schema)) = &self.schema {
            let mut conn = sqlx::PgConnection::connect(base).await.unwrap();
            sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                .execute(&mut conn)
                .await
                .unwrap();
        }
    }
}
