"""The Snowflake load (`--warehouse snowflake://...`), end to end: push-logs writes the S3 lake
(moto) and loads it into fakesnow's server, which speaks the Snowflake connectors' HTTP protocol
(login-request, query-request) and runs Snowflake SQL on DuckDB. Its external s3:// stage reads
moto through DuckDB's httpfs, pointed there by a `CREATE SECRET` the harness issues through the
official connector. The tables are checked with snowflake-connector-python.

An HTTP proxy between the job and fakesnow records the login (to verify the key-pair JWT with
PyJWT and the public key) and injects failures: a refused login, or a COPY that never gets
through (the warehouse going away between the DELETE and the COPY).

Gaps of the test double, documented rather than hidden: fakesnow accepts any credentials (the
proxy checks the JWT instead), sends no master token or session id, never answers "still
running" (333334; covered by the client's Rust unit tests), and returns query results as Arrow
whatever result format the session pins; the proxy re-encodes them as the JSON rowsets real
Snowflake sends with the job's pinned format, so the per-file COPY result check runs here too
(its fail-closed handling of Arrow and chunked results is covered by unit tests)."""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.conftest import s3_env
from tests.harness import SENTINEL_AWS_SECRET, run_job, sample_data

DATE = "2026-11-20"
TABLE = "push_proxy.logs_us_new"
PREFIX = "AWSLogs/123456789012/elasticloadbalancing/us-east-1"
PARTITION = f"push_proxy/logs_us_new/dt={DATE}/"
SENTINEL_PASSWORD = "SENTINEL-snowflake-pw-5c1e"  # noqa: S105
USER = "svc_ingest"
BAD_PEM = "-----BEGIN PRIVATE KEY-----\nSENTINELKEY\n-----END PRIVATE KEY-----"


@dataclass
class Proxy:
    """HTTP proxy in front of fakesnow: records requests, fails the ones that match."""

    upstream_port: int
    logins: list[dict] = field(default_factory=list)
    statements: list[str] = field(default_factory=list)
    fail_sql: re.Pattern | None = None
    failed: int = 0
    stall_sql: re.Pattern | None = None
    # Results as JSON rowsets, like Snowflake with the result format the job pins at login.
    json_results: bool = True
    # Forward the statement, then drop the connection without the reply (a lost answer).
    cut_reply_sql: re.Pattern | None = None
    reject_login: bool = False
    server: ThreadingHTTPServer | None = None

    @property
    def endpoint(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"


def as_json_result(reply: bytes) -> bytes:
    """fakesnow answers queries in Arrow whatever the session asks; real Snowflake honours the
    JSON result format the job pins at login. Re-encode Arrow results as the JSON rowset
    Snowflake would send (strings, NULL as null), so the job's result checks run here too."""
    import pyarrow as pa

    doc = json.loads(reply)
    data = doc.get("data") or {}
    if data.get("queryResultFormat") != "arrow":
        return reply
    encoded = data.pop("rowsetBase64", "")
    rows: list[list] = []
    if encoded:
        table = pa.ipc.open_stream(base64.b64decode(encoded)).read_all()
        rows = [[None if v is None else str(v) for v in row]
                for row in zip(*[c.to_pylist() for c in table.columns], strict=True)]
    data["queryResultFormat"] = "json"
    data["rowset"] = rows
    return json.dumps(doc).encode()


def start_proxy(upstream_port: int) -> Proxy:
    proxy = Proxy(upstream_port)

    class Handler(BaseHTTPRequestHandler):
        def _forward(self, method: str):
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if "/login-request" in self.path:
                proxy.logins.append(json.loads(body))
                if proxy.reject_login:
                    return self._reply(200, {
                        "data": None, "code": "390100", "success": False,
                        "message": "Incorrect username or password was specified.",
                    })
            if "/query-request" in self.path:
                sql = json.loads(body)["sqlText"]
                proxy.statements.append(sql)
                if proxy.fail_sql and proxy.fail_sql.search(sql):
                    proxy.failed += 1
                    return self._reply(503, {"message": "injected: warehouse unavailable"})
                if proxy.stall_sql and proxy.stall_sql.search(sql):
                    threading.Event().wait(30)  # until the client gives up on it
                    try:
                        return self._reply(503, {"message": "injected: stalled"})
                    except (BrokenPipeError, ConnectionResetError):
                        # The client gave up, as the stall intends: nobody reads this reply.
                        # Unhandled, the server thread printed a traceback into the CI log.
                        self.close_connection = True
                        return None
            upstream = http.client.HTTPConnection("127.0.0.1", proxy.upstream_port, timeout=60)
            headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
            upstream.request(method, self.path, body=body or None, headers=headers)
            resp = upstream.getresponse()
            data = resp.read()
            if "/query-request" in self.path and proxy.json_results:
                data = as_json_result(data)
            if "/query-request" in self.path and proxy.cut_reply_sql \
                    and proxy.cut_reply_sql.search(json.loads(body)["sqlText"]):
                self.close_connection = True
                self.connection.shutdown(2)  # socket.SHUT_RDWR: the reply is lost
                return
            self.send_response(resp.status)
            self.send_header("Content-Type", resp.getheader("Content-Type", "application/json"))
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _reply(self, status: int, doc: dict):
            data = json.dumps(doc).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self):  # noqa: N802 (http.server API)
            self._forward("POST")

        def do_GET(self):  # noqa: N802
            self._forward("GET")

        def log_message(self, *args):
            pass

    proxy.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=proxy.server.serve_forever, daemon=True).start()
    return proxy


