"""Every command of the on-call runbook (docs/dags.md, "On-call runbook") runs, verbatim, against
a real Airflow 3 metadata database holding the real DAGs, and does what the runbook says.

The database is SQLite in a scratch AIRFLOW_HOME (`airflow db migrate`), the DAGs are parsed
into it by `airflow dags reserialize` from dags/, and each command is run by bash from the
docs' own text. No scheduler, worker or cluster runs: the commands only touch the database,
which is what they do in production too. The test knows each command and checks its effect;
a command added to the runbook without a check here fails the test.
"""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
RUNBOOK = REPO / "docs" / "dags.md"
VENV_BIN = Path(sys.executable).parent

DEPLOY_ENV = {
    "INGEST_IMAGE_REGISTRY": "registry.example.test/data/ingest",
    "INGEST_IMAGE_TAG": "0.4.1",
    "INGEST_LAKE": "s3://acme-lake/ingest",
    "INGEST_SOURCE_PUSH_LOGS_US": "s3://acme-alb/AWSLogs/1/elasticloadbalancing/us-east-1",
    "INGEST_SOURCE_PUSH_LOGS_TEST": "s3://acme-alb/AWSLogs/1/elasticloadbalancing/us-east-1",
    "INGEST_SOURCE_PUSH_LOGS_EU": "s3://acme-alb/AWSLogs/2/elasticloadbalancing/eu-central-1",
    # One source where the DAG expects two: telemetry does not import, as after a bad deploy.
    "INGEST_SOURCE_TELEMETRY": "s3://acme-cf/telemetry/E1TELEMETRYAAAA",
    "INGEST_SOURCE_SERVER_PINGBACKS": "s3://acme-cf/releases/E3RELEASESCCCC",
    "INGEST_SOURCE_LICENSE_EXPORTS": "s3://acme-licenses/exports",
}


def runbook_commands() -> list[str]:
    """The commands in the ```sh blocks of the runbook section, in order (the same pool command
    in "Pod placement, priority and pools" is the runbook's E)."""
    text = RUNBOOK.read_text()
    start = text.index("\n## On-call runbook\n")
    end = text.index("\n## ", start + 1)
    blocks = re.findall(r"```sh\n(.*?)```", text[start:end], flags=re.S)
    return [
        line.strip()
        for block in blocks
        for line in block.splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]


class Airflow:
    """A scratch Airflow home with a migrated SQLite database and the DAGs serialized in it."""

    def __init__(self, home: Path):
        self.home = home
        self.db = home / "airflow.db"
        self.env = {
            "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "HOME": os.environ.get("HOME", str(home)),
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{self.db}",
            **DEPLOY_ENV,
        }

    def run(self, command: str, timeout: int = 300) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["bash", "-c", command],
            env=self.env,
            cwd=self.home,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def must(self, command: str) -> str:
        out = self.run(command)
        assert out.returncode == 0, f"{command} exited {out.returncode}:\n{out.stderr[-3000:]}"
        return out.stdout

    def query(self, sql: str, *params) -> list[tuple]:
        with sqlite3.connect(self.db) as db:
            return db.execute(sql, params).fetchall()

    def execute(self, sql: str, *params) -> None:
        with sqlite3.connect(self.db) as db:
            db.execute(sql, params)


@pytest.fixture(scope="module")
def airflow(tmp_path_factory):
    home = tmp_path_factory.mktemp("airflow-home")
    af = Airflow(home)
    af.must("airflow db migrate")
    af.must("airflow dags reserialize")
    return af


def test_every_runbook_command_is_checked():
    assert sorted(runbook_commands()) == sorted(CHECKS), (
        "docs/dags.md's runbook and this test disagree: give every command a check here"
    )


def _states(af: Airflow, dag_id: str) -> dict[str, str | None]:
    rows = af.query("SELECT task_id, state FROM task_instance WHERE dag_id = ?", dag_id)
    return dict(rows)


