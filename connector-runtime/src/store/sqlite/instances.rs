//! [`InstanceStore`](crate::store::InstanceStore) on the `connector_instances` table: secrets
//! are one sealed JSON object. The impl is shared with PostgreSQL (`store/sql/instances.rs`).

use super::{SqliteStore, check_name};

crate::store::sql::instances::instance_store!(
    SqliteStore,
    begin = "BEGIN IMMEDIATE",
    for_update = ""
);
