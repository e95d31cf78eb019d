//! Lifecycle hooks (`hooks`): a declarative hook is a request checked like the connection
//! test's, its templates reading `config` and `secrets` (and `response` in error messages).

use super::{Pending, TemplateScope, actions, values};
use crate::decode::Decoder;
use crate::yaml::Node;

/// The hook keys, in the order they run for a save and a delete.
pub const HOOKS: [&str; 3] = ["preSave", "postSave", "postDelete"];

pub fn check(d: &mut Decoder, p: &mut Pending, root: &Node, hooks: &Node) {
    if hooks.as_map().is_none() {
        return;
    }
    for name in HOOKS {
        let Some(h) = hooks.get(name) else { continue };
        if h.as_map().is_none() {
            // `code`, or a wrong value the format check reports.
            continue;
        }
        values::non_blank(d, h.get("description"), "`description`");
        if let Some(r) = h.get("request") {
            actions::check_request(d, p, root, r, &TemplateScope::Connection);
        }
        if let Some(r) = h.get("response") {
            actions::check_response(d, p, r, &TemplateScope::ConnectionResponse);
        }
    }
}
