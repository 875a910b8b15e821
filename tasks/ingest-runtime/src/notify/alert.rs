//! The failure alert: one Mattermost post when a run fails.
//!
//! The post is one message attachment (red bar, title, fields) whose text carries the full error
//! chain, up to [`crate::run::SAMPLE_REJECTS`] sample rejected lines and the command that re-runs
//! the date. Every value in it goes through the sanitizer of [`super::mattermost`] (mentions
//! cannot ping, markdown escaped, code fences cannot be closed, the webhook URL redacted), every
//! value is bounded, and the whole JSON payload stays under [`MAX_PAYLOAD_BYTES`] (Mattermost's
//! post limit is 16383 characters): when it would not, the attachment text is cut with a
//! "… (truncated, N more bytes)" note while the title and the fields are kept. It is sent with
//! [`super::mattermost::post_json`].

use std::fmt::Write as _;

use serde::Serialize;

use super::mattermost::{
    DEFAULT_USERNAME, Redactor, WebhookError, WebhookPolicy, code_block, code_line, inline,
    link_destination, plain,
};
use crate::secrets::Secret;

/// The attachment bar colour.
pub const ALERT_COLOR: &str = "#d24b4e";
/// Upper bound of the JSON payload in bytes; Mattermost rejects or splits posts over 16383
/// characters, and characters are never more than bytes.
pub const MAX_PAYLOAD_BYTES: usize = 16_000;

/// Rejected lines quoted at most (the run collects [`crate::run::SAMPLE_REJECTS`]).
const MAX_SAMPLES: usize = 5;
/// A sample's raw line is cut to this many characters.
const SAMPLE_RAW_CHARS: usize = 200;
const SAMPLE_KEY_BYTES: usize = 300;
const SAMPLE_REASON_BYTES: usize = 300;
/// One cause of the error chain, and the whole chain.
const CAUSE_BYTES: usize = 2_000;
const CHAIN_BYTES: usize = 6_000;
const RERUN_BYTES: usize = 3_000;
const FIELD_BYTES: usize = 300;
const TITLE_BYTES: usize = 300;
/// A rejected line quoted in the alert.
#[derive(Clone, Debug)]
pub struct SampleReject {
    pub source_key: String,
    pub line: u64,
    pub raw: String,
    pub reason: String,
}

/// Where and how failure alerts are posted.
///
/// `Debug` is safe: the webhook URL is a [`Secret`].
#[derive(Clone, Debug, Default)]
pub struct AlertConfig {
    /// Incoming-webhook URL; `None` = alerts are off ([`AlertOutcome::NotConfigured`]).
    pub webhook_url: Option<Secret>,
    /// Post username override (default [`DEFAULT_USERNAME`]).
    pub username: Option<String>,
    /// Post icon override.
    pub icon_url: Option<String>,
    /// Channel override (default: the webhook's channel).
    pub channel: Option<String>,
    /// Time limits and attempts of the post.
    pub policy: WebhookPolicy,
}

/// The Airflow task the run belongs to, from the variables the DAGs pass to the pod.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AirflowContext {
    /// `AIRFLOW_CTX_DAG_ID`
    pub dag_id: Option<String>,
    /// `AIRFLOW_CTX_TASK_ID`
    pub task_id: Option<String>,
    /// `AIRFLOW_CTX_DAG_RUN_ID`
    pub dag_run_id: Option<String>,
    /// `AIRFLOW_CTX_TRY_NUMBER`
    pub try_number: Option<String>,
    /// `AIRFLOW_TASK_LOG_URL`
    pub log_url: Option<String>,
}

impl AirflowContext {
    /// Reads the context from the process environment; `None` when none of the variables is
    /// set (to a non-blank value).
    pub fn from_env() -> Option<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Like [`AirflowContext::from_env`] with any variable lookup (for tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Option<Self> {
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let ctx = AirflowContext {
            dag_id: get("AIRFLOW_CTX_DAG_ID"),
            task_id: get("AIRFLOW_CTX_TASK_ID"),
            dag_run_id: get("AIRFLOW_CTX_DAG_RUN_ID"),
            try_number: get("AIRFLOW_CTX_TRY_NUMBER"),
            log_url: get("AIRFLOW_TASK_LOG_URL"),
        };
        (ctx != AirflowContext::default()).then_some(ctx)
    }
}

/// What the alert reports about a failed run.
#[derive(Clone, Debug)]
pub struct Failure {
    pub job: String,
    /// Logical date, `YYYY-MM-DD` (empty when the run failed before it was known).
    pub date: String,
    /// `<schema>.<table>` (may be empty).
    pub table: String,
    /// Lineage run id (may be empty).
    pub run_id: String,
    pub exit_code: i32,
    /// Failure kind in words, e.g. "data error".
    pub kind: String,
    /// The error, then each of its causes.
    pub error_chain: Vec<String>,
    pub files_read: u64,
    pub files_total: u64,
    pub rows_loaded: u64,
    pub rows_rejected: u64,
    pub sample_rejects: Vec<SampleReject>,
    /// A command that re-runs the date, without secrets.
    pub rerun_command: String,
    /// More help after the re-run command, e.g. for too many rejects: the ratio that would
    /// pass, its re-run command, and the queries that show the rejects.
    pub sections: Vec<AlertSection>,
    pub airflow: Option<AirflowContext>,
}

/// A part of the alert after the re-run command: a bold title, one line, a code block.
#[derive(Clone, Debug)]
pub struct AlertSection {
    pub title: String,
    /// One paragraph (markdown is escaped).
    pub text: String,
    /// The code block's language: `sh`, `sql`.
    pub lang: &'static str,
    pub code: String,
}

/// Whether the binary posts its alert for a failure: "one failed date is one post, whatever the
/// retries" (docs/contract.md, "Who alerts").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlertDecision {
    /// Post now.
    Post(PostReason),
    /// Airflow will retry (try < max tries, and the failure is one a retry may fix): stay silent;
    /// the last try posts if it fails too.
    Defer { try_number: u32, max_tries: u32 },
}

