"""The S3 lake's commit protocol (tasks/ingest-runtime/src/lake/s3.rs): kill -9 at every commit
step, two runs of one date at once, and a run that lost its lease, end to end against moto's S3
server and fakesnow (the Snowflake test double of tests/test_snowflake.py).

Each case holds push-logs at a commit step with a `stall-` fault point (the build with the cargo
feature `fault-injection`, in INGEST_FAULT_BIN_DIR; see tests/test_alert_rule.py), waits for its
"fault injected" log line, then SIGKILLs it or lets it go on (INGEST_FAULT_RELEASE). Readers are
checked through the documented read path (README, "The lake in S3": the partition manifests,
read by DuckDB) and, once the next run of the date has finished, through a plain
`dt=D/*.parquet` glob too. The lease's time to live is 2 s here (60 s by default), so a re-run
takes a killed run's lease over quickly."""

from __future__ import annotations

import http.client
import json
import signal
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.conftest import s3_env
from tests.harness import binary, clean_env, read_table, run_job
from tests.test_alert_rule import fault_binary
from tests.test_s3_lake import duckdb_s3, keys, make_sample, pending_uploads
from tests.test_snowflake import snowflake, table_state  # noqa: F401 (a fixture)

DATE = "2026-11-20"
TABLE = "push_proxy.logs_us_new"
TABLE_DIR = "push_proxy/logs_us_new"
PARTITION = f"{TABLE_DIR}/dt={DATE}/"
REJECTS = f"push_proxy/logs_us_new_rejects/dt={DATE}/"
LEASE_SECONDS = "2"


def documented_rows(port: int, bucket: str, table_dir: str = TABLE_DIR) -> list[tuple]:
    """The README's read path for an S3 lake: the files the partitions' manifests name."""
    con = duckdb_s3(port)
    con.execute(
        "SET VARIABLE files = ("
        "  SELECT list(replace(filename, '_manifest.json', f))"
        "  FROM (SELECT filename, unnest(files) AS f"
        f"        FROM read_json('s3://{bucket}/lake/{table_dir}/*/_manifest.json',"
        "                       filename = true)))"
    )
    return con.execute(
        "SELECT * EXCLUDE (_run_id, _loaded_at) FROM "
        "read_parquet(getvariable('files'), hive_partitioning = true) "
        "ORDER BY _source_key, _source_line"
    ).fetchall()


def glob_rows(port: int, bucket: str, partition: str = PARTITION) -> list[tuple]:
    """What a reader that globs the partition sees (every object, manifest or not)."""
    return (
        duckdb_s3(port)
        .execute(
            "SELECT * EXCLUDE (_run_id, _loaded_at) FROM "  # noqa: S608
            f"read_parquet('s3://{bucket}/lake/{partition}*.parquet') "
            "ORDER BY _source_key, _source_line"
        )
        .fetchall()
    )


def manifest(client, bucket: str, partition: str = PARTITION) -> dict:
    key = f"lake/{partition}_manifest.json"
    return json.loads(client.get_object(Bucket=bucket, Key=key)["Body"].read())


def assert_partition_is_exactly_its_manifest(client, bucket: str, partition: str) -> None:
    """No object beside the manifest's files, no lease, no pending upload."""
    names = sorted(k.rsplit("/", 1)[1] for k in keys(client, bucket, f"lake/{partition}"))
    assert names == sorted([*manifest(client, bucket, partition)["files"], "_manifest.json"])
    assert pending_uploads(client, bucket) == []


def expected_rows(tmp_path: Path, source: Path, name: str) -> list[tuple]:
    """The rows of `source` as a run writes them (a local lake, read by DuckDB)."""
    local = tmp_path / f"expected-{name}"
    result = run_job("push-logs", "--date", DATE, "--source", str(source), "--table", TABLE,
                     "--lake", str(local))
    assert result.code == 0, result.stderr
    return read_table(local, TABLE, DATE)


