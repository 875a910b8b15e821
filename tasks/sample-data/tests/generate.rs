//! End-to-end checks of the generators through their library API and the binary: files on disk,
//! decompressed and parsed independently of the generating code.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use flate2::read::MultiGzDecoder;
use sample_data::alb::{self, split_fields};
use sample_data::cloudfront::{self, FIELDS};
use sample_data::licenses::{self, COLUMNS};
use sample_data::{
    AlbOptions, CloudFrontKind, CloudFrontOptions, Date, LicenseOptions, Volume, Written,
};

fn date() -> Date {
    "2026-11-20".parse().unwrap()
}

/// Every file under `root`, keyed by its path relative to `root` with `/` separators.
fn tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path.strip_prefix(root).unwrap();
                let key = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join("/");
                out.insert(key, fs::read(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

fn gunzip(bytes: &[u8]) -> String {
    let mut s = String::new();
    MultiGzDecoder::new(bytes).read_to_string(&mut s).unwrap();
    s
}

fn small_alb() -> AlbOptions {
    let mut o = AlbOptions::new(date());
    o.files = 5;
    o.volume = Volume::LinesPerFile(300);
    o
}

/// `YYYY-MM-DDTHH:MM:SS.ffffffZ` on the date, as microseconds of the day.
fn alb_time(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() != 27 || !s.starts_with("2026-11-20T") || b[13] != b':' || b[16] != b':' {
        return None;
    }
    if b[19] != b'.' || b[26] != b'Z' {
        return None;
    }
    let n = |r: std::ops::Range<usize>| s[r].parse::<u64>().ok();
    let (h, m, sec, us) = (n(11..13)?, n(14..16)?, n(17..19)?, n(20..26)?);
    if h > 23 || m > 59 || sec > 59 {
        return None;
    }
    Some(((h * 60 + m) * 60 + sec) * 1_000_000 + us)
}

/// An independent check of one ALB line: `Some(fields)` when well-formed.
fn valid_alb(line: &str) -> Option<Vec<String>> {
    let f = split_fields(line)?;
    if f.len() < alb::FIELD_COUNT {
        return None;
    }
    alb_time(&f[1])?;
    alb_time(&f[21])?;
    f[8].parse::<u16>().ok()?;
    if f[9] != "-" {
        f[9].parse::<u16>().ok()?;
    }
    f[10].parse::<u64>().ok()?;
    f[11].parse::<u64>().ok()?;
    for t in &f[5..8] {
        t.parse::<f64>().ok()?;
    }
    Some(f)
}

#[test]
fn alb_is_deterministic_whatever_the_thread_count_and_seed_matters() {
    let (a, b, c) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let mut o = small_alb();
    o.malformed_every = Some(9);
    o.extra_trailing_fields = true;
    o.threads = 1;
    let wa = alb::write_day(&o, a.path()).unwrap();
    o.threads = 3;
    let wb = alb::write_day(&o, b.path()).unwrap();
    assert_eq!(wa, wb);
    let (ta, tb) = (tree(a.path()), tree(b.path()));
    assert_eq!(ta.len(), 5);
    assert_eq!(ta, tb, "same options, same bytes");
    o.seed = 2;
    alb::write_day(&o, c.path()).unwrap();
    let tc = tree(c.path());
    assert_ne!(ta.keys().collect::<Vec<_>>(), tc.keys().collect::<Vec<_>>());
    // The summary matches the disk.
    let on_disk: u64 = ta.values().map(|v| v.len() as u64).sum();
    assert_eq!(wa.bytes_compressed(), on_disk);
    let text: usize = ta.values().map(|v| gunzip(v).len()).sum();
    assert_eq!(wa.bytes_uncompressed(), text as u64);
}

#[test]
fn alb_keys_follow_the_aws_layout_and_times_stay_in_their_interval() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = small_alb();
    o.files = 300; // more files than 5-minute intervals: several nodes per interval
    o.volume = Volume::LinesPerFile(20);
    o.account = "210987654321".into();
    o.region = "eu-central-1".into();
    let w = alb::write_day(&o, dir.path()).unwrap();
    assert_eq!(
        w.source_prefix,
        "AWSLogs/210987654321/elasticloadbalancing/eu-central-1"
    );
    let files = tree(dir.path());
    assert_eq!(files.len(), 300, "file names are unique");
    let folder = "AWSLogs/210987654321/elasticloadbalancing/eu-central-1/2026/11/20/";
    let mut intervals = std::collections::BTreeSet::new();
    for (key, bytes) in &files {
        let name = key.strip_prefix(folder).unwrap_or_else(|| panic!("{key}"));
        let rest = name
            .strip_prefix(
                "210987654321_elasticloadbalancing_eu-central-1_app.push-proxy.50dc6c495c0c9188_",
            )
            .unwrap_or_else(|| panic!("{name}"));
        let rest = rest.strip_suffix(".log.gz").unwrap();
        let parts: Vec<&str> = rest.split('_').collect();
        assert_eq!(parts.len(), 3, "{name}");
        let end = parts[0];
        assert!(
            end.starts_with("20261120T") && end.ends_with('Z') && end.len() == 14,
            "{end}"
        );
        let end_min: u64 =
            end[9..11].parse::<u64>().unwrap() * 60 + end[11..13].parse::<u64>().unwrap();
        assert_eq!(end_min % 5, 0);
        assert!((5..24 * 60).contains(&end_min), "{end}");
        intervals.insert(end_min);
        assert_eq!(
            parts[1]
                .split('.')
                .filter(|p| p.parse::<u8>().is_ok())
                .count(),
            4
        );
        assert!(parts[2].len() == 8 && parts[2].bytes().all(|c| c.is_ascii_alphanumeric()));
        let end_us = end_min * 60_000_000;
        for line in gunzip(bytes).lines() {
            let f = valid_alb(line).unwrap_or_else(|| panic!("{line}"));
            assert_eq!(f.len(), alb::FIELD_COUNT);
            let (t, created) = (alb_time(&f[1]).unwrap(), alb_time(&f[21]).unwrap());
            assert!(
                created <= t && t < end_us && created >= end_us - 300_000_000,
                "{line}"
            );
        }
    }
    assert_eq!(
        intervals.len(),
        alb::INTERVALS_PER_DAY,
        "every interval of the date is used"
    );
}

#[test]
fn alb_lines_have_33_fields_and_the_expected_mix() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = small_alb();
    o.volume = Volume::LinesPerFile(4_000);
    let w = alb::write_day(&o, dir.path()).unwrap();
    assert_eq!(w.rows(), 20_000);
    let mut statuses = BTreeMap::new();
    let (mut pushes_ok, mut acks_ok, mut minus_one, mut v6, mut quotes) = (0, 0, 0, 0, 0);
    for bytes in tree(dir.path()).values() {
        for line in gunzip(bytes).lines() {
            let f = valid_alb(line).unwrap_or_else(|| panic!("{line}"));
            assert_eq!(f.len(), 33, "{line}");
            *statuses.entry(f[8].clone()).or_insert(0) += 1;
            let ok = f[8] == "200";
            pushes_ok += usize::from(
                ok && f[12].starts_with("POST https://push.example.com:443/api/v1/send_push HTTP/"),
            );
            acks_ok += usize::from(
                ok && f[12].starts_with("POST https://push.example.com:443/api/v1/ack HTTP/"),
            );
            if f[5] == "-1" {
                minus_one += 1;
                assert!(
                    ["301", "502", "503", "504"].contains(&f[8].as_str()),
                    "{line}"
                );
                assert_eq!(f[4], "-");
            }
            v6 += usize::from(f[3].matches(':').count() > 1);
            quotes += usize::from(f[13].contains("\\\""));
        }
    }
    assert!(
        pushes_ok > 11_000 && acks_ok > 5_000,
        "{pushes_ok} {acks_ok}"
    );
    for s in ["400", "404", "500", "502", "503", "504"] {
        assert!(
            statuses.get(s).copied().unwrap_or(0) > 5,
            "{s}: {statuses:?}"
        );
    }
    assert!(
        minus_one > 200 && v6 > 100 && quotes > 10,
        "{minus_one} {v6} {quotes}"
    );
}

