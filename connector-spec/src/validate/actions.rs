//! Actions: names, one implementation, requests that can be sent, response rules that can
//! apply, and streaming that does not contradict pagination or error rules.

use serde_json::Value;

use super::schemas::{self, Role};
use super::{Pending, PendingRef, TemplateScope, key_span, policies, start_of, values};
use crate::decode::Decoder;
use crate::deserialize::from_node;
use crate::diagnostic::{Code, Diagnostic};
use crate::model::{HttpMethod, ResponseFormat};
use crate::yaml::{Node, NodeValue};

/// `actions` with its JSON form `json`, for the embedded schemas.
pub fn check(d: &mut Decoder, p: &mut Pending, root: &Node, actions: &Node, json: Option<&Value>) {
    let Some(entries) = actions.as_map() else {
        return;
    };
    if entries.is_empty() {
        d.error(
            Code::InvalidValue,
            actions.span,
            "a connector needs at least one action",
        );
    }
    for (k, action) in entries {
        // A key like `123:` is read as the text `123` and then fails the name rule.
        let key = k.key_text();
        let name = key.as_str();
        let valid_name = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid_name {
            d.push(
                Diagnostic::error(
                    Code::InvalidValue,
                    k.span,
                    format!("action name `{name}` must start with a letter and contain only letters, digits and `_`"),
                )
                .with_help("action names become Rust method names and tool names"),
            );
        }
        if action.as_map().is_some() {
            let json = json.and_then(|j| j.get(name)).unwrap_or(&Value::Null);
            check_action(d, p, root, name, action, json);
        }
    }
}

fn flag(n: &Node, key: &str) -> bool {
    n.get(key)
        .and_then(|v| from_node::<bool>(v).ok())
        .unwrap_or(false)
}

fn check_action(d: &mut Decoder, p: &mut Pending, root: &Node, name: &str, a: &Node, json: &Value) {
    let what = format!("action `{name}`");
    values::non_blank(d, a.get("description"), "`description`");
    for (key, role) in [("input", Role::Input), ("output", Role::Output)] {
        if let (Some(n), Some(schema)) = (a.get(key), json.get(key)) {
            schemas::check(d, p, n, schema, &format!("{name}.{key}"), role);
        }
    }
    let is_http = check_implementation(d, p, root, name, a);
    if let Some(s) = a.get("session")
        && let Some(session) = s.as_str()
    {
        p.refs.push(PendingRef::Session {
            name: session.to_string(),
            span: s.span,
            action: name.to_string(),
        });
    }
    if let Some(pg) = a.get("pagination") {
        policies::check_pagination(d, pg);
        policies::check_params_in_body(d, pg, a.get("request"));
        if a.get("request").is_none() && a.get("handler").is_some() {
            d.error(
                Code::Conflict,
                key_span(a, "pagination"),
                "`pagination` has no effect on a `handler: code` action",
            );
        }
    }
    if let Some(s) = a.get("streaming") {
        policies::check_streaming(d, s);
    }
    check_streaming_action(d, root, a, &what, is_http);
    check_response_format(d, root, a, &what);
    if let Some(u) = a.get("usage") {
        check_usage_mapping(d, p, name, a, u);
    }
}

/// `response.format: text | base64` makes the whole body one string: nothing to page through
/// or stream, and no JSON for an error rule's `path` to read.
fn check_response_format(d: &mut Decoder, root: &Node, a: &Node, what: &str) {
    let Some(r) = a.get("response") else {
        return;
    };
    let format = r
        .get("format")
        .and_then(|f| from_node::<ResponseFormat>(f).ok());
    let Some(format) = format.filter(|f| *f != ResponseFormat::Json) else {
        return;
    };
    let at = key_span(r, "format");
    let fmt = format.as_str();
    let is_get = a
        .lookup(&["request", "method"])
        .and_then(|m| from_node::<HttpMethod>(m).ok())
        == Some(HttpMethod::Get);
    let default_listing = is_get && root.lookup(&["policies", "pagination"]).is_some();
    if a.get("pagination").is_some() || default_listing {
        d.push(
            Diagnostic::error(
                Code::Conflict,
                at,
                format!("{what} is a listing: `format: {fmt}` has no records to page through"),
            )
            .with_help("remove `format` (a listing's pages are JSON), or the pagination"),
        );
    }
    if flag(a, "supportsStreaming") {
        d.push(
            Diagnostic::error(
                Code::Conflict,
                at,
                format!("{what} streams: `format: {fmt}` applies to a whole reply body"),
            )
            .with_help("remove `format` or `supportsStreaming`"),
        );
    }
    let rules = r.get("errors").and_then(Node::as_seq).unwrap_or_default();
    for rule in rules {
        if let Some(path) = rule.get("when").and_then(|w| w.key_node("path")) {
            d.push(
                Diagnostic::error(
                    Code::Conflict,
                    path.span,
                    format!(
                        "the reply is read as `{fmt}`: an error rule's `path` has no JSON to read"
                    ),
                )
                .with_help("test the raw body with `contains`, or the code with `status`"),
            );
        }
    }
}

