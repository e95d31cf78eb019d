//! [`OAuthStateStore`](crate::store::OAuthStateStore) on the `oauth_states` table: the PKCE
//! verifier is sealed and erased when the state is consumed; `BEGIN IMMEDIATE` makes a
//! consumption one atomic step. The impl is shared with PostgreSQL (`store/sql/states.rs`).

use super::{SqliteStore, check_name};

crate::store::sql::states::state_store!(SqliteStore, begin = "BEGIN IMMEDIATE", for_update = "");
