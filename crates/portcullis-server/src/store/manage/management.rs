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
        sqlx::query(
            "INSERT INTO apis (id, name, audience) VALUES ($1, 'Management API', $2) \
             ON CONFLICT (id) DO UPDATE SET audience = excluded.audience",
        )
        .bind(MANAGEMENT_API_ID)
        .bind(audience)
        .execute(&self.pool)
        .await?;
        self.set_api_scopes(MANAGEMENT_API_ID, scopes).await
    }
}
