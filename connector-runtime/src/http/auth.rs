//! The auth layer: credentials applied to each attempt, and after a 401 one forced refresh
//! and one more attempt with the new credentials.

use super::layer::{Layer, Next, Reply};
use crate::auth::AuthStrategy;
use crate::error::ActionError;

/// Applies an [`AuthStrategy`].
pub struct Auth<'a> {
    pub strategy: &'a dyn AuthStrategy,
}

#[async_trait::async_trait]
impl Layer for Auth<'_> {
    async fn handle(&self, req: reqwest::Request, next: Next<'_>) -> Result<Reply, ActionError> {
        // A request with a streaming body cannot be sent twice; its 401 is returned as is.
        let again = req.try_clone();
        let mut first = req;
        self.strategy.apply(&mut first).await?;
        let reply = next.run(first).await?;
        if reply.status() != reqwest::StatusCode::UNAUTHORIZED {
            return Ok(reply);
        }
        let Some(mut again) = again else {
            return Ok(reply);
        };
        if !self.strategy.refresh().await? {
            return Ok(reply);
        }
        tracing::info!("401: refreshed credentials, retrying once");
        drop(reply);
        self.strategy.apply(&mut again).await?;
        next.run(again).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;
    use crate::http::test_support::{Counter, get, reply, run_one};

    /// Sends `Bearer t<generation>`; a refresh moves to the next generation when allowed.
    #[derive(Debug)]
    struct Rotating {
        generation: AtomicU32,
        refreshable: bool,
    }

    #[async_trait::async_trait]
    impl AuthStrategy for Rotating {
        async fn apply(&self, req: &mut reqwest::Request) -> Result<(), ActionError> {
            let g = self.generation.load(Ordering::SeqCst);
            req.headers_mut().insert(
                reqwest::header::AUTHORIZATION,
                format!("Bearer t{g}").parse().unwrap(),
            );
            Ok(())
        }
        async fn refresh(&self) -> Result<bool, ActionError> {
            if self.refreshable {
                self.generation.fetch_add(1, Ordering::SeqCst);
            }
            Ok(self.refreshable)
        }
    }

    fn strategy(refreshable: bool) -> Rotating {
        Rotating {
            generation: AtomicU32::new(0),
            refreshable,
        }
    }

    #[tokio::test]
    async fn credentials_are_applied() {
        let counter = Counter::ok(200);
        let s = strategy(true);
        run_one(&Auth { strategy: &s }, &counter, get("http://127.0.0.1:9/"))
            .await
            .unwrap();
        assert_eq!(counter.header("authorization"), [Some("Bearer t0".into())]);
    }

    #[tokio::test]
    async fn a_401_refreshes_once_and_retries_once_with_the_new_credentials() {
        let counter = Counter::script(vec![reply(401, &[], "")]);
        let s = strategy(true);
        let r = run_one(&Auth { strategy: &s }, &counter, get("http://127.0.0.1:9/"))
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            401,
            "a second 401 is returned, not refreshed again"
        );
        assert_eq!(
            counter.header("authorization"),
            [Some("Bearer t0".into()), Some("Bearer t1".into())]
        );
    }

    #[tokio::test]
    async fn a_strategy_that_cannot_refresh_returns_the_401() {
        let counter = Counter::script(vec![reply(401, &[], ""), reply(200, &[], "")]);
        let s = strategy(false);
        let r = run_one(&Auth { strategy: &s }, &counter, get("http://127.0.0.1:9/"))
            .await
            .unwrap();
        assert_eq!((r.status().as_u16(), counter.calls()), (401, 1));
    }
}
