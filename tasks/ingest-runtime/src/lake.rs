//! The lake: Parquet partitions `<lake>/<schema>/<table>/dt=YYYY-MM-DD/part-*.parquet`.
//!
//! A run writes every part file under `<lake>/.staging/<run-id>/` and, only when everything
//! succeeded, swaps each finished partition directory into place with an atomic
//! `renameat2(RENAME_EXCHANGE)`. The run's partitions (table, derived tables, rejects) are
//! swapped as one set behind a commit journal: a failure swaps back those already in place, and
//! a run killed mid-way is completed by the next run on the lake ([`Staging::commit_all`]). A
//! reader sees either the old date or the new one, never half. Rows are written in
//! row groups of bounded size while streaming, so memory does not grow with the input.
//!
//! With `--lake s3://bucket/prefix` the same layout lives in S3 ([`s3`]): part files are streamed
//! into multipart uploads that stay invisible until the commit. Runs of a date are serialized by
//! a lease object, readers follow each partition's `_manifest.json` (replaced by compare and
//! swap), and the lease holder removes every object the manifest does not name.

mod chunk;
mod s3;

use std::collections::HashSet;
use std::fmt;
use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use parquet::basic::Encoding;
use parquet::column::page::{CompressedPage, PageWriteSpec, PageWriter};
use parquet::column::writer::{ColumnWriter, get_column_writer};
use parquet::file::properties::{EnabledStatistics, WriterProperties, WriterVersion};
use parquet::file::reader::{ChunkReader, Length};
use parquet::file::writer::{SerializedFileWriter, SerializedPageWriter, TrackedWrite};
use parquet::schema::types::{ColumnPath, SchemaDescriptor, Type};

use crate::error::FailureKind;
use crate::source::SourceError;
use crate::table::{Column, ColumnBuffer, ColumnValues, RowBatch};
use crate::time::Date;
use chunk::{ClosedChunk, ColumnChunk, PageScratch};

pub use s3::{MANIFEST, S3Lake, S3Staging, join_key};

/// Rows are buffered in columnar form and handed to the column encoders when they reach this many
/// bytes (raw values wait here, outside the row group's memory bound, so the batch stays small)...
const BATCH_BYTES: usize = 1 << 20;
/// ...or this many rows, whichever comes first.
const BATCH_ROWS: usize = 64 * 1024;
/// A file's first batch is larger: each column's plan (dictionary or not) is decided from it. A
/// 1 MiB sample, about 1,600 telemetry rows, found `log_at`'s timestamps (random order within an
/// hour) too unique for a dictionary, and the column took 3.0 MB plain instead of 1.85 MB.
const PLAN_SAMPLE_BYTES: usize = 4 << 20;
/// A row group closes at exactly this many rows (DuckDB's default too): small groups cost bytes (a
/// dictionary page, statistics and metadata per column chunk) and reader time (DuckDB's queries
/// over 24,576-row groups took 1.4 to 2.4 times as long as over 122,880-row ones)...
const ROW_GROUP_ROWS: usize = 122_880;
/// ...or when the memory it holds until it closes reaches this many bytes: its encoded, compressed
/// column chunks, and the text columns' dictionaries and open pages. A full telemetry group
/// reaches 24 MiB here (21 MiB of it encoded pages), an ALB one 13 MiB; the bound is for tables of
/// wider rows. What this count cannot see (the float and boolean columns' open pages inside the
/// Parquet crate's writer) is small.
const ROW_GROUP_MEMORY_BYTES: usize = 28 << 20;
/// Row groups per part file before the writer moves on to a new file. The Parquet writer keeps
/// every row group's metadata until the file is closed, so an unbounded file would grow memory
/// with the input; 64 groups bound a file to 2 GiB of encoded values.
const ROW_GROUPS_PER_FILE: usize = 64;

/// Another run's staging directory whose run holds no lock is removed once it is this old.
const STALE_STAGING_SECS: u64 = 3600;

#[derive(Debug, thiserror::Error)]
pub enum LakeError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("{path}: writing Parquet failed")]
    Parquet {
        path: String,
        #[source]
        source: parquet::errors::ParquetError,
    },
    /// An S3 request of the S3 lake failed (denied = configuration, otherwise transient).
    #[error(transparent)]
    S3(#[from] SourceError),
    /// A run id that cannot name a staging directory or object (see [`validate_run_id`]).
    #[error("{0}")]
    BadRunId(String),
    /// Another run of the date holds its lease on the S3 lake and kept renewing it.
    #[error(
        "another run of this date (run id {holder}) is writing it and holds its lease {lease}; waited {waited} s (twice the lease's {ttl} s). This run wrote nothing; re-run the date once that run has ended"
    )]
    Busy {
        lease: String,
        holder: String,
        ttl: u64,
        waited: u64,
    },
    /// Another run took this run's lease over (this run did not renew it for its time to live).
    #[error(
        "lost the lease {lease} to run {holder} (this run could not renew it within {ttl} s): that run now owns the date; this run changed nothing more and stopped. Re-run the date if that run fails"
    )]
    LeaseLost {
        lease: String,
        holder: String,
        ttl: u64,
    },
    /// A manifest changed under the run that held the date's lease: another run wrote it.
    #[error(
        "{key} was changed by another run while this run held the date's lease; this run did not replace it. Re-run the date"
    )]
    ManifestChanged { key: String },
    /// A manifest this job cannot read: it will not delete objects on its word.
    #[error("{key}: {reason}")]
    BadManifest { key: String, reason: String },
    /// A signal ended the wait for the date's lease.
    #[error("interrupted while waiting for the date's lease")]
    Cancelled,
}

impl LakeError {
    /// Denied S3 requests are configuration errors (bucket, IAM role); the rest are transient.
    pub fn kind(&self) -> FailureKind {
        match self {
            LakeError::S3(e) => e.kind(),
            LakeError::BadRunId(_) => FailureKind::Config,
            LakeError::Cancelled => FailureKind::Interrupted,
            // A manifest someone else wrote badly needs a person, not a retry.
            LakeError::BadManifest { .. } => FailureKind::Data,
            LakeError::Io { .. }
            | LakeError::Parquet { .. }
            | LakeError::Busy { .. }
            | LakeError::LeaseLost { .. }
            | LakeError::ManifestChanged { .. } => FailureKind::Transient,
        }
    }

    /// A Parquet error that wraps an S3 failure of the sink becomes that failure.
    fn from_parquet(path: String, source: parquet::errors::ParquetError) -> LakeError {
        if let parquet::errors::ParquetError::External(boxed) = source {
            return match boxed.downcast::<io::Error>() {
                Ok(io) if io.get_ref().is_some_and(|e| e.is::<LakeError>()) => *io
                    .into_inner()
                    .expect("checked above")
                    .downcast::<LakeError>()
                    .expect("checked above"),
                Ok(io) => LakeError::Parquet {
                    path,
                    source: parquet::errors::ParquetError::External(io),
                },
                Err(other) => LakeError::Parquet {
                    path,
                    source: parquet::errors::ParquetError::External(other),
                },
            };
        }
        LakeError::Parquet { path, source }
    }
}

/// The longest `--run-id` accepted.
pub const MAX_RUN_ID_LEN: usize = 128;

/// Checks a `--run-id`: it names the run's staging directory (`<lake>/.staging/<run-id>`, removed
/// recursively at the end) and goes into S3 keys and SQL, so only a plain file name is accepted:
/// 1 to 128 of `A-Z a-z 0-9 . _ -`, not starting with `.` or `-` (so never `.`, `..`, a hidden
/// file or an option). The error names the rule.
pub fn validate_run_id(id: &str) -> Result<(), String> {
    let ok = (1..=MAX_RUN_ID_LEN).contains(&id.len())
        && !id.starts_with(['.', '-'])
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "--run-id {:?}: expected 1 to {MAX_RUN_ID_LEN} characters of A-Z, a-z, 0-9, '.', '_' and '-', not starting with '.' or '-' (it names a directory and object keys)",
            id.chars().take(MAX_RUN_ID_LEN + 8).collect::<String>()
        ))
    }
}

/// A `--lake` location ([`Location::parse_lake`]).
pub type LakeLocation = crate::location::Location;

impl LakeLocation {
    /// Where a partition (relative path) lives, for logs and the run summary.
    pub fn join(&self, relative: &Path) -> String {
        match self {
            LakeLocation::Local(root) => root.join(relative).display().to_string(),
            LakeLocation::S3 { bucket, prefix } => {
                format!("s3://{bucket}/{}/", s3::join_key(prefix, &key_of(relative)))
            }
        }
    }
}

/// A relative partition path as an S3 key fragment (always `/`-separated).
pub fn key_of(relative: &Path) -> String {
    relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> LakeError + '_ {
    move |source| LakeError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// `<schema>.<table>` from `--table`, validated as plain identifiers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableName {
    pub schema: String,
    pub table: String,
}

impl TableName {
    pub fn parse(value: &str) -> Result<TableName, String> {
        let ident = |s: &str| {
            !s.is_empty()
                && !s.starts_with(|c: char| c.is_ascii_digit())
                && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        };
        match value.split_once('.') {
            Some((schema, table)) if ident(schema) && ident(table) => Ok(TableName {
                schema: schema.to_ascii_lowercase(),
                table: table.to_ascii_lowercase(),
            }),
            _ => Err(format!(
                "--table {value:?}: expected <schema>.<table> with letters, digits and _ (e.g. push_proxy.logs_us_new)"
            )),
        }
    }