@pytest.fixture()
def snowflake(fakesnow_server, s3, moto_endpoint):
    """A stage over this test's lake bucket, a proxy to fakesnow, and the job's environment."""
    kwargs, conn = fakesnow_server
    _, bucket = s3
    endpoint, _ = moto_endpoint
    stage = "LAKE_" + re.sub(r"\W", "_", bucket).upper()
    cur = conn.cursor()
    cur.execute(
        f"CREATE OR REPLACE STAGE DB.INGEST.{stage} URL = 's3://{bucket}/lake/' "
        "STORAGE_INTEGRATION = INGEST_LAKE FILE_FORMAT = (TYPE = PARQUET)"
    )
    for t in ("LOGS_US_NEW", "LOGS_US_NEW_REJECTS"):
        cur.execute(f"DROP TABLE IF EXISTS DB.INGEST.{t}")
    proxy = start_proxy(kwargs["port"])
    warehouse = (
        f"snowflake://fakesnow/DB/INGEST?stage=DB.INGEST.{stage}&warehouse=LOAD_WH"
        f"&role=INGEST_LOADER&endpoint={proxy.endpoint}&max_attempts=2&query_timeout=120"
    )
    env = {
        **s3_env(endpoint),
        "INGEST_WAREHOUSE": warehouse,
        "SNOWFLAKE_USER": USER,
        "SNOWFLAKE_PASSWORD": SENTINEL_PASSWORD,
    }
    yield conn, proxy, env
    proxy.server.shutdown()


def make_sample(root: Path, files: int = 3, lines: int = 300) -> Path:
    sample_data("alb", "--date", DATE, "--out", str(root), "--files", str(files),
                "--lines", str(lines))
    return root / PREFIX


def job(source: Path, bucket: str, *extra: str) -> list[str]:
    return ["--date", DATE, "--source", str(source), "--table", TABLE,
            "--lake", f"s3://{bucket}/lake", *extra]


def one(conn, sql: str):
    cur = conn.cursor()
    cur.execute(sql)
    return cur.fetchone()


def table_state(conn, table: str = "LOGS_US_NEW") -> tuple:
    """(rows, distinct (key, line), run ids) of the date."""
    return one(
        conn,
        f"SELECT count(*), count(DISTINCT _source_key || ':' || _source_line), "  # noqa: S608
        f"listagg(DISTINCT _run_id, ',') FROM DB.INGEST.{table} WHERE dt = '{DATE}'::DATE",
    )


def lake_keys(client, bucket: str) -> list[str]:
    resp = client.list_objects_v2(Bucket=bucket, Prefix="lake/")
    return sorted(o["Key"] for o in resp.get("Contents", []))


def assert_no_secrets(result, *secrets: str):
    for secret in secrets:
        assert secret not in result.stdout
        assert secret not in result.stderr


