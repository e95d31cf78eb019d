//! `.jira` `pushToService`: create the issue (or update the one named by
//! `incident.externalId`), then add each comment, as Kibana's Jira connector does.

use async_trait::async_trait;
use serde_json::{Map, Value, json};

use crate::connector::ActionHandler;
use crate::context::ActionContext;
use crate::error::ActionError;

/// The handler of `.jira` `pushToService`.
pub struct JiraPushToService;

/// Characters escaped in a URL path segment: all but RFC 3986's unreserved ones.
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

fn seg(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, SEGMENT).to_string()
}

/// Jira's timestamps (`2024-05-01T10:00:00.000+0000`) as RFC 3339 (`...+00:00`).
fn jira_time(v: &Value) -> Option<String> {
    let s = v.as_str()?;
    let b = s.as_bytes();
    if b.len() > 5
        && matches!(b[b.len() - 5], b'+' | b'-')
        && b[b.len() - 4..].iter().all(u8::is_ascii_digit)
    {
        let (head, zone) = s.split_at(s.len() - 2);
        return Some(format!("{head}:{zone}"));
    }
    Some(s.to_string())
}

fn non_null<'v>(v: &'v Value, key: &str) -> Option<&'v Value> {
    v.get(key).filter(|v| !v.is_null())
}

/// The issue's `fields` from the incident (without project and issue type).
fn issue_fields(incident: &Value) -> Map<String, Value> {
    let mut fields = Map::new();
    if let Some(Value::Object(other)) = non_null(incident, "otherFields") {
        fields.extend(other.clone());
    }
    for key in ["summary", "description", "labels"] {
        if let Some(v) = non_null(incident, key) {
            fields.insert(key.into(), v.clone());
        }
    }
    if let Some(v) = non_null(incident, "priority") {
        fields.insert("priority".into(), json!({ "name": v }));
    }
    if let Some(v) = non_null(incident, "parent") {
        fields.insert("parent".into(), json!({ "key": v }));
    }
    fields
}

/// The pushed issue: its key, id and when it was created or updated.
struct Pushed {
    key: Value,
    id: Value,
    date: Option<String>,
}

async fn update(
    ctx: &ActionContext,
    existing: &str,
    fields: Map<String, Value>,
) -> Result<Pushed, ActionError> {
    let path = format!("/rest/api/2/issue/{}", seg(existing));
    ctx.http()
        .put(&path)
        .json(&json!({ "fields": fields }))
        .send()
        .await?;
    let issue: Value = ctx.http().get(&path).send_json().await?;
    Ok(Pushed {
        date: issue.pointer("/fields/updated").and_then(jira_time),
        key: issue["key"].clone(),
        id: issue["id"].clone(),
    })
}

/// The issue type to create: `incident.issueType`, else the project's first one.
async fn issue_type(
    ctx: &ActionContext,
    incident: &Value,
    project: &str,
) -> Result<String, ActionError> {
    if let Some(t) = non_null(incident, "issueType").and_then(Value::as_str) {
        return Ok(t.to_string());
    }
    let path = format!("/rest/api/2/issue/createmeta/{}/issuetypes", seg(project));
    let types: Value = ctx.http().get(&path).send_json().await?;
    let list = non_null(&types, "issueTypes").or_else(|| non_null(&types, "values"));
    list.and_then(|l| l.get(0))
        .and_then(|t| t.get("id"))
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| {
            ActionError::user(
                "no_issue_type",
                format!("project {project} offers no issue type; set `incident.issueType`"),
            )
        })
}

async fn create(
    ctx: &ActionContext,
    incident: &Value,
    mut fields: Map<String, Value>,
) -> Result<Pushed, ActionError> {
    let project = ctx
        .config
        .get("projectKey")
        .and_then(Value::as_str)
        .ok_or_else(|| ActionError::user("invalid_config", "`projectKey` is required"))?;
    let issue_type = issue_type(ctx, incident, project).await?;
    fields.insert("project".into(), json!({ "key": project }));
    fields.insert("issuetype".into(), json!({ "id": issue_type }));
    let created: Value = ctx
        .http()
        .post("/rest/api/2/issue")
        .json(&json!({ "fields": fields }))
        .send_json()
        .await?;
    let key = created.get("key").and_then(Value::as_str).ok_or_else(|| {
        ActionError::system("invalid_response", "Jira created the issue but sent no key")
    })?;
    let path = format!("/rest/api/2/issue/{}", seg(key));
    let issue: Value = ctx.http().get(&path).send_json().await?;
    Ok(Pushed {
        date: issue.pointer("/fields/created").and_then(jira_time),
        key: json!(key),
        id: created["id"].clone(),
    })
}

/// Add each of `input.comments` to the issue; their ids and pushed dates, in order.
async fn push_comments(
    ctx: &ActionContext,
    input: &Value,
    key: &str,
) -> Result<Vec<Value>, ActionError> {
    let mut comments = Vec::new();
    let Some(Value::Array(list)) = non_null(input, "comments") else {
        return Ok(comments);
    };
    let path = format!("/rest/api/2/issue/{}/comment", seg(key));
    for c in list {
        let added: Value = ctx
            .http()
            .post(&path)
            .json(&json!({ "body": c["comment"] }))
            .send_json()
            .await?;
        let mut entry = Map::new();
        entry.insert("commentId".into(), c["commentId"].clone());
        if let Some(t) = added.get("created").and_then(jira_time) {
            entry.insert("pushedDate".into(), json!(t));
        }
        comments.push(Value::Object(entry));
    }
    Ok(comments)
}

#[async_trait]
impl ActionHandler for JiraPushToService {
    async fn call(&self, ctx: &ActionContext, input: Value) -> Result<Value, ActionError> {
        let incident = input.get("incident").cloned().unwrap_or_default();
        let fields = issue_fields(&incident);
        let external = non_null(&incident, "externalId")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty());
        let pushed = match external {
            Some(existing) => update(ctx, existing, fields).await?,
            None => create(ctx, &incident, fields).await?,
        };
        let key_text = pushed.key.as_str().unwrap_or_default().to_string();
        let comments = push_comments(ctx, &input, &key_text).await?;
        let base = ctx.http().url("")?;
        let base = base.as_str().trim_end_matches('/');
        let mut out = Map::new();
        out.insert("id".into(), pushed.id);
        out.insert("title".into(), pushed.key);
        out.insert("url".into(), json!(format!("{base}/browse/{key_text}")));
        if let Some(p) = pushed.date {
            out.insert("pushedDate".into(), json!(p));
        }
        out.insert("comments".into(), Value::Array(comments));
        Ok(Value::Object(out))
    }
}
