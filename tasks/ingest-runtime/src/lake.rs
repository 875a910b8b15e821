//! The lake: Parquet partitions `<lake>/<schema>/<table>/dt=YYYY-MM-DD/part-*.parquet`.
//!
//! A run writes every part file under `<lake>/.staging/<run-id>/` and, only when everything
//! succeeded, swaps each finished partition directory into place with one atomic
//! `renameat2(RENAME_EXCHANGE)`. A reader sees either the old date or the new one, never half;
//! a run that fails or is killed leaves the previous partition untouched. Rows are written in
//! row groups of bounded size while streaming, so memory does not grow with the input.

use std::fs::{self, File};
use std::io::{self, BufWriter};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parquet::basic::Compression;
use parquet::column::writer::ColumnWriter;
use parquet::data_type::ByteArray;
use parquet::file::properties::{WriterProperties, WriterVersion};
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::Type;

use crate::table::{Column, ColumnValues, RowBatch};
use crate::time::Date;

/// Flush a row group when the buffered values reach this many bytes...
const ROW_GROUP_BYTES: usize = 4 << 20;
/// ...or this many rows, whichever comes first.
const ROW_GROUP_ROWS: usize = 64 * 1024;

/// Staging directories older than this are leftovers of killed runs and are removed.
const STALE_STAGING_SECS: u64 = 24 * 3600;

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

fn writer_properties() -> Arc<WriterProperties> {
    Arc::new(
        WriterProperties::builder()
            .set_writer_version(WriterVersion::PARQUET_1_0)
            .set_compression(Compression::SNAPPY)
            .set_created_by(format!("ingest-runtime {}", env!("CARGO_PKG_VERSION")))
            .build(),
    )
}

/// Writes one Parquet part file, a row group at a time. The file is created on the first flush,
/// so a worker that saw no rows leaves no file.
pub struct PartWriter {
    path: Option<PathBuf>,
    schema: Arc<Type>,
    writer: Option<SerializedFileWriter<BufWriter<File>>>,
    batch: RowBatch,
    rows_written: u64,
}

impl PartWriter {
    /// A writer for `data` + `extra` columns at `path`; `None` = dry run (rows are dropped).
    pub fn new(path: Option<PathBuf>, data: &[Column], extra: &[Column]) -> PartWriter {
        let all: Vec<Column> = data.iter().chain(extra).copied().collect();
        PartWriter {
            path,
            schema: parquet_schema(&all),
            writer: None,
            batch: RowBatch::new(data, extra),
            rows_written: 0,
        }
    }

    pub fn batch(&mut self) -> &mut RowBatch {
        &mut self.batch
    }

    /// Flushes when the buffered row group is full.
    pub fn maybe_flush(&mut self) -> Result<(), LakeError> {
        if self.batch.len() >= ROW_GROUP_ROWS || self.batch.approx_bytes() >= ROW_GROUP_BYTES {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes the buffered rows as one row group.
    pub fn flush(&mut self) -> Result<(), LakeError> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let rows = self.batch.len() as u64;
        if let Some(path) = &self.path {
            if self.writer.is_none() {
                self.writer = Some(open_writer(path, &self.schema)?);
            }
            let writer = self.writer.as_mut().expect("opened above");
            write_row_group(writer, &mut self.batch).map_err(|source| LakeError::Parquet {
                path: path.display().to_string(),
                source,
            })?;
        }
        self.rows_written += rows;
        self.batch.clear();
        Ok(())
    }

    /// Flushes and closes the file; returns the rows written.
    pub fn finish(mut self) -> Result<u64, LakeError> {
        self.flush()?;
        if let (Some(writer), Some(path)) = (self.writer.take(), &self.path) {
            let mut inner = writer.into_inner().map_err(|source| LakeError::Parquet {
                path: path.display().to_string(),
                source,
            })?;
            io::Write::flush(&mut inner).map_err(io_err(path))?;
            inner.get_ref().sync_all().map_err(io_err(path))?;
        }
        Ok(self.rows_written)
    }

    /// Writes a valid Parquet file with the schema and no rows (for an empty partition).
    pub fn write_empty(path: &Path, columns: &[Column]) -> Result<(), LakeError> {
        let writer = open_writer(path, &parquet_schema(columns))?;
        let mut inner = writer.into_inner().map_err(|source| LakeError::Parquet {
            path: path.display().to_string(),
            source,
        })?;
        io::Write::flush(&mut inner).map_err(io_err(path))?;
        Ok(())
    }
}

fn open_writer(
    path: &Path,
    schema: &Arc<Type>,
) -> Result<SerializedFileWriter<BufWriter<File>>, LakeError> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(io_err(dir))?;
    }
    let file = File::create(path).map_err(io_err(path))?;
    SerializedFileWriter::new(
        BufWriter::with_capacity(256 * 1024, file),
        schema.clone(),
        writer_properties(),
    )
    .map_err(|source| LakeError::Parquet {
        path: path.display().to_string(),
        source,
    })
}

