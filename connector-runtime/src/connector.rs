//! The `Connector` trait that declarative specs and compiled (macro) connectors both implement,
//! and the declarative implementation with optional code handlers.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use connector_spec::{ConnectorSpec, HookRequest, HookSpec, Implementation, ResponseMapping};
use futures::StreamExt;
use serde_json::Value;

use crate::context::ActionContext;
use crate::error::ActionError;
use crate::executor::{DeclarativeExecutor, EventStream, Page, RawPage};

/// Lifecycle hooks a connector may implement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hook {
    /// Before an instance is saved; an error refuses the save.
    PreSave,
    /// After an instance is saved.
    PostSave,
    /// After an instance is deleted.
    PostDelete,
}

impl Hook {
    /// The hook's name as a spec writes it (`preSave`).
    pub fn name(self) -> &'static str {
        match self {
            Hook::PreSave => "preSave",
            Hook::PostSave => "postSave",
            Hook::PostDelete => "postDelete",
        }
    }
}

/// How to run an action.
#[derive(Debug, Clone, Copy, Default)]
pub struct ExecuteOptions {
    /// Follow pagination and return every record as one array.
    pub all_pages: bool,
}

/// A connector type: its spec and how its actions run.
#[async_trait]
pub trait Connector: Send + Sync {
    fn spec(&self) -> &Arc<ConnectorSpec>;

    /// Run an action with validated input.
    async fn execute(
        &self,
        ctx: &ActionContext,
        action: &str,
        input: Value,
        opts: ExecuteOptions,
    ) -> Result<Value, ActionError>;

    /// Run a streaming action.
    async fn stream(
        &self,
        ctx: &ActionContext,
        action: &str,
        input: Value,
    ) -> Result<EventStream, ActionError> {
        let _ = (ctx, input);
        Err(ActionError::user(
            "not_streaming",
            format!("action `{action}` does not stream"),
        ))
    }

    /// The pages of a paginated action, fetched as the stream is polled; `None` when the
    /// action is not a listing (the default).
    fn listing(
        &self,
        ctx: ActionContext,
        action: &str,
        input: Value,
    ) -> Option<futures::stream::BoxStream<'static, Result<Page, ActionError>>> {
        let _ = (ctx, action, input);
        None
    }

    /// The pages of a listing with its records kept as the JSON text they came in, for a
    /// caller that writes them out unchanged; `None` when the action cannot be read that
    /// way (the default), and the caller uses [`Connector::listing`].
    fn raw_listing(
        &self,
        ctx: ActionContext,
        action: &str,
        input: Value,
    ) -> Option<futures::stream::BoxStream<'static, Result<RawPage, ActionError>>> {
        let _ = (ctx, action, input);
        None
    }

    /// The connection check.
    async fn test(&self, ctx: &ActionContext) -> Result<Value, ActionError>;

    /// A lifecycle hook; the default does nothing.
    async fn hook(&self, ctx: &ActionContext, hook: Hook) -> Result<(), ActionError> {
        let _ = (ctx, hook);
        Ok(())
    }
}

/// An action implemented in Rust.
#[async_trait]
pub trait ActionHandler: Send + Sync {
    async fn call(&self, ctx: &ActionContext, input: Value) -> Result<Value, ActionError>;
}

/// A lifecycle hook implemented in Rust.
#[async_trait]
pub trait HookHandler: Send + Sync {
    async fn call(&self, ctx: &ActionContext, hook: Hook) -> Result<(), ActionError>;
}

/// A connector run from its spec, with Rust handlers for `handler: code` actions.
pub struct DeclarativeConnector {
    executor: Arc<DeclarativeExecutor>,
    handlers: HashMap<String, Arc<dyn ActionHandler>>,
    test_handler: Option<Arc<dyn ActionHandler>>,
    hooks: Option<Arc<dyn HookHandler>>,
}

impl DeclarativeConnector {
    pub fn new(spec: Arc<ConnectorSpec>) -> DeclarativeConnector {
        DeclarativeConnector {
            executor: Arc::new(DeclarativeExecutor::new(spec)),
            handlers: HashMap::new(),
            test_handler: None,
            hooks: None,
        }
    }

