//! Chunked text: each chunk of the body, as it arrives, is one `chunk` event.

use futures::StreamExt;
use serde_json::Value;

use super::{ByteStream, EventStream, StreamEvent};

/// One `chunk` event per body chunk (its size is the transport's read size, so bounded).
pub(super) fn events(bytes: ByteStream) -> EventStream {
    bytes
        .map(|r| {
            r.map(|b| StreamEvent {
                event: "chunk".into(),
                data: Value::String(String::from_utf8_lossy(&b).into_owned()),
            })
        })
        .boxed()
}
