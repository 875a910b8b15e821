//! A job's entry point. A job crate describes itself with a [`JobSpec`] and calls [`main`]:
//!
//! ```ignore
//! fn main() -> std::process::ExitCode { ingest_runtime::job::main(&push_logs::JOB) }
//! ```

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clap::{Args, Command, FromArgMatches};

use crate::alert::{AirflowContext, AlertConfig, Failure};
use crate::config::{AIRFLOW_CONTEXT_ENV, CommonArgs, LogFormat, SECRET_ENV, Secrets, shell_quote};
use crate::error::{FailureKind, RunError, error_chain};
use crate::format::RecordFormat;
use crate::lake::{LakeLocation, TableName};
use crate::run::{Counters, RunConfig, StopFlag};
use crate::source::{KeySelection, S3Options, SourceLocation};
use crate::summary::{RunSummary, human_bytes};
use crate::time::{Date, format_micros_utc, now_micros};

/// What makes a job: its name, its format and table, and which keys a date reads.
pub struct JobSpec {
    /// Binary name, e.g. `push-logs`.
    pub name: &'static str,
    /// One line for `--help`.
    pub about: &'static str,
    /// Paragraphs for `--help`: the source layout and what a run does.
    pub long_about: &'static str,
    pub format: &'static dyn RecordFormat,
    /// `--table` default, if the job has one natural table.
    pub default_table: Option<&'static str>,
    /// The keys (relative to each `--source`) that belong to a logical date.
    pub select: fn(Date) -> KeySelection,
    /// Which files a logical date reads, in words (shown in `--help` and the contract).
    pub date_semantics: &'static str,
    /// Example invocations for `--help`.
    pub examples: &'static str,
}

fn command(spec: &'static JobSpec) -> Command {
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
            .version(env!("CARGO_PKG_VERSION"))
            .about(spec.about)
            .long_about(format!("{}\n\n{}", spec.about, spec.long_about))
            .after_long_help(after),
    )
}

/// Parses the command line and environment, runs the job, reports, and exits with its code.
pub fn main(spec: &'static JobSpec) -> ExitCode {
    let started = Instant::now();
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
    let alerts = AlertConfig {
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
            let sent = runtime.block_on(send_alert(&alerts, &failure));
            let mut summary = RunSummary::new(
                spec.name,
                args.date.map(|d| d.to_string()).unwrap_or_default(),
                args.table.clone().unwrap_or_default(),
                String::new(),
                &Counters::default(),
                started.elapsed(),
                args.dry_run,
            );
            mark_failed(&mut summary, &err, sent);
            summary.print(human);
            summary.write_termination_message();
            return ExitCode::from(err.kind().exit_code() as u8);
        }
    };
    tracing::info!(
        job = spec.name, date = %config.date, table = %config.table, run_id = %config.run_id,
        sources = %config.sources.iter().map(ToString::to_string).collect::<Vec<_>>().join(","),
        lake = %config.lake, dry_run = config.dry_run, threads = config.threads,
        "run started"
    );

    let counters = Arc::new(Counters::default());
    let stop = Arc::new(StopFlag::default());
    let (cancel_tx, cancel_rx) = tokio::sync::watch::channel(false);
    let progress =
        (human && std::io::stderr().is_terminal()).then(|| Progress::start(counters.clone()));

    let result = runtime.block_on(async {
        let signals = tokio::spawn(wait_for_signal(stop.clone(), cancel_tx));
        let result = crate::run::execute(
            spec.format,
            config.clone(),
            counters.clone(),
            stop.clone(),
            cancel_rx,
        )
        .await;
        signals.abort();
        result
    });
    if let Some(p) = progress {
        p.stop();
    }

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
            let sent = runtime.block_on(send_alert(&alerts, &failure));
            mark_failed(&mut summary, &err, sent);
            if human {
                eprintln!("error: {}", chain.join("\n  caused by: "));
            }
            err.kind().exit_code()
        }
    };
    summary.print(human);
    summary.write_termination_message();
    // Don't wait for stray download tasks of an aborted run.
    runtime.shutdown_timeout(Duration::from_millis(200));
    ExitCode::from(code as u8)
}

