//! The rate-limit layer: requests wait at the shared [`RateLimitGate`] while an earlier reply
//! said the quota is spent; replies are read for rate-limit headers; a status or body the
//! `rateLimit` policy names is marked as a throttling signal for the retry layer above.

use std::time::{Duration, Instant};

use connector_spec::{RateLimitPolicy, RateLimitStrategy};
use reqwest::header::HeaderMap;
use tokio_util::sync::CancellationToken;

use super::condition::condition_matches;
use super::layer::{Layer, Next, Reply, Throttle};
use super::wait::{parse_reset, retry_after, sleep, within_cap};
use crate::error::ActionError;
use crate::events::Events;

/// Shared state of the rate-limit policy: when the next request may go out.
#[derive(Debug, Default)]
pub struct RateLimitGate {
    blocked_until: std::sync::Mutex<Option<Instant>>,
}

impl RateLimitGate {
    /// Delay requests until `until`.
    pub fn block_until(&self, until: Instant) {
        let mut b = self.blocked_until.lock().expect("not poisoned");
        if b.is_none_or(|cur| cur < until) {
            *b = Some(until);
        }
    }

    /// How long the next request must wait.
    pub fn wait(&self) -> Option<Duration> {
        let b = self.blocked_until.lock().expect("not poisoned");
        b.and_then(|until| until.checked_duration_since(Instant::now()))
    }
}

/// Waits at the gate, observes replies, marks throttling signals.
pub struct RateLimit<'a> {
    pub policy: Option<&'a RateLimitPolicy>,
    pub gate: &'a RateLimitGate,
    /// The longest wait at the gate; beyond it the request fails `rate_limited`.
    pub max_wait: Duration,
    pub cancel: &'a CancellationToken,
    /// Told of every wait at the gate.
    pub events: &'a Events,
}

impl RateLimit<'_> {
    /// Block the gate when a reply says the quota is spent.
    fn observe(&self, headers: &HeaderMap, status: u16) {
        let header_strategy = self
            .policy
            .filter(|rl| rl.strategy == RateLimitStrategy::Header);
        let Some(rl) = header_strategy else {
            if self.policy.is_some()
                && status == 429
                && let Some(w) = retry_after(headers)
            {
                self.gate.block_until(Instant::now() + w);
            }
            return;
        };
        let number = |h: &Option<String>| {
            h.as_deref()
                .and_then(|h| headers.get(h))
                .and_then(|v| v.to_str().ok())
        };
        let remaining = number(&rl.remaining_header).and_then(|v| v.trim().parse::<f64>().ok());
        if !(remaining.is_some_and(|r| r <= 0.0) || status == 429) {
            return;
        }
        let reset = number(&rl.reset_header).and_then(|v| parse_reset(v, rl.reset_format));
        if let Some(wait) = reset.or_else(|| retry_after(headers)) {
            tracing::info!(
                wait_ms = wait.as_millis() as u64,
                "rate limit exhausted: delaying the next request"
            );
            self.gate.block_until(Instant::now() + wait);
        }
    }

    /// The throttling signal the policy finds in a reply.
    fn throttle(&self, reply: &Reply) -> Option<Throttle> {
        let rl = self.policy?;
        let status = reply.status().as_u16();
        match rl.strategy {
            RateLimitStrategy::StatusCode => {
                let hit = if rl.codes.is_empty() {
                    status == 429
                } else {
                    rl.codes.contains(&status)
                };
                hit.then_some(Throttle::Status)
            }
            RateLimitStrategy::ResponseBody => {
                let (when, body) = (rl.when.as_ref()?, reply.body()?);
                condition_matches(when, status, body).then_some(Throttle::Body)
            }
            RateLimitStrategy::Header => None,
        }
    }
}

#[async_trait::async_trait]
impl Layer for RateLimit<'_> {
    async fn handle(&self, req: reqwest::Request, next: Next<'_>) -> Result<Reply, ActionError> {
        if let Some(wait) = self.gate.wait() {
            let wait = within_cap(wait, self.max_wait, "an earlier reply asked to wait")?;
            tracing::debug!(
                wait_ms = wait.as_millis() as u64,
                "rate limit: waiting before request"
            );
            self.events.rate_limit_wait(wait);
            sleep(wait, self.cancel).await?;
        }
        let mut reply = next.run(req).await?;
        self.observe(reply.headers(), reply.status().as_u16());
        if let Some(t) = self.throttle(&reply) {
            reply.set_throttle(t);
        }
        Ok(reply)
    }
}

