//! `.cases-webhook` `pushToService`, as Kibana's Cases Webhook connector: create the case (or
//! update the one named by `incident.externalId`), read it back for its title, then add each
//! comment. Every URL and body is a user template of the instance's config
//! ([`crate::user_template`]); requests go through `ctx.http()`, so auth, policies, the egress
//! check and redaction apply.

use async_trait::async_trait;
use reqwest::Method;
use serde_json::{Map, Value, json};

use crate::connector::ActionHandler;
use crate::context::ActionContext;
use crate::error::ActionError;
use crate::user_template::{UserTemplate, VarValue, Vars};

use super::time::now_rfc3339;

/// The handler of `.cases-webhook` `pushToService`.
pub struct CasesWebhookPushToService;

fn template<'c>(ctx: &'c ActionContext, field: &str) -> Result<&'c UserTemplate, ActionError> {
    ctx.instance
        .user_template(field)
        .ok_or_else(|| ActionError::user("invalid_config", format!("`config.{field}` is required")))
}

fn config_str<'c>(ctx: &'c ActionContext, key: &str) -> Result<&'c str, ActionError> {
    ctx.config
        .get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| ActionError::user("invalid_config", format!("`config.{key}` is required")))
}

/// The configured method of `key` (lower case in config, as Kibana stores it).
fn method(ctx: &ActionContext, key: &str, default: Method) -> Method {
    match ctx.config.get(key).and_then(Value::as_str) {
        Some("get") => Method::GET,
        Some("post") => Method::POST,
        Some("put") => Method::PUT,
        Some("patch") => Method::PATCH,
        _ => default,
    }
}

/// `{{{case.*}}}` from the incident, empty where unset (Kibana's `?? ''` and `?? []`).
fn case_vars(incident: &Value) -> Vars {
    let text =
        |k: &str| VarValue::Str(incident.get(k).and_then(Value::as_str).unwrap_or("").into());
    let tags = incident
        .get("tags")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let mut vars = Vars::new();
    for (var, key) in [
        ("case.title", "title"),
        ("case.description", "description"),
        ("case.id", "id"),
        ("case.severity", "severity"),
        ("case.status", "status"),
    ] {
        vars.insert(var.into(), text(key));
    }
    vars.insert("case.tags".into(), VarValue::List(tags));
    vars
}

fn with_id(mut vars: Vars, id: &str) -> Vars {
    vars.insert("external.system.id".into(), VarValue::Str(id.into()));
    vars
}

/// The value at a dot path (`data.key`, `items[0].id`) of a reply, as text, like Kibana's
/// `getObjectValueByKeyAsString`; a missing value, null or an object is an error.
pub(crate) fn value_at(reply: &Value, key: &str, what: &str) -> Result<String, ActionError> {
    let mut at = reply;
    for part in key.replace('[', ".").replace(']', "").split('.') {
        let next = match at {
            Value::Array(items) => part.parse::<usize>().ok().and_then(|i| items.get(i)),
            Value::Object(map) => map.get(part),
            _ => None,
        };
        at = next.ok_or_else(|| missing(key, what))?;
    }
    match at {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        _ => Err(missing(key, what)),
    }
}

fn missing(key: &str, what: &str) -> ActionError {
    let key: String = key.chars().take(128).collect();
    ActionError::system(
        "invalid_response",
        format!("the reply to {what} has no text or number at `{key}`"),
    )
}

/// Send a rendered request: the URL template with `vars`, and the body template if any.
async fn send(
    ctx: &ActionContext,
    method: Method,
    url: &UserTemplate,
    body: Option<&UserTemplate>,
    vars: &Vars,
) -> Result<Value, ActionError> {
    let url = url.render_url(vars)?;
    let mut req = super::util::json_request_with_config_headers(ctx, method, url);
    if let Some(body) = body {
        req = req.body(body.render_json(vars)?);
    }
    let reply = req.send().await?;
    Ok(crate::executor::parse_body(&reply.body))
}

/// Create the case; its id is at `createIncidentResponseKey` of the reply.
async fn create(ctx: &ActionContext, vars: &Vars) -> Result<String, ActionError> {
    let method = method(ctx, "createIncidentMethod", Method::POST);
    let url = template(ctx, "createIncidentUrl")?;
    let body = template(ctx, "createIncidentJson")?;
    let reply = send(ctx, method, url, Some(body), vars).await?;
    value_at(
        &reply,
        config_str(ctx, "createIncidentResponseKey")?,
        "the create request",
    )
}

