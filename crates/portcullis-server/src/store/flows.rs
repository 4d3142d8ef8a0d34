//! Sessions, pending authorization requests and authorization codes.

use sqlx::Row;

use super::Store;
use crate::domain::ClientId;
use crate::error::StoreError;

/// A stored sign-in session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// The signed-in user.
    pub user_id: String,
    /// When the user authenticated (Unix seconds).
    pub auth_time: i64,
    /// When the session ends.
    pub expires_at: i64,
}

/// A pending authorization request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InteractionRecord {
    /// SHA-256 of the browser-binding cookie.
    pub browser_sha256: String,
    /// The CSRF token of its form.
    pub csrf: String,
    /// The validated authorization request (JSON).
    pub request: String,
    /// When it expires.
    pub expires_at: i64,
}

/// What happened to a code presented at the token endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeUse {
    /// First use: its grant data (JSON).
    Fresh(String),
    /// Used before: the access token it issued, to revoke (RFC 6749 §4.1.2).
    Replayed(Option<String>),
    /// Unknown or expired.
    Invalid,
}

impl Store {
    /// Stores a session.
    pub async fn create_session(
        &self,
        id_sha256: &str,
        s: &SessionRecord,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO sessions (id_sha256, user_id, auth_time, expires_at) VALUES ($1, $2, $3, $4)")
            .bind(id_sha256)
            .bind(&s.user_id)
            .bind(s.auth_time)
            .bind(s.expires_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// A session that has not expired at `now`.
    pub async fn session(
        &self,
        id_sha256: &str,
        now: i64,
    ) -> Result<Option<SessionRecord>, StoreError> {
        super::retry_once(|| self.session_once(id_sha256, now)).await
    }

    /// One try of the above.
    async fn session_once(
        &self,
        id_sha256: &str,
        now: i64,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let row = sqlx::query("SELECT user_id, auth_time, expires_at FROM sessions WHERE id_sha256 = $1 AND expires_at > $2")
            .bind(id_sha256)
            .bind(now)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| {
            Ok(SessionRecord {
                user_id: r.try_get("user_id")?,
                auth_time: r.try_get("auth_time")?,
                expires_at: r.try_get("expires_at")?,
            })
        })
        .transpose()
    }

    /// Ends a session.
    pub async fn delete_session(&self, id_sha256: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sessions WHERE id_sha256 = $1")
            .bind(id_sha256)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Stores a pending authorization request.
    pub async fn create_interaction(
        &self,
        id_sha256: &str,
        i: &InteractionRecord,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO interactions (id_sha256, browser_sha256, csrf, request, expires_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(id_sha256)
            .bind(&i.browser_sha256)
            .bind(&i.csrf)
            .bind(&i.request)
            .bind(i.expires_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// A pending authorization request that has not expired at `now`.
    pub async fn interaction(
        &self,
        id_sha256: &str,
        now: i64,
    ) -> Result<Option<InteractionRecord>, StoreError> {
        super::retry_once(|| self.interaction_once(id_sha256, now)).await
    }

    /// One try of the above.
    async fn interaction_once(
        &self,
        id_sha256: &str,
        now: i64,
    ) -> Result<Option<InteractionRecord>, StoreError> {
        let row = sqlx::query("SELECT browser_sha256, csrf, request, expires_at FROM interactions WHERE id_sha256 = $1 AND expires_at > $2")
            .bind(id_sha256)
            .bind(now)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| {
            Ok(InteractionRecord {
                browser_sha256: r.try_get("browser_sha256")?,
                csrf: r.try_get("csrf")?,
                request: r.try_get("request")?,
                expires_at: r.try_get("expires_at")?,
            })
        })
        .transpose()
    }

    /// Removes a pending authorization request (once it is answered).
    pub async fn delete_interaction(&self, id_sha256: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM interactions WHERE id_sha256 = $1")
            .bind(id_sha256)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Stores an authorization code.
    pub async fn create_code(
        &self,
        code_sha256: &str,
        grant_data: &str,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO auth_codes (code_sha256, grant_data, expires_at) VALUES ($1, $2, $3)",
        )
        .bind(code_sha256)
        .bind(grant_data)
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Marks a code used, atomically: exactly one caller ever gets [`CodeUse::Fresh`], even
    /// across instances.
    pub async fn use_code(&self, code_sha256: &str, now: i64) -> Result<CodeUse, StoreError> {
        let row = sqlx::query(
            "UPDATE auth_codes SET used_at = $2 WHERE code_sha256 = $1 AND used_at IS NULL \
             AND expires_at > $2 RETURNING grant_data",
        )
        .bind(code_sha256)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        if let Some(r) = row {
            return Ok(CodeUse::Fresh(r.try_get("grant_data")?));
        }
        let row = sqlx::query("SELECT used_at, issued_jti FROM auth_codes WHERE code_sha256 = $1")
            .bind(code_sha256)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            Some(r) if r.try_get::<Option<i64>, _>("used_at")?.is_some() => {
                CodeUse::Replayed(r.try_get("issued_jti")?)
            }
            _ => CodeUse::Invalid,
        })
    }

    /// Records the access token a code issued (revoked if the code is replayed).
    pub async fn set_code_jti(&self, code_sha256: &str, jti: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE auth_codes SET issued_jti = $2 WHERE code_sha256 = $1")
            .bind(code_sha256)
            .bind(jti)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The audiences of every API an application is granted, sorted: what a user token is for
    /// when the authorization request named no `audience`.
    pub async fn granted_audiences(&self, application_id: &str) -> Result<Vec<String>, StoreError> {
        crate::store::retry_once(|| async move {
            let rows = sqlx::query(
                "SELECT apis.audience FROM application_apis \
             JOIN apis ON apis.id = application_apis.api_id \
             WHERE application_apis.application_id = $1 ORDER BY apis.audience",
            )
            .bind(application_id)
            .fetch_all(&self.pool)
            .await?;
            rows.iter().map(|r| Ok(r.try_get("audience")?)).collect()
        })
        .await
    }

    /// Forgets expired sessions, interactions and codes.
    pub async fn purge_flows(&self, now: i64) -> Result<(), StoreError> {
        for table in ["sessions", "interactions"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE expires_at < $1"))
                .bind(now)
                .execute(&self.pool)
                .await?;
        }
        // Codes are kept a day past expiry so replays are still recognised.
        sqlx::query("DELETE FROM auth_codes WHERE expires_at < $1")
            .bind(now - 86_400)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

/// A stored refresh token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshRecord {
    /// The family (one sign-in's chain of rotations).
    pub family_id: String,
    /// The client it was issued to.
    pub client_id: ClientId,
    /// The grant it carries (JSON).
    pub grant_data: String,
    /// When it expires (the family's absolute lifetime).
    pub expires_at: i64,
    /// When it was exchanged for a successor, if it was.
    pub rotated_at: Option<i64>,
    /// Whether its family was revoked.
    pub revoked: bool,
}

/// A refresh token to store: the first of a family, or the successor a rotation hands out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRefresh {
    /// SHA-256 (hex) of the token.
    pub token_sha256: String,
    /// The family (one sign-in's chain of rotations).
    pub family_id: String,
    /// The client it is issued to.
    pub client_id: ClientId,
    /// The grant it carries (JSON).
    pub grant_data: String,
    /// The access token issued with it (revoked with its family).
    pub access_jti: String,
    /// When it was issued.
    pub created_at: i64,
    /// When it expires (the family's absolute lifetime).
    pub expires_at: i64,
}

/// What [`Store::rotate_refresh`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotation {
    /// The presented token is spent (now, or within the reuse grace) and its successor is
    /// stored, both or neither.
    Rotated,
    /// The presented token was spent longer than the grace ago: nothing was changed. The
    /// caller revokes the family.
    Reused,
}

impl Store {
    /// Stores a refresh token.
    pub async fn create_refresh(&self, token: &NewRefresh) -> Result<(), StoreError> {
        insert_refresh(&self.pool, token).await
    }

    /// A refresh token by hash.
    pub async fn refresh(&self, token_sha256: &str) -> Result<Option<RefreshRecord>, StoreError> {
        super::retry_once(|| self.refresh_once(token_sha256)).await
    }

    async fn refresh_once(&self, token_sha256: &str) -> Result<Option<RefreshRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT family_id, client_id, grant_data, expires_at, rotated_at, revoked \
             FROM refresh_tokens WHERE token_sha256 = $1",
        )
        .bind(token_sha256)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(RefreshRecord {
                family_id: r.try_get("family_id")?,
                client_id: ClientId::from_column(r.try_get("client_id")?)?,
                grant_data: r.try_get("grant_data")?,
                expires_at: r.try_get("expires_at")?,
                rotated_at: r.try_get("rotated_at")?,
                revoked: r.try_get::<i64, _>("revoked")? != 0,
            })
        })
        .transpose()
    }

    /// The absolute expiry of a refresh-token family, if it has tokens already.
    pub async fn refresh_family_expiry(&self, family_id: &str) -> Result<Option<i64>, StoreError> {
        super::retry_once(|| self.refresh_family_expiry_once(family_id)).await
    }

    async fn refresh_family_expiry_once(&self, family_id: &str) -> Result<Option<i64>, StoreError> {
        let row = sqlx::query(
            "SELECT MIN(expires_at) AS min_expires_at FROM refresh_tokens WHERE family_id = $1",
        )
        .bind(family_id)
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get::<Option<i64>, _>("min_expires_at")?)
    }

    /// Rotates a refresh token in one transaction: the presented token (by hash) is marked
    /// spent at `now` and `successor` is stored, both or neither, so a failure between the two
    /// (a connection lost, an instance stopped) leaves the presented token usable and its
    /// family alive. A token already spent up to `reuse_grace` seconds ago may be spent again
    /// (a retry after a lost response) and gets a successor too; one spent longer ago is
    /// [`Rotation::Reused`] (docs/security.md case 71). Tried once more on another connection when
    /// the first is lost before the commit.
    pub async fn rotate_refresh(
        &self,
        presented_sha256: &str,
        now: i64,
        reuse_grace: i64,
        successor: Option<&NewRefresh>,
    ) -> Result<Rotation, StoreError> {
        super::retry_once(|| {
            self.rotate_refresh_once(presented_sha256, now, reuse_grace, successor)
        })
        .await
    }

    async fn rotate_refresh_once(
        &self,
        presented_sha256: &str,
        now: i64,
        reuse_grace: i64,
        successor: Option<&NewRefresh>,
    ) -> Result<Rotation, StoreError> {
        let mut tx = self.pool.begin().await?;
        // The first statement writes: on SQLite it takes the write lock, on PostgreSQL it locks
        // the row, so concurrent rotations of one token take turns.
        let spent = sqlx::query(
            "UPDATE refresh_tokens SET rotated_at = $2 WHERE token_sha256 = $1 AND rotated_at IS NULL",
        )
        .bind(presented_sha256)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if spent.rows_affected() == 0 {
            let rotated_at: Option<i64> =
                sqlx::query_scalar("SELECT rotated_at FROM refresh_tokens WHERE token_sha256 = $1")
                    .bind(presented_sha256)
                    .fetch_optional(&mut *tx)
                    .await?
                    .flatten();
            if now.saturating_sub(rotated_at.unwrap_or(i64::MIN)) > reuse_grace {
                tx.rollback().await?;
                return Ok(Rotation::Reused);
            }
        }
        if let Some(successor) = successor {
            insert_refresh(&mut *tx, successor).await?;
        }
        super::commit(tx).await?;
        Ok(Rotation::Rotated)
    }

    /// Revokes a whole family, and the access tokens it issued. Returns those tokens' jtis.
    pub async fn revoke_family(
        &self,
        family_id: &str,
        now: i64,
    ) -> Result<Vec<String>, StoreError> {
        sqlx::query("UPDATE refresh_tokens SET revoked = 1 WHERE family_id = $1")
            .bind(family_id)
            .execute(&self.pool)
            .await?;
        let rows = sqlx::query(
            "SELECT access_jti FROM refresh_tokens WHERE family_id = $1 AND access_jti IS NOT NULL",
        )
        .bind(family_id)
        .fetch_all(&self.pool)
        .await?;
        let mut jtis = Vec::new();
        for r in &rows {
            let jti: String = r.try_get("access_jti")?;
            // Access tokens live at most 30 days.
            self.revoke_token(&jti, now + 30 * 86_400).await?;
            jtis.push(jti);
        }
        Ok(jtis)
    }
}

/// Inserts a refresh token, on the pool or inside a transaction.
async fn insert_refresh<'c, E>(executor: E, token: &NewRefresh) -> Result<(), StoreError>
where
    E: sqlx::Executor<'c, Database = sqlx::Any>,
{
    sqlx::query(
        "INSERT INTO refresh_tokens (token_sha256, family_id, client_id, grant_data, access_jti, \
         created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&token.token_sha256)
    .bind(&token.family_id)
    .bind(token.client_id.as_str())
    .bind(&token.grant_data)
    .bind(&token.access_jti)
    .bind(token.created_at)
    .bind(token.expires_at)
    .execute(executor)
    .await?;
    Ok(())
}