def test_full_load_with_key_pair_auth(tmp_path, s3, snowflake):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    client, bucket = s3
    conn, proxy, env = snowflake
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    env = {k: v for k, v in env.items() if k != "SNOWFLAKE_PASSWORD"}
    env["SNOWFLAKE_PRIVATE_KEY"] = pem
    source = make_sample(tmp_path / "sample")
    (source / "2026/11/20/bad.log").write_text("not an alb line\n")

    result = run_job("push-logs", *job(source, bucket, "--max-reject-ratio", "0.5"), env=env)
    assert result.code == 0, result.stderr
    summary = result.summary()
    assert (summary["rows_loaded"], summary["rows_rejected"]) == (900, 1)

    # The table holds exactly the lake's rows, stamped with the date, once.
    assert table_state(conn) == (900, 900, summary["run_id"])
    assert one(conn, "SELECT count(*) FROM DB.INGEST.LOGS_US_NEW WHERE dt IS NULL") == (0,)
    assert table_state(conn, "LOGS_US_NEW_REJECTS")[0] == 1
    assert one(conn, "SELECT raw_line, reason IS NOT NULL FROM DB.INGEST.LOGS_US_NEW_REJECTS") == (
        "not an alb line", True,
    )
    # Types follow the Parquet schema.
    cur = conn.cursor()
    cur.execute("DESC TABLE DB.INGEST.LOGS_US_NEW")
    types = {row[0]: row[1] for row in cur.fetchall()}
    assert types["TIME"].startswith("TIMESTAMP_TZ")
    assert types["ELB_STATUS_CODE"].startswith("NUMBER")
    assert types["REQUEST_PROCESSING_TIME"] == "FLOAT"
    assert types["CLIENT_IP"].startswith("VARCHAR")
    assert types["DT"] == "DATE"
    # Values survive the trip (spot check against the lake's own counts).
    assert one(
        conn, "SELECT count(DISTINCT elb_status_code) > 1, min(time) IS NOT NULL "
        "FROM DB.INGEST.LOGS_US_NEW"
    ) == (True, True)

    # The load listed the run's files explicitly, one transaction, DELETE before COPY.
    sql = [s for s in proxy.statements if s.split()[0] in ("BEGIN", "DELETE", "COPY", "COMMIT")]
    assert [s.split()[0] for s in sql][:3] == ["BEGIN", "DELETE", "COPY"]
    assert sql[-1] == "COMMIT"
    copy = next(s for s in sql if s.startswith("COPY INTO \"DB\".\"INGEST\".\"LOGS_US_NEW\""))
    parts = sorted(k.rsplit("/", 1)[1] for k in lake_keys(client, bucket)
                   if PARTITION in k and k.endswith(".parquet"))
    assert re.findall(r"'(part-[^']+)'", copy) == parts
    assert "MATCH_BY_COLUMN_NAME = CASE_INSENSITIVE" in copy and "FORCE = TRUE" in copy

    # Key-pair auth: a JWT the public key verifies, with Snowflake's issuer/subject format.
    import jwt

    login = proxy.logins[-1]["data"]
    assert login["AUTHENTICATOR"] == "SNOWFLAKE_JWT" and "PASSWORD" not in login
    assert login["LOGIN_NAME"] == USER and login["ACCOUNT_NAME"] == "FAKESNOW"
    public_der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    fingerprint = base64.b64encode(hashlib.sha256(public_der).digest()).decode()
    claims = jwt.decode(login["TOKEN"], key.public_key(), algorithms=["RS256"])
    assert claims["iss"] == f"FAKESNOW.SVC_INGEST.SHA256:{fingerprint}"
    assert claims["sub"] == "FAKESNOW.SVC_INGEST"
    assert_no_secrets(result, pem.splitlines()[1], login["TOKEN"])


