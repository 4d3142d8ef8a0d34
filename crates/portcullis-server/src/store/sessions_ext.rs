//! Queries of the logout endpoint that the other store files do not cover.

use super::Store;
use crate::error::StoreError;

impl Store {
    /// Whether any application registered `url`, exactly, as a logout URL (Kinde's
    /// `/logout?redirect=` names no client).
    pub async fn is_registered_logout_url(&self, url: &str) -> Result<bool, StoreError> {
        crate::store::retry_once(|| async move {
            let row = sqlx::query(
                "SELECT 1 FROM application_urls WHERE kind = 'logout' AND url = $1 LIMIT 1",
            )
            .bind(url)
            .fetch_optional(&self.pool)
            .await?;
            Ok(row.is_some())
        })
        .await
    }
}
