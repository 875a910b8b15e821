//! Property tests of the shared parsers: timestamps, CSV, CloudFront W3C lines and URL decoding.
//!
//! Inputs are generated values and mutated real lines (the telemetry and pingbacks fixtures and
//! the sample-data generator's files). Properties: no panic; every record becomes exactly one row
//! or one reject with a reason; and what a format can re-serialize parses back to itself.
//!
//! `cargo test` runs a few cases per property; `PROPTEST_CASES=n` sets the count
//! (`scripts/fuzz-parsers.sh` runs millions in release).

use std::io::BufReader;
use std::path::Path;
use std::sync::LazyLock;

use ingest_format::cloudfront::{CloudFrontReader, FIELDS, Field, FieldType, LOG_COLUMNS};
use ingest_format::csv::{CsvReader, Next};
use ingest_format::format::ReadError;
use ingest_format::table::TableSchema;
use ingest_format::testing::{
    CollectingSink, INTERESTING_BYTES, Mutation, Value, csv_record_count, mutate, record_lines,
};
use ingest_format::time::{
    Date, MAX_TIMESTAMP_MICROS, MIN_TIMESTAMP_MICROS, format_micros_utc, parse_date,
    parse_iso8601_utc_micros, parse_time_of_day, timestamp_in_range,
};
use ingest_format::url::{Decoder, first_values, percent_decode, query_pairs};
use proptest::prelude::*;

/// A few cases by default so `cargo test` stays quick; `PROPTEST_CASES` (which proptest reads
/// into its default config) overrides it.
fn config() -> ProptestConfig {
    let mut config = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = 64;
    }
    config
}

// ---------------------------------------------------------------------------------------------
// Mutation of real inputs.

fn mutation() -> impl Strategy<Value = Mutation> {
    let byte = prop_oneof![
        3 => proptest::sample::select(INTERESTING_BYTES),
        1 => any::<u8>(),
    ];
    prop_oneof![
        (any::<usize>(), byte.clone()).prop_map(|(i, b)| Mutation::Replace(i, b)),
        (any::<usize>(), byte).prop_map(|(i, b)| Mutation::Insert(i, b)),
        any::<usize>().prop_map(Mutation::Delete),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), 1..40usize, any::<usize>())
            .prop_map(|(a, n, b)| Mutation::Splice(a, n, b)),
    ]
}

/// One of `corpus`, with 1 to 4 mutations.
fn mutated(corpus: &'static [Vec<u8>]) -> impl Strategy<Value = Vec<u8>> {
    (
        proptest::sample::select(corpus),
        proptest::collection::vec(mutation(), 1..5),
    )
        .prop_map(|(base, ms)| mutate(base, &ms))
}

// ---------------------------------------------------------------------------------------------
// Timestamps.

fn timestamp_text() -> impl Strategy<Value = Vec<u8>> {
    (MIN_TIMESTAMP_MICROS..=MAX_TIMESTAMP_MICROS, 0..=9usize).prop_map(|(t, frac)| {
        let full = format_micros_utc(t);
        // `...SS.ffffffZ`: keep 0 to 6 fraction digits, or pad to 7-9.
        let (head, _) = full.split_at(19);
        let micros = &full[20..26];
        let mut s = head.to_owned();
        if frac > 0 {
            s.push('.');
            s.push_str(&micros[..frac.min(6)]);
            for _ in 6..frac {
                s.push('7');
            }
        }
        s.push('Z');
        s.into_bytes()
    })
}

