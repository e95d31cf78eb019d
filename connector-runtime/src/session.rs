//! Sessions: state one action opens, member actions use, and another action closes
//! (Crowdstrike real-time response: open a session on a host, run commands, delete it).
//!
//! A spec declares them under `sessions` and marks member actions with `session: <name>`.
//! [`Dispatcher::execute`] on a member action opens a session, runs the action inside it and
//! closes it again; [`Dispatcher::open_session`] keeps one open across several calls. Cleanup
//! runs whether the member actions succeed or fail, and also when a [`Session`] is dropped
//! without [`Session::close`].

use std::sync::Arc;

use connector_spec::SessionSpec;
use serde_json::{Map, Value};

use crate::connector::ExecuteOptions;
use crate::context::ActionContext;
use crate::dispatch::Dispatcher;
use crate::error::ActionError;

pub use crate::context::SessionInfo;

/// An open session. Close it with [`Session::close`]; dropping it closes it in the
/// background (on the current tokio runtime) and logs the outcome.
pub struct Session {
    dispatcher: Arc<Dispatcher>,
    ctx: ActionContext,
    cleanup: Option<String>,
    closed: bool,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("info", &self.ctx.session)
            .field("closed", &self.closed)
            .finish()
    }
}

/// The fields of `input` that `schema` declares (all of them when it lists none).
fn input_for(schema: &Value, input: &Value) -> Value {
    let (Some(props), Value::Object(fields)) =
        (schema.get("properties").and_then(Value::as_object), input)
    else {
        return input.clone();
    };
    let kept: Map<String, Value> = fields
        .iter()
        .filter(|(k, _)| props.contains_key(k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Value::Object(kept)
}

fn session_spec<'s>(d: &'s Dispatcher, name: &str) -> Result<&'s SessionSpec, ActionError> {
    d.spec().sessions.get(name).ok_or_else(|| {
        ActionError::user(
            "unknown_session",
            format!(
                "{} has no session `{name}`; available: {}",
                d.spec().id,
                d.spec()
                    .sessions
                    .keys()
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
    })
}

impl Dispatcher {
    /// Open session `name`: run its `init` action with the fields of `input` that init's
    /// schema declares and read the session id from init's output.
    pub async fn open_session(
        self: &Arc<Self>,
        ctx: &ActionContext,
        name: &str,
        input: &Value,
    ) -> Result<Session, ActionError> {
        let info = self.init_session(ctx, name, input).await?;
        let cleanup = session_spec(self, name)?.cleanup.clone();
        let mut ctx = ctx.clone();
        ctx.session = Some(info);
        Ok(Session {
            dispatcher: Arc::clone(self),
            ctx,
            cleanup,
            closed: false,
        })
    }

    async fn init_session(
        &self,
        ctx: &ActionContext,
        name: &str,
        input: &Value,
    ) -> Result<SessionInfo, ActionError> {
        let s = session_spec(self, name)?;
        let init_schema = &self.spec().actions[s.init.as_str()].input;
        let data = self
            .execute_plain(
                ctx,
                &s.init,
                input_for(init_schema, input),
                ExecuteOptions::default(),
            )
            .await?;
        let id =
            s.id.evaluate(&data)
                .and_then(|v| match v {
                    Value::String(s) if !s.is_empty() => Some(s),
                    Value::Number(n) => Some(n.to_string()),
                    _ => None,
                })
                .ok_or_else(|| {
                    ActionError::system(
                        "session_id_missing",
                        format!(
                            "`{}` opened session `{name}` but its output has no id at `{}`",
                            s.init, s.id
                        ),
                    )
                })?;
        tracing::debug!(session = name, "session opened");
        Ok(SessionInfo {
            name: name.to_string(),
            id,
            data,
        })
    }

    /// Run a member action in a session of its own: open, run, close. Cleanup runs when the
    /// action fails too; a cleanup failure after a successful action is logged, not returned
    /// (the action's effect happened and its output is the caller's).
    pub(crate) async fn execute_in_new_session(
        &self,
        ctx: &ActionContext,
        session: &str,
        action: &str,
        input: Value,
        opts: ExecuteOptions,
    ) -> Result<Value, ActionError> {
        let info = self.init_session(ctx, session, &input).await?;
        let mut sctx = ctx.clone();
        sctx.session = Some(info);
        let result = self.execute_plain(&sctx, action, input, opts).await;
        let cleanup = session_spec(self, session)?.cleanup.clone();
        let closed = match cleanup {
            Some(c) => close(self, &sctx, &c).await,
            None => Ok(()),
        };
        match (result, closed) {
            (Ok(v), Err(e)) => {
                tracing::warn!(session, code = %e.code, "session cleanup failed: {}", e.message);
                Ok(v)
            }
            (result, _) => result,
        }
    }
}

async fn close(d: &Dispatcher, ctx: &ActionContext, cleanup: &str) -> Result<(), ActionError> {
    let schema = &d.spec().actions[cleanup].input;
    let input = input_for(schema, &Value::Object(Map::new()));
    d.execute_plain(ctx, cleanup, input, ExecuteOptions::default())
        .await
        .map(|_| ())
}

impl Session {
    /// The session's name, id and init output.
    pub fn info(&self) -> &SessionInfo {
        self.ctx
            .session
            .as_ref()
            .expect("a Session always carries its info")
    }

    /// Run a member action of this session.
    pub async fn execute(&self, action: &str, input: Value) -> Result<Value, ActionError> {
        let name = &self.info().name;
        let member = self
            .dispatcher
            .spec()
            .actions
            .get(action)
            .is_some_and(|a| a.session.as_deref() == Some(name.as_str()));
        if !member {
            let spec = self.dispatcher.spec();
            if !spec.actions.contains_key(action) {
                return Err(crate::error::unknown_action(spec, action));
            }
            return Err(ActionError::user(
                "not_in_session",
                format!("action `{action}` does not run inside session `{name}`"),
            ));
        }
        self.dispatcher
            .execute_plain(&self.ctx, action, input, ExecuteOptions::default())
            .await
    }

    /// Run the session's cleanup action.
    pub async fn close(mut self) -> Result<(), ActionError> {
        self.closed = true;
        match self.cleanup.clone() {
            Some(c) => close(&self.dispatcher, &self.ctx, &c).await,
            None => Ok(()),
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if self.closed {
            return;
        }
        let Some(cleanup) = self.cleanup.take() else {
            return;
        };
        let name = self.info().name.clone();
        match tokio::runtime::Handle::try_current() {
            Ok(h) => {
                let d = Arc::clone(&self.dispatcher);
                let ctx = self.ctx.clone();
                h.spawn(async move {
                    if let Err(e) = close(&d, &ctx, &cleanup).await {
                        tracing::warn!(session = %name, code = %e.code, "session cleanup failed: {}", e.message);
                    }
                });
            }
            Err(_) => {
                tracing::warn!(session = %name, "session dropped outside a tokio runtime; cleanup did not run");
            }
        }
    }
}
