//! Rendering spec templates: strict undefined, a fuel limit, compiled once per connector type.

use std::collections::{HashMap, HashSet};

use minijinja::{Environment, UndefinedBehavior};
use serde_json::Value;

use crate::error::ActionError;

/// Instructions one render may execute; a runaway loop stops here instead of hanging.
pub const DEFAULT_FUEL: u64 = 50_000;

/// Renders the templates of one connector spec. Templates are compiled when the renderer is
/// built; rendering looks them up by their text.
pub struct Renderer {
    env: Environment<'static>,
    /// Renders `request.path` templates: every value written into a path is percent-encoded
    /// as one path segment, so an input like `a/b?c` cannot change the route.
    path_env: Environment<'static>,
    known: HashSet<String>,
    known_paths: HashSet<String>,
    /// The typed form of each compiled single-expression template, by template text.
    typed: HashMap<String, Typed>,
}

/// How a JSON body string that is exactly one expression is evaluated.
#[derive(Debug)]
struct Typed {
    /// A plain variable path (`input.priority`, `config.project.key`) is looked up in the
    /// context and serialized, with no template run. A path that does not resolve takes
    /// the template route, which reports it as strict undefined does.
    path: Option<Vec<String>>,
    /// The compiled `{{ (expr) | tojson }}` template of this text.
    source: String,
}

/// The segments of `expr` when it is a dotted path of identifiers.
fn variable_path(expr: &str) -> Option<Vec<String>> {
    let segments: Vec<String> = expr.split('.').map(str::to_string).collect();
    let identifier = |s: &String| {
        let mut chars = s.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    segments.iter().all(identifier).then_some(segments)
}

/// The value at `path` in `ctx`; `None` when a step is undefined (or not a map lookup).
fn lookup(ctx: &minijinja::Value, path: &[String]) -> Option<Value> {
    let mut value = ctx.clone();
    for segment in path {
        value = value.get_attr(segment).ok()?;
        if value.is_undefined() {
            return None;
        }
    }
    serde_json::to_value(&value).ok()
}

/// Characters escaped in a path segment (RFC 3986 `pchar` minus the sub-delims we keep).
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'\\')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

fn base_env() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_fuel(Some(DEFAULT_FUEL));
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    // minijinja prints booleans Python-style (`True`); on the wire they are `true` / `false`.
    env.set_formatter(|out, state, value| match wire_bool(value) {
        Some(b) => out
            .write_str(b)
            .map_err(|_| minijinja::Error::new(minijinja::ErrorKind::WriteFailure, "write failed")),
        None => minijinja::escape_formatter(out, state, value),
    });
    env.add_filter("b64encode", |s: String| {
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, s.as_bytes())
    });
    env.add_filter("b64decode", b64decode);
    env.add_filter("fromjson", fromjson);
    env
}

/// A filter's error: what is wrong and where, never the value (it may be a secret or a
/// provider's payload).
fn filter_error(filter: &str, what: String) -> minijinja::Error {
    minijinja::Error::new(
        minijinja::ErrorKind::InvalidOperation,
        format!("`{filter}`: {what}"),
    )
}

/// The text a filter reads: a string; undefined or another kind is an error naming the kind.
fn filter_text<'a>(filter: &str, value: &'a minijinja::Value) -> Result<&'a str, minijinja::Error> {
    value.as_str().ok_or_else(|| {
        let kind = if value.is_undefined() {
            "an undefined value".to_string()
        } else {
            format!("a {}", value.kind())
        };
        filter_error(filter, format!("expects a string, got {kind}"))
    })
}

/// `b64decode`: standard base64 (with padding) to UTF-8 text. The output is smaller than the
/// input, so it is bounded by it.
fn b64decode(value: &minijinja::Value) -> Result<String, minijinja::Error> {
    use base64::DecodeError;
    let text = filter_text("b64decode", value)?;
    let bytes =
        base64::Engine::decode(&base64::engine::general_purpose::STANDARD, text).map_err(|e| {
            let what = match e {
                DecodeError::InvalidByte(at, _) => {
                    format!("invalid base64 character at offset {at}")
                }
                DecodeError::InvalidLength(n) => format!("invalid base64 length ({n} symbols)"),
                DecodeError::InvalidLastSymbol(at, _) => {
                    format!("invalid last base64 symbol at offset {at}")
                }
                DecodeError::InvalidPadding => "invalid base64 padding".to_string(),
            };
            filter_error("b64decode", format!("the text is not base64: {what}"))
        })?;
    String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        filter_error(
            "b64decode",
            format!("the decoded bytes are not UTF-8 text (invalid byte at offset {at})"),
        )
    })
}

