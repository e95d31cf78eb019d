//! [`PgRateLimits`]: fixed-window counters in the `rate_windows` table, so a limit holds
//! across every instance on the database. One upsert counts the hit (resetting a window that
//! has ended); a refused hit is taken back in the same transaction, as
//! [`LocalRateLimits`](crate::store::LocalRateLimits) does not count it. The decision is
//! [`rate_decision`](crate::store::rate_decision), so both backends answer alike.

use std::fmt;

use async_trait::async_trait;
use sqlx::postgres::PgPool;

use crate::store::error::StoreError;
use crate::store::rate_limits::{RateDecision, RateLimit, RateLimits, decide};
use crate::store::timestamp::Timestamp;

/// Rate-limit counters in a PostgreSQL database. Cloning shares the pool.
#[derive(Clone)]
pub struct PgRateLimits {
    pool: PgPool,
}

impl fmt::Debug for PgRateLimits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PgRateLimits")
    }
}

impl PgRateLimits {
    pub(super) fn from_pool(pool: PgPool) -> PgRateLimits {
        PgRateLimits { pool }
    }
}

#[async_trait]
impl RateLimits for PgRateLimits {
    async fn hit(
        &self,
        user: &str,
        bucket: &str,
        limit: RateLimit,
        now: Timestamp,
    ) -> Result<RateDecision, StoreError> {
        let window_ms = i64::try_from(limit.window.as_millis()).unwrap_or(i64::MAX);
        let mut tx = self.pool.begin().await?;
        let (start, count): (i64, i64) = sqlx::query_as(
            "INSERT INTO rate_windows (user_id, bucket, window_start, count) \
             VALUES ($1, $2, $3, 1) \
             ON CONFLICT (user_id, bucket) DO UPDATE SET \
             window_start = CASE WHEN $3 - rate_windows.window_start >= $4 THEN $3 \
                            ELSE rate_windows.window_start END, \
             count = CASE WHEN $3 - rate_windows.window_start >= $4 THEN 1 \
                     ELSE rate_windows.count + 1 END \
             RETURNING window_start, count",
        )
        .bind(user)
        .bind(bucket)
        .bind(now.0)
        .bind(window_ms)
        .fetch_one(&mut *tx)
        .await?;
        let decision = decide(
            Timestamp(start),
            u64::try_from(count).unwrap_or(0),
            limit,
            now,
        );
        if decision != RateDecision::Allowed {
            // A refused request did nothing: it is not counted (the row is still locked).
            sqlx::query(
                "UPDATE rate_windows SET count = count - 1 WHERE user_id = $1 AND bucket = $2",
            )
            .bind(user)
            .bind(bucket)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(decision)
    }
}
