//! ServiceNow `pushToService` and `closeIncident`, written once for every ServiceNow table the
//! bundled specs write to: `.servicenow` (`incident`) and `.servicenow-sir` (`sn_si_incident`).
//! A [`Table`] says what differs between them; the requests are the REST Table API's
//! (`/api/now/v2/table/<table>`), which answers every write with the written record.

use async_trait::async_trait;
use serde_json::{Map, Value, json};

use crate::connector::ActionHandler;
use crate::context::ActionContext;
use crate::error::ActionError;

/// What the ServiceNow handlers need to know about the table they write to.
#[derive(Debug)]
pub struct Table {
    /// The table's name (`incident`).
    pub name: &'static str,
    /// The journal field a comment is written to (`work_notes`).
    pub comment_field: &'static str,
    /// The value of `state` that means closed.
    pub closed_state: &'static str,
    /// Further fields set when closing (close code and notes).
    pub close_fields: &'static [(&'static str, &'static str)],
}

/// ServiceNow ITSM incidents: closed is state 7, with a close code and notes (as Kibana sends).
pub const INCIDENT: Table = Table {
    name: "incident",
    comment_field: "work_notes",
    closed_state: "7",
    close_fields: &[
        ("close_code", "Closed/Resolved by Caller"),
        ("close_notes", "Closed by Caller"),
    ],
};

/// Security Incident Response incidents: closed is state 3 (7 is "Cancelled" there); the close
/// codes of `sn_si_incident` are instance-specific, so only the notes are set unless the
/// instance's config names a `closeCode` (and `closedState` overrides the state).
pub const SECURITY_INCIDENT: Table = Table {
    name: "sn_si_incident",
    comment_field: "work_notes",
    closed_state: "3",
    close_fields: &[("close_notes", "Closed by Caller")],
};

/// `pushToService`: create the record (or update the one named by `incident.externalId`),
/// then write each comment to the table's comment field.
pub struct ServiceNowPushToService(pub &'static Table);

/// `closeIncident`: find the record by sys_id or `correlation_id` and close it unless it is
/// closed already; `null` when there is no such record. The config fields `closedState` and
/// `closeCode`, where a spec declares them, override the table's closed state and add a close
/// code.
pub struct ServiceNowCloseIncident(pub &'static Table);

/// Characters escaped in a URL path segment: all but RFC 3986's unreserved ones.
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

fn record_path(table: &Table, sys_id: &str) -> String {
    let id = percent_encoding::utf8_percent_encode(sys_id, SEGMENT);
    format!("/api/now/v2/table/{}/{id}", table.name)
}

fn table_path(table: &Table) -> String {
    format!("/api/now/v2/table/{}", table.name)
}

/// A string of the instance's config, or `default` when the spec or instance sets none.
fn config_or<'c>(ctx: &'c ActionContext, key: &str, default: &'c str) -> &'c str {
    ctx.config
        .get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .unwrap_or(default)
}

fn non_empty_str<'v>(v: &'v Value, key: &str) -> Option<&'v str> {
    v.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// ServiceNow's `2026-11-20 09:30:00` (UTC in the Table API's default, non-display values) as
/// RFC 3339.
fn sn_time(value: &Value, field: &str) -> Result<String, ActionError> {
    let text = value.as_str().unwrap_or_default();
    let b = text.as_bytes();
    let shaped = b.len() == 19
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b' ',
            13 | 16 => *c == b':',
            _ => c.is_ascii_digit(),
        });
    if !shaped {
        return Err(ActionError::system(
            "invalid_response",
            format!("ServiceNow sent `{field}` as {value}, not as `YYYY-MM-DD HH:MM:SS`"),
        ));
    }
    Ok(format!("{}T{}Z", &text[..10], &text[11..]))
}

/// The record in a Table API reply (`{"result": {...}}`).
fn result_record(reply: Value, what: &str) -> Result<Value, ActionError> {
    match reply {
        Value::Object(mut o) => match o.remove("result") {
            Some(r @ Value::Object(_)) => Ok(r),
            _ => Err(ActionError::system(
                "invalid_response",
                format!("ServiceNow's reply to {what} has no `result` record"),
            )),
        },
        _ => Err(ActionError::system(
            "invalid_response",
            format!("ServiceNow's reply to {what} is not a JSON object"),
        )),
    }
}

