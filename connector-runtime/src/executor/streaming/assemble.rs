//! `streaming.assemble`: items a provider streams in fragments (OpenAI's
//! `choices[0].delta.tool_calls[]`, whose `function.arguments` arrive a few characters at a
//! time) merged back into whole items. Every value at `path` in an event's raw data is a
//! fragment (an array holds several); fragments with the same `key` merge into one item:
//! the string fields named in `concat` are appended, any other field keeps its first non-null
//! value, objects merge field by field. When the stream ends (the done marker or the end of
//! the body), one last event named `assembled` carries `{ "<into>": [items in key order] }`,
//! if anything was assembled. The items are bounded in size like one event.

use std::collections::BTreeMap;

use connector_spec::Assemble;
use futures::StreamExt;
use serde_json::{Map, Value};

use super::{EventStream, StreamEvent};
use crate::error::ActionError;

/// The name of the event that carries the assembled items.
const ASSEMBLED_EVENT: &str = "assembled";

/// What a fragment's key can be; integers order before strings.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    Int(i64),
    Str(String),
}

/// The items assembled so far.
pub(super) struct Assembler {
    spec: Assemble,
    /// `concat`, split at the dots.
    concat: Vec<Vec<String>>,
    items: BTreeMap<Key, Map<String, Value>>,
    /// Bytes the items hold, about as much as their JSON text.
    bytes: usize,
    max: usize,
}

fn invalid(message: String) -> ActionError {
    ActionError::system("invalid_stream", message)
}

