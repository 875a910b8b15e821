"""Harness of the DAG tests: real Airflow 3 in a throwaway AIRFLOW_HOME, deploy-time settings,
the DagBag as the dag processor builds it, and the pod each task would submit for a date.
Imported by conftest.py before anything imports Airflow.

No database and no Kubernetes API are needed: DAG parsing, template rendering and
`build_pod_request_obj(dry_run=True)` are all local.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

DAGS = Path(__file__).resolve().parents[1]
REPO = DAGS.parent

# Airflow reads its home and config when first imported: set them before any test imports it.
# Only AIRFLOW_* variables are set process-wide; the INGEST_* settings are set by a fixture, so
# the end-to-end tests of the binaries (which run in the same pytest session) never see them.
os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="ingest-dags-airflow-home-")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(DAGS)
os.environ["AIRFLOW__API__BASE_URL"] = "https://airflow.example.test"
# The bundle root is on sys.path in Airflow (that is how DAG files import `ingest`).
if str(DAGS) not in sys.path:
    sys.path.insert(0, str(DAGS))

DATE = "2026-11-20"
TRY_NUMBER = 2
# Values that must never appear in a pod spec or an argument list.
SECRET_SENTINEL = "https://mattermost.example.test/hooks/SENTINEL-do-not-leak-9f3b"  # noqa: S105

# The job registry the DAG package reads (generated from the job crates' Cargo.toml by
# scripts/registry.py): every job in it must have its DAG, and these tests cover each.
REGISTRY: dict[str, dict] = json.loads((DAGS / "ingest" / "registry.json").read_text())["jobs"]


def _env_key(name: str) -> str:
    return name.upper().replace("-", "_")


def _expected() -> dict[str, dict[str, tuple[str, str, str]]]:
    """dag id -> {task id: (job, table, sources setting)}, from the registry: one task `load`, or
    one task `load_<d>` per deployment `d`."""
    out: dict[str, dict[str, tuple[str, str, str]]] = {}
    for job, entry in REGISTRY.items():
        source, table = entry["source"], entry["tables"][0]
        tasks = {"load": (job, table, source["setting"])}
        if "deployments" in source:
            tasks = {
                f"load_{d}": (
                    job,
                    table.replace("{deployment}", d),
                    f"{source['setting']}_{_env_key(d)}",
                )
                for d in source["deployments"]
            }
        out[f"ingest_{_env_key(job).lower()}"] = tasks
    return out


def _job_sources() -> dict[str, str]:
    """The registry's example sources, as the deploy-time settings that carry them."""
    out = {}
    for entry in REGISTRY.values():
        source = entry["source"]
        if "deployments" in source:
            for d, example in zip(source["deployments"], source["examples"], strict=True):
                out[f"{source['setting']}_{_env_key(d)}"] = example
        else:
            out[source["setting"]] = ",".join(source["examples"])
    return out


DEPLOY_ENV = {
    "INGEST_IMAGE_REGISTRY": "registry.example.test/data/ingest",
    "INGEST_IMAGE_TAG": "0.4.1",
    "INGEST_LAKE": "s3://acme-lake/ingest",
    "INGEST_NAMESPACE": "ingest-test-ns",
    "INGEST_SERVICE_ACCOUNT": "ingest-test-sa",
    "INGEST_SECRET_NAME": "ingest-test-secret",
    "INGEST_ALERT_CHANNEL": "ingest-alerts",
    # Every job's sources: INGEST_SOURCE_PUSH_LOGS_US=s3://acme-alb-us/..., and so on.
    **_job_sources(),
    # Secret values reachable by the Airflow process: none may end up in a pod spec.
    "MATTERMOST_WEBHOOK_URL": SECRET_SENTINEL,
    "INGEST_ALERT_WEBHOOK_URL": SECRET_SENTINEL,
}

# What each DAG must hold: dag id -> {task id: (job, table, sources setting)}.
EXPECTED = _expected()
JOBS = sorted(REGISTRY)
TASKS = [(dag_id, task_id) for dag_id, tasks in EXPECTED.items() for task_id in tasks]


@pytest.fixture(scope="session")
def deploy_env():
    """The deploy-time settings the chart provides, for the whole DAG test session."""
    with pytest.MonkeyPatch.context() as mp:
        for name, value in DEPLOY_ENV.items():
            mp.setenv(name, value)
        yield dict(DEPLOY_ENV)


