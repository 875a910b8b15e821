//! CloudFront standard (legacy) access logs: the W3C reader shared by the jobs that load them.
//!
//! A file starts with `#Version: 1.0` and `#Fields: date time x-edge-location ...`; every other
//! line is one request, tab-separated, in the order the `#Fields` line gives. Columns are mapped by
//! that line, so older files with fewer fields and future files with more both load: a field the
//! file lacks is NULL, a field we do not know is ignored. `-` (or an empty value) is NULL.
//!
//! Values are written the way AWS wrote them (what the old warehouse stored, so its SQL ports),
//! typed where the value is a number: byte counts, status, port, the two durations. `date` and
//! `time` also become one UTC timestamp, `log_at`. AWS URL-encodes bytes 0-32, 127-255 and
//! `<>"#%{}|\^~[]`'`; [`crate::url::Decoder`] undoes that for derived columns, e.g. `user_agent`, where old
//! files even encoded twice (`%2520` for a space).
//!
//! The hot path allocates nothing per line: the line is split into byte ranges, numbers are parsed
//! in place, and decoding reuses the reader's buffers.

use std::fmt::Write as _;
use std::io::BufRead;

use crate::format::{ReadError, RecordSink};
use crate::lines::for_each_line;
use crate::table::{Column, ColumnType, RowWriter};
use crate::time::{parse_date, parse_time_of_day};
use crate::url::Decoder;

/// How a field's value is typed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldType {
    /// `YYYY-MM-DD` (kept as text; with `time` it makes `log_at`).
    Date,
    /// `HH:MM:SS` (kept as text; with `date` it makes `log_at`).
    Time,
    Text,
    Int32,
    Int64,
    /// Seconds with a fraction, e.g. `0.082`.
    Seconds,
}

impl FieldType {
    fn expected(self) -> &'static str {
        match self {
            FieldType::Date => "a date as YYYY-MM-DD",
            FieldType::Time => "a time as HH:MM:SS",
            FieldType::Text => "text",
            FieldType::Int32 | FieldType::Int64 => "an integer or \"-\"",
            FieldType::Seconds => "a number of seconds or \"-\"",
        }
    }
}

/// One field of the standard log: its W3C name, its column name and type.
#[derive(Clone, Copy, Debug)]
pub struct FieldSpec {
    pub w3c: &'static str,
    pub column: &'static str,
    pub ty: FieldType,
    pub doc: &'static str,
}

/// Today's 33 fields, in the order AWS documents them. The first [`REFERENCE_FIELDS`] are the old
/// warehouse's columns (its names); the rest are named after the W3C field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Field {
    Date,
    Time,
    EdgeLocation,
    ScBytes,
    CIp,
    CsMethod,
    CsHost,
    CsUriStem,
    ScStatus,
    CsReferer,
    CsUserAgent,
    CsUriQuery,
    CsCookie,
    EdgeResultType,
    EdgeRequestId,
    HostHeader,
    CsProtocol,
    CsBytes,
    TimeTaken,
    ForwardedFor,
    SslProtocol,
    SslCipher,
    EdgeResponseResultType,
    CsProtocolVersion,
    FleStatus,
    FleEncryptedFields,
    CPort,
    TimeToFirstByte,
    EdgeDetailedResultType,
    ScContentType,
    ScContentLen,
    ScRangeStart,
    ScRangeEnd,
}

/// Number of fields we know.
pub const FIELD_COUNT: usize = 33;
/// The reference table's columns are the first 26 fields.
pub const REFERENCE_FIELDS: usize = 26;

impl Field {
    pub const ALL: [Field; FIELD_COUNT] = [
        Field::Date,
        Field::Time,
        Field::EdgeLocation,
        Field::ScBytes,
        Field::CIp,
        Field::CsMethod,
        Field::CsHost,
        Field::CsUriStem,
        Field::ScStatus,
        Field::CsReferer,
        Field::CsUserAgent,
        Field::CsUriQuery,
        Field::CsCookie,
        Field::EdgeResultType,
        Field::EdgeRequestId,
        Field::HostHeader,
        Field::CsProtocol,
        Field::CsBytes,
        Field::TimeTaken,
        Field::ForwardedFor,
        Field::SslProtocol,
        Field::SslCipher,
        Field::EdgeResponseResultType,
        Field::CsProtocolVersion,
        Field::FleStatus,
        Field::FleEncryptedFields,
        Field::CPort,
        Field::TimeToFirstByte,
        Field::EdgeDetailedResultType,
        Field::ScContentType,
        Field::ScContentLen,
        Field::ScRangeStart,
        Field::ScRangeEnd,
    ];

