//! Whose token a refresh is for, and its lock key. The locks themselves are the store's
//! ([`RefreshLocks`](crate::store::RefreshLocks)): a store shared by several processes
//! excludes across them.

#[cfg(feature = "store")]
use crate::store::RefreshLockKey;

/// Whose token: a connector's shared token, or one user's token for a connector.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TokenOwner {
    Shared,
    User(String),
}

#[cfg(feature = "store")]
impl TokenOwner {
    /// The refresh lock key of this owner's token for `connector_id`.
    pub fn lock_key(&self, connector_id: &str) -> RefreshLockKey {
        match self {
            TokenOwner::Shared => RefreshLockKey::shared(connector_id),
            TokenOwner::User(u) => RefreshLockKey::user(connector_id, u),
        }
    }
}
