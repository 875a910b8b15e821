//! The telemetry format on fixture files: the AWS documentation example, an old 26-field file with
//! double-encoded user agents, a file with fields AWS may add, security pings (good and with
//! malformed parameters) and malformed lines; then server_daily from the pings.

use std::path::Path;

use ingest_format::format::RecordFormat;
use ingest_format::testing::{
    CollectingDerived, CollectingSink, read_fixture, read_fixture_with_state,
};
use ingest_format::time::format_micros_utc;
use telemetry::TelemetryFormat;

fn parse(fixture: &str) -> CollectingSink {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(fixture);
    let (sink, result) = read_fixture(&TelemetryFormat, &path);
    result.unwrap();
    sink
}

fn ts(micros: Option<i64>) -> String {
    format_micros_utc(micros.expect("timestamp"))
}

#[test]
fn aws_documentation_example_loads_every_field_typed() {
    let sink = parse("aws-doc-example.log");
    assert!(sink.rejects.is_empty(), "{:?}", sink.rejects);
    assert_eq!(sink.rows.len(), 6);
    let r = &sink.rows[0];
    assert_eq!(r.line, 3, "after #Version and #Fields");
    assert_eq!(r.text("logdate"), Some("2019-12-04"));
    assert_eq!(r.text("logtime"), Some("21:02:31"));
    assert_eq!(ts(r.int("log_at")), "2019-12-04T21:02:31.000000Z");
    assert_eq!(r.text("edge"), Some("LAX1"));
    assert_eq!(r.int("bytessent"), Some(392));
    assert_eq!(r.text("cip"), Some("192.0.2.100"));
    assert_eq!(r.text("method"), Some("GET"));
    assert_eq!(r.text("host"), Some("d111111abcdef8.cloudfront.net"));
    assert_eq!(r.text("uri"), Some("/index.html"));
    assert_eq!(r.int("status"), Some(200));
    assert_eq!(r.text("creferrer"), None);
    assert!(
        r.text("useragent")
            .unwrap()
            .starts_with("Mozilla/5.0%20(Windows%20NT")
    );
    assert_eq!(
        r.text("user_agent"),
        Some(
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/78.0.3904.108 Safari/537.36"
        )
    );
    assert_eq!(r.text("cs_uri_query"), None);
    assert_eq!(r.text("x_edge_result_type"), Some("Hit"));
    assert_eq!(
        r.text("x_edge_request_id"),
        Some("SOX4xwn4XV6Q4rgb7XiVGOHms_BGlTAC4KyHmureZmBNrjGdRLiNIQ==")
    );
    assert_eq!(r.text("protocol"), Some("https"));
    assert_eq!(r.int("cs_bytes"), Some(23));
    assert_eq!(r.float("time_taken"), Some(0.001));
    assert_eq!(r.text("ssl_protocol"), Some("TLSv1.2"));
    assert_eq!(r.text("cs_protocol_version"), Some("HTTP/2.0"));
    assert_eq!(r.text("file_status"), None);
    assert_eq!(r.int("c_port"), Some(11040));
    assert_eq!(r.float("time_to_first_byte"), Some(0.001));
    assert_eq!(r.text("x_edge_detailed_result_type"), Some("Hit"));
    assert_eq!(r.text("sc_content_type"), Some("text/html"));
    assert_eq!(r.int("sc_content_len"), Some(78));
    assert_eq!(r.int("sc_range_start"), None);
    // No query string: no parameters, nothing counted.
    assert_eq!(r.text("server_id"), None);
    assert!(sink.counters.is_empty(), "{:?}", sink.counters);

    // The third record ends with an extra tab: an empty trailing field is ignored.
    assert_eq!(sink.rows[2].int("sc_content_len"), Some(78));
    let err = &sink.rows[3];
    assert_eq!(err.int("status"), Some(502));
    assert_eq!(err.text("creferrer"), Some("http://www.example.com/"));
    assert_eq!(err.text("ssl_protocol"), None);
    assert_eq!(
        err.text("x_edge_detailed_result_type"),
        Some("OriginDnsError")
    );
    assert_eq!(sink.rows[5].text("user_agent"), Some("curl/7.55.1"));
}

