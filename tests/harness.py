"""Real local parts for the end-to-end tests: the job binaries, moto's S3 server, a webhook
receiver, a fault-injecting TCP proxy and DuckDB as the independent Parquet reader."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

SENTINEL_WEBHOOK_TOKEN = "SENTINEL-webhook-7f3a9c"
SENTINEL_AWS_SECRET = "SENTINEL-aws-secret-2b8e1d"


def bin_dir() -> Path:
    value = os.environ.get("INGEST_BIN_DIR")
    if not value:
        pytest.fail(
            "INGEST_BIN_DIR is not set: run scripts/test.sh, or build with "
            "`cargo build --workspace --bins` and set INGEST_BIN_DIR=<target>/debug"
        )
    return Path(value)


def binary(name: str) -> Path:
    path = bin_dir() / name
    if not path.exists():
        pytest.fail(f"{path} does not exist: run `cargo build --workspace --bins`")
    return path


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    def summary(self) -> dict:
        for line in reversed(self.stdout.splitlines()):
            if line.startswith("{"):
                doc = json.loads(line)
                if doc.get("event") == "run_summary":
                    return doc
        raise AssertionError(f"no run summary on stdout:\n{self.stdout}\n{self.stderr}")

    def logs(self) -> list[dict]:
        return [json.loads(line) for line in self.stderr.splitlines() if line.startswith("{")]


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The caller's environment minus anything that would change a job's behaviour."""
    env = {
        k: v
        for k, v in os.environ.items()
        # KUBERNETES_*: a CI runner in a pod would make every local-lake run refuse to start.
        if not k.startswith(("AWS_", "INGEST_", "MATTERMOST_", "AIRFLOW_", "KUBERNETES_"))
    }
    env.update(
        {
            "INGEST_LOG_FORMAT": "json",
            "RUST_LOG": "info",
            "AWS_EC2_METADATA_DISABLED": "true",
            "INGEST_TERMINATION_LOG": "/nonexistent/termination-log",
        }
    )
    env.update(extra or {})
    return env


def run_job(
    job: str, *args: str, env: dict[str, str] | None = None, timeout: float = 180
) -> Result:
    proc = subprocess.run(
        [str(binary(job)), *args],
        env=clean_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def start_job(job: str, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [str(binary(job)), *args],
        env=clean_env(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
    )


def sample_data(*args: str) -> dict:
    proc = subprocess.run(
        [str(binary("sample-data")), *args], capture_output=True, text=True, check=True
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- webhook receiver --------------------------------------------------------------------------


@dataclass
class Webhook:
    """A Mattermost incoming-webhook stand-in: records posts, answers with chosen statuses."""

    server: ThreadingHTTPServer
    posts: list[dict] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/hooks/{SENTINEL_WEBHOOK_TOKEN}"


def start_webhook() -> Webhook:
    hook: Webhook

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server API)
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            hook.raw.append(body)
            status = hook.statuses.pop(0) if hook.statuses else 200
            if status == 200:
                hook.posts.append(json.loads(body))
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    hook = Webhook(server)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return hook


# --- fault-injecting TCP proxy -----------------------------------------------------------------


class FaultProxy:
    """Forwards 127.0.0.1:<port> to an upstream server, and injects one fault once the upstream
    has sent `after_bytes` bytes in total:

    - ``cut``: close the connection carrying that byte, once; later connections are fine;
    - ``die``: close every connection and stop listening (the server is gone);
    - ``stall``: stop forwarding and keep the connections open (a hung server).
    """

    def __init__(self, upstream_port: int, mode: str, after_bytes: int):
        self.upstream_port = upstream_port
        self.mode = mode
        self.after_bytes = after_bytes
        self.sent = 0
        self.fired = threading.Event()
        self.lock = threading.Lock()
        self.conns: list[socket.socket] = []
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            with self.lock:
                self.conns += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, True), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, downstream: bool):
        try:
            while True:
                data = src.recv(16384)
                if not data:
                    break
                if downstream:
                    with self.lock:
                        before = self.sent
                        self.sent += len(data)
                        crossing = before < self.after_bytes <= self.sent
                    if crossing or (self.fired.is_set() and self.mode == "stall"):
                        self._fire(src, dst)
                        if self.mode == "stall":
                            self.fired.wait()
                            threading.Event().wait(600)
                        return
                dst.sendall(data)
        except OSError:
            pass
        finally:
            if not (self.mode == "stall" and self.fired.is_set()):
                for s in (src, dst):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

    def _fire(self, src: socket.socket, dst: socket.socket):
        self.fired.set()
        if self.mode == "cut":
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        elif self.mode == "die":
            self.listener.close()
            with self.lock:
                for s in self.conns:
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

    def close(self):
        try:
            self.listener.close()
        except OSError:
            pass


# --- DuckDB, the independent reader ------------------------------------------------------------


def read_table(lake: Path, table: str, date: str, exclude_run: bool = True) -> list[tuple]:
    import duckdb

    schema, name = table.split(".")
    glob = lake / schema / name / f"dt={date}" / "*.parquet"
    exclude = "EXCLUDE (_run_id, _loaded_at)" if exclude_run else ""
    con = duckdb.connect()
    return con.execute(
        f"SELECT * {exclude} FROM read_parquet('{glob}') ORDER BY _source_key, _source_line"
    ).fetchall()


def query(sql: str, params: list | None = None) -> list[tuple]:
    import duckdb

    return duckdb.connect().execute(sql, params or []).fetchall()
