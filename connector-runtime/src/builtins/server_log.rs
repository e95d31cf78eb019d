//! `.server-log` `execute`: write the message to the runtime's log.

use async_trait::async_trait;
use serde_json::{Value, json};

use crate::connector::ActionHandler;
use crate::context::ActionContext;
use crate::error::ActionError;

/// The handler of `.server-log` `execute`.
pub struct ServerLog;

#[async_trait]
impl ActionHandler for ServerLog {
    async fn call(&self, ctx: &ActionContext, input: Value) -> Result<Value, ActionError> {
        let message = input
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let level = input.get("level").and_then(Value::as_str).unwrap_or("info");
        let message = ctx.instance.redactor().redact(message);
        match level {
            "trace" => tracing::trace!(target: "server_log", "{message}"),
            "debug" => tracing::debug!(target: "server_log", "{message}"),
            "warn" => tracing::warn!(target: "server_log", "{message}"),
            "error" | "fatal" => tracing::error!(target: "server_log", "{message}"),
            _ => tracing::info!(target: "server_log", "{message}"),
        }
        // Exactly the spec's output schema (`additionalProperties: false`).
        Ok(json!({ "logged": true }))
    }
}
