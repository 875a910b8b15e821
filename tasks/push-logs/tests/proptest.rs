//! Property tests of the ALB parser: lines built from generated field values parse back to those
//! values, and mutated real lines (the fixtures and the sample-data generator's files) each give
//! exactly one row or one reject with a reason, without a panic.
//!
//! `cargo test` runs a few cases per property; `PROPTEST_CASES=n` sets the count
//! (`scripts/fuzz-parsers.sh` runs millions in release).

use std::path::Path;
use std::sync::LazyLock;

use ingest_format::format::RecordFormat;
use ingest_format::testing::{
    CollectingSink, INTERESTING_BYTES, Mutation, Value, mutate, record_lines,
};
use ingest_format::time::{MAX_TIMESTAMP_MICROS, MIN_TIMESTAMP_MICROS, format_micros_utc};
use proptest::prelude::*;
use push_logs::{ALB_TABLE, AlbFormat, FIELDS, MIN_FIELDS};

/// A few cases by default so `cargo test` stays quick; `PROPTEST_CASES` (which proptest reads
/// into its default config) overrides it.
fn config() -> ProptestConfig {
    let mut config = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = 64;
    }
    config
}

fn read(input: &[u8]) -> CollectingSink {
    let mut sink = CollectingSink::new(&ALB_TABLE);
    AlbFormat
        .read_object("proptest", &mut &input[..], &mut sink, &mut ())
        .expect("an ALB object never fails as a whole");
    sink
}

// ---------------------------------------------------------------------------------------------
// Lines from generated values.

/// `ip:port` as ALB logs it, with the ip and port it must parse to.
fn endpoint() -> impl Strategy<Value = (String, String, u16)> {
    let v4 = any::<[u8; 4]>().prop_map(|o| format!("{}.{}.{}.{}", o[0], o[1], o[2], o[3]));
    let v6 = any::<[u16; 8]>().prop_map(|h| {
        h.iter()
            .map(|x| format!("{x:x}"))
            .collect::<Vec<_>>()
            .join(":")
    });
    (
        prop_oneof![v4.clone(), v6.clone()],
        any::<u16>(),
        any::<bool>(),
    )
        .prop_map(|(ip, port, bracket)| {
            let logged = if bracket && ip.contains(':') {
                format!("[{ip}]:{port}")
            } else {
                format!("{ip}:{port}")
            };
            (logged, ip, port)
        })
}

/// An unquoted token: no space, no leading quote.
fn token() -> impl Strategy<Value = String> {
    "[A-Za-z0-9:/._=,-][A-Za-z0-9:/._=,\"\\\\-]{0,15}"
}

/// Any text for a quoted field (no line break: a line is one record).
fn quoted_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[ -~]{0,20}",
        any::<String>().prop_map(|s| s
            .chars()
            .filter(|c| *c != '\n' && *c != '\r')
            .take(16)
            .collect()),
    ]
}

