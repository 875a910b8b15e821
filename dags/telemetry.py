"""### telemetry: servers' security-update-check pings (CloudFront standard logs)

Loads one day (`{{ ds }}`, UTC) of both CloudFront distributions' logs into
`diagnostics.log_entries`. The run for date D starts at 06:00 UTC on D+1: CloudFront delivers
most entries within an hour but may deliver some up to 24 h late, into the file of the hour the
request happened; re-running a date later picks them up without duplicates.

Sources (deploy-time configuration): `INGEST_SOURCE_TELEMETRY`, two comma-separated
`s3://<bucket>/<prefix>/<distribution-id>` locations.

Failed date? Clear the task for that date. Alerts: see docs/dags.md, "Read an alert".
The Airflow DAG is built by `ingest.IngestJob` (dags/ingest/job.py); guide: docs/dags.md.
"""

from datetime import UTC, datetime

from ingest import IngestJob

# Table, source setting (two locations), resources and secrets: the job's registry entry (its
# Cargo.toml).
JOB = IngestJob("telemetry")

with JOB.dag(
    doc_md=__doc__,
    start_date=datetime(2026, 11, 1, tzinfo=UTC),
    schedule="0 6 * * *",
    tags=["cloudfront"],
):
    JOB.task("load")