/// `fromjson`: JSON text to its value. serde_json bounds the nesting (128 levels) and the
/// value is no larger than the text.
fn fromjson(value: &minijinja::Value) -> Result<minijinja::Value, minijinja::Error> {
    let text = filter_text("fromjson", value)?;
    let parsed: Value = serde_json::from_str(text)
        .map_err(|e| filter_error("fromjson", format!("the text is not JSON: {e}")))?;
    Ok(minijinja::Value::from_serialize(&parsed))
}

impl std::fmt::Debug for Renderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Renderer({} templates)", self.known.len())
    }
}

/// A boolean as it is written on the wire (`true` / `false`), `None` for other values.
fn wire_bool(value: &minijinja::Value) -> Option<&'static str> {
    (value.kind() == minijinja::value::ValueKind::Bool)
        .then(|| if value.is_true() { "true" } else { "false" })
}

/// A JSON body string that is exactly one expression keeps the expression's JSON type.
fn single_expression(text: &str) -> Option<&str> {
    let t = text.trim();
    let inner = t.strip_prefix("{{")?.strip_suffix("}}")?;
    if inner.contains("{{") || inner.contains("}}") {
        return None;
    }
    Some(inner.trim())
}

fn typed_source(expr: &str) -> String {
    format!("{{{{ ({expr}) | tojson }}}}")
}

impl Renderer {
    pub fn new() -> Renderer {
        let mut path_env = base_env();
        path_env.set_formatter(|out, _state, value| {
            if value.is_undefined() {
                return Err(minijinja::Error::from(minijinja::ErrorKind::UndefinedError));
            }
            let text = wire_bool(value).map_or_else(|| value.to_string(), str::to_string);
            write!(
                out,
                "{}",
                percent_encoding::utf8_percent_encode(&text, SEGMENT)
            )
            .map_err(|_| minijinja::Error::new(minijinja::ErrorKind::WriteFailure, "write failed"))
        });
        Renderer {
            env: base_env(),
            path_env,
            known: HashSet::new(),
            known_paths: HashSet::new(),
            typed: HashMap::new(),
        }
    }

    /// Compile a `request.path` template.
    pub fn add_path(&mut self, text: &str) {
        if self.known_paths.insert(text.to_string()) {
            let _ = self
                .path_env
                .add_template_owned(text.to_string(), text.to_string());
        }
    }

    /// Render a `request.path` template, percent-encoding every interpolated value.
    pub fn render_path(&self, text: &str, ctx: &minijinja::Value) -> Result<String, ActionError> {
        if !connector_spec::template::is_template(text) {
            return Ok(text.to_string());
        }
        let result = match self.path_env.get_template(text) {
            Ok(t) => t.render(ctx),
            Err(_) => self.path_env.render_str(text, ctx),
        };
        result.map_err(template_error)
    }

    /// A renderer with every template of `spec` compiled.
    pub fn for_spec(spec: &connector_spec::ConnectorSpec) -> Renderer {
        let mut r = Renderer::new();
        for t in crate::spec_templates(spec) {
            r.add(&t);
        }
        for p in crate::spec_path_templates(spec) {
            r.add_path(&p);
        }
        r
    }

    /// Compile a template (and its typed form when it is a single expression).
    pub fn add(&mut self, text: &str) {
        if !self.known.insert(text.to_string()) {
            return;
        }
        // A template that fails to compile is reported when rendered.
        let _ = self
            .env
            .add_template_owned(text.to_string(), text.to_string());
        if let Some(expr) = single_expression(text) {
            let typed = typed_source(expr);
            let _ = self.env.add_template_owned(typed.clone(), typed.clone());
            let path = variable_path(expr);
            self.typed.insert(
                text.to_string(),
                Typed {
                    path,
                    source: typed,
                },
            );
        }
    }

    /// Render to a string. Text without template syntax is returned as is.
    pub fn render_str(&self, text: &str, ctx: &minijinja::Value) -> Result<String, ActionError> {
        if !connector_spec::template::is_template(text) {
            return Ok(text.to_string());
        }
        let result = match self.env.get_template(text) {
            Ok(t) => t.render(ctx),
            Err(_) => self.env.render_str(text, ctx),
        };
        result.map_err(template_error)
    }