def load_dagbag():
    """The DagBag exactly as the dag processor builds it for a bundle rooted at dags/."""
    from airflow.dag_processing.dagbag import BundleDagBag

    return BundleDagBag(DAGS, bundle_path=DAGS, bundle_name="ingest-dags-test")


@pytest.fixture(scope="session")
def dagbag(deploy_env):
    return load_dagbag()


def run_for(dag, date: str = DATE):
    """The scheduled run whose logical date is `date`, from the DAG's own timetable."""
    from airflow.serialization.encoders import coerce_to_core_timetable
    from airflow.timetables.base import TimeRestriction

    earliest = datetime.fromisoformat(date).replace(tzinfo=UTC)
    timetable = coerce_to_core_timetable(dag.timetable)
    info = timetable.next_dagrun_info(
        last_automated_data_interval=None,
        restriction=TimeRestriction(earliest=earliest, latest=None, catchup=True),
    )
    assert info is not None, f"{dag.dag_id}: no run on or after {date}"
    return info


def task_context(dag, task, date: str = DATE, try_number: int = TRY_NUMBER, conf=None):
    """The template context a worker builds for `task` in the scheduled run for `date`; `conf`
    is the run's "Trigger DAG w/ config" JSON (it overrides the DAG's Params, validated)."""
    from airflow.api_fastapi.execution_api.datamodels.taskinstance import DagRun, TIRunContext
    from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance

    info = run_for(dag, date)
    run_id = f"scheduled__{info.logical_date.isoformat()}"
    dag_run = DagRun(
        dag_id=dag.dag_id,
        run_id=run_id,
        logical_date=info.logical_date,
        data_interval_start=info.data_interval.start,
        data_interval_end=info.data_interval.end,
        run_after=info.run_after,
        start_date=info.run_after,
        end_date=None,
        run_type="scheduled",
        state="running",
        consumed_asset_events=[],
        partition_key=None,
        conf=conf,
    )
    ti = RuntimeTaskInstance.model_construct(
        id=uuid.uuid4(),
        task_id=task.task_id,
        dag_id=dag.dag_id,
        run_id=run_id,
        try_number=try_number,
        map_index=-1,
        dag_version_id=uuid.uuid4(),
        task=task,
        max_tries=task.retries,
        start_date=info.run_after,
        _ti_context_from_server=TIRunContext(
            dag_run=dag_run,
            max_tries=task.retries,
            variables=[],
            connections=[],
            xcom_keys_to_clear=[],
        ),
    )
    return ti.get_template_context()


def task_copy(dag, task_id: str):
    """A copy of the task that one run may render and resolve its conf into.

    Airflow resolves a run's conf into the task's Param objects, which even a deep copy shares:
    fine in a worker (one process per task try), but here the next test would inherit the
    values. The copy gets its own Params."""
    from airflow.sdk.definitions.param import ParamsDict

    task = copy.deepcopy(dag.get_task(task_id))
    task.params = ParamsDict({k: copy.copy(task.params.get_param(k)) for k in task.params})
    return task


def build_pod(dagbag, dag_id: str, task_id: str, date: str = DATE, conf=None):
    """Renders a fresh copy of the task for `date` (and run conf) and builds the pod it would
    submit."""
    dag = dagbag.dags[dag_id]
    task = task_copy(dag, task_id)
    context = task_context(dag, task, date, conf=conf)
    task.render_template_fields(context)
    pod = task.build_pod_request_obj(context, dry_run=True)
    return pod, context


def bin_dir() -> Path:
    value = os.environ.get("INGEST_BIN_DIR")
    if value:
        return Path(value)
    target = os.environ.get("CARGO_TARGET_DIR") or str(
        Path.home() / ".cache" / "ingest-tasks" / "target"
    )
    return Path(target) / "debug"


def print_contract(job: str) -> dict:
    """`<job> --print-contract` of the built binary; fails (never skips) when it is missing."""
    path = bin_dir() / job
    if not path.is_file():
        pytest.fail(
            f"job binary {path} is missing: build it with `cargo build --workspace --bins` "
            "(scripts/test.sh does) and point INGEST_BIN_DIR at <target>/debug; the DAG tests "
            "need every job's --print-contract",
            pytrace=False,
        )
    out = subprocess.run(
        [str(path), "--print-contract"], capture_output=True, text=True, timeout=60, check=False
    )
    assert out.returncode == 0, f"{job} --print-contract exited {out.returncode}: {out.stderr}"
    try:
        return json.loads(out.stdout)
    except ValueError as err:
        pytest.fail(f"{job} --print-contract did not print JSON ({err}): {out.stdout[:500]}")
