//! Is each job's source listable with the pod's credentials? One `ListObjectsV2` (max 1 key)
//! under `<prefix>/`, through the jobs' own S3 client (same chain, endpoint and path-style options).

use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use ingest_runtime::source::SourceLocation;

use crate::report::Status;

/// Checks one `--source` value: `s3://bucket/prefix` is listed; a local directory must exist.
/// `client` is only needed (and only built by the caller) when some source is on S3.
pub async fn check_source(client: Option<&aws_sdk_s3::Client>, location: &str) -> (Status, String) {
    match SourceLocation::parse(location) {
        Err(why) => (Status::Fail, why),
        Ok(SourceLocation::Local(path)) => {
            if path.is_dir() {
                (Status::Ok, "local directory exists".into())
            } else {
                (
                    Status::Fail,
                    format!("local directory {} does not exist", path.display()),
                )
            }
        }
        Ok(SourceLocation::S3 { bucket, prefix }) => match client {
            Some(client) => list(client, &bucket, &prefix).await,
            None => (Status::Fail, "internal: no S3 client".into()),
        },
    }
}

async fn list(client: &aws_sdk_s3::Client, bucket: &str, prefix: &str) -> (Status, String) {
    let prefix = if prefix.is_empty() {
        String::new()
    } else {
        format!("{prefix}/")
    };
    let result = client
        .list_objects_v2()
        .bucket(bucket)
        .prefix(&prefix)
        .max_keys(1)
        .send()
        .await;
    match result {
        Ok(page) if page.key_count().unwrap_or(0) > 0 || !page.contents().is_empty() => {
            (Status::Ok, "listable".into())
        }
        Ok(_) => (
            Status::Warn,
            "listable, but no objects under this prefix: check the path (a job fails on a day without files)".into(),
        ),
        Err(err) => classify(err),
    }
}

type ListError = aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Error;
type HttpResponse = aws_sdk_s3::config::http::HttpResponse;

/// Denied or missing: fix the deployment. No answer, or a server error after retries: unavailable.
fn classify(err: SdkError<ListError, HttpResponse>) -> (Status, String) {
    let denied = |code: &str| {
        (
            Status::Fail,
            format!(
                "not listable ({code}): the pod's role needs s3:ListBucket on the bucket for this prefix"
            ),
        )
    };
    match &err {
        SdkError::ServiceError(service) => {
            let status = service.raw().status().as_u16();
            match err.code() {
                Some("NoSuchBucket") => (
                    Status::Fail,
                    "the bucket does not exist (NoSuchBucket)".into(),
                ),
                Some("InvalidBucketName") => (Status::Fail, "invalid bucket name".into()),
                Some(
                    code @ ("AccessDenied"
                    | "InvalidAccessKeyId"
                    | "SignatureDoesNotMatch"
                    | "AllAccessDisabled"
                    | "ExpiredToken"
                    | "InvalidToken"),
                ) => denied(code),
                code if matches!(status, 400 | 401 | 403 | 404) => {
                    denied(&code.map_or_else(|| format!("HTTP {status}"), str::to_owned))
                }
                _ => (
                    Status::Unavailable,
                    format!("S3 error: {}", DisplayErrorContext(&err)),
                ),
            }
        }
        SdkError::ConstructionFailure(_) => (
            Status::Fail,
            format!(
                "cannot build the request (AWS region or credentials?): {}",
                DisplayErrorContext(&err)
            ),
        ),
        _ => (
            Status::Unavailable,
            format!("S3 unavailable: {}", DisplayErrorContext(&err)),
        ),
    }
}
