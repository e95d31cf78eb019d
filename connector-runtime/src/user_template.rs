//! User templates: config fields declared with `x-template` (a URL or a JSON body the *user*
//! wrote, with `{{{case.title}}}` in it), compiled once when an instance is created and
//! rendered with escaping chosen by context, so a value can never change the shape of what
//! the user wrote.
//!
//! * `json`: a variable outside quotes becomes the value as JSON (a string, or a list of
//!   strings), as Kibana renders `"summary": {{{case.title}}}`; a variable inside quotes the
//!   user wrote becomes the string's escaped content. The rendered text must parse as JSON.
//! * `url`: a variable is percent-encoded (everything but `A-Z a-z 0-9 - _ . ~`), and the
//!   template must write its scheme, host and port out before the first variable; the
//!   rendered URL must keep that origin. The egress policy then checks it like any request.
//!
//! The language (variables only) and its parser are connector-spec's
//! [`connector_spec::user_template`]; why no mustache or handlebars crate is decision 0013.

use std::collections::BTreeMap;

use connector_spec::user_template::{self as spec, Segment, TemplateDecl, TemplateKind};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Map, Value};

use crate::error::ActionError;

/// The longest rendering accepted, in bytes (a request body or a URL).
pub const MAX_RENDERED_BYTES: usize = 1024 * 1024;

/// The longest rendered URL accepted, in bytes.
pub const MAX_URL_BYTES: usize = 8 * 1024;

/// Kept as-is in a URL value: RFC 3986 unreserved characters.
const URL_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// The value of one variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VarValue {
    Str(String),
    List(Vec<String>),
}

/// The values a handler renders a template with, by variable name (`case.title`).
pub type Vars = BTreeMap<String, VarValue>;

/// One piece of a compiled template.
#[derive(Debug, Clone)]
enum Piece {
    Text(String),
    /// A variable; for JSON, whether it sits inside a string literal.
    Var {
        name: String,
        in_string: bool,
    },
}

/// A user template, checked against its declaration.
#[derive(Debug, Clone)]
pub struct UserTemplate {
    field: String,
    kind: TemplateKind,
    pieces: Vec<Piece>,
    /// For URLs: the scheme, host and port the template writes out.
    origin: Option<url::Origin>,
}

/// The compiled user templates of one instance, by config field.
#[derive(Debug, Clone, Default)]
pub struct UserTemplates(BTreeMap<String, UserTemplate>);

impl UserTemplates {
    /// Compile every `x-template` field of `config` declared by `schema`. A field that is
    /// absent, null or empty is not configured (Kibana's optional comment templates).
    pub fn compile(schema: &Value, config: &Map<String, Value>) -> Result<Self, ActionError> {
        let mut out = BTreeMap::new();
        for (field, decl) in spec::declarations(schema) {
            let decl = decl.map_err(|e| {
                ActionError::system("invalid_schema", format!("`config.{field}`: {e}"))
            })?;
            let Some(text) = config.get(&field).and_then(Value::as_str) else {
                continue;
            };
            if text.trim().is_empty() {
                continue;
            }
            let t = UserTemplate::compile(&field, &decl, text)?;
            out.insert(field, t);
        }
        Ok(UserTemplates(out))
    }

    /// The template of `field`, when it is configured.
    pub fn get(&self, field: &str) -> Option<&UserTemplate> {
        self.0.get(field)
    }
}

fn invalid(field: &str, message: impl std::fmt::Display) -> ActionError {
    ActionError::user("invalid_config", format!("`config.{field}`: {message}"))
}

impl UserTemplate {
    /// Parse `text`, check it against `decl`, and check what a rendering can become.
    pub fn compile(field: &str, decl: &TemplateDecl, text: &str) -> Result<Self, ActionError> {
        let segments = decl.check(text).map_err(|e| invalid(field, e))?;
        let mut t = UserTemplate {
            field: field.to_string(),
            kind: decl.kind,
            pieces: Vec::new(),
            origin: None,
        };
        match decl.kind {
            TemplateKind::Json => t.pieces = json_pieces(field, segments)?,
            TemplateKind::Url => {
                t.origin = Some(literal_origin(field, &segments)?);
                t.pieces = segments.into_iter().map(plain_piece).collect();
            }
        }
        // Rendered with sample values, the template must already be what its kind needs.
        let sample: Vars = decl
            .variables
            .iter()
            .map(|v| (v.clone(), VarValue::Str("x".into())))
            .collect();
        match decl.kind {
            TemplateKind::Json => t.render_json(&sample).map(drop),
            TemplateKind::Url => t.render_url(&sample).map(drop),
        }
        .map_err(|e| invalid(field, e.message))?;
        Ok(t)
    }