#[test]
fn alb_malformed_every_n_breaks_exactly_those_lines() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = small_alb();
    o.files = 4;
    o.volume = Volume::LinesPerFile(100);
    o.malformed_every = Some(7);
    let w = alb::write_day(&o, dir.path()).unwrap();
    assert_eq!(w.malformed_rows(), 4 * 14);
    let mut kinds = std::collections::BTreeSet::new();
    for bytes in tree(dir.path()).values() {
        for (i, line) in gunzip(bytes).lines().enumerate() {
            let bad = valid_alb(line).is_none();
            assert_eq!(bad, (i + 1) % 7 == 0, "line {}: {line}", i + 1);
            if bad {
                let kind = match split_fields(line) {
                    None => "truncated",
                    Some(f) if alb_time(&f[1]).is_none() => "time",
                    Some(f) if f[8].parse::<u16>().is_err() => "status",
                    Some(_) => "bytes",
                };
                kinds.insert(kind);
            }
        }
    }
    assert_eq!(kinds.len(), 4, "{kinds:?}");
}

#[test]
fn alb_extra_trailing_fields_only_append() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = small_alb();
    o.extra_trailing_fields = true;
    alb::write_day(&o, dir.path()).unwrap();
    let mut longer = 0;
    for bytes in tree(dir.path()).values() {
        for line in gunzip(bytes).lines() {
            let f = valid_alb(line).unwrap_or_else(|| panic!("{line}"));
            assert!((33..=35).contains(&f.len()));
            longer += usize::from(f.len() > 33);
        }
    }
    assert!(longer > 50, "{longer}");
}

