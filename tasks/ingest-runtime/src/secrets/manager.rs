//! Secret values from AWS Secrets Manager.
//!
//! Any secret env var `<VAR>` of [`crate::config::SECRET_ENV`] may be given indirectly:
//!
//! - `<VAR>_SECRET_ID=<arn or name>`: the value is the secret's string (or UTF-8 binary) value;
//! - plus `<VAR>_SECRET_KEY=<json key>`: the secret is a JSON object and the value is that key's.
//!
//! The values are read once at start-up with `GetSecretValue` and go straight into the redacting
//! [`Secret`] type; like direct values they are trimmed, and an empty one counts as unset. Errors
//! name the variable and the secret id, never a value: a missing secret, a denied access or a
//! malformed value is a configuration error (exit 2), Secrets Manager unavailable after retries
//! is transient (exit 4).
//!
//! Region and credentials come from the standard AWS chain (IRSA in EKS), like S3; the endpoint
//! can be overridden with the SDK's standard `AWS_ENDPOINT_URL_SECRETS_MANAGER` (or
//! `AWS_ENDPOINT_URL`). The HTTP client is the S3 source's (rustls with ring).

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use aws_sdk_secretsmanager::error::{ProvideErrorMetadata, SdkError};

use crate::aws_error::{AwsProblem, CauseChain, CredentialsProblem};

use crate::error::FailureKind;
use crate::secrets::Secret;

/// `<VAR>_SECRET_ID`: the Secrets Manager secret (ARN or name) holding `<VAR>`'s value.
pub const ID_SUFFIX: &str = "_SECRET_ID";
/// `<VAR>_SECRET_KEY`: the key of the secret's JSON object holding `<VAR>`'s value.
pub const KEY_SUFFIX: &str = "_SECRET_KEY";

/// Attempts per `GetSecretValue` (the SDK's standard retry mode, with backoff).
const MAX_ATTEMPTS: u32 = 4;

/// Where a value lives in Secrets Manager: a secret and, optionally, a key of its JSON object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretRef {
    /// ARN or name.
    pub secret_id: String,
    pub json_key: Option<String>,
}

impl SecretRef {
    /// Parses `<arn or name>` or `<arn or name>#<json key>` (secret names cannot contain `#`).
    pub fn parse(spec: &str) -> Result<SecretRef, String> {
        let spec = spec.trim();
        let (id, key) = match spec.split_once('#') {
            Some((id, key)) => (id.trim(), Some(key.trim())),
            None => (spec, None),
        };
        if id.is_empty() {
            return Err(format!(
                "{spec:?}: expected <secret arn or name>[#<json key>]"
            ));
        }
        if key == Some("") {
            return Err(format!("{spec:?}: the JSON key after '#' is empty"));
        }
        Ok(SecretRef {
            secret_id: id.to_owned(),
            json_key: key.map(str::to_owned),
        })
    }
}

impl fmt::Display for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.json_key {
            Some(key) => write!(f, "{}#{key}", self.secret_id),
            None => f.write_str(&self.secret_id),
        }
    }
}

/// Why a value could not be read. `what` names who asked (an env var such as
/// `SNOWFLAKE_PRIVATE_KEY_SECRET_ID`, or a preflight `--sync` entry); no variant holds a value.
#[derive(Debug, thiserror::Error)]
pub enum SecretsManagerError {
    #[error("both {env} and {env}{ID_SUFFIX} are set: set only one of them")]
    Conflict { env: String },

    #[error("{env}{KEY_SUFFIX} is set but {env}{ID_SUFFIX} is not")]
    KeyWithoutId { env: String },

    #[error("{what}: cannot call AWS Secrets Manager: {detail}")]
    Setup { what: String, detail: String },

