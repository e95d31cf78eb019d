//! Sessions: opened and closed by two different actions, with a JSON path to the id.

use super::{Pending, values};
use crate::decode::Decoder;
use crate::diagnostic::Code;
use crate::yaml::Node;

pub fn check(d: &mut Decoder, p: &mut Pending, sessions: &Node) {
    for (k, s) in sessions.as_map().unwrap_or_default() {
        let Some(name) = k.as_str() else { continue };
        if s.as_map().is_none() {
            continue;
        }
        values::non_blank(d, s.get("description"), "`description`");
        let init = s.get("init");
        let cleanup = s.get("cleanup");
        if let Some(i) = init {
            p.action(i, "`init`");
        }
        if let Some(c) = cleanup {
            p.action(c, "`cleanup`");
            if let Some(i) = init
                && i.as_str().is_some()
                && i.as_str() == c.as_str()
            {
                d.error(
                    Code::Conflict,
                    c.span,
                    format!(
                        "session `{name}` uses `{}` both to open and to close the session",
                        c.as_str().unwrap_or_default()
                    ),
                );
            }
        }
        if let Some(id) = s.get("id") {
            values::check_json_path(d, id, "`id`");
        }
    }
}
