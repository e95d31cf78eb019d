//! The retry layer: which replies and errors are retried for which methods, how long to wait
//! (backoff, or the server's `Retry-After`, never earlier than it allows), and how often.
//!
//! A retry must not duplicate a write. GET, HEAD, PUT, DELETE and OPTIONS are retried on the
//! configured statuses, on throttling signals, on connection errors and on timeouts. POST and
//! PATCH only where the server said it did not act (429, 503 with `Retry-After`, a throttling
//! signal), unless the request carries an idempotency key or the policy says
//! `retryNonIdempotent: true`; then they are retried like a GET.

use std::time::Duration;

use connector_spec::{BackoffStrategy, RetryPolicy};
use reqwest::header::RETRY_AFTER;
use tokio_util::sync::CancellationToken;

use super::layer::{Layer, Next, Reply};
use super::wait::{retry_after, sleep, within_cap};
use crate::error::{ActionError, ErrorKind};
use crate::events::Events;

/// Retries the rest of the stack under a retry policy.
pub struct Retry<'a> {
    /// No policy: one attempt.
    pub policy: Option<&'a RetryPolicy>,
    /// A POST or PATCH may be retried like a GET (an idempotency key, `retryNonIdempotent`).
    pub writes_safe: bool,
    pub cancel: &'a CancellationToken,
    /// Told of every retry.
    pub events: &'a Events,
}

/// Whether sending `method` twice has the effect of sending it once (RFC 9110 9.2.2).
pub fn is_idempotent(method: &reqwest::Method) -> bool {
    !matches!(*method, reqwest::Method::POST | reqwest::Method::PATCH)
}

/// Whether `outcome` may be retried. `as_get`: the request may be retried like a GET.
fn retryable(outcome: &Result<Reply, ActionError>, as_get: bool, codes: &[u16]) -> bool {
    match outcome {
        Err(e) => as_get && matches!(e.kind, ErrorKind::Timeout | ErrorKind::Connect),
        Ok(reply) => {
            let status = reply.status().as_u16();
            if reply.throttle().is_some() {
                return true;
            }
            if !codes.contains(&status) {
                return false;
            }
            // The server did not act on a 429, nor on a 503 that says when to come back.
            as_get || status == 429 || (status == 503 && reply.headers().contains_key(RETRY_AFTER))
        }
    }
}

impl Retry<'_> {
    /// The wait before retry number `attempt` after `outcome`.
    fn wait(
        &self,
        policy: &RetryPolicy,
        outcome: &Result<Reply, ActionError>,
        attempt: u32,
    ) -> Result<Duration, ActionError> {
        let cap = Duration::from_millis(policy.max_wait_ms);
        if let Ok(reply) = outcome
            && let Some(asked) = retry_after(reply.headers())
        {
            // Never earlier than the server allowed: a wait beyond the cap fails.
            return within_cap(asked, cap, "the provider asked to wait")
                .map_err(|e| e.with_status(reply.status().as_u16()));
        }
        Ok(backoff_delay(&policy.backoff, attempt, rand::random::<f64>()).min(cap))
    }
}

#[async_trait::async_trait]
impl Layer for Retry<'_> {
    async fn handle(&self, req: reqwest::Request, next: Next<'_>) -> Result<Reply, ActionError> {
        let Some(policy) = self.policy else {
            return next.run(req).await;
        };
        let codes = policy.retry_codes();
        let as_get = is_idempotent(req.method()) || self.writes_safe;
        let mut attempt: u32 = 0;
        loop {
            let this = req.try_clone().ok_or_else(|| {
                ActionError::system(
                    "request_not_retryable",
                    "a streaming request body cannot be retried",
                )
            })?;
            let outcome = next.run(this).await;
            if attempt >= policy.max_retries || !retryable(&outcome, as_get, &codes) {
                return outcome;
            }
            let wait = self.wait(policy, &outcome, attempt)?;
            tracing::info!(
                attempt,
                status = outcome.as_ref().ok().map(|r| r.status().as_u16()),
                code = outcome.as_ref().err().map(|e| e.code),
                wait_ms = wait.as_millis() as u64,
                "retrying"
            );
            drop(outcome);
            self.events.upstream_retry();
            attempt += 1;
            sleep(wait, self.cancel).await?;
        }
    }
}

