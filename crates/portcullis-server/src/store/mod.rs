//! Persistence: one SQL code base for SQLite (the embedded default) and PostgreSQL.
//!
//! Every query is written once, with `$1`-style parameters (which both SQLite and PostgreSQL
//! accept), over `sqlx`'s `Any` driver. Column types are the portable subset: `TEXT` and `BIGINT`
//! (timestamps are Unix seconds, booleans 0/1, binary data base64). What differs between the two
//! databases lives in [`Dialect`] alone.

mod flows;
mod identity;
mod management;
mod schema;
mod sessions_ext;

pub use flows::{CodeUse, InteractionRecord, NewRefresh, RefreshRecord, Rotation, SessionRecord};
pub use identity::{EffectiveClaims, FlagClaim, RoleClaim, UserRecord, flag_value};
pub use management::*;

use std::str::FromStr;
use std::sync::Once;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};

use crate::domain::{AppType, ClientId};
use crate::error::StoreError;

/// Which database a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite: a file, or in memory.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// The database, shared by every request (cheap to clone).
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    dialect: Dialect,
}

/// A stored signing key.
#[derive(Debug, Clone)]
pub struct KeyRecord {
    /// The key id published in the JWKS.
    pub kid: String,
    /// The JWS algorithm (`RS256`, `ES256`, `EdDSA`).
    pub alg: String,
    /// The private key: base64 PKCS#8, or the sealed form when a master key is set.
    pub private_key: String,
    /// Whether `private_key` is sealed with the master key.
    pub sealed: bool,
    /// The public JWK (JSON).
    pub public_jwk: String,
    /// When it was created.
    pub created_at: i64,
    /// From when it signs tokens.
    pub active_from: i64,
    /// When it stopped signing (a newer key took over), if it has.
    pub retired_at: Option<i64>,
    /// Until when its public key stays published (tokens it signed may still be valid).
    pub publish_until: Option<i64>,
}

/// An API (resource server) tokens can be issued for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiRecord {
    /// Its id.
    pub id: String,
    /// A display name.
    pub name: String,
    /// The audience (`aud`) of its tokens.
    pub audience: String,
}

/// An application (OAuth client).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplicationRecord {
    /// Its id.
    pub id: String,
    /// A display name.
    pub name: String,
    /// `reg`, `spa` or `m2m`.
    pub app_type: AppType,
    /// The OAuth client id.
    pub client_id: ClientId,
    /// SHA-256 (hex) of the client secret; `None` for public clients.
    pub client_secret_sha256: Option<String>,
    /// Access-token lifetime for this application, in seconds (server default when `None`).
    pub access_token_ttl: Option<i64>,
    /// Whether it may use the resource-owner password grant (`reg` applications only; off by
    /// default — RFC 9700 §2.4 advises against it).
    pub password_grant: bool,
}

/// An API an application may get tokens for, with the scopes granted to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiGrant {
    /// The API.
    pub api: ApiRecord,
    /// The scopes the application may request for it.
    pub scopes: Vec<String>,
}

/// How a [`Store`] uses its database connections.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StoreOptions {
    /// The longest a request waits for a database connection (all in use, or the database
    /// unreachable) before it is answered `503` with `Retry-After`. Default 3 seconds.
    pub acquire_timeout: std::time::Duration,
    /// Caps an SQLite database at this many pages (`PRAGMA max_page_count`, per connection):
    /// writes past it fail as on a full disk. For fault tests; `None` (the default) leaves
    /// SQLite's own limit.
    pub sqlite_max_page_count: Option<u32>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            acquire_timeout: std::time::Duration::from_secs(3),
            sqlite_max_page_count: None,
        }
    }
}

impl StoreOptions {
    /// The defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets [`StoreOptions::acquire_timeout`].
    pub fn acquire_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.acquire_timeout = timeout;
        self
    }

    /// Sets [`StoreOptions::sqlite_max_page_count`].
    pub fn sqlite_max_page_count(mut self, pages: u32) -> Self {
        self.sqlite_max_page_count = Some(pages);
        self
    }
}

