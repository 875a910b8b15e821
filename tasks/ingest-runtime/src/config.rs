//! The command line every job shares. Each option can also be set through its environment
//! variable; secrets are read from the environment only and never appear as options.
//! The full list of variables is in docs/contract.md (and `--print-contract`).

use clap::{Args, ValueEnum};

use crate::secrets::Secret;
use crate::secrets::manager::SecretsManagerError;
use ingest_format::time::Date;

/// Environment variables that carry secrets. Read once at start-up; never printed.
pub const SECRET_ENV: &[(&str, &str)] = &[
    (
        "MATTERMOST_WEBHOOK_URL",
        "Mattermost incoming-webhook URL for failure alerts; unset = no alerts",
    ),
    (
        "SNOWFLAKE_PRIVATE_KEY",
        "with --warehouse: the Snowflake user's RSA private key, unencrypted PEM (PKCS#8), for key-pair (JWT) authentication",
    ),
    (
        "SNOWFLAKE_PASSWORD",
        "with --warehouse and no SNOWFLAKE_PRIVATE_KEY: the Snowflake user's password",
    ),
];

/// Airflow context the DAGs pass to the pod, quoted in alerts.
pub const AIRFLOW_CONTEXT_ENV: &[&str] = &[
    "AIRFLOW_CTX_DAG_ID",
    "AIRFLOW_CTX_TASK_ID",
    "AIRFLOW_CTX_DAG_RUN_ID",
    "AIRFLOW_CTX_TRY_NUMBER",
    "AIRFLOW_TASK_LOG_URL",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable on a terminal, JSON otherwise.
    Auto,
    Json,
    Text,
}

// Options shared by every job. (A plain comment: clap would show a doc comment here as every
// job's `--help` description, in place of the job's own.)
#[derive(Args, Debug, Clone)]
pub struct CommonArgs {
    /// Logical date to load (Airflow's `{{ ds }}`).
    #[arg(
        long,
        env = "INGEST_DATE",
        value_name = "YYYY-MM-DD",
        required_unless_present = "print_contract"
    )]
    pub date: Option<Date>,

    /// Where the raw files are: s3://bucket/prefix, or a local directory with the same key layout.
    /// Repeatable; in the env variable, comma-separated.
    #[arg(
        long = "source",
        env = "INGEST_SOURCE",
        value_name = "S3_URL_OR_DIR",
        value_delimiter = ',',
        required_unless_present = "print_contract"
    )]
    pub sources: Vec<String>,

    /// Target table as <schema>.<table>; the rejects go to <schema>.<table>_rejects.
    #[arg(long, env = "INGEST_TABLE", value_name = "SCHEMA.TABLE")]
    pub table: Option<String>,

    /// Lake root: a directory or s3://bucket/prefix; partitions are written to
    /// <lake>/<schema>/<table>/dt=<date>/.
    #[arg(
        long,
        env = "INGEST_LAKE",
        value_name = "DIR_OR_S3_URL",
        default_value = "./lake"
    )]
    pub lake: String,

    /// Load the committed partitions into Snowflake (needs an s3:// lake):
    /// snowflake://<account>/<database>[/<schema>]?stage=<stage>[&warehouse=..][&role=..].
    /// Credentials: SNOWFLAKE_PRIVATE_KEY or SNOWFLAKE_PASSWORD (environment only).
    #[arg(long, env = "INGEST_WAREHOUSE", value_name = "URL")]
    pub warehouse: Option<String>,

    /// Snowflake login name for --warehouse.
    #[arg(long, env = "SNOWFLAKE_USER", value_name = "NAME")]
    pub warehouse_user: Option<String>,

    /// Fail (exit 3) when rejected / (loaded + rejected) lines exceed this ratio. The rejects
    /// are still stored; the table partition is left unchanged.
    #[arg(long, env = "INGEST_MAX_REJECT_RATIO", value_name = "RATIO", default_value_t = 0.01, value_parser = parse_ratio)]
    pub max_reject_ratio: f64,

    /// Succeed with an empty partition when the date has no input files (default: fail, exit 3,
    /// since a day without files usually means a wrong --source).
    #[arg(long, env = "INGEST_ALLOW_EMPTY")]
    pub allow_empty: bool,

    /// Parse and count everything, write nothing.
    #[arg(long, env = "INGEST_DRY_RUN")]
    pub dry_run: bool,

    /// Parallel parse workers (default: the number of CPUs).
    #[arg(long, env = "INGEST_THREADS", value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    pub threads: Option<u16>,

    /// Lineage id stored in every row (default: generated from the start time).
    #[arg(long, env = "INGEST_RUN_ID", value_name = "ID")]
    pub run_id: Option<String>,

    /// Log format: json in pods, text on a terminal.
    #[arg(long, env = "INGEST_LOG_FORMAT", value_enum, default_value = "auto")]
    pub log_format: LogFormat,

    /// S3 endpoint URL, for S3-compatible servers (default: AWS).
    #[arg(long, env = "INGEST_S3_ENDPOINT", value_name = "URL")]
    pub s3_endpoint: Option<String>,

    /// Use path-style S3 addressing (needed by most S3-compatible servers).
    #[arg(long, env = "INGEST_S3_FORCE_PATH_STYLE")]
    pub s3_force_path_style: bool,

    /// Attempts per S3 request before the run fails as transient (exit 4).
    #[arg(long, env = "INGEST_S3_MAX_ATTEMPTS", value_name = "N", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub s3_max_attempts: u32,

    /// S3 lake: time to live of the date's lease, renewed every quarter of it while the run
    /// lives. A run killed holding it blocks the date this long; a second run of the date waits
    /// up to twice this for it, then exits 4.
    #[arg(long, env = "INGEST_LAKE_LEASE_SECONDS", value_name = "SECONDS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(2..=3600))]
    pub lake_lease_seconds: u64,

    /// Tries Airflow gives this task in all (retries + 1; set by the DAG). With
    /// AIRFLOW_CTX_TRY_NUMBER it decides who alerts: a failure a retry may fix (exit 4, 130) is
    /// posted only on the last try. Missing or not a number: every failure is posted.
    #[arg(long, env = "INGEST_MAX_TRIES", value_name = "N")]
    pub max_tries: Option<String>,

    /// The run's time limit in seconds: the pod's activeDeadlineSeconds (set by the DAG). The
    /// run stops itself shortly before it, commits nothing and exits 5 (out of time).
    #[arg(long, env = "INGEST_DEADLINE_SECONDS", value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..=31_536_000))]
    pub deadline_seconds: Option<u64>,

    /// Username shown on failure alerts.
    #[arg(long, env = "MATTERMOST_USERNAME", value_name = "NAME")]
    pub alert_username: Option<String>,

    /// Icon URL shown on failure alerts.
    #[arg(long, env = "MATTERMOST_ICON_URL", value_name = "URL")]
    pub alert_icon_url: Option<String>,

    /// Channel override for failure alerts (default: the webhook's channel).
    #[arg(long, env = "MATTERMOST_CHANNEL", value_name = "CHANNEL")]
    pub alert_channel: Option<String>,

    /// Print this job's contract (options, env variables, secrets, exit codes) as JSON and exit.
    #[arg(long)]
    pub print_contract: bool,
}

