//! `connector run` and `connector test`: execute a spec's action or connection check.

use std::sync::Arc;

use connector_runtime::{ActionError, CancellationToken, ExecuteOptions, InstanceRuntime};
use connector_spec::AuthMode;
use futures::StreamExt;
use serde_json::Value;

use crate::Outcome;
use crate::commands::instance::{Failed, Loaded, RunArgs, action_error, load, parse_input, report};
use crate::commands::records::{Closed, OutputFormat, RecordWriter};
use crate::output::{ColorChoice, Stream, emit};

/// What `run` and `test` execute with.
struct Setup {
    dispatcher: Arc<connector_runtime::Dispatcher>,
    runtime: InstanceRuntime,
    /// The user the calls act as (the local user on a per-user spec).
    user: String,
    /// What to do when a per-user call finds no usable token.
    login_hint: Option<String>,
}

async fn setup(args: &RunArgs<'_>, color: ColorChoice) -> anyhow::Result<Option<Setup>> {
    let Some(Loaded {
        dispatcher,
        instance,
    }) = load(args.spec, args.config, args.secrets, color)?
    else {
        return Ok(None);
    };
    let runtime = InstanceRuntime::new(instance.clone()).map_err(action_error)?;
    if instance.auth_mode() != AuthMode::PerUser {
        return Ok(Some(Setup {
            dispatcher,
            runtime,
            user: args.user.to_string(),
            login_hint: None,
        }));
    }
    // A per-user spec acts as the local user with the tokens `connector auth login` stored.
    let user = crate::commands::auth::resolve_user(args.user)?;
    let instance_id = args.instance.unwrap_or(&instance.spec.id).to_string();
    let hint = crate::commands::auth::login_hint(args, &user);
    let runtime = match crate::commands::auth::with_stored_tokens(
        runtime,
        &instance,
        &instance_id,
        &user,
        args.store,
    )
    .await
    {
        Ok(r) => r,
        Err(e) => {
            if let Some(Failed(ae)) = e.downcast_ref::<Failed>() {
                report(ae);
                emit(Stream::Stderr, &format!("{hint}\n"));
                return Ok(None);
            }
            return Err(e);
        }
    };
    Ok(Some(Setup {
        dispatcher,
        runtime,
        user,
        login_hint: Some(hint),
    }))
}

/// Print a failure and, when it means the user has no usable token, what to run.
fn report_with_hint(e: &ActionError, hint: Option<&str>) {
    report(e);
    if let Some(hint) = hint
        && matches!(e.code, "not_authorized" | "token_revoked")
    {
        emit(Stream::Stderr, &format!("{hint}\n"));
    }
}

fn cancel_on_ctrl_c() -> CancellationToken {
    let token = CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            t.cancel();
        }
    });
    token
}

fn print_json(v: &Value) {
    let text = serde_json::to_string_pretty(v).unwrap_or_else(|_| "null".into());
    emit(Stream::Stdout, &format!("{text}\n"));
}

/// What `connector run` prints.
#[derive(Debug, Clone, Copy)]
pub struct RunOutput {
    pub all_pages: bool,
    pub format: OutputFormat,
}

/// `connector run`.
pub async fn run(
    args: RunArgs<'_>,
    action: &str,
    input: Option<&str>,
    output: RunOutput,
    color: ColorChoice,
) -> anyhow::Result<Outcome> {
    let input = parse_input(input)?;
    let Setup {
        dispatcher,
        runtime,
        user,
        login_hint,
    } = match setup(&args, color).await {
        Ok(Some(v)) => v,
        Ok(None) => return Ok(Outcome::Invalid),
        Err(e) => return fail(e),
    };
    let hint = login_hint.as_deref();
    let ctx = runtime.context(&user, cancel_on_ctrl_c());
    let mut out = RecordWriter::new(output.format);
    let result = print_action(&dispatcher, &ctx, action, input, output, &mut out).await;
    match result {
        // A reader that closed stdout (`| head`) has what it wanted.
        Ok(()) | Err(Printed::Closed) => Ok(Outcome::Success),
        Err(Printed::Failed(e)) => {
            let _ = out.flush();
            report_with_hint(&e, hint);
            Ok(Outcome::Invalid)
        }
    }
}

