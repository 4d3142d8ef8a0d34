//! Management queries: feature flags and the environment's overrides.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::Management;
use super::permissions::is_unique_violation;
use crate::domain::{OverrideLevel, override_allowed};
use crate::error::StoreError;
use crate::store::flag_value;

/// A feature flag's definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedFlag {
    /// What tokens carry (`theme`).
    pub key: String,
    /// Display name.
    pub name: String,
    /// What it is for.
    pub description: Option<String>,
    /// `str`, `int` or `bool`.
    pub flag_type: String,
    /// Down to which level it may be overridden: `env`, `org` or `usr`.
    pub allow_override_level: Option<String>,
    /// The default value, as a string of its type.
    pub default_value: String,
}

/// A flag's definition to create or put (`flag_type` one of `str`, `int`, `bool`, and
/// `default_value` valid for it: the caller checks with [`flag_value`]).
#[derive(Debug)]
pub struct FlagDefinition<'a> {
    /// Display name.
    pub name: &'a str,
    /// What it is for.
    pub description: Option<&'a str>,
    /// `str`, `int` or `bool`.
    pub flag_type: &'a str,
    /// `env`, `org` or `usr`.
    pub allow_override_level: Option<&'a str>,
    /// The default value.
    pub default_value: &'a str,
}

/// What putting a flag's definition did.
#[derive(Debug, PartialEq, Eq)]
pub enum FlagPut {
    /// Updated; when the type changed, this many overrides (of the old type) were deleted, or,
    /// when `allow_override_level` no longer reaches them, that many organization and user
    /// overrides.
    Updated {
        /// Overrides deleted because the type changed.
        overrides_removed: u64,
    },
    /// No flag has this key.
    NotFound,
}

/// What overriding a flag for the environment did.
#[derive(Debug, PartialEq, Eq)]
pub enum EnvOverrideWrite {
    /// Set.
    Set,
    /// No flag has this key.
    NotFound,
    /// The value is not of the flag's type (named).
    InvalidValue(String),
}

/// A flag's value in the environment: its override there, else its default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvironmentFlag {
    /// The key.
    pub key: String,
    /// `str`, `int` or `bool`.
    pub flag_type: String,
    /// The value, as a string.
    pub value: String,
}

const FLAG_COLUMNS: &str = "key, name, description, flag_type, allow_override_level, default_value";

fn managed_flag(r: &AnyRow) -> Result<ManagedFlag, StoreError> {
    Ok(ManagedFlag {
        key: r.try_get("key")?,
        name: r.try_get("name")?,
        description: r.try_get("description")?,
        flag_type: r.try_get("flag_type")?,
        allow_override_level: r.try_get("allow_override_level")?,
        default_value: r.try_get("default_value")?,
    })
}

