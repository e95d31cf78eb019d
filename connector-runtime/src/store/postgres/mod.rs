//! The PostgreSQL backend of every store trait ([`TokenStore`](super::TokenStore),
//! [`OAuthStateStore`](super::OAuthStateStore), [`InstanceStore`](super::InstanceStore),
//! [`UserStore`](super::UserStore), [`AuditStore`](super::AuditStore),
//! [`Maintenance`](super::Maintenance), [`RefreshLocks`](super::RefreshLocks),
//! [`RateLimits`](super::RateLimits)): one database shared by any number of server
//! instances. Each store's SQL is written once for both backends in `store/sql/` (a macro per
//! store, the dialects' few differences as its parameters; rows decoded and values sealed by
//! the helpers in `store/sql/mod.rs`); the files here instantiate them for [`PgStore`].
//!
//! # Schema
//!
//! Migrations are the files in `connector-runtime/migrations/postgres/` (`0001_store.sql`, ...),
//! embedded with `sqlx::migrate!` and recorded by sqlx in `_sqlx_migrations`. `0001` creates
//! the schema SQLite has after its migration 3, in PostgreSQL types (`BIGINT` millisecond
//! timestamps, `BYTEA` sealed values, `BOOLEAN` flags):
//!
//! - `tokens`: shared and per-user tokens, unique on `(scope, user_id, connector_id,
//!   credential_type)`, `user_id = ''` for shared tokens; `access_token` / `refresh_token`
//!   sealed; `version` and `refresh_failed_at` as in SQLite.
//! - `oauth_states`: pending authorization-code states; `pkce_verifier` sealed, set to NULL
//!   when the state is consumed.
//! - `connector_instances`: config JSON, sealed `secrets`, `access` (JSON array of user ids
//!   or NULL for every user).
//! - `server_users`, `server_user_keys`: users and the SHA-256 of their named keys.
//! - `audit_events`: the audit trail (`id BIGSERIAL`).
//! - `rate_windows(user_id, bucket, window_start, count)`: the fixed windows of
//!   [`PgRateLimits`], so a limit holds across every instance.
//! - `store_meta(name, value)`: store-wide values; `key_check` holds a fixed plaintext sealed
//!   under the active key.
//!
//! Opening runs the pending migrations. sqlx holds a session advisory lock while it migrates,
//! so instances starting at once apply each migration once; a database migrated by a newer
//! program (a version this one does not know) is refused with [`StoreError::SchemaTooNew`].
//!
//! # Every instance holds the same key
//!
//! [`PgStore::connect`] opens `store_meta.key_check` (inserting it, sealed under the active
//! key, when missing): an instance whose keyring cannot open it would write values the others
//! cannot read, so it is refused with [`StoreError::KeyMismatch`]. A key rotation re-seals the
//! key check in the same transaction as every other value.
//!
//! # Locks
//!
//! - Refresh locks ([`PgRefreshLocks`]): first the in-process lock of the key
//!   ([`LocalRefreshLocks`](super::LocalRefreshLocks)), so a process holds at most one connection per key; then, on a
//!   connection of a separate small lock pool (8 by default), `BEGIN` and
//!   `pg_advisory_xact_lock(id)`, `id` the first 8 bytes of SHA-256 of `"refresh\0"` and the
//!   key's [`canonical`](super::RefreshLockKey::canonical) form. The lock pool is apart from
//!   the data pool so a holder can always read and write its token while others wait.
//!   Dropping the guard rolls the transaction back at once (in a spawned task); a process
//!   that dies loses its session, and PostgreSQL releases its locks.
//! - Cleanup: [`Maintenance::cleanup`](super::Maintenance::cleanup) runs in a transaction
//!   that first tries `pg_try_advisory_xact_lock` on a fixed key; when another instance holds
//!   it, this one skips the round ([`CleanupReport::skipped`](super::CleanupReport)).
//! - OAuth states are consumed under `SELECT ... FOR UPDATE`, instances updated likewise, and
//!   token updates check the version in the `UPDATE` itself.

