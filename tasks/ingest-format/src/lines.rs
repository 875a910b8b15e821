//! Reading a decompressed object line by line with one reused buffer and a bounded line length.

use std::io::{self, BufRead};

use crate::format::{ReadError, RecordSink};

/// Longest line kept whole. Longer lines are rejected (their first bytes kept) so one corrupt file
/// without newlines cannot grow memory without bound.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// Calls `f(line_number, line)` for every line of `input` (1-based numbers, the line without its
/// `\n` / `\r\n`), reusing one buffer.
///
/// A line longer than [`MAX_LINE_BYTES`] is rejected here, with its first bytes, for every format.
///
/// Checks `sink.is_cancelled()` every few thousand lines so SIGTERM stops a run promptly.
pub fn for_each_line(
    input: &mut dyn BufRead,
    sink: &mut dyn RecordSink,
    mut f: impl FnMut(u64, &[u8], &mut dyn RecordSink) -> Result<(), ReadError>,
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
        if too_long {
            sink.reject(
                line_no,
                line,
                &format!("line longer than {MAX_LINE_BYTES} bytes (kept its start)"),
            )?;
        } else {
            f(line_no, line, sink)?;
        }
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

    /// The lines handed to the format, and the sink (with the rejects).
    fn lines_of(input: &[u8]) -> (Vec<(u64, String)>, CollectingSink) {
        let mut sink = CollectingSink::new(&ONE_TEXT);
        let mut out = Vec::new();
        for_each_line(&mut &input[..], &mut sink, |n, line, _| {
            out.push((n, String::from_utf8_lossy(line).into_owned()));
            Ok(())
        })
        .unwrap();
        (out, sink)
    }

    #[test]
    fn splits_lines_and_strips_crlf() {
        let (got, sink) = lines_of(b"a\r\nbb\n\nlast");
        let want = [(1, "a"), (2, "bb"), (3, ""), (4, "last")];
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(want) {
            assert_eq!((g.0, g.1.as_str()), w);
        }
        assert!(sink.rejects.is_empty());
    }

    #[test]
    fn an_over_long_line_is_cut_and_the_next_line_survives() {
        let mut input = vec![b'x'; MAX_LINE_BYTES + 10];
        input.extend_from_slice(b"\nnext\n");
        let (got, sink) = lines_of(&input);
        assert_eq!(got, vec![(2, "next".to_owned())]);
        assert_eq!(sink.rejects.len(), 1);
        assert_eq!(sink.rejects[0].line, 1);
        assert_eq!(sink.rejects[0].raw.len(), MAX_LINE_BYTES);
        assert!(sink.rejects[0].reason.starts_with("line longer than"));
    }
}
