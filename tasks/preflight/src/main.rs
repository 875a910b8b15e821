//! `preflight`: checks an ingest-tasks deployment before `helm upgrade` (docs/preflight.md).

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use ingest_runtime::aws_client::S3Options;
use ingest_runtime::config::{LogFormat, Secrets};
use ingest_runtime::secrets::manager::{self as secrets_manager, SecretRef};
use preflight::kube_secrets::{self, SecretLookup};
use preflight::kube_service_account::{self, ExpectedAnnotation};
use preflight::plan::{self, JobSource, RequiredKey};
use preflight::report::{self, Row, Status};
use preflight::{s3check, warehouse, webhook};

const AFTER_HELP: &str = "\
Checks (one table row each; never a secret value):
  secret-key  every required key of the jobs' Secret exists and is not empty (RBAC: get secrets/<name>)
  sync        --sync only: what changed in the Secret, by key name (RBAC: get + patch secrets/<name>)
  aws-secret  each <VAR>_SECRET_ID given to preflight itself is readable in AWS Secrets Manager
  service-account  the jobs' ServiceAccount (--service-account) exists, with each --service-account-annotation
              (RBAC: get serviceaccounts/<name>)
  s3-list     each job source (INGEST_SOURCE_<JOB>[_<DEPLOYMENT>], --source) is listable
  s3-read     one object of each listed source is readable (a one-byte GetObject)
  lake-write  the lake (--lake) is listable, and a probe object under <lake>/_preflight/ can be written and deleted
  warehouse   --check-warehouse only: the warehouse accepts the credentials
  webhook     --check-webhook only: a \"deploy check\" message posts to the webhook

--check-freshness (the watchdog; a CronJob runs it) replaces the checks above: for each due date of the
window (--lookback-days, --due-after-hours), every table of --jobs must have a committed partition in
--lake (<table>/dt=<date>/_manifest.json on S3); a date that has not gets one alert, once (marker
<lake>/_watchdog/dt=<date>.json). Exit 0 when every due date is loaded or alerted, 2 when the lake is
denied or the webhook missing or refused, 4 when S3 or the webhook was unavailable.

Exit codes:
  0  everything required is present (warnings allowed)
  1  internal error
  2  something is missing, denied or invalid (or bad usage)
  4  nothing is missing, but a service (Kubernetes API, S3, Secrets Manager, webhook) was unavailable

AWS region and credentials: the standard AWS chain (AWS_REGION, IRSA, ...); Secrets Manager's endpoint
can be overridden with AWS_ENDPOINT_URL_SECRETS_MANAGER. Kubernetes: in-cluster config or KUBECONFIG.
Logs: RUST_LOG (default info). Full reference: docs/preflight.md.";

/// Checks that the ingest jobs' prerequisites exist before a helm upgrade: the Kubernetes Secret
/// and its keys, the S3 sources, optionally the warehouse and the webhook. Prints a table naming
/// what is missing (never a value) and exits non-zero when something is.
#[derive(Parser, Debug)]
// bin_name: usage says preflight even when the image runs it as /usr/local/bin/job.
#[command(name = "preflight", bin_name = "preflight", version, after_long_help = AFTER_HELP)]
struct Cli {
    /// Namespace of the jobs' Secret (default: the pod's namespace, or the kubeconfig context's).
    #[arg(long, env = "INGEST_NAMESPACE", value_name = "NAMESPACE")]
    namespace: Option<String>,