#[test]
fn alb_byte_budget_is_respected() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = small_alb();
    o.files = 8;
    o.volume = Volume::TotalBytes(6 << 20);
    let w = alb::write_day(&o, dir.path()).unwrap();
    let total = w.bytes_uncompressed() as f64;
    let want = f64::from(6u32 << 20);
    assert!((total - want).abs() / want < 0.01, "{total} vs {want}");
    assert!(w.bytes_compressed() * 3 < w.bytes_uncompressed());
}

fn cf_options(kind: CloudFrontKind) -> CloudFrontOptions {
    let mut o = CloudFrontOptions::new(date(), kind);
    o.volume = Volume::LinesPerFile(60);
    o
}

/// An independent check of one CloudFront record against the header's field count.
fn valid_cf(line: &str, fields: usize) -> bool {
    let f: Vec<&str> = line.split('\t').collect();
    f.len() == fields
        && f[0] == "2026-11-20"
        && f[1].len() == 8
        && f[1][..2].parse::<u8>().is_ok_and(|h| h < 24)
        && f[1][3..5].parse::<u8>().is_ok_and(|m| m < 60)
        && f[3].parse::<u64>().is_ok()
        && f[8].len() == 3
        && f[8].parse::<u16>().is_ok()
        && !line.contains(' ')
}

