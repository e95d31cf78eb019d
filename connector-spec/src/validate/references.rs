//! Cross-reference checks that need the whole file: template variables, `optionsFrom`, `when`,
//! sessions and the connection test's input.
//!
//! They read an [`Outline`] of the located tree rather than the model, so they also run when a
//! structural mistake elsewhere keeps the model from being built.

use std::collections::BTreeSet;

use serde_json::Value;

use super::{Pending, PendingRef, PendingTemplate, TemplateScope};
use crate::auth::AuthTypeId;
use crate::decode::{Decoder, did_you_mean_or, suggest};
use crate::diagnostic::{Code, Diagnostic};
use crate::model::empty_object_schema;
use crate::source::{SourceFile, Span};
use crate::template::TemplateChecker;
use crate::yaml::Node;

/// What the references can point at, read from the tree.
pub struct Outline<'n> {
    root: &'n Node,
    config: &'n Value,
    secrets: &'n Value,
    auth_types: Vec<AuthTypeId>,
    /// Action names in order, with their input schemas.
    actions: Vec<(&'n str, &'n Value)>,
    /// Session names with their `init` and `cleanup` actions.
    sessions: Vec<(&'n str, Option<&'n str>, Option<&'n str>)>,
    /// The names of `auth.account`'s values; `None` when the spec declares none.
    account: Option<Vec<&'n str>>,
}

/// The model's default for an absent schema.
static EMPTY_OBJECT: std::sync::LazyLock<Value> = std::sync::LazyLock::new(empty_object_schema);

fn entries(n: Option<&Node>) -> &[(Node, Node)] {
    n.and_then(Node::as_map).unwrap_or_default()
}

impl<'n> Outline<'n> {
    /// The outline of a tree; `document` is the same tree as JSON.
    pub fn of(root: &'n Node, document: &'n Value) -> Outline<'n> {
        let schema = |v: Option<&'n Value>| v.unwrap_or(&EMPTY_OBJECT);
        let auth_types = root
            .get("auth")
            .and_then(|a| a.get("types"))
            .and_then(Node::as_seq)
            .unwrap_or_default()
            .iter()
            .filter_map(|item| super::auth::entry_id(item).map(|(id, _)| id))
            .collect();
        let actions = entries(root.get("actions"))
            .iter()
            .filter_map(|(k, _)| {
                let name = k.as_str()?;
                let input = document.get("actions")?.get(name)?.get("input");
                Some((name, schema(input)))
            })
            .collect();
        let sessions = entries(root.get("sessions"))
            .iter()
            .filter_map(|(k, s)| {
                Some((
                    k.as_str()?,
                    s.get("init").and_then(Node::as_str),
                    s.get("cleanup").and_then(Node::as_str),
                ))
            })
            .collect();
        let account = root.get("auth").and_then(|a| a.get("account")).map(|a| {
            let discovered = a.get("discovery").and_then(|d| d.get("values"));
            [a.get("fromTokenResponse"), discovered]
                .into_iter()
                .flatten()
                .flat_map(|m| entries(Some(m)))
                .filter_map(|(k, _)| k.as_str())
                .collect()
        });
        Outline {
            root,
            config: schema(document.get("config")),
            secrets: schema(document.get("secrets")),
            auth_types,
            actions,
            sessions,
            account,
        }
    }

    fn input(&self, action: &str) -> Option<&Value> {
        self.actions
            .iter()
            .find(|(a, _)| *a == action)
            .map(|(_, input)| *input)
    }

    fn action_names(&self) -> impl Iterator<Item = &'n str> + '_ {
        self.actions.iter().map(|(a, _)| *a)
    }

    fn session(&self, name: &str) -> Option<(Option<&'n str>, Option<&'n str>)> {
        self.sessions
            .iter()
            .find(|(s, _, _)| *s == name)
            .map(|(_, init, cleanup)| (*init, *cleanup))
    }

    fn action_node(&self, action: &str) -> Option<&'n Node> {
        self.root.get("actions")?.get(action)
    }
}

/// Template functions that are not variables.
const GLOBALS: &[&str] = &["range", "dict", "namespace"];

