"""Shared helpers of the ingest DAGs (not a DAG folder: listed in dags/.airflowignore).

A job's DAG file needs only :class:`IngestJob`; see docs/dags.md.
"""

from ingest.job import IngestJob

__all__ = ["IngestJob"]
