"""The watchdog outside Airflow (`preflight --check-freshness`) agrees with the DAGs on when a
date is late: it never checks a date before every DAG's own deadline alert could have fired for
it, and not later either (its default is the latest deadline), and it watches exactly the tables
the DAGs' tasks load.

Real Airflow 3 (the DAGs' timetables and serialized deadlines) against the built preflight
binary, run on an empty local lake with a fixed `--now`.
"""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta

from dag_harness import DATE, EXPECTED, bin_dir, run_for
from test_dag_deadline import serialized_deadline


def watchdog(lake, now: datetime, *jobs: str) -> dict:
    binary = bin_dir() / "preflight"
    assert binary.is_file(), f"{binary} is missing: build it with `cargo build --workspace --bins`"
    out = subprocess.run(
        [str(binary), "--check-freshness", "--lake", str(lake), "--lookback-days", "1",
         "--now", now.strftime("%Y-%m-%dT%H:%M:%SZ"), "--log-format", "json",
         *(["--jobs", ",".join(jobs)] if jobs else [])],
        capture_output=True, text=True, timeout=60, check=False,
        env={"PATH": "/usr/bin:/bin", "INGEST_TERMINATION_LOG": "/nonexistent/x"},
    )
    doc = json.loads(out.stdout.strip().splitlines()[-1])
    assert doc["event"] == "watchdog", out.stdout + out.stderr
    return doc


def test_the_watchdog_is_due_exactly_at_the_latest_dag_deadline(dagbag, tmp_path):
    deadlines = {}
    for dag_id in EXPECTED:
        dag = dagbag.dags[dag_id]
        info = run_for(dag, DATE)
        assert info.logical_date.date().isoformat() == DATE
        deadlines[dag_id] = info.logical_date + serialized_deadline(dag).interval
    latest = max(deadlines.values())
    (tmp_path / "lake").mkdir()
    # One second before the latest deadline, the date is not checked yet...
    before = watchdog(tmp_path / "lake", latest - timedelta(seconds=1))
    assert [d["date"] for d in before["dates"]] != [DATE], before
    # ...at it, it is, and its due time is that deadline.
    at = watchdog(tmp_path / "lake", latest)
    (date,) = at["dates"]
    assert date["date"] == DATE
    assert datetime.fromisoformat(date["due"].replace("Z", "+00:00")) == latest.astimezone(UTC)
    # Every DAG's deadline comes first (or at the same time): the watchdog never pre-empts it.
    assert all(d <= latest for d in deadlines.values()), deadlines


def test_the_watchdog_watches_the_tables_the_dags_load(tmp_path):
    (tmp_path / "lake").mkdir()
    doc = watchdog(tmp_path / "lake", datetime(2026, 11, 30, 12, tzinfo=UTC))
    loaded = sorted(table for tasks in EXPECTED.values() for (_, table, _) in tasks.values())
    assert sorted(doc["tables"]) == loaded
