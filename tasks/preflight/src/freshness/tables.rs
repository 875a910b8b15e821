//! The tables the watchdog expects a partition of, per date: every table of every checked job
//! (the registry's `tables`), a `{deployment}` table once per deployment of the
//! `INGEST_<JOB>_DEPLOYMENTS` setting (default: the registry's), as the DAGs read them
//! (dags/ingest/config.py), with the DAG and task that load each.

use ingest_runtime::lake::TableName;

use crate::plan::{self, job_env_key};

/// The placeholder of a per-deployment table name (dags/ingest/registry.py `DEPLOYMENT`).
const DEPLOYMENT: &str = "{deployment}";

/// One table the DAGs load every day.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Watched {
    pub job: String,
    /// `ingest_push_logs` (dags/ingest/job.py `dag_id`).
    pub dag_id: String,
    /// `load_us` for a deployment's table, `load` for a job's single table; `None` when the
    /// job has several tables (its DAG file names the tasks).
    pub task_id: Option<String>,
    pub table: TableName,
}

/// The watched tables of `jobs`, in the order given; `setting` reads a deploy-time setting.
pub fn watched(
    jobs: &[String],
    setting: impl Fn(&str) -> Option<String>,
) -> Result<Vec<Watched>, String> {
    let mut out = Vec::new();
    for job in jobs {
        let entry = plan::job_tables(job).ok_or_else(|| {
            format!(
                "--jobs: {job:?} is not a job of the registry (known: {})",
                plan::known_jobs().join(", ")
            )
        })?;
        let dag_id = format!("ingest_{}", job_env_key(job).to_ascii_lowercase());
        let single = entry.tables.len() == 1;
        for table in &entry.tables {
            if table.contains(DEPLOYMENT) {
                for deployment in deployments(job, &entry.source.deployments, &setting)? {
                    out.push(Watched {
                        job: job.clone(),
                        dag_id: dag_id.clone(),
                        task_id: Some(format!("load_{deployment}")),
                        table: parse(job, &table.replace(DEPLOYMENT, &deployment))?,
                    });
                }
            } else {
                out.push(Watched {
                    job: job.clone(),
                    dag_id: dag_id.clone(),
                    task_id: single.then(|| "load".to_owned()),
                    table: parse(job, table)?,
                });
            }
        }
    }
    Ok(out)
}

fn parse(job: &str, table: &str) -> Result<TableName, String> {
    TableName::parse(table).map_err(|e| format!("registry table of {job}: {e}"))
}

/// `INGEST_<JOB>_DEPLOYMENTS` (comma-separated lower-case names), else the registry's list.
fn deployments(
    job: &str,
    default: &[String],
    setting: impl Fn(&str) -> Option<String>,
) -> Result<Vec<String>, String> {
    let name = format!("INGEST_{}_DEPLOYMENTS", job_env_key(job));
    let Some(raw) = setting(&name).filter(|v| !v.trim().is_empty()) else {
        return Ok(default.to_vec());
    };
    let values: Vec<String> = raw
        .split(',')
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .collect();
    let valid = |v: &String| {
        v.starts_with(|c: char| c.is_ascii_lowercase())
            && v.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    };
    if values.is_empty() || !values.iter().all(valid) {
        return Err(format!(
            "{name}={raw:?}: expected comma-separated deployment names of lower-case letters and digits, for example {name}={}",
            default.join(",")
        ));
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(w: &[Watched]) -> Vec<(String, Option<String>, String)> {
        w.iter()
            .map(|w| (w.dag_id.clone(), w.task_id.clone(), w.table.to_string()))
            .collect()
    }

    #[test]
    fn deployments_expand_and_jobs_map_to_their_dags() {
        let jobs = ["push-logs", "telemetry"].map(String::from).to_vec();
        let got = watched(&jobs, |_| None).unwrap();
        let want = [
            (
                "ingest_push_logs",
                Some("load_us"),
                "push_proxy.logs_us_new",
            ),
            (
                "ingest_push_logs",
                Some("load_test"),
                "push_proxy.logs_test_new",
            ),
            (
                "ingest_push_logs",
                Some("load_eu"),
                "push_proxy.logs_eu_new",
            ),
            ("ingest_telemetry", Some("load"), "diagnostics.log_entries"),
        ]
        .map(|(d, t, n)| (d.to_owned(), t.map(str::to_owned), n.to_owned()));
        assert_eq!(names(&got), want);

        let got = watched(&jobs[..1], |name| {
            (name == "INGEST_PUSH_LOGS_DEPLOYMENTS").then(|| "us, eu2".to_owned())
        })
        .unwrap();
        assert_eq!(
            got.iter().map(|w| w.table.to_string()).collect::<Vec<_>>(),
            ["push_proxy.logs_us_new", "push_proxy.logs_eu2_new"]
        );
    }

    #[test]
    fn bad_settings_are_named() {
        let jobs = vec!["push-logs".to_owned()];
        let err = watched(&jobs, |_| Some("US".into())).unwrap_err();
        assert!(
            err.starts_with("INGEST_PUSH_LOGS_DEPLOYMENTS=\"US\""),
            "{err}"
        );
        let err = watched(&["widgets".to_owned()], |_| None).unwrap_err();
        assert!(err.contains("\"widgets\" is not a job"), "{err}");
    }
}
