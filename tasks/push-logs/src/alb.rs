//! The Application Load Balancer access-log line: tokenizing and typing its fields.
//!
//! A line is space-separated; some fields are double-quoted and may contain spaces and `\"` / `\\`
//! escapes. Tokenizing records byte ranges only; values are borrowed from the line, and an escaped
//! field is unescaped into one reused buffer just before it is written.

use std::fmt::Write as _;
use std::io::BufRead;

use ingest_format::format::{ReadError, RecordFormat, RecordSink};
use ingest_format::lines::for_each_line;
use ingest_format::swar;
use ingest_format::table::{RowWriter, TableSchema};
use ingest_format::time::parse_iso8601_utc_micros;

use crate::schema::ALB_TABLE;

/// ALB's fields in log order (1-based position in reject reasons is the index + 1).
pub const FIELDS: [&str; 33] = [
    "type",
    "time",
    "elb",
    "client:port",
    "target:port",
    "request_processing_time",
    "target_processing_time",
    "response_processing_time",
    "elb_status_code",
    "target_status_code",
    "received_bytes",
    "sent_bytes",
    "request",
    "user_agent",
    "ssl_cipher",
    "ssl_protocol",
    "target_group_arn",
    "trace_id",
    "domain_name",
    "chosen_cert_arn",
    "matched_rule_priority",
    "request_creation_time",
    "actions_executed",
    "redirect_url",
    "error_reason",
    "target:port_list",
    "target_status_code_list",
    "classification",
    "classification_reason",
    "conn_trace_id",
    "transformed_host",
    "transformed_uri",
    "request_transform_status",
];

/// Lines must carry at least the reference columns (through `classification_reason`); the fields
/// added since (conn_trace_id in 2024, the transform fields in 2025) are NULL when absent.
pub const MIN_FIELDS: usize = 29;

/// The push-logs format: one ALB access-log line per row.
#[derive(Debug, Default)]
pub struct AlbFormat;

impl RecordFormat for AlbFormat {
    type State = ();

    fn schema(&self) -> &'static TableSchema {
        &ALB_TABLE
    }

    fn read_object(
        &self,
        _key: &str,
        input: &mut dyn BufRead,
        out: &mut dyn RecordSink,
        _state: &mut (),
    ) -> Result<(), ReadError> {
        let mut parser = AlbParser::default();
        for_each_line(input, out, |line_no, raw, out| {
            if raw.iter().all(u8::is_ascii_whitespace) {
                return Ok(());
            }
            match parser.parse(raw) {
                Ok(record) => out.row(line_no, &mut |w| parser.write(raw, &record, w)),
                Err(reason) => out.reject(line_no, raw, &reason),
            }
        })
    }
}

/// One field's position in the line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Span {
    start: usize,
    end: usize,
    /// Quoted and containing a backslash escape: must be unescaped before use.
    escaped: bool,
}

/// The typed values of one line; text stays as spans into the line.
#[derive(Debug)]
pub struct Record {
    spans: [Span; FIELDS.len()],
    present: usize,
    time: Option<i64>,
    client: Option<(Span, i32)>,
    target: Option<(Span, i32)>,
    processing: [Option<f64>; 3],
    elb_status: Option<i32>,
    target_status: Option<i32>,
    received_bytes: Option<i64>,
    sent_bytes: Option<i64>,
    request_parts: Option<[Span; 3]>,
    matched_rule_priority: Option<i32>,
    request_creation_time: Option<i64>,
}

impl Default for Record {
    fn default() -> Self {
        Record {
            spans: [Span::default(); FIELDS.len()],
            present: 0,
            time: None,
            client: None,
            target: None,
            processing: [None; 3],
            elb_status: None,
            target_status: None,
            received_bytes: None,
            sent_bytes: None,
            request_parts: None,
            matched_rule_priority: None,
            request_creation_time: None,
        }
    }
}

/// Reusable parser state: the buffer escaped fields are undone into.
#[derive(Debug, Default)]
pub struct AlbParser {
    unescaped: Vec<u8>,
}

