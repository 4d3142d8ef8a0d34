//! Management queries: APIs (resource servers), their scopes, and which applications may get
//! tokens for them.
//!
//! The management API itself ([`super::MANAGEMENT_API_ID`]) is refused by the operations that
//! change an API (the handlers check it, and so do these functions), so nothing reachable over
//! HTTP can widen who may call it.

use sqlx::Row;

use super::Management;
use super::applications::{ManagedApplication, managed_application};
use super::registration::MANAGEMENT_API_ID;
use crate::error::StoreError;
use crate::store::{ApiRecord, api_from_row};

/// An application authorized for an API, with the scopes granted to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiApplication {
    /// The application.
    pub application: ManagedApplication,
    /// The granted scopes.
    pub scopes: Vec<String>,
}

/// A scope of an API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedApiScope {
    /// The scope, as tokens carry it (also its id on the wire).
    pub key: String,
    /// What it allows.
    pub description: Option<String>,
}

/// One change of `PATCH /apis/{api_id}/applications`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiApplicationChange {
    /// The application's id.
    pub application_id: String,
    /// Authorize (`true`) or deauthorize.
    pub authorize: bool,
    /// The scopes to grant on authorization; `None` grants every scope the API defines now.
    pub scopes: Option<Vec<String>>,
}

/// What a change of an API did.
#[derive(Debug, PartialEq, Eq)]
pub enum ApiChangeOutcome {
    /// Done: the ids of the applications authorized and deauthorized.
    Done {
        /// Applications authorized (or re-authorized with new scopes).
        authorized: Vec<String>,
        /// Applications deauthorized.
        deauthorized: Vec<String>,
    },
    /// No such API.
    NoApi,
    /// The API is the management API, which cannot be changed here.
    ManagementApi,
    /// An application in the body does not exist: nothing was written.
    UnknownApplication(String),
    /// A scope in the body is not defined by the API: nothing was written.
    UnknownScope(String),
    /// The scope key (or audience) already exists: nothing was written.
    Exists,
}

