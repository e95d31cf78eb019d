//! The HTTP stack: one transport call wrapped by layers, each a file named after its concern.
//!
//! A [`Layer`] gets the request and a [`Next`] (the rest of the stack) and decides what to do
//! around it, in the shape of reqwest-middleware's `handle(req, next)` (see
//! `docs/decisions/0005-http-layers.md`). [`crate::client::HttpClient::send`] composes them,
//! outermost first:
//!
//! 1. [`Redact`]: secrets are scrubbed from every error that comes back;
//! 2. [`EgressCheck`]: the URL is checked once, before any token is fetched;
//! 3. [`AuthHeaders`]: the spec's `auth.headers`, on every request of the instance;
//! 4. [`IdempotencyHeader`]: the idempotency key header, fixed for every attempt;
//! 5. [`Retry`]: backoff, `Retry-After`, and which methods may be retried on what;
//! 6. [`Auth`]: credentials applied, one refresh and retry after a 401;
//! 7. [`RateLimit`]: the shared gate, rate-limit headers, throttling signals;
//! 8. [`BodyLimit`]: a non-streaming body read whole, never past the response body limit,
//!    within the same time bound as the head;
//! 9. [`Timeout`]: the per-attempt timeout (for the head) and cancellation;
//!
//! and at the bottom a [`Transport`].

mod action_policy;
mod auth;
mod auth_headers;
mod body_limit;
mod condition;
mod egress_check;
mod idempotency;
mod layer;
mod rate_limit;
mod redact;
mod retry;
mod timeout;
mod transport;
mod transport_error;
mod wait;

#[cfg(test)]
mod test_support;

pub use action_policy::ActionPolicy;
pub use auth::Auth;
pub use auth_headers::AuthHeaders;
pub use body_limit::{BodyLimit, read_limited};
pub use condition::condition_matches;
pub use egress_check::EgressCheck;
pub use idempotency::{IdempotencyHeader, ResolvedKey, fresh_uuid};
pub use layer::{Layer, Next, Reply, Throttle, run};
pub use rate_limit::{RateLimit, RateLimitGate, throttle_verdict};
pub use redact::{Redact, scrub};
pub use retry::{Retry, backoff_delay, is_idempotent};
pub use timeout::{DEFAULT_CONNECT_TIMEOUT, DEFAULT_TOTAL_TIMEOUT, MAX_REDIRECTS, Timeout};
pub use transport::{InMemoryReply, InMemoryTransport, ReqwestTransport, Transport};
pub use transport_error::describe_reqwest;
pub(crate) use transport_error::from_reqwest;
pub use wait::{max_wait, parse_reset, retry_after};
