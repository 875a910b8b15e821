//! One run: list the date's objects, parse them on parallel workers, write the partitions aside,
//! check the reject ratio, then commit (or commit nothing).

use std::io::{self, BufRead, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::aws_client::S3Options;
use crate::error::RunError;
use crate::lake::{Lake, LakeError, LakeLocation, PartWriter, RunStaging, TableName};
use crate::notify::alert::SampleReject;
use crate::sniff::SniffReader;
use crate::source::{
    KeySelection, ObjectInfo, ObjectStream, SourceFailure, SourceLocation, Sources,
};
use crate::warehouse::{LoadPlan, LoadTable, Warehouse, WarehouseError};
use ingest_format::format::{DerivedSink, ReadError, RecordFormat, RecordSink};
use ingest_format::table::{
    DERIVED_LINEAGE_COLUMNS, LINEAGE_COLUMNS, REJECT_COLUMNS, RowWriter, escape_invalid_utf8,
};
use ingest_format::time::Date;

/// Rejected lines quoted in the alert.
pub const SAMPLE_REJECTS: usize = 5;
/// A sample line is cut to this many characters.
const SAMPLE_LINE_CHARS: usize = 300;

/// Everything a run needs, already validated.
#[derive(Clone, Debug)]
pub struct RunConfig {
    pub job: &'static str,
    pub date: Date,
    pub sources: Vec<SourceLocation>,
    pub selection: KeySelection,
    pub table: TableName,
    pub lake: LakeLocation,
    /// `--warehouse`: load the committed partitions there (needs an S3 lake).
    pub warehouse: Option<Arc<Warehouse>>,
    pub max_reject_ratio: f64,
    pub allow_empty: bool,
    pub dry_run: bool,
    pub threads: usize,
    pub run_id: String,
    pub loaded_at_micros: i64,
    pub s3: S3Options,
    /// `--lake-lease-seconds`: the S3 lake's date lease's time to live.
    pub lake_lease: std::time::Duration,
}

/// Live counters, shared with the progress display and the summary.
#[derive(Debug, Default)]
pub struct Counters {
    pub files_total: AtomicU64,
    pub files_done: AtomicU64,
    pub bytes_compressed: AtomicU64,
    pub bytes_uncompressed: AtomicU64,
    pub rows_loaded: AtomicU64,
    pub rows_rejected: AtomicU64,
    /// Data-quality counters reported by the format (name, count).
    pub named: Mutex<Vec<(&'static str, u64)>>,
    pub samples: Mutex<Vec<SampleReject>>,
}

impl Counters {
    fn add_named(&self, named: &[(&'static str, u64)]) {
        let mut all = self.named.lock().expect("counter lock");
        for (name, n) in named {
            match all.iter_mut().find(|(k, _)| k == name) {
                Some((_, v)) => *v += n,
                None => all.push((name, *n)),
            }
        }
    }
}

/// Why workers should stop early.
#[derive(Default)]
pub struct StopFlag {
    stop: AtomicBool,
    /// Set by the signal handler: "SIGTERM" / "SIGINT", or "the time limit" (see
    /// [`StopFlag::out_of_time`]).
    signal: Mutex<Option<&'static str>>,
    /// The stop is the run's time limit (`--deadline-seconds`), not an ordinary interruption.
    out_of_time: AtomicBool,
}

impl StopFlag {
    pub fn interrupt(&self, signal: &'static str) {
        let mut slot = self.signal.lock().expect("signal lock");
        slot.get_or_insert(signal);
        self.stop.store(true, Ordering::SeqCst);
    }

    /// Stops the run because it reached its time limit, noticed by `by` (the run's own timer,
    /// "the time limit", or the kubelet's "SIGTERM" at the deadline). The run ends as
    /// interrupted, and the caller reports it as [`RunError::OutOfTime`].
    pub fn out_of_time(&self, by: &'static str) {
        self.out_of_time.store(true, Ordering::SeqCst);
        self.interrupt(by);
    }

    pub fn is_out_of_time(&self) -> bool {
        self.out_of_time.load(Ordering::SeqCst)
    }

    fn abort(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    pub fn is_set(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    pub fn signal(&self) -> Option<&'static str> {
        *self.signal.lock().expect("signal lock")
    }
}

/// What a successful run did.
#[derive(Debug)]
pub struct RunOutcome {
    pub partition: Option<PathBuf>,
}

/// Runs the job. On error nothing is committed, except the rejects partition when the reject ratio
/// was exceeded (so on-call can look at them).
pub async fn execute<F: RecordFormat>(
    format: &'static F,
    config: Arc<RunConfig>,
    counters: Arc<Counters>,
    stop: Arc<StopFlag>,
    cancel: tokio::sync::watch::Receiver<bool>,
) -> Result<RunOutcome, RunError> {
    let sources = Sources::connect(config.sources.clone(), &config.s3, cancel.clone()).await;
    let objects = sources.list(&config.selection).await?;
    counters
        .files_total
        .store(objects.len() as u64, Ordering::Relaxed);
    let locations = config
        .sources
        .iter()
        .map(|s| match &config.selection.suffix {
            Some(suffix) => format!("{s}{}*{suffix}", config.selection.list_prefix),
            None => format!("{s}{}", config.selection.list_prefix),
        })
        .collect::<Vec<_>>()
        .join(", ");
    tracing::info!(files = objects.len(), locations = %locations, "listed input objects");
    if objects.is_empty() && !config.allow_empty {
        return Err(RunError::NoInput {
            date: config.date.to_string(),
            locations,
        });
    }
    if let Some(signal) = stop.signal() {
        return Err(RunError::Interrupted(signal));
    }

    if let (Some(warehouse), false) = (&config.warehouse, config.dry_run) {
        // Bad credentials fail now (exit 2), before hours of parsing.
        warehouse
            .check(config.job, cancel.clone())
            .await
            .map_err(|e| warehouse_error(&config, &stop, e))?;
    }

    let lake_err = |source: LakeError| RunError::Lake {
        location: config.lake.to_string(),
        source,
    };
    let table_rel = config.table.partition_path(config.date);
    let staging = if config.dry_run {
        None
    } else {
        let lake = Lake::open(&config.lake, &config.s3).await;
        match lake
            .begin(
                &config.run_id,
                &table_rel,
                config.lake_lease,
                cancel.clone(),
            )
            .await
        {
            Ok(staging) => Some(Arc::new(staging)),
            Err(LakeError::Cancelled) => {
                return Err(RunError::Interrupted(stop.signal().unwrap_or("SIGTERM")));
            }
            Err(err) => return Err(lake_err(err)),
        }
    };
    let rejects_rel = config.table.rejects().partition_path(config.date);

    // Parsing, writing and the commit block (files, S3 uploads, the warehouse load): all of it
    // runs on a blocking thread.
    let sources = Arc::new(sources);
    let work = {
        let (config, counters, stop, sources, staging) = (
            config.clone(),
            counters.clone(),
            stop.clone(),
            sources.clone(),
            staging.clone(),
        );
        let (table_rel, rejects_rel) = (table_rel.clone(), rejects_rel.clone());
        tokio::task::spawn_blocking(move || {
            let parts = staging
                .as_deref()
                .map(|s| (s, table_rel.as_path(), rejects_rel.as_path()));
            parse_all(format, &config, &sources, &objects, parts, &counters, &stop).and_then(
                |states| {
                    finish(
                        format,
                        &config,
                        staging.as_deref(),
                        &counters,
                        &stop,
                        &table_rel,
                        &rejects_rel,
                        states,
                        cancel,
                    )
                },
            )
        })
    };
    let result = match work.await {
        Ok(r) => r,
        Err(join) if join.is_panic() => Err(RunError::Internal(crate::panics::describe(
            &*join.into_panic(),
        ))),
        Err(join) => Err(RunError::Internal(format!("parse workers failed: {join}"))),
    };
    if let Some(staging) = staging {
        let _ = tokio::task::spawn_blocking(move || staging.cleanup()).await;
    }
    result?;
    Ok(RunOutcome {
        partition: (!config.dry_run).then(|| PathBuf::from(config.lake.join(&table_rel))),
    })
}

fn warehouse_error(config: &RunConfig, stop: &StopFlag, source: WarehouseError) -> RunError {
    if matches!(source, WarehouseError::Cancelled) {
        return RunError::Interrupted(stop.signal().unwrap_or("SIGTERM"));
    }
    RunError::Warehouse {
        target: config
            .warehouse
            .as_ref()
            .map(|w| w.config.to_string())
            .unwrap_or_default(),
        source: Box::new(source),
    }
}

#[allow(clippy::too_many_arguments)]
fn finish<F: RecordFormat>(
    format: &'static F,
    config: &RunConfig,
    staging: Option<&RunStaging>,
    counters: &Counters,
    stop: &StopFlag,
    table_rel: &Path,
    rejects_rel: &Path,
    states: Vec<F::State>,
    cancel: tokio::sync::watch::Receiver<bool>,
) -> Result<(), RunError> {
    if let Some(signal) = stop.signal() {
        return Err(RunError::Interrupted(signal));
    }
    let loaded = counters.rows_loaded.load(Ordering::Relaxed);
    let rejected = counters.rows_rejected.load(Ordering::Relaxed);
    let total = loaded + rejected;
    let ratio = if total == 0 {
        0.0
    } else {
        rejected as f64 / total as f64
    };
    let too_many = ratio > config.max_reject_ratio;
    let derived = write_derived(format, config, staging, states)?;
    let Some(staging) = staging else {
        return check_ratio(config, too_many, rejected, total, ratio);
    };
    let lake_err = |source: LakeError| RunError::Lake {
        location: config.lake.to_string(),
        source,
    };
    // Every committed partition has at least one file, so it replaces the old one and carries
    // the schema even when the day had no rows.
    let table_columns: Vec<_> = format
        .schema()
        .columns
        .iter()
        .chain(LINEAGE_COLUMNS)
        .copied()
        .collect();
    for (rel, columns) in [
        (table_rel, &table_columns[..]),
        (rejects_rel, REJECT_COLUMNS),
    ] {
        if !staging.has_parts(rel) {
            PartWriter::write_empty(&staging.part(rel, "part-00000"), columns).map_err(lake_err)?;
        }
    }
    if let Some(signal) = stop.signal() {
        return Err(RunError::Interrupted(signal));
    }
    let rejects_table = LoadTable {
        table: config.table.rejects(),
        columns: REJECT_COLUMNS.to_vec(),
        relative: rejects_rel.to_owned(),
        files: Vec::new(),
        expected_rows: Some(rejected),
    };
    let mut tables = if too_many {
        // The table stays as it was; the rejects are stored (lake and warehouse) for on-call.
        vec![rejects_table]
    } else {
        let mut tables = vec![LoadTable {
            table: config.table.clone(),
            columns: table_columns,
            relative: table_rel.to_owned(),
            files: Vec::new(),
            expected_rows: Some(loaded),
        }];
        tables.extend(derived);
        tables.push(rejects_table);
        tables
    };
    // Publish every partition (local: the atomic swap; S3: the new objects appear beside the
    // previous ones), load exactly those files into the warehouse, then drop the previous
    // versions. A failed load takes the new objects back: nothing is committed.
    for t in &mut tables {
        match staging.publish(&t.relative) {
            Ok(files) => t.files = files,
            Err(err) => {
                if let Err(undo) = staging.unpublish() {
                    tracing::error!(error = %crate::error::error_chain(&undo).join(": "), "could not take back the partitions published so far; the next run of this date replaces them");
                }
                return Err(lake_err(err));
            }
        }
    }
    crate::fault::hit("stall-before-load");
    // A run that lost the date's lease (paused past its time to live, taken over) must not load.
    if let Err(err) = staging.confirm_lease() {
        if let Err(undo) = staging.unpublish() {
            tracing::debug!(error = %crate::error::error_chain(&undo).join(": "), "could not take back this run's objects (the run holding the lease removes them)");
        }
        return Err(lake_err(err));
    }
    if let Some(warehouse) = &config.warehouse {
        let plan = LoadPlan {
            job: config.job,
            date: config.date,
            run_id: config.run_id.clone(),
            tables: tables.clone(),
        };
        let loaded = tokio::runtime::Handle::current().block_on(warehouse.load(&plan, cancel));
        match loaded {
            Ok(report) => tracing::info!(
                warehouse = %warehouse.config, files = report.files,
                rows_loaded = report.rows_loaded, rows_deleted = report.rows_deleted,
                "loaded the date into the warehouse"
            ),
            Err(err @ WarehouseError::CommitUnknown { .. }) => {
                // Snowflake may hold this run's rows: keep its files and make them the lake's
                // version (a re-run of the date makes both agree either way).
                let err = warehouse_error(config, stop, err);
                if let Err(fin) = staging.finalize() {
                    tracing::error!(error = %crate::error::error_chain(&fin).join(": "), "could not finalize the lake after an unknown COMMIT outcome; the next run of this date replaces it");
                }
                return Err(err);
            }
            Err(err) => {
                let err = warehouse_error(config, stop, err);
                if too_many {
                    // The run fails for its rejects; the lake keeps them even so.
                    tracing::error!(error = %crate::error::error_chain(&err).join(": "), "could not load the rejects into the warehouse");
                } else {
                    if let Err(undo) = staging.unpublish() {
                        tracing::error!(error = %crate::error::error_chain(&undo).join(": "), "could not take back the new lake objects; the next run of this date replaces them");
                    }
                    return Err(err);
                }
            }
        }
    }
    staging.finalize().map_err(lake_err)?;
    if too_many {
        return check_ratio(config, too_many, rejected, total, ratio);
    }
    tracing::info!(partition = %config.lake.join(table_rel), rows = loaded, rejects = rejected, "committed partition");
    Ok(())
}

fn check_ratio(
    config: &RunConfig,
    too_many: bool,
    rejected: u64,
    total: u64,
    ratio: f64,
) -> Result<(), RunError> {
    if too_many {
        return Err(RunError::TooManyRejects {
            rejected,
            total,
            ratio,
            max: config.max_reject_ratio,
            rejects_table: config.table.rejects().to_string(),
            date: config.date.to_string(),
        });
    }
    Ok(())
}

/// Parses every object on `config.threads` workers; each worker writes its own part files.
fn parse_all<F: RecordFormat>(
    format: &'static F,
    config: &RunConfig,
    sources: &Sources,
    objects: &[ObjectInfo],
    parts: Option<(&RunStaging, &Path, &Path)>,
    counters: &Counters,
    stop: &StopFlag,
) -> Result<Vec<F::State>, RunError> {
    let next = AtomicUsize::new(0);
    let states: Mutex<Vec<F::State>> = Mutex::new(Vec::new());
    let first_error: Mutex<Option<RunError>> = Mutex::new(None);
    let workers = config.threads.clamp(1, objects.len().max(1));
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|worker| {
                let (next, first_error, states) = (&next, &first_error, &states);
                std::thread::Builder::new()
                    .name(format!("parse-{worker}"))
                    .spawn_scoped(scope, move || {
                        let stem = format!("part-{worker:05}");
                        let table_part = parts.map(|(s, t, _)| s.part(t, &stem));
                        let rejects_part = parts.map(|(s, _, r)| s.part(r, &stem));
                        let mut sink = WorkerSink {
                            key: String::new(),
                            table: PartWriter::new(
                                table_part,
                                format.schema().columns,
                                LINEAGE_COLUMNS,
                            ),
                            rejects: PartWriter::new(rejects_part, REJECT_COLUMNS, &[]),
                            config,
                            counters,
                            stop,
                            rows: 0,
                            rejected: 0,
                            named: Vec::new(),
                            scratch: String::new(),
                            failure: None,
                        };
                        let mut state = F::State::default();
                        let result =
                            worker_loop(format, sources, objects, next, &mut sink, &mut state)
                                .and_then(|()| sink.finish())
                                .map(|()| states.lock().expect("states lock").push(state));
                        if let Err(err) = result {
                            stop.abort();
                            let mut slot = first_error.lock().expect("error lock");
                            // The first real error wins over the "interrupted" of other workers.
                            if slot.is_none() || matches!(*slot, Some(RunError::Interrupted(_))) {
                                *slot = Some(err);
                            }
                        }
                    })
                    .expect("spawn parse worker")
            })
            .collect();
        for handle in handles {
            if let Err(panic) = handle.join() {
                stop.abort();
                // The panic wins over the "interrupted" other workers report after it.
                let err = RunError::Internal(crate::panics::describe(&*panic));
                let mut slot = first_error.lock().unwrap_or_else(|e| e.into_inner());
                if slot.is_none() || matches!(*slot, Some(RunError::Interrupted(_))) {
                    *slot = Some(err);
                }
            }
        }
    });
    let first_error = first_error.into_inner().unwrap_or_else(|e| e.into_inner());
    // A panic is a bug whatever else happened.
    if let Some(err @ RunError::Internal(_)) = first_error {
        return Err(err);
    }
    // After a signal, streams end early and look truncated: report the interruption, not that.
    if let Some(signal) = stop.signal() {
        return Err(RunError::Interrupted(signal));
    }
    match first_error {
        Some(err) => Err(err),
        None => Ok(states.into_inner().expect("states lock")),
    }
}

fn worker_loop<F: RecordFormat>(
    format: &'static F,
    sources: &Sources,
    objects: &[ObjectInfo],
    next: &AtomicUsize,
    sink: &mut WorkerSink<'_>,
    state: &mut F::State,
) -> Result<(), RunError> {
    loop {
        if sink.stop.is_set() {
            return Err(RunError::Interrupted(
                sink.stop.signal().unwrap_or("an earlier failure"),
            ));
        }
        let i = next.fetch_add(1, Ordering::Relaxed);
        let Some(object) = objects.get(i) else {
            return Ok(());
        };
        read_one(format, sources, object, sink, state)?;
        sink.counters.files_done.fetch_add(1, Ordering::Relaxed);
    }
}

fn read_one<F: RecordFormat>(
    format: &'static F,
    sources: &Sources,
    object: &ObjectInfo,
    sink: &mut WorkerSink<'_>,
    state: &mut F::State,
) -> Result<(), RunError> {
    tracing::debug!(key = %object.key, size = object.size, "reading object");
    crate::fault::hit("panic-in-parse");
    crate::fault::hit("stall-in-parse");
    let ObjectStream { reader, failure } = sources.open(object)?;
    let compressed = CountingReader {
        inner: reader,
        counter: &sink.counters.bytes_compressed,
    };
    // The gzip magic is 2 bytes and a CSV byte-order mark 3: both readers' first fill holds at
    // least 4 bytes whatever the stream's first chunk (crate::sniff).
    let mut buffered = SniffReader::with_capacity(64 * 1024, 4, compressed);
    let gzip = buffered
        .fill_buf()
        .map_err(|e| object_io_error(&object.key, 0, e, &failure))?
        .starts_with(&[0x1f, 0x8b]);
    let decoded: Box<dyn Read + '_> = if gzip {
        Box::new(flate2::bufread::MultiGzDecoder::new(buffered))
    } else {
        Box::new(buffered)
    };
    let uncompressed = CountingReader {
        inner: decoded,
        counter: &sink.counters.bytes_uncompressed,
    };
    let mut input = SniffReader::with_capacity(256 * 1024, 4, uncompressed);
    sink.key.clear();
    sink.key.push_str(&object.key);
    let result = format.read_object(&object.key, &mut input, sink, state);
    sink.publish_counts();
    match result {
        Ok(()) => Ok(()),
        Err(ReadError::Io { line, source }) => {
            Err(object_io_error(&object.key, line, source, &failure))
        }
        Err(ReadError::Format(message)) => Err(RunError::BadObject {
            key: object.key.clone(),
            message,
        }),
        Err(ReadError::Sink) => Err(sink_failure(sink.config, sink.failure.take())),
        Err(ReadError::TempSpace(e)) => Err(e.into()),
        Err(ReadError::Cancelled) => Err(RunError::Interrupted(
            sink.stop.signal().unwrap_or("an earlier failure"),
        )),
    }
}

/// A source failure inside the byte stream stays a source failure (S3 unavailable is transient,
/// exit 4); anything else (bad gzip, truncated file) is corrupt data (exit 3).
fn object_io_error(key: &str, line: u64, err: io::Error, failure: &SourceFailure) -> RunError {
    if let Some(source) = failure.take() {
        return RunError::Source(source);
    }
    RunError::CorruptObject {
        key: key.to_owned(),
        line,
        source: err,
    }
}

struct CountingReader<'c, R> {
    inner: R,
    counter: &'c AtomicU64,
}

