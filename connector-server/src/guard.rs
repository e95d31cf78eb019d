//! Guards on URLs: the outbound check (SSRF) for every URL an instance makes the server call,
//! and the same-origin check for OAuth return URLs.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde_json::Value;
use url::{Host, Url};

use crate::error::ApiError;

/// Which hosts the server may call.
#[derive(Debug, Clone)]
pub struct OutboundPolicy {
    /// Host patterns: `api.example.com`, `*.example.com`, or `*` (any public host).
    pub allowed_hosts: Vec<String>,
    /// Allow 127.0.0.0/8, ::1 and `localhost` (tests, local development).
    pub allow_loopback: bool,
}

impl Default for OutboundPolicy {
    fn default() -> OutboundPolicy {
        OutboundPolicy {
            allowed_hosts: vec!["*".to_string()],
            allow_loopback: false,
        }
    }
}

/// Host names that always point at instance metadata services.
const METADATA_HOSTS: [&str; 4] = [
    "metadata.google.internal",
    "metadata",
    "instance-data",
    "metadata.azure.internal",
];

/// Why an address is refused, or `None` when it is a public unicast address.
fn refused_ip(ip: IpAddr, allow_loopback: bool) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => refused_v4(v4, allow_loopback),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return refused_v4(v4, allow_loopback);
            }
            refused_v6(v6, allow_loopback)
        }
    }
}

fn refused_v4(ip: Ipv4Addr, allow_loopback: bool) -> Option<&'static str> {
    let o = ip.octets();
    if ip.is_loopback() {
        return (!allow_loopback).then_some("a loopback address");
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
        return (!allow_loopback).then_some("a loopback address");
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
    // NAT64 of an IPv4 address: judge the embedded address.
    if s[0] == 0x64 && s[1] == 0xff9b {
        let v4 = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
        return refused_v4(v4, allow_loopback);
    }
    None
}

fn outbound_denied(field: &str, why: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request(
        "outbound_url_denied",
        format!("`{field}` is not an allowed outbound URL: {why}"),
    )
}

impl OutboundPolicy {
    fn host_allowed(&self, host: &str) -> bool {
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

    /// Check one URL: scheme http(s), host on the allow list, and every address the host
    /// resolves to public (loopback only when allowed). `field` names it in the error.
    pub async fn check_url(&self, field: &str, raw: &str) -> Result<(), ApiError> {
        let url = Url::parse(raw).map_err(|e| outbound_denied(field, e))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(outbound_denied(field, "only http and https are allowed"));
        }
        let host = url
            .host()
            .ok_or_else(|| outbound_denied(field, "the URL has no host"))?;
        let port = url.port_or_known_default().unwrap_or(443);
        let name = match &host {
            Host::Domain(d) => d.trim_end_matches('.').to_ascii_lowercase(),
            Host::Ipv4(ip) => ip.to_string(),
            Host::Ipv6(ip) => ip.to_string(),
        };
        if !self.host_allowed(&name) {
            return Err(outbound_denied(
                field,
                format!("host `{name}` is not on the allowed-hosts list"),
            ));
        }
        let ips: Vec<IpAddr> = match host {
            Host::Ipv4(ip) => vec![IpAddr::V4(ip)],
            Host::Ipv6(ip) => vec![IpAddr::V6(ip)],
            Host::Domain(_) => {
                if METADATA_HOSTS.contains(&name.as_str()) {
                    return Err(outbound_denied(field, "a cloud metadata host"));
                }
                if name == "localhost" || name.ends_with(".localhost") {
                    vec![IpAddr::V4(Ipv4Addr::LOCALHOST)]
                } else {
                    tokio::net::lookup_host((name.as_str(), port))
                        .await
                        .map_err(|_| {
                            outbound_denied(field, format!("host `{name}` does not resolve"))
                        })?
                        .map(|a| a.ip())
                        .collect()
                }
            }
        };
        for ip in ips {
            if let Some(why) = refused_ip(ip, self.allow_loopback) {
                return Err(outbound_denied(
                    field,
                    format!("host `{name}` is {why} ({ip})"),
                ));
            }
        }
        Ok(())
    }

