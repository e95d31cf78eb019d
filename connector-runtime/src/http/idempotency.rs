//! The idempotency key layer: an action's `request.idempotencyKey` header, set once per request
//! above the retry layer, so every attempt carries the same value and the provider acts once.

use reqwest::header::{HeaderName, HeaderValue};

use super::layer::{Layer, Next, Reply};
use crate::error::ActionError;

/// An idempotency key with its value rendered for one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedKey {
    pub header: HeaderName,
    /// The rendered `value`; `None`: a fresh UUID for each request.
    pub value: Option<HeaderValue>,
}

impl ResolvedKey {
    /// Validate a header name and a rendered value (`None`: a fresh UUID per request).
    pub fn new(header: &str, value: Option<&str>) -> Result<ResolvedKey, ActionError> {
        let header = HeaderName::from_bytes(header.as_bytes()).map_err(|_| {
            ActionError::user(
                "invalid_idempotency_key",
                format!("`{header}` is not a valid header name for an idempotency key"),
            )
        })?;
        let value = match value {
            None => None,
            Some("") => {
                return Err(ActionError::user(
                    "invalid_idempotency_key",
                    "the idempotency key rendered empty",
                ));
            }
            Some(v) => Some(HeaderValue::from_str(v).map_err(|_| {
                ActionError::user(
                    "invalid_idempotency_key",
                    "the idempotency key is not a valid header value",
                )
            })?),
        };
        Ok(ResolvedKey { header, value })
    }
}

/// Sets the idempotency key header (unless the request already has it).
pub struct IdempotencyHeader<'a> {
    pub key: Option<&'a ResolvedKey>,
}

#[async_trait::async_trait]
impl Layer for IdempotencyHeader<'_> {
    async fn handle(
        &self,
        mut req: reqwest::Request,
        next: Next<'_>,
    ) -> Result<Reply, ActionError> {
        if let Some(k) = self.key
            && !req.headers().contains_key(&k.header)
        {
            let value = match &k.value {
                Some(v) => v.clone(),
                None => HeaderValue::from_str(&fresh_uuid()).expect("a UUID is a header value"),
            };
            req.headers_mut().insert(k.header.clone(), value);
        }
        next.run(req).await
    }
}

/// A random (version 4) UUID, `xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx`.
pub fn fresh_uuid() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::test_support::{Counter, request, run_one};

    fn post() -> reqwest::Request {
        request(reqwest::Method::POST, "http://127.0.0.1:9/tickets")
    }

    #[tokio::test]
    async fn a_rendered_key_is_sent_as_is() {
        let key = ResolvedKey::new("Idempotency-Key", Some("req-42")).unwrap();
        let counter = Counter::ok(201);
        let layer = IdempotencyHeader { key: Some(&key) };
        run_one(&layer, &counter, post()).await.unwrap();
        assert_eq!(counter.header("idempotency-key"), [Some("req-42".into())]);
    }

    #[tokio::test]
    async fn without_a_value_each_request_gets_a_fresh_uuid() {
        let key = ResolvedKey::new("Idempotency-Key", None).unwrap();
        let counter = Counter::ok(201);
        let layer = IdempotencyHeader { key: Some(&key) };
        run_one(&layer, &counter, post()).await.unwrap();
        run_one(&layer, &counter, post()).await.unwrap();
        let seen = counter.header("idempotency-key");
        let (a, b) = (seen[0].clone().unwrap(), seen[1].clone().unwrap());
        assert_ne!(a, b, "two requests, two keys");
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4", "version 4: {a}");
    }

    #[test]
    fn bad_names_and_values_are_typed_errors() {
        assert_eq!(
            ResolvedKey::new("Idem Key", None).unwrap_err().code,
            "invalid_idempotency_key"
        );
        assert_eq!(
            ResolvedKey::new("Idempotency-Key", Some("a\nb"))
                .unwrap_err()
                .code,
            "invalid_idempotency_key"
        );
        assert!(ResolvedKey::new("Idempotency-Key", Some("")).is_err());
    }
}
