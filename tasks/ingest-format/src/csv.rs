//! A streaming CSV reader (RFC 4180) with the header mapped by name.
//!
//! Quoted fields may hold the delimiter, doubled quotes (`""`) and line breaks; lines end with LF
//! or CRLF; a UTF-8 byte order mark at the start is skipped. Memory is bounded: one record is
//! buffered at a time, and a record longer than [`MAX_RECORD_BYTES`] is cut, reported as
//! [`Next::TooLong`], and reading resumes at the next physical line. Record line numbers are the
//! physical line (1-based) where the record starts, so they match what an editor shows.
//!
//! Lenient where it costs nothing (a quote inside an unquoted field is kept as data), strict where
//! data would be misread: text after a closing quote makes the record [`Next::Malformed`], and a
//! quoted field still open at the end of the object is a [`ReadError::Format`] (everything after
//! the stray quote would otherwise be swallowed into one field).

use std::io::{self, BufRead};

use crate::format::ReadError;

/// Longest record kept. License exports are a few hundred bytes a record.
pub const MAX_RECORD_BYTES: usize = 1 << 20;

const BOM: &[u8] = b"\xEF\xBB\xBF";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// At the start of a field.
    FieldStart,
    Unquoted,
    Quoted,
    /// A `"` inside a quoted field: an escaped quote or the end of the field.
    QuoteSeen,
    /// `\r` after a closing quote: expecting `\n`.
    AfterQuotedCr,
}

/// What [`CsvReader::next_record`] found.
#[derive(Debug)]
pub enum Next<'a> {
    Record(Record<'a>),
    /// A record over the size limit: its first bytes; the rest of its physical line was skipped.
    TooLong {
        line: u64,
        raw: &'a [u8],
    },
    /// A record that breaks the quoting rules (it was read to its end, so the next one is fine).
    Malformed {
        line: u64,
        raw: &'a [u8],
        reason: &'a str,
    },
}

/// One record's fields, unquoted and unescaped, borrowed from the reader.
#[derive(Debug)]
pub struct Record<'a> {
    /// Physical line where the record starts (1-based).
    pub line: u64,
    data: &'a [u8],
    ends: &'a [usize],
    raw: &'a [u8],
}

impl<'a> Record<'a> {
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Field `i`'s bytes.
    pub fn get(&self, i: usize) -> Option<&'a [u8]> {
        let end = *self.ends.get(i)?;
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        Some(&self.data[start..end])
    }

    /// The record as it was in the file (without its final line break).
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }
}

enum Kind {
    Eof,
    Blank,
    Record,
    TooLong,
    Malformed,
}

/// Reads records one at a time from a `BufRead`, reusing its buffers.
pub struct CsvReader<'r> {
    input: &'r mut dyn BufRead,
    delimiter: u8,
    max_record_bytes: usize,
    data: Vec<u8>,
    ends: Vec<usize>,
    raw: Vec<u8>,
    error: Option<String>,
    /// Physical line of the next byte.
    next_line: u64,
    record_line: u64,
    started: bool,
}

