//! The auth headers layer: the spec's `auth.headers`, rendered once with the instance, added
//! to every request the instance's client sends (declarative actions, `ctx.http()` and a
//! request a code handler builds itself), under any header the request already has.

use reqwest::header::{HeaderName, HeaderValue};

use super::layer::{Layer, Next, Reply};
use crate::error::ActionError;

/// Adds the instance's rendered `auth.headers`. A template that did not render is its error.
pub struct AuthHeaders<'a> {
    pub headers: Result<&'a [(HeaderName, HeaderValue)], ActionError>,
}

#[async_trait::async_trait]
impl Layer for AuthHeaders<'_> {
    async fn handle(
        &self,
        mut req: reqwest::Request,
        next: Next<'_>,
    ) -> Result<Reply, ActionError> {
        let headers = self.headers.as_ref().map_err(Clone::clone)?;
        for (name, value) in *headers {
            if !req.headers().contains_key(name) {
                req.headers_mut().insert(name.clone(), value.clone());
            }
        }
        next.run(req).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::test_support::{Counter, get, run_one};

    fn pair(name: &'static str, value: &'static str) -> (HeaderName, HeaderValue) {
        (
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        )
    }

    #[tokio::test]
    async fn every_header_is_added_under_the_requests_own() {
        let counter = Counter::ok(200);
        let headers = [pair("x-tenant", "t1"), pair("accept", "text/plain")];
        let layer = AuthHeaders {
            headers: Ok(&headers),
        };
        let mut req = get("http://127.0.0.1:9/");
        req.headers_mut()
            .insert("accept", HeaderValue::from_static("application/json"));
        run_one(&layer, &counter, req).await.unwrap();
        assert_eq!(counter.header("x-tenant"), [Some("t1".to_string())]);
        assert_eq!(
            counter.header("accept"),
            [Some("application/json".to_string())],
            "the request's own header wins"
        );
    }

    #[tokio::test]
    async fn a_header_that_did_not_render_fails_the_request_before_it_is_sent() {
        let counter = Counter::ok(200);
        let layer = AuthHeaders {
            headers: Err(ActionError::user("template_error", "no such field")),
        };
        let err = run_one(&layer, &counter, get("http://127.0.0.1:9/"))
            .await
            .unwrap_err();
        assert_eq!(err.code, "template_error");
        assert_eq!(counter.calls(), 0);
    }
}
