//! Egress policy: which hosts and addresses the runtime may reach, and the one check every
//! outbound request passes.
//!
//! A server that runs connectors for its users calls URLs its users configured, so it must not
//! become a way into its own network (SSRF). Checking a URL when an instance is saved is not
//! enough: a host name can resolve to another address at request time (DNS rebinding), and an
//! API can redirect anywhere. With a policy set
//! ([`InstanceRuntime::new_with_egress`](crate::InstanceRuntime::new_with_egress),
//! [`OAuthSettings::with_egress`](crate::oauth::OAuthSettings::with_egress)), every request is
//! checked when it is made, whoever sends it:
//!
//! - the request URL, parsed (`http:host`, `HTTP://host`, `http:/host` and `http:\\host` all
//!   parse to `http://host/` and are judged as such): scheme http(s), host on the allowed list,
//!   not a metadata host name, `localhost` names count as loopback, and an IP literal must be
//!   a public address (loopback only when the policy allows it). An IPv6 literal that embeds
//!   an IPv4 address (IPv4-mapped `::ffff:a.b.c.d`, IPv4-compatible `::a.b.c.d`,
//!   IPv4-translated `::ffff:0:a.b.c.d`, NAT64 `64:ff9b::a.b.c.d`, 6to4 `2002:AABB:CCDD::`)
//!   is judged by that address; local-use NAT64 (`64:ff9b:1::/48`) counts as private;
//! - every redirect hop, the same way (the OAuth token client follows none);
//! - every address a host name resolves to, at connection time (the resolver drops refused
//!   addresses; a name with none left fails).
//!
//! The URL check is [`check_outbound`]. Two paths lead there and nothing else sends:
//!
//! - an instance's [`HttpClient::send`](crate::client::HttpClient::send) (actions, pagination,
//!   connection tests, sessions, hooks, streaming, Rust handlers) calls it once per request,
//!   before auth is applied (a builder from `HttpClient::request` must be sent with
//!   `HttpClient::send`: sending it directly would skip auth, policies and this check);
//! - everything else (the client-credentials token fetch, the authorization-code exchange,
//!   refresh, EARS token/refresh/revoke, and future discovery or SMTP code) sends through an
//!   [`EgressClient`], whose [`OutboundRequest::send`] calls it before handing the request to
//!   reqwest. It does not expose the reqwest builder, so a request cannot skip the check.
//!
//! A connection that is not an http(s) URL (an SMTP relay) uses the same rules through
//! [`EgressPolicy::check_host`] and [`EgressPolicy::filter_addrs`].
//!
//! A refusal is the typed error `egress_refused` (class `user`), never retried, and nothing is
//! sent: no connection is opened to a refused address. Its message names the host and why,
//! never the port, path or query, so it reads the same whether or not anything listens there.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use url::{Host, Url};

/// Which hosts an instance's client may call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EgressPolicy {
    /// Host patterns: `api.example.com`, `*.example.com`, or `*` (any public host).
    pub allowed_hosts: Vec<String>,
    /// Allow 127.0.0.0/8, ::1 and `localhost` (tests, local development).
    pub allow_loopback: bool,
}

impl Default for EgressPolicy {
    /// Any public host; no loopback.
    fn default() -> EgressPolicy {
        EgressPolicy {
            allowed_hosts: vec!["*".to_string()],
            allow_loopback: false,
        }
    }
}

/// Host names that always point at instance metadata services.
pub const METADATA_HOSTS: [&str; 4] = [
    "metadata.google.internal",
    "metadata",
    "instance-data",
    "metadata.azure.internal",
];

/// A request the policy refused. The message names the host and why; never a path or query.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct EgressRefused(pub String);

