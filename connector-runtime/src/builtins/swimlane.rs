//! `.swimlane` `pushToService`: create a record in the configured application (or update the
//! one named by `incident.externalId`), its values keyed by the field IDs of `config.mappings`,
//! then post each comment to the mapped comments field, as Kibana's Swimlane connector does.

use async_trait::async_trait;
use serde_json::{Map, Value, json};

use crate::connector::ActionHandler;
use crate::context::ActionContext;
use crate::error::ActionError;

use super::time::now_rfc3339;

/// The handler of `.swimlane` `pushToService`.
pub struct SwimlanePushToService;

/// Each mapping of `config.mappings` and the incident attribute written to its field.
const MAPPED: [(&str, &str); 6] = [
    ("alertIdConfig", "alertId"),
    ("ruleNameConfig", "ruleName"),
    ("severityConfig", "severity"),
    ("caseIdConfig", "caseId"),
    ("caseNameConfig", "caseName"),
    ("descriptionConfig", "description"),
];

fn config_str<'c>(ctx: &'c ActionContext, key: &str) -> Result<&'c str, ActionError> {
    ctx.config
        .get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| ActionError::user("invalid_config", format!("`{key}` is required")))
}

/// The record's `values`: each set attribute under its mapped field's ID.
fn record_values(mappings: &Value, incident: &Value) -> Result<Map<String, Value>, ActionError> {
    let mut values = Map::new();
    for (mapping, attribute) in MAPPED {
        let Some(field) = mappings.get(mapping) else {
            continue;
        };
        let Some(value) = incident.get(attribute).and_then(Value::as_str) else {
            continue;
        };
        if value.is_empty() {
            continue;
        }
        let id = field.get("id").and_then(Value::as_str).unwrap_or_default();
        let value = if field.get("fieldType").and_then(Value::as_str) == Some("numeric") {
            let number: f64 = value.trim().parse().map_err(|_| {
                ActionError::user(
                    "invalid_input",
                    format!("`incident.{attribute}` goes to a numeric field but is not a number"),
                )
            })?;
            json!(number)
        } else {
            json!(value)
        };
        values.insert(id.to_string(), value);
    }
    Ok(values)
}

fn reply_str(reply: &Value, key: &str) -> Result<String, ActionError> {
    reply
        .get(key)
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| {
            ActionError::system(
                "invalid_response",
                format!("Swimlane's reply has no `{key}`"),
            )
        })
}

/// Post each of `input.comments` to the comments field; their ids and the time sent.
async fn push_comments(
    ctx: &ActionContext,
    input: &Value,
    mappings: &Value,
    record: &str,
) -> Result<Vec<Value>, ActionError> {
    let Some(Value::Array(list)) = input.get("comments") else {
        return Ok(Vec::new());
    };
    if list.is_empty() {
        return Ok(Vec::new());
    }
    let field = mappings
        .pointer("/commentsConfig/id")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            ActionError::user(
                "invalid_config",
                "comments were given but `mappings.commentsConfig` names no field",
            )
        })?;
    let app = config_str(ctx, "appId")?;
    let created = now_rfc3339();
    let path = format!("/api/app/{app}/record/{record}/{field}/comment");
    let mut pushed = Vec::new();
    for c in list {
        let body = json!({
            "createdDate": created, "fieldId": field, "isRichText": true, "message": c["comment"]
        });
        ctx.http().post(&path).json(&body).send().await?;
        pushed.push(json!({ "commentId": c["commentId"], "pushedDate": created }));
    }
    Ok(pushed)
}

#[async_trait]
impl ActionHandler for SwimlanePushToService {
    async fn call(&self, ctx: &ActionContext, input: Value) -> Result<Value, ActionError> {
        let app = config_str(ctx, "appId")?;
        let mappings = ctx.config.get("mappings").cloned().unwrap_or_default();
        let incident = input.get("incident").cloned().unwrap_or_default();
        let mut body = Map::new();
        body.insert("applicationId".into(), json!(app));
        let existing = incident
            .get("externalId")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty());
        if let Some(id) = existing {
            body.insert("id".into(), json!(id));
        }
        body.insert(
            "values".into(),
            Value::Object(record_values(&mappings, &incident)?),
        );
        let (reply, date_key): (Value, _) = match existing {
            Some(id) => {
                let path = format!("/api/app/{app}/record/{id}");
                (
                    ctx.http().patch(&path).json(&body).send_json().await?,
                    "modifiedDate",
                )
            }
            None => {
                let path = format!("/api/app/{app}/record");
                (
                    ctx.http().post(&path).json(&body).send_json().await?,
                    "createdDate",
                )
            }
        };
        let id = reply_str(&reply, "id")?;
        let mut out = Map::new();
        out.insert("id".into(), json!(id));
        out.insert("title".into(), json!(reply_str(&reply, "name")?));
        let base = config_str(ctx, "apiUrl")?.trim_end_matches('/');
        out.insert("url".into(), json!(format!("{base}/record/{app}/{id}")));
        out.insert("pushedDate".into(), json!(reply_str(&reply, date_key)?));
        let comments = push_comments(ctx, &input, &mappings, &id).await?;
        out.insert("comments".into(), Value::Array(comments));
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_keyed_by_field_id_and_numbers_are_checked() {
        let mappings = json!({
            "caseNameConfig": { "id": "a1", "fieldType": "text" },
            "severityConfig": { "id": "a2", "fieldType": "numeric" }
        });
        let values = record_values(
            &mappings,
            &json!({ "caseName": "x", "severity": "3", "ruleName": "r" }),
        )
        .unwrap();
        assert_eq!(Value::Object(values), json!({ "a1": "x", "a2": 3.0 }));
        let e = record_values(&mappings, &json!({ "severity": "high" })).unwrap_err();
        assert_eq!(e.code, "invalid_input");
    }
}