/// Why the alert is posted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PostReason {
    /// Exit 1, 2, 3 or 5: no retry follows (the DAG's retry policy fails these at once).
    Deterministic,
    /// The last try Airflow gives the task.
    LastTry,
    /// `AIRFLOW_CTX_TRY_NUMBER` or `INGEST_MAX_TRIES` missing or not a number (a run by hand):
    /// nobody else would report it.
    NoRetryInfo,
}

/// The alert rule. `try_number` is `AIRFLOW_CTX_TRY_NUMBER`, `max_tries` is `INGEST_MAX_TRIES`
/// (retries + 1), both as found in the environment.
pub fn decide(
    kind: crate::error::FailureKind,
    try_number: Option<&str>,
    max_tries: Option<&str>,
) -> AlertDecision {
    if kind.is_deterministic() {
        return AlertDecision::Post(PostReason::Deterministic);
    }
    let number = |v: Option<&str>| {
        v.and_then(|v| v.trim().parse::<u32>().ok())
            .filter(|n| *n >= 1)
    };
    match (number(try_number), number(max_tries)) {
        (Some(try_number), Some(max_tries)) if try_number < max_tries => AlertDecision::Defer {
            try_number,
            max_tries,
        },
        (Some(_), Some(_)) => AlertDecision::Post(PostReason::LastTry),
        _ => AlertDecision::Post(PostReason::NoRetryInfo),
    }
}

/// Posts the failure alert for `failure` when a webhook is configured (see
/// [`super::mattermost::post_json`] for the retries).
pub async fn send_failure_alert(
    cfg: &AlertConfig,
    failure: &Failure,
) -> Result<AlertOutcome, WebhookError> {
    let Some(url) = &cfg.webhook_url else {
        return Ok(AlertOutcome::NotConfigured);
    };
    super::mattermost::post_json(url, payload_json(cfg, failure), &cfg.policy).await?;
    Ok(AlertOutcome::Sent)
}

/// What [`send_failure_alert`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlertOutcome {
    /// The webhook accepted the post.
    Sent,
    /// No webhook URL is configured; nothing was sent.
    NotConfigured,
}

// ---------------------------------------------------------------------------------------------
// Payload

#[derive(Serialize)]
struct Payload {
    username: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    icon_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    channel: Option<String>,
    text: String,
    attachments: [Attachment; 1],
}

#[derive(Serialize)]
struct Attachment {
    fallback: String,
    color: &'static str,
    title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    title_link: Option<String>,
    text: String,
    fields: Vec<Field>,
}

#[derive(Serialize)]
struct Field {
    short: bool,
    title: &'static str,
    value: String,
}

/// The JSON posted to the webhook for `failure`, at most [`MAX_PAYLOAD_BYTES`] long (unless
/// the configured username, icon and channel alone are longer).
pub fn payload_json(cfg: &AlertConfig, failure: &Failure) -> String {
    let redactor = Redactor::new(cfg.webhook_url.as_ref());
    let mut payload = build_payload(cfg, failure, &redactor);
    let mut json = to_json(&payload, &redactor);
    // Cut the attachment text until everything fits; removing n bytes of text removes at least
    // n bytes of JSON, so this converges in a step or two.
    let full = payload.attachments[0].text.clone();
    let mut keep = full.len();
    while json.len() > MAX_PAYLOAD_BYTES && keep > 0 {
        let over = json.len() - MAX_PAYLOAD_BYTES;
        // Room for the note and a closing fence, in their JSON form.
        keep = keep.saturating_sub(over + 64);
        payload.attachments[0].text = truncate_markdown(&full, keep);
        json = to_json(&payload, &redactor);
    }
    json
}

/// The payload as a JSON value (for tests and inspection).
pub fn payload(cfg: &AlertConfig, failure: &Failure) -> serde_json::Value {
    serde_json::from_str(&payload_json(cfg, failure)).unwrap_or_default()
}

fn to_json(payload: &Payload, redactor: &Redactor) -> String {
    // Serializing plain strings cannot fail.
    let json = serde_json::to_string(payload).unwrap_or_default();
    // Last line of defence; every piece was redacted before it was escaped, so this finds
    // nothing unless escaping itself formed the secret.
    redactor.apply(&json).into_owned()
}

/// `airflow tasks clear` for this DAG, task and date, when the run came from Airflow. `-t` is
/// the bare task id: Airflow 3 matches it as a substring (an anchored regex selects nothing),
/// and the DAGs refuse task ids that contain one another. `-s`/`-e` cover the whole day, since
/// a run's logical date is the schedule's time on that day.
fn airflow_clear_command(f: &Failure) -> Option<String> {
    let airflow = f.airflow.as_ref()?;
    let safe = |v: &str| {
        !v.is_empty()
            && v.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    };
    let dag = airflow.dag_id.as_deref().filter(|d| safe(d))?;
    let task = airflow.task_id.as_deref().filter(|t| safe(t))?;
    let date = f.date.as_str();
    let is_date = date.len() == 10 && date.bytes().all(|b| b.is_ascii_digit() || b == b'-');
    is_date.then(|| format!("airflow tasks clear {dag} -t {task} -s {date} -e {date}T23:59:59 -y"))
}