impl AlbParser {
    /// Parses one line into typed values, or the reason it cannot be loaded.
    pub fn parse(&mut self, line: &[u8]) -> Result<Record, String> {
        let mut rec = Record::default();
        tokenize(line, &mut rec)?;
        if rec.present < MIN_FIELDS {
            return Err(format!(
                "expected at least {MIN_FIELDS} space-separated fields (through classification_reason), found {}",
                rec.present
            ));
        }
        let field = |i: usize| -> &[u8] { &line[rec.spans[i].start..rec.spans[i].end] };

        if is_null(field(0)) {
            return Err(expected(
                line,
                &rec,
                0,
                "a request type (http, https, h2, ...)",
            ));
        }
        rec.time = Some(
            parse_iso8601_utc_micros(field(1))
                .ok_or_else(|| expected(line, &rec, 1, "an ISO 8601 UTC timestamp"))?,
        );
        rec.client =
            parse_endpoint(line, rec.spans[3]).map_err(|()| expected(line, &rec, 3, "ip:port"))?;
        rec.target = parse_endpoint(line, rec.spans[4])
            .map_err(|()| expected(line, &rec, 4, "ip:port or \"-\""))?;
        for i in 0..3 {
            // Rust's float parser also takes "NaN" and "inf"; ALB writes neither (a failed
            // dispatch is -1), so such a value is a corrupt line, not a time.
            rec.processing[i] = parse_opt::<f64>(field(5 + i))
                .and_then(|v| match v {
                    Some(t) if !t.is_finite() => Err(()),
                    v => Ok(v),
                })
                .map_err(|()| expected(line, &rec, 5 + i, "a number of seconds or \"-\""))?;
        }
        rec.elb_status =
            parse_opt(field(8)).map_err(|()| expected(line, &rec, 8, "an integer or \"-\""))?;
        rec.target_status =
            parse_opt(field(9)).map_err(|()| expected(line, &rec, 9, "an integer or \"-\""))?;
        rec.received_bytes =
            parse_opt(field(10)).map_err(|()| expected(line, &rec, 10, "an integer or \"-\""))?;
        rec.sent_bytes =
            parse_opt(field(11)).map_err(|()| expected(line, &rec, 11, "an integer or \"-\""))?;
        rec.request_parts = split_request(line, rec.spans[12]);
        rec.matched_rule_priority =
            parse_opt(field(20)).map_err(|()| expected(line, &rec, 20, "an integer or \"-\""))?;
        let created = field(21);
        rec.request_creation_time =
            if is_null(created) {
                None
            } else {
                Some(parse_iso8601_utc_micros(created).ok_or_else(|| {
                    expected(line, &rec, 21, "an ISO 8601 UTC timestamp or \"-\"")
                })?)
            };
        Ok(rec)
    }

    /// Writes the parsed line in schema order.
    pub fn write(&mut self, line: &[u8], rec: &Record, w: &mut RowWriter<'_>) {
        // The whole line checked as UTF-8 once, rather than each of its ~30 values apart.
        let valid = std::str::from_utf8(line).ok();
        let text = |w: &mut RowWriter<'_>, i: usize, buf: &mut Vec<u8>| {
            let span = if i < rec.present {
                rec.spans[i]
            } else {
                // A field this line predates.
                w.text(None);
                return;
            };
            write_text(w, line, valid, span, buf);
        };
        let buf = &mut self.unescaped;
        text(w, 0, buf);
        w.timestamp_micros(rec.time);
        text(w, 2, buf);
        for (i, endpoint) in [(3, rec.client), (4, rec.target)] {
            text(w, i, buf);
            match endpoint {
                Some((ip, port)) => {
                    write_text(w, line, valid, ip, buf);
                    w.i32(Some(port));
                }
                None => {
                    w.text(None).i32(None);
                }
            }
        }
        for t in rec.processing {
            w.f64(t);
        }
        w.i32(rec.elb_status)
            .i32(rec.target_status)
            .i64(rec.received_bytes)
            .i64(rec.sent_bytes);
        text(w, 12, buf);
        match rec.request_parts {
            Some(parts) => {
                for part in parts {
                    write_text(w, line, valid, part, buf);
                }
            }
            None => {
                w.text(None).text(None).text(None);
            }
        }
        for i in 13..=19 {
            text(w, i, buf);
        }
        w.i32(rec.matched_rule_priority);
        w.timestamp_micros(rec.request_creation_time);
        for i in 22..FIELDS.len() {
            text(w, i, buf);
        }
    }
}