class HeldRun:
    """push-logs started in the background (by default the fault-injection build, with
    INGEST_FAULT), its log read as it comes, to wait until it reaches an armed point."""

    def __init__(self, args: list[str], env: dict[str, str], program: Path | None = None):
        self.proc = subprocess.Popen(
            [str(program or fault_binary()), *args],
            env=clean_env(env),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            stdin=subprocess.DEVNULL,
        )
        self.stderr: list[str] = []
        self.stdout = ""
        self.reached: dict[str, threading.Event] = {}
        self.lock = threading.Lock()
        threading.Thread(target=self._read_stderr, daemon=True).start()

    def _read_stderr(self):
        for line in self.proc.stderr:
            with self.lock:
                self.stderr.append(line)
                if "fault injected" in line:
                    doc = json.loads(line)
                    point = doc.get("point") or doc.get("fields", {}).get("point")
                    self.reached.setdefault(point, threading.Event()).set()

    def wait_for(self, point: str, timeout: float = 120) -> None:
        with self.lock:
            event = self.reached.setdefault(point, threading.Event())
        # Polled, so a run that ends without reaching the point fails the test at once.
        for _ in range(int(timeout * 10)):
            if event.wait(0.1) or self.proc.poll() is not None:
                break
        if not event.is_set():
            self.proc.kill()
            raise AssertionError(
                f"the run never reached the fault point {point!r} (exit {self.proc.wait()}):\n"
                + "".join(self.stderr[-20:])
            )

    def wait_for_log(self, text: str, timeout: float = 120) -> None:
        for _ in range(int(timeout * 10)):
            with self.lock:
                if any(text in line for line in self.stderr):
                    return
            if self.proc.poll() is not None:
                break
            threading.Event().wait(0.1)
        self.proc.kill()
        raise AssertionError(f"the run never logged {text!r}:\n" + "".join(self.stderr[-20:]))

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        assert self.proc.wait(timeout=30) == -signal.SIGKILL

    def finish(self, timeout: float = 120) -> int:
        self.stdout, _ = self.proc.communicate(timeout=timeout)
        return self.proc.returncode

    def summary(self) -> dict:
        for line in reversed(self.stdout.splitlines()):
            if line.startswith("{") and '"run_summary"' in line:
                return json.loads(line)
        raise AssertionError(f"no run summary:\n{self.stdout}\n{''.join(self.stderr)}")


class HoldingS3Proxy:
    """An HTTP proxy in front of moto that holds the first request matching `method` and a path
    substring until `release` is set (the request is sent on then), so a run can be stopped in
    the middle of a commit without any fault point: this works on any build, old or new."""

    def __init__(self, upstream_port: int, method: str, path_part: str):
        self.held = threading.Event()
        self.release = threading.Event()
        self.dropped = threading.Event()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _forward(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                if (
                    self.command == method
                    and path_part in self.path
                    and not proxy.held.is_set()
                ):
                    proxy.held.set()
                    proxy.release.wait()
                    if proxy.dropped.is_set():
                        # Closed without a release: the request dies with its (killed) sender.
                        self.close_connection = True
                        return
                upstream = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=120)
                # The Host header is kept as signed (moto does not check signatures anyway).
                upstream.putrequest(
                    self.command, self.path, skip_host=True, skip_accept_encoding=True
                )
                for name, value in self.headers.items():
                    if name.lower() not in ("connection", "keep-alive"):
                        upstream.putheader(name, value)
                upstream.endheaders(body)
                reply = upstream.getresponse()
                data = reply.read()
                self.send_response(reply.status)
                for name, value in reply.getheaders():
                    if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                upstream.close()

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward  # noqa: N815

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self):
        if not self.release.is_set():
            self.dropped.set()
            self.release.set()
        self.server.shutdown()


def job_args(source: Path, bucket: str) -> list[str]:
    return ["--date", DATE, "--source", str(source), "--table", TABLE,
            "--lake", f"s3://{bucket}/lake"]


# (fault point, the run the main table's manifest names after the kill, the run Snowflake holds)
CRASH_MATRIX = [
    ("stall-before-publish", "old", "old"),
    ("stall-mid-publish", "old", "old"),
    ("stall-before-load", "old", "old"),
    # Snowflake committed, the manifests not yet written: the one window where they differ; the
    # next run of the date rewrites both.
    ("stall-before-manifest", "old", "killed"),
    ("stall-mid-manifest", "killed", "killed"),
    ("stall-before-cleanup", "killed", "killed"),
    ("stall-mid-cleanup", "killed", "killed"),
]