impl EgressPolicy {
    /// Why `ip` is refused, or `None` when it may be called (a public unicast address, or
    /// loopback when allowed).
    pub fn refused_ip(&self, ip: IpAddr) -> Option<&'static str> {
        match ip {
            IpAddr::V4(v4) => refused_v4(v4, self.allow_loopback),
            IpAddr::V6(v6) => match embedded_v4(v6) {
                Some(v4) => refused_v4(v4, self.allow_loopback),
                None => refused_v6(v6, self.allow_loopback),
            },
        }
    }

    /// Whether `host` (lower case, no trailing dot) matches the allowed-hosts list.
    pub fn host_allowed(&self, host: &str) -> bool {
        self.allowed_hosts.iter().any(|p| {
            if p == "*" {
                true
            } else if let Some(suffix) = p.strip_prefix("*.") {
                host.len() > suffix.len() + 1
                    && host.ends_with(suffix)
                    && host.as_bytes()[host.len() - suffix.len() - 1] == b'.'
            } else {
                host.eq_ignore_ascii_case(p)
            }
        })
    }

    /// The checks that need no DNS: scheme, allowed hosts, metadata and `localhost` names,
    /// and IP literals. Returns the normalized host name and, for an IP literal, the address.
    pub fn check_url(&self, url: &Url) -> Result<(String, Option<IpAddr>), EgressRefused> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(EgressRefused(format!(
                "scheme `{}` is not allowed (only http and https)",
                url.scheme()
            )));
        }
        let host = url
            .host()
            .ok_or_else(|| EgressRefused("the URL has no host".into()))?;
        self.check_host(host)
    }

    /// The host part of [`EgressPolicy::check_url`]: allowed hosts, metadata and `localhost`
    /// names, and IP literals. For a connection that is not an http(s) URL (an SMTP relay
    /// will call it with its parsed host, then connect only to the addresses
    /// [`EgressPolicy::filter_addrs`] keeps).
    pub fn check_host(&self, host: Host<&str>) -> Result<(String, Option<IpAddr>), EgressRefused> {
        let (name, ip) = match host {
            Host::Domain(d) => (d.trim_end_matches('.').to_ascii_lowercase(), None),
            Host::Ipv4(ip) => (ip.to_string(), Some(IpAddr::V4(ip))),
            Host::Ipv6(ip) => (ip.to_string(), Some(IpAddr::V6(ip))),
        };
        if !self.host_allowed(&name) {
            return Err(EgressRefused(format!(
                "host `{name}` is not on the allowed-hosts list"
            )));
        }
        if METADATA_HOSTS.contains(&name.as_str()) {
            return Err(EgressRefused(format!(
                "host `{name}` is a cloud metadata host"
            )));
        }
        let ip = match ip {
            Some(ip) => Some(ip),
            None if name == "localhost" || name.ends_with(".localhost") => {
                Some(IpAddr::V4(Ipv4Addr::LOCALHOST))
            }
            None => None,
        };
        if let Some(ip) = ip
            && let Some(why) = self.refused_ip(ip)
        {
            return Err(EgressRefused(refusal_text(&name, "is", why, ip)));
        }
        Ok((name, ip))
    }

    /// Keep the addresses the policy allows; an error when none is left.
    pub fn filter_addrs(
        &self,
        name: &str,
        addrs: impl IntoIterator<Item = SocketAddr>,
    ) -> Result<Vec<SocketAddr>, EgressRefused> {
        let mut kept = Vec::new();
        let mut refused = None;
        for a in addrs {
            match self.refused_ip(a.ip()) {
                None => kept.push(a),
                Some(why) => refused = refused.or(Some((a.ip(), why))),
            }
        }
        match (kept.is_empty(), refused) {
            (false, _) => Ok(kept),
            (true, Some((ip, why))) => {
                Err(EgressRefused(refusal_text(name, "resolves to", why, ip)))
            }
            (true, None) => Err(EgressRefused(format!("host `{name}` does not resolve"))),
        }
    }
}

/// The egress check of one outbound request: its parsed URL against `policy` (no policy:
/// allowed). Every request the runtime sends passes here first; see the module docs.
pub fn check_outbound(policy: Option<&EgressPolicy>, url: &Url) -> Result<(), EgressRefused> {
    match policy {
        Some(p) => p.check_url(url).map(|_| ()),
        None => Ok(()),
    }
}

/// An HTTP client for requests that are not an instance's API calls (token endpoints, EARS,
/// and later discovery or SMTP relays): every request it sends passes [`check_outbound`],
/// and with a policy its host names resolve only to allowed addresses.
#[derive(Clone)]
pub struct EgressClient {
    http: reqwest::Client,
    policy: Option<Arc<EgressPolicy>>,
}

