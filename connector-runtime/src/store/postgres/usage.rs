//! [`UsageLedger`](crate::usage::UsageLedger) on the `usage_daily` table (migration 2), the
//! impl both SQL backends share (`store/sql/usage.rs`): instances sharing the database add to
//! the same rows.

use super::PgStore;

crate::store::sql::usage::usage_ledger!(PgStore);