fn parse_ratio(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("expected a number between 0 and 1, got {s:?}"))?;
    if !(0.0..=1.0).contains(&v) {
        return Err(format!("expected a number between 0 and 1, got {v}"));
    }
    Ok(v)
}

/// The secrets, read from the environment.
pub struct Secrets {
    pub webhook_url: Option<Secret>,
    /// Every variable of [`SECRET_ENV`] that has a value, by name.
    values: std::collections::BTreeMap<String, Secret>,
}

impl Secrets {
    /// At start-up: each variable of [`SECRET_ENV`] directly, or indirectly as
    /// `<VAR>_SECRET_ID=<arn or name>` (+ optional `<VAR>_SECRET_KEY=<json key>`) read from AWS
    /// Secrets Manager ([`crate::secrets::manager`]). Returns what resolved, and an error for each
    /// variable that did not (naming the variable and the secret id, never a value).
    pub async fn resolve_from_env() -> (Secrets, Vec<SecretsManagerError>) {
        let names: Vec<&str> = SECRET_ENV.iter().map(|(name, _)| *name).collect();
        let resolved = crate::secrets::manager::resolve(&names, |n| std::env::var(n).ok()).await;
        (Secrets::from_values(resolved.values), resolved.errors)
    }

    /// The value of one variable of [`SECRET_ENV`] (e.g. `SNOWFLAKE_PRIVATE_KEY`), if set.
    pub fn get(&self, env: &str) -> Option<&Secret> {
        self.values.get(env)
    }