@pytest.mark.parametrize(("point", "lake_after", "warehouse_after"), CRASH_MATRIX)
def test_kill_9_at_each_commit_step_then_a_rerun_converges(
    tmp_path, s3, moto_endpoint, snowflake, point, lake_after, warehouse_after  # noqa: F811
):
    client, bucket = s3
    conn, _proxy, env = snowflake
    _, port = moto_endpoint
    env = {**env, "INGEST_LAKE_LEASE_SECONDS": LEASE_SECONDS}
    old_source = make_sample(tmp_path / "old", files=2, lines=100)
    new_source = make_sample(tmp_path / "new", files=3, lines=150)
    old_rows = expected_rows(tmp_path, old_source, "old")
    new_rows = expected_rows(tmp_path, new_source, "new")
    assert len(old_rows) == 200 and len(new_rows) == 450

    first = run_job("push-logs", *job_args(old_source, bucket), env=env)
    assert first.code == 0, first.stderr
    old_run = first.summary()["run_id"]
    assert documented_rows(port, bucket) == old_rows

    killed = HeldRun(
        [*job_args(new_source, bucket), "--run-id", "killed-run"],
        {**env, "INGEST_FAULT": point},
    )
    killed.wait_for(point)
    killed.kill9()

    # Readers of the documented path see exactly one whole version, never a mix or duplicates.
    seen = documented_rows(port, bucket)
    assert seen == (old_rows if lake_after == "old" else new_rows), (
        f"after a kill at {point}: {len(seen)} rows"
    )
    assert manifest(client, bucket)["run_id"] == (old_run if lake_after == "old" else "killed-run")
    assert table_state(conn)[2] == (old_run if warehouse_after == "old" else "killed-run")
    if point == "stall-before-publish":
        assert glob_rows(port, bucket) == old_rows  # nothing of the killed run is visible

    # The next run of the date takes the killed run's lease over and ends with one version in
    # the lake, the same in Snowflake, and nothing left behind.
    rerun = run_job("push-logs", *job_args(new_source, bucket), env=env)
    assert rerun.code == 0, rerun.stderr
    rerun_id = rerun.summary()["run_id"]
    assert documented_rows(port, bucket) == new_rows
    assert glob_rows(port, bucket) == new_rows
    for partition in (PARTITION, REJECTS):
        assert_partition_is_exactly_its_manifest(client, bucket, partition)
        assert manifest(client, bucket, partition)["run_id"] == rerun_id
    assert table_state(conn) == (450, 450, rerun_id)


def wait_until_held(proxy: HoldingS3Proxy, run: HeldRun, what: str) -> None:
    for _ in range(1200):
        if proxy.held.wait(0.1) or run.proc.poll() is not None:
            break
    assert proxy.held.is_set(), (
        f"the run never sent {what} (exit {run.proc.poll()}):\n" + "".join(run.stderr[-20:])
    )


def test_two_runs_of_a_date_overlapping_at_the_commit_leave_one_version(
    tmp_path, s3, moto_endpoint, snowflake  # noqa: F811
):
    """A run is held by an S3 proxy at its manifest PUT (its objects visible, Snowflake loaded)
    while a second run of the date starts: the second waits for the date's lease, then exits 4
    having written nothing; the first commits. One version survives, in the lake and Snowflake.
    (The old commit let the second run treat the first's objects as the previous version: it
    committed and deleted them, and the first then wrote a manifest naming deleted files.)"""
    client, bucket = s3
    conn, _proxy, env = snowflake
    _, port = moto_endpoint
    env = {**env, "INGEST_LAKE_LEASE_SECONDS": LEASE_SECONDS}
    first_source = make_sample(tmp_path / "first", files=3, lines=150)
    second_source = make_sample(tmp_path / "second", files=2, lines=100)
    first_rows = expected_rows(tmp_path, first_source, "first")
    s3_proxy = HoldingS3Proxy(port, "PUT", "/_manifest.json")
    try:
        holder = HeldRun(
            [*job_args(first_source, bucket), "--run-id", "holder-run"],
            {**env, "INGEST_S3_ENDPOINT": s3_proxy.endpoint},
            program=binary("push-logs"),
        )
        wait_until_held(s3_proxy, holder, "its manifest")
        second = run_job("push-logs", *job_args(second_source, bucket), env=env)
        assert second.code == 4, second.stderr
        error = second.summary()["error"]
        assert "another run of this date (run id holder-run) is writing it" in error
        assert "This run wrote nothing; re-run the date once that run has ended" in error
        second_id = second.summary()["run_id"]
        assert not [k for k in keys(client, bucket, "lake/") if second_id in k]
        s3_proxy.release.set()
        assert holder.finish() == 0, "".join(holder.stderr)
    finally:
        s3_proxy.close()
    assert documented_rows(port, bucket) == first_rows
    assert glob_rows(port, bucket) == first_rows  # not doubled
    for partition in (PARTITION, REJECTS):
        assert_partition_is_exactly_its_manifest(client, bucket, partition)
    assert manifest(client, bucket)["run_id"] == "holder-run"
    assert table_state(conn) == (450, 450, "holder-run")


