"""The DAG files load in real Airflow 3 and every DAG carries what operations needs."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from dag_harness import DAGS, DEPLOY_ENV, EXPECTED, load_dagbag, run_for, task_context


def test_dagbag_loads_every_dag_without_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert sorted(dagbag.dags) == sorted(EXPECTED)
    for dag_id, tasks in EXPECTED.items():
        assert sorted(dagbag.dags[dag_id].task_ids) == sorted(tasks), dag_id


def test_only_the_dag_files_are_parsed(dagbag):
    """.airflowignore keeps the helper package and the tests out of the DAG processor, although
    their files look like DAG files to Airflow's heuristic."""
    from airflow.utils.file import might_contain_dag

    parsed = sorted(Path(p).relative_to(DAGS).as_posix() for p in dagbag.file_last_changed)
    assert parsed == sorted(p.name for p in DAGS.glob("*.py"))
    assert len(parsed) == len(EXPECTED)
    for ignored in (DAGS / "tests" / "test_dag_definitions.py", DAGS / "ingest" / "job.py"):
        assert might_contain_dag(str(ignored), safe_mode=True), ignored
    assert (DAGS / ".airflowignore").read_text().splitlines()[-2:] == ["ingest/", "tests/"]


@pytest.mark.parametrize("dag_id", sorted(EXPECTED))
def test_dag_has_what_operations_needs(dagbag, dag_id):
    from airflow.sdk import CronDataIntervalTimetable
    from ingest.notifier import MattermostNotifier

    dag = dagbag.dags[dag_id]
    assert dag.doc_md and len(dag.doc_md.strip()) > 100
    assert "ingest" in dag.tags and len(dag.tags) >= 2
    assert dag.catchup is True
    assert 1 <= dag.max_active_runs <= 5
    assert dag.start_date is not None and dag.start_date.utcoffset() == timedelta(0)
    assert isinstance(dag.timetable, CronDataIntervalTimetable)
    assert dag.owner == "data-platform"
    for task in dag.tasks:
        assert task.owner == "data-platform"
        assert task.retries >= 1
        assert task.retry_delay >= timedelta(minutes=1)
        assert task.execution_timeout is not None
        assert task.retry_policy is not None
        callbacks = task.on_failure_callback
        callbacks = callbacks if isinstance(callbacks, list) else [callbacks]
        assert any(isinstance(c, MattermostNotifier) for c in callbacks), task.task_id


@pytest.mark.parametrize("dag_id", sorted(EXPECTED))
def test_dag_serializes_like_the_dag_processor_does(dagbag, dag_id):
    from airflow.serialization.serialized_objects import DagSerialization

    data = DagSerialization.to_dict(dagbag.dags[dag_id])
    restored = DagSerialization.from_dict(data)
    assert restored.dag_id == dag_id
    assert sorted(restored.task_ids) == sorted(EXPECTED[dag_id])


@pytest.mark.parametrize("dag_id", sorted(EXPECTED))
def test_the_run_for_a_date_starts_after_that_day(dagbag, dag_id):
    """`{{ ds }}` is the day loaded, and its run starts only once that UTC day is over."""
    info = run_for(dagbag.dags[dag_id], "2026-11-20")
    assert info.logical_date.strftime("%Y-%m-%d") == "2026-11-20"
    assert info.run_after.strftime("%Y-%m-%d") == "2026-11-21"


@pytest.mark.parametrize("dag_id", sorted(EXPECTED))
def test_a_backfill_window_covers_the_dates_docs_dags_md_says(dagbag, dag_id):
    """`airflow backfill create --from-date 2026-11-01 --to-date 2026-11-05T23:59:59` loads
    exactly Nov 1..5 (the window is compared with the logical dates)."""
    from airflow.sdk import timezone
    from airflow.serialization.serialized_objects import DagSerialization

    dag = DagSerialization.from_dict(DagSerialization.to_dict(dagbag.dags[dag_id]))
    infos = dag.iter_dagrun_infos_between(
        timezone.parse("2026-11-01"), timezone.parse("2026-11-05T23:59:59")
    )
    dates = [i.logical_date.strftime("%Y-%m-%d") for i in infos]
    assert dates == [f"2026-11-0{d}" for d in range(1, 6)]