mod admin;
mod audit;
mod instances;
mod locks;
mod maintenance;
mod rate_limits;
mod states;
mod tokens;
mod usage;
mod users;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use sqlx::migrate::{MigrateError, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use super::crypto::{Aad, Keyring};
use super::error::StoreError;
use super::stores::Stores;

pub use admin::{create_database, database_url, drop_database};
pub use audit::PgAuditStore;
pub use locks::PgRefreshLocks;
pub use rate_limits::PgRateLimits;
pub use users::PgUserStore;

/// The embedded migrations (`migrations/postgres/`).
pub static MIGRATOR: Migrator = sqlx::migrate!("migrations/postgres");

/// The plaintext sealed as `store_meta.key_check`.
const KEY_CHECK: &[u8] = b"connector store key check v1";

/// Pool sizes and timeouts of a [`PgStore`]. The defaults (10 + 8 connections per instance)
/// let five instances share a server left at PostgreSQL's default `max_connections` of 100
/// with room for other clients: a server that refuses connections makes every store call wait
/// out `acquire_timeout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PgOptions {
    /// Connections of the data pool: 10 by default.
    pub max_connections: u32,
    /// Connections of the refresh-lock pool (one per key this process refreshes or waits
    /// for; more wait for a connection): 8.
    pub lock_connections: u32,
    /// How long to wait for a free connection: 30 s.
    pub acquire_timeout: Duration,
}

impl Default for PgOptions {
    fn default() -> PgOptions {
        PgOptions {
            max_connections: 10,
            lock_connections: 8,
            acquire_timeout: Duration::from_secs(30),
        }
    }
}

/// Every store in one PostgreSQL database. Cloning shares the pools.
#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
    keys: Keyring,
    /// The URL without its password (`host:port/db`), for `Debug` and errors.
    shown: Arc<str>,
    locks: PgRefreshLocks,
}

impl fmt::Debug for PgStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgStore")
            .field("database", &self.shown)
            .field("keys", &self.keys)
            .finish()
    }
}

impl PgStore {
    /// Connect to the database at `url` (default [`PgOptions`]), run pending migrations and
    /// check that `keys` opens what the database holds ([`StoreError::KeyMismatch`]).
    pub async fn connect(url: &str, keys: Keyring) -> Result<PgStore, StoreError> {
        PgStore::connect_with(url, keys, PgOptions::default()).await
    }

    /// [`PgStore::connect`] with other pool sizes.
    pub async fn connect_with(
        url: &str,
        keys: Keyring,
        options: PgOptions,
    ) -> Result<PgStore, StoreError> {
        let (connect, shown) = parse_url(url)?;
        let pool = data_pool(&connect, &shown, &options).await?;
        migrate(&pool).await?;
        check_key(&pool, &keys).await?;
        let lock_pool = PgPoolOptions::new()
            .max_connections(options.lock_connections)
            .min_connections(0)
            .acquire_timeout(options.acquire_timeout)
            .connect_lazy_with(connect);
        Ok(PgStore {
            pool,
            keys,
            locks: PgRefreshLocks::new(lock_pool),
            shown: shown.into(),
        })
    }

    /// The users and API keys in this database (no keyring needed for them).
    pub fn users(&self) -> PgUserStore {
        PgUserStore::from_pool(self.pool.clone(), self.shown.clone())
    }

    /// The audit trail in this database.
    pub fn audit(&self) -> PgAuditStore {
        PgAuditStore::from_pool(self.pool.clone(), self.shown.clone())
    }

    /// Every store trait, backed by this database; rate limits count across every instance.
    pub fn stores(&self) -> Stores {
        Stores::of(
            self.clone(),
            Arc::new(self.users()),
            Arc::new(self.audit()),
            Arc::new(PgRateLimits::from_pool(self.pool.clone())),
        )
    }

    pub fn keyring(&self) -> &Keyring {
        &self.keys
    }

    /// The data pool.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The highest applied migration.
    pub async fn schema_version(&self) -> Result<i64, StoreError> {
        schema_version(&self.pool).await
    }

    /// Close both pools.
    pub async fn close(&self) {
        self.locks.close().await;
        self.pool.close().await;
    }
}

