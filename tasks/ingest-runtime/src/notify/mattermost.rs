//! The one Mattermost incoming-webhook client: the jobs' failure alert and preflight's deploy
//! check both post through it, with the same sanitizer, the same redaction and the same sending
//! rules.
//!
//! Everything in a post that comes from outside the code (error messages, object keys, raw lines,
//! options, Airflow context, Kubernetes names) is untrusted:
//!
//! * every `@` is followed by a zero-width space, so `@channel`, `@all`, `@here` or `@someone`
//!   never notify anyone;
//! * text outside code blocks has its markdown characters backslash-escaped ([`inline`]), and text
//!   inside code blocks never contains two backticks in a row, so it cannot close the fence;
//! * control characters and invisible or bidirectional formatting characters are shown as
//!   `\u{..}` escapes;
//! * the webhook URL (and its path and token) is replaced by `[redacted]` wherever it appears
//!   ([`Redactor`]).
//!
//! Sending ([`post_json`]): one `reqwest` client (rustls with the ring provider, roots from the
//! platform verifier, i.e. the system store such as `/etc/ssl/certs/ca-certificates.crt`),
//! redirects off (a webhook does not redirect, and following one could send the post, and the
//! URL's token, elsewhere), a time limit per attempt and across attempts, retries with backoff on
//! transport errors, 5xx, 408 and 429. Other 4xx (a wrong or revoked webhook) are not retried.
//! [`WebhookError`] never contains the URL, so it is safe to log.

use std::cell::Cell;
use std::fmt::Write as _;
use std::sync::Once;
use std::time::{Duration, Instant};

use backon::Retryable as _;

use crate::retry::RetryPolicy;
use crate::secrets::{REDACTED, Secret};

/// Who posts, unless configured otherwise.
pub const DEFAULT_USERNAME: &str = "ingest-bot";
/// Longest URL kept as a link.
const LINK_BYTES: usize = 2_000;
/// The start of an error answer's body quoted in the error.
const SNIPPET_BYTES: usize = 200;
/// Longest pause between attempts, whatever `Retry-After` says.
const MAX_PAUSE: Duration = Duration::from_secs(5);

/// How a post is sent: time limits and attempts.
#[derive(Clone, Debug)]
pub struct WebhookPolicy {
    /// Time limit of one attempt, from connecting to the end of the answer (default 10 s).
    pub timeout: Duration,
    /// Time limit for establishing the connection of one attempt (default 5 s).
    pub connect_timeout: Duration,
    /// Attempts in all, at least 1 (default 3).
    pub attempts: u32,
    /// Pause before the first retry, doubled for each next one, plus jitter (default 500 ms); see
    /// [`crate::retry`].
    pub backoff: Duration,
    /// Time limit across all attempts and pauses (default 25 s), so that a hanging webhook
    /// cannot keep an interrupted pod past Kubernetes' default 30 s termination grace period.
    pub total_timeout: Duration,
}

impl Default for WebhookPolicy {
    fn default() -> Self {
        WebhookPolicy {
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            attempts: 3,
            backoff: Duration::from_millis(500),
            total_timeout: Duration::from_secs(25),
        }
    }
}

/// Why a post failed. Never contains the webhook URL: safe to log.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("the Mattermost webhook URL (MATTERMOST_WEBHOOK_URL) is not a valid http(s) URL")]
    InvalidUrl,
    #[error("cannot set up the HTTP client for the Mattermost webhook: {0}")]
    Client(String),
    #[error(
        "the Mattermost webhook answered HTTP {status} (attempt {attempts} of at most {max_attempts}){}",
        colon_prefixed(.body_snippet)
    )]
    Http {
        status: u16,
        /// The start of the answer's body, single line, URL redacted.
        body_snippet: String,
        attempts: u32,
        max_attempts: u32,
    },
    #[error(
        "cannot reach the Mattermost webhook (attempt {attempts} of at most {max_attempts}): {message}"
    )]
    Transport {
        /// The transport error's chain, without the URL.
        message: String,
        attempts: u32,
        max_attempts: u32,
    },
}

fn colon_prefixed(s: &str) -> String {
    if s.is_empty() {
        String::new()
    } else {
        format!(": {s}")
    }
}

impl WebhookError {
    /// Attempts made before giving up (0 when none was made).
    pub fn attempts(&self) -> u32 {
        match self {
            WebhookError::InvalidUrl | WebhookError::Client(_) => 0,
            WebhookError::Http { attempts, .. } | WebhookError::Transport { attempts, .. } => {
                *attempts
            }
        }
    }
}