fn quote(value: &str) -> String {
    let mut out = String::from("\"");
    for c in value.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

fn seconds() -> impl Strategy<Value = Option<f64>> {
    proptest::option::of(prop_oneof![Just(-1.0), 0.0..100.0f64, {
        use proptest::num::f64::{NEGATIVE, NORMAL, POSITIVE, SUBNORMAL, ZERO};
        // Finite values only (no filter: rejections would cap a million-case run).
        POSITIVE | NEGATIVE | NORMAL | SUBNORMAL | ZERO
    },])
}

fn opt_text(v: Option<String>) -> String {
    v.unwrap_or_else(|| "-".to_owned())
}

/// Generated values of one line: (field text as logged, expected values by column).
type Line = (Vec<String>, Vec<(&'static str, Value)>);

fn text_value(v: &str) -> Value {
    if v.is_empty() || v == "-" {
        Value::Null
    } else {
        Value::Text(v.to_owned())
    }
}

fn opt<T>(v: Option<T>, f: impl Fn(T) -> Value) -> Value {
    v.map_or(Value::Null, f)
}

prop_compose! {
    fn alb_line()(
        head in (
            "[a-z0-9]{1,5}",
            MIN_TIMESTAMP_MICROS..=MAX_TIMESTAMP_MICROS,
            token(),
            endpoint(),
            proptest::option::of(endpoint()),
            [seconds(), seconds(), seconds()],
            [proptest::option::of(any::<i32>()), proptest::option::of(any::<i32>())],
            [proptest::option::of(any::<i64>()), proptest::option::of(any::<i64>())],
        ),
        tail in (
            ["[A-Z]{1,7}", "[a-z:/.0-9?=&%-]{1,24}", "HTTP/[0-9]\\.[0-9]"],
            quoted_text(),
            [token(), token(), token()],
            proptest::collection::vec(quoted_text(), 11),
            proptest::option::of(any::<i32>()),
            proptest::option::of(MIN_TIMESTAMP_MICROS..=MAX_TIMESTAMP_MICROS),
            token(),
            MIN_FIELDS..=FIELDS.len(),
            proptest::collection::vec(prop_oneof![token(), quoted_text().prop_map(|s| quote(&s))], 0..3),
        ),
    ) -> Line {
        let (kind, time, elb, client, target, processing, statuses, sizes) = head;
        let (request, user_agent, unquoted, quoted, rule, created, conn_trace_id, present, trailing) =
            tail;
        let mut logged: Vec<String> = vec![
            kind.clone(),
            format_micros_utc(time),
            elb.clone(),
            client.0.clone(),
            target.as_ref().map_or("-".to_owned(), |t| t.0.clone()),
        ];
        logged.extend(processing.iter().map(|p| opt_text(p.map(|v| v.to_string()))));
        logged.extend(statuses.iter().map(|s| opt_text(s.map(|v| v.to_string()))));
        logged.extend(sizes.iter().map(|s| opt_text(s.map(|v| v.to_string()))));
        let request_line = request.join(" ");
        logged.push(quote(&request_line));
        logged.push(quote(&user_agent));
        // ssl_cipher, ssl_protocol, target_group_arn: unquoted.
        logged.extend(unquoted.iter().cloned());
        // trace_id, domain_name, chosen_cert_arn: quoted.
        logged.extend(quoted[..3].iter().map(|q| quote(q)));
        logged.push(opt_text(rule.map(|v| v.to_string())));
        logged.push(opt_text(created.map(format_micros_utc)));
        // actions_executed .. classification_reason: quoted.
        logged.extend(quoted[3..10].iter().map(|q| quote(q)));
        logged.push(conn_trace_id.clone());
        for q in &quoted[10..] {
            logged.push(quote(q));
        }
        // transformed_uri, request_transform_status.
        logged.push(quote(&user_agent));
        logged.push(quote(&kind));
        assert_eq!(logged.len(), FIELDS.len());
        logged.truncate(present);
        // Fields AWS may append come after all the ones we know.
        if present == FIELDS.len() {
            logged.extend(trailing);
        }

        let mut want: Vec<(&'static str, Value)> = vec![
            ("type", text_value(&kind)),
            ("time", Value::Int(time)),
            ("elb", text_value(&elb)),
            ("client_and_port", Value::Text(client.0.clone())),
            ("client_ip", Value::Text(client.1.clone())),
            ("client_port", Value::Int(i64::from(client.2))),
            ("target_and_port", opt(target.clone(), |t| Value::Text(t.0))),
            ("target_ip", opt(target.clone(), |t| Value::Text(t.1))),
            ("target_port", opt(target, |t| Value::Int(i64::from(t.2)))),
            ("request_processing_time", opt(processing[0], Value::Float)),
            ("target_processing_time", opt(processing[1], Value::Float)),
            ("response_processing_time", opt(processing[2], Value::Float)),
            ("elb_status_code", opt(statuses[0], |v| Value::Int(i64::from(v)))),
            ("target_status_code", opt(statuses[1], |v| Value::Int(i64::from(v)))),
            ("received_bytes", opt(sizes[0], Value::Int)),
            ("sent_bytes", opt(sizes[1], Value::Int)),
            ("request", Value::Text(request_line.clone())),
            ("request_method", text_value(&request[0])),
            ("request_url", text_value(&request[1])),
            ("request_http_version", text_value(&request[2])),
            ("user_agent", text_value(&user_agent)),
            ("ssl_cipher", text_value(&unquoted[0])),
            ("ssl_protocol", text_value(&unquoted[1])),
            ("target_group_arn", text_value(&unquoted[2])),
            ("trace_id", text_value(&quoted[0])),
            ("domain_name", text_value(&quoted[1])),
            ("chosen_cert_arn", text_value(&quoted[2])),
            ("matched_rule_priority", opt(rule, |v| Value::Int(i64::from(v)))),
            ("request_creation_time", opt(created, Value::Int)),
        ];
        for (i, name) in [
            "actions_executed",
            "redirect_url",
            "error_reason",
            "target_port_list",
            "target_status_code_list",
            "classification",
            "classification_reason",
        ]
        .into_iter()
        .enumerate()
        {
            want.push((name, text_value(&quoted[3 + i])));
        }
        let newer = [
            ("conn_trace_id", text_value(&conn_trace_id)),
            ("transformed_host", text_value(&quoted[10])),
            ("transformed_uri", text_value(&user_agent)),
            ("request_transform_status", text_value(&kind)),
        ];
        // Fields a line predates are NULL.
        for (i, (name, v)) in newer.into_iter().enumerate() {
            want.push((name, if MIN_FIELDS + i < present { v } else { Value::Null }));
        }
        (logged, want)
    }
}

// ---------------------------------------------------------------------------------------------
// Mutated real lines.

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

/// Every line of the fixtures and of a small generated day (with malformed lines and appended
/// fields).
static CORPUS: LazyLock<Vec<Vec<u8>>> = LazyLock::new(|| {
    let mut files = Vec::new();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    for e in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        files.push(std::fs::read(e.unwrap().path()).unwrap());
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut opts = sample_data::AlbOptions::new(sample_data::Date::new(2026, 11, 20).unwrap());
    opts.files = 2;
    opts.volume = sample_data::Volume::LinesPerFile(40);
    opts.malformed_every = Some(5);
    opts.extra_trailing_fields = true;
    opts.threads = 1;
    let written = sample_data::alb::write_day(&opts, tmp.path()).unwrap();
    files.extend(written.read_files(tmp.path()).unwrap());
    files
        .iter()
        .flat_map(|f| f.split(|&b| b == b'\n'))
        .filter(|l| !l.is_empty())
        .map(<[u8]>::to_vec)
        .collect()
});

/// One to three lines of the corpus joined, with 1 to 4 mutations.
fn mutated_lines() -> impl Strategy<Value = Vec<u8>> {
    (
        proptest::collection::vec(proptest::sample::select(&CORPUS[..]), 1..4),
        proptest::collection::vec(mutation(), 1..5),
    )
        .prop_map(|(lines, ms)| mutate(lines.join(&b'\n'), &ms))
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn alb_generated_lines_parse_back_to_their_values((logged, want) in alb_line()) {
        let line = logged.join(" ");
        let sink = read(line.as_bytes());
        prop_assert!(sink.rejects.is_empty(), "{:?}\n{}", sink.rejects, line);
        prop_assert_eq!(sink.rows.len(), 1);
        let row = &sink.rows[0];
        for (name, value) in &want {
            prop_assert_eq!(row.get(name), value, "{} in {}", name, line);
        }
        prop_assert_eq!(want.len(), ALB_TABLE.columns.len());
    }

    #[test]
    fn alb_mutated_lines_give_one_row_or_one_reject_each(input in mutated_lines()) {
        let sink = read(&input);
        prop_assert_eq!(
            sink.outcomes(),
            record_lines(&input, false),
            "{:?}",
            String::from_utf8_lossy(&input)
        );
        sink.check_one_outcome_per_line().map_err(TestCaseError::fail)?;
    }
}