fn is_usage_handler(a: &Node) -> bool {
    a.get("handler").and_then(Node::as_str) == Some("usage")
}

/// `usage:`: a model template and JSON paths of the token counts, on an action that makes a
/// model call (not on the usage report itself).
fn check_usage_mapping(d: &mut Decoder, p: &mut Pending, name: &str, a: &Node, u: &Node) {
    if is_usage_handler(a) {
        d.push(
            Diagnostic::error(
                Code::Conflict,
                key_span(a, "usage"),
                format!("action `{name}` reports usage (`handler: usage`); it makes no model call to record"),
            )
            .with_help("declare `usage` on the actions that call the model"),
        );
        return;
    }
    if u.as_map().is_none() {
        return;
    }
    if let Some(m) = u.get("model") {
        p.template(m, &TemplateScope::Request(name.to_string()));
    }
    let mut counts = 0;
    for key in ["promptTokens", "completionTokens", "totalTokens"] {
        if let Some(n) = u.get(key) {
            counts += 1;
            values::check_json_path(d, n, &format!("`usage.{key}`"));
        }
    }
    if counts == 0 {
        d.push(
            Diagnostic::error(
                Code::MissingKey,
                u.span,
                format!("`usage` of action `{name}` names no token count"),
            )
            .with_help(
                "add `promptTokens`, `completionTokens` and/or `totalTokens`: JSON paths into \
                 the output, like `$.usage.promptTokens`",
            ),
        );
    }
}

/// `handler: usage`: the runtime's report, so no schemas, mapping, paging or streaming of its
/// own, and some action of the connector must record usage.
fn check_usage_handler(d: &mut Decoder, root: &Node, a: &Node, what: &str) {
    for key in [
        "input",
        "output",
        "response",
        "streaming",
        "supportsStreaming",
        "session",
    ] {
        if a.get(key).is_some() {
            d.push(
                Diagnostic::error(
                    Code::Conflict,
                    key_span(a, key),
                    format!("{what} is `handler: usage`: `{key}` has no effect on it"),
                )
                .with_help("remove it; the usage report's input and output are the runtime's"),
            );
        }
    }
    let records = root
        .get("actions")
        .and_then(Node::as_map)
        .is_some_and(|m| m.iter().any(|(_, act)| act.get("usage").is_some()));
    if !records {
        d.push(
            Diagnostic::error(
                Code::Conflict,
                key_span(a, "handler"),
                format!("{what} reports usage, but no action of this connector declares `usage`"),
            )
            .with_help("add `usage: { model: ..., totalTokens: $.usage.totalTokens }` to the actions that call the model"),
        );
    }
}

/// `request` or `handler: code`, exactly one. Returns whether the action is declarative.
fn check_implementation(
    d: &mut Decoder,
    p: &mut Pending,
    root: &Node,
    name: &str,
    a: &Node,
) -> bool {
    let what = format!("action `{name}`");
    match (a.get("request"), a.get("handler")) {
        (Some(_), Some(_)) => {
            d.push(
                Diagnostic::error(
                    Code::Conflict,
                    key_span(a, "handler"),
                    format!("{what} has both `request` and `handler`"),
                )
                .with_help("a declarative action has `request`; a code action has `handler: code`"),
            );
            false
        }
        (None, None) => {
            d.push(
                Diagnostic::error(
                    Code::MissingKey,
                    start_of(a),
                    format!("{what} needs either `request` or `handler: code`"),
                )
                .with_label("no implementation"),
            );
            false
        }
        (None, Some(_)) if is_usage_handler(a) => {
            check_usage_handler(d, root, a, &what);
            false
        }
        (None, Some(_)) => {
            if a.get("response").is_some() {
                d.error(
                    Code::Conflict,
                    key_span(a, "response"),
                    "`response` mapping has no effect on a `handler: code` action",
                );
            }
            false
        }
        (Some(r), None) => {
            check_request(d, p, root, r, &TemplateScope::Request(name.to_string()));
            if let Some(rn) = a.get("response") {
                check_response(d, p, rn, &TemplateScope::Response(name.to_string()));
            }
            true
        }
    }
}