#[test]
fn cloudfront_files_cover_every_hour_with_w3c_headers() {
    for (kind, fields) in [
        (CloudFrontKind::Telemetry, 33),
        (CloudFrontKind::Pingbacks, 26),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut o = cf_options(kind);
        o.prefix = "cf/logs".into();
        o.files_per_hour = 2;
        o.fields = fields;
        let w = cloudfront::write_day(&o, dir.path()).unwrap();
        assert_eq!(w.source_prefix, "cf/logs");
        let files = tree(dir.path());
        assert_eq!(files.len(), 48);
        let mut hours = BTreeMap::new();
        for (key, bytes) in &files {
            let name = key
                .strip_prefix("cf/logs/E2EXAMPLE1.2026-11-20-")
                .unwrap_or_else(|| panic!("{key}"));
            let (hour, rest) = name.split_once('.').unwrap();
            let unique = rest.strip_suffix(".gz").unwrap();
            assert!(!unique.is_empty() && unique.bytes().all(|c| c.is_ascii_alphanumeric()));
            *hours.entry(hour.to_string()).or_insert(0) += 1;
            let text = gunzip(bytes);
            let mut lines = text.lines();
            assert_eq!(lines.next(), Some("#Version: 1.0"));
            let header = lines.next().unwrap();
            let names: Vec<&str> = header
                .strip_prefix("#Fields: ")
                .unwrap()
                .split(' ')
                .collect();
            assert_eq!(names, FIELDS[..fields]);
            let mut n = 0;
            for line in lines {
                assert!(valid_cf(line, fields), "{line}");
                assert!(
                    line.split('\t').nth(1).unwrap().starts_with(hour),
                    "{key}: {line}"
                );
                n += 1;
            }
            assert_eq!(n, 60);
        }
        assert_eq!(hours.len(), 24);
        assert!(hours.values().all(|n| *n == 2));
        assert_eq!(w.rows(), 48 * 60);
    }
}

#[test]
fn cloudfront_user_agents_are_encoded_once_today_and_twice_in_old_files() {
    for fields in [33, 26] {
        let dir = tempfile::tempdir().unwrap();
        let mut o = cf_options(CloudFrontKind::Pingbacks);
        o.fields = fields;
        cloudfront::write_day(&o, dir.path()).unwrap();
        let (mut single, mut double) = (0, 0);
        for bytes in tree(dir.path()).values() {
            for line in gunzip(bytes).lines().filter(|l| !l.starts_with('#')) {
                let ua = line.split('\t').nth(10).unwrap();
                single += usize::from(ua.contains("%20"));
                double += usize::from(ua.contains("%2520"));
            }
        }
        if fields == 33 {
            assert!(single > 50 && double == 0, "{single} {double}");
        } else {
            assert!(double > 50 && single == 0, "{single} {double}");
        }
    }
}

#[test]
fn cloudfront_telemetry_and_downloads_look_like_the_real_thing() {
    let dir = tempfile::tempdir().unwrap();
    let o = cf_options(CloudFrontKind::Telemetry);
    cloudfront::write_day(&o, dir.path()).unwrap();
    let mut pings_per_server: BTreeMap<String, u32> = BTreeMap::new();
    let mut bad_values = 0;
    for bytes in tree(dir.path()).values() {
        for line in gunzip(bytes).lines().filter(|l| !l.starts_with('#')) {
            let f: Vec<&str> = line.split('\t').collect();
            if f[7] == "/security"
                && f[5] == "GET"
                && f[10].starts_with("Go-http-client/")
                && f[8] == "200"
            {
                let id = f[11].split('&').next().unwrap().trim_start_matches("id=");
                *pings_per_server.entry(id.to_string()).or_insert(0) += 1;
                bad_values += usize::from(f[11].contains("uc=abc"));
            }
        }
    }
    assert!(
        pings_per_server.values().any(|n| *n > 1),
        "servers ping more than once a day"
    );
    assert!(pings_per_server.len() > 100);
    assert!(bad_values > 0);

    let dir = tempfile::tempdir().unwrap();
    let o = cf_options(CloudFrontKind::Pingbacks);
    cloudfront::write_day(&o, dir.path()).unwrap();
    let mut statuses = BTreeMap::new();
    let (mut big, mut ids, mut rows) = (0, std::collections::BTreeSet::new(), 0);
    for bytes in tree(dir.path()).values() {
        for line in gunzip(bytes).lines().filter(|l| !l.starts_with('#')) {
            let f: Vec<&str> = line.split('\t').collect();
            *statuses.entry(f[8].to_string()).or_insert(0) += 1;
            big += usize::from(f[8] == "200" && f[3].parse::<u64>().unwrap() > 1_000_000);
            ids.insert(f[14].to_string());
            rows += 1;
        }
    }
    for s in ["200", "206", "304", "404"] {
        assert!(statuses.contains_key(s), "{statuses:?}");
    }
    assert!(big > rows / 2, "{big} of {rows}");
    assert!(
        ids.len() < rows && ids.len() > rows * 95 / 100,
        "a few duplicate records"
    );
}

