//! [`Maintenance`](crate::store::Maintenance) over the whole database, the impl both SQL
//! backends share (`store/sql/maintenance.rs`), with PostgreSQL's hooks: one instance cleans
//! at a time (a transaction-scoped advisory lock, tried, not awaited), and a key rotation
//! re-seals the key check with everything else.

use sqlx::{Postgres, Transaction};

use super::{PgStore, lock_id, seal_key_check};
use crate::store::error::StoreError;

impl PgStore {
    /// Take the cleanup lock for this transaction; false when another instance holds it.
    async fn cleanup_gate(
        &self,
        tx: &mut Transaction<'static, Postgres>,
    ) -> Result<bool, StoreError> {
        let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
            .bind(lock_id("cleanup\0", "store"))
            .fetch_one(&mut **tx)
            .await?;
        if !got {
            tracing::debug!("token store cleanup skipped: another instance is cleaning");
        }
        Ok(got)
    }

    /// Re-seal `store_meta.key_check` under the active key, in the rotation's transaction.
    async fn after_rotate(
        &self,
        tx: &mut Transaction<'static, Postgres>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO store_meta (name, value) VALUES ('key_check', $1) \
             ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        )
        .bind(seal_key_check(&self.keys)?)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }
}

crate::store::sql::maintenance::maintenance!(
    PgStore,
    Postgres,
    begin = "BEGIN",
    greatest = "GREATEST"
);
