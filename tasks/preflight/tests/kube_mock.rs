//! The Kubernetes side of preflight, against kube's own mock service (`tower-test`).
//!
//! No Kubernetes API server can run on this machine (no container runtime, no kind, no network
//! beyond package registries), so these tests put `tower_test::mock` under a real `kube::Client`:
//! the client builds and sends the real HTTP requests (method, path, content type, JSON merge
//! patch body), and the mock answers as an API server would (a Secret, or a `Status` with 404,
//! 403, 500). The same code runs against a real cluster in the `preflight-kind` workflow job.

use std::collections::BTreeMap;

use http::{Method, Request, Response, StatusCode};
use ingest_runtime::secrets::Secret;
use kube::client::Body;
use preflight::kube_secrets::{self, Change, SecretLookup, SyncError};
use preflight::plan::RequiredKey;
use preflight::report::Status;
use tower_test::mock;

const SENTINEL: &str = "SENTINEL-secret-value-5d1e";
const NS: &str = "airflow";
const NAME: &str = "ingest-tasks";
const PATH: &str = "/api/v1/namespaces/airflow/secrets/ingest-tasks";

/// One request the mock API server saw.
#[derive(Debug)]
struct Seen {
    method: Method,
    uri: String,
    content_type: Option<String>,
    body: Vec<u8>,
}

/// A `kube::Client` whose API server answers `answers` in order and records each request. The
/// join handle yields the requests once the client is dropped (so "no further request" is
/// checked too).
fn api_server(
    answers: Vec<(StatusCode, serde_json::Value)>,
) -> (kube::Client, tokio::task::JoinHandle<Vec<Seen>>) {
    let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
    let server = tokio::spawn(async move {
        let mut handle = Box::pin(handle);
        let mut seen = Vec::new();
        let mut answers = answers.into_iter();
        while let Some((request, respond)) = handle.as_mut().next_request().await {
            let (parts, body) = request.into_parts();
            seen.push(Seen {
                method: parts.method,
                uri: parts.uri.to_string(),
                content_type: parts
                    .headers
                    .get(http::header::CONTENT_TYPE)
                    .map(|v| v.to_str().unwrap().to_owned()),
                body: body.collect_bytes().await.unwrap().to_vec(),
            });
            let (status, doc) = answers
                .next()
                .unwrap_or_else(|| panic!("unexpected request #{}: {:?}", seen.len(), seen.last()));
            let response = Response::builder()
                .status(status)
                .header(http::header::CONTENT_TYPE, "application/json")
                .body(Body::from(serde_json::to_vec(&doc).unwrap()))
                .unwrap();
            respond.send_response(response);
        }
        seen
    });
    (kube::Client::new(service, NS), server)
}

fn b64(value: &str) -> String {
    // The API server's encoding of Secret data, through k8s-openapi's own ByteString.
    serde_json::to_value(k8s_openapi::ByteString(value.as_bytes().to_vec()))
        .unwrap()
        .as_str()
        .unwrap()
        .to_owned()
}

fn secret(data: &[(&str, &str)]) -> (StatusCode, serde_json::Value) {
    let data: BTreeMap<&str, String> = data.iter().map(|(k, v)| (*k, b64(v))).collect();
    (
        StatusCode::OK,
        serde_json::json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": NAME, "namespace": NS, "resourceVersion": "7"},
            "type": "Opaque",
            "data": data,
        }),
    )
}

fn status(code: u16, reason: &str, message: &str) -> (StatusCode, serde_json::Value) {
    (
        StatusCode::from_u16(code).unwrap(),
        serde_json::json!({
            "apiVersion": "v1",
            "kind": "Status",
            "metadata": {},
            "status": "Failure",
            "message": message,
            "reason": reason,
            "code": code,
        }),
    )
}

fn required(keys: &[&str]) -> Vec<RequiredKey> {
    keys.iter()
        .map(|k| RequiredKey::parse(k).unwrap())
        .collect()
}

fn assert_no_sentinel(text: &str) {
    assert!(!text.contains(SENTINEL), "a secret value leaked: {text}");
    assert!(
        !text.contains(&b64(SENTINEL)),
        "a secret value leaked (base64): {text}"
    );
}

#[tokio::test]
async fn present_missing_and_empty_keys_are_named_without_values() {
    let (client, server) = api_server(vec![secret(&[
        ("mattermost-webhook-url", SENTINEL),
        ("key-b", SENTINEL),
        ("empty-key", ""),
    ])]);
    let lookup = kube_secrets::read_secret(&client, NS, NAME).await;
    let rows = kube_secrets::key_rows(
        &lookup,
        NS,
        NAME,
        &required(&[
            "mattermost-webhook-url",
            "key-a|key-b",
            "key-c",
            "empty-key",
        ]),
        "all jobs",
    );
    drop(client);
    let seen = server.await.unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method, Method::GET);
    assert_eq!(seen[0].uri, PATH);

    let summary: Vec<(&str, Status, &str)> = rows
        .iter()
        .map(|r| (r.target.as_str(), r.status, r.detail.as_str()))
        .collect();
    assert_eq!(
        summary,
        [
            (
                "ingest-tasks/mattermost-webhook-url",
                Status::Ok,
                "present (MATTERMOST_WEBHOOK_URL)"
            ),
            ("ingest-tasks/key-a|key-b", Status::Ok, "key-b present"),
            (
                "ingest-tasks/key-c",
                Status::Fail,
                "missing from the Secret"
            ),
            (
                "ingest-tasks/empty-key",
                Status::Fail,
                "present but empty: empty-key"
            ),
        ]
    );
    assert_no_sentinel(&format!("{rows:?} {lookup:?}"));
    assert_no_sentinel(&serde_json::to_string(&rows).unwrap());
}

