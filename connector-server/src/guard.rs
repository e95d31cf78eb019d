//! Guards on URLs: the outbound check (SSRF) for every URL an instance makes the server call,
//! and the same-origin check for OAuth return URLs.

use std::net::SocketAddr;

use connector_runtime::{ConnectorInstance, EgressPolicy};
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

    /// Check every string the runtime will use as a URL for `instance`
    /// ([`connector_runtime::egress::configured_urls`]): its declared URL fields, the spec's
    /// base and request URLs rendered with its config, and any other config string the URL
    /// parser reads as an http(s) URL (`http:host`, `HTTP:/host`, `http:\\host` included).
    async fn check_outbound_instance(&self, instance: &ConnectorInstance) -> Result<(), ApiError>;
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
                    connector_runtime::egress::refusal_text(&name, "resolves to", why, a.ip()),
                ));
            }
        }
        Ok(())
    }

    async fn check_outbound_instance(&self, instance: &ConnectorInstance) -> Result<(), ApiError> {
        for u in connector_runtime::egress::configured_urls(instance) {
            self.check_outbound_url(&u.field, &u.value).await?;
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
    use serde_json::Value;

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

    const SPEC: &str = r#"id: .guard-test
displayName: Guard test
description: URLs in every place the runtime takes them from.
minimumLicense: basic
baseUrl: "http://{{ config.host }}/api"
auth:
  types: [oauth_client_credentials, webhook_url]
config:
  type: object
  additionalProperties: false
  properties:
    host: { type: string, maxLength: 256 }
    apiUrl: { type: string, format: uri, maxLength: 2048 }
    extra: { type: object }
actions:
  get:
    description: Read.
    scope: read
    request: { method: GET, path: /thing }
"#;

    fn instance(config: Value, secrets: Value) -> ConnectorInstance {
        let loaded =
            connector_spec::load_str("guard.yaml", SPEC, &connector_spec::LoadOptions::default());
        assert!(!loaded.has_errors(), "{}", loaded.render(false));
        let spec = std::sync::Arc::new(loaded.spec.unwrap());
        ConnectorInstance::new(spec, config, secrets).unwrap()
    }

    /// A client-credentials instance whose other URLs are public IP literals (no DNS).
    fn cc(extra: Value) -> ConnectorInstance {
        let mut config = serde_json::json!({
            "host": "192.0.2.10",
            "tokenUrl": "https://192.0.2.10/token",
            "clientId": "c",
        });
        config
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        instance(config, serde_json::json!({ "clientSecret": "s" }))
    }

    async fn denied_field(p: &OutboundPolicy, i: &ConnectorInstance) -> String {
        let e = p.check_outbound_instance(i).await.unwrap_err();
        assert_eq!(e.code, "outbound_url_denied", "{}", e.message);
        e.message
    }

    #[tokio::test]
    async fn every_spelling_of_a_token_url_is_denied_at_save() {
        let ok = cc(serde_json::json!({}));
        assert!(policy(false).check_outbound_instance(&ok).await.is_ok());
        let list = OutboundPolicy {
            allowed_hosts: vec!["192.0.2.10".into()],
            allow_loopback: true,
        };
        assert!(list.check_outbound_instance(&ok).await.is_ok());
        for url in [
            "http:127.0.0.1:18230/cc-token",
            "HTTP://127.0.0.1:18230/cc-token",
            "http:/127.0.0.1:18230/cc-token",
            // (`http:\\host` is no RFC 3986 URI: `format: uri` refuses such an instance
            // before it exists; the egress unit tests read it as loopback.)
            "http://[::127.0.0.1]:18230/cc-token",
            "http://[::ffff:127.0.0.1]:18230/cc-token",
            "http://[::ffff:0:127.0.0.1]:18230/cc-token",
            "hTTps:2130706433/cc-token",
        ] {
            let i = cc(serde_json::json!({ "tokenUrl": url }));
            let m = denied_field(&policy(false), &i).await;
            assert!(m.starts_with("`config.tokenUrl`"), "{url}: {m}");
            assert!(m.contains("loopback"), "{url}: {m}");
            let m = denied_field(&list, &i).await;
            assert!(m.contains("allowed-hosts"), "{url}: {m}");
        }
    }

    #[tokio::test]
    async fn declared_rendered_and_stray_urls_are_all_checked() {
        let p = policy(false);
        // The auth type's URL field must be an http(s) URL.
        let m = denied_field(
            &p,
            &cc(serde_json::json!({ "tokenUrl": "ftp://192.0.2.10/t" })),
        )
        .await;
        assert!(
            m.starts_with("`config.tokenUrl`") && m.contains("scheme"),
            "{m}"
        );
        // A relative one is no URI at all: the instance is refused before any check.
        let mut config = serde_json::json!({ "host": "192.0.2.10", "clientId": "c" });
        config["tokenUrl"] = serde_json::json!("192.0.2.10/t");
        let loaded =
            connector_spec::load_str("guard.yaml", SPEC, &connector_spec::LoadOptions::default());
        let spec = std::sync::Arc::new(loaded.spec.unwrap());
        let e = ConnectorInstance::new(spec, config, serde_json::json!({ "clientSecret": "s" }))
            .unwrap_err();
        assert_eq!(e.code, "invalid_config", "{e}");
        // A connector field declared `format: uri`.
        let m = denied_field(&p, &cc(serde_json::json!({ "apiUrl": "http:10.0.0.1/" }))).await;
        assert!(
            m.starts_with("`config.apiUrl`") && m.contains("private"),
            "{m}"
        );
        // The base URL as the runtime renders it: the host alone is not a URL.
        let m = denied_field(&p, &cc(serde_json::json!({ "host": "127.0.0.1:8080" }))).await;
        assert!(
            m.starts_with("`spec.baseUrl`") && m.contains("loopback"),
            "{m}"
        );
        // Any other string the parser reads as an http URL, at any depth.
        let stray = serde_json::json!({ "extra": { "hooks": ["x", "HTTP:/169.254.169.254/"] } });
        let m = denied_field(&p, &cc(stray)).await;
        assert!(
            m.starts_with("`config.extra.hooks[1]`") && m.contains("metadata"),
            "{m}"
        );
        // An auth type's scope is an identifier it sends, not an address it calls: a URL-shaped
        // one (Google's, Azure's `.default`) is not checked as an outbound URL.
        let scope = serde_json::json!({ "scope": "https://10.0.0.1/auth/cloud-platform" });
        assert!(p.check_outbound_instance(&cc(scope)).await.is_ok());
        // Words that are not URLs are left alone.
        let words = serde_json::json!({ "extra": { "note": "see http docs: 127.0.0.1" } });
        assert!(p.check_outbound_instance(&cc(words)).await.is_ok());
        // A webhook URL secret.
        let hook = instance(
            serde_json::json!({ "authType": "webhook_url", "host": "192.0.2.10" }),
            serde_json::json!({ "url": "http://[::ffff:127.0.0.1]/hook/SECRETPATH" }),
        );
        let m = denied_field(&p, &hook).await;
        assert!(m.starts_with("`secrets.url`"), "{m}");
        assert!(!m.contains("SECRETPATH"), "{m}");
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
