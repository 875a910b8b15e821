//! `preflight --check-freshness`: the watchdog outside Airflow (docs/preflight.md, "The
//! watchdog"). A DAG's deadline alert needs a DAG run; a paused DAG, a DAG that does not import
//! or a stopped scheduler creates none, and nothing alerts. This mode, run by a Kubernetes
//! CronJob, looks at the lake itself: for each due date of the window ([`due`]) it checks that
//! every table of the jobs ([`tables`]) has a committed partition ([`store`]), and posts one
//! alert per date that has not ([`message`]), once.
//!
//! **Once, and never lost.** The date's marker is written *after* a successful post, put if
//! absent. A run that crashes or is killed between the post and the marker leaves no marker,
//! so the next run posts again: at least once, a rare duplicate rather than a lost alert (the
//! other order, marker first, would lose the alert for good on such a crash, and nothing else
//! would ever report the date). A failed post writes no marker, so the next run retries it. The
//! CronJob's `concurrencyPolicy: Forbid` keeps two runs from posting the same date at once.

pub mod due;
pub mod message;
pub mod store;
pub mod tables;

use ingest_runtime::notify::mattermost::log_line;
use ingest_runtime::secrets::Secret;
use ingest_runtime::time::Date;
use serde::Serialize;

use crate::report::Status;
use crate::webhook::{self, PostOptions};
use due::Window;
use store::{MarkerPut, Store};
use tables::Watched;

/// What happened to a date's alert.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    /// Every table is loaded.
    NotNeeded,
    /// Posted by this run (and the marker written, unless `error` says otherwise).
    Sent,
    /// A marker says an earlier run posted it: nothing posted.
    AlreadySent,
    /// Not posted (see `error`): the next run tries again.
    Failed,
    /// The tables could not all be checked (see `error`).
    Unchecked,
}

/// The result for one date: the JSON summary's `dates` entries.
#[derive(Clone, Debug, Serialize)]
pub struct DateReport {
    pub date: String,
    pub due: String,
    pub loaded: Vec<String>,
    pub missing: Vec<String>,
    pub alert: AlertState,
    pub marker: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip)]
    pub status: Status,
}

/// Everything a run needs.
pub struct Run<'a> {
    pub store: &'a Store,
    pub lake: &'a str,
    pub tables: &'a [Watched],
    pub window: Window,
    pub webhook: Option<&'a Secret>,
    pub post: &'a PostOptions,
}

/// Checks every due date of the window; posts and marks the dates not loaded.
pub async fn run(run: &Run<'_>) -> Vec<DateReport> {
    let dates = due::due_dates(&run.window);
    if dates.is_empty() {
        return Vec::new();
    }
    let access = run.store.check_access().await;
    let mut reports = Vec::new();
    for date in dates {
        reports.push(match &access {
            Ok(()) => check_date(run, date).await,
            Err(err) => fail(
                new_report(run, date),
                AlertState::Unchecked,
                err.status,
                err.detail.clone(),
            ),
        });
    }
    reports
}

fn new_report(run: &Run<'_>, date: Date) -> DateReport {
    DateReport {
        date: date.to_string(),
        due: due::format_rfc3339(due::due_at(date, run.window.due_after_secs)),
        loaded: Vec::new(),
        missing: Vec::new(),
        alert: AlertState::NotNeeded,
        marker: run.store.marker(date),
        error: None,
        status: Status::Ok,
    }
}