def check_trigger_memory(af: Airflow, out: subprocess.CompletedProcess) -> None:
    assert out.returncode == 0, out.stderr[-2000:]
    runs = af.query(
        "SELECT run_id, conf, id FROM dag_run WHERE dag_id = 'ingest_push_logs' "
        "AND logical_date LIKE '2026-11-20 12:00:00%'"
    )
    assert len(runs) == 1, runs
    assert '"memory": "2Gi"' in str(runs[0][1]) or "2Gi" in str(runs[0][1]), runs
    # The run got its "not loaded on time" deadline: the next day, 4 h after the scheduled start.
    deadlines = af.query("SELECT deadline_time FROM deadline WHERE dagrun_id = ?", runs[0][2])
    assert [d[0][:16] for d in deadlines] == ["2026-11-21 16:00"], deadlines
    assert sorted(_states(af, "ingest_push_logs")) == ["load_eu", "load_test", "load_us"]


def check_trigger_ratio(af: Airflow, out: subprocess.CompletedProcess) -> None:
    assert out.returncode == 0, out.stderr[-2000:]
    (conf,) = af.query(
        "SELECT conf FROM dag_run WHERE dag_id = 'ingest_push_logs' "
        "AND logical_date LIKE '2026-11-20 12:05:00%'"
    )
    assert "0.05" in str(conf[0]), conf


def prepare_clear(af: Airflow) -> None:
    # The date's load_eu and load_us failed; the runbook re-runs load_eu only.
    af.execute(
        "UPDATE task_instance SET state = 'failed' WHERE dag_id = 'ingest_push_logs' "
        "AND task_id IN ('load_eu', 'load_us')"
    )


def check_clear(af: Airflow, out: subprocess.CompletedProcess) -> None:
    assert out.returncode == 0, out.stderr[-2000:]
    rows = af.query(
        "SELECT task_id, state FROM task_instance WHERE dag_id = 'ingest_push_logs' "
        "AND task_id IN ('load_eu', 'load_us')"
    )
    eu = {state for task, state in rows if task == "load_eu"}
    us = {state for task, state in rows if task == "load_us"}
    # Cleared: no state, so the scheduler runs it again. The other deployment is untouched.
    assert eu == {None}, rows
    assert us == {"failed"}, rows


def check_import_errors(af: Airflow, out: subprocess.CompletedProcess) -> None:
    # Exit 1: there is an import error (telemetry's, set up above).
    assert out.returncode == 1, out.stderr[-2000:]
    assert "telemetry.py" in out.stdout
    assert "INGEST_SOURCE_TELEMETRY: expected 2 comma-separated source(s), got 1" in out.stdout


def check_list(af: Airflow, out: subprocess.CompletedProcess) -> None:
    assert out.returncode == 0, out.stderr[-2000:]
    lines = {
        line.split()[0]: line for line in out.stdout.splitlines() if line.startswith("ingest_")
    }
    assert "is_paused" in out.stdout
    # New DAGs start paused; the broken one is missing from the list altogether.
    assert re.search(r"\bTrue\b", lines["ingest_push_logs"]), lines
    assert "ingest_telemetry" not in lines


def check_unpause(af: Airflow, out: subprocess.CompletedProcess) -> None:
    assert out.returncode == 0, out.stderr[-2000:]
    assert af.query("SELECT is_paused FROM dag WHERE dag_id = 'ingest_push_logs'") == [(0,)]


def check_scheduler(af: Airflow, out: subprocess.CompletedProcess) -> None:
    # No scheduler runs here: the check says so, as it would with the scheduler down.
    assert out.returncode == 1, (out.returncode, out.stdout, out.stderr[-1000:])
    assert "No alive jobs found." in out.stdout + out.stderr


def check_list_runs(af: Airflow, out: subprocess.CompletedProcess) -> None:
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.count("manual__") == 2, out.stdout


def check_backfill(af: Airflow, out: subprocess.CompletedProcess) -> None:
    assert out.returncode == 0, out.stderr[-2000:]
    dates = sorted(set(re.findall(r"2026-11-(\d\d) 01:30:00", out.stdout)))
    assert dates == ["18", "19", "20"], out.stdout
    # A dry run creates nothing.
    assert af.query("SELECT COUNT(*) FROM backfill") == [(0,)]


def check_backfill_load(af: Airflow, out: subprocess.CompletedProcess) -> None:
    """The watchdog's load command (runbook F): a backfill that creates the date's run."""
    assert out.returncode == 0, out.stderr[-2000:]
    assert af.query("SELECT COUNT(*) FROM backfill WHERE dag_id = 'ingest_push_logs'") == [(1,)]
    runs = af.query(
        "SELECT run_type FROM dag_run WHERE dag_id = 'ingest_push_logs' "
        "AND logical_date LIKE '2026-11-20 01:30:00%'"
    )
    assert runs == [("backfill",)], runs


