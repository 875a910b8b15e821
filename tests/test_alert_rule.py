"""End-to-end tests of who alerts and how a run ends: the alert rule across Airflow tries, the
out-of-time exit, panics, the re-run commands of an alert run verbatim, a local lake in a pod, and
the time everything takes after SIGTERM (docs/contract.md, "Who alerts" and after).

Real parts: the debug binaries, moto's S3 server behind the harness's fault proxy, a webhook
receiver on 127.0.0.1, DuckDB. The panic and hang tests need push-logs built with the cargo
feature `fault-injection`, in INGEST_FAULT_BIN_DIR (scripts/test.sh builds it):

    cargo build -p push-logs --features fault-injection
    cp "$CARGO_TARGET_DIR/debug/push-logs" "$CARGO_TARGET_DIR/fault-injection/"
    cargo build --workspace --bins   # puts the shipped build back in debug/
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.conftest import s3_env, upload_tree
from tests.harness import (
    SENTINEL_AWS_SECRET,
    SENTINEL_WEBHOOK_TOKEN,
    FaultProxy,
    Result,
    bin_dir,
    clean_env,
    free_port,
    query,
    read_table,
    run_job,
    sample_data,
    start_job,
)

# The Snowflake tests' fixture (a stage, a proxy to fakesnow, the job's env), used as is.
from tests.test_snowflake import SENTINEL_PASSWORD, snowflake, table_state  # noqa: F401

DATE = "2026-11-20"
TABLE = "push_proxy.logs_us_new"
PREFIX = "AWSLogs/123456789012/elasticloadbalancing/us-east-1"
# The pods' termination grace period (dags/ingest/job.py): SIGKILL follows SIGTERM after it.
GRACE_PERIOD_S = 60


def make_sample(root: Path, files: int, lines: int, *extra: str) -> Path:
    sample_data(
        "alb",
        "--date",
        DATE,
        "--out",
        str(root),
        "--files",
        str(files),
        "--lines",
        str(lines),
        *extra,
    )
    return root / PREFIX


def job_args(source: str, lake: Path | str, *extra: str) -> list[str]:
    return ["--date", DATE, "--source", source, "--table", TABLE, "--lake", str(lake), *extra]


def airflow(try_number: int, max_tries: int, webhook_url: str) -> dict[str, str]:
    """What the DAG gives the pod for try `try_number` of `max_tries`."""
    return {
        "MATTERMOST_WEBHOOK_URL": webhook_url,
        "AIRFLOW_CTX_DAG_ID": "ingest_push_logs",
        "AIRFLOW_CTX_TASK_ID": "load_us",
        "AIRFLOW_CTX_DAG_RUN_ID": f"scheduled__{DATE}T00:00:00+00:00",
        "AIRFLOW_CTX_TRY_NUMBER": str(try_number),
        "INGEST_MAX_TRIES": str(max_tries),
    }


def fault_binary() -> Path:
    """push-logs built with `--features fault-injection`; the test fails (not skips) without."""
    value = os.environ.get("INGEST_FAULT_BIN_DIR")
    if not value:
        pytest.fail(
            "INGEST_FAULT_BIN_DIR is not set: build push-logs with `cargo build -p push-logs "
            "--features fault-injection`, copy it to a directory of its own and point "
            "INGEST_FAULT_BIN_DIR there (scripts/test.sh does)"
        )
    path = Path(value) / "push-logs"
    if not path.exists():
        pytest.fail(f"{path} does not exist: see this module's docstring")
    return path


def run_binary(path: Path, *args: str, env: dict[str, str], timeout: float = 180) -> Result:
    proc = subprocess.run(
        [str(path), *args],
        env=clean_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def messages(result: Result) -> list[str]:
    return [log.get("message") or "" for log in result.logs()]


def code_blocks(post: dict, lang: str) -> list[str]:
    text = post["attachments"][0]["text"]
    return re.findall(rf"```{lang}\n(.*?)\n```", text, re.DOTALL)


def job_commands(post: dict) -> list[str]:
    """The alert's commands that run the job binary (not the `airflow tasks clear` one)."""
    return [b for b in code_blocks(post, "sh") if not b.startswith("airflow tasks clear ")]


def unreachable_s3() -> dict[str, str]:
    """S3 settings pointing at a port where nothing listens: listing fails as transient (4)."""
    return s3_env(f"http://127.0.0.1:{free_port()}")