    /// Register the handler of a `handler: code` action.
    pub fn with_handler(
        mut self,
        action: &str,
        handler: Arc<dyn ActionHandler>,
    ) -> DeclarativeConnector {
        self.handlers.insert(action.to_string(), handler);
        self
    }

    /// Register the handler of a `test: { handler: code }` connection check.
    pub fn with_test_handler(mut self, handler: Arc<dyn ActionHandler>) -> DeclarativeConnector {
        self.test_handler = Some(handler);
        self
    }

    /// Register the lifecycle hook handler.
    pub fn with_hooks(mut self, hooks: Arc<dyn HookHandler>) -> DeclarativeConnector {
        self.hooks = Some(hooks);
        self
    }

    pub fn executor(&self) -> &Arc<DeclarativeExecutor> {
        &self.executor
    }

    /// `ctx` with its client set up for `action`'s requests (idempotency key, body limit);
    /// the key's value template is rendered here, once per call.
    fn action_context(
        &self,
        ctx: &ActionContext,
        action: &str,
        input: &Value,
    ) -> Result<ActionContext, ActionError> {
        let mut ctx = ctx.clone();
        let Some(a) = self.executor.spec.actions.get(action) else {
            return Ok(ctx);
        };
        let key = match &a.implementation {
            Implementation::Http { request, .. } => request.idempotency_key.as_ref(),
            Implementation::Code { .. } => None,
        };
        if key.is_none() && a.max_response_bytes.is_none() {
            return Ok(ctx);
        }
        let client = ctx.client.for_action(a, |template| {
            let tctx = crate::executor::template_context(&ctx, input, None);
            crate::template::Renderer::new().render_str(template, &tctx)
        })?;
        ctx.client = client;
        Ok(ctx)
    }

    /// A stream of pages for a paginated action.
    pub fn pages(
        &self,
        ctx: ActionContext,
        action: &str,
        input: Value,
    ) -> futures::stream::BoxStream<'static, Result<Page, ActionError>> {
        self.executor.pages(ctx, action, input)
    }
}

#[async_trait]
impl Connector for DeclarativeConnector {
    fn spec(&self) -> &Arc<ConnectorSpec> {
        &self.executor.spec
    }

    async fn execute(
        &self,
        ctx: &ActionContext,
        action: &str,
        input: Value,
        opts: ExecuteOptions,
    ) -> Result<Value, ActionError> {
        let spec = &self.executor.spec;
        let a = spec
            .actions
            .get(action)
            .ok_or_else(|| crate::error::unknown_action(spec, action))?;
        let ctx = &self.action_context(ctx, action, &input)?;
        if a.implementation.is_usage_report() {
            return crate::usage::tally::answer(ctx, &input).await;
        }
        if let Implementation::Code { .. } = a.implementation {
            let h = self.handlers.get(action).ok_or_else(|| {
                ActionError::system(
                    "no_handler",
                    format!(
                        "action `{action}` is implemented in code and no handler is registered"
                    ),
                )
            })?;
            return h.call(ctx, input).await;
        }
        if self.executor.pagination(action).is_some() {
            // A listing returns records (what its output schema describes): every page's with
            // `all_pages`, else the first page's.
            let mut pages = self.executor.record_pages(ctx.clone(), action, input);
            let mut records = Vec::new();
            while let Some(page) = pages.next().await {
                records.extend(page?.records);
                if !opts.all_pages {
                    break;
                }
            }
            return Ok(Value::Array(records));
        }
        self.executor.execute(ctx, action, &input).await
    }

    async fn stream(
        &self,
        ctx: &ActionContext,
        action: &str,
        input: Value,
    ) -> Result<EventStream, ActionError> {
        let ctx = &self.action_context(ctx, action, &input)?;
        self.executor.stream(ctx, action, &input).await
    }