    /// The reject table beside this one.
    pub fn rejects(&self) -> TableName {
        TableName {
            schema: self.schema.clone(),
            table: format!("{}_rejects", self.table),
        }
    }

    /// `<schema>/<table>/dt=YYYY-MM-DD`, the partition's path relative to the lake root.
    pub fn partition_path(&self, date: Date) -> PathBuf {
        Path::new(&self.schema)
            .join(&self.table)
            .join(format!("dt={date}"))
    }
}

impl std::fmt::Display for TableName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.schema, self.table)
    }
}

/// The Parquet schema for `columns`.
pub fn parquet_schema(columns: &[Column]) -> Arc<Type> {
    let mut message = String::from("message row {\n");
    for c in columns {
        message.push_str("  OPTIONAL ");
        message.push_str(&c.ty.parquet_decl().replace("{}", c.name));
        message.push_str(";\n");
    }
    message.push('}');
    Arc::new(
        parquet::schema::parser::parse_message_type(&message)
            .unwrap_or_else(|e| panic!("invalid generated Parquet schema {message}: {e}")),
    )
}

/// Writer properties for a file whose first row group is `first` (`None`: an empty file).
///
/// Each column's encoding is decided from the file's first batch ([`plan_column`]); the decision
/// holds for the whole file, and the same input always makes the same decision.
fn writer_properties(schema: &Type, plans: &[ColumnPlan]) -> Arc<WriterProperties> {
    let mut builder = WriterProperties::builder()
        .set_writer_version(WriterVersion::PARQUET_1_0)
        .set_compression(chunk::CODEC)
        // Row-group statistics are what readers prune with; page-level statistics and page
        // indexes cost write time and writer memory for little gain on day partitions.
        .set_statistics_enabled(EnabledStatistics::Chunk)
        // Page locations serve page skipping by page statistics, which are off; and the own
        // chunk encoder writes none.
        .set_offset_index_disabled(true)
        .set_created_by(format!("ingest-runtime {}", env!("CARGO_PKG_VERSION")));
    for (field, plan) in schema.get_fields().iter().zip(plans) {
        let path = ColumnPath::from(field.name());
        if !plan.dictionary {
            builder = builder
                .set_column_dictionary_enabled(path.clone(), false)
                .set_column_encoding(path.clone(), Encoding::PLAIN);
        }
        if !plan.statistics {
            builder = builder.set_column_statistics_enabled(path, EnabledStatistics::None);
        }
    }
    Arc::new(builder.build())
}

/// How one column of a file is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ColumnPlan {
    /// Dictionary encoding pays off only where values repeat: on unique ids, URLs and timestamps
    /// the writer would hash every value into a dictionary that overflows its page limit and
    /// falls back to plain anyway, costing time and a useless dictionary page per chunk. So a
    /// column gets a dictionary only when its values, dictionary-encoded, would be smaller than
    /// plain (estimated from its distinct values, as DuckDB decides too).
    dictionary: bool,
    /// Row-group min/max let readers skip groups. Of a text column whose values neither repeat
    /// nor come sorted (request ids, URLs, query strings), every group's min and max span nearly
    /// the whole range, so they prune nothing; computing them was a tenth of the write time.
    /// Numbers and timestamps (cheap, and what time and status filters prune with), repeating
    /// text and sorted text (`server_daily`'s server ids) keep them.
    statistics: bool,
}

/// Decides a column's [`ColumnPlan`] from one batch of its values: the dictionary estimate
/// weighs the dictionary (each distinct value once) plus a bit-packed index per value against
/// every value written out.
fn plan_column(col: &ColumnBuffer) -> ColumnPlan {
    fn dictionary_pays<K: std::hash::Hash + Eq>(values: impl Iterator<Item = (K, usize)>) -> bool {
        // A fixed seed: the decision (a count of distinct values) never depends on it, and the
        // hash need not resist crafted input, only be fast (SipHash cost a twentieth of a run).
        let mut distinct: HashSet<K, foldhash::fast::FixedState> =
            HashSet::with_hasher(foldhash::fast::FixedState::with_seed(0x1e55));
        let (mut plain, mut dict, mut n) = (0usize, 0usize, 0usize);
        for (v, size) in values {
            n += 1;
            plain += size;
            if distinct.insert(v) {
                dict += size;
            }
        }
        let bits = usize::BITS - distinct.len().max(1).leading_zeros();
        dict + (n * bits as usize).div_ceil(8) < plain
    }
    match &col.values {
        ColumnValues::Text { bytes, ends } => {
            let value = |i: usize| {
                let start = if i == 0 { 0 } else { ends[i - 1] as usize };
                &bytes[start..ends[i] as usize]
            };
            let dictionary =
                dictionary_pays((0..ends.len()).map(|i| (value(i), value(i).len() + 4)));
            let sorted = (1..ends.len()).all(|i| value(i - 1) <= value(i));
            ColumnPlan {
                dictionary,
                statistics: dictionary || sorted,
            }
        }
        ColumnValues::Int32(v) => ColumnPlan {
            dictionary: dictionary_pays(v.iter().map(|x| (*x, 4))),
            statistics: true,
        },
        ColumnValues::Int64(v) => ColumnPlan {
            dictionary: dictionary_pays(v.iter().map(|x| (*x, 8))),
            statistics: true,
        },
        ColumnValues::Float64(v) => ColumnPlan {
            dictionary: dictionary_pays(v.iter().map(|x| (x.to_bits(), 8))),
            statistics: true,
        },
        // Booleans are bit-packed; a dictionary cannot beat that.
        ColumnValues::Bool(_) => ColumnPlan {
            dictionary: false,
            statistics: true,
        },
    }
}

/// Where one part file goes: a local file, or an S3 object written as a multipart upload that
/// the run's [`S3Staging`] completes at commit.
#[derive(Clone)]
pub enum PartTarget {
    Local(PathBuf),
    S3 {
        staging: Arc<S3Staging>,
        relative: PathBuf,
        key: String,
    },
}

impl PartTarget {
    fn describe(&self) -> String {
        match self {
            PartTarget::Local(p) => p.display().to_string(),
            PartTarget::S3 { staging, key, .. } => format!("s3://{}/{key}", staging.bucket()),
        }
    }
}

impl PartTarget {
    /// The `seq`-th file of the same part (`part-00000.parquet` → `part-00000-s001.parquet`).
    fn sibling(&self, seq: u32) -> PartTarget {
        let rename = |name: &str| match name.strip_suffix(".parquet") {
            Some(stem) => format!("{stem}-s{seq:03}.parquet"),
            None => format!("{name}-s{seq:03}"),
        };
        match self {
            PartTarget::Local(path) => {
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                PartTarget::Local(path.with_file_name(rename(&name)))
            }
            PartTarget::S3 {
                staging,
                relative,
                key,
            } => PartTarget::S3 {
                staging: staging.clone(),
                relative: relative.clone(),
                key: rename(key),
            },
        }
    }
}

impl fmt::Debug for PartTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}

/// The bytes of a part file: a buffered local file or a streamed S3 multipart upload.
enum PartSink {
    File(BufWriter<File>),
    S3(s3::MultipartWriter),
}

impl Write for PartSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            PartSink::File(f) => f.write(buf),
            PartSink::S3(m) => m.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            PartSink::File(f) => f.flush(),
            // Parts are uploaded when full; the last one at close.
            PartSink::S3(_) => Ok(()),
        }
    }
}

impl PartSink {
    /// Makes the bytes durable: fsync locally, the last part uploaded (but not completed) on S3.
    fn close(self, target: &PartTarget) -> Result<(), LakeError> {
        match (self, target) {
            (PartSink::File(mut f), PartTarget::Local(path)) => {
                f.flush().map_err(io_err(path))?;
                f.get_ref().sync_all().map_err(io_err(path))
            }
            (PartSink::S3(m), _) => m.close(),
            (PartSink::File(_), PartTarget::S3 { .. }) => unreachable!("sinks follow targets"),
        }
    }
}

/// Writes one Parquet part file, a row group at a time. The file is created on the first flush,
/// so a worker that saw no rows leaves no file.
pub struct PartWriter {
    path: Option<PartTarget>,
    groups_per_file: usize,
    /// The first file's target; later files are its siblings.
    base: Option<PartTarget>,
    files: u32,
    groups_in_file: usize,
    schema: Arc<Type>,
    writer: Option<SerializedFileWriter<PartSink>>,
    /// The open file's properties and column plans (decided from its first rows).
    props: Option<Arc<WriterProperties>>,
    plans: Vec<ColumnPlan>,
    /// Each column's chunk buffer, kept between row groups (emptied): allocating them anew per
    /// group left the allocator's heap fragmented, and peak RSS grew with the group size.
    spare_pages: Vec<Vec<u8>>,
    /// The row group being encoded.
    group: Option<OpenGroup>,
    scratch: PageScratch,
    batch: RowBatch,
    rows_written: u64,
}

impl PartWriter {
    /// A writer for `data` + `extra` columns at `path`; `None` = dry run (rows are dropped).
    pub fn new(path: Option<PartTarget>, data: &[Column], extra: &[Column]) -> PartWriter {
        let all: Vec<Column> = data.iter().chain(extra).copied().collect();
        PartWriter {
            base: path.clone(),
            path,
            groups_per_file: ROW_GROUPS_PER_FILE,
            files: 0,
            groups_in_file: 0,
            schema: parquet_schema(&all),
            writer: None,
            props: None,
            plans: Vec::new(),
            spare_pages: Vec::new(),
            group: None,
            scratch: PageScratch::new(),
            batch: RowBatch::new(data, extra),
            rows_written: 0,
        }
    }

