//! `server-pingbacks`: loads one day of the release-download distribution's CloudFront logs.

use std::process::ExitCode;

use ingest_format::time::Date;
use ingest_runtime::job::JobSpec;
use ingest_runtime::source::KeySelection;

static JOB: JobSpec<server_pingbacks::PingbacksFormat> = JobSpec {
    name: "server-pingbacks",
    about: "Load one day of the release-download CloudFront logs into the lake.",
    long_about: "\
Reads every CloudFront standard-log object the release-download distribution wrote for the date \
(all 24 hours), maps each file's columns by its #Fields line (older files with fewer fields and \
newer files with more both load), and replaces the date's partition of --table with one row per \
request: the reference columns as AWS wrote them, log_at, the newer fields, the user agent \
URL-decoded (old files encoded it twice), and from the URI the version, download type \
(server-team, server-enterprise, desktop), file name, target OS and an is_download flag (GET, 2xx, \
more than 1,000,000 bytes, a version). Lines that do not parse go to <table>_rejects.

--source is the log prefix plus the distribution id, <prefix>/<distribution-id>, e.g. \
s3://<bucket>/releases.mattermost.com-cloudfront/<location>/E3EXAMPLE2 (or a local directory laid \
out the same way). Repeat --source for more distributions.",
    format: &server_pingbacks::PingbacksFormat,
    default_table: Some("releases.log_entries"),
    select: cloudfront_day,
    date_semantics: "every object whose key starts with <source>.YYYY-MM-DD- for the logical \
date: the 24 hourly files of the UTC day (CloudFront puts late entries, up to 24 hours late, in \
the file of the hour they happened, so re-running a date picks them up)",
    examples: "\
  server-pingbacks --date 2026-11-20 \\
    --source s3://acme-logs/releases.mattermost.com-cloudfront/us-east-1/E3EXAMPLE2 \\
    --table releases.log_entries --lake /data/lake
",
};

/// `<source>.YYYY-MM-DD-`: the objects of the date's 24 hours.
fn cloudfront_day(date: Date) -> KeySelection {
    KeySelection {
        list_prefix: format!(".{date}-"),
        suffix: None,
    }
}

fn main() -> ExitCode {
    ingest_runtime::job::main(&JOB)
}