#[test]
fn pings_parse_their_query_string() {
    let sink = parse("pings.log");
    assert!(sink.rejects.is_empty(), "{:?}", sink.rejects);
    assert_eq!(sink.rows.len(), 11);
    let p = &sink.rows[0];
    assert_eq!(p.text("server_id"), Some("ktr3d8zjdpf5uy7wmhb3afj5mh"));
    assert_eq!(p.text("version"), Some("10.11.2.51234"));
    assert_eq!(
        (
            p.int("version_major"),
            p.int("version_minor"),
            p.int("version_patch")
        ),
        (Some(10), Some(11), Some(2))
    );
    assert_eq!(p.bool("is_enterprise_ready"), Some(true));
    assert_eq!(p.text("database_type"), Some("postgres"));
    assert_eq!(p.text("operating_system"), Some("linux"));
    assert_eq!(p.int("count_users"), Some(40));
    assert_eq!(p.int("count_teams"), Some(3));
    assert_eq!(p.int("count_active_users"), Some(17));
    assert_eq!(p.bool("has_run_unit_tests"), Some(false));
    assert_eq!(
        sink.rows[3].text("cip"),
        Some("2001:db8:85a3::8a2e:370:7334")
    );
    assert_eq!(sink.rows[3].bool("has_run_unit_tests"), Some(true));

    // Malformed values are NULL and counted; the line loads; the first uc wins over uc=999.
    let bad = &sink.rows[6];
    assert_eq!(bad.text("server_id"), Some("e5mn1hx8r7fqs2ud9cwa4yzt6k"));
    assert_eq!(bad.text("version"), Some("dev-build"));
    assert_eq!(bad.int("version_major"), None);
    assert_eq!(bad.bool("is_enterprise_ready"), None);
    assert_eq!(bad.int("count_users"), None);
    assert_eq!(bad.int("count_teams"), None);
    assert_eq!(bad.int("count_active_users"), None);
    assert_eq!(bad.bool("has_run_unit_tests"), None);
    for key in ["b", "be", "uc", "tc", "auc", "ut"] {
        assert_eq!(sink.counter(&format!("malformed_param_{key}")), 1, "{key}");
    }
    assert_eq!(sink.counter("malformed_param_id"), 0);

    // Requests that are not pings still load, with their columns.
    assert_eq!(sink.rows[7].text("method"), Some("HEAD"));
    assert_eq!(
        sink.rows[8].text("user_agent"),
        Some("Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0")
    );
    assert_eq!(
        sink.rows[10].int("status"),
        Some(0),
        "000: the viewer hung up"
    );
    assert_eq!(sink.rows[10].text("version"), Some("10.11.2.1"));
}

#[test]
fn server_daily_keeps_the_latest_ping_per_server_with_exclusions() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/pings.log");
    let (_, state, result) = read_fixture_with_state(&TelemetryFormat, &path);
    result.unwrap();
    let mut derived = CollectingDerived::new(TelemetryFormat.derived_tables());
    let states = vec![state];
    TelemetryFormat.write_derived(states, &mut derived).unwrap();
    let rows = derived.rows(0);
    let ids: Vec<&str> = rows.iter().map(|r| r.text("server_id").unwrap()).collect();
    // Sorted by server id; HEAD, browser, redirect and id-less requests are not pings.
    assert_eq!(
        ids,
        [
            "b7x1cqnd5fgz8e3mywyo4k6r9a",
            "e5mn1hx8r7fqs2ud9cwa4yzt6k",
            "ktr3d8zjdpf5uy7wmhb3afj5mh",
            "q9wzr4u1dh8jc3t7ppg6xkso2e"
        ]
    );
    let by_id = |id: &str| {
        rows.iter()
            .find(|r| r.text("server_id") == Some(id))
            .unwrap()
    };

    let s1 = by_id("ktr3d8zjdpf5uy7wmhb3afj5mh");
    assert_eq!(s1.text("server_date"), Some("2026-11-20"));
    assert_eq!(ts(s1.int("last_ping_at")), "2026-11-20T13:02:55.000000Z");
    assert_eq!(s1.int("pings"), Some(3));
    assert_eq!(
        s1.int("count_users"),
        Some(42),
        "from the latest ping, not the last line"
    );
    assert_eq!(s1.int("count_active_users"), Some(18));
    assert_eq!(s1.text("version"), Some("10.11.2.51234"));
    assert_eq!(s1.bool("is_excluded"), Some(false));
    assert_eq!(s1.text("exclusion_reason"), None);

    // Ran unit tests in an earlier ping of the day: excluded, though the latest says ut=0.
    let s2 = by_id("b7x1cqnd5fgz8e3mywyo4k6r9a");
    assert_eq!(s2.bool("has_run_unit_tests"), Some(false));
    assert_eq!(s2.bool("is_excluded"), Some(true));
    assert_eq!(s2.text("exclusion_reason"), Some("ran unit tests"));
    assert_eq!(s2.text("server_ip"), Some("2001:db8:85a3::8a2e:370:7334"));

    let s3 = by_id("q9wzr4u1dh8jc3t7ppg6xkso2e");
    assert_eq!(s3.text("exclusion_reason"), Some("active users > users"));

    let s4 = by_id("e5mn1hx8r7fqs2ud9cwa4yzt6k");
    assert_eq!(s4.int("count_users"), None);
    assert_eq!(
        s4.bool("is_excluded"),
        Some(false),
        "unknown counts do not exclude"
    );
}