    #[error(
        "{what}: AWS Secrets Manager secret {secret_id} does not exist in this account and region (ResourceNotFoundException)"
    )]
    NotFound { what: String, secret_id: String },

    #[error(
        "{what}: access to AWS Secrets Manager secret {secret_id} was denied ({code}): the pod's role needs secretsmanager:GetSecretValue on it, and kms:Decrypt when it is encrypted with a customer-managed key"
    )]
    Denied {
        what: String,
        secret_id: String,
        code: String,
    },

    #[error("{what}: AWS Secrets Manager refused to read secret {secret_id} ({code}: {message})")]
    Refused {
        what: String,
        secret_id: String,
        code: String,
        message: String,
    },

    #[error(
        "{what}: AWS Secrets Manager secret {secret_id} is not a JSON object, so key {key:?} cannot be read from it"
    )]
    NotJson {
        what: String,
        secret_id: String,
        key: String,
    },

    #[error("{what}: AWS Secrets Manager secret {secret_id} has no JSON key {key:?}")]
    MissingKey {
        what: String,
        secret_id: String,
        key: String,
    },

    #[error("{what}: AWS Secrets Manager secret {secret_id}{} has no text value ({why})", .key.as_deref().map(|k| format!(" key {k:?}")).unwrap_or_default())]
    NotText {
        what: String,
        secret_id: String,
        key: Option<String>,
        why: &'static str,
    },

    #[error("{what}: AWS Secrets Manager secret {secret_id}: {problem}")]
    Credentials {
        what: String,
        secret_id: String,
        /// Boxed: keeps `Result<_, SecretsManagerError>` small.
        problem: Box<CredentialsProblem>,
        #[source]
        cause: CauseChain,
    },

    #[error("{what}: AWS Secrets Manager is unavailable (secret {secret_id})")]
    Unavailable {
        what: String,
        secret_id: String,
        #[source]
        cause: CauseChain,
    },
}

impl SecretsManagerError {
    /// Configuration (exit 2) for everything but an unavailable service (or STS) (exit 4).
    pub fn kind(&self) -> FailureKind {
        match self {
            SecretsManagerError::Unavailable { .. } => FailureKind::Transient,
            SecretsManagerError::Credentials { problem, .. } => problem.kind(),
            _ => FailureKind::Config,
        }
    }
}

/// A Secrets Manager client from the standard AWS chain, with the runtime's HTTPS client.
pub async fn client() -> Result<aws_sdk_secretsmanager::Client, String> {
    let retry = aws_config::retry::RetryConfig::standard()
        .with_max_attempts(MAX_ATTEMPTS)
        .with_initial_backoff(Duration::from_millis(200))
        .with_max_backoff(Duration::from_secs(5));
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(5))
        .operation_attempt_timeout(Duration::from_secs(15))
        .build();
    let shared = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(crate::aws_client::https_client())
        .retry_config(retry)
        .timeout_config(timeouts)
        .load()
        .await;
    if shared.region().is_none() {
        return Err(
            "no AWS region: set AWS_REGION (the region of the secrets) or run where the AWS chain provides one"
                .into(),
        );
    }
    Ok(aws_sdk_secretsmanager::Client::new(&shared))
}

/// Reads one value. `what` names who asked, for the error messages.
pub async fn fetch(
    client: &aws_sdk_secretsmanager::Client,
    what: &str,
    reference: &SecretRef,
) -> Result<Secret, SecretsManagerError> {
    let id = &reference.secret_id;
    let output = client
        .get_secret_value()
        .secret_id(id)
        .send()
        .await
        .map_err(|err| classify(what, id, err))?;
    let not_text = |why| SecretsManagerError::NotText {
        what: what.to_owned(),
        secret_id: id.clone(),
        key: None,
        why,
    };
    let raw = match (output.secret_string(), output.secret_binary()) {
        (Some(s), _) => s.to_owned(),
        (None, Some(bytes)) => String::from_utf8(bytes.as_ref().to_vec())
            .map_err(|_| not_text("its binary value is not UTF-8"))?,
        (None, None) => return Err(not_text("it has neither a string nor a binary value")),
    };
    extract(what, reference, raw)
}

/// The value for `reference` out of the secret's raw value: all of it, or one JSON key's.
fn extract(what: &str, reference: &SecretRef, raw: String) -> Result<Secret, SecretsManagerError> {
    let Some(key) = &reference.json_key else {
        return Ok(Secret::from(raw));
    };
    let id = &reference.secret_id;
    // The parse error is dropped: serde_json's messages never quote input, but nothing here needs to.
    let Ok(serde_json::Value::Object(mut object)) = serde_json::from_str(&raw) else {
        return Err(SecretsManagerError::NotJson {
            what: what.to_owned(),
            secret_id: id.clone(),
            key: key.clone(),
        });
    };
    drop(raw);
    match object.remove(key) {
        Some(serde_json::Value::String(s)) => Ok(Secret::from(s)),
        Some(v @ (serde_json::Value::Number(_) | serde_json::Value::Bool(_))) => {
            Ok(Secret::from(v.to_string()))
        }
        Some(_) => Err(SecretsManagerError::NotText {
            what: what.to_owned(),
            secret_id: id.clone(),
            key: Some(key.clone()),
            why: "the key's value is null, an array or an object",
        }),
        None => Err(SecretsManagerError::MissingKey {
            what: what.to_owned(),
            secret_id: id.clone(),
            key: key.clone(),
        }),
    }
}