    /// The Secret the job pods' secret env vars come from.
    #[arg(
        long,
        env = "INGEST_SECRET_NAME",
        value_name = "NAME",
        default_value = "ingest-tasks"
    )]
    secret_name: String,

    /// Keys the Secret must hold, non-empty, comma-separated; `a|b` = at least one of them
    /// (default: the keys the job pods need: mattermost-webhook-url, and with --warehouse
    /// snowflake-private-key|snowflake-password).
    #[arg(
        long,
        env = "INGEST_REQUIRED_SECRET_KEYS",
        value_name = "KEYS",
        value_delimiter = ','
    )]
    required_keys: Vec<String>,

    /// Jobs to check, comma-separated (default: all four).
    #[arg(long, env = "INGEST_JOBS", value_name = "JOBS", value_delimiter = ',')]
    jobs: Vec<String>,

    /// Extra source of a job, JOB=s3://bucket/prefix (repeatable). Sources are also read from the
    /// DAGs' settings INGEST_SOURCE_<JOB> and INGEST_SOURCE_<JOB>_<DEPLOYMENT>.
    #[arg(long = "source", value_name = "JOB=URL")]
    sources: Vec<String>,

    /// The jobs' ServiceAccount, checked to exist (with --service-account-annotation) unless
    /// --skip-kubernetes.
    #[arg(long, env = "INGEST_SERVICE_ACCOUNT", value_name = "NAME")]
    service_account: Option<String>,

    /// An annotation the jobs' ServiceAccount must carry, KEY=VALUE (repeatable; comma-separated
    /// in the env variable), e.g. eks.amazonaws.com/role-arn=arn:aws:iam::123456789012:role/ingest.
    #[arg(
        long = "service-account-annotation",
        env = "INGEST_SERVICE_ACCOUNT_ANNOTATIONS",
        value_name = "KEY=VALUE",
        value_delimiter = ','
    )]
    service_account_annotations: Vec<String>,

    /// Do not check the jobs' ServiceAccount (the chart's hook sets this when the same release
    /// creates or updates the ServiceAccount, after the hook).
    #[arg(long, env = "INGEST_PREFLIGHT_SKIP_SERVICE_ACCOUNT")]
    skip_service_account: bool,

    /// The lake the jobs write (s3://bucket/prefix): listed, and a probe object written under
    /// `<lake>/_preflight/` and deleted (needs s3:ListBucket, s3:PutObject, s3:DeleteObject).
    #[arg(long, env = "INGEST_LAKE", value_name = "URL")]
    lake: Option<String>,

    /// Copy AWS Secrets Manager entries into the Secret first, KEY=<secret arn or name>[#<json key>]
    /// (repeatable; comma-separated in the env variable). Idempotent: only keys whose value
    /// differs are patched. Needs `patch` on the Secret.
    #[arg(
        long = "sync",
        env = "INGEST_PREFLIGHT_SYNC",
        value_name = "KEY=SECRET_ID[#JSON_KEY]",
        value_delimiter = ','
    )]
    sync: Vec<String>,

    /// With --sync: report what would change, patch nothing.
    #[arg(long, env = "INGEST_PREFLIGHT_SYNC_DRY_RUN")]
    sync_dry_run: bool,

    /// Do not call the Kubernetes API (no secret-key checks, no --sync): for runs outside a
    /// cluster, e.g. the S3 and webhook checks alone.
    #[arg(long, env = "INGEST_PREFLIGHT_SKIP_KUBERNETES")]
    skip_kubernetes: bool,

    /// Do not check the S3 sources (e.g. a test cluster without AWS access).
    #[arg(long, env = "INGEST_PREFLIGHT_SKIP_S3")]
    skip_s3: bool,

    /// Post a "deploy check" message to the webhook (MATTERMOST_WEBHOOK_URL, direct or as
    /// MATTERMOST_WEBHOOK_URL_SECRET_ID; else the Secret's key mattermost-webhook-url).
    #[arg(long, env = "INGEST_PREFLIGHT_WEBHOOK_CHECK")]
    check_webhook: bool,

    /// Check that the warehouse (--warehouse) accepts the credentials.
    #[arg(long, env = "INGEST_PREFLIGHT_WAREHOUSE_CHECK")]
    check_warehouse: bool,

    /// The jobs' warehouse URL (snowflake://...), for --check-warehouse.
    #[arg(long, env = "INGEST_WAREHOUSE", value_name = "URL")]
    warehouse: Option<String>,

    /// Snowflake login name, for --check-warehouse.
    #[arg(long, env = "SNOWFLAKE_USER", value_name = "NAME")]
    warehouse_user: Option<String>,

    /// S3 endpoint URL, for S3-compatible servers (default: AWS).
    #[arg(long, env = "INGEST_S3_ENDPOINT", value_name = "URL")]
    s3_endpoint: Option<String>,

    /// Path-style S3 addressing.
    #[arg(long, env = "INGEST_S3_FORCE_PATH_STYLE")]
    s3_force_path_style: bool,

    /// Attempts per S3 request.
    #[arg(long, env = "INGEST_S3_MAX_ATTEMPTS", value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=20))]
    s3_max_attempts: u32,

    /// Username of the deploy-check post.
    #[arg(long, env = "MATTERMOST_USERNAME", value_name = "NAME")]
    alert_username: Option<String>,

    /// Icon URL of the deploy-check post.
    #[arg(long, env = "MATTERMOST_ICON_URL", value_name = "URL")]
    alert_icon_url: Option<String>,

    /// Channel of the deploy-check post (default: the webhook's channel).
    #[arg(long, env = "MATTERMOST_CHANNEL", value_name = "CHANNEL")]
    alert_channel: Option<String>,

    /// Log format; with json (pods) the result is also printed as one JSON line after the table.
    #[arg(long, env = "INGEST_LOG_FORMAT", value_enum, default_value = "auto")]
    log_format: LogFormat,

    /// The watchdog, instead of the deploy checks: for each due date of the window, check that
    /// every table of --jobs has a committed partition in --lake, and post one alert per date
    /// that has not (once: a marker under <lake>/_watchdog/ records it).
    #[arg(long, env = "INGEST_CHECK_FRESHNESS")]
    check_freshness: bool,

    /// With --check-freshness: how many due dates to check, the newest first.
    #[arg(long, env = "INGEST_WATCHDOG_LOOKBACK_DAYS", value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=60))]
    lookback_days: u32,

    /// With --check-freshness: date D is due this many hours after its day ends (D+1 00:00 UTC).
    /// The default 10 is the latest DAG schedule (06:00) plus the DAGs' deadline (4 h).
    #[arg(long, env = "INGEST_WATCHDOG_DUE_AFTER_HOURS", value_name = "HOURS", default_value_t = preflight::freshness::due::DEFAULT_DUE_AFTER_HOURS, value_parser = clap::value_parser!(u32).range(0..=168))]
    due_after_hours: u32,

    /// With --check-freshness: check no date before this one (the first date the DAGs load).
    #[arg(long, env = "INGEST_WATCHDOG_START_DATE", value_name = "YYYY-MM-DD")]
    start_date: Option<ingest_runtime::time::Date>,

    /// With --check-freshness: the time to check at, YYYY-MM-DDTHH:MM:SSZ (default: now). For
    /// tests and for replaying a past check.
    #[arg(long, env = "INGEST_WATCHDOG_NOW", value_name = "TIME")]
    now: Option<String>,
}