impl<R: Read> Read for CountingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.counter.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// A worker's sink: rows to its table part, rejects to its rejects part, lineage appended.
struct WorkerSink<'a> {
    key: String,
    table: PartWriter,
    rejects: PartWriter,
    config: &'a RunConfig,
    counters: &'a Counters,
    stop: &'a StopFlag,
    rows: u64,
    rejected: u64,
    named: Vec<(&'static str, u64)>,
    scratch: String,
    /// Why the last write failed: [`ReadError::Sink`] says only that it did.
    failure: Option<LakeError>,
}

impl WorkerSink<'_> {
    /// Moves local counts to the shared counters (per object and every few thousand rows).
    fn publish_counts(&mut self) {
        self.counters
            .rows_loaded
            .fetch_add(std::mem::take(&mut self.rows), Ordering::Relaxed);
        self.counters
            .rows_rejected
            .fetch_add(std::mem::take(&mut self.rejected), Ordering::Relaxed);
        if !self.named.is_empty() {
            self.counters.add_named(&self.named);
            self.named.clear();
        }
    }

    /// Closes the part files.
    fn finish(self) -> Result<(), RunError> {
        let lake = |source| RunError::Lake {
            location: self.config.lake.to_string(),
            source,
        };
        self.table.finish().map_err(lake)?;
        self.rejects.finish().map_err(lake)?;
        Ok(())
    }
}

