//! Can the jobs reach S3 the way a run does, with the pod's credentials?
//!
//! - Sources: one `ListObjectsV2` (max 1 key) of the keys starting with `<prefix>` (no `/`
//!   added: the jobs append `/<date path>/` to ALB and export prefixes but `.<date>-` to a
//!   CloudFront distribution's, so `<prefix>` is what every job's keys share), then a one-byte
//!   `GetObject` of the key it found: listing and reading are separate permissions (and a KMS
//!   key policy can refuse the read alone).
//! - The lake: list under the lake prefix, write a probe object below it, delete the probe:
//!   the three calls a run makes to replace a partition.
//!
//! All through the jobs' own S3 client (same chain, endpoint and path-style options).

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use ingest_runtime::aws_error::{AwsProblem, HttpResponse};
use ingest_runtime::lake::LakeLocation;
use ingest_runtime::source::SourceLocation;

use crate::report::Status;

/// What a source check found: the listing's verdict, and the read of one object when the
/// listing found one.
pub struct SourceCheck {
    pub list: (Status, String),
    pub read: Option<(Status, String)>,
}

/// Checks one `--source` value: `s3://bucket/prefix` is listed and one object under it read; a
/// local directory must exist. `client` is only needed (and only built by the caller) when some
/// source is on S3.
pub async fn check_source(client: Option<&aws_sdk_s3::Client>, location: &str) -> SourceCheck {
    let list = |status, detail: String| SourceCheck {
        list: (status, detail),
        read: None,
    };
    match SourceLocation::parse_source(location) {
        Err(why) => list(Status::Fail, why),
        Ok(SourceLocation::Local(path)) => {
            if path.is_dir() {
                list(Status::Ok, "local directory exists".into())
            } else {
                list(
                    Status::Fail,
                    format!("local directory {} does not exist", path.display()),
                )
            }
        }
        Ok(SourceLocation::S3 { bucket, prefix }) => match client {
            Some(client) => {
                let (listed, key) = list_one(client, &bucket, &prefix).await;
                let read = match key {
                    Some(key) => Some(read_one_byte(client, &bucket, &key).await),
                    None => None,
                };
                SourceCheck { list: listed, read }
            }
            None => list(Status::Fail, "internal: no S3 client".into()),
        },
    }
}

async fn list_one(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
) -> ((Status, String), Option<String>) {
    let result = client
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .max_keys(1)
        .send()
        .await;
    match result {
        Ok(page) => match page.contents().first().and_then(|o| o.key()) {
            Some(key) => ((Status::Ok, "listable".into()), Some(key.to_owned())),
            None => (
                (
                    Status::Warn,
                    "listable, but no object key starts with this prefix: check the path (a job fails on a day without files)".into(),
                ),
                None,
            ),
        },
        Err(err) => (classify(err, "s3:ListBucket on the bucket for this prefix"), None),
    }
}

/// Reads the first byte of `key` (a ranged GET: nothing is downloaded).
async fn read_one_byte(client: &aws_sdk_s3::Client, bucket: &str, key: &str) -> (Status, String) {
    let result = client
        .get_object()
        .bucket(bucket)
        .key(key)
        .range("bytes=0-0")
        .send()
        .await;
    match result {
        Ok(_) => (Status::Ok, format!("readable (GetObject of {key})")),
        Err(err) => {
            let (status, detail) = classify(
                err,
                "s3:GetObject on the prefix's objects (and kms:Decrypt if they are SSE-KMS encrypted)",
            );
            (status, format!("GetObject of {key}: {detail}"))
        }
    }
}

/// The lake check: list under the lake prefix, write a probe object, delete it. A local lake
/// must be an existing directory (the chart refuses one; this is for runs outside a cluster).
pub async fn check_lake(
    client: Option<&aws_sdk_s3::Client>,
    location: &str,
    probe_name: &str,
) -> (Status, String) {
    match LakeLocation::parse_lake(location) {
        Err(why) => (Status::Fail, why),
        Ok(LakeLocation::Local(path)) => {
            if path.is_dir() {
                (Status::Ok, "local directory exists".into())
            } else {
                (
                    Status::Fail,
                    format!("local directory {} does not exist", path.display()),
                )
            }
        }
        Ok(LakeLocation::S3 { bucket, prefix }) => match client {
            Some(client) => probe_lake(client, &bucket, &prefix, probe_name).await,
            None => (Status::Fail, "internal: no S3 client".into()),
        },
    }
}

/// Lists one key under the lake root (`<prefix>/`, or the bucket's root): the lake exists and may
/// be listed. Returns the root; a failure is classified, with `needs` as the permission to name.
pub async fn list_lake_root(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
    needs: &str,
) -> Result<String, (String, (Status, String))> {
    let root = if prefix.is_empty() {
        String::new()
    } else {
        format!("{}/", prefix.trim_end_matches('/'))
    };
    match client
        .list_objects_v2()
        .bucket(bucket)
        .prefix(&root)
        .max_keys(1)
        .send()
        .await
    {
        Ok(_) => Ok(root),
        Err(err) => Err((root, classify(err, needs))),
    }
}

