//! Log output captured in memory, for tests that scan it for secrets.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

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

/// Log output of the whole test binary at TRACE level: its one subscriber, installed on first
/// use (a binary that calls this must install no other).
#[allow(dead_code)]
pub fn captured_logs() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let writer = Arc::clone(&buf);
        // `try_init` also routes `log` records (reqwest, rustls) into the subscriber.
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || BufWriter(Arc::clone(&writer)))
            .try_init()
            .expect("the only subscriber in this binary");
        buf
    })
}

/// What [`captured_logs`] holds so far, as text.
#[allow(dead_code)]
pub fn logs_text() -> String {
    String::from_utf8_lossy(&captured_logs().lock().unwrap()).into_owned()
}

/// Capture this thread's log output at TRACE level until the guard is dropped (a test on the
/// current-thread runtime): the buffer and the guard.
#[allow(dead_code)]
pub fn capture_here() -> (Arc<Mutex<Vec<u8>>>, tracing::subscriber::DefaultGuard) {
    let logs = Arc::new(Mutex::new(Vec::new()));
    let writer = Arc::clone(&logs);
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || BufWriter(Arc::clone(&writer)))
        .finish();
    (logs, tracing::subscriber::set_default(subscriber))
}
