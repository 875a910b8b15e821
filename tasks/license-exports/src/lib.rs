//! The license-exports format: the nightly CSV export of enterprise license metadata.
//!
//! Columns are mapped by header name, in any order (ASCII case-insensitive, trimmed). Required:
//! `customerid`, `licenseid`, `issuedat`, `expiresat`, `number`; a file without one of them fails
//! with an error that names it. `company`, `email` and `stripeid` are NULL when the export lacks
//! the column (counted as `license_column_missing_<name>`); other columns are ignored. Fields
//! follow RFC 4180 (quoted commas, doubled quotes, line breaks; CRLF; a UTF-8 BOM). `issuedat` and
//! `expiresat` are epoch milliseconds and become UTC timestamps (the milliseconds are kept too, as
//! `issuedat_ms`, `expiresat_ms`). Empty text is NULL.
//!
//! Rows are kept as exported: about 2% repeat; downstream de-duplicates on
//! (licenseid, issuedat, expiresat).

use std::fmt::Write as _;
use std::io::BufRead;

use ingest_format::csv::{CsvReader, MAX_RECORD_BYTES, Next, Record};
use ingest_format::format::{ReadError, RecordFormat, RecordSink};
use ingest_format::table::{Column, ColumnType, TableSchema};
use ingest_format::time::timestamp_in_range;

/// Columns the export must have.
pub const REQUIRED: [&str; 5] = ["customerid", "licenseid", "issuedat", "expiresat", "number"];
/// Columns that are NULL when the export lacks them.
pub const OPTIONAL: [&str; 3] = ["company", "email", "stripeid"];
const MISSING_COUNTERS: [&str; 3] = [
    "license_column_missing_company",
    "license_column_missing_email",
    "license_column_missing_stripeid",
];

/// `licenses.licenses`.
pub static LICENSES_TABLE: TableSchema = TableSchema {
    columns: &[
        Column::new("customerid", ColumnType::Text, "customer id"),
        Column::new(
            "company",
            ColumnType::Text,
            "company name (may contain commas and quotes)",
        ),
        Column::new(
            "email",
            ColumnType::Text,
            "contact email; NULL when unknown",
        ),
        Column::new(
            "stripeid",
            ColumnType::Text,
            "Stripe customer id; NULL when none",
        ),
        Column::new("licenseid", ColumnType::Text, "license id"),
        Column::new(
            "issuedat",
            ColumnType::TimestampMicros,
            "when the license was issued (UTC)",
        ),
        Column::new(
            "expiresat",
            ColumnType::TimestampMicros,
            "when the license expires (UTC)",
        ),
        Column::new("number", ColumnType::Int64, "licensed seats"),
        Column::new(
            "issuedat_ms",
            ColumnType::Int64,
            "issuedat as exported: epoch milliseconds",
        ),
        Column::new(
            "expiresat_ms",
            ColumnType::Int64,
            "expiresat as exported: epoch milliseconds",
        ),
    ],
};

/// The license-exports format.
#[derive(Debug, Default)]
pub struct LicenseFormat;

/// Positions (in the file) of the columns we load.
struct Columns {
    customerid: usize,
    licenseid: usize,
    issuedat: usize,
    expiresat: usize,
    number: usize,
    company: Option<usize>,
    email: Option<usize>,
    stripeid: Option<usize>,
}

impl RecordFormat for LicenseFormat {
    type State = ();

    fn schema(&self) -> &'static TableSchema {
        &LICENSES_TABLE
    }

    fn read_object(
        &self,
        _key: &str,
        input: &mut dyn BufRead,
        out: &mut dyn RecordSink,
        _state: &mut (),
    ) -> Result<(), ReadError> {
        let mut csv = CsvReader::new(input);
        let header = csv.read_header()?;
        let found = header.columns(&REQUIRED, &OPTIONAL)?;
        let req = |i: usize| found[i].expect("required columns were checked");
        let cols = Columns {
            customerid: req(0),
            licenseid: req(1),
            issuedat: req(2),
            expiresat: req(3),
            number: req(4),
            company: found[5],
            email: found[6],
            stripeid: found[7],
        };
        for (i, counter) in MISSING_COUNTERS.iter().enumerate() {
            if found[REQUIRED.len() + i].is_none() {
                out.count(counter, 1);
            }
        }
        let names = header.names;
        let width = names.len();
        let mut records: u64 = 0;
        while let Some(next) = csv.next_record()? {
            records += 1;
            if records.is_multiple_of(4096) && out.is_cancelled() {
                return Err(ReadError::Cancelled);
            }
            match next {
                Next::TooLong { line, raw } => out.reject(
                    line,
                    raw,
                    &format!("record longer than {MAX_RECORD_BYTES} bytes (kept its start)"),
                )?,
                Next::Malformed { line, raw, reason } => out.reject(line, raw, reason)?,
                Next::Record(rec) if rec.len() != width => out.reject(
                    rec.line,
                    rec.raw(),
                    &format!(
                        "expected {width} comma-separated fields (per the header), found {}",
                        rec.len()
                    ),
                )?,
                Next::Record(rec) => match License::parse(&rec, &cols, &names) {
                    Ok(l) => out.row(rec.line, &mut |w| {
                        w.text_lossy(l.customerid)
                            .text_lossy(l.company)
                            .text_lossy(l.email)
                            .text_lossy(l.stripeid)
                            .text_lossy(Some(l.licenseid))
                            .timestamp_micros(Some(l.issuedat_ms * 1000))
                            .timestamp_micros(Some(l.expiresat_ms * 1000))
                            .i64(l.number)
                            .i64(Some(l.issuedat_ms))
                            .i64(Some(l.expiresat_ms));
                    })?,
                    Err(reason) => out.reject(rec.line, rec.raw(), &reason)?,
                },
            }
        }
        Ok(())
    }
}