def test_rerun_replaces_the_date_without_duplicates_or_skipped_files(tmp_path, s3, snowflake):
    client, bucket = s3
    conn, proxy, env = snowflake
    source = make_sample(tmp_path / "sample", files=4, lines=250)
    first = run_job("push-logs", *job(source, bucket, "--threads", "4"), env=env)
    assert first.code == 0, first.stderr
    run_id = first.summary()["run_id"]
    # Another date in the same table must survive the re-runs of this one.
    conn.cursor().execute(
        "INSERT INTO DB.INGEST.LOGS_US_NEW (_source_key, _source_line, _run_id, dt) "
        "VALUES ('other-day', 1, 'old', '2026-11-19'::DATE)"
    )

    # The same date again with the same run id (an Airflow retry; Snowflake's load history
    # would skip a file it had loaded before) and another worker count.
    second = run_job(
        "push-logs", *job(source, bucket, "--threads", "2", "--run-id", run_id), env=env
    )
    assert second.code == 0, second.stderr
    assert table_state(conn) == (1000, 1000, run_id)
    third = run_job("push-logs", *job(source, bucket), env=env)
    assert third.code == 0, third.stderr
    assert table_state(conn) == (1000, 1000, third.summary()["run_id"])
    assert one(conn, "SELECT count(*) FROM DB.INGEST.LOGS_US_NEW WHERE dt = '2026-11-19'") == (1,)
    # The lake holds only the last run's files.
    files = [k for k in lake_keys(client, bucket) if PARTITION in k and k.endswith(".parquet")]
    manifest = json.loads(client.get_object(
        Bucket=bucket, Key=f"lake/{PARTITION}_manifest.json")["Body"].read())
    assert sorted(k.rsplit("/", 1)[1] for k in files) == sorted(manifest["files"])
    assert manifest["run_id"] == third.summary()["run_id"]
    assert_no_secrets(third, SENTINEL_PASSWORD, SENTINEL_AWS_SECRET)


def test_warehouse_lost_between_delete_and_copy_changes_nothing(tmp_path, s3, snowflake):
    client, bucket = s3
    conn, proxy, env = snowflake
    source = make_sample(tmp_path / "sample", files=2, lines=200)
    first = run_job("push-logs", *job(source, bucket), env=env)
    assert first.code == 0, first.stderr
    before_table = table_state(conn)
    before_lake = lake_keys(client, bucket)

    proxy.fail_sql = re.compile(r"^COPY INTO")
    failed = run_job("push-logs", *job(source, bucket), env=env)
    assert failed.code == 4, failed.stderr
    summary = failed.summary()
    assert summary["error_kind"] == "transient infrastructure error"
    assert "COPY INTO" in summary["error"] and "after 2 attempts" in summary["error"]
    assert proxy.failed == 2
    # The DELETE ran, then the transaction was rolled back: the table and the lake are as before.
    ran = [s.split()[0] for s in proxy.statements]
    assert "DELETE" in ran and ran[-1] == "ROLLBACK"
    assert table_state(conn) == before_table
    assert lake_keys(client, bucket) == before_lake
    assert client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    assert_no_secrets(failed, SENTINEL_PASSWORD, SENTINEL_AWS_SECRET)


def test_a_copy_error_surfaces_snowflakes_code_and_changes_nothing(tmp_path, s3, snowflake):
    client, bucket = s3
    conn, proxy, env = snowflake
    # A table someone created with a type the data does not fit.
    conn.cursor().execute(
        "CREATE TABLE DB.INGEST.LOGS_US_NEW (client_ip INTEGER, _run_id VARCHAR, dt DATE)"
    )
    conn.cursor().execute(
        "INSERT INTO DB.INGEST.LOGS_US_NEW VALUES (1, 'earlier', '2026-11-20'::DATE)"
    )
    source = make_sample(tmp_path / "sample", files=1, lines=50)
    failed = run_job("push-logs", *job(source, bucket), env=env)
    assert failed.code == 3, failed.stderr
    error = failed.summary()["error"]
    assert "Snowflake rejected COPY INTO \"DB\".\"INGEST\".\"LOGS_US_NEW\": 100038 (22018)" in error
    assert one(conn, "SELECT count(*), min(_run_id) FROM DB.INGEST.LOGS_US_NEW") == (1, "earlier")
    assert lake_keys(client, bucket) == []  # the new objects were taken back


