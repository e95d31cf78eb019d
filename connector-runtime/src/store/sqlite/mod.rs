//! The embedded SQLite backend of every store trait ([`TokenStore`](super::TokenStore),
//! [`OAuthStateStore`](super::OAuthStateStore), [`InstanceStore`](super::InstanceStore),
//! [`UserStore`](super::UserStore), [`Maintenance`](super::Maintenance)): one file, WAL
//! journal, `synchronous=FULL` (a commit is on disk before the call returns), versioned
//! migrations embedded in the binary. One file here per store (`tokens.rs`, `states.rs`,
//! `instances.rs`, `users.rs`, `maintenance.rs`); opening the file and its modes are in
//! `connect.rs`.
//!
//! # Schema
//!
//! - `schema_version(version, applied_at)`: one row per applied migration.
//! - `tokens`: shared and per-user tokens. `id` is the full [`TokenId`](super::TokenId) string; `scope` is
//!   `shared` / `per-user`; `user_id` is `''` for shared tokens; unique on
//!   `(scope, user_id, connector_id, credential_type)`. `access_token` and `refresh_token`
//!   are sealed blobs.
//! - `oauth_states`: pending authorization-code states; `pkce_verifier` is sealed and set to
//!   NULL when the state is consumed.
//! - `connector_instances`: id, type, name, auth type, auth mode, config JSON, sealed secrets,
//!   and (migration 3) `access`, a JSON array of user ids or NULL for every user.
//! - `audit_events` (migration 3): the audit trail ([`AuditStore`](super::AuditStore)); names,
//!   ids and error codes only, nothing sealed.
//! - `server_users`: id, unique name, admin, disabled, created_at. Before migration 2 it was
//!   created with `IF NOT EXISTS` outside the migrations and held one `key_sha256` per user;
//!   migration 2 creates it in that old form when missing, then rebuilds it without the key.
//! - `server_user_keys` (migration 2): a user's named keys: id, user id, name (unique per
//!   user), `key_sha256` (unique), created_at, expires_at and last_used_at (nullable). Migration
//!   2 moves each user's old key here under the name `default`, so old files keep working.
//! - `tokens.refresh_failed_at` (migration 2): when the last refresh of the token failed;
//!   cleared by every successful write of the token.
//!
//! Migrations are plain SQL in [`MIGRATIONS`], applied in order inside one `BEGIN IMMEDIATE`
//! transaction that also records them in `schema_version`; opening a store runs the pending
//! ones, so running them twice is a no-op. A file written by a newer program (a version this
//! program does not know) is refused with [`StoreError::SchemaTooNew`].

mod audit;
mod connect;
mod instances;
mod maintenance;
mod states;
mod tokens;
mod users;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};
use sqlx::sqlite::SqlitePool;

use super::crypto::{Aad, Keyring};
use super::error::StoreError;
use super::locks::LocalRefreshLocks;
use super::rate_limits::LocalRateLimits;
use super::stores::Stores;
use super::timestamp::Timestamp;

pub use audit::SqliteAuditStore;
pub use connect::{create_private_dir, prepare_private_db};
pub use users::SqliteUserStore;

