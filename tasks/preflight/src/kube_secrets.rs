//! The jobs' Kubernetes Secret: which keys it has, and `--sync` from AWS Secrets Manager.
//!
//! The Secret is read with a raw `GET` and parsed here into key → bytes, instead of
//! `Api<Secret>::get`: kube logs a response body it cannot deserialize, and a Secret's body is
//! its values. Nothing in this module formats a value: reports carry key names only.

use std::collections::BTreeMap;
use std::fmt;

use ingest_runtime::secrets::Secret;
use k8s_openapi::ByteString;
use kube::api::{GetParams, Patch, PatchParams};
use serde::{Deserialize, Serialize};

use crate::plan::RequiredKey;
use crate::report::{Row, Status};

/// The field manager of `--sync`'s patches (visible in the Secret's managedFields).
pub const FIELD_MANAGER: &str = "ingest-preflight";

/// The keys and values of a Secret that exists. Its `Debug` shows key names only.
pub struct SecretData(BTreeMap<String, ByteString>);

impl SecretData {
    /// Key names, sorted.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    /// True when the key exists with a non-empty value.
    pub fn has_value(&self, key: &str) -> bool {
        self.0.get(key).is_some_and(|v| !v.0.is_empty())
    }

    /// A value as a [`Secret`] (for the webhook check's URL), when it is UTF-8.
    pub fn secret(&self, key: &str) -> Option<Secret> {
        let bytes = self.0.get(key)?;
        let text = std::str::from_utf8(&bytes.0).ok()?.trim();
        (!text.is_empty()).then(|| Secret::from(text.to_owned()))
    }
}

impl fmt::Debug for SecretData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

/// What a `GET` of the Secret found.
#[derive(Debug)]
pub enum SecretLookup {
    Found(SecretData),
    NotFound,
    /// RBAC said no (403) or the token was refused (401); the API server's message.
    Forbidden(String),
    /// The API server did not answer, or not with a Secret.
    Unavailable(String),
}

#[derive(Deserialize)]
struct SecretBody {
    kind: Option<String>,
    #[serde(default)]
    data: Option<BTreeMap<String, ByteString>>,
}

fn secrets_path(namespace: &str) -> String {
    format!("/api/v1/namespaces/{namespace}/secrets")
}

/// Reads the Secret `name` in `namespace` (RBAC: `get` on that one Secret).
pub async fn read_secret(client: &kube::Client, namespace: &str, name: &str) -> SecretLookup {
    let request =
        match kube::core::Request::new(secrets_path(namespace)).get(name, &GetParams::default()) {
            Ok(r) => r,
            Err(e) => {
                return SecretLookup::Unavailable(format!("bad request for Secret {name:?}: {e}"));
            }
        };
    match client.request_text(request).await {
        Ok(text) => match serde_json::from_str::<SecretBody>(&text) {
            Ok(body) if body.kind.as_deref().is_none_or(|k| k == "Secret") => {
                SecretLookup::Found(SecretData(body.data.unwrap_or_default()))
            }
            // Never quote the body: it is the Secret's values.
            _ => SecretLookup::Unavailable("the API server's answer is not a Secret".to_owned()),
        },
        Err(err) => match classify(err) {
            ApiFailure::NotFound => SecretLookup::NotFound,
            ApiFailure::Forbidden(message) => SecretLookup::Forbidden(message),
            ApiFailure::Unavailable(why) => SecretLookup::Unavailable(why),
        },
    }
}

/// A failed API call, by what it means for the deployment.
enum ApiFailure {
    NotFound,
    /// RBAC said no (403) or the token was refused (401): the API server's message.
    Forbidden(String),
    Unavailable(String),
}

fn classify(err: kube::Error) -> ApiFailure {
    match err {
        kube::Error::Api(status) if status.is_not_found() => ApiFailure::NotFound,
        kube::Error::Api(status) if status.is_forbidden() || status.code == 401 => {
            ApiFailure::Forbidden(status.message.clone())
        }
        kube::Error::Api(status) => {
            ApiFailure::Unavailable(format!("HTTP {}: {}", status.code, status.message))
        }
        other => ApiFailure::Unavailable(other.to_string()),
    }
}

