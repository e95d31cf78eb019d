//! Fixed-window request counters per user and bucket ([`RateLimits`]): what bounds how often
//! one user may start or complete OAuth flows. A backend shared by several processes counts
//! across all of them, so a limit holds however many instances sit behind a load balancer.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;

use super::error::StoreError;
use super::timestamp::Timestamp;

/// One counted request against a limit.
#[derive(Debug, Clone, Copy)]
pub struct RateLimit {
    /// Requests allowed per window.
    pub limit: u32,
    pub window: Duration,
}

/// What a hit was told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateDecision {
    Allowed,
    /// Over the limit: retry after this many whole seconds (at least 1).
    Refused {
        retry_after: u64,
    },
}

/// Windows kept at most by [`LocalRateLimits`] before expired ones are swept.
const SWEEP_AT: usize = 10_000;

/// Counters of requests per `(user, bucket)` in fixed windows.
#[async_trait]
pub trait RateLimits: Send + Sync + fmt::Debug {
    /// Count one request of `user` in `bucket` at `now`: allowed while the window holds fewer
    /// than `limit.limit` requests; a window starts with the first request after the last one
    /// ended.
    async fn hit(
        &self,
        user: &str,
        bucket: &str,
        limit: RateLimit,
        now: Timestamp,
    ) -> Result<RateDecision, StoreError>;
}

/// The decision for a window that started at `start` and now holds `count` requests
/// (this one included). Shared by the backends so they answer alike.
pub fn decide(start: Timestamp, count: u64, limit: RateLimit, now: Timestamp) -> RateDecision {
    if count <= u64::from(limit.limit) {
        return RateDecision::Allowed;
    }
    let window_ms = limit.window.as_millis() as i64;
    let left_ms = (start.0 + window_ms - now.0).max(0);
    RateDecision::Refused {
        retry_after: (left_ms as u64).div_ceil(1000).max(1),
    }
}

/// Each `(user, bucket)`'s window: when it started, and the requests counted in it.
type Windows = HashMap<(String, String), (Timestamp, u64)>;

/// In-process counters, for a backend only one process uses. Cloning shares them.
#[derive(Debug, Default, Clone)]
pub struct LocalRateLimits {
    windows: Arc<Mutex<Windows>>,
}

#[async_trait]
impl RateLimits for LocalRateLimits {
    async fn hit(
        &self,
        user: &str,
        bucket: &str,
        limit: RateLimit,
        now: Timestamp,
    ) -> Result<RateDecision, StoreError> {
        let window_ms = limit.window.as_millis() as i64;
        let mut m = self.windows.lock().expect("not poisoned");
        if m.len() > SWEEP_AT {
            m.retain(|_, (start, _)| now.0 - start.0 < window_ms);
        }
        let e = m
            .entry((user.to_string(), bucket.to_string()))
            .or_insert((now, 0));
        if now.0 - e.0.0 >= window_ms {
            *e = (now, 0);
        }
        // A refused request is not counted: it did nothing.
        let decision = decide(e.0, e.1 + 1, limit, now);
        if decision == RateDecision::Allowed {
            e.1 += 1;
        }
        Ok(decision)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PER_MINUTE_2: RateLimit = RateLimit {
        limit: 2,
        window: Duration::from_secs(60),
    };

    #[tokio::test]
    async fn a_window_allows_its_limit_then_says_how_long_to_wait() {
        let l = LocalRateLimits::default();
        let t0 = Timestamp(1_000_000);
        for _ in 0..2 {
            assert_eq!(
                l.hit("u", "start", PER_MINUTE_2, t0).await.unwrap(),
                RateDecision::Allowed
            );
        }
        assert_eq!(
            l.hit("u", "start", PER_MINUTE_2, Timestamp(t0.0 + 15_500))
                .await
                .unwrap(),
            RateDecision::Refused { retry_after: 45 }
        );
        // Another bucket and another user have their own windows.
        assert_eq!(
            l.hit("u", "callback", PER_MINUTE_2, t0).await.unwrap(),
            RateDecision::Allowed
        );
        assert_eq!(
            l.hit("v", "start", PER_MINUTE_2, t0).await.unwrap(),
            RateDecision::Allowed
        );
        // The next window starts fresh.
        assert_eq!(
            l.hit("u", "start", PER_MINUTE_2, Timestamp(t0.0 + 60_000))
                .await
                .unwrap(),
            RateDecision::Allowed
        );
    }
}
