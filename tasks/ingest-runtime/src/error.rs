//! Failure kinds of a run and the exit codes they map to (documented in docs/contract.md).

use std::fmt;

/// What kind of failure ended a run; decides the exit code and the alert's wording.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureKind {
    /// A bug: a panic or an invariant broken. Exit 1.
    Internal,
    /// Bad options, environment or permissions: fix the deployment. Exit 2.
    Config,
    /// The input is bad: too many rejects, corrupt or missing files. Exit 3.
    Data,
    /// S3, the lake or the warehouse was unavailable after retries: re-run later. Exit 4.
    Transient,
    /// The run reached its time limit (`--deadline-seconds`, the pod's `activeDeadlineSeconds`)
    /// and stopped, committing nothing. A retry would hit the same limit. Exit 5.
    OutOfTime,
    /// SIGTERM/SIGINT: nothing was committed. Exit 130.
    Interrupted,
}

impl FailureKind {
    pub fn exit_code(self) -> i32 {
        match self {
            FailureKind::Internal => 1,
            FailureKind::Config => 2,
            FailureKind::Data => 3,
            FailureKind::Transient => 4,
            FailureKind::OutOfTime => 5,
            FailureKind::Interrupted => 130,
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            FailureKind::Internal => "internal error",
            FailureKind::Config => "configuration error",
            FailureKind::Data => "data error",
            FailureKind::Transient => "transient infrastructure error",
            FailureKind::OutOfTime => "out of time",
            FailureKind::Interrupted => "interrupted",
        }
    }

    /// A retry of the same date would fail the same way (same code, same files, same limit):
    /// such a failure is final at once, so the binary alerts on the first try.
    pub fn is_deterministic(self) -> bool {
        match self {
            FailureKind::Internal
            | FailureKind::Config
            | FailureKind::Data
            | FailureKind::OutOfTime => true,
            FailureKind::Transient | FailureKind::Interrupted => false,
        }
    }

    /// All codes, for `--help` and the contract.
    pub const ALL: [FailureKind; 6] = [
        FailureKind::Internal,
        FailureKind::Config,
        FailureKind::Data,
        FailureKind::Transient,
        FailureKind::OutOfTime,
        FailureKind::Interrupted,
    ];
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

#[cfg(test)]
mod failure_kind_tests {
    use super::*;

    #[test]
    fn human_durations() {
        assert_eq!(human_duration(0), "0 s");
        assert_eq!(human_duration(45), "45 s");
        assert_eq!(human_duration(200), "3 min 20 s");
        assert_eq!(human_duration(7200), "2 h");
        assert_eq!(human_duration(6840), "1 h 54 min");
        assert_eq!(human_duration(6845), "1 h 54 min");
    }

    #[test]
    fn only_transient_and_interrupted_are_retried() {
        let retried: Vec<i32> = FailureKind::ALL
            .iter()
            .filter(|k| !k.is_deterministic())
            .map(|k| k.exit_code())
            .collect();
        assert_eq!(retried, [4, 130]);
        assert_eq!(FailureKind::OutOfTime.exit_code(), 5);
    }

    #[test]
    fn out_of_time_says_the_limit_progress_and_how_to_raise_it() {
        let err = RunError::OutOfTime {
            limit_s: 7200,
            elapsed_s: 6840,
            files_read: 812,
            files_total: 2000,
            dag_file: "dags/push_logs.py".into(),
            threads: 2,
            by_signal: false,
        };
        let text = err.to_string();
        for needle in [
            "ran out of time",
            "2 h (7200 s",
            "812 of 2000 files",
            "IngestJob(timeout=...) in dags/push_logs.py",
            "--threads 2",
            "nothing was committed",
        ] {
            assert!(text.contains(needle), "{needle} not in {text}");
        }
        assert_eq!(err.kind(), FailureKind::OutOfTime);
    }
}

/// Why a run failed. Each variant says where (file, line, location) and what was expected.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{0}")]
    Config(String),

