//! The optional "deploy check" post to the Mattermost webhook: proves the URL works and tells the
//! channel what the check found (check names and key names only, never a value or the URL).

use std::time::Duration;

use ingest_runtime::secrets::Secret;

use crate::report::{Row, Status};

/// Attempts on a connection error or a 5xx/429 answer.
const ATTEMPTS: u32 = 3;

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
        neutralize(namespace),
        if release_context.is_empty() {
            String::new()
        } else {
            format!("{}\n", neutralize(release_context))
        },
        neutralize(verdict)
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
                r.check,
                cell(&r.target),
                r.status.label(),
                cell(&r.detail)
            ));
        }
    }
    text
}

/// Mentions cannot ping anyone; `|` and newlines cannot break the table.
fn neutralize(text: &str) -> String {
    text.replace('@', "@\u{200B}")
}

fn cell(text: &str) -> String {
    let text = neutralize(text)
        .replace('|', "\\|")
        .replace(['\n', '\r'], " ");
    if text.chars().count() > 300 {
        text.chars().take(300).collect::<String>() + "…"
    } else {
        text
    }
}

/// Posts `text`. Errors never contain the URL.
pub async fn post(url: &Secret, text: &str, options: &PostOptions) -> (Status, String) {
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(5))
        .build()
    {
        Ok(c) => c,
        Err(e) => return (Status::Fail, format!("HTTP client: {}", e.without_url())),
    };
    let mut body = serde_json::json!({
        "text": text,
        "username": options.username.as_deref().unwrap_or("ingest-bot"),
    });
    if let Some(icon) = &options.icon_url {
        body["icon_url"] = icon.clone().into();
    }
    if let Some(channel) = &options.channel {
        body["channel"] = channel.clone().into();
    }
    let mut last = (Status::Unavailable, String::new());
    for attempt in 1..=ATTEMPTS {
        if attempt > 1 {
            tokio::time::sleep(Duration::from_millis(500 * u64::from(attempt))).await;
        }
        match client.post(url.expose()).json(&body).send().await {
            Ok(response) => {
                let status = response.status();
                if status.is_success() {
                    return (
                        Status::Ok,
                        format!("deploy check posted (HTTP {})", status.as_u16()),
                    );
                }
                last = (
                    if status.is_server_error() || status.as_u16() == 429 {
                        Status::Unavailable
                    } else {
                        Status::Fail
                    },
                    format!("the webhook answered HTTP {}", status.as_u16()),
                );
                if last.0 == Status::Fail {
                    return last;
                }
            }
            Err(e) if e.is_builder() => {
                return (Status::Fail, "the webhook URL is not a valid URL".into());
            }
            Err(e) => {
                last = (
                    Status::Unavailable,
                    format!("cannot reach the webhook: {}", e.without_url()),
                )
            }
        }
    }
    last.1 = format!("{} (after {ATTEMPTS} attempts)", last.1);
    last
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
}