impl Management<'_> {
    /// A page of flag definitions ordered by key, after `after`, at most `limit`.
    pub async fn flags(
        &self,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<ManagedFlag>, StoreError> {
        crate::store::retry_once(|| async move {
            let rows = sqlx::query(&format!(
                "SELECT {FLAG_COLUMNS} FROM feature_flags \
             WHERE ($1 IS NULL OR key > $1) ORDER BY key LIMIT $2"
            ))
            .bind(after)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
            rows.iter().map(managed_flag).collect()
        })
        .await
    }

    /// Creates a flag; `false` (nothing written) when the key is in use.
    pub async fn create_flag(
        &self,
        key: &str,
        flag: &FlagDefinition<'_>,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO feature_flags (key, name, description, flag_type, \
             allow_override_level, default_value) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (key) DO NOTHING",
        )
        .bind(key)
        .bind(flag.name)
        .bind(flag.description)
        .bind(flag.flag_type)
        .bind(flag.allow_override_level)
        .bind(flag.default_value)
        .execute(&self.pool)
        .await;
        match done {
            Ok(done) => Ok(done.rows_affected() == 1),
            Err(e) if is_unique_violation(&e) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Replaces a flag's definition. A change of type deletes every override of the flag (at
    /// every level), in the same transaction: values of the old type would be meaningless.
    pub async fn put_flag(
        &self,
        key: &str,
        flag: &FlagDefinition<'_>,
    ) -> Result<FlagPut, StoreError> {
        crate::store::retry_once(|| async move {
            let mut tx = self.pool.begin().await?;
            let row = sqlx::query("SELECT flag_type FROM feature_flags WHERE key = $1")
                .bind(key)
                .fetch_optional(&mut *tx)
                .await?;
            let Some(row) = row else {
                return Ok(FlagPut::NotFound);
            };
            let old_type: String = row.try_get("flag_type")?;
            let mut overrides_removed = 0;
            if old_type != flag.flag_type {
                overrides_removed = sqlx::query("DELETE FROM flag_overrides WHERE flag_key = $1")
                    .bind(key)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            } else {
                // Overrides below the new `allow_override_level` no longer apply: they go.
                for (level, at) in [("org", OverrideLevel::Org), ("usr", OverrideLevel::User)] {
                    if !override_allowed(flag.allow_override_level, at) {
                        overrides_removed += sqlx::query(
                            "DELETE FROM flag_overrides WHERE flag_key = $1 AND level = $2",
                        )
                        .bind(key)
                        .bind(level)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    }
                }
            }
            sqlx::query(
                "UPDATE feature_flags SET name = $2, description = $3, flag_type = $4, \
             allow_override_level = $5, default_value = $6 WHERE key = $1",
            )
            .bind(key)
            .bind(flag.name)
            .bind(flag.description)
            .bind(flag.flag_type)
            .bind(flag.allow_override_level)
            .bind(flag.default_value)
            .execute(&mut *tx)
            .await?;
            crate::store::commit(tx).await?;
            Ok(FlagPut::Updated { overrides_removed })
        })
        .await
    }

    /// Deletes a flag and all its overrides; `false` when there is no such flag.
    pub async fn delete_flag(&self, key: &str) -> Result<bool, StoreError> {
        crate::store::retry_once(|| async move {
            let mut tx = self.pool.begin().await?;
            sqlx::query("DELETE FROM flag_overrides WHERE flag_key = $1")
                .bind(key)
                .execute(&mut *tx)
                .await?;
            let done = sqlx::query("DELETE FROM feature_flags WHERE key = $1")
                .bind(key)
                .execute(&mut *tx)
                .await?;
            if done.rows_affected() == 0 {
                return Ok(false);
            }
            crate::store::commit(tx).await?;
            Ok(true)
        })
        .await
    }

    /// Every flag with its value in the environment (override, else default), by key.
    pub async fn environment_flags(&self) -> Result<Vec<EnvironmentFlag>, StoreError> {
        crate::store::retry_once(|| async move {
            let rows = sqlx::query(
                "SELECT f.key, f.flag_type, COALESCE(o.value, f.default_value) AS value \
             FROM feature_flags f \
             LEFT JOIN flag_overrides o \
             ON o.flag_key = f.key AND o.level = 'env' AND o.subject = '' ORDER BY f.key",
            )
            .fetch_all(&self.pool)
            .await?;
            rows.iter()
                .map(|r| {
                    Ok(EnvironmentFlag {
                        key: r.try_get("key")?,
                        flag_type: r.try_get("flag_type")?,
                        value: r.try_get("value")?,
                    })
                })
                .collect()
        })
        .await
    }

    /// Overrides a flag for the environment; the value is checked against the flag's type in
    /// the same transaction.
    pub async fn set_environment_override(
        &self,
        key: &str,
        value: &str,
    ) -> Result<EnvOverrideWrite, StoreError> {
        crate::store::retry_once(|| async move {
            let mut tx = self.pool.begin().await?;
            let row = sqlx::query("SELECT flag_type FROM feature_flags WHERE key = $1")
                .bind(key)
                .fetch_optional(&mut *tx)
                .await?;
            let Some(row) = row else {
                return Ok(EnvOverrideWrite::NotFound);
            };
            let flag_type: String = row.try_get("flag_type")?;
            if flag_value(&flag_type, value).is_none() {
                return Ok(EnvOverrideWrite::InvalidValue(flag_type));
            }
            sqlx::query(
                "INSERT INTO flag_overrides (flag_key, level, subject, value) \
             VALUES ($1, 'env', '', $2) \
             ON CONFLICT (flag_key, level, subject) DO UPDATE SET value = excluded.value",
            )
            .bind(key)
            .bind(value)
            .execute(&mut *tx)
            .await?;
            crate::store::commit(tx).await?;
            Ok(EnvOverrideWrite::Set)
        })
        .await
    }

    /// Removes the environment's override of a flag (none is fine); `false` when there is no
    /// such flag.
    pub async fn delete_environment_override(&self, key: &str) -> Result<bool, StoreError> {
        crate::store::retry_once(|| async move {
            let mut tx = self.pool.begin().await?;
            let exists = sqlx::query("SELECT 1 FROM feature_flags WHERE key = $1")
                .bind(key)
                .fetch_optional(&mut *tx)
                .await?;
            if exists.is_none() {
                return Ok(false);
            }
            sqlx::query(
                "DELETE FROM flag_overrides WHERE flag_key = $1 AND level = 'env' AND subject = ''",
            )
            .bind(key)
            .execute(&mut *tx)
            .await?;
            crate::store::commit(tx).await?;
            Ok(true)
        })
        .await
    }

    /// Removes every environment override; how many there were.
    pub async fn delete_environment_overrides(&self) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM flag_overrides WHERE level = 'env'")
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}