    pub fn spec(self) -> &'static FieldSpec {
        &FIELDS[self as usize]
    }

    /// The field with this W3C name (ASCII case-insensitive), e.g. `cs(User-Agent)`.
    pub fn from_w3c(name: &str) -> Option<Field> {
        FIELDS
            .iter()
            .position(|f| f.w3c.eq_ignore_ascii_case(name))
            .map(|i| Field::ALL[i])
    }
}

const fn spec(
    w3c: &'static str,
    column: &'static str,
    ty: FieldType,
    doc: &'static str,
) -> FieldSpec {
    FieldSpec {
        w3c,
        column,
        ty,
        doc,
    }
}

use FieldType::{Date, Int32, Int64, Seconds, Text, Time};

/// The fields, indexed by [`Field`].
pub static FIELDS: [FieldSpec; FIELD_COUNT] = [
    spec(
        "date",
        "logdate",
        Date,
        "date of the request, YYYY-MM-DD (UTC), as logged",
    ),
    spec(
        "time",
        "logtime",
        Time,
        "time the edge finished responding, HH:MM:SS (UTC), as logged",
    ),
    spec(
        "x-edge-location",
        "edge",
        Text,
        "edge location that served the request, e.g. IAD89-C3",
    ),
    spec(
        "sc-bytes",
        "bytessent",
        Int64,
        "bytes sent to the viewer, headers included",
    ),
    spec("c-ip", "cip", Text, "viewer (or proxy) IP address"),
    spec("cs-method", "method", Text, "HTTP method"),
    spec(
        "cs(Host)",
        "host",
        Text,
        "the distribution's CloudFront domain name",
    ),
    spec(
        "cs-uri-stem",
        "uri",
        Text,
        "path of the request, URL-encoded as logged",
    ),
    spec(
        "sc-status",
        "status",
        Int32,
        "HTTP status; 0 when the viewer closed the connection first",
    ),
    spec(
        "cs(Referer)",
        "creferrer",
        Text,
        "Referer header, URL-encoded as logged",
    ),
    spec(
        "cs(User-Agent)",
        "useragent",
        Text,
        "User-Agent header, URL-encoded as logged (old files twice)",
    ),
    spec(
        "cs-uri-query",
        "cs_uri_query",
        Text,
        "query string without '?', URL-encoded as logged: every parameter, where typed columns \
         (telemetry's) take only the keys they know",
    ),
    spec(
        "cs(Cookie)",
        "cookie",
        Text,
        "Cookie header when cookie logging is on",
    ),
    spec(
        "x-edge-result-type",
        "x_edge_result_type",
        Text,
        "Hit, RefreshHit, Miss, Error, Redirect, ...",
    ),
    spec(
        "x-edge-request-id",
        "x_edge_request_id",
        Text,
        "opaque id of the request (x-amz-cf-id)",
    ),
    spec(
        "x-host-header",
        "x_host_header",
        Text,
        "Host header the viewer sent",
    ),
    spec("cs-protocol", "protocol", Text, "http, https, ws or wss"),
    spec(
        "cs-bytes",
        "cs_bytes",
        Int64,
        "bytes the viewer sent, headers included",
    ),
    spec(
        "time-taken",
        "time_taken",
        Seconds,
        "seconds from request to last byte queued",
    ),
    spec(
        "x-forwarded-for",
        "x_forwarded_for",
        Text,
        "originating viewer IP when c-ip is a proxy",
    ),
    spec(
        "ssl-protocol",
        "ssl_protocol",
        Text,
        "TLS protocol for https",
    ),
    spec("ssl-cipher", "ssl_cipher", Text, "TLS cipher for https"),
    spec(
        "x-edge-response-result-type",
        "x_edge_response_result_type",
        Text,
        "result type just before the response was returned",
    ),
    spec(
        "cs-protocol-version",
        "cs_protocol_version",
        Text,
        "HTTP version, e.g. HTTP/2.0",
    ),
    spec(
        "fle-status",
        "file_status",
        Text,
        "field-level encryption status",
    ),
    spec(
        "fle-encrypted-fields",
        "file_encrypted_fields",
        Text,
        "number of field-level encrypted fields",
    ),
    spec("c-port", "c_port", Int32, "viewer's source port"),
    spec(
        "time-to-first-byte",
        "time_to_first_byte",
        Seconds,
        "seconds from request to first byte",
    ),
    spec(
        "x-edge-detailed-result-type",
        "x_edge_detailed_result_type",
        Text,
        "detailed result type (error kind when Error)",
    ),
    spec(
        "sc-content-type",
        "sc_content_type",
        Text,
        "Content-Type of the response",
    ),
    spec(
        "sc-content-len",
        "sc_content_len",
        Int64,
        "Content-Length of the response",
    ),
    spec(
        "sc-range-start",
        "sc_range_start",
        Int64,
        "start of Content-Range",
    ),
    spec(
        "sc-range-end",
        "sc_range_end",
        Int64,
        "end of Content-Range",
    ),
];