fn mark_failed(summary: &mut RunSummary, err: &RunError, alert_sent: bool) {
    summary.status = "failed";
    summary.exit_code = err.kind().exit_code();
    summary.error_kind = Some(err.kind().describe());
    summary.error = Some(error_chain(err).join(": "));
    summary.alert_sent = alert_sent;
}

async fn send_alert(alerts: &AlertConfig, failure: &Failure) -> bool {
    match crate::alert::send_failure_alert(alerts, failure).await {
        Ok(crate::alert::AlertOutcome::Sent) => {
            tracing::info!("failure alert posted");
            true
        }
        Ok(_) => false,
        Err(err) => {
            // AlertError never contains the webhook URL.
            tracing::error!(error = %error_chain(&err).join(": "), "could not post the failure alert");
            false
        }
    }
}

/// A clap error: help and version exit 0; a usage error exits 2 (and alerts when configured).
fn usage_error(spec: &'static JobSpec, err: clap::Error) -> ExitCode {
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
            airflow: AirflowContext::from_env(),
        };
        rt.block_on(send_alert(&alerts, &failure));
    }
    ExitCode::from(FailureKind::Config.exit_code() as u8)
}

fn run_config(
    spec: &'static JobSpec,
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
        .map(|s| SourceLocation::parse(s))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(id) = &args.run_id {
        crate::lake::validate_run_id(id)?;
    }
    let lake = LakeLocation::parse(&args.lake)?;
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
    })
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

/// The command that re-runs this date with the same non-secret options.
fn rerun_command(spec: &JobSpec, args: &CommonArgs) -> String {
    let mut parts = vec![spec.name.to_owned()];
    if let Some(d) = args.date {
        parts.push(format!("--date {d}"));
    }
    for s in &args.sources {
        parts.push(format!("--source {}", shell_quote(s)));
    }
    if let Some(t) = &args.table {
        parts.push(format!("--table {}", shell_quote(t)));
    }
    parts.push(format!("--lake {}", shell_quote(&args.lake)));
    if let Some(w) = &args.warehouse {
        // Never a credential pasted into the URL (the run refuses those anyway).
        parts.push(format!(
            "--warehouse {}",
            shell_quote(&crate::warehouse::redacted_url(w))
        ));
    }
    if (args.max_reject_ratio - 0.01).abs() > f64::EPSILON {
        parts.push(format!("--max-reject-ratio {}", args.max_reject_ratio));
    }
    if args.allow_empty {
        parts.push("--allow-empty".into());
    }
    if let Some(e) = &args.s3_endpoint {
        parts.push(format!("--s3-endpoint {}", shell_quote(e)));
    }
    if args.s3_force_path_style {
        parts.push("--s3-force-path-style".into());
    }
    parts.join(" ")
}

fn failure_for(
    spec: &JobSpec,
    args: &CommonArgs,
    config: Option<&RunConfig>,
    err: &RunError,
    counters: &Counters,
) -> Failure {
    Failure {
        job: spec.name.to_owned(),
        date: args.date.map(|d| d.to_string()).unwrap_or_default(),
        table: config
            .map(|c| c.table.to_string())
            .or_else(|| args.table.clone())
            .unwrap_or_default(),
        run_id: config.map(|c| c.run_id.clone()).unwrap_or_default(),
        exit_code: err.kind().exit_code(),
        kind: err.kind().describe().to_owned(),
        error_chain: error_chain(err),
        files_read: counters.files_done.load(Ordering::Relaxed),
        files_total: counters.files_total.load(Ordering::Relaxed),
        rows_loaded: counters.rows_loaded.load(Ordering::Relaxed),
        rows_rejected: counters.rows_rejected.load(Ordering::Relaxed),
        sample_rejects: counters.samples.lock().expect("samples lock").clone(),
        rerun_command: rerun_command(spec, args),
        airflow: AirflowContext::from_env(),
    }
}