impl Cli {
    /// The S3 client settings, the same for the checks and the watchdog.
    fn s3_options(&self) -> S3Options {
        S3Options {
            endpoint: self.s3_endpoint.clone(),
            force_path_style: self.s3_force_path_style,
            max_attempts: self.s3_max_attempts,
        }
    }
}

/// The validated plan of a run.
struct Plan {
    jobs: Vec<String>,
    service_account_annotations: Vec<ExpectedAnnotation>,
    required: Vec<RequiredKey>,
    sources: Vec<JobSource>,
    sync: Vec<(String, SecretRef)>,
}

fn plan(cli: &Cli) -> Result<Plan, String> {
    let jobs: Vec<String> = cli
        .jobs
        .iter()
        .map(|j| j.trim().to_owned())
        .filter(|j| !j.is_empty())
        .collect();
    let jobs = if jobs.is_empty() {
        plan::known_jobs()
    } else {
        jobs
    };
    if let Some(bad) = jobs
        .iter()
        .find(|j| !j.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
    {
        return Err(format!("--jobs: {bad:?} is not a job name"));
    }
    let required: Vec<RequiredKey> = cli
        .required_keys
        .iter()
        .map(|k| k.trim())
        .filter(|k| !k.is_empty())
        .map(RequiredKey::parse)
        .collect::<Result<_, _>>()?;
    let required = if required.is_empty() {
        let warehouse = cli
            .warehouse
            .as_deref()
            .is_some_and(|w| !w.trim().is_empty());
        plan::default_required_keys(warehouse)
    } else {
        required
    };
    let mut sources = plan::sources_from_env(&jobs, std::env::vars());
    for spec in &cli.sources {
        let (job, location) = spec
            .split_once('=')
            .ok_or_else(|| format!("--source {spec:?}: expected JOB=s3://bucket/prefix"))?;
        sources.push(JobSource {
            job: job.trim().to_owned(),
            label: job.trim().to_owned(),
            location: location.trim().to_owned(),
        });
    }
    let mut sync = Vec::new();
    for spec in cli.sync.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
        let (key, reference) = spec.split_once('=').ok_or_else(|| {
            format!("--sync {spec:?}: expected KEY=<secret arn or name>[#<json key>]")
        })?;
        let key = key.trim();
        if !plan::valid_secret_key(key) {
            return Err(format!(
                "--sync {spec:?}: {key:?} is not a valid Secret key"
            ));
        }
        let reference = SecretRef::parse(reference).map_err(|e| format!("--sync {key}: {e}"))?;
        sync.push((key.to_owned(), reference));
    }
    if !sync.is_empty() && cli.skip_kubernetes {
        return Err(
            "--sync writes the Kubernetes Secret: it cannot be combined with --skip-kubernetes"
                .into(),
        );
    }
    let service_account_annotations = cli
        .service_account_annotations
        .iter()
        .map(|a| a.trim())
        .filter(|a| !a.is_empty())
        .map(ExpectedAnnotation::parse)
        .collect::<Result<Vec<_>, _>>()?;
    if !service_account_annotations.is_empty() && cli.service_account.is_none() {
        return Err(
            "--service-account-annotation needs --service-account (INGEST_SERVICE_ACCOUNT)".into(),
        );
    }
    Ok(Plan {
        jobs,
        service_account_annotations,
        required,
        sources,
        sync,
    })
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            return ExitCode::from(if err.use_stderr() { 2 } else { 0 });
        }
    };
    ingest_runtime::logging::init(cli.log_format);
    let _ = rustls::crypto::ring::default_provider().install_default();
    if cli.check_freshness {
        return watchdog(&cli);
    }
    let plan = match plan(&cli) {
        Ok(p) => p,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("preflight: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let json = ingest_runtime::logging::resolve(cli.log_format) == LogFormat::Json;
    let outcome = runtime.block_on(run(&cli, &plan));
    let code = report::exit_code(&outcome.rows);
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "preflight {}: namespace {}, Secret {}, jobs {}\n",
        env!("CARGO_PKG_VERSION"),
        outcome.namespace,
        cli.secret_name,
        plan.jobs.join(", ")
    );
    let _ = write!(out, "{}", report::table(&outcome.rows));
    let _ = writeln!(out, "\n{}", report::verdict(&outcome.rows));
    let doc = serde_json::json!({
        "event": "preflight",
        "ok": code == 0,
        "exit_code": code,
        "namespace": outcome.namespace,
        "secret": cli.secret_name,
        "jobs": plan.jobs,
        "checks": outcome.rows,
    });
    if json {
        let _ = writeln!(out, "{doc}");
    }
    let _ = out.flush();
    write_termination_message(&doc);
    ExitCode::from(code)
}

