//! AWS SDK errors as on-call reads them: the one classifier of every S3 call (the source, the S3
//! lake, preflight) and of the credential failures of every AWS client (Secrets Manager too).
//!
//! The SDK's errors are not kept: their `Debug` renderings (and `DisplayErrorContext`, which
//! appends one) dump HTTP responses, headers and body bytes. What travels instead is a
//! [`CauseChain`]: the `Display` text of each cause, one line each, plus the service's error code,
//! message and request id where it answered (what a support case needs). Never a credential: the
//! SDK's texts hold none, and the chain is built from them only.
//!
//! Credential failures are recognized by walking the error's sources down to the SDK's
//! [`CredentialsError`] (the orchestrator wraps it in a `DispatchFailure` / `ConnectorError`),
//! or by the service's error code when it refused the credentials it was given.

use std::error::Error;
use std::fmt;

use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_s3::error::{ConnectorError, ErrorMetadata, ProvideErrorMetadata, SdkError};

use crate::error::{FailureKind, clean_cause};

/// The raw HTTP response of every AWS SDK client (one type for S3 and Secrets Manager).
pub type HttpResponse = aws_sdk_s3::config::http::HttpResponse;

/// The fix for every credential failure: where credentials come from in a pod, and locally.
pub const CREDENTIALS_FIX: &str = "in a pod, check the ServiceAccount's annotation eks.amazonaws.com/role-arn (IRSA) and that the role's trust policy allows it; locally, set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (+ AWS_SESSION_TOKEN) or AWS_PROFILE";

/// Error codes with which a service refuses the credentials a request was signed with.
const CREDENTIAL_CODES: &[&str] = &[
    // S3
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "InvalidToken",
    "TokenRefreshRequired",
    // JSON and query protocols (Secrets Manager, STS)
    "ExpiredTokenException",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "InvalidSignatureException",
    "IncompleteSignature",
    "MissingAuthenticationToken",
];

/// A snapshot of an error chain as `Display` lines, each cleaned and bounded, without the SDK's
/// structs: what our errors hold as `#[source]` instead of an SDK error.
#[derive(Clone, PartialEq, Eq)]
pub struct CauseChain {
    // Box<str>, not String: keeps the errors that hold a chain small.
    text: Box<str>,
    next: Option<Box<CauseChain>>,
}

impl CauseChain {
    /// A chain of the given lines, first on top. `None` for no lines.
    pub fn from_lines<I: IntoIterator<Item = String>>(lines: I) -> Option<CauseChain> {
        let lines: Vec<String> = lines.into_iter().collect();
        lines.into_iter().rev().fold(None, |next, text| {
            Some(CauseChain {
                text: text.into(),
                next: next.map(Box::new),
            })
        })
    }

    /// One line.
    pub fn line(text: impl Into<String>) -> CauseChain {
        CauseChain {
            text: text.into().into_boxed_str(),
            next: None,
        }
    }

    /// The lines, top first.
    pub fn lines(&self) -> Vec<&str> {
        let mut out = vec![&*self.text];
        let mut cur = self.next.as_deref();
        while let Some(c) = cur {
            out.push(&c.text);
            cur = c.next.as_deref();
        }
        out
    }
}

impl fmt::Display for CauseChain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

// Debug shows the lines only: a `{:?}` of a run error stays readable and holds no SDK struct.
impl fmt::Debug for CauseChain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.lines()).finish()
    }
}

impl Error for CauseChain {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.next.as_deref().map(|c| c as _)
    }
}

/// Which credential failure, with what to do about it in its `Display`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CredentialsProblem {
    /// No provider of the chain had credentials.
    NotFound { tried: String },
    /// `AWS_WEB_IDENTITY_TOKEN_FILE` names a file that cannot be read.
    WebIdentityTokenUnreadable { path: String },
    /// STS refused to assume the role (trust policy, audience, expired or invalid token).
    AssumeRoleRefused { role: String, code: String },
    /// A provider is set up wrong (e.g. a token file without `AWS_ROLE_ARN`, a broken profile).
    InvalidConfiguration,
    /// A provider failed otherwise (e.g. the instance metadata service refused); `provider`
    /// names it when the SDK's messages do.
    ProviderFailed { provider: &'static str },
    /// The source of credentials (STS, the instance metadata service) did not answer in time
    /// while a web identity token is configured: STS slow or unreachable, retry.
    Unreachable,
    /// The service refused the credentials it was given (unknown key, bad secret, expired token).
    Rejected { code: String },
}

