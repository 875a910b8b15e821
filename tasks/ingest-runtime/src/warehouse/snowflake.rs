//! A small Snowflake client over reqwest, speaking the protocol of Snowflake's own connectors:
//! `POST /session/v1/login-request` (password, or key-pair JWT), then
//! `POST /queries/v1/query-request` per statement, with the session token in
//! `Authorization: Snowflake Token="..."`.
//!
//! - **Retries**: connection errors, HTTP 5xx, 429 and 408 are retried with exponential backoff
//!   and jitter (`max_attempts` per request, `Retry-After` honoured up to a minute). A statement is
//!   retried with the same `requestId`, which Snowflake uses to avoid running it twice.
//! - **Long statements**: Snowflake answers a statement still running after ~45 s with code
//!   333333/333334 and a result URL, which is polled until the statement ends or `query_timeout`
//!   passes (then the statement is aborted and the load fails as transient).
//! - **Session expiry**: code 390112/390114 renews the session token with the master token when
//!   the login returned one; otherwise the caller runs its transaction again on a new session.
//! - **Replies**: only `success`, `code`, `message`, `data.token`, `data.rowtype` and
//!   `data.rowset` are required. Everything else real Snowflake sends (session id, master token,
//!   validity, `returned`, version) is optional, since fakesnow's server (the test double) omits
//!   it. The login pins JSON results; a result that still comes as Arrow (which this client does
//!   not decode) or in chunks is marked unreadable, and the load verifies it another way or fails.
//! - **Secrets**: the password, the private key, the JWT and the session tokens are never
//!   formatted into an error or a log line; errors carry Snowflake's code and message.

use std::cell::Cell;
use std::fmt;
use std::time::{Duration, Instant};

use backon::Retryable as _;
use base64::Engine as _;
use reqwest::header::{ACCEPT, AUTHORIZATION, USER_AGENT};
use ring::signature::{self, KeyPair as _, RsaKeyPair};
use serde_json::{Value, json};

use super::{AttemptError, SnowflakeConfig, WarehouseError, classify_statement_error};
use crate::retry::RetryPolicy;
use crate::secrets::Secret;

/// "Query still running": poll the result URL.
const QUERY_IN_PROGRESS: [&str; 2] = ["333333", "333334"];
/// Session token expired / invalid: renew with the master token, or log in again.
const SESSION_EXPIRED: [&str; 3] = ["390112", "390114", "390104"];

/// How the client logs in. Never printed.
#[derive(Clone)]
pub enum Credentials {
    Password(Secret),
    /// Key-pair authentication: the key, and the SHA-256 fingerprint of its public key.
    KeyPair {
        key: std::sync::Arc<RsaKeyPair>,
        fingerprint: String,
    },
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::Password(_) => f.write_str("password [redacted]"),
            Credentials::KeyPair { fingerprint, .. } => write!(f, "key pair SHA256:{fingerprint}"),
        }
    }
}

impl Credentials {
    /// An unencrypted RSA private key in PEM: PKCS#8 (`BEGIN PRIVATE KEY`, what
    /// `openssl genpkey` and Snowflake's docs produce) or PKCS#1 (`BEGIN RSA PRIVATE KEY`).
    /// The error never quotes the key.
    pub fn from_pem(pem: &str) -> Result<Credentials, String> {
        // Keys pasted into a single-line variable often carry literal "\n".
        let pem = if !pem.contains('\n') && pem.contains("\\n") {
            pem.replace("\\n", "\n")
        } else {
            pem.to_owned()
        };
        let (label, der) = pem_decode(&pem)?;
        let key = match label.as_str() {
            "PRIVATE KEY" => RsaKeyPair::from_pkcs8(&der)
                .map_err(|e| format!("not an RSA key in PKCS#8 ({e})"))?,
            "RSA PRIVATE KEY" => {
                RsaKeyPair::from_der(&der).map_err(|e| format!("not an RSA key in PKCS#1 ({e})"))?
            }
            "ENCRYPTED PRIVATE KEY" => {
                return Err("encrypted keys are not supported: store the key unencrypted (openssl pkcs8 -topk8 -nocrypt) in the Kubernetes secret".into());
            }
            // Only known labels are named (see pem_decode: the label is never echoed as such).
            other => {
                let known = [
                    "CERTIFICATE",
                    "PUBLIC KEY",
                    "RSA PUBLIC KEY",
                    "EC PRIVATE KEY",
                ];
                return Err(match known.iter().find(|k| **k == other) {
                    Some(k) => format!("expected a PEM private key, found a {k}"),
                    None => {
                        "expected a PEM private key (BEGIN PRIVATE KEY or BEGIN RSA PRIVATE KEY)"
                            .into()
                    }
                });
            }
        };
        let fingerprint = base64::engine::general_purpose::STANDARD.encode(ring::digest::digest(
            &ring::digest::SHA256,
            &subject_public_key_info(key.public_key().as_ref()),
        ));
        Ok(Credentials::KeyPair {
            key: std::sync::Arc::new(key),
            fingerprint,
        })
    }

    /// The JWT Snowflake expects for key-pair authentication, valid for an hour from `now`.
    pub fn jwt(&self, account: &str, user: &str, now: u64) -> Option<Secret> {
        let Credentials::KeyPair { key, fingerprint } = self else {
            return None;
        };
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let qualified = format!("{}.{}", account_locator(account), user.to_ascii_uppercase());
        let header = b64.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
        let claims = b64.encode(
            json!({
                "iss": format!("{qualified}.SHA256:{fingerprint}"),
                "sub": qualified,
                "iat": now,
                "exp": now + 3540,
            })
            .to_string(),
        );
        let input = format!("{header}.{claims}");
        let mut sig = vec![0u8; key.public().modulus_len()];
        key.sign(
            &signature::RSA_PKCS1_SHA256,
            &ring::rand::SystemRandom::new(),
            input.as_bytes(),
            &mut sig,
        )
        .expect("RSA signing with a valid key works");
        Some(Secret::from(format!("{input}.{}", b64.encode(sig))))
    }
}

