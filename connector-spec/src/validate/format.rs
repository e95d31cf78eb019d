//! The structure of a spec, checked against the format schema generated from the model.
//!
//! Which keys exist, which are required, their types, enum values and number ranges are all
//! stated once, by the model's types and their schemars attributes
//! ([`crate::format_schema::structure_schema`]). This module only turns the validator's
//! findings into located diagnostics; the key and variant lists in "did you mean" help come
//! from the same schema.

use std::sync::LazyLock;

use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::paths::LocationSegment;
use jsonschema::{JsonType, ValidationError, Validator};
use serde_json::Value;

use crate::auth::AuthTypeId;
use crate::decode::{Decoder, did_you_mean_or};
use crate::diagnostic::{Code, Diagnostic};
use crate::source::Span;
use crate::yaml::{Node, NodeValue};

/// The structure schema and its compiled validator, built once per process.
struct Structure {
    schema: Value,
    validator: Validator,
}

static STRUCTURE: LazyLock<Structure> = LazyLock::new(|| {
    let schema = crate::format_schema::structure_schema();
    let validator = jsonschema::options()
        .should_validate_formats(false)
        .build(&schema)
        // The schema is generated from our own types; the unit test
        // `choice_keys_are_the_model_variants` builds it.
        .expect("the generated structure schema compiles");
    Structure { schema, validator }
});

/// The keys that choose an alternative of a model type written as "exactly one of" keys
/// (`Body`: `json`, `form`, `multipart`, `text`), in model order.
pub fn choice_keys(definition: &str) -> Vec<&'static str> {
    let schema: &'static Value = &STRUCTURE.schema;
    schema
        .pointer(&format!("/$defs/{definition}/oneOf"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|alt| alt.get("required")?.get(0)?.as_str())
        .collect()
}

/// Report every structural mistake in the document. Returns whether there was one.
pub fn check(d: &mut Decoder, root: &Node, document: &Value) -> bool {
    let structure = &*STRUCTURE;
    if structure.validator.is_valid(document) {
        return false;
    }
    let reporter = Reporter {
        schema: &structure.schema,
        root,
    };
    for error in structure.validator.iter_errors(document) {
        reporter.report(d, &error);
    }
    true
}

struct Reporter<'a> {
    schema: &'a Value,
    root: &'a Node,
}

/// The instance path as owned segments (keys and list indexes as text).
fn segments(error: &ValidationError<'_>) -> Vec<String> {
    error
        .instance_path()
        .iter()
        .map(|s| match s {
            LocationSegment::Property(p) => p.into_owned(),
            LocationSegment::Index(i) => i.to_string(),
        })
        .collect()
}

