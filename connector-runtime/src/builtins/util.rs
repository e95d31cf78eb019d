//! Small helpers shared by the built-in handlers.

use serde_json::Value;

/// Characters escaped in a URL path segment: all but RFC 3986's unreserved ones.
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// `s` percent-encoded as one URL path segment.
pub fn seg(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, SEGMENT).to_string()
}

/// `v[key]` unless it is missing or JSON `null`.
pub fn non_null<'v>(v: &'v Value, key: &str) -> Option<&'v Value> {
    v.get(key).filter(|v| !v.is_null())
}

/// A JSON request to `url` with the instance's configured `headers` (a config object of
/// header name to value, as Kibana's webhook connectors have); a configured `Content-Type`
/// replaces the default `application/json`.
pub fn json_request_with_config_headers<'c>(
    ctx: &'c crate::context::ActionContext,
    method: reqwest::Method,
    url: reqwest::Url,
) -> crate::request::HttpRequest<'c> {
    let mut req = ctx
        .http()
        .request_url(method, url)
        .header("content-type", "application/json");
    if let Some(Value::Object(headers)) = ctx.config.get("headers") {
        for (name, value) in headers {
            req = req.header(name, value.as_str().unwrap_or_default());
        }
    }
    req
}
