//! A job's entry point: the command line, the run with its time limit and signals, the summary,
//! the exit code and the failure alert. What the alert says is in `failure`, `--print-contract`
//! in `contract`, the terminal progress line in `progress`.
//!
//! A job crate describes itself with a [`JobSpec`] and calls [`main`]:
//!
//! ```ignore
//! fn main() -> std::process::ExitCode { ingest_runtime::job::main(&push_logs::JOB) }
//! ```

use std::io::IsTerminal;
use std::panic::AssertUnwindSafe;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use clap::{Args, Command, FromArgMatches};

mod contract;
mod failure;
mod progress;

pub use failure::passing_reject_ratio;

use contract::contract;
use failure::{alert_or_defer, failure_for, send_alert};
use progress::Progress;

use crate::aws_client::S3Options;
use crate::config::{AIRFLOW_CONTEXT_ENV, CommonArgs, LogFormat, SECRET_ENV, Secrets};
use crate::error::{FailureKind, RunError, error_chain};
use crate::lake::{LakeLocation, TableName};
use crate::notify::alert::{AirflowContext, AlertConfig, Failure};
use crate::run::{Counters, RunConfig, StopFlag};
use crate::source::{KeySelection, SourceLocation};
use crate::summary::{RunSummary, human_bytes};
use ingest_format::format::RecordFormat;
use ingest_format::time::{Date, format_micros_utc, now_micros};

/// What makes a job: its name, its format and table, and which keys a date reads.
pub struct JobSpec<F: RecordFormat> {
    /// Binary name, e.g. `push-logs`.
    pub name: &'static str,
    /// One line for `--help`.
    pub about: &'static str,
    /// Paragraphs for `--help`: the source layout and what a run does.
    pub long_about: &'static str,
    pub format: &'static F,
    /// `--table` default, if the job has one natural table.
    pub default_table: Option<&'static str>,
    /// The keys (relative to each `--source`) that belong to a logical date.
    pub select: fn(Date) -> KeySelection,
    /// Which files a logical date reads, in words (shown in `--help` and the contract).
    pub date_semantics: &'static str,
    /// Example invocations for `--help`.
    pub examples: &'static str,
}

fn command<F: RecordFormat>(spec: &'static JobSpec<F>) -> Command {
    let exit_codes: String = FailureKind::ALL
        .iter()
        .map(|k| format!("  {:<4} {}\n", k.exit_code(), k.describe()))
        .collect();
    let secrets: String = SECRET_ENV
        .iter()
        .map(|(name, doc)| format!("  {name}: {doc}\n"))
        .collect();
    let after = format!(
        "Which files a date reads:\n  {}\n\nSecrets (environment only, never printed):\n{secrets}  Any of them may instead come from AWS Secrets Manager, read once at start-up:\n  <VAR>_SECRET_ID=<arn or name> [<VAR>_SECRET_KEY=<key of its JSON object>].\n\nAirflow context quoted in alerts: {}\nAWS region and credentials: the standard AWS chain (AWS_REGION, IRSA, ...).\nLogs: RUST_LOG (default info).\n\nExit codes:\n  0    success\n{exit_codes}\nExamples:\n{}",
        spec.date_semantics,
        AIRFLOW_CONTEXT_ENV.join(", "),
        spec.examples
    );
    CommonArgs::augment_args(
        Command::new(spec.name)
            // Usage names the job even when the image runs it as /usr/local/bin/job.
            .bin_name(spec.name)
            .version(env!("CARGO_PKG_VERSION"))
            .about(spec.about)
            .long_about(format!("{}\n\n{}", spec.about, spec.long_about))
            .after_long_help(after),
    )
}

