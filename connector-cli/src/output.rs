//! Where output goes and whether it is coloured.

use std::io::{IsTerminal, Write};

use clap::ValueEnum;

/// The `--color` option.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// Colour when the stream is a terminal and NO_COLOR is not set
    Auto,
    /// Always colour
    Always,
    /// Never colour
    Never,
}

/// An output stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl ColorChoice {
    /// Whether to colour text written to `stream`.
    ///
    /// `auto` colours only a terminal, and honours `NO_COLOR` (<https://no-color.org>: set and
    /// not empty disables colour). An explicit `--color always|never` wins over both.
    pub fn enabled(self, stream: Stream) -> bool {
        let terminal = match stream {
            Stream::Stdout => std::io::stdout().is_terminal(),
            Stream::Stderr => std::io::stderr().is_terminal(),
        };
        self.decide(terminal, std::env::var_os("NO_COLOR").as_deref())
    }

    fn decide(self, terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => terminal && no_color.is_none_or(|v| v.is_empty()),
        }
    }
}

/// Write text to a stream. A closed pipe (`connector list | head -1`) is not an error worth
/// reporting, so write errors are ignored rather than panicking like `print!` does.
pub fn emit(stream: Stream, text: &str) {
    let _ = match stream {
        Stream::Stdout => {
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes()).and_then(|()| out.flush())
        }
        Stream::Stderr => {
            let mut err = std::io::stderr().lock();
            err.write_all(text.as_bytes()).and_then(|()| err.flush())
        }
    };
}

/// `1 file`, `2 files`.
pub fn count(n: usize, singular: &str, plural: &str) -> String {
    if n == 1 {
        format!("{n} {singular}")
    } else {
        format!("{n} {plural}")
    }
}

#[cfg(test)]
mod tests {
    use super::ColorChoice::*;
    use std::ffi::OsStr;

    #[test]
    fn auto_colours_only_a_terminal_without_no_color() {
        assert!(Auto.decide(true, None));
        assert!(!Auto.decide(false, None));
        assert!(!Auto.decide(true, Some(OsStr::new("1"))));
        // NO_COLOR set but empty does not disable colour (no-color.org).
        assert!(Auto.decide(true, Some(OsStr::new(""))));
    }

    #[test]
    fn explicit_choice_wins() {
        assert!(Always.decide(false, Some(OsStr::new("1"))));
        assert!(!Never.decide(true, None));
    }
}