def test_sigterm_while_waiting_for_the_lease_exits_130_having_written_nothing(
    tmp_path, s3, moto_endpoint
):
    """The second run of a date waits for the lease (up to twice its time to live, here 60 s);
    SIGTERM ends the wait at once: exit 130, nothing written, the holder unaffected."""
    client, bucket = s3
    endpoint, port = moto_endpoint
    env = {**s3_env(endpoint), "INGEST_LAKE_LEASE_SECONDS": "30"}
    first_source = make_sample(tmp_path / "first", files=2, lines=100)
    first_rows = expected_rows(tmp_path, first_source, "first")
    release = tmp_path / "release"
    holder = HeldRun(
        [*job_args(first_source, bucket), "--run-id", "holder-run"],
        {**env, "INGEST_FAULT": "stall-before-manifest", "INGEST_FAULT_RELEASE": str(release)},
    )
    holder.wait_for("stall-before-manifest")
    waiter = HeldRun(
        [*job_args(first_source, bucket), "--run-id", "waiter-run"], env,
        program=binary("push-logs"),
    )
    waiter.wait_for_log("another run of this date holds the lease; waiting for it")
    waiter.proc.send_signal(signal.SIGTERM)
    assert waiter.finish() == 130, "".join(waiter.stderr)
    assert waiter.summary()["exit_code"] == 130
    assert not [k for k in keys(client, bucket, "lake/") if "waiter-run" in k]
    release.touch()
    assert holder.finish() == 0, "".join(holder.stderr)
    assert documented_rows(port, bucket) == first_rows
    assert glob_rows(port, bucket) == first_rows
    for partition in (PARTITION, REJECTS):
        assert_partition_is_exactly_its_manifest(client, bucket, partition)


def test_a_run_that_lost_its_lease_changes_nothing_and_exits_4(
    tmp_path, s3, moto_endpoint, snowflake  # noqa: F811
):
    """A zombie: the run stops renewing its lease (a paused or cut-off pod) after publishing.
    The next run of the date takes the lease over, removes the zombie's objects and commits.
    When the zombie wakes up it finds the lease lost: it loads nothing, writes no manifest,
    exits 4."""
    client, bucket = s3
    conn, proxy, env = snowflake
    _, port = moto_endpoint
    env = {**env, "INGEST_LAKE_LEASE_SECONDS": LEASE_SECONDS}
    zombie_source = make_sample(tmp_path / "zombie", files=3, lines=150)
    taker_source = make_sample(tmp_path / "taker", files=2, lines=100)
    taker_rows = expected_rows(tmp_path, taker_source, "taker")
    release = tmp_path / "release"

    zombie = HeldRun(
        [*job_args(zombie_source, bucket), "--run-id", "zombie-run"],
        {
            **env,
            "INGEST_FAULT": "stall-lease-renewal,stall-before-load",
            "INGEST_FAULT_RELEASE": str(release),
        },
    )
    zombie.wait_for("stall-before-load")
    assert [k for k in keys(client, bucket, f"lake/{PARTITION}") if "zombie-run" in k]

    taker = run_job("push-logs", *job_args(taker_source, bucket), env=env)
    assert taker.code == 0, taker.stderr
    taker_id = taker.summary()["run_id"]
    assert "took over the lease of a run that stopped renewing it" in taker.stderr
    assert not [k for k in keys(client, bucket, "lake/") if "zombie-run" in k]

    statements_before = len(proxy.statements)
    release.touch()
    assert zombie.finish() == 4, "".join(zombie.stderr)
    assert "lost the lease" in zombie.summary()["error"]
    assert not [s for s in proxy.statements[statements_before:] if s.startswith("COPY")]
    assert documented_rows(port, bucket) == taker_rows
    assert glob_rows(port, bucket) == taker_rows
    for partition in (PARTITION, REJECTS):
        assert_partition_is_exactly_its_manifest(client, bucket, partition)
        assert manifest(client, bucket, partition)["run_id"] == taker_id
    assert table_state(conn) == (200, 200, taker_id)


def test_the_readme_documents_the_manifest_read_path():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert "read_json('s3://" in readme and "_manifest.json', filename = true)" in readme
    assert "getvariable('files')" in readme