/// A streaming action needs a format, and has nothing a stream would ignore.
fn check_streaming_action(d: &mut Decoder, root: &Node, a: &Node, what: &str, is_http: bool) {
    let supports_streaming = flag(a, "supportsStreaming");
    let default_format = root
        .get("policies")
        .and_then(|pol| pol.get("streaming"))
        .is_some();
    if supports_streaming && is_http && a.get("streaming").is_none() && !default_format {
        d.push(
            Diagnostic::error(
                Code::MissingKey,
                a.get("supportsStreaming").map_or(a.span, |s| s.span),
                format!("{what} supports streaming but no streaming format is declared"),
            )
            .with_help("add `streaming: { format: sse }` to the action or to `policies`"),
        );
    }
    if a.get("streaming").is_some() && !supports_streaming {
        d.push(
            Diagnostic::error(
                Code::Conflict,
                key_span(a, "streaming"),
                format!("{what} declares `streaming` but not `supportsStreaming: true`"),
            )
            .with_help("set `supportsStreaming: true` or remove `streaming`"),
        );
    }
    if !(supports_streaming && is_http) {
        return;
    }
    check_assembled_output(d, root, a, what);
    if a.get("pagination").is_some() {
        d.push(
            Diagnostic::error(
                Code::Conflict,
                key_span(a, "pagination"),
                format!("{what} streams, so `pagination` would have no effect"),
            )
            .with_help("remove `pagination`, or `supportsStreaming` to make it a listing"),
        );
    }
    if let Some(r) = a.get("response")
        && let Some(k) = r.key_node("errors")
    {
        d.push(
            Diagnostic::error(
                Code::Conflict,
                k.span,
                format!("{what} streams: `response.errors` is not applied to streamed events"),
            )
            .with_help(
                "remove it; a failed stream is classified by its HTTP status and \
                 `policies.errors`",
            ),
        );
    }
}

/// The `assembled` event is checked against the output schema like every event: a closed
/// object schema must declare the `assemble.into` field, or every such event would fail.
fn check_assembled_output(d: &mut Decoder, root: &Node, a: &Node, what: &str) {
    let streaming = a
        .get("streaming")
        .or_else(|| root.lookup(&["policies", "streaming"]));
    let Some(into) = streaming.and_then(|s| s.lookup(&["assemble", "into"])) else {
        return;
    };
    let (Some(name), Some(output)) = (into.as_str(), a.get("output").map(Node::to_json)) else {
        return;
    };
    let closed = output.get("additionalProperties") == Some(&Value::Bool(false));
    let declared = output
        .get("properties")
        .and_then(Value::as_object)
        .is_some_and(|p| p.contains_key(name));
    if closed && !declared {
        d.push(
            Diagnostic::error(
                Code::Conflict,
                into.span,
                format!(
                    "{what}'s output schema does not allow `{name}`, which the `assembled` \
                     event carries"
                ),
            )
            .with_help(format!("declare `{name}` in the output's `properties`")),
        );
    }
}

/// A request that can be sent: one target, templates collected, no body on GET or HEAD.
pub fn check_request(
    d: &mut Decoder,
    p: &mut Pending,
    root: &Node,
    r: &Node,
    scope: &TemplateScope,
) {
    if r.as_map().is_none() {
        return;
    }
    if let Some(pn) = r.get("path") {
        if let Some(s) = pn.as_str()
            && !s.starts_with('/')
            && !s.starts_with("{{")
        {
            d.push(
                Diagnostic::error(
                    Code::InvalidValue,
                    pn.span,
                    "`request.path` must start with `/`",
                )
                .with_help(format!("write `/{s}`")),
            );
        }
        p.template(pn, scope);
    }
    if let Some(un) = r.get("url") {
        values::check_url_template(d, un, "`request.url`");
        p.template(un, scope);
    }
    check_target(d, root, r);
    if let Some(q) = r.get("query") {
        p.templates_in_values(q, scope);
    }
    if let Some(h) = r.get("headers") {
        values::check_header_names(d, h);
        p.templates_in_values(h, scope);
    }
    if let Some(k) = r.get("idempotencyKey") {
        if let Some(h) = k.get("header") {
            values::check_header_name(d, h);
        }
        if let Some(v) = k.get("value") {
            p.template(v, scope);
        }
    }
    if let Some(b) = r.get("body") {
        check_body(d, p, b, scope);
        let method = r
            .get("method")
            .and_then(|m| from_node::<HttpMethod>(m).ok());
        if let Some(m @ (HttpMethod::Get | HttpMethod::Head)) = method {
            d.error(
                Code::Conflict,
                key_span(r, "body"),
                format!("a {} request cannot have a body", m.as_str()),
            );
        }
    }
}

