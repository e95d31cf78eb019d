//! Response mapping: error rules that turn a reply into a typed error, the parsing of a
//! successful body, and the output mapping (`$` paths and templates over `response`).

use connector_spec::output::OutputNode;
use connector_spec::{ErrorRule, ResponseFormat, ResponseMapping};
use serde_json::Value;

use super::DeclarativeExecutor;
use super::request::template_context;
use crate::client::{SendOptions, condition_matches};
use crate::context::ActionContext;
use crate::error::ActionError;

impl DeclarativeExecutor {
    /// Send a request and return the parsed body of a successful reply, after error rules.
    pub async fn call(
        &self,
        ctx: &ActionContext,
        req: reqwest::Request,
        mapping: Option<&ResponseMapping>,
        input: &Value,
    ) -> Result<(Value, reqwest::header::HeaderMap), ActionError> {
        let (body, headers, status) = self.call_bytes(ctx, req, mapping, input).await?;
        let format = mapping.and_then(|m| m.format).unwrap_or_default();
        Ok((read_reply(format, &headers, &body, status)?, headers))
    }

    /// [`DeclarativeExecutor::call`] up to the parse: the body of a successful reply, its
    /// headers and status, after error rules.
    pub async fn call_bytes(
        &self,
        ctx: &ActionContext,
        req: reqwest::Request,
        mapping: Option<&ResponseMapping>,
        input: &Value,
    ) -> Result<(bytes::Bytes, reqwest::header::HeaderMap, u16), ActionError> {
        let resp = ctx.client.send(req, SendOptions::default()).await?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = ctx.client.read_body(resp).await?;
        // Error rules may match non-2xx replies too (a rule with `status`).
        if let Some(m) = mapping {
            let success = (200..300).contains(&status);
            // A rule without `status` inspects successful replies only.
            let rule = m.errors.iter().find(|rule| {
                (success || !rule.when.status.is_empty())
                    && condition_matches(&rule.when, status, &body)
            });
            if let Some(rule) = rule {
                return Err(self.provider_error(ctx, rule, input, status, &body));
            }
        }
        if !(200..300).contains(&status) {
            return Err(ctx.client.error_for(status, &body));
        }
        Ok((body, headers, status))
    }

    /// The error an error rule reports, with its templated message (scrubbed of secrets).
    fn provider_error(
        &self,
        ctx: &ActionContext,
        rule: &ErrorRule,
        input: &Value,
        status: u16,
        body: &[u8],
    ) -> ActionError {
        const GENERIC: &str = "the provider reported an error";
        let message = match &rule.message {
            Some(t) => {
                let parsed = parse_body(body);
                let tctx = template_context(ctx, input, Some(&parsed));
                self.renderer
                    .render_str(t, &tctx)
                    .unwrap_or_else(|_| GENERIC.into())
            }
            None => GENERIC.into(),
        };
        ctx.client
            .scrub(ActionError::new(rule.class, "provider_error", message).with_status(status))
    }

    /// Apply the output mapping.
    pub fn map_output(
        &self,
        ctx: &ActionContext,
        mapping: Option<&ResponseMapping>,
        input: &Value,
        body: Value,
    ) -> Result<Value, ActionError> {
        let Some(output) = mapping.and_then(|m| m.output.as_ref()) else {
            return Ok(body);
        };
        // The template context is built only when the mapping renders a template: a mapping
        // made of `$` paths and literals never reads it.
        let tctx = if output.has_template() {
            template_context(ctx, input, Some(&body))
        } else {
            minijinja::Value::UNDEFINED
        };
        self.map_node(output.node(), &body, &tctx)
    }

    /// Apply the output mapping to each record of a listing page: on a listing, `output`
    /// maps one record (`$` and `response` are the record).
    pub(super) fn map_records(
        &self,
        ctx: &ActionContext,
        mapping: Option<&ResponseMapping>,
        input: &Value,
        records: &mut [Value],
    ) -> Result<(), ActionError> {
        if mapping.is_none_or(|m| m.output.is_none()) {
            return Ok(());
        }
        for r in records {
            *r = self.map_output(ctx, mapping, input, std::mem::take(r))?;
        }
        Ok(())
    }

    /// Apply a parsed output mapping; its `$` paths were parsed when the spec loaded.
    fn map_node(
        &self,
        node: &OutputNode,
        body: &Value,
        tctx: &minijinja::Value,
    ) -> Result<Value, ActionError> {
        Ok(match node {
            OutputNode::Path(p) => p.evaluate(body).unwrap_or(Value::Null),
            OutputNode::Template(t) => self.renderer.render_json(t, tctx)?,
            OutputNode::Object(fields) => {
                let mut out = serde_json::Map::with_capacity(fields.len());
                for (k, v) in fields {
                    out.insert(k.clone(), self.map_node(v, body, tctx)?);
                }
                Value::Object(out)
            }
            OutputNode::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|v| self.map_node(v, body, tctx))
                    .collect::<Result<_, _>>()?,
            ),
            OutputNode::Literal(v) => v.clone(),
        })
    }
}

/// A successful reply's body: JSON when it says it is JSON (a body that says so and does not
/// parse is a typed error, never a silent fallback), else JSON when it parses, else text.
/// Whether the reply declares a JSON body (`application/json` or `*+json`).
pub(super) fn says_json(headers: &reqwest::header::HeaderMap) -> bool {
    headers
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|m| {
            let m = m.trim().to_ascii_lowercase();
            m == "application/json" || m.ends_with("+json")
        })
        .unwrap_or(false)
}

/// The typed error of a reply declared as JSON that does not parse (position only, never
/// the content).
pub(super) fn invalid_json(e: &serde_json::Error, status: u16) -> ActionError {
    ActionError::system(
        "invalid_response",
        format!("the reply is declared as JSON but does not parse: {e}"),
    )
    .with_status(status)
}

pub(super) fn parse_reply(
    headers: &reqwest::header::HeaderMap,
    body: &[u8],
    status: u16,
) -> Result<Value, ActionError> {
    if says_json(headers) && !body.iter().all(u8::is_ascii_whitespace) {
        return serde_json::from_slice(body).map_err(|e| invalid_json(&e, status));
    }
    Ok(parse_body(body))
}

/// A successful reply's body read as `response.format` says: `json` as [`parse_reply`],
/// `text` as the UTF-8 string it is (never parsed; invalid UTF-8 is `invalid_response`
/// naming the byte offset), `base64` as the standard base64 of its bytes.
pub(super) fn read_reply(
    format: ResponseFormat,
    headers: &reqwest::header::HeaderMap,
    body: &[u8],
    status: u16,
) -> Result<Value, ActionError> {
    match format {
        ResponseFormat::Json => parse_reply(headers, body, status),
        ResponseFormat::Text => match std::str::from_utf8(body) {
            Ok(text) => Ok(Value::String(text.to_string())),
            Err(e) => Err(ActionError::system(
                "invalid_response",
                format!(
                    "the reply is read as text (`format: text`) but is not valid UTF-8 at \
                     byte {}",
                    e.valid_up_to()
                ),
            )
            .with_status(status)),
        },
        ResponseFormat::Base64 => {
            use base64::Engine as _;
            Ok(Value::String(
                base64::engine::general_purpose::STANDARD.encode(body),
            ))
        }
    }
}

/// A body as JSON when it parses, else as text; empty is null.
pub fn parse_body(body: &[u8]) -> Value {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Value::Null;
    }
    serde_json::from_slice(body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}

/// A text payload (an SSE event's data) as JSON when it parses, else as text.
pub(super) fn parse_text(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()))
}
