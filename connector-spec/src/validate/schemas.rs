//! Embedded JSON Schemas (`config`, `secrets`, action `input` and `output`): valid 2020-12,
//! objects where a form or an input is expected, bounded inputs, and `x-ui` hints.

use serde_json::Value;

use super::{Pending, PendingRef, values};
use crate::decode::{Decoder, did_you_mean_or};
use crate::diagnostic::{Code, Diagnostic};
use crate::schema_check::{self, UI_KEYS, WIDGETS};
use crate::user_template;
use crate::yaml::{Node, NodeValue};

/// What a schema describes, which decides the rules it follows.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Config and secrets: forms for people.
    Form,
    /// Action input: also filled in by AI callers, so it must be bounded.
    Input,
    /// Action output: documentation of what comes back.
    Output,
}

/// Check an embedded schema: its node, and the same as JSON. `name` is how it is referred to
/// in messages and in `Pending`.
pub fn check(d: &mut Decoder, p: &mut Pending, n: &Node, schema: &Value, name: &str, role: Role) {
    // The format schema leaves embedded schemas to this module (see `structure_schema`).
    if n.as_map().is_none() && !matches!(n.value, NodeValue::Bool(_)) {
        d.push(
            Diagnostic::error(
                Code::WrongType,
                n.span,
                format!(
                    "the `{name}` schema must be a JSON Schema mapping, found {}",
                    n.kind()
                ),
            )
            .with_label("expected a JSON Schema mapping"),
        );
        p.broken_schemas.push(name.to_string());
        return;
    }
    let problems = schema_check::meta_validate(schema);
    for problem in &problems {
        let segs = schema_check::pointer_segments(&problem.pointer);
        let at = locate(n, &segs);
        d.push(
            Diagnostic::error(
                Code::InvalidSchema,
                at.span,
                format!(
                    "the `{name}` schema is not valid JSON Schema 2020-12: {}",
                    problem.message
                ),
            )
            .with_label("invalid here"),
        );
    }
    if !problems.is_empty() {
        p.broken_schemas.push(name.to_string());
    }
    if role != Role::Output && !schema_check::has_type(schema, "object") {
        d.push(
            Diagnostic::error(
                Code::InvalidValue,
                n.get("type").map_or(n.span, |t| t.span),
                format!("the `{name}` schema must have `type: object`"),
            )
            .with_help("a form or an action input is an object with named fields"),
        );
    }
    check_subschemas(d, p, n, schema, name, role);
}

/// `x-ui` hints everywhere; for inputs, strings and lists without bounds.
fn check_subschemas(
    d: &mut Decoder,
    p: &mut Pending,
    n: &Node,
    schema: &Value,
    name: &str,
    role: Role,
) {
    let mut findings: Vec<(Vec<String>, Finding)> = Vec::new();
    schema_check::walk_subschemas(schema, &mut |path, sub| {
        if sub.get("x-ui").is_some() {
            findings.push((path.to_vec(), Finding::Ui));
        }
        if sub.get("x-template").is_some() {
            findings.push((path.to_vec(), Finding::Template));
        }
        if role == Role::Input && sub.get("enum").is_none() && sub.get("const").is_none() {
            if schema_check::has_type(sub, "string") && sub.get("maxLength").is_none() {
                findings.push((path.to_vec(), Finding::UnboundedString));
            }
            if schema_check::has_type(sub, "array") && sub.get("maxItems").is_none() {
                findings.push((path.to_vec(), Finding::UnboundedArray));
            }
        }
    });
    for (path, finding) in findings {
        let refs: Vec<&str> = path.iter().map(String::as_str).collect();
        let Some(sub) = n.lookup(&refs) else { continue };
        let at = sub.get("type").map_or(sub.span, |t| t.span);
        let field = field_name(&path, name);
        match finding {
            Finding::Ui => {
                if let Some(ui) = sub.get("x-ui") {
                    check_ui(d, p, ui, name);
                }
            }
            Finding::Template => {
                if let Some(xt) = sub.get("x-template") {
                    let top_level = name == "config" && path.len() == 2 && path[0] == "properties";
                    user_template::check_node(d, xt, sub, &field, top_level);
                }
            }
            Finding::UnboundedString => d.push(
                Diagnostic::warning(
                    Code::UnboundedString,
                    at,
                    format!("string input `{field}` has no `maxLength`"),
                )
                .with_label("unbounded")
                .with_help("add `maxLength`: unbounded tool inputs let AI callers send anything"),
            ),
            Finding::UnboundedArray => d.push(
                Diagnostic::warning(
                    Code::UnboundedArray,
                    at,
                    format!("array input `{field}` has no `maxItems`"),
                )
                .with_label("unbounded")
                .with_help("add `maxItems`: unbounded tool inputs let AI callers send anything"),
            ),
        }
    }
}

enum Finding {
    Ui,
    Template,
    UnboundedString,
    UnboundedArray,
}

fn field_name(path: &[String], schema_name: &str) -> String {
    let names: Vec<&str> = path
        .chunks(2)
        .filter(|c| c[0] == "properties")
        .filter_map(|c| c.get(1).map(String::as_str))
        .collect();
    if names.is_empty() {
        schema_name.to_string()
    } else {
        names.join(".")
    }
}