/// `--check-freshness`: the watchdog (preflight::freshness).
fn watchdog(cli: &Cli) -> ExitCode {
    use preflight::freshness::{self, due, store::Store, tables};

    let usage = |message: String| {
        eprintln!("error: {message}");
        let doc =
            serde_json::json!({"event": "watchdog", "ok": false, "exit_code": 2, "error": message});
        if ingest_runtime::logging::resolve(cli.log_format) == LogFormat::Json {
            println!("{doc}");
        }
        write_termination_message(&doc);
        ExitCode::from(2)
    };
    let Some(lake) = cli.lake.as_deref().map(str::trim).filter(|l| !l.is_empty()) else {
        return usage("--check-freshness needs the lake: --lake or INGEST_LAKE".into());
    };
    let location = match ingest_runtime::lake::LakeLocation::parse_lake(lake) {
        Ok(l) => l,
        Err(why) => return usage(why),
    };
    let now_secs = match cli.now.as_deref() {
        Some(now) => match due::parse_now(now) {
            Ok(s) => s,
            Err(why) => return usage(why),
        },
        None => ingest_runtime::time::now_micros().div_euclid(1_000_000),
    };
    let jobs: Vec<String> = cli
        .jobs
        .iter()
        .map(|j| j.trim().to_owned())
        .filter(|j| !j.is_empty())
        .collect();
    let jobs = if jobs.is_empty() {
        preflight::plan::known_jobs()
    } else {
        jobs
    };
    let watched = match tables::watched(&jobs, |name| std::env::var(name).ok()) {
        Ok(w) => w,
        Err(why) => return usage(why),
    };
    let window = due::Window {
        now_secs,
        lookback_days: cli.lookback_days,
        due_after_secs: i64::from(cli.due_after_hours) * 3600,
        start: cli.start_date,
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("preflight: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let (reports, secret_errors) = runtime.block_on(async {
        let (secrets, secret_errors) = Secrets::resolve_from_env().await;
        let client = if location.is_s3() {
            Some(ingest_runtime::aws_client::s3_client(&cli.s3_options()).await)
        } else {
            None
        };
        let store = match Store::new(&location, client) {
            Ok(s) => s,
            Err(why) => return (Err(why), secret_errors),
        };
        let post = webhook::PostOptions {
            username: cli.alert_username.clone(),
            icon_url: cli.alert_icon_url.clone(),
            channel: cli.alert_channel.clone(),
        };
        let run = freshness::Run {
            store: &store,
            lake: &location.to_string(),
            tables: &watched,
            window,
            webhook: secrets.webhook_url.as_ref(),
            post: &post,
        };
        (Ok(freshness::run(&run).await), secret_errors)
    });
    let reports = match reports {
        Ok(r) => r,
        Err(why) => {
            eprintln!("preflight: {why}");
            return ExitCode::from(1);
        }
    };
    // A webhook read from Secrets Manager that failed is only fatal when a post was needed:
    // the reports then say "no webhook"; log the cause.
    for err in &secret_errors {
        tracing::error!(error = %ingest_runtime::error::error_chain(err).join(": "), "a secret could not be read");
    }
    let code = freshness::exit_code(&reports);
    let alerts_sent = reports
        .iter()
        .filter(|r| r.alert == freshness::AlertState::Sent)
        .count();
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "preflight {} --check-freshness: lake {}, jobs {}, {} tables, {} due dates at {}\n",
        env!("CARGO_PKG_VERSION"),
        location,
        jobs.join(", "),
        watched.len(),
        reports.len(),
        due::format_utc(now_secs),
    );
    let _ = write!(out, "{}", freshness::lines(&reports));
    let doc = serde_json::json!({
        "event": "watchdog",
        "ok": code == 0,
        "exit_code": code,
        "now": due::format_rfc3339(now_secs),
        "lake": location.to_string(),
        "jobs": jobs,
        "tables": watched.iter().map(|w| w.table.to_string()).collect::<Vec<_>>(),
        "due_after_hours": cli.due_after_hours,
        "lookback_days": cli.lookback_days,
        "alerts_sent": alerts_sent,
        "dates": reports,
    });
    if ingest_runtime::logging::resolve(cli.log_format) == LogFormat::Json {
        let _ = writeln!(out, "{doc}");
    }
    let _ = out.flush();
    write_termination_message(&doc);
    ExitCode::from(code)
}

