//! The connection check (`test`): one way to check, and settings only for that way.

use super::{Pending, TemplateScope, actions, key_span, start_of};
use crate::decode::Decoder;
use crate::diagnostic::{Code, Diagnostic};
use crate::yaml::Node;

pub fn check(d: &mut Decoder, p: &mut Pending, root: &Node, t: &Node) {
    if t.as_map().is_none() {
        return;
    }
    let kinds = ["request", "action", "handler"]
        .into_iter()
        .filter(|k| t.get(k).is_some())
        .count();
    if kinds != 1 {
        d.push(
            Diagnostic::error(
                Code::Conflict,
                start_of(t),
                "`test` needs exactly one of `request`, `action`, `handler`",
            )
            .with_label(format!("{kinds} given")),
        );
    }
    if let Some(r) = t.get("request") {
        actions::check_request(d, p, root, r, &TemplateScope::Connection);
    }
    if let Some(r) = t.get("response") {
        actions::check_response(d, p, r, &TemplateScope::ConnectionResponse);
        if t.get("request").is_none() {
            d.error(
                Code::Conflict,
                key_span(t, "response"),
                "`test.response` only applies to `test.request`",
            );
        }
    }
    if let Some(a) = t.get("action") {
        p.action(a, "`test.action`");
    }
    if t.get("input").is_some() && t.get("action").is_none() {
        d.error(
            Code::Conflict,
            key_span(t, "input"),
            "`test.input` only applies to `test.action`",
        );
    }
}
