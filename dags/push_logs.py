"""### push-logs: the push-notification proxy's ALB access logs

One task per deployment, each loading one day (`{{ ds }}`, UTC) of its load balancer's access
logs into its own table: `load_us` → `push_proxy.logs_us_new`, `load_test` →
`push_proxy.logs_test_new`, `load_eu` → `push_proxy.logs_eu_new`. The run for date D starts at
01:30 UTC on D+1, after ALB delivered the last 5-minute file of D.

Sources (deploy-time configuration): `INGEST_SOURCE_PUSH_LOGS_US`, `..._TEST`, `..._EU`, each
`s3://<bucket>/AWSLogs/<account-id>/elasticloadbalancing/<region>`.

Failed date? Clear the task for that date (it replaces the date's partition whole).
Alerts: the job posts its own; see docs/dags.md, "Read an alert".
The Airflow DAG is built by `ingest.IngestJob` (dags/ingest/job.py); guide: docs/dags.md.
"""

from datetime import UTC, datetime

from ingest import IngestJob

JOB = IngestJob("push-logs", cpu="1", memory="512Mi")
DEPLOYMENTS = {
    "us": "push_proxy.logs_us_new",
    "test": "push_proxy.logs_test_new",
    "eu": "push_proxy.logs_eu_new",
}

with JOB.dag(doc_md=__doc__, start_date=datetime(2026, 11, 1, tzinfo=UTC), tags=["push-proxy"]):
    for deployment, table in DEPLOYMENTS.items():
        JOB.task(
            f"load_{deployment}",
            table=table,
            source_setting=f"INGEST_SOURCE_PUSH_LOGS_{deployment.upper()}",
        )