impl<'r> CsvReader<'r> {
    pub fn new(input: &'r mut dyn BufRead) -> CsvReader<'r> {
        CsvReader {
            input,
            delimiter: b',',
            max_record_bytes: MAX_RECORD_BYTES,
            data: Vec::with_capacity(1024),
            ends: Vec::with_capacity(16),
            raw: Vec::with_capacity(1024),
            error: None,
            next_line: 1,
            record_line: 1,
            started: false,
        }
    }

    pub fn with_delimiter(mut self, delimiter: u8) -> Self {
        self.delimiter = delimiter;
        self
    }

    pub fn with_max_record_bytes(mut self, max: usize) -> Self {
        self.max_record_bytes = max.max(1);
        self
    }

    /// Reads the first record as the header. Names are trimmed and lower-cased.
    pub fn read_header(&mut self) -> Result<Header, ReadError> {
        match self.next_record()? {
            None => Err(ReadError::Format(
                "the file is empty: expected a header line with column names".into(),
            )),
            Some(Next::TooLong { line, .. }) => Err(ReadError::Format(format!(
                "line {line}: the header is longer than {} bytes",
                self.max_record_bytes
            ))),
            Some(Next::Malformed { line, reason, .. }) => Err(ReadError::Format(format!(
                "line {line}: the header is not valid CSV: {reason}"
            ))),
            Some(Next::Record(rec)) => {
                let names = (0..rec.len())
                    .map(|i| {
                        String::from_utf8_lossy(rec.get(i).unwrap_or_default())
                            .trim()
                            .to_ascii_lowercase()
                    })
                    .collect();
                Ok(Header {
                    names,
                    line: rec.line,
                })
            }
        }
    }

    /// The next record, or `None` at the end. Blank lines are skipped.
    pub fn next_record(&mut self) -> Result<Option<Next<'_>>, ReadError> {
        let kind = loop {
            match self.read_one()? {
                Kind::Blank => continue,
                other => break other,
            }
        };
        let line = self.record_line;
        Ok(match kind {
            Kind::Eof | Kind::Blank => None,
            Kind::Record => Some(Next::Record(Record {
                line,
                data: &self.data,
                ends: &self.ends,
                raw: &self.raw,
            })),
            Kind::TooLong => Some(Next::TooLong {
                line,
                raw: &self.raw,
            }),
            Kind::Malformed => Some(Next::Malformed {
                line,
                raw: &self.raw,
                reason: self.error.as_deref().unwrap_or("malformed record"),
            }),
        })
    }

    fn io_error(&self, source: io::Error) -> ReadError {
        ReadError::Io {
            line: self.next_line,
            source,
        }
    }