struct Outcome {
    namespace: String,
    rows: Vec<Row>,
}

async fn run(cli: &Cli, plan: &Plan) -> Outcome {
    let mut rows = Vec::new();
    let all_jobs = if plan.jobs.len() == plan::known_jobs().len() {
        "all jobs".to_owned()
    } else {
        plan.jobs.join(", ")
    };

    // Secrets given to preflight itself (the webhook, the warehouse), directly or from Secrets
    // Manager: each indirect one is a check of its own.
    let (secrets, secret_errors) = Secrets::resolve_from_env().await;
    for (env, reference) in secrets_references() {
        if secrets.get(&env).is_some() {
            rows.push(Row::new(
                "aws-secret",
                reference.to_string(),
                env.clone(),
                Status::Ok,
                format!("{env}{} readable", secrets_manager::ID_SUFFIX),
            ));
        }
    }
    for err in &secret_errors {
        rows.push(Row::new(
            "aws-secret",
            "AWS Secrets Manager",
            "-",
            status_of(err.kind()),
            ingest_runtime::error::error_chain(err).join(": "),
        ));
    }

    // Kubernetes: sync first (so the key checks see the result), then the key checks.
    let mut namespace = cli.namespace.clone().unwrap_or_default();
    let mut secret_data = None;
    if cli.skip_kubernetes {
        rows.push(Row::new(
            "secret-key",
            format!("{}/*", cli.secret_name),
            all_jobs.clone(),
            Status::Skipped,
            "--skip-kubernetes",
        ));
    } else {
        match kube::Client::try_default().await {
            Err(err) => rows.push(Row::new(
                "secret-key",
                format!("{}/*", cli.secret_name),
                all_jobs.clone(),
                Status::Fail,
                format!("no Kubernetes client configuration (in-cluster or KUBECONFIG): {err}"),
            )),
            Ok(client) => {
                if namespace.is_empty() {
                    namespace = client.default_namespace().to_owned();
                }
                if !plan.sync.is_empty() {
                    rows.extend(sync(&client, &namespace, cli, plan).await);
                }
                let lookup = kube_secrets::read_secret(&client, &namespace, &cli.secret_name).await;
                rows.extend(kube_secrets::key_rows(
                    &lookup,
                    &namespace,
                    &cli.secret_name,
                    &plan.required,
                    &all_jobs,
                ));
                if let SecretLookup::Found(data) = lookup {
                    secret_data = Some(data);
                }
                if let (Some(name), true) =
                    (cli.service_account.as_deref(), cli.skip_service_account)
                {
                    rows.push(Row::new(
                        "service-account",
                        format!("{namespace}/{name}"),
                        all_jobs.clone(),
                        Status::Skipped,
                        "created or updated by this release after the hook (serviceAccount.create); helm test checks it",
                    ));
                } else if let Some(name) = cli.service_account.as_deref() {
                    let (status, detail) = kube_service_account::check(
                        &client,
                        &namespace,
                        name,
                        &plan.service_account_annotations,
                    )
                    .await;
                    rows.push(Row::new(
                        "service-account",
                        format!("{namespace}/{name}"),
                        all_jobs.clone(),
                        status,
                        detail,
                    ));
                }
            }
        }
    }

    // S3 sources.
    if cli.skip_s3 {
        rows.push(Row::new(
            "s3-list",
            "*",
            all_jobs.clone(),
            Status::Skipped,
            "--skip-s3",
        ));
    } else {
        for job in &plan.jobs {
            if !plan.sources.iter().any(|s| &s.job == job) {
                rows.push(Row::new(
                    "s3-list",
                    format!("INGEST_SOURCE_{}*", plan::job_env_key(job)),
                    job.clone(),
                    Status::Fail,
                    "no source configured for this job (the chart's jobs.<job>.sources / sourcesByDeployment)",
                ));
            }
        }
        // The S3 client only when some source or the lake is on S3 (it loads the AWS chain).
        let lake = cli.lake.as_deref().map(str::trim).filter(|l| !l.is_empty());
        let client = if plan
            .sources
            .iter()
            .any(|s| s.location.trim().starts_with("s3://"))
            || lake.is_some_and(|l| l.starts_with("s3://"))
        {
            Some(ingest_runtime::aws_client::s3_client(&cli.s3_options()).await)
        } else {
            None
        };
        for source in &plan.sources {
            let found = s3check::check_source(client.as_ref(), &source.location).await;
            let (status, detail) = found.list;
            rows.push(Row::new(
                "s3-list",
                source.location.clone(),
                source.label.clone(),
                status,
                detail,
            ));
            if let Some((status, detail)) = found.read {
                rows.push(Row::new(
                    "s3-read",
                    source.location.clone(),
                    source.label.clone(),
                    status,
                    detail,
                ));
            }
        }
        if let Some(lake) = lake {
            let (status, detail) = s3check::check_lake(client.as_ref(), lake, &probe_name()).await;
            rows.push(Row::new(
                "lake-write",
                lake.to_owned(),
                all_jobs.clone(),
                status,
                detail,
            ));
        }
    }

    if cli.check_warehouse {
        let (status, detail) = match cli.warehouse.as_deref().filter(|w| !w.trim().is_empty()) {
            None => (
                Status::Fail,
                "--check-warehouse needs the warehouse URL (--warehouse / INGEST_WAREHOUSE)".into(),
            ),
            Some(url) => {
                let from_secret = |key: &str| secret_data.as_ref().and_then(|d| d.secret(key));
                warehouse::check(url, cli.warehouse_user.as_deref(), &secrets, from_secret).await
            }
        };
        rows.push(Row::new(
            "warehouse",
            // The report names the target, never a credential pasted into the URL.
            cli.warehouse.as_deref().map_or_else(
                || "(no URL)".into(),
                ingest_runtime::warehouse::redacted_url,
            ),
            all_jobs.clone(),
            status,
            detail,
        ));
    }

    if cli.check_webhook {
        let from_secret = secret_data
            .as_ref()
            .and_then(|d| d.secret(&plan::secret_key_for_env("MATTERMOST_WEBHOOK_URL")));
        let (target, url) = match (&secrets.webhook_url, from_secret) {
            (Some(url), _) => ("MATTERMOST_WEBHOOK_URL", Some(url.clone())),
            (None, Some(url)) => ("Secret key mattermost-webhook-url", Some(url)),
            (None, None) => ("MATTERMOST_WEBHOOK_URL", None),
        };
        let (status, detail) = match url {
            None => (
                Status::Fail,
                "no webhook URL: neither MATTERMOST_WEBHOOK_URL(_SECRET_ID) nor the Secret's key mattermost-webhook-url".into(),
            ),
            Some(url) => {
                let verdict = report::verdict(&rows);
                let text = webhook::message(&namespace, &context(), &rows, &verdict);
                let options = webhook::PostOptions {
                    username: cli.alert_username.clone(),
                    icon_url: cli.alert_icon_url.clone(),
                    channel: cli.alert_channel.clone(),
                };
                webhook::post(&url, &text, &options).await
            }
        };
        rows.push(Row::new("webhook", target, "-", status, detail));
    }

    Outcome {
        namespace: if namespace.is_empty() {
            "(not used)".into()
        } else {
            namespace
        },
        rows,
    }
}

