//! Secret values: held apart from config, redacted from `Debug`, scrubbed from messages.

use std::fmt;
use std::sync::Arc;

use serde_json::{Map, Value};

/// A connector instance's secrets. `Debug` prints field names only.
#[derive(Clone, Default)]
pub struct Secrets {
    values: Arc<Map<String, Value>>,
}

impl Secrets {
    pub fn new(values: Map<String, Value>) -> Secrets {
        Secrets {
            values: Arc::new(values),
        }
    }

    /// A secret string by field name.
    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.values.get(key).and_then(Value::as_str)
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.values.get(key)
    }

    /// The secrets as a JSON value, for template rendering only.
    pub(crate) fn expose(&self) -> Value {
        Value::Object((*self.values).clone())
    }

    /// Every secret string (including nested values), for redaction.
    pub fn strings(&self) -> Vec<String> {
        let mut out = Vec::new();
        fn walk(v: &Value, out: &mut Vec<String>) {
            match v {
                Value::String(s) => out.push(s.clone()),
                Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
                Value::Object(m) => m.values().for_each(|v| walk(v, out)),
                _ => {}
            }
        }
        self.values.values().for_each(|v| walk(v, &mut out));
        out
    }
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.values.keys().map(|k| (k, "[REDACTED]")))
            .finish()
    }
}

/// Replaces known secret values in text. Short values are skipped so that redaction does not
/// mangle ordinary words; secrets that short are not secrets worth the name.
#[derive(Clone, Default)]
pub struct Redactor {
    needles: Arc<Vec<String>>,
    /// The last [`Redactor::with`] result and the values it added: a strategy whose run-time
    /// values do not change (a static header) gets the same redactor on every call without
    /// rebuilding it.
    extended: Arc<std::sync::Mutex<Option<Extended>>>,
    /// A searcher per needle, built on first use by [`Redactor::may_leak_raw`].
    finders: Arc<std::sync::OnceLock<Vec<memchr::memmem::Finder<'static>>>>,
}

/// The values [`Redactor::with`] added last, and the redactor it built with them.
type Extended = (Vec<String>, Redactor);

/// The text that stands in for a redacted value.
pub const REDACTED: &str = "[REDACTED]";

impl Redactor {
    pub fn new(values: impl IntoIterator<Item = String>) -> Redactor {
        let mut needles: Vec<String> = Vec::new();
        for v in values {
            if v.len() < 4 {
                continue;
            }
            // Also catch the forms a secret takes on the wire.
            let encoded = url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
            let b64 =
                base64::Engine::encode(&base64::engine::general_purpose::STANDARD, v.as_bytes());
            // A URL secret (an incoming webhook) is secret for its path and query: a server
            // may quote them back under another host name.
            if let Ok(u) = url::Url::parse(&v)
                && matches!(u.scheme(), "http" | "https")
            {
                let tail = &v[u[..url::Position::BeforePath].len()..];
                if tail.len() >= 8 {
                    needles.push(tail.to_string());
                }
            }
            needles.push(v);
            needles.push(encoded);
            needles.push(b64);
        }
        // Longest first, so a secret containing another is replaced whole.
        needles.sort_by_key(|n| std::cmp::Reverse(n.len()));
        needles.dedup();
        Redactor {
            needles: Arc::new(needles),
            extended: Arc::default(),
            finders: Arc::default(),
        }
    }

    /// Add more values (e.g. an access token obtained at run time). Asked again for the same
    /// values, it returns the redactor it built last time.
    pub fn with(&self, extra: impl IntoIterator<Item = String>) -> Redactor {
        let extra: Vec<String> = extra.into_iter().collect();
        let mut memo = self
            .extended
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((values, built)) = memo.as_ref()
            && *values == extra
        {
            return built.clone();
        }
        let mut all: Vec<String> = self.needles.iter().cloned().collect();
        all.extend(extra.iter().cloned());
        let built = Redactor::new(all);
        *memo = Some((extra, built.clone()));
        built
    }

