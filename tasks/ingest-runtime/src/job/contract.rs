//! `--print-contract`: the job's options with their environment variables, its secrets, exit
//! codes and date semantics as JSON, which the DAGs, the chart and preflight are checked against.

use clap::Command;
use ingest_format::format::RecordFormat;

use super::{JobSpec, command};
use crate::config::{AIRFLOW_CONTEXT_ENV, SECRET_ENV};
use crate::error::FailureKind;

/// The job's contract as JSON: options with their env variables, secrets, exit codes.
pub(super) fn contract<F: RecordFormat>(spec: &'static JobSpec<F>) -> String {
    let cmd = command_for_contract(spec);
    let options: Vec<serde_json::Value> = cmd
        .get_arguments()
        .filter(|a| {
            a.get_long().is_some()
                && !["help", "version", "print-contract"].contains(&a.get_long().unwrap_or(""))
        })
        .map(|a| {
            let required = a.get_long().is_some_and(|l| {
                l == "date" || l == "source" || (l == "table" && spec.default_table.is_none())
            });
            serde_json::json!({
                "flag": format!("--{}", a.get_long().unwrap_or_default()),
                "env": a.get_env().map(|e| e.to_string_lossy().into_owned()),
                "required": required,
                "default": a.get_default_values().first().map(|v| v.to_string_lossy().into_owned()),
                "description": a.get_help().map(ToString::to_string).unwrap_or_default(),
            })
        })
        .collect();
    let required: Vec<&serde_json::Value> = options
        .iter()
        .filter(|o| o["required"] == true)
        .map(|o| &o["flag"])
        .collect();
    let exit_codes: serde_json::Map<String, serde_json::Value> =
        std::iter::once(("0".to_owned(), "success".into()))
            .chain(
                FailureKind::ALL
                    .iter()
                    .map(|k| (k.exit_code().to_string(), k.describe().into())),
            )
            .collect();
    serde_json::to_string_pretty(&serde_json::json!({
        "job": spec.name,
        "version": env!("CARGO_PKG_VERSION"),
        "default_table": spec.default_table,
        "required_options": required,
        "options": options,
        "secrets": SECRET_ENV.iter().map(|(name, doc)| serde_json::json!({"env": name, "required": false, "description": doc})).collect::<Vec<_>>(),
        "secrets_from_aws_secrets_manager": {"id_env": "<VAR>_SECRET_ID", "key_env": "<VAR>_SECRET_KEY", "description": "any secret env var may be given as the ARN or name of an AWS Secrets Manager secret (and optionally a key of its JSON object), read once at start-up"},
        "context_env": AIRFLOW_CONTEXT_ENV,
        "exit_codes": exit_codes,
        "date_semantics": spec.date_semantics,
    }))
    .expect("contract serializes")
}

pub(super) fn command_for_contract<F: RecordFormat>(spec: &'static JobSpec<F>) -> Command {
    let mut cmd = command(spec);
    cmd.build();
    cmd
}