    /// The config field this template is the value of.
    pub fn field(&self) -> &str {
        &self.field
    }

    fn render(&self, vars: &Vars) -> Result<String, ActionError> {
        let mut out = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(s) => out.push_str(s),
                Piece::Var { name, in_string } => {
                    let value = vars.get(name).ok_or_else(|| {
                        ActionError::system(
                            "template_variable",
                            format!("`config.{}`: `{name}` has no value here", self.field),
                        )
                    })?;
                    match self.kind {
                        TemplateKind::Json => push_json(&mut out, value, *in_string),
                        TemplateKind::Url => push_url(&mut out, value),
                    }
                }
            }
            if out.len() > MAX_RENDERED_BYTES {
                return Err(too_large(&self.field, MAX_RENDERED_BYTES));
            }
        }
        Ok(out)
    }

    /// Render a `json` template: the body text, checked to be JSON.
    pub fn render_json(&self, vars: &Vars) -> Result<String, ActionError> {
        let text = self.render(vars)?;
        if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(&text) {
            // The position, not the text: it holds the caller's values.
            return Err(invalid(
                &self.field,
                format!(
                    "renders to invalid JSON (line {}, column {}): write a variable as \
                     {{{{{{name}}}}}} for a JSON value, or inside quotes for text",
                    e.line(),
                    e.column()
                ),
            ));
        }
        Ok(text)
    }

    /// Render a `url` template: an http(s) URL with the template's origin.
    pub fn render_url(&self, vars: &Vars) -> Result<url::Url, ActionError> {
        let text = self.render(vars)?;
        if text.len() > MAX_URL_BYTES {
            return Err(too_large(&self.field, MAX_URL_BYTES));
        }
        let url = url::Url::parse(text.trim())
            .map_err(|e| invalid(&self.field, format!("does not render to a URL: {e}")))?;
        if Some(&url.origin()) != self.origin.as_ref() {
            return Err(invalid(
                &self.field,
                "the rendered URL's scheme, host or port differ from the template's",
            ));
        }
        Ok(url)
    }
}

fn too_large(field: &str, limit: usize) -> ActionError {
    ActionError::user(
        "template_too_large",
        format!("`config.{field}` renders to more than {limit} bytes"),
    )
}

fn plain_piece(s: Segment) -> Piece {
    match s {
        Segment::Literal(t) => Piece::Text(t),
        Segment::Variable { name, .. } => Piece::Var {
            name,
            in_string: false,
        },
    }
}

/// Mark each variable inside or outside a JSON string, by lexing the literal text around it.
fn json_pieces(field: &str, segments: Vec<Segment>) -> Result<Vec<Piece>, ActionError> {
    let mut in_string = false;
    let mut escaped = false;
    let mut pieces = Vec::with_capacity(segments.len());
    for s in segments {
        match s {
            Segment::Literal(t) => {
                for c in t.chars() {
                    match (in_string, escaped, c) {
                        (true, true, _) => escaped = false,
                        (true, false, '\\') => escaped = true,
                        (true, false, '"') | (false, _, '"') => in_string = !in_string,
                        _ => {}
                    }
                }
                pieces.push(Piece::Text(t));
            }
            Segment::Variable { name, offset } => {
                if escaped {
                    return Err(invalid(
                        field,
                        format!("the variable at byte {offset} follows a backslash"),
                    ));
                }
                pieces.push(Piece::Var { name, in_string });
            }
        }
    }
    Ok(pieces)
}

/// The origin written before the first variable; a template whose host could come from a
/// variable is refused.
fn literal_origin(field: &str, segments: &[Segment]) -> Result<url::Origin, ActionError> {
    let prefix = match segments.first() {
        Some(Segment::Literal(t)) => t.as_str(),
        _ => "",
    };
    let has_vars = segments.len() > 1 || matches!(segments.first(), Some(Segment::Variable { .. }));
    let authority_end = prefix
        .find("://")
        .and_then(|i| prefix[i + 3..].find(['/', '?', '#']).map(|j| i + 3 + j));
    let origin_text = match authority_end {
        Some(end) => &prefix[..end],
        None if !has_vars => prefix,
        None => {
            return Err(invalid(
                field,
                "write the scheme, host and port out before the first variable \
                 (`https://cases.example.com/...`)",
            ));
        }
    };
    let url = url::Url::parse(origin_text.trim())
        .map_err(|e| invalid(field, format!("does not start with a URL: {e}")))?;
    match url.scheme() {
        "http" | "https" => Ok(url.origin()),
        other => Err(invalid(field, format!("unsupported URL scheme `{other}`"))),
    }
}