async fn check_date(run: &Run<'_>, date: Date) -> DateReport {
    let due_secs = due::due_at(date, run.window.due_after_secs);
    let mut report = new_report(run, date);
    let mut missing: Vec<&Watched> = Vec::new();
    for watched in run.tables {
        match run.store.committed(&watched.table, date).await {
            Ok(true) => report.loaded.push(watched.table.to_string()),
            Ok(false) => {
                missing.push(watched);
                report.missing.push(watched.table.to_string());
            }
            // A date half checked is not alerted: the run fails instead, and the CronJob's
            // failed Job says the watchdog cannot see the lake.
            Err(err) => return fail(report, AlertState::Unchecked, err.status, err.detail),
        }
    }
    if missing.is_empty() {
        return report;
    }
    match run.store.read_marker(date).await {
        Ok(Some(text)) => {
            tracing::info!(
                date = %date,
                marker = %report.marker,
                record = %log_line(&text, 300),
                missing = ?report.missing,
                "the date is still not loaded; already alerted, not posting again"
            );
            report.alert = AlertState::AlreadySent;
            return report;
        }
        Ok(None) => {}
        Err(err) => return fail(report, AlertState::Failed, err.status, err.detail),
    }
    let Some(url) = run.webhook else {
        return fail(
            report,
            AlertState::Failed,
            Status::Fail,
            "no webhook: set MATTERMOST_WEBHOOK_URL (the Secret key mattermost-webhook-url) or MATTERMOST_WEBHOOK_URL_SECRET_ID".into(),
        );
    };
    let late = message::Late {
        date,
        due_secs,
        now_secs: run.window.now_secs,
        missing: &missing,
        checked: run.tables.len(),
        lake: run.lake,
        marker: &report.marker,
    };
    if let Err(err) = webhook::send(
        url,
        &message::text(&late),
        run.post,
        Some(message::props(&late)),
    )
    .await
    {
        let (status, detail) = webhook::outcome(&err);
        return fail(
            report,
            AlertState::Failed,
            status,
            format!("{detail}; no marker written, the next run posts again"),
        );
    }
    report.alert = AlertState::Sent;
    tracing::info!(date = %date, missing = ?report.missing, "posted the watchdog alert");
    let record = serde_json::json!({
        "event": "watchdog_alert",
        "date": report.date,
        "due": report.due,
        "alerted_at": due::format_rfc3339(run.window.now_secs),
        "missing": report.missing,
    });
    match run.store.put_marker(date, &record.to_string()).await {
        Ok(MarkerPut::Created) => {}
        Ok(MarkerPut::AlreadyThere) => tracing::warn!(
            date = %date,
            marker = %report.marker,
            "another watchdog run marked this date while this one posted: the channel may show the alert twice"
        ),
        Err(err) => {
            report.status = err.status;
            report.error = Some(format!(
                "posted, but the marker was not written ({}): the next run posts again",
                err.detail
            ));
        }
    }
    report
}

fn fail(mut report: DateReport, alert: AlertState, status: Status, detail: String) -> DateReport {
    report.alert = alert;
    report.status = status;
    report.error = Some(detail);
    report
}

/// The exit code (docs/preflight.md): 0 when every due date is loaded or alerted (now or
/// earlier); 2 when the watchdog cannot do its job for a reason a person must fix (lake access
/// denied, no or a refused webhook); 4 when S3 or the webhook was unavailable (the next run
/// retries). Alerting is the watchdog working, not failing, so a failed Job means "the watchdog
/// is blind or mute", the one thing it cannot post about itself.
pub fn exit_code(reports: &[DateReport]) -> u8 {
    if reports.iter().any(|r| r.status == Status::Fail) {
        2
    } else if reports.iter().any(|r| r.status == Status::Unavailable) {
        4
    } else {
        0
    }
}

/// One line per date, for a person reading `kubectl logs`.
pub fn lines(reports: &[DateReport]) -> String {
    let mut out = String::new();
    for r in reports {
        let what = match r.alert {
            AlertState::NotNeeded => format!("loaded ({} tables)", r.loaded.len()),
            AlertState::Sent => format!("NOT LOADED: {}; alert posted", r.missing.join(", ")),
            AlertState::AlreadySent => format!(
                "NOT LOADED: {}; alerted before (marker {})",
                r.missing.join(", "),
                r.marker
            ),
            AlertState::Failed => format!("NOT LOADED: {}; alert NOT posted", r.missing.join(", ")),
            AlertState::Unchecked => "not checked".to_owned(),
        };
        out.push_str(&format!("{} (due {}): {what}", r.date, r.due));
        if let Some(e) = &r.error {
            out.push_str(&format!(": {e}"));
        }
        out.push('\n');
    }
    out
}
