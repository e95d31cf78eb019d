//! A JSON request from a code handler through the instance's client, so the spec's auth,
//! retry, rate-limit, timeout and error-classification policies apply as for declarative
//! actions.

use connector_runtime::compiled::Secret;
use connector_runtime::{ActionContext, ActionError, SendOptions};
use serde_json::Value;

/// Send `body` (none for `null`) and return the parsed JSON reply (`null` for an empty body,
/// the text as a string when it is not JSON). Non-2xx replies become classified errors.
pub async fn send_json(
    ctx: &ActionContext,
    method: reqwest::Method,
    url: &str,
    bearer: Option<&Secret>,
    body: &Value,
) -> Result<Value, ActionError> {
    let url = reqwest::Url::parse(url)
        .map_err(|e| ActionError::user("invalid_config", format!("invalid URL: {e}")))?;
    let mut rb = ctx.client.request(method, url);
    if !body.is_null() {
        rb = rb.json(body);
    }
    if let Some(token) = bearer {
        rb = rb.bearer_auth(token.expose());
    }
    let req = rb.build().map_err(|e| {
        ActionError::system("invalid_request", format!("cannot build the request: {e}"))
    })?;
    let resp = ctx.client.send(req, SendOptions::default()).await?;
    let status = resp.status().as_u16();
    let bytes = ctx.client.read_body(resp).await?;
    if !(200..300).contains(&status) {
        return Err(ctx.client.error_for(status, &bytes));
    }
    if bytes.is_empty() {
        return Ok(Value::Null);
    }
    Ok(serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned())))
}
