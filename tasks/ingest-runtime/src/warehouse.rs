//! The warehouse load: after the lake's partitions are published, load exactly their files into
//! Snowflake, replacing the date's rows in one transaction.
//!
//! `--warehouse snowflake://<account>/<database>[/<schema>]?stage=<stage>&warehouse=..&role=..`
//! (env `INGEST_WAREHOUSE`). The user comes from `SNOWFLAKE_USER`; the credentials only from the
//! environment: `SNOWFLAKE_PRIVATE_KEY` (PEM, key-pair JWT authentication, preferred) or
//! `SNOWFLAKE_PASSWORD`. The stage is an external stage whose URL is the `--lake` S3 location.
//!
//! The load of one run, for the table, its derived tables and its rejects table:
//!
//! ```sql
//! CREATE TABLE IF NOT EXISTS "DB"."SCHEMA"."T" (<columns typed like the Parquet>, "DT" DATE);
//! BEGIN;
//! DELETE FROM "DB"."SCHEMA"."T" WHERE "DT" = '2026-11-20'::DATE;
//! COPY INTO "DB"."SCHEMA"."T" FROM @STAGE/<schema>/<table>/dt=2026-11-20/
//!   FILES = ('part-00000-<run>-<nonce>.parquet', ...)
//!   FILE_FORMAT = (TYPE = PARQUET USE_LOGICAL_TYPE = TRUE)
//!   MATCH_BY_COLUMN_NAME = CASE_INSENSITIVE ON_ERROR = ABORT_STATEMENT FORCE = TRUE;
//! UPDATE "DB"."SCHEMA"."T" SET "DT" = '2026-11-20'::DATE WHERE "DT" IS NULL AND "_RUN_ID" = '<run>';
//! -- ... the same for every table of the run ...
//! COMMIT;
//! ```
//!
//! - The files are listed by name: the run's new objects only, never the previous version still
//!   beside them, so nothing is loaded twice. `FORCE = TRUE` makes Snowflake's load history
//!   irrelevant, so a re-run (even with the same `--run-id`) never skips a file.
//! - The partition date lives in the path, not in the files, and `MATCH_BY_COLUMN_NAME` cannot add
//!   a constant column, so the rows are stamped with `DT` by the `UPDATE` inside the same
//!   transaction (no reader sees a row without its date).
//! - DDL commits implicitly in Snowflake, so `CREATE TABLE IF NOT EXISTS` runs before `BEGIN`.

pub mod snowflake;

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::error::FailureKind;
use crate::lake::TableName;
use ingest_format::table::Column;
use ingest_format::time::Date;

pub use snowflake::{Credentials, SnowflakeClient};

/// The column every warehouse table gets: the partition date.
pub const DATE_COLUMN: &str = "DT";

/// `--warehouse`, parsed (no secrets in here).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnowflakeConfig {
    /// Account identifier as given, e.g. `myorg-myaccount` or `xy12345.us-east-1`.
    pub account: String,
    pub database: String,
    /// Target schema; `None` = the `--table` schema.
    pub schema: Option<String>,
    pub warehouse: Option<String>,
    pub role: Option<String>,
    /// External stage over the lake root (optionally qualified: `db.schema.stage`).
    pub stage: String,
    /// `https://<account>.snowflakecomputing.com`, or `endpoint=` (PrivateLink, tests).
    pub endpoint: reqwest::Url,
    /// Login name, from `SNOWFLAKE_USER`.
    pub user: String,
    /// Upper bound for one statement (also set as `STATEMENT_TIMEOUT_IN_SECONDS`).
    pub query_timeout: Duration,
    /// Upper bound for one login or HTTP request that is not a statement.
    pub request_timeout: Duration,
    /// Attempts per HTTP request on transient errors (5xx, 429, connection errors).
    pub max_attempts: u32,
}

/// `--warehouse` values of these parameters are shown as given (when they are plain words); any
/// other parameter's value is redacted.
const SHOWN_PARAMETERS: [&str; 6] = [
    "stage",
    "warehouse",
    "role",
    "query_timeout",
    "request_timeout",
    "max_attempts",
];

/// A `--warehouse` value (or any URL) fit for logs, errors, alerts and re-run commands: user
/// info (`user:password@`), fragments, and the values of parameters not known to be harmless are
/// replaced by `[redacted]`; `endpoint=` is redacted the same way, recursively. Works on values
/// that do not parse as URLs too (an error message must not quote those either).
pub fn redacted_url(value: &str) -> String {
    redact(value, 0)
}