# --- the alert rule ------------------------------------------------------------------------------


def test_a_transient_failure_posts_once_from_the_last_try(tmp_path, webhook):
    args = job_args("s3://logs/AWSLogs/1/elasticloadbalancing/us-east-1", tmp_path / "lake")
    for try_number in (1, 2):
        result = run_job(
            "push-logs", *args, env={**unreachable_s3(), **airflow(try_number, 3, webhook.url)}
        )
        assert result.code == 4, result.stderr
        summary = result.summary()
        assert summary["alert_sent"] is False
        assert summary["alert_deferred"] is True
        assert any(f"try {try_number} of 3" in m for m in messages(result)), result.stderr
        assert webhook.raw == [], f"try {try_number} of 3 posted"

    last = run_job("push-logs", *args, env={**unreachable_s3(), **airflow(3, 3, webhook.url)})
    assert last.code == 4, last.stderr
    assert last.summary()["alert_sent"] is True
    assert last.summary()["alert_deferred"] is False
    assert len(webhook.posts) == 1, "one failed date, one post"
    assert "transient infrastructure error" in json.dumps(webhook.posts[0])


def test_a_run_without_the_try_context_always_alerts(tmp_path, webhook):
    args = job_args("s3://logs/AWSLogs/1/elasticloadbalancing/us-east-1", tmp_path / "lake")
    by_hand = run_job(
        "push-logs", *args, env={**unreachable_s3(), "MATTERMOST_WEBHOOK_URL": webhook.url}
    )
    assert by_hand.code == 4, by_hand.stderr
    assert by_hand.summary()["alert_sent"] is True
    assert by_hand.summary()["alert_deferred"] is False
    # A value that is not a number counts as missing: post rather than lose the alert.
    garbled = {**unreachable_s3(), **airflow(1, 3, webhook.url), "INGEST_MAX_TRIES": "three"}
    result = run_job("push-logs", *args, env=garbled)
    assert result.code == 4, result.stderr
    assert result.summary()["alert_sent"] is True
    assert len(webhook.posts) == 2


def test_a_data_error_posts_on_the_first_try(tmp_path, webhook):
    bad = make_sample(tmp_path / "bad", 1, 100, "--malformed-every", "5")
    result = run_job(
        "push-logs", *job_args(str(bad), tmp_path / "lake"), env=airflow(1, 3, webhook.url)
    )
    assert result.code == 3, result.stderr
    summary = result.summary()
    assert summary["alert_sent"] is True
    assert summary["alert_deferred"] is False
    assert len(webhook.posts) == 1


# --- too many rejects: the alert's commands and queries, run as posted ---------------------------


def test_too_many_rejects_alert_gives_commands_that_run_verbatim(tmp_path, webhook):
    good = make_sample(tmp_path / "good", 2, 300)
    lake = tmp_path / "lake"
    assert run_job("push-logs", *job_args(str(good), lake)).code == 0
    before = read_table(lake, TABLE, DATE)

    bad = make_sample(tmp_path / "bad", 2, 333, "--malformed-every", "7")
    env = airflow(1, 3, webhook.url)
    result = run_job("push-logs", *job_args(str(bad), lake, "--threads", "2"), env=env)
    assert result.code == 3, result.stderr
    summary = result.summary()
    rejected, loaded = summary["rows_rejected"], summary["rows_loaded"]
    observed = rejected / (rejected + loaded)
    assert len(webhook.posts) == 1
    post = webhook.posts[0]
    body = post["attachments"][0]["text"]

    # The first command re-runs the date as the pod ran it; the second accepts these rejects.
    rerun, accept = job_commands(post)
    assert "--threads 2" in rerun
    # Beside them, the Airflow re-run for this DAG, task and date.
    assert f"airflow tasks clear ingest_push_logs -t load_us -s {DATE} -e {DATE}T23:59:59 -y" in [
        b for b in code_blocks(post, "sh") if b.startswith("airflow ")
    ]
    ratio = re.search(r"--max-reject-ratio (\S+)", accept).group(1)
    assert f"--max-reject-ratio {ratio} lets this run pass" in body
    assert observed <= float(ratio) < observed + 0.01, (observed, ratio)

    def run_verbatim(command: str) -> Result:
        argv = shlex.split(command)
        assert argv[0] == "push-logs"
        return run_job(argv[0], *argv[1:], env=env)

    # As posted, the re-run fails the same way; with the printed ratio, exactly, it passes.
    assert run_verbatim(rerun).code == 3
    assert read_table(lake, TABLE, DATE) == before
    accepted = run_verbatim(accept)
    assert accepted.code == 0, accepted.stderr
    assert len(read_table(lake, TABLE, DATE)) == loaded

    # The DuckDB queries in the alert read the rejects partition.
    (sql,) = code_blocks(post, "sql")
    assert f"{lake}/push_proxy/logs_us_new_rejects/dt={DATE}/*.parquet" in sql
    by_reason, listing = [s for s in sql.split(";") if s.strip()]
    assert sum(n for _, n, _ in query(by_reason)) == rejected
    assert 0 < len(query(listing)) <= 100


