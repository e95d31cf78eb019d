//! Policies: what each retry, rate-limit, pagination and streaming setting needs besides its
//! own fields, and settings that contradict each other.

use super::{key_span, start_of, values};
use crate::decode::Decoder;
use crate::deserialize::from_node;
use crate::diagnostic::{Code, Diagnostic};
use crate::model::{PaginationStyle, ParamsIn, RateLimitStrategy, StreamFormat};
use crate::source::Span;
use crate::yaml::Node;

pub fn check(d: &mut Decoder, policies: &Node) {
    if let Some(r) = policies.get("retry") {
        check_retry(d, r);
    }
    if let Some(r) = policies.get("rateLimit") {
        check_rate_limit(d, r);
    }
    if let Some(pg) = policies.get("pagination") {
        check_pagination(d, pg);
        if params_in(pg) == Some(ParamsIn::Body) {
            d.push(
                Diagnostic::error(
                    Code::Conflict,
                    key_span(pg, "paramsIn"),
                    "the default pagination applies to GET actions, which send no body",
                )
                .with_help("put `pagination` with `paramsIn: body` on the action that POSTs"),
            );
        }
    }
    if let Some(s) = policies.get("streaming") {
        check_streaming(d, s);
    }
}

fn number(n: &Node, key: &str) -> Option<u64> {
    n.get(key).and_then(|v| from_node(v).ok())
}

fn check_retry(d: &mut Decoder, r: &Node) {
    if r.as_map().is_none() {
        return;
    }
    if r.get("presets").is_none() && r.get("statusCodes").is_none() {
        d.push(
            Diagnostic::error(
                Code::MissingKey,
                start_of(r),
                "`retry` needs `presets` or `statusCodes` to know what to retry",
            )
            .with_help("for example `presets: [rate_limit, server_errors]`"),
        );
    }
    if let Some(b) = r.get("backoff") {
        // Unset delays take the model's defaults.
        let defaults = crate::model::Backoff::default();
        let initial = number(b, "initialDelayMs").unwrap_or(defaults.initial_delay_ms);
        let max = number(b, "maxDelayMs").unwrap_or(defaults.max_delay_ms);
        if initial > max {
            d.error(
                Code::Conflict,
                b.get("initialDelayMs").map_or(b.span, |v| v.span),
                "`initialDelayMs` is larger than `maxDelayMs`",
            );
        }
    }
}

fn check_rate_limit(d: &mut Decoder, r: &Node) {
    let Some(strategy) = r.get("strategy").and_then(|s| from_node(s).ok()) else {
        return;
    };
    match strategy {
        RateLimitStrategy::Header
            if r.get("remainingHeader").is_none() && r.get("resetHeader").is_none() =>
        {
            d.push(
                Diagnostic::error(
                    Code::MissingKey,
                    start_of(r),
                    "the `header` strategy needs `resetHeader` and/or `remainingHeader`",
                )
                .with_help("for example `resetHeader: Retry-After`"),
            );
        }
        RateLimitStrategy::ResponseBody if r.get("when").is_none() => {
            d.push(
                Diagnostic::error(
                    Code::MissingKey,
                    start_of(r),
                    "the `response_body` strategy needs `when` to recognise a throttled reply",
                )
                .with_help("for example `when: { contains: ApplicationThrottled }`"),
            );
        }
        _ => {}
    }
    if let Some(w) = r.get("when") {
        super::actions::check_condition(d, w);
    }
}

/// The keys each style needs and the style-specific keys it accepts.
fn style_keys(style: PaginationStyle) -> (&'static [&'static str], &'static [&'static str]) {
    match style {
        PaginationStyle::Cursor => (
            &["cursorParam", "cursorPath"],
            &["cursorParam", "cursorPath", "hasMorePath"],
        ),
        PaginationStyle::Offset => (&["offsetParam"], &["offsetParam", "totalPath"]),
        PaginationStyle::Page => (&["pageParam"], &["pageParam", "startPage", "totalPath"]),
        PaginationStyle::LinkHeader => (&[], &[]),
        PaginationStyle::NextUrl => (&["nextUrlPath"], &["nextUrlPath"]),
    }
}

/// Keys that belong to some styles only.
const STYLE_SPECIFIC: [&str; 8] = [
    "cursorParam",
    "cursorPath",
    "hasMorePath",
    "nextUrlPath",
    "offsetParam",
    "pageParam",
    "startPage",
    "totalPath",
];