    /// Render a JSON value: strings are templates; a string that is exactly one expression
    /// becomes that expression's JSON value.
    pub fn render_json(&self, value: &Value, ctx: &minijinja::Value) -> Result<Value, ActionError> {
        Ok(match value {
            Value::String(s) => match self.typed.get(s.as_str()) {
                Some(typed) => match typed.path.as_deref().and_then(|p| lookup(ctx, p)) {
                    Some(v) => v,
                    None => self.render_typed(&typed.source, ctx)?,
                },
                None => match single_expression(s) {
                    Some(expr) => self.render_typed(&typed_source(expr), ctx)?,
                    None => Value::String(self.render_str(s, ctx)?),
                },
            },
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|v| self.render_json(v, ctx))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(map) => {
                let mut out = serde_json::Map::with_capacity(map.len());
                for (k, v) in map {
                    out.insert(k.clone(), self.render_json(v, ctx)?);
                }
                Value::Object(out)
            }
            other => other.clone(),
        })
    }
}

impl Renderer {
    /// Render the `{{ (expr) | tojson }}` form of a single expression into its JSON value.
    fn render_typed(&self, typed: &str, ctx: &minijinja::Value) -> Result<Value, ActionError> {
        let json = match self.env.get_template(typed) {
            Ok(t) => t.render(ctx),
            Err(_) => self.env.render_str(typed, ctx),
        }
        .map_err(template_error)?;
        serde_json::from_str(&json).map_err(|e| {
            ActionError::system("template", format!("template produced invalid JSON: {e}"))
        })
    }
}

impl Default for Renderer {
    fn default() -> Self {
        Renderer::new()
    }
}

