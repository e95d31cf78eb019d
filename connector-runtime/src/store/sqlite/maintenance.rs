//! [`Maintenance`](crate::store::Maintenance) over the whole file: cleanup, key rotation (one
//! transaction across the tokens, states and instances tables) and key usage. The impl is
//! shared with PostgreSQL (`store/sql/maintenance.rs`); one process owns the file, so cleanup
//! never waits for another.

use sqlx::{Sqlite, Transaction};

use super::SqliteStore;
use crate::store::error::StoreError;

impl SqliteStore {
    /// One process owns the file: nobody else is cleaning it.
    async fn cleanup_gate(
        &self,
        _tx: &mut Transaction<'static, Sqlite>,
    ) -> Result<bool, StoreError> {
        Ok(true)
    }

    /// Nothing but the tokens, states and instances is sealed.
    async fn after_rotate(&self, _tx: &mut Transaction<'static, Sqlite>) -> Result<(), StoreError> {
        Ok(())
    }
}

crate::store::sql::maintenance::maintenance!(
    SqliteStore,
    Sqlite,
    begin = "BEGIN IMMEDIATE",
    greatest = "MAX"
);