    /// Moves on to a new part file after `n` row groups (default [`ROW_GROUPS_PER_FILE`]).
    pub fn with_groups_per_file(mut self, n: usize) -> PartWriter {
        self.groups_per_file = n.max(1);
        self
    }

    pub fn batch(&mut self) -> &mut RowBatch {
        &mut self.batch
    }

    /// Encodes the buffered rows when the batch is full or completes the row group, and closes
    /// the row group when it is full.
    pub fn maybe_flush(&mut self) -> Result<(), LakeError> {
        let group_rows = self.group.as_ref().map_or(0, |g| g.rows);
        let batch_bytes = if self.path.is_some() && self.writer.is_none() {
            PLAN_SAMPLE_BYTES
        } else {
            BATCH_BYTES
        };
        if self.batch.len() >= BATCH_ROWS
            || self.batch.approx_bytes() >= batch_bytes
            || group_rows + self.batch.len() >= ROW_GROUP_ROWS
        {
            self.encode_batch()?;
            if self.group.as_ref().is_some_and(|g| {
                g.rows >= ROW_GROUP_ROWS || g.memory_bytes() >= ROW_GROUP_MEMORY_BYTES
            }) {
                self.close_group()?;
            }
        }
        Ok(())
    }

    /// Writes the buffered rows and closes the row group.
    pub fn flush(&mut self) -> Result<(), LakeError> {
        self.encode_batch()?;
        self.close_group()
    }

    /// Hands the buffered rows to the open row group's column encoders.
    fn encode_batch(&mut self) -> Result<(), LakeError> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let rows = self.batch.len();
        let mut sampled = false;
        if let Some(path) = &self.path {
            if self.writer.is_none() {
                sampled = true;
                self.plans = self.batch.columns.iter().map(plan_column).collect();
                let props = writer_properties(&self.schema, &self.plans);
                self.writer = Some(open_writer(path, &self.schema, props.clone())?);
                self.props = Some(props);
            }
            let props = self.props.as_ref().expect("set with the writer");
            let group = self.group.get_or_insert_with(|| {
                OpenGroup::new(&self.schema, props, &self.plans, &mut self.spare_pages)
            });
            group
                .write(&self.batch, &mut self.scratch)
                .map_err(|source| LakeError::from_parquet(path.describe(), source))?;
        }
        self.rows_written += rows as u64;
        if sampled {
            // The plan sample's buffers would otherwise stay at its size for the whole run.
            self.batch.clear_and_release();
        } else {
            self.batch.clear();
        }
        Ok(())
    }

    /// Appends the open row group to the file; moves on to a new file after enough groups.
    fn close_group(&mut self) -> Result<(), LakeError> {
        let (Some(group), Some(path)) = (self.group.take(), &self.path) else {
            return Ok(());
        };
        let writer = self
            .writer
            .as_mut()
            .expect("a group is opened after its file");
        group
            .close_into(writer, &mut self.spare_pages, &mut self.scratch)
            .map_err(|source| LakeError::from_parquet(path.describe(), source))?;
        self.groups_in_file += 1;
        if self.groups_in_file >= self.groups_per_file {
            self.close_file()?;
            self.files += 1;
            self.groups_in_file = 0;
            self.path = self.base.as_ref().map(|b| b.sibling(self.files));
        }
        Ok(())
    }

    fn close_file(&mut self) -> Result<(), LakeError> {
        if let (Some(writer), Some(path)) = (self.writer.take(), &self.path) {
            let inner = writer
                .into_inner()
                .map_err(|source| LakeError::from_parquet(path.describe(), source))?;
            inner.close(path)?;
        }
        Ok(())
    }

    /// Flushes and closes the file; returns the rows written.
    pub fn finish(mut self) -> Result<u64, LakeError> {
        self.flush()?;
        self.close_file()?;
        Ok(self.rows_written)
    }

    /// Writes a valid Parquet file with the schema and no rows (for an empty partition).
    pub fn write_empty(path: &PartTarget, columns: &[Column]) -> Result<(), LakeError> {
        let schema = parquet_schema(columns);
        let writer = open_writer(path, &schema, writer_properties(&schema, &[]))?;
        let inner = writer
            .into_inner()
            .map_err(|source| LakeError::from_parquet(path.describe(), source))?;
        inner.close(path)
    }
}

fn open_writer(
    path: &PartTarget,
    schema: &Arc<Type>,
    props: Arc<WriterProperties>,
) -> Result<SerializedFileWriter<PartSink>, LakeError> {
    let sink = match path {
        PartTarget::Local(path) => {
            if let Some(dir) = path.parent() {
                fs::create_dir_all(dir).map_err(io_err(dir))?;
            }
            let file = File::create(path).map_err(io_err(path))?;
            PartSink::File(BufWriter::with_capacity(256 * 1024, file))
        }
        PartTarget::S3 {
            staging,
            relative,
            key,
        } => PartSink::S3(s3::MultipartWriter::new(
            staging.clone(),
            relative.clone(),
            key.clone(),
        )),
    };
    SerializedFileWriter::new(sink, schema.clone(), props)
        .map_err(|source| LakeError::from_parquet(path.describe(), source))
}

/// A row group being written: one encoder per column, each writing its compressed pages to its
/// own in-memory chunk, so rows can arrive in small batches while the group grows large. At close
/// the chunks are appended to the file in column order.
struct OpenGroup {
    columns: Vec<ChunkEncoder>,
    rows: usize,
}

/// Text, integers and timestamps go through the project's own encoder ([`ColumnChunk`]); floats
/// and booleans through the Parquet crate's column writer.
enum ChunkEncoder {
    Own(Box<ColumnChunk>),
    Crate {
        writer: Box<ColumnWriter<'static>>,
        pages: Arc<Mutex<TrackedWrite<Vec<u8>>>>,
    },
}

/// Hands one batch of a float or boolean column to the Parquet crate's column writer.
fn write_with_crate(
    writer: &mut ColumnWriter<'static>,
    defs: &[i16],
    values: &ColumnValues,
) -> parquet::errors::Result<()> {
    let defs = Some(defs);
    match (writer, values) {
        (ColumnWriter::DoubleColumnWriter(w), ColumnValues::Float64(v)) => {
            w.write_batch(v, defs, None)
        }
        (ColumnWriter::BoolColumnWriter(w), ColumnValues::Bool(v)) => w.write_batch(v, defs, None),
        _ => unreachable!("column types follow the schema"),
    }?;
    Ok(())
}

/// Pages of one column chunk, serialized into memory.
struct ChunkPages(Arc<Mutex<TrackedWrite<Vec<u8>>>>);

impl PageWriter for ChunkPages {
    fn write_page(&mut self, page: CompressedPage) -> parquet::errors::Result<PageWriteSpec> {
        let mut sink = self.0.lock().expect("one writer per chunk");
        SerializedPageWriter::new(&mut sink).write_page(page)
    }

    fn close(&mut self) -> parquet::errors::Result<()> {
        Ok(self.0.lock().expect("one writer per chunk").flush()?)
    }
}

impl OpenGroup {
    fn new(
        schema: &Arc<Type>,
        props: &Arc<WriterProperties>,
        plans: &[ColumnPlan],
        spare_pages: &mut [Vec<u8>],
    ) -> OpenGroup {
        let descr = SchemaDescriptor::new(schema.clone());
        let columns = plans
            .iter()
            .enumerate()
            .map(|(i, plan)| {
                let column = descr.column(i);
                let buffer = spare_pages
                    .get_mut(i)
                    .map(std::mem::take)
                    .unwrap_or_default();
                if ColumnChunk::takes(column.physical_type()) {
                    let chunk = ColumnChunk::new(column, *plan, buffer);
                    return ChunkEncoder::Own(Box::new(chunk));
                }
                let pages = Arc::new(Mutex::new(TrackedWrite::new(buffer)));
                let pager = Box::new(ChunkPages(pages.clone()));
                let writer = Box::new(get_column_writer(column, props.clone(), pager));
                ChunkEncoder::Crate { writer, pages }
            })
            .collect();
        OpenGroup { columns, rows: 0 }
    }

    /// Bytes held until the group closes: the pages encoded so far, and text dictionaries.
    fn memory_bytes(&self) -> usize {
        self.columns
            .iter()
            .map(|c| match c {
                ChunkEncoder::Own(chunk) => chunk.memory_bytes(),
                ChunkEncoder::Crate { pages, .. } => {
                    pages.lock().expect("one writer per chunk").bytes_written()
                }
            })
            .sum()
    }

    fn write(
        &mut self,
        batch: &RowBatch,
        scratch: &mut PageScratch,
    ) -> parquet::errors::Result<()> {
        for (out, col) in self.columns.iter_mut().zip(batch.columns.iter()) {
            match (out, &col.values) {
                (ChunkEncoder::Own(chunk), ColumnValues::Text { bytes, ends }) => {
                    chunk.write_text(&col.defs, bytes, ends, scratch)?;
                }
                (ChunkEncoder::Own(chunk), ColumnValues::Int32(v)) => {
                    chunk.write_i32(&col.defs, v, scratch)?;
                }
                (ChunkEncoder::Own(chunk), ColumnValues::Int64(v)) => {
                    chunk.write_i64(&col.defs, v, scratch)?;
                }
                (ChunkEncoder::Crate { writer, .. }, values) => {
                    write_with_crate(writer, &col.defs, values)?;
                }
                _ => unreachable!("column types follow the schema"),
            }
        }
        self.rows += batch.len();
        Ok(())
    }