fn template_error(e: minijinja::Error) -> ActionError {
    // Messages name the template variable that failed, never a value.
    let detail = e
        .detail()
        .map(str::to_string)
        .unwrap_or_else(|| e.kind().to_string());
    let class = if e.kind() == minijinja::ErrorKind::UndefinedError {
        connector_spec::ErrorClass::User
    } else {
        connector_spec::ErrorClass::System
    };
    ActionError::new(class, "template", format!("template error: {detail}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ctx(v: Value) -> minijinja::Value {
        minijinja::Value::from_serialize(&v)
    }

    #[test]
    fn single_expressions_keep_their_type() {
        let mut r = Renderer::new();
        r.add("{{ input.n }}");
        let c = ctx(json!({"input": {"n": 3, "s": "a<b", "l": [1, 2]}}));
        assert_eq!(
            r.render_json(&json!("{{ input.n }}"), &c).unwrap(),
            json!(3)
        );
        assert_eq!(
            r.render_json(&json!("{{ input.l }}"), &c).unwrap(),
            json!([1, 2])
        );
        assert_eq!(
            r.render_json(&json!("x{{ input.s }}"), &c).unwrap(),
            json!("xa<b")
        );
    }

    /// A plain path skips the template but gives what `{{ (path) | tojson }}` gives, an
    /// undefined one included (it takes the template route).
    #[test]
    fn variable_paths_give_what_the_template_gives() {
        let fields = [
            "{{ input.s }}",
            "{{input.n}}",
            "{{ input.o.deep }}",
            "{{ input.z }}",
            "{{ input.l }}",
            "{{ input.f }}",
            "{{ input.b }}",
            "{{ input.s | upper }}",
            "{{ input.missing }}",
            "{{ input.s.x }}",
        ];
        let mut fast = Renderer::new();
        for f in fields {
            fast.add(f);
        }
        let slow = Renderer::new();
        let c = ctx(
            json!({"input": {"s": "a<b>&'\"", "n": -3, "o": {"deep": [1, {"x": null}]},
            "z": null, "l": ["x"], "f": 1.5, "b": false}}),
        );
        for f in fields {
            let expected = slow.render_json(&json!(f), &c).unwrap();
            assert_eq!(fast.render_json(&json!(f), &c).unwrap(), expected, "{f}");
        }
        assert!(fast.typed["{{ input.s }}"].path.is_some());
        assert!(fast.typed["{{ input.s | upper }}"].path.is_none());
        let e = fast.render_json(&json!("{{ nope.x }}"), &c).unwrap_err();
        assert_eq!(
            (e.code, e.class),
            ("template", connector_spec::ErrorClass::User)
        );
    }

    #[test]
    fn path_values_are_encoded_as_one_segment() {
        let r = Renderer::new();
        let c = ctx(json!({"input": {"alias": "a/b?c d"}}));
        assert_eq!(
            r.render_path("/alerts/{{ input.alias }}/close", &c)
                .unwrap(),
            "/alerts/a%2Fb%3Fc%20d/close"
        );
        assert!(r.render_path("/x/{{ input.nope }}", &c).is_err());
    }

    fn b64(text: &[u8]) -> String {
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, text)
    }

    #[test]
    fn b64decode_and_fromjson_decode_an_encoded_json_event() {
        let mut r = Renderer::new();
        let t = "{{ (input.bytes | b64decode | fromjson).delta }}";
        r.add(t);
        let event = json!({"type": "content_block_delta", "delta": {"text": "h\u{e9}llo", "n": [1, 2.5, null]}});
        let c = ctx(json!({"input": {"bytes": b64(event.to_string().as_bytes())}}));
        assert_eq!(r.render_json(&json!(t), &c).unwrap(), event["delta"]);
        let c = ctx(json!({"input": {"s": b64("caf\u{e9} \u{1f600}".as_bytes())}}));
        assert_eq!(
            r.render_str("{{ input.s | b64decode }}", &c).unwrap(),
            "caf\u{e9} \u{1f600}"
        );
        let c = ctx(json!({"input": {"s": "[1, \"x\", {\"k\": true}]"}}));
        assert_eq!(
            r.render_json(&json!("{{ input.s | fromjson }}"), &c)
                .unwrap(),
            json!([1, "x", {"k": true}])
        );
    }

    /// Rendering `template` over `input` fails with class `system`, code `template` and a
    /// message that contains `expected` and not the input's text.
    #[track_caller]
    fn assert_filter_error(template: &str, input: Value, expected: &str) {
        let r = Renderer::new();
        let e = r
            .render_json(&json!(template), &ctx(json!({ "input": input })))
            .unwrap_err();
        assert_eq!(
            (e.code, e.class),
            ("template", connector_spec::ErrorClass::System),
            "{e}"
        );
        assert!(e.message.contains(expected), "{e}");
        if let Some(s) = input["s"].as_str().filter(|s| s.len() > 8) {
            assert!(!e.message.contains(s), "the input in {e}");
        }
    }

    #[test]
    fn b64decode_refuses_bad_base64_and_bytes_that_are_not_utf8() {
        let t = "{{ input.s | b64decode }}";
        assert_filter_error(
            t,
            json!({"s": "c2VjcmV0*dmFsdWU="}),
            "`b64decode`: the text is not base64: invalid base64 character at offset 8",
        );
        assert_filter_error(t, json!({"s": "c2VjcmV0d"}), "invalid base64 length");
        assert_filter_error(t, json!({"s": "c2VjcmV0dmFsdWU"}), "not base64");
        assert_filter_error(
            t,
            json!({"s": b64(b"secret-\xff\xfe-value")}),
            "`b64decode`: the decoded bytes are not UTF-8 text (invalid byte at offset 7)",
        );
        assert_filter_error(
            t,
            json!({"s": 42}),
            "`b64decode`: expects a string, got a number",
        );
        assert_filter_error(
            "{{ input.missing | b64decode }}",
            json!({}),
            "`b64decode`: expects a string, got an undefined value",
        );
    }

    #[test]
    fn fromjson_refuses_bad_json_naming_the_position() {
        let t = "{{ input.s | fromjson }}";
        assert_filter_error(
            t,
            json!({"s": "{\"secret\": tru}"}),
            "`fromjson`: the text is not JSON: expected ident at line 1 column 15",
        );
        assert_filter_error(
            t,
            json!({"s": "{\"a\": [1,\n 2"}),
            "EOF while parsing a list at line 2 column 2",
        );
        assert_filter_error(
            t,
            json!({"s": "[1] [2]"}),
            "trailing characters at line 1 column 5",
        );
        // Nesting is bounded: deep input is an error, not a stack overflow.
        assert_filter_error(t, json!({"s": "[".repeat(100_000)}), "recursion limit");
        assert_filter_error(
            t,
            json!({"s": ["x"]}),
            "`fromjson`: expects a string, got a seq",
        );
    }

    #[test]
    fn undefined_is_an_error_and_fuel_stops_runaway_loops() {
        let r = Renderer::new();
        let c = ctx(json!({"input": {}}));
        let e = r.render_str("{{ input.missing }}", &c).unwrap_err();
        assert_eq!(e.code, "template");
        let e = r
            .render_str(
                "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
                &c,
            )
            .unwrap_err();
        assert_eq!(e.code, "template");
    }
}