    /// The `--warehouse` credentials: `SNOWFLAKE_PRIVATE_KEY` (preferred) or `SNOWFLAKE_PASSWORD`,
    /// each given directly or as `<VAR>_SECRET_ID`. The error never quotes a value.
    pub fn snowflake_credentials(&self) -> Result<crate::warehouse::Credentials, String> {
        use crate::warehouse::Credentials;
        if let Some(pem) = self.get("SNOWFLAKE_PRIVATE_KEY") {
            return Credentials::from_pem(pem.expose())
                .map_err(|why| format!("SNOWFLAKE_PRIVATE_KEY: {why}"));
        }
        if let Some(password) = self.get("SNOWFLAKE_PASSWORD") {
            return Ok(Credentials::Password(password.clone()));
        }
        Err("--warehouse needs SNOWFLAKE_PRIVATE_KEY (key-pair authentication) or SNOWFLAKE_PASSWORD in the environment, directly or as <VAR>_SECRET_ID (AWS Secrets Manager)".into())
    }

    fn from_values(values: std::collections::BTreeMap<String, Secret>) -> Secrets {
        Secrets {
            webhook_url: values.get("MATTERMOST_WEBHOOK_URL").cloned(),
            values,
        }
    }
}

/// Quotes a value for a POSIX shell when needed (for the re-run command).
pub fn shell_quote(value: &str) -> String {
    let plain = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@,+".contains(c));
    if plain {
        value.to_owned()
    } else {
        format!("'{}'", value.replace('\'', r"'\''"))
    }
}

/// `value` without credentials, for the re-run command: the userinfo (`user:pass@`) of the URL
/// and of URLs in its query (`endpoint=`) is dropped, and query parameters named like a secret
/// are blanked. Credentials never belong in these options (the run refuses them), so the command
/// stays runnable with the credentials from the environment.
pub fn without_credentials(value: &str) -> String {
    let lower = value.to_ascii_lowercase();
    if !lower.contains('@')
        && !lower.contains("%40")
        && !SECRET_WORDS.iter().any(|w| lower.contains(w))
    {
        return value.to_owned();
    }
    let Ok(mut url) = reqwest::Url::parse(value.trim()) else {
        return strip_userinfo_text(value);
    };
    if url.cannot_be_a_base() {
        return strip_userinfo_text(value);
    }
    let _ = url.set_username("");
    let _ = url.set_password(None);
    if url.query().is_some() {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| {
                let lower = k.to_ascii_lowercase();
                let v = if SECRET_WORDS.iter().any(|w| lower.contains(w)) {
                    "REDACTED".to_owned()
                } else if v.contains("://") {
                    without_credentials(&v)
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
    }
    url.to_string()
}

/// Query parameter names that may carry a credential.
const SECRET_WORDS: &[&str] = &["pass", "secret", "token", "key", "credential"];

/// Text that is not a URL: drops everything between `://` and the next `@` of the authority.
fn strip_userinfo_text(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(i) = rest.find("://") {
        out.push_str(&rest[..i + 3]);
        rest = &rest[i + 3..];
        let end = rest.find(['/', '?', '#', '&', ' ']).unwrap_or(rest.len());
        if let Some(at) = rest[..end].rfind('@') {
            rest = &rest[at + 1..];
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_dropped_from_urls() {
        assert_eq!(
            without_credentials("snowflake://me:SENTINELpw@acct/db?stage=s&warehouse=w"),
            "snowflake://acct/db?stage=s&warehouse=w"
        );
        let cleaned = without_credentials(
            "snowflake://acct/db?stage=s&endpoint=http%3A%2F%2Fu%3ASENTINELpw%40127.0.0.1%3A8080&password=SENTINELpw",
        );
        assert!(!cleaned.contains("SENTINEL"), "{cleaned}");
        assert!(cleaned.contains("127.0.0.1"), "{cleaned}");
        assert_eq!(
            without_credentials("http://127.0.0.1:9000"),
            "http://127.0.0.1:9000"
        );
        assert_eq!(
            strip_userinfo_text("not a url x://u:SENTINEL@h/p"),
            "not a url x://h/p"
        );
        assert_eq!(
            without_credentials("s3://bucket/prefix"),
            "s3://bucket/prefix"
        );
    }

    #[test]
    fn ratios_are_bounded() {
        assert_eq!(parse_ratio("0.05").unwrap(), 0.05);
        assert!(parse_ratio("1.5").unwrap_err().contains("between 0 and 1"));
        assert!(parse_ratio("x").is_err());
    }

    #[test]
    fn shell_quoting() {
        assert_eq!(shell_quote("s3://b/p"), "s3://b/p");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }
}
