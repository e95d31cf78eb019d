//! Instance lifecycle: the runtime calls a connector's `preSave`, `postSave` and `postDelete`
//! hooks around whatever stores instances (the server's store, a test's map).
//!
//! - save: `preSave` runs first and an error refuses the save (nothing is written); then the
//!   caller's `persist`; then `postSave`. A `postSave` failure is logged and reported in the
//!   outcome, not turned into a failed save: the instance is already stored.
//! - delete: the caller's `remove`, then `postDelete`, whose failure is reported likewise.

use std::future::Future;

use crate::connector::Hook;
use crate::context::ActionContext;
use crate::dispatch::Dispatcher;
use crate::error::ActionError;

/// What a save or delete did.
#[derive(Debug)]
pub struct Outcome<T> {
    /// What `persist` / `remove` returned.
    pub value: T,
    /// The after-hook's error, if it failed.
    pub hook_error: Option<ActionError>,
}

impl Dispatcher {
    /// Save an instance with its hooks: `preSave`, `persist`, `postSave`.
    pub async fn save_instance<T, F, Fut>(
        &self,
        ctx: &ActionContext,
        persist: F,
    ) -> Result<Outcome<T>, ActionError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, ActionError>>,
    {
        self.run_hook(ctx, Hook::PreSave).await?;
        let value = persist().await?;
        let hook_error = self.after_hook(ctx, Hook::PostSave).await;
        Ok(Outcome { value, hook_error })
    }

    /// Delete an instance with its hook: `remove`, then `postDelete`.
    pub async fn delete_instance<T, F, Fut>(
        &self,
        ctx: &ActionContext,
        remove: F,
    ) -> Result<Outcome<T>, ActionError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, ActionError>>,
    {
        let value = remove().await?;
        let hook_error = self.after_hook(ctx, Hook::PostDelete).await;
        Ok(Outcome { value, hook_error })
    }

    async fn run_hook(&self, ctx: &ActionContext, hook: Hook) -> Result<(), ActionError> {
        self.connector()
            .hook(ctx, hook)
            .await
            .map_err(|e| ctx.instance.redactor().redact_error(e))
    }

    async fn after_hook(&self, ctx: &ActionContext, hook: Hook) -> Option<ActionError> {
        let e = self.run_hook(ctx, hook).await.err()?;
        tracing::error!(connector = %self.spec().id, hook = ?hook, code = %e.code, "hook failed: {}", e.message);
        Some(e)
    }
}
