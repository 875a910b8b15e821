//! The license-exports format on fixture files: RFC 4180 edge cases, malformed records, and
//! headers that lack columns.

use std::path::Path;

use ingest_format::format::ReadError;
use ingest_format::testing::{CollectingSink, read_fixture};
use ingest_format::time::format_micros_utc;
use license_exports::LicenseFormat;

fn try_parse(fixture: &str) -> (CollectingSink, Result<(), ReadError>) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(fixture);
    read_fixture(&LicenseFormat, &path)
}

fn parse(fixture: &str) -> CollectingSink {
    let (sink, result) = try_parse(fixture);
    result.unwrap();
    sink
}

#[test]
fn edge_cases_load_mapped_by_header_name() {
    let sink = parse("edge-cases.csv");
    assert!(sink.rejects.is_empty(), "{:?}", sink.rejects);
    assert_eq!(sink.rows.len(), 5);
    let r = &sink.rows[0];
    assert_eq!(r.line, 2);
    assert_eq!(r.text("licenseid"), Some("lic0000000000000000000001"));
    assert_eq!(r.text("customerid"), Some("cust000000000000000000001"));
    assert_eq!(r.text("company"), Some("Acme, Inc."));
    assert_eq!(r.text("email"), Some("admin@acme.example.com"));
    assert_eq!(r.text("stripeid"), Some("cus_ABCDEFGHIJKLMN"));
    assert_eq!(r.int("number"), Some(50));
    assert_eq!(
        format_micros_utc(r.int("issuedat").unwrap()),
        "2023-11-14T22:13:20.000000Z"
    );
    assert_eq!(
        format_micros_utc(r.int("expiresat").unwrap()),
        "2024-11-13T22:13:20.000000Z"
    );
    assert_eq!(r.int("issuedat_ms"), Some(1_700_000_000_000));

    let quotes = &sink.rows[1];
    assert_eq!(quotes.text("company"), Some("Big \"Data\", Corp"));
    assert_eq!(quotes.text("email"), None, "empty is NULL");
    assert_eq!(quotes.text("stripeid"), None);
    assert_eq!(
        quotes.int("issuedat_ms"),
        Some(1_700_000_000_000),
        ".0 accepted"
    );

    let multiline = &sink.rows[2];
    assert_eq!(multiline.line, 4);
    assert_eq!(multiline.text("company"), Some("Oceanic\r\nAirlines"));
    assert_eq!(multiline.int("number"), None);

    // The blank line after the two-line record is skipped; line numbers stay physical.
    assert_eq!(sink.rows[3].line, 7);
    assert_eq!(sink.rows[3].text("company"), Some("Müller Logistik GmbH"));
    // The last record has no final line break; the exact repeat is kept (deduplicated downstream).
    assert_eq!(sink.rows[4].line, 8);
    assert_eq!(sink.rows[4].values, sink.rows[0].values);
}

#[test]
fn malformed_records_are_rejected_with_what_was_expected() {
    let sink = parse("malformed.csv");
    let loaded: Vec<&str> = sink
        .rows
        .iter()
        .map(|r| r.text("licenseid").unwrap())
        .collect();
    assert_eq!(loaded, ["lic1", "lic8"]);
    let got: Vec<(u64, &str)> = sink
        .rejects
        .iter()
        .map(|r| (r.line, r.reason.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (
                3,
                "expected 8 comma-separated fields (per the header), found 6"
            ),
            (
                4,
                "column 6 (issuedat): expected epoch milliseconds (an integer), got \"yesterday\""
            ),
            (5, "column 5 (licenseid): expected a license id, got \"\""),
            (
                6,
                "field 2: unexpected 'T' after the closing quote (a quote inside a quoted field must be doubled: \"\")"
            ),
            (
                7,
                "column 8 (number): expected an integer or nothing, got \"ten\""
            ),
            (
                8,
                "column 6 (issuedat): expected epoch milliseconds (an integer), got \"1700000000000.5\""
            ),
        ]
    );
    assert_eq!(
        sink.rejects[0].raw,
        b"c2,Short Co,a@b.example.com,cus_2,lic2,1700000000000"
    );
}

#[test]
fn a_missing_required_column_fails_the_file_naming_it() {
    let (sink, result) = try_parse("missing-column.csv");
    let err = result.unwrap_err();
    assert!(matches!(err, ReadError::Format(_)));
    let msg = err.to_string();
    assert!(msg.contains("no required column `expiresat`"), "{msg}");
    assert!(sink.rows.is_empty());
}

#[test]
fn missing_optional_columns_are_null_and_counted() {
    let sink = parse("optional-missing.csv");
    assert_eq!(sink.rows.len(), 1);
    assert_eq!(sink.rows[0].text("company"), None);
    assert_eq!(sink.rows[0].int("number"), Some(5));
    for col in ["company", "email", "stripeid"] {
        assert_eq!(sink.counter(&format!("license_column_missing_{col}")), 1);
    }
}

#[test]
fn an_unterminated_quote_fails_the_file_with_its_line() {
    let (_, result) = try_parse("unterminated.csv");
    let msg = result.unwrap_err().to_string();
    assert!(
        msg.contains("line 2") && msg.contains("never closed"),
        "{msg}"
    );
}

/// Snowflake's TIMESTAMP holds years 1 to 9999: the edges load, one millisecond beyond goes to
/// the rejects with its reason (instead of aborting the whole COPY of the day).
#[test]
fn timestamps_outside_years_1_to_9999_are_rejected_at_the_edges() {
    let sink = parse("timestamp-range.csv");
    let loaded: Vec<&str> = sink
        .rows
        .iter()
        .map(|r| r.text("licenseid").unwrap())
        .collect();
    assert_eq!(loaded, ["lic-min", "lic-max"]);
    assert_eq!(
        format_micros_utc(sink.rows[0].int("issuedat").unwrap()),
        "0001-01-01T00:00:00.000000Z"
    );
    assert_eq!(
        format_micros_utc(sink.rows[1].int("expiresat").unwrap()),
        "9999-12-31T23:59:59.999000Z"
    );
    let range = "epoch milliseconds in years 1 to 9999 (-62135596800000 to 253402300799999)";
    let got: Vec<(u64, String)> = sink
        .rejects
        .iter()
        .map(|r| (r.line, r.reason.clone()))
        .collect();
    assert_eq!(
        got,
        [
            (
                4,
                format!("column 6 (issuedat): expected {range}, got \"-62135596800001\"")
            ),
            (
                5,
                format!("column 7 (expiresat): expected {range}, got \"253402300800000\"")
            ),
            (
                6,
                format!("column 7 (expiresat): expected {range}, got \"9000000000000000\"")
            ),
        ]
    );
}
