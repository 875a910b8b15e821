//! Does the jobs' ServiceAccount exist, with the annotations the deployment gives it? The IRSA
//! role (`eks.amazonaws.com/role-arn`) is an annotation: a ServiceAccount without it gives the
//! job pods no AWS credentials, and every run fails at its first S3 call (exit 2).

use std::collections::BTreeMap;

use kube::api::GetParams;
use serde::Deserialize;

use crate::report::Status;

/// One expected annotation, `key=value`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpectedAnnotation {
    pub key: String,
    pub value: String,
}

impl ExpectedAnnotation {
    pub fn parse(spec: &str) -> Result<ExpectedAnnotation, String> {
        let (key, value) = spec.split_once('=').ok_or_else(|| {
            format!(
                "--service-account-annotation {spec:?}: expected KEY=VALUE, e.g. \
                 eks.amazonaws.com/role-arn=arn:aws:iam::123456789012:role/ingest"
            )
        })?;
        let key = key.trim();
        if key.is_empty() {
            return Err(format!(
                "--service-account-annotation {spec:?}: the key is empty"
            ));
        }
        Ok(ExpectedAnnotation {
            key: key.to_owned(),
            value: value.trim().to_owned(),
        })
    }
}

#[derive(Deserialize)]
struct ServiceAccountBody {
    kind: Option<String>,
    metadata: Option<Metadata>,
}

#[derive(Deserialize)]
struct Metadata {
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

/// Reads ServiceAccount `name` (RBAC: `get` on that one ServiceAccount) and compares its
/// annotations with `expected`.
pub async fn check(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    expected: &[ExpectedAnnotation],
) -> (Status, String) {
    let path = format!("/api/v1/namespaces/{namespace}/serviceaccounts");
    let request = match kube::core::Request::new(path).get(name, &GetParams::default()) {
        Ok(r) => r,
        Err(e) => {
            return (
                Status::Fail,
                format!("bad request for ServiceAccount {name:?}: {e}"),
            );
        }
    };
    match client.request_text(request).await {
        Ok(text) => match serde_json::from_str::<ServiceAccountBody>(&text) {
            Ok(body) if body.kind.as_deref().is_none_or(|k| k == "ServiceAccount") => {
                let annotations = body.metadata.map(|m| m.annotations).unwrap_or_default();
                compare(name, &annotations, expected)
            }
            _ => (
                Status::Unavailable,
                "the API server's answer is not a ServiceAccount".to_owned(),
            ),
        },
        Err(kube::Error::Api(status)) if status.is_not_found() => (
            Status::Fail,
            format!(
                "ServiceAccount {namespace}/{name} does not exist: the job pods cannot start \
                 (serviceAccount.create, or create it with its IRSA annotation)"
            ),
        ),
        Err(kube::Error::Api(status)) if status.is_forbidden() || status.code == 401 => (
            Status::Fail,
            format!(
                "cannot read ServiceAccount {namespace}/{name}: {} (preflight's Role needs \
                 `get` on serviceaccounts/{name})",
                status.message
            ),
        ),
        Err(kube::Error::Api(status)) => (
            Status::Unavailable,
            format!("HTTP {}: {}", status.code, status.message),
        ),
        Err(other) => (Status::Unavailable, other.to_string()),
    }
}

/// The verdict for the annotations found. A value is an ARN or a name, not a secret: the
/// report quotes what differs so the fix is obvious.
pub fn compare(
    name: &str,
    found: &BTreeMap<String, String>,
    expected: &[ExpectedAnnotation],
) -> (Status, String) {
    let mut problems = Vec::new();
    for want in expected {
        match found.get(&want.key) {
            None => problems.push(format!("annotation {} is missing", want.key)),
            Some(value) if value.trim() != want.value => problems.push(format!(
                "annotation {} is {value:?}, the values say {:?}",
                want.key, want.value
            )),
            Some(_) => {}
        }
    }
    if problems.is_empty() {
        let detail = if expected.is_empty() {
            format!("ServiceAccount {name} exists")
        } else {
            let keys: Vec<&str> = expected.iter().map(|a| a.key.as_str()).collect();
            format!("ServiceAccount {name} exists with {}", keys.join(", "))
        };
        (Status::Ok, detail)
    } else {
        (
            Status::Fail,
            format!(
                "ServiceAccount {name}: {} (the job pods' AWS role comes from it)",
                problems.join("; ")
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROLE: &str = "eks.amazonaws.com/role-arn";

    fn found(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn parses_key_value_and_refuses_the_rest() {
        let a = ExpectedAnnotation::parse(&format!("{ROLE}=arn:aws:iam::1:role/x=y")).unwrap();
        assert_eq!(a.key, ROLE);
        assert_eq!(a.value, "arn:aws:iam::1:role/x=y");
        assert!(ExpectedAnnotation::parse("no-equals").is_err());
        assert!(ExpectedAnnotation::parse("=v").is_err());
    }

    #[test]
    fn missing_or_different_annotations_fail_naming_them() {
        let want =
            [ExpectedAnnotation::parse(&format!("{ROLE}=arn:aws:iam::1:role/ingest")).unwrap()];
        let (status, detail) = compare("ingest-tasks", &found(&[]), &want);
        assert_eq!(status, Status::Fail);
        assert!(
            detail.contains(&format!("annotation {ROLE} is missing")),
            "{detail}"
        );

        let (status, detail) = compare(
            "ingest-tasks",
            &found(&[(ROLE, "arn:aws:iam::1:role/old")]),
            &want,
        );
        assert_eq!(status, Status::Fail);
        assert!(detail.contains("\"arn:aws:iam::1:role/old\""), "{detail}");

        let (status, detail) = compare(
            "ingest-tasks",
            &found(&[(ROLE, "arn:aws:iam::1:role/ingest")]),
            &want,
        );
        assert_eq!(status, Status::Ok, "{detail}");
        let (status, _) = compare("ingest-tasks", &found(&[]), &[]);
        assert_eq!(status, Status::Ok);
    }
}