/// Each field's type, by [`Field`].
const FIELD_TYPES: [FieldType; FIELD_COUNT] = {
    let mut out = [FieldType::Text; FIELD_COUNT];
    let mut i = 0;
    while i < FIELD_COUNT {
        out[i] = FIELDS[i].ty;
        i += 1;
    }
    out
};

const fn field_column(f: &FieldSpec) -> Column {
    let ty = match f.ty {
        FieldType::Date | FieldType::Time | FieldType::Text => ColumnType::Text,
        FieldType::Int32 => ColumnType::Int32,
        FieldType::Int64 => ColumnType::Int64,
        FieldType::Seconds => ColumnType::Float64,
    };
    Column::new(f.column, ty, f.doc)
}

/// Columns every CloudFront table starts with: the 26 reference columns, `log_at`, the 7 newer
/// fields and `user_agent` (decoded). [`Record::write_log_columns`] writes them.
pub const LOG_COLUMNS: [Column; FIELD_COUNT + 2] = {
    let mut out = [Column::new("", ColumnType::Text, ""); FIELD_COUNT + 2];
    let mut i = 0;
    let mut o = 0;
    while i < FIELD_COUNT {
        if i == REFERENCE_FIELDS {
            out[o] = Column::new(
                "log_at",
                ColumnType::TimestampMicros,
                "date + time as one UTC instant",
            );
            o += 1;
        }
        out[o] = field_column(&FIELDS[i]);
        i += 1;
        o += 1;
    }
    out[o] = Column::new(
        "user_agent",
        ColumnType::Text,
        "useragent URL-decoded (also the double encoding of old files: %2520 -> space)",
    );
    out
};

/// `LOG_COLUMNS` followed by a job's own columns, for a `static` table schema:
///
/// ```ignore
/// static COLUMNS: [Column; 40] = cloudfront::log_columns_and(MY_COLUMNS);
/// ```
pub const fn log_columns_and<const B: usize, const C: usize>(extra: [Column; B]) -> [Column; C] {
    assert!(
        LOG_COLUMNS.len() + B == C,
        "C must be LOG_COLUMNS.len() + B"
    );
    let mut out = [Column::new("", ColumnType::Text, ""); C];
    let mut i = 0;
    while i < LOG_COLUMNS.len() {
        out[i] = LOG_COLUMNS[i];
        i += 1;
    }
    let mut j = 0;
    while j < B {
        out[i + j] = extra[j];
        j += 1;
    }
    out
}

/// Where a field's value sits in the line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Slot {
    /// The file's `#Fields` line does not have this field.
    Absent,
    /// Byte range in the line.
    At(u32, u32),
}

/// The mapping of one file's `#Fields` line.
#[derive(Clone, Debug)]
struct Layout {
    /// Field at each position of the line (`None`: a field we do not know).
    by_position: Vec<Option<Field>>,
    /// Values a line must have.
    min_values: usize,
    /// The known fields present, in position order.
    present: Vec<(usize, Field)>,
    /// Those of `present` that are typed (not text): the ones a line's values are parsed for.
    typed: Vec<(usize, Field)>,
    /// Whether the layout came from a `#Fields` line.
    from_header: bool,
}

impl Layout {
    /// Without a `#Fields` line: today's order, and at least the reference fields.
    fn standard() -> Layout {
        Layout {
            by_position: Field::ALL.iter().copied().map(Some).collect(),
            min_values: REFERENCE_FIELDS,
            present: Field::ALL.iter().copied().enumerate().collect(),
            typed: typed(Field::ALL.iter().copied().enumerate()),
            from_header: false,
        }
    }

    fn from_fields_line(names: &str, line_no: u64) -> Result<Layout, ReadError> {
        let by_position: Vec<Option<Field>> = names
            .split_ascii_whitespace()
            .map(Field::from_w3c)
            .collect();
        for required in [Field::Date, Field::Time] {
            if !by_position.contains(&Some(required)) {
                return Err(ReadError::Format(format!(
                    "line {line_no}: the #Fields header has no `{}` field, so no record can be placed in time (found: {})",
                    required.spec().w3c,
                    names.trim()
                )));
            }
        }
        let mut seen = [false; FIELD_COUNT];
        let mut present = Vec::new();
        for (pos, f) in by_position.iter().enumerate() {
            if let Some(f) = *f {
                if seen[f as usize] {
                    return Err(ReadError::Format(format!(
                        "line {line_no}: the #Fields header names `{}` twice",
                        f.spec().w3c
                    )));
                }
                seen[f as usize] = true;
                present.push((pos, f));
            }
        }
        Ok(Layout {
            min_values: by_position.len(),
            by_position,
            typed: typed(present.iter().copied()),
            present,
            from_header: true,
        })
    }
}