impl std::fmt::Debug for EgressClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EgressClient")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl EgressClient {
    /// Wrap a reqwest client built with the same policy's resolver and redirect policy
    /// ([`crate::client::build_reqwest`]).
    pub(crate) fn wrap(http: reqwest::Client, policy: Option<Arc<EgressPolicy>>) -> EgressClient {
        EgressClient { http, policy }
    }

    /// A client for requests that carry credentials to a token endpoint: it never follows a
    /// redirect (the credentials would go along), and gives up after `timeout`.
    pub fn for_tokens(
        policy: Option<Arc<EgressPolicy>>,
        timeout: std::time::Duration,
    ) -> Result<EgressClient, crate::error::ActionError> {
        let mut builder = reqwest::Client::builder()
            .connect_timeout(crate::http::DEFAULT_CONNECT_TIMEOUT)
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .user_agent(concat!("connector-runtime/", env!("CARGO_PKG_VERSION")));
        if let Some(p) = &policy {
            builder = builder.dns_resolver(Resolver::new(Arc::clone(p)));
        }
        let http = builder.build().map_err(|e| {
            crate::error::ActionError::system(
                "client_build_failed",
                format!("could not build the HTTP client: {e}"),
            )
        })?;
        Ok(EgressClient { http, policy })
    }

    /// The policy every request is checked against.
    pub fn policy(&self) -> Option<&EgressPolicy> {
        self.policy.as_deref()
    }

    /// Start a request; nothing is sent until [`OutboundRequest::send`].
    pub fn request(&self, method: reqwest::Method, url: Url) -> OutboundRequest {
        OutboundRequest {
            builder: self.http.request(method, url),
            policy: self.policy.clone(),
        }
    }

    pub fn post(&self, url: Url) -> OutboundRequest {
        self.request(reqwest::Method::POST, url)
    }
}

/// A request being built on an [`EgressClient`]. It keeps the reqwest builder to itself, so
/// the only way to send it is [`OutboundRequest::send`], which checks the URL first.
pub struct OutboundRequest {
    builder: reqwest::RequestBuilder,
    policy: Option<Arc<EgressPolicy>>,
}

impl OutboundRequest {
    pub fn header(
        mut self,
        name: reqwest::header::HeaderName,
        value: impl Into<reqwest::header::HeaderValue>,
    ) -> OutboundRequest {
        self.builder = self.builder.header(name, value.into());
        self
    }

    pub fn json<T: serde::Serialize + ?Sized>(mut self, body: &T) -> OutboundRequest {
        self.builder = self.builder.json(body);
        self
    }

    pub fn form<T: serde::Serialize + ?Sized>(mut self, body: &T) -> OutboundRequest {
        self.builder = self.builder.form(body);
        self
    }

    /// Check the URL against the policy, then send. A refused request is never handed to
    /// reqwest: no connection is opened and nothing is sent.
    pub async fn send(self) -> Result<reqwest::Response, OutboundError> {
        let (client, req) = self.builder.build_split();
        let req = req.map_err(OutboundError::Http)?;
        check_outbound(self.policy.as_deref(), req.url()).map_err(OutboundError::Refused)?;
        client.execute(req).await.map_err(OutboundError::Http)
    }
}

/// Why an outbound request got no response.
#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    /// The policy refused the request URL; nothing was sent.
    #[error("the request was refused by the egress policy: {0}")]
    Refused(EgressRefused),
    /// reqwest failed: a connection that could not be made (a refused resolved address or
    /// redirect included), or a broken exchange. Displayed without the URL's path or query.
    #[error("{}", crate::http::describe_reqwest(.0))]
    Http(reqwest::Error),
}

impl OutboundError {
    /// The policy's refusal, whether the URL was refused or a resolved address or redirect.
    pub fn refusal(&self) -> Option<&EgressRefused> {
        match self {
            OutboundError::Refused(r) => Some(r),
            OutboundError::Http(e) => find_refusal(e),
        }
    }
}

/// A string of an instance that the runtime uses, or may use, as an outbound URL: what a
/// save-time check must look at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfiguredUrl {
    /// Where it comes from: `config.tokenUrl`, `secrets.url`, `spec.baseUrl`,
    /// `spec.actions.send.url`, `config.extra.hooks[0]`.
    pub field: String,
    pub value: String,
    /// Declared as a URL (a `format: uri` field, a rendered `baseUrl` or request `url`), so it
    /// must be an http(s) URL. Otherwise it was found because the URL parser reads it as one.
    pub declared: bool,
}