fn redact(value: &str, depth: u8) -> String {
    use crate::secrets::REDACTED;
    let plain = |s: &str| {
        s.len() <= 255
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-$@".contains(&b))
    };
    let value = value.trim();
    let Some((scheme, rest)) = value.split_once("://") else {
        return REDACTED.to_owned();
    };
    if scheme.is_empty() || !scheme.bytes().all(|b| b.is_ascii_alphanumeric()) || depth > 1 {
        return REDACTED.to_owned();
    }
    let (rest, fragment) = match rest.split_once('#') {
        Some((r, _)) => (r, true),
        None => (rest, false),
    };
    let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let mut out = format!("{scheme}://");
    let host = match authority.rsplit_once('@') {
        Some((_, host)) => {
            out.push_str(REDACTED);
            out.push('@');
            host
        }
        None => authority,
    };
    let (name, port) = host.rsplit_once(':').unwrap_or((host, ""));
    if plain(name) && !name.contains('@') {
        out.push_str(name);
    } else {
        out.push_str(REDACTED);
    }
    if !port.is_empty() {
        out.push(':');
        out.push_str(if port.bytes().all(|b| b.is_ascii_digit()) {
            port
        } else {
            REDACTED
        });
    }
    if !path.is_empty() || rest.contains('/') {
        let segments: Vec<&str> = path
            .split('/')
            .map(|seg| if plain(seg) { seg } else { REDACTED })
            .collect();
        out.push('/');
        out.push_str(&segments.join("/"));
    }
    if !query.is_empty() {
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                if !plain(k) {
                    return REDACTED.to_owned();
                }
                let v = percent_decode(v);
                let shown = if k == "endpoint" {
                    redact(&v, depth + 1)
                } else if SHOWN_PARAMETERS.contains(&k) && plain(&v) {
                    v
                } else {
                    REDACTED.to_owned()
                };
                format!("{k}={shown}")
            })
            .collect();
        out.push('?');
        out.push_str(&pairs.join("&"));
    }
    if fragment {
        out.push('#');
        out.push_str(REDACTED);
    }
    out
}

/// `%XX` and `+` decoded (as in a query string); invalid escapes are kept as they are.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| Some(hex(*bytes.get(i + 1)?)? * 16 + hex(*bytes.get(i + 2)?)?))
            .flatten();
        match (bytes[i], escaped) {
            (_, Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b'+', None) => {
                out.push(b' ');
                i += 1;
            }
            (b, None) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl SnowflakeConfig {
    /// Parses `snowflake://<account>/<database>[/<schema>]?stage=..&warehouse=..&role=..`.
    /// Errors quote the value through [`redacted_url`] only: it may hold a password by mistake.
    pub fn parse(value: &str, user: Option<&str>) -> Result<SnowflakeConfig, String> {
        let shown = redacted_url(value);
        let bad = |why: &str| {
            format!(
                "--warehouse {shown}: {why}; expected snowflake://<account>/<database>[/<schema>]?stage=<stage>[&warehouse=..][&role=..]"
            )
        };
        let url = reqwest::Url::parse(value.trim()).map_err(|e| bad(&e.to_string()))?;
        if url.scheme() != "snowflake" {
            return Err(bad("only snowflake:// is supported"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad(
                "credentials do not belong in the URL (SNOWFLAKE_USER, SNOWFLAKE_PRIVATE_KEY or SNOWFLAKE_PASSWORD)",
            ));
        }
        let account = url.host_str().unwrap_or_default().to_owned();
        if account.is_empty()
            || !account
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return Err(bad("missing or invalid account"));
        }
        let path: Vec<&str> = url.path().split('/').filter(|s| !s.is_empty()).collect();
        let (database, schema) = match path.as_slice() {
            [db] => (*db, None),
            [db, schema] => (*db, Some(*schema)),
            _ => return Err(bad("expected /<database> or /<database>/<schema>")),
        };
        check_ident("database", database, 1)?;
        if let Some(s) = schema {
            check_ident("schema", s, 1)?;
        }
        let mut config = SnowflakeConfig {
            endpoint: reqwest::Url::parse(&format!(
                "https://{}.snowflakecomputing.com/",
                account.to_ascii_lowercase().replace('_', "-")
            ))
            .map_err(|e| bad(&e.to_string()))?,
            account,
            database: database.to_owned(),
            schema: schema.map(str::to_owned),
            warehouse: None,
            role: None,
            stage: String::new(),
            user: user.map(str::trim).unwrap_or_default().to_owned(),
            query_timeout: Duration::from_secs(3600),
            request_timeout: Duration::from_secs(60),
            max_attempts: 5,
        };
        let secs = |k: &str, v: &str| -> Result<Duration, String> {
            match v.parse::<u64>() {
                Ok(n) if (1..=86_400).contains(&n) => Ok(Duration::from_secs(n)),
                _ => Err(bad(&format!("{k} must be 1 to 86400 seconds"))),
            }
        };
        for (k, v) in url.query_pairs() {
            match k.as_ref() {
                "warehouse" => {
                    check_ident("warehouse", &v, 1)?;
                    config.warehouse = Some(v.into_owned());
                }
                "role" => {
                    check_ident("role", &v, 1)?;
                    config.role = Some(v.into_owned());
                }
                "stage" => {
                    check_ident("stage", v.trim_start_matches('@'), 3)?;
                    config.stage = v.trim_start_matches('@').to_owned();
                }
                "endpoint" => {
                    let endpoint = reqwest::Url::parse(&v)
                        .ok()
                        .filter(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
                        .ok_or_else(|| bad("endpoint must be an http(s) URL"))?;
                    if !endpoint.username().is_empty() || endpoint.password().is_some() {
                        return Err(bad(
                            "credentials do not belong in endpoint= (SNOWFLAKE_USER, SNOWFLAKE_PRIVATE_KEY or SNOWFLAKE_PASSWORD)",
                        ));
                    }
                    config.endpoint = endpoint;
                }
                "query_timeout" => config.query_timeout = secs("query_timeout", &v)?,
                "request_timeout" => config.request_timeout = secs("request_timeout", &v)?,
                "max_attempts" => {
                    config.max_attempts = v
                        .parse::<u32>()
                        .ok()
                        .filter(|n| (1..=20).contains(n))
                        .ok_or_else(|| bad("max_attempts must be 1 to 20"))?;
                }
                other => return Err(bad(&format!("unknown parameter {other:?}"))),
            }
        }
        if config.stage.is_empty() {
            return Err(bad(
                "stage= is required (the external stage over the --lake location)",
            ));
        }
        if config.user.is_empty() {
            return Err(
                "--warehouse needs the login name in SNOWFLAKE_USER (credentials: SNOWFLAKE_PRIVATE_KEY or SNOWFLAKE_PASSWORD)"
                    .into(),
            );
        }
        Ok(config)
    }

    /// The Snowflake schema of a lake table: the URL's schema, else the table's own.
    pub fn schema_for(&self, table: &TableName) -> String {
        self.schema.clone().unwrap_or_else(|| table.schema.clone())
    }

    /// `"DB"."SCHEMA"."TABLE"`, upper-cased like Snowflake's unquoted identifiers.
    pub fn qualified(&self, table: &TableName) -> String {
        format!(
            "{}.{}.{}",
            quote_ident(&self.database),
            quote_ident(&self.schema_for(table)),
            quote_ident(&table.table)
        )
    }
}

/// Displays without secrets (there are none in the config) for logs and alerts.
impl fmt::Display for SnowflakeConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "snowflake://{}/{}", self.account, self.database)?;
        if let Some(s) = &self.schema {
            write!(f, "/{s}")?;
        }
        Ok(())
    }
}

