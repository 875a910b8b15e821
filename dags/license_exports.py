"""### license-exports: enterprise license metadata (nightly CSV export)

Loads the license export for date `{{ ds }}` into `licenses.licenses`. Date semantics: the
export named for a day is written at the end of the day before, so the old loader ran with
`next_ds`. This DAG passes `{{ ds }}` like every other, and the binary maps it to the file it
reads (`license-exports --print-contract`, `date_semantics`). The run for date D starts at
01:30 UTC on D+1.

Source (deploy-time configuration): `INGEST_SOURCE_LICENSE_EXPORTS`, `s3://<bucket>/<prefix>`.

Failed date? Clear the task for that date. Alerts: see docs/dags.md, "Read an alert".
The Airflow DAG is built by `ingest.IngestJob` (dags/ingest/job.py); guide: docs/dags.md.
"""

from datetime import UTC, datetime

from ingest import IngestJob

# Table, source setting, resources and secrets: the job's registry entry (its Cargo.toml).
JOB = IngestJob("license-exports")

with JOB.dag(doc_md=__doc__, start_date=datetime(2026, 11, 1, tzinfo=UTC), tags=["licenses"]):
    JOB.task("load")