/// Longest task id or table in the title, so "failed for <date>: <kind>" always fits.
const TITLE_PART_BYTES: usize = 64;

fn build_payload(cfg: &AlertConfig, f: &Failure, r: &Redactor) -> Payload {
    let job = inline(&r.apply(&f.job), FIELD_BYTES);
    let date = inline(&r.apply(&f.date), FIELD_BYTES);
    let kind = inline(&r.apply(&f.kind), FIELD_BYTES);
    let when = if f.date.is_empty() {
        String::new()
    } else {
        format!(" for {date}")
    };
    // On-call reads which deployment broke from the title: the Airflow task (`load_eu`) and the
    // table (`push_proxy.logs_eu_new`) name it.
    let task = f
        .airflow
        .as_ref()
        .and_then(|a| a.task_id.as_deref())
        .filter(|t| !t.trim().is_empty())
        .map(|t| format!(" {}", inline(&r.apply(t), TITLE_PART_BYTES)))
        .unwrap_or_default();
    let table = if f.table.trim().is_empty() {
        String::new()
    } else {
        format!(" ({})", inline(&r.apply(&f.table), TITLE_PART_BYTES))
    };
    let title = truncate_inline(
        format!("{job}{task}{table} failed{when}: {kind}"),
        TITLE_BYTES,
    );
    let text = truncate_inline(
        format!(
            ":rotating_light: **{job}**{task}{table} failed{when}: {kind} (exit {})",
            f.exit_code
        ),
        TITLE_BYTES,
    );
    let first_error = f.error_chain.first().map_or("", String::as_str);
    let fallback = plain(
        &r.apply(&format!(
            "{} failed{}: {} (exit {}): {first_error}",
            f.job,
            if f.date.is_empty() {
                String::new()
            } else {
                format!(" for {}", f.date)
            },
            f.kind,
            f.exit_code
        )),
        TITLE_BYTES,
    );
    let log_link = f
        .airflow
        .as_ref()
        .and_then(|a| a.log_url.as_deref())
        .and_then(|u| link_destination(&r.apply(u)));

    Payload {
        username: cfg
            .username
            .as_deref()
            .map(|u| plain(&r.apply(u), FIELD_BYTES))
            .unwrap_or_else(|| DEFAULT_USERNAME.to_owned()),
        icon_url: cfg.icon_url.as_deref().map(|u| r.apply(u).into_owned()),
        channel: cfg
            .channel
            .as_deref()
            .map(|c| plain(&r.apply(c), FIELD_BYTES)),
        text,
        attachments: [Attachment {
            fallback,
            color: ALERT_COLOR,
            title,
            title_link: log_link.clone(),
            text: body(f, r),
            fields: fields(f, r, log_link),
        }],
    }
}

fn fields(f: &Failure, r: &Redactor, log_link: Option<String>) -> Vec<Field> {
    let mut fields = Vec::new();
    let mut text = |title: &'static str, value: &str| {
        if !value.is_empty() {
            fields.push(Field {
                short: true,
                title,
                value: inline(&r.apply(value), FIELD_BYTES),
            });
        }
    };
    text("Job", &f.job);
    text("Date", &f.date);
    text("Table", &f.table);
    text("Exit code", &format!("{} ({})", f.exit_code, f.kind));
    text("Run id", &f.run_id);
    text("Rows loaded", &f.rows_loaded.to_string());
    text("Rows rejected", &f.rows_rejected.to_string());
    text(
        "Files read",
        &format!("{} of {}", f.files_read, f.files_total),
    );
    if let Some(a) = &f.airflow {
        text("Airflow DAG", a.dag_id.as_deref().unwrap_or_default());
        text("Airflow task", a.task_id.as_deref().unwrap_or_default());
        text("DAG run", a.dag_run_id.as_deref().unwrap_or_default());
        text("Try", a.try_number.as_deref().unwrap_or_default());
        match (log_link, &a.log_url) {
            (Some(dest), _) => fields.push(Field {
                short: false,
                title: "Log",
                value: format!("[open the task log]({dest})"),
            }),
            // Not a usable http(s) URL: quote it as text.
            (None, Some(url)) => fields.push(Field {
                short: false,
                title: "Log",
                value: inline(&r.apply(url), FIELD_BYTES),
            }),
            (None, None) => {}
        }
    }
    fields
}