def test_a_floating_or_missing_image_tag_is_an_import_error(deploy_env, monkeypatch):
    monkeypatch.setenv("INGEST_IMAGE_TAG", "latest")
    bag = load_dagbag()
    assert sorted(bag.dags) == []
    assert len(bag.import_errors) == len(EXPECTED)
    for error in bag.import_errors.values():
        assert "INGEST_IMAGE_TAG" in error and "'latest'" in error

    monkeypatch.delenv("INGEST_IMAGE_TAG")
    bag = load_dagbag()
    assert len(bag.import_errors) == len(EXPECTED)
    for error in bag.import_errors.values():
        assert "INGEST_IMAGE_TAG is not set" in error


def test_a_per_job_image_and_the_variable_fallback(deploy_env, monkeypatch):
    digest = "sha256:" + "ab" * 32
    monkeypatch.setenv("INGEST_IMAGE_TELEMETRY", f"other.example.test/telemetry@{digest}")
    # Unset env var: the Airflow Variable of the same name is used (here from AIRFLOW_VAR_*).
    monkeypatch.delenv("INGEST_IMAGE_TAG")
    monkeypatch.setenv("AIRFLOW_VAR_INGEST_IMAGE_TAG", "0.5.0")
    bag = load_dagbag()
    assert bag.import_errors == {}
    images = {dag_id: {t.image for t in dag.tasks} for dag_id, dag in bag.dags.items()}
    assert images["ingest_telemetry"] == {f"other.example.test/telemetry@{digest}"}
    assert images["ingest_push_logs"] == {"registry.example.test/data/ingest/push-logs:0.5.0"}


def test_a_missing_deployment_source_fails_only_that_task_at_run_time(deploy_env, monkeypatch):
    """One deployment's missing source no longer stops the DAG import (and us, test, eu with
    it): the DAG imports, that task fails when it runs, naming the setting, without retries."""
    from airflow.sdk.exceptions import AirflowFailException

    monkeypatch.delenv("INGEST_SOURCE_PUSH_LOGS_EU")
    bag = load_dagbag()
    assert bag.import_errors == {}
    assert sorted(bag.dags) == sorted(EXPECTED)
    dag = bag.dags["ingest_push_logs"]
    assert sorted(dag.task_ids) == ["load_eu", "load_test", "load_us"]
    for task_id in ("load_us", "load_test"):
        assert dag.get_task(task_id).config_error is None
    task = dag.get_task("load_eu")
    with pytest.raises(AirflowFailException) as failed:
        task.execute(task_context(dag, task))
    message = str(failed.value)
    assert "INGEST_SOURCE_PUSH_LOGS_EU is not set" in message
    assert "ingest_push_logs.load_eu" in message


def test_a_missing_source_of_a_single_task_dag_is_still_an_import_error(deploy_env, monkeypatch):
    monkeypatch.delenv("INGEST_SOURCE_TELEMETRY")
    bag = load_dagbag()
    assert "ingest_telemetry" not in bag.dags
    (error,) = [e for f, e in bag.import_errors.items() if f.endswith("telemetry.py")]
    assert "INGEST_SOURCE_TELEMETRY is not set" in error
    assert sorted(bag.dags) == sorted(set(EXPECTED) - {"ingest_telemetry"})


def test_push_logs_deployments_come_from_the_setting(deploy_env, monkeypatch):
    monkeypatch.setenv("INGEST_PUSH_LOGS_DEPLOYMENTS", "us, apac")
    monkeypatch.setenv(
        "INGEST_SOURCE_PUSH_LOGS_APAC",
        "s3://acme-alb-apac/AWSLogs/123456789012/elasticloadbalancing/ap-southeast-1",
    )
    bag = load_dagbag()
    assert bag.import_errors == {}
    dag = bag.dags["ingest_push_logs"]
    assert sorted(dag.task_ids) == ["load_apac", "load_us"]
    args = dag.get_task("load_apac").arguments
    assert args[args.index("--table") + 1] == "push_proxy.logs_apac_new"
    assert args[args.index("--source") + 1].startswith("s3://acme-alb-apac/")

    monkeypatch.setenv("INGEST_PUSH_LOGS_DEPLOYMENTS", "us,US-East")
    bag = load_dagbag()
    (error,) = [e for f, e in bag.import_errors.items() if f.endswith("push_logs.py")]
    assert "INGEST_PUSH_LOGS_DEPLOYMENTS='us,US-East'" in error


