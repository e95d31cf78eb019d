//! Source files and byte spans, with line/column lookup.

use std::sync::Arc;

/// A half-open byte range in a source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Span {
        Span {
            start,
            end: end.max(start),
        }
    }
    /// A span covering `len` bytes from `start`.
    pub fn at(start: usize, len: usize) -> Span {
        Span::new(start, start + len)
    }
}

/// A 1-based line and column (in characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Location {
    pub line: usize,
    pub column: usize,
}

/// A named source text with a line index.
#[derive(Debug, Clone)]
pub struct SourceFile {
    name: Arc<str>,
    text: Arc<str>,
    line_starts: Arc<[usize]>,
}

impl SourceFile {
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> SourceFile {
        let name: String = name.into();
        let text: String = text.into();
        let line_starts: Vec<usize> = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        SourceFile {
            name: name.into(),
            text: text.into(),
            line_starts: line_starts.into(),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// Line and column of a byte offset (clamped to the text).
    pub fn location(&self, offset: usize) -> Location {
        let offset = offset.min(self.text.len());
        let line_idx = match self.line_starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i - 1,
        };
        let line_start = self.line_starts[line_idx];
        let mut col_end = offset;
        while !self.text.is_char_boundary(col_end) {
            col_end -= 1;
        }
        let column = self.text[line_start..col_end].chars().count() + 1;
        Location {
            line: line_idx + 1,
            column,
        }
    }

    /// Byte offset of a 1-based line and column (in characters), clamped to the text.
    pub fn offset(&self, line: usize, column: usize) -> usize {
        if line == 0 || self.line_starts.is_empty() {
            return 0;
        }
        let Some(&start) = self.line_starts.get(line - 1) else {
            return self.text.len();
        };
        let end = self
            .line_starts
            .get(line)
            .copied()
            .unwrap_or(self.text.len());
        let line_text = &self.text[start..end];
        let skip = column.saturating_sub(1);
        match line_text.char_indices().nth(skip) {
            Some((i, _)) => start + i,
            None => end,
        }
    }

    /// Number of lines (a trailing newline does not start a new line).
    pub fn line_count(&self) -> usize {
        let n = self.line_starts.len();
        if self.text.ends_with('\n') { n - 1 } else { n }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn location_and_offset_round_trip_with_multibyte_text() {
        let f = SourceFile::new("t.yaml", "a: 1\nné: x\n");
        let off = f.offset(2, 5);
        assert_eq!(&f.text()[off..off + 1], "x");
        assert_eq!(f.location(off), Location { line: 2, column: 5 });
        assert_eq!(f.location(0), Location { line: 1, column: 1 });
        assert_eq!(f.line_count(), 2);
    }
}
