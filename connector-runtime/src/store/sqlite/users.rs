//! [`UserStore`](crate::store::UserStore) on the `server_users` and `server_user_keys` tables. It needs no keyring
//! (nothing in them is sealed: keys are stored as SHA-256 hashes), so `connector users` can
//! open it alone; opening runs the pending migrations, which touch no sealed value.

use std::path::Path;

use sqlx::Sqlite;
use sqlx::sqlite::SqlitePool;

use super::connect;
use crate::store::error::StoreError;

/// Users and their key hashes in a SQLite file. Cloning shares the pool.
#[derive(Debug, Clone)]
pub struct SqliteUserStore {
    pool: SqlitePool,
}

impl SqliteUserStore {
    /// Open the SQLite file at `path` (created if missing, mode 0600 in a 0700 folder, the
    /// same as the other stores whichever opens it first) and run pending migrations.
    pub async fn open(path: &Path) -> Result<SqliteUserStore, StoreError> {
        let pool = connect::connect(path).await?;
        super::migrate_pool(&pool).await?;
        Ok(SqliteUserStore::from_pool(pool))
    }

    pub(super) fn from_pool(pool: SqlitePool) -> SqliteUserStore {
        SqliteUserStore { pool }
    }

    /// The audit trail in the same file (for changes made from the command line).
    pub fn audit(&self) -> super::SqliteAuditStore {
        super::SqliteAuditStore::from_pool(self.pool.clone())
    }

    /// Close the pool (shared with the [`SqliteStore`](super::SqliteStore) it came from, if any).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

crate::store::sql::users::user_store!(SqliteUserStore, Sqlite, begin = "BEGIN IMMEDIATE");
