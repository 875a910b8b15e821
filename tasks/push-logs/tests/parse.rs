//! The ALB parser on fixture files: the AWS documentation examples, old lines without the newest
//! fields, a line with fields AWS may append, and malformed lines.

use std::path::Path;

use ingest_format::format::RecordFormat;
use ingest_format::testing::{CollectingSink, read_fixture};
use ingest_format::time::format_micros_utc;
use push_logs::{ALB_TABLE, AlbFormat};

fn parse(fixture: &str) -> CollectingSink {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(fixture);
    let (sink, result) = read_fixture(&AlbFormat, &path);
    result.unwrap();
    sink
}

fn ts(micros: Option<i64>) -> String {
    format_micros_utc(micros.expect("timestamp"))
}

#[test]
fn aws_documentation_examples_load_typed() {
    let sink = parse("aws-doc-examples.log");
    assert!(sink.rejects.is_empty(), "{:?}", sink.rejects);
    assert_eq!(sink.rows.len(), 6);

    let http = &sink.rows[0];
    assert_eq!(http.text("type"), Some("http"));
    assert_eq!(ts(http.int("time")), "2018-07-02T22:23:00.186641Z");
    assert_eq!(
        http.text("elb"),
        Some("app/my-loadbalancer/50dc6c495c0c9188")
    );
    assert_eq!(http.text("client_and_port"), Some("192.168.131.39:2817"));
    assert_eq!(http.text("client_ip"), Some("192.168.131.39"));
    assert_eq!(http.int("client_port"), Some(2817));
    assert_eq!(http.text("target_ip"), Some("10.0.0.1"));
    assert_eq!(http.int("target_port"), Some(80));
    assert_eq!(http.float("target_processing_time"), Some(0.001));
    assert_eq!(http.int("elb_status_code"), Some(200));
    assert_eq!(http.int("received_bytes"), Some(34));
    assert_eq!(http.int("sent_bytes"), Some(366));
    assert_eq!(
        http.text("request"),
        Some("GET http://www.example.com:80/ HTTP/1.1")
    );
    assert_eq!(http.text("request_method"), Some("GET"));
    assert_eq!(http.text("request_url"), Some("http://www.example.com:80/"));
    assert_eq!(http.text("request_http_version"), Some("HTTP/1.1"));
    assert_eq!(http.text("user_agent"), Some("curl/7.46.0"));
    assert_eq!(http.text("ssl_cipher"), None, "- is NULL");
    assert_eq!(http.text("domain_name"), None, "quoted - is NULL");
    assert_eq!(http.int("matched_rule_priority"), Some(0));
    assert_eq!(
        ts(http.int("request_creation_time")),
        "2018-07-02T22:22:48.364000Z"
    );
    assert_eq!(http.text("actions_executed"), Some("forward"));
    assert_eq!(http.text("target_port_list"), Some("10.0.0.1:80"));
    assert_eq!(http.text("conn_trace_id"), Some("TID_1234abcd5678ef90"));
    assert_eq!(http.text("transformed_host"), None);

    let https = &sink.rows[1];
    assert_eq!(https.text("ssl_protocol"), Some("TLSv1.2"));
    assert_eq!(https.text("domain_name"), Some("www.example.com"));
    assert_eq!(https.text("actions_executed"), Some("authenticate,forward"));

    let redirect = &sink.rows[2];
    assert_eq!(
        redirect.text("redirect_url"),
        Some("https://example.com:80/")
    );
    assert_eq!(redirect.text("request_http_version"), Some("HTTP/2.0"));

    let lambda_error = &sink.rows[4];
    assert_eq!(lambda_error.text("target_and_port"), None);
    assert_eq!(lambda_error.text("target_ip"), None);
    assert_eq!(lambda_error.int("target_port"), None);
    assert_eq!(lambda_error.int("target_status_code"), None);
    assert_eq!(
        lambda_error.text("error_reason"),
        Some("LambdaInvalidResponse")
    );

    let never_reached = &sink.rows[5];
    for t in [
        "request_processing_time",
        "target_processing_time",
        "response_processing_time",
    ] {
        assert_eq!(never_reached.float(t), Some(-1.0), "{t} keeps -1");
    }
    assert_eq!(never_reached.int("matched_rule_priority"), None);
    assert_eq!(never_reached.text("classification"), Some("Ambiguous"));
    assert_eq!(
        never_reached.text("request"),
        Some("- https://www.example.com:443- -")
    );
    assert_eq!(
        never_reached.text("request_url"),
        Some("https://www.example.com:443-")
    );
    assert_eq!(never_reached.text("request_method"), None);
}