impl CredentialsProblem {
    /// Configuration (exit 2), except an unreachable STS (exit 4).
    pub fn kind(&self) -> FailureKind {
        match self {
            CredentialsProblem::Unreachable => FailureKind::Transient,
            _ => FailureKind::Config,
        }
    }
}

impl fmt::Display for CredentialsProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CredentialsProblem::NotFound { tried } => write!(
                f,
                "no AWS credentials found (tried {tried}): {CREDENTIALS_FIX}"
            ),
            CredentialsProblem::WebIdentityTokenUnreadable { path } => write!(
                f,
                "AWS credentials: the web identity token file {path} (AWS_WEB_IDENTITY_TOKEN_FILE) cannot be read: {CREDENTIALS_FIX}"
            ),
            CredentialsProblem::AssumeRoleRefused { role, code } => write!(
                f,
                "AWS credentials: STS refused to assume role {role} ({code}): the role's trust policy must allow the cluster's OIDC provider, namespace and ServiceAccount, whose eks.amazonaws.com/role-arn annotation must name this role"
            ),
            CredentialsProblem::InvalidConfiguration => write!(
                f,
                "AWS credentials are configured wrong (a web identity token file needs AWS_ROLE_ARN; a profile needs keys or a role): {CREDENTIALS_FIX}"
            ),
            CredentialsProblem::ProviderFailed { provider } => write!(
                f,
                "AWS credentials could not be loaded: {provider} failed: {CREDENTIALS_FIX}"
            ),
            CredentialsProblem::Unreachable => write!(
                f,
                "AWS credentials could not be loaded: STS did not answer in time for the web identity (IRSA) role; re-run later"
            ),
            CredentialsProblem::Rejected { code } => {
                let what = match code.as_str() {
                    "ExpiredToken" | "ExpiredTokenException" | "TokenRefreshRequired" => {
                        "the session token has expired"
                    }
                    "InvalidToken" => "the session token is invalid",
                    "InvalidAccessKeyId"
                    | "InvalidClientTokenId"
                    | "UnrecognizedClientException" => "the access key id does not exist",
                    "SignatureDoesNotMatch" | "InvalidSignatureException" => {
                        "the secret access key does not match the access key id"
                    }
                    _ => "the request's credentials are missing or malformed",
                };
                write!(
                    f,
                    "AWS refused the credentials ({code}: {what}): {CREDENTIALS_FIX}"
                )
            }
        }
    }
}

/// What an AWS call's failure means for the run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AwsProblem {
    /// No usable credentials: see [`CredentialsProblem`].
    Credentials(CredentialsProblem),
    /// The bucket does not exist (configuration).
    NoSuchBucket,
    /// The object is gone: listed moments before, deleted or replaced before it was read. The
    /// listing changed under the run, so a re-run (which lists again) fixes it: transient.
    NoSuchKey,
    /// The service refused the request for a reason a re-run will not fix: denied, wrong
    /// region, invalid name (configuration).
    Refused { code: String },
    /// No answer, a timeout (`RequestTimeout` too), throttling or a server error, after the
    /// SDK's retries (transient).
    Unavailable,
}

impl AwsProblem {
    pub fn kind(&self) -> FailureKind {
        match self {
            AwsProblem::Credentials(c) => c.kind(),
            AwsProblem::NoSuchBucket | AwsProblem::Refused { .. } => FailureKind::Config,
            AwsProblem::NoSuchKey | AwsProblem::Unavailable => FailureKind::Transient,
        }
    }
}

/// A classified failure: what it means, and its causes as text.
#[derive(Clone, Debug)]
pub struct AwsFailure {
    pub problem: AwsProblem,
    pub cause: CauseChain,
}