def test_with_a_warehouse_the_alert_names_the_rejects_table_and_reruns_as_posted(
    tmp_path,
    s3,
    snowflake,  # noqa: F811 (the imported fixture)
    webhook,
):
    conn, _, env = snowflake
    _, bucket = s3
    bad = make_sample(tmp_path / "bad", 2, 200, "--malformed-every", "9")
    # The pod's environment: the warehouse and its user come from env, as the DAG sets them.
    pod_env = {**env, **airflow(1, 3, webhook.url)}
    args = job_args(str(bad), f"s3://{bucket}/lake", "--threads", "2")
    result = run_job("push-logs", *args, env=pod_env)
    assert result.code == 3, result.stderr
    rejected = result.summary()["rows_rejected"]
    (post,) = webhook.posts

    _, snowflake_sql = code_blocks(post, "sql")
    assert '"DB"."INGEST"."LOGS_US_NEW_REJECTS"' in snowflake_sql
    # The Snowflake query of the alert runs as posted and counts this date's rejects.
    cur = conn.cursor()
    cur.execute(snowflake_sql.rstrip(";"))
    assert sum(n for _, n in cur.fetchall()) == rejected
    rerun, accept = job_commands(post)
    for command in (rerun, accept):
        assert f"--warehouse-user {env['SNOWFLAKE_USER']}" in command
        assert SENTINEL_PASSWORD not in command
    argv = shlex.split(accept)
    accepted = run_job(argv[0], *argv[1:], env=pod_env)
    assert accepted.code == 0, accepted.stderr
    assert table_state(conn)[0] == accepted.summary()["rows_loaded"]


# --- out of time ---------------------------------------------------------------------------------


def stalled_s3_run(tmp_path, s3, moto_endpoint, *extra: str, env: dict[str, str], job=None):
    """Starts push-logs reading from S3 through a proxy that stalls after 200 kB."""
    client, bucket = s3
    _, port = moto_endpoint
    root = tmp_path / "sample"
    make_sample(root, files=2, lines=20000)
    upload_tree(client, bucket, root)
    proxy = FaultProxy(port, "stall", after_bytes=200_000)
    args = job_args(f"s3://{bucket}/{PREFIX}", tmp_path / "lake", "--threads", "1", *extra)
    full_env = {**s3_env(proxy.endpoint), **env}
    if job is None:
        proc = start_job("push-logs", *args, env=full_env)
    else:
        proc = subprocess.Popen(
            [str(job), *args],
            env=clean_env(full_env),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            stdin=subprocess.DEVNULL,
        )
    return proc, proxy


def test_reaching_the_deadline_is_out_of_time_exit_5_and_one_alert(
    tmp_path, s3, moto_endpoint, webhook
):
    # A 4 s limit: the run stops itself after half of it (the margin of a tiny limit).
    proc, proxy = stalled_s3_run(
        tmp_path, s3, moto_endpoint, "--deadline-seconds", "4", env=airflow(1, 3, webhook.url)
    )
    stdout, stderr = proc.communicate(timeout=60)
    assert proxy.fired.is_set(), "the run never reached the stall"
    assert proc.returncode == 5, stderr
    summary = json.loads(stdout.strip().splitlines()[-1])
    assert summary["error_kind"] == "out of time"
    error = summary["error"]
    for needle in (
        "ran out of time",
        "4 s (4 s",
        "of 2 files read",
        "nothing was committed",
        "IngestJob(timeout=...) in dags/push_logs.py",
        "--threads 1",
        "stopped itself",
    ):
        assert needle in error, (needle, error)
    assert summary["alert_sent"] is True, "deterministic: posted on try 1"
    assert len(webhook.posts) == 1
    assert "out of time" in json.dumps(webhook.posts[0])
    assert not (tmp_path / "lake" / "push_proxy").exists(), "nothing committed"