/// The attachment text: error chain, sample rejects, re-run command, each in a code block.
fn body(f: &Failure, r: &Redactor) -> String {
    let mut out = String::from("**Error**\n```text\n");
    // Each cause bounded on its own, so that one huge cause does not hide the others.
    let mut rendered = String::new();
    for (i, cause) in f.error_chain.iter().enumerate() {
        if i > 0 {
            rendered.push_str("\ncaused by: ");
        }
        // Last line of defence: a cause that carries a Debug dump of SDK structs is cut to its
        // readable part (error_chain already does this for run errors).
        let cause = if crate::error::looks_like_debug(cause) {
            crate::error::clean_cause(cause)
        } else {
            cause.clone()
        };
        rendered.push_str(&code_block(&r.apply(cause.trim_end()), CAUSE_BYTES));
    }
    if rendered.is_empty() {
        rendered.push_str("(no error message)");
    }
    out.push_str(&cut_with_note(&rendered, CHAIN_BYTES));
    out.push_str("\n```\n");

    if !f.sample_rejects.is_empty() {
        let shown = f.sample_rejects.len().min(MAX_SAMPLES);
        let _ = writeln!(
            out,
            "**Rejected lines** ({shown} of {} shown)\n```text",
            f.rows_rejected.max(shown as u64)
        );
        for s in f.sample_rejects.iter().take(MAX_SAMPLES) {
            let key = code_line(&r.apply(&s.source_key), SAMPLE_KEY_BYTES);
            let reason = code_line(&r.apply(&s.reason), SAMPLE_REASON_BYTES);
            let mut raw: String = s.raw.chars().take(SAMPLE_RAW_CHARS).collect();
            if raw.len() < s.raw.len() {
                raw.push('…');
            }
            let raw = code_line(&r.apply(&raw), SAMPLE_RAW_CHARS * 4);
            let _ = writeln!(out, "{key}:{} — {reason}\n  {raw}", s.line);
        }
        out.push_str("```\n");
    }

    if let Some(clear) = airflow_clear_command(f) {
        out.push_str("**Re-run from Airflow** (the task's Clear in the Grid view, or)\n```sh\n");
        out.push_str(&code_block(&r.apply(&clear), RERUN_BYTES));
        out.push_str("\n```\n");
    }
    if !f.rerun_command.trim().is_empty() {
        out.push_str("**Re-run**\n```sh\n");
        out.push_str(&code_block(&r.apply(f.rerun_command.trim()), RERUN_BYTES));
        out.push_str("\n```\n");
    }
    for section in &f.sections {
        let _ = writeln!(out, "**{}**", inline(&r.apply(&section.title), FIELD_BYTES));
        if !section.text.trim().is_empty() {
            let _ = writeln!(out, "{}", inline(&r.apply(&section.text), RERUN_BYTES));
        }
        if !section.code.trim().is_empty() {
            let lang: String = section
                .lang
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .collect();
            let _ = writeln!(out, "```{lang}");
            out.push_str(&code_block(&r.apply(section.code.trim()), RERUN_BYTES));
            out.push_str("\n```\n");
        }
    }
    out.truncate(out.trim_end().len());
    out
}

/// Cuts already-sanitized markdown to at most `keep` bytes (plus the note), closing a code block
/// left open and saying how much was dropped.
fn truncate_markdown(text: &str, keep: usize) -> String {
    if text.len() <= keep {
        return text.to_owned();
    }
    let mut end = keep;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    // Prefer a line boundary when there is one nearby.
    if let Some(nl) = text[..end].rfind('\n')
        && end - nl < 200
    {
        end = nl;
    }
    let mut out = text[..end].to_owned();
    // Sanitized content never holds two backticks in a row: every ``` is one of our fences.
    if out.matches("```").count() % 2 == 1 {
        out.push_str("\n```");
    }
    let _ = write!(out, "\n… (truncated, {} more bytes)", text.len() - end);
    out
}

/// Cuts sanitized code-block text to `max` bytes with a note.
fn cut_with_note(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!(
        "{}\n… (truncated, {} more bytes)",
        &text[..end],
        text.len() - end
    )
}

