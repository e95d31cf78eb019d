//! `.webhook` `execute`: the method, URL and extra headers come from the instance's config
//! (which a declarative request cannot express); the body is sent as-is.

use async_trait::async_trait;
use serde_json::{Value, json};

use crate::connector::ActionHandler;
use crate::context::ActionContext;
use crate::error::ActionError;

/// The handler of `.webhook` `execute`.
pub struct WebhookExecute;

fn config_url(ctx: &ActionContext, key: &str) -> Result<reqwest::Url, ActionError> {
    let text = ctx
        .config
        .get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| ActionError::user("invalid_config", format!("`{key}` is required")))?;
    reqwest::Url::parse(text)
        .map_err(|e| ActionError::user("invalid_config", format!("`{key}` is not a URL: {e}")))
}

#[async_trait]
impl ActionHandler for WebhookExecute {
    async fn call(&self, ctx: &ActionContext, input: Value) -> Result<Value, ActionError> {
        let url = config_url(ctx, "url")?;
        let method = match ctx.config.get("method").and_then(Value::as_str) {
            Some("put") => reqwest::Method::PUT,
            _ => reqwest::Method::POST,
        };
        let mut req = super::util::json_request_with_config_headers(ctx, method, url);
        if let Some(body) = input.get("body").and_then(Value::as_str) {
            req = req.body(body.to_string());
        }
        let reply = req.send().await?;
        let mut out = serde_json::Map::new();
        out.insert("status".into(), json!(reply.status));
        // A webhook may answer anything: the body is JSON when it parses, else its text.
        let body = crate::executor::parse_body(&reply.body);
        if !body.is_null() {
            out.insert("body".into(), body);
        }
        Ok(Value::Object(out))
    }
}
