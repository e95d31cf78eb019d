//! The [`AuditStore`](crate::store::AuditStore) of both SQL backends, written once (see
//! `store/sql/tokens.rs` for the conventions). Nothing in it is sealed.

/// `audit_store!(Store, Database)`: the store type (field `pool`) and its sqlx database.
macro_rules! audit_store {
    ($store:ty, $db:ty) => {
        const _: () = {
            use async_trait::async_trait;

            use $crate::store::audit::{AuditEvent, AuditFilter, AuditPage, AuditStore};
            use $crate::store::error::StoreError;
            use $crate::store::sql::{audit_page, audit_select, check_audit_limit, event_from_row};

        #[async_trait]
        impl AuditStore for $store {
            async fn record(&self, event: AuditEvent) -> Result<i64, StoreError> {
                let e = event.clamped();
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO audit_events (at, operation, actor, on_behalf_of, instance, action, \
                     target, outcome, code, duration_ms, request_id) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
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
                .fetch_one(&self.pool)
                .await?;
                Ok(id)
            }

            async fn query(&self, filter: &AuditFilter) -> Result<AuditPage, StoreError> {
                check_audit_limit(filter.limit)?;
                let rows = audit_select::<$db>(filter, filter.limit)
                    .build()
                    .fetch_all(&self.pool)
                    .await?;
                let events = rows
                    .iter()
                    .map(|r| event_from_row(r))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(audit_page(events, filter.limit))
            }
        }
        };
    };
}

pub(crate) use audit_store;
