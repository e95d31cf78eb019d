//! Server-Sent Events (the WHATWG event stream format): `data:` lines gather into one event
//! that a blank line dispatches; `event:` names it (`message` by default); comments, `id:` and
//! `retry:` are read and dropped. An event's name and data together are bounded.

use futures::StreamExt;

use super::lines::lines;
use super::{ByteStream, EventStream, StreamEvent, too_large};
use crate::error::ActionError;
use crate::executor::response::parse_text;

/// The event being gathered.
pub(super) struct SseParser {
    event: String,
    data: String,
    has_data: bool,
    max: usize,
}

impl SseParser {
    pub(super) fn new(max: usize) -> SseParser {
        SseParser {
            event: String::new(),
            data: String::new(),
            has_data: false,
            max,
        }
    }

    /// Read one line; a blank line returns the gathered event, if it has data.
    pub(super) fn line(&mut self, line: &str) -> Result<Option<StreamEvent>, ActionError> {
        if line.is_empty() {
            let event = std::mem::take(&mut self.event);
            let data = std::mem::take(&mut self.data);
            if !std::mem::take(&mut self.has_data) {
                return Ok(None);
            }
            return Ok(Some(StreamEvent {
                event: if event.is_empty() {
                    "message".into()
                } else {
                    event
                },
                data: parse_text(&data),
            }));
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "event" => self.event = value.to_string(),
            "data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            // Comments (an empty field name), `id`, `retry` and unknown fields.
            _ => {}
        }
        if self.event.len() + self.data.len() > self.max {
            return Err(too_large("event", self.max));
        }
        Ok(None)
    }
}

/// The events of an SSE body, up to the `done` marker (a `data` payload, not passed on).
pub(super) fn events(bytes: ByteStream, done: Option<String>, max: usize) -> EventStream {
    let mut parser = SseParser::new(max);
    lines(bytes, max, true)
        .map(move |r| r.and_then(|l| parser.line(&l)))
        // An event over the limit leaves the parser mid-event: the stream ends with its error.
        .scan(false, |failed, r| {
            let r = (!*failed).then_some(r);
            *failed = r.as_ref().is_none_or(Result::is_err);
            futures::future::ready(r)
        })
        .filter_map(|r| futures::future::ready(r.transpose()))
        .take_while(move |r| {
            let stop = matches!((r, &done), (Ok(ev), Some(d)) if ev.data.as_str() == Some(d));
            futures::future::ready(!stop)
        })
        .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn feed(p: &mut SseParser, lines: &[&str]) -> Vec<StreamEvent> {
        lines
            .iter()
            .filter_map(|l| p.line(l).expect("within the limit"))
            .collect()
    }

    #[test]
    fn data_lines_gather_and_a_blank_line_dispatches() {
        let mut p = SseParser::new(1024);
        let got = feed(
            &mut p,
            &[
                ": comment",
                "event: delta",
                "data: {\"a\":",
                "data:1}",
                "id: 7",
                "",
                "",
                "data",
                "",
            ],
        );
        assert_eq!(
            got,
            vec![
                StreamEvent {
                    event: "delta".into(),
                    data: json!({"a": 1}) // joined with `\n`: still JSON
                },
                StreamEvent {
                    event: "message".into(),
                    data: Value::String(String::new())
                },
            ]
        );
    }

    #[test]
    fn an_event_over_the_limit_is_a_typed_error_even_when_each_line_is_short() {
        let mut p = SseParser::new(10);
        assert!(p.line("data: 12345").unwrap().is_none());
        let e = p.line("data: 67890").unwrap_err();
        assert_eq!(e.code, "stream_event_too_large");
        assert_eq!(e.class, crate::error::ErrorClass::System);
    }
}