    #[error(
        "no input files for {date} under {locations} (a day of these logs always has files, so this usually means a wrong --source; pass --allow-empty if an empty day is expected)"
    )]
    NoInput { date: String, locations: String },

    #[error(
        "{rejected} of {total} lines rejected ({ratio:.4}), over --max-reject-ratio {max}; the table was left unchanged and the rejects were stored in {rejects_table} dt={date}"
    )]
    TooManyRejects {
        rejected: u64,
        total: u64,
        ratio: f64,
        max: f64,
        rejects_table: String,
        date: String,
    },

    #[error("cannot read {key} at line {line}: the file is corrupt or truncated")]
    CorruptObject {
        key: String,
        line: u64,
        #[source]
        source: std::io::Error,
    },

    #[error("cannot load {key}: {message}")]
    BadObject { key: String, message: String },

    #[error(transparent)]
    Source(#[from] crate::source::SourceError),

    #[error(transparent)]
    Secrets(#[from] crate::secrets_manager::SecretsManagerError),

    #[error("writing the lake at {location} failed")]
    Lake {
        location: String,
        #[source]
        source: crate::lake::LakeError,
    },

    #[error("loading into {target} failed")]
    Warehouse {
        target: String,
        #[source]
        source: Box<crate::warehouse::WarehouseError>,
    },

    #[error("interrupted by {0}; nothing was committed")]
    Interrupted(&'static str),

    #[error("{}", out_of_time_message(self))]
    OutOfTime {
        /// `--deadline-seconds`.
        limit_s: u64,
        /// Seconds since the process started, when the run stopped.
        elapsed_s: u64,
        files_read: u64,
        files_total: u64,
        /// `dags/<job>.py`, where `IngestJob(timeout=...)` sets the limit.
        dag_file: String,
        threads: usize,
        /// Stopped by the kubelet's SIGTERM at the deadline (else: by its own timer, just before).
        by_signal: bool,
    },

    /// A stop (signal or time limit) that did not finish within the shutdown budget: the run was
    /// left behind so that the summary and the alert still go out before Kubernetes' SIGKILL.
    #[error(
        "{cause}; stopping did not finish within {budget_s} s, so the run was abandoned (a step such as a warehouse or S3 call did not return in time). Its staging is removed by a later run; re-running the date replaces whatever it left"
    )]
    Abandoned {
        cause: String,
        budget_s: u64,
        kind: FailureKind,
    },

    #[error("internal error: {0}")]
    Internal(String),
}

impl RunError {
    pub fn kind(&self) -> FailureKind {
        match self {
            RunError::Config(_) => FailureKind::Config,
            RunError::NoInput { .. }
            | RunError::TooManyRejects { .. }
            | RunError::CorruptObject { .. }
            | RunError::BadObject { .. } => FailureKind::Data,
            RunError::Source(e) => e.kind(),
            RunError::Secrets(e) => e.kind(),
            RunError::Lake { source, .. } => source.kind(),
            RunError::Warehouse { source, .. } => source.kind(),
            RunError::Interrupted(_) => FailureKind::Interrupted,
            RunError::OutOfTime { .. } => FailureKind::OutOfTime,
            RunError::Abandoned { kind, .. } => *kind,
            RunError::Internal(_) => FailureKind::Internal,
        }
    }
}

fn out_of_time_message(err: &RunError) -> String {
    let RunError::OutOfTime {
        limit_s,
        elapsed_s,
        files_read,
        files_total,
        dag_file,
        threads,
        by_signal,
    } = err
    else {
        return String::new();
    };
    let how = if *by_signal {
        "Kubernetes stopped it (SIGTERM at the deadline)"
    } else {
        "it stopped itself just before the deadline"
    };
    format!(
        "ran out of time: the limit for one run is {} ({limit_s} s, the pod's activeDeadlineSeconds, --deadline-seconds); {how} after {} with {files_read} of {files_total} files read; nothing was committed. A retry would hit the same limit: raise it with IngestJob(timeout=...) in {dag_file}, or make the run faster with more CPU (IngestJob(cpu=...), which also sets --threads; this run had --threads {threads})",
        human_duration(*limit_s),
        human_duration(*elapsed_s),
    )
}

/// `7200` -> "2 h", `6840` -> "1 h 54 min", `200` -> "3 min 20 s".
pub fn human_duration(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    let mut parts = Vec::new();
    if h > 0 {
        parts.push(format!("{h} h"));
    }
    if m > 0 {
        parts.push(format!("{m} min"));
    }
    // Seconds matter only for short durations.
    if (s > 0 && h == 0) || parts.is_empty() {
        parts.push(format!("{s} s"));
    }
    parts.join(" ")
}

/// The error and all its sources, top first: what on-call reads.
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> Vec<String> {
    let mut chain = vec![err.to_string()];
    let mut cur = err.source();
    while let Some(e) = cur {
        let msg = e.to_string();
        // Some errors repeat their source's message; keep the chain readable.
        if chain.last() != Some(&msg) {
            chain.push(msg);
        }
        cur = e.source();
    }
    chain
}