/// Posts `body` (a JSON payload, already sanitized and redacted) to the webhook at `url`.
///
/// Retries transport errors, timeouts, 5xx, 408 and 429 with backoff, within `policy.attempts`
/// and `policy.total_timeout`; other answers fail at once.
pub async fn post_json(
    url: &Secret,
    body: String,
    policy: &WebhookPolicy,
) -> Result<(), WebhookError> {
    let redactor = Redactor::new(Some(url));
    let url = reqwest::Url::parse(url.expose().trim()).map_err(|_| WebhookError::InvalidUrl)?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(WebhookError::InvalidUrl);
    }

    ensure_crypto_provider();
    let client = reqwest::Client::builder()
        .connect_timeout(policy.connect_timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("ingest-runtime/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| WebhookError::Client(describe_transport(e, &redactor)))?;

    let max_attempts = policy.attempts.max(1);
    let retry = RetryPolicy {
        attempts: max_attempts,
        first_pause: policy.backoff,
        max_pause: MAX_PAUSE,
        max_retry_after: MAX_PAUSE,
        budget: Some(policy.total_timeout),
    };
    let started = Instant::now();
    let attempt = Cell::new(0);
    let result = (|| {
        let n = attempt.get() + 1;
        attempt.set(n);
        let (client, url, body, redactor) = (&client, &url, &body, &redactor);
        async move {
            let remaining = policy.total_timeout.saturating_sub(started.elapsed());
            if remaining.is_zero() {
                return Err(Failed::last(WebhookError::Transport {
                    message: "no time left for an attempt".into(),
                    attempts: n - 1,
                    max_attempts,
                }));
            }
            let sent = client
                .post(url.clone())
                .timeout(policy.timeout.min(remaining))
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.clone())
                .send()
                .await;
            match sent {
                Ok(resp) if resp.status().is_success() => Ok(()),
                Ok(resp) => {
                    let status = resp.status();
                    let retry_after = crate::retry::retry_after(resp.headers());
                    let body_snippet = read_snippet(resp, redactor).await;
                    Err(Failed {
                        retryable: status.is_server_error()
                            || status == reqwest::StatusCode::TOO_MANY_REQUESTS
                            || status == reqwest::StatusCode::REQUEST_TIMEOUT,
                        retry_after,
                        error: WebhookError::Http {
                            status: status.as_u16(),
                            body_snippet,
                            attempts: n,
                            max_attempts,
                        },
                    })
                }
                // No answer (refused, reset, timed out, TLS failure): the post most likely did
                // not arrive, and a duplicate post is better than none.
                Err(e) => Err(Failed {
                    retryable: !e.is_builder() && !e.is_redirect(),
                    retry_after: None,
                    error: WebhookError::Transport {
                        message: describe_transport(e, redactor),
                        attempts: n,
                        max_attempts,
                    },
                }),
            }
        }
    })
    .retry(retry.backoff())
    .sleep(tokio::time::sleep)
    .when(|f: &Failed| f.retryable)
    .adjust(|f: &Failed, backoff| retry.pause(started, backoff, f.retry_after))
    .notify(|f: &Failed, pause: Duration| {
        tracing::warn!(
            attempt = f.error.attempts(),
            max_attempts,
            retry_in_ms = u64::try_from(pause.as_millis()).unwrap_or(u64::MAX),
            error = %f.error,
            "Mattermost post failed; retrying"
        );
    })
    .await;
    result.map_err(|f| f.error)
}

/// One attempt's failure, with what the retry needs to know.
struct Failed {
    error: WebhookError,
    retryable: bool,
    retry_after: Option<Duration>,
}

impl Failed {
    /// A failure no retry can help.
    fn last(error: WebhookError) -> Failed {
        Failed {
            error,
            retryable: false,
            retry_after: None,
        }
    }
}

/// reqwest needs a process-wide rustls provider (the `rustls-no-provider` feature): install ring
/// unless one is installed already.
fn ensure_crypto_provider() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        if rustls::crypto::CryptoProvider::get_default().is_none() {
            // Err = another thread installed one meanwhile: fine either way.
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
    });
}

/// A transport error's message chain, without the URL, on one bounded line.
fn describe_transport(err: reqwest::Error, redactor: &Redactor) -> String {
    let timed_out = err.is_timeout();
    let err = err.without_url();
    let mut text = crate::error::error_chain(&err).join(": ");
    if timed_out && !text.contains("timed out") {
        text.push_str(" (timed out)");
    }
    log_line(&redactor.apply(&text), 500)
}