#[tokio::test]
async fn a_missing_secret_fails_every_key() {
    let (client, server) = api_server(vec![status(
        404,
        "NotFound",
        "secrets \"ingest-tasks\" not found",
    )]);
    let lookup = kube_secrets::read_secret(&client, NS, NAME).await;
    assert!(matches!(lookup, SecretLookup::NotFound), "{lookup:?}");
    let rows = kube_secrets::key_rows(&lookup, NS, NAME, &required(&["a", "b"]), "all jobs");
    assert_eq!(rows.len(), 2);
    for row in &rows {
        assert_eq!(row.status, Status::Fail);
        assert_eq!(
            row.detail,
            "Secret \"ingest-tasks\" does not exist in namespace airflow"
        );
    }
    drop(client);
    assert_eq!(server.await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_forbidden_secret_names_the_missing_permission() {
    let message = "secrets \"ingest-tasks\" is forbidden: User \"system:serviceaccount:airflow:ingest-tasks-preflight\" cannot get resource \"secrets\" in API group \"\" in the namespace \"airflow\"";
    let (client, server) = api_server(vec![status(403, "Forbidden", message)]);
    let lookup = kube_secrets::read_secret(&client, NS, NAME).await;
    let rows = kube_secrets::key_rows(&lookup, NS, NAME, &required(&["a"]), "push-logs");
    assert_eq!(rows[0].status, Status::Fail);
    assert!(
        rows[0].detail.starts_with(
            "forbidden: preflight's ServiceAccount needs `get` on secrets/ingest-tasks"
        ),
        "{}",
        rows[0].detail
    );
    assert!(rows[0].detail.contains("cannot get resource"));
    assert_eq!(rows[0].jobs, "push-logs");
    drop(client);
    server.await.unwrap();
}

#[tokio::test]
async fn an_api_server_error_is_unavailable_not_missing() {
    let (client, server) = api_server(vec![status(500, "InternalError", "etcd timeout")]);
    let lookup = kube_secrets::read_secret(&client, NS, NAME).await;
    let rows = kube_secrets::key_rows(&lookup, NS, NAME, &required(&["a"]), "all jobs");
    assert_eq!(rows[0].status, Status::Unavailable, "{rows:?}");
    assert!(rows[0].detail.contains("etcd timeout"));
    drop(client);
    server.await.unwrap();
}

#[tokio::test]
async fn an_answer_that_is_not_a_secret_is_never_quoted() {
    let (client, server) = api_server(vec![(
        StatusCode::OK,
        serde_json::json!({"kind": "Secret", "data": {"k": 42}, "note": SENTINEL}),
    )]);
    let lookup = kube_secrets::read_secret(&client, NS, NAME).await;
    match &lookup {
        SecretLookup::Unavailable(why) => {
            assert_eq!(why, "the API server's answer is not a Secret")
        }
        other => panic!("{other:?}"),
    }
    drop(client);
    server.await.unwrap();
}

fn desired(pairs: &[(&str, &str)]) -> Vec<(String, Secret)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), Secret::from((*v).to_owned())))
        .collect()
}

#[tokio::test]
async fn sync_patches_only_the_keys_that_differ() {
    let (client, server) = api_server(vec![
        secret(&[("changed", "old"), ("same", "v1"), ("unrelated", "keep")]),
        secret(&[]), // the PATCH's answer (the whole Secret), dropped unread
    ]);
    let changes = kube_secrets::sync(
        &client,
        NS,
        NAME,
        &desired(&[("changed", "new"), ("added", SENTINEL), ("same", "v1")]),
        false,
    )
    .await
    .unwrap();
    assert_eq!(
        changes,
        [
            ("changed".to_owned(), Change::Updated),
            ("added".to_owned(), Change::Added),
            ("same".to_owned(), Change::Unchanged),
        ]
    );
    drop(client);
    let seen = server.await.unwrap();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].method, Method::GET);
    let patch = &seen[1];
    assert_eq!(patch.method, Method::PATCH);
    assert_eq!(patch.uri, format!("{PATH}?&fieldManager=ingest-preflight"));
    assert_eq!(
        patch.content_type.as_deref(),
        Some("application/merge-patch+json")
    );
    let body: serde_json::Value = serde_json::from_slice(&patch.body).unwrap();
    // Only the differing keys; "same" and "unrelated" are not touched.
    assert_eq!(
        body,
        serde_json::json!({"data": {"added": b64(SENTINEL), "changed": b64("new")}})
    );
}

