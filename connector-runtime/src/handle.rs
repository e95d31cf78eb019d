//! The short path to run an action from Rust: [`Registry::instance`] validates config and
//! secrets against a registered type and returns an [`InstanceHandle`] that executes actions.

use std::sync::Arc;

use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::connector::ExecuteOptions;
use crate::context::{ActionContext, InstanceRuntime};
use crate::dispatch::Dispatcher;
use crate::error::ActionError;
use crate::instance::ConnectorInstance;
use crate::registry::Registry;

/// A registered connector type bound to one validated instance (its client with auth and
/// policies built once), ready to run actions.
#[derive(Clone)]
pub struct InstanceHandle {
    dispatcher: Arc<Dispatcher>,
    runtime: InstanceRuntime,
}

impl Registry {
    /// An instance of the registered type `id` with `config` and `secrets` (JSON objects,
    /// checked against the spec), ready to run actions.
    pub fn instance(
        &self,
        id: &str,
        config: Value,
        secrets: Value,
    ) -> Result<InstanceHandle, ActionError> {
        let dispatcher = self.get(id).ok_or_else(|| {
            ActionError::user(
                "unknown_connector",
                format!("no connector type {id} is registered"),
            )
        })?;
        let instance = ConnectorInstance::new(Arc::clone(dispatcher.spec()), config, secrets)?;
        Ok(InstanceHandle {
            dispatcher: Arc::clone(dispatcher),
            runtime: InstanceRuntime::new(instance)?,
        })
    }
}

impl InstanceHandle {
    /// Run `action` with `input` (validated against its schema, and its output too) as no
    /// particular user, with default options.
    pub async fn execute(&self, action: &str, input: Value) -> Result<Value, ActionError> {
        let ctx = self.context("", CancellationToken::new());
        self.execute_in(&ctx, action, input, ExecuteOptions::default())
            .await
    }

    /// Run `action` in a context of your own (a user, a cancellation token, a session) and
    /// with options such as `all_pages`.
    pub async fn execute_in(
        &self,
        ctx: &ActionContext,
        action: &str,
        input: Value,
        opts: ExecuteOptions,
    ) -> Result<Value, ActionError> {
        self.dispatcher.execute(ctx, action, input, opts).await
    }

    /// A context for one call as `user_id` (empty for shared use), cancelled by `cancel`.
    pub fn context(&self, user_id: &str, cancel: CancellationToken) -> ActionContext {
        self.runtime.context(user_id, cancel)
    }

    /// The dispatcher of the connector type (schemas, streaming, listings).
    pub fn dispatcher(&self) -> &Arc<Dispatcher> {
        &self.dispatcher
    }

    /// The instance's runtime (its client with auth and policies).
    pub fn runtime(&self) -> &InstanceRuntime {
        &self.runtime
    }
}
