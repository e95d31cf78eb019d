//! Line framing for streamed bodies, bounded and incremental: the search for a line end
//! resumes where the last one stopped (a line split over many chunks costs its length once,
//! never a rescan from its start), and a line over the limit is an error as soon as its
//! first `max + 1` bytes are buffered, so memory stays under the limit plus one chunk.

use futures::stream::{self, BoxStream, StreamExt};

use super::{ByteStream, too_large};
use crate::error::ActionError;

/// Bytes received and not yet returned as lines.
pub(super) struct LineBuffer {
    buf: Vec<u8>,
    /// Where the pending line starts.
    start: usize,
    /// How far the pending line was searched for an end.
    scanned: usize,
    max: usize,
    /// Whether a lone `\r` ends a line (SSE); `\n` and `\r\n` always do.
    lone_cr: bool,
}

impl LineBuffer {
    pub(super) fn new(max: usize, lone_cr: bool) -> LineBuffer {
        LineBuffer {
            buf: Vec::new(),
            start: 0,
            scanned: 0,
            max,
            lone_cr,
        }
    }

    /// Add a chunk; the returned lines' bytes are dropped first, once per chunk.
    pub(super) fn push(&mut self, chunk: &[u8]) {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.scanned -= self.start;
            self.start = 0;
        }
        self.buf.extend_from_slice(chunk);
    }

    /// The next complete line without its end, `None` when more bytes are needed (or, at
    /// `eof`, when nothing is left). At `eof` an unterminated last line is returned.
    pub(super) fn next_line(&mut self, eof: bool) -> Result<Option<String>, ActionError> {
        let found = self.buf[self.scanned..]
            .iter()
            .position(|&b| b == b'\n' || (self.lone_cr && b == b'\r'))
            .map(|i| self.scanned + i);
        let Some(end) = found else {
            self.scanned = self.buf.len();
            self.check(self.buf.len())?;
            if eof && self.start < self.buf.len() {
                return Ok(Some(self.take(self.buf.len(), 0)));
            }
            return Ok(None);
        };
        self.check(end)?;
        let term = match (self.buf[end], self.buf.get(end + 1)) {
            (b'\n', _) => 1,
            (_, Some(b'\n')) => 2,
            (_, Some(_)) => 1,
            // A `\r` last in the buffer: wait, the `\n` of a `\r\n` may be in the next chunk.
            (_, None) if !eof => {
                self.scanned = end;
                return Ok(None);
            }
            (_, None) => 1,
        };
        Ok(Some(self.take(end, term)))
    }

    /// Fail when the pending line, ending at `end`, is over the limit.
    fn check(&self, end: usize) -> Result<(), ActionError> {
        if end - self.start > self.max {
            return Err(too_large("line", self.max));
        }
        Ok(())
    }

    fn take(&mut self, end: usize, term: usize) -> String {
        let line = String::from_utf8_lossy(&self.buf[self.start..end]).into_owned();
        self.start = end + term;
        self.scanned = self.start;
        line
    }
}

/// Split a byte stream into lines of at most `max` bytes. The stream ends after an error.
pub(super) fn lines(
    bytes: ByteStream,
    max: usize,
    lone_cr: bool,
) -> BoxStream<'static, Result<String, ActionError>> {
    let state = Some((bytes, LineBuffer::new(max, lone_cr), false));
    stream::unfold(state, |state| async move {
        let (mut src, mut buf, mut eof) = state?;
        loop {
            match buf.next_line(eof) {
                Ok(Some(line)) => return Some((Ok(line), Some((src, buf, eof)))),
                Ok(None) if eof => return None,
                Ok(None) => {}
                Err(e) => return Some((Err(e), None)),
            }
            match src.next().await {
                Some(Ok(chunk)) => buf.push(&chunk),
                Some(Err(e)) => return Some((Err(e), None)),
                None => eof = true,
            }
        }
    })
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(b: &mut LineBuffer, eof: bool) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(l) = b.next_line(eof).unwrap() {
            out.push(l);
        }
        out
    }

    #[test]
    fn a_line_split_over_many_chunks_is_scanned_once_and_reassembled() {
        let mut b = LineBuffer::new(1024, false);
        for byte in b"{\"n\":1}" {
            b.push(&[*byte]);
            assert_eq!(b.next_line(false).unwrap(), None);
            // The search resumes at the end: nothing before it is looked at again.
            assert_eq!(b.scanned, b.buf.len());
        }
        b.push(b"\n{\"n\"");
        assert_eq!(drain(&mut b, false), vec!["{\"n\":1}"]);
        b.push(b":2}");
        assert_eq!(drain(&mut b, true), vec!["{\"n\":2}"]);
    }

    #[test]
    fn line_ends_are_lf_crlf_and_for_sse_a_lone_cr_even_across_chunks() {
        let mut b = LineBuffer::new(1024, true);
        b.push(b"a\nb\r\nc\r");
        assert_eq!(drain(&mut b, false), vec!["a", "b"]);
        b.push(b"\nd\re");
        assert_eq!(drain(&mut b, false), vec!["c", "d"]);
        assert_eq!(drain(&mut b, true), vec!["e"]);
        let mut ndjson = LineBuffer::new(1024, false);
        ndjson.push(b"x\ry\n");
        assert_eq!(drain(&mut ndjson, true), vec!["x\ry"]);
    }

    #[test]
    fn a_line_over_the_limit_fails_before_its_end_arrives() {
        let mut b = LineBuffer::new(8, false);
        b.push(b"12345678\n");
        assert_eq!(drain(&mut b, false), vec!["12345678"]);
        b.push(b"123456789");
        let e = b.next_line(false).unwrap_err();
        assert_eq!(e.code, "stream_event_too_large");
        assert!(e.message.contains("8 bytes"), "{e}");
    }
}