    /// Appends the chunks to the file; `spare_pages` gets their buffers back, emptied.
    fn close_into(
        self,
        writer: &mut SerializedFileWriter<PartSink>,
        spare_pages: &mut Vec<Vec<u8>>,
        scratch: &mut PageScratch,
    ) -> parquet::errors::Result<()> {
        spare_pages.clear();
        let mut group = writer.next_row_group()?;
        for column in self.columns {
            let mut closed = match column {
                ChunkEncoder::Own(chunk) => chunk.close(scratch)?,
                ChunkEncoder::Crate { writer, pages } => {
                    let close = (*writer).close()?;
                    let pages = std::mem::replace(
                        &mut *pages.lock().expect("one writer per chunk"),
                        TrackedWrite::new(Vec::new()),
                    )
                    .into_inner()?;
                    ClosedChunk {
                        dictionary_page: Vec::new(),
                        data_pages: pages,
                        close,
                    }
                }
            };
            let chunk = SplicedChunk {
                head: &closed.dictionary_page,
                body: &closed.data_pages,
            };
            group.append_column(&chunk, closed.close)?;
            closed.data_pages.clear();
            spare_pages.push(closed.data_pages);
        }
        group.close()?;
        Ok(())
    }
}

/// A column chunk held as two buffers (dictionary page, data pages), read as one by the file
/// writer's `append_column`.
struct SplicedChunk<'a> {
    head: &'a [u8],
    body: &'a [u8],
}

impl Length for SplicedChunk<'_> {
    fn len(&self) -> u64 {
        (self.head.len() + self.body.len()) as u64
    }
}

impl<'a> ChunkReader for SplicedChunk<'a> {
    type T = io::Chain<&'a [u8], &'a [u8]>;

    fn get_read(&self, start: u64) -> parquet::errors::Result<Self::T> {
        let start = usize::try_from(start).unwrap_or(usize::MAX);
        let head = self.head.get(start..).unwrap_or_default();
        let body_start = start.saturating_sub(self.head.len());
        let body = self.body.get(body_start..).unwrap_or_default();
        Ok(head.chain(body))
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<bytes::Bytes> {
        let mut out = Vec::with_capacity(length);
        self.get_read(start)?
            .take(length as u64)
            .read_to_end(&mut out)?;
        Ok(bytes::Bytes::from(out))
    }
}

/// A local lake directory.
pub struct LocalLake {
    root: PathBuf,
}

impl LocalLake {
    pub fn new(root: impl Into<PathBuf>) -> LocalLake {
        LocalLake { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Creates this run's staging directory, empty, and clears what killed runs left behind.
    ///
    /// The run holds an exclusive lock on `.staging/<run-id>.lock` until it ends (the kernel
    /// drops it when the process dies, even on `kill -9`). So at begin:
    /// - a leftover directory of the same run id (a killed run re-run with `--run-id`) is
    ///   removed: its part files may lack their footer and must never be swapped in;
    /// - a second live run with the same id is refused (it would write into the same files);
    /// - other runs' directories whose lock is free and that are older than
    ///   [`STALE_STAGING_SECS`] are removed (the age is a margin for filesystems whose locks are
    ///   not shared between hosts).
    pub fn begin(&self, run_id: &str) -> Result<Staging, LakeError> {
        validate_run_id(run_id).map_err(LakeError::BadRunId)?;
        let staging_root = self.root.join(".staging");
        fs::create_dir_all(&staging_root).map_err(io_err(&staging_root))?;
        let lock_path = staging_root.join(format!("{run_id}.lock"));
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_err(&lock_path))?;
        match try_lock(&lock) {
            Ok(true) => {}
            Ok(false) => {
                return Err(LakeError::BadRunId(format!(
                    "--run-id {run_id:?} is in use by another running job on this lake ({} is locked); give each concurrent run its own id",
                    lock_path.display()
                )));
            }
            Err(e) => return Err(io_err(&lock_path)(e)),
        }
        remove_stale(&staging_root, run_id);
        let dir = staging_root.join(run_id);
        roll_forward(&dir, run_id, &self.root);
        match fs::remove_dir_all(&dir) {
            Ok(()) => tracing::warn!(
                staging = %dir.display(),
                "removed the staging directory a killed run with the same --run-id left behind"
            ),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(&dir)(e)),
        }
        fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        Ok(Staging {
            dir,
            lake_root: self.root.clone(),
            lock: Some((lock_path, lock)),
            pending: std::sync::Mutex::new(Vec::new()),
        })
    }
}

/// An exclusive `flock` without waiting: false when another open file holds it. Released when
/// the file is closed, including when the process dies.
fn try_lock(file: &File) -> io::Result<bool> {
    match rustix::fs::flock(file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(true),
        Err(rustix::io::Errno::WOULDBLOCK) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Removes other runs' staging directories (and lock files) whose run is gone: lock free and
/// older than [`STALE_STAGING_SECS`]. Best effort: a failure here must not fail this run.
fn remove_stale(staging_root: &Path, own: &str) {
    let Ok(entries) = fs::read_dir(staging_root) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let run = name.strip_suffix(".lock").unwrap_or(&name);
        if run == own {
            continue;
        }
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age.as_secs() > STALE_STAGING_SECS);
        // A journal means a run died while swapping its partitions in: complete it now
        // (whatever its age) so readers do not see a mixed set for an hour.
        let journal = staging_root.join(run).join(COMMIT_JOURNAL).exists();
        if !old && !journal {
            continue;
        }
        // Hold the other run's lock while removing, so a run starting with that id waits.
        let lock_path = staging_root.join(format!("{run}.lock"));
        let lock = match File::options().write(true).open(&lock_path) {
            Ok(f) => match try_lock(&f) {
                Ok(true) => Some(f),
                _ => continue, // that run is alive
            },
            // No lock file: a directory from a version without locks.
            Err(_) => None,
        };
        let path = staging_root.join(run);
        if path.is_dir() {
            roll_forward(&path, run, staging_root.parent().unwrap_or(staging_root));
            let _ = fs::remove_dir_all(&path);
            tracing::info!(staging = %path.display(), "removed a killed run's staging directory");
        }
        if lock.is_some() {
            let _ = fs::remove_file(&lock_path);
        }
    }
}

/// A run's private staging area inside the lake.
pub struct Staging {
    dir: PathBuf,
    lake_root: PathBuf,
    /// The run's lock file and its open handle (locked until dropped).
    lock: Option<(PathBuf, File)>,
    /// Partitions published but not yet swapped in (the set [`Staging::commit_all`] swaps).
    pending: std::sync::Mutex<Vec<PathBuf>>,
}

impl Staging {
    /// Where a partition is written before commit.
    pub fn partition_dir(&self, relative: &Path) -> PathBuf {
        self.dir.join(relative)
    }

    /// True when the staged partition holds at least one Parquet file.
    pub fn has_parts(&self, relative: &Path) -> bool {
        fs::read_dir(self.partition_dir(relative)).is_ok_and(|entries| {
            entries
                .flatten()
                .any(|e| e.path().extension().is_some_and(|x| x == "parquet"))
        })
    }

    /// Atomically replaces `<lake>/<relative>` with the staged partition.
    pub fn commit(&self, relative: &Path) -> Result<(), LakeError> {
        self.commit_all(&[relative.to_path_buf()])
    }

    /// Replaces every partition of `relatives` (a table, its derived tables and its rejects)
    /// as one set: all new, or all as before.
    ///
    /// 1. Each staged partition gets a marker naming the run, and is fsynced; then a journal
    ///    (`.commit`, the list) is written and fsynced: from here on the set is committed.
    /// 2. Each partition is swapped in with `RENAME_EXCHANGE` (or moved aside and renamed
    ///    where the filesystem lacks it). A failure swaps back those already in place (each an
    ///    atomic rename) and removes the journal: the lake is as before, and the error says so.
    /// 3. A run killed during step 2 leaves its journal: the next run on this lake finds the
    ///    run's lock free and completes the swaps (roll forward: everything was written before
    ///    the journal), see [`roll_forward`].
    pub fn commit_all(&self, relatives: &[PathBuf]) -> Result<(), LakeError> {
        let run = self
            .dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        for rel in relatives {
            let staged = self.partition_dir(rel);
            let marker = staged.join(RUN_MARKER);
            fs::write(&marker, run.as_bytes()).map_err(io_err(&marker))?;
            fsync_dir(&staged);
        }
        let journal = self.dir.join(COMMIT_JOURNAL);
        write_synced(&journal, &journal_text(relatives))?;
        fsync_dir(&self.dir);
        let mut done: Vec<(PathBuf, Swapped)> = Vec::new();
        for (i, rel) in relatives.iter().enumerate() {
            #[cfg(test)]
            if DIE_BEFORE_SWAP.with(|f| f.get()) == Some(i) {
                return Ok(()); // as if killed here: journal kept, nothing undone
            }
            #[cfg(test)]
            if FAIL_SWAP_AT.with(|f| f.get()) == Some(i) {
                let err = LakeError::Io {
                    path: rel.display().to_string(),
                    source: io::Error::other("injected swap failure"),
                };
                undo_swaps(&self.dir, &self.lake_root, &mut done);
                let _ = fs::remove_file(&journal);
                return Err(err);
            }
            match swap_in(&self.dir, &self.lake_root, rel, i) {
                Ok(swapped) => done.push((rel.clone(), swapped)),
                Err(err) => {
                    undo_swaps(&self.dir, &self.lake_root, &mut done);
                    let _ = fs::remove_file(&journal);
                    fsync_dir(&self.dir);
                    return Err(err);
                }
            }
        }
        // Committed: the previous partitions (now in staging) go with the cleanup.
        let _ = fs::remove_file(&journal);
        Ok(())
    }