static TIMESTAMP_CORPUS: LazyLock<Vec<Vec<u8>>> = LazyLock::new(|| {
    [
        "2018-07-02T22:23:00.186641Z",
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59.999999Z",
        "2024-02-29T23:59:60.5Z",
        "1970-01-01T00:00:00.000000001Z",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect()
});

proptest! {
    #![proptest_config(config())]

    #[test]
    fn time_format_then_parse_is_the_same_instant(t in MIN_TIMESTAMP_MICROS..=MAX_TIMESTAMP_MICROS) {
        let text = format_micros_utc(t);
        prop_assert_eq!(parse_iso8601_utc_micros(text.as_bytes()), Some(t), "{}", text);
    }

    #[test]
    fn time_shorter_or_longer_fractions_truncate_to_micros(text in timestamp_text()) {
        let t = parse_iso8601_utc_micros(&text).expect("a well-formed instant parses");
        prop_assert!(timestamp_in_range(t));
        // Formatting again gives the same digits up to the sixth fraction digit.
        let again = format_micros_utc(t);
        prop_assert_eq!(&again.as_bytes()[..19], &text[..19]);
    }

    #[test]
    fn time_dates_format_and_parse_back(days in Date::new(1, 1, 1).unwrap().days_since_epoch()
        ..=Date::new(9999, 12, 31).unwrap().days_since_epoch())
    {
        let date = Date::new(1970, 1, 1).unwrap().add_days(days);
        prop_assert_eq!(date.days_since_epoch(), days);
        let text = date.to_string();
        prop_assert_eq!(text.parse::<Date>().ok(), Some(date));
        prop_assert_eq!(parse_date(text.as_bytes()), Some(date));
    }

    #[test]
    fn time_parsers_never_panic_and_stay_in_range(
        input in prop_oneof![mutated(&TIMESTAMP_CORPUS), proptest::collection::vec(any::<u8>(), 0..40)]
    ) {
        if let Some(t) = parse_iso8601_utc_micros(&input) {
            prop_assert!(timestamp_in_range(t), "{:?} -> {}", String::from_utf8_lossy(&input), t);
            // What parsed is canonical once formatted.
            prop_assert_eq!(parse_iso8601_utc_micros(format_micros_utc(t).as_bytes()), Some(t));
        }
        if let Some(d) = parse_date(&input) {
            prop_assert_eq!(d.to_string().into_bytes(), input.clone());
        }
        if let Some(s) = parse_time_of_day(&input) {
            prop_assert!((0..=86_400).contains(&s));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// CSV.

/// A field: plain text, or text with the characters that need quoting.
fn csv_field() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9 @._-]{0,12}",
        "[a-z,\"\r\n ]{0,8}",
        any::<String>().prop_map(|s| s.chars().take(12).collect()),
    ]
}

/// RFC 4180 quoting: quoted when the field holds a delimiter, quote or line break, when it is
/// a record's only field and empty (an empty line is skipped), or when it starts with a BOM.
fn push_csv_field(out: &mut String, value: &str, alone: bool) {
    if value.contains([',', '"', '\r', '\n'])
        || (alone && value.is_empty())
        || value.starts_with('\u{feff}')
    {
        out.push('"');
        out.push_str(&value.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(value);
    }
}

type CsvDoc = (Vec<Vec<String>>, bool, bool, bool, usize);

fn csv_doc() -> impl Strategy<Value = CsvDoc> {
    (
        proptest::collection::vec(proptest::collection::vec(csv_field(), 1..6), 1..8),
        any::<bool>(), // CRLF
        any::<bool>(), // BOM
        any::<bool>(), // final line break
        // Read buffer size; at least 3 bytes, so the first fill holds a whole BOM (the runtime's
        // buffers are kilobytes).
        3..64usize,
    )
}

fn render_csv(
    records: &[Vec<String>],
    crlf: bool,
    bom: bool,
    final_eol: bool,
) -> (String, Vec<u64>) {
    let eol = if crlf { "\r\n" } else { "\n" };
    let mut out = String::new();
    if bom {
        out.push('\u{feff}');
    }
    let mut starts = Vec::new();
    for (i, rec) in records.iter().enumerate() {
        starts.push(1 + out.matches('\n').count() as u64);
        for (j, f) in rec.iter().enumerate() {
            if j > 0 {
                out.push(',');
            }
            push_csv_field(&mut out, f, rec.len() == 1);
        }
        if i + 1 < records.len() || final_eol {
            out.push_str(eol);
        }
    }
    (out, starts)
}

static CSV_CORPUS: LazyLock<Vec<Vec<u8>>> = LazyLock::new(|| {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../license-exports/tests/data");
    let mut corpus: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .collect();
    let date = sample_data::Date::new(2026, 11, 20).unwrap();
    let mut opts = sample_data::LicenseOptions::new(date);
    opts.rows = 6;
    opts.embedded_newlines = true;
    for (crlf, bom) in [(false, false), (true, true)] {
        opts.crlf = crlf;
        opts.bom = bom;
        let rows = sample_data::licenses::generate_rows(&opts);
        corpus.push(sample_data::licenses::render(&opts, &rows).into_bytes());
    }
    corpus
});

proptest! {
    #![proptest_config(config())]

    #[test]
    fn csv_quoted_fields_read_back_as_written((records, crlf, bom, final_eol, buf) in csv_doc()) {
        let (text, starts) = render_csv(&records, crlf, bom, final_eol);
        let mut input = BufReader::with_capacity(buf, text.as_bytes());
        let mut reader = CsvReader::new(&mut input);
        let mut got = Vec::new();
        while let Some(next) = reader.next_record().unwrap() {
            match next {
                Next::Record(r) => got.push((
                    r.line,
                    (0..r.len()).map(|i| String::from_utf8(r.get(i).unwrap().to_vec()).unwrap()).collect::<Vec<_>>(),
                )),
                other => prop_assert!(false, "{:?} in {:?}", other, text),
            }
        }
        let want: Vec<(u64, Vec<String>)> = starts.into_iter().zip(records).collect();
        prop_assert_eq!(got, want, "{:?}", text);
    }

    #[test]
    fn csv_mutated_input_gives_one_outcome_per_record(input in mutated(&CSV_CORPUS), buf in 3..64usize) {
        let want = csv_record_count(&input);
        let mut reader_input = BufReader::with_capacity(buf, &input[..]);
        let mut reader = CsvReader::new(&mut reader_input);
        let mut lines = Vec::new();
        let ended = loop {
            match reader.next_record() {
                Ok(None) => break Ok(()),
                Ok(Some(Next::Record(r))) => {
                    prop_assert!(!r.raw().is_empty());
                    lines.push(r.line);
                }
                Ok(Some(Next::Malformed { line, reason, .. })) => {
                    prop_assert!(!reason.is_empty());
                    lines.push(line);
                }
                Ok(Some(Next::TooLong { line, .. })) => lines.push(line),
                Err(e) => break Err(e),
            }
        };
        prop_assert!(lines.windows(2).all(|w| w[0] < w[1]), "record lines not increasing: {:?}", lines);
        match (ended, want) {
            (Ok(()), Some(n)) => prop_assert_eq!(lines.len(), n, "{:?}", String::from_utf8_lossy(&input)),
            (Err(ReadError::Format(msg)), None) => prop_assert!(msg.contains("never closed"), "{}", msg),
            (ended, want) => prop_assert!(false, "reader {:?}, expected {:?} records", ended, want),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// CloudFront W3C lines.

static CF_TABLE: TableSchema = TableSchema {
    columns: &LOG_COLUMNS,
};

fn read_cloudfront(input: &[u8]) -> (CollectingSink, Result<(), ReadError>) {
    let mut sink = CollectingSink::new(&CF_TABLE);
    let result = CloudFrontReader::new().read(&mut &input[..], &mut sink, |rec, line, sink| {
        sink.row(line, &mut |w| rec.write_log_columns(w))
    });
    (sink, result)
}

/// The fixtures of both CloudFront jobs plus a generated day of each kind (with malformed lines):
/// whole files, so mutations hit the `#Fields` line too.
static CF_CORPUS: LazyLock<Vec<Vec<u8>>> = LazyLock::new(|| {
    let mut corpus = Vec::new();
    for job in ["telemetry", "server-pingbacks"] {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join(job)
            .join("tests/data");
        for e in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let file = std::fs::read(e.unwrap().path()).unwrap();
            // Whole files, and the header with each record alone (small inputs mutate densely).
            let lines: Vec<&[u8]> = file.split(|&b| b == b'\n').collect();
            let header: Vec<u8> = lines
                .iter()
                .take_while(|l| l.first() == Some(&b'#'))
                .flat_map(|l| l.iter().copied().chain([b'\n']))
                .collect();
            for l in lines
                .iter()
                .filter(|l| l.first() != Some(&b'#') && !l.is_empty())
            {
                let mut one = header.clone();
                one.extend_from_slice(l);
                one.push(b'\n');
                corpus.push(one);
            }
            corpus.push(file);
        }
    }
    let tmp = tempfile::tempdir().unwrap();
    let date = sample_data::Date::new(2026, 11, 20).unwrap();
    for kind in [
        sample_data::CloudFrontKind::Telemetry,
        sample_data::CloudFrontKind::Pingbacks,
    ] {
        for fields in [33, 26] {
            let mut opts = sample_data::CloudFrontOptions::new(date, kind);
            opts.volume = sample_data::Volume::LinesPerFile(3);
            opts.fields = fields;
            opts.malformed_every = Some(2);
            opts.threads = 1;
            opts.prefix = format!("{}-{fields}", kind.name());
            let written = sample_data::cloudfront::write_day(&opts, tmp.path()).unwrap();
            corpus.extend(written.read_files(tmp.path()).unwrap().into_iter().take(4));
        }
    }
    corpus
});

/// One generated value per known field, as unencoded text or a typed value.
#[derive(Clone, Debug)]
enum CfValue {
    Text(String),
    Int(Option<i64>),
    Seconds(Option<f64>),
}

fn cf_value(ty: FieldType) -> BoxedStrategy<CfValue> {
    match ty {
        FieldType::Date | FieldType::Time => Just(CfValue::Int(None)).boxed(),
        FieldType::Text => prop_oneof![
            "[A-Za-z0-9./_=&-]{0,16}",
            Just("-".to_owned()),
            any::<String>().prop_map(|s| s.chars().take(16).collect()),
        ]
        .prop_map(CfValue::Text)
        .boxed(),
        FieldType::Int32 => proptest::option::of(any::<i32>().prop_map(i64::from))
            .prop_map(CfValue::Int)
            .boxed(),
        FieldType::Int64 => {
            proptest::option::of(-999_999_999_999_999_999..=999_999_999_999_999_999i64)
                .prop_map(CfValue::Int)
                .boxed()
        }
        FieldType::Seconds => proptest::option::of(prop_oneof![0.0..100.0f64, {
            use proptest::num::f64::{NEGATIVE, NORMAL, POSITIVE, SUBNORMAL, ZERO};
            // Finite values only (no filter: rejections would cap a million-case run).
            POSITIVE | NEGATIVE | NORMAL | SUBNORMAL | ZERO
        },])
        .prop_map(CfValue::Seconds)
        .boxed(),
    }
}

type CfLine = (usize, i64, Vec<CfValue>, bool);

/// A line of today's 33 fields or an old file's 26, with or without a `#Fields` header.
fn cf_line() -> impl Strategy<Value = CfLine> {
    let values: Vec<BoxedStrategy<CfValue>> = FIELDS.iter().map(|f| cf_value(f.ty)).collect();
    (
        prop_oneof![Just(26usize), Just(33usize)],
        MIN_TIMESTAMP_MICROS / 1_000_000..=MAX_TIMESTAMP_MICROS / 1_000_000,
        values,
        any::<bool>(),
    )
}

fn encode_aws(value: &str) -> String {
    sample_data::cloudfront::encoded(value)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn cloudfront_generated_lines_parse_back_to_their_values((n, secs, values, header) in cf_line()) {
        let instant = format_micros_utc(secs * 1_000_000);
        let mut line = String::new();
        if header {
            line.push_str(&sample_data::cloudfront::header(n));
        }
        let mut logged = Vec::new();
        for (i, v) in values.iter().take(n).enumerate() {
            let text = match (i, v) {
                (0, _) => instant[..10].to_owned(),
                (1, _) => instant[11..19].to_owned(),
                (_, CfValue::Text(s)) => encode_aws(s),
                (_, CfValue::Int(v)) => v.map_or("-".to_owned(), |v| v.to_string()),
                (_, CfValue::Seconds(v)) => v.map_or("-".to_owned(), |v| v.to_string()),
            };
            if i > 0 {
                line.push('\t');
            }
            line.push_str(&text);
            logged.push(text);
        }
        line.push('\n');
        let (sink, result) = read_cloudfront(line.as_bytes());
        result.unwrap();
        prop_assert!(sink.rejects.is_empty(), "{:?}", sink.rejects);
        prop_assert_eq!(sink.rows.len(), 1);
        let row = &sink.rows[0];
        prop_assert_eq!(row.int("log_at"), Some(secs * 1_000_000));
        for (i, f) in Field::ALL.iter().enumerate() {
            let col = f.spec().column;
            if i >= n {
                prop_assert_eq!(row.get(col), &Value::Null, "{} is absent", col);
                continue;
            }
            let want = match &values[i] {
                _ if matches!(f.spec().ty, FieldType::Date | FieldType::Time) => Value::Text(logged[i].clone()),
                CfValue::Text(_) if logged[i].is_empty() || logged[i] == "-" => Value::Null,
                CfValue::Text(_) => Value::Text(logged[i].clone()),
                CfValue::Int(v) => v.map_or(Value::Null, Value::Int),
                CfValue::Seconds(v) => v.map_or(Value::Null, Value::Float),
            };
            prop_assert_eq!(row.get(col), &want, "{}", col);
        }
        // The decoded user agent is the value before encoding (one that holds no `%`, which the
        // double-encoding heuristic of old files would decode twice).
        if let CfValue::Text(ua) = &values[Field::CsUserAgent as usize]
            && !ua.contains('%')
        {
            let want = if logged[Field::CsUserAgent as usize].is_empty() || ua == "-" {
                Value::Null
            } else {
                Value::Text(ua.clone())
            };
            prop_assert_eq!(row.get("user_agent"), &want);
        }
    }

    #[test]
    fn cloudfront_mutated_files_give_one_outcome_per_record(input in mutated(&CF_CORPUS)) {
        let (sink, result) = read_cloudfront(&input);
        match result {
            Ok(()) => prop_assert_eq!(
                sink.rows.len() + sink.rejects.len(),
                record_lines(&input, true),
                "{:?}", String::from_utf8_lossy(&input)
            ),
            // Only a broken `#Fields` line fails the whole object.
            Err(ReadError::Format(msg)) => prop_assert!(msg.contains("#Fields"), "{}", msg),
            Err(e) => prop_assert!(false, "{}", e),
        }
        sink.check_one_outcome_per_line().map_err(TestCaseError::fail)?;
    }
}

// ---------------------------------------------------------------------------------------------
// URL and query-string decoding.

/// A browser's form encoding of a query value (`URLSearchParams`): space as `+`, bytes other
/// than letters, digits and `*-._` as `%XX`.
fn form_encode(value: &str) -> String {
    let mut out = String::new();
    for &b in value.as_bytes() {
        match b {
            b' ' => out.push('+'),
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => {
                out.push(char::from(b))
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn pair_part() -> impl Strategy<Value = String> {
    "[a-z0-9%+._-]{0,6}"
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn query_aws_encoding_decodes_back(value in any::<String>()) {
        let mut d = Decoder::default();
        let logged = encode_aws(&value);
        prop_assert_eq!(d.decode(&logged), value.as_str());
    }

    #[test]
    fn query_form_then_aws_encoding_decodes_back(value in any::<String>()) {
        let logged = encode_aws(&form_encode(&value));
        let mut d = Decoder::default();
        prop_assert_eq!(d.decode_query_value(&logged), value.as_str());
    }

    #[test]
    fn query_decoding_arbitrary_bytes_never_panics(raw in proptest::collection::vec(any::<u8>(), 0..64), plus in any::<bool>()) {
        let mut out = Vec::new();
        percent_decode(&raw, plus, &mut out);
        // Decoding only shrinks: each `%XX` is one byte.
        prop_assert!(out.len() <= raw.len());
        let text = String::from_utf8_lossy(&raw);
        let mut d = Decoder::default();
        let _ = d.decode(&text).len();
        let _ = d.decode_user_agent(&text).len();
        let _ = d.decode_query_value(&text).len();
        let _ = query_pairs(&text).count();
    }

    #[test]
    fn query_pairs_split_what_was_joined(
        pairs in proptest::collection::vec(("[a-z]{1,3}", pair_part(), any::<bool>()), 0..8),
        empties in 0..3usize,
    ) {
        let mut query = String::new();
        for (k, v, has_eq) in &pairs {
            query.push_str(k);
            if *has_eq || !v.is_empty() {
                query.push('=');
                query.push_str(v);
            }
            query.push('&');
            for _ in 0..empties {
                query.push('&');
            }
        }
        let got: Vec<(&str, &str)> = query_pairs(&query).collect();
        let want: Vec<(&str, &str)> = pairs.iter().map(|(k, v, _)| (k.as_str(), v.as_str())).collect();
        prop_assert_eq!(&got, &want);
        let [a, b] = first_values(&query, &["a", "b"]);
        prop_assert_eq!(a, want.iter().find(|p| p.0 == "a").map(|p| p.1));
        prop_assert_eq!(b, want.iter().find(|p| p.0 == "b").map(|p| p.1));
    }
}
