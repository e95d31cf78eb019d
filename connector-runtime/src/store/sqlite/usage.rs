//! [`UsageLedger`](crate::usage::UsageLedger) on the `usage_daily` table (migration 4), the
//! impl both SQL backends share (`store/sql/usage.rs`). Nothing in it is sealed.

use super::SqliteStore;

crate::store::sql::usage::usage_ledger!(SqliteStore);