/// The typed fields among `fields`.
fn typed(fields: impl Iterator<Item = (usize, Field)>) -> Vec<(usize, Field)> {
    fields
        .filter(|(_, f)| f.spec().ty != FieldType::Text)
        .collect()
}

/// Counter: objects without a `#Fields` line (read in today's standard order).
pub const COUNTER_NO_FIELDS_HEADER: &str = "cloudfront_objects_without_fields_header";
/// Counter: lines with bytes that are not UTF-8 (replaced by U+FFFD; AWS encodes such bytes, so
/// this means a damaged file).
pub const COUNTER_INVALID_UTF8: &str = "cloudfront_lines_with_invalid_utf8";

/// Reads CloudFront standard-log objects. Keep one per worker (its buffers are reused).
#[derive(Debug)]
pub struct CloudFrontReader {
    slots: [Slot; FIELD_COUNT],
    ints: [Option<i64>; FIELD_COUNT],
    floats: [Option<f64>; FIELD_COUNT],
    /// The last date parsed and its midnight: `day_micros` is that date's.
    date: Vec<u8>,
    day_micros: i64,
    second_of_day: i64,
    ua: Decoder,
}

impl Default for CloudFrontReader {
    fn default() -> Self {
        CloudFrontReader::new()
    }
}

impl CloudFrontReader {
    pub fn new() -> CloudFrontReader {
        CloudFrontReader {
            slots: [Slot::Absent; FIELD_COUNT],
            ints: [None; FIELD_COUNT],
            floats: [None; FIELD_COUNT],
            date: Vec::with_capacity(10),
            day_micros: 0,
            second_of_day: 0,
            ua: Decoder::default(),
        }
    }

