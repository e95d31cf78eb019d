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
use crate::executor::EventStream;

/// The instance's secrets plus credentials its auth strategy obtained at run time.
fn output_redactor(ctx: &ActionContext) -> crate::secrets::Redactor {
    let runtime = ctx.client.auth.runtime_secrets();
    if runtime.is_empty() {
        ctx.instance.redactor().clone()
    } else {
        ctx.instance.redactor().with(runtime)
    }
}

/// The error for an action name the spec does not have.
pub fn unknown_action(spec: &ConnectorSpec, action: &str) -> ActionError {
    let names: Vec<&str> = spec.actions.keys().map(String::as_str).collect();
    ActionError::user(
        "unknown_action",
        format!(
            "{} has no action `{action}`; available: {}",
            spec.id,
            names.join(", ")
        ),
    )
}

struct Schemas {
    input: jsonschema::Validator,
    output: Option<jsonschema::Validator>,
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
            schemas.insert(name.clone(), Schemas { input, output });
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
            .ok_or_else(|| unknown_action(self.spec(), action))?;
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
    /// session of its own (init, the action, cleanup); see [`crate::session`].
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
        Ok(output)
    }

    /// Validate input and start a streaming action.
    pub async fn stream(
        &self,
        ctx: &ActionContext,
        action: &str,
        input: Value,
    ) -> Result<EventStream, ActionError> {
        self.check_input(action, &input)?;
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
        let started = self.connector.stream(ctx, action, input).await;
        let redactor = output_redactor(ctx);
        let stream = started.map_err(|e| redactor.redact_error(e))?;
        Ok(Box::pin(futures::StreamExt::map(stream, move |item| {
            item.map(|mut ev| {
                redactor.redact_value(&mut ev.data);
                ev
            })
            .map_err(|e| redactor.redact_error(e))
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