/// The account part of an identifier, upper-cased: `xy12345.us-east-1` → `XY12345`.
fn account_locator(account: &str) -> String {
    account
        .split('.')
        .next()
        .unwrap_or_default()
        .to_ascii_uppercase()
}

/// The label and DER bytes of the first PEM block. Never panics, and its errors quote nothing of
/// the input (a mangled key's bytes could end up anywhere in it, even in the label).
fn pem_decode(pem: &str) -> Result<(String, Vec<u8>), String> {
    const BEGIN: &str = "-----BEGIN ";
    let begin = pem
        .find(BEGIN)
        .ok_or("not a PEM block (no -----BEGIN line)")?;
    let after = &pem[begin + BEGIN.len()..];
    let (header, body_and_rest) = after.split_once('\n').unwrap_or((after, ""));
    let label = header
        .trim_end()
        .strip_suffix("-----")
        .ok_or("malformed PEM: the -----BEGIN line does not end with -----")?;
    // RFC 7468 labels are short upper-case words; anything else is part of a mangled key.
    if label.is_empty()
        || label.len() > 64
        || !label.bytes().all(|b| b.is_ascii_uppercase() || b == b' ')
    {
        return Err("malformed PEM: the -----BEGIN line holds no valid label".into());
    }
    let end = body_and_rest
        .find(&format!("-----END {label}-----"))
        .ok_or("malformed PEM: no -----END line matching the -----BEGIN line")?;
    let body: String = body_and_rest[..end]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(body)
        .map_err(|_| "the PEM body is not valid base64".to_owned())?;
    Ok((label.to_owned(), der))
}

/// Wraps a PKCS#1 `RSAPublicKey` into the DER `SubjectPublicKeyInfo` Snowflake fingerprints.
fn subject_public_key_info(rsa_public_key: &[u8]) -> Vec<u8> {
    fn der(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        let len = content.len();
        if len < 0x80 {
            out.push(len as u8);
        } else {
            let bytes: Vec<u8> = len
                .to_be_bytes()
                .into_iter()
                .skip_while(|b| *b == 0)
                .collect();
            out.push(0x80 | bytes.len() as u8);
            out.extend(bytes);
        }
        out.extend_from_slice(content);
        out
    }
    // AlgorithmIdentifier { rsaEncryption (1.2.840.113549.1.1.1), NULL }
    const RSA_ALGORITHM: [u8; 15] = [
        0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
    ];
    let mut bits = vec![0u8];
    bits.extend_from_slice(rsa_public_key);
    let mut content = RSA_ALGORITHM.to_vec();
    content.extend(der(0x03, &bits));
    der(0x30, &content)
}

/// A statement's result, as far as the load needs it.
#[derive(Debug, Default)]
pub struct QueryResult {
    pub query_id: Option<String>,
    /// Column names (upper-cased); empty when the reply had no JSON rowset.
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Option<String>>>,
    /// True only when `rows` is the whole result: a JSON rowset (`queryResultFormat` absent or
    /// `json`) that is not split into further chunks. False for Arrow (`rowsetBase64`, which
    /// this client does not decode), for chunked results and for replies without a rowset:
    /// such a result cannot be checked, and checks must fail closed.
    pub json: bool,
}

impl QueryResult {
    fn column(&self, name: &str) -> Option<usize> {
        self.columns
            .iter()
            .position(|c| c.eq_ignore_ascii_case(name))
    }

    /// The row count of a DML statement (`number of rows deleted/updated`), when reported.
    pub fn affected_rows(&self) -> Option<u64> {
        if !self.json {
            return None;
        }
        self.rows.first()?.first()?.as_deref()?.parse().ok()
    }

    /// Reads a statement's `data` object. Only a complete JSON rowset counts as readable.
    pub fn from_data(data: &Value) -> QueryResult {
        let rows = data["rowset"].as_array();
        let format = data["queryResultFormat"].as_str().unwrap_or("json");
        let chunked = data["chunks"].as_array().is_some_and(|c| !c.is_empty())
            || match (data["total"].as_u64(), rows) {
                (Some(total), Some(rows)) => total > rows.len() as u64,
                _ => false,
            };
        QueryResult {
            query_id: data["queryId"].as_str().map(str::to_owned),
            columns: data["rowtype"]
                .as_array()
                .map(|cols| {
                    cols.iter()
                        .map(|c| c["name"].as_str().unwrap_or("").to_ascii_uppercase())
                        .collect()
                })
                .unwrap_or_default(),
            rows: rows
                .map(|rows| {
                    rows.iter()
                        .map(|r| {
                            r.as_array()
                                .map(|cells| {
                                    cells
                                        .iter()
                                        .map(|v| match v {
                                            Value::Null => None,
                                            Value::String(s) => Some(s.clone()),
                                            other => Some(other.to_string()),
                                        })
                                        .collect()
                                })
                                .unwrap_or_default()
                        })
                        .collect()
                })
                .unwrap_or_default(),
            json: rows.is_some() && format.eq_ignore_ascii_case("json") && !chunked,
        }
    }

    /// Checks COPY's per-file result (every file `LOADED`, as many files as listed) and
    /// returns the rows loaded; `None` when the result cannot be read (Arrow, chunked): the
    /// caller must then verify the load another way or fail (see `warehouse::run_load`).
    pub fn copy_rows_loaded(
        &self,
        statement: &str,
        files: usize,
    ) -> Result<Option<u64>, WarehouseError> {
        if !self.json {
            return Ok(None);
        }
        let (Some(file), Some(status)) = (self.column("file"), self.column("status")) else {
            // "Copy executed with 0 files processed."
            return Err(WarehouseError::FilesNotLoaded {
                statement: statement.to_owned(),
                processed: 0,
                files,
                detail: self
                    .rows
                    .first()
                    .and_then(|r| r.first().cloned().flatten())
                    .unwrap_or_default(),
            });
        };
        let loaded_col = self.column("rows_loaded");
        let mut loaded = 0u64;
        for row in &self.rows {
            let st = row.get(status).cloned().flatten().unwrap_or_default();
            if !st.eq_ignore_ascii_case("LOADED") {
                return Err(WarehouseError::FilesNotLoaded {
                    statement: statement.to_owned(),
                    processed: self.rows.len(),
                    files,
                    detail: format!(
                        "{}: {st}",
                        row.get(file).cloned().flatten().unwrap_or_default()
                    ),
                });
            }
            loaded += loaded_col
                .and_then(|c| row.get(c).cloned().flatten())
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0);
        }
        if self.rows.len() != files {
            return Err(WarehouseError::FilesNotLoaded {
                statement: statement.to_owned(),
                processed: self.rows.len(),
                files,
                detail: String::new(),
            });
        }
        Ok(loaded_col.map(|_| loaded))
    }
}