    /// Reads one decompressed object. Header lines set the layout; every record is parsed and
    /// handed to `on_record` (which usually writes a row); a record that does not parse is
    /// rejected with a reason naming the field and what was expected.
    pub fn read(
        &mut self,
        input: &mut dyn BufRead,
        sink: &mut dyn RecordSink,
        mut on_record: impl FnMut(&Record<'_>, u64, &mut dyn RecordSink) -> Result<(), ReadError>,
    ) -> Result<(), ReadError> {
        let mut layout = Layout::standard();
        let mut counted_no_header = false;
        self.reset_slots(&layout);
        for_each_line(input, sink, |line_no, raw, sink| {
            if raw.first() == Some(&b'#') {
                if let Some(names) = strip_directive(raw, b"#Fields:") {
                    let names = String::from_utf8_lossy(names);
                    layout = Layout::from_fields_line(&names, line_no)?;
                    self.reset_slots(&layout);
                }
                // `#Version: 1.0` and other directives carry nothing we need.
                return Ok(());
            }
            if raw.iter().all(u8::is_ascii_whitespace) {
                return Ok(());
            }
            if !layout.from_header && !counted_no_header {
                counted_no_header = true;
                sink.count(COUNTER_NO_FIELDS_HEADER, 1);
            }
            let owned;
            let text: &str = match std::str::from_utf8(raw) {
                Ok(s) => s,
                Err(_) => {
                    // AWS encodes every byte above 127, so this is a damaged line: keep what can
                    // be read.
                    sink.count(COUNTER_INVALID_UTF8, 1);
                    owned = String::from_utf8_lossy(raw).into_owned();
                    &owned
                }
            };
            match self.parse(text, &layout) {
                Ok(()) => {
                    let rec = self.record(text);
                    on_record(&rec, line_no, sink)
                }
                Err(reason) => sink.reject(line_no, raw, &reason),
            }
        })
    }

    fn reset_slots(&mut self, layout: &Layout) {
        self.slots = [Slot::Absent; FIELD_COUNT];
        for &(_, f) in &layout.present {
            self.slots[f as usize] = Slot::At(0, 0);
        }
    }

    /// Splits and types one record line.
    fn parse(&mut self, line: &str, layout: &Layout) -> Result<(), String> {
        let bytes = line.as_bytes();
        let mut start = 0usize;
        let mut pos = 0usize;
        let positions = layout.by_position.len();
        crate::swar::for_each(bytes, b'\t', |tab| {
            if pos < positions
                && let Some(f) = layout.by_position[pos]
            {
                self.slots[f as usize] = Slot::At(start as u32, tab as u32);
            }
            pos += 1;
            start = tab + 1;
        });
        if pos < positions
            && let Some(f) = layout.by_position[pos]
        {
            self.slots[f as usize] = Slot::At(start as u32, bytes.len() as u32);
        }
        let values = pos + 1;
        if values < layout.min_values {
            return Err(if layout.from_header {
                format!(
                    "expected {} tab-separated fields (per the #Fields line), found {values}",
                    layout.min_values
                )
            } else {
                format!(
                    "expected at least {} tab-separated fields (no #Fields line: read in the standard order), found {values}",
                    layout.min_values
                )
            });
        }
        if values < positions {
            // Standard order without a header: fields this line lacks are absent.
            for p in values..positions {
                if let Some(f) = layout.by_position[p] {
                    self.slots[f as usize] = Slot::Absent;
                }
            }
        }
        for &(pos, f) in &layout.typed {
            let Slot::At(s, e) = self.slots[f as usize] else {
                continue;
            };
            let value = &line[s as usize..e as usize];
            let ty = f.spec().ty;
            match ty {
                FieldType::Text => {}
                FieldType::Date => {
                    // A file holds a day or two: parse a date only when it changes.
                    // (`date` is empty only before the first, so an empty value still fails.)
                    if self.date.is_empty() || self.date.as_slice() != value.as_bytes() {
                        self.day_micros = parse_date(value.as_bytes())
                            .ok_or_else(|| expected(pos, f, ty.expected(), value))?
                            .midnight_micros();
                        self.date.clear();
                        self.date.extend_from_slice(value.as_bytes());
                    }
                }
                FieldType::Time => {
                    self.second_of_day = parse_time_of_day(value.as_bytes())
                        .ok_or_else(|| expected(pos, f, ty.expected(), value))?;
                }
                FieldType::Int32 | FieldType::Int64 => {
                    self.ints[f as usize] = if is_null(value) {
                        None
                    } else {
                        let v = parse_int(value.as_bytes())
                            .filter(|v| ty == FieldType::Int64 || i32::try_from(*v).is_ok())
                            .ok_or_else(|| expected(pos, f, ty.expected(), value))?;
                        Some(v)
                    };
                }
                FieldType::Seconds => {
                    self.floats[f as usize] = if is_null(value) {
                        None
                    } else {
                        let v = parse_seconds(value)
                            .ok_or_else(|| expected(pos, f, ty.expected(), value))?;
                        Some(v)
                    };
                }
            }
        }
        Ok(())
    }

    fn record<'a>(&'a mut self, line: &'a str) -> Record<'a> {
        let slot_text = |slot: Slot| match slot {
            Slot::At(s, e) => Some(&line[s as usize..e as usize]).filter(|v| !is_null(v)),
            Slot::Absent => None,
        };
        let log_at = self.day_micros + self.second_of_day * 1_000_000;
        let user_agent = slot_text(self.slots[Field::CsUserAgent as usize])
            .map(|raw| self.ua.decode_user_agent(raw));
        Record {
            line,
            slots: &self.slots,
            ints: &self.ints,
            floats: &self.floats,
            log_at,
            user_agent,
        }
    }
}

/// `#Fields: a b c` → ` a b c`.
fn strip_directive<'a>(line: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    (line.len() >= name.len() && line[..name.len()].eq_ignore_ascii_case(name))
        .then(|| &line[name.len()..])
}

/// One parsed record: its values borrowed from the line.
#[derive(Debug)]
pub struct Record<'a> {
    line: &'a str,
    slots: &'a [Slot; FIELD_COUNT],
    ints: &'a [Option<i64>; FIELD_COUNT],
    floats: &'a [Option<f64>; FIELD_COUNT],
    log_at: i64,
    user_agent: Option<&'a str>,
}

impl<'a> Record<'a> {
    /// Whether the file's `#Fields` line has this field.
    pub fn has(&self, field: Field) -> bool {
        self.slots[field as usize] != Slot::Absent
    }

