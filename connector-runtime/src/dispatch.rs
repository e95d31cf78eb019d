//! Dispatch by action name with JSON input: input validated against the action's schema,
//! output validated against its output schema, unknown actions listed.

use std::collections::HashMap;
use std::sync::Arc;

use connector_spec::ConnectorSpec;
use serde_json::Value;
use tracing::Instrument;

use crate::connector::{Connector, ExecuteOptions};
use crate::context::ActionContext;
use crate::error::ActionError;
use crate::executor::{EventStream, Page, RawPage};
use crate::listing::Listing;
use crate::usage::tally::{CompiledUsage, StreamTally};
use futures::stream::BoxStream;

/// The instance's secrets plus credentials its auth strategy obtained at run time.
fn output_redactor(ctx: &ActionContext) -> crate::secrets::Redactor {
    let runtime = ctx.client.auth.runtime_secrets();
    if runtime.is_empty() {
        ctx.instance.redactor().clone()
    } else {
        ctx.instance.redactor().with(runtime)
    }
}

/// Redact one record kept as JSON text. A text with no backslash escape holds its strings
/// byte for byte, so when no secret's bytes occur in it no parsed string can hold one, and it
/// stays as it is; otherwise it is parsed, redacted and written again.
fn redact_raw(
    redactor: &crate::secrets::Redactor,
    record: &mut Box<serde_json::value::RawValue>,
) -> Result<(), ActionError> {
    let text = record.get();
    if !redactor.may_leak_raw(text) {
        return Ok(());
    }
    let invalid = |e: serde_json::Error| ActionError::system("invalid_response", e.to_string());
    let mut value: Value = serde_json::from_str(text).map_err(invalid)?;
    redactor.redact_value(&mut value);
    *record = serde_json::value::to_raw_value(&value).map_err(invalid)?;
    Ok(())
}

/// Every record of a listing's pages, in order.
async fn collect_records(
    mut pages: BoxStream<'static, Result<Page, ActionError>>,
) -> Result<Value, ActionError> {
    let mut records = Vec::new();
    while let Some(page) = futures::StreamExt::next(&mut pages).await {
        records.extend(page?.records);
    }
    Ok(Value::Array(records))
}

struct Schemas {
    input: jsonschema::Validator,
    output: Option<jsonschema::Validator>,
    /// What each item handed out one at a time must match: a listing's record (the output
    /// schema's `items`), a stream's event data (the output schema itself).
    item: Option<Arc<jsonschema::Validator>>,
    /// Where the action's token usage is read (`usage:`).
    usage: Option<Arc<CompiledUsage>>,
    /// Answered from the usage ledger (`handler: usage`).
    usage_report: bool,
}

/// Check one item (a record of a listing, the data of an event) against `v`.
fn check_item(
    v: &jsonschema::Validator,
    action: &str,
    what: &str,
    item: &Value,
) -> Result<(), ActionError> {
    let problems: Vec<String> = v
        .iter_errors(item)
        .map(|e| crate::instance::describe_violation(&e, what, true))
        .collect();
    if problems.is_empty() {
        return Ok(());
    }
    Err(ActionError::system(
        "invalid_output",
        format!(
            "a {what} of `{action}` does not match its output schema: {}",
            problems.join("; ")
        ),
    ))
}

/// A started stream's events, each redacted and checked as it arrives, its token usage
/// noted and recorded when it ends (or, by the tally's drop, when the caller drops it).
struct CheckedStream {
    inner: EventStream,
    redactor: crate::secrets::Redactor,
    item: Option<Arc<jsonschema::Validator>>,
    action: String,
    tally: Option<StreamTally>,
}

