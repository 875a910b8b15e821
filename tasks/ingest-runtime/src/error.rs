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