/// How long a stopping run (signal or time limit) may take to abort and clean up before it is
/// abandoned. With [`ALERT_AFTER_STOP`] and the summary this keeps everything after a signal
/// within [`SHUTDOWN_BUDGET`].
pub const STOP_BUDGET: Duration = Duration::from_secs(30);
/// The alert's whole time (attempts and pauses) once the run was stopped.
pub const ALERT_AFTER_STOP: Duration = Duration::from_secs(10);
/// Everything after a signal (abort, clean-up, alert, summary) fits in this, well below the
/// pods' 60 s termination grace period (`termination_grace_period=60` in the DAGs) after which
/// the kubelet sends SIGKILL.
pub const SHUTDOWN_BUDGET: Duration = Duration::from_secs(45);
const _: () =
    assert!(STOP_BUDGET.as_secs() + ALERT_AFTER_STOP.as_secs() + 2 <= SHUTDOWN_BUDGET.as_secs());
const _: () = assert!(SHUTDOWN_BUDGET.as_secs() < 60);

/// The run's time limit (`--deadline-seconds`, the pod's `activeDeadlineSeconds`) and how long
/// before it the run stops itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deadline {
    pub limit: Duration,
    pub margin: Duration,
}

impl Deadline {
    /// Kubernetes counts the limit from the pod's start, which precedes the process's by the
    /// scheduling and the container's start (seconds with a cached image, more on a cold pull),
    /// and stopping takes up to [`SHUTDOWN_BUDGET`] (45 s). So the run stops itself 60 s before
    /// the limit, or 5% of it for long limits (a 2 h limit stops 6 min early: room for a slow
    /// image pull), at most 10 min; then the binary, not the kubelet's SIGTERM, ends the run and
    /// says why. A tiny limit (as in tests) keeps half its time for work.
    pub fn new(limit_s: u64) -> Deadline {
        let limit = Duration::from_secs(limit_s);
        let margin = (limit / 20)
            .max(Duration::from_secs(60))
            .min(Duration::from_secs(600))
            .min(limit / 2);
        Deadline { limit, margin }
    }

    /// Time since the process started at which the run stops itself.
    pub fn stop_at(&self) -> Duration {
        self.limit - self.margin
    }

    /// From this time since the process started, a SIGTERM is taken as the kubelet enforcing
    /// the limit: two margins before it. The kubelet's SIGTERM can come before the run's own
    /// stop only when the pod took longer than a margin to start the process (a cold image
    /// pull), so one margin would never catch it; a drain or eviction this late would run out of
    /// time on a retry as well.
    pub fn sigterm_is_deadline_from(&self) -> Duration {
        self.limit.saturating_sub(self.margin * 2)
    }
}

/// Parses the command line and environment, runs the job, reports, and exits with its code.
///
/// A panic anywhere in the run (main thread or workers) ends as exit 1 with the summary, the
/// termination message and the alert ([`crate::panics`]); one in the reporting itself still
/// prints a summary.
pub fn main<F: RecordFormat>(spec: &'static JobSpec<F>) -> ExitCode {
    crate::panics::install_hook();
    let started = Instant::now();
    match std::panic::catch_unwind(AssertUnwindSafe(|| run_main(spec, started))) {
        Ok(code) => code,
        Err(payload) => {
            let mut summary = RunSummary::new(
                spec.name,
                std::env::var("INGEST_DATE").unwrap_or_default(),
                std::env::var("INGEST_TABLE").unwrap_or_default(),
                String::new(),
                &Counters::default(),
                started.elapsed(),
                false,
            );
            let code = FailureKind::Internal.exit_code();
            summary.status = "failed";
            summary.exit_code = code;
            summary.error_kind = Some(FailureKind::Internal.describe());
            summary.error = Some(format!(
                "internal error: {}",
                crate::panics::describe(&*payload)
            ));
            summary.print(false);
            summary.write_termination_message();
            ExitCode::from(code as u8)
        }
    }
}

