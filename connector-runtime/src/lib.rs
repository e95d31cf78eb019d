//! The shared async runtime: execute connector actions with every shared auth pattern and the
//! spec's policies enforced on the wire.
//!
//! A [`Registry`] holds connector types (declarative specs or compiled connectors) behind the
//! [`Connector`] trait; a [`ConnectorInstance`] is a spec with validated config and secrets; an
//! [`InstanceRuntime`] builds the policy-enforcing [`HttpClient`] for it and hands out an
//! [`ActionContext`] per call; a [`Dispatcher`] validates input and output around each call.

pub mod auth;
pub mod builtin;
pub mod client;
pub mod compiled;
pub mod connector;
pub mod context;
pub mod dispatch;
pub mod egress;
pub mod error;
pub mod executor;
pub mod http;
pub mod instance;
pub mod lifecycle;
pub mod listing;
pub mod oauth;
pub mod registry;
pub mod secrets;
pub mod session;
pub mod store;
pub mod template;

pub use auth::{AuthStrategy, UserAuthProvider};
pub use client::{HttpClient, InMemoryTransport, SendOptions, Transport};
pub use connector::{
    ActionHandler, Connector, DeclarativeConnector, ExecuteOptions, Hook, HookHandler,
};
pub use context::{ActionContext, InstanceRuntime};
pub use dispatch::Dispatcher;
pub use egress::EgressPolicy;
pub use error::{ActionError, ErrorClass, ErrorKind};
pub use executor::{EventStream, Page, StreamEvent};
pub use instance::ConnectorInstance;
pub use listing::{Listing, ListingLimit, Truncation};
pub use registry::Registry;
pub use secrets::{Redactor, Secrets};
pub use session::{Session, SessionInfo};
pub use tokio_util::sync::CancellationToken;

/// `#[connector]`, `#[action]` and `include_spec!`: see `docs/rust-connectors.md`.
pub use connector_macros::{action, connector, include_spec};

/// Every `request.path` template in a spec.
pub fn spec_path_templates(spec: &connector_spec::ConnectorSpec) -> Vec<String> {
    let mut out: Vec<String> = spec
        .actions
        .values()
        .filter_map(|a| match &a.implementation {
            connector_spec::Implementation::Http { request, .. } => request.path.clone(),
            _ => None,
        })
        .chain(
            spec.test
                .as_ref()
                .and_then(|t| t.request.as_ref()?.path.clone()),
        )
        .collect();
    out.retain(|s| connector_spec::template::is_template(s));
    out
}

/// Every template string in a spec, for precompilation.
pub fn spec_templates(spec: &connector_spec::ConnectorSpec) -> Vec<String> {
    use connector_spec::{Body, Implementation, Request};
    let mut out = Vec::new();
    fn json_strings(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::String(s) => out.push(s.clone()),
            serde_json::Value::Array(a) => a.iter().for_each(|v| json_strings(v, out)),
            serde_json::Value::Object(m) => m.values().for_each(|v| json_strings(v, out)),
            _ => {}
        }
    }
    fn request(r: &Request, out: &mut Vec<String>) {
        out.extend(r.url.clone());
        out.extend(r.query.values().cloned());
        out.extend(r.headers.values().cloned());
        match &r.body {
            Some(Body::Json(v)) => json_strings(v, out),
            Some(Body::Form(m)) | Some(Body::Multipart(m)) => out.extend(m.values().cloned()),
            Some(Body::Text(t)) => out.push(t.clone()),
            None => {}
        }
    }
    out.extend(spec.base_url.clone());
    out.extend(spec.auth.headers.values().cloned());
    for a in spec.actions.values() {
        if let Implementation::Http {
            request: r,
            response,
        } = &a.implementation
        {
            request(r, &mut out);
            if let Some(m) = response {
                if let Some(o) = &m.output {
                    json_strings(o, &mut out);
                }
                out.extend(m.errors.iter().filter_map(|e| e.message.clone()));
            }
        }
    }
    if let Some(t) = &spec.test
        && let Some(r) = &t.request
    {
        request(r, &mut out);
    }
    out.retain(|s| connector_spec::template::is_template(s));
    out
}
