//! How `connector run` writes what an action returns: records of a listing as they arrive, a
//! single output, or streamed events, as JSON (the default) or NDJSON.

use std::io::{self, Write};

use serde_json::Value;

/// `--output`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OutputFormat {
    /// One JSON document: a listing is an array with one record per line, any other output
    /// is pretty-printed
    #[default]
    Json,
    /// One JSON value per line: each record of a listing, the output of any other action
    Ndjson,
}

/// Writes to stdout. A closed stdout (`| head`) is [`Closed`]: the caller stops quietly.
pub struct RecordWriter {
    out: io::BufWriter<io::Stdout>,
    format: OutputFormat,
    /// Records written so far in the open listing.
    written: u64,
}

/// Standard output was closed by the reader.
#[derive(Debug)]
pub struct Closed;

// Any write error ends the output: a broken pipe is the expected one, and either way there is
// no one left to tell.

impl RecordWriter {
    pub fn new(format: OutputFormat) -> RecordWriter {
        RecordWriter {
            out: io::BufWriter::with_capacity(64 * 1024, io::stdout()),
            format,
            written: 0,
        }
    }

    /// One record of a listing.
    pub fn record(&mut self, v: &Value) -> Result<(), Closed> {
        self.write_record(|out| serde_json::to_writer(out, v).map_err(io::Error::other))
    }

    /// One record of a listing that is JSON text already: written as it is, unless it spans
    /// lines (an API that pretty-prints), which one record a line cannot hold; then it is
    /// written compact.
    pub fn raw_record(&mut self, json: &str) -> Result<(), Closed> {
        if memchr::memchr2(b'\n', b'\r', json.as_bytes()).is_none() {
            return self.write_record(|out| out.write_all(json.as_bytes()));
        }
        match serde_json::from_str::<Value>(json) {
            Ok(v) => self.record(&v),
            // Not reachable for text the runtime parsed; written as it is rather than lost.
            Err(_) => self.write_record(|out| out.write_all(json.as_bytes())),
        }
    }

    fn write_record(
        &mut self,
        write: impl FnOnce(&mut io::BufWriter<io::Stdout>) -> io::Result<()>,
    ) -> Result<(), Closed> {
        let sep: &[u8] = match (self.format, self.written) {
            (OutputFormat::Ndjson, _) => b"",
            (OutputFormat::Json, 0) => b"[\n",
            (OutputFormat::Json, _) => b",\n",
        };
        self.out.write_all(sep).map_err(|_| Closed)?;
        write(&mut self.out).map_err(|_| Closed)?;
        if self.format == OutputFormat::Ndjson {
            self.out.write_all(b"\n").map_err(|_| Closed)?;
        }
        self.written += 1;
        Ok(())
    }

    /// Flush what has been written (after each page, so a reader sees records as pages
    /// arrive).
    pub fn flush(&mut self) -> Result<(), Closed> {
        self.out.flush().map_err(|_| Closed)
    }

    /// Close the listing: `]` in JSON (`[]` when it had no record).
    pub fn end_listing(&mut self) -> Result<(), Closed> {
        if self.format == OutputFormat::Json {
            let end: &[u8] = if self.written == 0 { b"[]\n" } else { b"\n]\n" };
            self.out.write_all(end).map_err(|_| Closed)?;
        }
        self.written = 0;
        self.flush()
    }

    /// The whole output of an action that is not a listing.
    pub fn value(&mut self, v: &Value) -> Result<(), Closed> {
        match self.format {
            OutputFormat::Json => serde_json::to_writer_pretty(&mut self.out, v),
            OutputFormat::Ndjson => serde_json::to_writer(&mut self.out, v),
        }
        .map_err(|_| Closed)?;
        self.out.write_all(b"\n").map_err(|_| Closed)?;
        self.flush()
    }

    /// One event of a streaming action, on a line of its own whatever the format.
    pub fn event(&mut self, event: &str, data: &Value) -> Result<(), Closed> {
        let line = serde_json::json!({ "event": event, "data": data });
        serde_json::to_writer(&mut self.out, &line).map_err(|_| Closed)?;
        self.out.write_all(b"\n").map_err(|_| Closed)?;
        self.flush()
    }
}