/// Runs `op`, and once more when its connection was lost before the database answered
/// ([`StoreError::connection_lost`]): the pool hands the second try another connection. Only
/// for work that is safe to repeat — reads, and transactions committed through [`commit`]
/// (a commit whose outcome is unknown is never repeated).
pub(crate) async fn retry_once<T, F, Fut>(op: F) -> Result<T, StoreError>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<T, StoreError>>,
{
    match op().await {
        Err(e) if e.connection_lost() => {
            tracing::debug!(error = %e, "database connection lost: trying once more");
            op().await
        }
        result => result,
    }
}

/// Commits `tx`. A connection lost during the commit leaves its outcome unknown:
/// [`StoreError::CommitUnknown`], which [`retry_once`] does not repeat.
pub(crate) async fn commit(tx: sqlx::Transaction<'_, sqlx::Any>) -> Result<(), StoreError> {
    tx.commit().await.map_err(|e| match StoreError::from(e) {
        StoreError::Unavailable(e) => StoreError::CommitUnknown(e),
        other => other,
    })
}

fn install_drivers() {
    static ONCE: Once = Once::new();
    ONCE.call_once(sqlx::any::install_default_drivers);
}

impl Store {
    /// Connects to `url`: `sqlite://path.db`, `sqlite::memory:`, or `postgres://…`.
    /// SQLite files are created when missing.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        Store::connect_with(url, StoreOptions::default()).await
    }

    /// [`Store::connect`] with options.
    ///
    /// Whatever fails, no connection goes back to the pool inside a transaction: a
    /// transaction that was neither committed nor rolled back (a failed statement, a failed
    /// `COMMIT`, a request cancelled half-way) is rolled back when its connection is released,
    /// and a connection on which that rollback fails is closed. SQLite, on a full disk, may roll
    /// a transaction back itself or leave it open; without this, the connection stayed inside
    /// the transaction, later writes through it were answered but never saved, and it held the
    /// database's write lock.
    pub async fn connect_with(url: &str, options: StoreOptions) -> Result<Store, StoreError> {
        install_drivers();
        let dialect = if url.starts_with("sqlite:") {
            Dialect::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Dialect::Postgres
        } else {
            return Err(StoreError::Config(
                "the database URL must start with sqlite: or postgres:".into(),
            ));
        };
        let url = match dialect {
            Dialect::Sqlite if url != "sqlite::memory:" && !url.contains("mode=") => {
                let sep = if url.contains('?') { '&' } else { '?' };
                format!("{url}{sep}mode=rwc")
            }
            _ => url.to_owned(),
        };
        let connect_options = AnyConnectOptions::from_str(&url)
            .map_err(|e| StoreError::Config(format!("invalid database URL: {e}")))?;
        let mut pool = AnyPoolOptions::new()
            .acquire_timeout(options.acquire_timeout)
            .after_release(|conn, _| Box::pin(release_outside_transaction(conn)));
        pool = match dialect {
            // An in-memory SQLite database lives in one connection: keep exactly one, forever.
            Dialect::Sqlite if url.contains(":memory:") => pool
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .test_before_acquire(false),
            // A local file: no connection can go stale, so skip the ping before every query.
            Dialect::Sqlite => pool.max_connections(4).test_before_acquire(false),
            Dialect::Postgres => pool.max_connections(16),
        };
        if dialect == Dialect::Sqlite {
            let max_page_count = options.sqlite_max_page_count;
            // Per-connection settings: every pooled connection gets them.
            pool = pool.after_connect(move |conn, _| {
                Box::pin(async move {
                    if let Some(pages) = max_page_count {
                        sqlx::query(&format!("PRAGMA max_page_count = {pages}"))
                            .execute(&mut *conn)
                            .await?;
                    }
                    sqlx::query("PRAGMA foreign_keys = ON")
                        .execute(&mut *conn)
                        .await?;
                    sqlx::query("PRAGMA busy_timeout = 5000")
                        .execute(&mut *conn)
                        .await?;
                    // Write-ahead logging: readers never wait for the writer, and a commit is one
                    // append instead of a rollback journal plus an fsync of the database file.
                    // With synchronous=NORMAL a commit survives a crash of the process; only a
                    // power cut can lose the last transactions (never corrupt the file). Without
                    // it, code flows were bound by fsync (bench/load.sh: 68 vs 436 flows/s).
                    // In-memory databases answer "memory" and are unaffected.
                    sqlx::query("PRAGMA journal_mode = WAL")
                        .execute(&mut *conn)
                        .await?;
                    sqlx::query("PRAGMA synchronous = NORMAL")
                        .execute(&mut *conn)
                        .await?;
                    Ok(())
                })
            });
        }
        let pool = pool.connect_with(connect_options).await?;
        Ok(Store { pool, dialect })
    }

    /// Which database this is.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Applies pending migrations. Safe to run concurrently from several instances.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        schema::migrate(&self.pool, self.dialect).await
    }

    /// Whether the database answers (a read).
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Whether the database takes writes (for `/readyz`): one transaction stores a row of
    /// 16 KiB (so the database must find room for it) and deletes it again, then commits.
    pub async fn probe_write(&self) -> Result<(), StoreError> {
        let id = crate::ids::hex(&crate::ids::bytes::<16>());
        let mut tx = self.pool.begin().await?;
        sqlx::query("INSERT INTO readiness_probe (id, pad) VALUES ($1, $2)")
            .bind(&id)
            .bind("p".repeat(PROBE_PAD_BYTES))
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM readiness_probe WHERE id = $1")
            .bind(&id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Closes every connection.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    // ---- signing keys ----

    /// Every stored key, oldest first.
    pub async fn keys(&self) -> Result<Vec<KeyRecord>, StoreError> {
        crate::store::retry_once(|| async move {
            let rows = sqlx::query(
                "SELECT kid, alg, private_key, sealed, public_jwk, created_at, active_from, \
             retired_at, publish_until FROM signing_keys ORDER BY created_at, kid",
            )
            .fetch_all(&self.pool)
            .await?;
            rows.iter().map(key_from_row).collect()
        })
        .await
    }

    /// Stores a new key.
    pub async fn insert_key(&self, key: &KeyRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO signing_keys (kid, alg, private_key, sealed, public_jwk, created_at, \
             active_from, retired_at, publish_until) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&key.kid)
        .bind(&key.alg)
        .bind(&key.private_key)
        .bind(i64::from(key.sealed))
        .bind(&key.public_jwk)
        .bind(key.created_at)
        .bind(key.active_from)
        .bind(key.retired_at)
        .bind(key.publish_until)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Stores `key` unless a key not retired by a rotation exists: one that signs, or one a
    /// rotation made to sign later (the retired keys sign until then), whatever its activation
    /// time (another instance's clock may be a second ahead). `true` when it was stored. (A
    /// first key is not retired: `key`'s retirement fields are not stored.) Instances starting
    /// at once on a fresh database store exactly one first key: on SQLite the statement is
    /// atomic (one writer at a time), on PostgreSQL the check and the insert run under a
    /// transaction-scoped advisory lock.
    pub async fn insert_first_key(&self, key: &KeyRecord) -> Result<bool, StoreError> {
        crate::store::retry_once(|| async move {
            let mut tx = self.pool.begin().await?;
            if self.dialect == Dialect::Postgres {
                sqlx::query("SELECT pg_advisory_xact_lock(7368238642)")
                    .execute(&mut *tx)
                    .await?;
            }
            let done = sqlx::query(
                "INSERT INTO signing_keys (kid, alg, private_key, sealed, public_jwk, created_at, \
             active_from, retired_at, publish_until) \
             SELECT $1, $2, $3, CAST($4 AS BIGINT), $5, CAST($6 AS BIGINT), CAST($7 AS BIGINT), \
             NULL, NULL \
             WHERE NOT EXISTS (SELECT 1 FROM signing_keys WHERE publish_until IS NULL)",
            )
            .bind(&key.kid)
            .bind(&key.alg)
            .bind(&key.private_key)
            .bind(i64::from(key.sealed))
            .bind(&key.public_jwk)
            .bind(key.created_at)
            .bind(key.active_from)
            .execute(&mut *tx)
            .await?;
            crate::store::commit(tx).await?;
            Ok(done.rows_affected() == 1)
        })
        .await
    }

    /// Marks every key active before `new_kid` as retired at `at`, published until
    /// `publish_until`.
    pub async fn retire_keys_except(
        &self,
        new_kid: &str,
        at: i64,
        publish_until: i64,
    ) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "UPDATE signing_keys SET retired_at = $1, publish_until = $2 \
             WHERE kid <> $3 AND retired_at IS NULL",
        )
        .bind(at)
        .bind(publish_until)
        .bind(new_kid)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// Deletes retired keys no longer published at `now`.
    pub async fn delete_expired_keys(&self, now: i64) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "DELETE FROM signing_keys WHERE publish_until IS NOT NULL AND publish_until < $1",
        )
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    // ---- APIs ----

    /// Creates or updates an API, keyed by its audience. Returns its id.
    pub async fn upsert_api(
        &self,
        id: &str,
        name: &str,
        audience: &str,
    ) -> Result<String, StoreError> {
        sqlx::query(
            "INSERT INTO apis (id, name, audience) VALUES ($1, $2, $3) \
             ON CONFLICT (audience) DO UPDATE SET name = excluded.name",
        )
        .bind(id)
        .bind(name)
        .bind(audience)
        .execute(&self.pool)
        .await?;
        let row = sqlx::query("SELECT id FROM apis WHERE audience = $1")
            .bind(audience)
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get::<String, _>("id")?)
    }

    /// The API with this audience.
    pub async fn api_by_audience(&self, audience: &str) -> Result<Option<ApiRecord>, StoreError> {
        crate::store::retry_once(|| async move {
            let row = sqlx::query("SELECT id, name, audience FROM apis WHERE audience = $1")
                .bind(audience)
                .fetch_optional(&self.pool)
                .await?;
            row.map(|r| api_from_row(&r)).transpose()
        })
        .await
    }

    /// Sets the scopes an API defines (replacing earlier ones). Instances seeding one database
    /// at once may run it together: the API's row is locked first, so replacements of one API's
    /// scopes take turns (a delete and another's insert cannot deadlock), and a scope another
    /// has just inserted is left as it is.
    pub async fn set_api_scopes(&self, api_id: &str, scopes: &[String]) -> Result<(), StoreError> {
        crate::store::retry_once(|| async move {
            let mut tx = self.pool.begin().await?;
            // A write that changes nothing: it takes the row lock (the write lock on SQLite).
            sqlx::query("UPDATE apis SET name = name WHERE id = $1")
                .bind(api_id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM api_scopes WHERE api_id = $1")
                .bind(api_id)
                .execute(&mut *tx)
                .await?;
            for scope in scopes {
                sqlx::query(
                    "INSERT INTO api_scopes (api_id, scope) VALUES ($1, $2) \
                 ON CONFLICT (api_id, scope) DO NOTHING",
                )
                .bind(api_id)
                .bind(scope)
                .execute(&mut *tx)
                .await?;
            }
            crate::store::commit(tx).await?;
            Ok(())
        })
        .await
    }

    /// The scopes an API defines.
    pub async fn api_scopes(&self, api_id: &str) -> Result<Vec<String>, StoreError> {
        crate::store::retry_once(|| async move {
            let rows = sqlx::query("SELECT scope FROM api_scopes WHERE api_id = $1 ORDER BY scope")
                .bind(api_id)
                .fetch_all(&self.pool)
                .await?;
            rows.iter()
                .map(|r| r.try_get::<String, _>("scope").map_err(StoreError::from))
                .collect()
        })
        .await
    }

    // ---- applications ----

    /// Creates or updates an application, keyed by its client id. Returns its id.
    pub async fn upsert_application(&self, app: &ApplicationRecord) -> Result<String, StoreError> {
        sqlx::query(
            "INSERT INTO applications (id, name, app_type, client_id, client_secret_sha256, \
             access_token_ttl, password_grant) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (client_id) DO UPDATE SET name = excluded.name, \
             app_type = excluded.app_type, client_secret_sha256 = excluded.client_secret_sha256, \
             access_token_ttl = excluded.access_token_ttl, \
             password_grant = excluded.password_grant",
        )
        .bind(&app.id)
        .bind(&app.name)
        .bind(app.app_type.as_str())
        .bind(app.client_id.as_str())
        .bind(&app.client_secret_sha256)
        .bind(app.access_token_ttl)
        .bind(i64::from(app.password_grant))
        .execute(&self.pool)
        .await?;
        let row = sqlx::query("SELECT id FROM applications WHERE client_id = $1")
            .bind(app.client_id.as_str())
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get::<String, _>("id")?)
    }

    /// The application with this client id.
    pub async fn application_by_client_id(
        &self,
        client_id: &ClientId,
    ) -> Result<Option<ApplicationRecord>, StoreError> {
        retry_once(|| self.application_by_client_id_once(client_id)).await
    }

    async fn application_by_client_id_once(
        &self,
        client_id: &ClientId,
    ) -> Result<Option<ApplicationRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT id, name, app_type, client_id, client_secret_sha256, access_token_ttl, \
             password_grant FROM applications WHERE client_id = $1",
        )
        .bind(client_id.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(ApplicationRecord {
                id: r.try_get("id")?,
                name: r.try_get("name")?,
                app_type: AppType::from_column(r.try_get("app_type")?)?,
                client_id: ClientId::from_column(r.try_get("client_id")?)?,
                client_secret_sha256: r.try_get("client_secret_sha256")?,
                access_token_ttl: r.try_get("access_token_ttl")?,
                password_grant: r.try_get::<i64, _>("password_grant")? != 0,
            })
        })
        .transpose()
    }

    /// Replaces an application's registered URLs of one kind (`login` callbacks or `logout`).
    pub async fn set_application_urls(
        &self,
        application_id: &str,
        kind: &str,
        urls: &[String],
    ) -> Result<(), StoreError> {
        crate::store::retry_once(|| async move {
            let mut tx = self.pool.begin().await?;
            sqlx::query("DELETE FROM application_urls WHERE application_id = $1 AND kind = $2")
                .bind(application_id)
                .bind(kind)
                .execute(&mut *tx)
                .await?;
            for url in urls {
                sqlx::query(
                    "INSERT INTO application_urls (application_id, kind, url) VALUES ($1, $2, $3) \
                 ON CONFLICT DO NOTHING",
                )
                .bind(application_id)
                .bind(kind)
                .bind(url)
                .execute(&mut *tx)
                .await?;
            }
            crate::store::commit(tx).await?;
            Ok(())
        })
        .await
    }

    /// Every callback URL registered by a single-page application (their origins may call the
    /// token, userinfo and revocation endpoints from the browser).
    pub async fn spa_redirect_urls(&self) -> Result<Vec<String>, StoreError> {
        crate::store::retry_once(|| async move {
            let rows = sqlx::query(
                "SELECT application_urls.url FROM application_urls \
             JOIN applications ON applications.id = application_urls.application_id \
             WHERE applications.app_type = 'spa' AND application_urls.kind = 'login'",
            )
            .fetch_all(&self.pool)
            .await?;
            rows.iter().map(|r| Ok(r.try_get("url")?)).collect()
        })
        .await
    }

    /// An application's registered URLs of one kind, sorted.
    pub async fn application_urls(
        &self,
        application_id: &str,
        kind: &str,
    ) -> Result<Vec<String>, StoreError> {
        crate::store::retry_once(|| async move {
            let rows = sqlx::query(
            "SELECT url FROM application_urls WHERE application_id = $1 AND kind = $2 ORDER BY url",
        )
        .bind(application_id)
        .bind(kind)
        .fetch_all(&self.pool)
        .await?;
            rows.iter().map(|r| Ok(r.try_get("url")?)).collect()
        })
        .await
    }

    /// Lets an application get tokens for an API with these scopes (replacing an earlier grant).
    pub async fn grant_api(
        &self,
        application_id: &str,
        api_id: &str,
        scopes: &[String],
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO application_apis (application_id, api_id, scopes) VALUES ($1, $2, $3) \
             ON CONFLICT (application_id, api_id) DO UPDATE SET scopes = excluded.scopes",
        )
        .bind(application_id)
        .bind(api_id)
        .bind(scopes.join(" "))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Every API granted to an application, with the granted scopes.
    pub async fn application_grants(
        &self,
        application_id: &str,
    ) -> Result<Vec<ApiGrant>, StoreError> {
        retry_once(|| self.application_grants_once(application_id)).await
    }

    async fn application_grants_once(
        &self,
        application_id: &str,
    ) -> Result<Vec<ApiGrant>, StoreError> {
        let rows = sqlx::query(
            "SELECT apis.id, apis.name, apis.audience, application_apis.scopes \
             FROM application_apis JOIN apis ON apis.id = application_apis.api_id \
             WHERE application_apis.application_id = $1 ORDER BY apis.audience",
        )
        .bind(application_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let scopes: String = r.try_get("scopes")?;
                Ok(ApiGrant {
                    api: api_from_row(r)?,
                    scopes: scopes.split_whitespace().map(str::to_owned).collect(),
                })
            })
            .collect()
    }

    /// The grant of an API to an application, if any.
    pub async fn api_grant(
        &self,
        application_id: &str,
        audience: &str,
    ) -> Result<Option<ApiGrant>, StoreError> {
        crate::store::retry_once(|| async move {
            let row = sqlx::query(
                "SELECT apis.id, apis.name, apis.audience, application_apis.scopes \
             FROM application_apis JOIN apis ON apis.id = application_apis.api_id \
             WHERE application_apis.application_id = $1 AND apis.audience = $2",
            )
            .bind(application_id)
            .bind(audience)
            .fetch_optional(&self.pool)
            .await?;
            row.map(|r| {
                let scopes: String = r.try_get("scopes")?;
                Ok(ApiGrant {
                    api: api_from_row(&r)?,
                    scopes: scopes.split_whitespace().map(str::to_owned).collect(),
                })
            })
            .transpose()
        })
        .await
    }
}

