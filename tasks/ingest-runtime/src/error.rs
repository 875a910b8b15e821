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
            FailureKind::Interrupted => 130,
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            FailureKind::Internal => "internal error",
            FailureKind::Config => "configuration error",
            FailureKind::Data => "data error",
            FailureKind::Transient => "transient infrastructure error",
            FailureKind::Interrupted => "interrupted",
        }
    }

    /// All codes, for `--help` and the contract.
    pub const ALL: [FailureKind; 5] = [
        FailureKind::Internal,
        FailureKind::Config,
        FailureKind::Data,
        FailureKind::Transient,
        FailureKind::Interrupted,
    ];
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
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

    /// Scratch space in `$TMPDIR` ran out (or failed): transient, the message says which limit.
    #[error(transparent)]
    TempSpace(#[from] crate::format::TempSpaceError),

    #[error("interrupted by {0}; nothing was committed")]
    Interrupted(&'static str),

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
            RunError::TempSpace(_) => FailureKind::Transient,
            RunError::Interrupted(_) => FailureKind::Interrupted,
            RunError::Internal(_) => FailureKind::Internal,
        }
    }
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
