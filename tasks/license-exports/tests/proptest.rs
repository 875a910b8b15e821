//! Property tests of the license-exports format: rows rendered by the sample-data generator's CSV
//! writer from generated values parse back to those values (any column order, BOM, CRLF), and
//! mutated real exports give exactly one row or one reject with a reason per record, without a
//! panic. The CSV reader's own properties are in ingest-runtime's tests.
//!
//! `cargo test` runs a few cases per property; `PROPTEST_CASES=n` sets the count
//! (`scripts/fuzz-parsers.sh` runs millions in release).

use std::path::Path;
use std::sync::LazyLock;

use ingest_format::format::{ReadError, RecordFormat};
use ingest_format::testing::{
    CollectingSink, INTERESTING_BYTES, Mutation, Value, csv_record_count, mutate,
};
use license_exports::{LICENSES_TABLE, LicenseFormat};
use proptest::prelude::*;
use sample_data::licenses::{License, render};

/// A few cases by default so `cargo test` stays quick; `PROPTEST_CASES` (which proptest reads
/// into its default config) overrides it.
fn config() -> ProptestConfig {
    let mut config = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = 64;
    }
    config
}

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

fn options(seed: u64, crlf: bool, bom: bool) -> sample_data::LicenseOptions {
    let mut opts = sample_data::LicenseOptions::new(sample_data::Date::new(2026, 11, 20).unwrap());
    opts.seed = seed;
    opts.shuffle_columns = true;
    opts.crlf = crlf;
    opts.bom = bom;
    opts
}

/// The fixtures and a few generated exports (with line breaks in quoted names, CRLF, BOM).
static CORPUS: LazyLock<Vec<Vec<u8>>> = LazyLock::new(|| {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let mut corpus: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .collect();
    for (seed, crlf, bom) in [(1, false, false), (2, true, true)] {
        let mut opts = options(seed, crlf, bom);
        opts.rows = 8;
        opts.embedded_newlines = true;
        let rows = sample_data::licenses::generate_rows(&opts);
        corpus.push(render(&opts, &rows).into_bytes());
    }
    corpus
});

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9 @._-]{0,12}",
        "[a-z,\"\r\n ]{0,8}",
        any::<String>().prop_map(|s| s.chars().take(12).collect()),
    ]
}

const MILLIS: std::ops::RangeInclusive<i64> = -62_135_596_800_000..=253_402_300_799_999;

prop_compose! {
    fn license()(
        customerid in text(),
        company in text(),
        email in text(),
        stripeid in text(),
        // Not blank (a blank id is a reject); mapped rather than filtered so millions of cases
        // never hit proptest's rejection limit.
        licenseid in text().prop_map(|s| if s.bytes().all(|b| b.is_ascii_whitespace()) { format!("L{s}") } else { s }),
        issuedat in MILLIS,
        expiresat in MILLIS,
        number in 0..=i64::MAX as u64,
    ) -> License {
        License { customerid, company, email, stripeid, licenseid, issuedat, expiresat, number }
    }
}

fn text_value(v: &str) -> Value {
    if v.is_empty() {
        Value::Null
    } else {
        Value::Text(v.to_owned())
    }
}

fn read(input: &[u8]) -> (CollectingSink, Result<(), ReadError>) {
    let mut sink = CollectingSink::new(&LICENSES_TABLE);
    let result = LicenseFormat.read_object("proptest", &mut &input[..], &mut sink, &mut ());
    (sink, result)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn license_rendered_rows_parse_back(
        rows in proptest::collection::vec(license(), 1..6),
        seed in any::<u64>(),
        crlf in any::<bool>(),
        bom in any::<bool>(),
    ) {
        let csv = render(&options(seed, crlf, bom), &rows);
        let (sink, result) = read(csv.as_bytes());
        result.unwrap();
        prop_assert!(sink.rejects.is_empty(), "{:?}\n{:?}", sink.rejects, csv);
        prop_assert_eq!(sink.rows.len(), rows.len());
        for (got, l) in sink.rows.iter().zip(&rows) {
            let want = [
                ("customerid", text_value(&l.customerid)),
                ("company", text_value(&l.company)),
                ("email", text_value(&l.email)),
                ("stripeid", text_value(&l.stripeid)),
                ("licenseid", Value::Text(l.licenseid.clone())),
                ("issuedat", Value::Int(l.issuedat * 1000)),
                ("expiresat", Value::Int(l.expiresat * 1000)),
                ("number", Value::Int(l.number as i64)),
                ("issuedat_ms", Value::Int(l.issuedat)),
                ("expiresat_ms", Value::Int(l.expiresat)),
            ];
            for (name, value) in &want {
                prop_assert_eq!(got.get(name), value, "{} in {:?}", name, csv);
            }
        }
    }

    #[test]
    fn license_mutated_exports_give_one_outcome_per_record(
        input in (
            proptest::sample::select(&CORPUS[..]),
            proptest::collection::vec(mutation(), 1..5),
        ).prop_map(|(base, ms)| mutate(base, &ms))
    ) {
        let (sink, result) = read(&input);
        let records = csv_record_count(&input);
        match result {
            // Every record after the header is a row or a reject.
            Ok(()) => prop_assert_eq!(
                Some(sink.outcomes() + 1),
                records,
                "{:?}",
                String::from_utf8_lossy(&input)
            ),
            // A header that cannot be used, or a quote never closed, fails the whole file.
            Err(ReadError::Format(msg)) => prop_assert!(
                msg.contains("header") || msg.contains("never closed") || msg.contains("empty"),
                "{}",
                msg
            ),
            Err(e) => prop_assert!(false, "{}", e),
        }
        sink.check_one_outcome_per_line().map_err(TestCaseError::fail)?;
    }
}