struct Session {
    token: Secret,
    master_token: Option<Secret>,
}

/// One Snowflake session at a time, for a sequence of statements.
pub struct SnowflakeClient {
    http: reqwest::Client,
    config: SnowflakeConfig,
    credentials: Credentials,
    application: String,
    query_tag: String,
    session: Option<Session>,
    sequence: u64,
    cancel: Option<tokio::sync::watch::Receiver<bool>>,
}

/// One HTTP exchange's outcome, before Snowflake's own `success` flag is looked at.
enum Reply {
    Json(Value),
    /// A non-retryable HTTP status with whatever body came with it.
    Status(u16, Option<Value>),
}

impl SnowflakeClient {
    pub fn new(
        config: SnowflakeConfig,
        credentials: Credentials,
        application: &str,
        query_tag: &str,
    ) -> Result<SnowflakeClient, WarehouseError> {
        // TLS through rustls + ring, like every other client of the runtime.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| WarehouseError::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(SnowflakeClient {
            http,
            config,
            credentials,
            application: application.to_owned(),
            query_tag: query_tag.chars().take(2000).collect(),
            session: None,
            sequence: 0,
            cancel: None,
        })
    }

    pub fn set_cancel(&mut self, cancel: tokio::sync::watch::Receiver<bool>) {
        self.cancel = Some(cancel);
    }

    /// Removes the cancellation signal (for a request that must not be cut off); put it back
    /// with [`SnowflakeClient::set_cancel`].
    pub fn take_cancel(&mut self) -> Option<tokio::sync::watch::Receiver<bool>> {
        self.cancel.take()
    }

    pub fn check_cancelled(&self) -> Result<(), WarehouseError> {
        if self.cancel.as_ref().is_some_and(|c| *c.borrow()) {
            return Err(WarehouseError::Cancelled);
        }
        Ok(())
    }

    /// The endpoint for messages: scheme, host and port only (a query could hold a token).
    fn endpoint(&self) -> String {
        let e = &self.config.endpoint;
        match e.port() {
            Some(port) => format!("{}://{}:{port}", e.scheme(), e.host_str().unwrap_or("")),
            None => format!("{}://{}", e.scheme(), e.host_str().unwrap_or("")),
        }
    }

    fn url(&self, path_and_query: &str) -> Result<reqwest::Url, WarehouseError> {
        self.config
            .endpoint
            .join(path_and_query)
            .map_err(|e| WarehouseError::Config(format!("bad Snowflake URL: {e}")))
    }

    /// Logs in (unless a session is open): password or key-pair JWT.
    pub async fn login(&mut self) -> Result<(), WarehouseError> {
        if self.session.is_some() {
            return Ok(());
        }
        let cfg = &self.config;
        let mut url = self.url("session/v1/login-request")?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("request_id", &uuid_v4());
            q.append_pair("databaseName", &cfg.database);
            if let Some(s) = &cfg.schema {
                q.append_pair("schemaName", s);
            }
            if let Some(w) = &cfg.warehouse {
                q.append_pair("warehouse", w);
            }
            if let Some(r) = &cfg.role {
                q.append_pair("roleName", r);
            }
        }
        let mut data = json!({
            "ACCOUNT_NAME": account_locator(&cfg.account),
            "LOGIN_NAME": cfg.user,
            "CLIENT_ENVIRONMENT": {"APPLICATION": self.application, "OS": std::env::consts::OS},
            "SESSION_PARAMETERS": {
                "QUERY_TAG": self.query_tag,
                "TIMEZONE": "UTC",
                "STATEMENT_TIMEOUT_IN_SECONDS": cfg.query_timeout.as_secs(),
                // A lock held by a detached transaction (a killed pod) fails the load instead of
                // blocking it for Snowflake's default of 12 hours.
                "LOCK_TIMEOUT": cfg.query_timeout.as_secs(),
                "ABORT_DETACHED_QUERY": true,
                // Results as JSON rowsets, which this client reads (the server picks the
                // format by client type; pin it for every type). A result that still comes
                // as Arrow or in chunks is detected and never passes a check unread.
                "JDBC_QUERY_RESULT_FORMAT": "JSON",
                "ODBC_QUERY_RESULT_FORMAT": "JSON",
                "PYTHON_CONNECTOR_QUERY_RESULT_FORMAT": "JSON",
                "GO_QUERY_RESULT_FORMAT": "JSON",
            },
        });
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        // The body holds a secret: built here, sent, dropped; never logged.
        match &self.credentials {
            Credentials::Password(p) => data["PASSWORD"] = Value::from(p.expose()),
            creds @ Credentials::KeyPair { .. } => {
                let jwt = creds
                    .jwt(&cfg.account, &cfg.user, now)
                    .expect("key pair credentials make a JWT");
                data["AUTHENTICATOR"] = Value::from("SNOWFLAKE_JWT");
                data["TOKEN"] = Value::from(jwt.expose());
            }
        }
        let body = json!({ "data": data });
        let reply = self
            .send(
                "login",
                Method::Post,
                url,
                None,
                Some(&body),
                cfg.request_timeout,
            )
            .await?;
        let (status, doc) = match reply {
            Reply::Json(doc) => (200, doc),
            Reply::Status(status, doc) => (status, doc.unwrap_or(Value::Null)),
        };
        if doc["success"].as_bool() == Some(true)
            && let Some(token) = doc["data"]["token"].as_str()
        {
            self.session = Some(Session {
                token: Secret::from(token.to_owned()),
                master_token: doc["data"]["masterToken"]
                    .as_str()
                    .map(|t| Secret::from(t.to_owned())),
            });
            tracing::info!(
                warehouse = %self.config,
                session_id = doc["data"]["sessionId"].as_i64().map(|i| i.to_string()).unwrap_or_default(),
                "logged in to Snowflake"
            );
            return Ok(());
        }
        Err(WarehouseError::Auth {
            user: self.config.user.clone(),
            code: code_of(&doc).unwrap_or_else(|| format!("HTTP {status}")),
            message: message_of(&doc),
        })
    }

    /// Forgets the session without closing it (after it expired).
    pub fn forget_session(&mut self) {
        self.session = None;
    }

    /// Runs one statement and waits for its end.
    pub async fn execute(&mut self, label: &str, sql: &str) -> Result<QueryResult, WarehouseError> {
        self.check_cancelled()?;
        self.login().await?;
        self.sequence += 1;
        let request_id = uuid_v4();
        let started = Instant::now();
        let deadline = started + self.config.query_timeout;
        let body = json!({
            "sqlText": sql,
            "asyncExec": false,
            "sequenceId": self.sequence,
            "querySubmissionTime": std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
        });
        let mut renewed = false;
        let mut doc = loop {
            let url = self.url(&format!("queries/v1/query-request?requestId={request_id}"))?;
            let timeout = self.statement_request_timeout(deadline);
            let token = self.session_token()?;
            let reply = match self
                .send(label, Method::Post, url, Some(&token), Some(&body), timeout)
                .await
            {
                Ok(reply) => reply,
                Err(WarehouseError::Cancelled) => {
                    self.abort(&request_id, sql).await;
                    return Err(WarehouseError::Cancelled);
                }
                Err(e) => return Err(self.timeout_instead(e, label, started)),
            };
            let doc = self.reply_doc(label, reply)?;
            if is_session_expired(&doc) && !renewed && self.renew().await? {
                renewed = true;
                continue;
            }
            break doc;
        };
        // Still running: poll the result URL until it ends or the query timeout passes.
        while let Some(code) = code_of(&doc).filter(|c| QUERY_IN_PROGRESS.contains(&c.as_str())) {
            let Some(result_url) = doc["data"]["getResultUrl"].as_str().map(str::to_owned) else {
                return Err(WarehouseError::Protocol {
                    what: label.to_owned(),
                    detail: format!("code {code} without a result URL"),
                });
            };
            if Instant::now() >= deadline {
                self.abort(&request_id, sql).await;
                return Err(WarehouseError::Timeout {
                    what: label.to_owned(),
                    secs: self.config.query_timeout.as_secs(),
                });
            }
            if self.check_cancelled().is_err() {
                tracing::warn!(
                    statement = label,
                    "interrupted while Snowflake runs a statement; aborting it"
                );
                self.abort(&request_id, sql).await;
                return Err(WarehouseError::Cancelled);
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
            let url = self.url(&result_url)?;
            let token = self.session_token()?;
            let timeout = self.statement_request_timeout(deadline);
            let reply = match self
                .send(label, Method::Get, url, Some(&token), None, timeout)
                .await
            {
                Ok(reply) => reply,
                Err(WarehouseError::Cancelled) => {
                    self.abort(&request_id, sql).await;
                    return Err(WarehouseError::Cancelled);
                }
                Err(e) => return Err(self.timeout_instead(e, label, started)),
            };
            doc = self.reply_doc(label, reply)?;
        }
        if is_session_expired(&doc) {
            return Err(WarehouseError::SessionExpired);
        }
        if doc["success"].as_bool() != Some(true) {
            let code = code_of(&doc).unwrap_or_else(|| "unknown".into());
            let sql_state = doc["data"]["sqlState"].as_str().unwrap_or("").to_owned();
            return Err(WarehouseError::Statement {
                statement: label.to_owned(),
                kind: classify_statement_error(&code, &sql_state),
                code,
                sql_state,
                message: message_of(&doc),
            });
        }
        let result = QueryResult::from_data(&doc["data"]);
        tracing::info!(
            statement = label,
            query_id = result.query_id.as_deref().unwrap_or(""),
            ms = started.elapsed().as_millis() as u64,
            "Snowflake statement done"
        );
        Ok(result)
    }

    /// Rolls back the open transaction (best effort, on the error path).
    pub async fn rollback(&mut self) {
        // Also after an interruption: the rollback itself must not be cancelled.
        let cancel = self.cancel.take();
        let saved = self.config.max_attempts;
        self.config.max_attempts = saved.min(2);
        if let Err(err) = self.execute("ROLLBACK", "ROLLBACK").await {
            tracing::warn!(error = %err, "ROLLBACK failed; Snowflake rolls the transaction back when the session ends");
        }
        self.config.max_attempts = saved;
        self.cancel = cancel;
    }

    /// Closes the session (best effort): its open transaction, if any, is rolled back.
    pub async fn close(&mut self) {
        let Some(session) = self.session.take() else {
            return;
        };
        let Ok(url) = self.url("session?delete=true") else {
            return;
        };
        let _ = self
            .http
            .post(url)
            .header(ACCEPT, "application/snowflake")
            .header(AUTHORIZATION, auth_header(&session.token))
            .json(&json!({}))
            .timeout(Duration::from_secs(10))
            .send()
            .await;
    }

    /// Renews the session token with the master token; false when there is none.
    async fn renew(&mut self) -> Result<bool, WarehouseError> {
        let Some(session) = &self.session else {
            return Ok(false);
        };
        let Some(master) = session.master_token.clone() else {
            return Ok(false);
        };
        let body = json!({"oldSessionToken": session.token.expose(), "requestType": "RENEW"});
        let url = self.url(&format!("session/token-request?requestId={}", uuid_v4()))?;
        let reply = self
            .send(
                "session renewal",
                Method::Post,
                url,
                Some(&master),
                Some(&body),
                self.config.request_timeout,
            )
            .await?;
        if let Reply::Json(doc) = reply
            && doc["success"].as_bool() == Some(true)
            && let Some(token) = doc["data"]["sessionToken"].as_str()
        {
            self.session = Some(Session {
                token: Secret::from(token.to_owned()),
                master_token: doc["data"]["masterToken"]
                    .as_str()
                    .map(|t| Secret::from(t.to_owned()))
                    .or(Some(master)),
            });
            tracing::info!("renewed the Snowflake session token");
            return Ok(true);
        }
        Ok(false)
    }

    /// Asks Snowflake to abort a statement (after a client-side timeout).
    async fn abort(&self, request_id: &str, sql: &str) {
        let (Ok(url), Ok(token)) = (self.url("queries/v1/abort-request"), self.session_token())
        else {
            return;
        };
        let _ = self
            .http
            .post(url)
            .header(ACCEPT, "application/snowflake")
            .header(AUTHORIZATION, auth_header(&token))
            .json(&json!({"sqlText": sql, "requestId": request_id}))
            .timeout(Duration::from_secs(10))
            .send()
            .await;
    }

    fn session_token(&self) -> Result<Secret, WarehouseError> {
        self.session
            .as_ref()
            .map(|s| s.token.clone())
            .ok_or(WarehouseError::SessionExpired)
    }

    /// One HTTP request may take until the statement's deadline, plus slack for the reply.
    fn statement_request_timeout(&self, deadline: Instant) -> Duration {
        deadline.saturating_duration_since(Instant::now()) + Duration::from_secs(30)
    }

    /// A request that timed out at the statement's deadline is the query timeout.
    fn timeout_instead(
        &self,
        err: WarehouseError,
        label: &str,
        started: Instant,
    ) -> WarehouseError {
        if matches!(err, WarehouseError::Unavailable { .. })
            && started.elapsed() >= self.config.query_timeout
        {
            return WarehouseError::Timeout {
                what: label.to_owned(),
                secs: self.config.query_timeout.as_secs(),
            };
        }
        err
    }

    /// A statement's reply document; HTTP errors other than the expected ones are protocol or
    /// session failures.
    fn reply_doc(&self, label: &str, reply: Reply) -> Result<Value, WarehouseError> {
        match reply {
            Reply::Json(doc) => Ok(doc),
            Reply::Status(401 | 403, Some(doc)) if is_session_expired(&doc) => Ok(doc),
            Reply::Status(401 | 403, _) => Err(WarehouseError::SessionExpired),
            Reply::Status(status, doc) => Err(WarehouseError::Protocol {
                what: label.to_owned(),
                detail: match doc {
                    Some(doc) => format!("HTTP {status}: {}", message_of(&doc)),
                    None => format!("HTTP {status}"),
                },
            }),
        }
    }

    /// Sends one request, retrying transient failures with backoff.
    async fn send(
        &self,
        what: &str,
        method: Method,
        url: reqwest::Url,
        token: Option<&Secret>,
        body: Option<&Value>,
        timeout: Duration,
    ) -> Result<Reply, WarehouseError> {
        let attempts = self.config.max_attempts.max(1);
        let policy = RetryPolicy {
            attempts,
            first_pause: Duration::from_millis(500),
            max_pause: Duration::from_secs(16),
            max_retry_after: Duration::from_secs(60),
            budget: None,
        };
        let started = Instant::now();
        let attempt = Cell::new(0_u32);
        let cancel = self.cancel.clone();
        let result = (|| {
            let n = attempt.get() + 1;
            attempt.set(n);
            let (url, method) = (url.clone(), method);
            async move {
                self.check_cancelled().map_err(Failed::Stop)?;
                let mut u = url;
                if n > 1 && matches!(method, Method::Post) {
                    u.query_pairs_mut()
                        .append_pair("retryCount", &(n - 1).to_string());
                }
                let mut req = match method {
                    Method::Post => self.http.post(u),
                    Method::Get => self.http.get(u),
                }
                .header(ACCEPT, "application/snowflake")
                .header(
                    USER_AGENT,
                    concat!("ingest-runtime/", env!("CARGO_PKG_VERSION")),
                )
                .timeout(timeout);
                if let Some(token) = token {
                    req = req.header(AUTHORIZATION, auth_header(token));
                }
                if let Some(body) = body {
                    req = req.json(body);
                }
                // A signal must not wait for a long statement: the caller aborts it and rolls back.
                let sent = tokio::select! {
                    r = req.send() => r,
                    _ = cancelled(self.cancel.clone()) => return Err(Failed::Stop(WarehouseError::Cancelled)),
                };
                let resp = sent.map_err(|e| Failed::Retry(AttemptError::Transport(without_url(e)), None))?;
                let status = resp.status().as_u16();
                let retry_after = crate::retry::retry_after(resp.headers());
                let text = resp.text().await;
                match (status, text) {
                    (200..=299, Ok(text)) => match serde_json::from_str::<Value>(&text) {
                        Ok(doc) => Ok(Reply::Json(doc)),
                        Err(source) => Err(Failed::Retry(AttemptError::NotJson { status, source }, retry_after)),
                    },
                    (408 | 429 | 500..=599, _) => Err(Failed::Retry(AttemptError::Status(status), retry_after)),
                    (_, Ok(text)) => Ok(Reply::Status(status, serde_json::from_str(&text).ok())),
                    (_, Err(e)) => Err(Failed::Retry(AttemptError::Transport(without_url(e)), retry_after)),
                }
            }
        })
        .retry(policy.backoff())
        // A signal ends the pause at once; the next attempt then stops with `Cancelled`.
        .sleep(move |pause| {
            let cancel = cancel.clone();
            async move {
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    _ = cancelled(cancel) => {}
                }
            }
        })
        .when(|f: &Failed| matches!(f, Failed::Retry(..)))
        .adjust(|f: &Failed, backoff| {
            let retry_after = match f {
                Failed::Retry(_, retry_after) => *retry_after,
                Failed::Stop(_) => None,
            };
            policy.pause(started, backoff, retry_after)
        })
        .notify(|f: &Failed, pause: Duration| {
            if let Failed::Retry(error, _) = f {
                tracing::warn!(request = what, attempt = attempt.get(), error = %error, backoff_ms = pause.as_millis() as u64, "Snowflake request failed; retrying");
            }
        })
        .await;
        result.map_err(|f| match f {
            Failed::Stop(err) => err,
            Failed::Retry(source, _) => WarehouseError::Unavailable {
                endpoint: self.endpoint(),
                what: what.to_owned(),
                attempts,
                source,
            },
        })
    }
}