def test_a_rejected_login_fails_before_any_work(tmp_path, s3, snowflake):
    client, bucket = s3
    conn, proxy, env = snowflake
    proxy.reject_login = True
    source = make_sample(tmp_path / "sample", files=1, lines=50)
    result = run_job("push-logs", *job(source, bucket), env=env)
    assert result.code == 2, result.stderr
    error = result.summary()["error"]
    assert f"rejected the login of user {USER}: 390100: Incorrect username or password" in error
    assert result.summary()["files"] == 0  # nothing was parsed or written
    assert lake_keys(client, bucket) == []
    assert proxy.logins[-1]["data"]["PASSWORD"] == SENTINEL_PASSWORD
    assert_no_secrets(result, SENTINEL_PASSWORD, SENTINEL_AWS_SECRET)


def test_an_unreachable_warehouse_is_transient(tmp_path, s3, snowflake):
    from tests.harness import free_port

    client, bucket = s3
    _, _, env = snowflake
    env = {**env, "INGEST_WAREHOUSE": re.sub(
        r"endpoint=[^&]+", f"endpoint=http://127.0.0.1:{free_port()}", env["INGEST_WAREHOUSE"])}
    source = make_sample(tmp_path / "sample", files=1, lines=50)
    result = run_job("push-logs", *job(source, bucket), env=env)
    assert result.code == 4, result.stderr
    assert "unavailable: login failed after 2 attempts" in result.summary()["error"]
    assert lake_keys(client, bucket) == []


@pytest.mark.parametrize(
    ("extra_env", "message"),
    [
        ({"SNOWFLAKE_PASSWORD": ""}, "SNOWFLAKE_PRIVATE_KEY"),
        ({"SNOWFLAKE_USER": ""}, "SNOWFLAKE_USER"),
        (
            {"SNOWFLAKE_PRIVATE_KEY": BAD_PEM},
            "SNOWFLAKE_PRIVATE_KEY: the PEM body is not valid base64",
        ),
        ({"INGEST_WAREHOUSE": "snowflake://acct/DB?warehouse=WH"}, "stage= is required"),
    ],
)
def test_warehouse_configuration_errors_exit_2(tmp_path, s3, snowflake, extra_env, message):
    _, bucket = s3
    _, _, env = snowflake
    result = run_job("push-logs", *job(tmp_path, bucket), env={**env, **extra_env})
    assert result.code == 2
    assert message in result.stderr
    assert_no_secrets(result, SENTINEL_PASSWORD, "SENTINELKEY")


def test_warehouse_needs_an_s3_lake(tmp_path, snowflake):
    _, _, env = snowflake
    result = run_job("push-logs", "--date", DATE, "--source", str(tmp_path), "--table", TABLE,
                     "--lake", str(tmp_path / "lake"), env=env)
    assert result.code == 2
    assert "--warehouse needs an S3 lake" in result.stderr


def test_the_contract_declares_the_snowflake_secrets():
    contract = json.loads(run_job("push-logs", "--print-contract").stdout)
    secrets = {s["env"]: s for s in contract["secrets"]}
    for name in ("SNOWFLAKE_PRIVATE_KEY", "SNOWFLAKE_PASSWORD"):
        assert secrets[name]["required"] is False
    options = {o["flag"]: o for o in contract["options"]}
    assert options["--warehouse"]["env"] == "INGEST_WAREHOUSE"
    assert options["--warehouse-user"]["env"] == "SNOWFLAKE_USER"


def test_sigterm_during_the_load_rolls_back_and_commits_nothing(tmp_path, s3, snowflake):
    import signal
    import time

    from tests.harness import start_job

    client, bucket = s3
    conn, proxy, env = snowflake
    source = make_sample(tmp_path / "sample", files=2, lines=200)
    first = run_job("push-logs", *job(source, bucket), env=env)
    assert first.code == 0, first.stderr
    before_table, before_lake = table_state(conn), lake_keys(client, bucket)

    proxy.stall_sql = re.compile(r"^COPY INTO")  # a COPY that takes "forever"
    seen = len(proxy.statements)
    proc = start_job("push-logs", *job(source, bucket), env=env)
    deadline = time.monotonic() + 60
    while not any(s.startswith("COPY") for s in proxy.statements[seen:]):
        assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert [s.split()[0] for s in proxy.statements][-1] == "ROLLBACK"
    assert table_state(conn) == before_table
    assert lake_keys(client, bucket) == before_lake
    assert SENTINEL_PASSWORD not in stdout + stderr


