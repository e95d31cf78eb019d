//! The policy-enforcing HTTP client: auth, retry with backoff and `Retry-After`, rate limiting,
//! timeouts, cancellation, and a forced refresh after a 401. Each concern is a small function
//! so it can be tested on its own; `HttpClient::send` composes them around one request.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use connector_spec::{
    BackoffStrategy, Condition, ErrorClass, Policies, RateLimitStrategy, ResetFormat, RetryPolicy,
};
use reqwest::header::HeaderMap;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::auth::AuthStrategy;
use crate::egress::EgressPolicy;
use crate::error::{ActionError, classify_status};
use crate::secrets::Redactor;

/// Default connect timeout.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default total timeout for one attempt.
pub const DEFAULT_TOTAL_TIMEOUT: Duration = Duration::from_secs(60);
/// Most redirects followed before the request fails.
pub const MAX_REDIRECTS: usize = 10;

/// A reqwest error described without its URL (which may carry an API key).
pub fn describe_reqwest(e: &reqwest::Error) -> String {
    if e.is_connect() {
        return connect_failure(e);
    }
    strip_urls(&chain(e))
}

/// A connection that could not be made: to which origin (`scheme://host:port`, never a path
/// or query), and why only when the reason is above TCP (TLS, DNS). A refused connection, a
/// reset and a timeout all read "could not connect to ...", so the text does not tell a
/// closed port from a filtered one.
fn connect_failure(e: &reqwest::Error) -> String {
    let target = e
        .url()
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_else(|| "the server".into());
    if e.is_timeout() || tcp_failure(e) {
        format!("could not connect to {target}")
    } else {
        format!("could not connect to {target}: {}", strip_urls(&chain(e)))
    }
}

/// Whether a TCP-level failure is somewhere in the error's source chain.
fn tcp_failure(e: &(dyn std::error::Error + 'static)) -> bool {
    use std::io::ErrorKind as K;
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && matches!(
                io.kind(),
                K::ConnectionRefused
                    | K::ConnectionReset
                    | K::ConnectionAborted
                    | K::TimedOut
                    | K::HostUnreachable
                    | K::NetworkUnreachable
                    | K::AddrNotAvailable
                    | K::NotConnected
            )
        {
            return true;
        }
        cur = err.source();
    }
    false
}

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

/// Options for one send.
#[derive(Debug, Clone, Copy, Default)]
pub struct SendOptions {
    /// The response body will be streamed: do not buffer it for body checks, and apply the
    /// total timeout to the response head only.
    pub streaming: bool,
}

