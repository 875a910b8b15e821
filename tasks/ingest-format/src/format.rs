//! The interface between the runtime and a job's file format.
//!
//! The runtime lists, downloads and decompresses objects; a [`RecordFormat`] turns the bytes of one
//! object into rows and rejects through a [`RecordSink`]. Line-oriented formats use
//! [`crate::lines::for_each_line`]; others (CSV with quoted newlines) read the `BufRead` directly.

use std::io::{self, BufRead};

use crate::table::{RowWriter, TableSchema};

/// A table computed from the whole date rather than line by line (e.g. one row per server per
/// day). It lives in the same schema as `--table`, is partitioned by date like it, and is
/// committed with it.
#[derive(Debug)]
pub struct DerivedTable {
    pub name: &'static str,
    pub schema: &'static TableSchema,
    pub doc: &'static str,
}

/// A job's file format: parses one decompressed object.
pub trait RecordFormat: Send + Sync + 'static {
    /// What one parse worker accumulates across its objects for the derived tables (for example
    /// the pings of `server_daily`); `()` for a format without derived tables. Each worker starts
    /// from `Default` and the runtime hands every worker's state to
    /// [`RecordFormat::write_derived`], typed: no downcast can miss.
    type State: Default + Send;

    /// The table the rows go to (data columns; the runtime appends lineage columns).
    fn schema(&self) -> &'static TableSchema;

    /// Reads the whole object, emitting every record as a row or a reject, and adding to this
    /// worker's `state`.
    ///
    /// Return `Err` only when the object as a whole cannot be read (I/O, corrupt compression, a
    /// header that makes every line meaningless); a bad line is a reject, not an error.
    fn read_object(
        &self,
        key: &str,
        input: &mut dyn BufRead,
        out: &mut dyn RecordSink,
        state: &mut Self::State,
    ) -> Result<(), ReadError>;

    /// Tables derived from the whole date; none by default.
    fn derived_tables(&self) -> &'static [DerivedTable] {
        &[]
    }

    /// Merges the workers' states and writes the derived tables' rows.
    fn write_derived(
        &self,
        _states: Vec<Self::State>,
        _out: &mut dyn DerivedSink,
    ) -> Result<(), ReadError> {
        Ok(())
    }
}

/// Where [`RecordFormat::write_derived`] writes rows: `table` indexes
/// [`RecordFormat::derived_tables`].
pub trait DerivedSink {
    fn row(
        &mut self,
        table: usize,
        write: &mut dyn FnMut(&mut RowWriter<'_>),
    ) -> Result<(), ReadError>;
}

/// Where a format sends what it parsed.
pub trait RecordSink {
    /// Writes one row: `write` must write every data column in schema order.
    fn row(
        &mut self,
        line: u64,
        write: &mut dyn FnMut(&mut RowWriter<'_>),
    ) -> Result<(), ReadError>;

    /// Keeps a line that did not parse, with the reason (which names what was expected).
    fn reject(&mut self, line: u64, raw: &[u8], reason: &str) -> Result<(), ReadError>;

    /// Counts a named data-quality event that did not reject the line (shown in the run summary).
    fn count(&mut self, counter: &'static str, n: u64);

    /// True once the run was interrupted; formats stop early by returning [`ReadError::Cancelled`].
    fn is_cancelled(&self) -> bool;
}

/// Why an object could not be read to the end.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// Reading the bytes failed: the source (S3, disk) or the decompressor.
    #[error("reading failed at line {line}")]
    Io {
        line: u64,
        #[source]
        source: io::Error,
    },
    /// The object cannot be interpreted at all (e.g. a CSV header without a required column).
    #[error("{0}")]
    Format(String),
    /// Writing the parsed rows failed. Only a sink returns this, and the sink keeps its own typed
    /// error for its owner to take (as `std::io::Write::write_fmt` does with `fmt::Error`): the
    /// format layer cannot name the sink's error types, and a format passes this on unchanged.
    #[error("writing rows failed")]
    Sink,
    /// Scratch space in `$TMPDIR` could not be written or read back (a full disk).
    #[error(transparent)]
    TempSpace(#[from] TempSpaceError),
    /// The run was interrupted.
    #[error("interrupted")]
    Cancelled,
}

/// A spill to `$TMPDIR` failed, typically `ENOSPC`: a transient failure (exit 4), since a retry
/// starts on an empty scratch volume. The runtime adds the directory, its free and total size and
/// which limit to raise when it reports it; the format only says what it was doing.
#[derive(Debug, thiserror::Error)]
#[error("{what} in $TMPDIR failed")]
pub struct TempSpaceError {
    pub what: String,
    #[source]
    pub source: io::Error,
}

impl TempSpaceError {
    /// `what` (e.g. "server_daily: spilling pings") failed with `source`.
    pub fn new(what: impl Into<String>, source: io::Error) -> TempSpaceError {
        TempSpaceError {
            what: what.into(),
            source,
        }
    }
}