/// `--sync`: read each entry from Secrets Manager, then patch the Secret once.
async fn sync(client: &kube::Client, namespace: &str, cli: &Cli, plan: &Plan) -> Vec<Row> {
    let mut rows = Vec::new();
    let target = |key: &str| format!("{}/{key}", cli.secret_name);
    let sm = match secrets_manager::client().await {
        Ok(c) => c,
        Err(why) => {
            return vec![Row::new(
                "sync",
                format!("{}/*", cli.secret_name),
                "-",
                Status::Fail,
                format!("cannot call AWS Secrets Manager: {why}"),
            )];
        }
    };
    let mut desired = Vec::new();
    for (key, reference) in &plan.sync {
        match secrets_manager::fetch(&sm, &format!("--sync {key}"), reference).await {
            Ok(value) => desired.push((key.clone(), value)),
            Err(err) => rows.push(Row::new(
                "sync",
                target(key),
                "-",
                status_of(err.kind()),
                ingest_runtime::error::error_chain(&err).join(": "),
            )),
        }
    }
    if !rows.is_empty() {
        // All or nothing: a partial sync would leave the Secret half old, half new.
        rows.push(Row::new(
            "sync",
            format!("{}/*", cli.secret_name),
            "-",
            Status::Fail,
            "nothing was written: every --sync entry must be readable first",
        ));
        return rows;
    }
    match kube_secrets::sync(
        client,
        namespace,
        &cli.secret_name,
        &desired,
        cli.sync_dry_run,
    )
    .await
    {
        Ok(changes) => {
            for (key, change) in changes {
                let source = plan
                    .sync
                    .iter()
                    .find(|(k, _)| *k == key)
                    .map(|(_, r)| r.to_string())
                    .unwrap_or_default();
                rows.push(Row::new(
                    "sync",
                    target(&key),
                    "-",
                    Status::Ok,
                    format!(
                        "{}{} from {source}",
                        change.label(),
                        if cli.sync_dry_run { " (dry run)" } else { "" }
                    ),
                ));
            }
        }
        Err(err) => rows.push(Row::new(
            "sync",
            format!("{}/*", cli.secret_name),
            "-",
            err.status(),
            err.to_string(),
        )),
    }
    rows
}

