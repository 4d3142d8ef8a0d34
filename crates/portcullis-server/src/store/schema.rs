//! The schema, as ordered migrations of portable SQL. A migration is applied once, inside a
//! transaction, and recorded in `portcullis_migrations`; on PostgreSQL an advisory lock keeps two
//! instances starting at once from applying the same migration twice, and on SQLite each
//! migration claims its version before anything else.

use sqlx::{AnyPool, Row};

use super::Dialect;
use crate::error::StoreError;

/// `(version, statements)`, in order. Never edit a released migration: add a new one.
const MIGRATIONS: &[(i64, &[&str])] = &[
    (
        1,
        &[
            "CREATE TABLE signing_keys (
            kid TEXT PRIMARY KEY,
            alg TEXT NOT NULL,
            private_key TEXT NOT NULL,
            sealed BIGINT NOT NULL,
            public_jwk TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            active_from BIGINT NOT NULL,
            retired_at BIGINT,
            publish_until BIGINT
        )",
            "CREATE TABLE apis (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            audience TEXT NOT NULL UNIQUE
        )",
            "CREATE TABLE api_scopes (
            api_id TEXT NOT NULL REFERENCES apis(id) ON DELETE CASCADE,
            scope TEXT NOT NULL,
            PRIMARY KEY (api_id, scope)
        )",
            "CREATE TABLE applications (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            app_type TEXT NOT NULL,
            client_id TEXT NOT NULL UNIQUE,
            client_secret_sha256 TEXT,
            access_token_ttl BIGINT
        )",
            "CREATE TABLE application_apis (
            application_id TEXT NOT NULL REFERENCES applications(id) ON DELETE CASCADE,
            api_id TEXT NOT NULL REFERENCES apis(id) ON DELETE CASCADE,
            scopes TEXT NOT NULL,
            PRIMARY KEY (application_id, api_id)
        )",
        ],
    ),
    (
        2,
        &[
            // Fixed-window counters of failed client authentications (docs/security.md case 97),
            // shared by every instance.
            "CREATE TABLE rate_limits (
            bucket TEXT PRIMARY KEY,
            window_start BIGINT NOT NULL,
            hits BIGINT NOT NULL
        )",
            // Revoked access tokens (RFC 7009), kept until they would have expired anyway.
            "CREATE TABLE revoked_tokens (
            jti TEXT PRIMARY KEY,
            expires_at BIGINT NOT NULL
        )",
        ],
    ),
    (
        3,
        &[
            // Users. `email` is stored lower-cased; a user is identified by `id` (the `sub`).
            "CREATE TABLE users (
                id TEXT PRIMARY KEY,
                email TEXT NOT NULL UNIQUE,
                given_name TEXT,
                family_name TEXT,
                picture TEXT,
                provided_id TEXT,
                password_hash TEXT,
                is_suspended BIGINT NOT NULL DEFAULT 0,
                created_at BIGINT NOT NULL,
                updated_at BIGINT NOT NULL
            )",
            "CREATE TABLE organizations (
                code TEXT PRIMARY KEY,
                name TEXT NOT NULL,
                created_at BIGINT NOT NULL
            )",
            "CREATE TABLE permissions (
                id TEXT PRIMARY KEY,
                key TEXT NOT NULL UNIQUE,
                name TEXT NOT NULL,
                description TEXT
            )",
            "CREATE TABLE roles (
                id TEXT PRIMARY KEY,
                key TEXT NOT NULL UNIQUE,
                name TEXT NOT NULL,
                description TEXT
            )",
            "CREATE TABLE role_permissions (
                role_id TEXT NOT NULL REFERENCES roles(id) ON DELETE CASCADE,
                permission_id TEXT NOT NULL REFERENCES permissions(id) ON DELETE CASCADE,
                PRIMARY KEY (role_id, permission_id)
            )",
            "CREATE TABLE org_members (
                org_code TEXT NOT NULL REFERENCES organizations(code) ON DELETE CASCADE,
                user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                PRIMARY KEY (org_code, user_id)
            )",
            "CREATE TABLE member_roles (
                org_code TEXT NOT NULL,
                user_id TEXT NOT NULL,
                role_id TEXT NOT NULL REFERENCES roles(id) ON DELETE CASCADE,
                PRIMARY KEY (org_code, user_id, role_id),
                FOREIGN KEY (org_code, user_id)
                    REFERENCES org_members(org_code, user_id) ON DELETE CASCADE
            )",
            "CREATE TABLE member_permissions (
                org_code TEXT NOT NULL,
                user_id TEXT NOT NULL,
                permission_id TEXT NOT NULL REFERENCES permissions(id) ON DELETE CASCADE,
                PRIMARY KEY (org_code, user_id, permission_id),
                FOREIGN KEY (org_code, user_id)
                    REFERENCES org_members(org_code, user_id) ON DELETE CASCADE
            )",
            // Feature flags: type `bool` | `str` | `int`; values are strings (Kinde's wire form).
            "CREATE TABLE feature_flags (
                key TEXT PRIMARY KEY,
                name TEXT NOT NULL,
                flag_type TEXT NOT NULL,
                default_value TEXT NOT NULL
            )",
            // Overrides: level `env` (subject ''), `org` (an org code) or `usr` (a user id).
            "CREATE TABLE flag_overrides (
                flag_key TEXT NOT NULL REFERENCES feature_flags(key) ON DELETE CASCADE,
                level TEXT NOT NULL,
                subject TEXT NOT NULL,
                value TEXT NOT NULL,
                PRIMARY KEY (flag_key, level, subject)
            )",
        ],
    ),
    (
        4,
        &[
            // Registered callback (`login`) and post-logout (`logout`) URLs, matched exactly.
            "CREATE TABLE application_urls (
                application_id TEXT NOT NULL REFERENCES applications(id) ON DELETE CASCADE,
                kind TEXT NOT NULL,
                url TEXT NOT NULL,
                PRIMARY KEY (application_id, kind, url)
            )",
        ],
    ),
    (
        5,
        &[
            // Sign-in sessions (single sign-on). Only a SHA-256 of the cookie value is stored.
            "CREATE TABLE sessions (
                id_sha256 TEXT PRIMARY KEY,
                user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                auth_time BIGINT NOT NULL,
                expires_at BIGINT NOT NULL
            )",
            // An authorization request waiting for the user to sign in, bound to the browser
            // that started it (a cookie, stored hashed) and protected by a CSRF token.
            "CREATE TABLE interactions (
                id_sha256 TEXT PRIMARY KEY,
                browser_sha256 TEXT NOT NULL,
                csrf TEXT NOT NULL,
                request TEXT NOT NULL,
                expires_at BIGINT NOT NULL
            )",
            // Authorization codes: single use, short-lived, stored hashed.
            "CREATE TABLE auth_codes (
                code_sha256 TEXT PRIMARY KEY,
                grant_data TEXT NOT NULL,
                expires_at BIGINT NOT NULL,
                used_at BIGINT,
                issued_jti TEXT
            )",
        ],
    ),
    (
        6,
        &[
            // Refresh tokens, stored hashed. Each use rotates the token; a family is every token
            // descended from one sign-in, revoked together when a rotated token is reused.
            "CREATE TABLE refresh_tokens (
                token_sha256 TEXT PRIMARY KEY,
                family_id TEXT NOT NULL,
                client_id TEXT NOT NULL,
                grant_data TEXT NOT NULL,
                access_jti TEXT,
                created_at BIGINT NOT NULL,
                expires_at BIGINT NOT NULL,
                rotated_at BIGINT,
                revoked BIGINT NOT NULL DEFAULT 0
            )",
            "CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id)",
        ],
    ),
    (
        7,
        &[
            // The resource-owner password grant, off unless enabled for one application.
            "ALTER TABLE applications ADD COLUMN password_grant BIGINT NOT NULL DEFAULT 0",
        ],
    ),
    (
        8,
        &[
            // Fields the management API reads and writes (Kinde's shapes).
            "ALTER TABLE users ADD COLUMN is_password_reset_requested BIGINT NOT NULL DEFAULT 0",
            "ALTER TABLE feature_flags ADD COLUMN description TEXT",
            "ALTER TABLE feature_flags ADD COLUMN allow_override_level TEXT",
            "ALTER TABLE roles ADD COLUMN is_default_role BIGINT NOT NULL DEFAULT 0",
            "ALTER TABLE organizations ADD COLUMN external_id TEXT",
            "CREATE INDEX org_members_user ON org_members (user_id)",
        ],
    ),
    (
        9,
        &[
            // More of Kinde's fields: an organization's handle (unique when set) and whether
            // anyone may sign up into it; an application's login and home page URIs; what an
            // API scope allows.
            "ALTER TABLE organizations ADD COLUMN handle TEXT",
            "ALTER TABLE organizations ADD COLUMN is_allow_registrations BIGINT NOT NULL DEFAULT 0",
            "CREATE UNIQUE INDEX organizations_handle ON organizations (handle)",
            "ALTER TABLE applications ADD COLUMN login_uri TEXT",
            "ALTER TABLE applications ADD COLUMN homepage_uri TEXT",
            "ALTER TABLE api_scopes ADD COLUMN description TEXT",
        ],
    ),
    (
        10,
        &[
            // `/readyz` writes a row here and deletes it in one transaction: the database must
            // take a write (allocate space, commit) for the server to call itself ready.
            "CREATE TABLE readiness_probe (
                id TEXT PRIMARY KEY,
                pad TEXT NOT NULL
            )",
        ],
    ),
];

