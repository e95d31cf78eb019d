//! [`InstanceStore`](crate::store::InstanceStore) on the `connector_instances` table, the impl
//! both SQL backends share (`store/sql/instances.rs`); updates lock the rows they read
//! (`FOR UPDATE`).

use super::PgStore;
use crate::store::sql::check_name;

crate::store::sql::instances::instance_store!(PgStore, begin = "BEGIN", for_update = " FOR UPDATE");
