//! Whether a reply matches a spec [`Condition`] (error rules, body-based throttling).

use connector_spec::Condition;
use serde_json::Value;

/// Whether a response matches a condition.
pub fn condition_matches(c: &Condition, status: u16, body: &[u8]) -> bool {
    if !c.status.is_empty() && !c.status.contains(&status) {
        return false;
    }
    let json: Option<Value> = serde_json::from_slice(body).ok();
    let target: Option<Value> = match (&c.path, &json) {
        (Some(p), Some(j)) => p.evaluate(j),
        (Some(_), None) => None,
        (None, _) => None,
    };
    if let Some(expected) = &c.equals {
        return target.as_ref() == Some(expected);
    }
    if let Some(expected) = &c.not_equals {
        return target.as_ref().is_some_and(|t| t != expected);
    }
    if let Some(options) = &c.one_of {
        return target.as_ref().is_some_and(|t| options.contains(t));
    }
    if let Some(exists) = c.exists {
        return target.is_some_and(|t| !t.is_null()) == exists;
    }
    if let Some(needle) = &c.contains {
        return match (&c.path, target) {
            (Some(_), Some(Value::String(s))) => s.contains(needle.as_str()),
            (Some(_), Some(other)) => other.to_string().contains(needle.as_str()),
            (Some(_), None) => false,
            (None, _) => String::from_utf8_lossy(body).contains(needle.as_str()),
        };
    }
    // A condition with only `status`.
    !c.status.is_empty()
}