impl CheckedStream {
    async fn next(&mut self) -> Option<Result<crate::executor::StreamEvent, ActionError>> {
        let Some(ev) = futures::StreamExt::next(&mut self.inner).await else {
            if let Some(t) = &mut self.tally {
                t.finish().await;
            }
            return None;
        };
        let checked = (|| {
            let mut ev = ev.map_err(|e| self.redactor.redact_error(e))?;
            self.redactor.redact_value(&mut ev.data);
            if let Some(v) = &self.item {
                check_item(v, &self.action, "event", &ev.data)?;
            }
            Ok(ev)
        })();
        if let (Ok(ev), Some(t)) = (&checked, &mut self.tally) {
            t.saw(&ev.data);
        }
        Some(checked)
    }
}

/// A connector with compiled input/output validators.
pub struct Dispatcher {
    connector: Arc<dyn Connector>,
    schemas: HashMap<String, Schemas>,
}

impl Dispatcher {
    pub fn new(connector: Arc<dyn Connector>) -> Result<Dispatcher, ActionError> {
        let mut schemas = HashMap::new();
        for (name, a) in &connector.spec().actions {
            let input = jsonschema::draft202012::new(&a.input).map_err(|e| {
                ActionError::system(
                    "invalid_schema",
                    format!("input schema of `{name}` does not compile: {e}"),
                )
            })?;
            let output = match &a.output {
                Some(o) => Some(jsonschema::draft202012::new(o).map_err(|e| {
                    ActionError::system(
                        "invalid_schema",
                        format!("output schema of `{name}` does not compile: {e}"),
                    )
                })?),
                None => None,
            };
            let item_schema = match (&a.output, a.supports_streaming) {
                (Some(o), true) => Some(o.clone()),
                (Some(o), false)
                    if crate::executor::pagination_of(connector.spec(), name).is_some() =>
                {
                    o.get("items").filter(|i| i.is_object()).cloned()
                }
                _ => None,
            };
            let item = match item_schema {
                Some(schema) => Some(Arc::new(jsonschema::draft202012::new(&schema).map_err(
                    |e| {
                        ActionError::system(
                            "invalid_schema",
                            format!("output schema of `{name}` does not compile: {e}"),
                        )
                    },
                )?)),
                None => None,
            };
            let usage = match &a.usage {
                Some(u) => Some(Arc::new(CompiledUsage::new(name, u)?)),
                None => None,
            };
            let usage_report = a.implementation.is_usage_report();
            schemas.insert(
                name.clone(),
                Schemas {
                    input,
                    output,
                    item,
                    usage,
                    usage_report,
                },
            );
        }
        Ok(Dispatcher { connector, schemas })
    }

    pub fn connector(&self) -> &Arc<dyn Connector> {
        &self.connector
    }

    pub fn spec(&self) -> &Arc<ConnectorSpec> {
        self.connector.spec()
    }

    fn check_input(&self, action: &str, input: &Value) -> Result<&Schemas, ActionError> {
        let s = self
            .schemas
            .get(action)
            .ok_or_else(|| crate::error::unknown_action(self.spec(), action))?;
        let problems: Vec<String> = s
            .input
            .iter_errors(input)
            .map(|e| crate::instance::describe_violation(&e, "input", false))
            .collect();
        if !problems.is_empty() {
            return Err(ActionError::user(
                "invalid_input",
                format!("invalid input for `{action}`: {}", problems.join("; ")),
            ));
        }
        Ok(s)
    }

    /// Validate input, run, validate output. An action that runs inside a session gets a
    /// session of its own (init, the action, cleanup); see [`Session`](crate::Session).
    pub async fn execute(
        &self,
        ctx: &ActionContext,
        action: &str,
        input: Value,
        opts: ExecuteOptions,
    ) -> Result<Value, ActionError> {
        let session = self
            .spec()
            .actions
            .get(action)
            .and_then(|a| a.session.as_deref());
        match session {
            Some(session) if ctx.session.as_ref().is_none_or(|s| s.name != session) => {
                self.check_input(action, &input)?;
                self.execute_in_new_session(ctx, session, action, input, opts)
                    .await
            }
            _ => self.execute_plain(ctx, action, input, opts).await,
        }
    }