fn run_main<F: RecordFormat>(spec: &'static JobSpec<F>, started: Instant) -> ExitCode {
    let matches = match command(spec).try_get_matches() {
        Ok(m) => m,
        Err(err) => return usage_error(spec, err),
    };
    let args = match CommonArgs::from_arg_matches(&matches) {
        Ok(a) => a,
        Err(err) => return usage_error(spec, err),
    };
    if args.print_contract {
        println!("{}", contract(spec));
        return ExitCode::SUCCESS;
    }
    crate::logging::init(args.log_format);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let human = crate::logging::resolve(args.log_format) == LogFormat::Text;
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{}: cannot start the async runtime: {e}", spec.name);
            return ExitCode::from(FailureKind::Internal.exit_code() as u8);
        }
    };
    // Secret env vars, given directly or as <VAR>_SECRET_ID (AWS Secrets Manager), once.
    let (secrets, secret_errors) = runtime.block_on(Secrets::resolve_from_env());
    crate::panics::protect(
        SECRET_ENV
            .iter()
            .filter_map(|(name, _)| secrets.get(name).map(|s| s.expose().to_owned())),
    );
    let mut alerts = AlertConfig {
        webhook_url: secrets.webhook_url.clone(),
        username: args.alert_username.clone(),
        icon_url: args.alert_icon_url.clone(),
        channel: args.alert_channel.clone(),
        ..AlertConfig::default()
    };
    let mut secret_errors = secret_errors.into_iter();
    let setup = match secret_errors.next() {
        Some(first) => {
            for other in secret_errors {
                tracing::error!(kind = %other.kind(), error = %other, "secret not available");
            }
            Err(RunError::from(first))
        }
        None => run_config(spec, &args, &secrets).map_err(RunError::Config),
    };
    let config = match setup {
        Ok(c) => Arc::new(c),
        Err(err) => {
            let failure = failure_for(spec, &args, None, &err, &Counters::default());
            tracing::error!(kind = %err.kind(), error = %err, "invalid configuration");
            eprintln!("error: {err}");
            let (sent, deferred) =
                runtime.block_on(alert_or_defer(&alerts, &failure, &args, err.kind()));
            let mut summary = RunSummary::new(
                spec.name,
                args.date.map(|d| d.to_string()).unwrap_or_default(),
                args.table.clone().unwrap_or_default(),
                String::new(),
                &Counters::default(),
                started.elapsed(),
                args.dry_run,
            );
            mark_failed(&mut summary, &err, sent, deferred);
            summary.print(human);
            summary.write_termination_message();
            return ExitCode::from(err.kind().exit_code() as u8);
        }
    };
    let deadline = args.deadline_seconds.map(Deadline::new);
    tracing::info!(
        job = spec.name, date = %config.date, table = %config.table, run_id = %config.run_id,
        sources = %config.sources.iter().map(ToString::to_string).collect::<Vec<_>>().join(","),
        lake = %config.lake, dry_run = config.dry_run, threads = config.threads,
        deadline_s = args.deadline_seconds, stops_at_s = deadline.map(|d| d.stop_at().as_secs()),
        max_tries = args.max_tries.as_deref(), fault_points = crate::fault::ENABLED,
        "run started"
    );

    let counters = Arc::new(Counters::default());
    let stop = Arc::new(StopFlag::default());
    let (cancel_tx, cancel_rx) = tokio::sync::watch::channel(false);
    let cancel_tx = Arc::new(cancel_tx);
    let stopped_at: Arc<OnceLock<Instant>> = Arc::new(OnceLock::new());
    let progress =
        (human && std::io::stderr().is_terminal()).then(|| Progress::start(counters.clone()));

    let run = AssertUnwindSafe(|| {
        runtime.block_on(async {
            let signals = tokio::spawn(wait_for_signal(
                stop.clone(),
                cancel_tx.clone(),
                deadline,
                started,
            ));
            let timer = deadline.map(|d| {
                tokio::spawn(stop_at_deadline(
                    stop.clone(),
                    cancel_tx.clone(),
                    d,
                    started,
                ))
            });
            crate::fault::hit("panic-in-main");
            let mut stopping = cancel_rx.clone();
            let result = tokio::select! {
                result = crate::run::execute(
                    spec.format,
                    config.clone(),
                    counters.clone(),
                    stop.clone(),
                    cancel_rx,
                ) => result,
                // A stop that does not finish in time: leave the run behind (its threads end
                // with the process) so that the summary and the alert still go out.
                () = async {
                    if stopping.wait_for(|stopped| *stopped).await.is_err() {
                        std::future::pending::<()>().await;
                    }
                    let _ = stopped_at.set(Instant::now());
                    tokio::time::sleep(STOP_BUDGET).await;
                } => Err(abandoned(spec, &config, &stop, &counters, deadline, started)),
            };
            signals.abort();
            if let Some(timer) = timer {
                timer.abort();
            }
            result
        })
    });
    let result = std::panic::catch_unwind(run)
        .unwrap_or_else(|panic| Err(RunError::Internal(crate::panics::describe(&*panic))));
    if let Some(p) = progress {
        p.stop();
    }
    // Stopped at the time limit: the run reports "interrupted", or the transient error of a
    // request the stop cut short (e.g. a listing), and it is out of time either way.
    let result = result.map_err(|err| match err.kind() {
        FailureKind::Interrupted | FailureKind::Transient if stop.is_out_of_time() => {
            out_of_time(spec, &config, &stop, &counters, deadline, started)
        }
        _ => err,
    });

    let mut summary = RunSummary::new(
        spec.name,
        config.date.to_string(),
        config.table.to_string(),
        config.run_id.clone(),
        &counters,
        started.elapsed(),
        config.dry_run,
    );
    let code = match result {
        Ok(outcome) => {
            summary.partition = outcome.partition.map(|p| p.display().to_string());
            tracing::info!(
                rows = summary.rows_loaded, rejects = summary.rows_rejected,
                files = summary.files, bytes = %human_bytes(summary.bytes_uncompressed),
                "run succeeded"
            );
            0
        }
        Err(err) => {
            let chain = error_chain(&err);
            tracing::error!(kind = %err.kind(), exit_code = err.kind().exit_code(), error = %chain.join(": "), "run failed");
            let failure = failure_for(spec, &args, Some(&config), &err, &counters);
            if let Some(at) = stopped_at.get().copied().or_else(|| {
                // Stopped, and the run ended before the watchdog noted when.
                stop.signal().map(|_| Instant::now())
            }) {
                // After a signal the kubelet's SIGKILL follows the grace period: bound the post.
                let left = SHUTDOWN_BUDGET
                    .saturating_sub(at.elapsed())
                    .saturating_sub(Duration::from_secs(2))
                    .min(ALERT_AFTER_STOP);
                alerts.policy.total_timeout = left;
                alerts.policy.timeout = alerts.policy.timeout.min(left);
                alerts.policy.connect_timeout = alerts.policy.connect_timeout.min(left);
            }
            let (sent, deferred) =
                runtime.block_on(alert_or_defer(&alerts, &failure, &args, err.kind()));
            mark_failed(&mut summary, &err, sent, deferred);
            if human {
                eprintln!("error: {}", chain.join("\n  caused by: "));
            }
            err.kind().exit_code()
        }
    };
    summary.print(human);
    summary.write_termination_message();
    // Don't wait for stray download tasks of an aborted (or abandoned) run.
    runtime.shutdown_timeout(Duration::from_millis(200));
    ExitCode::from(code as u8)
}

