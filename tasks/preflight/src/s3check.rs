//! Is each job's source listable with the pod's credentials? One `ListObjectsV2` (max 1 key)
//! of the keys starting with `<prefix>` (no `/` added: the jobs append `/<date path>/` to ALB and
//! export prefixes but `.<date>-` to a CloudFront distribution's, so `<prefix>` is what every job's
//! keys share), through the jobs' own S3 client (same chain, endpoint and path-style options).

use aws_sdk_s3::error::SdkError;
use ingest_runtime::aws_error::{AwsProblem, HttpResponse};
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
    let result = client
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .max_keys(1)
        .send()
        .await;
    match result {
        Ok(page) if page.key_count().unwrap_or(0) > 0 || !page.contents().is_empty() => {
            (Status::Ok, "listable".into())
        }
        Ok(_) => (
            Status::Warn,
            "listable, but no object key starts with this prefix: check the path (a job fails on a day without files)".into(),
        ),
        Err(err) => classify(err),
    }
}

type ListError = aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Error;

/// The jobs' own classifier (`ingest_runtime::aws_error`), so preflight and a run agree on what
/// is missing or denied (FAIL, exit 2) and what is unavailable (exit 4). The detail is the fix,
/// then the service's code, message and request id or the causes' texts: no SDK dump.
fn classify(err: SdkError<ListError, HttpResponse>) -> (Status, String) {
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
            format!(
                "not listable ({code}): the pod's role needs s3:ListBucket on the bucket for this prefix"
            ),
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

    fn service(status: u16, code: &str) -> SdkError<ListError, HttpResponse> {
        let mut raw = HttpResponse::new(status.try_into().unwrap(), SdkBody::from(""));
        raw.headers_mut().insert("x-amz-request-id", "REQ9");
        let meta = ErrorMetadata::builder().code(code).message("m").build();
        SdkError::service_error(ListError::generic(meta), raw)
    }

    #[test]
    fn credentials_fail_timeouts_are_unavailable_and_details_hold_no_dump() {
        let no_creds = SdkError::dispatch_failure(ConnectorError::other(
            Box::new(CredentialsError::not_loaded(
                "no providers in chain provided credentials",
            )),
            None,
        ));
        let (status, detail) = classify(no_creds);
        assert_eq!(status, Status::Fail);
        assert!(detail.contains("no AWS credentials found"), "{detail}");
        assert!(detail.contains("eks.amazonaws.com/role-arn"), "{detail}");

        let (status, detail) = classify(service(403, "InvalidAccessKeyId"));
        assert_eq!(status, Status::Fail);
        assert!(detail.contains("(HTTP 403, request id REQ9)"), "{detail}");

        let (status, detail) = classify(service(400, "RequestTimeout"));
        assert_eq!(status, Status::Unavailable, "{detail}");
        let (status, detail) = classify(service(403, "AccessDenied"));
        assert_eq!(status, Status::Fail);
        assert!(detail.contains("s3:ListBucket"), "{detail}");
        assert!(
            !ingest_runtime::error::looks_like_debug(&detail),
            "{detail}"
        );
    }
}