type GetError = aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueError;
type HttpResponse = aws_sdk_secretsmanager::config::http::HttpResponse;

/// Credentials first (the shared classifier of [`crate::aws_error`]), then a missing secret or
/// denied access: configuration. No response at all, or a server error after the SDK's
/// retries: unavailable. Texts are the service's code, message and request id, never the SDK's
/// structs.
fn classify(what: &str, id: &str, err: SdkError<GetError, HttpResponse>) -> SecretsManagerError {
    let what = what.to_owned();
    let secret_id = id.to_owned();
    let failure = crate::aws_error::classify(&err);
    if let AwsProblem::Credentials(problem) = failure.problem {
        return SecretsManagerError::Credentials {
            what,
            secret_id,
            problem: Box::new(problem),
            cause: failure.cause,
        };
    }
    let status = err.raw_response().map(|r| r.status().as_u16());
    let code = err.code().map(str::to_owned);
    match &err {
        SdkError::ServiceError(_) => {}
        SdkError::ConstructionFailure(_) => {
            return SecretsManagerError::Setup {
                what,
                detail: format!(
                    "cannot build the request (AWS credentials?): {}",
                    failure.cause.lines().join(": ")
                ),
            };
        }
        _ => {
            return SecretsManagerError::Unavailable {
                what,
                secret_id,
                cause: failure.cause,
            };
        }
    }
    match code.as_deref() {
        Some("ResourceNotFoundException") => SecretsManagerError::NotFound { what, secret_id },
        Some(
            c @ ("AccessDeniedException"
            | "AccessDenied"
            | "DecryptionFailure"
            | "KMSAccessDeniedException"),
        ) => SecretsManagerError::Denied {
            what,
            secret_id,
            code: c.to_owned(),
        },
        Some(
            c @ ("InvalidRequestException" | "InvalidParameterException" | "ValidationException"),
        ) => SecretsManagerError::Refused {
            what,
            secret_id,
            code: c.to_owned(),
            message: crate::error::clean_cause(err.message().unwrap_or_default()),
        },
        _ if matches!(status, Some(401 | 403)) => SecretsManagerError::Denied {
            what,
            secret_id,
            code: code.unwrap_or_else(|| format!("HTTP {}", status.unwrap_or(0))),
        },
        _ if failure.problem.kind() == FailureKind::Config => SecretsManagerError::Refused {
            what,
            secret_id,
            code: code.unwrap_or_else(|| format!("HTTP {}", status.unwrap_or(0))),
            message: failure.cause.lines().join(": "),
        },
        _ => SecretsManagerError::Unavailable {
            what,
            secret_id,
            cause: failure.cause,
        },
    }
}

/// Secret env vars, read directly or through Secrets Manager.
#[derive(Default)]
pub struct Resolved {
    /// Every variable that has a (non-empty) value, by name.
    pub values: BTreeMap<String, Secret>,
    /// The variables whose value came from Secrets Manager, and from where.
    pub from_secrets_manager: Vec<(String, SecretRef)>,
    /// What could not be read (each names its variable and secret, never a value).
    pub errors: Vec<SecretsManagerError>,
}