/// The push output of a record: sys_id, number, link, and the date in `date_field`.
fn summary(
    ctx: &ActionContext,
    table: &Table,
    record: &Value,
    date_field: &str,
) -> Result<Map<String, Value>, ActionError> {
    let id = non_empty_str(record, "sys_id").ok_or_else(|| {
        ActionError::system(
            "invalid_response",
            "ServiceNow sent a record without sys_id",
        )
    })?;
    let base = ctx.http().url("")?;
    let base = base.as_str().trim_end_matches('/');
    let mut out = Map::new();
    out.insert("id".into(), json!(id));
    out.insert(
        "title".into(),
        record.get("number").cloned().unwrap_or_default(),
    );
    out.insert(
        "url".into(),
        json!(format!(
            "{base}/nav_to.do?uri={}.do?sys_id={id}",
            table.name
        )),
    );
    let date = sn_time(record.get(date_field).unwrap_or(&Value::Null), date_field)?;
    out.insert("pushedDate".into(), json!(date));
    Ok(out)
}

/// The fields written for `incident`: `additional_fields` first, then every other set field
/// (lists, such as SIR's observables, joined with commas, as ServiceNow stores them).
fn record_fields(incident: &Value) -> Map<String, Value> {
    let mut fields = Map::new();
    if let Some(Value::Object(extra)) = incident.get("additional_fields") {
        fields.extend(extra.clone());
    }
    let Some(given) = incident.as_object() else {
        return fields;
    };
    for (key, value) in given {
        if key == "externalId" || key == "additional_fields" || value.is_null() {
            continue;
        }
        let value = match value {
            Value::Array(items) => {
                let texts: Vec<&str> = items.iter().filter_map(Value::as_str).collect();
                json!(texts.join(","))
            }
            other => other.clone(),
        };
        fields.insert(key.clone(), value);
    }
    fields
}

async fn write(
    ctx: &ActionContext,
    table: &Table,
    existing: Option<&str>,
    fields: &Map<String, Value>,
) -> Result<Value, ActionError> {
    let reply: Value = match existing {
        Some(id) => {
            ctx.http()
                .patch(&record_path(table, id))
                .json(fields)
                .send_json()
                .await?
        }
        None => {
            ctx.http()
                .post(&table_path(table))
                .json(fields)
                .send_json()
                .await?
        }
    };
    result_record(reply, &format!("the {} write", table.name))
}

/// Write each of `input.comments`; their ids and the record's update time after each.
async fn push_comments(
    ctx: &ActionContext,
    table: &Table,
    input: &Value,
    sys_id: &str,
) -> Result<Vec<Value>, ActionError> {
    let mut pushed = Vec::new();
    let Some(Value::Array(list)) = input.get("comments") else {
        return Ok(pushed);
    };
    for c in list {
        let mut body = Map::new();
        body.insert(table.comment_field.into(), c["comment"].clone());
        let record = write(ctx, table, Some(sys_id), &body).await?;
        let date = sn_time(
            record.get("sys_updated_on").unwrap_or(&Value::Null),
            "sys_updated_on",
        )?;
        pushed.push(json!({ "commentId": c["commentId"], "pushedDate": date }));
    }
    Ok(pushed)
}

#[async_trait]
impl ActionHandler for ServiceNowPushToService {
    async fn call(&self, ctx: &ActionContext, input: Value) -> Result<Value, ActionError> {
        let table = self.0;
        let incident = input.get("incident").cloned().unwrap_or_default();
        let mut fields = record_fields(&incident);
        let existing = non_empty_str(&incident, "externalId");
        if existing.is_none() {
            // As Kibana does: the basic-auth user opens the record and is its caller.
            if let Some(user) = ctx.secrets.get_str("username") {
                for key in ["caller_id", "opened_by"] {
                    fields.entry(key).or_insert_with(|| json!(user));
                }
            }
        }
        let record = write(ctx, table, existing, &fields).await?;
        let date_field = if existing.is_some() {
            "sys_updated_on"
        } else {
            "sys_created_on"
        };
        let mut out = summary(ctx, table, &record, date_field)?;
        let sys_id = out["id"].as_str().unwrap_or_default().to_string();
        let comments = push_comments(ctx, table, &input, &sys_id).await?;
        out.insert("comments".into(), Value::Array(comments));
        Ok(Value::Object(out))
    }
}