    fn raw_listing(
        &self,
        ctx: ActionContext,
        action: &str,
        input: Value,
    ) -> Option<futures::stream::BoxStream<'static, Result<RawPage, ActionError>>> {
        let a = self.executor.spec.actions.get(action)?;
        if matches!(a.implementation, Implementation::Code { .. }) {
            return None;
        }
        // A key that does not render is the error of `listing`, which the caller falls to.
        let ctx = self.action_context(&ctx, action, &input).ok()?;
        self.executor.raw_record_pages(ctx, action, input)
    }

    fn listing(
        &self,
        ctx: ActionContext,
        action: &str,
        input: Value,
    ) -> Option<futures::stream::BoxStream<'static, Result<Page, ActionError>>> {
        let a = self.executor.spec.actions.get(action)?;
        let code = matches!(a.implementation, Implementation::Code { .. });
        if code || self.executor.pagination(action).is_none() {
            return None;
        }
        // A key that does not render fails the listing's first page.
        match self.action_context(&ctx, action, &input) {
            Ok(ctx) => Some(self.executor.record_pages(ctx, action, input)),
            Err(e) => Some(futures::stream::once(async move { Err(e) }).boxed()),
        }
    }

    async fn test(&self, ctx: &ActionContext) -> Result<Value, ActionError> {
        let spec = &self.executor.spec;
        let Some(test) = &spec.test else {
            return Err(ActionError::user(
                "no_test",
                format!("{} declares no connection test", spec.id),
            ));
        };
        if let Some(action) = &test.action {
            let input = test.input.clone().unwrap_or_else(|| serde_json::json!({}));
            return self
                .execute(ctx, action, input, ExecuteOptions::default())
                .await;
        }
        if let Some(req) = &test.request {
            let input = serde_json::json!({});
            ctx.load_account().await?;
            let tctx = crate::executor::template_context(ctx, &input, None);
            let r = self.executor.build_request(ctx, req, &tctx)?;
            let (body, _) = self
                .executor
                .call(ctx, r, test.response.as_ref(), &input)
                .await?;
            return self
                .executor
                .map_output(ctx, test.response.as_ref(), &input, body);
        }
        match &self.test_handler {
            Some(h) => h.call(ctx, serde_json::json!({})).await,
            None => Err(ActionError::system(
                "no_handler",
                "the connection test is implemented in code and no handler is registered",
            )),
        }
    }

    async fn hook(&self, ctx: &ActionContext, hook: Hook) -> Result<(), ActionError> {
        let hooks = &self.executor.spec.hooks;
        let declared = match hook {
            Hook::PreSave => hooks.pre_save.as_ref(),
            Hook::PostSave => hooks.post_save.as_ref(),
            Hook::PostDelete => hooks.post_delete.as_ref(),
        };
        match (declared, &self.hooks) {
            (None, _) => Ok(()),
            (Some(HookSpec::Http(h)), _) => self.request_hook(ctx, hook, h).await,
            (Some(HookSpec::Code(_)), Some(handler)) => handler.call(ctx, hook).await,
            (Some(HookSpec::Code(_)), None) => Err(ActionError::system(
                "no_handler",
                format!("hook {hook:?} is declared but no handler is registered"),
            )),
        }
    }
}

impl DeclarativeConnector {
    /// A declarative hook: its request, sent like a connection test's (the instance's auth,
    /// egress, retry, rate limit, timeouts and body limit), its reply checked by the hook's
    /// error rules and then the HTTP status. The reply's body is discarded. The error keeps
    /// its class and code, and its message says which hook failed.
    async fn request_hook(
        &self,
        ctx: &ActionContext,
        hook: Hook,
        h: &HookRequest,
    ) -> Result<(), ActionError> {
        let input = serde_json::json!({});
        ctx.load_account().await?;
        let tctx = crate::executor::template_context(ctx, &input, None);
        let mapping = ResponseMapping {
            output: None,
            errors: h.response.errors.clone(),
            format: None,
        };
        let sent = async {
            let r = self.executor.build_request(ctx, &h.request, &tctx)?;
            self.executor
                .call_bytes(ctx, r, Some(&mapping), &input)
                .await
        };
        match sent.await {
            Ok(_) => Ok(()),
            Err(mut e) => {
                e.message = format!("{} hook failed: {}", hook.name(), e.message);
                Err(ctx.client.scrub(e))
            }
        }
    }
}
