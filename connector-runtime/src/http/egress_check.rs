//! The egress layer: a request URL the instance's [`EgressPolicy`] refuses never leaves, and
//! costs no token fetch (this layer sits above auth). It is not an attempt and is never retried.

use super::layer::{Layer, Next, Reply};
use crate::egress::EgressPolicy;
use crate::error::ActionError;

/// Checks the request URL with [`crate::egress::check_outbound`].
pub struct EgressCheck<'a> {
    /// No policy: every URL passes (redirects and resolved addresses are checked by the
    /// reqwest client when there is one).
    pub policy: Option<&'a EgressPolicy>,
}

#[async_trait::async_trait]
impl Layer for EgressCheck<'_> {
    async fn handle(&self, req: reqwest::Request, next: Next<'_>) -> Result<Reply, ActionError> {
        crate::egress::check_outbound(self.policy, req.url())
            .map_err(|e| crate::egress::refused(&e))?;
        next.run(req).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::test_support::{Counter, get, run_one};

    #[tokio::test]
    async fn a_refused_url_never_reaches_the_transport() {
        let policy = EgressPolicy::default();
        let counter = Counter::ok(200);
        let layer = EgressCheck {
            policy: Some(&policy),
        };
        let err = run_one(&layer, &counter, get("http://127.0.0.1:9/x"))
            .await
            .unwrap_err();
        assert_eq!(err.code, "egress_refused", "{err}");
        assert_eq!(counter.calls(), 0);
    }

    #[tokio::test]
    async fn without_a_policy_the_request_goes_out() {
        let counter = Counter::ok(200);
        let layer = EgressCheck { policy: None };
        let reply = run_one(&layer, &counter, get("http://127.0.0.1:9/x"))
            .await
            .unwrap();
        assert_eq!(reply.status(), 200);
        assert_eq!(counter.calls(), 1);
    }
}