URL_SENTINEL = "SENTINEL-url-pw-9d2f"  # noqa: S105


@pytest.mark.parametrize(
    "warehouse",
    [
        f"snowflake://{USER}:{URL_SENTINEL}@acct/DB/INGEST?stage=DB.INGEST.LAKE",
        f"snowflake://acct/DB/INGEST?stage=DB.INGEST.LAKE&endpoint=http://u:{URL_SENTINEL}@127.0.0.1:9",
        f"snowflake://acct/DB/INGEST?stage=DB.INGEST.LAKE&endpoint=http%3A%2F%2Fu%3A{URL_SENTINEL}%40h",
        f"snowflake://{USER}:{URL_SENTINEL}/DB/INGEST?stage=DB.INGEST.LAKE",
    ],
)
def test_a_password_in_the_warehouse_url_is_never_echoed(
    tmp_path, s3, snowflake, webhook, warehouse
):
    """The run refuses credentials in --warehouse (exit 2), and no output carries them: stderr
    (JSON logs at debug), the summary, the termination log, the alert with its re-run command,
    and preflight's report."""
    from tests.test_preflight import preflight

    _, bucket = s3
    _, _, env = snowflake
    termination = tmp_path / "termination-log"
    termination.write_text("")  # the kubelet creates it; the job only writes an existing one
    env = {
        **env,
        "INGEST_WAREHOUSE": warehouse,
        "MATTERMOST_WEBHOOK_URL": webhook.url,
        "INGEST_TERMINATION_LOG": str(termination),
        "RUST_LOG": "debug",
    }
    result = run_job("push-logs", *job(tmp_path, bucket), env=env)
    assert result.code == 2, result.stderr
    assert "--warehouse snowflake://" in result.summary()["error"]
    assert len(webhook.posts) == 1
    outputs = {
        "stdout": result.stdout,
        "stderr": result.stderr,
        "termination log": termination.read_text(),
        "alert": b"".join(webhook.raw).decode(),
    }
    check = preflight("--skip-kubernetes", "--skip-s3", "--check-warehouse", env=env)
    assert check.code == 2, check.stderr
    outputs["preflight"] = check.stdout + check.stderr
    for where, text in outputs.items():
        assert text, where
        assert URL_SENTINEL not in text, f"{where} leaks the password: {text}"
        assert "%40h" not in text, where
    assert "[redacted]" in outputs["preflight"]


def test_a_column_an_older_table_lacks_is_added_not_dropped(tmp_path, s3, snowflake):
    """Schema drift: a table created by an older version lacks a column the Parquet now has.
    MATCH_BY_COLUMN_NAME alone would load the rows without it, silently; the load adds the
    column (an additive change) and fills it."""
    client, bucket = s3
    conn, proxy, env = snowflake
    source = make_sample(tmp_path / "sample", files=1, lines=100)
    first = run_job("push-logs", *job(source, bucket), env=env)
    assert first.code == 0, first.stderr
    cur = conn.cursor()
    filled = "SELECT count(*), count(user_agent), count(request_processing_time) " \
        "FROM DB.INGEST.LOGS_US_NEW"
    before = one(conn, filled)
    assert before[0] == 100 and before[1] > 0 and before[2] > 0
    # The "older" table: the same, minus user_agent and request_processing_time.
    cur.execute("ALTER TABLE DB.INGEST.LOGS_US_NEW DROP COLUMN user_agent")
    cur.execute("ALTER TABLE DB.INGEST.LOGS_US_NEW DROP COLUMN request_processing_time")
    second = run_job("push-logs", *job(source, bucket), env=env)
    assert second.code == 0, second.stderr
    cur.execute("DESC TABLE DB.INGEST.LOGS_US_NEW")
    types = {row[0]: row[1] for row in cur.fetchall()}
    assert types["USER_AGENT"].startswith("VARCHAR")
    assert types["REQUEST_PROCESSING_TIME"] == "FLOAT"
    assert one(conn, filled) == before
    assert any("ADD COLUMN IF NOT EXISTS \"USER_AGENT\" VARCHAR" in s for s in proxy.statements)
    assert any(
        log.get("message", "").startswith("the Snowflake table lacks columns")
        for log in second.logs()
    )