#[test]
fn old_lines_without_the_newest_fields_load_with_nulls() {
    let sink = parse("old-fields.log");
    assert!(sink.rejects.is_empty(), "{:?}", sink.rejects);
    assert_eq!(sink.rows.len(), 2);
    let before_2024 = &sink.rows[0];
    assert_eq!(before_2024.text("classification_reason"), None);
    assert_eq!(before_2024.text("conn_trace_id"), None);
    assert_eq!(before_2024.text("request_transform_status"), None);
    assert_eq!(
        before_2024.text("request_url"),
        Some("https://push.example.com:443/api/v1/send_push")
    );
    assert_eq!(sink.rows[1].text("conn_trace_id"), Some("TID_0a1b2c3d4e5f"));
    assert_eq!(sink.rows[1].text("transformed_uri"), None);
}

#[test]
fn appended_fields_are_ignored_and_escapes_undone() {
    let sink = parse("appended-fields.log");
    assert!(sink.rejects.is_empty(), "{:?}", sink.rejects);
    let row = &sink.rows[0];
    assert_eq!(row.text("client_ip"), Some("2600:1f18:1a:2b:3c:4d:5e:6f"));
    assert_eq!(row.int("client_port"), Some(443));
    assert_eq!(
        row.text("user_agent"),
        Some(r#"Mattermost Push "Proxy" \ agent/5.0"#)
    );
    assert_eq!(row.int("matched_rule_priority"), Some(10));
    assert_eq!(row.text("transformed_host"), Some("push.internal"));
    assert_eq!(row.text("transformed_uri"), Some("/api/v1/send_push"));
    assert_eq!(
        row.text("request_transform_status"),
        Some("TransformSuccess")
    );
}

#[test]
fn malformed_lines_are_rejected_with_field_and_expectation() {
    let sink = parse("malformed.log");
    let loaded: Vec<u64> = sink.rows.iter().map(|r| r.line).collect();
    assert_eq!(
        loaded,
        vec![1, 9],
        "the good lines load; the blank line 7 is skipped"
    );
    let reasons: Vec<(u64, &str)> = sink
        .rejects
        .iter()
        .map(|r| (r.line, r.reason.as_str()))
        .collect();
    assert_eq!(
        reasons,
        vec![
            (2, "field 13 (request): unterminated quoted field"),
            (
                3,
                "field 9 (elb_status_code): expected an integer or \"-\", got \"abc\""
            ),
            (
                4,
                "field 2 (time): expected an ISO 8601 UTC timestamp, got \"2018-07-02T25:61:07.000000Z\""
            ),
            (
                5,
                "field 11 (received_bytes): expected an integer or \"-\", got \"12kB\""
            ),
            (
                6,
                "field 4 (client:port): expected ip:port, got \"192.168.131.39\""
            ),
            (
                8,
                "expected at least 29 space-separated fields (through classification_reason), found 4"
            ),
        ]
    );
    // The raw line is kept as it was.
    assert!(
        sink.rejects[1]
            .raw
            .starts_with(b"https 2018-07-02T22:23:00.186641Z")
    );
}

#[test]
fn invalid_utf8_in_a_text_field_loads_replaced() {
    let mut line = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/aws-doc-examples.log"),
    )
    .unwrap();
    line.truncate(line.iter().position(|b| *b == b'\n').unwrap() + 1);
    let at = line.windows(4).position(|w| w == b"curl").unwrap();
    line[at] = 0xff;
    let mut sink = CollectingSink::new(&ALB_TABLE);
    AlbFormat
        .read_object("x", &mut &line[..], &mut sink, &mut ())
        .unwrap();
    assert_eq!(sink.rows.len(), 1);
    assert_eq!(sink.rows[0].text("user_agent"), Some("\u{fffd}url/7.46.0"));
}

#[test]
fn processing_times_must_be_finite_numbers() {
    // Rust's float parser takes "NaN" and "inf" (and "1e400" becomes inf); ALB never writes
    // them, so such a line is rejected rather than loaded as a time.
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let good = std::fs::read_to_string(data.join("malformed.log")).unwrap();
    let good = good.lines().next().unwrap();
    assert!(good.contains(" 0.086 "), "{good}");
    let values = ["-1", "NaN", "inf", "-inf", "1e400", "0.5"];
    let lines: Vec<String> = values
        .iter()
        .map(|v| good.replacen(" 0.086 ", &format!(" {v} "), 1))
        .collect();
    let path = std::env::temp_dir().join(format!("alb-nan-{}.log", std::process::id()));
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    let (sink, result) = read_fixture(&AlbFormat, &path);
    std::fs::remove_file(&path).unwrap();
    result.unwrap();
    let loaded: Vec<u64> = sink.rows.iter().map(|r| r.line).collect();
    assert_eq!(loaded, vec![1, 6], "-1 (a failed dispatch) and 0.5 load");
    let rejected: Vec<(u64, &str)> = sink
        .rejects
        .iter()
        .map(|r| (r.line, r.reason.as_str()))
        .collect();
    for (line, value) in [(2, "NaN"), (3, "inf"), (4, "-inf"), (5, "1e400")] {
        let reason = format!(
            "field 6 (request_processing_time): expected a number of seconds or \"-\", got \"{value}\""
        );
        assert!(rejected.contains(&(line, reason.as_str())), "{rejected:?}");
    }
}