/// What carries a built request to the provider and brings back the response head.
///
/// [`HttpClient`] applies auth, retries, rate limits, timeouts and cancellation around it. The
/// default is [`ReqwestTransport`] (the network); [`InMemoryTransport`] answers from a closure,
/// for measuring the runtime without a network.
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
    tls: Option<&crate::instance::TlsConfig>,
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
    tls: Option<&crate::instance::TlsConfig>,
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
    if let Some(tls) = tls {
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
    pub async fn send(
        &self,
        req: reqwest::Request,
        opts: SendOptions,
    ) -> Result<reqwest::Response, ActionError> {
        let retry = self.policies.retry.clone();
        let retry_codes = retry
            .as_ref()
            .map(RetryPolicy::retry_codes)
            .unwrap_or_default();
        let max_retries = retry.as_ref().map_or(0, |r| r.max_retries);
        let idempotent = !matches!(
            *req.method(),
            reqwest::Method::POST | reqwest::Method::PATCH
        );
        let retry_errors = idempotent || retry.as_ref().is_some_and(|r| r.retry_non_idempotent);
        let rate = self.policies.rate_limit.as_ref();
        // The egress check comes before auth, so a refused URL does not even cost a token
        // fetch; it is not an attempt and is never retried.
        crate::egress::check_outbound(self.egress.as_deref(), req.url())
            .map_err(|e| crate::egress::refused(&e))?;
        let mut attempt: u32 = 0;
        let mut refreshed = false;
        loop {
            if let Some(wait) = self.gate.wait() {
                let wait = self
                    .within_cap(wait, "an earlier reply asked to wait")
                    .map_err(|e| self.scrub(e))?;
                tracing::debug!(
                    wait_ms = wait.as_millis() as u64,
                    "rate limit: waiting before request"
                );
                self.sleep(wait).await?;
            }
            let mut r = req.try_clone().ok_or_else(|| {
                ActionError::system(
                    "request_not_retryable",
                    "a streaming request body cannot be retried",
                )
            })?;
            self.auth.apply(&mut r).await.map_err(|e| self.scrub(e))?;
            let result = self.execute_once(r).await;
            let resp = match result {
                Ok(resp) => resp,
                Err(e) => {
                    let retryable =
                        matches!(e.code, "timeout" | "connection_failed") && retry_errors;
                    if retryable && attempt < max_retries {
                        let wait = self.backoff(retry.as_ref(), attempt);
                        tracing::info!(
                            attempt,
                            code = e.code,
                            wait_ms = wait.as_millis() as u64,
                            "retrying after error"
                        );
                        attempt += 1;
                        self.sleep(wait).await?;
                        continue;
                    }
                    return Err(self.scrub(e));
                }
            };
            let status = resp.status().as_u16();
            self.observe_rate_headers(resp.headers(), status);
            if status == 401 && !refreshed {
                refreshed = true;
                if self.auth.refresh().await.map_err(|e| self.scrub(e))? {
                    tracing::info!("401: refreshed credentials, retrying once");
                    continue;
                }
            }
            // A non-streaming body is read here, inside the retry loop, so a connection that
            // breaks mid-body is retried like one that breaks before the head, and body-based
            // throttling (an API that says "slow down" inside a 200) can be checked.
            let (resp, throttled) = if opts.streaming {
                (resp, false)
            } else {
                let when = rate
                    .filter(|rl| rl.strategy == RateLimitStrategy::ResponseBody)
                    .and_then(|rl| rl.when.as_ref());
                match self.buffer(resp, when).await {
                    Ok(v) => v,
                    Err(e) => {
                        let retryable =
                            matches!(e.code, "timeout" | "connection_failed") && retry_errors;
                        if retryable && attempt < max_retries {
                            let wait = self.backoff(retry.as_ref(), attempt);
                            tracing::info!(attempt, code = e.code, "retrying after a broken body");
                            attempt += 1;
                            self.sleep(wait).await?;
                            continue;
                        }
                        return Err(e);
                    }
                }
            };
            let rate_limited_status = rate
                .filter(|rl| rl.strategy == RateLimitStrategy::StatusCode)
                .map(|rl| {
                    if rl.codes.is_empty() {
                        status == 429
                    } else {
                        rl.codes.contains(&status)
                    }
                })
                .unwrap_or(false);
            let retry_this = retry_codes.contains(&status)
                || ((throttled || rate_limited_status) && retry.is_some());
            if retry_this && attempt < max_retries {
                let wait = match retry_after(resp.headers()) {
                    // Never earlier than the server allowed: a wait beyond the cap fails.
                    Some(w) => self
                        .within_cap(w, "the provider asked to wait")
                        .map_err(|e| self.scrub(e.with_status(status)))?,
                    None => self.backoff(retry.as_ref(), attempt),
                };
                tracing::info!(
                    attempt,
                    status,
                    wait_ms = wait.as_millis() as u64,
                    "retrying"
                );
                attempt += 1;
                drop(resp);
                self.sleep(wait).await?;
                continue;
            }
            if throttled {
                return Err(ActionError::rate_limited(
                    "the provider reported throttling in the response body",
                )
                .with_status(status));
            }
            return Ok(resp);
        }
    }

    /// One attempt, up to the response head (the body is read separately).
    async fn execute_once(&self, req: reqwest::Request) -> Result<reqwest::Response, ActionError> {
        let fut = self.transport.execute(req);
        let timed = tokio::time::timeout(self.total_timeout, fut);
        let result = tokio::select! {
            r = timed => r,
            _ = self.cancel.cancelled() => return Err(ActionError::cancelled()),
        };
        match result {
            Err(_) => Err(ActionError::transient(
                "timeout",
                format!("no response within {} ms", self.total_timeout.as_millis()),
            )),
            Ok(r) => r,
        }
    }

    /// Read the whole body and rebuild the response around it; report whether `when` (a
    /// body-based throttling condition) matches.
    async fn buffer(
        &self,
        resp: reqwest::Response,
        when: Option<&Condition>,
    ) -> Result<(reqwest::Response, bool), ActionError> {
        let status = resp.status();
        let version = resp.version();
        let headers = resp.headers().clone();
        let body = self.read_body(resp).await?;
        let hit = when.is_some_and(|c| condition_matches(c, status.as_u16(), &body));
        let mut rebuilt = http::Response::new(reqwest::Body::from(body));
        *rebuilt.status_mut() = status;
        *rebuilt.version_mut() = version;
        *rebuilt.headers_mut() = headers;
        Ok((reqwest::Response::from(rebuilt), hit))
    }

    /// Read a whole body within the total timeout and the cancellation token.
    pub async fn read_body(&self, resp: reqwest::Response) -> Result<Bytes, ActionError> {
        let status = resp.status().as_u16();
        let fut = tokio::time::timeout(self.total_timeout, resp.bytes());
        let r = tokio::select! {
            r = fut => r,
            _ = self.cancel.cancelled() => return Err(ActionError::cancelled()),
        };
        match r {
            Err(_) => Err(ActionError::transient(
                "timeout",
                "the response body did not arrive in time",
            )
            .with_status(status)),
            Ok(Err(e)) => Err(self.scrub(from_reqwest(&e).with_status(status))),
            Ok(Ok(b)) => Ok(b),
        }
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

    fn observe_rate_headers(&self, headers: &HeaderMap, status: u16) {
        let Some(rl) = self.policies.rate_limit.as_ref() else {
            return;
        };
        if rl.strategy != RateLimitStrategy::Header {
            if status == 429
                && let Some(w) = retry_after(headers)
            {
                self.gate.block_until(Instant::now() + w);
            }
            return;
        }
        let remaining = rl
            .remaining_header
            .as_deref()
            .and_then(|h| headers.get(h))
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok());
        let exhausted = remaining.is_some_and(|r| r <= 0.0) || status == 429;
        if !exhausted {
            return;
        }
        let reset = rl
            .reset_header
            .as_deref()
            .and_then(|h| headers.get(h))
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_reset(v, rl.reset_format));
        if let Some(wait) = reset.or_else(|| retry_after(headers)) {
            tracing::info!(
                wait_ms = wait.as_millis() as u64,
                "rate limit exhausted: delaying the next request"
            );
            self.gate.block_until(Instant::now() + wait);
        }
    }

    /// The longest single wait: the retry policy's `maxWaitMs`, else 30 s.
    fn max_wait(&self) -> Duration {
        self.policies
            .retry
            .as_ref()
            .map_or(Duration::from_secs(30), |r| {
                Duration::from_millis(r.max_wait_ms)
            })
    }

    fn cap(&self, d: Duration) -> Duration {
        d.min(self.max_wait())
    }

    /// A wait the provider asked for, when it is within the cap; a longer one fails with
    /// `rate_limited` naming the wait, so a request never goes out earlier than allowed.
    fn within_cap(&self, wait: Duration, who: &str) -> Result<Duration, ActionError> {
        let cap = self.max_wait();
        if wait <= cap {
            return Ok(wait);
        }
        Err(ActionError::rate_limited(format!(
            "{who} {} before the next request, longer than the retry policy allows \
             (maxWaitMs: {}); try again after that",
            human_wait(wait),
            cap.as_millis()
        )))
    }

    fn backoff(&self, retry: Option<&RetryPolicy>, attempt: u32) -> Duration {
        let Some(r) = retry else {
            return Duration::ZERO;
        };
        let d = backoff_delay(&r.backoff, attempt, rand::random::<f64>());
        self.cap(d)
    }

    async fn sleep(&self, d: Duration) -> Result<(), ActionError> {
        if d.is_zero() {
            return Ok(());
        }
        tokio::select! {
            _ = tokio::time::sleep(d) => Ok(()),
            _ = self.cancel.cancelled() => Err(ActionError::cancelled()),
        }
    }

    /// Remove every known secret (configured or obtained at run time) from a message.
    pub fn scrub(&self, mut e: ActionError) -> ActionError {
        let runtime = self.auth.runtime_secrets();
        e.message = if runtime.is_empty() {
            self.redactor.redact(&e.message)
        } else {
            self.redactor.with(runtime).redact(&e.message)
        };
        e
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

/// `3 s`, `1.5 s`, `250 ms`.
fn human_wait(d: Duration) -> String {
    if d >= Duration::from_secs(1) {
        let secs = d.as_secs_f64();
        if secs.fract() < 0.05 {
            format!("{} s", secs.round() as u64)
        } else {
            format!("{secs:.1} s")
        }
    } else {
        format!("{} ms", d.as_millis())
    }
}

/// `Retry-After` as seconds or an HTTP date.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    parse_reset(v, Some(ResetFormat::DeltaSeconds))
        .or_else(|| parse_reset(v, Some(ResetFormat::HttpDate)))
}

