//! The management API's own registration.

use crate::error::StoreError;
use crate::store::Store;

/// The id of the management API (`{issuer}/api`) in `apis`: fixed, so grants survive an
/// issuer change.
pub const MANAGEMENT_API_ID: &str = "api_management";

impl Store {
    /// Registers (or re-points) the management API at `audience` with `scopes`. Idempotent.
    pub async fn register_management_api(
        &self,
        audience: &str,
        scopes: &[String],
    ) -> Result<(), StoreError> {
        // Several instances may start at once on one fresh database. An upsert on `id` is not
        // enough: PostgreSQL reports the losing insert's clash on the unique `audience` (not
        // the conflict target) as an error. Without a target, every clash is a no-op; the
        // update then re-points an existing registration.
        sqlx::query(
            "INSERT INTO apis (id, name, audience) VALUES ($1, 'Management API', $2) \
             ON CONFLICT DO NOTHING",
        )
        .bind(MANAGEMENT_API_ID)
        .bind(audience)
        .execute(&self.pool)
        .await?;
        sqlx::query("UPDATE apis SET audience = $2 WHERE id = $1 AND audience <> $2")
            .bind(MANAGEMENT_API_ID)
            .bind(audience)
            .execute(&self.pool)
            .await?;
        let registered: Option<String> =
            sqlx::query_scalar("SELECT audience FROM apis WHERE id = $1")
                .bind(MANAGEMENT_API_ID)
                .fetch_optional(&self.pool)
                .await?;
        if registered.as_deref() != Some(audience) {
            // Only when another API already has this audience.
            return Err(StoreError::Config(format!(
                "the management API's audience {audience} is the audience of another API"
            )));
        }
        // Scopes likewise: add what is missing and drop what is gone, without a
        // delete-then-insert that two instances could interleave.
        for scope in scopes {
            sqlx::query(
                "INSERT INTO api_scopes (api_id, scope) VALUES ($1, $2) \
                 ON CONFLICT (api_id, scope) DO NOTHING",
            )
            .bind(MANAGEMENT_API_ID)
            .bind(scope)
            .execute(&self.pool)
            .await?;
        }
        for old in self.api_scopes(MANAGEMENT_API_ID).await? {
            if !scopes.contains(&old) {
                sqlx::query("DELETE FROM api_scopes WHERE api_id = $1 AND scope = $2")
                    .bind(MANAGEMENT_API_ID)
                    .bind(&old)
                    .execute(&self.pool)
                    .await?;
            }
        }
        Ok(())
    }
}