fn truncate_inline(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        // Do not leave a dangling escape backslash.
        let trailing = s[..end].bytes().rev().take_while(|&b| b == b'\\').count();
        if trailing % 2 == 1 {
            end -= 1;
        }
        s.truncate(end);
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::REDACTED;
    use serde_json::Value;

    const WEBHOOK: &str = "https://chat.example.com/hooks/SENTINELhooktoken0123456789";

    fn cfg() -> AlertConfig {
        AlertConfig {
            webhook_url: Some(Secret::from(WEBHOOK.to_owned())),
            ..AlertConfig::default()
        }
    }

    fn failure() -> Failure {
        Failure {
            job: "push-logs".into(),
            date: "2026-11-20".into(),
            table: "push_proxy.logs_us_new".into(),
            run_id: "20261120T0300Z-ab12".into(),
            exit_code: 3,
            kind: "data error".into(),
            error_chain: vec![
                "cannot read AWSLogs/1/elb/2026/11/20/a.log.gz at line 17: the file is corrupt or truncated".into(),
                "corrupt deflate stream".into(),
            ],
            files_read: 3,
            files_total: 7,
            rows_loaded: 1200,
            rows_rejected: 40,
            sample_rejects: vec![SampleReject {
                source_key: "AWSLogs/1/elb/2026/11/20/a.log.gz".into(),
                line: 17,
                raw: "h2 2026-11-20T00:00:01Z app/x".into(),
                reason: "expected 29 fields, got 3".into(),
            }],
            rerun_command: "push-logs --date 2026-11-20 --source s3://b/p --table push_proxy.logs_us_new --lake ./lake".into(),
            sections: Vec::new(),
            airflow: None,
        }
    }

    fn attachment(v: &Value) -> &Value {
        &v["attachments"][0]
    }

    fn field<'a>(v: &'a Value, title: &str) -> Option<&'a str> {
        attachment(v)["fields"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["title"] == title)
            .map(|f| f["value"].as_str().unwrap())
    }

    /// Every string in the payload.
    fn strings(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::String(s) => out.push(s.clone()),
            Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
            Value::Object(o) => o.values().for_each(|x| strings(x, out)),
            _ => {}
        }
    }

    #[test]
    fn payload_has_the_expected_shape() {
        let v = payload(&cfg(), &failure());
        assert_eq!(v["username"], "ingest-bot");
        assert!(v.get("channel").is_none());
        assert!(v.get("icon_url").is_none());
        let text = v["text"].as_str().unwrap();
        assert!(text.contains("push-logs") && text.contains("2026-11-20"));
        assert!(!text.contains('\n'));
        let a = attachment(&v);
        assert_eq!(a["color"], "#d24b4e");
        assert_eq!(
            a["title"],
            "push-logs (push\\_proxy.logs\\_us\\_new) failed for 2026-11-20: data error"
        );
        assert!(a["fallback"].as_str().unwrap().contains("corrupt"));
        assert_eq!(field(&v, "Job"), Some("push-logs"));
        assert_eq!(field(&v, "Date"), Some("2026-11-20"));
        assert_eq!(field(&v, "Table"), Some(r"push\_proxy.logs\_us\_new"));
        assert_eq!(field(&v, "Exit code"), Some("3 (data error)"));
        assert_eq!(field(&v, "Run id"), Some("20261120T0300Z-ab12"));
        assert_eq!(field(&v, "Rows loaded"), Some("1200"));
        assert_eq!(field(&v, "Rows rejected"), Some("40"));
        assert_eq!(field(&v, "Files read"), Some("3 of 7"));
        assert!(field(&v, "Airflow DAG").is_none());
        assert!(
            a["fields"]
                .as_array()
                .unwrap()
                .iter()
                .all(|f| f["short"].is_boolean())
        );

        let body = a["text"].as_str().unwrap();
        assert!(
            body.contains(
                "cannot read AWSLogs/1/elb/2026/11/20/a.log.gz at line 17: the file is corrupt or truncated\ncaused by: corrupt deflate stream\n"
            ),
            "{body}"
        );
        assert!(body.contains(
            "AWSLogs/1/elb/2026/11/20/a.log.gz:17 — expected 29 fields, got 3\n  h2 2026-11-20T00:00:01Z app/x\n"
        ));
        assert!(body.contains("(1 of 40 shown)"));
        assert!(body.contains("```sh\npush-logs --date 2026-11-20 --source s3://b/p"));
        assert_eq!(
            body.matches("```").count(),
            6,
            "three closed code blocks: {body}"
        );
    }

    #[test]
    fn overrides_and_airflow_context_become_fields() {
        let mut c = cfg();
        c.username = Some("ingest".into());
        c.icon_url = Some("https://example.com/i.png".into());
        c.channel = Some("data-alerts".into());
        let mut f = failure();
        f.airflow = AirflowContext::from_lookup(|name| {
            Some(match name {
                "AIRFLOW_CTX_DAG_ID" => "push_logs_us".into(),
                "AIRFLOW_CTX_TASK_ID" => "load".into(),
                "AIRFLOW_CTX_DAG_RUN_ID" => "scheduled__2026-11-20T00:00:00+00:00".into(),
                "AIRFLOW_CTX_TRY_NUMBER" => "2".into(),
                "AIRFLOW_TASK_LOG_URL" => {
                    "https://airflow.example.com/dags/push_logs_us/grid?dag_run_id=x(1)&task_id=load".into()
                }
                _ => return None,
            })
        });
        let v = payload(&c, &f);
        assert_eq!(v["username"], "ingest");
        assert_eq!(v["icon_url"], "https://example.com/i.png");
        assert_eq!(v["channel"], "data-alerts");
        assert_eq!(field(&v, "Airflow DAG"), Some(r"push\_logs\_us"));
        assert_eq!(field(&v, "Airflow task"), Some("load"));
        assert_eq!(
            field(&v, "DAG run"),
            Some(r"scheduled\_\_2026-11-20T00:00:00+00:00")
        );
        assert_eq!(field(&v, "Try"), Some("2"));
        let dest =
            "https://airflow.example.com/dags/push_logs_us/grid?dag_run_id=x%281%29&task_id=load";
        assert_eq!(
            field(&v, "Log"),
            Some(format!("[open the task log]({dest})").as_str())
        );
        assert_eq!(attachment(&v)["title_link"], dest);
    }

    #[test]
    fn the_alert_rule_posts_once_per_failed_date() {
        use crate::error::FailureKind::*;
        use AlertDecision::{Defer, Post};
        use PostReason::*;
        let cases: &[(
            crate::error::FailureKind,
            Option<&str>,
            Option<&str>,
            AlertDecision,
        )] = &[
            // A retry may fix it: silent until the last try.
            (
                Transient,
                Some("1"),
                Some("3"),
                Defer {
                    try_number: 1,
                    max_tries: 3,
                },
            ),
            (
                Transient,
                Some("2"),
                Some("3"),
                Defer {
                    try_number: 2,
                    max_tries: 3,
                },
            ),
            (Transient, Some("3"), Some("3"), Post(LastTry)),
            (
                Interrupted,
                Some(" 1 "),
                Some("2"),
                Defer {
                    try_number: 1,
                    max_tries: 2,
                },
            ),
            (Interrupted, Some("2"), Some("2"), Post(LastTry)),
            // Past the last try (tries cleared and re-run by hand in Airflow): still post.
            (Transient, Some("5"), Some("3"), Post(LastTry)),
            (Transient, Some("1"), Some("1"), Post(LastTry)),
            // No retry follows a deterministic failure: post on the first try.
            (Internal, Some("1"), Some("3"), Post(Deterministic)),
            (Config, Some("1"), Some("3"), Post(Deterministic)),
            (Data, Some("1"), Some("3"), Post(Deterministic)),
            (OutOfTime, Some("1"), Some("3"), Post(Deterministic)),
            // By hand, or values that make no sense: post, nobody else would.
            (Transient, None, Some("3"), Post(NoRetryInfo)),
            (Transient, Some("1"), None, Post(NoRetryInfo)),
            (Transient, None, None, Post(NoRetryInfo)),
            (Transient, Some("one"), Some("3"), Post(NoRetryInfo)),
            (Transient, Some("1"), Some(""), Post(NoRetryInfo)),
            (Transient, Some("0"), Some("3"), Post(NoRetryInfo)),
            (Interrupted, Some("1"), Some("-3"), Post(NoRetryInfo)),
        ];
        for (kind, try_number, max_tries, expected) in cases {
            assert_eq!(
                decide(*kind, *try_number, *max_tries),
                *expected,
                "{kind:?} try {try_number:?} of {max_tries:?}"
            );
        }
    }

    #[test]
    fn the_title_names_the_deployment_and_airflow_gets_its_clear_command() {
        let mut f = failure();
        f.table = "push_proxy.logs_eu_new".into();
        f.airflow = Some(AirflowContext {
            dag_id: Some("ingest_push_logs".into()),
            task_id: Some("load_eu".into()),
            dag_run_id: Some("scheduled__2026-11-20T01:30:00+00:00".into()),
            try_number: Some("3".into()),
            log_url: None,
        });
        let r = Redactor::new(None);
        let payload = build_payload(&AlertConfig::default(), &f, &r);
        assert!(
            payload.attachments[0].title.starts_with(
                "push-logs load\\_eu (push\\_proxy.logs\\_eu\\_new) failed for 2026-11-20"
            ),
            "{}",
            payload.attachments[0].title
        );
        assert!(
            payload
                .text
                .contains("**push-logs** load\\_eu (push\\_proxy.logs\\_eu\\_new) failed"),
            "{}",
            payload.text
        );
        let body = &payload.attachments[0].text;
        let clear = "airflow tasks clear ingest_push_logs -t load_eu -s 2026-11-20 -e 2026-11-20T23:59:59 -y";
        assert!(body.contains(clear), "{body}");
        // Before the binary's own re-run: on-call re-runs from Airflow first.
        assert!(
            body.find(clear).unwrap() < body.find("**Re-run**").unwrap(),
            "{body}"
        );

        // Outside Airflow (no context) there is no Airflow command, and nothing odd is quoted.
        f.airflow = None;
        let body = build_payload(&AlertConfig::default(), &f, &r).attachments[0]
            .text
            .clone();
        assert!(!body.contains("airflow tasks clear"), "{body}");
        f.airflow = Some(AirflowContext {
            dag_id: Some("ingest; rm -rf /".into()),
            task_id: Some("load_eu".into()),
            dag_run_id: None,
            try_number: None,
            log_url: None,
        });
        let body = build_payload(&AlertConfig::default(), &f, &r).attachments[0]
            .text
            .clone();
        assert!(!body.contains("airflow tasks clear"), "{body}");
    }

    #[test]
    fn sections_follow_the_rerun_command_in_code_blocks() {
        let mut f = failure();
        f.sections = vec![
            AlertSection {
                title: "Accept these rejects".into(),
                text: "--max-reject-ratio 0.034 would pass *this* run".into(),
                lang: "sh",
                code: "push-logs --date 2026-11-20 --max-reject-ratio 0.034 @channel".into(),
            },
            AlertSection {
                title: "Look at the rejects".into(),
                text: String::new(),
                lang: "sql",
                code: "SELECT reason FROM read_parquet('x/*.parquet') ```".into(),
            },
        ];
        let v = payload(&cfg(), &f);
        let body = attachment(&v)["text"].as_str().unwrap();
        let rerun = body.find("**Re-run**").unwrap();
        let accept = body.find("**Accept these rejects**\n--max-reject-ratio 0.034 would pass \\*this\\* run\n```sh\npush-logs --date 2026-11-20 --max-reject-ratio 0.034 @\u{200B}channel\n```").unwrap();
        let look = body.find("**Look at the rejects**\n```sql\nSELECT reason FROM read_parquet('x/*.parquet') `\u{200B}`\u{200B}`\n```").unwrap();
        assert!(rerun < accept && accept < look, "{body}");
        assert_eq!(
            body.matches("```").count(),
            10,
            "five closed code blocks: {body}"
        );
    }

    #[test]
    fn airflow_context_from_lookup() {
        assert_eq!(AirflowContext::from_lookup(|_| None), None);
        assert_eq!(AirflowContext::from_lookup(|_| Some("  ".into())), None);
        let ctx =
            AirflowContext::from_lookup(|n| (n == "AIRFLOW_CTX_TRY_NUMBER").then(|| " 3 ".into()))
                .unwrap();
        assert_eq!(ctx.try_number.as_deref(), Some("3"));
        assert_eq!(ctx.dag_id, None);
        assert_eq!(ctx.log_url, None);
    }

    #[test]
    fn a_log_url_that_is_not_http_is_quoted_not_linked() {
        let mut f = failure();
        f.airflow = Some(AirflowContext {
            log_url: Some("javascript:alert(1)".into()),
            ..AirflowContext::default()
        });
        let v = payload(&cfg(), &f);
        assert_eq!(field(&v, "Log"), Some("javascript:alert(1)"));
        assert!(attachment(&v).get("title_link").is_none());
    }

    #[test]
    fn mentions_never_ping() {
        let mut f = failure();
        f.job = "@channel".into();
        f.table = "x.@here".into();
        f.error_chain = vec!["hello @all and @channel".into(), "@here".into()];
        f.sample_rejects[0].raw = "user @someone wrote".into();
        f.sample_rejects[0].reason = "@channel".into();
        f.sample_rejects[0].source_key = "@all/key".into();
        f.rerun_command = "push-logs --source s3://@here".into();
        f.airflow = Some(AirflowContext {
            dag_id: Some("@all".into()),
            log_url: Some("https://a.example.com/@channel".into()),
            ..AirflowContext::default()
        });
        let mut c = cfg();
        c.username = Some("@all".into());
        let json = payload_json(&c, &f);
        let v: Value = serde_json::from_str(&json).unwrap();
        let mut all = Vec::new();
        strings(&v, &mut all);
        let mut ats = 0;
        for s in &all {
            for (i, _) in s.match_indices('@') {
                ats += 1;
                assert!(
                    s[i + 1..].starts_with('\u{200B}'),
                    "unneutralized @ in {s:?}"
                );
            }
            for word in ["@channel", "@all", "@here", "@someone"] {
                assert!(!s.contains(word), "{word} in {s:?}");
            }
        }
        assert!(ats >= 10, "the @ signs are kept, only neutralized ({ats})");
        // In the link destination the @ is percent-encoded instead.
        assert!(json.contains("https://a.example.com/%40channel"));
    }

    #[test]
    fn backtick_runs_cannot_close_a_code_block() {
        let mut f = failure();
        f.error_chain = vec!["bad ```\n**bold** @channel\n````".into()];
        f.sample_rejects[0].raw = "x ``` y ````` z".into();
        f.sample_rejects[0].reason = "```".into();
        f.rerun_command = "push-logs ``` `".into();
        let v = payload(&cfg(), &f);
        let body = attachment(&v)["text"].as_str().unwrap();
        // Only our own fences: six, for three blocks.
        assert_eq!(body.matches("```").count(), 6, "{body}");
        for line in body.lines().filter(|l| !l.starts_with("```")) {
            assert!(!line.contains("``"), "two backticks in a row: {line:?}");
        }
        assert!(body.contains("bad `\u{200B}`\u{200B}`\n**bold**"), "{body}");
        // The lines are kept otherwise (markdown inside code blocks is not rendered).
        assert!(body.contains("**bold** @\u{200B}channel"));
    }

    #[test]
    fn fenced_content_starts_and_ends_on_fence_lines() {
        let v = payload(&cfg(), &failure());
        let body = attachment(&v)["text"].as_str().unwrap();
        let mut open = false;
        for line in body.lines() {
            if line.contains("```") {
                assert!(line.starts_with("```"), "fence not at line start: {line:?}");
                open = !open;
            }
        }
        assert!(!open);
    }

    #[test]
    fn markdown_outside_code_blocks_is_escaped() {
        let mut f = failure();
        f.table = "s.[click](https://evil.example)".into();
        f.job = "*job*_#~|<x>".into();
        let v = payload(&cfg(), &f);
        assert_eq!(
            field(&v, "Table"),
            Some(r"s.\[click\](https://evil.example)")
        );
        assert_eq!(field(&v, "Job"), Some(r"\*job\*\_\#\~\|\<x\>"));
        assert!(
            attachment(&v)["title"]
                .as_str()
                .unwrap()
                .starts_with(r"\*job\*")
        );
    }

    #[test]
    fn control_and_invisible_characters_are_escaped() {
        let mut f = failure();
        f.error_chain = vec!["a\u{1b}[31mred\u{7} b\r\nc\u{202e}d\u{200b}e\u{0}".into()];
        f.sample_rejects[0].raw = "x\ty\nz\u{85}".into();
        f.date = "2026-11-20\nINJECTED".into();
        let v = payload(&cfg(), &f);
        let body = attachment(&v)["text"].as_str().unwrap();
        assert!(
            body.contains(r"a\u{1b}[31mred\u{7} b") && body.contains(r"c\u{202e}d\u{200b}e\u{0}"),
            "{body}"
        );
        assert!(body.contains(" b\nc"), "CRLF becomes one newline: {body}");
        assert!(body.contains(r"  x y z\u{85}"), "{body}");
        assert_eq!(field(&v, "Date"), Some("2026-11-20 INJECTED"));
        let mut all = Vec::new();
        strings(&v, &mut all);
        for s in all {
            assert!(
                !s.chars()
                    .any(|c| (c.is_control() && c != '\n') || c == '\u{202e}'),
                "{s:?}"
            );
        }
    }

    #[test]
    fn samples_are_capped_and_truncated() {
        let mut f = failure();
        f.sample_rejects = (0..8)
            .map(|i| SampleReject {
                source_key: format!("k{i}"),
                line: i,
                raw: "A".repeat(300),
                reason: "bad".into(),
            })
            .collect();
        let v = payload(&cfg(), &f);
        let body = attachment(&v)["text"].as_str().unwrap();
        assert!(body.contains("k4:4 — bad"));
        assert!(!body.contains("k5:5"), "at most 5 samples");
        assert!(body.contains("(5 of 40 shown)"));
        assert!(
            body.contains(&format!("  {}…\n", "A".repeat(200))),
            "{body}"
        );
        assert!(!body.contains(&"A".repeat(201)));
    }

    #[test]
    fn huge_input_is_bounded_and_keeps_title_and_fields() {
        let mut f = failure();
        f.error_chain = (0..50)
            .map(|i| format!("cause {i}: {}", "@é`x".repeat(2_000)))
            .collect();
        f.sample_rejects = (0..5)
            .map(|i| SampleReject {
                source_key: "@".repeat(5_000),
                line: i,
                raw: "\u{1}".repeat(10_000),
                reason: "\"\\".repeat(5_000),
            })
            .collect();
        f.table = "@".repeat(50_000);
        f.rerun_command = "\\\"".repeat(20_000);
        f.airflow = Some(AirflowContext {
            dag_id: Some("_".repeat(10_000)),
            task_id: Some("@".repeat(10_000)),
            dag_run_id: Some("<".repeat(10_000)),
            try_number: Some("1".repeat(10_000)),
            log_url: Some(format!("https://x.example/{}", "a".repeat(10_000))),
        });
        let json = payload_json(&cfg(), &f);
        assert!(json.len() <= MAX_PAYLOAD_BYTES, "{} bytes", json.len());
        let v: Value = serde_json::from_str(&json).unwrap();
        let a = attachment(&v);
        let title = a["title"].as_str().unwrap();
        assert!(title.starts_with("push-logs "), "{title}");
        assert!(
            title.ends_with(" failed for 2026-11-20: data error"),
            "{title}"
        );
        assert_eq!(field(&v, "Files read"), Some("3 of 7"));
        assert!(field(&v, "Table").unwrap().len() <= FIELD_BYTES + 3);
        assert!(field(&v, "Try").is_some());
        let body = a["text"].as_str().unwrap();
        assert!(body.contains("more bytes)"), "{body}");
        assert!(body.starts_with("**Error**\n```text\ncause 0: "));
        assert_eq!(body.matches("```").count() % 2, 0, "code blocks closed");
    }

    #[test]
    fn a_long_body_is_cut_with_a_note() {
        let mut f = failure();
        // Many moderate causes: each fits, the chain does not.
        f.error_chain = (0..40)
            .map(|i| format!("cause {i} {}", "x".repeat(300)))
            .collect();
        let v = payload(&cfg(), &f);
        let body = attachment(&v)["text"].as_str().unwrap();
        assert!(body.contains("cause 0 "));
        assert!(!body.contains("cause 39 "));
        let note = body
            .lines()
            .find(|l| l.starts_with("… (truncated, "))
            .expect("a truncation note");
        let n: usize = note["… (truncated, ".len()..]
            .trim_end_matches(" more bytes)")
            .parse()
            .unwrap();
        assert!(n > 5_000, "{note}");
        // The re-run command still follows.
        assert!(body.contains("```sh\npush-logs --date 2026-11-20"));
    }

    #[test]
    fn truncate_markdown_closes_an_open_fence() {
        let text = format!("**Error**\n```text\n{}\n```\nend", "y".repeat(1000));
        let cut = truncate_markdown(&text, 300);
        assert!(cut.len() < 400);
        assert_eq!(cut.matches("```").count(), 2, "{cut}");
        assert!(cut.ends_with(&format!(
            "\n```\n… (truncated, {} more bytes)",
            text.len() - (cut.find("\n```\n…").unwrap())
        )));
        assert_eq!(truncate_markdown("short", 300), "short");
    }

    #[test]
    fn the_webhook_url_is_redacted_everywhere() {
        let mut f = failure();
        f.error_chain = vec![
            format!("posting to {WEBHOOK} failed"),
            "hook SENTINELhooktoken0123456789 unknown".into(),
            "path /hooks/SENTINELhooktoken0123456789/ refused".into(),
        ];
        f.rerun_command = format!("push-logs --source {WEBHOOK}");
        f.sample_rejects[0].raw = WEBHOOK.into();
        f.airflow = Some(AirflowContext {
            log_url: Some(WEBHOOK.into()),
            dag_id: Some(WEBHOOK.into()),
            ..AirflowContext::default()
        });
        let mut c = cfg();
        c.channel = Some(WEBHOOK.into());
        let json = payload_json(&c, &f);
        assert!(!json.contains("SENTINEL"), "{json}");
        assert!(!json.contains("chat.example.com/hooks"), "{json}");
        assert!(json.matches(REDACTED).count() >= 6, "{json}");
        // Still valid JSON.
        let v: Value = serde_json::from_str(&json).unwrap();
        assert!(
            attachment(&v)["text"]
                .as_str()
                .unwrap()
                .contains("posting to [redacted] failed")
        );
    }

    #[tokio::test]
    async fn not_configured_sends_nothing() {
        let outcome = send_failure_alert(&AlertConfig::default(), &failure())
            .await
            .unwrap();
        assert_eq!(outcome, AlertOutcome::NotConfigured);
    }

    #[tokio::test]
    async fn an_invalid_url_is_reported_without_its_value() {
        let c = AlertConfig {
            webhook_url: Some(Secret::from("not a url SENTINEL".to_owned())),
            ..AlertConfig::default()
        };
        let err = send_failure_alert(&c, &failure()).await.unwrap_err();
        assert!(matches!(err, WebhookError::InvalidUrl));
        assert!(!format!("{err} {err:?}").contains("SENTINEL"));
    }
}