/// The newest schema version this build knows.
pub(crate) const LATEST: i64 = MIGRATIONS[MIGRATIONS.len() - 1].0;

pub(super) async fn migrate(pool: &AnyPool, dialect: Dialect) -> Result<(), StoreError> {
    let mut conn = pool.acquire().await?;
    if dialect == Dialect::Postgres {
        // Serialise migrations across instances sharing the database.
        sqlx::query("SELECT pg_advisory_lock(7368238641)")
            .execute(&mut *conn)
            .await?;
    }
    let result = apply(&mut conn).await;
    if dialect == Dialect::Postgres {
        sqlx::query("SELECT pg_advisory_unlock(7368238641)")
            .execute(&mut *conn)
            .await?;
    }
    result
}

async fn apply(conn: &mut sqlx::AnyConnection) -> Result<(), StoreError> {
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS portcullis_migrations (
            version BIGINT PRIMARY KEY
        )",
    )
    .execute(&mut *conn)
    .await?;
    let current: i64 = sqlx::query(
        "SELECT COALESCE(MAX(version), 0) AS current_version FROM portcullis_migrations",
    )
    .fetch_one(&mut *conn)
    .await?
    .try_get("current_version")?;
    if current > LATEST {
        return Err(StoreError::Config(format!(
            "the database has schema version {current}, newer than this build knows ({LATEST}): \
             upgrade portcullis"
        )));
    }
    for (version, statements) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        // The version is claimed first. On SQLite (no advisory lock) this write takes the
        // database's write lock before the migration reads or changes anything, and an
        // instance that finds the version claimed skips it: another applied it meanwhile.
        let claimed = sqlx::query(
            "INSERT INTO portcullis_migrations (version) VALUES ($1) \
             ON CONFLICT (version) DO NOTHING",
        )
        .bind(version)
        .execute(&mut *tx)
        .await?;
        if claimed.rows_affected() == 0 {
            tx.rollback().await?;
            continue;
        }
        for statement in *statements {
            sqlx::query(statement).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        tracing::info!(version, "applied database migration");
    }
    Ok(())
}