/// Why printing an action's result ended early.
enum Printed {
    Failed(ActionError),
    Closed,
}

impl From<ActionError> for Printed {
    fn from(e: ActionError) -> Printed {
        Printed::Failed(e)
    }
}

impl From<Closed> for Printed {
    fn from(_: Closed) -> Printed {
        Printed::Closed
    }
}

/// Run the action and print as results arrive: events of a streaming action, records of a
/// listing page by page (constant memory), or the one output.
async fn print_action(
    dispatcher: &connector_runtime::Dispatcher,
    ctx: &connector_runtime::ActionContext,
    action: &str,
    input: Value,
    output: RunOutput,
    out: &mut RecordWriter,
) -> Result<(), Printed> {
    let a = dispatcher.spec().actions.get(action);
    if a.is_some_and(|a| a.supports_streaming) {
        let mut events = dispatcher.stream(ctx, action, input).await?;
        while let Some(ev) = events.next().await {
            let ev = ev?;
            out.event(&ev.event, &ev.data)?;
        }
        return Ok(());
    }
    if output.all_pages {
        // Records written as the JSON text they came in where the listing allows it (no
        // value is built for them); as values otherwise.
        if let Some(pages) = dispatcher.raw_pages(ctx, action, input.clone())? {
            return print_pages(pages, out, |p, out| {
                p.records.iter().try_for_each(|r| out.raw_record(r.get()))?;
                Ok(p.truncated)
            })
            .await;
        }
        if let Some(pages) = dispatcher.pages(ctx, action, input.clone())? {
            return print_pages(pages, out, |p, out| {
                p.records.iter().try_for_each(|r| out.record(r))?;
                Ok(p.truncated)
            })
            .await;
        }
    }
    let listing = dispatcher.is_listing(action);
    let value = dispatcher
        .execute(
            ctx,
            action,
            input,
            ExecuteOptions {
                all_pages: output.all_pages,
            },
        )
        .await?;
    match value {
        Value::Array(records) if listing => {
            for r in &records {
                out.record(r)?;
            }
            out.end_listing()?;
        }
        other => out.value(&other)?,
    }
    Ok(())
}

/// Print every page of a listing as it arrives (`write` writes one page's records and says
/// whether a limit cut the listing there), then close the listing and warn on stderr when it
/// was cut short.
async fn print_pages<P>(
    mut pages: futures::stream::BoxStream<'static, Result<P, connector_runtime::ActionError>>,
    out: &mut RecordWriter,
    write: impl Fn(&P, &mut RecordWriter) -> Result<Option<connector_runtime::Truncation>, Closed>,
) -> Result<(), Printed> {
    let mut truncated = None;
    while let Some(page) = pages.next().await {
        let page = page?;
        truncated = truncated.or(write(&page, out)?);
        out.flush()?;
    }
    out.end_listing()?;
    if let Some(t) = truncated {
        emit(Stream::Stderr, &format!("warning: {t}\n"));
    }
    Ok(())
}

/// `connector test`.
pub async fn test(args: RunArgs<'_>, color: ColorChoice) -> anyhow::Result<Outcome> {
    let Setup {
        dispatcher,
        runtime,
        user,
        login_hint,
    } = match setup(&args, color).await {
        Ok(Some(v)) => v,
        Ok(None) => return Ok(Outcome::Invalid),
        Err(e) => return fail(e),
    };
    let hint = login_hint.as_deref();
    let ctx = runtime.context(&user, cancel_on_ctrl_c());
    match dispatcher.test(&ctx).await {
        Ok(v) => {
            emit(
                Stream::Stderr,
                &format!("connection test of {} passed\n", dispatcher.spec().id),
            );
            print_json(&v);
            Ok(Outcome::Success)
        }
        Err(e) => {
            report_with_hint(&e, hint);
            Ok(Outcome::Invalid)
        }
    }
}

/// Instance errors (bad config or secrets) are action failures (exit 1), not CLI errors.
fn fail(e: anyhow::Error) -> anyhow::Result<Outcome> {
    match e.downcast_ref::<Failed>() {
        Some(Failed(ae)) => {
            report(ae);
            Ok(Outcome::Invalid)
        }
        None => Err(e),
    }
}