def test_a_lost_commit_reply_keeps_the_lake_and_says_the_outcome_is_unknown(
    tmp_path, s3, snowflake
):
    """COMMIT reaches Snowflake and commits, but its reply is lost (every retry too). The run
    must not ROLLBACK and delete the lake's new files as if nothing was committed (that left
    Snowflake with the new rows and the lake with the old ones): it keeps the files, exits 4
    saying the outcome is unknown, and a re-run makes both agree."""
    client, bucket = s3
    conn, proxy, env = snowflake
    source = make_sample(tmp_path / "sample", files=2, lines=200)
    first = run_job("push-logs", *job(source, bucket), env=env)
    assert first.code == 0, first.stderr

    proxy.cut_reply_sql = re.compile(r"^COMMIT")
    lost = run_job("push-logs", *job(source, bucket), env=env)
    assert lost.code == 4, lost.stderr
    summary = lost.summary()
    assert "the outcome of COMMIT is unknown" in summary["error"]
    assert "Re-run the date" in summary["error"]
    ran = [s.split()[0] for s in proxy.statements]
    assert ran[-1] == "COMMIT" and "ROLLBACK" not in ran[ran.index("BEGIN"):]
    # Snowflake committed the lost run; the lake holds that run's files, and only them.
    assert table_state(conn) == (400, 400, summary["run_id"])
    manifest = json.loads(client.get_object(
        Bucket=bucket, Key=f"lake/{PARTITION}_manifest.json")["Body"].read())
    assert manifest["run_id"] == summary["run_id"]
    files = [k for k in lake_keys(client, bucket) if PARTITION in k and k.endswith(".parquet")]
    assert sorted(k.rsplit("/", 1)[1] for k in files) == sorted(manifest["files"])

    proxy.cut_reply_sql = None
    again = run_job("push-logs", *job(source, bucket), env=env)
    assert again.code == 0, again.stderr
    assert table_state(conn) == (400, 400, again.summary()["run_id"])


def test_a_signal_during_commit_does_not_claim_nothing_was_committed(tmp_path, s3, snowflake):
    """SIGTERM while COMMIT is under way (here: stalled, never answered): the run waits a short
    grace for the answer, then exits 4 with the outcome unknown; no ROLLBACK, and the lake keeps
    the run's files rather than deleting them."""
    import signal
    import time

    from tests.harness import start_job

    client, bucket = s3
    conn, proxy, env = snowflake
    source = make_sample(tmp_path / "sample", files=2, lines=200)
    first = run_job("push-logs", *job(source, bucket), env=env)
    assert first.code == 0, first.stderr

    proxy.stall_sql = re.compile(r"^COMMIT")
    seen = len(proxy.statements)
    proc = start_job("push-logs", *job(source, bucket), env=env)
    deadline = time.monotonic() + 240  # a loaded CI machine; no timing is asserted
    while not any(s.startswith("COMMIT") for s in proxy.statements[seen:]):
        assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 4, stderr
    assert "the outcome of COMMIT is unknown" in stdout + stderr
    assert "nothing was committed" not in stdout + stderr
    assert "ROLLBACK" not in [s.split()[0] for s in proxy.statements[seen:]]
    run_id = next(json.loads(line)["run_id"] for line in stdout.splitlines()
                  if line.startswith("{") and '"run_summary"' in line)
    manifest = json.loads(client.get_object(
        Bucket=bucket, Key=f"lake/{PARTITION}_manifest.json")["Body"].read())
    assert manifest["run_id"] == run_id, "the lake keeps the run whose COMMIT may have landed"
    # The stalled COMMIT never reached Snowflake: it holds the first run. A re-run agrees both.
    assert table_state(conn)[2] == first.summary()["run_id"]
    proxy.stall_sql = None
    again = run_job("push-logs", *job(source, bucket), env=env)
    assert again.code == 0, again.stderr
    assert table_state(conn) == (400, 400, again.summary()["run_id"])
