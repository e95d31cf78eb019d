//! Checking a spec: its structure against the format schema, then the rules types cannot say.
//!
//! * [`mod@format`]: keys, required keys, types, enum values and ranges, from the format schema
//!   generated from the model;
//! * [`values`]: single values (the id, URLs, header names, JSON paths);
//! * [`auth`], [`actions`], [`policies`], [`connection_test`], [`hooks`], [`sessions`]: conflicts between
//!   fields of one section;
//! * [`schemas`]: the embedded JSON Schemas and their `x-ui` hints;
//! * [`references`]: what must resolve once the whole file is read (templates, `optionsFrom`,
//!   `when`, `test.action`, sessions).
//!
//! The rule modules read the located tree, not the model, so they keep working next to a
//! structural mistake elsewhere and every problem of a file is reported in one run.

pub mod actions;
pub mod auth;
pub mod connection_test;
pub mod format;
pub mod hooks;
pub mod policies;
pub mod references;
pub mod schemas;
pub mod sessions;
pub mod values;

pub use references::{Outline, resolve};

use serde_json::Value;

use crate::decode::Decoder;
use crate::source::Span;
use crate::yaml::{Node, NodeValue};

/// Which variables a template may read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateScope {
    /// `config`, `secrets` (auth headers, the connection test request, hooks).
    Connection,
    /// `config`, `secrets` and, when the spec declares account values, `account`.
    BaseUrl,
    /// `config`, `secrets`, `input` of the named action.
    Request(String),
    /// `config`, `secrets`, `input`, `response` of the named action.
    Response(String),
    /// `config`, `secrets`, `response` (the connection test's and hooks' response rules).
    ConnectionResponse,
    /// `config` only: an auth type's default, rendered into its config when an instance is
    /// created (a secret must not become a config value).
    AuthDefault,
}

/// A template found while checking, resolved once all fields are known.
#[derive(Debug, Clone)]
pub struct PendingTemplate {
    pub text: String,
    pub node_span: Span,
    pub scope: TemplateScope,
}

/// A name that must resolve once everything is read.
#[derive(Debug, Clone)]
pub enum PendingRef {
    /// An action named by `optionsFrom`, `test.action` or a session.
    Action {
        name: String,
        span: Span,
        what: &'static str,
    },
    /// A session named by an action's `session`.
    Session {
        name: String,
        span: Span,
        action: String,
    },
    /// A field named by `x-ui.when`, in the schema called `schema` (`config`, `secrets`, or
    /// `<action>.input`).
    Field {
        name: String,
        span: Span,
        schema: String,
    },
}

/// Everything the rules learned that [`resolve`] checks at the end.
#[derive(Default)]
pub struct Pending {
    pub templates: Vec<PendingTemplate>,
    pub refs: Vec<PendingRef>,
    /// Schemas that are broken; references into them are not checked.
    pub broken_schemas: Vec<String>,
}

impl Pending {
    /// Note a string node that is a template.
    pub fn template(&mut self, n: &Node, scope: &TemplateScope) {
        if let Some(text) = n.as_str()
            && crate::template::is_template(text)
        {
            self.templates.push(PendingTemplate {
                text: text.to_string(),
                node_span: n.span,
                scope: scope.clone(),
            });
        }
    }

    /// Note every value of a string mapping (headers, query, form fields).
    pub fn templates_in_values(&mut self, map: &Node, scope: &TemplateScope) {
        for (_, v) in map.as_map().unwrap_or_default() {
            self.template(v, scope);
        }
    }

    /// Note every string inside a JSON value (a JSON body).
    pub fn templates_in_json(&mut self, n: &Node, scope: &TemplateScope) {
        match &n.value {
            NodeValue::Str(_) => self.template(n, scope),
            NodeValue::Seq(items) => items.iter().for_each(|i| self.templates_in_json(i, scope)),
            NodeValue::Map(entries) => entries
                .iter()
                .for_each(|(_, v)| self.templates_in_json(v, scope)),
            _ => {}
        }
    }

    /// Note an action named at `n`.
    pub fn action(&mut self, n: &Node, what: &'static str) {
        if let Some(name) = n.as_str() {
            self.refs.push(PendingRef::Action {
                name: name.to_string(),
                span: n.span,
                what,
            });
        }
    }
}

/// The span of `key`'s key node in mapping `n`, else `n`'s.
pub(crate) fn key_span(n: &Node, key: &str) -> Span {
    n.key_node(key).map_or(n.span, |k| k.span)
}

/// An empty span at the start of `n`: where a missing key would go.
pub(crate) fn start_of(n: &Node) -> Span {
    Span::at(n.span.start, 0)
}

/// Run every rule over the tree; `document` is the same tree as JSON. Returns what [`resolve`]
/// must check.
pub fn check(d: &mut Decoder, root: &Node, document: &Value) -> Pending {
    let mut p = Pending::default();
    if root.as_map().is_none() {
        return p;
    }
    if let Some(n) = root.get("id") {
        values::check_id(d, n);
    }
    values::non_blank(d, root.get("displayName"), "`displayName`");
    values::non_blank(d, root.get("description"), "`description`");
    if let Some(n) = root.get("docsUrl") {
        values::check_http_url(d, n, "`docsUrl`");
    }
    if let Some(n) = root.get("baseUrl") {
        values::check_url_template(d, n, "`baseUrl`");
        p.template(n, &TemplateScope::BaseUrl);
    }
    if let Some(n) = root.get("auth") {
        auth::check(d, &mut p, n);
    }
    for name in ["config", "secrets"] {
        if let (Some(n), Some(schema)) = (root.get(name), document.get(name)) {
            schemas::check(d, &mut p, n, schema, name, schemas::Role::Form);
        }
    }
    if let Some(n) = root.get("policies") {
        policies::check(d, n);
    }
    if let Some(n) = root.get("actions") {
        actions::check(d, &mut p, root, n, document.get("actions"));
    }
    if let Some(n) = root.get("test") {
        connection_test::check(d, &mut p, root, n);
    }
    if let Some(n) = root.get("hooks") {
        hooks::check(d, &mut p, root, n);
    }
    if let Some(n) = root.get("sessions") {
        sessions::check(d, &mut p, n);
    }
    p
}