impl Store {
    // ---- rate limits ----

    /// Counts one more hit in `bucket` for the window starting at `window_start`, and returns
    /// the window's count. A new window restarts the count.
    pub async fn rate_limit_hit(&self, bucket: &str, window_start: i64) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "INSERT INTO rate_limits (bucket, window_start, hits) VALUES ($1, $2, 1) \
             ON CONFLICT (bucket) DO UPDATE SET \
             hits = CASE WHEN rate_limits.window_start = excluded.window_start \
                    THEN rate_limits.hits + 1 ELSE 1 END, \
             window_start = excluded.window_start \
             RETURNING hits",
        )
        .bind(bucket)
        .bind(window_start)
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get("hits")?)
    }

    /// The hits in `bucket` during the window starting at `window_start`.
    pub async fn rate_limit_count(
        &self,
        bucket: &str,
        window_start: i64,
    ) -> Result<i64, StoreError> {
        crate::store::retry_once(|| async move {
            let row =
                sqlx::query("SELECT hits FROM rate_limits WHERE bucket = $1 AND window_start = $2")
                    .bind(bucket)
                    .bind(window_start)
                    .fetch_optional(&self.pool)
                    .await?;
            Ok(match row {
                Some(r) => r.try_get("hits")?,
                None => 0,
            })
        })
        .await
    }

    /// The hits of two buckets in the window starting at `window_start`, in one query (the
    /// token endpoint checks both on every request).
    pub async fn rate_limit_counts(
        &self,
        first: &str,
        second: &str,
        window_start: i64,
    ) -> Result<(i64, i64), StoreError> {
        crate::store::retry_once(|| async move {
            let rows = sqlx::query(
            "SELECT bucket, hits FROM rate_limits WHERE bucket IN ($1, $2) AND window_start = $3",
        )
        .bind(first)
        .bind(second)
        .bind(window_start)
        .fetch_all(&self.pool)
        .await?;
            let mut counts = (0, 0);
            for r in &rows {
                let bucket: String = r.try_get("bucket")?;
                let hits: i64 = r.try_get("hits")?;
                if bucket == first {
                    counts.0 = hits;
                } else {
                    counts.1 = hits;
                }
            }
            Ok(counts)
        })
        .await
    }

    /// Forgets counters of windows that started before `before`.
    pub async fn purge_rate_limits(&self, before: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM rate_limits WHERE window_start < $1")
            .bind(before)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    // ---- revoked tokens ----

    /// Records that the token `jti` is revoked (until `expires_at`, when it would expire anyway).
    pub async fn revoke_token(&self, jti: &str, expires_at: i64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO revoked_tokens (jti, expires_at) VALUES ($1, $2) \
             ON CONFLICT (jti) DO NOTHING",
        )
        .bind(jti)
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Whether the token `jti` was revoked.
    pub async fn is_revoked(&self, jti: &str) -> Result<bool, StoreError> {
        retry_once(|| self.is_revoked_once(jti)).await
    }

    async fn is_revoked_once(&self, jti: &str) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT 1 FROM revoked_tokens WHERE jti = $1")
            .bind(jti)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.is_some())
    }

    /// Forgets revocations of tokens that expired before `now`.
    pub async fn purge_revoked_tokens(&self, now: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM revoked_tokens WHERE expires_at < $1")
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}

