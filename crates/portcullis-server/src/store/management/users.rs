//! Management queries: users.

use std::collections::HashMap;

use sqlx::Row;
use sqlx::any::AnyRow;

use super::Management;
use super::order::{After, ListOrder, equals_or_unused, keyset, user_sort_expr};
use super::organizations::join_as_new_member;
use crate::domain::{OverrideLevel, override_allowed};
use crate::error::StoreError;
use crate::store::flag_value;

/// A user as the management API shows it (never the password hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedUser {
    /// `kp_…`.
    pub id: String,
    /// Lower-cased email.
    pub email: String,
    /// Given name.
    pub given_name: Option<String>,
    /// Family name.
    pub family_name: Option<String>,
    /// Picture URL.
    pub picture: Option<String>,
    /// The id the app gave the user.
    pub provided_id: Option<String>,
    /// Suspended users cannot sign in.
    pub is_suspended: bool,
    /// The user must choose a new password.
    pub is_password_reset_requested: bool,
    /// Created (Unix seconds).
    pub created_at: i64,
    /// Last change (Unix seconds).
    pub updated_at: i64,
}

const USER_COLUMNS: &str = "id, email, given_name, family_name, picture, provided_id, \
     is_suspended, is_password_reset_requested, created_at, updated_at";

fn managed_user(r: &AnyRow) -> Result<ManagedUser, StoreError> {
    Ok(ManagedUser {
        id: r.try_get("id")?,
        email: r.try_get("email")?,
        given_name: r.try_get("given_name")?,
        family_name: r.try_get("family_name")?,
        picture: r.try_get("picture")?,
        provided_id: r.try_get("provided_id")?,
        is_suspended: r.try_get::<i64, _>("is_suspended")? != 0,
        is_password_reset_requested: r.try_get::<i64, _>("is_password_reset_requested")? != 0,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

/// Filters of the user list.
#[derive(Debug, Default)]
pub struct UserFilter<'a> {
    /// Only this id.
    pub user_id: Option<&'a str>,
    /// Only this (lower-cased) email.
    pub email: Option<&'a str>,
}

/// A user to create.
#[derive(Debug)]
pub struct NewUser<'a> {
    /// The new id.
    pub id: &'a str,
    /// Lower-cased email.
    pub email: &'a str,
    /// Given name.
    pub given_name: Option<&'a str>,
    /// Family name.
    pub family_name: Option<&'a str>,
    /// Picture URL.
    pub picture: Option<&'a str>,
    /// The app's own id for the user.
    pub provided_id: Option<&'a str>,
    /// An organization to add the user to (with the default roles).
    pub organization_code: Option<&'a str>,
}

/// What creating a user did.
#[derive(Debug, PartialEq, Eq)]
pub enum NewUserOutcome {
    /// Created.
    Created,
    /// The email already has an account: nothing was written.
    EmailTaken,
    /// The organization does not exist: nothing was written.
    UnknownOrganization,
}

/// Changes to a user; `None` leaves a field alone, `Some(None)` clears it.
#[derive(Debug, Default)]
pub struct UserPatch {
    /// Given name.
    pub given_name: Option<Option<String>>,
    /// Family name.
    pub family_name: Option<Option<String>>,
    /// Picture URL.
    pub picture: Option<Option<String>>,
    /// The app's own id.
    pub provided_id: Option<Option<String>>,
    /// Suspended.
    pub is_suspended: Option<bool>,
    /// Password reset requested.
    pub is_password_reset_requested: Option<bool>,
}

/// What overriding a flag for a user did. Anything but `Set` wrote nothing.
#[derive(Debug, PartialEq, Eq)]
pub enum UserFlagWrite {
    /// Set.
    Set,
    /// No user has this id.
    NoUser,
    /// No flag has this key.
    NoFlag,
    /// The value is not of the flag's type (named).
    InvalidValue(String),
    /// The flag's `allow_override_level` does not allow user overrides.
    NotAllowed,
}

/// A sign-in session of a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSession {
    /// When the user signed in (Unix seconds).
    pub auth_time: i64,
    /// When it ends.
    pub expires_at: i64,
}

