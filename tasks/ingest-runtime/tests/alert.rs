//! The failure alert against a real HTTP receiver on 127.0.0.1: what is posted, retries, and
//! that errors never carry the webhook URL.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ingest_runtime::notify::alert::{
    AirflowContext, AlertConfig, AlertOutcome, Failure, SampleReject, send_failure_alert,
};
use ingest_runtime::notify::mattermost::{WebhookError, WebhookPolicy};
use ingest_runtime::secrets::Secret;
use serde_json::Value;

/// In every webhook URL's path: must never show up in an error.
const SENTINEL: &str = "SENTINELwebhooktoken4f3a9c";

#[derive(Debug)]
struct Received {
    request_line: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Received {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What the receiver does with one connection.
#[derive(Clone, Copy)]
enum Reply {
    Status(u16, &'static str),
    /// Read the request, then answer nothing for this long.
    Stall(Duration),
}

/// A tiny HTTP/1.1 server: answers one connection per reply, in order, then stops accepting.
/// Requests are logged once read, before the reply.
struct Receiver {
    port: u16,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    fn start(replies: Vec<Reply>) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let log = received.clone();
        std::thread::spawn(move || {
            for reply in replies {
                let Ok((stream, _)) = listener.accept() else {
                    return;
                };
                // One thread per connection: a stalled reply must not hold up the next one.
                let log = log.clone();
                std::thread::spawn(move || handle(stream, reply, &log));
            }
        });
        Receiver { port, received }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hooks/{SENTINEL}", self.port)
    }

    fn requests(&self) -> std::sync::MutexGuard<'_, Vec<Received>> {
        self.received.lock().unwrap()
    }
}

fn handle(stream: TcpStream, reply: Reply, log: &Mutex<Vec<Received>>) {
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
        return;
    }
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':').unwrap();
        headers.push((name.trim().to_owned(), value.trim().to_owned()));
    }
    let len: usize = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .map_or(0, |(_, v)| v.parse().unwrap());
    let mut body = vec![0; len];
    reader.read_exact(&mut body).unwrap();
    log.lock().unwrap().push(Received {
        request_line: request_line.trim_end().to_owned(),
        headers,
        body,
    });
    let mut stream = stream;
    match reply {
        Reply::Status(code, text) => {
            let extra = if code == 429 {
                "Retry-After: 0\r\n"
            } else {
                ""
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {code} X\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n{text}",
                text.len()
            );
        }
        Reply::Stall(d) => std::thread::sleep(d),
    }
}

fn config(url: String) -> AlertConfig {
    AlertConfig {
        webhook_url: Some(Secret::from(url)),
        username: Some("ingest-test".into()),
        channel: Some("data-alerts".into()),
        policy: WebhookPolicy {
            timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(2),
            attempts: 3,
            backoff: Duration::from_millis(20),
            ..WebhookPolicy::default()
        },
        ..AlertConfig::default()
    }
}

fn failure() -> Failure {
    Failure {
        job: "push-logs".into(),
        date: "2026-11-20".into(),
        table: "push_proxy.logs_us_new".into(),
        run_id: "20261120T030000Z-0001".into(),
        exit_code: 3,
        kind: "data error".into(),
        error_chain: vec![
            "41 of 1000 lines rejected (0.0410), over --max-reject-ratio 0.01".into(),
            "ping @channel".into(),
        ],
        files_read: 2,
        files_total: 2,
        rows_loaded: 959,
        rows_rejected: 41,
        sample_rejects: vec![SampleReject {
            source_key: "AWSLogs/1/elasticloadbalancing/us-east-1/2026/11/20/x.log.gz".into(),
            line: 12,
            raw: "garbage ``` line".into(),
            reason: "expected 29 fields, got 3".into(),
        }],
        rerun_command: "push-logs --date 2026-11-20 --source /data/alb --table push_proxy.logs_us_new --lake ./lake".into(),
        sections: Vec::new(),
        airflow: AirflowContext::from_lookup(|name| match name {
            "AIRFLOW_CTX_DAG_ID" => Some("push_logs".into()),
            "AIRFLOW_CTX_TRY_NUMBER" => Some("1".into()),
            _ => None,
        }),
    }
}

fn assert_no_url(err: &WebhookError, port: u16) {
    let printed = format!("{err} | {err:?}");
    assert!(!printed.contains(SENTINEL), "URL leaked: {printed}");
    assert!(!printed.contains("/hooks/"), "URL leaked: {printed}");
    assert!(
        !printed.contains(&format!("127.0.0.1:{port}")),
        "URL leaked: {printed}"
    );
}