def test_deployments_whose_task_ids_contain_one_another_are_refused(deploy_env, monkeypatch):
    """`airflow tasks clear -t load_eu` (the alerts' re-run command) selects every task id that
    contains load_eu: a deployment eu2 beside eu would be re-run too."""
    monkeypatch.setenv("INGEST_PUSH_LOGS_DEPLOYMENTS", "us,eu,eu2")
    monkeypatch.setenv(
        "INGEST_SOURCE_PUSH_LOGS_EU2",
        "s3://acme-alb-eu/AWSLogs/210987654321/elasticloadbalancing/eu-west-1",
    )
    bag = load_dagbag()
    (error,) = [e for f, e in bag.import_errors.items() if f.endswith("push_logs.py")]
    assert "task load_eu is part of task load_eu2" in error
    assert "rename one (for example eu1)" in error


def test_no_task_id_contains_another_in_its_dag(dagbag):
    """So the re-run command `airflow tasks clear <dag> -t <task_id>` selects exactly one task."""
    for dag_id, dag in dagbag.dags.items():
        for task_id in dag.task_ids:
            assert [t for t in dag.task_ids if task_id in t] == [task_id], (dag_id, task_id)


def test_every_task_declares_its_lake_table_as_an_asset(dagbag):
    """A downstream DAG can schedule on `Asset("s3://acme-lake/ingest/push_proxy/logs_us_new")`:
    the table's location in the lake, whose partitions are dt=<date>/ below it."""
    from airflow.sdk import Asset

    lake = DEPLOY_ENV["INGEST_LAKE"]
    for dag_id, tasks in EXPECTED.items():
        for task_id, (_, table, _) in tasks.items():
            task = dagbag.dags[dag_id].get_task(task_id)
            schema, name = table.split(".")
            assert task.outlets == [Asset(uri=f"{lake}/{schema}/{name}")], (dag_id, task_id)
    us = dagbag.dags["ingest_push_logs"].get_task("load_us").outlets[0]
    assert us.uri == "s3://acme-lake/ingest/push_proxy/logs_us_new"


@pytest.mark.parametrize(
    ("reference", "ok"),
    [
        ("ghcr.io/acme/push-logs:0.1.0", True),
        ("registry.local:5000/push-logs:v1.2.3-rc.1", True),
        ("ghcr.io/acme/push-logs@sha256:" + "0" * 64, True),
        ("ghcr.io/acme/push-logs:latest", False),
        ("ghcr.io/acme/push-logs:LATEST", False),
        ("ghcr.io/acme/push-logs", False),
        ("registry.local:5000/push-logs", False),
        ("ghcr.io/acme/push-logs:", False),
        ("ghcr.io/acme/push-logs@sha256:123", False),
    ],
)
def test_image_references_must_pin_a_version(dagbag, reference, ok):
    from ingest import config, images

    if ok:
        assert images.check_reference(reference, what="t", fix="f") == reference
    else:
        with pytest.raises(config.ConfigError):
            images.check_reference(reference, what="t", fix="f")


def test_the_registry_drives_the_dags_as_the_crates_declare():
    """EXPECTED is derived from the registry: a few facts pinned here, so a wrong registry
    cannot pass by agreeing with itself."""
    assert EXPECTED["ingest_push_logs"]["load_eu"] == (
        "push-logs",
        "push_proxy.logs_eu_new",
        "INGEST_SOURCE_PUSH_LOGS_EU",
    )
    assert EXPECTED["ingest_license_exports"] == {
        "load": ("license-exports", "licenses.licenses", "INGEST_SOURCE_LICENSE_EXPORTS")
    }
    assert EXPECTED["ingest_telemetry"]["load"][1] == "diagnostics.log_entries"
    assert len(DEPLOY_ENV["INGEST_SOURCE_TELEMETRY"].split(",")) == 2


def test_a_dag_for_a_job_or_table_outside_the_registry_is_an_import_error(deploy_env):
    from ingest import IngestJob, config

    with pytest.raises(config.ConfigError, match="not in the job registry") as unknown:
        IngestJob("widget-logs")
    assert "tasks/widget-logs/Cargo.toml" in str(unknown.value)
    job = IngestJob("license-exports")
    with pytest.raises(config.ConfigError, match="not one of its registry tables"):
        job.task("load", table="licenses.other")
    push = IngestJob("push-logs")
    with pytest.raises(config.ConfigError, match="not one of its registry tables"):
        push.task("load_us", table="push_proxy.logs_us_old")
