//! Cross-reference checks that need the whole spec: template variables, `optionsFrom`, `when`,
//! and the connection test's input.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::decode::{Decoder, did_you_mean_or, suggest};
use crate::diagnostic::{Code, Diagnostic};
use crate::loader::{Pending, PendingRef, TemplateScope};
use crate::model::ConnectorSpec;
use crate::source::{SourceFile, Span};
use crate::template::TemplateChecker;
use crate::yaml::Node;

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

/// Resolve everything collected while decoding.
pub fn resolve(
    d: &mut Decoder,
    spec: &ConnectorSpec,
    pending: &Pending,
    root: &Node,
    source: &SourceFile,
    checker: &TemplateChecker,
) {
    let broken = |name: &str| pending.broken_schemas.iter().any(|b| b == name);
    let mut config = Namespace::of(&spec.config, broken("config"));
    let mut secrets = Namespace::of(&spec.secrets, broken("secrets"));
    for t in &spec.auth.types {
        config.extend(&t.kind.config_schema());
        secrets.extend(&t.kind.secrets_schema());
    }

    for t in &pending.templates {
        let refs = match checker.references(&t.text) {
            Ok(refs) => refs,
            Err(e) => {
                let start = t.node_span.start + quote_offset(source, t.node_span) + e.offset;
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
                continue;
            }
        };
        let (roots, action): (&[&str], Option<&str>) = match &t.scope {
            TemplateScope::Connection => (&["config", "secrets"], None),
            TemplateScope::Request(a) if in_session(spec, a) => {
                (&["config", "secrets", "input", "session"], Some(a))
            }
            TemplateScope::Request(a) => (&["config", "secrets", "input"], Some(a)),
            TemplateScope::Response(a) if in_session(spec, a) => (
                &["config", "secrets", "input", "response", "session"],
                Some(a),
            ),
            TemplateScope::Response(a) => (&["config", "secrets", "input", "response"], Some(a)),
            TemplateScope::ConnectionResponse => (&["config", "secrets", "response"], None),
        };
        for r in refs {
            let mut parts = r.path.split('.');
            let head = parts.next().unwrap_or_default();
            let field = parts.next();
            let span = reference_span(source, t.node_span, &r.path);
            if GLOBALS.contains(&head) {
                continue;
            }
            if !roots.contains(&head) {
                let help = did_you_mean_or(head, roots.iter().copied(), || {
                    format!(
                        "templates here can read: {}",
                        roots
                            .iter()
                            .map(|r| format!("`{r}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
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
            let Some(field) = field else { continue };
            let input;
            let ns = match head {
                "config" => &config,
                "secrets" => &secrets,
                "input" => {
                    let schema = action.and_then(|a| spec.actions.get(a)).map(|a| &a.input);
                    let broken_input = action.is_some_and(|a| broken(&format!("{a}.input")));
                    input = match schema {
                        Some(s) => Namespace::of(s, broken_input),
                        None => Namespace { fields: None },
                    };
                    &input
                }
                _ => continue,
            };
            let Some(fields) = &ns.fields else { continue };
            if !fields.contains(field) {
                let where_ = match head {
                    "config" => "the config schema or the auth types' config".to_string(),
                    "secrets" => "the secrets schema or the auth types' secrets".to_string(),
                    _ => format!("the input of action `{}`", action.unwrap_or("?")),
                };
                let help = match suggest(field, fields.iter().map(String::as_str)) {
                    Some(m) => format!("did you mean `{head}.{m}`?"),
                    None if fields.is_empty() => format!("{where_} declares no fields"),
                    None => format!(
                        "declared: {}",
                        fields
                            .iter()
                            .map(|f| format!("`{f}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
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
        }
    }

    let form_fields: BTreeSet<String> = config
        .fields
        .iter()
        .chain(secrets.fields.iter())
        .flatten()
        .cloned()
        .chain(std::iter::once("authType".to_string()))
        .collect();
    let form_open = config.fields.is_none() || secrets.fields.is_none();
    for r in &pending.refs {
        match r {
            PendingRef::Action { name, span, what } => {
                if !spec.actions.contains_key(name) {
                    let help =
                        did_you_mean_or(name, spec.actions.keys().map(String::as_str), || {
                            format!(
                                "actions: {}",
                                spec.actions
                                    .keys()
                                    .map(|a| format!("`{a}`"))
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            )
                        });
                    d.push(
                        Diagnostic::error(
                            Code::UnknownAction,
                            *span,
                            format!("{what} names action `{name}`, which does not exist"),
                        )
                        .with_label("unknown action")
                        .with_help(help),
                    );
                }
            }
            PendingRef::Session { name, span, action } => {
                if !spec.sessions.contains_key(name) {
                    let help =
                        did_you_mean_or(name, spec.sessions.keys().map(String::as_str), || {
                            if spec.sessions.is_empty() {
                                "declare it under the top-level `sessions`".to_string()
                            } else {
                                format!(
                                    "sessions: {}",
                                    spec.sessions
                                        .keys()
                                        .map(|a| format!("`{a}`"))
                                        .collect::<Vec<_>>()
                                        .join(", ")
                                )
                            }
                        });
                    d.push(
                        Diagnostic::error(
                            Code::UnresolvedReference,
                            *span,
                            format!("`session` names `{name}`, which is not declared"),
                        )
                        .with_label("unknown session")
                        .with_help(help),
                    );
                } else {
                    let session = &spec.sessions[name.as_str()];
                    if session.init == *action || session.cleanup.as_deref() == Some(action) {
                        d.push(
                            Diagnostic::error(
                                Code::Conflict,
                                *span,
                                format!(
                                    "action `{action}` opens or closes session `{name}`, so it cannot run inside it"
                                ),
                            )
                            .with_label("remove this `session`"),
                        );
                    }
                }
            }
            PendingRef::Field { name, span, schema } => {
                // In an action input, `when` names a sibling input field.
                if let Some(action) = schema.strip_suffix(".input") {
                    let ns = match spec.actions.get(action) {
                        Some(a) => Namespace::of(&a.input, broken(schema)),
                        None => Namespace { fields: None },
                    };
                    if let Some(fields) = &ns.fields
                        && !fields.contains(name)
                    {
                        let help = did_you_mean_or(name, fields.iter().map(String::as_str), || {
                            format!("`when.field` names another input field of `{action}`")
                        });
                        d.push(
                            Diagnostic::error(
                                Code::UnknownField,
                                *span,
                                format!("`when` names field `{name}`, which is not an input of `{action}`"),
                            )
                            .with_label("unknown field")
                            .with_help(help),
                        );
                    }
                    continue;
                }
                if !form_open && !form_fields.contains(name) {
                    let help = match suggest(name, form_fields.iter().map(String::as_str)) {
                        Some(m) => format!("did you mean `{m}`?"),
                        None => {
                            "`when.field` names a config or secrets field, or `authType`".into()
                        }
                    };
                    d.push(
                        Diagnostic::error(
                            Code::UnknownField,
                            *span,
                            format!("`when` names field `{name}`, which does not exist"),
                        )
                        .with_label("unknown field")
                        .with_help(help),
                    );
                }
            }
        }
    }

    // The connection test's input must satisfy the action's input schema.
    if let Some(test) = &spec.test
        && let (Some(action), Some(input)) = (&test.action, &test.input)
        && let Some(a) = spec.actions.get(action)
        && !broken(&format!("{action}.input"))
        && let Ok(v) = jsonschema::draft202012::new(&a.input)
    {
        let at = root
            .lookup(&["test", "input"])
            .map_or(Span::default(), |n| n.span);
        for e in v.iter_errors(input) {
            d.push(Diagnostic::error(
                Code::InvalidValue,
                at,
                format!(
                    "`test.input` does not match the input of `{action}`: {e}{}",
                    if e.instance_path().as_str().is_empty() {
                        String::new()
                    } else {
                        format!(" (at {})", e.instance_path())
                    }
                ),
            ));
        }
    }
}

fn quote_offset(source: &SourceFile, span: Span) -> usize {
    let c = source.text().get(span.start..span.start + 1);
    usize::from(matches!(c, Some("'") | Some("\"")))
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

/// Whether an action's templates can read `session`: it runs inside a session or closes one.
fn in_session(spec: &ConnectorSpec, action: &str) -> bool {
    spec.actions
        .get(action)
        .is_some_and(|a| a.session.is_some())
        || spec
            .sessions
            .values()
            .any(|s| s.cleanup.as_deref() == Some(action))
}