/// Whether the URL parser reads `s` as an http(s) URL, as reqwest will: `http:host`,
/// `HTTP://host`, `http:/host` and `http:\\host` all count, not only strings with `://`.
pub fn parses_as_http(s: &str) -> bool {
    Url::parse(s).is_ok_and(|u| matches!(u.scheme(), "http" | "https"))
}

/// Every string of `instance` the runtime may use as a URL, declared ones first:
///
/// 1. config and secrets fields declared as URLs (`format: uri` or an `x-ui` `url` widget):
///    every one the auth type declares (`tokenUrl`, `authorizationUrl`, `earsBaseUrl`, a
///    webhook `url`), and those of the spec that hold an http(s) URL;
/// 2. the spec's `baseUrl`, each action's and the connection test's absolute `url`, rendered
///    with the instance's config and secrets (a template that needs the input is skipped:
///    those are checked when the request is made);
/// 3. as a safety net, any other config string, at any depth, that [`parses_as_http`] (but
///    not the auth type's own fields: step 1 has its URL fields, the others are identifiers).
///
/// A value is listed once, under the first field that holds it.
pub fn configured_urls(instance: &crate::ConnectorInstance) -> Vec<ConfiguredUrl> {
    let mut out: Vec<ConfiguredUrl> = Vec::new();
    let mut push = |field: String, value: &str, declared: bool| {
        if !value.trim().is_empty() && !out.iter().any(|u| u.value == value) {
            out.push(ConfiguredUrl {
                field,
                value: value.to_string(),
                declared,
            });
        }
    };
    let spec = &instance.spec;
    // The auth type's URL fields are always called as they are, so each must be an allowed
    // http(s) URL. A connector's own `format: uri` field may hold any URI (`urn:...`, a link
    // shown to people): it is checked when it is an http(s) URL, and wherever a template uses
    // it, the rendered URL is checked too (2.).
    let owned = |auth: bool, v: &str| auth || parses_as_http(v);
    for (schema, auth) in [
        (instance.auth_type.config_schema(), true),
        (&spec.config, false),
    ] {
        for name in url_properties(schema) {
            if let Some(v) = instance
                .config
                .get(&name)
                .and_then(serde_json::Value::as_str)
                .filter(|v| owned(auth, v))
            {
                push(format!("config.{name}"), v, true);
            }
        }
    }
    for (schema, auth) in [
        (instance.auth_type.secrets_schema(), true),
        (&spec.secrets, false),
    ] {
        for name in url_properties(schema) {
            if let Some(v) = instance.secrets.get_str(&name).filter(|v| owned(auth, v)) {
                push(format!("secrets.{name}"), v, true);
            }
        }
    }
    for (field, template) in url_templates(spec) {
        if let Some(v) = render_with_instance(instance, &template) {
            push(field, &v, true);
        }
    }
    // The auth type uses each of its fields as it declares it: one not declared a URL (an
    // OAuth `scope` such as `https://www.googleapis.com/auth/cloud-platform`, an `audience`)
    // is an identifier it sends, never an address it calls, so the safety net leaves it alone.
    let auth_fields: Vec<String> = instance
        .auth_type
        .config_schema()
        .get("properties")
        .and_then(serde_json::Value::as_object)
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default();
    let mut found = Vec::new();
    for (k, v) in &instance.config {
        if !auth_fields.contains(k) {
            http_strings(format!("config.{k}"), v, &mut found);
        }
    }
    for (field, v) in found {
        push(field, &v, false);
    }
    out
}

/// The properties of an object schema declared as URLs.
fn url_properties(schema: &serde_json::Value) -> Vec<String> {
    let Some(props) = schema
        .get("properties")
        .and_then(serde_json::Value::as_object)
    else {
        return Vec::new();
    };
    props
        .iter()
        .filter(|(_, p)| {
            let format = p.get("format").and_then(serde_json::Value::as_str);
            let widget = p
                .pointer("/x-ui/widget")
                .and_then(serde_json::Value::as_str);
            matches!(format, Some("uri" | "url" | "iri")) || widget == Some("url")
        })
        .map(|(k, _)| k.clone())
        .collect()
}

