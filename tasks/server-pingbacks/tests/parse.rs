//! The server-pingbacks format on fixture files: the AWS documentation example, release downloads
//! of every kind, an old 26-field file with double-encoded user agents, and malformed lines.

use std::path::Path;

use ingest_format::testing::{CollectingSink, read_fixture};
use server_pingbacks::PingbacksFormat;

fn parse(fixture: &str) -> CollectingSink {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(fixture);
    let (sink, result) = read_fixture(&PingbacksFormat, &path);
    result.unwrap();
    sink
}

#[test]
fn aws_documentation_example_loads_without_release_fields() {
    let sink = parse("aws-doc-example.log");
    assert!(sink.rejects.is_empty(), "{:?}", sink.rejects);
    assert_eq!(sink.rows.len(), 6);
    let r = &sink.rows[0];
    assert_eq!(r.int("bytessent"), Some(392));
    assert_eq!(r.int("cs_bytes"), Some(23));
    assert_eq!(r.text("uri"), Some("/index.html"));
    assert_eq!(r.text("file_name"), Some("index.html"));
    assert_eq!(r.text("version"), None);
    assert_eq!(r.text("download_type"), None);
    assert_eq!(r.bool("is_download"), Some(false));
    assert!(
        r.text("user_agent")
            .unwrap()
            .contains("(Windows NT 10.0; Win64; x64)")
    );
    assert_eq!(sink.rows[4].text("file_name"), None, "uri / has no file");
}

#[test]
fn downloads_are_classified_from_the_uri() {
    let sink = parse("downloads.log");
    assert!(sink.rejects.is_empty(), "{:?}", sink.rejects);
    let rows = &sink.rows;
    assert_eq!(rows.len(), 11);
    let pick = |i: usize| {
        let r = &rows[i];
        (
            r.text("version").map(str::to_owned),
            r.text("download_type").map(str::to_owned),
            r.text("file_name").map(str::to_owned),
            r.text("target_os").map(str::to_owned),
            r.bool("is_download").unwrap(),
        )
    };
    let s = |v: &str| Some(v.to_owned());
    assert_eq!(
        pick(0),
        (
            s("10.11.2"),
            s("server-team"),
            s("mattermost-team-10.11.2-linux-amd64.tar.gz"),
            s("linux"),
            true
        )
    );
    assert_eq!(
        pick(1),
        (
            s("10.11.2"),
            s("server-enterprise"),
            s("mattermost-10.11.2-linux-amd64.tar.gz"),
            s("linux"),
            true
        )
    );
    assert_eq!(
        pick(2),
        (
            s("5.12.0"),
            s("desktop"),
            s("mattermost-desktop-5.12.0-win-x64 (1).msi"),
            s("windows"),
            true
        ),
        "the file name is URL-decoded"
    );
    assert_eq!(
        rows[2].text("uri"),
        Some("/desktop/5.12.0/mattermost-desktop-5.12.0-win-x64%20(1).msi")
    );
    assert_eq!(
        rows[2].text("creferrer"),
        Some("https://mattermost.com/download/")
    );
    // A range request of more than 1 MB is a download; its range columns are typed.
    assert_eq!(pick(3).1, s("server-enterprise"));
    assert!(pick(3).4);
    assert_eq!(rows[3].int("status"), Some(206));
    assert_eq!(rows[3].int("sc_range_start"), Some(1_000_000));
    assert_eq!(rows[3].int("sc_range_end"), Some(52_999_999));
    assert!(!pick(4).4, "HEAD is not a download");
    assert_eq!(pick(5).3, s("macos"));
    assert!(!pick(5).4, "304 is not a download");
    assert_eq!(
        pick(6).2,
        s("mattermost-team-10.11.2-linux-amd64.tar.gz.sha256")
    );
    assert!(!pick(6).4, "a checksum is too small to be a download");
    assert_eq!(pick(7), (None, None, s("latest"), None, false));
    assert_eq!(rows[7].text("useragent"), None);
    assert_eq!(
        rows[8].text("user_agent"),
        Some("Téléchargeur/1.0 (\"quoted\" {build} [x])"),
        "encoded UTF-8 and punctuation decode"
    );
    assert_eq!(pick(8).3, s("linux"));
    // Duplicate rows are kept, as in the reference table.
    assert_eq!(
        rows[9].text("x_edge_request_id"),
        rows[10].text("x_edge_request_id")
    );
    assert_eq!((rows[9].line, rows[10].line), (12, 13));
}

#[test]
fn old_files_decode_double_encoded_user_agents() {
    let sink = parse("old-26-fields.log");
    assert!(sink.rejects.is_empty(), "{:?}", sink.rejects);
    assert_eq!(
        sink.rows[0].text("useragent"),
        Some("Wget/1.20.3%2520(linux-gnu)")
    );
    assert_eq!(
        sink.rows[0].text("user_agent"),
        Some("Wget/1.20.3 (linux-gnu)")
    );
    assert_eq!(sink.rows[0].text("download_type"), Some("server-team"));
    assert_eq!(sink.rows[0].int("sc_content_len"), None);
    assert_eq!(
        sink.rows[1].text("user_agent"),
        Some("Mozilla/5.0 (Windows NT 10.0; Win64; x64)")
    );
    assert_eq!(sink.rows[1].text("target_os"), Some("windows"));
    assert_eq!(sink.rows[1].text("version"), Some("4.2.3"));
}

#[test]
fn malformed_lines_are_rejected() {
    let sink = parse("malformed.log");
    assert_eq!(sink.rows.len(), 3);
    assert_eq!(sink.rejects.len(), 7);
    assert_eq!(
        sink.rejects[1].reason,
        "field 9 (sc-status): expected an integer or \"-\", got \"abc\""
    );
}
