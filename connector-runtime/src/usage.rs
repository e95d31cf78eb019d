//! Token usage: what each model call reported, recorded per connector instance, model and UTC
//! day in a [`UsageLedger`], and the report a `handler: usage` action answers with.
//!
//! An action with `usage:` in its spec names the model (a template) and JSON paths of the
//! token counts in its output. After a successful call the dispatcher reads them, emits a
//! `connector_runtime::usage` tracing event and a [`RuntimeEvents::model_usage`] event, and
//! adds the call to the instance's ledger. A stream is recorded once, when it ends or is
//! dropped, with the last value seen of each count.
//!
//! [`RuntimeEvents::model_usage`]: crate::events::RuntimeEvents::model_usage

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use connector_spec::UsageMapping;
use connector_spec::path::JsonPath;
use serde_json::{Value, json};

use crate::context::ActionContext;
use crate::error::ActionError;

/// The token counts of one call, or the sum of several.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokenUsage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
}

/// One call to add to the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageEntry {
    /// The instance the call ran on (the server's instance id).
    pub instance: String,
    pub model: String,
    /// The UTC day, `YYYY-MM-DD`.
    pub day: String,
    pub usage: TokenUsage,
}

/// The calls and tokens of one instance, day and model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageRow {
    pub day: String,
    pub model: String,
    pub calls: u64,
    pub usage: TokenUsage,
}

/// Which rows a report reads: one instance, days `from..=to` (`YYYY-MM-DD`), maybe one model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageQuery {
    pub instance: String,
    pub from: String,
    pub to: String,
    pub model: Option<String>,
}

/// Where usage is kept: in memory ([`LocalUsage`]) or in the store the server uses, so every
/// instance of a server sharing one database adds to the same totals.
#[async_trait]
pub trait UsageLedger: Send + Sync + fmt::Debug {
    /// Add one call to its `(instance, day, model)` row.
    async fn record(&self, entry: &UsageEntry) -> Result<(), ActionError>;
    /// The rows `query` selects, ordered by day, then model.
    async fn rows(&self, query: &UsageQuery) -> Result<Vec<UsageRow>, ActionError>;
}

/// Rows [`LocalUsage`] keeps at most; past it the oldest day is dropped.
const LOCAL_MAX_ROWS: usize = 50_000;

type LocalKey = (String, String, String);

/// A ledger in this process's memory, for a process that runs alone (`connector run`, tests).
/// Cloning shares it. Bounded: at most 50,000 rows, the oldest days dropped first.
#[derive(Debug, Default, Clone)]
pub struct LocalUsage {
    rows: Arc<Mutex<BTreeMap<LocalKey, (u64, TokenUsage)>>>,
}

#[async_trait]
impl UsageLedger for LocalUsage {
    async fn record(&self, entry: &UsageEntry) -> Result<(), ActionError> {
        let mut rows = self.rows.lock().expect("not poisoned");
        let key = (
            entry.instance.clone(),
            entry.day.clone(),
            entry.model.clone(),
        );
        let row = rows.entry(key).or_default();
        row.0 += 1;
        row.1 = row.1.plus(entry.usage);
        while rows.len() > LOCAL_MAX_ROWS {
            let oldest = rows
                .keys()
                .min_by(|a, b| a.1.cmp(&b.1))
                .cloned()
                .expect("not empty");
            rows.remove(&oldest);
        }
        Ok(())
    }

    async fn rows(&self, q: &UsageQuery) -> Result<Vec<UsageRow>, ActionError> {
        let rows = self.rows.lock().expect("not poisoned");
        let mut out: Vec<UsageRow> = rows
            .iter()
            .filter(|((instance, day, model), _)| {
                instance == &q.instance
                    && day.as_str() >= q.from.as_str()
                    && day.as_str() <= q.to.as_str()
                    && q.model.as_ref().is_none_or(|m| m == model)
            })
            .map(|((_, day, model), (calls, usage))| UsageRow {
                day: day.clone(),
                model: model.clone(),
                calls: *calls,
                usage: *usage,
            })
            .collect();
        out.sort_by(|a, b| (&a.day, &a.model).cmp(&(&b.day, &b.model)));
        Ok(out)
    }
}