impl Management<'_> {
    /// A page of users ordered by id, after `after`, at most `limit`.
    pub async fn users(
        &self,
        filter: &UserFilter<'_>,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<ManagedUser>, StoreError> {
        let after = after.map(|key| After {
            value: key.to_owned(),
            key: key.to_owned(),
        });
        self.users_sorted(filter, ListOrder::default(), after.as_ref(), limit)
            .await
    }

    /// A page of users in `order` (ties by id), after `after`, at most `limit`.
    pub async fn users_sorted(
        &self,
        filter: &UserFilter<'_>,
        order: ListOrder,
        after: Option<&After>,
        limit: i64,
    ) -> Result<Vec<ManagedUser>, StoreError> {
        crate::store::retry_once(|| async move {
            let expr = user_sort_expr(order.by, "users");
            let (condition, order_by) = keyset(
                &expr,
                "users.id",
                order,
                after.is_some(),
                1,
                2,
                self.dialect,
            );
            let rows = sqlx::query(&format!(
                "SELECT {USER_COLUMNS} FROM users \
             WHERE {condition} AND {} AND {} ORDER BY {order_by} LIMIT $5",
                // Each filter is in the statement only when given, so an email lookup is an
                // index seek rather than a walk of the table in id order.
                equals_or_unused("id", 3, filter.user_id.is_some()),
                equals_or_unused("email", 4, filter.email.is_some()),
            ))
            .bind(after.map(|a| a.value.as_str()))
            .bind(after.map(|a| a.key.as_str()))
            .bind(filter.user_id)
            .bind(filter.email)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
            rows.iter().map(managed_user).collect()
        })
        .await
    }

    /// One user.
    pub async fn user(&self, id: &str) -> Result<Option<ManagedUser>, StoreError> {
        crate::store::retry_once(|| async move {
            let row = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
            row.as_ref().map(managed_user).transpose()
        })
        .await
    }

    /// The organization codes of each of `user_ids` (ordered), in one query per 100 users.
    pub async fn users_org_codes(
        &self,
        user_ids: &[&str],
    ) -> Result<HashMap<String, Vec<String>>, StoreError> {
        crate::store::retry_once(|| async move {
            let mut out: HashMap<String, Vec<String>> = user_ids
                .iter()
                .map(|id| ((*id).to_owned(), Vec::new()))
                .collect();
            // An `IN ($1, …, $n)` list keeps the SQL portable (no array binds on SQLite); chunks
            // keep each statement's parameter count small (pages are at most 500 users).
            for chunk in user_ids.chunks(100) {
                let placeholders = (1..=chunk.len())
                    .map(|i| format!("${i}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                let sql = format!(
                    "SELECT user_id, org_code FROM org_members WHERE user_id IN ({placeholders}) \
                 ORDER BY user_id, org_code"
                );
                let mut query = sqlx::query(&sql);
                for id in chunk {
                    query = query.bind(*id);
                }
                for row in query.fetch_all(&self.pool).await? {
                    let user: String = row.try_get("user_id")?;
                    let code: String = row.try_get("org_code")?;
                    if let Some(codes) = out.get_mut(&user) {
                        codes.push(code);
                    }
                }
            }
            Ok(out)
        })
        .await
    }

    /// Creates a user (and their membership), in one transaction (tried again on another
    /// connection when the first is lost before the commit).
    pub async fn create_user(
        &self,
        user: &NewUser<'_>,
        now: i64,
    ) -> Result<NewUserOutcome, StoreError> {
        crate::store::retry_once(|| self.create_user_once(user, now)).await
    }

    async fn create_user_once(
        &self,
        user: &NewUser<'_>,
        now: i64,
    ) -> Result<NewUserOutcome, StoreError> {
        let mut tx = self.pool.begin().await?;
        if let Some(org) = user.organization_code {
            let exists = sqlx::query("SELECT 1 FROM organizations WHERE code = $1")
                .bind(org)
                .fetch_optional(&mut *tx)
                .await?;
            if exists.is_none() {
                return Ok(NewUserOutcome::UnknownOrganization);
            }
        }
        let done = sqlx::query(
            "INSERT INTO users (id, email, given_name, family_name, picture, provided_id, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7) \
             ON CONFLICT (email) DO NOTHING",
        )
        .bind(user.id)
        .bind(user.email)
        .bind(user.given_name)
        .bind(user.family_name)
        .bind(user.picture)
        .bind(user.provided_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(NewUserOutcome::EmailTaken);
        }
        if let Some(org) = user.organization_code {
            join_as_new_member(&mut tx, org, user.id).await?;
        }
        crate::store::commit(tx).await?;
        Ok(NewUserOutcome::Created)
    }

    /// Applies `patch` to a user; `None` when there is no such user.
    pub async fn update_user(
        &self,
        id: &str,
        patch: &UserPatch,
        now: i64,
    ) -> Result<Option<ManagedUser>, StoreError> {
        crate::store::retry_once(|| async move {
            let mut tx = self.pool.begin().await?;
            let row = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
            let Some(row) = row else { return Ok(None) };
            let mut user = managed_user(&row)?;
            if let Some(v) = &patch.given_name {
                user.given_name.clone_from(v);
            }
            if let Some(v) = &patch.family_name {
                user.family_name.clone_from(v);
            }
            if let Some(v) = &patch.picture {
                user.picture.clone_from(v);
            }
            if let Some(v) = &patch.provided_id {
                user.provided_id.clone_from(v);
            }
            if let Some(v) = patch.is_suspended {
                user.is_suspended = v;
            }
            if let Some(v) = patch.is_password_reset_requested {
                user.is_password_reset_requested = v;
            }
            user.updated_at = now;
            sqlx::query(
            "UPDATE users SET given_name = $2, family_name = $3, picture = $4, provided_id = $5, \
             is_suspended = $6, is_password_reset_requested = $7, updated_at = $8 WHERE id = $1",
        )
        .bind(id)
        .bind(&user.given_name)
        .bind(&user.family_name)
        .bind(&user.picture)
        .bind(&user.provided_id)
        .bind(i64::from(user.is_suspended))
        .bind(i64::from(user.is_password_reset_requested))
        .bind(now)
        .execute(&mut *tx)
        .await?;
            if user.is_suspended {
                // A suspended user is signed out everywhere at once.
                sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
            crate::store::commit(tx).await?;
            Ok(Some(user))
        })
        .await
    }

    /// Replaces a user's password hash (argon2id PHC). `false` when there is no such user.
    pub async fn set_password(
        &self,
        id: &str,
        password_hash: &str,
        now: i64,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE users SET password_hash = $2, is_password_reset_requested = 0, \
             updated_at = $3 WHERE id = $1",
        )
        .bind(id)
        .bind(password_hash)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// A user's live sign-in sessions, newest first.
    pub async fn user_sessions(
        &self,
        user_id: &str,
        now: i64,
    ) -> Result<Vec<UserSession>, StoreError> {
        crate::store::retry_once(|| async move {
            let rows = sqlx::query(
                "SELECT auth_time, expires_at FROM sessions WHERE user_id = $1 AND expires_at > $2 \
             ORDER BY auth_time DESC",
            )
            .bind(user_id)
            .bind(now)
            .fetch_all(&self.pool)
            .await?;
            rows.iter()
                .map(|r| {
                    Ok(UserSession {
                        auth_time: r.try_get("auth_time")?,
                        expires_at: r.try_get("expires_at")?,
                    })
                })
                .collect()
        })
        .await
    }

    /// Overrides flag `key` for a user with `value` (a string of the flag's type), if the
    /// flag's `allow_override_level` allows user overrides; one transaction.
    pub async fn set_user_flag(
        &self,
        user_id: &str,
        key: &str,
        value: &str,
    ) -> Result<UserFlagWrite, StoreError> {
        crate::store::retry_once(|| async move {
            let mut tx = self.pool.begin().await?;
            let row = sqlx::query(
                "SELECT flag_type, allow_override_level FROM feature_flags WHERE key = $1",
            )
            .bind(key)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(row) = row else {
                return Ok(UserFlagWrite::NoFlag);
            };
            let flag_type: String = row.try_get("flag_type")?;
            let level: Option<String> = row.try_get("allow_override_level")?;
            if flag_value(&flag_type, value).is_none() {
                return Ok(UserFlagWrite::InvalidValue(flag_type));
            }
            let user = sqlx::query("SELECT 1 FROM users WHERE id = $1")
                .bind(user_id)
                .fetch_optional(&mut *tx)
                .await?;
            if user.is_none() {
                return Ok(UserFlagWrite::NoUser);
            }
            if !override_allowed(level.as_deref(), OverrideLevel::User) {
                return Ok(UserFlagWrite::NotAllowed);
            }
            sqlx::query(
                "INSERT INTO flag_overrides (flag_key, level, subject, value) \
             VALUES ($1, 'usr', $2, $3) \
             ON CONFLICT (flag_key, level, subject) DO UPDATE SET value = excluded.value",
            )
            .bind(key)
            .bind(user_id)
            .bind(value)
            .execute(&mut *tx)
            .await?;
            crate::store::commit(tx).await?;
            Ok(UserFlagWrite::Set)
        })
        .await
    }

    /// Ends every sign-in session of a user; how many there were.
    pub async fn delete_user_sessions(&self, user_id: &str) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    /// The type of a feature flag (`bool`, `str`, `int`), `None` when there is no such flag.
    pub async fn flag_type(&self, key: &str) -> Result<Option<String>, StoreError> {
        crate::store::retry_once(|| async move {
            let row = sqlx::query("SELECT flag_type FROM feature_flags WHERE key = $1")
                .bind(key)
                .fetch_optional(&self.pool)
                .await?;
            row.map(|r| r.try_get("flag_type"))
                .transpose()
                .map_err(Into::into)
        })
        .await
    }
}
