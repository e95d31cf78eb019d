//! `.thehive` `pushToService`: create the case (or update the one named by
//! `incident.externalId`), then add each comment, as Kibana's TheHive connector does.

use async_trait::async_trait;
use serde_json::{Map, Value, json};

use super::time::rfc3339_from_millis;
use super::util::{non_null, seg};
use crate::connector::ActionHandler;
use crate::context::ActionContext;
use crate::error::ActionError;

/// The handler of `.thehive` `pushToService`.
pub struct TheHivePushToService;

/// The case fields TheHive takes from the incident (the rest of the input is not sent).
fn case_fields(incident: &Value) -> Map<String, Value> {
    let mut fields = Map::new();
    for key in ["title", "description", "severity", "tlp", "tags"] {
        if let Some(v) = non_null(incident, key) {
            fields.insert(key.into(), v.clone());
        }
    }
    fields
}

/// A case's `_id` from TheHive's reply, or a typed error naming what was missing.
fn case_id(case: &Value) -> Result<String, ActionError> {
    case.get("_id")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| ActionError::system("invalid_response", "TheHive sent a case without _id"))
}

/// A millisecond timestamp field of a TheHive record as RFC 3339.
fn millis(v: &Value, key: &str) -> Option<String> {
    v.get(key)
        .and_then(Value::as_i64)
        .and_then(rfc3339_from_millis)
}

/// The pushed case: its id, title and when it was created or updated.
struct Pushed {
    id: String,
    title: Value,
    date: Option<String>,
}

async fn create(ctx: &ActionContext, fields: Map<String, Value>) -> Result<Pushed, ActionError> {
    let case: Value = ctx
        .http()
        .post("/api/v1/case")
        .json(&fields)
        .send_json()
        .await?;
    Ok(Pushed {
        id: case_id(&case)?,
        title: case["title"].clone(),
        date: millis(&case, "_createdAt"),
    })
}

async fn update(
    ctx: &ActionContext,
    existing: &str,
    fields: Map<String, Value>,
) -> Result<Pushed, ActionError> {
    let path = format!("/api/v1/case/{}", seg(existing));
    // TheHive answers the PATCH with 204 and no body; the case is read back for its time.
    ctx.http().patch(&path).json(&fields).send().await?;
    let case: Value = ctx.http().get(&path).send_json().await?;
    Ok(Pushed {
        id: case_id(&case)?,
        title: case["title"].clone(),
        date: millis(&case, "_updatedAt").or_else(|| millis(&case, "_createdAt")),
    })
}

/// Add each of `input.comments` to the case; their ids and pushed dates, in order.
async fn push_comments(
    ctx: &ActionContext,
    input: &Value,
    case: &str,
) -> Result<Vec<Value>, ActionError> {
    let mut comments = Vec::new();
    let Some(Value::Array(list)) = non_null(input, "comments") else {
        return Ok(comments);
    };
    let path = format!("/api/v1/case/{}/comment", seg(case));
    for c in list {
        let added: Value = ctx
            .http()
            .post(&path)
            .json(&json!({ "message": c["comment"] }))
            .send_json()
            .await?;
        let mut entry = Map::new();
        entry.insert("commentId".into(), c["commentId"].clone());
        if let Some(t) = millis(&added, "createdAt") {
            entry.insert("pushedDate".into(), json!(t));
        }
        comments.push(Value::Object(entry));
    }
    Ok(comments)
}

#[async_trait]
impl ActionHandler for TheHivePushToService {
    async fn call(&self, ctx: &ActionContext, input: Value) -> Result<Value, ActionError> {
        let incident = input.get("incident").cloned().unwrap_or_default();
        let fields = case_fields(&incident);
        let external = non_null(&incident, "externalId")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty());
        let pushed = match external {
            Some(existing) => update(ctx, existing, fields).await?,
            None => create(ctx, fields).await?,
        };
        let comments = push_comments(ctx, &input, &pushed.id).await?;
        let base = ctx.http().url("")?;
        let base = base.as_str().trim_end_matches('/');
        let mut out = Map::new();
        out.insert(
            "url".into(),
            json!(format!("{base}/cases/{}/details", seg(&pushed.id))),
        );
        out.insert("id".into(), json!(pushed.id));
        out.insert("title".into(), pushed.title);
        if let Some(p) = pushed.date {
            out.insert("pushedDate".into(), json!(p));
        }
        out.insert("comments".into(), Value::Array(comments));
        Ok(Value::Object(out))
    }
}
