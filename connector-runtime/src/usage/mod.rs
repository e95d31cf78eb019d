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
use serde_json::{Value, json};

use crate::error::ActionError;

pub(crate) mod tally;

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

/// Today's UTC day as `YYYY-MM-DD`.
pub fn today() -> String {
    day_of(time::OffsetDateTime::now_utc().date())
}

pub(crate) fn day_of(d: time::Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
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
pub(crate) fn report_query(instance: &str, input: &Value) -> Result<UsageQuery, ActionError> {
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
}
