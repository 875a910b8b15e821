//! `telemetry`: loads one day of the servers' security-update-check pings (CloudFront logs).

use std::process::ExitCode;

use ingest_format::time::Date;
use ingest_runtime::job::JobSpec;
use ingest_runtime::source::KeySelection;

static JOB: JobSpec<telemetry::TelemetryFormat> = JobSpec {
    name: "telemetry",
    about: "Load one day of the servers' security-update-check pings (CloudFront logs) into the lake.",
    long_about: "\
Reads every CloudFront standard-log object the telemetry distributions wrote for the date (all 24 \
hours, every --source), maps each file's columns by its #Fields line (older files with fewer \
fields and newer files with more both load), and replaces the date's partition of --table with \
one row per request: the reference columns as AWS wrote them, log_at, the newer fields, the user \
agent URL-decoded, and the query string parsed (first value per key) into server_id, version, \
version_major/minor/patch, is_enterprise_ready, database_type, operating_system, count_users, \
count_teams, count_active_users, has_run_unit_tests. A malformed parameter value is NULL and \
counted in the summary (malformed_param_<key>); the line still loads. Lines that do not parse go \
to <table>_rejects.

It also replaces the date's partition of <schema>.server_daily: one row per server per day (pings \
are GET /security from a Go-http-client user agent with a server id), its latest ping's values, \
the number of pings, and is_excluded / exclusion_reason when any ping that day ran unit tests \
(ut=1) or reported more active users than users (uc < auc). Servers are aggregated with bounded \
memory: sorted runs of pings spill to an anonymous file in $TMPDIR.

--source is the log prefix plus the distribution id, <prefix>/<distribution-id> (or a local \
directory laid out the same way). Telemetry has two distributions: repeat --source (or give \
INGEST_SOURCE comma-separated).",
    format: &telemetry::TelemetryFormat,
    default_table: Some("diagnostics.log_entries"),
    select: cloudfront_day,
    date_semantics: "every object whose key starts with <source>.YYYY-MM-DD- for the logical \
date, for each --source: the 24 hourly files of the UTC day (CloudFront puts late entries, up to \
24 hours late, in the file of the hour they happened, so re-running a date picks them up)",
    examples: "\
  telemetry --date 2026-11-20 \\
    --source s3://acme-logs/telemetry/E2EXAMPLE1 --source s3://acme-logs/telemetry/E1EXAMPLE9 \\
    --table diagnostics.log_entries --lake /data/lake
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
