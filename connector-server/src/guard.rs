//! Guards on URLs: the outbound check (SSRF) for every URL an instance makes the server call,
//! and the same-origin check for OAuth return URLs.

use std::net::SocketAddr;

use connector_runtime::EgressPolicy;
use serde_json::Value;
use url::Url;

use crate::error::ApiError;

/// Which hosts the server may call: the runtime's egress policy, which the server also
/// enforces at request time on every instance's client (redirects, DNS answers).
pub type OutboundPolicy = EgressPolicy;

fn outbound_denied(field: &str, why: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request(
        "outbound_url_denied",
        format!("`{field}` is not an allowed outbound URL: {why}"),
    )
}

/// The save-time checks of outbound URLs, with the field that holds each in the error.
pub(crate) trait OutboundCheck {
    /// Check one URL: scheme http(s), host on the allow list, and every address the host
    /// resolves to public (loopback only when allowed). `field` names it in the error.
    async fn check_outbound_url(&self, field: &str, raw: &str) -> Result<(), ApiError>;

    /// Check every http(s) URL found in an instance's config (API base URLs, authorization
    /// and token URLs, the EARS base) and the spec's fixed base URL.
    async fn check_outbound_config(
        &self,
        config: &serde_json::Map<String, Value>,
        spec_base_url: Option<&str>,
    ) -> Result<(), ApiError>;
}

impl OutboundCheck for OutboundPolicy {
    async fn check_outbound_url(&self, field: &str, raw: &str) -> Result<(), ApiError> {
        let url = Url::parse(raw).map_err(|e| outbound_denied(field, e))?;
        let (name, ip) = self
            .check_url(&url)
            .map_err(|e| outbound_denied(field, e))?;
        if ip.is_some() {
            return Ok(());
        }
        // At save time every address must be allowed (at request time the resolver drops the
        // refused ones).
        let port = url.port_or_known_default().unwrap_or(443);
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), port))
            .await
            .map_err(|_| outbound_denied(field, format!("host `{name}` does not resolve")))?
            .collect();
        for a in addrs {
            if let Some(why) = self.refused_ip(a.ip()) {
                return Err(outbound_denied(
                    field,
                    format!("host `{name}` is {why} ({})", a.ip()),
                ));
            }
        }
        Ok(())
    }

    async fn check_outbound_config(
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
            self.check_outbound_url(&field, &url).await?;
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
            let e = p.check_outbound_url("config.base", url).await.unwrap_err();
            assert_eq!(e.code, "outbound_url_denied", "{url}");
        }
    }

    #[tokio::test]
    async fn loopback_needs_the_setting() {
        assert!(
            policy(false)
                .check_outbound_url("f", "http://127.0.0.1:9/")
                .await
                .is_err()
        );
        assert!(
            policy(false)
                .check_outbound_url("f", "http://localhost:9/")
                .await
                .is_err()
        );
        assert!(
            policy(true)
                .check_outbound_url("f", "http://127.0.0.1:9/")
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
        assert!(p.check_outbound_url("f", "http://127.0.0.1/").await.is_ok());
        let e = p
            .check_outbound_url("f", "http://localhost/")
            .await
            .unwrap_err();
        assert!(e.message.contains("allowed-hosts"), "{}", e.message);
        let e = p
            .check_outbound_url("f", "http://evilexample.test/")
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
