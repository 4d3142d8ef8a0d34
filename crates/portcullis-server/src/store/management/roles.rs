//! Management queries: roles, their permissions and the users who have them.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::Management;
use super::order::{After, ListOrder, SortBy, keyset};
use super::permissions::{
    PERMISSION_COLUMNS, is_foreign_key_violation, is_unique_violation, managed_permission,
};
use super::{KeyedPatch, KeyedWrite, ManagedPermission};
use crate::error::StoreError;

/// A role as the management API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedRole {
    /// `role_…`.
    pub id: String,
    /// What tokens carry (`admin`); unique.
    pub key: String,
    /// Display name.
    pub name: String,
    /// What it is for.
    pub description: Option<String>,
    /// Whether new organization members get it.
    pub is_default_role: bool,
}

/// A role to create.
#[derive(Debug)]
pub struct NewRole<'a> {
    /// The new id.
    pub id: &'a str,
    /// Its key (unique).
    pub key: &'a str,
    /// Display name.
    pub name: &'a str,
    /// What it is for.
    pub description: Option<&'a str>,
    /// Whether new organization members get it.
    pub is_default_role: bool,
}

/// What changing a role's permissions did.
#[derive(Debug, PartialEq, Eq)]
pub enum RolePermissionsWrite {
    /// Done.
    Done,
    /// No role has this id: nothing was written.
    RoleNotFound,
    /// No permission has this id: nothing was written.
    UnknownPermission(String),
}

/// What removing one permission from a role did.
#[derive(Debug, PartialEq, Eq)]
pub enum RolePermissionRemoval {
    /// Removed.
    Removed,
    /// No role has this id.
    RoleNotFound,
    /// The role does not grant this permission.
    NotGranted,
}

/// A user who has a role in an organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleHolder {
    /// `kp_…`.
    pub user_id: String,
    /// The organization where they have it.
    pub org_code: String,
    /// Email.
    pub email: String,
    /// Given name.
    pub given_name: Option<String>,
    /// Family name.
    pub family_name: Option<String>,
    /// Picture URL.
    pub picture: Option<String>,
}

const ROLE_COLUMNS: &str = "id, key, name, description, is_default_role";

fn managed_role(r: &AnyRow) -> Result<ManagedRole, StoreError> {
    Ok(ManagedRole {
        id: r.try_get("id")?,
        key: r.try_get("key")?,
        name: r.try_get("name")?,
        description: r.try_get("description")?,
        is_default_role: r.try_get::<i64, _>("is_default_role")? != 0,
    })
}