    /// Removes the staging area (after commit, or to abandon the run).
    pub fn cleanup(self) {
        self.remove();
    }

    /// Removes the directory, then the lock file (the lock itself goes with the handle).
    fn remove(&self) {
        let _ = fs::remove_dir_all(&self.dir);
        if let Some((path, _)) = &self.lock {
            let _ = fs::remove_file(path);
        }
    }
}

/// The file in a staged partition naming the run that wrote it (readers glob `*.parquet`; the
/// leading dot hides it from Spark and Hive too).
const RUN_MARKER: &str = ".ingest-run";
/// The commit journal of a run's staging directory: the partitions being swapped in.
const COMMIT_JOURNAL: &str = ".commit";

#[cfg(test)]
thread_local! {
    /// Test hook: fail the swap of the n-th partition of a commit.
    static FAIL_SWAP_AT: std::cell::Cell<Option<usize>> = const { std::cell::Cell::new(None) };
    /// Test hook: stop before the n-th swap as if the process died there.
    static DIE_BEFORE_SWAP: std::cell::Cell<Option<usize>> = const { std::cell::Cell::new(None) };
}

/// How one partition was swapped in, to undo it.
enum Swapped {
    /// `RENAME_EXCHANGE`: the staged path now holds the previous partition.
    Exchanged,
    /// There was no previous partition.
    Renamed,
    /// No `RENAME_EXCHANGE`: the previous partition was moved to this path first.
    MovedAside(PathBuf),
}

fn journal_text(relatives: &[PathBuf]) -> String {
    relatives
        .iter()
        .map(|r| format!("{}\n", r.display()))
        .collect()
}

fn write_synced(path: &Path, text: &str) -> Result<(), LakeError> {
    let mut f = File::create(path).map_err(io_err(path))?;
    f.write_all(text.as_bytes()).map_err(io_err(path))?;
    f.sync_all().map_err(io_err(path))
}

/// Swaps the staged partition `rel` of staging directory `dir` into the lake.
fn swap_in(dir: &Path, lake_root: &Path, rel: &Path, seq: usize) -> Result<Swapped, LakeError> {
    let staged = dir.join(rel);
    let target = lake_root.join(rel);
    if let Some(parent) = target.parent() {
        fs::create_dir_all(parent).map_err(io_err(parent))?;
    }
    let swapped = if target.exists() {
        match rustix::fs::renameat_with(
            rustix::fs::CWD,
            &staged,
            rustix::fs::CWD,
            &target,
            rustix::fs::RenameFlags::EXCHANGE,
        ) {
            Ok(()) => Swapped::Exchanged,
            Err(_) => {
                // Filesystems without RENAME_EXCHANGE: move aside, then into place. The date is
                // briefly absent, never half-written; a kill in between is rolled forward.
                let aside = dir.join(".replaced").join(seq.to_string());
                let _ = fs::remove_dir_all(&aside);
                if let Some(parent) = aside.parent() {
                    fs::create_dir_all(parent).map_err(io_err(parent))?;
                }
                fs::rename(&target, &aside).map_err(io_err(&target))?;
                if let Err(e) = fs::rename(&staged, &target) {
                    let _ = fs::rename(&aside, &target);
                    return Err(io_err(&target)(e));
                }
                Swapped::MovedAside(aside)
            }
        }
    } else {
        fs::rename(&staged, &target).map_err(io_err(&target))?;
        Swapped::Renamed
    };
    if let Some(parent) = target.parent() {
        fsync_dir(parent);
    }
    Ok(swapped)
}

/// Puts the previous partitions back, last swapped first (best effort: each step is one rename).
fn undo_swaps(dir: &Path, lake_root: &Path, done: &mut Vec<(PathBuf, Swapped)>) {
    while let Some((rel, swapped)) = done.pop() {
        let staged = dir.join(&rel);
        let target = lake_root.join(&rel);
        let undone = match swapped {
            Swapped::Exchanged => rustix::fs::renameat_with(
                rustix::fs::CWD,
                &staged,
                rustix::fs::CWD,
                &target,
                rustix::fs::RenameFlags::EXCHANGE,
            )
            .map_err(io::Error::from),
            Swapped::Renamed => fs::rename(&target, &staged),
            Swapped::MovedAside(aside) => {
                fs::rename(&target, &staged).and_then(|()| fs::rename(&aside, &target))
            }
        };
        if let Err(e) = undone {
            tracing::error!(partition = %target.display(), error = %e, "could not put the previous partition back");
        }
        if let Some(parent) = target.parent() {
            fsync_dir(parent);
        }
    }
}

/// Completes the commit of a run that died while swapping (its journal is still there): every
/// partition still staged with the run's marker is swapped in. Returns whether there was one.
fn roll_forward(dir: &Path, run: &str, lake_root: &Path) -> bool {
    let Ok(journal) = fs::read_to_string(dir.join(COMMIT_JOURNAL)) else {
        return false;
    };
    for (i, rel) in journal.lines().filter(|l| !l.is_empty()).enumerate() {
        let rel = Path::new(rel);
        let still_staged =
            fs::read(dir.join(rel).join(RUN_MARKER)).is_ok_and(|m| m == run.as_bytes());
        if still_staged && let Err(e) = swap_in(dir, lake_root, rel, i) {
            tracing::error!(partition = %rel.display(), error = %e, "could not complete a killed run's commit");
        }
    }
    tracing::warn!(
        run,
        "completed the commit of a run killed while swapping its partitions in"
    );
    let _ = fs::remove_file(dir.join(COMMIT_JOURNAL));
    true
}

/// The lake of a run: a local directory or an S3 prefix.
pub enum Lake {
    Local(LocalLake),
    S3(Arc<S3Lake>),
}

impl Lake {
    /// Opens the lake; for S3, builds a client (standard AWS chain plus `s3` options).
    pub async fn open(location: &LakeLocation, s3: &crate::source::S3Options) -> Lake {
        match location {
            LakeLocation::Local(root) => Lake::Local(LocalLake::new(root)),
            LakeLocation::S3 { bucket, prefix } => {
                Lake::S3(Arc::new(S3Lake::connect(bucket, prefix, s3).await))
            }
        }
    }

    /// Starts this run's staging (and clears what killed runs left behind). On S3 the run first
    /// takes the lease of the date whose table partition is `partition` (see `lake/s3.rs`), waiting
    /// up to twice `lease_ttl` for another run of the date; `cancel` (a signal) ends the wait.
    pub async fn begin(
        &self,
        run_id: &str,
        partition: &Path,
        lease_ttl: std::time::Duration,
        cancel: tokio::sync::watch::Receiver<bool>,
    ) -> Result<RunStaging, LakeError> {
        validate_run_id(run_id).map_err(LakeError::BadRunId)?;
        match self {
            Lake::Local(lake) => lake.begin(run_id).map(RunStaging::Local),
            Lake::S3(lake) => lake
                .begin(run_id, partition, lease_ttl, cancel)
                .await
                .map(RunStaging::S3),
        }
    }
}

/// A run's uncommitted partitions. Call the methods from blocking threads (not async tasks):
/// the S3 implementation waits on its requests.
pub enum RunStaging {
    Local(Staging),
    S3(Arc<S3Staging>),
}

impl RunStaging {
    /// Where a part file named after `stem` (e.g. `part-00003`) of a partition is written.
    /// On S3 the name gets a run-unique suffix so a new version never overwrites an old one.
    pub fn part(&self, relative: &Path, stem: &str) -> PartTarget {
        match self {
            RunStaging::Local(s) => {
                PartTarget::Local(s.partition_dir(relative).join(format!("{stem}.parquet")))
            }
            RunStaging::S3(s) => s.part(relative, stem),
        }
    }

    /// True when the staged partition holds at least one part file.
    pub fn has_parts(&self, relative: &Path) -> bool {
        match self {
            RunStaging::Local(s) => s.has_parts(relative),
            RunStaging::S3(s) => s.has_parts(relative),
        }
    }

    /// Publishes a staged partition and returns its file names (relative to the partition,
    /// sorted). Local: recorded, and swapped in with the run's other partitions as one set at
    /// [`RunStaging::finalize`]. S3: the new objects become visible beside the previous ones
    /// until [`RunStaging::finalize`] (or [`RunStaging::unpublish`]).
    pub fn publish(&self, relative: &Path) -> Result<Vec<String>, LakeError> {
        match self {
            RunStaging::Local(s) => {
                // Swapped in with the rest of the run's partitions, as one set, at finalize.
                let dir = s.partition_dir(relative);
                let mut names: Vec<String> = fs::read_dir(&dir)
                    .map_err(io_err(&dir))?
                    .flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.ends_with(".parquet"))
                    .collect();
                names.sort();
                s.pending
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .push(relative.to_path_buf());
                Ok(names)
            }
            RunStaging::S3(s) => s.publish(relative),
        }
    }