/// A reply still throttled in its body after every retry is the error `rate_limited` (a
/// throttling status is returned as the reply and classified by its status).
pub fn throttle_verdict(reply: Reply) -> Result<Reply, ActionError> {
    if reply.throttle() == Some(Throttle::Body) {
        return Err(ActionError::rate_limited(
            "the provider reported throttling in the response body",
        )
        .with_status(reply.status().as_u16()));
    }
    Ok(reply)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::BodyLimit;
    use crate::http::test_support::{Counter, get, reply};
    use connector_spec::Condition;

    fn policy(strategy: RateLimitStrategy) -> RateLimitPolicy {
        serde_json::from_value(serde_json::json!({ "strategy": strategy })).unwrap()
    }

    async fn send(layer: &RateLimit<'_>, counter: &Counter) -> Result<Reply, ActionError> {
        let never = CancellationToken::new();
        let body = BodyLimit {
            limit: 1 << 20,
            streaming: false,
            time: crate::http::Timeout {
                total: Duration::from_secs(60),
                cancel: &never,
            },
        };
        let layers: [&dyn Layer; 2] = [layer, &body];
        crate::http::run(&layers, counter, get("http://127.0.0.1:9/")).await
    }

    #[tokio::test(start_paused = true)]
    async fn an_exhausted_quota_holds_the_next_request_until_the_reset() {
        let mut p = policy(RateLimitStrategy::Header);
        p.remaining_header = Some("x-remaining".into());
        p.reset_header = Some("x-reset".into());
        let gate = RateLimitGate::default();
        let cancel = CancellationToken::new();
        let layer = RateLimit {
            policy: Some(&p),
            gate: &gate,
            max_wait: Duration::from_secs(30),
            cancel: &cancel,
            events: &Events::none(),
        };
        let counter = Counter::script(vec![
            reply(200, &[("x-remaining", "0"), ("x-reset", "2")], ""),
            reply(200, &[("x-remaining", "10")], ""),
        ]);
        send(&layer, &counter).await.unwrap();
        assert!(
            gate.wait().is_some(),
            "the gate is closed after remaining: 0"
        );
        let start = tokio::time::Instant::now();
        send(&layer, &counter).await.unwrap();
        assert!(
            start.elapsed() >= Duration::from_millis(1900),
            "{:?}",
            start.elapsed()
        );
        assert_eq!(counter.calls(), 2);
    }

    #[tokio::test]
    async fn a_gate_closed_beyond_the_cap_fails_without_sending() {
        let gate = RateLimitGate::default();
        gate.block_until(Instant::now() + Duration::from_secs(600));
        let cancel = CancellationToken::new();
        let layer = RateLimit {
            policy: None,
            gate: &gate,
            max_wait: Duration::from_secs(1),
            cancel: &cancel,
            events: &Events::none(),
        };
        let counter = Counter::ok(200);
        let e = send(&layer, &counter).await.unwrap_err();
        assert_eq!(e.code, "rate_limited");
        assert_eq!(counter.calls(), 0);
    }

    #[tokio::test]
    async fn throttling_in_a_body_or_a_named_status_is_marked() {
        let mut p = policy(RateLimitStrategy::ResponseBody);
        p.when = Some(Condition {
            path: Some("$.error".parse().expect("a JSON path")),
            equals: Some(serde_json::json!("ratelimited")),
            ..Condition::default()
        });
        let gate = RateLimitGate::default();
        let cancel = CancellationToken::new();
        let layer = RateLimit {
            policy: Some(&p),
            gate: &gate,
            max_wait: Duration::from_secs(1),
            cancel: &cancel,
            events: &Events::none(),
        };
        let counter = Counter::script(vec![
            reply(200, &[], r#"{"ok":false,"error":"ratelimited"}"#),
            reply(200, &[], r#"{"ok":true}"#),
        ]);
        let throttled = send(&layer, &counter).await.unwrap();
        assert_eq!(throttled.throttle(), Some(Throttle::Body));
        assert_eq!(
            throttle_verdict(throttled).unwrap_err().code,
            "rate_limited"
        );
        let fine = send(&layer, &counter).await.unwrap();
        assert_eq!(fine.throttle(), None);
        assert!(throttle_verdict(fine).is_ok());

        let mut p = policy(RateLimitStrategy::StatusCode);
        p.codes = vec![420];
        let layer = RateLimit {
            policy: Some(&p),
            ..layer
        };
        let counter = Counter::ok(420);
        let r = send(&layer, &counter).await.unwrap();
        assert_eq!(r.throttle(), Some(Throttle::Status));
    }
}
