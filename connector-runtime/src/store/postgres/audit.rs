//! [`AuditStore`](crate::store::AuditStore) on the `audit_events` table, the impl both SQL
//! backends share (`store/sql/audit.rs`). Nothing in it is sealed.

use std::fmt;
use std::sync::Arc;

use sqlx::Postgres;
use sqlx::postgres::PgPool;

use crate::store::error::StoreError;

/// The audit trail in a PostgreSQL database; it needs no keyring. Cloning shares the pool.
#[derive(Clone)]
pub struct PgAuditStore {
    pool: PgPool,
    shown: Arc<str>,
}

impl fmt::Debug for PgAuditStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgAuditStore")
            .field("database", &self.shown)
            .finish()
    }
}

impl PgAuditStore {
    /// Connect to the database at `url` and run pending migrations.
    pub async fn connect(url: &str) -> Result<PgAuditStore, StoreError> {
        let (pool, shown) = super::connect_migrated(url).await?;
        Ok(PgAuditStore::from_pool(pool, shown.into()))
    }

    pub(super) fn from_pool(pool: PgPool, shown: Arc<str>) -> PgAuditStore {
        PgAuditStore { pool, shown }
    }
}

crate::store::sql::audit::audit_store!(PgAuditStore, Postgres);