/// The record to close, or `None` when ServiceNow has none.
async fn find(
    ctx: &ActionContext,
    table: &Table,
    incident: &Value,
) -> Result<Option<Value>, ActionError> {
    if let Some(id) = non_empty_str(incident, "externalId") {
        return match ctx.http().get(&record_path(table, id)).send_json().await {
            Ok(reply) => result_record(reply, "the incident read").map(Some),
            Err(e) if e.status == Some(404) => Ok(None),
            Err(e) => Err(e),
        };
    }
    let Some(correlation) = non_empty_str(incident, "correlation_id") else {
        return Err(ActionError::user(
            "invalid_input",
            "`incident.externalId` or `incident.correlation_id` is required",
        ));
    };
    let reply: Value = ctx
        .http()
        .get(&table_path(table))
        .query(
            "sysparm_query",
            &format!("ORDERBYDESCsys_created_on^correlation_id={correlation}"),
        )
        .query("sysparm_limit", "1")
        .send_json()
        .await?;
    match reply.get("result") {
        Some(Value::Array(found)) => Ok(found.first().cloned()),
        _ => Err(ActionError::system(
            "invalid_response",
            "ServiceNow's reply to the correlation ID query has no `result` list",
        )),
    }
}

#[async_trait]
impl ActionHandler for ServiceNowCloseIncident {
    async fn call(&self, ctx: &ActionContext, input: Value) -> Result<Value, ActionError> {
        let table = self.0;
        let incident = input.get("incident").cloned().unwrap_or_default();
        let Some(record) = find(ctx, table, &incident).await? else {
            return Ok(Value::Null);
        };
        let closed_state = config_or(ctx, "closedState", table.closed_state);
        if record.get("state").and_then(Value::as_str) == Some(closed_state) {
            return Ok(Value::Object(summary(
                ctx,
                table,
                &record,
                "sys_updated_on",
            )?));
        }
        let sys_id = non_empty_str(&record, "sys_id").ok_or_else(|| {
            ActionError::system(
                "invalid_response",
                "ServiceNow sent a record without sys_id",
            )
        })?;
        let mut fields = Map::new();
        fields.insert("state".into(), json!(closed_state));
        for (key, value) in table.close_fields {
            fields.insert((*key).into(), json!(value));
        }
        if let Some(code) = ctx.config.get("closeCode").and_then(Value::as_str) {
            fields.insert("close_code".into(), json!(code));
        }
        let closed = write(ctx, table, Some(sys_id), &fields).await?;
        Ok(Value::Object(summary(
            ctx,
            table,
            &closed,
            "sys_updated_on",
        )?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servicenow_times_become_rfc3339() {
        assert_eq!(
            sn_time(&json!("2026-11-20 09:30:05"), "sys_created_on").unwrap(),
            "2026-11-20T09:30:05Z"
        );
        for bad in [
            json!("2026-11-20T09:30:05"),
            json!(""),
            json!(null),
            json!(5),
        ] {
            let e = sn_time(&bad, "sys_created_on").unwrap_err();
            assert_eq!(e.code, "invalid_response", "{bad}");
        }
    }

    #[test]
    fn fields_merge_additional_fields_and_join_lists() {
        let fields = record_fields(&json!({
            "short_description": "x", "externalId": "abc", "description": null,
            "dest_ip": ["10.0.0.1", "10.0.0.2"],
            "additional_fields": { "u_team": "sec", "short_description": "lost" }
        }));
        assert_eq!(
            Value::Object(fields),
            json!({ "short_description": "x", "dest_ip": "10.0.0.1,10.0.0.2", "u_team": "sec" })
        );
    }
}