/// Reads each of `names`: `<NAME>` directly, or `<NAME>_SECRET_ID` (+ `<NAME>_SECRET_KEY`) from
/// Secrets Manager. Values are trimmed and empty ones are unset. The client is only built when a
/// variable is given indirectly.
pub async fn resolve<F>(names: &[&str], lookup: F) -> Resolved
where
    F: Fn(&str) -> Option<String>,
{
    let get = |name: &str| {
        lookup(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let mut resolved = Resolved::default();
    let mut wanted: Vec<(String, SecretRef)> = Vec::new();
    for &name in names {
        let direct = get(name);
        let id = get(&format!("{name}{ID_SUFFIX}"));
        let key = get(&format!("{name}{KEY_SUFFIX}"));
        match (direct, id, key) {
            (Some(_), Some(_), _) => resolved.errors.push(SecretsManagerError::Conflict {
                env: name.to_owned(),
            }),
            (_, None, Some(_)) => resolved.errors.push(SecretsManagerError::KeyWithoutId {
                env: name.to_owned(),
            }),
            (Some(value), None, None) => {
                resolved.values.insert(name.to_owned(), Secret::from(value));
            }
            (None, Some(secret_id), json_key) => wanted.push((
                name.to_owned(),
                SecretRef {
                    secret_id,
                    json_key,
                },
            )),
            (None, None, None) => {}
        }
    }
    if wanted.is_empty() {
        return resolved;
    }
    let client = match client().await {
        Ok(c) => c,
        Err(detail) => {
            for (name, _) in wanted {
                resolved.errors.push(SecretsManagerError::Setup {
                    what: format!("{name}{ID_SUFFIX}"),
                    detail: detail.clone(),
                });
            }
            return resolved;
        }
    };
    for (name, reference) in wanted {
        let what = format!("{name}{ID_SUFFIX}");
        match fetch(&client, &what, &reference).await {
            Ok(value) => {
                let trimmed = value.expose().trim();
                if trimmed.is_empty() {
                    resolved.errors.push(SecretsManagerError::NotText {
                        what,
                        secret_id: reference.secret_id.clone(),
                        key: reference.json_key.clone(),
                        why: "the value is empty",
                    });
                    continue;
                }
                let value = if trimmed.len() == value.expose().len() {
                    value
                } else {
                    Secret::from(trimmed.to_owned())
                };
                tracing::info!(env = %name, secret_id = %reference.secret_id, json_key = reference.json_key.as_deref(), "secret read from AWS Secrets Manager");
                resolved.values.insert(name.clone(), value);
                resolved.from_secrets_manager.push((name, reference));
            }
            Err(err) => resolved.errors.push(err),
        }
    }
    resolved
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(key: Option<&str>) -> SecretRef {
        SecretRef {
            secret_id: "ingest/prod".into(),
            json_key: key.map(str::to_owned),
        }
    }

    #[test]
    fn references_parse() {
        assert_eq!(SecretRef::parse("ingest/prod").unwrap(), reference(None));
        assert_eq!(
            SecretRef::parse(" ingest/prod#url ").unwrap(),
            reference(Some("url"))
        );
        let arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:ingest/prod-AbCdEf";
        assert_eq!(SecretRef::parse(arn).unwrap().secret_id, arn);
        assert!(SecretRef::parse("#url").is_err());
        assert!(SecretRef::parse("ingest/prod#").is_err());
        assert_eq!(reference(Some("url")).to_string(), "ingest/prod#url");
    }

    #[test]
    fn plain_and_json_values() {
        let plain = extract("X_SECRET_ID", &reference(None), "v4lue".into()).unwrap();
        assert_eq!(plain.expose(), "v4lue");
        let doc = r#"{"url": "https://h/x", "port": 443, "nested": {"a": 1}}"#;
        let url = extract("X_SECRET_ID", &reference(Some("url")), doc.into()).unwrap();
        assert_eq!(url.expose(), "https://h/x");
        let port = extract("X_SECRET_ID", &reference(Some("port")), doc.into()).unwrap();
        assert_eq!(port.expose(), "443");
    }

    #[test]
    fn json_errors_never_quote_the_value() {
        let sentinel = "SENTINEL-never-shown";
        let doc = format!(r#"{{"other": "{sentinel}", "nested": {{"a": "{sentinel}"}}}}"#);
        let errors = [
            extract("X_SECRET_ID", &reference(Some("url")), doc.clone()).unwrap_err(),
            extract("X_SECRET_ID", &reference(Some("nested")), doc).unwrap_err(),
            extract("X_SECRET_ID", &reference(Some("url")), sentinel.into()).unwrap_err(),
        ];
        assert!(matches!(errors[0], SecretsManagerError::MissingKey { .. }));
        assert!(matches!(errors[1], SecretsManagerError::NotText { .. }));
        assert!(matches!(errors[2], SecretsManagerError::NotJson { .. }));
        for err in &errors {
            let text = format!("{err} {err:?}");
            assert!(!text.contains(sentinel), "{text}");
            assert!(text.contains("ingest/prod"), "{text}");
            assert_eq!(err.kind(), FailureKind::Config);
        }
    }

    #[tokio::test]
    async fn direct_values_conflicts_and_orphan_keys_need_no_client() {
        let env: BTreeMap<&str, &str> = [
            ("A", " direct \n"),
            ("B", "direct"),
            ("B_SECRET_ID", "ingest/b"),
            ("C_SECRET_KEY", "k"),
            ("D", "   "),
        ]
        .into_iter()
        .collect();
        let resolved = resolve(&["A", "B", "C", "D", "E"], |n| {
            env.get(n).map(|v| (*v).to_owned())
        })
        .await;
        assert_eq!(resolved.values.len(), 1);
        assert_eq!(resolved.values["A"].expose(), "direct");
        let messages: Vec<String> = resolved.errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            messages,
            [
                "both B and B_SECRET_ID are set: set only one of them",
                "C_SECRET_KEY is set but C_SECRET_ID is not",
            ]
        );
        assert!(resolved.from_secrets_manager.is_empty());
    }
}