impl Management<'_> {
    /// A page of APIs ordered by id, after `after`, at most `limit`.
    pub async fn apis(
        &self,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<ApiRecord>, StoreError> {
        crate::store::retry_once(|| async move {
            let rows = sqlx::query(
                "SELECT id, name, audience FROM apis WHERE ($1 IS NULL OR id > $1) \
             ORDER BY id LIMIT $2",
            )
            .bind(after)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
            rows.iter().map(api_from_row).collect()
        })
        .await
    }

    /// One API.
    pub async fn api(&self, id: &str) -> Result<Option<ApiRecord>, StoreError> {
        crate::store::retry_once(|| async move {
            let row = sqlx::query("SELECT id, name, audience FROM apis WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
            row.as_ref().map(api_from_row).transpose()
        })
        .await
    }

    /// Creates an API. `false` when the audience (or id) is taken: nothing was written.
    pub async fn create_api(
        &self,
        id: &str,
        name: &str,
        audience: &str,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO apis (id, name, audience) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        )
        .bind(id)
        .bind(name)
        .bind(audience)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Deletes an API with its scopes and grants. Refuses the management API.
    pub async fn delete_api(&self, id: &str) -> Result<ApiChangeOutcome, StoreError> {
        if id == MANAGEMENT_API_ID {
            return Ok(ApiChangeOutcome::ManagementApi);
        }
        let done = sqlx::query("DELETE FROM apis WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(if done.rows_affected() == 1 {
            ApiChangeOutcome::Done {
                authorized: Vec::new(),
                deauthorized: Vec::new(),
            }
        } else {
            ApiChangeOutcome::NoApi
        })
    }

    /// The scopes an API defines, sorted; `None` when there is no such API.
    pub async fn api_scopes(&self, id: &str) -> Result<Option<Vec<String>>, StoreError> {
        crate::store::retry_once(|| async move {
            let mut tx = self.pool.begin().await?;
            if !api_exists(&mut tx, id).await? {
                return Ok(None);
            }
            let scopes = scopes_of(&mut tx, id).await?;
            crate::store::commit(tx).await?;
            Ok(Some(scopes))
        })
        .await
    }

    /// The scopes an API defines with their descriptions, sorted by key; `None` when there is
    /// no such API.
    pub async fn api_scope_details(
        &self,
        id: &str,
    ) -> Result<Option<Vec<ManagedApiScope>>, StoreError> {
        crate::store::retry_once(|| async move {
            let mut tx = self.pool.begin().await?;
            if !api_exists(&mut tx, id).await? {
                return Ok(None);
            }
            let rows = sqlx::query(
                "SELECT scope, description FROM api_scopes WHERE api_id = $1 ORDER BY scope",
            )
            .bind(id)
            .fetch_all(&mut *tx)
            .await?;
            crate::store::commit(tx).await?;
            rows.iter()
                .map(|r| {
                    Ok(ManagedApiScope {
                        key: r.try_get("scope")?,
                        description: r.try_get("description")?,
                    })
                })
                .collect::<Result<Vec<_>, StoreError>>()
                .map(Some)
        })
        .await
    }

    /// Adds a scope to an API. Refuses the management API.
    pub async fn add_api_scope(&self, id: &str, key: &str) -> Result<ApiChangeOutcome, StoreError> {
        self.add_described_api_scope(id, key, None).await
    }

    /// Adds a scope with a description to an API. Refuses the management API.
    pub async fn add_described_api_scope(
        &self,
        id: &str,
        key: &str,
        description: Option<&str>,
    ) -> Result<ApiChangeOutcome, StoreError> {
        crate::store::retry_once(|| async move {
            if id == MANAGEMENT_API_ID {
                return Ok(ApiChangeOutcome::ManagementApi);
            }
            let mut tx = self.pool.begin().await?;
            if !api_exists(&mut tx, id).await? {
                return Ok(ApiChangeOutcome::NoApi);
            }
            let done = sqlx::query(
                "INSERT INTO api_scopes (api_id, scope, description) VALUES ($1, $2, $3) \
             ON CONFLICT DO NOTHING",
            )
            .bind(id)
            .bind(key)
            .bind(description)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 0 {
                return Ok(ApiChangeOutcome::Exists);
            }
            crate::store::commit(tx).await?;
            Ok(ApiChangeOutcome::Done {
                authorized: Vec::new(),
                deauthorized: Vec::new(),
            })
        })
        .await
    }

    /// The applications authorized for an API, ordered by id.
    pub async fn api_applications(&self, id: &str) -> Result<Vec<ApiApplication>, StoreError> {
        crate::store::retry_once(|| async move {
            let rows = sqlx::query(
                "SELECT applications.id, applications.name, applications.app_type, \
             applications.client_id, application_apis.scopes, applications.login_uri, \
             applications.homepage_uri \
             FROM application_apis JOIN applications \
             ON applications.id = application_apis.application_id \
             WHERE application_apis.api_id = $1 ORDER BY applications.id",
            )
            .bind(id)
            .fetch_all(&self.pool)
            .await?;
            rows.iter()
                .map(|r| {
                    let scopes: String = r.try_get("scopes")?;
                    Ok(ApiApplication {
                        application: managed_application(r)?,
                        scopes: scopes.split_whitespace().map(str::to_owned).collect(),
                    })
                })
                .collect()
        })
        .await
    }

    /// Authorizes and deauthorizes applications for an API, in order, in one transaction.
    /// Refuses the management API.
    pub async fn update_api_applications(
        &self,
        id: &str,
        changes: &[ApiApplicationChange],
    ) -> Result<ApiChangeOutcome, StoreError> {
        crate::store::retry_once(|| async move {
            if id == MANAGEMENT_API_ID {
                return Ok(ApiChangeOutcome::ManagementApi);
            }
            let mut tx = self.pool.begin().await?;
            if !api_exists(&mut tx, id).await? {
                return Ok(ApiChangeOutcome::NoApi);
            }
            let defined = scopes_of(&mut tx, id).await?;
            let mut authorized = Vec::new();
            let mut deauthorized = Vec::new();
            for change in changes {
                let exists = sqlx::query("SELECT 1 FROM applications WHERE id = $1")
                    .bind(&change.application_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                if exists.is_none() {
                    return Ok(ApiChangeOutcome::UnknownApplication(
                        change.application_id.clone(),
                    ));
                }
                if !change.authorize {
                    sqlx::query(
                        "DELETE FROM application_apis WHERE application_id = $1 AND api_id = $2",
                    )
                    .bind(&change.application_id)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                    deauthorized.push(change.application_id.clone());
                    continue;
                }
                let scopes = match &change.scopes {
                    None => defined.clone(),
                    Some(scopes) => {
                        if let Some(bad) = scopes.iter().find(|s| !defined.contains(s)) {
                            return Ok(ApiChangeOutcome::UnknownScope(bad.clone()));
                        }
                        let mut scopes = scopes.clone();
                        scopes.sort();
                        scopes.dedup();
                        scopes
                    }
                };
                sqlx::query(
                    "INSERT INTO application_apis (application_id, api_id, scopes) \
                 VALUES ($1, $2, $3) \
                 ON CONFLICT (application_id, api_id) DO UPDATE SET scopes = excluded.scopes",
                )
                .bind(&change.application_id)
                .bind(id)
                .bind(scopes.join(" "))
                .execute(&mut *tx)
                .await?;
                authorized.push(change.application_id.clone());
            }
            crate::store::commit(tx).await?;
            Ok(ApiChangeOutcome::Done {
                authorized,
                deauthorized,
            })
        })
        .await
    }
}

async fn api_exists(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    id: &str,
) -> Result<bool, StoreError> {
    let row = sqlx::query("SELECT 1 FROM apis WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?;
    Ok(row.is_some())
}

async fn scopes_of(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    id: &str,
) -> Result<Vec<String>, StoreError> {
    let rows = sqlx::query("SELECT scope FROM api_scopes WHERE api_id = $1 ORDER BY scope")
        .bind(id)
        .fetch_all(&mut **tx)
        .await?;
    rows.iter()
        .map(|r| r.try_get("scope").map_err(StoreError::from))
        .collect()
}