/// Plain identifiers only (letters, digits, `_`, `$`), `parts` dot-separated at most: they are
/// spliced into SQL, so nothing that could close a quote gets through.
fn check_ident(what: &str, value: &str, parts: usize) -> Result<(), String> {
    let ok = !value.is_empty()
        && value.split('.').count() <= parts
        && value.split('.').all(|p| {
            !p.is_empty()
                && !p.starts_with(|c: char| c.is_ascii_digit())
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
        });
    if ok {
        Ok(())
    } else {
        // The value is not quoted: a bad one may be a credential pasted in the wrong place.
        Err(format!(
            "--warehouse {what}: expected a plain identifier (letters, digits, _ and $)"
        ))
    }
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.to_ascii_uppercase().replace('"', "\"\""))
}

/// A Snowflake string literal (quotes doubled, backslashes escaped).
fn quote_str(value: &str) -> String {
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "''"))
}

/// One table of a run's load: its published partition and the files to load.
#[derive(Clone, Debug)]
pub struct LoadTable {
    pub table: TableName,
    /// Every column of the Parquet files, in order (data + lineage).
    pub columns: Vec<Column>,
    /// The partition relative to the lake root: `<schema>/<table>/dt=<date>`.
    pub relative: PathBuf,
    /// The partition's new file names.
    pub files: Vec<String>,
    /// Rows in those files, when known: the COPY result is checked against it.
    pub expected_rows: Option<u64>,
}

/// Everything one run loads, in one transaction.
#[derive(Clone, Debug)]
pub struct LoadPlan {
    pub job: &'static str,
    pub date: Date,
    pub run_id: String,
    pub tables: Vec<LoadTable>,
}

/// What a statement does, for error messages and result checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StatementKind {
    Create,
    Begin,
    Delete,
    Copy { table: usize, files: usize },
    Stamp { table: usize },
    Commit,
}

#[derive(Clone, Debug)]
pub struct Statement {
    pub kind: StatementKind,
    /// e.g. `COPY INTO "DB"."S"."T"`: names the statement in errors (never holds secrets).
    pub label: String,
    pub sql: String,
}

/// Snowflake accepts at most this many names in `FILES = (...)`.
const MAX_FILES_PER_COPY: usize = 1000;

/// `CREATE TABLE IF NOT EXISTS` for every table (run before the transaction).
pub fn setup_statements(config: &SnowflakeConfig, plan: &LoadPlan) -> Vec<Statement> {
    plan.tables
        .iter()
        .map(|t| {
            let name = config.qualified(&t.table);
            let columns: Vec<String> = t
                .columns
                .iter()
                .map(|c| format!("{} {}", quote_ident(c.name), c.ty.sql_name()))
                .chain(std::iter::once(format!(
                    "{} DATE",
                    quote_ident(DATE_COLUMN)
                )))
                .collect();
            Statement {
                kind: StatementKind::Create,
                label: format!("CREATE TABLE {name}"),
                sql: format!(
                    "CREATE TABLE IF NOT EXISTS {name} (\n  {}\n)",
                    columns.join(",\n  ")
                ),
            }
        })
        .collect()
}

