"""### server-pingbacks: release server downloads (CloudFront standard logs)

Loads one day (`{{ ds }}`, UTC) of the release distribution's CloudFront logs into
`releases.log_entries`. The run for date D starts at 06:00 UTC on D+1 (CloudFront may deliver
entries late; re-running a date later picks them up without duplicates).

Source (deploy-time configuration): `INGEST_SOURCE_SERVER_PINGBACKS`,
`s3://<bucket>/<prefix>/<distribution-id>`.

Failed date? Clear the task for that date. Alerts: see docs/dags.md, "Read an alert".
The Airflow DAG is built by `ingest.IngestJob` (dags/ingest/job.py); guide: docs/dags.md.
"""

from datetime import UTC, datetime

from ingest import IngestJob

# Table, source setting, resources and secrets: the job's registry entry (its Cargo.toml).
JOB = IngestJob("server-pingbacks")

with JOB.dag(
    doc_md=__doc__,
    start_date=datetime(2026, 11, 1, tzinfo=UTC),
    schedule="0 6 * * *",
    tags=["cloudfront"],
):
    JOB.task("load")
