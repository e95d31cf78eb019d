//! User templates (`x-template`): config fields whose value is a template written by the
//! *user* (a URL or a JSON body with `{{{case.title}}}` in it), not by the spec author.
//!
//! They are a different language from the spec's own templates ([`crate::template`]): a
//! mustache subset with only variables, `{{name}}` and `{{{name}}}` (the same thing: the
//! runtime escapes by context, never as HTML), no sections, partials, comments or lambdas. The
//! parser is here so the spec validator (a `default` of such a field) and the runtime (the
//! value a user saved) read templates the same way; rendering and escaping are the runtime's
//! (`connector-runtime/src/user_template.rs`).
//!
//! The declaration on a config property:
//!
//! ```yaml
//! createIncidentJson:
//!   type: string
//!   x-template:
//!     kind: json                       # json | url
//!     variables: [case.title, case.id] # what the template may use
//!     required: [case.title]           # what it must use
//! ```

use serde_json::Value;

use crate::decode::{Decoder, did_you_mean_or};
use crate::diagnostic::{Code, Diagnostic};
use crate::source::Span;
use crate::validate::key_span;
use crate::yaml::Node;

/// The longest template accepted, in bytes: a user template is a URL or a request body.
pub const MAX_TEMPLATE_BYTES: usize = 64 * 1024;

/// The keys of an `x-template` declaration.
pub const KEYS: [&str; 3] = ["kind", "variables", "required"];

/// The kinds of user template, each with its own escaping.
pub const KINDS: [&str; 2] = ["json", "url"];

/// What a user template renders to, which decides how variables are escaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemplateKind {
    /// A JSON document: values as JSON, or as string content inside quotes.
    Json,
    /// An absolute URL: values percent-encoded, origin fixed by the template.
    Url,
}

impl TemplateKind {
    /// The kind named `s` (`json`, `url`).
    pub fn parse(s: &str) -> Option<TemplateKind> {
        match s {
            "json" => Some(TemplateKind::Json),
            "url" => Some(TemplateKind::Url),
            _ => None,
        }
    }
}

/// An `x-template` declaration, read from a config property's JSON Schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateDecl {
    pub kind: TemplateKind,
    /// The variables the template may use.
    pub variables: Vec<String>,
    /// The variables it must use (a subset of `variables`).
    pub required: Vec<String>,
}

impl TemplateDecl {
    /// Read a declaration; the message says what is wrong (the validator has located it).
    pub fn from_value(v: &Value) -> Result<TemplateDecl, String> {
        let map = v.as_object().ok_or("`x-template` must be a mapping")?;
        if let Some(k) = map.keys().find(|k| !KEYS.contains(&k.as_str())) {
            return Err(format!("unknown key `{k}` in `x-template`"));
        }
        let kind = map
            .get("kind")
            .and_then(Value::as_str)
            .and_then(TemplateKind::parse)
            .ok_or("`x-template.kind` must be `json` or `url`")?;
        let list = |key: &str| -> Result<Vec<String>, String> {
            match map.get(key) {
                None => Ok(Vec::new()),
                Some(Value::Array(items)) => items
                    .iter()
                    .map(|i| {
                        i.as_str()
                            .filter(|s| is_variable_name(s))
                            .map(str::to_string)
                            .ok_or(format!("`x-template.{key}` holds a bad variable name"))
                    })
                    .collect(),
                Some(_) => Err(format!("`x-template.{key}` must be a list")),
            }
        };
        let variables = list("variables")?;
        let required = list("required")?;
        if let Some(r) = required.iter().find(|r| !variables.contains(r)) {
            return Err(format!("required variable `{r}` is not in `variables`"));
        }
        Ok(TemplateDecl {
            kind,
            variables,
            required,
        })
    }

    /// Parse `text` and check its variables against this declaration.
    pub fn check(&self, text: &str) -> Result<Vec<Segment>, TemplateError> {
        let segments = parse(text)?;
        for s in &segments {
            if let Segment::Variable { name, offset } = s
                && !self.variables.contains(name)
            {
                let allowed = if self.variables.is_empty() {
                    "none".to_string()
                } else {
                    self.variables.join(", ")
                };
                return Err(TemplateError {
                    offset: *offset,
                    message: format!("unknown variable `{name}`; allowed: {allowed}"),
                });
            }
        }
        for r in &self.required {
            let used = segments
                .iter()
                .any(|s| matches!(s, Segment::Variable { name, .. } if name == r));
            if !used {
                return Err(TemplateError {
                    offset: 0,
                    message: format!("must use the variable `{{{{{{{r}}}}}}}`"),
                });
            }
        }
        Ok(segments)
    }
}

/// The `x-template` declarations of a config schema's top-level properties, by field name.
/// Declarations that do not read are left out (the validator reports them).
pub fn declarations(config_schema: &Value) -> Vec<(String, Result<TemplateDecl, String>)> {
    let Some(props) = config_schema.get("properties").and_then(Value::as_object) else {
        return Vec::new();
    };
    props
        .iter()
        .filter_map(|(name, p)| {
            p.get("x-template")
                .map(|t| (name.clone(), TemplateDecl::from_value(t)))
        })
        .collect()
}