/// Schema drift: `CREATE TABLE IF NOT EXISTS` leaves an older table as it is, and
/// `MATCH_BY_COLUMN_NAME` would silently drop a Parquet column the table lacks. Per table: a
/// probe selecting every column (fails when one is missing), and the additive fix run only then,
/// one `ADD COLUMN IF NOT EXISTS` per column (never a drop or a type change).
pub fn schema_statements(
    config: &SnowflakeConfig,
    table: &LoadTable,
) -> (Statement, Vec<Statement>) {
    let name = config.qualified(&table.table);
    let columns: Vec<(String, &str)> = table
        .columns
        .iter()
        .map(|c| (quote_ident(c.name), c.ty.sql_name()))
        .chain(std::iter::once((quote_ident(DATE_COLUMN), "DATE")))
        .collect();
    let probe = Statement {
        kind: StatementKind::Create,
        label: format!("the columns of {name}"),
        sql: format!(
            "SELECT {} FROM {name} LIMIT 0",
            columns
                .iter()
                .map(|(c, _)| c.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let adds = columns
        .iter()
        .map(|(c, ty)| Statement {
            kind: StatementKind::Create,
            label: format!("ALTER TABLE {name} ADD COLUMN {c}"),
            sql: format!("ALTER TABLE {name} ADD COLUMN IF NOT EXISTS {c} {ty}"),
        })
        .collect();
    (probe, adds)
}

/// The transaction: per table, delete the date, copy the listed files, stamp the date.
pub fn load_statements(config: &SnowflakeConfig, plan: &LoadPlan) -> Vec<Statement> {
    let date = format!("'{}'::DATE", plan.date);
    let dt = quote_ident(DATE_COLUMN);
    let mut out = vec![Statement {
        kind: StatementKind::Begin,
        label: "BEGIN".into(),
        sql: "BEGIN TRANSACTION".into(),
    }];
    for (i, t) in plan.tables.iter().enumerate() {
        let name = config.qualified(&t.table);
        out.push(Statement {
            kind: StatementKind::Delete,
            label: format!("DELETE FROM {name}"),
            sql: format!("DELETE FROM {name} WHERE {dt} = {date}"),
        });
        let path: Vec<String> = t
            .relative
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        for chunk in t.files.chunks(MAX_FILES_PER_COPY) {
            let files: Vec<String> = chunk.iter().map(|f| quote_str(f)).collect();
            out.push(Statement {
                kind: StatementKind::Copy {
                    table: i,
                    files: chunk.len(),
                },
                label: format!("COPY INTO {name}"),
                sql: format!(
                    "COPY INTO {name}\n  FROM @{}/{}/\n  FILES = ({})\n  FILE_FORMAT = (TYPE = PARQUET USE_LOGICAL_TYPE = TRUE)\n  MATCH_BY_COLUMN_NAME = CASE_INSENSITIVE\n  ON_ERROR = ABORT_STATEMENT\n  FORCE = TRUE",
                    config.stage,
                    path.join("/"),
                    files.join(", ")
                ),
            });
        }
        out.push(Statement {
            kind: StatementKind::Stamp { table: i },
            label: format!("UPDATE {name}"),
            sql: format!(
                "UPDATE {name} SET {dt} = {date} WHERE {dt} IS NULL AND {} = {}",
                quote_ident("_run_id"),
                quote_str(&plan.run_id)
            ),
        });
    }
    out.push(Statement {
        kind: StatementKind::Commit,
        label: "COMMIT".into(),
        sql: "COMMIT".into(),
    });
    out
}

/// Why the last attempt of a Snowflake request got no usable answer.
#[derive(Debug, thiserror::Error)]
pub enum AttemptError {
    /// No answer: refused, reset, timed out, TLS. The request URL is stripped (it names the
    /// account, and a login URL carries the user).
    #[error(transparent)]
    Transport(reqwest::Error),
    /// A retryable status (408, 429, 5xx).
    #[error("HTTP {0}")]
    Status(u16),
    /// A success status whose body is not JSON.
    #[error("HTTP {status} with a body that is not JSON ({source})")]
    NotJson {
        status: u16,
        source: serde_json::Error,
    },
}

/// Why the warehouse load failed. Messages carry Snowflake's error code and message, never a
/// credential.
#[derive(Debug, thiserror::Error)]
pub enum WarehouseError {
    #[error("Snowflake at {endpoint} is unavailable: {what} failed after {attempts} attempts")]
    Unavailable {
        endpoint: String,
        what: String,
        attempts: u32,
        #[source]
        source: AttemptError,
    },
    #[error(
        "Snowflake rejected the login of user {user}: {code}: {message} (check SNOWFLAKE_USER, the key or password, the role and the warehouse)"
    )]
    Auth {
        user: String,
        code: String,
        message: String,
    },
    #[error("Snowflake rejected {statement}: {code} ({sql_state}): {message}")]
    Statement {
        statement: String,
        code: String,
        sql_state: String,
        message: String,
        kind: FailureKind,
    },
    #[error("{what} did not finish within {secs} s")]
    Timeout { what: String, secs: u64 },
    #[error("the Snowflake session expired and could not be renewed")]
    SessionExpired,
    #[error("unexpected reply from Snowflake to {what}: {detail}")]
    Protocol { what: String, detail: String },
    #[error(
        "{statement} loaded {loaded} rows from {files} files, but the lake partition holds {expected}; the transaction was rolled back"
    )]
    RowMismatch {
        statement: String,
        loaded: u64,
        files: usize,
        expected: u64,
    },
    #[error(
        "{statement} loaded {processed} of the {files} files it listed ({detail}); check that the stage's URL is the --lake location"
    )]
    FilesNotLoaded {
        statement: String,
        processed: usize,
        files: usize,
        detail: String,
    },
    #[error(
        "cannot verify {statement}: Snowflake returned neither its per-file result nor the stamped row count in JSON (Arrow or chunked results); the transaction was rolled back. Check the account's *_QUERY_RESULT_FORMAT parameters"
    )]
    Unverified { statement: String },
    /// COMMIT was sent but no answer says whether it took effect (a lost reply, or a signal
    /// while it ran): Snowflake may hold the new rows or the previous ones.
    #[error(
        "the outcome of COMMIT is unknown: Snowflake may hold this run's rows or the previous ones, and the lake keeps this run's files. Re-run the date: the load is idempotent and makes the lake and the warehouse agree"
    )]
    CommitUnknown {
        #[source]
        source: Box<WarehouseError>,
    },
    #[error("{0}")]
    Config(String),
    #[error("interrupted")]
    Cancelled,
}

