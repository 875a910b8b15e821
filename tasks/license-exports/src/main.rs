//! `license-exports`: loads the nightly license metadata CSV export into the lake.

use std::process::ExitCode;

use ingest_format::time::Date;
use ingest_runtime::job::JobSpec;
use ingest_runtime::source::KeySelection;

static JOB: JobSpec<license_exports::LicenseFormat> = JobSpec {
    name: "license-exports",
    about: "Load the nightly license metadata CSV export into the lake.",
    long_about: "\
Reads the license export for the date and replaces the date's partition of --table with its rows. \
Columns are mapped by header name, in any order; customerid, licenseid, issuedat, expiresat and \
number are required (a file without one of them fails with exit 3, naming it), company, email and \
stripeid are NULL when the export lacks them. Quoted fields may contain commas, doubled quotes \
and line breaks; a UTF-8 byte order mark and CRLF line ends are fine. issuedat and expiresat \
(epoch milliseconds) become UTC timestamps; the milliseconds are kept as issuedat_ms and \
expiresat_ms. Records that do not parse go to <table>_rejects with their line number.

Which file a date reads: the export is written at the end of the day before the date in its \
name, so --date D (Airflow's ds) reads the file named for D+1: it holds the licenses as of the \
end of D. (The old loader did the same by running with Airflow's next_ds.)

--source is the directory (prefix) the exports are written to, s3://<bucket>/<prefix> or a local \
directory.",
    format: &license_exports::LicenseFormat,
    default_table: Some("licenses.licenses"),
    select: next_day_export,
    date_semantics: "the export named for the NEXT day: every object under <source>/ whose key \
ends with <D+1>.csv, e.g. licenses-2026-11-21.csv for --date 2026-11-20 (the export named for a \
day is written at the end of the previous one, so it is the state as of the end of D; the old \
loader ran with Airflow's next_ds)",
    examples: "\
  license-exports --date 2026-11-20 --source s3://acme-exports/licenses \\
    --table licenses.licenses --lake /data/lake      # reads .../licenses-2026-11-21.csv
",
};

/// Keys under `<source>/` ending with `<D+1>.csv`.
fn next_day_export(date: Date) -> KeySelection {
    KeySelection {
        list_prefix: "/".to_owned(),
        suffix: Some(format!("{}.csv", date.add_days(1))),
    }
}

fn main() -> ExitCode {
    ingest_runtime::job::main(&JOB)
}