def test_sigterm_near_the_deadline_is_out_of_time_and_far_from_it_interrupted(
    tmp_path, s3, moto_endpoint
):
    # 8 s limit: margin 4 s, so a SIGTERM from 0 s on is taken as the deadline kill.
    proc, proxy = stalled_s3_run(tmp_path, s3, moto_endpoint, "--deadline-seconds", "8", env={})
    assert proxy.fired.wait(30), "the job never read far enough"
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 5, stderr
    error = json.loads(stdout.strip().splitlines()[-1])["error"]
    assert "Kubernetes stopped it (SIGTERM at the deadline)" in error, error

    # A 1 h limit: a SIGTERM after a few seconds is an ordinary interruption (retried).
    far = tmp_path / "far"
    far.mkdir()
    proc, proxy = stalled_s3_run(far, s3, moto_endpoint, "--deadline-seconds", "3600", env={})
    assert proxy.fired.wait(30), "the job never read far enough"
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "interrupted by SIGTERM" in json.loads(stdout.strip().splitlines()[-1])["error"]


# --- panics --------------------------------------------------------------------------------------


@pytest.mark.parametrize("point", ["panic-in-parse", "panic-in-main"])
def test_a_panic_is_exit_1_with_summary_and_one_alert(tmp_path, webhook, point):
    job = fault_binary()
    source = make_sample(tmp_path / "sample", 2, 200)
    termination = tmp_path / "termination-log"
    termination.write_text("")
    env = {
        **airflow(1, 3, webhook.url),
        "INGEST_FAULT": point,
        "INGEST_TERMINATION_LOG": str(termination),
        "AWS_SECRET_ACCESS_KEY": SENTINEL_AWS_SECRET,
    }
    result = run_binary(job, *job_args(str(source), tmp_path / "lake", "--threads", "2"), env=env)
    assert result.code == 1, result.stderr
    summary = result.summary()
    assert summary["error_kind"] == "internal error"
    assert f"fault injected at {point} (INGEST_FAULT)" in summary["error"]
    assert summary["alert_sent"] is True
    assert json.loads(termination.read_text())["exit_code"] == 1
    assert len(webhook.posts) == 1
    assert "internal error" in json.dumps(webhook.posts[0])
    # The panic is logged as a JSON line by the runtime's hook, not Rust's default text.
    assert any(m == "panic: this is a bug" for m in messages(result)), result.stderr
    assert "panicked at" not in result.stderr
    assert not (tmp_path / "lake" / "push_proxy").exists()
    everything = result.stdout + result.stderr + "".join(b.decode() for b in webhook.raw)
    for sentinel in (SENTINEL_WEBHOOK_TOKEN, SENTINEL_AWS_SECRET):
        assert sentinel not in everything


def test_the_shipped_build_has_no_fault_points(tmp_path):
    binary = bin_dir() / "push-logs"
    assert b"INGEST_FAULT" not in binary.read_bytes(), "the shipped build reads INGEST_FAULT"
    source = make_sample(tmp_path / "sample", 1, 50)
    result = run_job(
        "push-logs",
        *job_args(str(source), tmp_path / "lake"),
        env={"INGEST_FAULT": "panic-in-parse"},
    )
    assert result.code == 0, result.stderr


# --- a local lake in a pod -----------------------------------------------------------------------


def test_a_local_lake_in_a_pod_is_refused_unless_dry_run(tmp_path, webhook):
    source = make_sample(tmp_path / "sample", 1, 50)
    lake = tmp_path / "lake"
    pod = {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "MATTERMOST_WEBHOOK_URL": webhook.url}
    result = run_job("push-logs", *job_args(str(source), lake), env=pod)
    assert result.code == 2, result.stderr
    error = result.summary()["error"]
    assert "Kubernetes pod" in error and "INGEST_LAKE" in error and "s3://" in error, error
    assert not lake.exists()
    assert len(webhook.posts) == 1
    dry = run_job("push-logs", *job_args(str(source), lake, "--dry-run"), env=pod)
    assert dry.code == 0, dry.stderr


