//! `.resilient` `pushToService`: create an IBM QRadar SOAR (Resilient) incident, or update one
//! with a PATCH of `changes` (each field's old and new value, so the incident is read first),
//! then add each comment, as Kibana's Resilient connector does.

use async_trait::async_trait;
use serde_json::{Map, Value, json};

use crate::connector::ActionHandler;
use crate::context::ActionContext;
use crate::error::ActionError;

use super::time::{now_ms, rfc3339_from_millis};

/// The handler of `.resilient` `pushToService`.
pub struct ResilientPushToService;

/// Asks SOAR for rich text as objects (`{"format": "html", "content": ...}`).
const TEXT_OBJECTS: (&str, &str) = ("text_content_output_format", "objects_convert");

fn non_null<'v>(v: &'v Value, key: &str) -> Option<&'v Value> {
    v.get(key).filter(|v| !v.is_null())
}

/// The timestamp at `field` of a SOAR reply as RFC 3339.
fn date_of(reply: &Value, field: &str) -> Result<String, ActionError> {
    reply
        .get(field)
        .and_then(Value::as_i64)
        .and_then(rfc3339_from_millis)
        .ok_or_else(|| {
            ActionError::system(
                "invalid_response",
                format!("SOAR's reply has no `{field}` timestamp"),
            )
        })
}

fn incident_id(reply: &Value) -> Result<String, ActionError> {
    match reply.get("id") {
        Some(Value::Number(n)) => Ok(n.to_string()),
        _ => Err(ActionError::system(
            "invalid_response",
            "SOAR's reply has no numeric incident `id`",
        )),
    }
}

/// The body of a new incident.
fn create_body(incident: &Value, discovered: i64) -> Map<String, Value> {
    let mut body = Map::new();
    body.insert("name".into(), incident["name"].clone());
    body.insert("discovered_date".into(), json!(discovered));
    if let Some(d) = non_null(incident, "description") {
        body.insert(
            "description".into(),
            json!({ "format": "html", "content": d }),
        );
    }
    if let Some(Value::Array(types)) = non_null(incident, "incidentTypes") {
        let ids: Vec<Value> = types.iter().map(|id| json!({ "id": id })).collect();
        body.insert("incident_type_ids".into(), Value::Array(ids));
    }
    if let Some(s) = non_null(incident, "severityCode") {
        body.insert("severity_code".into(), json!({ "id": s }));
    }
    if let Some(Value::Object(extra)) = non_null(incident, "additionalFields") {
        body.extend(extra.clone());
    }
    body
}

/// One standard field's value in SOAR's change format.
fn change_value(field: &str, value: Option<&Value>) -> Value {
    let Some(value) = value.filter(|v| !v.is_null()) else {
        return json!({ "text": "" });
    };
    match field {
        "description" => json!({ "textarea": { "format": "html", "content": value } }),
        "incident_type_ids" => match value {
            Value::Array(items) => {
                let ids: Vec<Value> = items
                    .iter()
                    .map(|i| i.get("id").cloned().unwrap_or_else(|| i.clone()))
                    .collect();
                json!({ "ids": ids })
            }
            other => json!({ "ids": [other] }),
        },
        "severity_code" => json!({ "id": value.get("id").unwrap_or(value) }),
        _ => json!({ "text": value }),
    }
}

/// The PATCH body: one change per set field, with the value `old` has now.
fn update_changes(incident: &Value, old: &Value) -> Value {
    let mut changes = Vec::new();
    if let Some(Value::Object(extra)) = non_null(incident, "additionalFields") {
        for (name, new_value) in extra.iter().filter(|(_, v)| !v.is_null()) {
            let old_value = old
                .pointer(&format!("/properties/{name}"))
                .cloned()
                .unwrap_or(Value::Null);
            changes.push(json!({
                "field": { "name": name }, "old_value": old_value, "new_value": new_value
            }));
        }
    }
    for (key, name) in [
        ("name", "name"),
        ("description", "description"),
        ("incidentTypes", "incident_type_ids"),
        ("severityCode", "severity_code"),
    ] {
        let Some(new_value) = non_null(incident, key) else {
            continue;
        };
        let old_value = match name {
            "description" => old.pointer("/description/content"),
            _ => old.get(name),
        };
        changes.push(json!({
            "field": { "name": name },
            "old_value": change_value(name, old_value),
            "new_value": change_value(name, Some(new_value)),
        }));
    }
    json!({ "changes": changes })
}