/// The run stopped at its time limit.
fn out_of_time<F: RecordFormat>(
    spec: &JobSpec<F>,
    config: &RunConfig,
    stop: &StopFlag,
    counters: &Counters,
    deadline: Option<Deadline>,
    started: Instant,
) -> RunError {
    RunError::OutOfTime {
        limit_s: deadline.map_or(0, |d| d.limit.as_secs()),
        elapsed_s: started.elapsed().as_secs(),
        files_read: counters.files_done.load(Ordering::Relaxed),
        files_total: counters.files_total.load(Ordering::Relaxed),
        dag_file: dag_file(spec),
        threads: config.threads,
        by_signal: stop.signal() == Some("SIGTERM"),
    }
}

/// The run did not stop within [`STOP_BUDGET`].
fn abandoned<F: RecordFormat>(
    spec: &JobSpec<F>,
    config: &RunConfig,
    stop: &StopFlag,
    counters: &Counters,
    deadline: Option<Deadline>,
    started: Instant,
) -> RunError {
    let (cause, kind) = if stop.is_out_of_time() {
        let limit = deadline.map_or(0, |d| d.limit.as_secs());
        let read = counters.files_done.load(Ordering::Relaxed);
        let total = counters.files_total.load(Ordering::Relaxed);
        (
            format!(
                "ran out of time: the limit for one run is {} ({limit} s, the pod's activeDeadlineSeconds, --deadline-seconds), reached with {read} of {total} files read after {}; raise it with IngestJob(timeout=...) in {}, or add CPU (IngestJob(cpu=...), which also sets --threads; this run had --threads {})",
                crate::error::human_duration(limit),
                crate::error::human_duration(started.elapsed().as_secs()),
                dag_file(spec),
                config.threads
            ),
            FailureKind::OutOfTime,
        )
    } else {
        (
            format!("interrupted by {}", stop.signal().unwrap_or("a signal")),
            FailureKind::Interrupted,
        )
    };
    tracing::error!(
        budget_s = STOP_BUDGET.as_secs(),
        "the run did not stop in time; abandoning it"
    );
    RunError::Abandoned {
        cause,
        budget_s: STOP_BUDGET.as_secs(),
        kind,
    }
}