#[tokio::test]
async fn posts_one_message_with_the_expected_json() {
    let server = Receiver::start(vec![Reply::Status(200, "ok")]);
    let outcome = send_failure_alert(&config(server.url()), &failure())
        .await
        .unwrap();
    assert_eq!(outcome, AlertOutcome::Sent);

    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let req = &requests[0];
    assert_eq!(req.request_line, format!("POST /hooks/{SENTINEL} HTTP/1.1"));
    assert_eq!(req.header("content-type"), Some("application/json"));
    let v: Value = serde_json::from_slice(&req.body).unwrap();
    assert_eq!(v["username"], "ingest-test");
    assert_eq!(v["channel"], "data-alerts");
    assert!(v.get("icon_url").is_none());
    assert!(v["text"].as_str().unwrap().contains("push-logs"));
    let a = &v["attachments"][0];
    assert_eq!(a["color"], "#d24b4e");
    assert_eq!(
        a["title"],
        "push-logs (push\\_proxy.logs\\_us\\_new) failed for 2026-11-20: data error"
    );
    let fields: Vec<(String, String)> = a["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["title"].as_str().unwrap().to_owned(),
                f["value"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let get = |t: &str| {
        fields
            .iter()
            .find(|(title, _)| title == t)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(get("Job"), Some("push-logs"));
    assert_eq!(get("Rows rejected"), Some("41"));
    assert_eq!(get("Files read"), Some("2 of 2"));
    assert_eq!(get("Airflow DAG"), Some(r"push\_logs"));
    assert_eq!(get("Try"), Some("1"));
    assert_eq!(get("DAG run"), None);
    let body = a["text"].as_str().unwrap();
    assert!(body.contains("over --max-reject-ratio 0.01\ncaused by: ping @\u{200B}channel\n"));
    assert!(
        body.contains(
            "x.log.gz:12 — expected 29 fields, got 3\n  garbage `\u{200B}`\u{200B}` line"
        )
    );
    assert!(body.contains("```sh\npush-logs --date 2026-11-20 --source /data/alb"));
    assert!(!String::from_utf8_lossy(&req.body).contains(SENTINEL));
}

#[tokio::test]
async fn a_server_error_is_retried_then_sent() {
    let server = Receiver::start(vec![
        Reply::Status(500, "boom"),
        Reply::Status(429, "slow down"),
        Reply::Status(200, "ok"),
    ]);
    let outcome = send_failure_alert(&config(server.url()), &failure())
        .await
        .unwrap();
    assert_eq!(outcome, AlertOutcome::Sent);
    let requests = server.requests();
    assert_eq!(requests.len(), 3);
    // The same message each time.
    assert_eq!(requests[0].body, requests[2].body);
}

#[tokio::test]
async fn a_bad_request_is_not_retried() {
    let server = Receiver::start(vec![
        Reply::Status(
            400,
            "{\"message\":\"Invalid webhook\",\"detailed_error\":\"/hooks/SENTINELwebhooktoken4f3a9c\"}",
        ),
        Reply::Status(200, "ok"),
    ]);
    let err = send_failure_alert(&config(server.url()), &failure())
        .await
        .unwrap_err();
    match &err {
        WebhookError::Http {
            status,
            body_snippet,
            attempts,
            ..
        } => {
            assert_eq!(*status, 400);
            assert_eq!(*attempts, 1);
            assert!(body_snippet.contains("Invalid webhook"), "{body_snippet}");
            assert!(body_snippet.contains("[redacted]"), "{body_snippet}");
        }
        other => panic!("expected an HTTP error, got {other:?}"),
    }
    assert!(err.to_string().contains("HTTP 400"));
    assert_no_url(&err, server.port);
    // Give a (wrong) retry the time to arrive, then check there was none.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn server_errors_until_the_last_attempt_fail_with_the_last_status() {
    let server = Receiver::start(vec![
        Reply::Status(502, "bad gateway"),
        Reply::Status(503, "unavailable"),
        Reply::Status(500, "still down"),
    ]);
    let err = send_failure_alert(&config(server.url()), &failure())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            WebhookError::Http {
                status: 500,
                attempts: 3,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(server.requests().len(), 3);
    assert_no_url(&err, server.port);
}

#[tokio::test]
async fn a_closed_port_fails_without_the_url_in_the_error() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}/hooks/{SENTINEL}");
    let err = send_failure_alert(&config(url), &failure())
        .await
        .unwrap_err();
    assert!(
        matches!(err, WebhookError::Transport { attempts: 3, .. }),
        "connection errors are retried: {err:?}"
    );
    assert!(
        err.to_string()
            .starts_with("cannot reach the Mattermost webhook"),
        "{err}"
    );
    assert_no_url(&err, port);
    let chain = ingest_runtime::error::error_chain(&err).join(": ");
    assert!(!chain.contains(SENTINEL), "{chain}");
}

#[tokio::test]
async fn a_stalled_webhook_times_out_per_attempt() {
    let server = Receiver::start(vec![
        Reply::Stall(Duration::from_secs(3)),
        Reply::Stall(Duration::from_secs(3)),
    ]);
    let mut cfg = config(server.url());
    cfg.policy.timeout = Duration::from_millis(300);
    cfg.policy.attempts = 2;
    let started = std::time::Instant::now();
    let err = send_failure_alert(&cfg, &failure()).await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert!(
        matches!(err, WebhookError::Transport { attempts: 2, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("timed out"), "{err}");
    assert_no_url(&err, server.port);
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn the_total_time_limit_bounds_the_retries() {
    let server = Receiver::start(vec![Reply::Stall(Duration::from_secs(3)); 5]);
    let mut cfg = config(server.url());
    cfg.policy.timeout = Duration::from_secs(5);
    cfg.policy.attempts = 5;
    cfg.policy.total_timeout = Duration::from_millis(500);
    let started = std::time::Instant::now();
    let err = send_failure_alert(&cfg, &failure()).await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(err.attempts(), 1, "{err:?}");
}
