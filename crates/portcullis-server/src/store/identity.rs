//! Users, organizations, roles, permissions and feature flags, and the effective claims they
//! add up to (docs/kinde-compat.md "Effective claims").

use std::collections::{BTreeMap, BTreeSet};

use sqlx::Row;

use super::Store;
use crate::domain::normalize_email;
use crate::error::StoreError;

/// A user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// The user id (`sub`), `kp_…`.
    pub id: String,
    /// Email, lower-cased.
    pub email: String,
    /// Given name.
    pub given_name: Option<String>,
    /// Family name.
    pub family_name: Option<String>,
    /// Picture URL.
    pub picture: Option<String>,
    /// The id the app gave the user.
    pub provided_id: Option<String>,
    /// argon2id PHC string; `None` when the user has no password.
    pub password_hash: Option<String>,
    /// Suspended users cannot sign in.
    pub is_suspended: bool,
    /// Last profile change (Unix seconds).
    pub updated_at: i64,
}

impl UserRecord {
    /// The display name: given and family name, or whichever of the two the user has.
    pub fn full_name(&self) -> Option<String> {
        match (&self.given_name, &self.family_name) {
            (Some(g), Some(f)) => Some(format!("{g} {f}")),
            (Some(n), None) | (None, Some(n)) => Some(n.clone()),
            (None, None) => None,
        }
    }
}

/// A role as tokens carry it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RoleClaim {
    /// Role id.
    pub id: String,
    /// Role key (what guards check).
    pub key: String,
    /// Display name.
    pub name: String,
}

/// A resolved feature flag: Kinde's type code (`b`, `s`, `i`) and the value.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FlagClaim {
    /// `b`, `s` or `i`.
    pub t: &'static str,
    /// The value, typed.
    pub v: serde_json::Value,
}

/// What a user's tokens say about them in one organization.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EffectiveClaims {
    /// Roles in the organization.
    pub roles: Vec<RoleClaim>,
    /// Permissions: from the roles, and granted directly (sorted, unique).
    pub permissions: Vec<String>,
    /// Flags, resolved user > organization > environment > default.
    pub feature_flags: BTreeMap<String, FlagClaim>,
}

/// The `user_id` of a stored grant (JSON), if it has one.
fn owner(grant: &str) -> Option<String> {
    serde_json::from_str::<serde_json::Value>(grant)
        .ok()?
        .get("user_id")?
        .as_str()
        .map(str::to_owned)
}

/// Converts a flag's stored string value to its typed JSON value.
pub fn flag_value(flag_type: &str, value: &str) -> Option<FlagClaim> {
    match flag_type {
        "bool" => match value {
            "true" => Some(FlagClaim {
                t: "b",
                v: true.into(),
            }),
            "false" => Some(FlagClaim {
                t: "b",
                v: false.into(),
            }),
            _ => None,
        },
        "int" => value.parse::<i64>().ok().map(|i| FlagClaim {
            t: "i",
            v: i.into(),
        }),
        "str" => Some(FlagClaim {
            t: "s",
            v: value.into(),
        }),
        _ => None,
    }
}