/// The size of a value as JSON text.
fn json_len(v: &Value) -> usize {
    serde_json::to_string(v).map_or(0, |s| s.len())
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

impl Assembler {
    pub(super) fn new(spec: &Assemble, max: usize) -> Assembler {
        Assembler {
            spec: spec.clone(),
            concat: spec
                .concat
                .iter()
                .map(|c| c.split('.').map(str::to_string).collect())
                .collect(),
            items: BTreeMap::new(),
            bytes: 0,
            max,
        }
    }

    /// Merge the fragments of one event's raw data.
    pub(super) fn feed(&mut self, data: &Value) -> Result<(), ActionError> {
        let path = self.spec.path.clone();
        for v in path.select(data) {
            match v {
                Value::Null => {}
                Value::Array(fragments) => {
                    for f in fragments {
                        self.merge_fragment(f)?;
                    }
                }
                f => self.merge_fragment(f)?,
            }
        }
        Ok(())
    }

    fn merge_fragment(&mut self, fragment: &Value) -> Result<(), ActionError> {
        let (path, key_field) = (self.spec.path.as_str(), self.spec.key.as_str());
        let Value::Object(fields) = fragment else {
            return Err(invalid(format!(
                "a fragment at `{path}` is a {}, not an object",
                kind(fragment)
            )));
        };
        let key = match fields.get(key_field) {
            Some(Value::Number(n)) if n.is_i64() => Key::Int(n.as_i64().unwrap_or_default()),
            Some(Value::String(s)) => Key::Str(s.clone()),
            other => {
                return Err(invalid(format!(
                    "a fragment at `{path}` has no integer or string `{key_field}` (it is {})",
                    other.map_or("missing", kind)
                )));
            }
        };
        let mut added = 0;
        if !self.items.contains_key(&key) {
            added += 16 + if let Key::Str(s) = &key { s.len() } else { 0 };
        }
        let item = self.items.entry(key).or_default();
        let mut at = Vec::new();
        for (k, v) in fields.iter().filter(|(k, _)| k.as_str() != key_field) {
            added += merge_field(item, k, v, &mut at, &self.concat)?;
        }
        self.bytes += added;
        if self.bytes > self.max {
            return Err(ActionError::system(
                "stream_assembly_too_large",
                format!(
                    "the items assembled from `{path}` are larger than the limit of {} bytes",
                    self.max
                ),
            ));
        }
        Ok(())
    }

    /// The `assembled` event, if anything was assembled.
    pub(super) fn finish(self) -> Option<StreamEvent> {
        if self.items.is_empty() {
            return None;
        }
        let items = self.items.into_values().map(Value::Object).collect();
        let mut data = Map::new();
        data.insert(self.spec.into, Value::Array(items));
        Some(StreamEvent {
            event: ASSEMBLED_EVENT.into(),
            data: Value::Object(data),
        })
    }
}

/// Merge field `k` of a fragment into `target`; `at` is the path of `target`. Returns the
/// bytes added.
fn merge_field(
    target: &mut Map<String, Value>,
    k: &str,
    v: &Value,
    at: &mut Vec<String>,
    concat: &[Vec<String>],
) -> Result<usize, ActionError> {
    at.push(k.to_string());
    let r = merge_value(target, k, v, at, concat);
    at.pop();
    r
}

fn merge_value(
    target: &mut Map<String, Value>,
    k: &str,
    v: &Value,
    at: &[String],
    concat: &[Vec<String>],
) -> Result<usize, ActionError> {
    let appended = concat.iter().any(|c| c.as_slice() == at);
    let current = target.get_mut(k);
    match (v, current) {
        (Value::Null, _) => Ok(0),
        (Value::String(piece), current) if appended => match current {
            Some(Value::String(s)) => {
                s.push_str(piece);
                Ok(piece.len())
            }
            _ => {
                target.insert(k.to_string(), v.clone());
                Ok(piece.len() + k.len() + 4)
            }
        },
        (other, _) if appended => Err(invalid(format!(
            "the field `{}` of a fragment is a {}, not a string to append",
            at.join("."),
            kind(other)
        ))),
        (Value::Object(fields), Some(Value::Object(into))) => {
            let mut added = 0;
            let mut path = at.to_vec();
            for (fk, fv) in fields {
                added += merge_field(into, fk, fv, &mut path, concat)?;
            }
            Ok(added)
        }
        (Value::Object(fields), None | Some(Value::Null)) => {
            let mut into = Map::new();
            let mut added = k.len() + 4;
            let mut path = at.to_vec();
            for (fk, fv) in fields {
                added += merge_field(&mut into, fk, fv, &mut path, concat)?;
            }
            target.insert(k.to_string(), Value::Object(into));
            Ok(added)
        }
        (_, None | Some(Value::Null)) => {
            target.insert(k.to_string(), v.clone());
            Ok(json_len(v) + k.len() + 4)
        }
        // The first non-null value wins.
        (_, Some(_)) => Ok(0),
    }
}

/// The events, each fed to the assembler as it arrives (its raw data) and then mapped by
/// `map`; at the end, the `assembled` event (not mapped). An error ends the stream without it.
pub(super) fn events<F>(raw: EventStream, spec: &Assemble, max: usize, map: F) -> EventStream
where
    F: FnMut(StreamEvent) -> Result<StreamEvent, ActionError> + Send + 'static,
{
    let state = (raw, Some(Assembler::new(spec, max)), map);
    futures::stream::unfold(state, |(mut raw, mut asm, mut map)| async move {
        let a = asm.as_mut()?;
        match raw.next().await {
            Some(Ok(ev)) => {
                let r = a.feed(&ev.data).and_then(|()| map(ev));
                if r.is_err() {
                    asm = None;
                }
                Some((r, (raw, asm, map)))
            }
            Some(Err(e)) => Some((Err(e), (raw, None, map))),
            None => {
                let done = asm.take().and_then(Assembler::finish)?;
                Some((Ok(done), (raw, None, map)))
            }
        }
    })
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use connector_spec::path::JsonPath;
    use serde_json::json;

    fn tool_calls() -> Assemble {
        Assemble {
            path: JsonPath::parse("$.choices[0].delta.tool_calls").unwrap(),
            key: "index".into(),
            concat: vec!["function.arguments".into()],
            into: "toolCalls".into(),
        }
    }

    fn chunk(calls: Value) -> Value {
        json!({ "choices": [{ "index": 0, "delta": { "tool_calls": calls } }] })
    }

    fn run(
        chunks: Vec<Result<Value, ActionError>>,
        max: usize,
    ) -> Vec<Result<StreamEvent, ActionError>> {
        let raw: EventStream = futures::stream::iter(chunks.into_iter().map(|r| {
            r.map(|data| StreamEvent {
                event: "message".into(),
                data,
            })
        }))
        .boxed();
        let s = events(raw, &tool_calls(), max, |mut ev| {
            ev.data = json!({ "mapped": true });
            Ok(ev)
        });
        futures::executor::block_on(s.collect())
    }

    #[test]
    fn deltas_split_over_events_merge_into_whole_calls_in_key_order() {
        let got = run(
            vec![
                Ok(chunk(
                    json!([{ "index": 1, "id": "call_b", "type": "function",
                    "function": { "name": "get_time", "arguments": "" } }]),
                )),
                Ok(chunk(
                    json!([{ "index": 0, "id": "call_a", "type": "function",
                    "function": { "name": "get_weather", "arguments": "{\"ci" } }]),
                )),
                Ok(chunk(
                    json!([{ "index": 0, "function": { "arguments": "ty\": \"Paris\"}" } },
                                 { "index": 1, "function": { "name": null, "arguments": "{}" } }]),
                )),
                Ok(json!({ "choices": [], "usage": { "total_tokens": 3 } })),
            ],
            1 << 20,
        );
        assert_eq!(got.len(), 5);
        for ev in &got[..4] {
            assert_eq!(ev.as_ref().unwrap().data, json!({ "mapped": true }));
        }
        let last = got[4].as_ref().unwrap();
        assert_eq!(last.event, "assembled");
        assert_eq!(
            last.data,
            json!({ "toolCalls": [
                { "id": "call_a", "type": "function",
                  "function": { "name": "get_weather", "arguments": "{\"city\": \"Paris\"}" } },
                { "id": "call_b", "type": "function",
                  "function": { "name": "get_time", "arguments": "{}" } }
            ] })
        );
    }

    #[test]
    fn a_stream_without_fragments_has_no_assembled_event() {
        let got = run(
            vec![Ok(json!({ "choices": [{ "delta": { "content": "hi" } }] }))],
            1024,
        );
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].as_ref().unwrap().data, json!({ "mapped": true }));
    }

    #[test]
    fn string_keys_are_merged_too_and_the_first_non_null_value_wins() {
        let mut a = Assembler::new(
            &Assemble {
                key: "id".into(),
                ..tool_calls()
            },
            1024,
        );
        a.feed(&chunk(json!([{ "id": "x", "type": "function" }])))
            .unwrap();
        a.feed(&chunk(json!({ "id": "x", "type": "other", "extra": [1] })))
            .unwrap();
        let ev = a.finish().unwrap();
        assert_eq!(
            ev.data,
            json!({ "toolCalls": [{ "type": "function", "extra": [1] }] })
        );
    }

    #[test]
    fn a_malformed_fragment_is_a_typed_error_naming_what_is_wrong() {
        let cases = [
            (json!(["not an object"]), "is a string, not an object"),
            (
                json!([{ "id": "call_a" }]),
                "no integer or string `index` (it is missing)",
            ),
            (
                json!([{ "index": 0.5 }]),
                "no integer or string `index` (it is number)",
            ),
            (
                json!([{ "index": 0, "function": { "arguments": 7 } }]),
                "`function.arguments` of a fragment is a number",
            ),
        ];
        for (calls, says) in cases {
            let got = run(
                vec![Ok(chunk(calls.clone())), Ok(chunk(json!([{ "index": 0 }])))],
                1024,
            );
            assert_eq!(got.len(), 1, "the error ends the stream: {calls}");
            let e = got[0].as_ref().unwrap_err();
            assert_eq!(e.code, "invalid_stream");
            assert_eq!(e.class, crate::error::ErrorClass::System);
            assert!(e.message.contains(says), "{e} for {calls}");
        }
    }

    #[test]
    fn assembled_items_past_the_limit_are_a_typed_error() {
        let piece = "x".repeat(400);
        let delta = chunk(json!([{ "index": 0, "function": { "arguments": piece } }]));
        let got = run(vec![Ok(delta.clone()), Ok(delta.clone()), Ok(delta)], 1000);
        assert!(got[0].is_ok() && got[1].is_ok());
        let e = got[2].as_ref().unwrap_err();
        assert_eq!(e.code, "stream_assembly_too_large");
        assert!(e.message.contains("1000 bytes"), "{e}");
        assert_eq!(got.len(), 3, "nothing after the error");
    }

    #[test]
    fn an_error_of_the_stream_ends_it_without_an_assembled_event() {
        let got = run(
            vec![
                Ok(chunk(json!([{ "index": 0, "id": "call_a" }]))),
                Err(ActionError::system("invalid_stream", "cut")),
            ],
            1024,
        );
        assert_eq!(got.len(), 2);
        assert!(got[1].is_err());
    }
}
