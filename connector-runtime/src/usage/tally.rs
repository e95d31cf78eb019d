//! Recording a call's usage: an action's `usage:` compiled, the counts read from its output
//! (or each event of a stream), the tracing and runtime events, the ledger write; and the
//! answer of a `handler: usage` action.

use std::sync::Arc;

use connector_spec::UsageMapping;
use connector_spec::path::JsonPath;
use serde_json::Value;

use super::{TokenUsage, UsageEntry, report, report_query, today};
use crate::context::ActionContext;
use crate::error::ActionError;

/// An action's `usage:` with its paths parsed, built once when the dispatcher is made.
#[derive(Debug)]
pub(crate) struct CompiledUsage {
    model: String,
    /// The `model` template, compiled once.
    renderer: crate::template::Renderer,
    prompt: Option<JsonPath>,
    completion: Option<JsonPath>,
    total: Option<JsonPath>,
}

/// Counts read from one output or event; `None` where the path found no number.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SeenUsage {
    prompt: Option<u64>,
    completion: Option<u64>,
    total: Option<u64>,
}

impl SeenUsage {
    /// `self` with every count `later` has replacing it (a stream's last value wins).
    fn then(self, later: SeenUsage) -> SeenUsage {
        SeenUsage {
            prompt: later.prompt.or(self.prompt),
            completion: later.completion.or(self.completion),
            total: later.total.or(self.total),
        }
    }

    fn usage(self) -> TokenUsage {
        let prompt = self.prompt.unwrap_or(0);
        let completion = self.completion.unwrap_or(0);
        TokenUsage {
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: self
                .total
                .unwrap_or_else(|| prompt.saturating_add(completion)),
        }
    }
}

fn parse_path(
    action: &str,
    key: &str,
    p: &Option<String>,
) -> Result<Option<JsonPath>, ActionError> {
    p.as_deref()
        .map(|text| {
            JsonPath::parse(text).map_err(|e| {
                ActionError::system(
                    "invalid_spec",
                    format!(
                        "`usage.{key}` of `{action}` is not a JSON path: {}",
                        e.message
                    ),
                )
            })
        })
        .transpose()
}

impl CompiledUsage {
    pub(crate) fn new(action: &str, m: &UsageMapping) -> Result<CompiledUsage, ActionError> {
        Ok(CompiledUsage {
            model: m.model.clone(),
            renderer: {
                let mut r = crate::template::Renderer::new();
                r.add(&m.model);
                r
            },
            prompt: parse_path(action, "promptTokens", &m.prompt_tokens)?,
            completion: parse_path(action, "completionTokens", &m.completion_tokens)?,
            total: parse_path(action, "totalTokens", &m.total_tokens)?,
        })
    }

    /// The counts in `output` (an action's output, or one event's data).
    /// A value that is there but no whole number (a string, a negative count) is not counted
    /// and is logged with its path, never silently read as a number.
    pub(crate) fn read(&self, output: &Value) -> SeenUsage {
        let count = |p: &Option<JsonPath>| {
            let p = p.as_ref()?;
            let v = p.first(output)?;
            if v.is_null() {
                return None;
            }
            let n = v.as_u64();
            if n.is_none() {
                tracing::warn!(
                    path = p.as_str(),
                    kind = json_kind(v),
                    "a token count is not a whole number; not counted"
                );
            }
            n
        };
        SeenUsage {
            prompt: count(&self.prompt),
            completion: count(&self.completion),
            total: count(&self.total),
        }
    }

    /// The model of a call with `input`: the template rendered, secrets redacted. A template
    /// that does not render (an input without the field it reads) is `unknown`.
    fn model(&self, ctx: &ActionContext, input: &Value) -> String {
        let tctx = crate::executor::template_context(ctx, input, None);
        let rendered = self
            .renderer
            .render_str(&self.model, &tctx)
            .ok()
            .filter(|m| !m.trim().is_empty())
            .unwrap_or_else(|| "unknown".to_string());
        let mut v = Value::String(rendered);
        ctx.instance.redactor().redact_value(&mut v);
        match v {
            Value::String(s) => s.chars().take(256).collect(),
            _ => "unknown".to_string(),
        }
    }
}

