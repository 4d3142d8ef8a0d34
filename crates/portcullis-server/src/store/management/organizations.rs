//! Management queries: organizations, their members (with roles and direct permissions) and
//! their feature-flag overrides. Each operation is one transaction; a constraint violation
//! caused by a concurrent change (a user, role or organization deleted meanwhile) comes back
//! as [`OrgOutcome::Conflict`], never as a database error.

use std::collections::{BTreeMap, HashMap};

use sqlx::any::AnyRow;
use sqlx::error::ErrorKind;
use sqlx::{Any, Row, Transaction};

use super::Management;
use super::order::{After, ListOrder, SortBy, keyset, user_sort_expr};
use crate::domain::{OverrideLevel, override_allowed};
use crate::error::StoreError;
use crate::store::{Dialect, Store, flag_value};

/// An organization as the management API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedOrganization {
    /// `org_…`.
    pub code: String,
    /// Display name.
    pub name: String,
    /// The id in the customer's own system.
    pub external_id: Option<String>,
    /// Created (Unix seconds).
    pub created_at: i64,
    /// A unique, human-readable handle.
    pub handle: Option<String>,
    /// Whether anyone may sign up into it (hosted sign-up with its `org_code`).
    pub is_allow_registrations: bool,
}

/// An organization to create.
#[derive(Debug)]
pub struct NewOrganization<'a> {
    /// The new code.
    pub code: &'a str,
    /// Display name.
    pub name: &'a str,
    /// The id in the customer's own system.
    pub external_id: Option<&'a str>,
    /// Feature-flag overrides for it: `(key, value)`, values as strings of the flag's type.
    pub feature_flags: &'a [(String, String)],
    /// A unique, human-readable handle.
    pub handle: Option<&'a str>,
    /// Whether anyone may sign up into it.
    pub is_allow_registrations: bool,
}

/// Changes to an organization; `None` leaves a field alone, `Some(None)` clears it.
#[derive(Debug, Default)]
pub struct OrganizationPatch {
    /// Display name.
    pub name: Option<String>,
    /// The id in the customer's own system.
    pub external_id: Option<Option<String>>,
    /// The handle.
    pub handle: Option<Option<String>>,
    /// Whether anyone may sign up into it.
    pub is_allow_registrations: Option<bool>,
}

/// What an organization operation found. Anything but `Done` wrote nothing.
#[derive(Debug, PartialEq, Eq)]
pub enum OrgOutcome<T> {
    /// Done.
    Done(T),
    /// No organization has this code.
    NoOrganization,
    /// The organization code is already taken.
    CodeTaken,
    /// Another organization has this handle.
    HandleTaken,
    /// The flag's `allow_override_level` does not allow overriding it at this level (flag
    /// key named).
    OverrideNotAllowed(String),
    /// The user is not a member of the organization.
    NotMember,
    /// No user has this id (named).
    UnknownUser(String),
    /// No role has this id or key (named).
    UnknownRole(String),
    /// No permission has this id or key (named).
    UnknownPermission(String),
    /// No feature flag has this key (named).
    UnknownFlag(String),
    /// The value is not of the flag's type (flag key named).
    InvalidFlagValue(String),
    /// The role or permission is already assigned.
    AlreadyAssigned,
    /// The role or permission is not assigned.
    NotAssigned,
    /// A concurrent change made the operation impossible; nothing was written.
    Conflict,
}

/// A member of an organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgMember {
    /// The user's id.
    pub id: String,
    /// Email.
    pub email: String,
    /// Given name.
    pub given_name: Option<String>,
    /// Family name.
    pub family_name: Option<String>,
    /// Picture URL.
    pub picture: Option<String>,
    /// Keys of the user's roles in the organization, sorted.
    pub roles: Vec<String>,
}

/// A role of a member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgRole {
    /// Role id.
    pub id: String,
    /// Role key.
    pub key: String,
    /// Display name.
    pub name: String,
}

/// A permission of a member, with the roles that grant it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgPermission {
    /// Permission id.
    pub id: String,
    /// Permission key.
    pub key: String,
    /// Display name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// `(id, key)` of the member's roles that grant it; empty when only granted directly.
    pub roles: Vec<(String, String)>,
    /// Granted directly (not only through a role).
    pub direct: bool,
}

/// A feature flag as an organization sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgFlag {
    /// The flag's key.
    pub key: String,
    /// `bool`, `str` or `int`.
    pub flag_type: String,
    /// The value for the organization: its override, else the environment's, else the
    /// default.
    pub value: String,
    /// Whether the organization overrides it.
    pub overridden: bool,
}

/// Which members to list: those with any of `roles` (keys) and any of `permissions` (keys,
/// through a role or directly); an empty list does not filter.
#[derive(Debug, Clone, Default)]
pub struct MemberFilter {
    /// Role keys.
    pub roles: Vec<String>,
    /// Permission keys.
    pub permissions: Vec<String>,
}

/// One user of a bulk membership change.
#[derive(Debug, Clone)]
pub struct MemberChange {
    /// The user's id.
    pub user_id: String,
    /// Role keys (`None`: leave alone).
    pub roles: Option<Vec<String>>,
    /// Permission keys granted directly (`None`: leave alone).
    pub permissions: Option<Vec<String>>,
    /// Remove the user from the organization.
    pub remove: bool,
}

