//! Lifecycle hooks (`hooks`): a declarative hook is a request checked like the connection
//! test's, its templates reading `config` and `secrets` (and `response` in error messages).

use super::{Pending, TemplateScope, actions, format, start_of, values};
use crate::decode::Decoder;
use crate::diagnostic::{Code, Diagnostic};
use crate::yaml::Node;

/// The hook keys, in the order they run for a save and a delete.
pub const HOOKS: [&str; 3] = ["preSave", "postSave", "postDelete"];

pub fn check(d: &mut Decoder, p: &mut Pending, root: &Node, hooks: &Node) {
    if hooks.as_map().is_none() {
        return;
    }
    for name in HOOKS {
        let Some(h) = hooks.get(name) else { continue };
        let Some(entries) = h.as_map() else {
            // `code`, or a wrong value the format check reports.
            continue;
        };
        // A mapping that fits neither form is left to these rules by the format check.
        let place = format!("`hooks.{name}`");
        format::check_known_keys(d, entries, &place, &["description", "request", "response"]);
        values::non_blank(d, h.get("description"), "`description`");
        match h.get("request") {
            Some(r) => actions::check_request(d, p, root, r, &TemplateScope::Connection),
            None => d.push(
                Diagnostic::error(
                    Code::MissingKey,
                    start_of(h),
                    format!("{place} is missing `request`"),
                )
                .with_label("`request` is required here")
                .with_help(format!(
                    "a hook is `{name}: code` or a mapping with a `request`"
                )),
            ),
        }
        if let Some(r) = h.get("response") {
            actions::check_response(d, p, r, &TemplateScope::ConnectionResponse);
        }
    }
}