/// How long to wait according to a reset header value.
pub fn parse_reset(v: &str, format: Option<ResetFormat>) -> Option<Duration> {
    let v = v.trim();
    let now = SystemTime::now();
    match format.unwrap_or(ResetFormat::DeltaSeconds) {
        ResetFormat::DeltaSeconds => v
            .parse::<f64>()
            .ok()
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(Duration::from_secs_f64),
        ResetFormat::EpochSeconds => {
            let at = SystemTime::UNIX_EPOCH
                + Duration::from_secs_f64(
                    v.parse::<f64>()
                        .ok()
                        .filter(|s| s.is_finite() && *s >= 0.0)?,
                );
            Some(at.duration_since(now).unwrap_or_default())
        }
        ResetFormat::EpochMillis => {
            let at = SystemTime::UNIX_EPOCH + Duration::from_millis(v.parse::<u64>().ok()?);
            Some(at.duration_since(now).unwrap_or_default())
        }
        ResetFormat::HttpDate => {
            let at = httpdate::parse_http_date(v).ok()?;
            Some(at.duration_since(now).unwrap_or_default())
        }
    }
}

/// Whether a response matches a condition.
pub fn condition_matches(c: &Condition, status: u16, body: &[u8]) -> bool {
    if !c.status.is_empty() && !c.status.contains(&status) {
        return false;
    }
    let json: Option<Value> = serde_json::from_slice(body).ok();
    let target: Option<Value> = match (&c.path, &json) {
        (Some(p), Some(j)) => connector_spec::path::JsonPath::parse(p)
            .ok()
            .and_then(|p| p.evaluate(j)),
        (Some(_), None) => None,
        (None, _) => None,
    };
    if let Some(expected) = &c.equals {
        return target.as_ref() == Some(expected);
    }
    if let Some(expected) = &c.not_equals {
        return target.as_ref().is_some_and(|t| t != expected);
    }
    if let Some(options) = &c.one_of {
        return target.as_ref().is_some_and(|t| options.contains(t));
    }
    if let Some(exists) = c.exists {
        return target.is_some_and(|t| !t.is_null()) == exists;
    }
    if let Some(needle) = &c.contains {
        return match (&c.path, target) {
            (Some(_), Some(Value::String(s))) => s.contains(needle.as_str()),
            (Some(_), Some(other)) => other.to_string().contains(needle.as_str()),
            (Some(_), None) => false,
            (None, _) => String::from_utf8_lossy(body).contains(needle.as_str()),
        };
    }
    // A condition with only `status`.
    !c.status.is_empty()
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

/// Classify a transport error. The URL is removed: it may carry a query-string key.
pub(crate) fn from_reqwest(e: &reqwest::Error) -> ActionError {
    if let Some(refusal) = crate::egress::find_refusal(e) {
        return crate::egress::refused(refusal);
    }
    let detail = strip_urls(&chain(e));
    if e.is_connect() {
        ActionError::transient("connection_failed", describe_reqwest(e))
    } else if e.is_timeout() {
        ActionError::transient("timeout", format!("the request timed out: {detail}"))
    } else if e.is_redirect() {
        ActionError::new(
            ErrorClass::System,
            "too_many_redirects",
            format!("redirect limit reached: {detail}"),
        )
    } else if e.is_body() || e.is_decode() {
        ActionError::transient(
            "connection_failed",
            format!("the connection failed while reading the reply: {detail}"),
        )
    } else if e.is_request() {
        ActionError::transient("connection_failed", format!("the request failed: {detail}"))
    } else {
        ActionError::system("http_client", format!("HTTP client error: {detail}"))
    }
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_msg = s.to_string();
        if !msg.contains(&s_msg) {
            msg.push_str(": ");
            msg.push_str(&s_msg);
        }
        source = s.source();
    }
    msg
}

fn strip_urls(text: &str) -> String {
    text.split_whitespace()
        .map(|w| {
            let t = w.trim_matches(|c| c == '(' || c == ')');
            if t.starts_with("http://") || t.starts_with("https://") {
                "<url>"
            } else {
                w
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use connector_spec::Backoff;

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

    #[test]
    fn retry_after_accepts_seconds_and_http_dates() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", "2".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
        let future = SystemTime::now() + Duration::from_secs(5);
        h.insert(
            "retry-after",
            httpdate::fmt_http_date(future).parse().unwrap(),
        );
        let w = retry_after(&h).unwrap();
        assert!(
            w <= Duration::from_secs(5) && w >= Duration::from_secs(3),
            "{w:?}"
        );
        h.insert("retry-after", "soon".parse().unwrap());
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn urls_are_stripped_from_transport_messages() {
        assert_eq!(
            strip_urls("error sending request for url (http://x/?api_key=abc)"),
            "error sending request for url <url>"
        );
    }
}