/// Keeps a sink's lake error for its owner, and tells the format only that writing failed.
fn keep(failure: &mut Option<LakeError>, result: Result<(), LakeError>) -> Result<(), ReadError> {
    result.map_err(|err| {
        *failure = Some(err);
        ReadError::Sink
    })
}

/// The lake error behind a [`ReadError::Sink`]. None means a format returned `Sink` on its own,
/// a bug in that format.
fn sink_failure(config: &RunConfig, failure: Option<LakeError>) -> RunError {
    match failure {
        Some(source) => RunError::Lake {
            location: config.lake.to_string(),
            source,
        },
        None => RunError::Internal("a format reported a sink failure that no sink had".into()),
    }
}

impl RecordSink for WorkerSink<'_> {
    fn row(
        &mut self,
        line: u64,
        write: &mut dyn FnMut(&mut RowWriter<'_>),
    ) -> Result<(), ReadError> {
        let mut row = self.table.batch().start_row();
        write(&mut row);
        row.finish_data();
        row.text(Some(&self.key))
            .i64(Some(line as i64))
            .text(Some(&self.config.run_id))
            .timestamp_micros(Some(self.config.loaded_at_micros));
        row.finish();
        self.rows += 1;
        if self.rows.is_multiple_of(4096) {
            self.publish_counts();
        }
        keep(&mut self.failure, self.table.maybe_flush())
    }

    fn reject(&mut self, line: u64, raw: &[u8], reason: &str) -> Result<(), ReadError> {
        self.scratch.clear();
        escape_invalid_utf8(raw, &mut self.scratch);
        {
            let mut samples = self.counters.samples.lock().expect("samples lock");
            if samples.len() < SAMPLE_REJECTS {
                samples.push(SampleReject {
                    source_key: self.key.clone(),
                    line,
                    raw: self.scratch.chars().take(SAMPLE_LINE_CHARS).collect(),
                    reason: reason.to_owned(),
                });
            }
        }
        let mut row = self.rejects.batch().start_row();
        row.text(Some(&self.key))
            .i64(Some(line as i64))
            .text(Some(&self.scratch))
            .text(Some(reason))
            .text(Some(&self.config.run_id))
            .timestamp_micros(Some(self.config.loaded_at_micros));
        row.finish();
        self.rejected += 1;
        keep(&mut self.failure, self.rejects.maybe_flush())
    }

    fn count(&mut self, counter: &'static str, n: u64) {
        match self.named.iter_mut().find(|(k, _)| *k == counter) {
            Some((_, v)) => *v += n,
            None => self.named.push((counter, n)),
        }
    }

    fn is_cancelled(&self) -> bool {
        self.stop.is_set()
    }
}

