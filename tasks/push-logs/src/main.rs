//! `push-logs`: loads one day of the push-notification proxy's ALB access logs into the lake.

use std::process::ExitCode;

use ingest_format::time::Date;
use ingest_runtime::job::JobSpec;
use ingest_runtime::source::KeySelection;

static JOB: JobSpec<push_logs::AlbFormat> = JobSpec {
    name: "push-logs",
    about: "Load one day of the push-notification proxy's ALB access logs into the lake.",
    long_about: "\
Reads every access-log object Application Load Balancer wrote for the date, parses each line \
(all documented fields, older lines without the newest fields too; unknown trailing fields are \
ignored), and replaces the date's partition of --table in the lake with the typed rows. Lines \
that do not parse go to <table>_rejects with file, line and reason.

--source is the load balancer's log prefix, s3://<bucket>/AWSLogs/<account-id>/elasticloadbalancing/<region> \
(or a local directory laid out the same way). One table per deployment: push_proxy.logs_us_new, \
push_proxy.logs_test_new, push_proxy.logs_eu_new.",
    format: &push_logs::AlbFormat,
    default_table: None,
    select: alb_date_folder,
    date_semantics: "every object under <source>/YYYY/MM/DD/ for the logical date (ALB files are \
foldered by the UTC end time of their 5-minute interval)",
    examples: "\
  push-logs --date 2026-11-20 \\
    --source s3://acme-logs/AWSLogs/123456789012/elasticloadbalancing/us-east-1 \\
    --table push_proxy.logs_us_new --lake /data/lake
  INGEST_DATE=2026-11-20 INGEST_SOURCE=./sample/AWSLogs/123456789012/elasticloadbalancing/us-east-1 \\
    INGEST_TABLE=push_proxy.logs_us_new push-logs
",
};

fn alb_date_folder(date: Date) -> KeySelection {
    KeySelection {
        list_prefix: format!("/{}/", date.slash_path()),
        suffix: None,
    }
}

fn main() -> ExitCode {
    ingest_runtime::job::main(&JOB)
}