    /// Check every http(s) URL found in an instance's config (API base URLs, authorization
    /// and token URLs, the EARS base) and the spec's fixed base URL.
    pub async fn check_config(
        &self,
        config: &serde_json::Map<String, Value>,
        spec_base_url: Option<&str>,
    ) -> Result<(), ApiError> {
        let mut urls = Vec::new();
        fn walk(path: String, v: &Value, out: &mut Vec<(String, String)>) {
            match v {
                Value::String(s) => {
                    let t = s.trim();
                    if t.len() > 7 && t.contains("://") {
                        out.push((path, t.to_string()));
                    }
                }
                Value::Array(a) => {
                    for (i, v) in a.iter().enumerate() {
                        walk(format!("{path}[{i}]"), v, out);
                    }
                }
                Value::Object(m) => {
                    for (k, v) in m {
                        walk(format!("{path}.{k}"), v, out);
                    }
                }
                _ => {}
            }
        }
        for (k, v) in config {
            walk(format!("config.{k}"), v, &mut urls);
        }
        if let Some(base) = spec_base_url.filter(|b| !b.contains("{{")) {
            urls.push(("spec.baseUrl".to_string(), base.to_string()));
        }
        for (field, url) in urls {
            self.check_url(&field, &url).await?;
        }
        Ok(())
    }
}

/// Check an OAuth return URL: a path on this server (`/...`, not `//...`) or an absolute URL
/// with the same origin as the public base URL. Returns the absolute URL.
pub fn same_origin_return_url(public_base: &Url, raw: &str) -> Result<String, ApiError> {
    let bad = |why: &str| {
        ApiError::bad_request(
            "invalid_return_url",
            format!(
                "the return URL must be on this server ({}): {why}",
                origin(public_base)
            ),
        )
    };
    if raw.len() > 2048 {
        return Err(bad("longer than 2048 characters"));
    }
    if raw.chars().any(|c| c.is_control() || c == '\\') {
        return Err(bad("it contains control characters or a backslash"));
    }
    let url = if raw.starts_with('/') && !raw.starts_with("//") {
        public_base.join(raw).map_err(|_| bad("not a valid path"))?
    } else {
        Url::parse(raw).map_err(|_| bad("not a URL or an absolute path"))?
    };
    if url.origin() != public_base.origin()
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return Err(bad("another origin"));
    }
    Ok(url.to_string())
}

/// `scheme://host:port` of a URL.
pub fn origin(url: &Url) -> String {
    url.origin().ascii_serialization()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(loopback: bool) -> OutboundPolicy {
        OutboundPolicy {
            allow_loopback: loopback,
            ..OutboundPolicy::default()
        }
    }

    #[tokio::test]
    async fn metadata_private_and_link_local_addresses_are_refused() {
        let p = policy(true);
        for url in [
            "http://169.254.169.254/latest/meta-data",
            "http://10.0.0.5/",
            "http://192.168.1.1:8080/",
            "http://172.16.0.1/",
            "http://[fe80::1]/",
            "http://[fd00::1]/",
            "http://[::ffff:169.254.169.254]/",
            "http://100.64.0.1/",
            "http://0.0.0.0/",
            "http://metadata.google.internal/",
        ] {
            let e = p.check_url("config.base", url).await.unwrap_err();
            assert_eq!(e.code, "outbound_url_denied", "{url}");
        }
    }

    #[tokio::test]
    async fn loopback_needs_the_setting() {
        assert!(
            policy(false)
                .check_url("f", "http://127.0.0.1:9/")
                .await
                .is_err()
        );
        assert!(
            policy(false)
                .check_url("f", "http://localhost:9/")
                .await
                .is_err()
        );
        assert!(
            policy(true)
                .check_url("f", "http://127.0.0.1:9/")
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn allowed_hosts_list_is_enforced() {
        let p = OutboundPolicy {
            allowed_hosts: vec!["*.example.test".into(), "127.0.0.1".into()],
            allow_loopback: true,
        };
        assert!(p.check_url("f", "http://127.0.0.1/").await.is_ok());
        let e = p.check_url("f", "http://localhost/").await.unwrap_err();
        assert!(e.message.contains("allowed-hosts"), "{}", e.message);
        let e = p
            .check_url("f", "http://evilexample.test/")
            .await
            .unwrap_err();
        assert!(e.message.contains("allowed-hosts"), "{}", e.message);
    }

    #[test]
    fn return_url_must_be_same_origin() {
        let base = Url::parse("http://127.0.0.1:8080/").unwrap();
        assert_eq!(
            same_origin_return_url(&base, "/done?x=1").unwrap(),
            "http://127.0.0.1:8080/done?x=1"
        );
        assert!(same_origin_return_url(&base, "http://127.0.0.1:8080/ok").is_ok());
        for bad in [
            "//evil.test/x",
            "http://evil.test/",
            "http://127.0.0.1:8081/",
            "https://127.0.0.1:8080/",
            "http://user@127.0.0.1:8080/",
            "/\\evil.test",
            "javascript:alert(1)",
        ] {
            assert!(same_origin_return_url(&base, bad).is_err(), "{bad}");
        }
    }
}