impl TokenUsage {
    /// Both added, saturating.
    pub fn plus(self, o: TokenUsage) -> TokenUsage {
        TokenUsage {
            prompt_tokens: self.prompt_tokens.saturating_add(o.prompt_tokens),
            completion_tokens: self.completion_tokens.saturating_add(o.completion_tokens),
            total_tokens: self.total_tokens.saturating_add(o.total_tokens),
        }
    }
}

/// An instance's ledger and the name its calls are recorded under.
#[derive(Clone)]
pub struct UsageSink {
    ledger: Arc<dyn UsageLedger>,
    instance: Arc<str>,
}

impl fmt::Debug for UsageSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UsageSink")
            .field("instance", &self.instance)
            .finish_non_exhaustive()
    }
}

impl UsageSink {
    pub fn new(ledger: Arc<dyn UsageLedger>, instance: &str) -> UsageSink {
        UsageSink {
            ledger,
            instance: Arc::from(instance),
        }
    }

    /// A ledger of its own in memory, recording under `instance`.
    pub fn local(instance: &str) -> UsageSink {
        UsageSink::new(Arc::new(LocalUsage::default()), instance)
    }

    pub fn instance(&self) -> &str {
        &self.instance
    }
}

/// An action's `usage:` with its paths parsed, built once when the dispatcher is made.
#[derive(Debug, Clone)]
pub(crate) struct CompiledUsage {
    model: String,
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
            prompt: parse_path(action, "promptTokens", &m.prompt_tokens)?,
            completion: parse_path(action, "completionTokens", &m.completion_tokens)?,
            total: parse_path(action, "totalTokens", &m.total_tokens)?,
        })
    }

    /// The counts in `output` (an action's output, or one event's data).
    pub(crate) fn read(&self, output: &Value) -> SeenUsage {
        let count = |p: &Option<JsonPath>| p.as_ref().and_then(|p| p.first(output)?.as_u64());
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
        let rendered = crate::template::Renderer::new()
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

/// Today's UTC day as `YYYY-MM-DD`.
pub fn today() -> String {
    day_of(time::OffsetDateTime::now_utc().date())
}

fn day_of(d: time::Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
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

/// The most days one report covers.
pub const MAX_REPORT_DAYS: i64 = 366;

fn parse_day(field: &str, text: &str) -> Result<time::Date, ActionError> {
    let bad = |why: String| {
        ActionError::user(
            "invalid_input",
            format!("`{field}` is not a day: {why}; write it as YYYY-MM-DD (UTC)"),
        )
    };
    let mut parts = text.splitn(3, '-');
    let mut next = || parts.next().and_then(|p| p.parse::<i32>().ok());
    let (Some(y), Some(m), Some(d)) = (next(), next(), next()) else {
        return Err(bad(format!("`{text}`")));
    };
    let month = u8::try_from(m)
        .ok()
        .and_then(|m| time::Month::try_from(m).ok())
        .ok_or_else(|| bad(format!("month {m}")))?;
    let day = u8::try_from(d).map_err(|_| bad(format!("day {d}")))?;
    time::Date::from_calendar_date(y, month, day).map_err(|e| bad(e.to_string()))
}

/// The query of a report's input: `to` defaults to today, `from` to 29 days before `to`.
fn report_query(instance: &str, input: &Value) -> Result<UsageQuery, ActionError> {
    let field = |k: &str| input.get(k).and_then(Value::as_str);
    let to = match field("to") {
        Some(t) => parse_day("to", t)?,
        None => time::OffsetDateTime::now_utc().date(),
    };
    let from = match field("from") {
        Some(f) => parse_day("from", f)?,
        None => to - time::Duration::days(29),
    };
    if from > to {
        return Err(ActionError::user(
            "invalid_input",
            format!("`from` ({}) is after `to` ({})", day_of(from), day_of(to)),
        ));
    }
    if (to - from).whole_days() >= MAX_REPORT_DAYS {
        return Err(ActionError::user(
            "invalid_input",
            format!("a report covers at most {MAX_REPORT_DAYS} days; narrow `from`..`to`"),
        ));
    }
    Ok(UsageQuery {
        instance: instance.to_string(),
        from: day_of(from),
        to: day_of(to),
        model: field("model").map(str::to_string),
    })
}

fn counts(calls: u64, u: TokenUsage) -> serde_json::Map<String, Value> {
    [
        ("calls", calls),
        ("promptTokens", u.prompt_tokens),
        ("completionTokens", u.completion_tokens),
        ("totalTokens", u.total_tokens),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), json!(v)))
    .collect()
}