async fn probe_lake(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
    probe_name: &str,
) -> (Status, String) {
    let root = match list_lake_root(
        client,
        bucket,
        prefix,
        "s3:ListBucket on the lake bucket for this prefix",
    )
    .await
    {
        Ok(root) => root,
        Err((_, (status, detail))) => return (status, format!("list: {detail}")),
    };
    // Under `_preflight/`: readers and the jobs skip `_`-prefixed names.
    let key = format!("{root}_preflight/{probe_name}");
    if let Err(err) = client
        .put_object()
        .bucket(bucket)
        .key(&key)
        .body(ByteStream::from_static(b"ingest-tasks preflight probe\n"))
        .send()
        .await
    {
        let (status, detail) = classify(err, "s3:PutObject on the lake prefix's objects");
        return (status, format!("write {key}: {detail}"));
    }
    if let Err(err) = client.delete_object().bucket(bucket).key(&key).send().await {
        let (status, detail) = classify(
            err,
            "s3:DeleteObject on the lake prefix's objects (a run deletes the previous partition)",
        );
        return (
            status,
            format!("delete {key}: {detail}; the probe object is left behind"),
        );
    }
    (
        Status::Ok,
        format!("listable, writable and deletable (probe {key} written and deleted)"),
    )
}

/// The jobs' own classifier (`ingest_runtime::aws_error`), so preflight and a run agree on what
/// is missing or denied (FAIL, exit 2) and what is unavailable (exit 4). The detail is the fix
/// (`permission`, when refused), then the service's code, message and request id or the
/// causes' texts: no SDK dump.
pub(crate) fn classify<E>(err: SdkError<E, HttpResponse>, permission: &str) -> (Status, String)
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let failure = ingest_runtime::aws_error::classify(&err);
    let causes = failure.cause.lines().join(": ");
    let (status, what) = match &failure.problem {
        AwsProblem::Credentials(problem) => (
            match problem.kind() {
                ingest_runtime::error::FailureKind::Config => Status::Fail,
                _ => Status::Unavailable,
            },
            problem.to_string(),
        ),
        AwsProblem::NoSuchBucket => (
            Status::Fail,
            "the bucket does not exist (NoSuchBucket)".to_owned(),
        ),
        AwsProblem::Refused { code } => (
            Status::Fail,
            format!("refused ({code}): the pod's role needs {permission}"),
        ),
        AwsProblem::NoSuchKey | AwsProblem::Unavailable => (
            Status::Unavailable,
            "S3 unavailable after retries".to_owned(),
        ),
    };
    (status, format!("{what}; {causes}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_credential_types::provider::error::CredentialsError;
    use aws_sdk_s3::error::{ConnectorError, ErrorMetadata};
    use aws_sdk_s3::primitives::SdkBody;

    type ListError = aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Error;
    const LIST: &str = "s3:ListBucket on the bucket for this prefix";

    fn service(status: u16, code: &str) -> SdkError<ListError, HttpResponse> {
        let mut raw = HttpResponse::new(status.try_into().unwrap(), SdkBody::from(""));
        raw.headers_mut().insert("x-amz-request-id", "REQ9");
        let meta = ErrorMetadata::builder().code(code).message("m").build();
        SdkError::service_error(ListError::generic(meta), raw)
    }

    #[test]
    fn credentials_fail_timeouts_are_unavailable_and_details_hold_no_dump() {
        let no_creds: SdkError<ListError, HttpResponse> =
            SdkError::dispatch_failure(ConnectorError::other(
                Box::new(CredentialsError::not_loaded(
                    "no providers in chain provided credentials",
                )),
                None,
            ));
        let (status, detail) = classify(no_creds, LIST);
        assert_eq!(status, Status::Fail);
        assert!(detail.contains("no AWS credentials found"), "{detail}");
        assert!(detail.contains("eks.amazonaws.com/role-arn"), "{detail}");

        let (status, detail) = classify(service(403, "InvalidAccessKeyId"), LIST);
        assert_eq!(status, Status::Fail);
        assert!(detail.contains("(HTTP 403, request id REQ9)"), "{detail}");

        let (status, detail) = classify(service(400, "RequestTimeout"), LIST);
        assert_eq!(status, Status::Unavailable, "{detail}");
        let (status, detail) = classify(service(403, "AccessDenied"), LIST);
        assert_eq!(status, Status::Fail);
        assert!(detail.contains("s3:ListBucket"), "{detail}");
        assert!(
            !ingest_runtime::error::looks_like_debug(&detail),
            "{detail}"
        );
    }
}
