//! [`OAuthStateStore`](crate::store::OAuthStateStore) on the `oauth_states` table, the impl
//! both SQL backends share (`store/sql/states.rs`): a state is consumed under
//! `SELECT ... FOR UPDATE`, so of two instances receiving the same callback one wins.

use super::PgStore;
use crate::store::sql::check_name;

crate::store::sql::states::state_store!(PgStore, begin = "BEGIN", for_update = " FOR UPDATE");