/// The fields a namespace may reference; `None` means "anything" (open or broken schema).
struct Namespace {
    fields: Option<BTreeSet<String>>,
}

impl Namespace {
    fn of(schema: &Value, broken: bool) -> Namespace {
        if broken || schema.is_null() {
            return Namespace { fields: None };
        }
        let open = schema.get("patternProperties").is_some()
            || matches!(
                schema.get("additionalProperties"),
                Some(Value::Object(_)) | Some(Value::Bool(true))
            );
        if open {
            return Namespace { fields: None };
        }
        let fields = schema
            .get("properties")
            .and_then(Value::as_object)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        Namespace {
            fields: Some(fields),
        }
    }

    fn extend(&mut self, schema: &Value) {
        if let (Some(fields), Some(props)) = (
            self.fields.as_mut(),
            schema.get("properties").and_then(Value::as_object),
        ) {
            fields.extend(props.keys().cloned());
        }
    }
}

/// Resolve everything the rules collected.
pub fn resolve(
    d: &mut Decoder,
    outline: &Outline<'_>,
    pending: &Pending,
    source: &SourceFile,
    checker: &TemplateChecker,
) {
    let broken = |name: &str| pending.broken_schemas.iter().any(|b| b == name);
    let mut config = Namespace::of(outline.config, broken("config"));
    let mut secrets = Namespace::of(outline.secrets, broken("secrets"));
    for t in &outline.auth_types {
        config.extend(t.config_schema());
        secrets.extend(t.secrets_schema());
    }
    let r = Resolver {
        outline,
        pending,
        source,
        config,
        secrets,
    };
    for t in &pending.templates {
        r.template(d, checker, t);
    }
    for reference in &pending.refs {
        match reference {
            PendingRef::Action { name, span, what } => r.action(d, name, *span, what),
            PendingRef::Session { name, span, action } => r.session(d, name, *span, action),
            PendingRef::Field { name, span, schema } => r.field(d, name, *span, schema),
        }
    }
    r.test_input(d);
}

struct Resolver<'a, 'n> {
    outline: &'a Outline<'n>,
    pending: &'a Pending,
    source: &'a SourceFile,
    config: Namespace,
    secrets: Namespace,
}