async fn read(ctx: &ActionContext, id: &str) -> Result<Value, ActionError> {
    ctx.http()
        .get(&format!("/incidents/{id}"))
        .query(TEXT_OBJECTS.0, TEXT_OBJECTS.1)
        .send_json()
        .await
}

/// Update incident `id`; its modification date afterwards.
async fn update(ctx: &ActionContext, id: &str, incident: &Value) -> Result<String, ActionError> {
    let old = read(ctx, id).await?;
    let reply: Value = ctx
        .http()
        .patch(&format!("/incidents/{id}"))
        .json(&update_changes(incident, &old))
        .send_json()
        .await?;
    if reply.get("success") != Some(&Value::Bool(true)) {
        let message = reply
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("no message");
        return Err(ActionError::user(
            "update_refused",
            format!("SOAR did not update incident {id}: {message}"),
        ));
    }
    date_of(&read(ctx, id).await?, "inc_last_modified_date")
}

#[async_trait]
impl ActionHandler for ResilientPushToService {
    async fn call(&self, ctx: &ActionContext, input: Value) -> Result<Value, ActionError> {
        let incident = input.get("incident").cloned().unwrap_or_default();
        let existing = non_null(&incident, "externalId")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty());
        let (id, pushed) = match existing {
            Some(id) => (id.to_string(), update(ctx, id, &incident).await?),
            None => {
                let created: Value = ctx
                    .http()
                    .post("/incidents")
                    .query(TEXT_OBJECTS.0, TEXT_OBJECTS.1)
                    .json(&create_body(&incident, now_ms()))
                    .send_json()
                    .await?;
                (incident_id(&created)?, date_of(&created, "create_date")?)
            }
        };
        let mut comments = Vec::new();
        if let Some(Value::Array(list)) = non_null(&input, "comments") {
            for c in list {
                let body = json!({ "text": { "format": "text", "content": c["comment"] } });
                ctx.http()
                    .post(&format!("/incidents/{id}/comments"))
                    .json(&body)
                    .send()
                    .await?;
                comments.push(json!({ "commentId": c["commentId"], "pushedDate": pushed }));
            }
        }
        let api_url = ctx
            .config
            .get("apiUrl")
            .and_then(Value::as_str)
            .ok_or_else(|| ActionError::user("invalid_config", "`apiUrl` is required"))?;
        let url = format!("{}/#incidents/{id}", api_url.trim_end_matches('/'));
        Ok(json!({
            "id": id, "title": id, "url": url, "pushedDate": pushed, "comments": comments
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_changes_carry_old_and_new_values() {
        let old = json!({
            "name": "old", "description": { "format": "html", "content": "<p>old</p>" },
            "incident_type_ids": [1001], "severity_code": 4, "properties": { "u_team": "a" }
        });
        let changes = update_changes(
            &json!({ "name": "new", "severityCode": 5, "incidentTypes": [1002, 1003],
                     "description": null, "additionalFields": { "u_team": "b" } }),
            &old,
        );
        assert_eq!(
            changes,
            json!({ "changes": [
                { "field": { "name": "u_team" }, "old_value": "a", "new_value": "b" },
                { "field": { "name": "name" }, "old_value": { "text": "old" },
                  "new_value": { "text": "new" } },
                { "field": { "name": "incident_type_ids" }, "old_value": { "ids": [1001] },
                  "new_value": { "ids": [1002, 1003] } },
                { "field": { "name": "severity_code" }, "old_value": { "id": 4 },
                  "new_value": { "id": 5 } }
            ]})
        );
    }
}