/// Record one call made with `input` that reported `seen`: the tracing event, the runtime
/// event, the ledger. A ledger that cannot record is logged; the call's result stands.
pub(crate) async fn record(
    ctx: &ActionContext,
    action: &str,
    usage: &CompiledUsage,
    input: &Value,
    seen: SeenUsage,
) {
    let entry = UsageEntry {
        instance: ctx.usage.instance.to_string(),
        model: usage.model(ctx, input),
        day: today(),
        usage: seen.usage(),
    };
    tracing::info!(
        target: "connector_runtime::usage",
        connector = %ctx.instance.spec.id,
        instance = %entry.instance,
        action,
        model = %entry.model,
        prompt_tokens = entry.usage.prompt_tokens,
        completion_tokens = entry.usage.completion_tokens,
        total_tokens = entry.usage.total_tokens,
        "model usage"
    );
    ctx.client.events.model_usage(&entry.usage);
    if let Err(e) = ctx.usage.ledger.record(&entry).await {
        tracing::warn!(connector = %ctx.instance.spec.id, code = %e.code, "usage not recorded: {}", e.message);
    }
}

/// What a stream has reported so far; recorded once, when the stream ends or is dropped.
pub(crate) struct StreamTally {
    ctx: ActionContext,
    action: String,
    usage: Arc<CompiledUsage>,
    input: Value,
    seen: SeenUsage,
    done: bool,
}

impl StreamTally {
    pub(crate) fn new(
        ctx: &ActionContext,
        action: &str,
        usage: Arc<CompiledUsage>,
        input: Value,
    ) -> StreamTally {
        StreamTally {
            ctx: ctx.clone(),
            action: action.to_string(),
            usage,
            input,
            seen: SeenUsage::default(),
            done: false,
        }
    }

    /// Note one event's data.
    pub(crate) fn saw(&mut self, data: &Value) {
        self.seen = self.seen.then(self.usage.read(data));
    }

    /// Record now (the stream ended).
    pub(crate) async fn finish(&mut self) {
        if !std::mem::replace(&mut self.done, true) {
            record(&self.ctx, &self.action, &self.usage, &self.input, self.seen).await;
        }
    }
}

impl Drop for StreamTally {
    /// A stream dropped before its end (the caller went away, or cancelled) is recorded with
    /// what it reported, on the runtime it ran on.
    fn drop(&mut self) {
        if self.done {
            return;
        }
        self.done = true;
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (ctx, action, usage, input, seen) = (
            self.ctx.clone(),
            std::mem::take(&mut self.action),
            Arc::clone(&self.usage),
            std::mem::take(&mut self.input),
            self.seen,
        );
        handle.spawn(async move { record(&ctx, &action, &usage, &input, seen).await });
    }
}

/// Answer a `handler: usage` action: the instance's usage over the input's days.
pub(crate) async fn answer(ctx: &ActionContext, input: &Value) -> Result<Value, ActionError> {
    let query = report_query(&ctx.usage.instance, input)?;
    let rows = ctx.usage.ledger.rows(&query).await?;
    Ok(report(&query, &rows))
}

/// The JSON type of `v`, for a log line that must not carry the value.
fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_stream_keeps_the_last_value_of_each_count_and_totals_when_none_is_given() {
        let u = CompiledUsage::new(
            "s",
            &UsageMapping {
                model: "m".into(),
                prompt_tokens: Some("$.usage.promptTokens".into()),
                completion_tokens: Some("$.usage.completionTokens".into()),
                total_tokens: None,
            },
        )
        .unwrap();
        let seen = [
            json!({"usage": {"promptTokens": 12}}),
            json!({"text": "hi"}),
            json!({"usage": {"completionTokens": 3}}),
            json!({"usage": {"completionTokens": 9}}),
        ]
        .iter()
        .fold(SeenUsage::default(), |s, e| s.then(u.read(e)));
        assert_eq!(
            seen.usage(),
            TokenUsage {
                prompt_tokens: 12,
                completion_tokens: 9,
                total_tokens: 21
            }
        );
    }

    #[test]
    fn a_count_that_is_no_whole_number_is_not_counted() {
        let u = CompiledUsage::new(
            "s",
            &UsageMapping {
                model: "m".into(),
                prompt_tokens: Some("$.p".into()),
                completion_tokens: Some("$.c".into()),
                total_tokens: Some("$.t".into()),
            },
        )
        .unwrap();
        let seen = u.read(&json!({"p": "12", "c": -3, "t": 7}));
        assert_eq!(
            seen.usage(),
            TokenUsage {
                prompt_tokens: 0,
                completion_tokens: 0,
                total_tokens: 7
            }
        );
    }
}
