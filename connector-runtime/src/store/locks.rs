//! Single-flight refresh locks: [`RefreshLocks`] hands out one lock per [`RefreshLockKey`]
//! (connector for a shared token, connector + user for a per-user token), so concurrent
//! refreshers of one token wait for one refresh while refreshers of other tokens never wait.
//!
//! A backend decides how far the lock reaches. [`LocalRefreshLocks`] (the SQLite backend's)
//! excludes within one process: one process owns a SQLite file. A backend shared by several
//! processes (PostgreSQL) excludes across all of them, and its lock dies with the process that
//! held it. Either way the refresher re-reads the token inside the lock and writes it back with
//! the version it read ([`TokenStore::update_shared_token`](super::TokenStore)), so a holder
//! that lost its lock without knowing cannot overwrite a newer rotation.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Weak};

use async_trait::async_trait;
use tokio::sync::Mutex;

use super::error::StoreError;

/// What a refresh lock is keyed by.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RefreshLockKey {
    pub connector_id: String,
    /// `None` for the connector's shared token.
    pub user_id: Option<String>,
}

impl RefreshLockKey {
    pub fn shared(connector_id: &str) -> RefreshLockKey {
        RefreshLockKey {
            connector_id: connector_id.to_string(),
            user_id: None,
        }
    }

    pub fn user(connector_id: &str, user_id: &str) -> RefreshLockKey {
        RefreshLockKey {
            connector_id: connector_id.to_string(),
            user_id: Some(user_id.to_string()),
        }
    }

    /// One string naming the key (`connector` or `connector` NUL `user`), for backends that
    /// hash it into a lock id.
    pub fn canonical(&self) -> String {
        match &self.user_id {
            None => self.connector_id.clone(),
            Some(u) => format!("{}\0{u}", self.connector_id),
        }
    }
}

/// A held refresh lock: released when dropped.
pub struct RefreshGuard {
    _held: Box<dyn Send + Sync>,
}

impl RefreshGuard {
    /// A guard that holds `held` (whatever keeps the lock) until dropped.
    pub fn new(held: impl Send + Sync + 'static) -> RefreshGuard {
        RefreshGuard {
            _held: Box::new(held),
        }
    }
}

impl fmt::Debug for RefreshGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RefreshGuard")
    }
}

/// Where refresh locks come from. A backend that several processes share must exclude
/// across them.
#[async_trait]
pub trait RefreshLocks: Send + Sync + fmt::Debug {
    /// Wait for the lock of `key`. Fails only when the backend cannot be reached.
    async fn lock(&self, key: &RefreshLockKey) -> Result<RefreshGuard, StoreError>;
}

/// Locks that exclude within this process: one async mutex per key. Entries live as long as
/// someone holds or waits for their lock. Cloning shares the table.
#[derive(Debug, Default, Clone)]
pub struct LocalRefreshLocks {
    table: Arc<std::sync::Mutex<HashMap<RefreshLockKey, Weak<Mutex<()>>>>>,
}

/// Dead entries are swept when the table grows past this many.
const SWEEP_AT: usize = 1024;

impl LocalRefreshLocks {
    /// Wait for the in-process lock of `key`.
    pub async fn lock_local(&self, key: &RefreshLockKey) -> tokio::sync::OwnedMutexGuard<()> {
        let m = {
            let mut table = self.table.lock().expect("not poisoned");
            match table.get(key).and_then(Weak::upgrade) {
                Some(m) => m,
                None => {
                    if table.len() >= SWEEP_AT {
                        table.retain(|_, w| w.strong_count() > 0);
                    }
                    let m = Arc::new(Mutex::new(()));
                    table.insert(key.clone(), Arc::downgrade(&m));
                    m
                }
            }
        };
        m.lock_owned().await
    }

    /// Keys with a live lock (held or awaited).
    pub fn live(&self) -> usize {
        self.table
            .lock()
            .expect("not poisoned")
            .values()
            .filter(|w| w.strong_count() > 0)
            .count()
    }
}

#[async_trait]
impl RefreshLocks for LocalRefreshLocks {
    async fn lock(&self, key: &RefreshLockKey) -> Result<RefreshGuard, StoreError> {
        Ok(RefreshGuard::new(self.lock_local(key).await))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(c: &str, u: Option<&str>) -> RefreshLockKey {
        u.map_or_else(|| RefreshLockKey::shared(c), |u| RefreshLockKey::user(c, u))
    }

    #[tokio::test]
    async fn one_key_excludes_other_keys_do_not() {
        let locks = LocalRefreshLocks::default();
        let held = locks.lock(&key("c", Some("alice"))).await.unwrap();
        // Another user and the shared key are free while alice's lock is held.
        let bob = locks.lock(&key("c", Some("bob"))).await.unwrap();
        let shared = locks.lock(&key("c", None)).await.unwrap();
        drop((bob, shared));
        // Alice's key is taken: a second locker cannot get it until the first lets go.
        let l2 = locks.clone();
        let waiter = tokio::spawn(async move {
            let _g = l2.lock(&key("c", Some("alice"))).await.unwrap();
        });
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert!(!waiter.is_finished(), "alice's second locker must wait");
        drop(held);
        waiter.await.unwrap();
        assert_eq!(locks.live(), 0, "entries die with their last user");
    }

    #[test]
    fn canonical_names_separate_connector_and_user() {
        assert_eq!(key("c", None).canonical(), "c");
        assert_eq!(key("c", Some("u")).canonical(), "c\0u");
    }
}
