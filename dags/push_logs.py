"""### push-logs: the push-notification proxy's ALB access logs

One task per deployment, each loading one day (`{{ ds }}`, UTC) of its load balancer's access
logs into its own table: `load_us` → `push_proxy.logs_us_new`, `load_test` →
`push_proxy.logs_test_new`, `load_eu` → `push_proxy.logs_eu_new`. The run for date D starts at
01:30 UTC on D+1, after ALB delivered the last 5-minute file of D.

Deployments (deploy-time configuration): `INGEST_PUSH_LOGS_DEPLOYMENTS`, default `us,test,eu`;
deployment `d` is task `load_d` into `push_proxy.logs_d_new`, reading `INGEST_SOURCE_PUSH_LOGS_D`,
`s3://<bucket>/AWSLogs/<account-id>/elasticloadbalancing/<region>`. A missing source fails only
that deployment's task, at run time, naming the setting.

Failed date? Clear the task for that date (it replaces the date's partition whole).
Alerts: the job posts its own; see docs/dags.md, "Read an alert".
The Airflow DAG is built by `ingest.IngestJob` (dags/ingest/job.py); guide: docs/dags.md.
"""

from datetime import UTC, datetime

from ingest import IngestJob, config, registry

# Tables, source settings, resources and secrets: the job's registry entry (its Cargo.toml).
JOB = IngestJob("push-logs")
# Deploy-time setting INGEST_PUSH_LOGS_DEPLOYMENTS (chart: jobs.push-logs.deployments); the
# default is the registry's list (us, test, eu).
DEPLOYMENTS = config.deployments(
    JOB.name, default=registry.entry(JOB.name)["source"]["deployments"]
)

with JOB.dag(doc_md=__doc__, start_date=datetime(2026, 11, 1, tzinfo=UTC), tags=["push-proxy"]):
    for deployment in DEPLOYMENTS:
        # A deployment whose source is missing fails alone, at run time (one alert); the other
        # deployments keep loading.
        # push_proxy.logs_<deployment>_new from INGEST_SOURCE_PUSH_LOGS_<DEPLOYMENT>.
        JOB.task(f"load_{deployment}", deployment=deployment, missing_source_fails_task=True)