    fn read_one(&mut self) -> Result<Kind, ReadError> {
        self.data.clear();
        self.ends.clear();
        self.raw.clear();
        self.error = None;
        self.record_line = self.next_line;
        let delim = self.delimiter;
        let mut state = State::FieldStart;
        let mut any = false;
        let mut too_long = false;
        if !self.started {
            self.started = true;
            let buf = loop {
                match self.input.fill_buf() {
                    Ok(b) => break b,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(self.io_error(e)),
                }
            };
            // Needs the first fill to hold 3 bytes: the runtime's reader guarantees it
            // (ingest_runtime::sniff), whatever the stream's first chunk.
            if buf.starts_with(BOM) {
                self.input.consume(BOM.len());
            }
        }
        loop {
            let buf = match self.input.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    return Err(ReadError::Io {
                        line: self.next_line,
                        source: e,
                    });
                }
            };
            if buf.is_empty() {
                // End of input.
                if !any {
                    return Ok(Kind::Eof);
                }
                if too_long {
                    return Ok(Kind::TooLong);
                }
                match state {
                    State::Quoted => {
                        return Err(ReadError::Format(format!(
                            "line {}: the quoted field {} is never closed (the file ends inside it; a stray '\"'?)",
                            self.record_line,
                            self.ends.len() + 1
                        )));
                    }
                    State::Unquoted => strip_cr(&mut self.data, &self.ends),
                    _ => {}
                }
                self.ends.push(self.data.len());
                return Ok(self.finish_record());
            }
            any = true;
            let mut i = 0;
            let n = buf.len();
            let mut record_done = false;
            while i < n {
                if too_long {
                    // Resynchronise at the next physical line.
                    match memchr::memchr(b'\n', &buf[i..]) {
                        Some(off) => {
                            i += off + 1;
                            self.next_line += 1;
                            record_done = true;
                            break;
                        }
                        None => {
                            i = n;
                            continue;
                        }
                    }
                }
                // Fast path: copy a run of plain bytes at once.
                if state == State::Unquoted || state == State::Quoted {
                    let run = if state == State::Unquoted {
                        memchr::memchr3(delim, b'\n', b'"', &buf[i..])
                    } else {
                        memchr::memchr2(b'"', b'\n', &buf[i..])
                    }
                    .unwrap_or(n - i);
                    if run > 0 {
                        let chunk = &buf[i..i + run];
                        if self.raw.len() + chunk.len() > self.max_record_bytes {
                            let room = self.max_record_bytes - self.raw.len();
                            self.raw.extend_from_slice(&chunk[..room]);
                            too_long = true;
                            i += run;
                            continue;
                        }
                        self.raw.extend_from_slice(chunk);
                        self.data.extend_from_slice(chunk);
                        i += run;
                        continue;
                    }
                }
                let b = buf[i];
                i += 1;
                if self.raw.len() >= self.max_record_bytes {
                    too_long = true;
                    if b == b'\n' {
                        self.next_line += 1;
                        record_done = true;
                        break;
                    }
                    continue;
                }
                self.raw.push(b);
                if b == b'\n' {
                    self.next_line += 1;
                }
                match state {
                    State::FieldStart => match b {
                        b'"' => state = State::Quoted,
                        b'\n' => {
                            self.ends.push(self.data.len());
                            record_done = true;
                            break;
                        }
                        _ if b == delim => self.ends.push(self.data.len()),
                        _ => {
                            self.data.push(b);
                            state = State::Unquoted;
                        }
                    },
                    State::Unquoted => match b {
                        b'\n' => {
                            strip_cr(&mut self.data, &self.ends);
                            self.ends.push(self.data.len());
                            record_done = true;
                            break;
                        }
                        _ if b == delim => {
                            self.ends.push(self.data.len());
                            state = State::FieldStart;
                        }
                        // A quote inside an unquoted field is data.
                        _ => self.data.push(b),
                    },
                    State::Quoted => match b {
                        b'"' => state = State::QuoteSeen,
                        _ => self.data.push(b),
                    },
                    State::QuoteSeen => match b {
                        b'"' => {
                            self.data.push(b'"');
                            state = State::Quoted;
                        }
                        b'\n' => {
                            self.ends.push(self.data.len());
                            record_done = true;
                            break;
                        }
                        b'\r' => state = State::AfterQuotedCr,
                        _ if b == delim => {
                            self.ends.push(self.data.len());
                            state = State::FieldStart;
                        }
                        _ => {
                            text_after_quote(&mut self.error, self.ends.len() + 1, b);
                            self.data.push(b);
                            state = State::Unquoted;
                        }
                    },
                    State::AfterQuotedCr => match b {
                        b'\n' => {
                            self.ends.push(self.data.len());
                            record_done = true;
                            break;
                        }
                        _ if b == delim => {
                            self.ends.push(self.data.len());
                            state = State::FieldStart;
                        }
                        _ => {
                            text_after_quote(&mut self.error, self.ends.len() + 1, b);
                            self.data.push(b'\r');
                            self.data.push(b);
                            state = State::Unquoted;
                        }
                    },
                }
            }
            self.input.consume(i);
            if record_done {
                if too_long {
                    return Ok(Kind::TooLong);
                }
                return Ok(self.finish_record());
            }
        }
    }

    fn finish_record(&mut self) -> Kind {
        while matches!(self.raw.last(), Some(b'\n' | b'\r')) {
            self.raw.pop();
        }
        if self.raw.is_empty() {
            return Kind::Blank;
        }
        if self.error.is_some() {
            return Kind::Malformed;
        }
        Kind::Record
    }
}

/// Notes the first quoting error of a record: text after a closing quote.
fn text_after_quote(error: &mut Option<String>, field: usize, b: u8) {
    if error.is_none() {
        *error = Some(format!(
            "field {field}: unexpected {} after the closing quote (a quote inside a quoted field must be doubled: \"\")",
            if b.is_ascii_graphic() {
                format!("'{}'", char::from(b))
            } else {
                format!("byte 0x{b:02X}")
            }
        ));
    }
}