fn listed<'s>(names: impl Iterator<Item = &'s str>) -> String {
    names
        .map(|a| format!("`{a}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Resolver<'_, '_> {
    fn broken(&self, name: &str) -> bool {
        self.pending.broken_schemas.iter().any(|b| b == name)
    }

    fn input_namespace(&self, action: Option<&str>) -> Namespace {
        match action.and_then(|a| Some((a, self.outline.input(a)?))) {
            Some((a, schema)) => Namespace::of(schema, self.broken(&format!("{a}.input"))),
            None => Namespace { fields: None },
        }
    }

    /// Whether an action's templates can read `session`: it runs inside a session or closes
    /// one.
    fn in_session(&self, action: &str) -> bool {
        self.outline
            .action_node(action)
            .is_some_and(|a| a.get("session").is_some())
            || self
                .outline
                .sessions
                .iter()
                .any(|(_, _, cleanup)| *cleanup == Some(action))
    }

    fn template(&self, d: &mut Decoder, checker: &TemplateChecker, t: &PendingTemplate) {
        let refs = match checker.references(&t.text) {
            Ok(refs) => refs,
            Err(e) => {
                let start = t.node_span.start
                    + super::values::quote_offset(self.source.text(), t.node_span)
                    + e.offset;
                let in_node = start < t.node_span.end.max(t.node_span.start + 1);
                let span = if in_node {
                    Span::at(
                        start,
                        e.len.min(t.node_span.end.saturating_sub(start)).max(1),
                    )
                } else {
                    t.node_span
                };
                d.push(
                    Diagnostic::error(
                        Code::TemplateSyntax,
                        span,
                        format!("template error: {}", e.message),
                    )
                    .with_label("in this template"),
                );
                return;
            }
        };
        let with_account = self.outline.account.is_some();
        let (roots, action): (&[&str], Option<&str>) = match &t.scope {
            TemplateScope::Connection => (&["config", "secrets"], None),
            TemplateScope::BaseUrl if with_account => (&["config", "secrets", "account"], None),
            TemplateScope::BaseUrl => (&["config", "secrets"], None),
            TemplateScope::Request(a) if with_account => {
                (&["config", "secrets", "input", "account"], Some(a))
            }
            TemplateScope::Response(a) if with_account => (
                &["config", "secrets", "input", "response", "account"],
                Some(a),
            ),
            TemplateScope::Request(a) if self.in_session(a) => {
                (&["config", "secrets", "input", "session"], Some(a))
            }
            TemplateScope::Request(a) => (&["config", "secrets", "input"], Some(a)),
            TemplateScope::Response(a) if self.in_session(a) => (
                &["config", "secrets", "input", "response", "session"],
                Some(a),
            ),
            TemplateScope::Response(a) => (&["config", "secrets", "input", "response"], Some(a)),
            TemplateScope::ConnectionResponse => (&["config", "secrets", "response"], None),
            TemplateScope::AuthDefault => (&["config"], None),
        };
        for r in refs {
            let mut parts = r.path.split('.');
            let head = parts.next().unwrap_or_default();
            let span = reference_span(self.source, t.node_span, &r.path);
            if GLOBALS.contains(&head) {
                continue;
            }
            if !roots.contains(&head) {
                let help = did_you_mean_or(head, roots.iter().copied(), || {
                    format!("templates here can read: {}", listed(roots.iter().copied()))
                });
                d.push(
                    Diagnostic::error(
                        Code::UnresolvedReference,
                        span,
                        format!("`{head}` is not available in this template"),
                    )
                    .with_label("unknown variable")
                    .with_help(help),
                );
                continue;
            }
            if let Some(field) = parts.next() {
                self.variable(d, head, field, action, span);
            }
        }
    }

    /// `config.x`, `secrets.x`, `input.x`, `account.x`: the field is declared.
    fn variable(&self, d: &mut Decoder, head: &str, field: &str, action: Option<&str>, span: Span) {
        if head == "account" {
            return self.account_value(d, field, span);
        }
        let input;
        let ns = match head {
            "config" => &self.config,
            "secrets" => &self.secrets,
            "input" => {
                input = self.input_namespace(action);
                &input
            }
            _ => return,
        };
        let Some(fields) = &ns.fields else { return };
        if fields.contains(field) {
            return;
        }
        let where_ = match head {
            "config" => "the config schema or the auth types' config".to_string(),
            "secrets" => "the secrets schema or the auth types' secrets".to_string(),
            _ => format!("the input of action `{}`", action.unwrap_or("?")),
        };
        let help = match suggest(field, fields.iter().map(String::as_str)) {
            Some(m) => format!("did you mean `{head}.{m}`?"),
            None if fields.is_empty() => format!("{where_} declares no fields"),
            None => format!("declared: {}", listed(fields.iter().map(String::as_str))),
        };
        d.push(
            Diagnostic::error(
                Code::UnresolvedReference,
                span,
                format!("`{head}.{field}` is not declared in {where_}"),
            )
            .with_label("unresolved reference")
            .with_help(help),
        );
    }

    /// `account.x`: one of `auth.account`'s names.
    fn account_value(&self, d: &mut Decoder, field: &str, span: Span) {
        let names = self.outline.account.as_deref().unwrap_or_default();
        if names.contains(&field) {
            return;
        }
        let help = match suggest(field, names.iter().copied()) {
            Some(m) => format!("did you mean `account.{m}`?"),
            None => format!("declared: {}", listed(names.iter().copied())),
        };
        d.push(
            Diagnostic::error(
                Code::UnresolvedReference,
                span,
                format!("`account.{field}` is not declared in `auth.account`"),
            )
            .with_label("unresolved reference")
            .with_help(help),
        );
    }

    fn action(&self, d: &mut Decoder, name: &str, span: Span, what: &str) {
        if self.outline.input(name).is_some() {
            return;
        }
        let help = did_you_mean_or(name, self.outline.action_names(), || {
            format!("actions: {}", listed(self.outline.action_names()))
        });
        d.push(
            Diagnostic::error(
                Code::UnknownAction,
                span,
                format!("{what} names action `{name}`, which does not exist"),
            )
            .with_label("unknown action")
            .with_help(help),
        );
    }

    fn session(&self, d: &mut Decoder, name: &str, span: Span, action: &str) {
        let Some((init, cleanup)) = self.outline.session(name) else {
            let names = || self.outline.sessions.iter().map(|(s, _, _)| *s);
            let help = did_you_mean_or(name, names(), || {
                if self.outline.sessions.is_empty() {
                    "declare it under the top-level `sessions`".to_string()
                } else {
                    format!("sessions: {}", listed(names()))
                }
            });
            d.push(
                Diagnostic::error(
                    Code::UnresolvedReference,
                    span,
                    format!("`session` names `{name}`, which is not declared"),
                )
                .with_label("unknown session")
                .with_help(help),
            );
            return;
        };
        if init == Some(action) || cleanup == Some(action) {
            d.push(
                Diagnostic::error(
                    Code::Conflict,
                    span,
                    format!(
                        "action `{action}` opens or closes session `{name}`, so it cannot run inside it"
                    ),
                )
                .with_label("remove this `session`"),
            );
        }
    }

    fn field(&self, d: &mut Decoder, name: &str, span: Span, schema: &str) {
        // In an action input, `when` names a sibling input field.
        if let Some(action) = schema.strip_suffix(".input") {
            if let Some(fields) = &self.input_namespace(Some(action)).fields
                && !fields.contains(name)
            {
                let help = did_you_mean_or(name, fields.iter().map(String::as_str), || {
                    format!("`when.field` names another input field of `{action}`")
                });
                d.push(
                    Diagnostic::error(
                        Code::UnknownField,
                        span,
                        format!("`when` names field `{name}`, which is not an input of `{action}`"),
                    )
                    .with_label("unknown field")
                    .with_help(help),
                );
            }
            return;
        }
        let (Some(config), Some(secrets)) = (&self.config.fields, &self.secrets.fields) else {
            return;
        };
        if name == "authType" || config.contains(name) || secrets.contains(name) {
            return;
        }
        let candidates = config
            .iter()
            .chain(secrets)
            .map(String::as_str)
            .chain(["authType"]);
        let help = match suggest(name, candidates) {
            Some(m) => format!("did you mean `{m}`?"),
            None => "`when.field` names a config or secrets field, or `authType`".into(),
        };
        d.push(
            Diagnostic::error(
                Code::UnknownField,
                span,
                format!("`when` names field `{name}`, which does not exist"),
            )
            .with_label("unknown field")
            .with_help(help),
        );
    }

    /// The connection test's input must satisfy the action's input schema.
    fn test_input(&self, d: &mut Decoder) {
        let Some(test) = self.outline.root.get("test") else {
            return;
        };
        let (Some(action), Some(input)) =
            (test.get("action").and_then(Node::as_str), test.get("input"))
        else {
            return;
        };
        let Some(schema) = self.outline.input(action) else {
            return;
        };
        if self.broken(&format!("{action}.input")) {
            return;
        }
        let Ok(v) = jsonschema::draft202012::new(schema) else {
            return;
        };
        for e in v.iter_errors(&input.to_json()) {
            let at = if e.instance_path().as_str().is_empty() {
                String::new()
            } else {
                format!(" (at {})", e.instance_path())
            };
            d.push(Diagnostic::error(
                Code::InvalidValue,
                input.span,
                format!("`test.input` does not match the input of `{action}`: {e}{at}"),
            ));
        }
    }
}

/// Where `path` appears inside the node's source text, or the node itself.
fn reference_span(source: &SourceFile, node: Span, path: &str) -> Span {
    let text = source.text();
    if let Some(slice) = text.get(node.start..node.end.min(text.len()))
        && let Some(i) = slice.find(path)
    {
        return Span::at(node.start + i, path.len());
    }
    node
}