/// The `<VAR>_SECRET_ID` references in preflight's own environment.
fn secrets_references() -> Vec<(String, SecretRef)> {
    ingest_runtime::config::SECRET_ENV
        .iter()
        .filter_map(|(env, _)| {
            let id = std::env::var(format!("{env}{}", secrets_manager::ID_SUFFIX)).ok()?;
            let key = std::env::var(format!("{env}{}", secrets_manager::KEY_SUFFIX)).ok();
            let id = id.trim();
            (!id.is_empty()).then(|| {
                (
                    (*env).to_owned(),
                    SecretRef {
                        secret_id: id.to_owned(),
                        json_key: key.map(|k| k.trim().to_owned()).filter(|k| !k.is_empty()),
                    },
                )
            })
        })
        .collect()
}

/// A probe object name no other preflight run uses at the same time.
fn probe_name() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("probe-{nanos:x}-{}", std::process::id())
}

fn status_of(kind: ingest_runtime::error::FailureKind) -> Status {
    if kind == ingest_runtime::error::FailureKind::Transient {
        Status::Unavailable
    } else {
        Status::Fail
    }
}

/// Where the check runs, for the webhook message: the helm hook sets nothing special, so the
/// pod's name (HOSTNAME) and the image tag (INGEST_IMAGE_TAG) say which upgrade it was.
fn context() -> String {
    let mut parts = Vec::new();
    if let Ok(tag) = std::env::var("INGEST_IMAGE_TAG") {
        parts.push(format!("image tag `{tag}`"));
    }
    if let Ok(host) = std::env::var("HOSTNAME") {
        parts.push(format!("pod `{host}`"));
    }
    parts.join(", ")
}

/// The JSON result to Kubernetes' termination message file, when writable (the jobs' writer).
fn write_termination_message(doc: &serde_json::Value) {
    ingest_runtime::summary::write_termination_message(doc.to_string(), || {
        serde_json::json!({"event": doc["event"], "ok": doc["ok"], "exit_code": doc["exit_code"], "truncated": true}).to_string()
    });
}
