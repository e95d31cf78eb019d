//! [`AuditStore`](crate::store::AuditStore) on the `audit_events` table (migration 3). Nothing in it is sealed.

use sqlx::sqlite::{Sqlite, SqlitePool};

/// The audit trail in a SQLite file. It needs no keyring (nothing in it is sealed), so
/// `connector users` and `connector audit` can reach it with only the file. Cloning shares the
/// pool.
#[derive(Debug, Clone)]
pub struct SqliteAuditStore {
    pool: SqlitePool,
}

impl SqliteAuditStore {
    pub(super) fn from_pool(pool: SqlitePool) -> SqliteAuditStore {
        SqliteAuditStore { pool }
    }
}

crate::store::sql::audit::audit_store!(SqliteAuditStore, Sqlite);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::audit::MAX_PAGE;
    use crate::store::audit::{AuditEvent, AuditFilter, AuditStore};
    use crate::store::error::StoreError;
    use crate::store::{Keyring, SqliteStore};

    async fn store() -> (tempfile::TempDir, SqliteAuditStore) {
        let dir = tempfile::tempdir().unwrap();
        let keys = Keyring::single("k1", &[7; 32]).unwrap();
        let s = SqliteStore::open(dir.path().join("store.db"), keys)
            .await
            .unwrap();
        (dir, s.audit())
    }

    fn event(op: &str, actor: &str, at: i64) -> AuditEvent {
        let mut e = AuditEvent::new(op);
        e.actor = Some(actor.into());
        e.at = at;
        e
    }

    #[tokio::test]
    async fn events_come_back_newest_first_in_pages_that_end() {
        let (_d, s) = store().await;
        for i in 0..5 {
            s.record(event("action.run", "alice", 1000 + i))
                .await
                .unwrap();
        }
        let mut filter = AuditFilter {
            limit: 2,
            ..AuditFilter::default()
        };
        let mut seen = Vec::new();
        loop {
            let page = s.query(&filter).await.unwrap();
            seen.extend(page.events.iter().map(|e| e.at));
            match page.next_before_id {
                Some(id) => filter.before_id = Some(id),
                None => break,
            }
        }
        assert_eq!(seen, vec![1004, 1003, 1002, 1001, 1000]);
    }

    #[tokio::test]
    async fn filters_match_user_on_any_side_and_time_bounds_are_inclusive() {
        let (_d, s) = store().await;
        s.record(event("action.run", "alice", 10)).await.unwrap();
        let mut admin_on_bob = event("key.rotate", "admin", 20);
        admin_on_bob.target = Some("bob/default".into());
        let mut not_bob = event("key.rotate", "admin", 25);
        not_bob.target = Some("bobby/default".into());
        s.record(not_bob).await.unwrap();
        s.record(admin_on_bob).await.unwrap();
        let mut failed = event("action.run", "bob", 30);
        failed.outcome = "upstream".into();
        s.record(failed).await.unwrap();
        let q = |f: AuditFilter| {
            let s = s.clone();
            async move {
                s.query(&AuditFilter { limit: 50, ..f })
                    .await
                    .unwrap()
                    .events
                    .into_iter()
                    .map(|e| e.at)
                    .collect::<Vec<_>>()
            }
        };
        let bob = AuditFilter {
            user: Some("bob".into()),
            ..AuditFilter::default()
        };
        assert_eq!(q(bob).await, vec![30, 20]);
        let upstream = AuditFilter {
            outcome: Some("upstream".into()),
            ..AuditFilter::default()
        };
        assert_eq!(q(upstream).await, vec![30]);
        let window = AuditFilter {
            since: Some(10),
            until: Some(20),
            ..AuditFilter::default()
        };
        assert_eq!(q(window).await, vec![20, 10]);
    }

    #[tokio::test]
    async fn a_page_size_out_of_bounds_is_refused() {
        let (_d, s) = store().await;
        for limit in [0, MAX_PAGE + 1] {
            let e = s
                .query(&AuditFilter {
                    limit,
                    ..AuditFilter::default()
                })
                .await
                .unwrap_err();
            assert!(matches!(e, StoreError::InvalidInput { field: "limit", .. }));
        }
    }
}