impl Store {
    /// Creates or updates a user by email (lower-cased). Returns the user id. A `None`
    /// password hash leaves an existing one in place.
    #[allow(clippy::too_many_arguments)]
    pub async fn upsert_user(
        &self,
        new_id: &str,
        email: &str,
        given_name: Option<&str>,
        family_name: Option<&str>,
        password_hash: Option<&str>,
        now: i64,
    ) -> Result<String, StoreError> {
        let email = normalize_email(email);
        self.insert_user(
            "DO UPDATE SET given_name = excluded.given_name, \
             family_name = excluded.family_name, \
             password_hash = COALESCE(excluded.password_hash, users.password_hash), \
             updated_at = excluded.updated_at",
            new_id,
            &email,
            given_name,
            family_name,
            password_hash,
            now,
        )
        .await?;
        let row = sqlx::query("SELECT id FROM users WHERE email = $1")
            .bind(&email)
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("id")?)
    }

    /// Creates a user, and never touches an existing one: `Ok(false)` when the email (compared
    /// lower-cased) already has an account, whoever won a race for it. Sign-up uses this, so a
    /// repeated or concurrent sign-up can never change another account.
    pub async fn create_user(
        &self,
        id: &str,
        email: &str,
        given_name: Option<&str>,
        family_name: Option<&str>,
        password_hash: Option<&str>,
        now: i64,
    ) -> Result<bool, StoreError> {
        let inserted = self
            .insert_user(
                "DO NOTHING",
                id,
                &normalize_email(email),
                given_name,
                family_name,
                password_hash,
                now,
            )
            .await?;
        Ok(inserted == 1)
    }

    /// Inserts a user row created and updated at `now`; `on_conflict` is what
    /// `ON CONFLICT (email)` does when the (already lower-cased) email has an account. The
    /// number of rows written.
    #[allow(clippy::too_many_arguments)]
    async fn insert_user(
        &self,
        on_conflict: &str,
        id: &str,
        email: &str,
        given_name: Option<&str>,
        family_name: Option<&str>,
        password_hash: Option<&str>,
        now: i64,
    ) -> Result<u64, StoreError> {
        let done = sqlx::query(&format!(
            "INSERT INTO users (id, email, given_name, family_name, password_hash, created_at, \
             updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (email) {on_conflict}"
        ))
        .bind(id)
        .bind(email)
        .bind(given_name)
        .bind(family_name)
        .bind(password_hash)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// Deletes a user and everything that lets them in (docs/security.md cases 47 and 72): their
    /// sign-in sessions end, every refresh-token family issued to them is revoked together with
    /// the access tokens it issued, and their memberships and flag overrides go. One
    /// transaction. `Ok(false)` when there was no such user.
    pub async fn delete_user(&self, user_id: &str, now: i64) -> Result<bool, StoreError> {
        crate::store::retry_once(|| async move {
            // Refresh tokens carry the user inside their grant (JSON): find them with a LIKE
            // prefilter (where `_` and `%` only widen the match), then confirm by parsing.
            let needle = serde_json::to_string(user_id)
                .map_err(|e| StoreError::Config(format!("cannot encode a user id: {e}")))?;
            let pattern = format!("%\"user_id\":{needle}%");
            let mut tx = self.pool.begin().await?;
            let rows = sqlx::query(
                "SELECT family_id, grant_data FROM refresh_tokens \
             WHERE revoked = 0 AND grant_data LIKE $1",
            )
            .bind(&pattern)
            .fetch_all(&mut *tx)
            .await?;
            let mut families = BTreeSet::new();
            for r in &rows {
                let grant: String = r.try_get("grant_data")?;
                if owner(&grant).as_deref() == Some(user_id) {
                    families.insert(r.try_get::<String, _>("family_id")?);
                }
            }
            for family in &families {
                sqlx::query("UPDATE refresh_tokens SET revoked = 1 WHERE family_id = $1")
                    .bind(family)
                    .execute(&mut *tx)
                    .await?;
                // Access tokens live at most 30 days: keep their revocation that long.
                sqlx::query(
                    "INSERT INTO revoked_tokens (jti, expires_at) \
                 SELECT DISTINCT access_jti, CAST($2 AS BIGINT) FROM refresh_tokens \
                 WHERE family_id = $1 AND access_jti IS NOT NULL \
                 ON CONFLICT (jti) DO NOTHING",
                )
                .bind(family)
                .bind(now + 30 * 86_400)
                .execute(&mut *tx)
                .await?;
            }
            // Access tokens from code exchanges without a refresh token (codes are kept a day
            // past expiry, longer than the default access-token lifetime).
            let rows = sqlx::query(
                "SELECT issued_jti, grant_data FROM auth_codes \
             WHERE issued_jti IS NOT NULL AND grant_data LIKE $1",
            )
            .bind(&pattern)
            .fetch_all(&mut *tx)
            .await?;
            for r in &rows {
                let grant: String = r.try_get("grant_data")?;
                if owner(&grant).as_deref() == Some(user_id) {
                    sqlx::query(
                        "INSERT INTO revoked_tokens (jti, expires_at) VALUES ($1, $2) \
                     ON CONFLICT (jti) DO NOTHING",
                    )
                    .bind(r.try_get::<String, _>("issued_jti")?)
                    .bind(now + 30 * 86_400)
                    .execute(&mut *tx)
                    .await?;
                }
            }
            sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM flag_overrides WHERE level = 'usr' AND subject = $1")
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
            // Memberships, their roles and permissions cascade.
            let done = sqlx::query("DELETE FROM users WHERE id = $1")
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
            crate::store::commit(tx).await?;
            if !families.is_empty() {
                tracing::info!(
                    families = families.len(),
                    "refresh tokens of a deleted user revoked"
                );
            }
            Ok(done.rows_affected() == 1)
        })
        .await
    }

    /// The user with this email (compared lower-cased).
    pub async fn user_by_email(&self, email: &str) -> Result<Option<UserRecord>, StoreError> {
        self.user_where("email = $1", &normalize_email(email)).await
    }

    /// The user with this id.
    pub async fn user_by_id(&self, id: &str) -> Result<Option<UserRecord>, StoreError> {
        self.user_where("id = $1", id).await
    }

    async fn user_where(
        &self,
        condition: &str,
        value: &str,
    ) -> Result<Option<UserRecord>, StoreError> {
        super::retry_once(|| self.user_where_once(condition, value)).await
    }

    async fn user_where_once(
        &self,
        condition: &str,
        value: &str,
    ) -> Result<Option<UserRecord>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT id, email, given_name, family_name, picture, provided_id, password_hash, \
             is_suspended, updated_at FROM users WHERE {condition}"
        ))
        .bind(value)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(UserRecord {
                id: r.try_get("id")?,
                email: r.try_get("email")?,
                given_name: r.try_get("given_name")?,
                family_name: r.try_get("family_name")?,
                picture: r.try_get("picture")?,
                provided_id: r.try_get("provided_id")?,
                password_hash: r.try_get("password_hash")?,
                is_suspended: r.try_get::<i64, _>("is_suspended")? != 0,
                updated_at: r.try_get("updated_at")?,
            })
        })
        .transpose()
    }

    /// Creates or renames an organization.
    pub async fn upsert_organization(
        &self,
        code: &str,
        name: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO organizations (code, name, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (code) DO UPDATE SET name = excluded.name",
        )
        .bind(code)
        .bind(name)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Creates or updates a permission by key. Returns its id.
    pub async fn upsert_permission(
        &self,
        new_id: &str,
        key: &str,
        name: &str,
    ) -> Result<String, StoreError> {
        self.upsert_keyed("permissions", new_id, key, name).await
    }

    /// Creates or updates a role by key. Returns its id.
    pub async fn upsert_role(
        &self,
        new_id: &str,
        key: &str,
        name: &str,
    ) -> Result<String, StoreError> {
        self.upsert_keyed("roles", new_id, key, name).await
    }

    async fn upsert_keyed(
        &self,
        table: &str,
        new_id: &str,
        key: &str,
        name: &str,
    ) -> Result<String, StoreError> {
        sqlx::query(&format!(
            "INSERT INTO {table} (id, key, name) VALUES ($1, $2, $3) \
             ON CONFLICT (key) DO UPDATE SET name = excluded.name"
        ))
        .bind(new_id)
        .bind(key)
        .bind(name)
        .execute(&self.pool)
        .await?;
        let row = sqlx::query(&format!("SELECT id FROM {table} WHERE key = $1"))
            .bind(key)
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("id")?)
    }

    /// Sets a role's permissions (by key), replacing earlier ones. Instances seeding one
    /// database at once may run it together: the role's row is locked first, so replacements
    /// of one role's permissions take turns (a delete and another's insert cannot deadlock),
    /// and a pair another has just inserted is left as it is.
    pub async fn set_role_permissions(
        &self,
        role_id: &str,
        permission_keys: &[String],
    ) -> Result<(), StoreError> {
        crate::store::retry_once(|| async move {
            let mut tx = self.pool.begin().await?;
            // A write that changes nothing: it takes the row lock (the write lock on SQLite).
            sqlx::query("UPDATE roles SET name = name WHERE id = $1")
                .bind(role_id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM role_permissions WHERE role_id = $1")
                .bind(role_id)
                .execute(&mut *tx)
                .await?;
            for key in permission_keys {
                let permission: Option<String> =
                    sqlx::query_scalar("SELECT id FROM permissions WHERE key = $1")
                        .bind(key)
                        .fetch_optional(&mut *tx)
                        .await?;
                let Some(permission) = permission else {
                    return Err(StoreError::Config(format!("unknown permission {key:?}")));
                };
                sqlx::query(
                    "INSERT INTO role_permissions (role_id, permission_id) VALUES ($1, $2) \
                 ON CONFLICT (role_id, permission_id) DO NOTHING",
                )
                .bind(role_id)
                .bind(permission)
                .execute(&mut *tx)
                .await?;
            }
            crate::store::commit(tx).await?;
            Ok(())
        })
        .await
    }

    /// Makes the user a member of the organization with exactly these roles and direct
    /// permissions (by key). Instances seeding one database at once may run it together: the
    /// user's row is locked first, so replacements of one user's memberships take turns (a
    /// delete and another's insert cannot deadlock).
    pub async fn set_membership(
        &self,
        org_code: &str,
        user_id: &str,
        role_keys: &[String],
        permission_keys: &[String],
    ) -> Result<(), StoreError> {
        crate::store::retry_once(|| async move {
            let mut tx = self.pool.begin().await?;
            // A write that changes nothing: it takes the row lock (the write lock on SQLite).
            sqlx::query("UPDATE users SET updated_at = updated_at WHERE id = $1")
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO org_members (org_code, user_id) VALUES ($1, $2) \
             ON CONFLICT (org_code, user_id) DO NOTHING",
            )
            .bind(org_code)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
            for table in ["member_roles", "member_permissions"] {
                sqlx::query(&format!(
                    "DELETE FROM {table} WHERE org_code = $1 AND user_id = $2"
                ))
                .bind(org_code)
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
            }
            for (table, column, source, keys) in [
                ("member_roles", "role_id", "roles", role_keys),
                (
                    "member_permissions",
                    "permission_id",
                    "permissions",
                    permission_keys,
                ),
            ] {
                for key in keys {
                    let id: Option<String> =
                        sqlx::query_scalar(&format!("SELECT id FROM {source} WHERE key = $1"))
                            .bind(key)
                            .fetch_optional(&mut *tx)
                            .await?;
                    let Some(id) = id else {
                        return Err(StoreError::Config(format!("unknown {source} key {key:?}")));
                    };
                    sqlx::query(&format!(
                        "INSERT INTO {table} (org_code, user_id, {column}) VALUES ($1, $2, $3) \
                     ON CONFLICT (org_code, user_id, {column}) DO NOTHING"
                    ))
                    .bind(org_code)
                    .bind(user_id)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                }
            }
            crate::store::commit(tx).await?;
            Ok(())
        })
        .await
    }

    /// The organizations a user belongs to (codes, sorted).
    pub async fn user_org_codes(&self, user_id: &str) -> Result<Vec<String>, StoreError> {
        super::retry_once(|| self.user_org_codes_once(user_id)).await
    }

    /// One try of the above.
    async fn user_org_codes_once(&self, user_id: &str) -> Result<Vec<String>, StoreError> {
        let rows =
            sqlx::query("SELECT org_code FROM org_members WHERE user_id = $1 ORDER BY org_code")
                .bind(user_id)
                .fetch_all(&self.pool)
                .await?;
        rows.iter().map(|r| Ok(r.try_get("org_code")?)).collect()
    }

    /// The organizations a user belongs to, as `(code, name)`, sorted by name, then code.
    pub async fn user_organizations(
        &self,
        user_id: &str,
    ) -> Result<Vec<(String, String)>, StoreError> {
        super::retry_once(|| self.user_organizations_once(user_id)).await
    }

    /// One try of the above.
    async fn user_organizations_once(
        &self,
        user_id: &str,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT o.code, o.name FROM org_members m JOIN organizations o ON o.code = m.org_code \
             WHERE m.user_id = $1 ORDER BY o.name, o.code",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("code")?, r.try_get("name")?)))
            .collect()
    }

    /// Creates or updates a feature flag. `flag_type` is `bool`, `str` or `int`, and
    /// `default_value` must parse as that type.
    pub async fn upsert_flag(
        &self,
        key: &str,
        name: &str,
        flag_type: &str,
        default_value: &str,
    ) -> Result<(), StoreError> {
        if flag_value(flag_type, default_value).is_none() {
            return Err(StoreError::Config(format!(
                "flag {key:?}: {default_value:?} is not a valid {flag_type} value"
            )));
        }
        sqlx::query(
            "INSERT INTO feature_flags (key, name, flag_type, default_value) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (key) DO UPDATE SET name = excluded.name, flag_type = excluded.flag_type, \
             default_value = excluded.default_value",
        )
        .bind(key)
        .bind(name)
        .bind(flag_type)
        .bind(default_value)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Overrides a flag at `level` (`env`, `org` or `usr`) for `subject` ('' for `env`).
    pub async fn set_flag_override(
        &self,
        key: &str,
        level: &str,
        subject: &str,
        value: &str,
    ) -> Result<(), StoreError> {
        let row = sqlx::query("SELECT flag_type FROM feature_flags WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::Config(format!("unknown flag {key:?}")))?;
        let flag_type: String = row.try_get("flag_type")?;
        if flag_value(&flag_type, value).is_none() || !matches!(level, "env" | "org" | "usr") {
            return Err(StoreError::Config(format!(
                "flag {key:?}: invalid override {level}/{value:?}"
            )));
        }
        sqlx::query(
            "INSERT INTO flag_overrides (flag_key, level, subject, value) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (flag_key, level, subject) DO UPDATE SET value = excluded.value",
        )
        .bind(key)
        .bind(level)
        .bind(subject)
        .bind(value)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The claims a user's tokens carry for `org_code` (or outside any organization).
    pub async fn effective_claims(
        &self,
        user_id: &str,
        org_code: Option<&str>,
    ) -> Result<EffectiveClaims, StoreError> {
        super::retry_once(|| self.effective_claims_once(user_id, org_code)).await
    }

    /// One try of the above.
    async fn effective_claims_once(
        &self,
        user_id: &str,
        org_code: Option<&str>,
    ) -> Result<EffectiveClaims, StoreError> {
        let mut out = EffectiveClaims::default();
        if let Some(org) = org_code {
            let rows = sqlx::query(
                "SELECT roles.id, roles.key, roles.name FROM member_roles \
                 JOIN roles ON roles.id = member_roles.role_id \
                 WHERE member_roles.org_code = $1 AND member_roles.user_id = $2 ORDER BY roles.key",
            )
            .bind(org)
            .bind(user_id)
            .fetch_all(&self.pool)
            .await?;
            for r in &rows {
                out.roles.push(RoleClaim {
                    id: r.try_get("id")?,
                    key: r.try_get("key")?,
                    name: r.try_get("name")?,
                });
            }
            let rows = sqlx::query(
                "SELECT permissions.key FROM member_roles \
                 JOIN role_permissions ON role_permissions.role_id = member_roles.role_id \
                 JOIN permissions ON permissions.id = role_permissions.permission_id \
                 WHERE member_roles.org_code = $1 AND member_roles.user_id = $2 \
                 UNION \
                 SELECT permissions.key FROM member_permissions \
                 JOIN permissions ON permissions.id = member_permissions.permission_id \
                 WHERE member_permissions.org_code = $1 AND member_permissions.user_id = $2",
            )
            .bind(org)
            .bind(user_id)
            .fetch_all(&self.pool)
            .await?;
            let mut keys = BTreeSet::new();
            for r in &rows {
                keys.insert(r.try_get::<String, _>("key")?);
            }
            out.permissions = keys.into_iter().collect();
        }
        // Flags: the most specific override wins (usr > org > env), else the default.
        let flags =
            sqlx::query("SELECT key, flag_type, default_value FROM feature_flags ORDER BY key")
                .fetch_all(&self.pool)
                .await?;
        let overrides = sqlx::query(
            "SELECT flag_key, level, value FROM flag_overrides \
             WHERE (level = 'env' AND subject = '') OR (level = 'org' AND subject = $1) \
             OR (level = 'usr' AND subject = $2)",
        )
        .bind(org_code)
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        for f in &flags {
            let key: String = f.try_get("key")?;
            let flag_type: String = f.try_get("flag_type")?;
            let mut value: String = f.try_get("default_value")?;
            let mut rank = 0;
            for o in &overrides {
                if o.try_get::<String, _>("flag_key")? != key {
                    continue;
                }
                let level: String = o.try_get("level")?;
                let r = match level.as_str() {
                    "usr" => 3,
                    "org" => 2,
                    _ => 1,
                };
                if r > rank {
                    rank = r;
                    value = o.try_get("value")?;
                }
            }
            if let Some(claim) = flag_value(&flag_type, &value) {
                out.feature_flags.insert(key, claim);
            }
        }
        Ok(out)
    }
}