impl WarehouseError {
    pub fn kind(&self) -> FailureKind {
        match self {
            WarehouseError::Unavailable { .. }
            | WarehouseError::Timeout { .. }
            | WarehouseError::SessionExpired
            | WarehouseError::Protocol { .. }
            | WarehouseError::CommitUnknown { .. } => FailureKind::Transient,
            WarehouseError::Auth { .. }
            | WarehouseError::Config(_)
            | WarehouseError::Unverified { .. } => FailureKind::Config,
            WarehouseError::Statement { kind, .. } => *kind,
            // The README's contract: a COPY that reports fewer files or rows than the lake
            // partition holds is a data error (exit 3), rolled back.
            WarehouseError::RowMismatch { .. } | WarehouseError::FilesNotLoaded { .. } => {
                FailureKind::Data
            }
            WarehouseError::Cancelled => FailureKind::Interrupted,
        }
    }
}

/// Which failure kind a Snowflake statement error is, from its code and SQLSTATE: data
/// exceptions (SQLSTATE class 22/23, COPY's 100xxx) are data errors; cancellations, timeouts,
/// lock waits and internal errors are transient; the rest (SQL compilation, missing objects,
/// privileges) is configuration.
pub fn classify_statement_error(code: &str, sql_state: &str) -> FailureKind {
    let code_n: u32 = code.parse().unwrap_or(0);
    if sql_state.starts_with("22")
        || sql_state.starts_with("23")
        || (100_000..101_000).contains(&code_n)
    {
        FailureKind::Data
    } else if sql_state.starts_with("08")
        || sql_state.starts_with("40")
        || sql_state.starts_with("57")
        || sql_state.starts_with("XX")
        || matches!(code_n, 604 | 625 | 630)
    {
        FailureKind::Transient
    } else {
        FailureKind::Config
    }
}

/// A configured warehouse: where, and how to log in.
pub struct Warehouse {
    pub config: SnowflakeConfig,
    credentials: Credentials,
}

impl fmt::Debug for Warehouse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Warehouse({}, {:?})", self.config, self.credentials)
    }
}

/// What a load did, for the log.
#[derive(Debug, Default)]
pub struct LoadReport {
    pub rows_deleted: Option<u64>,
    pub rows_loaded: Option<u64>,
    pub files: usize,
}

impl Warehouse {
    pub fn new(config: SnowflakeConfig, credentials: Credentials) -> Warehouse {
        Warehouse {
            config,
            credentials,
        }
    }

    fn client(&self, job: &str, tag: &str) -> Result<SnowflakeClient, WarehouseError> {
        SnowflakeClient::new(self.config.clone(), self.credentials.clone(), job, tag)
    }

    /// Logs in and out once, so bad credentials fail the run before any work (exit 2).
    pub async fn check(
        &self,
        job: &str,
        cancel: tokio::sync::watch::Receiver<bool>,
    ) -> Result<(), WarehouseError> {
        let mut client = self.client(job, &format!("ingest:{job}:check"))?;
        client.set_cancel(cancel);
        client.login().await?;
        client.close().await;
        Ok(())
    }

    /// Runs the load of `plan`: setup, then the transaction; rolls back on any failure. A
    /// session that expires mid-way (and cannot be renewed) loses its transaction, so the whole
    /// transaction is run again once on a new session.
    pub async fn load(
        &self,
        plan: &LoadPlan,
        cancel: tokio::sync::watch::Receiver<bool>,
    ) -> Result<LoadReport, WarehouseError> {
        let tag = format!(
            "ingest:{}:{}:{}",
            plan.job,
            plan.date,
            plan.run_id.chars().take(200).collect::<String>()
        );
        let mut client = self.client(plan.job, &tag)?;
        client.set_cancel(cancel);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = run_load(&mut client, &self.config, plan).await;
            match result {
                Err(WarehouseError::SessionExpired) if attempt < 2 => {
                    tracing::warn!(
                        "Snowflake session expired during the load; running the transaction again on a new session"
                    );
                    client.forget_session();
                }
                other => {
                    client.close().await;
                    return other;
                }
            }
        }
    }
}

