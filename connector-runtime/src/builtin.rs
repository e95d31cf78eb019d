//! Code handlers for bundled connectors whose actions are not HTTP requests.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Value, json};

use crate::connector::{ActionHandler, DeclarativeConnector};
use crate::context::ActionContext;
use crate::error::ActionError;

/// `.server-log` `execute`: write the message to the runtime's log.
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

/// Send a request through the instance's client (auth, retry, rate limit, timeouts) and read
/// the reply: non-2xx replies become classified errors, bodies are parsed like declarative
/// replies.
async fn send(
    ctx: &ActionContext,
    req: reqwest::RequestBuilder,
) -> Result<(u16, Value), ActionError> {
    let req = req.build().map_err(|e| crate::client::from_reqwest(&e))?;
    let resp = ctx
        .client
        .send(req, crate::client::SendOptions::default())
        .await?;
    let status = resp.status().as_u16();
    let body = ctx.client.read_body(resp).await?;
    if !(200..300).contains(&status) {
        return Err(ctx.client.error_for(status, &body));
    }
    Ok((status, crate::executor::parse_body(&body)))
}

fn config_url(ctx: &ActionContext, key: &str) -> Result<reqwest::Url, ActionError> {
    let text = ctx
        .config
        .get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| ActionError::user("invalid_config", format!("`{key}` is required")))?;
    reqwest::Url::parse(text)
        .map_err(|e| ActionError::user("invalid_config", format!("`{key}` is not a URL: {e}")))
}

/// `.webhook` `execute`: the method, URL and extra headers come from the instance's config
/// (which a declarative request cannot express); the body is sent as-is.
pub struct WebhookExecute;

#[async_trait]
impl ActionHandler for WebhookExecute {
    async fn call(&self, ctx: &ActionContext, input: Value) -> Result<Value, ActionError> {
        let url = config_url(ctx, "url")?;
        let method = match ctx.config.get("method").and_then(Value::as_str) {
            Some("put") => reqwest::Method::PUT,
            _ => reqwest::Method::POST,
        };
        let mut req = ctx.client.request(method, url);
        let mut has_content_type = false;
        if let Some(Value::Object(headers)) = ctx.config.get("headers") {
            for (name, value) in headers {
                let name =
                    reqwest::header::HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                        ActionError::user(
                            "invalid_config",
                            format!("`{name}` is not a valid header name"),
                        )
                    })?;
                let value = value.as_str().unwrap_or_default();
                let value = reqwest::header::HeaderValue::from_str(value).map_err(|_| {
                    ActionError::user(
                        "invalid_config",
                        format!("the value of header `{name}` is not valid in HTTP"),
                    )
                })?;
                has_content_type |= name == reqwest::header::CONTENT_TYPE;
                req = req.header(name, value);
            }
        }
        if !has_content_type {
            req = req.header(reqwest::header::CONTENT_TYPE, "application/json");
        }
        if let Some(body) = input.get("body").and_then(Value::as_str) {
            req = req.body(body.to_string());
        }
        let (status, body) = send(ctx, req).await?;
        let mut out = serde_json::Map::new();
        out.insert("status".into(), json!(status));
        if !body.is_null() {
            out.insert("body".into(), body);
        }
        Ok(Value::Object(out))
    }
}

/// Characters escaped in a URL path segment: all but RFC 3986's unreserved ones.
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// `.jira` `pushToService`: create the issue (or update the one named by
/// `incident.externalId`), then add each comment, as Kibana's Jira connector does.
pub struct JiraPushToService;

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