/// The spec's URL templates: `baseUrl`, each HTTP action's absolute `url`, the test's.
fn url_templates(spec: &connector_spec::ConnectorSpec) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Some(b) = &spec.base_url {
        out.push(("spec.baseUrl".to_string(), b.clone()));
    }
    for (name, action) in &spec.actions {
        if let connector_spec::Implementation::Http { request, .. } = &action.implementation
            && let Some(u) = &request.url
        {
            out.push((format!("spec.actions.{name}.url"), u.clone()));
        }
    }
    if let Some(u) = spec
        .test
        .as_ref()
        .and_then(|t| t.request.as_ref())
        .and_then(|r| r.url.as_ref())
    {
        out.push(("spec.test.url".to_string(), u.clone()));
    }
    out
}

/// A URL template rendered with the instance's config and secrets; `None` when it needs
/// more (the input) or does not render.
fn render_with_instance(instance: &crate::ConnectorInstance, template: &str) -> Option<String> {
    instance.scope.render(template).ok()
}

/// Strings under `v` that parse as http(s) URLs, with their paths.
fn http_strings(path: String, v: &serde_json::Value, out: &mut Vec<(String, String)>) {
    match v {
        serde_json::Value::String(s) if parses_as_http(s) => out.push((path, s.clone())),
        serde_json::Value::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                http_strings(format!("{path}[{i}]"), v, out);
            }
        }
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                http_strings(format!("{path}.{k}"), v, out);
            }
        }
        _ => {}
    }
}

/// How the [`Resolver`] looks names up: the system resolver, or a fixed table (tests).
pub(crate) type Lookup = Arc<
    dyn Fn(String) -> futures::future::BoxFuture<'static, std::io::Result<Vec<SocketAddr>>>
        + Send
        + Sync,
>;

fn system_lookup() -> Lookup {
    Arc::new(|name: String| {
        Box::pin(async move {
            Ok(tokio::net::lookup_host((name.as_str(), 0))
                .await?
                .collect::<Vec<_>>())
        })
    })
}

/// A reqwest resolver that drops the addresses the policy refuses.
pub(crate) struct Resolver {
    policy: Arc<EgressPolicy>,
    lookup: Lookup,
}

impl Resolver {
    pub(crate) fn new(policy: Arc<EgressPolicy>) -> Resolver {
        Resolver {
            policy,
            lookup: system_lookup(),
        }
    }

    #[cfg(test)]
    pub(crate) fn with_lookup(policy: Arc<EgressPolicy>, lookup: Lookup) -> Resolver {
        Resolver { policy, lookup }
    }
}

impl reqwest::dns::Resolve for Resolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = Arc::clone(&self.policy);
        let name = name.as_str().to_string();
        let lookup = (self.lookup)(name.clone());
        Box::pin(async move {
            let addrs = lookup.await?;
            let kept = policy.filter_addrs(&name, addrs)?;
            let addrs: reqwest::dns::Addrs = Box::new(kept.into_iter());
            Ok(addrs)
        })
    }
}

/// The redirect policy: at most `max` hops, each one checked like a request URL.
pub(crate) fn redirect_policy(policy: Arc<EgressPolicy>, max: usize) -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(move |attempt| {
        if attempt.previous().len() >= max {
            return attempt.error(TooManyRedirects);
        }
        match policy.check_url(attempt.url()) {
            Ok(_) => attempt.follow(),
            Err(e) => attempt.error(e),
        }
    })
}

/// reqwest's own text for a redirect chain that is too long.
#[derive(Debug, thiserror::Error)]
#[error("too many redirects")]
struct TooManyRedirects;

/// The typed error for a refusal: `egress_refused`, class `user`, never retried.
/// Why a host is refused, for a person: `host `x` is a loopback address (127.0.0.1)`, and for
/// loopback the setting that allows it, since that is what someone testing locally needs.
pub fn refusal_text(name: &str, verb: &str, why: &str, ip: IpAddr) -> String {
    let hint = if why == LOOPBACK {
        "; loopback is refused unless the server runs with `--allow-loopback` (for local \
         testing)"
    } else {
        ""
    };
    format!("host `{name}` {verb} {why} ({ip}){hint}")
}

/// The reason given for a loopback address.
const LOOPBACK: &str = "a loopback address";

pub(crate) fn refused(e: &EgressRefused) -> crate::error::ActionError {
    crate::error::ActionError::user(
        "egress_refused",
        format!("the request was refused by the egress policy: {e}"),
    )
}