/// The DAG file of a job: `push-logs` -> `dags/push_logs.py`.
fn dag_file<F: RecordFormat>(spec: &JobSpec<F>) -> String {
    format!("dags/{}.py", spec.name.replace('-', "_"))
}

fn mark_failed(summary: &mut RunSummary, err: &RunError, alert_sent: bool, alert_deferred: bool) {
    summary.status = "failed";
    summary.exit_code = err.kind().exit_code();
    summary.error_kind = Some(err.kind().describe());
    summary.error = Some(error_chain(err).join(": "));
    summary.alert_sent = alert_sent;
    summary.alert_deferred = alert_deferred;
}

/// A clap error: help and version exit 0; a usage error exits 2 (and alerts when configured).
fn usage_error<F: RecordFormat>(spec: &'static JobSpec<F>, err: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(
        err.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = err.print();
        return ExitCode::SUCCESS;
    }
    let _ = err.print();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return ExitCode::from(FailureKind::Config.exit_code() as u8);
    };
    let (secrets, _) = rt.block_on(Secrets::resolve_from_env());
    if secrets.webhook_url.is_some() {
        let alerts = AlertConfig {
            webhook_url: secrets.webhook_url,
            ..AlertConfig::default()
        };
        let failure = Failure {
            job: spec.name.to_owned(),
            date: std::env::var("INGEST_DATE").unwrap_or_default(),
            table: std::env::var("INGEST_TABLE").unwrap_or_default(),
            run_id: String::new(),
            exit_code: FailureKind::Config.exit_code(),
            kind: FailureKind::Config.describe().to_owned(),
            error_chain: vec![err.render().to_string().trim().to_owned()],
            files_read: 0,
            files_total: 0,
            rows_loaded: 0,
            rows_rejected: 0,
            sample_rejects: Vec::new(),
            rerun_command: format!("{} --help", spec.name),
            sections: Vec::new(),
            airflow: AirflowContext::from_env(),
        };
        rt.block_on(send_alert(&alerts, &failure));
    }
    ExitCode::from(FailureKind::Config.exit_code() as u8)
}

