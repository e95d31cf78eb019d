//! [`TokenStore`](crate::store::TokenStore) on the `tokens` table: tokens are sealed under
//! associated data naming their scope, user, connector, credential type and field. The impl
//! is the one both SQL backends share (`store/sql/tokens.rs`).

use super::{SqliteStore, check_name};

crate::store::sql::tokens::token_store!(SqliteStore, greatest = "MAX");