/// The embedded migrations: `(version, SQL)`, applied in order.
pub const MIGRATIONS: &[(i64, &str)] = &[
    (
        1,
        r#"
CREATE TABLE tokens (
    id                       TEXT PRIMARY KEY NOT NULL,
    scope                    TEXT NOT NULL CHECK (scope IN ('shared', 'per-user')),
    user_id                  TEXT NOT NULL,
    connector_id             TEXT NOT NULL,
    credential_type          TEXT NOT NULL,
    access_token             BLOB NOT NULL,
    refresh_token            BLOB,
    token_type               TEXT NOT NULL,
    granted_scope            TEXT,
    expires_at               INTEGER,
    refresh_token_expires_at INTEGER,
    created_at               INTEGER NOT NULL,
    updated_at               INTEGER NOT NULL,
    last_used_at             INTEGER,
    revoked                  INTEGER NOT NULL DEFAULT 0,
    version                  INTEGER NOT NULL,
    UNIQUE (scope, user_id, connector_id, credential_type),
    CHECK ((scope = 'shared') = (user_id = ''))
);
CREATE INDEX tokens_by_connector ON tokens (connector_id);
CREATE TABLE oauth_states (
    state           TEXT PRIMARY KEY NOT NULL,
    connector_id    TEXT NOT NULL,
    user_id         TEXT NOT NULL,
    credential_type TEXT NOT NULL,
    tenant          TEXT,
    return_url      TEXT,
    pkce_verifier   BLOB,
    metadata        TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    consumed_at     INTEGER
);
CREATE INDEX oauth_states_by_expiry ON oauth_states (expires_at);
CREATE TABLE connector_instances (
    id             TEXT PRIMARY KEY NOT NULL,
    connector_type TEXT NOT NULL,
    name           TEXT NOT NULL,
    auth_type      TEXT NOT NULL,
    auth_mode      TEXT NOT NULL,
    config         TEXT NOT NULL,
    secrets        BLOB NOT NULL,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
);
"#,
    ),
    (2, MIGRATION_2),
    (
        3,
        r#"
ALTER TABLE connector_instances ADD COLUMN access TEXT;
CREATE TABLE audit_events (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    at           INTEGER NOT NULL,
    operation    TEXT NOT NULL,
    actor        TEXT,
    on_behalf_of TEXT,
    instance     TEXT,
    action       TEXT,
    target       TEXT,
    outcome      TEXT NOT NULL,
    code         TEXT,
    duration_ms  INTEGER NOT NULL,
    request_id   TEXT
);
CREATE INDEX audit_events_by_at ON audit_events (at);
"#,
    ),
];

/// Named, expiring keys per user; users can be disabled; refresh failures are recorded.
const MIGRATION_2: &str = r#"
CREATE TABLE IF NOT EXISTS server_users (
    id         TEXT PRIMARY KEY NOT NULL,
    name       TEXT NOT NULL UNIQUE,
    admin      INTEGER NOT NULL,
    key_sha256 TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
);
ALTER TABLE server_users RENAME TO server_users_v1;
CREATE TABLE server_users (
    id         TEXT PRIMARY KEY NOT NULL,
    name       TEXT NOT NULL UNIQUE,
    admin      INTEGER NOT NULL,
    disabled   INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);
INSERT INTO server_users (id, name, admin, disabled, created_at)
    SELECT id, name, admin, 0, created_at FROM server_users_v1;
CREATE TABLE server_user_keys (
    id           TEXT PRIMARY KEY NOT NULL,
    user_id      TEXT NOT NULL REFERENCES server_users (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    key_sha256   TEXT NOT NULL UNIQUE,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER,
    last_used_at INTEGER,
    UNIQUE (user_id, name)
);
INSERT INTO server_user_keys (id, user_id, name, key_sha256, created_at)
    SELECT 'k_' || lower(hex(randomblob(16))), id, 'default', key_sha256, created_at
    FROM server_users_v1;
DROP TABLE server_users_v1;
ALTER TABLE tokens ADD COLUMN refresh_failed_at INTEGER;
"#;

/// Every store in one SQLite file. Cloning shares the connection pool.
#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// The audit trail's own connection (`synchronous=NORMAL`, see `connect::connect_audit`).
    audit_pool: SqlitePool,
    keys: Keyring,
    path: PathBuf,
    /// One process owns the file: in-process locks suffice (shared by clones).
    locks: LocalRefreshLocks,
    rate_limits: LocalRateLimits,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .field("keys", &self.keys)
            .finish()
    }
}

impl SqliteStore {
    /// Open (creating it and its parent folders if missing) the store at `path`, sealing with
    /// `keys`, and run pending migrations.
    pub async fn open(path: impl AsRef<Path>, keys: Keyring) -> Result<SqliteStore, StoreError> {
        let path = path.as_ref().to_path_buf();
        let pool = connect::connect(&path).await?;
        let audit_pool = connect::connect_audit(&path).await?;
        let store = SqliteStore {
            pool,
            audit_pool,
            keys,
            path,
            locks: LocalRefreshLocks::default(),
            rate_limits: LocalRateLimits::default(),
        };
        store.migrate().await?;
        Ok(store)
    }

