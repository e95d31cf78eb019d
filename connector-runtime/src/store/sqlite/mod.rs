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
//! - `_sqlx_migrations`: one row per applied migration (sqlx's own table). Files from before
//!   sqlx migrations had `schema_version(version, applied_at)`; opening one adopts its
//!   versions and drops that table.
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
//! Migrations are plain SQL files in `connector-runtime/migrations/sqlite/`, embedded by
//! `sqlx::migrate!` ([`MIGRATOR`]); opening a store runs the pending ones, so running them
//! twice is a no-op. A file written by a newer program (a version this program does not know)
//! is refused with [`StoreError::SchemaTooNew`].

mod audit;
mod connect;
mod instances;
mod maintenance;
mod states;
mod tokens;
mod usage;
mod users;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sqlx::migrate::Migrator;
use sqlx::sqlite::SqlitePool;

use super::crypto::Keyring;
use super::error::StoreError;
use super::locks::LocalRefreshLocks;
use super::rate_limits::LocalRateLimits;
use super::stores::Stores;

pub use audit::SqliteAuditStore;
pub use connect::{create_private_dir, prepare_private_db};
pub use users::SqliteUserStore;

/// The embedded migrations (`connector-runtime/migrations/sqlite/NNNN_name.sql`), applied in
/// order by sqlx; each runs in its own transaction and is recorded in `_sqlx_migrations`.
pub static MIGRATOR: Migrator = sqlx::migrate!("migrations/sqlite");

/// The newest migration this program knows.
pub fn latest_migration() -> i64 {
    MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0)
}

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
            maintenance: this.clone(),
            // One process owns the file: its counters can live in memory.
            rate_limits: Arc::new(self.rate_limits.clone()),
            usage: this,
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
        Ok(sqlx::query_scalar(
            "SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations WHERE success",
        )
        .fetch_one(&self.pool)
        .await?)
    }

    /// Close the pool (checkpointing the WAL into the main file).
    pub async fn close(&self) {
        self.audit_pool.close().await;
        self.pool.close().await;
    }
}

/// Apply the pending migrations of [`MIGRATOR`] to the file behind `pool` (none needs the
/// keyring); returns how many were applied. A file from before sqlx migrations (its versions
/// in `schema_version`) is adopted first. Two processes opening one file at once may race on
/// a migration: the loser's attempt is rolled back and it runs the migrator once more, which
/// then finds the migration applied.
pub(super) async fn migrate_pool(pool: &SqlitePool) -> Result<usize, StoreError> {
    adopt_schema_version(pool).await?;
    sqlx::raw_sql(MIGRATIONS_TABLE).execute(pool).await?;
    let before = applied_count(pool).await?;
    if let Err(first) = MIGRATOR.run(pool).await {
        if let Some(e) = too_new(pool, &first).await? {
            return Err(e);
        }
        MIGRATOR.run(pool).await.map_err(|e| migration_error(&e))?;
    }
    Ok((applied_count(pool).await? - before) as usize)
}

async fn applied_count(pool: &SqlitePool) -> Result<i64, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations WHERE success")
            .fetch_one(pool)
            .await?,
    )
}

/// [`StoreError::SchemaTooNew`] when the file holds a migration this program does not know.
async fn too_new(
    pool: &SqlitePool,
    e: &sqlx::migrate::MigrateError,
) -> Result<Option<StoreError>, StoreError> {
    if !matches!(e, sqlx::migrate::MigrateError::VersionMissing(_)) {
        return Ok(None);
    }
    let found: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations")
        .fetch_one(pool)
        .await?;
    Ok(Some(StoreError::SchemaTooNew {
        found,
        known: latest_migration(),
    }))
}

fn migration_error(e: &sqlx::migrate::MigrateError) -> StoreError {
    let version = match e {
        sqlx::migrate::MigrateError::ExecuteMigration(_, v) => *v,
        _ => 0,
    };
    StoreError::Migration {
        version,
        message: e.to_string(),
    }
}

/// sqlx's own bookkeeping table, as its SQLite driver creates it (`IF NOT EXISTS`, so either
/// side may create it first).
const MIGRATIONS_TABLE: &str = "CREATE TABLE IF NOT EXISTS _sqlx_migrations (
    version BIGINT PRIMARY KEY,
    description TEXT NOT NULL,
    installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    success BOOLEAN NOT NULL,
    checksum BLOB NOT NULL,
    execution_time BIGINT NOT NULL
)";

/// Files written before migrations moved to sqlx kept their versions in `schema_version`:
/// record those versions in `_sqlx_migrations` (with the embedded migrations' checksums) and
/// drop the old table, in one transaction, so sqlx continues from there.
async fn adopt_schema_version(pool: &SqlitePool) -> Result<(), StoreError> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let legacy: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'",
    )
    .fetch_one(&mut *tx)
    .await?;
    if legacy == 0 {
        return Ok(());
    }
    let versions: Vec<i64> = sqlx::query_scalar("SELECT version FROM schema_version ORDER BY 1")
        .fetch_all(&mut *tx)
        .await?;
    sqlx::raw_sql(MIGRATIONS_TABLE).execute(&mut *tx).await?;
    for v in versions {
        let Some(m) = MIGRATOR.iter().find(|m| m.version == v) else {
            return Err(StoreError::SchemaTooNew {
                found: v,
                known: latest_migration(),
            });
        };
        sqlx::query(
            "INSERT OR IGNORE INTO _sqlx_migrations \
             (version, description, success, checksum, execution_time) VALUES (?, ?, TRUE, ?, 0)",
        )
        .bind(m.version)
        .bind(&*m.description)
        .bind(&*m.checksum)
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query("DROP TABLE schema_version")
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

pub(super) use super::sql::check_name;
