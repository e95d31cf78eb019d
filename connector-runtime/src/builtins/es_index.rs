//! `.index` `execute`: index documents with one Elasticsearch Bulk API request, as Kibana's ES
//! Index connector does. The body is NDJSON, and the execution-time field is the current
//! time, which a template cannot produce.

use async_trait::async_trait;
use serde_json::{Map, Value, json};

use super::time::now_rfc3339;
use super::util::non_null;
use crate::connector::ActionHandler;
use crate::context::ActionContext;
use crate::error::ActionError;

/// The handler of `.index` `execute`.
pub struct EsIndexExecute;

/// The NDJSON bulk body: an `index` action line before each document, every line ending in
/// `\n` (Elasticsearch requires the final newline).
fn bulk_body(
    index: &str,
    docs: &[Value],
    time: Option<(&str, &str)>,
) -> Result<Vec<u8>, ActionError> {
    let action = serde_json::to_vec(&json!({ "index": { "_index": index } }))
        .map_err(|e| ActionError::system("invalid_request", e.to_string()))?;
    let mut body = Vec::new();
    for (i, doc) in docs.iter().enumerate() {
        let Value::Object(fields) = doc else {
            return Err(ActionError::user(
                "invalid_input",
                format!("input.documents[{i}] is not a JSON object"),
            ));
        };
        let mut fields = fields.clone();
        if let Some((field, now)) = time {
            fields.insert(field.to_string(), json!(now));
        }
        body.extend_from_slice(&action);
        body.push(b'\n');
        let line = serde_json::to_vec(&fields)
            .map_err(|e| ActionError::system("invalid_request", e.to_string()))?;
        body.extend_from_slice(&line);
        body.push(b'\n');
    }
    Ok(body)
}

/// The first failed item of a bulk reply with `"errors": true`, as a user error.
fn first_failure(reply: &Value) -> ActionError {
    let failed = reply
        .get("items")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|item| item.as_object().and_then(|o| o.values().next()))
        .find(|r| r.get("error").is_some());
    let Some(item) = failed else {
        return ActionError::user(
            "bulk_failed",
            "Elasticsearch reported errors in the bulk request",
        );
    };
    let error = &item["error"];
    let text = |v: &Value| v.as_str().unwrap_or("unknown").to_string();
    let mut e = ActionError::user(
        "bulk_failed",
        format!(
            "Elasticsearch refused a document ({}): {}",
            text(&error["type"]),
            text(&error["reason"])
        ),
    );
    if let Some(status) = item
        .get("status")
        .and_then(Value::as_u64)
        .and_then(|s| u16::try_from(s).ok())
    {
        e = e.with_status(status);
    }
    e
}

/// One bulk item result, reduced to what the output schema describes.
fn item_summary(item: &Value) -> Value {
    let r = item
        .as_object()
        .and_then(|o| o.values().next())
        .cloned()
        .unwrap_or_default();
    let mut out = Map::new();
    for key in ["_index", "_id", "result", "status"] {
        if let Some(v) = non_null(&r, key) {
            out.insert(key.into(), v.clone());
        }
    }
    Value::Object(out)
}

fn config_str<'c>(ctx: &'c ActionContext, key: &str) -> Option<&'c str> {
    ctx.config
        .get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

#[async_trait]
impl ActionHandler for EsIndexExecute {
    async fn call(&self, ctx: &ActionContext, input: Value) -> Result<Value, ActionError> {
        let index = non_null(&input, "indexOverride")
            .and_then(Value::as_str)
            .or_else(|| config_str(ctx, "index"))
            .ok_or_else(|| ActionError::user("invalid_config", "`index` is required"))?;
        let docs = input
            .get("documents")
            .and_then(Value::as_array)
            .ok_or_else(|| ActionError::user("invalid_input", "`documents` must be an array"))?;
        let now = now_rfc3339();
        let time = config_str(ctx, "executionTimeField").map(|f| (f, now.as_str()));
        let body = bulk_body(index, docs, time)?;
        let refresh = ctx.config.get("refresh").and_then(Value::as_bool) == Some(true);
        let reply: Value = ctx
            .http()
            .post("/_bulk")
            .query("refresh", if refresh { "true" } else { "false" })
            .header("content-type", "application/x-ndjson")
            .body(body)
            .send_json()
            .await?;
        if reply.get("errors").and_then(Value::as_bool) != Some(false) {
            return Err(first_failure(&reply));
        }
        let items: Vec<Value> = reply
            .get("items")
            .and_then(Value::as_array)
            .map(|l| l.iter().map(item_summary).collect())
            .unwrap_or_default();
        Ok(json!({ "took": reply["took"], "errors": false, "items": items }))
    }
}