/// Drops a `\r` that ended the current (unquoted) field: the CR of a CRLF.
fn strip_cr(data: &mut Vec<u8>, ends: &[usize]) {
    let field_start = ends.last().copied().unwrap_or(0);
    if data.len() > field_start && data.last() == Some(&b'\r') {
        data.pop();
    }
}

/// The header's column names (trimmed, lower-case).
#[derive(Clone, Debug)]
pub struct Header {
    pub names: Vec<String>,
    /// Line the header starts on (1-based).
    pub line: u64,
}

impl Header {
    /// The position of each of `required` then each of `optional`, by name (ASCII
    /// case-insensitive). A missing required column, or a wanted name that appears twice, is a
    /// [`ReadError::Format`] that names it.
    pub fn columns(
        &self,
        required: &[&str],
        optional: &[&str],
    ) -> Result<Vec<Option<usize>>, ReadError> {
        let mut out = Vec::with_capacity(required.len() + optional.len());
        let mut missing = Vec::new();
        for (name, is_required) in required
            .iter()
            .map(|n| (n, true))
            .chain(optional.iter().map(|n| (n, false)))
        {
            let mut found = self
                .names
                .iter()
                .enumerate()
                .filter(|(_, h)| h.eq_ignore_ascii_case(name))
                .map(|(i, _)| i);
            let first = found.next();
            if found.next().is_some() {
                return Err(ReadError::Format(format!(
                    "the header names column `{name}` more than once, so its values are ambiguous"
                )));
            }
            if first.is_none() && is_required {
                missing.push(*name);
            }
            out.push(first);
        }
        if !missing.is_empty() {
            let plural = if missing.len() == 1 { "" } else { "s" };
            return Err(ReadError::Format(format!(
                "the header has no required column{plural} {} (found: {})",
                missing
                    .iter()
                    .map(|m| format!("`{m}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
                self.names.join(", ")
            )));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    enum R {
        Rec(u64, Vec<String>),
        Long(u64, usize),
        Bad(u64, String),
    }

    fn read_all(input: &[u8], max: usize) -> Result<Vec<R>, ReadError> {
        let mut input = input;
        let mut reader = CsvReader::new(&mut input).with_max_record_bytes(max);
        let mut out = Vec::new();
        while let Some(next) = reader.next_record()? {
            out.push(match next {
                Next::Record(r) => R::Rec(
                    r.line,
                    (0..r.len())
                        .map(|i| String::from_utf8(r.get(i).unwrap().to_vec()).unwrap())
                        .collect(),
                ),
                Next::TooLong { line, raw } => R::Long(line, raw.len()),
                Next::Malformed { line, reason, .. } => R::Bad(line, reason.to_owned()),
            });
        }
        Ok(out)
    }

    fn rec(line: u64, fields: &[&str]) -> R {
        R::Rec(line, fields.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn quoted_fields_hold_commas_quotes_and_line_breaks() {
        let input = b"a,b,c\n\"Acme, Inc.\",\"say \"\"hi\"\"\",\"two\nlines\"\nx,,\n\"\",y,\"z\"\n";
        let got = read_all(input, MAX_RECORD_BYTES).unwrap();
        assert_eq!(
            got,
            [
                rec(1, &["a", "b", "c"]),
                rec(2, &["Acme, Inc.", "say \"hi\"", "two\nlines"]),
                rec(4, &["x", "", ""]),
                rec(5, &["", "y", "z"]),
            ]
        );
    }

    #[test]
    fn crlf_bom_blank_lines_and_a_missing_final_newline() {
        let input = b"\xEF\xBB\xBFid,name\r\n1,\"a\r\nb\"\r\n\r\n2,plain\r\n3,last";
        let got = read_all(input, MAX_RECORD_BYTES).unwrap();
        assert_eq!(
            got,
            [
                rec(1, &["id", "name"]),
                rec(2, &["1", "a\r\nb"]),
                rec(5, &["2", "plain"]),
                rec(6, &["3", "last"]),
            ]
        );
    }

    #[test]
    fn a_stray_quote_inside_an_unquoted_field_is_data() {
        let got = read_all(b"5\" disk,ok\n", MAX_RECORD_BYTES).unwrap();
        assert_eq!(got, [rec(1, &["5\" disk", "ok"])]);
    }

    #[test]
    fn text_after_a_closing_quote_is_malformed_and_the_next_record_survives() {
        let got = read_all(b"\"abc\"x,1\nok,2\n", MAX_RECORD_BYTES).unwrap();
        assert!(
            matches!(&got[0], R::Bad(1, reason) if reason.contains("field 1: unexpected 'x' after the closing quote")),
            "{got:?}"
        );
        assert_eq!(got[1], rec(2, &["ok", "2"]));
    }

    #[test]
    fn an_over_long_record_is_cut_and_reading_resumes_on_the_next_line() {
        let mut input = b"a,".to_vec();
        input.extend(std::iter::repeat_n(b'x', 100));
        input.extend_from_slice(b"\nnext,1\n\"open,");
        input.extend(std::iter::repeat_n(b'y', 100));
        input.extend_from_slice(b"\nmore\"\nafter,2\n");
        let got = read_all(&input, 50).unwrap();
        assert_eq!(got[0], R::Long(1, 50));
        assert_eq!(got[1], rec(2, &["next", "1"]));
        assert_eq!(got[2], R::Long(3, 50));
        // Resumed at the next physical line: the rest of the broken record reads as data.
        assert_eq!(got[3], rec(4, &["more\""]));
        assert_eq!(got[4], rec(5, &["after", "2"]));
    }

    #[test]
    fn an_unclosed_quote_at_the_end_is_a_format_error_with_its_line() {
        let err = read_all(b"a,b\n1,\"never closed\n2,3\n", MAX_RECORD_BYTES).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("line 2") && msg.contains("never closed"),
            "{msg}"
        );
    }

    #[test]
    fn header_maps_names_in_any_order_and_names_what_is_missing() {
        let mut input = &b"\xEF\xBB\xBF Number ,LicenseID,company\n"[..];
        let mut reader = CsvReader::new(&mut input);
        let header = reader.read_header().unwrap();
        assert_eq!(header.names, ["number", "licenseid", "company"]);
        let cols = header
            .columns(&["licenseid", "number"], &["company", "email"])
            .unwrap();
        assert_eq!(cols, [Some(1), Some(0), Some(2), None]);
        let err = header
            .columns(&["licenseid", "issuedat", "expiresat"], &[])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("no required columns `issuedat`, `expiresat`")
                && err.contains("found: number, licenseid, company"),
            "{err}"
        );
        let dup = Header {
            names: vec!["a".into(), "a".into()],
            line: 1,
        };
        assert!(
            dup.columns(&["a"], &[])
                .unwrap_err()
                .to_string()
                .contains("more than once")
        );
        let mut empty = &b""[..];
        assert!(
            CsvReader::new(&mut empty)
                .read_header()
                .unwrap_err()
                .to_string()
                .contains("empty")
        );
    }

    #[test]
    fn records_split_across_tiny_buffer_reads() {
        let data = b"\xEF\xBB\xBFa,b\r\n\"x,\"\"y\"\"\",\"multi\r\nline\"\r\n";
        let mut reader = io::BufReader::with_capacity(3, &data[..]);
        let mut csv = CsvReader::new(&mut reader);
        let mut rows = Vec::new();
        while let Some(Next::Record(r)) = csv.next_record().unwrap() {
            rows.push((
                r.line,
                (0..r.len())
                    .map(|i| String::from_utf8_lossy(r.get(i).unwrap()).into_owned())
                    .collect::<Vec<_>>(),
            ));
        }
        assert_eq!(
            rows,
            [
                (1, vec!["a".to_owned(), "b".to_owned()]),
                (2, vec!["x,\"y\"".to_owned(), "multi\r\nline".to_owned()]),
            ]
        );
    }
}