    /// The value as logged (still URL-encoded); `None` when `-`, empty or absent.
    #[inline]
    pub fn text(&self, field: Field) -> Option<&'a str> {
        match self.slots[field as usize] {
            Slot::At(s, e) => Some(&self.line[s as usize..e as usize]).filter(|v| !is_null(v)),
            Slot::Absent => None,
        }
    }

    /// An integer field (`sc-bytes`, `sc-status`, `cs-bytes`, `c-port`, `sc-content-len`, ...).
    #[inline]
    pub fn int(&self, field: Field) -> Option<i64> {
        match field.spec().ty {
            FieldType::Int32 | FieldType::Int64 if self.has(field) => self.ints[field as usize],
            _ => None,
        }
    }

    /// A seconds field (`time-taken`, `time-to-first-byte`).
    #[inline]
    pub fn seconds(&self, field: Field) -> Option<f64> {
        match field.spec().ty {
            FieldType::Seconds if self.has(field) => self.floats[field as usize],
            _ => None,
        }
    }

    /// `date` + `time` in microseconds since the epoch (UTC).
    #[inline]
    pub fn log_at(&self) -> i64 {
        self.log_at
    }

    /// The user agent URL-decoded (twice when the file double-encoded it).
    #[inline]
    pub fn user_agent(&self) -> Option<&'a str> {
        self.user_agent
    }

    /// Writes [`LOG_COLUMNS`] in order.
    pub fn write_log_columns(&self, w: &mut RowWriter<'_>) {
        // Straight from the slots by the field's type (known at compile time), without
        // `text()`/`int()` looking the type up again per value.
        for (i, ty) in FIELD_TYPES.iter().enumerate() {
            if i == REFERENCE_FIELDS {
                w.timestamp_micros(Some(self.log_at));
            }
            let present = self.slots[i] != Slot::Absent;
            match ty {
                FieldType::Date | FieldType::Time | FieldType::Text => {
                    w.text(match self.slots[i] {
                        Slot::At(s, e) => {
                            Some(&self.line[s as usize..e as usize]).filter(|v| !is_null(v))
                        }
                        Slot::Absent => None,
                    });
                }
                FieldType::Int32 => {
                    w.i32(self.ints[i].filter(|_| present).map(|v| v as i32));
                }
                FieldType::Int64 => {
                    w.i64(self.ints[i].filter(|_| present));
                }
                FieldType::Seconds => {
                    w.f64(self.floats[i].filter(|_| present));
                }
            }
        }
        w.text(self.user_agent);
    }
}

#[inline]
fn is_null(value: &str) -> bool {
    value.is_empty() || value == "-"
}

/// A finite number of seconds. The common form, `[-]digits.digits` with at most 15 significant
/// digits, is computed directly: both the digits and the power of ten are exact doubles, so one
/// division rounds correctly, the same value `str::parse` gives. Anything else goes to
/// `str::parse`.
#[inline]
fn parse_seconds(value: &str) -> Option<f64> {
    const POW10: [f64; 16] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
    ];
    let b = value.as_bytes();
    let (neg, digits) = match b {
        [b'-', rest @ ..] => (true, rest),
        _ => (false, b),
    };
    let mut mantissa: u64 = 0;
    let mut count = 0usize;
    let mut fraction: Option<usize> = None;
    let mut simple = !digits.is_empty() && digits.len() <= 16;
    if simple {
        for (i, &c) in digits.iter().enumerate() {
            if c.is_ascii_digit() {
                mantissa = mantissa * 10 + u64::from(c - b'0');
                count += 1;
            } else if c == b'.' && fraction.is_none() && i > 0 && i + 1 < digits.len() {
                fraction = Some(digits.len() - i - 1);
            } else {
                simple = false;
                break;
            }
        }
    }
    if simple && count <= 15 {
        let v = mantissa as f64 / POW10[fraction.unwrap_or(0)];
        return Some(if neg { -v } else { v });
    }
    value.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// An optionally negative decimal integer, no sign for zero padding (`000` is 0).
#[inline]
fn parse_int(b: &[u8]) -> Option<i64> {
    let (neg, digits) = match b {
        [b'-', rest @ ..] => (true, rest),
        _ => (false, b),
    };
    if digits.is_empty() || digits.len() > 18 {
        return None;
    }
    let mut v: i64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + i64::from(c - b'0');
    }
    Some(if neg { -v } else { v })
}