impl Management<'_> {
    /// A page of roles ordered by id, after `after`, at most `limit`.
    pub async fn roles(
        &self,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<ManagedRole>, StoreError> {
        let after = after.map(|k| After {
            value: k.to_owned(),
            key: k.to_owned(),
        });
        self.roles_sorted(ListOrder::default(), after.as_ref(), limit)
            .await
    }

    /// A page in `order` (by name or by id; ties by id), after `after`, at most `limit`.
    pub async fn roles_sorted(
        &self,
        order: ListOrder,
        after: Option<&After>,
        limit: i64,
    ) -> Result<Vec<ManagedRole>, StoreError> {
        crate::store::retry_once(|| async move {
            let expr = match order.by {
                SortBy::Name => "name",
                SortBy::Key | SortBy::Email => "id",
            };
            let (condition, order_by) =
                keyset(expr, "id", order, after.is_some(), 1, 2, self.dialect);
            let rows = sqlx::query(&format!(
                "SELECT {ROLE_COLUMNS} FROM roles WHERE {condition} ORDER BY {order_by} LIMIT $3"
            ))
            .bind(after.map(|a| a.value.as_str()))
            .bind(after.map(|a| a.key.as_str()))
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
            rows.iter().map(managed_role).collect()
        })
        .await
    }

    /// One role.
    pub async fn role(&self, id: &str) -> Result<Option<ManagedRole>, StoreError> {
        crate::store::retry_once(|| async move {
            let row = sqlx::query(&format!("SELECT {ROLE_COLUMNS} FROM roles WHERE id = $1"))
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
            row.as_ref().map(managed_role).transpose()
        })
        .await
    }

    /// Creates a role: [`KeyedWrite::KeyTaken`] when its key is in use.
    pub async fn create_role(&self, role: &NewRole<'_>) -> Result<KeyedWrite, StoreError> {
        let done = sqlx::query(
            "INSERT INTO roles (id, key, name, description, is_default_role) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (key) DO NOTHING",
        )
        .bind(role.id)
        .bind(role.key)
        .bind(role.name)
        .bind(role.description)
        .bind(i64::from(role.is_default_role))
        .execute(&self.pool)
        .await;
        match done {
            Ok(done) if done.rows_affected() == 1 => Ok(KeyedWrite::Done),
            Ok(_) => Ok(KeyedWrite::KeyTaken),
            Err(e) if is_unique_violation(&e) => Ok(KeyedWrite::KeyTaken),
            Err(e) => Err(e.into()),
        }
    }

    /// Applies `patch` (and `is_default_role` when given) to a role, in one transaction.
    pub async fn update_role(
        &self,
        id: &str,
        patch: &KeyedPatch,
        is_default_role: Option<bool>,
    ) -> Result<KeyedWrite, StoreError> {
        self.update_keyed("roles", id, patch, is_default_role).await
    }

    /// Deletes a role: members lose it and its permissions. `false` when there is no such
    /// role.
    pub async fn delete_role(&self, id: &str) -> Result<bool, StoreError> {
        crate::store::retry_once(|| async move {
            let mut tx = self.pool.begin().await?;
            for statement in [
                "DELETE FROM role_permissions WHERE role_id = $1",
                "DELETE FROM member_roles WHERE role_id = $1",
            ] {
                sqlx::query(statement).bind(id).execute(&mut *tx).await?;
            }
            let done = sqlx::query("DELETE FROM roles WHERE id = $1")
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

    /// A page of a role's permissions ordered by id; `None` when there is no such role.
    pub async fn role_permissions(
        &self,
        role_id: &str,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Option<Vec<ManagedPermission>>, StoreError> {
        let after = after.map(|k| After {
            value: k.to_owned(),
            key: k.to_owned(),
        });
        self.role_permissions_sorted(role_id, ListOrder::default(), after.as_ref(), limit)
            .await
    }

    /// A page of a role's permissions in `order` (by name or id; ties by id); `None` when there
    /// is no such role.
    pub async fn role_permissions_sorted(
        &self,
        role_id: &str,
        order: ListOrder,
        after: Option<&After>,
        limit: i64,
    ) -> Result<Option<Vec<ManagedPermission>>, StoreError> {
        crate::store::retry_once(|| async move {
        let mut tx = self.pool.begin().await?;
        let exists = sqlx::query("SELECT 1 FROM roles WHERE id = $1")
            .bind(role_id)
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
            return Ok(None);
        }
        let columns = PERMISSION_COLUMNS
            .split(", ")
            .map(|c| format!("p.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let expr = match order.by {
            SortBy::Name => "p.name",
            SortBy::Key | SortBy::Email => "p.id",
        };
        let (condition, order_by) =
            keyset(expr, "p.id", order, after.is_some(), 2, 3, self.dialect);
        let rows = sqlx::query(&format!(
            "SELECT {columns} FROM role_permissions rp JOIN permissions p ON p.id = rp.permission_id \
             WHERE rp.role_id = $1 AND {condition} ORDER BY {order_by} LIMIT $4"
        ))
        .bind(role_id)
        .bind(after.map(|a| a.value.as_str()))
        .bind(after.map(|a| a.key.as_str()))
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        crate::store::commit(tx).await?;
        rows.iter()
            .map(managed_permission)
            .collect::<Result<_, _>>()
            .map(Some)
    }).await
    }

    /// Adds (`false`) and removes (`true`) permissions of a role, all or nothing.
    pub async fn update_role_permissions(
        &self,
        role_id: &str,
        changes: &[(String, bool)],
    ) -> Result<RolePermissionsWrite, StoreError> {
        crate::store::retry_once(|| async move {
            let mut tx = self.pool.begin().await?;
            let exists = sqlx::query("SELECT 1 FROM roles WHERE id = $1")
                .bind(role_id)
                .fetch_optional(&mut *tx)
                .await?;
            if exists.is_none() {
                return Ok(RolePermissionsWrite::RoleNotFound);
            }
            for (permission_id, remove) in changes {
                let known = sqlx::query("SELECT 1 FROM permissions WHERE id = $1")
                    .bind(permission_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                if known.is_none() {
                    return Ok(RolePermissionsWrite::UnknownPermission(
                        permission_id.clone(),
                    ));
                }
                let statement = if *remove {
                    "DELETE FROM role_permissions WHERE role_id = $1 AND permission_id = $2"
                } else {
                    "INSERT INTO role_permissions (role_id, permission_id) VALUES ($1, $2) \
                 ON CONFLICT (role_id, permission_id) DO NOTHING"
                };
                let done = sqlx::query(statement)
                    .bind(role_id)
                    .bind(permission_id)
                    .execute(&mut *tx)
                    .await;
                match done {
                    Ok(_) => {}
                    // The permission (or role) was deleted by another transaction meanwhile.
                    Err(e) if is_foreign_key_violation(&e) => {
                        return Ok(RolePermissionsWrite::UnknownPermission(
                            permission_id.clone(),
                        ));
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            crate::store::commit(tx).await?;
            Ok(RolePermissionsWrite::Done)
        })
        .await
    }

    /// Removes one permission from a role.
    pub async fn remove_role_permission(
        &self,
        role_id: &str,
        permission_id: &str,
    ) -> Result<RolePermissionRemoval, StoreError> {
        crate::store::retry_once(|| async move {
            let mut tx = self.pool.begin().await?;
            let exists = sqlx::query("SELECT 1 FROM roles WHERE id = $1")
                .bind(role_id)
                .fetch_optional(&mut *tx)
                .await?;
            if exists.is_none() {
                return Ok(RolePermissionRemoval::RoleNotFound);
            }
            let done = sqlx::query(
                "DELETE FROM role_permissions WHERE role_id = $1 AND permission_id = $2",
            )
            .bind(role_id)
            .bind(permission_id)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 0 {
                return Ok(RolePermissionRemoval::NotGranted);
            }
            crate::store::commit(tx).await?;
            Ok(RolePermissionRemoval::Removed)
        })
        .await
    }

    /// A page of who has a role where: (user, organization) pairs ordered by user id then
    /// organization code, after `after` (such a pair), at most `limit`; `None` when there is
    /// no such role.
    pub async fn role_holders(
        &self,
        role_id: &str,
        after: Option<(&str, &str)>,
        limit: i64,
    ) -> Result<Option<Vec<RoleHolder>>, StoreError> {
        crate::store::retry_once(|| async move {
            let mut tx = self.pool.begin().await?;
            let exists = sqlx::query("SELECT 1 FROM roles WHERE id = $1")
                .bind(role_id)
                .fetch_optional(&mut *tx)
                .await?;
            if exists.is_none() {
                return Ok(None);
            }
            let (after_user, after_org) = after.unzip();
            let rows = sqlx::query(
                "SELECT mr.user_id, mr.org_code, u.email, u.given_name, u.family_name, u.picture \
             FROM member_roles mr JOIN users u ON u.id = mr.user_id \
             WHERE mr.role_id = $1 AND ($2 IS NULL OR mr.user_id > $2 \
             OR (mr.user_id = $2 AND mr.org_code > $3)) \
             ORDER BY mr.user_id, mr.org_code LIMIT $4",
            )
            .bind(role_id)
            .bind(after_user)
            .bind(after_org)
            .bind(limit)
            .fetch_all(&mut *tx)
            .await?;
            crate::store::commit(tx).await?;
            rows.iter()
                .map(|r| {
                    Ok(RoleHolder {
                        user_id: r.try_get("user_id")?,
                        org_code: r.try_get("org_code")?,
                        email: r.try_get("email")?,
                        given_name: r.try_get("given_name")?,
                        family_name: r.try_get("family_name")?,
                        picture: r.try_get("picture")?,
                    })
                })
                .collect::<Result<_, StoreError>>()
                .map(Some)
        })
        .await
    }
}