/// One attempt's failure: worth another attempt (with the server's `Retry-After`), or final.
enum Failed {
    Retry(AttemptError, Option<Duration>),
    Stop(WarehouseError),
}

#[derive(Clone, Copy)]
enum Method {
    Post,
    Get,
}

async fn cancelled(cancel: Option<tokio::sync::watch::Receiver<bool>>) {
    match cancel {
        Some(mut c) => {
            let _ = c.wait_for(|v| *v).await;
        }
        None => std::future::pending().await,
    }
}

/// reqwest errors print the URL; ours holds no secret, but keep only the cause anyway.
fn without_url(e: reqwest::Error) -> reqwest::Error {
    e.without_url()
}

fn auth_header(token: &Secret) -> String {
    format!("Snowflake Token=\"{}\"", token.expose())
}

fn code_of(doc: &Value) -> Option<String> {
    match &doc["code"] {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(format!("{:06}", n.as_u64().unwrap_or(0))),
        _ => doc["data"]["errorCode"].as_str().map(str::to_owned),
    }
}

fn message_of(doc: &Value) -> String {
    let msg = doc["message"].as_str().unwrap_or("no message").trim();
    // Snowflake's messages are short; a proxy's error page is not.
    msg.chars().take(1000).collect()
}

fn is_session_expired(doc: &Value) -> bool {
    code_of(doc).is_some_and(|c| SESSION_EXPIRED.contains(&c.as_str()))
}