/// How a bulk membership change treats roles and permissions of existing members.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberMode {
    /// `POST`: add the listed roles and permissions to what the user has.
    Add,
    /// `PATCH`: the listed roles and permissions replace what the user has (a list that is
    /// absent leaves it alone).
    Replace,
}

/// What a bulk membership change did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MembersChanged {
    /// Users who were not members before.
    pub added: Vec<String>,
    /// Members whose roles or permissions were set.
    pub updated: Vec<String>,
    /// Users removed.
    pub removed: Vec<String>,
}

const ORG_COLUMNS: &str = "code, name, external_id, created_at, handle, is_allow_registrations";

fn managed_org(r: &AnyRow) -> Result<ManagedOrganization, StoreError> {
    Ok(ManagedOrganization {
        code: r.try_get("code")?,
        name: r.try_get("name")?,
        external_id: r.try_get("external_id")?,
        created_at: r.try_get("created_at")?,
        handle: r.try_get("handle")?,
        is_allow_registrations: r.try_get::<i64, _>("is_allow_registrations")? != 0,
    })
}

/// Whether an organization other than `code` has `handle`.
async fn handle_taken(tx: &mut Tx, handle: &str, code: &str) -> Result<bool, StoreError> {
    Ok(
        sqlx::query("SELECT 1 FROM organizations WHERE handle = $1 AND code <> $2")
            .bind(handle)
            .bind(code)
            .fetch_optional(&mut **tx)
            .await?
            .is_some(),
    )
}

/// A unique or foreign-key violation, or PostgreSQL giving up on a transaction that raced
/// another (serialization failure, deadlock): a concurrent change, not a failure of the server.
fn is_constraint(e: &StoreError) -> bool {
    let Some(sqlx::Error::Database(d)) = e.sqlx() else {
        return false;
    };
    matches!(
        d.kind(),
        ErrorKind::UniqueViolation | ErrorKind::ForeignKeyViolation
    ) || matches!(d.code().as_deref(), Some("40001" | "40P01"))
}

/// Runs a write; a constraint violation becomes [`OrgOutcome::Conflict`].
fn conflict_or<T>(result: Result<OrgOutcome<T>, StoreError>) -> Result<OrgOutcome<T>, StoreError> {
    match result {
        Err(e) if is_constraint(&e) => Ok(OrgOutcome::Conflict),
        other => other,
    }
}

pub(super) type Tx = Transaction<'static, Any>;

async fn org_exists(tx: &mut Tx, code: &str) -> Result<bool, StoreError> {
    Ok(sqlx::query("SELECT 1 FROM organizations WHERE code = $1")
        .bind(code)
        .fetch_optional(&mut **tx)
        .await?
        .is_some())
}

async fn is_member(tx: &mut Tx, org: &str, user: &str) -> Result<bool, StoreError> {
    Ok(
        sqlx::query("SELECT 1 FROM org_members WHERE org_code = $1 AND user_id = $2")
            .bind(org)
            .bind(user)
            .fetch_optional(&mut **tx)
            .await?
            .is_some(),
    )
}

/// The id of the row of `table` (`roles`, `permissions`) whose `column` is `value`.
async fn id_by(
    tx: &mut Tx,
    table: &str,
    column: &str,
    value: &str,
) -> Result<Option<String>, StoreError> {
    let row = sqlx::query(&format!("SELECT id FROM {table} WHERE {column} = $1"))
        .bind(value)
        .fetch_optional(&mut **tx)
        .await?;
    Ok(row.map(|r| r.try_get("id")).transpose()?)
}

/// Where the organization and membership checks of a member operation land.
async fn member_check<T>(
    tx: &mut Tx,
    org: &str,
    user: &str,
) -> Result<Option<OrgOutcome<T>>, StoreError> {
    if !org_exists(tx, org).await? {
        return Ok(Some(OrgOutcome::NoOrganization));
    }
    if !is_member(tx, org, user).await? {
        return Ok(Some(OrgOutcome::NotMember));
    }
    Ok(None)
}