    /// Ends the replacement of every published partition: S3 writes each partition's
    /// `_manifest.json` and removes the previous version's objects. Local: swaps every
    /// published partition in as one set ([`Staging::commit_all`]); on failure, none is.
    pub fn finalize(&self) -> Result<(), LakeError> {
        match self {
            RunStaging::Local(s) => {
                let pending = std::mem::take(
                    &mut *s
                        .pending
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner),
                );
                s.commit_all(&pending)
            }
            RunStaging::S3(s) => s.finalize(),
        }
    }

    /// Takes back published partitions that were not finalized (S3: deletes this run's new
    /// objects, so the previous version is whole again; local: forgets them, nothing was swapped).
    pub fn unpublish(&self) -> Result<(), LakeError> {
        match self {
            RunStaging::Local(s) => {
                s.pending
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .clear();
                Ok(())
            }
            RunStaging::S3(s) => s.unpublish(),
        }
    }

    /// S3: renews the date's lease, failing with [`LakeError::LeaseLost`] if another run took
    /// it over. Local: nothing to check (the staging lock holds for the run's life).
    pub fn confirm_lease(&self) -> Result<(), LakeError> {
        match self {
            RunStaging::Local(_) => Ok(()),
            RunStaging::S3(s) => s.confirm_lease(),
        }
    }

    /// Drops what was not published: the staging directory, or the open multipart uploads
    /// (and then releases the date's lease).
    pub fn cleanup(&self) {
        match self {
            RunStaging::Local(s) => s.remove(),
            RunStaging::S3(s) => {
                s.abort_pending();
                s.release();
            }
        }
    }
}