    /// Validate input, run, validate output, with no session handling.
    pub(crate) async fn execute_plain(
        &self,
        ctx: &ActionContext,
        action: &str,
        input: Value,
        opts: ExecuteOptions,
    ) -> Result<Value, ActionError> {
        let s = self.check_input(action, &input)?;
        if opts.all_pages
            && let Some(pages) = self.redacted_pages(ctx, action, input.clone(), s.item.clone())
        {
            return collect_records(pages).instrument(ctx.span.clone()).await;
        }
        if s.usage_report {
            return crate::usage::tally::answer(ctx, &input).await;
        }
        // Kept for the model template only when the action records usage.
        let usage_input = s.usage.as_ref().map(|_| input.clone());
        // `instrument`, not `enter()`: a guard held across an await leaves the span entered on
        // whichever thread the task resumes on, and tracing-subscriber's registry panics
        // ("tried to clone a span that already closed") under load. clippy.toml forbids it.
        let result = self
            .connector
            .execute(ctx, action, input, opts)
            .instrument(ctx.span.clone())
            .await;
        // After the call: the strategy may have obtained a token during it.
        let redactor = output_redactor(ctx);
        let mut output = result.map_err(|e| redactor.redact_error(e))?;
        // An API that echoes a credential back must not hand it to the caller.
        redactor.redact_value(&mut output);
        if let (Some(v), false) = (&s.output, opts.all_pages) {
            let problems: Vec<String> = v
                .iter_errors(&output)
                .map(|e| crate::instance::describe_violation(&e, "output", true))
                .collect();
            if !problems.is_empty() {
                return Err(ActionError::system(
                    "invalid_output",
                    format!(
                        "the reply of `{action}` does not match its output schema: {}",
                        problems.join("; ")
                    ),
                ));
            }
        }
        // Every page of a listing: the schema's array bounds describe one page, so each record
        // is checked against its `items`.
        if let (Some(v), true, Value::Array(records)) = (&s.item, opts.all_pages, &output) {
            for r in records {
                check_item(v, action, "record", r)?;
            }
        }
        if let (Some(u), Some(input)) = (&s.usage, &usage_input) {
            crate::usage::tally::record(ctx, action, u, input, u.read(&output)).await;
        }
        Ok(output)
    }

    /// Whether `action` is a listing (a paginated HTTP action): its output is an array of
    /// records, and [`Dispatcher::pages`] streams them.
    pub fn is_listing(&self, action: &str) -> bool {
        crate::executor::pagination_of(self.spec(), action).is_some()
    }

    /// Whether `action` runs inside a session.
    fn in_session(&self, action: &str) -> bool {
        self.spec()
            .actions
            .get(action)
            .is_some_and(|a| a.session.is_some())
    }