/// Members (`users` joined with `org_members`) of `org` in `order` after `after`, at most
/// `limit`, with their role keys. `filter` is SQL appended to the `WHERE` clause; its
/// parameters start at `$5` and are bound from `binds` in order.
#[allow(clippy::too_many_arguments)]
async fn members_page(
    tx: &mut Tx,
    dialect: Dialect,
    org: &str,
    filter: &str,
    binds: &[&str],
    order: ListOrder,
    after: Option<&After>,
    limit: i64,
) -> Result<Vec<OrgMember>, StoreError> {
    let expr = user_sort_expr(order.by, "users");
    let (condition, order_by) = keyset(&expr, "users.id", order, after.is_some(), 2, 3, dialect);
    let sql = format!(
        "SELECT users.id, users.email, users.given_name, users.family_name, users.picture \
         FROM org_members JOIN users ON users.id = org_members.user_id \
         WHERE org_members.org_code = $1 AND {condition} {filter} \
         ORDER BY {order_by} LIMIT $4"
    );
    let mut query = sqlx::query(&sql)
        .bind(org)
        .bind(after.map(|a| a.value.as_str()))
        .bind(after.map(|a| a.key.as_str()))
        .bind(limit);
    for value in binds {
        query = query.bind(*value);
    }
    let rows = query.fetch_all(&mut **tx).await?;
    let mut members = rows
        .iter()
        .map(|r| {
            Ok(OrgMember {
                id: r.try_get("id")?,
                email: r.try_get("email")?,
                given_name: r.try_get("given_name")?,
                family_name: r.try_get("family_name")?,
                picture: r.try_get("picture")?,
                roles: Vec::new(),
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    if members.is_empty() {
        return Ok(members);
    }
    // The roles of the whole page in one query.
    let marks: Vec<String> = (0..members.len()).map(|i| format!("${}", i + 2)).collect();
    let sql = format!(
        "SELECT member_roles.user_id, roles.key FROM member_roles \
         JOIN roles ON roles.id = member_roles.role_id \
         WHERE member_roles.org_code = $1 AND member_roles.user_id IN ({}) \
         ORDER BY member_roles.user_id, roles.key",
        marks.join(", ")
    );
    let mut query = sqlx::query(&sql).bind(org);
    for m in &members {
        query = query.bind(m.id.as_str());
    }
    let rows = query.fetch_all(&mut **tx).await?;
    let mut roles: HashMap<String, Vec<String>> = HashMap::new();
    for r in &rows {
        roles
            .entry(r.try_get("user_id")?)
            .or_default()
            .push(r.try_get("key")?);
    }
    for m in &mut members {
        m.roles = roles.remove(&m.id).unwrap_or_default();
    }
    Ok(members)
}

/// Makes `user` a member of `org` unless they are one already; a new member gets the default
/// roles (`roles.is_default_role`), as Kinde gives them. Whether `user` joined now. Every path
/// that adds members goes through here, so none can forget the default roles.
pub(super) async fn join_as_new_member(
    tx: &mut Tx,
    org: &str,
    user: &str,
) -> Result<bool, StoreError> {
    let joined = sqlx::query(
        "INSERT INTO org_members (org_code, user_id) VALUES ($1, $2) \
         ON CONFLICT (org_code, user_id) DO NOTHING",
    )
    .bind(org)
    .bind(user)
    .execute(&mut **tx)
    .await?
    .rows_affected()
        > 0;
    if joined {
        sqlx::query(
            "INSERT INTO member_roles (org_code, user_id, role_id) \
             SELECT $1, $2, id FROM roles WHERE is_default_role <> 0 \
             ON CONFLICT (org_code, user_id, role_id) DO NOTHING",
        )
        .bind(org)
        .bind(user)
        .execute(&mut **tx)
        .await?;
    }
    Ok(joined)
}

impl Management<'_> {
    /// A page of organizations ordered by code, after `after`, at most `limit`.
    pub async fn organizations(
        &self,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<ManagedOrganization>, StoreError> {
        let after = after.map(|k| After {
            value: k.to_owned(),
            key: k.to_owned(),
        });
        self.organizations_sorted(ListOrder::default(), after.as_ref(), limit)
            .await
    }

    /// A page in `order` (by name or by code; ties by code), after `after`, at most `limit`.
    pub async fn organizations_sorted(
        &self,
        order: ListOrder,
        after: Option<&After>,
        limit: i64,
    ) -> Result<Vec<ManagedOrganization>, StoreError> {
        crate::store::retry_once(|| async move {
            let expr = match order.by {
                SortBy::Name => "name",
                SortBy::Key | SortBy::Email => "code",
            };
            let (condition, order_by) =
                keyset(expr, "code", order, after.is_some(), 1, 2, self.dialect);
            let rows = sqlx::query(&format!(
            "SELECT {ORG_COLUMNS} FROM organizations WHERE {condition} ORDER BY {order_by} LIMIT $3"
        ))
        .bind(after.map(|a| a.value.as_str()))
        .bind(after.map(|a| a.key.as_str()))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
            rows.iter().map(managed_org).collect()
        })
        .await
    }

    /// One organization.
    pub async fn organization(
        &self,
        code: &str,
    ) -> Result<Option<ManagedOrganization>, StoreError> {
        crate::store::retry_once(|| async move {
            let row = sqlx::query(&format!(
                "SELECT {ORG_COLUMNS} FROM organizations WHERE code = $1"
            ))
            .bind(code)
            .fetch_optional(&self.pool)
            .await?;
            row.as_ref().map(managed_org).transpose()
        })
        .await
    }

    /// Creates an organization with its flag overrides, in one transaction.
    pub async fn create_organization(
        &self,
        org: &NewOrganization<'_>,
        now: i64,
    ) -> Result<OrgOutcome<()>, StoreError> {
        conflict_or(self.create_organization_tx(org, now).await)
    }

    async fn create_organization_tx(
        &self,
        org: &NewOrganization<'_>,
        now: i64,
    ) -> Result<OrgOutcome<()>, StoreError> {
        crate::store::retry_once(|| async move {
            let mut tx = self.pool.begin().await?;
            let mut flags = Vec::with_capacity(org.feature_flags.len());
            for (key, value) in org.feature_flags {
                let row = sqlx::query(
                    "SELECT flag_type, allow_override_level FROM feature_flags WHERE key = $1",
                )
                .bind(key)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(row) = row else {
                    return Ok(OrgOutcome::UnknownFlag(key.clone()));
                };
                let flag_type: String = row.try_get("flag_type")?;
                let level: Option<String> = row.try_get("allow_override_level")?;
                if !override_allowed(level.as_deref(), OverrideLevel::Org) {
                    return Ok(OrgOutcome::OverrideNotAllowed(key.clone()));
                }
                if flag_value(&flag_type, value).is_none() {
                    return Ok(OrgOutcome::InvalidFlagValue(key.clone()));
                }
                flags.push((key, value));
            }
            if let Some(handle) = org.handle
                && handle_taken(&mut tx, handle, org.code).await?
            {
                return Ok(OrgOutcome::HandleTaken);
            }
            let done = sqlx::query(
                "INSERT INTO organizations (code, name, external_id, created_at, handle, \
             is_allow_registrations) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (code) DO NOTHING",
            )
            .bind(org.code)
            .bind(org.name)
            .bind(org.external_id)
            .bind(now)
            .bind(org.handle)
            .bind(i64::from(org.is_allow_registrations))
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 0 {
                return Ok(OrgOutcome::CodeTaken);
            }
            for (key, value) in flags {
                sqlx::query(
                    "INSERT INTO flag_overrides (flag_key, level, subject, value) \
                 VALUES ($1, 'org', $2, $3) \
                 ON CONFLICT (flag_key, level, subject) DO UPDATE SET value = excluded.value",
                )
                .bind(key)
                .bind(org.code)
                .bind(value)
                .execute(&mut *tx)
                .await?;
            }
            crate::store::commit(tx).await?;
            Ok(OrgOutcome::Done(()))
        })
        .await
    }

    /// Applies `patch` to an organization: [`OrgOutcome::NoOrganization`] when there is no such
    /// organization, [`OrgOutcome::HandleTaken`] when another one has the new handle.
    pub async fn update_organization(
        &self,
        code: &str,
        patch: &OrganizationPatch,
    ) -> Result<OrgOutcome<ManagedOrganization>, StoreError> {
        conflict_or(self.update_organization_tx(code, patch).await)
    }

    async fn update_organization_tx(
        &self,
        code: &str,
        patch: &OrganizationPatch,
    ) -> Result<OrgOutcome<ManagedOrganization>, StoreError> {
        crate::store::retry_once(|| async move {
            let mut tx = self.pool.begin().await?;
            let row = sqlx::query(&format!(
                "SELECT {ORG_COLUMNS} FROM organizations WHERE code = $1"
            ))
            .bind(code)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(row) = row else {
                return Ok(OrgOutcome::NoOrganization);
            };
            let mut org = managed_org(&row)?;
            if let Some(name) = &patch.name {
                org.name.clone_from(name);
            }
            if let Some(external_id) = &patch.external_id {
                org.external_id.clone_from(external_id);
            }
            if let Some(handle) = &patch.handle {
                if let Some(h) = handle
                    && handle_taken(&mut tx, h, code).await?
                {
                    return Ok(OrgOutcome::HandleTaken);
                }
                org.handle.clone_from(handle);
            }
            if let Some(allow) = patch.is_allow_registrations {
                org.is_allow_registrations = allow;
            }
            sqlx::query(
                "UPDATE organizations SET name = $2, external_id = $3, handle = $4, \
             is_allow_registrations = $5 WHERE code = $1",
            )
            .bind(code)
            .bind(&org.name)
            .bind(&org.external_id)
            .bind(&org.handle)
            .bind(i64::from(org.is_allow_registrations))
            .execute(&mut *tx)
            .await?;
            crate::store::commit(tx).await?;
            Ok(OrgOutcome::Done(org))
        })
        .await
    }

    /// Deletes an organization, its memberships (with their roles and permissions) and its
    /// flag overrides. `false` when there is no such organization. Tokens already issued keep
    /// their `org_code` until they expire; refreshed ones carry no roles or permissions of it.
    pub async fn delete_organization(&self, code: &str) -> Result<bool, StoreError> {
        crate::store::retry_once(|| async move {
            let mut tx = self.pool.begin().await?;
            for sql in [
                "DELETE FROM member_roles WHERE org_code = $1",
                "DELETE FROM member_permissions WHERE org_code = $1",
                "DELETE FROM org_members WHERE org_code = $1",
                "DELETE FROM flag_overrides WHERE level = 'org' AND subject = $1",
            ] {
                sqlx::query(sql).bind(code).execute(&mut *tx).await?;
            }
            let done = sqlx::query("DELETE FROM organizations WHERE code = $1")
                .bind(code)
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

    /// A page of an organization's members ordered by user id; `None` when there is no such
    /// organization. With `filter`, only members who have any of its roles and any of its
    /// permissions (through a role or directly).
    pub async fn org_members(
        &self,
        org: &str,
        filter: &MemberFilter,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Option<Vec<OrgMember>>, StoreError> {
        let after = after.map(|k| After {
            value: k.to_owned(),
            key: k.to_owned(),
        });
        self.org_members_sorted(org, filter, ListOrder::default(), after.as_ref(), limit)
            .await
    }

    /// [`Management::org_members`] in `order` (by name, email or user id; ties by user id).
    pub async fn org_members_sorted(
        &self,
        org: &str,
        filter: &MemberFilter,
        order: ListOrder,
        after: Option<&After>,
        limit: i64,
    ) -> Result<Option<Vec<OrgMember>>, StoreError> {
        crate::store::retry_once(|| async move {
        let mut tx = self.pool.begin().await?;
        if !org_exists(&mut tx, org).await? {
            return Ok(None);
        }
        let mut binds: Vec<&str> = Vec::new();
        let mut sql = String::new();
        if !filter.roles.is_empty() {
            let mut marks = Vec::new();
            for key in &filter.roles {
                binds.push(key);
                marks.push(format!("${}", 4 + binds.len()));
            }
            sql.push_str(&format!(
                " AND EXISTS (SELECT 1 FROM member_roles AS fr JOIN roles AS r ON r.id = fr.role_id \
                 WHERE fr.org_code = org_members.org_code AND fr.user_id = org_members.user_id \
                 AND r.key IN ({}))",
                marks.join(", ")
            ));
        }
        if !filter.permissions.is_empty() {
            let mut marks = Vec::new();
            for key in &filter.permissions {
                binds.push(key);
                marks.push(format!("${}", 4 + binds.len()));
            }
            let marks = marks.join(", ");
            sql.push_str(&format!(
                " AND (EXISTS (SELECT 1 FROM member_permissions AS fp \
                 JOIN permissions AS p ON p.id = fp.permission_id \
                 WHERE fp.org_code = org_members.org_code AND fp.user_id = org_members.user_id \
                 AND p.key IN ({marks})) \
                 OR EXISTS (SELECT 1 FROM member_roles AS fr2 \
                 JOIN role_permissions AS rp ON rp.role_id = fr2.role_id \
                 JOIN permissions AS p2 ON p2.id = rp.permission_id \
                 WHERE fr2.org_code = org_members.org_code AND fr2.user_id = org_members.user_id \
                 AND p2.key IN ({marks})))"
            ));
        }
        let members = members_page(
            &mut tx,
            self.dialect,
            org,
            &sql,
            &binds,
            order,
            after,
            limit,
        )
        .await?;
        crate::store::commit(tx).await?;
        Ok(Some(members))
    }).await
    }

    /// A page of the members who have role `role_id` in an organization, ordered by user id.
    pub async fn org_role_members(
        &self,
        org: &str,
        role_id: &str,
        after: Option<&str>,
        limit: i64,
    ) -> Result<OrgOutcome<Vec<OrgMember>>, StoreError> {
        crate::store::retry_once(|| async move {
            let mut tx = self.pool.begin().await?;
            if !org_exists(&mut tx, org).await? {
                return Ok(OrgOutcome::NoOrganization);
            }
            if id_by(&mut tx, "roles", "id", role_id).await?.is_none() {
                return Ok(OrgOutcome::UnknownRole(role_id.to_owned()));
            }
            let filter = "AND EXISTS (SELECT 1 FROM member_roles AS chosen \
                      WHERE chosen.org_code = org_members.org_code \
                      AND chosen.user_id = org_members.user_id AND chosen.role_id = $5)";
            let after = after.map(|k| After {
                value: k.to_owned(),
                key: k.to_owned(),
            });
            let members = members_page(
                &mut tx,
                self.dialect,
                org,
                filter,
                &[role_id],
                ListOrder::default(),
                after.as_ref(),
                limit,
            )
            .await?;
            crate::store::commit(tx).await?;
            Ok(OrgOutcome::Done(members))
        })
        .await
    }

    /// Adds, changes or removes members, all or nothing: an unknown user, role or permission
    /// writes nothing.
    pub async fn change_org_members(
        &self,
        org: &str,
        changes: &[MemberChange],
        mode: MemberMode,
    ) -> Result<OrgOutcome<MembersChanged>, StoreError> {
        conflict_or(self.change_members_tx(org, changes, mode).await)
    }

    async fn change_members_tx(
        &self,
        org: &str,
        changes: &[MemberChange],
        mode: MemberMode,
    ) -> Result<OrgOutcome<MembersChanged>, StoreError> {
        crate::store::retry_once(|| async move {
            let mut tx = self.pool.begin().await?;
            if !org_exists(&mut tx, org).await? {
                return Ok(OrgOutcome::NoOrganization);
            }
            // Resolve every reference first: nothing is written unless all of them exist.
            let mut role_ids: HashMap<&str, String> = HashMap::new();
            let mut permission_ids: HashMap<&str, String> = HashMap::new();
            for change in changes {
                let user = sqlx::query("SELECT 1 FROM users WHERE id = $1")
                    .bind(&change.user_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                if user.is_none() {
                    return Ok(OrgOutcome::UnknownUser(change.user_id.clone()));
                }
                for key in change.roles.iter().flatten() {
                    if role_ids.contains_key(key.as_str()) {
                        continue;
                    }
                    let Some(id) = id_by(&mut tx, "roles", "key", key).await? else {
                        return Ok(OrgOutcome::UnknownRole(key.clone()));
                    };
                    role_ids.insert(key, id);
                }
                for key in change.permissions.iter().flatten() {
                    if permission_ids.contains_key(key.as_str()) {
                        continue;
                    }
                    let Some(id) = id_by(&mut tx, "permissions", "key", key).await? else {
                        return Ok(OrgOutcome::UnknownPermission(key.clone()));
                    };
                    permission_ids.insert(key, id);
                }
            }
            let mut out = MembersChanged::default();
            for change in changes {
                let user = change.user_id.as_str();
                if change.remove {
                    let done =
                        sqlx::query("DELETE FROM org_members WHERE org_code = $1 AND user_id = $2")
                            .bind(org)
                            .bind(user)
                            .execute(&mut *tx)
                            .await?;
                    if done.rows_affected() > 0 {
                        out.removed.push(change.user_id.clone());
                    }
                    continue;
                }
                let joined = join_as_new_member(&mut tx, org, user).await?;
                for (table, column, keys, ids) in [
                    ("member_roles", "role_id", &change.roles, &role_ids),
                    (
                        "member_permissions",
                        "permission_id",
                        &change.permissions,
                        &permission_ids,
                    ),
                ] {
                    let Some(keys) = keys else { continue };
                    if mode == MemberMode::Replace {
                        sqlx::query(&format!(
                            "DELETE FROM {table} WHERE org_code = $1 AND user_id = $2"
                        ))
                        .bind(org)
                        .bind(user)
                        .execute(&mut *tx)
                        .await?;
                    }
                    for key in keys {
                        let Some(id) = ids.get(key.as_str()) else {
                            return Ok(OrgOutcome::Conflict);
                        };
                        sqlx::query(&format!(
                            "INSERT INTO {table} (org_code, user_id, {column}) VALUES ($1, $2, $3) \
                         ON CONFLICT (org_code, user_id, {column}) DO NOTHING"
                        ))
                        .bind(org)
                        .bind(user)
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                    }
                }
                if joined {
                    out.added.push(change.user_id.clone());
                } else {
                    out.updated.push(change.user_id.clone());
                }
            }
            crate::store::commit(tx).await?;
            Ok(OrgOutcome::Done(out))
        })
        .await
    }

    /// Removes a member (with their roles and permissions in the organization).
    pub async fn remove_org_member(
        &self,
        org: &str,
        user: &str,
    ) -> Result<OrgOutcome<()>, StoreError> {
        crate::store::retry_once(|| async move {
            let mut tx = self.pool.begin().await?;
            if let Some(outcome) = member_check(&mut tx, org, user).await? {
                return Ok(outcome);
            }
            for table in ["member_roles", "member_permissions", "org_members"] {
                sqlx::query(&format!(
                    "DELETE FROM {table} WHERE org_code = $1 AND user_id = $2"
                ))
                .bind(org)
                .bind(user)
                .execute(&mut *tx)
                .await?;
            }
            crate::store::commit(tx).await?;
            Ok(OrgOutcome::Done(()))
        })
        .await
    }

    /// A member's roles in an organization, by key.
    pub async fn org_member_roles(
        &self,
        org: &str,
        user: &str,
    ) -> Result<OrgOutcome<Vec<OrgRole>>, StoreError> {
        crate::store::retry_once(|| async move {
            let mut tx = self.pool.begin().await?;
            if let Some(outcome) = member_check(&mut tx, org, user).await? {
                return Ok(outcome);
            }
            let rows = sqlx::query(
                "SELECT roles.id, roles.key, roles.name FROM member_roles \
             JOIN roles ON roles.id = member_roles.role_id \
             WHERE member_roles.org_code = $1 AND member_roles.user_id = $2 ORDER BY roles.key",
            )
            .bind(org)
            .bind(user)
            .fetch_all(&mut *tx)
            .await?;
            let roles = rows
                .iter()
                .map(|r| {
                    Ok(OrgRole {
                        id: r.try_get("id")?,
                        key: r.try_get("key")?,
                        name: r.try_get("name")?,
                    })
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
            crate::store::commit(tx).await?;
            Ok(OrgOutcome::Done(roles))
        })
        .await
    }

    /// Gives a member a role (by id).
    pub async fn add_org_member_role(
        &self,
        org: &str,
        user: &str,
        role_id: &str,
    ) -> Result<OrgOutcome<()>, StoreError> {
        conflict_or(
            self.grant_tx(org, user, "roles", "member_roles", "role_id", role_id)
                .await,
        )
    }

    /// Grants a member a permission directly (by id).
    pub async fn add_org_member_permission(
        &self,
        org: &str,
        user: &str,
        permission_id: &str,
    ) -> Result<OrgOutcome<()>, StoreError> {
        conflict_or(
            self.grant_tx(
                org,
                user,
                "permissions",
                "member_permissions",
                "permission_id",
                permission_id,
            )
            .await,
        )
    }

    async fn grant_tx(
        &self,
        org: &str,
        user: &str,
        source: &str,
        table: &str,
        column: &str,
        id: &str,
    ) -> Result<OrgOutcome<()>, StoreError> {
        crate::store::retry_once(|| async move {
            let mut tx = self.pool.begin().await?;
            if let Some(outcome) = member_check(&mut tx, org, user).await? {
                return Ok(outcome);
            }
            if id_by(&mut tx, source, "id", id).await?.is_none() {
                return Ok(if source == "roles" {
                    OrgOutcome::UnknownRole(id.to_owned())
                } else {
                    OrgOutcome::UnknownPermission(id.to_owned())
                });
            }
            let done = sqlx::query(&format!(
                "INSERT INTO {table} (org_code, user_id, {column}) VALUES ($1, $2, $3) \
             ON CONFLICT (org_code, user_id, {column}) DO NOTHING"
            ))
            .bind(org)
            .bind(user)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 0 {
                return Ok(OrgOutcome::AlreadyAssigned);
            }
            crate::store::commit(tx).await?;
            Ok(OrgOutcome::Done(()))
        })
        .await
    }

    /// Takes a role (by id) from a member.
    pub async fn remove_org_member_role(
        &self,
        org: &str,
        user: &str,
        role_id: &str,
    ) -> Result<OrgOutcome<()>, StoreError> {
        self.revoke_tx(org, user, "member_roles", "role_id", role_id)
            .await
    }

    /// Takes a directly granted permission (by id) from a member.
    pub async fn remove_org_member_permission(
        &self,
        org: &str,
        user: &str,
        permission_id: &str,
    ) -> Result<OrgOutcome<()>, StoreError> {
        self.revoke_tx(
            org,
            user,
            "member_permissions",
            "permission_id",
            permission_id,
        )
        .await
    }

    async fn revoke_tx(
        &self,
        org: &str,
        user: &str,
        table: &str,
        column: &str,
        id: &str,
    ) -> Result<OrgOutcome<()>, StoreError> {
        crate::store::retry_once(|| async move {
            let mut tx = self.pool.begin().await?;
            if let Some(outcome) = member_check(&mut tx, org, user).await? {
                return Ok(outcome);
            }
            let done = sqlx::query(&format!(
                "DELETE FROM {table} WHERE org_code = $1 AND user_id = $2 AND {column} = $3"
            ))
            .bind(org)
            .bind(user)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 0 {
                return Ok(OrgOutcome::NotAssigned);
            }
            crate::store::commit(tx).await?;
            Ok(OrgOutcome::Done(()))
        })
        .await
    }

    /// A member's permissions in an organization, from their roles and granted directly,
    /// ordered by key.
    pub async fn org_member_permissions(
        &self,
        org: &str,
        user: &str,
    ) -> Result<OrgOutcome<Vec<OrgPermission>>, StoreError> {
        crate::store::retry_once(|| async move {
            let mut tx = self.pool.begin().await?;
            if let Some(outcome) = member_check(&mut tx, org, user).await? {
                return Ok(outcome);
            }
            let rows = sqlx::query(
            "SELECT permissions.id, permissions.key, permissions.name, permissions.description, \
             roles.id AS role_id, roles.key AS role_key FROM member_roles \
             JOIN roles ON roles.id = member_roles.role_id \
             JOIN role_permissions ON role_permissions.role_id = member_roles.role_id \
             JOIN permissions ON permissions.id = role_permissions.permission_id \
             WHERE member_roles.org_code = $1 AND member_roles.user_id = $2 \
             ORDER BY roles.key",
        )
        .bind(org)
        .bind(user)
        .fetch_all(&mut *tx)
        .await?;
            let direct = sqlx::query(
                "SELECT permissions.id, permissions.key, permissions.name, permissions.description \
             FROM member_permissions \
             JOIN permissions ON permissions.id = member_permissions.permission_id \
             WHERE member_permissions.org_code = $1 AND member_permissions.user_id = $2",
            )
            .bind(org)
            .bind(user)
            .fetch_all(&mut *tx)
            .await?;
            crate::store::commit(tx).await?;
            let mut out: BTreeMap<String, OrgPermission> = BTreeMap::new();
            let permission = |r: &AnyRow| -> Result<OrgPermission, StoreError> {
                Ok(OrgPermission {
                    id: r.try_get("id")?,
                    key: r.try_get("key")?,
                    name: r.try_get("name")?,
                    description: r.try_get("description")?,
                    roles: Vec::new(),
                    direct: false,
                })
            };
            for r in &rows {
                let p = permission(r)?;
                let entry = out.entry(p.key.clone()).or_insert(p);
                entry
                    .roles
                    .push((r.try_get("role_id")?, r.try_get("role_key")?));
            }
            for r in &direct {
                let p = permission(r)?;
                out.entry(p.key.clone()).or_insert(p).direct = true;
            }
            Ok(OrgOutcome::Done(out.into_values().collect()))
        })
        .await
    }

    /// Every feature flag with its value for the organization (its override, else the
    /// environment's, else the default), ordered by key; `None` when there is no such
    /// organization.
    pub async fn org_flags(&self, org: &str) -> Result<Option<Vec<OrgFlag>>, StoreError> {
        crate::store::retry_once(|| async move {
            let mut tx = self.pool.begin().await?;
            if !org_exists(&mut tx, org).await? {
                return Ok(None);
            }
            let rows = sqlx::query(
                "SELECT feature_flags.key, feature_flags.flag_type, feature_flags.default_value, \
             org.value AS org_value, env.value AS env_value FROM feature_flags \
             LEFT JOIN flag_overrides AS org ON org.flag_key = feature_flags.key \
             AND org.level = 'org' AND org.subject = $1 \
             LEFT JOIN flag_overrides AS env ON env.flag_key = feature_flags.key \
             AND env.level = 'env' AND env.subject = '' \
             ORDER BY feature_flags.key",
            )
            .bind(org)
            .fetch_all(&mut *tx)
            .await?;
            crate::store::commit(tx).await?;
            rows.iter()
                .map(|r| {
                    let default: String = r.try_get("default_value")?;
                    let org_value: Option<String> = r.try_get("org_value")?;
                    let env_value: Option<String> = r.try_get("env_value")?;
                    Ok(OrgFlag {
                        key: r.try_get("key")?,
                        flag_type: r.try_get("flag_type")?,
                        overridden: org_value.is_some(),
                        value: org_value.or(env_value).unwrap_or(default),
                    })
                })
                .collect::<Result<Vec<_>, StoreError>>()
                .map(Some)
        })
        .await
    }

    /// Sets an organization's override of a flag.
    pub async fn set_org_flag(
        &self,
        org: &str,
        key: &str,
        value: &str,
    ) -> Result<OrgOutcome<()>, StoreError> {
        conflict_or(self.set_org_flag_tx(org, key, value).await)
    }

    async fn set_org_flag_tx(
        &self,
        org: &str,
        key: &str,
        value: &str,
    ) -> Result<OrgOutcome<()>, StoreError> {
        crate::store::retry_once(|| async move {
            let mut tx = self.pool.begin().await?;
            if !org_exists(&mut tx, org).await? {
                return Ok(OrgOutcome::NoOrganization);
            }
            let row = sqlx::query(
                "SELECT flag_type, allow_override_level FROM feature_flags WHERE key = $1",
            )
            .bind(key)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(row) = row else {
                return Ok(OrgOutcome::UnknownFlag(key.to_owned()));
            };
            let flag_type: String = row.try_get("flag_type")?;
            let level: Option<String> = row.try_get("allow_override_level")?;
            if !override_allowed(level.as_deref(), OverrideLevel::Org) {
                return Ok(OrgOutcome::OverrideNotAllowed(key.to_owned()));
            }
            if flag_value(&flag_type, value).is_none() {
                return Ok(OrgOutcome::InvalidFlagValue(key.to_owned()));
            }
            sqlx::query(
                "INSERT INTO flag_overrides (flag_key, level, subject, value) \
             VALUES ($1, 'org', $2, $3) \
             ON CONFLICT (flag_key, level, subject) DO UPDATE SET value = excluded.value",
            )
            .bind(key)
            .bind(org)
            .bind(value)
            .execute(&mut *tx)
            .await?;
            crate::store::commit(tx).await?;
            Ok(OrgOutcome::Done(()))
        })
        .await
    }

    /// Removes an organization's override of one flag (`key`), or of every flag (`None`).
    /// Removing an override that does not exist is no error.
    pub async fn delete_org_flags(
        &self,
        org: &str,
        key: Option<&str>,
    ) -> Result<OrgOutcome<()>, StoreError> {
        crate::store::retry_once(|| async move {
            let mut tx = self.pool.begin().await?;
            if !org_exists(&mut tx, org).await? {
                return Ok(OrgOutcome::NoOrganization);
            }
            if let Some(key) = key {
                let flag = sqlx::query("SELECT 1 FROM feature_flags WHERE key = $1")
                    .bind(key)
                    .fetch_optional(&mut *tx)
                    .await?;
                if flag.is_none() {
                    return Ok(OrgOutcome::UnknownFlag(key.to_owned()));
                }
            }
            sqlx::query(
                "DELETE FROM flag_overrides WHERE level = 'org' AND subject = $1 \
             AND ($2 IS NULL OR flag_key = $2)",
            )
            .bind(org)
            .bind(key)
            .execute(&mut *tx)
            .await?;
            crate::store::commit(tx).await?;
            Ok(OrgOutcome::Done(()))
        })
        .await
    }
}

impl Store {
    /// An organization made at sign-in (`is_create_org`): creates `code` named `name` with
    /// `user` as its first member, holding the default roles (`is_default_role`) as every new
    /// member does — in one transaction, so a failure leaves no memberless organization.
    pub async fn create_organization_for(
        &self,
        code: &str,
        name: &str,
        user: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        crate::store::retry_once(|| async move {
            let mut tx = self.pool.begin().await?;
            sqlx::query("INSERT INTO organizations (code, name, created_at) VALUES ($1, $2, $3)")
                .bind(code)
                .bind(name)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            join_as_new_member(&mut tx, code, user).await?;
            crate::store::commit(tx).await?;
            Ok(())
        })
        .await
    }

    /// Hosted sign-up into organization `org`: when it allows registrations
    /// (`is_allow_registrations`), `user` becomes a member with the default roles (a member
    /// already is left as they are). Whether `user` is a member afterwards; `false` (nothing
    /// written) when there is no such organization or it does not allow registrations.
    pub async fn join_open_organization(&self, org: &str, user: &str) -> Result<bool, StoreError> {
        crate::store::retry_once(|| async move {
            let mut tx = self.pool.begin().await?;
            let open = sqlx::query(
                "SELECT 1 FROM organizations WHERE code = $1 AND is_allow_registrations <> 0",
            )
            .bind(org)
            .fetch_optional(&mut *tx)
            .await?;
            if open.is_none() {
                return is_member(&mut tx, org, user).await;
            }
            join_as_new_member(&mut tx, org, user).await?;
            crate::store::commit(tx).await?;
            Ok(true)
        })
        .await
    }
}
