//! [`AuditStore`] on the `audit_events` table (migration 3). Nothing in it is sealed.

use async_trait::async_trait;
use sqlx::sqlite::{Sqlite, SqlitePool, SqliteRow};
use sqlx::{QueryBuilder, Row};

use crate::store::audit::{AuditEvent, AuditFilter, AuditPage, AuditStore, MAX_PAGE};
use crate::store::error::StoreError;

const COLUMNS: &str = "id, at, operation, actor, on_behalf_of, instance, action, target, \
                       outcome, code, duration_ms, request_id";

fn event_from_row(r: &SqliteRow) -> Result<AuditEvent, StoreError> {
    Ok(AuditEvent {
        id: r.try_get("id")?,
        at: r.try_get("at")?,
        operation: r.try_get("operation")?,
        actor: r.try_get("actor")?,
        on_behalf_of: r.try_get("on_behalf_of")?,
        instance: r.try_get("instance")?,
        action: r.try_get("action")?,
        target: r.try_get("target")?,
        outcome: r.try_get("outcome")?,
        code: r.try_get("code")?,
        duration_ms: r.try_get("duration_ms")?,
        request_id: r.try_get("request_id")?,
    })
}

/// `SELECT ... WHERE <filter> ORDER BY id DESC LIMIT <limit + 1>`.
fn select(filter: &AuditFilter, limit: u32) -> QueryBuilder<Sqlite> {
    let mut q = QueryBuilder::new(format!("SELECT {COLUMNS} FROM audit_events WHERE 1 = 1"));
    if let Some(u) = &filter.user {
        q.push(" AND (actor = ")
            .push_bind(u.clone())
            .push(" OR on_behalf_of = ")
            .push_bind(u.clone())
            .push(" OR target = ")
            .push_bind(u.clone())
            .push(" OR substr(target, 1, length(")
            .push_bind(u.clone())
            .push(") + 1) = ")
            .push_bind(format!("{u}/"))
            .push(")");
    }
    for (column, value) in [
        ("instance", &filter.instance),
        ("action", &filter.action),
        ("operation", &filter.operation),
        ("outcome", &filter.outcome),
    ] {
        if let Some(v) = value {
            q.push(format!(" AND {column} = ")).push_bind(v.clone());
        }
    }
    if let Some(t) = filter.since {
        q.push(" AND at >= ").push_bind(t);
    }
    if let Some(t) = filter.until {
        q.push(" AND at <= ").push_bind(t);
    }
    if let Some(id) = filter.before_id {
        q.push(" AND id < ").push_bind(id);
    }
    q.push(" ORDER BY id DESC LIMIT ")
        .push_bind(i64::from(limit) + 1);
    q
}

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

#[async_trait]
impl AuditStore for SqliteAuditStore {
    async fn record(&self, event: AuditEvent) -> Result<i64, StoreError> {
        let e = event.clamped();
        let r = sqlx::query(
            "INSERT INTO audit_events (at, operation, actor, on_behalf_of, instance, action, \
             target, outcome, code, duration_ms, request_id) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(e.at)
        .bind(&e.operation)
        .bind(&e.actor)
        .bind(&e.on_behalf_of)
        .bind(&e.instance)
        .bind(&e.action)
        .bind(&e.target)
        .bind(&e.outcome)
        .bind(&e.code)
        .bind(e.duration_ms)
        .bind(&e.request_id)
        .execute(&self.pool)
        .await?;
        Ok(r.last_insert_rowid())
    }

    async fn query(&self, filter: &AuditFilter) -> Result<AuditPage, StoreError> {
        if filter.limit == 0 || filter.limit > MAX_PAGE {
            return Err(StoreError::InvalidInput {
                field: "limit",
                reason: format!("1 to {MAX_PAGE}"),
            });
        }
        let rows = select(filter, filter.limit)
            .build()
            .fetch_all(&self.pool)
            .await?;
        let mut events = rows
            .iter()
            .map(event_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        let more = events.len() > filter.limit as usize;
        events.truncate(filter.limit as usize);
        let next_before_id = if more {
            events.last().map(|e| e.id)
        } else {
            None
        };
        Ok(AuditPage {
            events,
            next_before_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