/// One record's values, borrowed from the reader.
struct License<'a> {
    customerid: Option<&'a [u8]>,
    company: Option<&'a [u8]>,
    email: Option<&'a [u8]>,
    stripeid: Option<&'a [u8]>,
    licenseid: &'a [u8],
    issuedat_ms: i64,
    expiresat_ms: i64,
    number: Option<i64>,
}

impl<'a> License<'a> {
    fn parse(rec: &Record<'a>, cols: &Columns, names: &[String]) -> Result<License<'a>, String> {
        let field = |i: usize| rec.get(i).unwrap_or_default();
        let text = |i: Option<usize>| i.map(field).filter(|v| !v.is_empty());
        let licenseid = field(cols.licenseid);
        if licenseid.iter().all(u8::is_ascii_whitespace) {
            return Err(expected(cols.licenseid, names, "a license id", licenseid));
        }
        let millis = |i: usize| {
            let ms = parse_millis(field(i))
                .ok_or_else(|| expected(i, names, "epoch milliseconds (an integer)", field(i)))?;
            // Snowflake's TIMESTAMP holds years 1 to 9999; one value outside would abort the
            // whole COPY, so the line goes to the rejects with its reason instead.
            if !timestamp_in_range(ms * 1000) {
                return Err(expected(
                    i,
                    names,
                    "epoch milliseconds in years 1 to 9999 (-62135596800000 to 253402300799999)",
                    field(i),
                ));
            }
            Ok(ms)
        };
        let issuedat_ms = millis(cols.issuedat)?;
        let expiresat_ms = millis(cols.expiresat)?;
        let raw_number = trim(field(cols.number));
        let number =
            if raw_number.is_empty() {
                None
            } else {
                Some(parse_int(raw_number).ok_or_else(|| {
                    expected(cols.number, names, "an integer or nothing", raw_number)
                })?)
            };
        Ok(License {
            customerid: text(Some(cols.customerid)),
            company: text(cols.company),
            email: text(cols.email),
            stripeid: text(cols.stripeid),
            licenseid,
            issuedat_ms,
            expiresat_ms,
            number,
        })
    }
}

fn trim(v: &[u8]) -> &[u8] {
    v.trim_ascii()
}

fn parse_int(v: &[u8]) -> Option<i64> {
    std::str::from_utf8(v).ok()?.parse().ok()
}

/// Epoch milliseconds: an integer (a `.0` fraction, as some exporters write, is accepted) small
/// enough to be a timestamp in microseconds.
pub fn parse_millis(v: &[u8]) -> Option<i64> {
    let v = trim(v);
    let v = match v.iter().position(|&b| b == b'.') {
        Some(dot) if v[dot + 1..].iter().all(|&b| b == b'0') => &v[..dot],
        Some(_) => return None,
        None => v,
    };
    let ms = parse_int(v)?;
    ms.checked_mul(1000).map(|_| ms)
}

/// `column 6 (issuedat): expected epoch milliseconds (an integer), got "abc"`.
fn expected(index: usize, names: &[String], what: &str, value: &[u8]) -> String {
    let mut reason = format!(
        "column {} ({}): expected {what}, got \"",
        index + 1,
        names.get(index).map_or("?", String::as_str)
    );
    const MAX_SHOWN: usize = 64;
    let shown = String::from_utf8_lossy(&value[..value.len().min(MAX_SHOWN)]);
    let _ = write!(reason, "{shown}");
    if value.len() > MAX_SHOWN {
        reason.push('…');
    }
    reason.push('"');
    reason
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn millis_parse_as_integers() {
        assert_eq!(parse_millis(b"1609459200000"), Some(1_609_459_200_000));
        assert_eq!(parse_millis(b" 1609459200000.0 "), Some(1_609_459_200_000));
        assert_eq!(parse_millis(b"-5"), Some(-5));
        assert_eq!(parse_millis(b"1609459200000.5"), None);
        assert_eq!(parse_millis(b""), None);
        assert_eq!(parse_millis(b"abc"), None);
        assert_eq!(parse_millis(b"9223372036854775807"), None);
    }
}