fn fsync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::{ColumnType, LINEAGE_COLUMNS};

    const COLS: &[Column] = &[
        Column::new("name", ColumnType::Text, ""),
        Column::new("n", ColumnType::Int64, ""),
    ];

    #[test]
    fn table_names_are_validated() {
        let t = TableName::parse("push_proxy.logs_us_new").unwrap();
        assert_eq!(t.rejects().to_string(), "push_proxy.logs_us_new_rejects");
        assert_eq!(
            t.partition_path("2026-11-20".parse().unwrap()),
            Path::new("push_proxy/logs_us_new/dt=2026-11-20")
        );
        for bad in ["logs", "a.b.c", "a-b.c", ".x", "1a.b", "a/b.c"] {
            assert!(TableName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn commit_swaps_a_partition_and_abandoned_staging_leaves_it() {
        let lake_dir = tempfile::tempdir().unwrap();
        let lake = LocalLake::new(lake_dir.path());
        let rel = Path::new("s/t/dt=2026-11-20");
        let write = |run: &str, rows: i64| {
            let staging = lake.begin(run).unwrap();
            let mut part = PartWriter::new(
                Some(PartTarget::Local(
                    staging.partition_dir(rel).join("part-00000.parquet"),
                )),
                COLS,
                &[],
            );
            for i in 0..rows {
                let mut row = part.batch().start_row();
                row.text(Some("x")).i64(Some(i));
                row.finish();
            }
            part.finish().unwrap();
            staging
        };
        let first = write("run1", 3);
        first.commit(rel).unwrap();
        first.cleanup();
        let target = lake_dir.path().join(rel).join("part-00000.parquet");
        let size_first = fs::metadata(&target).unwrap().len();

        let second = write("run2", 1000);
        second.commit(rel).unwrap();
        second.cleanup();
        assert_ne!(fs::metadata(&target).unwrap().len(), size_first);

        let abandoned = write("run3", 5);
        abandoned.cleanup();
        assert!(fs::metadata(&target).unwrap().len() > size_first);
        assert!(!lake_dir.path().join(".staging/run3").exists());
    }

    #[test]
    fn s3_commit_conflicts_are_retries_that_say_what_to_do() {
        let busy = LakeError::Busy {
            lease: "s3://b/lake/s/t/dt=2026-11-20/_lease.json".into(),
            holder: "scheduled-1".into(),
            ttl: 60,
            waited: 120,
        };
        assert_eq!(busy.kind().exit_code(), 4);
        let text = busy.to_string();
        assert!(text.contains("run id scheduled-1"), "{text}");
        assert!(
            text.contains("This run wrote nothing; re-run the date"),
            "{text}"
        );
        let lost = LakeError::LeaseLost {
            lease: "s3://b/x/_lease.json".into(),
            holder: "retry-2".into(),
            ttl: 60,
        };
        assert_eq!(lost.kind().exit_code(), 4);
        assert!(lost.to_string().contains("to run retry-2"));
        let changed = LakeError::ManifestChanged {
            key: "s3://b/x/_manifest.json".into(),
        };
        assert_eq!(changed.kind().exit_code(), 4);
        assert_eq!(LakeError::Cancelled.kind(), FailureKind::Interrupted);
        let bad = LakeError::BadManifest {
            key: "s3://b/x/_manifest.json".into(),
            reason: "expected".into(),
        };
        assert_eq!(bad.kind(), FailureKind::Data);
    }

    #[test]
    fn run_ids_are_plain_file_names() {
        let long = "a".repeat(MAX_RUN_ID_LEN);
        for good in [
            "20261129T185023Z-1a2b",
            "manual.rerun_2",
            "A",
            long.as_str(),
        ] {
            assert_eq!(validate_run_id(good), Ok(()), "{good}");
        }
        let too_long = "a".repeat(MAX_RUN_ID_LEN + 1);
        for bad in [
            "",
            ".",
            "..",
            "../x",
            "/etc",
            ".hidden",
            "-rf",
            "a/b",
            "a b",
            "a\nb",
            "run\u{e9}",
            "a:b",
            too_long.as_str(),
        ] {
            let err = validate_run_id(bad).unwrap_err();
            assert!(
                err.contains("A-Z, a-z, 0-9, '.', '_' and '-'"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn an_unsafe_run_id_touches_nothing() {
        let lake_dir = tempfile::tempdir().unwrap();
        let live = lake_dir.path().join("s/t/dt=2026-11-20/part-00000.parquet");
        fs::create_dir_all(live.parent().unwrap()).unwrap();
        fs::write(&live, b"old").unwrap();
        let lake = LocalLake::new(lake_dir.path());
        for bad in ["..", ".", "../../x", "/tmp"] {
            let Err(err) = lake.begin(bad) else {
                panic!("{bad} accepted")
            };
            assert_eq!(err.kind(), FailureKind::Config, "{bad}");
        }
        assert_eq!(fs::read(&live).unwrap(), b"old");
    }

    /// Writes `rows` rows into `part-00000` of `rel` in `staging`.
    fn write_part(staging: &Staging, rel: &Path, rows: i64) {
        let mut part = PartWriter::new(
            Some(PartTarget::Local(
                staging.partition_dir(rel).join("part-00000.parquet"),
            )),
            COLS,
            &[],
        );
        for i in 0..rows {
            let mut row = part.batch().start_row();
            row.text(Some("x")).i64(Some(i));
            row.finish();
        }
        part.finish().unwrap();
    }

    #[test]
    fn a_reused_run_id_starts_from_an_empty_staging_directory() {
        let lake_dir = tempfile::tempdir().unwrap();
        let lake = LocalLake::new(lake_dir.path());
        let rel = Path::new("s/t/dt=2026-11-20");
        // What a run killed mid-write leaves: a part file without its footer.
        let leftover = lake_dir
            .path()
            .join(".staging/run1")
            .join(rel)
            .join("part-00007.parquet");
        fs::create_dir_all(leftover.parent().unwrap()).unwrap();
        fs::write(&leftover, b"PAR1 truncated").unwrap();

        let staging = lake.begin("run1").unwrap();
        write_part(&staging, rel, 3);
        staging.commit(rel).unwrap();
        staging.cleanup();
        let names: Vec<String> = fs::read_dir(lake_dir.path().join(rel))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".parquet"))
            .collect();
        assert_eq!(names, ["part-00000.parquet"]);
        // Nothing of the run is left: no directory, no lock file.
        let left: Vec<_> = fs::read_dir(lake_dir.path().join(".staging"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }

    #[test]
    fn a_live_run_id_is_refused_and_dead_runs_are_cleared() {
        let lake_dir = tempfile::tempdir().unwrap();
        let lake = LocalLake::new(lake_dir.path());
        let live = lake.begin("live").unwrap();
        let Err(err) = lake.begin("live") else {
            panic!("a second run with the same id started")
        };
        assert!(
            err.to_string().contains("in use by another running job"),
            "{err}"
        );
        assert_eq!(err.kind(), FailureKind::Config);

        // A killed run (its lock free) and a running one, both older than the margin.
        let staging_root = lake_dir.path().join(".staging");
        fs::create_dir_all(staging_root.join("killed/s/t")).unwrap();
        fs::write(staging_root.join("killed.lock"), b"").unwrap();
        let long_ago =
            std::time::SystemTime::now() - std::time::Duration::from_secs(STALE_STAGING_SECS + 60);
        for name in ["killed", "killed.lock", "live", "live.lock"] {
            File::open(staging_root.join(name))
                .unwrap()
                .set_modified(long_ago)
                .unwrap();
        }
        let other = lake.begin("other").unwrap();
        assert!(!staging_root.join("killed").exists());
        assert!(!staging_root.join("killed.lock").exists());
        assert!(
            staging_root.join("live").is_dir(),
            "a running run's staging was removed"
        );
        other.cleanup();
        live.cleanup();
        assert!(lake.begin("live").is_ok(), "the id is free after cleanup");
    }

    /// The partitions of one run (a table and its rejects), and what each holds.
    const SET: [&str; 3] = [
        "s/t/dt=2026-11-20",
        "s/t_daily/dt=2026-11-20",
        "s/t_rejects/dt=2026-11-20",
    ];

    fn rows_in(lake: &Path, rel: &str) -> Option<i64> {
        let file = File::open(lake.join(rel).join("part-00000.parquet")).ok()?;
        let reader = parquet::file::reader::SerializedFileReader::new(file).unwrap();
        Some(
            parquet::file::reader::FileReader::metadata(&reader)
                .file_metadata()
                .num_rows(),
        )
    }

    /// Stages `rows` rows in every partition of [`SET`] and publishes them.
    fn stage_set(lake: &LocalLake, run: &str, rows: i64) -> RunStaging {
        let staging = RunStaging::Local(lake.begin(run).unwrap());
        let RunStaging::Local(s) = &staging else {
            unreachable!()
        };
        for rel in SET {
            write_part(s, Path::new(rel), rows);
        }
        for rel in SET {
            assert_eq!(
                staging.publish(Path::new(rel)).unwrap(),
                ["part-00000.parquet"]
            );
        }
        staging
    }

    #[test]
    fn a_failed_swap_leaves_the_whole_set_as_before() {
        let dir = tempfile::tempdir().unwrap();
        let lake = LocalLake::new(dir.path());
        let first = stage_set(&lake, "old", 3);
        first.finalize().unwrap();
        first.cleanup();
        // The third partition's swap fails: the two already swapped go back.
        let second = stage_set(&lake, "new", 7);
        FAIL_SWAP_AT.with(|f| f.set(Some(2)));
        let err = second.finalize().unwrap_err();
        FAIL_SWAP_AT.with(|f| f.set(None));
        assert!(err.to_string().contains("injected swap failure"), "{err}");
        second.cleanup();
        for rel in SET {
            assert_eq!(rows_in(dir.path(), rel), Some(3), "{rel}");
        }
        // A new date (no previous partitions) failing half way leaves no partition at all.
        let fresh = tempfile::tempdir().unwrap();
        let lake = LocalLake::new(fresh.path());
        let run = stage_set(&lake, "fresh", 7);
        FAIL_SWAP_AT.with(|f| f.set(Some(1)));
        assert!(run.finalize().is_err());
        FAIL_SWAP_AT.with(|f| f.set(None));
        for rel in SET {
            assert_eq!(rows_in(fresh.path(), rel), None, "{rel}");
        }
    }

    #[test]
    fn a_run_killed_while_swapping_is_completed_by_the_next_run() {
        for reuse_id in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let lake = LocalLake::new(dir.path());
            let first = stage_set(&lake, "old", 3);
            first.finalize().unwrap();
            first.cleanup();
            let killed = stage_set(&lake, "killed", 7);
            DIE_BEFORE_SWAP.with(|f| f.set(Some(1)));
            killed.finalize().unwrap();
            DIE_BEFORE_SWAP.with(|f| f.set(None));
            // Mid-commit: the first partition is new, the others old.
            assert_eq!(rows_in(dir.path(), SET[0]), Some(7));
            assert_eq!(rows_in(dir.path(), SET[1]), Some(3));
            drop(killed); // the process is gone: its lock is released, its staging stays
            // The next run on this lake (any id, or the same one re-run) completes the set.
            let next = lake
                .begin(if reuse_id { "killed" } else { "next" })
                .unwrap();
            for rel in SET {
                assert_eq!(
                    rows_in(dir.path(), rel),
                    Some(7),
                    "{rel} (reuse {reuse_id})"
                );
            }
            next.cleanup();
            let left: Vec<_> = fs::read_dir(dir.path().join(".staging"))
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            assert!(left.is_empty(), "{left:?}");
        }
    }

    #[test]
    fn a_part_moves_on_to_a_new_file_after_its_row_groups() {
        let dir = tempfile::tempdir().unwrap();
        let mut part = PartWriter::new(
            Some(PartTarget::Local(dir.path().join("part-00003.parquet"))),
            COLS,
            &[],
        )
        .with_groups_per_file(2);
        for i in 0..5 {
            let mut row = part.batch().start_row();
            row.text(Some("x")).i64(Some(i));
            row.finish();
            part.flush().unwrap();
        }
        assert_eq!(part.finish().unwrap(), 5);
        let mut names: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                "part-00003-s001.parquet",
                "part-00003-s002.parquet",
                "part-00003.parquet"
            ]
        );
        let rows: i64 = names
            .iter()
            .map(|n| {
                let file = File::open(dir.path().join(n)).unwrap();
                let reader = parquet::file::reader::SerializedFileReader::new(file).unwrap();
                parquet::file::reader::FileReader::metadata(&reader)
                    .file_metadata()
                    .num_rows()
            })
            .sum();
        assert_eq!(rows, 5);
    }

    #[test]
    fn batches_join_large_row_groups_and_only_repeating_columns_get_a_dictionary() {
        let (_dir, path, mut part) = local_part(COLS);
        let rows = 200_000i64;
        for i in 0..rows {
            let mut row = part.batch().start_row();
            row.text(Some(if i % 3 == 0 { "GET" } else { "POST" }))
                .i64(Some(i * 7919));
            row.finish();
            part.maybe_flush().unwrap();
        }
        assert_eq!(part.finish().unwrap(), rows as u64);
        let reader = read_back(&path);
        let meta = parquet::file::reader::FileReader::metadata(&reader);
        let groups: Vec<i64> = meta.row_groups().iter().map(|g| g.num_rows()).collect();
        // The first group closes at exactly ROW_GROUP_ROWS rows, as DuckDB's do.
        assert_eq!(
            groups,
            [ROW_GROUP_ROWS as i64, rows - ROW_GROUP_ROWS as i64]
        );
        let dictionary = |col: usize| {
            meta.row_group(0)
                .column(col)
                .encodings()
                .any(|e| e == parquet::basic::Encoding::RLE_DICTIONARY)
        };
        assert!(dictionary(0), "two distinct values: a dictionary pays");
        assert!(!dictionary(1), "every value distinct: plain");
    }

    /// A part writer for `columns` at `part-00000.parquet` in a new temporary directory (kept
    /// while the returned guard lives).
    fn local_part(columns: &[Column]) -> (tempfile::TempDir, PathBuf, PartWriter) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("part-00000.parquet");
        let part = PartWriter::new(Some(PartTarget::Local(path.clone())), columns, &[]);
        (dir, path, part)
    }

    fn read_back(path: &Path) -> parquet::file::reader::SerializedFileReader<File> {
        parquet::file::reader::SerializedFileReader::new(File::open(path).unwrap()).unwrap()
    }

    #[test]
    fn column_plans_are_decided_from_a_sample_larger_than_a_batch() {
        // 3,000 values in a cycle, ~620 bytes a row: unique through the first 1 MiB batch
        // (~1,700 rows), each seen twice in the 4 MiB sample, where a dictionary pays.
        static WIDE: &[Column] = &[
            Column::new("padding", ColumnType::Text, ""),
            Column::new("second_of_hour", ColumnType::Int64, "repeats, but not soon"),
        ];
        let (_dir, path, mut part) = local_part(WIDE);
        let padding = "p".repeat(600);
        for i in 0..20_000i64 {
            let mut row = part.batch().start_row();
            row.text(Some(&padding)).i64(Some((i * 7) % 3_000));
            row.finish();
            part.maybe_flush().unwrap();
        }
        part.finish().unwrap();
        let reader = read_back(&path);
        let meta = parquet::file::reader::FileReader::metadata(&reader);
        assert!(
            meta.row_group(0)
                .column(1)
                .encodings()
                .any(|e| e == parquet::basic::Encoding::RLE_DICTIONARY),
            "the sample saw every value repeat"
        );
    }

    #[test]
    fn text_statistics_only_where_they_can_prune() {
        static STATS_COLS: &[Column] = &[
            Column::new("method", ColumnType::Text, "repeats: a dictionary"),
            Column::new("request_id", ColumnType::Text, "unique, in no order"),
            Column::new("server_id", ColumnType::Text, "unique, sorted"),
            Column::new("bytes", ColumnType::Int64, "a number"),
        ];
        let (_dir, path, mut part) = local_part(STATS_COLS);
        for i in 0..5_000u64 {
            let scrambled = format!("{:016x}", i.wrapping_mul(0x9e37_79b9_7f4a_7c15));
            let sorted = format!("{i:08}");
            let mut row = part.batch().start_row();
            row.text(Some(if i % 3 == 0 { "GET" } else { "POST" }))
                .text(Some(&scrambled))
                .text(Some(&sorted))
                .i64(Some(i as i64 * 7919));
            row.finish();
            part.maybe_flush().unwrap();
        }
        part.finish().unwrap();
        let reader = read_back(&path);
        let meta = parquet::file::reader::FileReader::metadata(&reader);
        let has_stats = |col: usize| meta.row_group(0).column(col).statistics().is_some();
        assert!(has_stats(0), "repeating text keeps its min/max");
        assert!(
            !has_stats(1),
            "unique unordered text: min/max prune nothing"
        );
        assert!(has_stats(2), "sorted text keeps its min/max");
        assert!(has_stats(3), "numbers keep their min/max");
    }

    /// Every value the own encoder writes reads back, through the Parquet crate's reader, as
    /// written: dictionary and plain text, a dictionary that overflows into plain pages mid-chunk,
    /// NULLs, numbers of each width, and their statistics.
    #[test]
    fn own_encoder_round_trips_every_type_and_encoding() {
        use parquet::record::Field;
        static COLS: &[Column] = &[
            Column::new("method", ColumnType::Text, "repeats, with NULLs"),
            Column::new(
                "grows",
                ColumnType::Text,
                "repeats, then 1.5 MiB of new values",
            ),
            Column::new("id", ColumnType::Text, "unique: plain"),
            Column::new("status", ColumnType::Int32, "repeats, with NULLs"),
            Column::new("bytes", ColumnType::Int64, "unique"),
            Column::new(
                "seconds",
                ColumnType::Float64,
                "zeros of both signs, negatives",
            ),
        ];
        type Row = (Option<String>, String, String, Option<i32>, i64, f64);
        let rows: Vec<Row> = (0..80_000i64)
            .map(|i| {
                let grows = if i < 70_000 {
                    format!("v{}", i % 10)
                } else {
                    format!("{i:0>200}")
                };
                (
                    (i % 7 != 0).then(|| ["GET", "POST", "PUT"][i as usize % 3].to_string()),
                    grows,
                    format!("{:016x}", (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15)),
                    (i % 5 != 0).then_some(200 + (i % 4) as i32),
                    i * 7919 - 1_000_000,
                    match i % 4 {
                        0 => -0.0,
                        1 => 0.0,
                        2 => -1.0,
                        _ => i as f64 / 1000.0,
                    },
                )
            })
            .collect();
        let (_dir, path, mut part) = local_part(COLS);
        for r in &rows {
            let mut row = part.batch().start_row();
            row.text(r.0.as_deref())
                .text(Some(&r.1))
                .text(Some(&r.2))
                .i32(r.3)
                .i64(Some(r.4))
                .f64(Some(r.5));
            row.finish();
            part.maybe_flush().unwrap();
        }
        assert_eq!(part.finish().unwrap(), rows.len() as u64);

        let reader = read_back(&path);
        let meta = parquet::file::reader::FileReader::metadata(&reader).clone();
        let mut read = 0;
        for (got, want) in reader.into_iter().zip(&rows) {
            let got = got.unwrap();
            let fields: Vec<&Field> = got.get_column_iter().map(|(_, f)| f).collect();
            let text = |f: &Field| match f {
                Field::Str(s) => Some(s.clone()),
                Field::Null => None,
                other => panic!("not text: {other:?}"),
            };
            assert_eq!(text(fields[0]), want.0);
            assert_eq!(text(fields[1]).as_ref(), Some(&want.1));
            assert_eq!(text(fields[2]).as_ref(), Some(&want.2));
            match (fields[3], want.3) {
                (Field::Int(v), Some(w)) => assert_eq!(*v, w),
                (Field::Null, None) => {}
                other => panic!("status {other:?}"),
            }
            assert!(matches!(fields[4], Field::Long(v) if *v == want.4));
            assert!(matches!(fields[5], Field::Double(v) if v.to_bits() == want.5.to_bits()));
            read += 1;
        }
        assert_eq!(read, rows.len());

        let group = meta.row_group(0);
        assert!(group.column(1).dictionary_page_offset().is_some());
        let pages = parquet::file::reader::FileReader::get_row_group(&read_back(&path), 0)
            .unwrap()
            .get_column_page_reader(1)
            .unwrap();
        let encodings: Vec<_> = pages
            .map(|p| {
                let p = p.unwrap();
                (p.page_type(), p.encoding())
            })
            .collect();
        assert!(
            encodings.contains(&(
                parquet::basic::PageType::DATA_PAGE,
                Encoding::RLE_DICTIONARY
            )) && encodings.contains(&(parquet::basic::PageType::DATA_PAGE, Encoding::PLAIN)),
            "a dictionary past its limit goes on plain: {encodings:?}"
        );
        use parquet::file::statistics::Statistics;
        match group.column(0).statistics() {
            Some(Statistics::ByteArray(s)) => {
                assert_eq!(s.min_opt().unwrap().data(), b"GET");
                assert_eq!(s.max_opt().unwrap().data(), b"PUT");
                assert_eq!(
                    s.null_count_opt(),
                    Some(
                        rows.iter()
                            .take(group.num_rows() as usize)
                            .filter(|r| r.0.is_none())
                            .count() as u64
                    )
                );
            }
            other => panic!("method statistics {other:?}"),
        }
        match group.column(3).statistics() {
            Some(Statistics::Int32(s)) => {
                assert_eq!((s.min_opt(), s.max_opt()), (Some(&200), Some(&203)));
            }
            other => panic!("status statistics {other:?}"),
        }
        // Signed bounds: little-endian bytes compared as bytes would put -1,000,000 above 0.
        let group_rows = &rows[..group.num_rows() as usize];
        match group.column(4).statistics() {
            Some(Statistics::Int64(s)) => {
                let want = (
                    group_rows.iter().map(|r| r.4).min(),
                    group_rows.iter().map(|r| r.4).max(),
                );
                assert_eq!((s.min_opt().copied(), s.max_opt().copied()), want);
                assert_eq!(want.0, Some(-1_000_000));
            }
            other => panic!("bytes statistics {other:?}"),
        }
        match group.column(5).statistics() {
            Some(Statistics::Double(s)) => {
                assert_eq!(s.min_opt().unwrap().to_bits(), (-1.0f64).to_bits());
                assert!(*s.max_opt().unwrap() > 70.0);
            }
            other => panic!("seconds statistics {other:?}"),
        }
    }

    #[test]
    fn plain_chunks_snappy_cannot_shrink_are_stored_uncompressed() {
        use parquet::basic::Compression;
        use parquet::record::Field;
        static COLS: &[Column] = &[
            Column::new(
                "request_id",
                ColumnType::Text,
                "random: Snappy gains nothing",
            ),
            Column::new(
                "path",
                ColumnType::Text,
                "unique but repetitive: Snappy pays",
            ),
            Column::new(
                "agent",
                ColumnType::Text,
                "a dictionary with random indices",
            ),
            Column::new("port", ColumnType::Int32, "random, unique enough for plain"),
        ];
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            // xorshift64: reproducible noise without a dependency.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        type Row = (String, String, String, i32);
        let rows: Vec<Row> = (0..50_000)
            .map(|i| {
                let id = (0..20)
                    .map(|_| char::from(ALPHABET[(next() % 64) as usize]))
                    .collect();
                let path = format!("/api/v4/users/{i}/teams/unread?include_collapsed_threads=true");
                let agent = format!("agent-{}", next() % 200);
                (id, path, agent, (next() % 64_000) as i32 + 1024)
            })
            .collect();
        let (_dir, path, mut part) = local_part(COLS);
        for r in &rows {
            let mut row = part.batch().start_row();
            row.text(Some(&r.0))
                .text(Some(&r.1))
                .text(Some(&r.2))
                .i32(Some(r.3));
            row.finish();
            part.maybe_flush().unwrap();
        }
        part.finish().unwrap();

        let reader = read_back(&path);
        let meta = parquet::file::reader::FileReader::metadata(&reader).clone();
        let column = |i: usize| meta.row_group(0).column(i);
        assert_eq!(column(0).compression(), Compression::UNCOMPRESSED);
        assert_eq!(
            column(0).compressed_size(),
            column(0).uncompressed_size(),
            "stored as encoded"
        );
        assert_eq!(column(1).compression(), Compression::SNAPPY);
        assert!(column(1).compressed_size() * 2 < column(1).uncompressed_size());
        assert!(column(2).dictionary_page_offset().is_some());
        assert_eq!(
            column(2).compression(),
            Compression::SNAPPY,
            "the dictionary page shares the chunk's codec"
        );
        assert_eq!(column(3).compression(), Compression::UNCOMPRESSED);
        let mut read = 0;
        for (got, want) in reader.into_iter().zip(&rows) {
            let got = got.unwrap();
            let fields: Vec<&Field> = got.get_column_iter().map(|(_, f)| f).collect();
            assert!(matches!(fields[0], Field::Str(s) if *s == want.0));
            assert!(matches!(fields[1], Field::Str(s) if *s == want.1));
            assert!(matches!(fields[2], Field::Str(s) if *s == want.2));
            assert!(matches!(fields[3], Field::Int(v) if *v == want.3));
            read += 1;
        }
        assert_eq!(read, rows.len());
    }

    #[test]
    fn a_spliced_chunk_reads_as_one_buffer_from_any_offset() {
        let chunk = SplicedChunk {
            head: b"dict",
            body: b"-pages",
        };
        assert_eq!(chunk.len(), 10);
        for start in 0..=10u64 {
            let mut read = Vec::new();
            chunk
                .get_read(start)
                .unwrap()
                .read_to_end(&mut read)
                .unwrap();
            assert_eq!(read, &b"dict-pages"[start as usize..], "from {start}");
        }
        assert_eq!(chunk.get_bytes(2, 5).unwrap().as_ref(), b"ct-pa");
        let no_dictionary = SplicedChunk {
            head: b"",
            body: b"pages",
        };
        assert_eq!(no_dictionary.get_bytes(0, 5).unwrap().as_ref(), b"pages");
    }

    #[test]
    fn schema_covers_every_column_type() {
        let schema = parquet_schema(LINEAGE_COLUMNS);
        assert_eq!(schema.get_fields().len(), LINEAGE_COLUMNS.len());
    }
}