/// The report of `rows`: totals, per model (by name), and per day and model.
pub fn report(query: &UsageQuery, rows: &[UsageRow]) -> Value {
    let mut total = (0u64, TokenUsage::default());
    let mut models: BTreeMap<&str, (u64, TokenUsage)> = BTreeMap::new();
    let mut days = Vec::with_capacity(rows.len());
    for r in rows {
        total = (total.0 + r.calls, total.1.plus(r.usage));
        let m = models.entry(&r.model).or_default();
        *m = (m.0 + r.calls, m.1.plus(r.usage));
        let mut day = counts(r.calls, r.usage);
        day.insert("day".into(), json!(r.day));
        day.insert("model".into(), json!(r.model));
        days.push(Value::Object(day));
    }
    let models: Vec<Value> = models
        .into_iter()
        .map(|(name, (calls, u))| {
            let mut m = counts(calls, u);
            m.insert("model".into(), json!(name));
            Value::Object(m)
        })
        .collect();
    json!({
        "from": query.from,
        "to": query.to,
        "totals": Value::Object(counts(total.0, total.1)),
        "models": models,
        "days": days,
    })
}

/// Answer a `handler: usage` action: the instance's usage over the input's days.
pub(crate) async fn answer(ctx: &ActionContext, input: &Value) -> Result<Value, ActionError> {
    let query = report_query(&ctx.usage.instance, input)?;
    let rows = ctx.usage.ledger.rows(&query).await?;
    Ok(report(&query, &rows))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(day: &str, model: &str, p: u64, c: u64) -> UsageEntry {
        UsageEntry {
            instance: "i1".into(),
            model: model.into(),
            day: day.into(),
            usage: TokenUsage {
                prompt_tokens: p,
                completion_tokens: c,
                total_tokens: p + c,
            },
        }
    }

    #[tokio::test]
    async fn local_rows_add_up_per_day_and_model_and_stay_per_instance() {
        let l = LocalUsage::default();
        l.record(&entry("2026-12-01", "a", 10, 5)).await.unwrap();
        l.record(&entry("2026-12-01", "a", 1, 1)).await.unwrap();
        l.record(&entry("2026-12-02", "b", 3, 4)).await.unwrap();
        let mut other = entry("2026-12-01", "a", 100, 100);
        other.instance = "i2".into();
        l.record(&other).await.unwrap();
        let q = UsageQuery {
            instance: "i1".into(),
            from: "2026-12-01".into(),
            to: "2026-12-02".into(),
            model: None,
        };
        let rows = l.rows(&q).await.unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[0].calls, rows[0].usage.total_tokens), (2, 17));
        let r = report(&q, &rows);
        assert_eq!(r["totals"]["calls"], 3);
        assert_eq!(r["totals"]["totalTokens"], 24);
        assert_eq!(r["models"][1]["model"], "b");
        let only_b = UsageQuery {
            model: Some("b".into()),
            ..q.clone()
        };
        assert_eq!(l.rows(&only_b).await.unwrap().len(), 1);
        let before = UsageQuery {
            to: "2026-11-30".into(),
            from: "2026-11-01".into(),
            ..q
        };
        assert!(l.rows(&before).await.unwrap().is_empty());
    }

    #[test]
    fn a_report_range_is_checked_and_defaults_to_thirty_days() {
        let q = report_query("i", &json!({"to": "2026-03-01"})).unwrap();
        assert_eq!(
            (q.from.as_str(), q.to.as_str()),
            ("2026-01-31", "2026-03-01")
        );
        for (input, says) in [
            (json!({"from": "2026-02-30"}), "`from` is not a day"),
            (json!({"to": "2026-13-01"}), "month 13"),
            (
                json!({"from": "2026-03-02", "to": "2026-03-01"}),
                "is after",
            ),
            (
                json!({"from": "2024-01-01", "to": "2026-03-01"}),
                "at most 366 days",
            ),
        ] {
            let e = report_query("i", &input).unwrap_err();
            assert_eq!(e.code, "invalid_input");
            assert!(e.message.contains(says), "{}", e.message);
        }
    }

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
}
