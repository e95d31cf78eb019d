//! The declarative executor: runs the HTTP actions of a spec. Each concern has its own file:
//! `request.rs` builds requests from spec templates, `response.rs` maps replies (error rules,
//! output mapping), [`pagination`] follows listings (one [`pagination::Paginator`] per style),
//! [`streaming`] turns streaming replies into events (SSE, NDJSON, chunked).

use std::sync::Arc;

use connector_spec::{ConnectorSpec, Pagination, Request, ResponseMapping};
use serde_json::Value;

use crate::context::ActionContext;
use crate::error::ActionError;
use crate::template::Renderer;

pub mod pagination;
mod request;
mod response;
pub mod streaming;

pub use pagination::link_header::next_link;
pub use pagination::{DEFAULT_MAX_PAGES, Page, RawPage, pagination_of};
pub use request::template_context;
pub use response::parse_body;
pub use streaming::{EventStream, MAX_STREAM_EVENT_BYTES, StreamEvent};

/// Executes the HTTP actions of one spec.
#[derive(Debug)]
pub struct DeclarativeExecutor {
    pub spec: Arc<ConnectorSpec>,
    renderer: Renderer,
}

impl DeclarativeExecutor {
    pub fn new(spec: Arc<ConnectorSpec>) -> DeclarativeExecutor {
        let renderer = Renderer::for_spec(&spec);
        DeclarativeExecutor { spec, renderer }
    }

    /// Run an HTTP action once (first page only for paginated actions).
    pub async fn execute(
        &self,
        ctx: &ActionContext,
        action: &str,
        input: &Value,
    ) -> Result<Value, ActionError> {
        let (request, mapping) = self.http_parts(action)?;
        ctx.load_account().await?;
        let tctx = template_context(ctx, input, None);
        let req = self.build_request(ctx, request, &tctx)?;
        let (body, _) = self.call(ctx, req, mapping, input).await?;
        self.map_output(ctx, mapping, input, body)
    }

    /// The pagination that applies to an action.
    /// An action's own `pagination`, else `policies.pagination` for GET actions: a default
    /// listing style must not turn a POST that creates something into a listing.
    pub fn pagination(&self, action: &str) -> Option<&Pagination> {
        pagination_of(&self.spec, action)
    }

    /// The request and response mapping of an HTTP action.
    fn http_parts(
        &self,
        action: &str,
    ) -> Result<(&Request, Option<&ResponseMapping>), ActionError> {
        let a = self.spec.actions.get(action).ok_or_else(|| {
            ActionError::user("unknown_action", format!("unknown action `{action}`"))
        })?;
        match &a.implementation {
            connector_spec::Implementation::Http { request, response } => {
                Ok((request, response.as_ref()))
            }
            i if i.is_usage_report() => Err(ActionError::system(
                "no_handler",
                format!("action `{action}` reports usage: call it through a `Dispatcher`"),
            )),
            connector_spec::Implementation::Code { .. } => Err(ActionError::system(
                "no_handler",
                format!("action `{action}` is implemented in code and no handler is registered"),
            )),
        }
    }
}