/// The start of an error answer's body, for the error message.
async fn read_snippet(mut resp: reqwest::Response, redactor: &Redactor) -> String {
    let mut buf = Vec::new();
    while buf.len() < 4 * SNIPPET_BYTES {
        match resp.chunk().await {
            Ok(Some(chunk)) => buf.extend_from_slice(&chunk),
            _ => break,
        }
    }
    let text = String::from_utf8_lossy(&buf);
    log_line(&redactor.apply(&text), SNIPPET_BYTES)
}

/// One line for logs and error messages: whitespace collapsed, control characters escaped.
pub fn log_line(s: &str, max_bytes: usize) -> String {
    let mut out = String::new();
    let cut = sanitize_into(&mut out, s.trim(), Mode::Plain, max_bytes);
    if cut < s.trim().len() {
        out.push('…');
    }
    out
}

/// A URL usable as a markdown link destination: http(s), no whitespace or control characters,
/// with the characters that could end the destination or form a mention percent-encoded.
pub fn link_destination(url: &str) -> Option<String> {
    let url = url.trim();
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    if !(lower.starts_with("http://") || lower.starts_with("https://"))
        || url.len() > LINK_BYTES
        || url
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || invisible(c))
    {
        return None;
    }
    let mut out = String::with_capacity(url.len());
    for c in url.chars() {
        match c {
            '(' | ')' | '<' | '>' | '@' | '`' | '"' | '\\' | '[' | ']' | '{' | '}' | '|' | '^' => {
                let _ = write!(out, "%{:02X}", c as u32);
            }
            _ => out.push(c),
        }
    }
    Some(out)
}

// ---------------------------------------------------------------------------------------------
// Untrusted text

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// One line of markdown (title, fields): markdown characters escaped.
    Inline,
    /// One line of plain text (notification fallback, username, logs).
    Plain,
    /// One line inside a code block.
    CodeLine,
    /// Lines inside a code block.
    CodeBlock,
}

/// Characters that are invisible or reorder text: shown as escapes so nothing hides or spoofs.
fn invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{061C}' | '\u{180E}'
        | '\u{200B}'..='\u{200F}'
        | '\u{2028}'..='\u{202E}'
        | '\u{2060}'..='\u{206F}'
        | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}')
}

/// Appends `s` made safe for `mode` to `out`, stopping before `out` would grow past `max_bytes`.
/// Returns how many bytes of `s` were used.
fn sanitize_into(out: &mut String, s: &str, mode: Mode, max_bytes: usize) -> usize {
    let start = out.len();
    let mut piece = String::with_capacity(16);
    let mut prev_backtick = false;
    for (i, c) in s.char_indices() {
        piece.clear();
        match c {
            '@' => piece.push_str("@\u{200B}"),
            '\n' if mode == Mode::CodeBlock => piece.push('\n'),
            '\t' if mode == Mode::CodeBlock => piece.push_str("    "),
            '\r' if mode == Mode::CodeBlock => {}
            '\n' | '\r' | '\t' | '\u{2028}' | '\u{2029}' => piece.push(' '),
            '`' if matches!(mode, Mode::CodeLine | Mode::CodeBlock) => {
                if prev_backtick {
                    piece.push('\u{200B}');
                }
                piece.push('`');
            }
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '#' | '~' | '|'
                if mode == Mode::Inline =>
            {
                piece.push('\\');
                piece.push(c);
            }
            c if c.is_control() || invisible(c) => {
                let _ = write!(piece, "\\u{{{:x}}}", c as u32);
            }
            c => piece.push(c),
        }
        if out.len() - start + piece.len() > max_bytes {
            return i;
        }
        out.push_str(&piece);
        prev_backtick = c == '`';
    }
    s.len()
}

/// `s` made safe for one line of markdown, cut to `max_bytes` (with `…`).
pub fn inline(s: &str, max_bytes: usize) -> String {
    let mut out = String::new();
    if sanitize_into(&mut out, s, Mode::Inline, max_bytes) < s.len() {
        out.push('…');
    }
    out
}

/// `s` made safe for one line of plain text, cut to `max_bytes` (with `…`).
pub fn plain(s: &str, max_bytes: usize) -> String {
    let mut out = String::new();
    if sanitize_into(&mut out, s, Mode::Plain, max_bytes) < s.len() {
        out.push('…');
    }
    out
}

/// `s` made safe for one line inside a code block, cut to `max_bytes` (with `…`).
pub fn code_line(s: &str, max_bytes: usize) -> String {
    let mut out = String::new();
    if sanitize_into(&mut out, s, Mode::CodeLine, max_bytes) < s.len() {
        out.push('…');
    }
    out
}