#[async_trait]
impl ActionHandler for JiraPushToService {
    async fn call(&self, ctx: &ActionContext, input: Value) -> Result<Value, ActionError> {
        let base = config_url(ctx, "apiUrl")?;
        let base = base.as_str().trim_end_matches('/').to_string();
        let project = ctx
            .config
            .get("projectKey")
            .and_then(Value::as_str)
            .ok_or_else(|| ActionError::user("invalid_config", "`projectKey` is required"))?
            .to_string();
        let url = |path: &str| {
            reqwest::Url::parse(&format!("{base}{path}"))
                .map_err(|e| ActionError::user("invalid_config", format!("bad Jira URL: {e}")))
        };
        let seg = |s: &str| percent_encoding::utf8_percent_encode(s, SEGMENT).to_string();
        let get = |u: reqwest::Url| {
            ctx.client
                .request(reqwest::Method::GET, u)
                .header(reqwest::header::ACCEPT, "application/json")
        };
        let with_json = |m: reqwest::Method, u: reqwest::Url, body: &Value| {
            ctx.client
                .request(m, u)
                .header(reqwest::header::ACCEPT, "application/json")
                .json(body)
        };

        let incident = input.get("incident").cloned().unwrap_or_default();
        let mut fields = serde_json::Map::new();
        if let Some(Value::Object(other)) = non_null(&incident, "otherFields") {
            fields.extend(other.clone());
        }
        if let Some(v) = non_null(&incident, "summary") {
            fields.insert("summary".into(), v.clone());
        }
        if let Some(v) = non_null(&incident, "description") {
            fields.insert("description".into(), v.clone());
        }
        if let Some(v) = non_null(&incident, "priority") {
            fields.insert("priority".into(), json!({ "name": v }));
        }
        if let Some(v) = non_null(&incident, "labels") {
            fields.insert("labels".into(), v.clone());
        }
        if let Some(v) = non_null(&incident, "parent") {
            fields.insert("parent".into(), json!({ "key": v }));
        }

        let external = non_null(&incident, "externalId")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty());
        let (key, id, pushed) = match external {
            Some(existing) => {
                send(
                    ctx,
                    with_json(
                        reqwest::Method::PUT,
                        url(&format!("/rest/api/2/issue/{}", seg(existing)))?,
                        &json!({ "fields": fields }),
                    ),
                )
                .await?;
                let (_, issue) = send(
                    ctx,
                    get(url(&format!("/rest/api/2/issue/{}", seg(existing)))?),
                )
                .await?;
                let pushed = issue.pointer("/fields/updated").and_then(jira_time);
                (issue["key"].clone(), issue["id"].clone(), pushed)
            }
            None => {
                let issue_type = match non_null(&incident, "issueType").and_then(Value::as_str) {
                    Some(t) => t.to_string(),
                    None => {
                        let (_, types) = send(
                            ctx,
                            get(url(&format!(
                                "/rest/api/2/issue/createmeta/{}/issuetypes",
                                seg(&project)
                            ))?),
                        )
                        .await?;
                        let list =
                            non_null(&types, "issueTypes").or_else(|| non_null(&types, "values"));
                        list.and_then(|l| l.get(0))
                            .and_then(|t| t.get("id"))
                            .and_then(Value::as_str)
                            .map(str::to_string)
                            .ok_or_else(|| {
                                ActionError::user(
                                    "no_issue_type",
                                    format!("project {project} offers no issue type; set `incident.issueType`"),
                                )
                            })?
                    }
                };
                fields.insert("project".into(), json!({ "key": project }));
                fields.insert("issuetype".into(), json!({ "id": issue_type }));
                let (_, created) = send(
                    ctx,
                    with_json(
                        reqwest::Method::POST,
                        url("/rest/api/2/issue")?,
                        &json!({ "fields": fields }),
                    ),
                )
                .await?;
                let key = created.get("key").and_then(Value::as_str).ok_or_else(|| {
                    ActionError::system(
                        "invalid_response",
                        "Jira created the issue but sent no key",
                    )
                })?;
                let (_, issue) =
                    send(ctx, get(url(&format!("/rest/api/2/issue/{}", seg(key)))?)).await?;
                let pushed = issue.pointer("/fields/created").and_then(jira_time);
                (json!(key), created["id"].clone(), pushed)
            }
        };
        let key_text = key.as_str().unwrap_or_default().to_string();

        let mut comments = Vec::new();
        if let Some(Value::Array(list)) = non_null(&input, "comments") {
            for c in list {
                let (_, added) = send(
                    ctx,
                    with_json(
                        reqwest::Method::POST,
                        url(&format!("/rest/api/2/issue/{}/comment", seg(&key_text)))?,
                        &json!({ "body": c["comment"] }),
                    ),
                )
                .await?;
                let mut entry = serde_json::Map::new();
                entry.insert("commentId".into(), c["commentId"].clone());
                if let Some(t) = added.get("created").and_then(jira_time) {
                    entry.insert("pushedDate".into(), json!(t));
                }
                comments.push(Value::Object(entry));
            }
        }
        let mut out = serde_json::Map::new();
        out.insert("id".into(), id);
        out.insert("title".into(), key);
        out.insert("url".into(), json!(format!("{base}/browse/{key_text}")));
        if let Some(p) = pushed {
            out.insert("pushedDate".into(), json!(p));
        }
        out.insert("comments".into(), Value::Array(comments));
        Ok(Value::Object(out))
    }
}

/// Attach the built-in handlers a bundled spec needs.
pub fn with_builtin_handlers(c: DeclarativeConnector) -> DeclarativeConnector {
    match connector_spec_id(&c).as_str() {
        ".server-log" => c.with_handler("execute", Arc::new(ServerLog)),
        ".webhook" => c.with_handler("execute", Arc::new(WebhookExecute)),
        ".jira" => c.with_handler("pushToService", Arc::new(JiraPushToService)),
        _ => c,
    }
}

fn connector_spec_id(c: &DeclarativeConnector) -> String {
    use crate::connector::Connector;
    c.spec().id.clone()
}