fn run_config<F: RecordFormat>(
    spec: &'static JobSpec<F>,
    args: &CommonArgs,
    secrets: &Secrets,
) -> Result<RunConfig, String> {
    let date = args.date.ok_or("--date is required")?;
    let table = args
        .table
        .as_deref()
        .or(spec.default_table)
        .ok_or("--table is required (e.g. --table push_proxy.logs_us_new)")?;
    let table = TableName::parse(table)?;
    if args.sources.is_empty() {
        return Err("--source is required".into());
    }
    let sources = args
        .sources
        .iter()
        .map(|s| SourceLocation::parse_source(s))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(id) = &args.run_id {
        crate::lake::validate_run_id(id)?;
    }
    let lake = LakeLocation::parse_lake(&args.lake)?;
    if !lake.is_s3() && !args.dry_run && in_kubernetes() {
        return Err(format!(
            "--lake {} is a local directory, but this run is in a Kubernetes pod (KUBERNETES_SERVICE_HOST is set): the partitions would be written into the container's filesystem and vanish with the pod. Set INGEST_LAKE (or --lake) to s3://<bucket>/<prefix>",
            args.lake
        ));
    }
    let warehouse = match args.warehouse.as_deref().filter(|w| !w.trim().is_empty()) {
        None => None,
        Some(_) if !lake.is_s3() => {
            return Err("--warehouse needs an S3 lake (--lake s3://bucket/prefix): Snowflake loads the partitions from there".into());
        }
        Some(url) => Some(Arc::new(crate::warehouse::Warehouse::new(
            crate::warehouse::SnowflakeConfig::parse(url, args.warehouse_user.as_deref())?,
            secrets.snowflake_credentials()?,
        ))),
    };
    let loaded_at = now_micros();
    let threads = args
        .threads
        .map(usize::from)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, std::num::NonZero::get));
    Ok(RunConfig {
        job: spec.name,
        date,
        sources,
        selection: (spec.select)(date),
        table,
        lake,
        warehouse,
        max_reject_ratio: args.max_reject_ratio,
        allow_empty: args.allow_empty,
        dry_run: args.dry_run,
        threads,
        run_id: args
            .run_id
            .clone()
            .unwrap_or_else(|| generated_run_id(loaded_at)),
        loaded_at_micros: loaded_at,
        s3: S3Options {
            endpoint: args.s3_endpoint.clone(),
            force_path_style: args.s3_force_path_style,
            max_attempts: args.s3_max_attempts,
        },
        lake_lease: std::time::Duration::from_secs(args.lake_lease_seconds),
    })
}

/// Kubernetes sets this in every container.
fn in_kubernetes() -> bool {
    std::env::var_os("KUBERNETES_SERVICE_HOST").is_some_and(|v| !v.is_empty())
}

fn generated_run_id(now: i64) -> String {
    let stamp: String = format_micros_utc(now)
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(15)
        .collect();
    format!(
        "{stamp}Z-{:04x}",
        (now as u64 ^ u64::from(std::process::id())) & 0xffff
    )
}

/// Stops the run at [`Deadline::stop_at`], as out of time.
async fn stop_at_deadline(
    stop: Arc<StopFlag>,
    cancel: Arc<tokio::sync::watch::Sender<bool>>,
    deadline: Deadline,
    started: Instant,
) {
    tokio::time::sleep_until((started + deadline.stop_at()).into()).await;
    tracing::warn!(
        limit_s = deadline.limit.as_secs(),
        margin_s = deadline.margin.as_secs(),
        "the run's time limit is near: stopping without committing"
    );
    stop.out_of_time("the time limit");
    let _ = cancel.send(true);
}

async fn wait_for_signal(
    stop: Arc<StopFlag>,
    cancel: Arc<tokio::sync::watch::Sender<bool>>,
    deadline: Option<Deadline>,
    started: Instant,
) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        return;
    };
    let name = tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    };
    // Near the time limit, the SIGTERM is the kubelet enforcing the pod's activeDeadlineSeconds
    // (the pod started before this process).
    if name == "SIGTERM"
        && deadline.is_some_and(|d| started.elapsed() >= d.sigterm_is_deadline_from())
    {
        tracing::warn!(
            signal = name,
            "stopped at the time limit: stopping without committing"
        );
        stop.out_of_time(name);
    } else {
        tracing::warn!(signal = name, "interrupted: stopping without committing");
        stop.interrupt(name);
    }
    let _ = cancel.send(true);
}

#[cfg(test)]
mod tests {
    use super::failure::{reject_sections, rerun_command};
    use super::*;

    struct NoFormat;

    impl RecordFormat for NoFormat {
        type State = ();

        fn schema(&self) -> &'static ingest_format::table::TableSchema {
            &ingest_format::table::REJECTS_SCHEMA
        }

