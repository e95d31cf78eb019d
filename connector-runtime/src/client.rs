//! The policy-enforcing HTTP client of one connector instance. [`HttpClient::send`] runs a
//! request through the layers of [`crate::http`] (egress, idempotency key, retry, auth, rate
//! limit, timeout, body limit, redaction); this file builds the client and classifies replies.
//! The layer types are re-exported here so `connector_runtime::client::*` paths keep working.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use connector_spec::{ErrorClass, Policies, RateLimitStrategy};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::auth::AuthStrategy;
use crate::egress::EgressPolicy;
use crate::error::{ActionError, classify_status};
use crate::events::Events;
use crate::http::{
    ActionPolicy, Auth, AuthHeaders, BodyLimit, EgressCheck, IdempotencyHeader, Layer, RateLimit,
    Redact, Reply, Retry, Timeout, max_wait, throttle_verdict,
};
use crate::secrets::Redactor;

pub(crate) use crate::http::from_reqwest;
pub use crate::http::{
    InMemoryReply, InMemoryTransport, RateLimitGate, ReqwestTransport, Transport, backoff_delay,
    condition_matches, describe_reqwest, parse_reset, retry_after,
};

pub use crate::http::{DEFAULT_CONNECT_TIMEOUT, DEFAULT_TOTAL_TIMEOUT, MAX_REDIRECTS};

/// Options for one send.
#[derive(Debug, Clone, Copy, Default)]
pub struct SendOptions {
    /// The response body will be streamed: do not buffer it for body checks, and apply the
    /// total timeout to the response head only.
    pub streaming: bool,
}

/// An HTTP client bound to one connector instance.
#[derive(Clone)]
pub struct HttpClient {
    /// Builds requests (and is the default transport's client).
    pub(crate) inner: reqwest::Client,
    pub(crate) transport: Arc<dyn Transport>,
    pub(crate) auth: Arc<dyn AuthStrategy>,
    pub(crate) policies: Arc<Policies>,
    pub(crate) gate: Arc<RateLimitGate>,
    pub(crate) redactor: Redactor,
    pub(crate) total_timeout: Duration,
    pub(crate) cancel: CancellationToken,
    /// [`crate::egress::check_outbound`] runs on every request URL before auth is applied
    /// (an IP literal never reaches the resolver); the reqwest client checks redirects and
    /// resolved addresses.
    pub(crate) egress: Option<Arc<EgressPolicy>>,
    /// The action whose requests this client sends (idempotency key, body limit).
    pub(crate) action: Arc<ActionPolicy>,
    /// Extra root certificates (PEM) the SMTP client trusts besides the platform's
    /// ([`crate::InstanceRuntime::with_smtp_roots`]); HTTP requests do not use them.
    pub(crate) smtp_roots: Option<Arc<str>>,
    /// The instance's rendered `baseUrl` and `auth.headers`.
    pub(crate) base: Arc<crate::request_base::RequestBase>,
    /// Told of retries and rate-limit waits ([`crate::InstanceRuntime::with_events`]).
    pub(crate) events: Events,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClient")
            .field("auth", &self.auth)
            .field("total_timeout", &self.total_timeout)
            .finish_non_exhaustive()
    }
}

/// Build the underlying reqwest client for an instance. With an egress policy, every
/// redirect hop is checked and host names resolve only to the addresses the policy allows
/// (see [`crate::egress`]).
pub fn build_reqwest(
    connect_timeout: Duration,
    tls: Option<&crate::auth::TlsConfig>,
    egress: Option<&Arc<EgressPolicy>>,
) -> Result<reqwest::Client, ActionError> {
    build_reqwest_with(
        connect_timeout,
        tls,
        egress.map(|p| (Arc::clone(p), crate::egress::Resolver::new(Arc::clone(p)))),
    )
}

pub(crate) fn build_reqwest_with(
    connect_timeout: Duration,
    tls: Option<&crate::auth::TlsConfig>,
    egress: Option<(Arc<EgressPolicy>, crate::egress::Resolver)>,
) -> Result<reqwest::Client, ActionError> {
    let mut b = reqwest::Client::builder()
        .connect_timeout(connect_timeout)
        .no_proxy()
        .user_agent(concat!("connector-runtime/", env!("CARGO_PKG_VERSION")));
    b = match egress {
        Some((policy, resolver)) => b
            .dns_resolver(resolver)
            .redirect(crate::egress::redirect_policy(policy, MAX_REDIRECTS)),
        None => b.redirect(reqwest::redirect::Policy::limited(MAX_REDIRECTS)),
    };
    // reqwest's own TLS settings, except that the system's roots are read at the first
    // handshake (crate::tls): an instance with no TLS settings of its own.
    let default_tls =
        tls.is_none_or(|t| t.identity_pem.is_none() && t.ca_pem.is_none() && t.verify_server);
    if default_tls {
        let config = crate::tls::default_client_config().map_err(|e| {
            ActionError::system(
                "client_build_failed",
                format!("could not build the TLS configuration: {e}"),
            )
        })?;
        b = b.tls_backend_preconfigured(config);
    }
    if let Some(tls) = tls.filter(|_| !default_tls) {
        crate::tls::ensure_process_provider();
        if let Some(identity) = &tls.identity_pem {
            let id = reqwest::Identity::from_pem(identity.as_bytes()).map_err(|_| {
                ActionError::user(
                    "invalid_certificate",
                    "the client certificate or private key is not valid PEM",
                )
            })?;
            b = b.identity(id);
        }
        if let Some(ca) = &tls.ca_pem {
            let certs = reqwest::Certificate::from_pem_bundle(ca.as_bytes()).map_err(|_| {
                ActionError::user("invalid_certificate", "the CA certificate is not valid PEM")
            })?;
            for c in certs {
                b = b.add_root_certificate(c);
            }
        }
        if !tls.verify_server {
            b = b.danger_accept_invalid_certs(true);
        }
    }
    b.build().map_err(|e| {
        ActionError::system(
            "client_build_failed",
            format!("could not build the HTTP client: {e}"),
        )
    })
}