/// What a service error code means, whatever the service. `status` is the HTTP status.
pub fn problem_for_code(code: Option<&str>, status: Option<u16>) -> AwsProblem {
    match code {
        Some(c) if CREDENTIAL_CODES.contains(&c) => {
            return AwsProblem::Credentials(CredentialsProblem::Rejected { code: c.to_owned() });
        }
        Some("NoSuchBucket") => return AwsProblem::NoSuchBucket,
        Some("NoSuchKey") => return AwsProblem::NoSuchKey,
        // Timeouts, throttling and server-side failures: retrying later helps. NoSuchUpload: a
        // multipart upload aborted under the run (a concurrent run's clean-up); a re-run
        // starts new ones.
        Some(
            "RequestTimeout"
            | "SlowDown"
            | "InternalError"
            | "ServiceUnavailable"
            | "Throttling"
            | "ThrottlingException"
            | "TooManyRequestsException"
            | "RequestLimitExceeded"
            | "OperationAborted"
            | "NoSuchUpload"
            | "InternalServiceError"
            | "InternalFailure",
        ) => return AwsProblem::Unavailable,
        _ => {}
    }
    match status {
        Some(s) if s == 408 || s == 429 || s >= 500 => AwsProblem::Unavailable,
        Some(s) if (300..500).contains(&s) => AwsProblem::Refused {
            code: code.map_or_else(|| format!("HTTP {s}"), str::to_owned),
        },
        _ => match code {
            Some(c) => AwsProblem::Refused { code: c.to_owned() },
            None => AwsProblem::Unavailable,
        },
    }
}

/// Classifies any AWS SDK error (S3, Secrets Manager): credentials first, then the service's
/// answer, then no answer (unavailable).
pub fn classify<E>(err: &SdkError<E, HttpResponse>) -> AwsFailure
where
    E: ProvideErrorMetadata + Error + 'static,
{
    if let Some((problem, cause)) = credentials_failure(err) {
        return AwsFailure {
            problem: AwsProblem::Credentials(problem),
            cause,
        };
    }
    match err {
        SdkError::ServiceError(service) => {
            let status = service.raw().status().as_u16();
            let problem = problem_for_code(err.code(), Some(status));
            AwsFailure {
                problem,
                cause: CauseChain::line(service_line(
                    err.code(),
                    err.message(),
                    Some(service.raw()),
                )),
            }
        }
        SdkError::ConstructionFailure(_) => AwsFailure {
            problem: AwsProblem::Refused {
                code: "request construction failed".into(),
            },
            cause: chain_of(err),
        },
        _ => AwsFailure {
            problem: AwsProblem::Unavailable,
            cause: chain_of(err),
        },
    }
}

/// `Code: message (HTTP 403, request id X)`: the service's answer, on one line.
pub fn service_line(
    code: Option<&str>,
    message: Option<&str>,
    raw: Option<&HttpResponse>,
) -> String {
    let mut line = code.unwrap_or("error without a code").to_owned();
    if let Some(m) = message.filter(|m| !m.trim().is_empty()) {
        line.push_str(": ");
        line.push_str(m.trim());
    }
    let mut extra = Vec::new();
    if let Some(raw) = raw {
        extra.push(format!("HTTP {}", raw.status().as_u16()));
        let headers = raw.headers();
        if let Some(id) = ["x-amz-request-id", "x-amzn-requestid", "x-amzn-request-id"]
            .into_iter()
            .find_map(|h| headers.get(h))
        {
            extra.push(format!("request id {id}"));
        }
    }
    if !extra.is_empty() {
        line.push_str(&format!(" ({})", extra.join(", ")));
    }
    clean_cause(&line)
}