/// One piece of a parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// Text copied as written.
    Literal(String),
    /// `{{name}}` or `{{{name}}}`, at byte `offset` of the template.
    Variable { name: String, offset: usize },
}

/// A template that does not parse, or does not fit its declaration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    /// Byte offset in the template.
    pub offset: usize,
    pub message: String,
}

impl std::fmt::Display for TemplateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (at byte {})", self.message, self.offset)
    }
}

/// A dotted name of letters, digits and `_` (`case.title`, `external.system.id`).
pub fn is_variable_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.split('.').all(|part| {
            part.chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
}

/// Split a template into literals and variables. `{{` always opens a tag; a `}}` outside a tag
/// is text, as in mustache.
pub fn parse(text: &str) -> Result<Vec<Segment>, TemplateError> {
    if text.len() > MAX_TEMPLATE_BYTES {
        return Err(TemplateError {
            offset: MAX_TEMPLATE_BYTES,
            message: format!(
                "the template is longer than {MAX_TEMPLATE_BYTES} bytes ({})",
                text.len()
            ),
        });
    }
    let mut segments = Vec::new();
    let mut rest = text;
    let mut at = 0;
    while let Some(open) = rest.find("{{") {
        if open > 0 {
            segments.push(Segment::Literal(rest[..open].to_string()));
        }
        let tag_start = at + open;
        let (triple, body_start) = if rest[open..].starts_with("{{{") {
            (true, open + 3)
        } else {
            (false, open + 2)
        };
        let close = if triple { "}}}" } else { "}}" };
        let Some(len) = rest[body_start..].find(close) else {
            return Err(TemplateError {
                offset: tag_start,
                message: format!("`{}` is not closed by `{close}`", &close.replace('}', "{")),
            });
        };
        let name = rest[body_start..body_start + len].trim();
        check_tag(name, tag_start)?;
        segments.push(Segment::Variable {
            name: name.to_string(),
            offset: tag_start,
        });
        let end = body_start + len + close.len();
        at += end;
        rest = &rest[end..];
    }
    if !rest.is_empty() {
        segments.push(Segment::Literal(rest.to_string()));
    }
    Ok(segments)
}

/// The inside of one tag: a variable name, else what mustache feature it is.
fn check_tag(name: &str, offset: usize) -> Result<(), TemplateError> {
    let feature = match name.chars().next() {
        Some('#' | '^' | '/') => Some("sections"),
        Some('>') => Some("partials"),
        Some('!') => Some("comments"),
        Some('=') => Some("delimiter changes"),
        Some('&') => Some("`{{&name}}` (write `{{{name}}}`)"),
        _ => None,
    };
    if let Some(feature) = feature {
        return Err(TemplateError {
            offset,
            message: format!("{feature} are not supported in user templates, only variables"),
        });
    }
    if !is_variable_name(name) {
        let shown: String = name.chars().take(64).collect();
        return Err(TemplateError {
            offset,
            message: format!("`{shown}` is not a variable name (letters, digits, `_`, `.`)"),
        });
    }
    Ok(())
}

/// Check the `x-template` node of the config property `field` (its schema node `prop`),
/// reporting every problem at its place. `top_level` is whether `prop` is a direct property
/// of `config`, the only place user templates are read from.
pub(crate) fn check_node(d: &mut Decoder, xt: &Node, prop: &Node, field: &str, top_level: bool) {
    if !top_level {
        d.push(
            Diagnostic::error(
                Code::InvalidValue,
                key_span(prop, "x-template"),
                format!("`x-template` on `{field}`: only top-level `config` properties can hold user templates"),
            )
            .with_help("move the field to the top level of `config`"),
        );
        return;
    }
    let Some(entries) = xt.as_map() else {
        d.push(Diagnostic::error(
            Code::WrongType,
            xt.span,
            format!("`x-template` must be a mapping, found {}", xt.kind()),
        ));
        return;
    };
    crate::validate::format::check_known_keys(d, entries, "`x-template`", &KEYS);
    check_kind(d, xt);
    let variables = check_names(d, xt, "variables");
    let required = check_names(d, xt, "required");
    for (name, span) in &required {
        if !variables.iter().any(|(v, _)| v == name) {
            d.push(
                Diagnostic::error(
                    Code::UnresolvedReference,
                    *span,
                    format!("required variable `{name}` is not in `x-template.variables`"),
                )
                .with_label("not a declared variable"),
            );
        }
    }
    if !crate::schema_check::has_type(&prop.to_json(), "string") {
        d.push(
            Diagnostic::error(
                Code::InvalidValue,
                prop.get("type").map_or(prop.span, |t| t.span),
                format!("`{field}` has `x-template` but its `type` does not allow a string"),
            )
            .with_help("a user template is a string: `type: string` (or `[string, \"null\"]`)"),
        );
    }
    check_default(d, xt, prop, field);
}

fn check_kind(d: &mut Decoder, xt: &Node) {
    match xt.get("kind") {
        None => d.push(Diagnostic::error(
            Code::MissingKey,
            Span::at(xt.span.start, 0),
            "`x-template` is missing `kind` (`json` or `url`)",
        )),
        Some(k) => {
            let text = k.as_str().unwrap_or_default();
            if !KINDS.contains(&text) {
                let help =
                    did_you_mean_or(text, KINDS, || format!("kinds are: {}", KINDS.join(", ")));
                d.push(
                    Diagnostic::error(
                        Code::InvalidValue,
                        k.span,
                        format!("`x-template.kind` must be one of {}", KINDS.join(", ")),
                    )
                    .with_label("not a template kind")
                    .with_help(help),
                );
            }
        }
    }
}

/// The well-formed names of the list `key`, with their spans; the others are reported.
fn check_names(d: &mut Decoder, xt: &Node, key: &str) -> Vec<(String, Span)> {
    let Some(n) = xt.get(key) else {
        return Vec::new();
    };
    let Some(items) = n.as_seq() else {
        d.push(Diagnostic::error(
            Code::WrongType,
            n.span,
            format!("`x-template.{key}` must be a list, found {}", n.kind()),
        ));
        return Vec::new();
    };
    let mut names = Vec::new();
    for item in items {
        match item.as_str() {
            Some(s) if is_variable_name(s) => names.push((s.to_string(), item.span)),
            _ => d.push(
                Diagnostic::error(
                    Code::InvalidValue,
                    item.span,
                    format!("`x-template.{key}` holds something that is not a variable name"),
                )
                .with_help("a variable is a dotted name of letters, digits and `_`: `case.title`"),
            ),
        }
    }
    names
}

/// A string `default` must be a template its own declaration accepts.
fn check_default(d: &mut Decoder, xt: &Node, prop: &Node, field: &str) {
    let (Some(default), Ok(decl)) = (prop.get("default"), TemplateDecl::from_value(&xt.to_json()))
    else {
        return;
    };
    let Some(text) = default.as_str() else { return };
    if let Err(e) = decl.check(text) {
        d.push(
            Diagnostic::error(
                Code::TemplateSyntax,
                default.span,
                format!(
                    "the default of `{field}` is not a valid user template: {}",
                    e.message
                ),
            )
            .with_label("invalid template"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn var(name: &str, offset: usize) -> Segment {
        Segment::Variable {
            name: name.into(),
            offset,
        }
    }

    #[test]
    fn parses_double_and_triple_tags() {
        let s = parse("a{{ x.y }}b{{{z}}}").unwrap();
        assert_eq!(
            s,
            [
                Segment::Literal("a".into()),
                var("x.y", 1),
                Segment::Literal("b".into()),
                var("z", 11)
            ]
        );
        assert_eq!(
            parse("}} plain").unwrap(),
            [Segment::Literal("}} plain".into())]
        );
    }

    #[test]
    fn refuses_mustache_features_and_unclosed_tags() {
        for (t, word) in [
            ("{{#case.tags}}x{{/case.tags}}", "sections"),
            ("{{> header}}", "partials"),
            ("{{! note}}", "comments"),
            ("{{&case.title}}", "{{{name}}}"),
            ("x {{case.title", "not closed"),
            ("{{{case.title}}", "not closed"),
            ("{{case title}}", "not a variable name"),
            ("{{}}", "not a variable name"),
        ] {
            let e = parse(t).unwrap_err();
            assert!(e.message.contains(word), "{t}: {e}");
        }
        assert_eq!(parse("ab {{x").unwrap_err().offset, 3);
        let long = "a".repeat(MAX_TEMPLATE_BYTES + 1);
        assert!(parse(&long).unwrap_err().message.contains("longer"));
    }

    #[test]
    fn declarations_check_variables() {
        let d = TemplateDecl::from_value(&json!({
            "kind": "json", "variables": ["case.title", "case.id"], "required": ["case.title"]
        }))
        .unwrap();
        assert_eq!(d.kind, TemplateKind::Json);
        assert!(
            d.check(r#"{"t": {{{case.title}}}, "i": "{{case.id}}"}"#)
                .is_ok()
        );
        let e = d
            .check(r#"{"t": {{{case.title}}}, "x": {{{case.other}}}}"#)
            .unwrap_err();
        assert!(e.message.contains("unknown variable `case.other`"), "{e}");
        let e = d.check(r#"{"i": {{{case.id}}}}"#).unwrap_err();
        assert_eq!(e.message, "must use the variable `{{{case.title}}}`");
    }

    #[test]
    fn bad_declarations_are_refused() {
        for (v, word) in [
            (json!({"kind": "html"}), "kind"),
            (json!({"kind": "url", "vars": []}), "unknown key `vars`"),
            (json!({"kind": "url", "variables": "a"}), "must be a list"),
            (json!({"kind": "url", "variables": ["a b"]}), "bad variable"),
            (
                json!({"kind": "url", "variables": ["a"], "required": ["b"]}),
                "not in `variables`",
            ),
        ] {
            let e = TemplateDecl::from_value(&v).unwrap_err();
            assert!(e.contains(word), "{v}: {e}");
        }
    }
}
