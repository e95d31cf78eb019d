//! The timeout layer: the head of each attempt must arrive within the total timeout, and the
//! attempt stops at once when the call is cancelled. [`Timeout::bound`] applies the same
//! bound to reading a body ([`super::BodyLimit`], `HttpClient::read_body`).

use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::layer::{Layer, Next, Reply};
use crate::error::ActionError;

/// Default connect timeout.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default total timeout for one attempt.
pub const DEFAULT_TOTAL_TIMEOUT: Duration = Duration::from_secs(60);
/// Most redirects followed before the request fails.
pub const MAX_REDIRECTS: usize = 10;

/// Bounds one attempt in time.
#[derive(Clone, Copy)]
pub struct Timeout<'a> {
    pub total: Duration,
    pub cancel: &'a CancellationToken,
}

impl Timeout<'_> {
    /// Run `fut` within the total timeout (else `timeout` with `message`) and the
    /// cancellation token (else `cancelled`).
    pub async fn bound<T>(
        &self,
        fut: impl Future<Output = Result<T, ActionError>>,
        message: impl FnOnce() -> String,
    ) -> Result<T, ActionError> {
        let timed = tokio::time::timeout(self.total, fut);
        tokio::select! {
            r = timed => r.unwrap_or_else(|_| Err(ActionError::timeout(message()))),
            _ = self.cancel.cancelled() => Err(ActionError::cancelled()),
        }
    }
}

#[async_trait::async_trait]
impl Layer for Timeout<'_> {
    async fn handle(&self, req: reqwest::Request, next: Next<'_>) -> Result<Reply, ActionError> {
        let total = self.total.as_millis();
        self.bound(next.run(req), || format!("no response within {total} ms"))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use crate::http::test_support::{Counter, get, run_one};
    use crate::http::{Layer, Next};

    /// Holds every request for an hour before passing it on.
    struct Stall;

    #[async_trait::async_trait]
    impl Layer for Stall {
        async fn handle(
            &self,
            req: reqwest::Request,
            next: Next<'_>,
        ) -> Result<Reply, ActionError> {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            next.run(req).await
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_attempt_times_out_with_a_typed_kind() {
        let cancel = CancellationToken::new();
        let t = Timeout {
            total: Duration::from_millis(50),
            cancel: &cancel,
        };
        let counter = Counter::ok(200);
        let layers: [&dyn Layer; 2] = [&t, &Stall];
        let e = crate::http::run(&layers, &counter, get("http://127.0.0.1:9/"))
            .await
            .unwrap_err();
        assert_eq!((e.kind, e.code), (ErrorKind::Timeout, "timeout"));
        assert!(e.message.contains("50 ms"), "{e}");
        assert_eq!(counter.calls(), 0);
    }

    #[tokio::test]
    async fn cancellation_ends_the_attempt() {
        let cancel = CancellationToken::new();
        cancel.cancel();
        let t = Timeout {
            total: Duration::from_secs(60),
            cancel: &cancel,
        };
        let counter = Counter::ok(200);
        let layers: [&dyn Layer; 2] = [&t, &Stall];
        let e = crate::http::run(&layers, &counter, get("http://127.0.0.1:9/"))
            .await
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Cancelled);
    }

    #[tokio::test]
    async fn a_fast_attempt_passes() {
        let cancel = CancellationToken::new();
        let t = Timeout {
            total: Duration::from_secs(5),
            cancel: &cancel,
        };
        let counter = Counter::ok(204);
        let r = run_one(&t, &counter, get("http://127.0.0.1:9/"))
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
    }
}