/// `field 9 (sc-status): expected an integer or "-", got "abc"`. `pos` is the 0-based position in
/// the line.
fn expected(pos: usize, field: Field, what: &str, value: &str) -> String {
    let mut reason = format!(
        "field {} ({}): expected {what}, got \"",
        pos + 1,
        field.spec().w3c
    );
    const MAX_SHOWN: usize = 64;
    match value.char_indices().nth(MAX_SHOWN) {
        Some((cut, _)) => {
            let _ = write!(reason, "{}…", &value[..cut]);
        }
        None => reason.push_str(value),
    }
    reason.push('"');
    reason
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::TableSchema;
    use crate::testing::CollectingSink;

    static TABLE: TableSchema = TableSchema {
        columns: &LOG_COLUMNS,
    };

    fn read(input: &str) -> CollectingSink {
        let mut sink = CollectingSink::new(&TABLE);
        let mut reader = CloudFrontReader::new();
        reader
            .read(&mut input.as_bytes(), &mut sink, |rec, line, sink| {
                sink.row(line, &mut |w| rec.write_log_columns(w))
            })
            .unwrap();
        sink
    }

    const HEADER26: &str = "#Version: 1.0\n#Fields: date time x-edge-location sc-bytes c-ip cs-method cs(Host) cs-uri-stem sc-status cs(Referer) cs(User-Agent) cs-uri-query cs(Cookie) x-edge-result-type x-edge-request-id x-host-header cs-protocol cs-bytes time-taken x-forwarded-for ssl-protocol ssl-cipher x-edge-response-result-type cs-protocol-version fle-status fle-encrypted-fields\n";

    #[test]
    fn columns_are_reference_then_log_at_then_newer_then_user_agent() {
        let names: Vec<&str> = LOG_COLUMNS.iter().map(|c| c.name).collect();
        assert_eq!(names[0], "logdate");
        assert_eq!(names[25], "file_encrypted_fields");
        assert_eq!(names[26], "log_at");
        assert_eq!(names[27], "c_port");
        assert_eq!(names[33], "sc_range_end");
        assert_eq!(names[34], "user_agent");
        let extra = [Column::new("x", ColumnType::Bool, "")];
        let all: [Column; 36] = log_columns_and(extra);
        assert_eq!(all[35].name, "x");
    }

    #[test]
    fn fields_map_by_header_and_type() {
        let line = "2019-12-04\t21:02:31\tLAX1\t392\t192.0.2.100\tGET\td111111abcdef8.cloudfront.net\t/index.html\t000\t-\tcurl/7.55.1\t-\t-\tHit\tID==\td111111abcdef8.cloudfront.net\thttps\t23\t0.001\t-\tTLSv1.2\tECDHE-RSA-AES128-GCM-SHA256\tHit\tHTTP/2.0\t-\t-\n";
        let sink = read(&format!("{HEADER26}{line}"));
        assert!(sink.rejects.is_empty(), "{:?}", sink.rejects);
        let row = &sink.rows[0];
        assert_eq!(row.line, 3);
        assert_eq!(row.text("logdate"), Some("2019-12-04"));
        assert_eq!(row.int("bytessent"), Some(392));
        assert_eq!(row.int("status"), Some(0));
        assert_eq!(row.float("time_taken"), Some(0.001));
        assert_eq!(row.text("creferrer"), None);
        assert_eq!(row.int("c_port"), None, "absent from an old file");
        assert_eq!(
            crate::time::format_micros_utc(row.int("log_at").unwrap()),
            "2019-12-04T21:02:31.000000Z"
        );
    }

    #[test]
    fn a_reordered_header_with_unknown_fields_still_maps() {
        let input = "#Fields: time future-field date sc-status cs-method\n12:00:00\tx\t2020-01-02\t404\tGET\textra\n";
        let sink = read(input);
        assert!(sink.rejects.is_empty(), "{:?}", sink.rejects);
        let row = &sink.rows[0];
        assert_eq!(row.text("logdate"), Some("2020-01-02"));
        assert_eq!(row.int("status"), Some(404));
        assert_eq!(row.text("method"), Some("GET"));
        assert_eq!(row.text("edge"), None);
    }

    #[test]
    fn bad_values_are_rejected_naming_field_and_expectation() {
        let good = "2019-12-04\t21:02:31\tLAX1\t392\t192.0.2.100\tGET\th\t/\t200\t-\tUA\t-\t-\tHit\tID\th\thttps\t23\t0.001\t-\t-\t-\tHit\tHTTP/1.1\t-\t-";
        let mut lines = String::from(HEADER26);
        let fields: Vec<&str> = good.split('\t').collect();
        for (i, bad) in [
            (8, "abc"),
            (1, "25:61:07"),
            (3, "12kB"),
            (0, "2019-13-01"),
            (18, "fast"),
        ] {
            let mut f = fields.clone();
            f[i] = bad;
            lines.push_str(&f.join("\t"));
            lines.push('\n');
        }
        lines.push_str(&fields[..9].join("\t"));
        lines.push('\n');
        let sink = read(&lines);
        assert!(sink.rows.is_empty());
        let reasons: Vec<&str> = sink.rejects.iter().map(|r| r.reason.as_str()).collect();
        assert_eq!(
            reasons,
            [
                "field 9 (sc-status): expected an integer or \"-\", got \"abc\"",
                "field 2 (time): expected a time as HH:MM:SS, got \"25:61:07\"",
                "field 4 (sc-bytes): expected an integer or \"-\", got \"12kB\"",
                "field 1 (date): expected a date as YYYY-MM-DD, got \"2019-13-01\"",
                "field 19 (time-taken): expected a number of seconds or \"-\", got \"fast\"",
                "expected 26 tab-separated fields (per the #Fields line), found 9",
            ]
        );
        assert_eq!(sink.rejects[0].line, 3);
    }

    #[test]
    fn each_line_s_date_counts_even_when_repeated_or_empty() {
        let line = |date: &str| {
            format!(
                "{date}\t21:02:31\tLAX1\t392\t192.0.2.100\tGET\th\t/\t200\t-\tUA\t-\t-\tHit\tID\th\thttps\t23\t0.001\t-\t-\t-\tHit\tHTTP/1.1\t-\t-\n"
            )
        };
        let input: String = [
            "",
            "2019-12-04",
            "2019-12-04",
            "",
            "2019-12-05",
            "2019-12-4",
            "2019-12-04",
        ]
        .iter()
        .map(|d| line(d))
        .collect();
        let sink = read(&format!("{HEADER26}{input}"));
        let dates: Vec<_> = sink
            .rows
            .iter()
            .map(|r| crate::time::format_micros_utc(r.int("log_at").unwrap()))
            .collect();
        assert_eq!(
            dates,
            [
                "2019-12-04T21:02:31.000000Z",
                "2019-12-04T21:02:31.000000Z",
                "2019-12-05T21:02:31.000000Z",
                "2019-12-04T21:02:31.000000Z",
            ]
        );
        let rejected: Vec<u64> = sink.rejects.iter().map(|r| r.line).collect();
        assert_eq!(rejected, [3, 6, 8]);
    }

    #[test]
    fn a_header_without_date_fails_the_object() {
        let mut sink = CollectingSink::new(&TABLE);
        let err = CloudFrontReader::new()
            .read(
                &mut &b"#Fields: time sc-status\n"[..],
                &mut sink,
                |_, _, _| Ok(()),
            )
            .unwrap_err();
        assert!(err.to_string().contains("no `date` field"), "{err}");
    }

    #[test]
    fn without_a_header_lines_read_in_standard_order() {
        let line = "2019-12-04\t21:02:31\tLAX1\t392\t192.0.2.100\tGET\th\t/\t200\t-\tUA\t-\t-\tHit\tID\th\thttps\t23\t0.001\t-\t-\t-\tHit\tHTTP/1.1\t-\t-\t443\n";
        let sink = read(line);
        assert_eq!(sink.rows.len(), 1);
        assert_eq!(sink.rows[0].int("c_port"), Some(443));
        assert_eq!(sink.rows[0].int("sc_content_len"), None);
        assert_eq!(sink.counter(COUNTER_NO_FIELDS_HEADER), 1);
    }

    #[test]
    fn seconds_parse_as_str_parse_does() {
        for v in [
            "0.082",
            "0.001",
            "0",
            "-0",
            "-0.000",
            "12.5",
            "0.1",
            "0.3",
            "123456789.012345",
            "999999999999999",
            "9999999999999999",
            "0.0000000000001",
            "1e3",
            "+1.5",
            ".5",
            "5.",
            "1.2.3",
            "-.5",
            "1.",
            "inf",
            "NaN",
            "",
            "-",
            "0x10",
            "00012.250",
        ] {
            let want = v.parse::<f64>().ok().filter(|x| x.is_finite());
            let got = parse_seconds(v);
            assert_eq!(
                got.map(f64::to_bits),
                want.map(f64::to_bits),
                "{v}: {got:?} vs {want:?}"
            );
        }
        // Every millisecond value up to 100 s, as AWS writes them.
        for ms in 0..100_000u32 {
            let v = format!("{}.{:03}", ms / 1000, ms % 1000);
            assert_eq!(
                parse_seconds(&v).map(f64::to_bits),
                v.parse::<f64>().ok().map(f64::to_bits),
                "{v}"
            );
        }
    }

    #[test]
    fn invalid_utf8_is_replaced_and_counted() {
        let mut input = HEADER26.as_bytes().to_vec();
        input.extend_from_slice(b"2019-12-04\t21:02:31\tLAX1\t392\t192.0.2.100\tGET\th\t/\t200\t-\tUA\xff\t-\t-\tHit\tID\th\thttps\t23\t0.001\t-\t-\t-\tHit\tHTTP/1.1\t-\t-\n");
        let mut sink = CollectingSink::new(&TABLE);
        CloudFrontReader::new()
            .read(&mut &input[..], &mut sink, |rec, line, sink| {
                sink.row(line, &mut |w| rec.write_log_columns(w))
            })
            .unwrap();
        assert_eq!(sink.rows[0].text("useragent"), Some("UA\u{FFFD}"));
        assert_eq!(sink.counter(COUNTER_INVALID_UTF8), 1);
    }
}