#[test]
fn cloudfront_byte_budget_and_malformed_records() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = cf_options(CloudFrontKind::Telemetry);
    o.volume = Volume::TotalBytes(3 << 20);
    let w = cloudfront::write_day(&o, dir.path()).unwrap();
    let want = f64::from(3u32 << 20);
    let got = w.bytes_uncompressed() as f64;
    assert!((got - want).abs() / want < 0.01, "{got} vs {want}");

    let dir = tempfile::tempdir().unwrap();
    let mut o = cf_options(CloudFrontKind::Pingbacks);
    o.malformed_every = Some(5);
    let w = cloudfront::write_day(&o, dir.path()).unwrap();
    assert_eq!(w.malformed_rows(), 24 * 12);
    let mut bad = 0;
    for bytes in tree(dir.path()).values() {
        for (i, line) in gunzip(bytes).lines().skip(2).enumerate() {
            let broken = !valid_cf(line, 33);
            assert_eq!(broken, (i + 1) % 5 == 0, "{line}");
            bad += usize::from(broken);
        }
    }
    assert_eq!(bad, 24 * 12);
}

#[test]
fn cloudfront_is_deterministic() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut o = cf_options(CloudFrontKind::Telemetry);
    o.threads = 1;
    cloudfront::write_day(&o, a.path()).unwrap();
    o.threads = 2;
    cloudfront::write_day(&o, b.path()).unwrap();
    assert_eq!(tree(a.path()), tree(b.path()));
}

/// A small RFC 4180 reader written for this test: quoted fields, doubled quotes, CRLF or LF.
fn read_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let mut in_quotes = false;
    let mut any = false;
    while let Some(c) = chars.next() {
        any = true;
        if in_quotes {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => in_quotes = false,
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' => {
                assert!(field.is_empty(), "quote inside an unquoted field");
                in_quotes = true;
            }
            ',' => row.push(std::mem::take(&mut field)),
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
                any = false;
            }
            _ => field.push(c),
        }
    }
    assert!(!in_quotes, "unterminated quote");
    if any {
        row.push(field);
        rows.push(row);
    }
    rows
}

#[test]
fn license_csv_round_trips_in_any_column_order() {
    for (shuffle, bom, crlf, newlines) in [
        (false, false, false, false),
        (true, true, false, false),
        (true, false, true, true),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut o = LicenseOptions::new(date());
        o.rows = 3_000;
        o.shuffle_columns = shuffle;
        o.bom = bom;
        o.crlf = crlf;
        o.embedded_newlines = newlines;
        let w = licenses::write_day(&o, dir.path()).unwrap();
        assert_eq!(w.source_prefix, "licenses");
        let files = tree(dir.path());
        let bytes = &files["licenses/licenses-2026-11-20.csv"];
        assert_eq!(bytes.starts_with(&[0xEF, 0xBB, 0xBF]), bom);
        let text = std::str::from_utf8(bytes)
            .unwrap()
            .trim_start_matches('\u{feff}');
        let table = read_csv(text);
        let header = &table[0];
        let mut sorted = header.clone();
        sorted.sort();
        let mut want: Vec<String> = COLUMNS.iter().map(|c| c.to_string()).collect();
        want.sort();
        assert_eq!(sorted, want);
        assert_eq!(header != &COLUMNS.map(String::from).to_vec(), shuffle);
        let expected = licenses::generate_rows(&o);
        assert_eq!(table.len() - 1, expected.len());
        for (row, lic) in table[1..].iter().zip(&expected) {
            assert_eq!(row.len(), 8);
            for (name, value) in header.iter().zip(row) {
                assert_eq!(value, &lic.get(name), "column {name}");
            }
        }
        let companies: Vec<&String> = expected.iter().map(|l| &l.company).collect();
        assert!(companies.iter().any(|c| c.contains(',') && c.contains('"')));
        assert_eq!(companies.iter().any(|c| c.contains('\n')), newlines);
        assert_eq!(text.contains("\r\n"), crlf);
    }
}