/// Writes the format's derived tables into staging; returns what the commit publishes and loads.
fn write_derived<F: RecordFormat>(
    format: &'static F,
    config: &RunConfig,
    staging: Option<&RunStaging>,
    states: Vec<F::State>,
) -> Result<Vec<LoadTable>, RunError> {
    let tables = format.derived_tables();
    if tables.is_empty() {
        return Ok(Vec::new());
    }
    let rels: Vec<PathBuf> = tables
        .iter()
        .map(|t| {
            TableName {
                schema: config.table.schema.clone(),
                table: t.name.to_owned(),
            }
            .partition_path(config.date)
        })
        .collect();
    let mut sink = DerivedWriter {
        parts: tables
            .iter()
            .zip(&rels)
            .map(|(t, rel)| {
                PartWriter::new(
                    staging.map(|s| s.part(rel, "part-00000")),
                    t.schema.columns,
                    DERIVED_LINEAGE_COLUMNS,
                )
            })
            .collect(),
        config,
        failure: None,
    };
    let lake_err = |source| RunError::Lake {
        location: config.lake.to_string(),
        source,
    };
    match format.write_derived(states, &mut sink) {
        Ok(()) => {}
        Err(ReadError::Sink) => return Err(sink_failure(config, sink.failure.take())),
        Err(ReadError::TempSpace(e)) => return Err(e.into()),
        Err(other) => return Err(RunError::Internal(format!("derived tables: {other}"))),
    }
    let mut out = Vec::new();
    for ((part, table), rel) in sink.parts.into_iter().zip(tables).zip(rels) {
        let rows = part.finish().map_err(lake_err)?;
        tracing::info!(table = table.name, rows, "derived table written");
        let columns: Vec<_> = table
            .schema
            .columns
            .iter()
            .chain(DERIVED_LINEAGE_COLUMNS)
            .copied()
            .collect();
        if let Some(staging) = staging
            && !staging.has_parts(&rel)
        {
            PartWriter::write_empty(&staging.part(&rel, "part-00000"), &columns)
                .map_err(lake_err)?;
        }
        out.push(LoadTable {
            table: TableName {
                schema: config.table.schema.clone(),
                table: table.name.to_owned(),
            },
            columns,
            relative: rel,
            files: Vec::new(),
            expected_rows: Some(rows),
        });
    }
    Ok(out)
}

struct DerivedWriter<'a> {
    parts: Vec<PartWriter>,
    config: &'a RunConfig,
    /// Why the last write failed: [`ReadError::Sink`] says only that it did.
    failure: Option<LakeError>,
}

impl DerivedSink for DerivedWriter<'_> {
    fn row(
        &mut self,
        table: usize,
        write: &mut dyn FnMut(&mut RowWriter<'_>),
    ) -> Result<(), ReadError> {
        let part = &mut self.parts[table];
        let mut row = part.batch().start_row();
        write(&mut row);
        row.finish_data();
        row.text(Some(&self.config.run_id))
            .timestamp_micros(Some(self.config.loaded_at_micros));
        row.finish();
        keep(&mut self.failure, part.maybe_flush())
    }
}