def check_pools_list(af: Airflow, out: subprocess.CompletedProcess) -> None:
    assert out.returncode == 0, out.stderr[-2000:]
    assert re.search(r"^default_pool\s+128\b", out.stdout, flags=re.M), out.stdout


def check_pools_set(af: Airflow, out: subprocess.CompletedProcess) -> None:
    assert out.returncode == 0, out.stderr[-2000:]
    assert af.query("SELECT slots FROM slot_pool WHERE pool = 'ingest'") == [(12,)]


# command (exactly as in docs/dags.md) -> (preparation, check)
CHECKS = {
    "airflow dags trigger ingest_push_logs -l 2026-11-20T12:00:00+00:00 -c "
    """'{"memory": "2Gi"}'""": (None, check_trigger_memory),
    "airflow dags trigger ingest_push_logs -l 2026-11-20T12:05:00+00:00 -c "
    """'{"max_reject_ratio": 0.05}'""": (None, check_trigger_ratio),
    "airflow tasks clear ingest_push_logs -t load_eu -s 2026-11-20 -e 2026-11-20T23:59:59 -y": (
        prepare_clear,
        check_clear,
    ),
    "airflow dags list-import-errors -o plain": (None, check_import_errors),
    "airflow dags list -o plain": (None, check_list),
    "airflow dags unpause ingest_push_logs": (None, check_unpause),
    "airflow jobs check --job-type SchedulerJob": (None, check_scheduler),
    "airflow dags list-runs ingest_push_logs --start-date 2026-11-18 "
    "--end-date 2026-11-20T23:59:59": (None, check_list_runs),
    "airflow pools list -o plain": (None, check_pools_list),
    'airflow pools set ingest 12 "ingest jobs: nightly runs plus one backfill of 2 runs"': (
        None,
        check_pools_set,
    ),
    "airflow backfill create --dag-id ingest_push_logs --from-date 2026-11-18 "
    "--to-date 2026-11-20T23:59:59 --reprocess-behavior failed --dry-run": (
        None,
        check_backfill,
    ),
    "airflow backfill create --dag-id ingest_push_logs --from-date 2026-11-20 "
    "--to-date 2026-11-20T23:59:59 --reprocess-behavior failed": (None, check_backfill_load),
}
# The runs must exist before they are cleared or listed; the DAG is listed before unpausing.
ORDER = [
    "airflow dags trigger",
    "airflow tasks clear",
    "airflow dags list-import-errors",
    "airflow dags list -o",
    "airflow dags unpause",
    "airflow jobs check",
    "airflow dags list-runs",
    # The dry run (D) first: it checks that nothing was created yet.
    "airflow backfill create --dag-id ingest_push_logs --from-date 2026-11-18",
    "airflow backfill create",
    "airflow pools list",
    "airflow pools set",
]


def _rank(command: str) -> int:
    return next(i for i, prefix in enumerate(ORDER) if command.startswith(prefix))


def test_the_runbook_commands_do_what_it_says(airflow):
    commands = sorted(runbook_commands(), key=_rank)
    assert commands, "no commands found in the runbook"
    for command in commands:
        prepare, check = CHECKS[command]
        if prepare:
            prepare(airflow)
        check(airflow, airflow.run(command))


def test_a_regex_task_selector_clears_nothing(airflow):
    """Why the runbook says `-t load_eu` and not `-t '^load_eu$'`: Airflow 3 matches `-t` as a
    substring, so the anchored form selects no task and exits 0 having cleared nothing."""
    prepare_clear(airflow)
    out = airflow.run(
        "airflow tasks clear ingest_push_logs -t '^load_eu$' "
        "-s 2026-11-20 -e 2026-11-20T23:59:59 -y"
    )
    assert out.returncode == 0
    states = {
        s
        for (s,) in airflow.query(
            "SELECT state FROM task_instance "
            "WHERE dag_id = 'ingest_push_logs' AND task_id = 'load_eu'"
        )
    }
    assert states == {"failed"}
