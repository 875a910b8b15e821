//! What a failed run tells on-call: the alert's contents (the error, the counts, the command
//! that re-runs the date, and for too many rejects the ratio that would pass and where to look),
//! and whether this try posts it or leaves it to the last one.

use std::sync::atomic::Ordering;

use ingest_format::format::RecordFormat;

use super::JobSpec;
use crate::config::{CommonArgs, shell_quote, without_credentials};
use crate::error::{FailureKind, RunError, error_chain};
use crate::notify::alert::{AirflowContext, AlertConfig, AlertDecision, AlertSection, Failure};
use crate::run::{Counters, RunConfig};

/// The command that re-runs this date as the pod ran it, with the same non-secret options
/// (secrets come from the environment; `--max-tries` and `--deadline-seconds` are Airflow's
/// business, not a re-run's). `max_reject_ratio` overrides the run's own.
pub(super) fn rerun_command<F: RecordFormat>(
    spec: &JobSpec<F>,
    args: &CommonArgs,
    threads: Option<usize>,
    max_reject_ratio: Option<&str>,
) -> String {
    let q = |v: &str| shell_quote(&without_credentials(v));
    let mut parts = vec![spec.name.to_owned()];
    if let Some(d) = args.date {
        parts.push(format!("--date {d}"));
    }
    for s in &args.sources {
        parts.push(format!("--source {}", q(s)));
    }
    if let Some(t) = &args.table {
        parts.push(format!("--table {}", shell_quote(t)));
    }
    parts.push(format!("--lake {}", q(&args.lake)));
    if let Some(w) = args.warehouse.as_deref().filter(|w| !w.trim().is_empty()) {
        // One redaction for warehouse URLs: it also catches `user:pass/...` with no `@`.
        parts.push(format!(
            "--warehouse {}",
            shell_quote(&crate::warehouse::redacted_url(w))
        ));
    }
    if let Some(u) = args
        .warehouse_user
        .as_deref()
        .filter(|u| !u.trim().is_empty())
    {
        parts.push(format!("--warehouse-user {}", shell_quote(u.trim())));
    }
    match max_reject_ratio {
        Some(r) => parts.push(format!("--max-reject-ratio {r}")),
        None if (args.max_reject_ratio - 0.01).abs() > f64::EPSILON => {
            parts.push(format!("--max-reject-ratio {}", args.max_reject_ratio));
        }
        None => {}
    }
    if args.allow_empty {
        parts.push("--allow-empty".into());
    }
    if args.dry_run {
        parts.push("--dry-run".into());
    }
    if let Some(n) = threads.or(args.threads.map(usize::from)) {
        parts.push(format!("--threads {n}"));
    }
    if let Some(e) = &args.s3_endpoint {
        parts.push(format!("--s3-endpoint {}", q(e)));
    }
    if args.s3_force_path_style {
        parts.push("--s3-force-path-style".into());
    }
    if args.s3_max_attempts != 5 {
        parts.push(format!("--s3-max-attempts {}", args.s3_max_attempts));
    }
    if args.lake_lease_seconds != 60 {
        parts.push(format!("--lake-lease-seconds {}", args.lake_lease_seconds));
    }
    parts.join(" ")
}

/// The smallest `--max-reject-ratio`, at two significant digits, that lets a run with
/// `rejected` of `total` lines rejected pass (the check fails when the ratio is *over* the
/// limit). Rounded up in exact integer arithmetic: the printed decimal is never below
/// rejected / total, so the run passes with exactly the printed value.
pub fn passing_reject_ratio(rejected: u64, total: u64) -> String {
    if total == 0 || rejected >= total {
        return "1".into();
    }
    let (r, t) = (u128::from(rejected), u128::from(total));
    // Decimal places k: the fewest (at least 2) that give two significant digits.
    let mut k = 2u32;
    while k < 12 && r * 10u128.pow(k) / t < 10 {
        k += 1;
    }
    let scale = 10u128.pow(k);
    let units = (r * scale).div_ceil(t);
    if units >= scale {
        return "1".into();
    }
    let digits = format!("{units:0>width$}", width = k as usize);
    let text = format!("0.{digits}");
    text.trim_end_matches('0').to_owned()
}

