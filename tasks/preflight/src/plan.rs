//! What the jobs need: which Secret keys, which S3 sources. Built from the chart's environment
//! (the same settings the DAGs read, docs/dags.md) and flags.

use ingest_runtime::config::SECRET_ENV;

/// The job binaries (the chart's `jobs` keys); `--jobs` / `INGEST_JOBS` picks some.
pub const KNOWN_JOBS: &[&str] = &[
    "push-logs",
    "telemetry",
    "server-pingbacks",
    "license-exports",
];

/// Secret env vars every job pod references as required `secretKeyRef`s (dags/ingest/secrets.py
/// `ALWAYS`): the default of `--required-keys`.
pub const DEFAULT_REQUIRED_ENV: &[&str] = &["MATTERMOST_WEBHOOK_URL"];

/// With a warehouse, the job pods also reference these, each `optional: true`
/// (dags/ingest/secrets.py `WAREHOUSE`): at least one of them must be set.
pub const WAREHOUSE_ENV: &[&str] = &["SNOWFLAKE_PRIVATE_KEY", "SNOWFLAKE_PASSWORD"];

/// The Secret key of a secret env var, as the DAGs and the chart name it:
/// `MATTERMOST_WEBHOOK_URL` → `mattermost-webhook-url`.
pub fn secret_key_for_env(env: &str) -> String {
    env.to_ascii_lowercase().replace('_', "-")
}

/// The secret env var (of the jobs' contract, `SECRET_ENV`) that a Secret key feeds, if any.
pub fn env_for_secret_key(key: &str) -> Option<&'static str> {
    SECRET_ENV
        .iter()
        .map(|(env, _)| *env)
        .find(|env| secret_key_for_env(env) == key)
}

/// `push-logs` → `PUSH_LOGS`, as in `INGEST_SOURCE_PUSH_LOGS_US`.
pub fn job_env_key(job: &str) -> String {
    job.to_ascii_uppercase().replace('-', "_")
}

/// A Kubernetes Secret key may only hold `[-._a-zA-Z0-9]`.
pub fn valid_secret_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 253
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c))
}

/// A required Secret entry: one key, or alternatives of which one must be present
/// (`snowflake-private-key|snowflake-password`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequiredKey {
    pub alternatives: Vec<String>,
}

impl RequiredKey {
    pub fn parse(spec: &str) -> Result<RequiredKey, String> {
        let alternatives: Vec<String> = spec.split('|').map(|k| k.trim().to_owned()).collect();
        if let Some(bad) = alternatives.iter().find(|k| !valid_secret_key(k)) {
            return Err(format!(
                "required key {bad:?} is not a valid Secret key (letters, digits, '-', '_', '.'; alternatives joined with '|')"
            ));
        }
        Ok(RequiredKey { alternatives })
    }

    /// `a|b`, as given.
    pub fn display(&self) -> String {
        self.alternatives.join("|")
    }

    /// ` (ENV or ENV)`: the job env vars these keys feed, for the DETAIL column; empty for keys
    /// that feed none of the jobs' secret env vars.
    pub fn envs(&self) -> String {
        let envs: Vec<&str> = self
            .alternatives
            .iter()
            .filter_map(|k| env_for_secret_key(k))
            .collect();
        if envs.is_empty() {
            String::new()
        } else {
            format!(" ({})", envs.join(" or "))
        }
    }
}

/// The default required keys: those of [`DEFAULT_REQUIRED_ENV`], and with a warehouse one of
/// [`WAREHOUSE_ENV`]'s: the keys the job pods reference, as the DAGs build them.
pub fn default_required_keys(warehouse: bool) -> Vec<RequiredKey> {
    let mut keys: Vec<RequiredKey> = DEFAULT_REQUIRED_ENV
        .iter()
        .map(|env| RequiredKey {
            alternatives: vec![secret_key_for_env(env)],
        })
        .collect();
    if warehouse {
        keys.push(RequiredKey {
            alternatives: WAREHOUSE_ENV
                .iter()
                .map(|e| secret_key_for_env(e))
                .collect(),
        });
    }
    keys
}

