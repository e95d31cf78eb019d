//! NDJSON: one JSON value a line; blank lines are skipped.

use futures::StreamExt;
use serde_json::Value;

use super::lines::lines;
use super::{ByteStream, EventStream, StreamEvent};
use crate::error::ActionError;

/// One `line` event per non-blank line; a line that is not JSON is a typed error.
pub(super) fn events(bytes: ByteStream, max: usize) -> EventStream {
    lines(bytes, max, false)
        .filter_map(|r| async move {
            match r {
                Ok(line) if line.trim().is_empty() => None,
                Ok(line) => Some(parse(&line)),
                Err(e) => Some(Err(e)),
            }
        })
        .boxed()
}

fn parse(line: &str) -> Result<StreamEvent, ActionError> {
    serde_json::from_str::<Value>(line)
        .map(|data| StreamEvent {
            event: "line".into(),
            data,
        })
        .map_err(|e| {
            ActionError::system(
                "invalid_stream",
                format!("a line of the NDJSON stream is not JSON: {e}"),
            )
        })
}