        fn read_object(
            &self,
            _key: &str,
            _input: &mut dyn std::io::BufRead,
            _out: &mut dyn ingest_format::format::RecordSink,
            _state: &mut (),
        ) -> Result<(), ingest_format::format::ReadError> {
            Ok(())
        }
    }

    static SPEC: JobSpec<NoFormat> = JobSpec {
        name: "push-logs",
        about: "test",
        long_about: "test",
        format: &NoFormat,
        default_table: None,
        select: |_| KeySelection {
            list_prefix: String::new(),
            suffix: None,
        },
        date_semantics: "test",
        examples: "",
    };

    fn args(extra: &[&str]) -> CommonArgs {
        let base = [
            "push-logs",
            "--date",
            "2026-11-20",
            "--source",
            "s3://logs/AWSLogs/1/elasticloadbalancing/us-east-1",
            "--table",
            "push_proxy.logs_us_new",
            "--lake",
            "s3://lake/raw",
        ];
        let matches = command(&SPEC)
            .try_get_matches_from(base.iter().chain(extra))
            .unwrap();
        CommonArgs::from_arg_matches(&matches).unwrap()
    }

    #[test]
    fn the_deadline_margin_leaves_room_to_stop_and_report() {
        let cases = [
            // (limit, margin): 60 s at least, 5% of long limits, at most 10 min, at most half.
            (7200, 360),
            (600, 60),
            (1200, 60),
            (3600, 180),
            (86_400, 600),
            (90, 45),
            (4, 2),
        ];
        for (limit, margin) in cases {
            let d = Deadline::new(limit);
            assert_eq!(d.margin, Duration::from_secs(margin), "limit {limit}");
            assert_eq!(d.stop_at(), Duration::from_secs(limit - margin));
            assert_eq!(
                d.sigterm_is_deadline_from(),
                Duration::from_secs(limit.saturating_sub(2 * margin))
            );
        }
        // Once the margin is the 60 s minimum, stopping (at most the shutdown budget) is done
        // before the kubelet's SIGTERM even if the pod started 15 s before the process.
        assert!(Deadline::new(600).margin >= SHUTDOWN_BUDGET + Duration::from_secs(15));
    }

    #[test]
    fn passing_ratio_is_rounded_up_and_passes_exactly() {
        let cases = [
            (40, 400, "0.1"),
            (1, 3, "0.34"),
            (2, 3, "0.67"),
            (734, 10_000, "0.074"),
            (3, 1_000_000, "0.000003"),
            (7, 1_000_001, "0.0000070"),
            (1, 7, "0.15"),
            (99, 100, "0.99"),
            (999, 1000, "1"),
            (5, 5, "1"),
            (1, 100, "0.01"),
        ];
        for (rejected, total, expected) in cases {
            let text = passing_reject_ratio(rejected, total);
            assert_eq!(
                text.trim_end_matches('0'),
                expected.trim_end_matches('0'),
                "{rejected}/{total}"
            );
        }
        // The run's own check (ratio > max fails) passes with the printed value, and fails with
        // the next smaller value at the same precision.
        for total in [3u64, 7, 400, 1_001, 65_537, 1_000_003] {
            for rejected in [1, 2, total / 3, total / 2, total - 1] {
                let text = passing_reject_ratio(rejected, total);
                let printed: f64 = crate::config::CommonArgs::from_arg_matches(
                    &command(&SPEC)
                        .try_get_matches_from([
                            "push-logs",
                            "--date",
                            "2026-11-20",
                            "--source",
                            "x",
                            "--max-reject-ratio",
                            &text,
                        ])
                        .unwrap(),
                )
                .unwrap()
                .max_reject_ratio;
                let ratio = rejected as f64 / total as f64;
                assert!(
                    ratio <= printed,
                    "{rejected}/{total}: {text} would still fail"
                );
                if let Some((_, decimals)) = text.split_once('.') {
                    let step = 10f64.powi(-(decimals.len() as i32));
                    // Two significant digits: a tighter value at this precision fails.
                    assert!(
                        ratio > printed - step - 1e-15,
                        "{rejected}/{total}: {text} is loose"
                    );
                }
            }
        }
    }

    #[test]
    fn rerun_command_runs_as_posted_and_holds_no_secret() {
        let a = args(&[
            "--threads",
            "4",
            "--warehouse",
            "snowflake://me:SENTINELpw@acct/raw?stage=lake&warehouse=load&endpoint=http%3A%2F%2Fu%3ASENTINELpw%40h%3A1",
            "--warehouse-user",
            "INGEST_SVC",
            "--max-tries",
            "3",
            "--deadline-seconds",
            "7200",
            "--s3-endpoint",
            "http://u:SENTINELpw@127.0.0.1:9000",
        ]);
        let cmd = rerun_command(&SPEC, &a, Some(4), None);
        assert!(!cmd.contains("SENTINEL"), "{cmd}");
        for needle in [
            "push-logs --date 2026-11-20 ",
            "--source s3://logs/AWSLogs/1/elasticloadbalancing/us-east-1 ",
            "--table push_proxy.logs_us_new ",
            "--lake s3://lake/raw ",
            // warehouse::redacted_url marks where credentials were (such a URL is refused anyway).
            "--warehouse 'snowflake://[redacted]@acct/raw?stage=lake&warehouse=load&endpoint=http://[redacted]@h:1' ",
            "--warehouse-user INGEST_SVC ",
            "--threads 4 ",
            "--s3-endpoint http://127.0.0.1:9000/",
        ] {
            assert!(cmd.contains(needle), "{needle} not in {cmd}");
        }
        assert!(
            !cmd.contains("--max-tries") && !cmd.contains("--deadline"),
            "{cmd}"
        );
        assert!(!cmd.contains("--max-reject-ratio"), "default ratio: {cmd}");
        let raised = rerun_command(&SPEC, &a, Some(4), Some("0.074"));
        assert!(raised.contains("--max-reject-ratio 0.074"), "{raised}");
        // The threads the run had, even when they came from the CPU count.
        let by_hand = rerun_command(&SPEC, &args(&[]), Some(2), None);
        assert!(
            by_hand.ends_with("--lake s3://lake/raw --threads 2"),
            "{by_hand}"
        );
    }

    #[test]
    fn reject_sections_give_the_ratio_the_command_and_the_queries() {
        let a = args(&["--threads", "2", "--max-reject-ratio", "0.05"]);
        let config = run_config(&SPEC, &a, &secrets_none()).unwrap();
        let sections = reject_sections(&SPEC, &a, &config, 40, 400);
        assert_eq!(sections.len(), 2, "no warehouse: no Snowflake section");
        assert!(
            sections[0].text.contains("--max-reject-ratio 0.1 "),
            "{}",
            sections[0].text
        );
        assert!(
            sections[0].code.contains("--max-reject-ratio 0.1 "),
            "{}",
            sections[0].code
        );
        assert!(!sections[0].code.contains("0.05"), "{}", sections[0].code);
        assert!(
            sections[1].code.contains(
                "read_parquet('s3://lake/raw/push_proxy/logs_us_new_rejects/dt=2026-11-20/*.parquet')"
            ),
            "{}",
            sections[1].code
        );
        assert!(sections[1].code.contains("INSTALL httpfs"));

        let mut loaded = config.clone();
        loaded.warehouse = Some(Arc::new(crate::warehouse::Warehouse::new(
            crate::warehouse::SnowflakeConfig::parse(
                "snowflake://acct/raw/ingest?stage=lake",
                Some("INGEST_SVC"),
            )
            .unwrap(),
            crate::warehouse::Credentials::Password("SENTINELpw".into()),
        )));
        let sections = reject_sections(&SPEC, &a, &loaded, 40, 400);
        assert_eq!(sections.len(), 3);
        let snowflake = &sections[2];
        assert!(
            snowflake
                .text
                .contains(r#""RAW"."INGEST"."LOGS_US_NEW_REJECTS""#),
            "{}",
            snowflake.text
        );
        assert!(
            snowflake
                .code
                .contains(r#"WHERE "DT" = '2026-11-20'::DATE"#)
        );
        assert!(!format!("{sections:?}").contains("SENTINEL"));
    }

    fn secrets_none() -> Secrets {
        // Built the way the run does, from an environment without secrets.
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(Secrets::resolve_from_env()).0
    }
}
