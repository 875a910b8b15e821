//! The warehouse check (`--check-warehouse`): does Snowflake accept the jobs' credentials?
//!
//! With the jobs' own settings — `--warehouse` / `INGEST_WAREHOUSE`
//! (`snowflake://<account>/<database>[/<schema>]?stage=..&warehouse=..&role=..`), `SNOWFLAKE_USER`,
//! and `SNOWFLAKE_PRIVATE_KEY` or `SNOWFLAKE_PASSWORD` (directly or as `<VAR>_SECRET_ID`) — it
//! logs in through the runtime's Snowflake client, runs one trivial statement (`SELECT 1`, which
//! also needs the configured virtual warehouse and role) and closes the session. When neither
//! credential is in preflight's environment, it uses the jobs' Secret's keys
//! `snowflake-private-key` / `snowflake-password`, which the secret-key check has read anyway.

use ingest_runtime::config::Secrets;
use ingest_runtime::error::FailureKind;
use ingest_runtime::secrets::Secret;
use ingest_runtime::warehouse::{Credentials, SnowflakeClient, SnowflakeConfig};

use crate::report::Status;

/// Checks that the warehouse accepts the credentials. A refused login or statement FAILs; a
/// warehouse that does not answer is UNAVAILABLE. Messages never carry a credential.
/// `from_secret` looks a key up in the jobs' Kubernetes Secret (when it was read).
pub async fn check(
    url: &str,
    user: Option<&str>,
    secrets: &Secrets,
    from_secret: impl Fn(&str) -> Option<Secret>,
) -> (Status, String) {
    let config = match SnowflakeConfig::parse(url, user) {
        Ok(c) => c,
        Err(why) => return (Status::Fail, why),
    };
    let in_env = secrets.get("SNOWFLAKE_PRIVATE_KEY").is_some()
        || secrets.get("SNOWFLAKE_PASSWORD").is_some();
    let credentials = if in_env {
        secrets.snowflake_credentials()
    } else if let Some(pem) = from_secret("snowflake-private-key") {
        Credentials::from_pem(pem.expose()).map_err(|why| format!("snowflake-private-key: {why}"))
    } else if let Some(password) = from_secret("snowflake-password") {
        Ok(Credentials::Password(password))
    } else {
        secrets.snowflake_credentials()
    };
    let credentials = match credentials {
        Ok(c) => c,
        Err(why) => return (Status::Fail, why),
    };
    let mut client = match SnowflakeClient::new(
        config,
        credentials,
        "ingest-preflight",
        "ingest:preflight:check",
    ) {
        Ok(c) => c,
        Err(err) => return (status_of(err.kind()), err.to_string()),
    };
    let result = client.execute("preflight check", "SELECT 1").await;
    client.close().await;
    match result {
        Ok(_) => (Status::Ok, "logged in and ran SELECT 1".into()),
        Err(err) => (status_of(err.kind()), err.to_string()),
    }
}

fn status_of(kind: FailureKind) -> Status {
    match kind {
        FailureKind::Transient => Status::Unavailable,
        _ => Status::Fail,
    }
}