    /// Redact every string in a JSON value (keys and values), in place. Allocates only for
    /// strings that hold a secret.
    pub fn redact_value(&self, value: &mut serde_json::Value) {
        use serde_json::Value;
        if self.needles.is_empty() {
            return;
        }
        match value {
            Value::String(s) if self.leaks(s) => {
                *s = self.redact(s);
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.redact_value(v)),
            Value::Object(map) => {
                let leaky: Vec<String> = map.keys().filter(|k| self.leaks(k)).cloned().collect();
                for k in leaky {
                    if let Some(v) = map.shift_remove(&k) {
                        map.insert(self.redact(&k), v);
                    }
                }
                map.values_mut().for_each(|v| self.redact_value(v));
            }
            _ => {}
        }
    }

    /// Whether `text` contains a secret. A text shorter than a secret cannot contain it and is
    /// not searched (most keys and values of a large reply).
    fn leaks(&self, text: &str) -> bool {
        // The needles are sorted longest first: the last is the shortest.
        if self.needles.last().is_none_or(|n| text.len() < n.len()) {
            return false;
        }
        self.needles
            .iter()
            .any(|n| text.len() >= n.len() && text.contains(n.as_str()))
    }

    /// Whether JSON text may hold a secret once parsed: it contains a secret's bytes, or a
    /// backslash (an escape could spell one).
    pub(crate) fn may_leak_raw(&self, json: &str) -> bool {
        let finders = self.finders.get_or_init(|| {
            self.needles
                .iter()
                .map(|n| memchr::memmem::Finder::new(n.as_bytes()).into_owned())
                .collect()
        });
        let bytes = json.as_bytes();
        memchr::memchr(b'\\', bytes).is_some() || finders.iter().any(|f| f.find(bytes).is_some())
    }

    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for n in self.needles.iter() {
            if out.contains(n.as_str()) {
                out = out.replace(n.as_str(), REDACTED);
            }
        }
        out
    }
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Redactor({} values)", self.needles.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn debug_hides_values_and_redactor_scrubs_wire_forms() {
        let s = Secrets::new(
            json!({"token": "canary-SECRET/value"})
                .as_object()
                .unwrap()
                .clone(),
        );
        let dbg = format!("{s:?}");
        assert!(!dbg.contains("canary"), "{dbg}");
        let r = Redactor::new(s.strings());
        assert_eq!(r.redact("x canary-SECRET/value y"), "x [REDACTED] y");
        assert_eq!(r.redact("q=canary-SECRET%2Fvalue"), "q=[REDACTED]");
    }

    #[test]
    fn raw_json_may_leak_when_it_holds_a_secret_or_an_escape() {
        let r = Redactor::new(vec!["canary-raw-5e1d".to_string()]);
        assert!(!r.may_leak_raw(r#"{"id":"rec-1","name":"Record 1"}"#));
        assert!(r.may_leak_raw(r#"{"echo":"Bearer canary-raw-5e1d"}"#));
        assert!(
            r.may_leak_raw(r#"{"echo":"canary-raw-5e\u0031d"}"#),
            "an escape"
        );
        // The base64 form is a needle too.
        assert!(r.may_leak_raw(r#"{"b":"Y2FuYXJ5LXJhdy01ZTFk"}"#));
        assert!(!Redactor::default().may_leak_raw(r#"{"a":"b"}"#));
    }

    #[test]
    fn with_adds_values_and_follows_when_they_change() {
        let base = Redactor::new(vec!["canary-base-1".to_string()]);
        let one = base.with(vec!["runtime-token-1".to_string()]);
        assert_eq!(
            one.redact("canary-base-1 runtime-token-1"),
            "[REDACTED] [REDACTED]"
        );
        let again = base.with(vec!["runtime-token-1".to_string()]);
        assert!(
            Arc::ptr_eq(&one.needles, &again.needles),
            "the same values reuse the redactor"
        );
        let two = base.with(vec!["runtime-token-2".to_string()]);
        assert_eq!(
            two.redact("runtime-token-1 runtime-token-2"),
            "runtime-token-1 [REDACTED]"
        );
        assert_eq!(base.redact("runtime-token-2"), "runtime-token-2");
    }
}