/// How a place in the document is named in messages: `actions.ping.request`.
fn place(segs: &[String]) -> String {
    if segs.is_empty() {
        return "the connector spec".into();
    }
    let mut out = String::new();
    for s in segs {
        if s.parse::<usize>().is_ok() {
            out.push_str(&format!("[{s}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(s);
        }
    }
    format!("`{out}`")
}

fn same_place(error: &ValidationError<'_>, segs: &[String]) -> bool {
    segments(error) == segs
}

/// Whether a branch of a `oneOf`/`anyOf` is about another shape of value than the one written
/// (another type, other keys), as opposed to the right shape with a wrong detail.
fn rejects_shape(errors: &[ValidationError<'_>], segs: &[String]) -> bool {
    errors.iter().any(|e| {
        same_place(e, segs)
            && match e.kind() {
                ValidationErrorKind::Type { .. }
                | ValidationErrorKind::Required { .. }
                | ValidationErrorKind::Not { .. }
                | ValidationErrorKind::AdditionalProperties { .. } => true,
                ValidationErrorKind::OneOfNotValid { context }
                | ValidationErrorKind::AnyOf { context } => {
                    context.iter().all(|b| rejects_shape(b, segs))
                }
                _ => false,
            }
    })
}

/// The allowed values of a choice written as `oneOf` of `const`s (enums with documented
/// variants), or `None` when the branches are not all constants.
fn constants(context: &[Vec<ValidationError<'static>>], segs: &[String]) -> Option<Vec<Value>> {
    let mut options = Vec::new();
    for branch in context {
        let mut found = None;
        for e in branch {
            match e.kind() {
                ValidationErrorKind::Constant { expected_value } if same_place(e, segs) => {
                    found = Some((**expected_value).clone());
                }
                ValidationErrorKind::Type { .. } if same_place(e, segs) => {}
                _ => return None,
            }
        }
        options.push(found?);
    }
    Some(options)
}

impl Reporter<'_> {
    fn node(&self, segs: &[String]) -> &Node {
        let refs: Vec<&str> = segs.iter().map(String::as_str).collect();
        self.root.lookup(&refs).unwrap_or(self.root)
    }

    /// The subschema holding the failed keyword.
    fn subschema(&self, error: &ValidationError<'_>) -> Option<&Value> {
        let path = error.schema_path().as_str();
        let parent = &path[..path.rfind('/').unwrap_or(0)];
        self.schema.pointer(parent)
    }

    fn report(&self, d: &mut Decoder, error: &ValidationError<'_>) {
        let segs = segments(error);
        let node = self.node(&segs);
        match error.kind() {
            ValidationErrorKind::AdditionalProperties { unexpected } => {
                let known: Vec<&str> = self
                    .subschema(error)
                    .and_then(|s| s.get("properties"))
                    .and_then(Value::as_object)
                    .map(|p| p.keys().map(String::as_str).collect())
                    .unwrap_or_default();
                for key in unexpected {
                    let span = node.key_node(key).map_or(node.span, |k| k.span);
                    d.push(unknown_key(key, span, &place(&segs), &known));
                }
            }
            ValidationErrorKind::Required { property } => {
                let key = property.as_str().unwrap_or_default();
                d.push(
                    Diagnostic::error(
                        Code::MissingKey,
                        Span::at(node.span.start, 0),
                        format!("{} is missing `{key}`", place(&segs)),
                    )
                    .with_label(format!("`{key}` is required here")),
                );
            }
            ValidationErrorKind::Type { kind } => {
                d.push(wrong_type(node, &place(&segs), &expected_types(kind)));
            }
            ValidationErrorKind::Enum { options } => {
                let options = options.as_array().cloned().unwrap_or_default();
                let what = choice_name(error, &segs);
                d.push(not_a_choice(node, &what, &place(&segs), &options));
            }
            ValidationErrorKind::Constant { expected_value } => {
                let options = [(**expected_value).clone()];
                let what = choice_name(error, &segs);
                d.push(not_a_choice(node, &what, &place(&segs), &options));
            }
            ValidationErrorKind::Minimum { limit } => {
                d.push(out_of_range(node, &place(&segs), "at least", limit));
            }
            ValidationErrorKind::Maximum { limit } => {
                d.push(out_of_range(node, &place(&segs), "at most", limit));
            }
            // The connector id has its own rule with a precise explanation
            // (`validate::values::check_id`); the pattern is there for editors.
            ValidationErrorKind::Pattern { .. } if segs == ["id"] => {}
            ValidationErrorKind::OneOfNotValid { context }
            | ValidationErrorKind::AnyOf { context } => {
                self.report_choice(d, error, node, &segs, context);
            }
            // Exactly one of several shapes is checked by hand where the shapes are mappings
            // (an action's implementation, a body kind), with a message that names them.
            ValidationErrorKind::OneOfMultipleValid { .. } => {}
            _ => d.push(Diagnostic::error(
                Code::InvalidValue,
                node.span,
                format!("{} is not valid: {error}", place(&segs)),
            )),
        }
    }

    /// A value that matches none of the alternatives of a `oneOf`/`anyOf`.
    fn report_choice(
        &self,
        d: &mut Decoder,
        error: &ValidationError<'_>,
        node: &Node,
        segs: &[String],
        context: &[Vec<ValidationError<'static>>],
    ) {
        if let Some(options) = constants(context, segs) {
            d.push(not_a_choice(
                node,
                &choice_name(error, segs),
                &place(segs),
                &options,
            ));
            return;
        }
        let fitting: Vec<&Vec<ValidationError<'static>>> =
            context.iter().filter(|b| !rejects_shape(b, segs)).collect();
        match fitting.iter().min_by_key(|b| b.len()) {
            Some(branch) => branch.iter().for_each(|e| self.report(d, e)),
            // A mapping that fits no alternative has too many or too few of the keys that
            // choose one; the hand-written conflict checks say which.
            None if matches!(node.value, NodeValue::Map(_)) => {}
            None => d.push(wrong_type(
                node,
                &place(segs),
                "one of its documented forms",
            )),
        }
    }
}

/// An error for each key of `entries` not in `known` (a keyword with a closed set of keys:
/// `x-ui`, `x-template`, `optionsFrom`), with the nearest known key as help.
pub(crate) fn check_known_keys(
    d: &mut Decoder,
    entries: &[(Node, Node)],
    place: &str,
    known: &[&str],
) {
    for (k, _) in entries {
        if let Some(key) = k.as_str()
            && !known.contains(&key)
        {
            d.push(unknown_key(key, k.span, place, known));
        }
    }
}

pub(crate) fn unknown_key(key: &str, span: Span, place: &str, known: &[&str]) -> Diagnostic {
    let help = did_you_mean_or(key, known.iter().copied(), || {
        format!(
            "expected one of: {}",
            known
                .iter()
                .filter(|k| !k.starts_with('$'))
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    });
    Diagnostic::error(
        Code::UnknownKey,
        span,
        format!("unknown key `{key}` in {place}"),
    )
    .with_label("unknown key")
    .with_help(help)
}

fn wrong_type(node: &Node, place: &str, expected: &str) -> Diagnostic {
    Diagnostic::error(
        Code::WrongType,
        node.span,
        format!("{place} must be {expected}, found {}", node.kind()),
    )
    .with_label(format!("expected {expected}"))
}

fn expected_types(kind: &TypeKind) -> String {
    let name = |t: JsonType| match t {
        JsonType::Null => "null",
        JsonType::Boolean => "`true` or `false`",
        JsonType::Integer => "a whole number",
        JsonType::Number => "a number",
        JsonType::String => "a string",
        JsonType::Array => "a list",
        JsonType::Object => "a mapping",
    };
    match kind {
        TypeKind::Single(t) => name(*t).to_string(),
        TypeKind::Multiple(set) => set.iter().map(name).collect::<Vec<_>>().join(" or "),
    }
}

/// What a closed set of values is called: the model type's name in words (`ActionScope` is
/// "action scope"), or "value for" the place when the set is not a named type.
fn choice_name(error: &ValidationError<'_>, segs: &[String]) -> String {
    let path = error.schema_path().as_str();
    let Some(i) = path.rfind("/$defs/") else {
        return format!("value for {}", place(segs));
    };
    let name = path[i + "/$defs/".len()..]
        .split('/')
        .next()
        .unwrap_or_default();
    let mut words = String::new();
    for c in name.chars() {
        if c.is_ascii_uppercase() && !words.is_empty() {
            words.push(' ');
        }
        words.push(c.to_ascii_lowercase());
    }
    words
}

/// A value outside a closed set. The auth type ids get their own code: they are the one set a
/// reader looks up in another chapter.
fn not_a_choice(node: &Node, what: &str, place: &str, options: &[Value]) -> Diagnostic {
    let names: Vec<&str> = options.iter().filter_map(Value::as_str).collect();
    let Some(written) = node.as_str() else {
        let expected = format!(
            "one of {}",
            names
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        return wrong_type(node, place, &expected);
    };
    let help = did_you_mean_or(written, names.iter().copied(), || {
        format!(
            "expected one of: {}",
            names
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    });
    let is_auth_type = names.len() == AuthTypeId::ALL.len()
        && AuthTypeId::ALL.iter().all(|t| names.contains(&t.as_str()));
    if is_auth_type {
        return Diagnostic::error(
            Code::UnknownAuthType,
            node.span,
            format!("unknown auth type `{written}`"),
        )
        .with_label("not an auth type")
        .with_help(help);
    }
    Diagnostic::error(
        Code::InvalidValue,
        node.span,
        format!("`{written}` is not a valid {what}"),
    )
    .with_label("not allowed here")
    .with_help(help)
}

fn out_of_range(node: &Node, place: &str, bound: &str, limit: &Value) -> Diagnostic {
    let found = match &node.value {
        NodeValue::Int(i) => i.to_string(),
        NodeValue::Float(f) => f.to_string(),
        _ => node.kind().to_string(),
    };
    Diagnostic::error(
        Code::InvalidValue,
        node.span,
        format!("{place} must be {bound} {limit}, found {found}"),
    )
    .with_label("out of range")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choice_keys_are_the_model_variants() {
        assert_eq!(choice_keys("Body"), ["json", "form", "multipart", "text"]);
        assert_eq!(choice_keys("Action"), ["request", "handler"]);
        assert!(choice_keys("NoSuchType").is_empty());
    }

    #[test]
    fn places_read_as_paths() {
        let segs = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(place(&[]), "the connector spec");
        assert_eq!(
            place(&segs(&["policies", "errors", "1", "status"])),
            "`policies.errors[1].status`"
        );
    }
}
