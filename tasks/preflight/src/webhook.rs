//! The optional "deploy check" post to the Mattermost webhook: proves the URL works and tells the
//! channel what the check found (check names and key names only, never a value or the URL).
//!
//! Written and sent with the jobs' own client (`ingest_runtime::notify::mattermost`): the same
//! sanitizer (no mention can ping, markdown escaped, control characters shown), the URL redacted,
//! redirects not followed, and the same retries and time limits as the failure alert.

use ingest_runtime::notify::mattermost::{
    self, DEFAULT_USERNAME, Redactor, WebhookError, WebhookPolicy, code_line, inline, plain,
};
use ingest_runtime::secrets::Secret;

use crate::report::{Row, Status};

/// A table cell, a name or an option is cut to this many bytes.
const CELL_BYTES: usize = 300;

/// Who posts, and where (the jobs' `MATTERMOST_USERNAME` / `MATTERMOST_CHANNEL`).
#[derive(Clone, Debug, Default)]
pub struct PostOptions {
    pub username: Option<String>,
    pub icon_url: Option<String>,
    pub channel: Option<String>,
}

/// The message: the verdict and the checks that did not pass.
pub fn message(namespace: &str, release_context: &str, rows: &[Row], verdict: &str) -> String {
    let mut text = format!(
        "#### Deploy check: `{}`\n{}{}\n",
        code_line(namespace, CELL_BYTES),
        if release_context.is_empty() {
            String::new()
        } else {
            format!("{}\n", inline(release_context, CELL_BYTES))
        },
        inline(verdict, CELL_BYTES)
    );
    let problems: Vec<&Row> = rows
        .iter()
        .filter(|r| matches!(r.status, Status::Fail | Status::Unavailable | Status::Warn))
        .collect();
    if !problems.is_empty() {
        text.push_str("\n| check | target | result | detail |\n|---|---|---|---|\n");
        for r in problems.iter().take(30) {
            text.push_str(&format!(
                "| {} | {} | {} | {} |\n",
                inline(r.check, CELL_BYTES),
                inline(&r.target, CELL_BYTES),
                r.status.label(),
                inline(&r.detail, CELL_BYTES)
            ));
        }
    }
    text
}

/// Posts `text`. Errors never contain the URL.
pub async fn post(url: &Secret, text: &str, options: &PostOptions) -> (Status, String) {
    match send(url, text, options, None).await {
        Ok(()) => (Status::Ok, "deploy check posted".into()),
        Err(err) => outcome(&err),
    }
}

/// Posts `text` (already made safe, see [`mattermost`]'s helpers), with `props` for bots, through
/// the jobs' client. Errors never contain the URL.
pub async fn send(
    url: &Secret,
    text: &str,
    options: &PostOptions,
    props: Option<serde_json::Value>,
) -> Result<(), WebhookError> {
    let redactor = Redactor::new(Some(url));
    let mut body = serde_json::json!({
        "text": redactor.apply(text),
        "username": options
            .username
            .as_deref()
            .map_or_else(|| DEFAULT_USERNAME.to_owned(), |u| plain(&redactor.apply(u), CELL_BYTES)),
    });
    if let Some(icon) = &options.icon_url {
        body["icon_url"] = redactor.apply(icon).into_owned().into();
    }
    if let Some(channel) = &options.channel {
        body["channel"] = plain(&redactor.apply(channel), CELL_BYTES).into();
    }
    if let Some(props) = props {
        body["props"] = props;
    }
    mattermost::post_json(url, body.to_string(), &WebhookPolicy::default()).await
}

/// The check's status and detail for a failed post: an answer a retry may change (5xx, 429, 408)
/// or no answer is "unavailable", anything else (a wrong or revoked hook, a redirect) fails.
pub fn outcome(err: &WebhookError) -> (Status, String) {
    match err {
        WebhookError::InvalidUrl => (
            Status::Fail,
            "the webhook URL is not a valid http(s) URL".into(),
        ),
        WebhookError::Client(message) => (Status::Fail, format!("HTTP client: {message}")),
        WebhookError::Http {
            status, attempts, ..
        } if *status >= 500 || matches!(status, 408 | 429) => (
            Status::Unavailable,
            format!("the webhook answered HTTP {status} (after {attempts} attempts)"),
        ),
        WebhookError::Http {
            status,
            body_snippet,
            ..
        } => (
            Status::Fail,
            format!("the webhook answered HTTP {status}: {body_snippet}"),
        ),
        WebhookError::Transport {
            message, attempts, ..
        } => (
            Status::Unavailable,
            format!("cannot reach the webhook: {message} (after {attempts} attempts)"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_lists_problems_without_mentions() {
        let rows = vec![
            Row::new("secret-key", "s/a", "all", Status::Ok, "present"),
            Row::new(
                "s3-list",
                "s3://b/p|x",
                "push-logs",
                Status::Fail,
                "denied @channel\nx",
            ),
        ];
        let text = message("airflow", "", &rows, "preflight FAILED");
        assert!(text.contains("| s3-list | s3://b/p\\|x | FAIL | denied @\u{200B}channel x |"));
        assert!(!text.contains("s/a"));
        assert!(!text.contains("@channel"));
    }

    #[test]
    fn the_message_uses_the_alert_sanitizer() {
        let rows = vec![Row::new(
            "s3-list",
            "s3://b/p",
            "push-logs",
            Status::Fail,
            "@here **bold** @all\u{202e}",
        )];
        let text = message("air@flow", "", &rows, "preflight FAILED");
        assert!(!text.contains("@here") && !text.contains("@all"), "{text}");
        assert!(text.contains(r"\*\*bold\*\*"), "{text}");
        assert!(text.contains(r"\u{202e}"), "{text}");
        assert!(text.contains("`air@\u{200B}flow`"), "{text}");
    }

    /// Answers one request on 127.0.0.1 with `response`; counts the requests it got.
    fn one_shot_server(response: &'static str) -> (u16, std::sync::mpsc::Receiver<String>) {
        use std::io::{BufRead, BufReader, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut head = String::new();
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                    head.push_str(&line);
                }
                let mut body = vec![0; length];
                let _ = reader.read_exact(&mut body);
                let _ = tx.send(head);
                let _ = stream.write_all(response.as_bytes());
            }
        });
        (port, rx)
    }

    #[tokio::test]
    async fn a_redirect_is_not_followed() {
        let (target, target_requests) =
            one_shot_server("HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        let redirect: &'static str = Box::leak(
            format!(
                "HTTP/1.1 302 Found\r\nlocation: http://127.0.0.1:{target}/elsewhere\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            )
            .into_boxed_str(),
        );
        let (hook, hook_requests) = one_shot_server(redirect);
        let url = Secret::from(format!(
            "http://127.0.0.1:{hook}/hooks/SENTINELtoken0123456789"
        ));
        let (status, detail) = post(&url, "deploy check", &PostOptions::default()).await;
        assert_eq!(status, Status::Fail, "{detail}");
        assert!(detail.contains("HTTP 302"), "{detail}");
        assert!(!detail.contains("SENTINEL"), "{detail}");
        assert_eq!(hook_requests.try_iter().count(), 1);
        assert_eq!(
            target_requests.try_iter().count(),
            0,
            "the redirect was followed"
        );
    }
}
