//! Management queries: applications (OAuth clients) and their registered URLs.
//!
//! The token endpoint reads applications through its in-memory cache (`crate::clients`), so a
//! change made here reaches it at most `Settings::client_cache_ttl` (5 s by default) later;
//! every other check (the management API's authorization, userinfo, logout, the authorization
//! endpoint) reads the database and sees it at once.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::Management;
use super::order::{After, ListOrder, SortBy, keyset};
use crate::domain::{AppType, ClientId};
use crate::error::StoreError;

/// An application as the management API shows it (never its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedApplication {
    /// Its id (`app_…`, or the seed's).
    pub id: String,
    /// Display name.
    pub name: String,
    /// `reg`, `spa` or `m2m`.
    pub app_type: AppType,
    /// The OAuth client id.
    pub client_id: ClientId,
    /// Where the application starts a sign-in (Kinde's `login_uri`).
    pub login_uri: Option<String>,
    /// The application's home page (Kinde's `homepage_uri`).
    pub homepage_uri: Option<String>,
}

const APP_COLUMNS: &str = "id, name, app_type, client_id, login_uri, homepage_uri";

/// Reads a row with the columns of [`APP_COLUMNS`] (by name: other columns may come along).
pub(super) fn managed_application(r: &AnyRow) -> Result<ManagedApplication, StoreError> {
    Ok(ManagedApplication {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        app_type: AppType::from_column(r.try_get("app_type")?)?,
        client_id: ClientId::from_column(r.try_get("client_id")?)?,
        login_uri: r.try_get("login_uri")?,
        homepage_uri: r.try_get("homepage_uri")?,
    })
}

/// An application to create.
#[derive(Debug)]
pub struct NewApplication<'a> {
    /// The new id.
    pub id: &'a str,
    /// Display name.
    pub name: &'a str,
    /// `reg`, `spa` or `m2m`.
    pub app_type: AppType,
    /// The new client id.
    pub client_id: &'a ClientId,
    /// SHA-256 (hex) of the secret; `None` for `spa`.
    pub client_secret_sha256: Option<&'a str>,
    /// Where the application starts a sign-in.
    pub login_uri: Option<&'a str>,
    /// The application's home page.
    pub homepage_uri: Option<&'a str>,
}

/// Changes to an application; `None` leaves a field alone.
#[derive(Debug, Default)]
pub struct ApplicationPatch {
    /// Display name.
    pub name: Option<String>,
    /// Replaces the callback URLs.
    pub redirect_urls: Option<Vec<String>>,
    /// Replaces the post-logout URLs.
    pub logout_urls: Option<Vec<String>>,
    /// The login URI; `Some(None)` clears it.
    pub login_uri: Option<Option<String>>,
    /// The home page URI; `Some(None)` clears it.
    pub homepage_uri: Option<Option<String>>,
}

/// What a change to an application's URLs did.
#[derive(Debug, PartialEq, Eq)]
pub enum UrlsOutcome {
    /// Done.
    Done,
    /// No such application: nothing was written.
    NoApplication,
    /// The application would hold more than the allowed number of URLs of that kind: nothing
    /// was written.
    TooMany,
}

/// Which registered URLs (`application_urls.kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlKind {
    /// Callback (redirect) URLs, `login`.
    Redirect,
    /// Post-logout URLs, `logout`.
    Logout,
}

impl UrlKind {
    fn column_value(self) -> &'static str {
        match self {
            UrlKind::Redirect => "login",
            UrlKind::Logout => "logout",
        }
    }
}