    /// Validate input and start a paginated action: its pages (records redacted), fetched as
    /// the stream is polled, so a caller can handle any number of records in constant memory.
    /// `Ok(None)` when the action is not a listing, or runs in a session (use
    /// [`Dispatcher::execute`]). The last page says when a limit cut the listing short.
    pub fn pages(
        &self,
        ctx: &ActionContext,
        action: &str,
        input: Value,
    ) -> Result<Option<BoxStream<'static, Result<Page, ActionError>>>, ActionError> {
        let item = self.check_input(action, &input)?.item.clone();
        let in_session = self.in_session(action);
        if in_session {
            return Ok(None);
        }
        Ok(self.redacted_pages(ctx, action, input, item))
    }

    /// [`Dispatcher::pages`] with each record kept as the JSON text of the reply, for a
    /// caller that writes records out unchanged (`connector run --all-pages`): no record is
    /// built into a value unless it may hold a secret. `Ok(None)` where `pages` applies
    /// instead: not a listing, a listing in a session, an output schema to check each record
    /// against, or records the connector cannot keep as text.
    pub fn raw_pages(
        &self,
        ctx: &ActionContext,
        action: &str,
        input: Value,
    ) -> Result<Option<BoxStream<'static, Result<RawPage, ActionError>>>, ActionError> {
        let checks_items = self.check_input(action, &input)?.item.is_some();
        let in_session = self.in_session(action);
        if checks_items || in_session {
            return Ok(None);
        }
        let Some(pages) = self.connector.raw_listing(ctx.clone(), action, input) else {
            return Ok(None);
        };
        let ctx = ctx.clone();
        Ok(Some(Box::pin(futures::StreamExt::map(
            pages,
            move |page| {
                let redactor = output_redactor(&ctx);
                let mut page = page.map_err(|e| redactor.redact_error(e))?;
                for r in &mut page.records {
                    redact_raw(&redactor, r)?;
                }
                Ok(page)
            },
        ))))
    }

    /// The connector's page stream of a listing, each page's records redacted (and checked
    /// against `item`) as the page arrives, while it is still in cache. The redactor is
    /// taken per page: it knows the tokens the auth strategy obtained while fetching it.
    fn redacted_pages(
        &self,
        ctx: &ActionContext,
        action: &str,
        input: Value,
        item: Option<Arc<jsonschema::Validator>>,
    ) -> Option<BoxStream<'static, Result<Page, ActionError>>> {
        let pages = self.connector.listing(ctx.clone(), action, input)?;
        let ctx = ctx.clone();
        let action = action.to_string();
        Some(Box::pin(futures::StreamExt::map(pages, move |page| {
            let redactor = output_redactor(&ctx);
            let mut page = page.map_err(|e| redactor.redact_error(e))?;
            for r in &mut page.records {
                redactor.redact_value(r);
                if let Some(v) = &item {
                    check_item(v, &action, "record", r)?;
                }
            }
            Ok(page)
        })))
    }

    /// Run a paginated action to its end (or the limit that stops it) and collect the
    /// records; a listing cut short by a limit says so in [`Listing::truncated`]. An action
    /// that is not a listing is run with [`Dispatcher::execute`] and its output is the one
    /// record.
    pub async fn list(
        &self,
        ctx: &ActionContext,
        action: &str,
        input: Value,
    ) -> Result<Listing, ActionError> {
        let Some(mut pages) = self.pages(ctx, action, input.clone())? else {
            let output = self
                .execute(ctx, action, input, ExecuteOptions { all_pages: true })
                .await?;
            let records = match output {
                Value::Array(a) => a,
                other => vec![other],
            };
            return Ok(Listing {
                records,
                truncated: None,
            });
        };
        let mut listing = Listing::default();
        while let Some(page) = futures::StreamExt::next(&mut pages).await {
            let page = page?;
            listing.records.extend(page.records);
            listing.truncated = listing.truncated.or(page.truncated);
        }
        Ok(listing)
    }

    /// Validate input and start a streaming action.
    pub async fn stream(
        &self,
        ctx: &ActionContext,
        action: &str,
        input: Value,
    ) -> Result<EventStream, ActionError> {
        let s = self.check_input(action, &input)?;
        let item = s.item.clone();
        let usage = s.usage.clone();
        if !self
            .spec()
            .actions
            .get(action)
            .is_some_and(|a| a.supports_streaming)
        {
            return Err(ActionError::user(
                "not_streaming",
                format!("action `{action}` does not stream"),
            ));
        }
        let tally = usage.map(|u| StreamTally::new(ctx, action, u, input.clone()));
        let started = self.connector.stream(ctx, action, input).await;
        let redactor = output_redactor(ctx);
        let stream = started.map_err(|e| redactor.redact_error(e))?;
        let checked = CheckedStream {
            inner: stream,
            redactor,
            item,
            action: action.to_string(),
            tally,
        };
        Ok(Box::pin(futures::stream::unfold(checked, |mut s| async {
            let next = s.next().await?;
            Some((next, s))
        })))
    }

    /// Run the connection check.
    pub async fn test(&self, ctx: &ActionContext) -> Result<Value, ActionError> {
        self.connector
            .test(ctx)
            .await
            .map_err(|e| ctx.instance.redactor().redact_error(e))
    }
}