/// Delay before retry number `attempt` (0-based). `unit` is a random number in [0, 1) used for
/// full jitter: the delay is drawn uniformly between half and all of the computed value.
pub fn backoff_delay(b: &connector_spec::Backoff, attempt: u32, unit: f64) -> Duration {
    let base = b.initial_delay_ms as f64;
    let raw = match b.strategy {
        BackoffStrategy::Fixed => base,
        BackoffStrategy::Linear => base * f64::from(attempt + 1),
        BackoffStrategy::Exponential => base * 2f64.powi(attempt.min(30) as i32),
    };
    let capped = raw.min(b.max_delay_ms as f64);
    let ms = if b.jitter {
        capped * (0.5 + unit.clamp(0.0, 1.0) / 2.0)
    } else {
        capped
    };
    Duration::from_millis(ms as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::test_support::{Answer, Counter, fail, reply, request, run_one};
    use connector_spec::{Backoff, RetryPreset};
    use reqwest::Method;

    fn policy(presets: Vec<RetryPreset>) -> RetryPolicy {
        RetryPolicy {
            presets,
            status_codes: vec![],
            max_retries: 2,
            backoff: Backoff {
                strategy: BackoffStrategy::Fixed,
                initial_delay_ms: 1,
                max_delay_ms: 1,
                jitter: false,
            },
            max_wait_ms: 2_000,
            retry_non_idempotent: false,
        }
    }

    /// Send one `method` request through a retry layer; the number of attempts and the result.
    async fn attempts(
        method: Method,
        policy: &RetryPolicy,
        writes_safe: bool,
        answers: Vec<Answer>,
    ) -> (usize, Result<Reply, ActionError>) {
        let counter = Counter::script(answers);
        let cancel = CancellationToken::new();
        let layer = Retry {
            policy: Some(policy),
            writes_safe,
            cancel: &cancel,
            events: &Events::none(),
        };
        let r = run_one(&layer, &counter, request(method, "http://127.0.0.1:9/t")).await;
        (counter.calls(), r)
    }

    #[tokio::test]
    async fn a_post_answered_500_is_sent_once() {
        let p = policy(vec![RetryPreset::ServerErrors]);
        let (n, r) = attempts(Method::POST, &p, false, vec![reply(500, &[], "")]).await;
        assert_eq!(n, 1);
        assert_eq!(r.unwrap().status(), 500);
    }

    #[tokio::test]
    async fn a_put_or_a_safe_post_answered_500_is_retried() {
        let p = policy(vec![RetryPreset::ServerErrors]);
        let answers = || vec![reply(500, &[], ""), reply(200, &[], "")];
        let (n, r) = attempts(Method::PUT, &p, false, answers()).await;
        assert_eq!((n, r.unwrap().status().as_u16()), (2, 200));
        let (n, r) = attempts(Method::POST, &p, true, answers()).await;
        assert_eq!((n, r.unwrap().status().as_u16()), (2, 200));
    }

    #[tokio::test]
    async fn a_post_is_retried_where_the_server_did_not_act() {
        let p = policy(vec![RetryPreset::RateLimit]);
        let ok = reply(201, &[], "");
        let (n, _) = attempts(
            Method::POST,
            &p,
            false,
            vec![reply(429, &[], ""), ok.clone()],
        )
        .await;
        assert_eq!(n, 2, "429");
        let with_ra = reply(503, &[("retry-after", "0")], "");
        let (n, _) = attempts(Method::POST, &p, false, vec![with_ra, ok.clone()]).await;
        assert_eq!(n, 2, "503 with Retry-After");
        let (n, _) = attempts(Method::POST, &p, false, vec![reply(503, &[], ""), ok]).await;
        assert_eq!(n, 1, "a bare 503 may have been processed");
    }

    #[tokio::test]
    async fn connection_errors_are_retried_for_get_but_not_for_a_plain_post() {
        let p = policy(vec![RetryPreset::ServerErrors]);
        let broken = || {
            vec![
                fail(ActionError::connection_failed("reset")),
                reply(200, &[], ""),
            ]
        };
        let (n, r) = attempts(Method::GET, &p, false, broken()).await;
        assert_eq!((n, r.unwrap().status().as_u16()), (2, 200));
        let (n, r) = attempts(Method::POST, &p, false, broken()).await;
        assert_eq!(n, 1);
        assert_eq!(r.unwrap_err().kind, ErrorKind::Connect);
        let (n, _) = attempts(Method::POST, &p, true, broken()).await;
        assert_eq!(n, 2, "with a key or retryNonIdempotent");
        let timeouts = vec![fail(ActionError::timeout("slow"))];
        let (n, r) = attempts(Method::DELETE, &p, false, timeouts).await;
        assert_eq!(n, 3, "first attempt and maxRetries: 2");
        assert_eq!(r.unwrap_err().code, "timeout");
    }

    #[tokio::test]
    async fn other_errors_are_never_retried() {
        let p = policy(vec![RetryPreset::ServerErrors]);
        let big = vec![fail(ActionError::response_too_large(10))];
        let (n, r) = attempts(Method::GET, &p, false, big).await;
        assert_eq!(n, 1);
        assert_eq!(r.unwrap_err().code, "response_too_large");
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_is_waited_in_full() {
        let p = policy(vec![RetryPreset::RateLimit]);
        let start = tokio::time::Instant::now();
        let answers = vec![reply(429, &[("retry-after", "1")], ""), reply(200, &[], "")];
        let (n, _) = attempts(Method::GET, &p, false, answers).await;
        assert_eq!(n, 2);
        assert!(
            start.elapsed() >= Duration::from_secs(1),
            "{:?}",
            start.elapsed()
        );
    }

    #[tokio::test]
    async fn a_wait_beyond_the_cap_fails_rate_limited_at_once() {
        let p = policy(vec![RetryPreset::RateLimit]);
        let answers = vec![reply(429, &[("retry-after", "3600")], "")];
        let (n, r) = attempts(Method::GET, &p, false, answers).await;
        assert_eq!(n, 1);
        let e = r.unwrap_err();
        assert_eq!((e.code, e.status), ("rate_limited", Some(429)));
        assert!(e.message.contains("3600 s"), "{e}");
    }

    #[test]
    fn backoff_strategies_grow_as_documented_and_stay_capped() {
        let mut b = Backoff {
            strategy: BackoffStrategy::Exponential,
            initial_delay_ms: 100,
            max_delay_ms: 1000,
            jitter: false,
        };
        let d: Vec<u64> = (0..5)
            .map(|a| backoff_delay(&b, a, 0.0).as_millis() as u64)
            .collect();
        assert_eq!(d, [100, 200, 400, 800, 1000]);
        b.strategy = BackoffStrategy::Linear;
        assert_eq!(backoff_delay(&b, 2, 0.0).as_millis(), 300);
        b.strategy = BackoffStrategy::Fixed;
        assert_eq!(backoff_delay(&b, 4, 0.0).as_millis(), 100);
        b.jitter = true;
        let j = backoff_delay(&b, 0, 0.0).as_millis();
        assert_eq!(j, 50, "jitter draws between half and all of the delay");
    }
}
