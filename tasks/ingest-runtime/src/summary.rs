//! The one run summary per run: a JSON line on stdout in pods (and in the Kubernetes termination
//! message), a readable table on a terminal.

use std::io::Write;
use std::sync::atomic::Ordering;
use std::time::Duration;

use serde::Serialize;

use crate::run::Counters;

#[derive(Debug, Serialize)]
pub struct RunSummary {
    pub event: &'static str,
    pub job: String,
    pub date: String,
    pub table: String,
    pub run_id: String,
    pub status: &'static str,
    pub exit_code: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_kind: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub files: u64,
    pub files_total: u64,
    pub bytes_compressed: u64,
    pub bytes_uncompressed: u64,
    pub rows_loaded: u64,
    pub rows_rejected: u64,
    pub counters: serde_json::Map<String, serde_json::Value>,
    pub duration_s: f64,
    pub mb_per_s: f64,
    pub rows_per_s: f64,
    pub dry_run: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partition: Option<String>,
    pub alert_sent: bool,
    /// The binary did not post because Airflow retries this failure (try < max tries, and the
    /// failure is transient or an interruption): the last try posts if it fails too, and the
    /// DAG's notifier stays silent (docs/contract.md, "Who alerts").
    pub alert_deferred: bool,
}

impl RunSummary {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        job: &str,
        date: String,
        table: String,
        run_id: String,
        counters: &Counters,
        elapsed: Duration,
        dry_run: bool,
    ) -> RunSummary {
        let secs = elapsed.as_secs_f64().max(1e-9);
        let uncompressed = counters.bytes_uncompressed.load(Ordering::Relaxed);
        let rows = counters.rows_loaded.load(Ordering::Relaxed);
        let rejected = counters.rows_rejected.load(Ordering::Relaxed);
        let named = counters
            .named
            .lock()
            .expect("counter lock")
            .iter()
            .map(|(k, v)| ((*k).to_owned(), serde_json::Value::from(*v)))
            .collect();
        RunSummary {
            event: "run_summary",
            job: job.to_owned(),
            date,
            table,
            run_id,
            status: "succeeded",
            exit_code: 0,
            error_kind: None,
            error: None,
            files: counters.files_done.load(Ordering::Relaxed),
            files_total: counters.files_total.load(Ordering::Relaxed),
            bytes_compressed: counters.bytes_compressed.load(Ordering::Relaxed),
            bytes_uncompressed: uncompressed,
            rows_loaded: rows,
            rows_rejected: rejected,
            counters: named,
            duration_s: round3(secs),
            mb_per_s: round3(uncompressed as f64 / 1e6 / secs),
            rows_per_s: round3((rows + rejected) as f64 / secs),
            dry_run,
            partition: None,
            alert_sent: false,
            alert_deferred: false,
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("summary serializes")
    }

    /// Prints the summary: JSON line or table.
    pub fn print(&self, human: bool) {
        let mut out = std::io::stdout().lock();
        if human {
            let _ = writeln!(out, "{}", self.table_text());
        } else {
            let _ = writeln!(out, "{}", self.to_json());
        }
        let _ = out.flush();
    }

    fn table_text(&self) -> String {
        let mut rows: Vec<(&str, String)> = vec![
            ("job", self.job.clone()),
            ("date", self.date.clone()),
            ("table", self.table.clone()),
            (
                "status",
                format!("{} (exit {})", self.status, self.exit_code),
            ),
        ];
        if let Some(e) = &self.error {
            rows.push(("error", e.clone()));
            let alert = match (self.alert_sent, self.alert_deferred) {
                (true, _) => "posted",
                (false, true) => "deferred: Airflow retries; the last try posts",
                (false, false) => "not posted",
            };
            rows.push(("alert", alert.into()));
        }
        rows.extend([
            ("files", format!("{} of {}", self.files, self.files_total)),
            (
                "bytes",
                format!(
                    "{} compressed, {} uncompressed",
                    human_bytes(self.bytes_compressed),
                    human_bytes(self.bytes_uncompressed)
                ),
            ),
            ("rows loaded", self.rows_loaded.to_string()),
            ("rows rejected", self.rows_rejected.to_string()),
        ]);
        for (k, v) in &self.counters {
            rows.push(("counter", format!("{k} = {v}")));
        }
        rows.extend([
            ("duration", format!("{:.2} s", self.duration_s)),
            (
                "throughput",
                format!("{:.1} MB/s, {:.0} rows/s", self.mb_per_s, self.rows_per_s),
            ),
            ("run id", self.run_id.clone()),
        ]);
        if let Some(p) = &self.partition {
            rows.push(("partition", p.clone()));
        }
        if self.dry_run {
            rows.push(("dry run", "nothing written".into()));
        }
        let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        rows.iter()
            .map(|(k, v)| format!("  {k:<width$}  {v}"))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Writes the compact summary to the Kubernetes termination message file, when present.
    /// The DAG's failure callback reads `alert_sent` there.
    pub fn write_termination_message(&self) {
        write_termination_message(self.to_json(), || {
            let mut short = serde_json::json!({
                "event": "run_summary", "job": self.job, "date": self.date,
                "exit_code": self.exit_code, "status": self.status, "alert_sent": self.alert_sent,
                "alert_deferred": self.alert_deferred, "error_kind": self.error_kind,
            });
            if let Some(e) = &self.error {
                short["error"] = e.chars().take(2000).collect::<String>().into();
            }
            short.to_string()
        });
    }
}

/// The longest termination message written whole: the kubelet keeps at most 4096 bytes.
pub const TERMINATION_MESSAGE_BYTES: usize = 4000;

/// Writes `text` to Kubernetes' termination message file (`INGEST_TERMINATION_LOG`, default
/// `/dev/termination-log`) when it can be opened; outside a pod there is none and nothing
/// happens. Text longer than [`TERMINATION_MESSAGE_BYTES`] is replaced by `short()`, which keeps
/// what readers of the message need (the exit code, whether an alert went out). The jobs' run
/// summary and preflight's result both go through here.
pub fn write_termination_message(text: String, short: impl FnOnce() -> String) {
    let path = std::env::var("INGEST_TERMINATION_LOG")
        .unwrap_or_else(|_| "/dev/termination-log".to_owned());
    let text = if text.len() > TERMINATION_MESSAGE_BYTES {
        short()
    } else {
        text
    };
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(&path)
    {
        let _ = f.write_all(text.as_bytes());
    }
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}