fn push_json(out: &mut String, value: &VarValue, in_string: bool) {
    let as_json = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into());
    match (value, in_string) {
        (VarValue::Str(s), false) => out.push_str(&as_json(s)),
        (VarValue::List(items), false) => {
            out.push_str(&serde_json::to_string(items).unwrap_or_else(|_| "[]".into()))
        }
        (VarValue::Str(s), true) => {
            let quoted = as_json(s);
            out.push_str(&quoted[1..quoted.len() - 1]);
        }
        (VarValue::List(items), true) => {
            let quoted = as_json(&items.join(", "));
            out.push_str(&quoted[1..quoted.len() - 1]);
        }
    }
}

fn push_url(out: &mut String, value: &VarValue) {
    match value {
        VarValue::Str(s) => out.extend(utf8_percent_encode(s, URL_VALUE)),
        VarValue::List(items) => out.extend(utf8_percent_encode(&items.join(","), URL_VALUE)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn decl(kind: &str, vars: &[&str]) -> TemplateDecl {
        TemplateDecl::from_value(&json!({ "kind": kind, "variables": vars })).unwrap()
    }

    fn vars(pairs: &[(&str, &str)]) -> Vars {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), VarValue::Str(v.to_string())))
            .collect()
    }

    const EVIL: &str = "a\"}, \"x\": 1, \"y\": {\"\\\n";

    #[test]
    fn json_values_outside_quotes_are_json_and_inside_are_content() {
        let d = decl("json", &["case.title", "case.tags"]);
        let t = UserTemplate::compile(
            "body",
            &d,
            r#"{"s": {{{case.title}}}, "t": "[{{case.title}}]", "l": {{{case.tags}}}}"#,
        )
        .unwrap();
        let mut v = vars(&[("case.title", EVIL)]);
        v.insert(
            "case.tags".into(),
            VarValue::List(vec!["a\"".into(), "b".into()]),
        );
        let out: Value = serde_json::from_str(&t.render_json(&v).unwrap()).unwrap();
        assert_eq!(
            out,
            json!({ "s": EVIL, "t": format!("[{EVIL}]"), "l": ["a\"", "b"] })
        );
    }

    #[test]
    fn json_that_does_not_parse_is_refused_at_compile_time() {
        let d = decl("json", &["case.title"]);
        let e = UserTemplate::compile("body", &d, r#"{"s": {{{case.title}}}"#).unwrap_err();
        assert_eq!(e.code, "invalid_config");
        assert!(e.message.contains("`config.body`"), "{}", e.message);
        let e = UserTemplate::compile("body", &d, r#"{"s": "\{{case.title}}"}"#).unwrap_err();
        assert!(e.message.contains("backslash"), "{}", e.message);
    }

    #[test]
    fn url_values_are_percent_encoded_and_the_origin_is_kept() {
        let d = decl("url", &["id"]);
        let t = UserTemplate::compile("u", &d, "https://cases.example:8443/issue/{{{id}}}?x=1")
            .unwrap();
        let url = t.render_url(&vars(&[("id", "../a/b?c#d@e f")])).unwrap();
        assert_eq!(
            url.as_str(),
            "https://cases.example:8443/issue/..%2Fa%2Fb%3Fc%23d%40e%20f?x=1"
        );
    }

    #[test]
    fn a_host_from_a_variable_is_refused() {
        let d = decl("url", &["id"]);
        for t in [
            "https://{{id}}.example/x",
            "{{{id}}}/x",
            "https://cases.example{{id}}",
        ] {
            let e = UserTemplate::compile("u", &d, t).unwrap_err();
            assert_eq!(e.code, "invalid_config", "{t}");
        }
        let e = UserTemplate::compile("u", &d, "ftp://cases.example/{{id}}").unwrap_err();
        assert!(e.message.contains("scheme"), "{}", e.message);
    }

    #[test]
    fn a_missing_value_and_too_large_renderings_are_errors() {
        let d = decl("json", &["a"]);
        let t = UserTemplate::compile("b", &d, "[{{{a}}}]").unwrap();
        assert_eq!(
            t.render_json(&Vars::new()).unwrap_err().code,
            "template_variable"
        );
        let big = "x".repeat(MAX_RENDERED_BYTES);
        let e = t.render_json(&vars(&[("a", &big)])).unwrap_err();
        assert_eq!(e.code, "template_too_large");
    }
}