/// For too many rejects: the ratio that would pass and its command, and where to look.
pub(super) fn reject_sections<F: RecordFormat>(
    spec: &JobSpec<F>,
    args: &CommonArgs,
    config: &RunConfig,
    rejected: u64,
    total: u64,
) -> Vec<AlertSection> {
    let ratio = passing_reject_ratio(rejected, total);
    let rejects = config.table.rejects();
    let partition = config.lake.join(&rejects.partition_path(config.date));
    let glob = format!("{}/*.parquet", partition.trim_end_matches('/')).replace('\'', "''");
    let mut sql = String::new();
    if config.lake.is_s3() {
        sql.push_str("-- DuckDB on S3: INSTALL httpfs; LOAD httpfs; CREATE SECRET (TYPE s3, PROVIDER credential_chain);\n");
    }
    sql.push_str(&format!(
        "SELECT reason, count(*) AS lines, min(_source_key || ':' || _source_line) AS first\nFROM read_parquet('{glob}')\nGROUP BY reason ORDER BY lines DESC LIMIT 20;\n\nSELECT _source_key, _source_line, reason, raw_line\nFROM read_parquet('{glob}')\nORDER BY _source_key, _source_line LIMIT 100;"
    ));
    let mut sections = vec![
        AlertSection {
            title: "Accept these rejects".into(),
            text: format!(
                "{rejected} of {total} lines were rejected: --max-reject-ratio {ratio} lets this run pass. Only if these lines are expected to be bad (they stay in {rejects}):"
            ),
            lang: "sh",
            code: rerun_command(spec, args, Some(config.threads), Some(&ratio)),
        },
        AlertSection {
            title: "Look at the rejects".into(),
            text: format!("The rejects partition in the lake ({partition}), with DuckDB:"),
            lang: "sql",
            code: sql,
        },
    ];
    if let Some(warehouse) = &config.warehouse {
        let table = warehouse.config.qualified(&rejects);
        sections.push(AlertSection {
            title: "In Snowflake".into(),
            text: format!("The rejects table is {table}:"),
            lang: "sql",
            code: format!(
                "SELECT reason, count(*) AS lines FROM {table}\nWHERE \"DT\" = '{}'::DATE GROUP BY reason ORDER BY lines DESC;",
                config.date
            ),
        });
    }
    sections
}

pub(super) fn failure_for<F: RecordFormat>(
    spec: &JobSpec<F>,
    args: &CommonArgs,
    config: Option<&RunConfig>,
    err: &RunError,
    counters: &Counters,
) -> Failure {
    Failure {
        job: spec.name.to_owned(),
        date: args.date.map(|d| d.to_string()).unwrap_or_default(),
        table: config
            .map(|c| c.table.to_string())
            .or_else(|| args.table.clone())
            .unwrap_or_default(),
        run_id: config.map(|c| c.run_id.clone()).unwrap_or_default(),
        exit_code: err.kind().exit_code(),
        kind: err.kind().describe().to_owned(),
        error_chain: error_chain(err),
        files_read: counters.files_done.load(Ordering::Relaxed),
        files_total: counters.files_total.load(Ordering::Relaxed),
        rows_loaded: counters.rows_loaded.load(Ordering::Relaxed),
        rows_rejected: counters.rows_rejected.load(Ordering::Relaxed),
        sample_rejects: counters.samples.lock().expect("samples lock").clone(),
        rerun_command: rerun_command(spec, args, config.map(|c| c.threads), None),
        sections: match (err, config) {
            (
                RunError::TooManyRejects {
                    rejected, total, ..
                },
                Some(config),
            ) => reject_sections(spec, args, config, *rejected, *total),
            _ => Vec::new(),
        },
        airflow: AirflowContext::from_env(),
    }
}

/// Posts the alert, or defers it to the last try (docs/contract.md, "Who alerts").
/// Returns (sent, deferred).
pub(super) async fn alert_or_defer(
    alerts: &AlertConfig,
    failure: &Failure,
    args: &CommonArgs,
    kind: FailureKind,
) -> (bool, bool) {
    let try_number = failure
        .airflow
        .as_ref()
        .and_then(|a| a.try_number.as_deref());
    match crate::notify::alert::decide(kind, try_number, args.max_tries.as_deref()) {
        AlertDecision::Defer {
            try_number,
            max_tries,
        } => {
            tracing::warn!(
                try_number,
                max_tries,
                exit_code = kind.exit_code(),
                "not posting the failure alert: Airflow retries this task (try {try_number} of {max_tries}); the last try posts if it fails too"
            );
            (false, true)
        }
        AlertDecision::Post(reason) => {
            tracing::debug!(?reason, "posting the failure alert");
            (send_alert(alerts, failure).await, false)
        }
    }
}

pub(super) async fn send_alert(alerts: &AlertConfig, failure: &Failure) -> bool {
    match crate::notify::alert::send_failure_alert(alerts, failure).await {
        Ok(crate::notify::alert::AlertOutcome::Sent) => {
            tracing::info!("failure alert posted");
            true
        }
        Ok(_) => false,
        Err(err) => {
            // WebhookError never contains the webhook URL.
            tracing::error!(error = %error_chain(&err).join(": "), "could not post the failure alert");
            false
        }
    }
}