async fn run_load(
    client: &mut SnowflakeClient,
    config: &SnowflakeConfig,
    plan: &LoadPlan,
) -> Result<LoadReport, WarehouseError> {
    client.login().await?;
    for s in setup_statements(config, plan) {
        client.execute(&s.label, &s.sql).await?;
    }
    for t in &plan.tables {
        let (probe, adds) = schema_statements(config, t);
        match client.execute(&probe.label, &probe.sql).await {
            Ok(_) => {}
            Err(WarehouseError::Statement { message, .. }) => {
                tracing::warn!(
                    table = %t.table, reason = %message,
                    "the Snowflake table lacks columns the lake has; adding them (additive)"
                );
                for s in adds {
                    client.execute(&s.label, &s.sql).await?;
                }
            }
            Err(other) => return Err(other),
        }
    }
    let statements = load_statements(config, plan);
    let mut report = LoadReport {
        files: plan.tables.iter().map(|t| t.files.len()).sum(),
        ..LoadReport::default()
    };
    let mut copied: Vec<Option<u64>> = vec![Some(0); plan.tables.len()];
    // Rows the UPDATE stamped per table: every row the COPYs of this transaction loaded (they
    // alone have no date yet). A DML count comes back as JSON even where a COPY result does
    // not, so it verifies a COPY whose result could not be read.
    let mut stamped: Vec<Option<u64>> = vec![None; plan.tables.len()];
    let mut in_transaction = false;
    let result: Result<(), WarehouseError> = async {
        for s in &statements {
            if s.kind == StatementKind::Commit {
                check_copied(plan, &copied, &stamped)?;
                client.check_cancelled()?;
            }
            let result = if s.kind == StatementKind::Commit {
                match commit(client, &s.label, &s.sql).await {
                    Ok(r) => r,
                    // Snowflake answered that COMMIT failed: nothing was committed.
                    Err(e @ WarehouseError::Statement { .. }) => return Err(e),
                    Err(e) => {
                        in_transaction = false; // no ROLLBACK: it may have committed
                        return Err(WarehouseError::CommitUnknown {
                            source: Box::new(e),
                        });
                    }
                }
            } else {
                client.execute(&s.label, &s.sql).await?
            };
            match &s.kind {
                StatementKind::Begin => in_transaction = true,
                StatementKind::Commit => in_transaction = false,
                StatementKind::Delete => {
                    if let Some(n) = result.affected_rows() {
                        *report.rows_deleted.get_or_insert(0) += n;
                    }
                }
                StatementKind::Copy { table, files } => {
                    let loaded = result.copy_rows_loaded(&s.label, *files)?;
                    copied[*table] = match (copied[*table], loaded) {
                        (Some(a), Some(b)) => Some(a + b),
                        _ => None,
                    };
                }
                StatementKind::Stamp { table } => stamped[*table] = result.affected_rows(),
                StatementKind::Create => {}
            }
        }
        Ok(())
    }
    .await;
    match result {
        Ok(()) => {
            report.rows_loaded = copied.iter().copied().sum::<Option<u64>>();
            Ok(report)
        }
        Err(err) => {
            if in_transaction && !matches!(err, WarehouseError::SessionExpired) {
                client.rollback().await;
            }
            Err(err)
        }
    }
}

/// How long a COMMIT under way may still take after a signal before its outcome is declared
/// unknown (it normally answers in milliseconds; the pod's grace period is longer).
const COMMIT_GRACE: Duration = Duration::from_secs(5);

/// Runs COMMIT without letting a signal cut it off mid-request: a cut COMMIT may or may not have
/// taken effect. After a signal it gets [`COMMIT_GRACE`] to answer; then the outcome is unknown.
async fn commit(
    client: &mut SnowflakeClient,
    label: &str,
    sql: &str,
) -> Result<snowflake::QueryResult, WarehouseError> {
    let cancel = client.take_cancel();
    let signalled = async {
        match cancel.clone() {
            Some(mut c) => {
                let _ = c.wait_for(|v| *v).await;
                tokio::time::sleep(COMMIT_GRACE).await;
            }
            None => std::future::pending().await,
        }
    };
    let result = tokio::select! {
        r = client.execute(label, sql) => r,
        () = signalled => Err(WarehouseError::Protocol {
            what: label.to_owned(),
            detail: format!("interrupted, and no reply within {} s", COMMIT_GRACE.as_secs()),
        }),
    };
    if let Some(c) = cancel {
        client.set_cancel(c);
    }
    result
}