    /// The users and API keys in this file (no keyring needed for them).
    pub fn users(&self) -> SqliteUserStore {
        SqliteUserStore::from_pool(self.pool.clone())
    }

    /// The audit trail in this file (no keyring needed for it).
    pub fn audit(&self) -> SqliteAuditStore {
        SqliteAuditStore::from_pool(self.audit_pool.clone())
    }

    /// Every store trait, backed by this file.
    pub fn stores(&self) -> Stores {
        let this = Arc::new(self.clone());
        Stores {
            tokens: this.clone(),
            states: this.clone(),
            instances: this.clone(),
            users: Arc::new(self.users()),
            audit: Arc::new(self.audit()),
            maintenance: this,
            // One process owns the file: its counters can live in memory.
            rate_limits: Arc::new(self.rate_limits.clone()),
        }
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn keyring(&self) -> &Keyring {
        &self.keys
    }

    /// Apply pending migrations; returns how many were applied (0 when up to date).
    pub async fn migrate(&self) -> Result<usize, StoreError> {
        migrate_pool(&self.pool).await
    }

    /// The highest applied migration.
    pub async fn schema_version(&self) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM schema_version")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// Close the pool (checkpointing the WAL into the main file).
    pub async fn close(&self) {
        self.audit_pool.close().await;
        self.pool.close().await;
    }

    fn seal_str(&self, s: &SecretString, aad: &Aad) -> Result<Vec<u8>, StoreError> {
        Ok(self.keys.seal(s.expose_secret().as_bytes(), aad)?)
    }

    fn open_secret(&self, sealed: &[u8], aad: &Aad) -> Result<SecretString, StoreError> {
        let s = self.keys.open_string(sealed, aad)?;
        Ok(SecretString::from(s.as_str()))
    }

    fn reseal(&self, sealed: &[u8], aad: &Aad) -> Result<Vec<u8>, StoreError> {
        let plain = self.keys.open(sealed, aad)?;
        Ok(self.keys.seal(&plain, aad)?)
    }
}

/// Apply the pending [`MIGRATIONS`] to the file behind `pool` (none needs the keyring).
pub(super) async fn migrate_pool(pool: &SqlitePool) -> Result<usize, StoreError> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS schema_version (\
            version INTEGER PRIMARY KEY NOT NULL, applied_at INTEGER NOT NULL)",
    )
    .execute(&mut *tx)
    .await?;
    let current: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM schema_version")
        .fetch_one(&mut *tx)
        .await?;
    let known = MIGRATIONS.last().map(|m| m.0).unwrap_or(0);
    if current > known {
        return Err(StoreError::SchemaTooNew {
            found: current,
            known,
        });
    }
    let mut applied = 0;
    for &(version, sql) in MIGRATIONS.iter().filter(|m| m.0 > current) {
        sqlx::raw_sql(sql)
            .execute(&mut *tx)
            .await
            .map_err(|e| StoreError::Migration {
                version,
                message: e.to_string(),
            })?;
        sqlx::query("INSERT INTO schema_version (version, applied_at) VALUES (?, ?)")
            .bind(version)
            .bind(Timestamp::now().0)
            .execute(&mut *tx)
            .await?;
        applied += 1;
    }
    tx.commit().await?;
    Ok(applied)
}

fn check_name(field: &'static str, value: &str) -> Result<(), StoreError> {
    if value.is_empty() {
        return Err(StoreError::InvalidInput {
            field,
            reason: "must not be empty".into(),
        });
    }
    if value.len() > 512 {
        return Err(StoreError::InvalidInput {
            field,
            reason: "must be at most 512 bytes".into(),
        });
    }
    if value.chars().any(char::is_control) {
        return Err(StoreError::InvalidInput {
            field,
            reason: "must not contain control characters".into(),
        });
    }
    Ok(())
}