pub fn check_pagination(d: &mut Decoder, pg: &Node) {
    for key in [
        "records",
        "cursorPath",
        "totalPath",
        "hasMorePath",
        "nextUrlPath",
    ] {
        if let Some(v) = pg.get(key) {
            values::check_json_path(d, v, &format!("`{key}`"));
        }
    }
    let Some(style_node) = pg.get("style") else {
        return;
    };
    let Ok(style) = from_node::<PaginationStyle>(style_node) else {
        return;
    };
    let (required, allowed) = style_keys(style);
    for key in required {
        if pg.get(key).is_none() {
            d.push(
                Diagnostic::error(
                    Code::MissingKey,
                    style_node.span,
                    format!("`{}` pagination needs `{key}`", style.as_str()),
                )
                .with_label(format!("`{key}` is required for this style")),
            );
        }
    }
    for key in STYLE_SPECIFIC {
        if pg.get(key).is_some() && !allowed.contains(&key) {
            d.push(
                Diagnostic::error(
                    Code::Conflict,
                    key_span(pg, key),
                    format!("`{key}` has no effect with `{}` pagination", style.as_str()),
                )
                .with_label("remove this")
                .with_help("check `style`"),
            );
        }
    }
    let follows_a_link = matches!(
        style,
        PaginationStyle::LinkHeader | PaginationStyle::NextUrl
    );
    if follows_a_link && params_in(pg) == Some(ParamsIn::Body) {
        d.push(
            Diagnostic::error(
                Code::Conflict,
                key_span(pg, "paramsIn"),
                format!(
                    "`{}` pagination follows the reply's link and sends no parameters \
                     in the body",
                    style.as_str()
                ),
            )
            .with_label("remove this"),
        );
    }
    if style == PaginationStyle::Offset
        && pg.get("limitParam").is_some()
        && pg.get("pageSize").is_none()
    {
        d.error(
            Code::MissingKey,
            key_span(pg, "limitParam"),
            "`limitParam` needs `pageSize` to know what to send",
        );
    }
}

fn params_in(pg: &Node) -> Option<ParamsIn> {
    pg.get("paramsIn").and_then(|n| from_node(n).ok())
}

/// `paramsIn: body` puts the paging parameters into the request's JSON body: the action must
/// send one whose top level is an object (a `body.json` mapping, or one template that renders
/// the object, checked when the request is sent).
pub fn check_params_in_body(d: &mut Decoder, pg: &Node, request: Option<&Node>) {
    if params_in(pg) != Some(ParamsIn::Body) {
        return;
    }
    let json = request
        .and_then(|r| r.get("body"))
        .and_then(|b| b.get("json"));
    let fits = json.is_some_and(|j| j.as_map().is_some() || j.as_str().is_some());
    if !fits {
        d.push(
            Diagnostic::error(
                Code::Conflict,
                key_span(pg, "paramsIn"),
                "`paramsIn: body` needs the request to send a JSON object body",
            )
            .with_label("no `request.body.json` object to put the paging parameters in")
            .with_help("add `body: { json: { ... } }` to the request, or use `paramsIn: query`"),
        );
    }
}

pub fn check_streaming(d: &mut Decoder, s: &Node) {
    let format = s
        .get("format")
        .and_then(|f| from_node::<StreamFormat>(f).ok());
    if s.get("doneMarker").is_some() && format.is_some_and(|f| f != StreamFormat::Sse) {
        d.error(
            Code::Conflict,
            key_span(s, "doneMarker"),
            "`doneMarker` only applies to `sse` streams",
        );
    }
    if let Some(a) = s.get("assemble") {
        check_assemble(d, a, key_span(s, "assemble"), format);
    }
}

/// `assemble`: a JSON path, a `concat` that does not append the key, and JSON events.
fn check_assemble(d: &mut Decoder, a: &Node, at: Span, format: Option<StreamFormat>) {
    if format == Some(StreamFormat::Chunked) {
        d.push(
            Diagnostic::error(
                Code::Conflict,
                at,
                "`assemble` needs JSON events; `chunked` streams are raw text",
            )
            .with_help("use `sse`, `ndjson` or `eventstream`, or remove `assemble`"),
        );
    }
    if let Some(p) = a.get("path") {
        values::check_json_path(d, p, "`assemble.path`");
    }
    // `key`, `into` and the `concat` entries' shapes are the format schema's patterns.
    let key = a.get("key").and_then(Node::as_str);
    for n in a.get("concat").and_then(Node::as_seq).unwrap_or_default() {
        let Some(v) = n.as_str() else { continue };
        if Some(v) == key {
            d.error(
                Code::Conflict,
                n.span,
                format!("`{v}` is the `assemble.key`: the key says which item a fragment is, it is not appended"),
            );
        }
    }
}