/// Every table's COPY loaded exactly the rows its files hold. Fails closed: the count must be
/// read from the COPY result (JSON) or, when that could not be read (Arrow, chunked), from the
/// UPDATE that stamped the rows; with neither, the load is not committed.
fn check_copied(
    plan: &LoadPlan,
    copied: &[Option<u64>],
    stamped: &[Option<u64>],
) -> Result<(), WarehouseError> {
    for ((t, loaded), stamped) in plan.tables.iter().zip(copied).zip(stamped) {
        let Some(expected) = t.expected_rows else {
            continue;
        };
        let statement = format!("COPY INTO {}", t.table);
        // The COPY's own count when readable; the stamp count only stands in for it (fakesnow,
        // the test double, reports 0 for an UPDATE of rows a COPY loaded in the same
        // transaction, so the two are not compared).
        match loaded.or(*stamped) {
            Some(seen) if seen != expected => {
                return Err(WarehouseError::RowMismatch {
                    statement,
                    loaded: seen,
                    files: t.files.len(),
                    expected,
                });
            }
            Some(_) => {}
            None => return Err(WarehouseError::Unverified { statement }),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ingest_format::table::ColumnType;

    fn config() -> SnowflakeConfig {
        SnowflakeConfig::parse(
            "snowflake://myorg-acct_1/RAW/INGEST?warehouse=LOAD_WH&role=INGEST_LOADER&stage=RAW.INGEST.LAKE",
            Some("svc_ingest"),
        )
        .unwrap()
    }

    #[test]
    fn parses_the_warehouse_url() {
        let c = config();
        assert_eq!(c.account, "myorg-acct_1");
        assert_eq!(
            c.endpoint.as_str(),
            "https://myorg-acct-1.snowflakecomputing.com/"
        );
        assert_eq!(c.database, "RAW");
        assert_eq!(c.schema.as_deref(), Some("INGEST"));
        assert_eq!(c.warehouse.as_deref(), Some("LOAD_WH"));
        assert_eq!(c.role.as_deref(), Some("INGEST_LOADER"));
        assert_eq!(c.stage, "RAW.INGEST.LAKE");
        assert_eq!(c.user, "svc_ingest");
        assert_eq!(c.to_string(), "snowflake://myorg-acct_1/RAW/INGEST");

        let local = SnowflakeConfig::parse(
            "snowflake://fake/DB?stage=LAKE&endpoint=http://127.0.0.1:8080&query_timeout=30&max_attempts=2",
            Some("u"),
        )
        .unwrap();
        assert_eq!(local.endpoint.as_str(), "http://127.0.0.1:8080/");
        assert_eq!(local.schema, None);
        assert_eq!(local.query_timeout, Duration::from_secs(30));
        assert_eq!(local.max_attempts, 2);
        let t = TableName::parse("push_proxy.logs_us_new").unwrap();
        assert_eq!(local.qualified(&t), r#""DB"."PUSH_PROXY"."LOGS_US_NEW""#);

        for (bad, why) in [
            ("https://a/DB?stage=S", "only snowflake://"),
            ("snowflake://a/DB", "stage= is required"),
            ("snowflake://a?stage=S", "expected /<database>"),
            ("snowflake://a/DB/S/X?stage=S", "expected /<database>"),
            ("snowflake://a/DB?stage=S&wh=x", "unknown parameter"),
            ("snowflake://a/DB?stage=S;DROP", "plain identifier"),
            ("snowflake://a/D%22B?stage=S", "plain identifier"),
            ("snowflake://u:p@a/DB?stage=S", "do not belong in the URL"),
            ("snowflake://a/DB?stage=S&query_timeout=0", "query_timeout"),
            ("snowflake://a/DB?stage=S&endpoint=ftp://x", "endpoint"),
        ] {
            let err = SnowflakeConfig::parse(bad, Some("u")).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
        let err = SnowflakeConfig::parse("snowflake://a/DB?stage=S", None).unwrap_err();
        assert!(err.contains("SNOWFLAKE_USER"), "{err}");
    }

    #[test]
    fn credentials_in_the_url_are_never_echoed() {
        for (value, want) in [
            (
                "snowflake://svc:SENTINEL-pw@acct/DB/S?stage=LAKE&warehouse=WH",
                "snowflake://[redacted]@acct/DB/S?stage=LAKE&warehouse=WH",
            ),
            (
                "snowflake://acct/DB?stage=S&endpoint=http://u:SENTINEL-pw@127.0.0.1:8080/",
                "snowflake://acct/DB?stage=S&endpoint=http://[redacted]@127.0.0.1:8080/",
            ),
            (
                "snowflake://acct/DB?stage=S&endpoint=http%3A%2F%2Fu%3ASENTINEL-pw%40h%3A1",
                "snowflake://acct/DB?stage=S&endpoint=http://[redacted]@h:1",
            ),
            (
                "snowflake://acct/DB?stage=S&endpoint=https://h/?token=SENTINEL-pw",
                "snowflake://acct/DB?stage=S&endpoint=https://h/?token=[redacted]",
            ),
            (
                "snowflake://acct/DB?stage=S&password=SENTINEL-pw",
                "snowflake://acct/DB?stage=S&password=[redacted]",
            ),
            (
                "snowflake://svc:SENTINEL-pw/DB?stage=S",
                "snowflake://svc:[redacted]/DB?stage=S",
            ),
            (
                "snowflake://acct/DB?stage=S#SENTINEL-pw",
                "snowflake://acct/DB?stage=S#[redacted]",
            ),
            (
                "snowflake://acct/SENTINEL%20pw?stage=S",
                "snowflake://acct/[redacted]?stage=S",
            ),
            ("svc:SENTINEL-pw", "[redacted]"),
            (
                "snowflake://acct/DB?stage=S&query_timeout=30",
                "snowflake://acct/DB?stage=S&query_timeout=30",
            ),
        ] {
            assert_eq!(redacted_url(value), want, "{value}");
            if let Err(err) = SnowflakeConfig::parse(value, Some("svc")) {
                assert!(!err.contains("SENTINEL"), "{value}: {err}");
            }
        }
        for value in [
            "snowflake://svc:SENTINEL-pw@acct/DB?stage=S",
            "snowflake://acct/DB?stage=S&endpoint=http://u:SENTINEL-pw@127.0.0.1:8080",
            "snowflake://acct/DB?stage=S&endpoint=http://:SENTINEL-pw@127.0.0.1:8080",
            "snowflake://acct/DB?stage=S&role=SENTINEL;pw",
            "snowflake://acct/DB?stage=SENTINEL%27pw",
            "snowflake://svc:SENTINEL-pw/DB?stage=S",
            "svc:SENTINEL-pw",
        ] {
            let err = SnowflakeConfig::parse(value, Some("svc")).unwrap_err();
            assert!(!err.contains("SENTINEL"), "{value}: {err}");
        }
        let err = SnowflakeConfig::parse(
            "snowflake://a/DB?stage=S&endpoint=http://u:p@127.0.0.1:1",
            Some("u"),
        )
        .unwrap_err();
        assert!(
            err.contains("credentials do not belong in endpoint="),
            "{err}"
        );
    }

    #[test]
    fn the_load_sql() {
        let c = config();
        let plan = LoadPlan {
            job: "push-logs",
            date: "2026-11-20".parse().unwrap(),
            run_id: "it's-a-run".into(),
            tables: vec![LoadTable {
                table: TableName::parse("push_proxy.logs_us_new").unwrap(),
                columns: vec![
                    Column::new("time", ColumnType::TimestampMicros, ""),
                    Column::new("elb_status_code", ColumnType::Int32, ""),
                    Column::new("_run_id", ColumnType::Text, ""),
                ],
                relative: PathBuf::from("push_proxy/logs_us_new/dt=2026-11-20"),
                files: (0..1001)
                    .map(|i| format!("part-{i:05}-r-0a.parquet"))
                    .collect(),
                expected_rows: Some(10),
            }],
        };
        let setup = setup_statements(&c, &plan);
        assert_eq!(
            setup[0].sql,
            "CREATE TABLE IF NOT EXISTS \"RAW\".\"INGEST\".\"LOGS_US_NEW\" (\n  \"TIME\" TIMESTAMP_TZ,\n  \"ELB_STATUS_CODE\" INTEGER,\n  \"_RUN_ID\" VARCHAR,\n  \"DT\" DATE\n)"
        );
        let load = load_statements(&c, &plan);
        let kinds: Vec<_> = load.iter().map(|s| s.kind.clone()).collect();
        assert_eq!(
            kinds,
            [
                StatementKind::Begin,
                StatementKind::Delete,
                StatementKind::Copy {
                    table: 0,
                    files: 1000
                },
                StatementKind::Copy { table: 0, files: 1 },
                StatementKind::Stamp { table: 0 },
                StatementKind::Commit
            ]
        );
        assert_eq!(
            load[1].sql,
            "DELETE FROM \"RAW\".\"INGEST\".\"LOGS_US_NEW\" WHERE \"DT\" = '2026-11-20'::DATE"
        );
        assert_eq!(
            load[3].sql,
            "COPY INTO \"RAW\".\"INGEST\".\"LOGS_US_NEW\"\n  FROM @RAW.INGEST.LAKE/push_proxy/logs_us_new/dt=2026-11-20/\n  FILES = ('part-01000-r-0a.parquet')\n  FILE_FORMAT = (TYPE = PARQUET USE_LOGICAL_TYPE = TRUE)\n  MATCH_BY_COLUMN_NAME = CASE_INSENSITIVE\n  ON_ERROR = ABORT_STATEMENT\n  FORCE = TRUE"
        );
        assert_eq!(
            load[4].sql,
            "UPDATE \"RAW\".\"INGEST\".\"LOGS_US_NEW\" SET \"DT\" = '2026-11-20'::DATE WHERE \"DT\" IS NULL AND \"_RUN_ID\" = 'it''s-a-run'"
        );
    }

    /// The COPY check fails closed: an unreadable COPY result (None) passes only when the
    /// stamped row count confirms it.
    #[test]
    fn the_copy_check_fails_closed() {
        let plan = LoadPlan {
            job: "push-logs",
            date: "2026-11-20".parse().unwrap(),
            run_id: "r".into(),
            tables: vec![LoadTable {
                table: TableName::parse("s.t").unwrap(),
                columns: Vec::new(),
                relative: PathBuf::from("s/t/dt=2026-11-20"),
                files: vec!["a.parquet".into()],
                expected_rows: Some(10),
            }],
        };
        let check =
            |copied: Option<u64>, stamped: Option<u64>| check_copied(&plan, &[copied], &[stamped]);
        assert!(check(Some(10), Some(10)).is_ok());
        assert!(check(Some(10), None).is_ok());
        assert!(
            check(None, Some(10)).is_ok(),
            "Arrow COPY result, JSON stamp count"
        );
        for (copied, stamped) in [(None, Some(9)), (Some(9), None), (Some(9), Some(10))] {
            let err = check(copied, stamped).unwrap_err();
            assert!(matches!(err, WarehouseError::RowMismatch { .. }), "{err}");
            assert_eq!(err.kind().exit_code(), 3);
        }
        let err = check(None, None).unwrap_err();
        assert!(matches!(err, WarehouseError::Unverified { .. }), "{err}");
        assert!(
            err.to_string().contains("cannot verify COPY INTO s.t"),
            "{err}"
        );
        assert_eq!(err.kind().exit_code(), 2);
    }

    #[test]
    fn statement_errors_are_classified() {
        assert_eq!(
            classify_statement_error("100038", "22018"),
            FailureKind::Data
        );
        assert_eq!(
            classify_statement_error("100069", "22P02"),
            FailureKind::Data
        );
        assert_eq!(
            classify_statement_error("002003", "42S02"),
            FailureKind::Config
        );
        assert_eq!(
            classify_statement_error("001003", "42000"),
            FailureKind::Config
        );
        assert_eq!(
            classify_statement_error("003001", "42501"),
            FailureKind::Config
        );
        assert_eq!(
            classify_statement_error("000630", "57014"),
            FailureKind::Transient
        );
        assert_eq!(
            classify_statement_error("000625", "57014"),
            FailureKind::Transient
        );
    }
}