/// Splits `line` into field spans, honouring quotes and backslash escapes inside them. Fields past
/// the ones we know are checked for balanced quotes, then ignored.
fn tokenize(line: &[u8], rec: &mut Record) -> Result<(), String> {
    let mut pos = 0;
    let mut index = 0;
    let n = line.len();
    while pos < n {
        let mut span = Span::default();
        if line[pos] == b'"' {
            let start = pos + 1;
            let mut i = start;
            let mut escaped = false;
            loop {
                match memchr::memchr2(b'"', b'\\', &line[i..]) {
                    None => {
                        return Err(format!(
                            "field {} ({}): unterminated quoted field",
                            index + 1,
                            field_name(index)
                        ));
                    }
                    Some(off) if line[i + off] == b'\\' => {
                        escaped = true;
                        i += off + 2;
                        if i > n {
                            return Err(format!(
                                "field {} ({}): unterminated quoted field",
                                index + 1,
                                field_name(index)
                            ));
                        }
                    }
                    Some(off) => {
                        span.start = start;
                        span.end = i + off;
                        span.escaped = escaped;
                        pos = i + off + 1;
                        break;
                    }
                }
            }
            if pos < n && line[pos] != b' ' {
                return Err(format!(
                    "field {} ({}): expected a space after the closing quote",
                    index + 1,
                    field_name(index)
                ));
            }
        } else {
            // Unquoted fields are a dozen bytes or so: a word-at-a-time search beats a `memchr`
            // call there (1.5% of a --dry-run), while quoted ones (request, user agent) are long
            // enough for memchr's vector loop.
            let end = swar::find(&line[pos..], b' ').map_or(n, |off| pos + off);
            span.start = pos;
            span.end = end;
            pos = end;
        }
        if index < FIELDS.len() {
            rec.spans[index] = span;
        }
        index += 1;
        // Skip the one separating space.
        if pos < n {
            pos += 1;
        }
    }
    rec.present = index.min(FIELDS.len());
    Ok(())
}

fn field_name(index: usize) -> &'static str {
    FIELDS
        .get(index)
        .copied()
        .unwrap_or("unknown trailing field")
}

/// `field 9 (elb_status_code): expected an integer or "-", got "abc"`.
fn expected(line: &[u8], rec: &Record, index: usize, what: &str) -> String {
    let span = rec.spans[index];
    let value = &line[span.start..span.end];
    let mut reason = format!(
        "field {} ({}): expected {what}, got \"",
        index + 1,
        FIELDS[index]
    );
    const MAX_SHOWN: usize = 64;
    let shown = &value[..value.len().min(MAX_SHOWN)];
    for chunk in shown.utf8_chunks() {
        reason.push_str(chunk.valid());
        for b in chunk.invalid() {
            let _ = write!(reason, "\\x{b:02x}");
        }
    }
    if value.len() > MAX_SHOWN {
        reason.push('…');
    }
    reason.push('"');
    reason
}

#[inline]
fn is_null(value: &[u8]) -> bool {
    value == b"-" || value.is_empty()
}

/// `-` → `None`; otherwise the value must parse.
#[inline]
fn parse_opt<T: std::str::FromStr>(value: &[u8]) -> Result<Option<T>, ()> {
    if is_null(value) {
        return Ok(None);
    }
    std::str::from_utf8(value)
        .ok()
        .and_then(|s| s.parse().ok())
        .map(Some)
        .ok_or(())
}

/// `ip:port` (IPv4, or IPv6 without brackets as ALB logs it, or `[v6]:port`) → (ip span, port).
fn parse_endpoint(line: &[u8], span: Span) -> Result<Option<(Span, i32)>, ()> {
    let value = &line[span.start..span.end];
    if is_null(value) {
        return Ok(None);
    }
    let colon = memchr::memrchr(b':', value).ok_or(())?;
    let port: u16 = std::str::from_utf8(&value[colon + 1..])
        .ok()
        .and_then(|p| p.parse().ok())
        .ok_or(())?;
    let mut ip = Span {
        start: span.start,
        end: span.start + colon,
        escaped: false,
    };
    if value.first() == Some(&b'[') && value.get(colon - 1) == Some(&b']') {
        ip.start += 1;
        ip.end -= 1;
    }
    if ip.start >= ip.end {
        return Err(());
    }
    Ok(Some((ip, i32::from(port))))
}

/// `"GET https://host:443/path HTTP/1.1"` → method, url, version. `None` when it is not three
/// space-separated parts (ALB logs `"- - - "` for requests it could not parse).
fn split_request(line: &[u8], span: Span) -> Option<[Span; 3]> {
    if span.escaped {
        return None;
    }
    let value = &line[span.start..span.end];
    let first = memchr::memchr(b' ', value)?;
    let last = memchr::memrchr(b' ', value)?;
    if first == last {
        return None;
    }
    let part = |a: usize, b: usize| Span {
        start: span.start + a,
        end: span.start + b,
        escaped: false,
    };
    let parts = [
        part(0, first),
        part(first + 1, last),
        part(last + 1, value.len()),
    ];
    if parts.iter().all(|p| is_null(&line[p.start..p.end])) {
        return None;
    }
    Some(parts)
}