/// The deepest node along `segs` that exists.
fn locate<'n>(root: &'n Node, segs: &[String]) -> &'n Node {
    let mut node = root;
    for seg in segs {
        let next = match &node.value {
            NodeValue::Map(_) => node.get(seg),
            NodeValue::Seq(items) => seg.parse::<usize>().ok().and_then(|i| items.get(i)),
            _ => None,
        };
        match next {
            Some(n) => node = n,
            None => break,
        }
    }
    node
}

/// The `x-ui` hints of one field.
fn check_ui(d: &mut Decoder, p: &mut Pending, ui: &Node, schema: &str) {
    let Some(entries) = ui.as_map() else {
        d.push(Diagnostic::error(
            Code::WrongType,
            ui.span,
            format!("`x-ui` must be a mapping, found {}", ui.kind()),
        ));
        return;
    };
    super::format::check_known_keys(d, entries, "`x-ui`", &UI_KEYS);
    if let Some(n) = ui.get("widget")
        && let Some(w) = n.as_str()
        && !WIDGETS.contains(&w)
    {
        let help = did_you_mean_or(w, WIDGETS, || {
            format!("widgets are: {}", WIDGETS.join(", "))
        });
        d.push(
            Diagnostic::error(Code::InvalidUiHint, n.span, format!("unknown widget `{w}`"))
                .with_label("not a widget")
                .with_help(help),
        );
    }
    check_ui_kinds(d, ui);
    if let Some(n) = ui.get("optionsFrom") {
        check_options_from(d, p, n);
    }
    if let Some(n) = ui.get("when") {
        check_when(d, p, n, schema);
    }
}

/// Each plain hint has one YAML type.
fn check_ui_kinds(d: &mut Decoder, ui: &Node) {
    let kinds = [
        ("widget", "a string", "a string"),
        ("label", "a string", "a string"),
        ("placeholder", "a string", "a string"),
        ("helpText", "a string", "a string"),
        ("section", "a string", "a string"),
        ("order", "an integer", "a whole number"),
        ("sensitive", "a boolean", "`true` or `false`"),
    ];
    for (key, kind, expected) in kinds {
        if let Some(n) = ui.get(key)
            && n.kind() != kind
        {
            d.push(Diagnostic::error(
                Code::InvalidUiHint,
                n.span,
                format!("`x-ui.{key}` must be {expected}, found {}", n.kind()),
            ));
        }
    }
}

fn check_options_from(d: &mut Decoder, p: &mut Pending, n: &Node) {
    const KEYS: [&str; 3] = ["action", "valuePath", "labelPath"];
    match &n.value {
        NodeValue::Str(_) => p.action(n, "`optionsFrom`"),
        NodeValue::Map(entries) => {
            super::format::check_known_keys(d, entries, "`optionsFrom`", &KEYS);
            match n.get("action") {
                Some(a) if a.as_str().is_none() => d.push(Diagnostic::error(
                    Code::WrongType,
                    a.span,
                    format!("`optionsFrom.action` must be a string, found {}", a.kind()),
                )),
                Some(a) => p.action(a, "`optionsFrom`"),
                None => d.push(Diagnostic::error(
                    Code::MissingKey,
                    super::start_of(n),
                    "`optionsFrom` is missing `action`",
                )),
            }
            for key in ["valuePath", "labelPath"] {
                if let Some(pn) = n.get(key) {
                    values::check_json_path(d, pn, &format!("`optionsFrom.{key}`"));
                }
            }
        }
        _ => d.push(Diagnostic::error(
            Code::InvalidUiHint,
            n.span,
            "`x-ui.optionsFrom` must be an action name or a mapping with `action`",
        )),
    }
}

fn check_when(d: &mut Decoder, p: &mut Pending, n: &Node, schema: &str) {
    const TESTS: [&str; 3] = ["equals", "notEquals", "in"];
    let Some(entries) = n.as_map() else {
        d.push(Diagnostic::error(
            Code::WrongType,
            n.span,
            format!("`x-ui.when` must be a mapping, found {}", n.kind()),
        ));
        return;
    };
    for (k, _) in entries {
        if let Some(key) = k.as_str()
            && key != "field"
            && !TESTS.contains(&key)
        {
            d.push(Diagnostic::error(
                Code::UnknownKey,
                k.span,
                format!("unknown key `{key}` in `x-ui.when`"),
            ));
        }
    }
    match n.get("field") {
        Some(field) => match field.as_str() {
            Some(name) => p.refs.push(PendingRef::Field {
                name: name.to_string(),
                span: field.span,
                schema: schema.to_string(),
            }),
            None => d.push(Diagnostic::error(
                Code::WrongType,
                field.span,
                format!("`x-ui.when.field` must be a string, found {}", field.kind()),
            )),
        },
        None => d.push(Diagnostic::error(
            Code::MissingKey,
            super::start_of(n),
            "`x-ui.when` is missing `field`",
        )),
    }
    if let Some(i) = n.get("in")
        && !matches!(i.value, NodeValue::Seq(_))
    {
        d.push(Diagnostic::error(
            Code::WrongType,
            i.span,
            format!("`x-ui.when.in` must be a list, found {}", i.kind()),
        ));
    }
    let tests = TESTS.iter().filter(|k| n.get(k).is_some()).count();
    if tests != 1 {
        d.push(
            Diagnostic::error(
                Code::Conflict,
                n.span,
                "`x-ui.when` needs exactly one of `equals`, `notEquals`, `in`",
            )
            .with_label(format!("{tests} given")),
        );
    }
}
