//! [`TokenStore`](crate::store::TokenStore) on the `tokens` table, the impl both SQL backends
//! share (`store/sql/tokens.rs`): tokens are sealed under associated data naming their scope,
//! user, connector, credential type and field; updates check the version in the `UPDATE`.

use super::PgStore;
use crate::store::sql::check_name;

crate::store::sql::tokens::token_store!(PgStore, greatest = "GREATEST");
