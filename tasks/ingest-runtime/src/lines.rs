//! Reading a decompressed object line by line with one reused buffer and a bounded line length.

use std::io::{self, BufRead};

use crate::format::{ReadError, RecordSink};

/// Longest line kept whole. Longer lines are rejected (their first bytes kept) so one corrupt file
/// without newlines cannot grow memory without bound.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// One line, without its `\n` / `\r\n`.
pub enum Line<'a> {
    Complete(&'a [u8]),
    /// Longer than the limit: the first `MAX_LINE_BYTES` bytes, the rest was skipped.
    TooLong(&'a [u8]),
}

/// Calls `f(line_number, line)` for every line of `input` (1-based numbers), reusing one buffer.
///
/// Checks `sink.is_cancelled()` every few thousand lines so SIGTERM stops a run promptly.
pub fn for_each_line(
    input: &mut dyn BufRead,
    sink: &mut dyn RecordSink,
    mut f: impl FnMut(u64, Line<'_>, &mut dyn RecordSink) -> Result<(), ReadError>,
) -> Result<(), ReadError> {
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut line_no: u64 = 0;
    loop {
        buf.clear();
        let (read_any, too_long) =
            read_line_bounded(input, &mut buf, MAX_LINE_BYTES).map_err(|source| ReadError::Io {
                line: line_no + 1,
                source,
            })?;
        if !read_any {
            return Ok(());
        }
        line_no += 1;
        if line_no.is_multiple_of(4096) && sink.is_cancelled() {
            return Err(ReadError::Cancelled);
        }
        let mut line = buf.as_slice();
        if let Some(stripped) = line.strip_suffix(b"\n") {
            line = stripped;
        }
        if let Some(stripped) = line.strip_suffix(b"\r") {
            line = stripped;
        }
        let line = if too_long {
            Line::TooLong(line)
        } else {
            Line::Complete(line)
        };
        f(line_no, line, sink)?;
    }
}

/// Appends one line (with its newline, if any) to `buf`, keeping at most `max` bytes and
/// discarding the rest of an over-long line. Returns (anything read, line was too long).
fn read_line_bounded(
    input: &mut dyn BufRead,
    buf: &mut Vec<u8>,
    max: usize,
) -> io::Result<(bool, bool)> {
    let mut read_any = false;
    let mut too_long = false;
    loop {
        let available = match input.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            return Ok((read_any, too_long));
        }
        read_any = true;
        let (chunk, done) = match memchr::memchr(b'\n', available) {
            Some(i) => (&available[..=i], true),
            None => (available, false),
        };
        let room = max.saturating_sub(buf.len());
        if chunk.len() > room {
            too_long = true;
            buf.extend_from_slice(&chunk[..room]);
        } else {
            buf.extend_from_slice(chunk);
        }
        let used = chunk.len();
        input.consume(used);
        if done {
            return Ok((true, too_long));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::{Column, ColumnType, TableSchema};
    use crate::testing::CollectingSink;

    static ONE_TEXT: TableSchema = TableSchema {
        columns: &[Column::new("line", ColumnType::Text, "")],
    };

    fn lines_of(input: &[u8]) -> Vec<(u64, String, bool)> {
        let mut sink = CollectingSink::new(&ONE_TEXT);
        let mut out = Vec::new();
        for_each_line(&mut &input[..], &mut sink, |n, line, _| {
            let (bytes, long) = match line {
                Line::Complete(b) => (b, false),
                Line::TooLong(b) => (b, true),
            };
            out.push((n, String::from_utf8_lossy(bytes).into_owned(), long));
            Ok(())
        })
        .unwrap();
        out
    }

    #[test]
    fn splits_lines_and_strips_crlf() {
        let got = lines_of(b"a\r\nbb\n\nlast");
        let want = [
            (1, "a", false),
            (2, "bb", false),
            (3, "", false),
            (4, "last", false),
        ];
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(want) {
            assert_eq!((g.0, g.1.as_str(), g.2), w);
        }
    }

    #[test]
    fn an_over_long_line_is_cut_and_the_next_line_survives() {
        let mut input = vec![b'x'; MAX_LINE_BYTES + 10];
        input.extend_from_slice(b"\nnext\n");
        let got = lines_of(&input);
        assert_eq!(got.len(), 2);
        assert!(got[0].2);
        assert_eq!(got[0].1.len(), MAX_LINE_BYTES);
        assert_eq!(got[1].1, "next");
    }
}