/// Writes a text span: `-` → NULL, escapes undone into `buf` when present. `valid` is `line` when
/// it is UTF-8: spans start and end at ASCII delimiters, so a span of it is the same text.
#[inline]
fn write_text(
    w: &mut RowWriter<'_>,
    line: &[u8],
    valid: Option<&str>,
    span: Span,
    buf: &mut Vec<u8>,
) {
    let value = &line[span.start..span.end];
    if is_null(value) {
        w.text(None);
    } else if span.escaped {
        buf.clear();
        let mut i = 0;
        while i < value.len() {
            if value[i] == b'\\' && i + 1 < value.len() {
                buf.push(value[i + 1]);
                i += 2;
            } else {
                buf.push(value[i]);
                i += 1;
            }
        }
        w.text_lossy(Some(buf));
    } else if let Some(text) = valid.and_then(|v| v.get(span.start..span.end)) {
        w.text(Some(text));
    } else {
        w.text_lossy(Some(value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokenizes_quoted_fields_with_spaces_and_escapes() {
        let line = br#"a "b c" "d \"e\" \\ f" - g"#;
        let mut rec = Record::default();
        tokenize(line, &mut rec).unwrap();
        assert_eq!(rec.present, 5);
        let f =
            |i: usize| std::str::from_utf8(&line[rec.spans[i].start..rec.spans[i].end]).unwrap();
        assert_eq!(f(0), "a");
        assert_eq!(f(1), "b c");
        assert_eq!(f(2), r#"d \"e\" \\ f"#);
        assert!(rec.spans[2].escaped);
        assert_eq!(f(3), "-");
        assert_eq!(f(4), "g");
    }

    #[test]
    fn unterminated_quote_is_an_error_naming_the_field() {
        let mut rec = Record::default();
        let err = tokenize(br#"h2 2026 x y z 1 2 3 200 200 1 2 "GET /x"#, &mut rec).unwrap_err();
        assert_eq!(err, "field 13 (request): unterminated quoted field");
    }

    #[test]
    fn endpoints_split_ipv4_ipv6_and_bracketed() {
        for (value, ip, port) in [
            ("192.168.1.2:443", "192.168.1.2", 443),
            (
                "2600:1f18:a:b:c:d:e:f:51234",
                "2600:1f18:a:b:c:d:e:f",
                51234,
            ),
            ("[2001:db8::1]:80", "2001:db8::1", 80),
        ] {
            let line = value.as_bytes();
            let span = Span {
                start: 0,
                end: line.len(),
                escaped: false,
            };
            let (ip_span, p) = parse_endpoint(line, span).unwrap().unwrap();
            assert_eq!(&value[ip_span.start..ip_span.end], ip);
            assert_eq!(p, port);
        }
        let bad = b"10.0.0.1:http";
        assert!(
            parse_endpoint(
                bad,
                Span {
                    start: 0,
                    end: bad.len(),
                    escaped: false
                }
            )
            .is_err()
        );
        let none = b"-";
        assert_eq!(
            parse_endpoint(
                none,
                Span {
                    start: 0,
                    end: 1,
                    escaped: false
                }
            ),
            Ok(None)
        );
    }

    #[test]
    fn request_splits_into_three_parts_or_none() {
        let line = b"GET https://push.example.com:443/api/v1/send_push HTTP/1.1";
        let parts = split_request(
            line,
            Span {
                start: 0,
                end: line.len(),
                escaped: false,
            },
        )
        .unwrap();
        let s = |p: Span| std::str::from_utf8(&line[p.start..p.end]).unwrap();
        assert_eq!(s(parts[0]), "GET");
        assert_eq!(s(parts[1]), "https://push.example.com:443/api/v1/send_push");
        assert_eq!(s(parts[2]), "HTTP/1.1");
        let dashes = b"- - -";
        assert!(
            split_request(
                dashes,
                Span {
                    start: 0,
                    end: 5,
                    escaped: false
                }
            )
            .is_none()
        );
        let two = b"GET /";
        assert!(
            split_request(
                two,
                Span {
                    start: 0,
                    end: 5,
                    escaped: false
                }
            )
            .is_none()
        );
    }
}