/// One row per required key: present, missing or empty, or why the Secret could not be read.
pub fn key_rows(
    lookup: &SecretLookup,
    namespace: &str,
    secret: &str,
    required: &[RequiredKey],
    jobs: &str,
) -> Vec<Row> {
    required
        .iter()
        .map(|req| {
            let target = format!("{secret}/{}", req.display());
            let (status, detail) = match lookup {
                SecretLookup::Found(data) => {
                    match req.alternatives.iter().find(|k| data.has_value(k)) {
                        Some(k) if req.alternatives.len() > 1 => {
                            (Status::Ok, format!("{k} present{}", req.envs()))
                        }
                        Some(_) => (Status::Ok, format!("present{}", req.envs())),
                        None => {
                            let empty: Vec<&String> = req
                                .alternatives
                                .iter()
                                .filter(|k| data.keys().any(|have| have == k.as_str()))
                                .collect();
                            let what = if empty.is_empty() {
                                "missing from the Secret".to_owned()
                            } else {
                                format!(
                                    "present but empty: {}",
                                    empty
                                        .iter()
                                        .map(|k| k.as_str())
                                        .collect::<Vec<_>>()
                                        .join(", ")
                                )
                            };
                            (Status::Fail, format!("{what}{}", req.envs()))
                        }
                    }
                }
                SecretLookup::NotFound => (
                    Status::Fail,
                    format!("Secret {secret:?} does not exist in namespace {namespace}"),
                ),
                SecretLookup::Forbidden(message) => (
                    Status::Fail,
                    format!(
                        "forbidden: preflight's ServiceAccount needs `get` on secrets/{secret} ({message})"
                    ),
                ),
                SecretLookup::Unavailable(why) => (Status::Unavailable, why.clone()),
            };
            Row::new("secret-key", target, jobs, status, detail)
        })
        .collect()
}

/// What `--sync` did to one key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    Added,
    Updated,
    Unchanged,
}

impl Change {
    pub fn label(self) -> &'static str {
        match self {
            Change::Added => "added",
            Change::Updated => "updated",
            Change::Unchanged => "unchanged",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(
        "Secret {secret:?} does not exist in namespace {namespace}: create it (the chart's secret.create, or kubectl) before --sync"
    )]
    NoSecret { namespace: String, secret: String },
    #[error("forbidden: --sync needs `get` and `patch` on secrets/{secret} ({message})")]
    Forbidden { secret: String, message: String },
    #[error("the Kubernetes API is unavailable: {0}")]
    Unavailable(String),
}

impl SyncError {
    pub fn status(&self) -> Status {
        match self {
            SyncError::Unavailable(_) => Status::Unavailable,
            _ => Status::Fail,
        }
    }
}

/// The `data` of a merge patch. Its `Debug` shows key names only.
#[derive(Serialize)]
struct DataPatch {
    data: BTreeMap<String, ByteString>,
}

impl fmt::Debug for DataPatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.data.keys()).finish()
    }
}

/// Makes the Secret hold `desired` (key → value): one merge patch of the keys that differ, none
/// when all are equal, so running it again changes nothing. Other keys are left alone. With
/// `dry_run`, reports what would change and patches nothing.
pub async fn sync(
    client: &kube::Client,
    namespace: &str,
    secret: &str,
    desired: &[(String, Secret)],
    dry_run: bool,
) -> Result<Vec<(String, Change)>, SyncError> {
    let current = match read_secret(client, namespace, secret).await {
        SecretLookup::Found(data) => data,
        SecretLookup::NotFound => {
            return Err(SyncError::NoSecret {
                namespace: namespace.to_owned(),
                secret: secret.to_owned(),
            });
        }
        SecretLookup::Forbidden(message) => {
            return Err(SyncError::Forbidden {
                secret: secret.to_owned(),
                message,
            });
        }
        SecretLookup::Unavailable(why) => return Err(SyncError::Unavailable(why)),
    };
    let mut changes = Vec::new();
    let mut patch = BTreeMap::new();
    for (key, value) in desired {
        let wanted = value.expose().as_bytes();
        let change = match current.0.get(key) {
            None => Change::Added,
            Some(have) if have.0 == wanted => Change::Unchanged,
            Some(_) => Change::Updated,
        };
        if change != Change::Unchanged {
            patch.insert(key.clone(), ByteString(wanted.to_vec()));
        }
        changes.push((key.clone(), change));
    }
    if patch.is_empty() || dry_run {
        return Ok(changes);
    }
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.to_owned()),
        ..PatchParams::default()
    };
    let request = kube::core::Request::new(secrets_path(namespace))
        .patch(secret, &params, &Patch::Merge(DataPatch { data: patch }))
        .map_err(|e| SyncError::Unavailable(format!("bad patch request: {e}")))?;
    // The answer is the whole Secret: dropped unread.
    match client.request_text(request).await {
        Ok(_) => Ok(changes),
        Err(err) => Err(match classify(err) {
            ApiFailure::NotFound => SyncError::NoSecret {
                namespace: namespace.to_owned(),
                secret: secret.to_owned(),
            },
            ApiFailure::Forbidden(message) => SyncError::Forbidden {
                secret: secret.to_owned(),
                message,
            },
            ApiFailure::Unavailable(why) => SyncError::Unavailable(why),
        }),
    }
}