/// The `Display` lines of `err` and its sources; the SDK's `ErrorMetadata` (whose `Display` is
/// a struct dump) as `Code: message`.
pub fn chain_of(err: &(dyn Error + 'static)) -> CauseChain {
    let mut lines: Vec<String> = Vec::new();
    let mut cur: Option<&(dyn Error + 'static)> = Some(err);
    while let Some(e) = cur {
        let line = match e.downcast_ref::<ErrorMetadata>() {
            Some(meta) => service_line(meta.code(), meta.message(), None),
            None => clean_cause(&e.to_string()),
        };
        if !line.is_empty() && lines.last() != Some(&line) {
            lines.push(line);
        }
        cur = e.source();
    }
    CauseChain::from_lines(lines).unwrap_or_else(|| CauseChain::line("(no error message)"))
}

/// A credential failure anywhere in the error's sources, or a service code refusing them.
fn credentials_failure<E>(
    err: &SdkError<E, HttpResponse>,
) -> Option<(CredentialsProblem, CauseChain)>
where
    E: ProvideErrorMetadata + Error + 'static,
{
    if let SdkError::ServiceError(service) = err {
        return match problem_for_code(err.code(), Some(service.raw().status().as_u16())) {
            AwsProblem::Credentials(p) => Some((
                p,
                CauseChain::line(service_line(err.code(), err.message(), Some(service.raw()))),
            )),
            _ => None,
        };
    }
    let mut cur: Option<&(dyn Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(creds) = e.downcast_ref::<CredentialsError>() {
            return Some((credentials_problem(creds, &Env::process()), chain_of(creds)));
        }
        // The lazy identity cache's timeout (a private type): nothing answered in time.
        if e.to_string().starts_with("identity resolver timed out") {
            let env = Env::process();
            let problem = if env.web_identity.is_some() {
                CredentialsProblem::Unreachable
            } else {
                CredentialsProblem::NotFound { tried: env.tried() }
            };
            return Some((problem, chain_of(e)));
        }
        cur = e.source();
    }
    None
}

/// The credential-related environment: which providers of the chain had something to go on.
/// Names and paths only, never a value of a key or token.
#[derive(Clone, Debug, Default)]
pub struct Env {
    pub access_key_set: bool,
    pub profile: Option<String>,
    pub web_identity: Option<String>,
    pub role_arn: Option<String>,
    pub imds_disabled: bool,
}

impl Env {
    fn process() -> Env {
        let var = |n: &str| std::env::var(n).ok().filter(|v| !v.trim().is_empty());
        Env {
            access_key_set: var("AWS_ACCESS_KEY_ID").is_some(),
            profile: var("AWS_PROFILE"),
            web_identity: var("AWS_WEB_IDENTITY_TOKEN_FILE"),
            role_arn: var("AWS_ROLE_ARN"),
            imds_disabled: var("AWS_EC2_METADATA_DISABLED")
                .is_some_and(|v| v.eq_ignore_ascii_case("true")),
        }
    }

    /// The providers of the default chain, as looked at: `environment variables (AWS_ACCESS_KEY_ID
    /// not set), ...`.
    fn tried(&self) -> String {
        [
            if self.access_key_set {
                "env keys"
            } else {
                "env keys (AWS_ACCESS_KEY_ID not set)"
            },
            if self.profile.is_some() {
                "profile AWS_PROFILE"
            } else {
                "default profile"
            },
            if self.web_identity.is_some() {
                "web identity"
            } else {
                "web identity (AWS_WEB_IDENTITY_TOKEN_FILE not set)"
            },
            "ECS",
            if self.imds_disabled {
                "EC2 instance metadata (disabled)"
            } else {
                "EC2 instance metadata (no answer or no role)"
            },
        ]
        .join(", ")
    }
}

/// Which credential failure a [`CredentialsError`] is, from its variant and its sources.
pub fn credentials_problem(err: &CredentialsError, env: &Env) -> CredentialsProblem {
    let sources = || {
        let mut v: Vec<&(dyn Error + 'static)> = Vec::new();
        let mut cur = err.source();
        while let Some(e) = cur {
            v.push(e);
            cur = e.source();
        }
        v
    };
    match err {
        CredentialsError::CredentialsNotLoaded(_) => {
            CredentialsProblem::NotFound { tried: env.tried() }
        }
        CredentialsError::InvalidConfiguration(_) => CredentialsProblem::InvalidConfiguration,
        CredentialsError::ProviderTimedOut(_) => {
            if env.web_identity.is_some() {
                CredentialsProblem::Unreachable
            } else {
                CredentialsProblem::NotFound { tried: env.tried() }
            }
        }
        CredentialsError::ProviderError(_) | CredentialsError::Unhandled(_) => {
            let sources = sources();
            // The token file could not be read: the web identity provider wraps the file's io
            // error directly (STS's own io errors sit below an SDK error), or it is not UTF-8.
            if let Some(path) = &env.web_identity
                && sources.first().is_some_and(|e| {
                    e.is::<std::io::Error>() || e.to_string().contains("WebIdentityToken")
                })
            {
                return CredentialsProblem::WebIdentityTokenUnreadable { path: path.clone() };
            }
            // STS answered: refused to assume the role.
            if let Some(code) = sources
                .iter()
                .find_map(|e| e.downcast_ref::<ErrorMetadata>().and_then(|m| m.code()))
                && (CREDENTIAL_CODES.contains(&code)
                    || matches!(
                        code,
                        "AccessDenied" | "InvalidIdentityToken" | "IDPRejectedClaim"
                    )
                    || env.web_identity.is_some())
            {
                return CredentialsProblem::AssumeRoleRefused {
                    role: env
                        .role_arn
                        .clone()
                        .unwrap_or_else(|| "(AWS_ROLE_ARN)".into()),
                    code: code.to_owned(),
                };
            }
            // STS or the metadata service did not answer.
            if env.web_identity.is_some()
                && sources.iter().any(|e| {
                    e.downcast_ref::<ConnectorError>()
                        .is_some_and(|c| c.is_io() || c.is_timeout())
                })
            {
                return CredentialsProblem::Unreachable;
            }
            CredentialsProblem::ProviderFailed {
                provider: provider_named(&sources),
            }
        }
        _ => CredentialsProblem::ProviderFailed {
            provider: provider_named(&sources()),
        },
    }
}

/// Which provider of the chain the SDK's messages name (they name IMDS, ECS and profiles).
fn provider_named(sources: &[&(dyn Error + 'static)]) -> &'static str {
    let text = sources
        .iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join(" ");
    if text.contains("IMDS") {
        "the EC2 instance metadata service (IMDS)"
    } else if text.contains("ECS") || text.contains("container") {
        "the ECS container credentials endpoint"
    } else if text.contains("profile") {
        "the AWS profile"
    } else {
        "a provider of the AWS credential chain"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_s3::operation::get_object::GetObjectError;
    use aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Error;
    use aws_smithy_types::body::SdkBody;

    fn response(status: u16, request_id: &str) -> HttpResponse {
        let mut raw = HttpResponse::new(
            status.try_into().expect("valid status"),
            SdkBody::from("<Error><Code>x</Code></Error>"),
        );
        raw.headers_mut()
            .insert("x-amz-request-id", request_id.to_owned());
        raw
    }

    fn service_error(
        status: u16,
        code: &str,
        message: &str,
    ) -> SdkError<GetObjectError, HttpResponse> {
        let meta = ErrorMetadata::builder().code(code).message(message).build();
        SdkError::service_error(GetObjectError::generic(meta), response(status, "REQ123"))
    }

    fn dispatch(
        source: Box<dyn Error + Send + Sync>,
    ) -> SdkError<ListObjectsV2Error, HttpResponse> {
        SdkError::dispatch_failure(ConnectorError::other(source, None))
    }

    fn text(f: &AwsFailure) -> String {
        f.cause.lines().join("\n")
    }

    #[test]
    fn service_codes_map_to_exit_kinds() {
        let cases = [
            (403, "AccessDenied", FailureKind::Config),
            (404, "NoSuchBucket", FailureKind::Config),
            (404, "NoSuchKey", FailureKind::Transient),
            (400, "RequestTimeout", FailureKind::Transient),
            (503, "SlowDown", FailureKind::Transient),
            (500, "InternalError", FailureKind::Transient),
            (403, "InvalidAccessKeyId", FailureKind::Config),
            (403, "SignatureDoesNotMatch", FailureKind::Config),
            (400, "ExpiredToken", FailureKind::Config),
            (400, "InvalidToken", FailureKind::Config),
            (400, "TokenRefreshRequired", FailureKind::Config),
            (301, "PermanentRedirect", FailureKind::Config),
            (400, "InvalidBucketName", FailureKind::Config),
        ];
        for (status, code, kind) in cases {
            let failure = classify(&service_error(status, code, "m"));
            assert_eq!(failure.problem.kind(), kind, "{code}");
        }
        let expired = classify(&service_error(
            400,
            "ExpiredToken",
            "The provided token has expired.",
        ));
        assert_eq!(
            expired.problem,
            AwsProblem::Credentials(CredentialsProblem::Rejected {
                code: "ExpiredToken".into()
            })
        );
        assert_eq!(
            text(&expired),
            "ExpiredToken: The provided token has expired. (HTTP 400, request id REQ123)"
        );
        let shown = format!(
            "{}",
            CredentialsProblem::Rejected {
                code: "ExpiredToken".into()
            }
        );
        assert!(
            shown.contains("session token has expired")
                && shown.contains("eks.amazonaws.com/role-arn"),
            "{shown}"
        );
    }

    #[test]
    fn credentials_not_loaded_behind_a_dispatch_failure_is_configuration() {
        let creds = CredentialsError::not_loaded("no providers in chain provided credentials");
        let failure = classify(&dispatch(Box::new(creds)));
        let AwsProblem::Credentials(CredentialsProblem::NotFound { tried }) = &failure.problem
        else {
            panic!("{failure:?}");
        };
        assert!(tried.contains("AWS_ACCESS_KEY_ID"), "{tried}");
        assert_eq!(failure.problem.kind(), FailureKind::Config);
        assert_eq!(
            failure.cause.lines(),
            [
                "the credential provider was not enabled",
                "no providers in chain provided credentials"
            ]
        );
    }

    #[test]
    fn provider_errors_name_the_provider_and_the_fix() {
        let with_token = Env {
            web_identity: Some("/var/run/secrets/eks.amazonaws.com/serviceaccount/token".into()),
            role_arn: Some("arn:aws:iam::1:role/ingest".into()),
            ..Env::default()
        };
        let missing =
            CredentialsError::provider_error(std::io::Error::from(std::io::ErrorKind::NotFound));
        let problem = credentials_problem(&missing, &with_token);
        assert!(matches!(
            problem,
            CredentialsProblem::WebIdentityTokenUnreadable { .. }
        ));
        let shown = problem.to_string();
        assert!(shown.contains("/var/run/secrets/eks.amazonaws.com/serviceaccount/token"));
        assert!(shown.contains("eks.amazonaws.com/role-arn"), "{shown}");

        let refused = CredentialsError::provider_error(
            ErrorMetadata::builder()
                .code("AccessDenied")
                .message("Not authorized to perform sts:AssumeRoleWithWebIdentity")
                .build(),
        );
        let problem = credentials_problem(&refused, &with_token);
        assert_eq!(
            problem,
            CredentialsProblem::AssumeRoleRefused {
                role: "arn:aws:iam::1:role/ingest".into(),
                code: "AccessDenied".into()
            }
        );
        assert!(problem.to_string().contains("trust policy"));
        // The SDK's ErrorMetadata Display is a struct dump; the chain renders it as a line.
        assert_eq!(
            chain_of(&refused).lines(),
            [
                "an error occurred while loading credentials",
                "AccessDenied: Not authorized to perform sts:AssumeRoleWithWebIdentity"
            ]
        );

        let sts_down = CredentialsError::provider_error(ConnectorError::io(
            std::io::Error::from(std::io::ErrorKind::ConnectionRefused).into(),
        ));
        let no_token = Env::default();
        assert_eq!(
            credentials_problem(&sts_down, &with_token),
            CredentialsProblem::Unreachable,
            "STS not answering for a web identity role: retry"
        );
        assert_eq!(
            credentials_problem(&sts_down, &no_token),
            CredentialsProblem::ProviderFailed {
                provider: "a provider of the AWS credential chain"
            }
        );
        assert_eq!(
            credentials_problem(
                &CredentialsError::provider_timed_out(std::time::Duration::from_secs(5)),
                &with_token
            ),
            CredentialsProblem::Unreachable
        );
        assert_eq!(
            credentials_problem(
                &CredentialsError::invalid_configuration(
                    "AWS_ROLE_ARN environment variable must be set"
                ),
                &no_token
            ),
            CredentialsProblem::InvalidConfiguration
        );
    }

    #[test]
    fn no_answer_is_unavailable_and_reads_as_display_lines() {
        let refused = std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "Connection refused (os error 111)",
        );
        let err = SdkError::<ListObjectsV2Error, HttpResponse>::dispatch_failure(
            ConnectorError::io(refused.into()),
        );
        let failure = classify(&err);
        assert_eq!(failure.problem, AwsProblem::Unavailable);
        assert_eq!(
            failure.cause.lines(),
            [
                "dispatch failure",
                "io error",
                "Connection refused (os error 111)"
            ]
        );
        for line in failure.cause.lines() {
            assert!(!crate::error::looks_like_debug(line), "{line}");
        }
        // What the old code printed for the same error: the Debug dump the check catches.
        let old = aws_sdk_s3::error::DisplayErrorContext(&err).to_string();
        assert!(crate::error::looks_like_debug(&old), "{old}");
    }
}
