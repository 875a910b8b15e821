//! Property tests of the telemetry format: the query-string parameters round-trip through the
//! client's form encoding and AWS's log encoding, arbitrary query strings never panic and count
//! exactly the malformed values, and mutated real CloudFront files (the fixtures and the
//! sample-data generator's) give exactly one row or one reject with a reason per record. The
//! shared CloudFront reader's own properties are in ingest-runtime's tests.
//!
//! `cargo test` runs a few cases per property; `PROPTEST_CASES=n` sets the count
//! (`scripts/fuzz-parsers.sh` runs millions in release).

#[path = "../../ingest-format/tests/support/cloudfront_mutated.rs"]
mod cloudfront_mutated;

use std::sync::LazyLock;

use cloudfront_mutated::{check_mutated, cloudfront_corpus, config, mutated};
use ingest_format::table::{Column, ColumnType, TableSchema};
use ingest_format::testing::CollectingSink;
use ingest_format::url::first_values;
use proptest::prelude::*;
use telemetry::TelemetryFormat;
use telemetry::params;

static CORPUS: LazyLock<Vec<Vec<u8>>> =
    LazyLock::new(|| cloudfront_corpus(sample_data::CloudFrontKind::Telemetry));

static NO_COLUMNS: TableSchema = TableSchema {
    columns: &[Column::new("x", ColumnType::Text, "")],
};

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

/// Values a server sends, as they must come out of [`params::parse`].
#[derive(Clone, Debug)]
struct Ping {
    id: String,
    version: String,
    parts: [i32; 3],
    be: bool,
    db: String,
    os: String,
    counts: [i64; 3],
    ut: bool,
    /// `true`/`false` or `1`/`0` for the booleans.
    numeric_bools: bool,
    /// Unknown keys and later duplicates, which must not change anything.
    noise: Vec<(String, String)>,
}

/// Text a server may send for `db` and `os`: anything with a visible character, up to 256 bytes.
fn free_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9 ._-]{1,12}",
        any::<String>().prop_map(|s| s.chars().take(20).collect()),
    ]
    // Blank is malformed: mapped rather than filtered so millions of cases never hit proptest's
    // rejection limit.
    .prop_map(|s: String| {
        if s.trim().is_empty() {
            format!("x{s}")
        } else {
            s
        }
    })
}

prop_compose! {
    fn ping()(
        id in "[a-z0-9]{26}",
        parts in [0..1_000_000i32, 0..1_000_000i32, 0..1_000_000i32],
        build in proptest::option::of("[a-z0-9.-]{1,10}"),
        be in any::<bool>(),
        db in free_text(),
        os in free_text(),
        counts in [0..1_000_000_000_000_000i64, 0..1_000_000_000_000_000i64, 0..1_000_000_000_000_000i64],
        ut in any::<bool>(),
        numeric_bools in any::<bool>(),
        noise in proptest::collection::vec(("(x|id|b|uc|zz)", "[a-z0-9%+]{0,6}"), 0..4),
    ) -> Ping {
        let mut version = format!("{}.{}.{}", parts[0], parts[1], parts[2]);
        if let Some(b) = build {
            version.push('.');
            version.push_str(&b);
        }
        Ping { id, version, parts, be, db, os, counts, ut, numeric_bools, noise }
    }
}

fn bool_text(v: bool, numeric: bool) -> &'static str {
    match (v, numeric) {
        (true, true) => "1",
        (false, true) => "0",
        (true, false) => "true",
        (false, false) => "false",
    }
}

/// The first value of each key, the counter name of each key.
const KEYS: [&str; 9] = ["id", "b", "be", "db", "os", "uc", "tc", "auc", "ut"];

proptest! {
    #![proptest_config(config())]

    #[test]
    fn params_encoded_by_client_and_aws_parse_back(p in ping()) {
        let mut query = String::new();
        let pairs = [
            ("id", p.id.clone()),
            ("b", p.version.clone()),
            ("be", bool_text(p.be, p.numeric_bools).to_owned()),
            ("db", p.db.clone()),
            ("os", p.os.clone()),
            ("uc", p.counts[0].to_string()),
            ("tc", p.counts[1].to_string()),
            ("auc", p.counts[2].to_string()),
            ("ut", bool_text(p.ut, p.numeric_bools).to_owned()),
        ]
        .map(|(k, v)| (k.to_owned(), v));
        for (k, v) in pairs.iter().chain(&p.noise) {
            if !query.is_empty() {
                query.push('&');
            }
            query.push_str(k);
            query.push('=');
            query.push_str(&form_encode(v));
        }
        // As CloudFront logs it.
        let logged = sample_data::cloudfront::encoded(&query);
        let mut sink = CollectingSink::new(&NO_COLUMNS);
        let got = params::parse(Some(&logged), &mut sink);
        prop_assert!(sink.counters.is_empty(), "{:?} for {}", sink.counters, logged);
        prop_assert_eq!(got.server_id.as_deref(), Some(p.id.as_str()));
        prop_assert_eq!(got.version.as_deref(), Some(p.version.as_str()));
        prop_assert_eq!(got.version_parts, Some(p.parts));
        prop_assert_eq!(got.is_enterprise_ready, Some(p.be));
        prop_assert_eq!(got.database_type.as_deref(), Some(p.db.as_str()));
        prop_assert_eq!(got.operating_system.as_deref(), Some(p.os.as_str()));
        prop_assert_eq!(
            [got.count_users, got.count_teams, got.count_active_users],
            p.counts.map(Some)
        );
        prop_assert_eq!(got.has_run_unit_tests, Some(p.ut));
    }

    #[test]
    fn params_any_string_counts_exactly_the_malformed_values(
        query in prop_oneof![
            proptest::collection::vec(
                (proptest::sample::select(&KEYS[..]), "[a-zA-Z0-9%+. -]{0,8}"),
                0..12,
            )
            .prop_map(|pairs| pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&")),
            any::<String>(),
        ]
    ) {
        let mut sink = CollectingSink::new(&NO_COLUMNS);
        let got = params::parse(Some(&query), &mut sink);
        let raw = first_values(&query, &KEYS);
        let parsed = [
            got.server_id.is_some(),
            got.version_parts.is_some(),
            got.is_enterprise_ready.is_some(),
            got.database_type.is_some(),
            got.operating_system.is_some(),
            got.count_users.is_some(),
            got.count_teams.is_some(),
            got.count_active_users.is_some(),
            got.has_run_unit_tests.is_some(),
        ];
        for (i, key) in KEYS.iter().enumerate() {
            let counted = sink.counter(&format!("malformed_param_{key}"));
            // Present but not a value: NULL and counted once; absent: NULL, not counted.
            let want = u64::from(raw[i].is_some() && !parsed[i]);
            prop_assert_eq!(counted, want, "{} in {:?}", key, query);
            if raw[i].is_none() {
                prop_assert!(!parsed[i]);
            }
        }
    }

    #[test]
    fn telemetry_mutated_files_give_one_outcome_per_record(input in mutated(&CORPUS)) {
        check_mutated(&TelemetryFormat, &input)?;
    }
}