/// Update the case `id`.
async fn update(ctx: &ActionContext, vars: Vars, id: &str) -> Result<(), ActionError> {
    let method = method(ctx, "updateIncidentMethod", Method::PUT);
    let url = template(ctx, "updateIncidentUrl")?;
    let body = template(ctx, "updateIncidentJson")?;
    send(ctx, method, url, Some(body), &with_id(vars, id)).await?;
    Ok(())
}

/// Read the case `id` back: its title, at `getIncidentResponseExternalTitleKey`.
async fn title(ctx: &ActionContext, id: &str) -> Result<String, ActionError> {
    let method = method(ctx, "getIncidentMethod", Method::GET);
    let url = template(ctx, "getIncidentUrl")?;
    // As in Kibana, the get body is sent only with POST.
    let body = match method {
        Method::POST => ctx.instance.user_template("getIncidentJson"),
        _ => None,
    };
    let reply = send(ctx, method, url, body, &with_id(Vars::new(), id)).await?;
    value_at(
        &reply,
        config_str(ctx, "getIncidentResponseExternalTitleKey")?,
        "the get request",
    )
}

/// Add each non-empty comment; the ids of those pushed. Without a comment URL and body
/// nothing is pushed, and nothing is reported as pushed (Kibana lists them anyway).
async fn comments(
    ctx: &ActionContext,
    input: &Value,
    id: &str,
    pushed_date: &str,
) -> Result<Option<Vec<Value>>, ActionError> {
    let Some(list) = input.get("comments").and_then(Value::as_array) else {
        return Ok(None);
    };
    if list.is_empty() {
        return Ok(None);
    }
    let url = ctx.instance.user_template("createCommentUrl");
    let body = ctx.instance.user_template("createCommentJson");
    let mut pushed = Vec::new();
    let (Some(url), Some(body)) = (url, body) else {
        return Ok(Some(pushed));
    };
    let method = method(ctx, "createCommentMethod", Method::PUT);
    for c in list {
        let Some(text) = c
            .get("comment")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
        else {
            continue;
        };
        let mut vars = with_id(Vars::new(), id);
        vars.insert("case.comment".into(), VarValue::Str(text.into()));
        send(ctx, method.clone(), url, Some(body), &vars).await?;
        pushed.push(json!({ "commentId": c["commentId"], "pushedDate": pushed_date }));
    }
    Ok(Some(pushed))
}

#[async_trait]
impl ActionHandler for CasesWebhookPushToService {
    async fn call(&self, ctx: &ActionContext, input: Value) -> Result<Value, ActionError> {
        let incident = input.get("incident").cloned().unwrap_or_default();
        let vars = case_vars(&incident);
        let id = match incident.get("externalId").and_then(Value::as_str) {
            Some(id) => {
                update(ctx, vars, id).await?;
                id.to_string()
            }
            None => create(ctx, &vars).await?,
        };
        let title = title(ctx, &id).await?;
        let mut view = with_id(Vars::new(), &id);
        view.insert("external.system.title".into(), VarValue::Str(title.clone()));
        let url = template(ctx, "viewIncidentUrl")?.render_url(&view)?;
        let pushed_date = now_rfc3339();
        let mut out = Map::new();
        out.insert("id".into(), json!(id));
        out.insert("title".into(), json!(title));
        out.insert("url".into(), json!(url.as_str()));
        out.insert("pushedDate".into(), json!(pushed_date));
        if let Some(pushed) = comments(ctx, &input, &id, &pushed_date).await? {
            out.insert("comments".into(), Value::Array(pushed));
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_read_at_dot_paths() {
        let reply = json!({ "data": { "key": "ABC-1", "n": 7, "items": [{ "id": "x" }] } });
        assert_eq!(value_at(&reply, "data.key", "r").unwrap(), "ABC-1");
        assert_eq!(value_at(&reply, "data.n", "r").unwrap(), "7");
        assert_eq!(value_at(&reply, "data.items[0].id", "r").unwrap(), "x");
        for key in ["data.missing", "data", "data.items.5.id"] {
            let e = value_at(&reply, key, "r").unwrap_err();
            assert_eq!(e.code, "invalid_response", "{key}");
        }
    }

    #[test]
    fn case_vars_default_to_empty() {
        let v = case_vars(&json!({ "title": "T", "tags": ["a", "b"] }));
        assert_eq!(v["case.title"], VarValue::Str("T".into()));
        assert_eq!(v["case.description"], VarValue::Str(String::new()));
        assert_eq!(v["case.tags"], VarValue::List(vec!["a".into(), "b".into()]));
    }
}
