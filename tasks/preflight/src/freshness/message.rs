//! The watchdog's alert: one post per date that is not loaded, naming every missing table,
//! since when the date is late, the likely causes with the commands that find each (the on-call
//! runbook's C, docs/dags.md) and how to load the date. Made safe with the jobs' sanitizer (no
//! mention can ping; markdown escaped) and sent by the jobs' client (the URL never shows).

use ingest_runtime::notify::mattermost::{code_line, inline};
use ingest_runtime::time::Date;

use super::due::{format_duration, format_utc};
use super::tables::Watched;

/// A name or a command is cut to this many bytes.
const CELL_BYTES: usize = 300;

/// What a post says about one date.
pub struct Late<'a> {
    pub date: Date,
    pub due_secs: i64,
    pub now_secs: i64,
    pub missing: &'a [&'a Watched],
    /// How many tables were checked for the date.
    pub checked: usize,
    pub lake: &'a str,
    pub marker: &'a str,
}

/// The heading, also the notification text.
pub fn title(date: Date) -> String {
    format!("watchdog: not loaded: {date}")
}

/// The post's markdown.
pub fn text(late: &Late<'_>) -> String {
    let date = late.date;
    let code = |s: &str| format!("`{}`", code_line(s, CELL_BYTES));
    let mut out = format!(
        "#### :warning: {}\n{} of {} tables have no committed partition of {date}, due since {} ({} ago). \
No Airflow alert covers this: the run that loads the date may not exist.\n\n",
        inline(&title(date), CELL_BYTES),
        late.missing.len(),
        late.checked,
        format_utc(late.due_secs),
        format_duration(late.now_secs - late.due_secs),
    );
    out.push_str("| DAG | task | table |\n|:--|:--|:--|\n");
    for w in late.missing {
        out.push_str(&format!(
            "| {} | {} | {} |\n",
            code(&w.dag_id),
            w.task_id.as_deref().map_or_else(|| "-".to_owned(), code),
            code(&w.table.to_string()),
        ));
    }
    let mut dags: Vec<&str> = Vec::new();
    for w in late.missing {
        if !dags.contains(&w.dag_id.as_str()) {
            dags.push(&w.dag_id);
        }
    }
    let first = dags.first().copied().unwrap_or("ingest_push_logs");
    out.push_str(&format!(
        "\n**Likely causes**, check in this order (docs/dags.md, On-call runbook, C):\n\
- a DAG does not import: {}\n\
- a DAG is paused (`is_paused`): {}, then {}\n\
- the scheduler is down (\"No alive jobs found\"): {}\n\
- the run exists but failed or is stuck: {}\n",
        code("airflow dags list-import-errors -o plain"),
        code("airflow dags list -o plain"),
        code(&format!("airflow dags unpause {first}")),
        code("airflow jobs check --job-type SchedulerJob"),
        code(&format!(
            "airflow dags list-runs {first} --start-date {date} --end-date {date}T23:59:59"
        )),
    ));
    out.push_str(
        "\n**Load the date** once the cause is fixed (it replaces the date's partition whole):\n",
    );
    for dag in &dags {
        out.push_str(&format!(
            "- {}\n",
            code(&format!(
                "airflow backfill create --dag-id {dag} --from-date {date} --to-date {date}T23:59:59 --reprocess-behavior failed"
            ))
        ));
    }
    out.push_str(&format!(
        "\nChecked {} (the partitions' `_manifest.json`). Posted once per date: marker {}.\n",
        code(late.lake),
        code(late.marker),
    ));
    out
}

/// The post's `props.ingest_alert`, for bots (the DAG alerts' shape).
pub fn props(late: &Late<'_>) -> serde_json::Value {
    serde_json::json!({
        "ingest_alert": {
            "source": "watchdog",
            "date": late.date.to_string(),
            "due": super::due::format_rfc3339(late.due_secs),
            "missing": late.missing.iter().map(|w| w.table.to_string()).collect::<Vec<_>>(),
            "dags": late.missing.iter().map(|w| w.dag_id.clone()).collect::<std::collections::BTreeSet<_>>(),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ingest_runtime::lake::TableName;

    #[test]
    fn the_post_names_tables_causes_and_commands() {
        let w = |dag: &str, task: &str, table: &str| Watched {
            job: "x".into(),
            dag_id: dag.into(),
            task_id: Some(task.into()),
            table: TableName::parse(table).unwrap(),
        };
        let missing = [
            w("ingest_push_logs", "load_eu", "push_proxy.logs_eu_new"),
            w("ingest_telemetry", "load", "diagnostics.log_entries"),
        ];
        let refs: Vec<&Watched> = missing.iter().collect();
        let due = super::super::due::parse_now("2026-11-21T10:00:00Z").unwrap();
        let late = Late {
            date: "2026-11-20".parse().unwrap(),
            due_secs: due,
            now_secs: due + 3600 + 120,
            missing: &refs,
            checked: 6,
            lake: "s3://lake/@channel",
            marker: "s3://lake/_watchdog/dt=2026-11-20.json",
        };
        let text = text(&late);
        assert!(
            text.starts_with("#### :warning: watchdog: not loaded: 2026-11-20\n2 of 6 tables"),
            "{text}"
        );
        assert!(
            text.contains("due since 2026-11-21 10:00 UTC (1 h 2 min ago)"),
            "{text}"
        );
        assert!(
            text.contains("| `ingest_push_logs` | `load_eu` | `push_proxy.logs_eu_new` |"),
            "{text}"
        );
        for command in [
            "airflow dags list-import-errors -o plain",
            "airflow dags unpause ingest_push_logs",
            "airflow jobs check --job-type SchedulerJob",
            "airflow backfill create --dag-id ingest_push_logs --from-date 2026-11-20 --to-date 2026-11-20T23:59:59 --reprocess-behavior failed",
            "airflow backfill create --dag-id ingest_telemetry --from-date 2026-11-20",
        ] {
            assert!(text.contains(command), "{command} missing from {text}");
        }
        assert!(!text.contains("@channel"), "{text}");
        let props = props(&late);
        assert_eq!(
            props["ingest_alert"]["missing"][1],
            "diagnostics.log_entries"
        );
        assert_eq!(props["ingest_alert"]["due"], "2026-11-21T10:00:00Z");
    }
}
