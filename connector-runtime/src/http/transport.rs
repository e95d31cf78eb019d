//! What carries one attempt to the provider: the network ([`ReqwestTransport`]) or a closure
//! ([`InMemoryTransport`], for tests and measurements without a network).

use std::sync::Arc;

use bytes::Bytes;

use super::transport_error::from_reqwest;
use crate::error::ActionError;

/// What carries a built request to the provider and brings back the response head.
///
/// [`crate::client::HttpClient`] applies auth, retries, rate limits, timeouts and cancellation
/// around it. The default is [`ReqwestTransport`] (the network); [`InMemoryTransport`] answers
/// from a closure, for measuring the runtime without a network.
#[async_trait::async_trait]
pub trait Transport: Send + Sync {
    /// Send one request (one attempt).
    async fn execute(&self, req: reqwest::Request) -> Result<reqwest::Response, ActionError>;
}

/// The network transport: a `reqwest::Client`.
#[derive(Clone, Debug)]
pub struct ReqwestTransport(pub reqwest::Client);

#[async_trait::async_trait]
impl Transport for ReqwestTransport {
    async fn execute(&self, req: reqwest::Request) -> Result<reqwest::Response, ActionError> {
        self.0.execute(req).await.map_err(|e| from_reqwest(&e))
    }
}

/// The reply an [`InMemoryTransport`] handler gives: a response, or a transport error.
pub type InMemoryReply = Result<http::Response<Bytes>, ActionError>;

/// A transport that never touches the network: every request is answered by a closure.
#[derive(Clone)]
pub struct InMemoryTransport {
    handler: Arc<dyn Fn(reqwest::Request) -> InMemoryReply + Send + Sync>,
}

impl InMemoryTransport {
    /// Answer every request with `handler`, which sees the request exactly as it would go on
    /// the wire (auth applied).
    pub fn new(
        handler: impl Fn(reqwest::Request) -> InMemoryReply + Send + Sync + 'static,
    ) -> InMemoryTransport {
        InMemoryTransport {
            handler: Arc::new(handler),
        }
    }
}

impl std::fmt::Debug for InMemoryTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("InMemoryTransport")
    }
}

#[async_trait::async_trait]
impl Transport for InMemoryTransport {
    async fn execute(&self, req: reqwest::Request) -> Result<reqwest::Response, ActionError> {
        (self.handler)(req).map(reqwest::Response::from)
    }
}