#[test]
fn old_26_field_files_load_with_double_encoded_user_agents_decoded() {
    let sink = parse("old-26-fields.log");
    assert!(sink.rejects.is_empty(), "{:?}", sink.rejects);
    assert_eq!(sink.rows.len(), 3);
    let r = &sink.rows[0];
    assert_eq!(r.text("file_encrypted_fields"), None);
    assert_eq!(r.int("c_port"), None, "the newer fields are NULL");
    assert_eq!(r.text("sc_content_type"), None);
    assert_eq!(r.text("server_id"), Some("ktr3d8zjdpf5uy7wmhb3afj5mh"));
    assert_eq!(r.int("version_major"), Some(5));
    assert_eq!(
        sink.rows[1].text("useragent"),
        Some(
            "Mozilla/5.0%2520(Windows%2520NT%252010.0;%2520Win64;%2520x64)%2520AppleWebKit/537.36%2520(KHTML,%2520like%2520Gecko)%2520Chrome/75.0.3770.100%2520Safari/537.36"
        ),
        "the reference column keeps what AWS wrote"
    );
    assert_eq!(
        sink.rows[1].text("user_agent"),
        Some(
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/75.0.3770.100 Safari/537.36"
        )
    );
    assert_eq!(
        sink.rows[2].text("user_agent"),
        Some("Wget/1.20.3 (linux-gnu)")
    );
}

#[test]
fn files_with_more_fields_than_we_know_load() {
    let sink = parse("future-fields.log");
    assert!(sink.rejects.is_empty(), "{:?}", sink.rejects);
    assert_eq!(sink.rows.len(), 1);
    assert_eq!(sink.rows[0].int("sc_content_len"), Some(120));
    assert_eq!(sink.rows[0].int("count_users"), Some(40));
}

#[test]
fn malformed_lines_are_rejected_with_field_and_expectation() {
    let sink = parse("malformed.log");
    assert_eq!(
        sink.rows.len(),
        3,
        "two good lines and one with a bad byte replaced"
    );
    let got: Vec<(u64, &str)> = sink
        .rejects
        .iter()
        .map(|r| (r.line, r.reason.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (
                4,
                "expected 33 tab-separated fields (per the #Fields line), found 9"
            ),
            (
                5,
                "field 9 (sc-status): expected an integer or \"-\", got \"abc\""
            ),
            (
                6,
                "field 2 (time): expected a time as HH:MM:SS, got \"25:61:07\""
            ),
            (
                7,
                "field 4 (sc-bytes): expected an integer or \"-\", got \"12kB\""
            ),
            (
                8,
                "field 1 (date): expected a date as YYYY-MM-DD, got \"-\""
            ),
            (
                9,
                "field 19 (time-taken): expected a number of seconds or \"-\", got \"fast\""
            ),
            (
                10,
                "field 27 (c-port): expected an integer or \"-\", got \"99999999999\""
            ),
        ]
    );
    assert!(sink.rejects[0].raw.starts_with(b"2026-11-20\t10:00:00"));
    assert_eq!(
        sink.rows[1].line, 12,
        "the blank line is skipped but counted"
    );
    assert_eq!(
        sink.rows[2].text("user_agent"),
        Some("Go-http-client/1.1\u{FFFD}")
    );
    assert_eq!(sink.counter("cloudfront_lines_with_invalid_utf8"), 1);
}