/// A data pool on `url` (default [`PgOptions`]) with the migrations applied, and the URL as
/// shown: for the stores that need no keyring.
async fn connect_migrated(url: &str) -> Result<(PgPool, String), StoreError> {
    let (connect, shown) = parse_url(url)?;
    let pool = data_pool(&connect, &shown, &PgOptions::default()).await?;
    migrate(&pool).await?;
    Ok((pool, shown))
}

/// Connect options from `url`, and the URL as shown: `postgres://host:port/db`, no user or
/// password.
fn parse_url(url: &str) -> Result<(PgConnectOptions, String), StoreError> {
    let shown = match url::Url::parse(url) {
        Ok(u) => format!(
            "postgres://{}:{}{}",
            u.host_str().unwrap_or("localhost"),
            u.port().unwrap_or(5432),
            u.path()
        ),
        Err(_) => "<unparsable PostgreSQL URL>".to_string(),
    };
    let options: PgConnectOptions = url.parse().map_err(|_| StoreError::InvalidInput {
        field: "database URL",
        reason: format!("not a PostgreSQL URL ({shown})"),
    })?;
    Ok((options, shown))
}

async fn data_pool(
    connect: &PgConnectOptions,
    shown: &str,
    options: &PgOptions,
) -> Result<PgPool, StoreError> {
    PgPoolOptions::new()
        .max_connections(options.max_connections)
        .acquire_timeout(options.acquire_timeout)
        .connect_with(connect.clone())
        .await
        .map_err(|e| StoreError::Database(format!("cannot connect to {shown}: {e}")))
}

/// Apply the pending migrations (under sqlx's advisory lock).
pub(super) async fn migrate(pool: &PgPool) -> Result<(), StoreError> {
    MIGRATOR.run(pool).await.map_err(|e| match e {
        MigrateError::VersionMissing(found) => StoreError::SchemaTooNew {
            found,
            known: MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0),
        },
        MigrateError::ExecuteMigration(e, version) => StoreError::Migration {
            version,
            message: e.to_string(),
        },
        e => StoreError::Migration {
            version: 0,
            message: e.to_string(),
        },
    })
}

async fn schema_version(pool: &PgPool) -> Result<i64, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations WHERE success")
            .fetch_one(pool)
            .await?,
    )
}

/// The associated data of the key check.
fn key_check_aad() -> Aad {
    Aad::meta("key_check")
}

/// Seal the key check under the active key.
fn seal_key_check(keys: &Keyring) -> Result<Vec<u8>, StoreError> {
    Ok(keys.seal(KEY_CHECK, &key_check_aad())?)
}

/// Insert the key check when missing, then refuse `keys` unless it opens the stored one.
async fn check_key(pool: &PgPool, keys: &Keyring) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO store_meta (name, value) VALUES ('key_check', $1) \
         ON CONFLICT (name) DO NOTHING",
    )
    .bind(seal_key_check(keys)?)
    .execute(pool)
    .await?;
    let stored: Vec<u8> =
        sqlx::query_scalar("SELECT value FROM store_meta WHERE name = 'key_check'")
            .fetch_one(pool)
            .await?;
    match keys.open(&stored, &key_check_aad()) {
        Ok(plain) if plain.as_slice() == KEY_CHECK => Ok(()),
        _ => Err(StoreError::KeyMismatch {
            key_id: Keyring::sealed_key_id(&stored)
                .unwrap_or("(unreadable)")
                .to_string(),
        }),
    }
}

/// An advisory lock id: the first 8 bytes of SHA-256 of `namespace` and `name`.
fn lock_id(namespace: &str, name: &str) -> i64 {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(namespace.as_bytes());
    h.update(name.as_bytes());
    let digest = h.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shown_url_has_no_user_or_password() {
        let (_, shown) = parse_url("postgres://admin:hunter2@db.example:6543/connector").unwrap();
        assert_eq!(shown, "postgres://db.example:6543/connector");
    }

    #[test]
    fn lock_ids_differ_by_namespace_and_name() {
        assert_ne!(lock_id("refresh\0", "c"), lock_id("cleanup\0", "c"));
        assert_ne!(lock_id("refresh\0", "c"), lock_id("refresh\0", "c\0u"));
        assert_eq!(lock_id("refresh\0", "c"), lock_id("refresh\0", "c"));
    }
}