/// The size of what [`Store::probe_write`] stores: several pages (an SQLite page is 4 KiB), so
/// a database that cannot grow fails the probe.
const PROBE_PAD_BYTES: usize = 16 * 1024;

/// The pool's check of a connection being released: `Ok(true)` keeps it, `Ok(false)` closes it.
/// A transaction still open here was abandoned (an error or a cancelled request dropped it):
/// its rollback was queued when it was dropped, and the round trip below lets it run. When the
/// rollback failed (SQLite may already have rolled back, or may not take it), the driver still
/// counts the connection as inside a transaction, and its next `BEGIN` would become a savepoint
/// of a transaction no one commits: close it.
async fn release_outside_transaction(conn: &mut sqlx::AnyConnection) -> Result<bool, sqlx::Error> {
    use sqlx::Connection as _;
    if !conn.is_in_transaction() {
        return Ok(true);
    }
    conn.ping().await?;
    if conn.is_in_transaction() {
        tracing::warn!("closing a database connection left inside a failed transaction");
        return Ok(false);
    }
    Ok(true)
}

/// Reads an [`ApiRecord`] from a row with the columns `id`, `name` and `audience` (of `apis`).
pub(crate) fn api_from_row(r: &AnyRow) -> Result<ApiRecord, StoreError> {
    Ok(ApiRecord {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        audience: r.try_get("audience")?,
    })
}

fn key_from_row(r: &AnyRow) -> Result<KeyRecord, StoreError> {
    Ok(KeyRecord {
        kid: r.try_get("kid")?,
        alg: r.try_get("alg")?,
        private_key: r.try_get("private_key")?,
        sealed: r.try_get::<i64, _>("sealed")? != 0,
        public_jwk: r.try_get("public_jwk")?,
        created_at: r.try_get("created_at")?,
        active_from: r.try_get("active_from")?,
        retired_at: r.try_get("retired_at")?,
        publish_until: r.try_get("publish_until")?,
    })
}
