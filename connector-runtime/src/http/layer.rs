//! The layer contract: a [`Layer`] handles a request with the [`Next`] part of the stack, and
//! what comes back is a [`Reply`] (a head with its body unread, or a body read whole).

use bytes::Bytes;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;

use super::transport::Transport;
use crate::error::ActionError;

/// One concern around the transport call (auth, retry, timeout, ...).
#[async_trait::async_trait]
pub trait Layer: Send + Sync {
    /// Handle `req`, calling `next.run` zero, one or several times.
    async fn handle(&self, req: reqwest::Request, next: Next<'_>) -> Result<Reply, ActionError>;
}

/// The rest of the stack below a layer. It is `Copy`, so a layer can run it again (a retry).
#[derive(Clone, Copy)]
pub struct Next<'a> {
    layers: &'a [&'a (dyn Layer + 'a)],
    transport: &'a dyn Transport,
}

impl<'a> Next<'a> {
    /// The stack made of `layers` (outermost first) over `transport`.
    pub fn new(layers: &'a [&'a (dyn Layer + 'a)], transport: &'a dyn Transport) -> Next<'a> {
        Next { layers, transport }
    }

    /// Pass `req` to the next layer, or to the transport after the last one.
    pub async fn run(self, req: reqwest::Request) -> Result<Reply, ActionError> {
        match self.layers.split_first() {
            Some((layer, rest)) => {
                let next = Next {
                    layers: rest,
                    transport: self.transport,
                };
                layer.handle(req, next).await
            }
            None => self.transport.execute(req).await.map(Reply::Unread),
        }
    }
}

/// Send `req` through `layers` (outermost first) and `transport`.
pub async fn run(
    layers: &[&(dyn Layer + '_)],
    transport: &dyn Transport,
    req: reqwest::Request,
) -> Result<Reply, ActionError> {
    Next::new(layers, transport).run(req).await
}

/// A throttling signal a rate-limit layer found on a reply, for the retry layer above it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Throttle {
    /// A status the `status_code` strategy names.
    Status,
    /// The `response_body` strategy's condition matched.
    Body,
}

/// What a layer gets back: the response head with its body unread (from the transport, or a
/// streaming reply), or the whole body read within the limit.
#[derive(Debug)]
pub enum Reply {
    /// The body is still on the wire.
    Unread(reqwest::Response),
    /// The body has been read whole.
    Read(http::Response<Bytes>),
}

impl Reply {
    pub fn status(&self) -> StatusCode {
        match self {
            Reply::Unread(r) => r.status(),
            Reply::Read(r) => r.status(),
        }
    }

    pub fn headers(&self) -> &HeaderMap {
        match self {
            Reply::Unread(r) => r.headers(),
            Reply::Read(r) => r.headers(),
        }
    }

    /// The body, when it has been read.
    pub fn body(&self) -> Option<&Bytes> {
        match self {
            Reply::Unread(_) => None,
            Reply::Read(r) => Some(r.body()),
        }
    }

    /// The throttling signal a rate-limit layer found, if any.
    pub fn throttle(&self) -> Option<Throttle> {
        let ext = match self {
            Reply::Unread(r) => r.extensions(),
            Reply::Read(r) => r.extensions(),
        };
        ext.get::<Throttle>().copied()
    }

    /// Mark the reply as a throttling signal.
    pub fn set_throttle(&mut self, t: Throttle) {
        let ext = match self {
            Reply::Unread(r) => r.extensions_mut(),
            Reply::Read(r) => r.extensions_mut(),
        };
        ext.insert(t);
    }

    /// The reply as a `reqwest::Response` (a read body is served from memory).
    pub fn into_response(self) -> reqwest::Response {
        match self {
            Reply::Unread(r) => r,
            Reply::Read(r) => reqwest::Response::from(r.map(reqwest::Body::from)),
        }
    }
}