impl HttpClient {
    /// Send a request with every policy applied. Non-2xx replies that exhaust retries are
    /// returned as responses; the caller classifies them with [`HttpClient::error_for`].
    ///
    /// The layers of [`crate::http`], outermost first, around one transport call.
    pub async fn send(
        &self,
        req: reqwest::Request,
        opts: SendOptions,
    ) -> Result<reqwest::Response, ActionError> {
        let retry = self.policies.retry.as_ref();
        let writes_safe =
            self.action.idempotency_key.is_some() || retry.is_some_and(|r| r.retry_non_idempotent);
        let redact = Redact {
            redactor: &self.redactor,
            auth: &*self.auth,
        };
        let egress = EgressCheck {
            policy: self.egress.as_deref(),
        };
        let headers = AuthHeaders {
            headers: self.base.headers(),
        };
        let key = IdempotencyHeader {
            key: self.action.idempotency_key.as_ref(),
        };
        let retrying = Retry {
            policy: retry,
            writes_safe,
            cancel: &self.cancel,
            events: &self.events,
        };
        let auth = Auth {
            strategy: &*self.auth,
        };
        let rate = RateLimit {
            policy: self.policies.rate_limit.as_ref(),
            gate: &self.gate,
            max_wait: max_wait(retry),
            cancel: &self.cancel,
            events: &self.events,
        };
        let timeout = Timeout {
            total: self.total_timeout,
            cancel: &self.cancel,
        };
        let body = BodyLimit {
            limit: self.body_limit(),
            streaming: opts.streaming,
            time: timeout,
        };
        let layers: [&dyn Layer; 9] = [
            &redact, &egress, &headers, &key, &retrying, &auth, &rate, &body, &timeout,
        ];
        let reply = crate::http::run(&layers, &*self.transport, req).await?;
        throttle_verdict(reply)
            .map(Reply::into_response)
            .map_err(|e| self.scrub(e))
    }

    /// This client for the requests of one action call: its idempotency key and its response
    /// body limit. `render` renders the key's value template for this call.
    pub fn for_action(
        &self,
        action: &connector_spec::Action,
        render: impl FnOnce(&str) -> Result<String, ActionError>,
    ) -> Result<HttpClient, ActionError> {
        let policy = ActionPolicy::for_action(action, render).map_err(|e| self.scrub(e))?;
        let mut client = self.clone();
        client.action = Arc::new(policy);
        Ok(client)
    }

    /// The response body limit for this client's requests.
    pub fn body_limit(&self) -> u64 {
        self.action.body_limit(&self.policies)
    }

    /// Read a whole body within the total timeout, the cancellation token and the response
    /// body limit (`response_too_large` past it).
    pub async fn read_body(&self, resp: reqwest::Response) -> Result<Bytes, ActionError> {
        let body = BodyLimit {
            limit: self.body_limit(),
            streaming: false,
            time: Timeout {
                total: self.total_timeout,
                cancel: &self.cancel,
            },
        };
        body.read(resp).await.map_err(|e| self.scrub(e))
    }

    /// The error for a non-2xx reply, using the spec's classification rules first.
    pub fn error_for(&self, status: u16, body: &[u8]) -> ActionError {
        let class = self
            .policies
            .errors
            .iter()
            .find(|c| c.status.contains(&status))
            .map(|c| c.class)
            .or_else(|| {
                // The status_code rate-limit strategy declares which statuses mean "slow down".
                self.policies
                    .rate_limit
                    .as_ref()
                    .filter(|rl| {
                        rl.strategy == RateLimitStrategy::StatusCode && rl.codes.contains(&status)
                    })
                    .map(|_| ErrorClass::RateLimited)
            })
            .unwrap_or_else(|| classify_status(status));
        let detail = provider_message(body);
        let message = match detail {
            Some(d) => format!("the provider answered HTTP {status}: {d}"),
            None => format!("the provider answered HTTP {status}"),
        };
        self.scrub(ActionError::new(class, "http_status", message).with_status(status))
    }

    /// Remove every known secret (configured or obtained at run time) from a message.
    pub fn scrub(&self, e: ActionError) -> ActionError {
        crate::http::scrub(&self.redactor, &*self.auth, e)
    }

    /// The cancellation token this client obeys.
    pub fn cancellation(&self) -> &CancellationToken {
        &self.cancel
    }

    /// A request builder on the underlying client. Send what it builds with
    /// [`HttpClient::send`]: auth, policies and the egress URL check apply there, and sending
    /// the builder directly would skip them.
    pub fn request(&self, method: reqwest::Method, url: reqwest::Url) -> reqwest::RequestBuilder {
        self.inner.request(method, url)
    }
}

/// A short message from a provider's error body, if it has one.
fn provider_message(body: &[u8]) -> Option<String> {
    let json: Value = serde_json::from_slice(body).ok()?;
    for path in [
        "error.message",
        "error_description",
        "message",
        "error",
        "errorMessages",
        "errors",
    ] {
        let mut v = &json;
        let mut ok = true;
        for seg in path.split('.') {
            match v.get(seg) {
                Some(n) => v = n,
                None => {
                    ok = false;
                    break;
                }
            }
        }
        if ok {
            let text = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            return Some(text.chars().take(500).collect());
        }
    }
    None
}