fn write_row_group(
    writer: &mut SerializedFileWriter<BufWriter<File>>,
    batch: &mut RowBatch,
) -> parquet::errors::Result<()> {
    let mut group = writer.next_row_group()?;
    let mut columns = batch.columns.iter_mut();
    while let Some(mut out) = group.next_column()? {
        let col = columns
            .next()
            .expect("the Parquet schema and the batch have the same columns");
        let defs = Some(col.defs.as_slice());
        match (out.untyped(), &mut col.values) {
            (ColumnWriter::ByteArrayColumnWriter(w), ColumnValues::Text { bytes, ends }) => {
                // One shared buffer; each value is a cheap slice of it.
                let shared = bytes::Bytes::from(std::mem::take(bytes));
                let mut start = 0usize;
                let values: Vec<ByteArray> = ends
                    .iter()
                    .map(|&end| {
                        let v = ByteArray::from(shared.slice(start..end as usize));
                        start = end as usize;
                        v
                    })
                    .collect();
                w.write_batch(&values, defs, None)?;
            }
            (ColumnWriter::Int32ColumnWriter(w), ColumnValues::Int32(v)) => {
                w.write_batch(v, defs, None)?;
            }
            (ColumnWriter::Int64ColumnWriter(w), ColumnValues::Int64(v)) => {
                w.write_batch(v, defs, None)?;
            }
            (ColumnWriter::DoubleColumnWriter(w), ColumnValues::Float64(v)) => {
                w.write_batch(v, defs, None)?;
            }
            (ColumnWriter::BoolColumnWriter(w), ColumnValues::Bool(v)) => {
                w.write_batch(v, defs, None)?;
            }
            _ => unreachable!("column types follow the schema"),
        }
        out.close()?;
    }
    group.close()?;
    Ok(())
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

    /// Creates this run's staging directory (and clears stale ones of killed runs).
    pub fn begin(&self, run_id: &str) -> Result<Staging, LakeError> {
        let staging_root = self.root.join(".staging");
        fs::create_dir_all(&staging_root).map_err(io_err(&staging_root))?;
        remove_stale(&staging_root);
        let dir = staging_root.join(run_id);
        fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        Ok(Staging {
            dir,
            lake_root: self.root.clone(),
        })
    }
}

fn remove_stale(staging_root: &Path) {
    let Ok(entries) = fs::read_dir(staging_root) else {
        return;
    };
    for entry in entries.flatten() {
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age.as_secs() > STALE_STAGING_SECS);
        if old {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

/// A run's private staging area inside the lake.
pub struct Staging {
    dir: PathBuf,
    lake_root: PathBuf,
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
        let staged = self.partition_dir(relative);
        let target = self.lake_root.join(relative);
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).map_err(io_err(parent))?;
        }
        fsync_dir(&staged);
        if target.exists() {
            match rustix::fs::renameat_with(
                rustix::fs::CWD,
                &staged,
                rustix::fs::CWD,
                &target,
                rustix::fs::RenameFlags::EXCHANGE,
            ) {
                Ok(()) => {
                    // `staged` now holds the previous partition.
                    let _ = fs::remove_dir_all(&staged);
                }
                Err(_) => {
                    // Filesystems without RENAME_EXCHANGE: move aside, then into place. The
                    // date is briefly absent, never half-written.
                    let aside = self.dir.join(".replaced");
                    let _ = fs::remove_dir_all(&aside);
                    fs::rename(&target, &aside).map_err(io_err(&target))?;
                    fs::rename(&staged, &target).map_err(io_err(&target))?;
                    let _ = fs::remove_dir_all(&aside);
                }
            }
        } else {
            fs::rename(&staged, &target).map_err(io_err(&target))?;
        }
        if let Some(parent) = target.parent() {
            fsync_dir(parent);
        }
        Ok(())
    }

    /// Removes the staging area (after commit, or to abandon the run).
    pub fn cleanup(self) {
        let _ = fs::remove_dir_all(&self.dir);
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
                Some(staging.partition_dir(rel).join("part-00000.parquet")),
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
    fn schema_covers_every_column_type() {
        let schema = parquet_schema(LINEAGE_COLUMNS);
        assert_eq!(schema.get_fields().len(), LINEAGE_COLUMNS.len());
    }
}