/// The [`EgressRefused`] somewhere in an error's source chain.
pub(crate) fn find_refusal<'a>(
    e: &'a (dyn std::error::Error + 'static),
) -> Option<&'a EgressRefused> {
    let mut cur: Option<&'a (dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(r) = err.downcast_ref::<EgressRefused>() {
            return Some(r);
        }
        cur = err.source();
    }
    None
}

fn refused_v4(ip: Ipv4Addr, allow_loopback: bool) -> Option<&'static str> {
    let o = ip.octets();
    if ip.is_loopback() {
        return (!allow_loopback).then_some(LOOPBACK);
    }
    if o == [169, 254, 169, 254] || o == [100, 100, 100, 200] {
        return Some("a cloud metadata address");
    }
    if ip.is_link_local() {
        return Some("a link-local address");
    }
    if ip.is_private() {
        return Some("a private address");
    }
    // 100.64.0.0/10 (carrier-grade NAT), 0.0.0.0/8, 192.0.0.0/24, 198.18.0.0/15, 240.0.0.0/4.
    if (o[0] == 100 && (o[1] & 0xc0) == 64)
        || o[0] == 0
        || (o[0] == 192 && o[1] == 0 && o[2] == 0)
        || (o[0] == 198 && (o[1] & 0xfe) == 18)
        || o[0] >= 240
    {
        return Some("a reserved address");
    }
    if ip.is_multicast() || ip.is_broadcast() || ip.is_unspecified() {
        return Some("a non-unicast address");
    }
    None
}

fn refused_v6(ip: Ipv6Addr, allow_loopback: bool) -> Option<&'static str> {
    let s = ip.segments();
    if ip.is_loopback() {
        return (!allow_loopback).then_some(LOOPBACK);
    }
    if ip.is_unspecified() || ip.is_multicast() {
        return Some("a non-unicast address");
    }
    if s[0] == 0xfd00 && s[1..7] == [0, 0, 0, 0, 0, 0] && s[7] == 0x0254 {
        return Some("a cloud metadata address");
    }
    if (s[0] & 0xfe00) == 0xfc00 {
        return Some("a private address");
    }
    if (s[0] & 0xffc0) == 0xfe80 {
        return Some("a link-local address");
    }
    // Local-use NAT64 (RFC 8215): translated by a gateway inside the operator's network.
    if s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1 {
        return Some("a private address");
    }
    None
}

