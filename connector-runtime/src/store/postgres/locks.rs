//! [`PgRefreshLocks`]: refresh locks that exclude across every process on the database.
//!
//! A lock is the in-process lock of its key ([`LocalRefreshLocks`], so one process holds at
//! most one connection per key), then a transaction on a connection of the lock pool holding
//! `pg_advisory_xact_lock(id)`. The lock pool is not the data pool: a holder must still reach
//! its token while any number of others wait. Dropping the guard rolls the transaction back
//! in a spawned task (the lock is gone as soon as PostgreSQL reads the `ROLLBACK`); when a
//! process dies, its session ends and PostgreSQL releases what it held.

use std::fmt;

use async_trait::async_trait;
use sqlx::postgres::PgPool;
use sqlx::{Postgres, Transaction};
use tokio::sync::OwnedMutexGuard;

use super::lock_id;
use crate::store::error::StoreError;
use crate::store::locks::{LocalRefreshLocks, RefreshGuard, RefreshLockKey, RefreshLocks};

/// The namespace of refresh lock ids (so they cannot meet other advisory locks).
const NAMESPACE: &str = "refresh\0";

/// Refresh locks on a PostgreSQL database. Cloning shares the pool and the local table.
#[derive(Clone)]
pub struct PgRefreshLocks {
    local: LocalRefreshLocks,
    pool: PgPool,
}

impl fmt::Debug for PgRefreshLocks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgRefreshLocks")
            .field("live", &self.local.live())
            .finish()
    }
}

impl PgRefreshLocks {
    pub(super) fn new(pool: PgPool) -> PgRefreshLocks {
        PgRefreshLocks {
            local: LocalRefreshLocks::default(),
            pool,
        }
    }

    pub(super) async fn close(&self) {
        self.pool.close().await;
    }
}

/// What a held lock keeps: the advisory lock's transaction, then the local lock.
struct Held {
    tx: Option<Transaction<'static, Postgres>>,
    local: Option<OwnedMutexGuard<()>>,
}

impl Drop for Held {
    fn drop(&mut self) {
        let (Some(tx), local) = (self.tx.take(), self.local.take()) else {
            return;
        };
        let release = async move {
            if let Err(e) = tx.rollback().await {
                tracing::warn!(error = %e, "releasing a refresh lock failed; its session ends it");
            }
            // The local lock goes last: a waiter in this process then finds the key free.
            drop(local);
        };
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn(release);
            }
            // No runtime (a guard dropped at exit): the pool closes the connection, and
            // PostgreSQL releases the lock with the session.
            Err(_) => drop(release),
        }
    }
}

#[async_trait]
impl RefreshLocks for PgRefreshLocks {
    async fn lock(&self, key: &RefreshLockKey) -> Result<RefreshGuard, StoreError> {
        let local = self.local.lock_local(key).await;
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(lock_id(NAMESPACE, &key.canonical()))
            .execute(&mut *tx)
            .await?;
        Ok(RefreshGuard::new(Held {
            tx: Some(tx),
            local: Some(local),
        }))
    }
}