async fn wait_for_signal(stop: Arc<StopFlag>, cancel: tokio::sync::watch::Sender<bool>) {
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
    tracing::warn!(signal = name, "interrupted: stopping without committing");
    stop.interrupt(name);
    let _ = cancel.send(true);
}

/// The job's contract as JSON: options with their env variables, secrets, exit codes.
fn contract(spec: &'static JobSpec) -> String {
    let cmd = command_for_contract(spec);
    let options: Vec<serde_json::Value> = cmd
        .get_arguments()
        .filter(|a| {
            a.get_long().is_some()
                && !["help", "version", "print-contract"].contains(&a.get_long().unwrap_or(""))
        })
        .map(|a| {
            let required = a.get_long().is_some_and(|l| {
                l == "date" || l == "source" || (l == "table" && spec.default_table.is_none())
            });
            serde_json::json!({
                "flag": format!("--{}", a.get_long().unwrap_or_default()),
                "env": a.get_env().map(|e| e.to_string_lossy().into_owned()),
                "required": required,
                "default": a.get_default_values().first().map(|v| v.to_string_lossy().into_owned()),
                "description": a.get_help().map(ToString::to_string).unwrap_or_default(),
            })
        })
        .collect();
    let required: Vec<&serde_json::Value> = options
        .iter()
        .filter(|o| o["required"] == true)
        .map(|o| &o["flag"])
        .collect();
    let exit_codes: serde_json::Map<String, serde_json::Value> =
        std::iter::once(("0".to_owned(), "success".into()))
            .chain(
                FailureKind::ALL
                    .iter()
                    .map(|k| (k.exit_code().to_string(), k.describe().into())),
            )
            .collect();
    serde_json::to_string_pretty(&serde_json::json!({
        "job": spec.name,
        "version": env!("CARGO_PKG_VERSION"),
        "default_table": spec.default_table,
        "required_options": required,
        "options": options,
        "secrets": SECRET_ENV.iter().map(|(name, doc)| serde_json::json!({"env": name, "required": false, "description": doc})).collect::<Vec<_>>(),
        "secrets_from_aws_secrets_manager": {"id_env": "<VAR>_SECRET_ID", "key_env": "<VAR>_SECRET_KEY", "description": "any secret env var may be given as the ARN or name of an AWS Secrets Manager secret (and optionally a key of its JSON object), read once at start-up"},
        "context_env": AIRFLOW_CONTEXT_ENV,
        "exit_codes": exit_codes,
        "date_semantics": spec.date_semantics,
    }))
    .expect("contract serializes")
}

fn command_for_contract(spec: &'static JobSpec) -> Command {
    let mut cmd = command(spec);
    cmd.build();
    cmd
}

/// A one-line progress display on a terminal.
struct Progress {
    done: Arc<AtomicBool>,
    handle: std::thread::JoinHandle<()>,
}

impl Progress {
    fn start(counters: Arc<Counters>) -> Progress {
        let done = Arc::new(AtomicBool::new(false));
        let flag = done.clone();
        let handle = std::thread::spawn(move || {
            let started = Instant::now();
            while !flag.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(250));
                let secs = started.elapsed().as_secs_f64().max(1e-3);
                let bytes = counters.bytes_uncompressed.load(Ordering::Relaxed);
                let mut err = std::io::stderr().lock();
                let _ = write!(
                    err,
                    "\r\x1b[2K  files {}/{}  rows {}  rejects {}  {:.1} MB/s",
                    counters.files_done.load(Ordering::Relaxed),
                    counters.files_total.load(Ordering::Relaxed),
                    counters.rows_loaded.load(Ordering::Relaxed),
                    counters.rows_rejected.load(Ordering::Relaxed),
                    bytes as f64 / 1e6 / secs
                );
                let _ = err.flush();
            }
            let _ = write!(std::io::stderr(), "\r\x1b[2K");
        });
        Progress { done, handle }
    }

    fn stop(self) {
        self.done.store(true, Ordering::Relaxed);
        let _ = self.handle.join();
    }
}