/// The IPv4 address an IPv6 address stands for, when a host or gateway would deliver it to
/// that IPv4 address: IPv4-mapped (`::ffff:a.b.c.d`), IPv4-compatible (`::a.b.c.d`, any of
/// `::/96` but `::` and `::1`), IPv4-translated (`::ffff:0:a.b.c.d`), NAT64 (`64:ff9b::/96`)
/// and 6to4 (`2002:AABB:CCDD::/48`). Without this, `[::127.0.0.1]` would pass as a public
/// IPv6 address while the kernel connects it to loopback.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let low =
        |hi: u16, lo: u16| Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8);
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    let compatible = s[..6] == [0; 6] && !ip.is_unspecified() && !ip.is_loopback();
    let translated = s[..4] == [0; 4] && s[4] == 0xffff && s[5] == 0;
    let nat64 = s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0; 4];
    if compatible || translated || nat64 {
        return Some(low(s[6], s[7]));
    }
    if s[0] == 0x2002 {
        return Some(low(s[1], s[2]));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::dns::Resolve;
    use std::str::FromStr;

    fn policy(loopback: bool) -> EgressPolicy {
        EgressPolicy {
            allow_loopback: loopback,
            ..EgressPolicy::default()
        }
    }

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn metadata_private_reserved_and_link_local_addresses_are_refused() {
        let p = policy(true);
        for u in [
            "http://169.254.169.254/latest/meta-data",
            "http://100.100.100.200/",
            "http://10.0.0.5/",
            "http://192.168.1.1:8080/",
            "http://172.16.0.1/",
            "http://[fe80::1]/",
            "http://[fd00::1]/",
            "http://[fd00:ec2::254]/",
            "http://[::ffff:169.254.169.254]/",
            "http://[64:ff9b::a00:1]/",
            "http://100.64.0.1/",
            "http://0.0.0.0/",
            "http://255.255.255.255/",
            "http://224.0.0.1/",
            "http://metadata.google.internal/",
            "http://METADATA.google.internal./",
        ] {
            assert!(p.check_url(&url(u)).is_err(), "{u}");
        }
        for u in [
            "https://api.example.com/",
            "http://8.8.8.8/",
            "http://[2001:db8::1]/",
        ] {
            assert!(p.check_url(&url(u)).is_ok(), "{u}");
        }
        assert!(p.check_url(&url("ftp://api.example.com/")).is_err());
        assert!(p.check_url(&url("file:///etc/passwd")).is_err());
    }

    #[test]
    fn loopback_needs_the_setting() {
        for u in [
            "http://127.0.0.1:9/",
            "http://localhost:9/",
            "http://a.localhost/",
            "http://[::1]/",
        ] {
            let e = policy(false).check_url(&url(u)).unwrap_err();
            assert!(e.0.contains("loopback"), "{u}: {e}");
            assert!(policy(true).check_url(&url(u)).is_ok(), "{u}");
        }
    }

    #[test]
    fn ipv6_literals_that_embed_an_ipv4_address_are_judged_by_it() {
        // Loopback in every IPv6 disguise: refused without the setting, allowed with it.
        for u in [
            "http://[::127.0.0.1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::ffff:0:127.0.0.1]/",
            "http://[64:ff9b::127.0.0.1]/",
            "http://[2002:7f00:1::]/",
            "http://[0:0:0:0:0:0:7f00:1]:8080/",
        ] {
            let e = policy(false).check_url(&url(u)).unwrap_err();
            assert!(e.0.contains("loopback"), "{u}: {e}");
            assert!(policy(true).check_url(&url(u)).is_ok(), "{u}");
        }
        // Private and metadata addresses stay refused even with loopback allowed.
        for (u, why) in [
            ("http://[::10.0.0.1]/", "private"),
            ("http://[::ffff:0:192.168.1.1]/", "private"),
            ("http://[::169.254.169.254]/", "metadata"),
            ("http://[::ffff:0:169.254.169.254]/", "metadata"),
            ("http://[64:ff9b::a9fe:a9fe]/", "metadata"),
            ("http://[2002:a9fe:a9fe::1]/", "metadata"),
            ("http://[::0.0.0.7]/", "reserved"),
            ("http://[64:ff9b:1::8.8.8.8]/", "private"),
        ] {
            let e = policy(true).check_url(&url(u)).unwrap_err();
            assert!(e.0.contains(why), "{u}: {e}");
        }
        // The unspecified and loopback IPv6 addresses are not read as IPv4-compatible.
        assert!(policy(true).check_url(&url("http://[::]/")).is_err());
        assert!(policy(false).check_url(&url("http://[::1]/")).is_err());
        // Public addresses behind the same prefixes are allowed.
        for u in [
            "http://[::ffff:8.8.8.8]/",
            "http://[64:ff9b::8.8.8.8]/",
            "http://[2002:808:808::1]/",
            "http://[2606:4700::1111]/",
        ] {
            assert!(policy(false).check_url(&url(u)).is_ok(), "{u}");
        }
    }

    #[test]
    fn every_spelling_of_an_http_url_is_judged_by_what_it_parses_to() {
        // The URL parser reads all of these as http://127.0.0.1/...: the check must too.
        for raw in [
            "http:127.0.0.1:18230/x",
            "HTTP://127.0.0.1:18230/x",
            "hTtP:127.0.0.1:18230/x",
            "http:/127.0.0.1:18230/x",
            "http:\\\\127.0.0.1:18230\\x",
            "https:127.0.0.1/",
            " http://127.0.0.1/ ",
            "http://127.1/",
            "http://2130706433/",
            "http://0x7f.0.0.1/",
            "http://017700000001/",
        ] {
            let parsed = Url::parse(raw).unwrap_or_else(|e| panic!("{raw}: {e}"));
            assert_eq!(parsed.host_str(), Some("127.0.0.1"), "{raw}");
            let e = policy(false).check_url(&parsed).unwrap_err();
            assert!(e.0.contains("loopback"), "{raw}: {e}");
            assert!(
                check_outbound(Some(&policy(false)), &parsed).is_err(),
                "{raw}"
            );
        }
        assert!(check_outbound(None, &url("http://127.0.0.1/")).is_ok());
    }

    #[test]
    fn a_refusal_names_the_host_but_never_the_port_or_path() {
        let a = policy(false)
            .check_url(&url("http://127.0.0.1:1/a?k=v"))
            .unwrap_err();
        let b = policy(false)
            .check_url(&url("http://127.0.0.1:65000/b"))
            .unwrap_err();
        assert_eq!(a, b);
        assert!(!a.0.contains("65000") && !a.0.contains("/a"), "{a}");
    }

    #[test]
    fn allowed_hosts_list_is_enforced() {
        let p = EgressPolicy {
            allowed_hosts: vec!["*.example.test".into(), "127.0.0.1".into()],
            allow_loopback: true,
        };
        assert!(p.check_url(&url("http://127.0.0.1/")).is_ok());
        assert!(p.check_url(&url("http://api.example.test/")).is_ok());
        for u in [
            "http://localhost/",
            "http://evilexample.test/",
            "http://example.test/",
        ] {
            let e = p.check_url(&url(u)).unwrap_err();
            assert!(e.0.contains("allowed-hosts"), "{u}: {e}");
        }
    }

    fn table(entries: &[(&str, &[&str])]) -> Lookup {
        let map: std::collections::HashMap<String, Vec<SocketAddr>> = entries
            .iter()
            .map(|(n, ips)| {
                (
                    n.to_string(),
                    ips.iter()
                        .map(|ip| SocketAddr::new(ip.parse().unwrap(), 0))
                        .collect(),
                )
            })
            .collect();
        Arc::new(move |name: String| {
            let r = map
                .get(&name)
                .cloned()
                .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no such host"));
            Box::pin(async move { r })
        })
    }

    #[tokio::test]
    async fn the_resolver_drops_refused_addresses_and_fails_when_none_is_left() {
        let lookup = table(&[
            ("mixed.test", &["10.0.0.7", "93.184.216.34"]),
            ("rebind.test", &["169.254.169.254", "10.0.0.7"]),
        ]);
        let r = Resolver::with_lookup(Arc::new(policy(false)), lookup);
        let addrs: Vec<SocketAddr> = r
            .resolve(reqwest::dns::Name::from_str("mixed.test").unwrap())
            .await
            .unwrap()
            .collect();
        assert_eq!(addrs, vec!["93.184.216.34:0".parse().unwrap()]);
        let e = r
            .resolve(reqwest::dns::Name::from_str("rebind.test").unwrap())
            .await
            .err()
            .expect("refused");
        let refusal = find_refusal(&*e).expect("an EgressRefused");
        assert!(refusal.0.contains("rebind.test"), "{refusal}");
        assert!(refusal.0.contains("metadata"), "{refusal}");
    }

    /// Through a real client: a name that resolves to a refused address never gets a
    /// connection, and the error is `egress_refused`.
    #[tokio::test]
    async fn a_name_rebound_to_a_refused_address_is_never_connected() {
        use wiremock::{Mock, MockServer, ResponseTemplate, matchers::any};
        let server = MockServer::start().await;
        Mock::given(any())
            .respond_with(ResponseTemplate::new(200))
            .mount(&server)
            .await;
        let port = server.address().port();
        // `ok.test` is allowed (loopback allowed, 127.0.0.1); `rebind.test` resolves to the
        // same server but the policy allows loopback only under the name on the list.
        let lookup = table(&[("ok.test", &["127.0.0.1"]), ("rebind.test", &["127.0.0.1"])]);
        let allowing = Arc::new(policy(true));
        let client = crate::client::build_reqwest_with(
            std::time::Duration::from_secs(2),
            None,
            Some((
                Arc::clone(&allowing),
                Resolver::with_lookup(allowing, lookup.clone()),
            )),
        )
        .unwrap();
        let ok = client
            .get(format!("http://ok.test:{port}/"))
            .send()
            .await
            .unwrap();
        assert_eq!(ok.status(), 200);

        let refusing = Arc::new(policy(false));
        let client = crate::client::build_reqwest_with(
            std::time::Duration::from_secs(2),
            None,
            Some((
                Arc::clone(&refusing),
                Resolver::with_lookup(refusing, lookup),
            )),
        )
        .unwrap();
        let e = client
            .get(format!("http://rebind.test:{port}/"))
            .send()
            .await
            .unwrap_err();
        let ae = crate::client::from_reqwest(&e);
        assert_eq!(ae.code, "egress_refused", "{ae:?}");
        assert!(ae.message.contains("loopback"), "{}", ae.message);
        assert_eq!(server.received_requests().await.unwrap().len(), 1);
    }
}
