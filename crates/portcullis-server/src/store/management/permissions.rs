//! Management queries: permissions.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::Management;
use super::order::{After, ListOrder, SortBy, keyset};
use crate::error::StoreError;

/// A permission as the management API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedPermission {
    /// `perm_…`.
    pub id: String,
    /// What tokens carry (`read:todos`); unique.
    pub key: String,
    /// Display name.
    pub name: String,
    /// What it is for.
    pub description: Option<String>,
}

/// A permission to create.
#[derive(Debug)]
pub struct NewPermission<'a> {
    /// The new id.
    pub id: &'a str,
    /// Its key (unique).
    pub key: &'a str,
    /// Display name.
    pub name: &'a str,
    /// What it is for.
    pub description: Option<&'a str>,
}

/// Changes to a permission (or a role's name, key and description); `None` leaves a field
/// alone, `Some(None)` clears the description.
#[derive(Debug, Default)]
pub struct KeyedPatch {
    /// New display name.
    pub name: Option<String>,
    /// New key (unique).
    pub key: Option<String>,
    /// New description.
    pub description: Option<Option<String>>,
}

/// What a write of a keyed row (permission or role) did.
#[derive(Debug, PartialEq, Eq)]
pub enum KeyedWrite {
    /// Written.
    Done,
    /// No row has this id: nothing was written.
    NotFound,
    /// Another row has this key: nothing was written.
    KeyTaken,
}

pub(super) const PERMISSION_COLUMNS: &str = "id, key, name, description";

/// Reads a row of [`PERMISSION_COLUMNS`].
pub(super) fn managed_permission(r: &AnyRow) -> Result<ManagedPermission, StoreError> {
    Ok(ManagedPermission {
        id: r.try_get("id")?,
        key: r.try_get("key")?,
        name: r.try_get("name")?,
        description: r.try_get("description")?,
    })
}

/// Whether `e` is a unique-constraint violation (a concurrent insert of the same key).
pub(super) fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

/// Whether `e` is a foreign-key violation (a row deleted concurrently).
pub(super) fn is_foreign_key_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_foreign_key_violation())
}

impl Management<'_> {
    /// A page of permissions ordered by id, after `after`, at most `limit`.
    pub async fn permissions(
        &self,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<ManagedPermission>, StoreError> {
        let after = after.map(|k| After {
            value: k.to_owned(),
            key: k.to_owned(),
        });
        self.permissions_sorted(ListOrder::default(), after.as_ref(), limit)
            .await
    }

    /// A page in `order` (by name or by id; ties by id), after `after`, at most `limit`.
    pub async fn permissions_sorted(
        &self,
        order: ListOrder,
        after: Option<&After>,
        limit: i64,
    ) -> Result<Vec<ManagedPermission>, StoreError> {
        crate::store::retry_once(|| async move {
        let expr = match order.by {
            SortBy::Name => "name",
            SortBy::Key | SortBy::Email => "id",
        };
        let (condition, order_by) = keyset(expr, "id", order, after.is_some(), 1, 2, self.dialect);
        let rows = sqlx::query(&format!(
            "SELECT {PERMISSION_COLUMNS} FROM permissions WHERE {condition} ORDER BY {order_by} LIMIT $3"
        ))
        .bind(after.map(|a| a.value.as_str()))
        .bind(after.map(|a| a.key.as_str()))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(managed_permission).collect()
    }).await
    }

    /// Creates a permission: [`KeyedWrite::KeyTaken`] when its key is in use.
    pub async fn create_permission(
        &self,
        permission: &NewPermission<'_>,
    ) -> Result<KeyedWrite, StoreError> {
        let done = sqlx::query(
            "INSERT INTO permissions (id, key, name, description) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (key) DO NOTHING",
        )
        .bind(permission.id)
        .bind(permission.key)
        .bind(permission.name)
        .bind(permission.description)
        .execute(&self.pool)
        .await;
        match done {
            Ok(done) if done.rows_affected() == 1 => Ok(KeyedWrite::Done),
            Ok(_) => Ok(KeyedWrite::KeyTaken),
            Err(e) if is_unique_violation(&e) => Ok(KeyedWrite::KeyTaken),
            Err(e) => Err(e.into()),
        }
    }

    /// Applies `patch` to a permission.
    pub async fn update_permission(
        &self,
        id: &str,
        patch: &KeyedPatch,
    ) -> Result<KeyedWrite, StoreError> {
        self.update_keyed("permissions", id, patch, None).await
    }

    /// Applies `patch` to a row of `table` (`permissions` or `roles`; `is_default_role` only
    /// for roles), in one transaction.
    pub(super) async fn update_keyed(
        &self,
        table: &'static str,
        id: &str,
        patch: &KeyedPatch,
        is_default_role: Option<bool>,
    ) -> Result<KeyedWrite, StoreError> {
        crate::store::retry_once(|| async move {
            let mut tx = self.pool.begin().await?;
            let row = sqlx::query(&format!(
                "SELECT key, name, description FROM {table} WHERE id = $1"
            ))
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(row) = row else {
                return Ok(KeyedWrite::NotFound);
            };
            let mut key: String = row.try_get("key")?;
            let mut name: String = row.try_get("name")?;
            let mut description: Option<String> = row.try_get("description")?;
            if let Some(new_key) = &patch.key
                && *new_key != key
            {
                let taken = sqlx::query(&format!("SELECT 1 FROM {table} WHERE key = $1"))
                    .bind(new_key)
                    .fetch_optional(&mut *tx)
                    .await?;
                if taken.is_some() {
                    return Ok(KeyedWrite::KeyTaken);
                }
                key.clone_from(new_key);
            }
            if let Some(v) = &patch.name {
                name.clone_from(v);
            }
            if let Some(v) = &patch.description {
                description.clone_from(v);
            }
            let done = sqlx::query(&format!(
                "UPDATE {table} SET key = $2, name = $3, description = $4 WHERE id = $1"
            ))
            .bind(id)
            .bind(&key)
            .bind(&name)
            .bind(&description)
            .execute(&mut *tx)
            .await;
            match done {
                Ok(_) => {}
                // Another transaction took the key between the check and the update.
                Err(e) if is_unique_violation(&e) => return Ok(KeyedWrite::KeyTaken),
                Err(e) => return Err(e.into()),
            }
            if let Some(default) = is_default_role {
                sqlx::query(&format!(
                    "UPDATE {table} SET is_default_role = $2 WHERE id = $1"
                ))
                .bind(id)
                .bind(i64::from(default))
                .execute(&mut *tx)
                .await?;
            }
            crate::store::commit(tx).await?;
            Ok(KeyedWrite::Done)
        })
        .await
    }

    /// Deletes a permission: roles and members lose it. `false` when there is no such
    /// permission.
    pub async fn delete_permission(&self, id: &str) -> Result<bool, StoreError> {
        crate::store::retry_once(|| async move {
            let mut tx = self.pool.begin().await?;
            for statement in [
                "DELETE FROM role_permissions WHERE permission_id = $1",
                "DELETE FROM member_permissions WHERE permission_id = $1",
            ] {
                sqlx::query(statement).bind(id).execute(&mut *tx).await?;
            }
            let done = sqlx::query("DELETE FROM permissions WHERE id = $1")
                .bind(id)
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
}
