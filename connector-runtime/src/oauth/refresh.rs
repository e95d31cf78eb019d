//! Single-flight refresh locks: one async mutex per lock key (connector for a shared token,
//! connector + user for a per-user token), so concurrent callers on one key wait for one
//! refresh while callers on other keys never wait for it.

use std::collections::HashMap;
use std::sync::{Arc, Weak};

use tokio::sync::{Mutex, OwnedMutexGuard};

/// Whose token: a connector's shared token, or one user's token for a connector.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TokenOwner {
    Shared,
    User(String),
}

/// What a refresh lock is keyed by.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LockKey {
    connector_id: String,
    /// `None` for the connector's shared token.
    user_id: Option<String>,
}

impl LockKey {
    pub fn new(connector_id: &str, owner: &TokenOwner) -> LockKey {
        LockKey {
            connector_id: connector_id.to_string(),
            user_id: match owner {
                TokenOwner::Shared => None,
                TokenOwner::User(u) => Some(u.clone()),
            },
        }
    }
}

/// The lock table. Entries live as long as someone holds or waits for their lock.
#[derive(Debug, Default)]
pub struct RefreshLocks {
    table: std::sync::Mutex<HashMap<LockKey, Weak<Mutex<()>>>>,
}

/// Dead entries are swept when the table grows past this many.
const SWEEP_AT: usize = 1024;

impl RefreshLocks {
    /// Wait for the lock of `key`.
    pub async fn lock(&self, key: LockKey) -> OwnedMutexGuard<()> {
        let m = {
            let mut table = self.table.lock().expect("not poisoned");
            match table.get(&key).and_then(Weak::upgrade) {
                Some(m) => m,
                None => {
                    if table.len() >= SWEEP_AT {
                        table.retain(|_, w| w.strong_count() > 0);
                    }
                    let m = Arc::new(Mutex::new(()));
                    table.insert(key, Arc::downgrade(&m));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn key(c: &str, u: Option<&str>) -> LockKey {
        LockKey::new(
            c,
            &u.map_or(TokenOwner::Shared, |u| TokenOwner::User(u.into())),
        )
    }

    #[tokio::test]
    async fn one_key_excludes_other_keys_do_not() {
        let locks = RefreshLocks::default();
        let held = locks.lock(key("c", Some("alice"))).await;
        // Another user and the shared key are free while alice's lock is held.
        let bob = locks.lock(key("c", Some("bob"))).await;
        let shared = locks.lock(key("c", None)).await;
        drop((bob, shared));
        // Alice's key is taken: a second locker cannot get it until the first lets go.
        let l = Arc::new(locks);
        let l2 = Arc::clone(&l);
        let waiter = tokio::spawn(async move {
            let _g = l2.lock(key("c", Some("alice"))).await;
        });
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert!(!waiter.is_finished(), "alice's second locker must wait");
        drop(held);
        waiter.await.unwrap();
        assert_eq!(l.live(), 0, "entries die with their last user");
    }
}