/// `path` (joined to `baseUrl`) or `url`, exactly one.
fn check_target(d: &mut Decoder, root: &Node, r: &Node) {
    match (r.get("path"), r.get("url")) {
        (Some(_), Some(_)) => d.push(
            Diagnostic::error(
                Code::Conflict,
                key_span(r, "url"),
                "`request` has both `path` and `url`",
            )
            .with_help("`path` is joined to `baseUrl`; `url` is absolute. Use one."),
        ),
        (None, None) => d.push(
            Diagnostic::error(
                Code::MissingKey,
                start_of(r),
                "`request` needs `path` (joined to `baseUrl`) or an absolute `url`",
            )
            .with_label("no target"),
        ),
        (Some(_), None) if root.get("baseUrl").is_none() => d.push(
            Diagnostic::error(
                Code::MissingKey,
                key_span(r, "path"),
                "`request.path` needs a top-level `baseUrl`",
            )
            .with_help("add `baseUrl: https://api.example.com` or use an absolute `url`"),
        ),
        _ => {}
    }
}

/// Exactly one body kind; the kinds are the variants of the model's `Body`.
fn check_body(d: &mut Decoder, p: &mut Pending, b: &Node, scope: &TemplateScope) {
    if b.as_map().is_none() {
        return;
    }
    let kinds = super::format::choice_keys("Body");
    let given: Vec<&str> = kinds
        .iter()
        .copied()
        .filter(|k| b.get(k).is_some())
        .collect();
    if given.len() != 1 {
        d.push(
            Diagnostic::error(
                Code::Conflict,
                b.span,
                format!(
                    "`body` needs exactly one of {}",
                    kinds
                        .iter()
                        .map(|k| format!("`{k}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
            .with_label(format!("{} given", given.len())),
        );
        return;
    }
    let Some(v) = b.get(given[0]) else { return };
    match &v.value {
        NodeValue::Map(_) if given[0] != "json" => p.templates_in_values(v, scope),
        _ => p.templates_in_json(v, scope),
    }
}

pub fn check_response(d: &mut Decoder, p: &mut Pending, r: &Node, scope: &TemplateScope) {
    if let Some(o) = r.get("output") {
        check_output(d, p, o, scope);
    }
    if let Some(rules) = r.get("errors").and_then(Node::as_seq) {
        for rule in rules {
            if let Some(w) = rule.get("when") {
                check_condition(d, w);
            }
            if let Some(m) = rule.get("message") {
                p.template(m, scope);
            }
        }
    }
}

/// Output mapping strings are JSON paths when they start with `$`, otherwise templates.
fn check_output(d: &mut Decoder, p: &mut Pending, n: &Node, scope: &TemplateScope) {
    match &n.value {
        NodeValue::Str(s) if s.starts_with('$') => {
            values::check_json_path(d, n, "the output path");
        }
        NodeValue::Str(_) => p.template(n, scope),
        NodeValue::Seq(items) => items.iter().for_each(|i| check_output(d, p, i, scope)),
        NodeValue::Map(entries) => entries
            .iter()
            .for_each(|(_, v)| check_output(d, p, v, scope)),
        _ => {}
    }
}

/// A condition has one test, and a path when the test compares a value in the body.
pub fn check_condition(d: &mut Decoder, c: &Node) {
    const TESTS: [&str; 5] = ["equals", "notEquals", "in", "exists", "contains"];
    if c.as_map().is_none() {
        return;
    }
    let path = c.get("path");
    if let Some(pn) = path {
        values::check_json_path(d, pn, "`path`");
    }
    let tests: Vec<&str> = TESTS.into_iter().filter(|k| c.get(k).is_some()).collect();
    if tests.len() > 1 {
        d.push(
            Diagnostic::error(
                Code::Conflict,
                key_span(c, tests[1]),
                format!(
                    "a condition takes one test; found `{}` and `{}`",
                    tests[0], tests[1]
                ),
            )
            .with_help("split it into two rules"),
        );
    }
    if tests.is_empty()
        && c.get("status")
            .is_none_or(|s| s.as_seq().is_some_and(<[_]>::is_empty))
    {
        d.push(
            Diagnostic::error(
                Code::MissingKey,
                start_of(c),
                "a condition needs a test: `equals`, `notEquals`, `in`, `exists`, `contains` or `status`",
            )
            .with_label("nothing to test"),
        );
    }
    if path.is_none()
        && let Some(first) = tests.first().filter(|t| **t != "contains")
    {
        d.push(
            Diagnostic::error(
                Code::MissingKey,
                start_of(c),
                format!("`{first}` compares a value in the body: add `path`"),
            )
            .with_help("for example `path: $.ok`"),
        );
    }
}