/// `s` made safe for lines inside a code block (with a truncation note), cut to `max_bytes` (with `…`).
pub fn code_block(s: &str, max_bytes: usize) -> String {
    let mut out = String::new();
    let used = sanitize_into(&mut out, s, Mode::CodeBlock, max_bytes);
    if used < s.len() {
        let _ = write!(out, "\n… (truncated, {} more bytes)", s.len() - used);
    }
    out
}

/// Replaces the webhook URL, and the parts of it that identify the hook, with `[redacted]`.
pub struct Redactor {
    needles: Vec<String>,
}

impl Redactor {
    pub fn new(secret: Option<&Secret>) -> Redactor {
        let mut needles = Vec::new();
        if let Some(secret) = secret {
            let raw = secret.expose().trim();
            let mut add = |s: &str, min: usize| {
                if s.len() >= min && !needles.iter().any(|n| n == s) {
                    needles.push(s.to_owned());
                }
            };
            add(raw, 1);
            add(raw.trim_end_matches('/'), 1);
            let rest = raw.split_once("://").map_or(raw, |(_, rest)| rest);
            add(rest, 8);
            if let Some(slash) = rest.find('/') {
                // "/hooks/<token>" and the query: what makes the URL a credential.
                add(&rest[slash..], 8);
                for part in rest[slash..].split(['/', '?', '&', '=', '#']) {
                    add(part, 12);
                }
                // user:password@ in the authority.
                if let Some((userinfo, _)) = rest[..slash].rsplit_once('@') {
                    add(userinfo, 4);
                }
            }
            if let Ok(url) = reqwest::Url::parse(raw) {
                add(url.as_str(), 1);
                add(url.as_str().trim_end_matches('/'), 1);
                if let Some(pw) = url.password() {
                    add(pw, 4);
                }
            }
            // Longest first, so a whole URL is replaced before its parts.
            needles.sort_by_key(|n| std::cmp::Reverse(n.len()));
        }
        Redactor { needles }
    }

    pub fn apply<'a>(&self, s: &'a str) -> std::borrow::Cow<'a, str> {
        let mut out = std::borrow::Cow::Borrowed(s);
        for needle in &self.needles {
            if out.contains(needle.as_str()) {
                out = std::borrow::Cow::Owned(out.replace(needle.as_str(), REDACTED));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redactor_parts() {
        let r = Redactor::new(Some(&Secret::from(
            "https://user:pa55word@mm.example.com/hooks/abcdefghijklmnop?x=1".to_owned(),
        )));
        assert_eq!(r.apply("pa55word"), REDACTED);
        assert_eq!(r.apply("id abcdefghijklmnop!"), "id [redacted]!");
        assert_eq!(
            r.apply("url https://user:pa55word@mm.example.com/hooks/abcdefghijklmnop?x=1 end"),
            "url [redacted] end"
        );
        // Short, common parts are not treated as secret.
        assert_eq!(
            r.apply("hooks x=1 mm.example.com"),
            "hooks x=1 mm.example.com"
        );
        assert_eq!(Redactor::new(None).apply("anything"), "anything");
    }

    #[test]
    fn link_destinations() {
        assert_eq!(
            link_destination("HTTPS://a.example/x?y=(1)@z").as_deref(),
            Some("HTTPS://a.example/x?y=%281%29%40z")
        );
        assert_eq!(link_destination("ftp://a.example"), None);
        assert_eq!(link_destination("https://a.example/x y"), None);
        assert_eq!(link_destination("https://a.example/\u{202e}"), None);
    }

    #[test]
    fn error_display_is_safe_and_informative() {
        let e = WebhookError::Http {
            status: 400,
            body_snippet: "Invalid webhook".into(),
            attempts: 1,
            max_attempts: 3,
        };
        assert_eq!(
            e.to_string(),
            "the Mattermost webhook answered HTTP 400 (attempt 1 of at most 3): Invalid webhook"
        );
        assert_eq!(e.attempts(), 1);
        assert!(
            WebhookError::InvalidUrl
                .to_string()
                .contains("MATTERMOST_WEBHOOK_URL")
        );
    }

    #[test]
    fn log_lines_are_single_bounded_lines() {
        assert_eq!(log_line(" a\nb\u{1b} ", 100), r"a b\u{1b}");
        assert_eq!(
            log_line(&"x".repeat(50), 10),
            format!("{}…", "x".repeat(10))
        );
    }
}