# --- after SIGTERM, everything fits the grace period ---------------------------------------------


class StalledWebhook:
    """A webhook that accepts the connection and the post, then never answers."""

    def __init__(self):
        self.received = threading.Event()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server API)
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                hook.received.set()
                time.sleep(120)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/hooks/{SENTINEL_WEBHOOK_TOKEN}"

    def close(self):
        self.server.shutdown()


def sigterm_and_time(proc: subprocess.Popen, after: threading.Event | None = None):
    """Sends SIGTERM once `after` is set (or after 2 s); returns (seconds to exit, out, err)."""
    if after is None:
        time.sleep(2)
    elif not after.is_set():
        assert after.wait(30), "the job never got going"
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        stdout, stderr = proc.communicate(timeout=GRACE_PERIOD_S - 5)
    except subprocess.TimeoutExpired:
        proc.kill()
        stdout, stderr = proc.communicate()
        pytest.fail(f"still running {GRACE_PERIOD_S - 5} s after SIGTERM:\n{stderr[-2000:]}")
    return time.monotonic() - sent, stdout, stderr


def test_after_sigterm_everything_fits_the_grace_period(tmp_path, s3, moto_endpoint):
    """Prints the time from SIGTERM to exit; the bound is the pods' 60 s grace period (SIGKILL
    after it), with 5 s to spare: a check that the 45 s shutdown budget holds, not a benchmark."""
    hook = StalledWebhook()
    try:
        # A stalled S3 read, then a webhook that never answers.
        proc, proxy = stalled_s3_run(
            tmp_path, s3, moto_endpoint, env={"MATTERMOST_WEBHOOK_URL": hook.url}
        )
        elapsed, stdout, stderr = sigterm_and_time(proc, proxy.fired)
        assert proc.returncode == 130, stderr
        summary = json.loads(stdout.strip().splitlines()[-1])
        assert summary["alert_sent"] is False and hook.received.is_set()
        print(f"\nSIGTERM during a stalled S3 read, webhook hanging: exit after {elapsed:.1f} s")

        # A step that ignores the stop altogether (a hung call), then the same webhook.
        job = fault_binary()
        hung = tmp_path / "hung"
        hung.mkdir()
        source = make_sample(hung / "sample", 1, 50)
        proc = subprocess.Popen(
            [str(job), *job_args(str(source), hung / "lake")],
            env=clean_env({"MATTERMOST_WEBHOOK_URL": hook.url, "INGEST_FAULT": "stall-in-parse"}),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            stdin=subprocess.DEVNULL,
        )
        elapsed, stdout, stderr = sigterm_and_time(proc)
        assert proc.returncode == 130, stderr
        summary = json.loads(stdout.strip().splitlines()[-1])
        assert "stopping did not finish within 30 s, so the run was abandoned" in summary["error"]
        print(f"SIGTERM with a hung step and a hanging webhook: exit after {elapsed:.1f} s")
    finally:
        hook.close()


def test_sigterm_with_a_hung_warehouse_rollback_fits_the_grace_period(
    tmp_path,
    s3,
    snowflake,  # noqa: F811 (the imported fixture)
):
    """Issue: ROLLBACK's HTTP timeout alone could outlast the grace period. Prints the time from
    SIGTERM to exit when the COPY and then the ROLLBACK hang."""
    _, bucket = s3
    _, proxy, env = snowflake
    source = make_sample(tmp_path / "sample", 2, 200)
    proxy.stall_sql = re.compile(r"^(COPY INTO|ROLLBACK)")
    proc = start_job("push-logs", *job_args(str(source), f"s3://{bucket}/lake"), env=env)
    started = time.monotonic()
    while not any(s.startswith("COPY") for s in proxy.statements):
        assert time.monotonic() - started < 60 and proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    now = threading.Event()
    now.set()
    elapsed, stdout, stderr = sigterm_and_time(proc, now)
    assert proc.returncode == 130, stderr
    assert any(s.startswith("ROLLBACK") for s in proxy.statements), proxy.statements
    summary = json.loads(stdout.strip().splitlines()[-1])
    assert "interrupted by SIGTERM" in summary["error"]
    assert SENTINEL_PASSWORD not in stdout + stderr
    print(f"\nSIGTERM during a hung COPY, then a hung ROLLBACK: exit after {elapsed:.1f} s")
