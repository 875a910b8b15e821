//! Failure kinds of a run and the exit codes they map to (documented in docs/contract.md).

use std::fmt;

use ingest_format::format::TempSpaceError;

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
    Secrets(#[from] crate::secrets::manager::SecretsManagerError),

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

    /// Scratch space in `$TMPDIR` ran out (or failed): transient, the message names the directory,
    /// its free and total size (for a sized `emptyDir` on tmpfs the total is the pod's
    /// `sizeLimit`) and what to raise.
    #[error(
        "{what} in $TMPDIR ({dir}: {space}) failed; give $TMPDIR more room (the pod's /tmp emptyDir and its sizeLimit) and re-run"
    )]
    TempSpace {
        what: String,
        dir: String,
        space: String,
        #[source]
        source: std::io::Error,
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
            RunError::TempSpace { .. } => FailureKind::Transient,
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

/// Bytes kept of each cause line of [`error_chain`]: long enough for a message with its fix and
/// an S3 URL, short enough that one cause cannot bury the others.
pub const CAUSE_LINE_BYTES: usize = 800;

/// The error and all its sources, top first, one cleaned and bounded line each: what on-call
/// reads in logs, the run summary, the termination message and the alert.
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> Vec<String> {
    let mut chain: Vec<String> = Vec::new();
    let mut cur = Some(err);
    while let Some(e) = cur {
        let msg = clean_cause(&e.to_string());
        // Some errors repeat their source's message (or print nothing); keep the chain readable.
        if !msg.is_empty() && chain.last() != Some(&msg) {
            chain.push(msg);
        }
        cur = e.source();
    }
    if chain.is_empty() {
        chain.push("(no error message)".to_owned());
    }
    chain
}

/// Markers of a Rust `Debug` rendering of SDK or HTTP structs (`DisplayErrorContext` appends
/// one; the SDK's `ErrorMetadata` displays as one): never shown to on-call.
const DEBUG_MARKERS: &[&str] = &[
    "{ source:",
    "StatusCode(",
    "SdkBody",
    "DispatchFailure(",
    "ConnectorError {",
    "ServiceError(",
    "ServiceError {",
    "TimeoutError(",
    "ResponseError(",
    "Response {",
    "HeaderMap",
    "Error { code:",
    "Os { code:",
    "Custom { kind:",
    "Unhandled {",
];

/// Whether `text` contains a `Debug` rendering of a struct (see [`DEBUG_MARKERS`]), or the
/// generic shape `Name { field: ` of one.
pub fn looks_like_debug(text: &str) -> bool {
    debug_start(text).is_some()
}

/// Where the first `Debug` rendering in `text` starts.
fn debug_start(text: &str) -> Option<usize> {
    let marked = DEBUG_MARKERS.iter().filter_map(|m| text.find(m)).min();
    // `Name { field: ` with an upper-case type name and a snake_case field.
    let bytes = text.as_bytes();
    let shaped = text.match_indices(" { ").find_map(|(i, _)| {
        let name_start = text[..i]
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .map_or(0, |p| p + 1);
        let name = &text[name_start..i];
        let field_end = text[i + 3..]
            .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
            .map(|p| i + 3 + p)?;
        let is_type = name.chars().next().is_some_and(|c| c.is_ascii_uppercase());
        (is_type && field_end > i + 3 && bytes.get(field_end) == Some(&b':')).then_some(name_start)
    });
    match (marked, shaped) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// One cause as one line: whitespace collapsed, a `Debug` rendering cut off (with a note),
/// bounded to [`CAUSE_LINE_BYTES`].
pub fn clean_cause(text: &str) -> String {
    let mut line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if let Some(start) = debug_start(&line) {
        line.truncate(start);
        let kept = line.trim_end_matches([' ', '(', ':', ',', '{', '[']).len();
        line.truncate(kept);
        line.push_str(if kept == 0 {
            "(SDK details omitted)"
        } else {
            " (SDK details omitted)"
        });
    }
    if line.len() > CAUSE_LINE_BYTES {
        let mut end = CAUSE_LINE_BYTES;
        while !line.is_char_boundary(end) {
            end -= 1;
        }
        line.truncate(end);
        line.push('…');
    }
    line
}

/// The format says what failed; the run adds where and how much room there was, measured now.
impl From<TempSpaceError> for RunError {
    fn from(err: TempSpaceError) -> RunError {
        let dir = std::env::temp_dir();
        let space = match rustix::fs::statvfs(&dir) {
            Ok(st) => format!(
                "{} free of {}",
                crate::summary::human_bytes(st.f_bavail.saturating_mul(st.f_frsize)),
                crate::summary::human_bytes(st.f_blocks.saturating_mul(st.f_frsize))
            ),
            Err(e) => format!("size unknown: {e}"),
        };
        RunError::TempSpace {
            what: err.what,
            dir: dir.display().to_string(),
            space,
            source: err.source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("{0}")]
    struct E(String, #[source] Option<Box<E>>);

    #[test]
    fn chains_are_display_lines_without_debug_dumps() {
        let dump = "dispatch failure (DispatchFailure(DispatchFailure { source: ConnectorError { kind: Other(None), source: ProviderError(ProviderError { source: FailedToLoadToken(FailedToLoadToken { source: ServiceError(ServiceError { source: Unhandled, raw: Response { status: StatusCode(403), headers: Headers { headers: {} }, body: SdkBody { inner: Once(None) } } }) }) }) } }))";
        let err = E(
            "S3 is unavailable".into(),
            Some(Box::new(E(
                dump.into(),
                Some(Box::new(E("x\n  y".into(), None))),
            ))),
        );
        let chain = error_chain(&err);
        assert_eq!(chain[0], "S3 is unavailable");
        assert_eq!(chain[1], "dispatch failure (SDK details omitted)");
        for line in &chain {
            assert!(!looks_like_debug(line), "{line}");
        }
        let long = E("é".repeat(CAUSE_LINE_BYTES), None);
        let chain = error_chain(&long);
        assert!(chain[0].len() <= CAUSE_LINE_BYTES + '…'.len_utf8());
    }

    #[test]
    fn debug_shapes_are_recognized_and_prose_is_not() {
        for dump in [
            "Error { code: \"AccessDenied\", message: \"x\" }",
            "Os { code: 2, kind: NotFound, message: \"No such file\" }",
            "TimeoutError(TimeoutError { source: x })",
            "Foo { bar_baz: 1 }",
            "status: StatusCode(403)",
        ] {
            assert!(looks_like_debug(dump), "{dump}");
        }
        for prose in [
            "S3 GetObject s3://b/k: AccessDenied: Access Denied (HTTP 403, request id 1234)",
            "no AWS credentials found (tried environment variables (AWS_ACCESS_KEY_ID not set))",
            "expected { \"key\": value } in the secret",
            "a { b: c } lower-case names are prose",
        ] {
            assert!(!looks_like_debug(prose), "{prose}");
        }
    }
}