fn uuid_v4() -> String {
    let mut b = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b)
        .expect("the OS random source works");
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::FailureKind;
    use std::sync::{Arc, Mutex};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// An RSA key made by the `openssl` CLI for this test, with its fingerprint computed by
    /// openssl too (the same pipeline as Snowflake's docs).
    fn openssl_key(dir: &std::path::Path) -> (String, String) {
        let key = dir.join("k.p8");
        let run = |args: &[&str]| {
            let out = std::process::Command::new("openssl")
                .args(args)
                .output()
                .expect("the openssl CLI is installed");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            out.stdout
        };
        run(&[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            key.to_str().unwrap(),
        ]);
        let pub_der = dir.join("pub.der");
        run(&[
            "pkey",
            "-in",
            key.to_str().unwrap(),
            "-pubout",
            "-outform",
            "DER",
            "-out",
            pub_der.to_str().unwrap(),
        ]);
        let digest = ring::digest::digest(&ring::digest::SHA256, &std::fs::read(pub_der).unwrap());
        (
            std::fs::read_to_string(key).unwrap(),
            base64::engine::general_purpose::STANDARD.encode(digest),
        )
    }

    #[test]
    fn key_pair_jwt_matches_snowflake_format() {
        let dir = tempfile::tempdir().unwrap();
        let (pem, want_fingerprint) = openssl_key(dir.path());
        let creds = Credentials::from_pem(&pem).unwrap();
        let Credentials::KeyPair { fingerprint, key } = &creds else {
            panic!("expected a key pair")
        };
        assert_eq!(fingerprint, &want_fingerprint);
        // The same key with literal "\n" (a one-line env variable) parses too.
        assert!(Credentials::from_pem(&pem.replace('\n', "\\n")).is_ok());

        let jwt = creds
            .jwt("xy12345.us-east-1", "svc_ingest", 1_700_000_000)
            .unwrap();
        let parts: Vec<&str> = jwt.expose().split('.').collect();
        assert_eq!(parts.len(), 3);
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let claims: Value = serde_json::from_slice(&b64.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(claims["sub"], "XY12345.SVC_INGEST");
        assert_eq!(
            claims["iss"],
            format!("XY12345.SVC_INGEST.SHA256:{want_fingerprint}")
        );
        assert_eq!(
            claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
            3540
        );
        let public = signature::UnparsedPublicKey::new(
            &signature::RSA_PKCS1_2048_8192_SHA256,
            key.public_key().as_ref().to_vec(),
        );
        public
            .verify(
                format!("{}.{}", parts[0], parts[1]).as_bytes(),
                &b64.decode(parts[2]).unwrap(),
            )
            .expect("the signature verifies with the public key");
        assert_eq!(
            format!("{creds:?}"),
            format!("key pair SHA256:{want_fingerprint}")
        );
    }

    #[test]
    fn bad_keys_are_explained_without_quoting_them() {
        let err = Credentials::from_pem(
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----",
        )
        .unwrap_err();
        assert!(err.contains("encrypted keys are not supported"), "{err}");
        let err = Credentials::from_pem(
            "-----BEGIN PRIVATE KEY-----\nSECRETSECRET\n-----END PRIVATE KEY-----",
        )
        .unwrap_err();
        assert!(!err.contains("SECRETSECRET"), "{err}");
        assert!(
            Credentials::from_pem("hunter2")
                .unwrap_err()
                .contains("not a PEM")
        );
        assert_eq!(
            format!(
                "{:?}",
                Credentials::Password(Secret::from("hunter2".to_owned()))
            ),
            "password [redacted]"
        );
    }

    /// Truncated and mangled keys (every prefix, every single-byte deletion, dashes and newlines
    /// dropped or moved) give an error, never a panic, and no error quotes the key's bytes.
    #[test]
    fn mangled_pems_are_errors_that_quote_nothing() {
        let body = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQsentinelKEYBYTES\n\
                    zzSENTINELzzQIDAQABAoIBAGsentinelAbCdEfGhIjKlMnOpQrStUvWxYz0123456\n";
        let good = format!("-----BEGIN PRIVATE KEY-----\n{body}-----END PRIVATE KEY-----\n");
        let mut cases: Vec<String> = Vec::new();
        for i in 0..=good.len() {
            cases.push(good[..i].to_owned());
            if i < good.len() {
                cases.push(format!("{}{}", &good[..i], &good[i + 1..]));
                cases.push(format!("{}-----END {}", &good[..i], &good[i..]));
                cases.push(format!("{}\n{}", &good[..i], &good[i..]));
            }
        }
        for (from, to) in [
            ("KEY-----\nMIIE", "KEY\nMIIE"),
            ("KEY-----\nMIIE", "KEY-\nMIIE"),
            ("KEY-----\nMIIE", "KEY-----MIIE"),
            ("-----END PRIVATE KEY-----", "-----END PRIVATE KEY"),
            ("-----END PRIVATE KEY-----", "-----END RSA PRIVATE KEY-----"),
            ("-----END PRIVATE KEY-----", ""),
            (
                "-----BEGIN PRIVATE KEY-----",
                "-----BEGIN PRIVATE KEY-----\n-----BEGIN ",
            ),
            ("-----BEGIN PRIVATE KEY-----", "-----BEGIN -----"),
            (
                "-----BEGIN PRIVATE KEY-----",
                "-----BEGIN -----END PRIVATE KEY-----",
            ),
        ] {
            cases.push(good.replacen(from, to, 1));
            cases.push(good.replacen(from, to, 1).replace('\n', "\\n"));
        }
        assert!(cases.len() > 500, "{}", cases.len());
        for case in &cases {
            // A panic fails the test; so does an error quoting the key.
            if let Err(err) = Credentials::from_pem(case) {
                let lower = err.to_ascii_lowercase();
                assert!(
                    !lower.contains("sentinel")
                        && !lower.contains("miie")
                        && !lower.contains("keybytes"),
                    "{case:?}: {err}"
                );
            }
        }
        // The case the panic was found with: the BEGIN line lacks its trailing dashes.
        let err = Credentials::from_pem(&good.replacen("KEY-----\n", "KEY\n", 1)).unwrap_err();
        assert!(err.contains("does not end with -----"), "{err}");
    }

    /// A scripted HTTP server: answers each request with the next (status, body) and records
    /// the requests.
    async fn scripted(replies: Vec<(u16, String)>) -> (String, Arc<Mutex<Vec<String>>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        tokio::spawn(async move {
            let mut replies = replies.into_iter();
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                let Some((status, body)) = replies.next() else {
                    return;
                };
                let mut buf = Vec::new();
                let mut chunk = [0u8; 65536];
                // Read the head, then the body by Content-Length.
                loop {
                    let n = sock.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).to_string();
                    if let Some(head_end) = text.find("\r\n\r\n") {
                        let len = text[..head_end]
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                            })
                            .unwrap_or(0);
                        if buf.len() >= head_end + 4 + len {
                            break;
                        }
                    }
                }
                log.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&buf).to_string());
                let resp = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = sock.write_all(resp.as_bytes()).await;
                let _ = sock.shutdown().await;
            }
        });
        (format!("http://{addr}"), seen)
    }

    fn client(endpoint: &str, attempts: u32) -> SnowflakeClient {
        let config = SnowflakeConfig::parse(
            &format!("snowflake://acct/DB/S?stage=LAKE&endpoint={endpoint}&max_attempts={attempts}&query_timeout=20"),
            Some("svc"),
        )
        .unwrap();
        SnowflakeClient::new(
            config,
            Credentials::Password(Secret::from("SENTINEL-pw".to_owned())),
            "test",
            "tag",
        )
        .unwrap()
    }

    const LOGIN_OK: &str = r#"{"data":{"token":"T1"},"success":true}"#;

    #[tokio::test]
    async fn retries_5xx_and_429_polls_running_statements_and_surfaces_errors() {
        let (endpoint, seen) = scripted(vec![
            (200, LOGIN_OK.into()),
            (503, "busy".into()),
            (429, "slow down".into()),
            (
                200,
                r#"{"data":{"getResultUrl":"/queries/q1/result"},"code":"333334","success":true}"#.into(),
            ),
            (
                200,
                r#"{"data":{"rowtype":[{"name":"number of rows deleted"}],"rowset":[["7"]],"queryId":"q1"},"success":true}"#.into(),
            ),
            (
                200,
                r#"{"data":{"errorCode":"002003","sqlState":"42S02"},"code":"002003","message":"SQL compilation error: Stage 'LAKE' does not exist or not authorized.","success":false}"#.into(),
            ),
        ])
        .await;
        let mut c = client(&endpoint, 3);
        let r = c.execute("DELETE FROM T", "DELETE FROM T").await.unwrap();
        assert_eq!(r.affected_rows(), Some(7));
        let err = c.execute("COPY INTO T", "COPY ...").await.unwrap_err();
        assert_eq!(err.kind(), FailureKind::Config);
        assert_eq!(
            err.to_string(),
            "Snowflake rejected COPY INTO T: 002003 (42S02): SQL compilation error: Stage 'LAKE' does not exist or not authorized."
        );
        let seen = seen.lock().unwrap();
        assert!(seen[0].starts_with("POST /session/v1/login-request?request_id="));
        assert!(seen[0].contains(r#""LOGIN_NAME":"svc""#) && seen[0].contains("SENTINEL-pw"));
        assert!(seen[1].contains("Snowflake Token=\"T1\""));
        // The retry keeps the request id (Snowflake's de-duplication) and counts.
        let id = |s: &str| s.split("requestId=").nth(1).unwrap()[..36].to_owned();
        assert_eq!(id(&seen[1]), id(&seen[2]));
        assert!(seen[2].contains("retryCount=1") && seen[3].contains("retryCount=2"));
        assert!(seen[4].starts_with("GET /queries/q1/result"));
    }

    #[tokio::test]
    async fn unreachable_is_transient_and_bad_logins_are_configuration() {
        let (endpoint, _) = scripted(vec![(502, "".into()), (502, "".into())]).await;
        let err = client(&endpoint, 2).login().await.unwrap_err();
        assert_eq!(err.kind(), FailureKind::Transient);
        assert!(err.to_string().contains("failed after 2 attempts"), "{err}");

        let (endpoint, _) = scripted(vec![(
            200,
            r#"{"data":null,"code":"390100","message":"Incorrect username or password was specified.","success":false}"#.into(),
        )])
        .await;
        let err = client(&endpoint, 2).login().await.unwrap_err();
        assert_eq!(err.kind(), FailureKind::Config);
        let text = crate::error::error_chain(&err).join(": ");
        assert!(
            text.contains("390100: Incorrect username or password"),
            "{text}"
        );
        assert!(!text.contains("SENTINEL"), "{text}");
    }

    #[tokio::test]
    async fn an_expired_session_is_renewed_with_the_master_token() {
        let (endpoint, seen) = scripted(vec![
            (200, r#"{"data":{"token":"T1","masterToken":"M1"},"success":true}"#.into()),
            (200, r#"{"data":null,"code":"390112","message":"Your session has expired. Please login again.","success":false}"#.into()),
            (200, r#"{"data":{"sessionToken":"T2"},"success":true}"#.into()),
            (200, r#"{"data":{"rowtype":[],"rowset":[]},"success":true}"#.into()),
            (401, r#"{"data":null,"code":"390104","message":"User must login again to access the service.","success":false}"#.into()),
        ])
        .await;
        let mut c = client(&endpoint, 2);
        c.execute("SELECT 1", "SELECT 1").await.unwrap();
        let seen_now = seen.lock().unwrap().clone();
        assert!(seen_now[2].starts_with("POST /session/token-request"));
        assert!(seen_now[2].contains("Snowflake Token=\"M1\""));
        assert!(seen_now[3].contains("Snowflake Token=\"T2\""));
        // No master token left to renew with: the caller must start over.
        c.session.as_mut().unwrap().master_token = None;
        let err = c.execute("SELECT 1", "SELECT 1").await.unwrap_err();
        assert!(matches!(err, WarehouseError::SessionExpired), "{err}");
    }

    /// Each shape a statement's result can take: only a complete JSON rowset is readable.
    #[test]
    fn results_are_readable_only_as_complete_json() {
        let copy_rowtype = json!([{"name":"file"},{"name":"status"},{"name":"rows_parsed"},{"name":"rows_loaded"}]);
        let json_full = QueryResult::from_data(&json!({
            "queryResultFormat": "json", "rowtype": copy_rowtype, "total": 2, "returned": 2,
            "rowset": [["a","LOADED","3","3"],["b","LOADED","4","4"]],
        }));
        assert!(json_full.json);
        assert_eq!(json_full.copy_rows_loaded("COPY", 2).unwrap(), Some(7));
        // Without queryResultFormat (older servers, fakesnow's DML replies): JSON.
        let dml = QueryResult::from_data(
            &json!({"rowtype":[{"name":"number of rows updated"}],"rowset":[["5"]]}),
        );
        assert_eq!(dml.affected_rows(), Some(5));
        for (what, data) in [
            (
                "arrow",
                json!({"queryResultFormat": "arrow", "rowtype": copy_rowtype, "rowsetBase64": "QVJST1cx", "total": 2}),
            ),
            (
                "arrow, empty",
                json!({"queryResultFormat": "arrow", "rowsetBase64": ""}),
            ),
            (
                "json, chunked",
                json!({
                    "queryResultFormat": "json", "rowtype": copy_rowtype, "total": 3,
                    "rowset": [["a","LOADED","3","3"]],
                    "chunks": [{"url": "https://x/chunk1", "rowCount": 2}],
                }),
            ),
            (
                "json, total beyond the rowset",
                json!({
                    "rowtype": copy_rowtype, "total": 3, "rowset": [["a","LOADED","3","3"]],
                }),
            ),
            ("no rowset", json!({"rowtype": copy_rowtype})),
        ] {
            let r = QueryResult::from_data(&data);
            assert!(!r.json, "{what}");
            assert_eq!(r.copy_rows_loaded("COPY", 2).unwrap(), None, "{what}");
            assert_eq!(r.affected_rows(), None, "{what}");
        }
    }

    #[test]
    fn copy_results_are_checked() {
        let result = |rows: Vec<Vec<&str>>| QueryResult {
            columns: ["FILE", "STATUS", "ROWS_PARSED", "ROWS_LOADED"]
                .map(String::from)
                .to_vec(),
            rows: rows
                .into_iter()
                .map(|r| r.into_iter().map(|v| Some(v.to_owned())).collect())
                .collect(),
            json: true,
            query_id: None,
        };
        let ok = result(vec![
            vec!["a", "LOADED", "3", "3"],
            vec!["b", "LOADED", "4", "4"],
        ]);
        assert_eq!(ok.copy_rows_loaded("COPY", 2).unwrap(), Some(7));
        let missing = ok.copy_rows_loaded("COPY", 3).unwrap_err();
        // README: fewer files loaded than listed is exit 3.
        assert_eq!(missing.kind(), FailureKind::Data);
        assert_eq!(missing.kind().exit_code(), 3);
        let skipped = result(vec![vec!["a", "LOAD_SKIPPED", "0", "0"]]);
        assert!(skipped.copy_rows_loaded("COPY", 1).is_err());
        let none = QueryResult {
            columns: vec!["STATUS".into()],
            rows: vec![vec![Some("Copy executed with 0 files processed.".into())]],
            json: true,
            query_id: None,
        };
        let err = none.copy_rows_loaded("COPY INTO T", 2).unwrap_err();
        assert!(err.to_string().contains("0 files processed"), "{err}");
        let arrow = QueryResult::default();
        assert_eq!(arrow.copy_rows_loaded("COPY", 2).unwrap(), None);
    }
}
