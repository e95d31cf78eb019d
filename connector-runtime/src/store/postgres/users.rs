//! [`UserStore`](crate::store::UserStore) on the `server_users` and `server_user_keys`
//! tables, the impl both SQL backends share (`store/sql/users.rs`). It needs no keyring
//! (keys are stored as SHA-256 hashes), so `connector users` can connect with the URL alone.

use std::fmt;
use std::sync::Arc;

use sqlx::Postgres;
use sqlx::postgres::PgPool;

use super::PgAuditStore;
use crate::store::error::StoreError;

/// Users and their key hashes in a PostgreSQL database. Cloning shares the pool.
#[derive(Clone)]
pub struct PgUserStore {
    pool: PgPool,
    shown: Arc<str>,
}

impl fmt::Debug for PgUserStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgUserStore")
            .field("database", &self.shown)
            .finish()
    }
}

impl PgUserStore {
    /// Connect to the database at `url` and run pending migrations (no key check: nothing
    /// here is sealed).
    pub async fn connect(url: &str) -> Result<PgUserStore, StoreError> {
        let (pool, shown) = super::connect_migrated(url).await?;
        Ok(PgUserStore::from_pool(pool, shown.into()))
    }

    pub(super) fn from_pool(pool: PgPool, shown: Arc<str>) -> PgUserStore {
        PgUserStore { pool, shown }
    }

    /// The audit trail in the same database (for changes made from the command line).
    pub fn audit(&self) -> PgAuditStore {
        PgAuditStore::from_pool(self.pool.clone(), self.shown.clone())
    }

    /// Close the pool (shared with the [`PgStore`](super::PgStore) it came from, if any).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

crate::store::sql::users::user_store!(PgUserStore, Postgres, begin = "BEGIN");
