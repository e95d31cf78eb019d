//! Log output captured in memory, for tests that scan it for secrets.

use std::io::Write;
use std::sync::{Arc, Mutex};

/// A `tracing_subscriber` writer appending to a shared buffer.
pub struct BufWriter(pub Arc<Mutex<Vec<u8>>>);

impl Write for BufWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