/// One S3 (or local) source of a job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobSource {
    pub job: String,
    /// `push-logs (us)` for `INGEST_SOURCE_PUSH_LOGS_US`, `push-logs` for `INGEST_SOURCE_PUSH_LOGS`.
    pub label: String,
    pub location: String,
}

/// The sources of `jobs` in the DAGs' settings: `INGEST_SOURCE_<JOB>` and
/// `INGEST_SOURCE_<JOB>_<DEPLOYMENT>`, comma-separated values. Sorted by variable name.
pub fn sources_from_env(
    jobs: &[String],
    vars: impl IntoIterator<Item = (String, String)>,
) -> Vec<JobSource> {
    let mut vars: Vec<(String, String)> = vars
        .into_iter()
        .filter(|(name, _)| name.starts_with("INGEST_SOURCE_"))
        .collect();
    vars.sort();
    let keys: Vec<(String, &String)> = jobs.iter().map(|j| (job_env_key(j), j)).collect();
    let mut out = Vec::new();
    for (name, value) in vars {
        let rest = &name["INGEST_SOURCE_".len()..];
        // The longest job key that matches, so a job named like another's prefix stays apart.
        let found = keys
            .iter()
            .filter(|(key, _)| rest == key || rest.starts_with(&format!("{key}_")))
            .max_by_key(|(key, _)| key.len());
        let Some((key, job)) = found else { continue };
        let label = match rest[key.len()..].trim_start_matches('_') {
            "" => (*job).clone(),
            deployment => format!("{job} ({})", deployment.to_ascii_lowercase()),
        };
        for location in value.split(',').map(str::trim).filter(|v| !v.is_empty()) {
            out.push(JobSource {
                job: (*job).clone(),
                label: label.clone(),
                location: location.to_owned(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_dags() {
        assert_eq!(
            secret_key_for_env("MATTERMOST_WEBHOOK_URL"),
            "mattermost-webhook-url"
        );
        assert_eq!(
            env_for_secret_key("mattermost-webhook-url"),
            Some("MATTERMOST_WEBHOOK_URL")
        );
        assert_eq!(env_for_secret_key("unrelated"), None);
        assert_eq!(job_env_key("server-pingbacks"), "SERVER_PINGBACKS");
        assert_eq!(
            default_required_keys(false),
            [RequiredKey::parse("mattermost-webhook-url").unwrap()]
        );
        assert_eq!(
            default_required_keys(true),
            [
                RequiredKey::parse("mattermost-webhook-url").unwrap(),
                RequiredKey::parse("snowflake-private-key|snowflake-password").unwrap()
            ]
        );
    }

    #[test]
    fn required_keys_with_alternatives() {
        let k = RequiredKey::parse("snowflake-private-key | snowflake-password").unwrap();
        assert_eq!(k.display(), "snowflake-private-key|snowflake-password");
        assert!(RequiredKey::parse("bad key").is_err());
        assert!(RequiredKey::parse("a||b").is_err());
    }

    #[test]
    fn sources_come_from_the_dag_settings() {
        let jobs: Vec<String> = ["push-logs", "telemetry", "push"]
            .map(String::from)
            .to_vec();
        let vars = [
            ("INGEST_SOURCE_PUSH_LOGS_US", "s3://a/us"),
            ("INGEST_SOURCE_PUSH_LOGS_EU", "s3://a/eu"),
            ("INGEST_SOURCE_TELEMETRY", "s3://t/1, s3://t/2,"),
            ("INGEST_SOURCE_PUSH", "s3://p/x"),
            ("INGEST_SOURCE_LICENSE_EXPORTS", "s3://not/selected"),
            ("INGEST_LAKE", "s3://lake"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()));
        let got: Vec<(String, String)> = sources_from_env(&jobs, vars)
            .into_iter()
            .map(|s| (s.label, s.location))
            .collect();
        let want = [
            ("push", "s3://p/x"),
            ("push-logs (eu)", "s3://a/eu"),
            ("push-logs (us)", "s3://a/us"),
            ("telemetry", "s3://t/1"),
            ("telemetry", "s3://t/2"),
        ]
        .map(|(a, b)| (a.to_owned(), b.to_owned()));
        assert_eq!(got, want);
    }
}
