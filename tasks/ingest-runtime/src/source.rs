//! Where raw files come from: S3 or a local directory with the same key layout.
//!
//! A job says which keys belong to a date as a [`KeySelection`] relative to each `--source`; the
//! source lists them (paginated on S3) and opens each as a blocking `Read` that streams: memory
//! does not grow with the size or number of objects.

mod local;
pub(crate) mod s3;

use std::io::Read;
use std::sync::{Arc, Mutex};

use crate::aws_error::{AwsFailure, AwsProblem, CauseChain};
use crate::error::FailureKind;

/// An S3 client (standard AWS chain, endpoint and path-style options), e.g. for the preflight check.
pub use s3::S3Source;
// The lake names the S3 options through the source's path.
pub use crate::aws_client::S3Options;

/// A `--source` location ([`Location::parse_source`]).
pub type SourceLocation = crate::location::Location;

/// Which keys under a source belong to a date: those starting with `<source><list_prefix>` and,
/// if set, ending with `suffix`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeySelection {
    /// Appended verbatim to the source prefix: `/2026/11/20/` (a folder) or
    /// `.2026-11-20-` (a file-name prefix).
    pub list_prefix: String,
    pub suffix: Option<String>,
}

impl KeySelection {
    fn matches(&self, key: &str) -> bool {
        self.suffix.as_deref().is_none_or(|s| key.ends_with(s))
    }
}

/// One object to load.
#[derive(Clone, Debug)]
pub struct ObjectInfo {
    /// Which `--source` it came from (index into the job's sources).
    pub source: usize,
    /// The S3 key, or the local file path: stored as lineage.
    pub key: String,
    /// Size in bytes as stored (compressed).
    pub size: u64,
}

/// A failure of the source.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// An S3 request failed; `problem` says what that means (and the exit code), `cause` holds
    /// the SDK's causes as text (code and request id included), never the SDK's structs.
    #[error("{}", s3_message(operation, bucket, key, problem))]
    S3 {
        operation: &'static str,
        bucket: String,
        key: String,
        /// Boxed: keeps `Result<_, SourceError>` small.
        problem: Box<AwsProblem>,
        #[source]
        cause: CauseChain,
    },
    #[error("cannot list {path}")]
    LocalList {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot open {path}")]
    LocalOpen {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("object s3://{bucket}/{key} changed while it was being read (ETag differs); re-run")]
    ObjectChanged { bucket: String, key: String },
}

impl SourceError {
    pub fn kind(&self) -> FailureKind {
        match self {
            SourceError::S3 { problem, .. } => problem.kind(),
            SourceError::ObjectChanged { .. } => FailureKind::Transient,
            SourceError::LocalList { source, .. } | SourceError::LocalOpen { source, .. } => {
                match source.kind() {
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied => {
                        FailureKind::Config
                    }
                    _ => FailureKind::Transient,
                }
            }
        }
    }
}

impl SourceError {
    /// The error of an S3 request, classified by [`crate::aws_error`].
    pub fn s3(
        operation: &'static str,
        bucket: &str,
        key: &str,
        failure: AwsFailure,
    ) -> SourceError {
        SourceError::S3 {
            operation,
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            problem: Box::new(failure.problem),
            cause: failure.cause,
        }
    }
}

/// The first line of an S3 failure: the request, what went wrong, and what to do.
fn s3_message(operation: &str, bucket: &str, key: &str, problem: &AwsProblem) -> String {
    let url = format!("s3://{bucket}/{key}");
    match problem {
        AwsProblem::Credentials(p) => format!("S3 {operation} {url}: {p}"),
        AwsProblem::NoSuchBucket => format!(
            "S3 {operation} {url}: the bucket {bucket} does not exist (NoSuchBucket): check the bucket of --source/--lake"
        ),
        AwsProblem::NoSuchKey => format!(
            "S3 {operation} {url}: the object is gone (NoSuchKey): it was listed moments before and deleted or replaced since, so the listing changed under the run; a re-run lists the date again"
        ),
        AwsProblem::Refused { code } => format!(
            "S3 refused {operation} {url}: {code} (check the bucket name, the prefix and the pod's IAM role)"
        ),
        AwsProblem::Unavailable => {
            format!("S3 is unavailable: {operation} {url} failed after retries")
        }
    }
}

/// An opened source for all `--source` locations of a run.
pub struct Sources {
    locations: Vec<SourceLocation>,
    s3: Option<S3Source>,
}

impl Sources {
    /// Connects to S3 only when a location needs it.
    pub async fn connect(
        locations: Vec<SourceLocation>,
        s3_options: &S3Options,
        cancel: tokio::sync::watch::Receiver<bool>,
    ) -> Sources {
        let needs_s3 = locations
            .iter()
            .any(|l| matches!(l, SourceLocation::S3 { .. }));
        let s3 = if needs_s3 {
            Some(S3Source::connect(s3_options, cancel).await)
        } else {
            None
        };
        Sources { locations, s3 }
    }

    pub fn locations(&self) -> &[SourceLocation] {
        &self.locations
    }

    /// Lists the selected objects of every location, sorted by key within each location.
    pub async fn list(&self, selection: &KeySelection) -> Result<Vec<ObjectInfo>, SourceError> {
        let mut all = Vec::new();
        for (i, loc) in self.locations.iter().enumerate() {
            let mut found = match loc {
                SourceLocation::Local(root) => {
                    let root = root.clone();
                    let selection = selection.clone();
                    tokio::task::spawn_blocking(move || local::list(&root, &selection))
                        .await
                        .map_err(|e| SourceError::LocalList {
                            path: loc.to_string(),
                            source: std::io::Error::other(e),
                        })??
                }
                SourceLocation::S3 { bucket, prefix } => {
                    let s3 = self.s3.as_ref().expect("S3 client exists for s3 sources");
                    s3.list(bucket, prefix, selection).await?
                }
            };
            found.sort_by(|a, b| a.0.cmp(&b.0));
            all.extend(found.into_iter().map(|(key, size)| ObjectInfo {
                source: i,
                key,
                size,
            }));
        }
        Ok(all)
    }

    /// Opens an object for streaming reads. Call from a blocking (non-async) thread.
    pub fn open(&self, object: &ObjectInfo) -> Result<ObjectStream, SourceError> {
        let failure = SourceFailure::default();
        let reader = match &self.locations[object.source] {
            SourceLocation::Local(_) => local::open(&object.key)?,
            SourceLocation::S3 { bucket, .. } => {
                let s3 = self.s3.as_ref().expect("S3 client exists for s3 sources");
                Box::new(s3.open(bucket, &object.key, object.size, failure.clone()))
            }
        };
        Ok(ObjectStream { reader, failure })
    }
}

/// An opened object: its bytes, and where a failure of the source behind them is kept.
pub struct ObjectStream {
    pub reader: Box<dyn Read + Send>,
    pub failure: SourceFailure,
}

/// Where a streamed object's source failure waits for the run. The parser reading the stream
/// sees only an `io::Error` saying that the source failed; the run takes the typed
/// [`SourceError`] from here (S3 unavailable is transient, denied is configuration) rather than
/// calling the object corrupt, without downcasting the `io::Error`.
#[derive(Clone, Debug, Default)]
pub struct SourceFailure(Arc<Mutex<Option<SourceError>>>);

impl SourceFailure {
    /// The source's failure, if the stream ended with one.
    pub fn take(&self) -> Option<SourceError> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    fn set(&self, err: SourceError) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(err);
    }
}