#[tokio::test]
async fn sync_again_changes_nothing_and_sends_no_patch() {
    let (client, server) = api_server(vec![secret(&[("a", "1"), ("b", SENTINEL)])]);
    let changes = kube_secrets::sync(
        &client,
        NS,
        NAME,
        &desired(&[("a", "1"), ("b", SENTINEL)]),
        false,
    )
    .await
    .unwrap();
    assert!(
        changes.iter().all(|(_, c)| *c == Change::Unchanged),
        "{changes:?}"
    );
    drop(client);
    let seen = server.await.unwrap();
    assert_eq!(seen.len(), 1, "only the GET: {seen:?}");
}

#[tokio::test]
async fn sync_dry_run_reports_and_writes_nothing() {
    let (client, server) = api_server(vec![secret(&[("a", "old")])]);
    let changes = kube_secrets::sync(
        &client,
        NS,
        NAME,
        &desired(&[("a", "new"), ("b", "x")]),
        true,
    )
    .await
    .unwrap();
    assert_eq!(
        changes,
        [
            ("a".to_owned(), Change::Updated),
            ("b".to_owned(), Change::Added)
        ]
    );
    drop(client);
    assert_eq!(server.await.unwrap().len(), 1);
}

#[tokio::test]
async fn sync_forbidden_to_patch_says_which_verb() {
    let (client, server) = api_server(vec![
        secret(&[("a", "old")]),
        status(403, "Forbidden", "cannot patch resource \"secrets\""),
    ]);
    let err = kube_secrets::sync(&client, NS, NAME, &desired(&[("a", SENTINEL)]), false)
        .await
        .unwrap_err();
    assert!(matches!(err, SyncError::Forbidden { .. }), "{err:?}");
    assert_eq!(err.status(), Status::Fail);
    let text = format!("{err} {err:?}");
    assert!(
        text.contains("--sync needs `get` and `patch` on secrets/ingest-tasks"),
        "{text}"
    );
    assert_no_sentinel(&text);
    drop(client);
    assert_eq!(server.await.unwrap().len(), 2);
}

#[tokio::test]
async fn sync_into_a_missing_secret_creates_nothing() {
    let (client, server) = api_server(vec![status(404, "NotFound", "not found")]);
    let err = kube_secrets::sync(&client, NS, NAME, &desired(&[("a", "1")]), false)
        .await
        .unwrap_err();
    assert!(matches!(err, SyncError::NoSecret { .. }), "{err:?}");
    assert!(err.to_string().contains("create it"));
    drop(client);
    assert_eq!(
        server.await.unwrap().len(),
        1,
        "no PATCH or POST after a 404"
    );
}

const SA_PATH: &str = "/api/v1/namespaces/airflow/serviceaccounts/ingest-tasks";
const ROLE: &str = "eks.amazonaws.com/role-arn";

fn service_account(annotations: &[(&str, &str)]) -> (StatusCode, serde_json::Value) {
    let annotations: BTreeMap<&str, &str> = annotations.iter().copied().collect();
    (
        StatusCode::OK,
        serde_json::json!({
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": NAME, "namespace": NS, "annotations": annotations},
        }),
    )
}

#[tokio::test]
async fn the_service_account_must_exist_with_the_irsa_annotation() {
    use preflight::kube_service_account::{self, ExpectedAnnotation};

    let want =
        [
            ExpectedAnnotation::parse(&format!("{ROLE}=arn:aws:iam::123456789012:role/ingest"))
                .unwrap(),
        ];
    let (client, server) = api_server(vec![
        service_account(&[(ROLE, "arn:aws:iam::123456789012:role/ingest")]),
        service_account(&[]),
        status(
            404,
            "NotFound",
            "serviceaccounts \"ingest-tasks\" not found",
        ),
        status(
            403,
            "Forbidden",
            "serviceaccounts \"ingest-tasks\" is forbidden",
        ),
    ]);
    let (ok, detail) = kube_service_account::check(&client, NS, NAME, &want).await;
    assert_eq!(ok, Status::Ok, "{detail}");
    let (missing, detail) = kube_service_account::check(&client, NS, NAME, &want).await;
    assert_eq!(missing, Status::Fail);
    assert!(
        detail.contains(&format!("annotation {ROLE} is missing")),
        "{detail}"
    );
    let (absent, detail) = kube_service_account::check(&client, NS, NAME, &want).await;
    assert_eq!(absent, Status::Fail);
    assert!(detail.contains("does not exist"), "{detail}");
    let (denied, detail) = kube_service_account::check(&client, NS, NAME, &want).await;
    assert_eq!(denied, Status::Fail);
    assert!(
        detail.contains("`get` on serviceaccounts/ingest-tasks"),
        "{detail}"
    );
    drop(client);
    let seen = server.await.unwrap();
    assert_eq!(seen.len(), 4);
    for request in &seen {
        assert_eq!(request.method, Method::GET);
        assert_eq!(request.uri, SA_PATH);
    }
}