impl Management<'_> {
    /// A page of applications ordered by id, after `after`, at most `limit`.
    pub async fn applications(
        &self,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<ManagedApplication>, StoreError> {
        let after = after.map(|k| After {
            value: k.to_owned(),
            key: k.to_owned(),
        });
        self.applications_sorted(ListOrder::default(), after.as_ref(), limit)
            .await
    }

    /// A page in `order` (by name or by id; ties by id), after `after`, at most `limit`.
    pub async fn applications_sorted(
        &self,
        order: ListOrder,
        after: Option<&After>,
        limit: i64,
    ) -> Result<Vec<ManagedApplication>, StoreError> {
        crate::store::retry_once(|| async move {
            let expr = match order.by {
                SortBy::Name => "name",
                SortBy::Key | SortBy::Email => "id",
            };
            let (condition, order_by) =
                keyset(expr, "id", order, after.is_some(), 1, 2, self.dialect);
            let rows = sqlx::query(&format!(
            "SELECT {APP_COLUMNS} FROM applications WHERE {condition} ORDER BY {order_by} LIMIT $3"
        ))
        .bind(after.map(|a| a.value.as_str()))
        .bind(after.map(|a| a.key.as_str()))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
            rows.iter().map(managed_application).collect()
        })
        .await
    }

    /// One application.
    pub async fn application(&self, id: &str) -> Result<Option<ManagedApplication>, StoreError> {
        crate::store::retry_once(|| async move {
            let row = sqlx::query(&format!(
                "SELECT {APP_COLUMNS} FROM applications WHERE id = $1"
            ))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
            row.as_ref().map(managed_application).transpose()
        })
        .await
    }

    /// Creates an application. `false` when its id or client id is taken (nothing written).
    pub async fn create_application(&self, app: &NewApplication<'_>) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO applications (id, name, app_type, client_id, client_secret_sha256, \
             login_uri, homepage_uri) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
        )
        .bind(app.id)
        .bind(app.name)
        .bind(app.app_type.as_str())
        .bind(app.client_id.as_str())
        .bind(app.client_secret_sha256)
        .bind(app.login_uri)
        .bind(app.homepage_uri)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Applies `patch` in one transaction; `None` when there is no such application.
    pub async fn update_application(
        &self,
        id: &str,
        patch: &ApplicationPatch,
    ) -> Result<Option<ManagedApplication>, StoreError> {
        crate::store::retry_once(|| async move {
            let mut tx = self.pool.begin().await?;
            let row = sqlx::query(&format!(
                "SELECT {APP_COLUMNS} FROM applications WHERE id = $1"
            ))
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(row) = row else { return Ok(None) };
            let mut app = managed_application(&row)?;
            if let Some(name) = &patch.name {
                sqlx::query("UPDATE applications SET name = $2 WHERE id = $1")
                    .bind(id)
                    .bind(name)
                    .execute(&mut *tx)
                    .await?;
                app.name.clone_from(name);
            }
            if patch.login_uri.is_some() || patch.homepage_uri.is_some() {
                if let Some(uri) = &patch.login_uri {
                    app.login_uri.clone_from(uri);
                }
                if let Some(uri) = &patch.homepage_uri {
                    app.homepage_uri.clone_from(uri);
                }
                sqlx::query(
                    "UPDATE applications SET login_uri = $2, homepage_uri = $3 WHERE id = $1",
                )
                .bind(id)
                .bind(&app.login_uri)
                .bind(&app.homepage_uri)
                .execute(&mut *tx)
                .await?;
            }
            for (kind, urls) in [
                (UrlKind::Redirect, &patch.redirect_urls),
                (UrlKind::Logout, &patch.logout_urls),
            ] {
                if let Some(urls) = urls {
                    replace_urls(&mut tx, id, kind, urls).await?;
                }
            }
            crate::store::commit(tx).await?;
            Ok(Some(app))
        })
        .await
    }

    /// Deletes an application: its refresh tokens are revoked, its grants and URLs go with
    /// it. One transaction. `false` when there was no such application.
    pub async fn delete_application(&self, id: &str) -> Result<bool, StoreError> {
        crate::store::retry_once(|| async move {
            let mut tx = self.pool.begin().await?;
            let row = sqlx::query("SELECT client_id FROM applications WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
            let Some(row) = row else { return Ok(false) };
            let client_id: String = row.try_get("client_id")?;
            // Refresh tokens stay (revoked) so a replay is still recognised as one.
            sqlx::query("UPDATE refresh_tokens SET revoked = 1 WHERE client_id = $1")
                .bind(&client_id)
                .execute(&mut *tx)
                .await?;
            // Grants and URLs cascade.
            sqlx::query("DELETE FROM applications WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            crate::store::commit(tx).await?;
            Ok(true)
        })
        .await
    }

    /// An application's registered URLs of one kind, sorted; `None` when there is no such
    /// application.
    pub async fn application_urls(
        &self,
        id: &str,
        kind: UrlKind,
    ) -> Result<Option<Vec<String>>, StoreError> {
        crate::store::retry_once(|| async move {
            let mut tx = self.pool.begin().await?;
            if !application_exists(&mut tx, id).await? {
                return Ok(None);
            }
            let rows = sqlx::query(
            "SELECT url FROM application_urls WHERE application_id = $1 AND kind = $2 ORDER BY url",
        )
        .bind(id)
        .bind(kind.column_value())
        .fetch_all(&mut *tx)
        .await?;
            crate::store::commit(tx).await?;
            rows.iter()
                .map(|r| r.try_get("url").map_err(StoreError::from))
                .collect::<Result<Vec<String>, _>>()
                .map(Some)
        })
        .await
    }

    /// Adds URLs of one kind (those already registered are left as they are), keeping at most
    /// `max` of that kind.
    pub async fn add_application_urls(
        &self,
        id: &str,
        kind: UrlKind,
        urls: &[String],
        max: usize,
    ) -> Result<UrlsOutcome, StoreError> {
        crate::store::retry_once(|| async move {
            let mut tx = self.pool.begin().await?;
            if !application_exists(&mut tx, id).await? {
                return Ok(UrlsOutcome::NoApplication);
            }
            for url in urls {
                sqlx::query(
                    "INSERT INTO application_urls (application_id, kind, url) VALUES ($1, $2, $3) \
                 ON CONFLICT DO NOTHING",
                )
                .bind(id)
                .bind(kind.column_value())
                .bind(url)
                .execute(&mut *tx)
                .await?;
            }
            let count: i64 = sqlx::query(
                "SELECT COUNT(*) AS url_count FROM application_urls \
                 WHERE application_id = $1 AND kind = $2",
            )
            .bind(id)
            .bind(kind.column_value())
            .fetch_one(&mut *tx)
            .await?
            .try_get("url_count")?;
            if usize::try_from(count).unwrap_or(usize::MAX) > max {
                // Dropping the transaction rolls it back.
                return Ok(UrlsOutcome::TooMany);
            }
            crate::store::commit(tx).await?;
            Ok(UrlsOutcome::Done)
        })
        .await
    }

    /// Replaces the URLs of one kind.
    pub async fn replace_application_urls(
        &self,
        id: &str,
        kind: UrlKind,
        urls: &[String],
    ) -> Result<UrlsOutcome, StoreError> {
        crate::store::retry_once(|| async move {
            let mut tx = self.pool.begin().await?;
            if !application_exists(&mut tx, id).await? {
                return Ok(UrlsOutcome::NoApplication);
            }
            replace_urls(&mut tx, id, kind, urls).await?;
            crate::store::commit(tx).await?;
            Ok(UrlsOutcome::Done)
        })
        .await
    }

    /// Removes URLs of one kind (URLs not registered are ignored).
    pub async fn remove_application_urls(
        &self,
        id: &str,
        kind: UrlKind,
        urls: &[String],
    ) -> Result<UrlsOutcome, StoreError> {
        crate::store::retry_once(|| async move {
            let mut tx = self.pool.begin().await?;
            if !application_exists(&mut tx, id).await? {
                return Ok(UrlsOutcome::NoApplication);
            }
            for url in urls {
                sqlx::query(
                    "DELETE FROM application_urls WHERE application_id = $1 AND kind = $2 \
                 AND url = $3",
                )
                .bind(id)
                .bind(kind.column_value())
                .bind(url)
                .execute(&mut *tx)
                .await?;
            }
            crate::store::commit(tx).await?;
            Ok(UrlsOutcome::Done)
        })
        .await
    }
}

async fn application_exists(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    id: &str,
) -> Result<bool, StoreError> {
    let row = sqlx::query("SELECT 1 FROM applications WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?;
    Ok(row.is_some())
}

async fn replace_urls(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    id: &str,
    kind: UrlKind,
    urls: &[String],
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM application_urls WHERE application_id = $1 AND kind = $2")
        .bind(id)
        .bind(kind.column_value())
        .execute(&mut **tx)
        .await?;
    for url in urls {
        sqlx::query(
            "INSERT INTO application_urls (application_id, kind, url) VALUES ($1, $2, $3) \
             ON CONFLICT DO NOTHING",
        )
        .bind(id)
        .bind(kind.column_value())
        .bind(url)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}