fn run_cli(args: &[&str]) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_sample-data"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    serde_json::from_str(stdout.trim()).unwrap()
}

#[test]
fn cli_prints_a_json_summary_matching_the_files() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    let s = run_cli(&[
        "alb",
        "--date",
        "2026-11-20",
        "--out",
        out,
        "--files",
        "3",
        "--lines",
        "50",
        "--malformed-every",
        "10",
    ]);
    assert_eq!(s["files"], 3);
    assert_eq!(s["rows"], 150);
    assert_eq!(s["malformed_rows"], 15);
    let source = PathBuf::from(s["source"].as_str().unwrap());
    assert_eq!(
        source,
        dir.path()
            .join("AWSLogs/123456789012/elasticloadbalancing/us-east-1")
    );
    assert_eq!(tree(&source).len(), 3);
    let on_disk: u64 = tree(&source).values().map(|v| v.len() as u64).sum();
    assert_eq!(s["bytes_compressed"], on_disk);

    let s = run_cli(&[
        "cloudfront",
        "--date",
        "2026-11-20",
        "--out",
        out,
        "--prefix",
        "telemetry",
        "--distribution",
        "E2EXAMPLE1",
        "--kind",
        "telemetry",
        "--lines",
        "5",
        "--fields",
        "26",
    ]);
    assert_eq!(
        (
            s["files"].as_u64(),
            s["rows"].as_u64(),
            s["fields"].as_u64()
        ),
        (Some(24), Some(120), Some(26))
    );
    assert_eq!(s["key_prefix"], "telemetry/E2EXAMPLE1.2026-11-20-");

    let s = run_cli(&[
        "licenses",
        "--date",
        "2026-11-20",
        "--out",
        out,
        "--rows",
        "10",
        "--bom",
    ]);
    assert_eq!(s["rows"], 10);
    assert!(
        dir.path()
            .join("licenses/licenses-2026-11-20.csv")
            .is_file()
    );

    let bad = Command::new(env!("CARGO_BIN_EXE_sample-data"))
        .args(["alb", "--date", "2026-02-30", "--out", out])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("not a calendar date"));
    let bad = Command::new(env!("CARGO_BIN_EXE_sample-data"))
        .args([
            "alb",
            "--date",
            "2026-11-20",
            "--out",
            out,
            "--bytes",
            "1TB",
        ])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn written_totals_add_up() {
    let w = Written {
        kind: "alb",
        source_prefix: "x".into(),
        files: vec![
            sample_data::FileWritten {
                key: "a".into(),
                rows: 2,
                malformed_rows: 1,
                bytes_uncompressed: 10,
                bytes_compressed: 4,
            },
            sample_data::FileWritten {
                key: "b".into(),
                rows: 3,
                malformed_rows: 0,
                bytes_uncompressed: 20,
                bytes_compressed: 6,
            },
        ],
    };
    assert_eq!((w.file_count(), w.rows(), w.malformed_rows()), (2, 5, 1));
    assert_eq!((w.bytes_uncompressed(), w.bytes_compressed()), (30, 10));
}
