"""End-to-end tests of the push-logs binary on real local parts: sample ALB files on disk and in
moto's S3 server, the Parquet lake read back by DuckDB, and a webhook receiver for alerts."""

from __future__ import annotations

import gzip
import json
import signal
import time
from pathlib import Path

import pytest

from tests.conftest import s3_env, upload_tree
from tests.harness import (
    SENTINEL_AWS_SECRET,
    SENTINEL_WEBHOOK_TOKEN,
    FaultProxy,
    query,
    read_table,
    run_job,
    sample_data,
    start_job,
)

DATE = "2026-11-20"
TABLE = "push_proxy.logs_us_new"
PREFIX = "AWSLogs/123456789012/elasticloadbalancing/us-east-1"


def make_sample(root: Path, files: int = 3, lines: int = 400, *extra: str) -> Path:
    sample_data(
        "alb", "--date", DATE, "--out", str(root), "--files", str(files), "--lines", str(lines),
        *extra,
    )
    return root / PREFIX


def job_args(source: str, lake: Path, *extra: str) -> list[str]:
    return ["--date", DATE, "--source", source, "--table", TABLE, "--lake", str(lake), *extra]


def count_lines(source: Path) -> int:
    total = 0
    for path in source.rglob("*.gz"):
        with gzip.open(path, "rt", encoding="utf-8", errors="replace") as f:
            total += sum(1 for line in f if line.strip())
    return total


def test_local_run_loads_every_line_with_types_and_lineage(tmp_path):
    source = make_sample(tmp_path / "sample", files=3, lines=500)
    lake = tmp_path / "lake"
    result = run_job("push-logs", *job_args(str(source), lake))
    assert result.code == 0, result.stderr
    summary = result.summary()
    assert summary["status"] == "succeeded"
    assert summary["files"] == 3
    assert summary["rows_loaded"] == count_lines(source) == 1500
    assert summary["rows_rejected"] == 0
    assert summary["bytes_uncompressed"] > summary["bytes_compressed"] > 0

    rows = read_table(lake, TABLE, DATE)
    assert len(rows) == 1500
    types = dict(
        query(
            "SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_parquet(?))",
            [str(lake / "push_proxy/logs_us_new" / f"dt={DATE}" / "*.parquet")],
        )
    )
    assert types["time"] == "TIMESTAMP WITH TIME ZONE"
    assert types["request_creation_time"] == "TIMESTAMP WITH TIME ZONE"
    assert types["elb_status_code"] == "INTEGER"
    assert types["sent_bytes"] == "BIGINT"
    assert types["request_processing_time"] == "DOUBLE"
    assert types["_source_line"] == "BIGINT"
    # Every row's time falls on (or just before, for files ending at 00:00) the logical date.
    (lo, hi, keys, runs) = query(
        "SELECT min(time)::DATE, max(time)::DATE, count(DISTINCT _source_key), "
        "count(DISTINCT _run_id) FROM read_parquet(?)",
        [str(lake / "push_proxy/logs_us_new" / f"dt={DATE}" / "*.parquet")],
    )[0]
    assert str(hi) == DATE
    assert keys == 3
    assert runs == 1
    # The request split agrees with the raw request column.
    mismatched = query(
        "SELECT count(*) FROM read_parquet(?) WHERE request IS NOT NULL AND request_method IS NOT "
        "NULL AND request <> request_method || ' ' || request_url || ' ' || request_http_version",
        [str(lake / "push_proxy/logs_us_new" / f"dt={DATE}" / "*.parquet")],
    )[0][0]
    assert mismatched == 0
    # Hive partitioning works for any reader: DuckDB sees dt.
    dts = query(
        "SELECT DISTINCT dt FROM read_parquet(?, hive_partitioning = true)",
        [str(lake / "push_proxy/logs_us_new" / "*" / "*.parquet")],
    )
    assert [str(d[0]) for d in dts] == [DATE]
    assert not list((lake / ".staging").glob("*")), "staging is cleaned up"


def test_running_twice_leaves_identical_rows(tmp_path):
    source = make_sample(tmp_path / "sample", files=4, lines=300)
    lake = tmp_path / "lake"
    first = run_job("push-logs", *job_args(str(source), lake, "--threads", "2"))
    assert first.code == 0, first.stderr
    rows_first = read_table(lake, TABLE, DATE)
    second = run_job("push-logs", *job_args(str(source), lake, "--threads", "1"))
    assert second.code == 0, second.stderr
    rows_second = read_table(lake, TABLE, DATE)
    assert len(rows_first) == 1200
    assert rows_first == rows_second
    runs = query(
        "SELECT DISTINCT _run_id FROM read_parquet(?)",
        [str(lake / "push_proxy/logs_us_new" / f"dt={DATE}" / "*.parquet")],
    )
    assert runs == [(second.summary()["run_id"],)]


def test_s3_source_streams_and_paginates(tmp_path, s3, moto_endpoint):
    client, bucket = s3
    endpoint, _ = moto_endpoint
    root = tmp_path / "sample"
    make_sample(root, files=2, lines=200)
    upload_tree(client, bucket, root)
    # 1001 more tiny objects force a second ListObjectsV2 page (1000 keys per page).
    line = (root / PREFIX).rglob("*.gz").__next__()
    with gzip.open(line, "rt") as f:
        one_line = f.readline()
    tiny = gzip.compress(one_line.encode())
    for i in range(1001):
        client.put_object(
            Bucket=bucket, Key=f"{PREFIX}/2026/11/20/tiny-{i:04d}.log.gz", Body=tiny
        )
    # Other dates are not read.
    client.put_object(Bucket=bucket, Key=f"{PREFIX}/2026/11/21/other.log.gz", Body=tiny)
    lake = tmp_path / "lake"
    result = run_job(
        "push-logs", *job_args(f"s3://{bucket}/{PREFIX}", lake), env=s3_env(endpoint)
    )
    assert result.code == 0, result.stderr
    summary = result.summary()
    assert summary["files"] == 1003
    assert summary["rows_loaded"] == 400 + 1001
    assert len(read_table(lake, TABLE, DATE)) == 1401


def test_no_files_for_the_date_fails_clearly_unless_allowed(tmp_path):
    source = make_sample(tmp_path / "sample", files=1, lines=10)
    lake = tmp_path / "lake"
    args = ["--date", "2026-11-19", "--source", str(source), "--table", TABLE, "--lake", str(lake)]
    result = run_job("push-logs", *args)
    assert result.code == 3
    summary = result.summary()
    assert "no input files for 2026-11-19" in summary["error"]
    assert "--allow-empty" in summary["error"]
    assert not (lake / "push_proxy").exists()

    allowed = run_job("push-logs", *args, "--allow-empty")
    assert allowed.code == 0, allowed.stderr
    rows = query(
        "SELECT count(*) FROM read_parquet(?)",
        [str(lake / "push_proxy/logs_us_new/dt=2026-11-19/*.parquet")],
    )
    assert rows == [(0,)]


def test_corrupt_gzip_fails_as_data_error_and_keeps_the_previous_partition(tmp_path):
    source = make_sample(tmp_path / "sample", files=2, lines=2000)
    lake = tmp_path / "lake"
    assert run_job("push-logs", *job_args(str(source), lake)).code == 0
    before = read_table(lake, TABLE, DATE)

    victim = sorted(source.rglob("*.gz"))[1]
    data = bytearray(victim.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 64] = b"\x00" * 64
    victim.write_bytes(bytes(data))

    result = run_job("push-logs", *job_args(str(source), lake))
    assert result.code == 3, result.stderr
    summary = result.summary()
    assert victim.name in summary["error"]
    assert "corrupt or truncated" in summary["error"]
    assert read_table(lake, TABLE, DATE) == before


def test_reject_threshold_stores_rejects_alerts_and_exits_3(tmp_path, webhook):
    source = make_sample(tmp_path / "sample", files=2, lines=200)
    lake = tmp_path / "lake"
    assert run_job("push-logs", *job_args(str(source), lake)).code == 0
    before = read_table(lake, TABLE, DATE)

    bad = make_sample(tmp_path / "bad", 2, 200, "--malformed-every", "10")
    env = {
        "MATTERMOST_WEBHOOK_URL": webhook.url,
        "AIRFLOW_CTX_DAG_ID": "push_logs",
        "AIRFLOW_CTX_TASK_ID": "load_us",
        "AIRFLOW_CTX_DAG_RUN_ID": "scheduled__2026-11-20T00:00:00+00:00",
        "AIRFLOW_CTX_TRY_NUMBER": "2",
        "AIRFLOW_TASK_LOG_URL": "http://airflow.example/log?dag_id=push_logs",
    }
    result = run_job(
        "push-logs", *job_args(str(bad), lake, "--max-reject-ratio", "0.05"), env=env
    )
    assert result.code == 3, result.stderr
    summary = result.summary()
    assert summary["rows_rejected"] == 40
    assert summary["rows_loaded"] == 360
    assert "over --max-reject-ratio 0.05" in summary["error"]
    assert summary["alert_sent"] is True
    # The table keeps the previous rows; the rejects are stored with file, line and reason.
    assert read_table(lake, TABLE, DATE) == before
    rejects = query(
        "SELECT _source_key, _source_line, raw_line, reason FROM read_parquet(?) ORDER BY 1, 2",
        [str(lake / "push_proxy/logs_us_new_rejects" / f"dt={DATE}" / "*.parquet")],
    )
    assert len(rejects) == 40
    assert all(r[1] % 10 == 0 for r in rejects)
    assert all(r[3] for r in rejects)
    # One alert, with the samples, the Airflow context and the re-run command.
    assert len(webhook.posts) == 1
    body = json.dumps(webhook.posts[0])
    assert "push-logs" in body and DATE in body and TABLE in body
    # Field values are markdown-escaped (`push\_logs`); compare without the escapes.
    plain = body.replace("\\\\", "")
    assert "push_logs" in plain and "load_us" in plain
    assert "--max-reject-ratio" in body
    assert "push-logs --date 2026-11-20" in body
    assert rejects[0][3][:40] in body or rejects[0][3][:20] in body


def test_s3_server_gone_mid_run_is_transient_and_commits_nothing(tmp_path, s3, moto_endpoint):
    client, bucket = s3
    _, port = moto_endpoint
    root = tmp_path / "sample"
    make_sample(root, files=3, lines=20000)
    upload_tree(client, bucket, root)
    lake = tmp_path / "lake"
    proxy_ok = FaultProxy(port, "cut", after_bytes=10**12)
    first = run_job(
        "push-logs", *job_args(f"s3://{bucket}/{PREFIX}", lake), env=s3_env(proxy_ok.endpoint)
    )
    assert first.code == 0, first.stderr
    before = read_table(lake, TABLE, DATE)

    proxy = FaultProxy(port, "die", after_bytes=400_000)
    result = run_job(
        "push-logs",
        *job_args(f"s3://{bucket}/{PREFIX}", lake, "--threads", "1"),
        env=s3_env(proxy.endpoint),
    )
    assert proxy.fired.is_set()
    assert result.code == 4, result.stderr
    summary = result.summary()
    assert summary["error_kind"] == "transient infrastructure error"
    assert "S3 is unavailable" in summary["error"]
    assert read_table(lake, TABLE, DATE) == before
    assert not list((lake / ".staging").glob("*"))


def test_a_broken_s3_stream_is_resumed(tmp_path, s3, moto_endpoint):
    client, bucket = s3
    _, port = moto_endpoint
    root = tmp_path / "sample"
    source = make_sample(root, files=2, lines=20000)
    upload_tree(client, bucket, root)
    proxy = FaultProxy(port, "cut", after_bytes=300_000)
    lake = tmp_path / "lake"
    result = run_job(
        "push-logs",
        *job_args(f"s3://{bucket}/{PREFIX}", lake, "--threads", "1"),
        env=s3_env(proxy.endpoint),
    )
    assert proxy.fired.is_set()
    assert result.code == 0, result.stderr
    assert result.summary()["rows_loaded"] == count_lines(source) == 40000
    assert any("resuming" in (log.get("message") or "") for log in result.logs())


def test_sigterm_stops_the_run_and_commits_nothing(tmp_path, s3, moto_endpoint):
    client, bucket = s3
    _, port = moto_endpoint
    root = tmp_path / "sample"
    make_sample(root, files=2, lines=20000)
    upload_tree(client, bucket, root)
    proxy = FaultProxy(port, "stall", after_bytes=200_000)
    lake = tmp_path / "lake"
    proc = start_job(
        "push-logs",
        *job_args(f"s3://{bucket}/{PREFIX}", lake, "--threads", "1"),
        env=s3_env(proxy.endpoint),
    )
    assert proxy.fired.wait(60), "the job never read far enough"
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130, stderr
    summary = json.loads(stdout.strip().splitlines()[-1])
    assert "interrupted by SIGTERM" in summary["error"]
    assert not (lake / "push_proxy").exists()
    assert not list((lake / ".staging").glob("*"))


def test_webhook_down_keeps_the_jobs_exit_code(tmp_path, webhook):
    lake = tmp_path / "lake"
    missing = tmp_path / "no-such-dir"
    webhook.statuses.extend([500] * 10)
    result = run_job(
        "push-logs",
        *job_args(str(missing), lake),
        env={"MATTERMOST_WEBHOOK_URL": webhook.url},
    )
    assert result.code == 2, result.stderr
    assert result.summary()["alert_sent"] is False
    assert any("could not post the failure alert" in (log.get("message") or "")
               for log in result.logs())
    assert len(webhook.raw) >= 2, "the alert was retried"
    assert SENTINEL_WEBHOOK_TOKEN not in result.stdout + result.stderr


def test_secrets_never_appear_in_output_help_or_alerts(tmp_path, webhook, s3, moto_endpoint):
    client, bucket = s3
    endpoint, _ = moto_endpoint
    root = tmp_path / "sample"
    source = make_sample(root, files=1, lines=100)
    upload_tree(client, bucket, root)
    bad = make_sample(tmp_path / "bad", 1, 100, "--malformed-every", "2")
    lake = tmp_path / "lake"
    env = {**s3_env(endpoint), "MATTERMOST_WEBHOOK_URL": webhook.url, "RUST_LOG": "debug"}
    outputs = []
    # success (S3), failure with a working webhook, failure with a failing webhook,
    # failure with an unreachable webhook, usage error, --help, --print-contract
    outputs.append(run_job("push-logs", *job_args(f"s3://{bucket}/{PREFIX}", lake), env=env))
    outputs.append(run_job("push-logs", *job_args(str(bad), lake), env=env))
    webhook.statuses.extend([500] * 10)
    outputs.append(run_job("push-logs", *job_args(str(bad), lake), env=env))
    unreachable = {**env, "MATTERMOST_WEBHOOK_URL": f"http://127.0.0.1:9/hooks/{SENTINEL_WEBHOOK_TOKEN}"}
    no_files = ["--date", "2026-11-19", "--source", str(source), "--table", TABLE,
                "--lake", str(lake)]
    outputs.append(run_job("push-logs", *no_files, env=unreachable))
    outputs.append(run_job("push-logs", "--date", "not-a-date", env=env))
    outputs.append(run_job("push-logs", "--help", env=env))
    outputs.append(run_job("push-logs", "--print-contract", env=env))
    assert [o.code for o in outputs] == [0, 3, 3, 3, 2, 0, 0], [o.stderr[-500:] for o in outputs]
    assert webhook.posts, "at least one alert was delivered"
    everything = "".join(o.stdout + o.stderr for o in outputs)
    everything += "".join(b.decode("utf-8", "replace") for b in webhook.raw)
    for sentinel in (SENTINEL_WEBHOOK_TOKEN, SENTINEL_AWS_SECRET):
        assert sentinel not in everything


def test_alert_text_cannot_ping_the_channel(tmp_path, webhook):
    root = tmp_path / "sample"
    source = root / PREFIX / "2026/11/20"
    source.mkdir(parents=True)
    lines = b"@channel look at this\n@here ``` broken fence\n@all\n"
    (source / "evil.log.gz").write_bytes(gzip.compress(lines))
    result = run_job(
        "push-logs",
        *job_args(str(root / PREFIX), tmp_path / "lake"),
        env={"MATTERMOST_WEBHOOK_URL": webhook.url},
    )
    assert result.code == 3
    assert len(webhook.posts) == 1
    body = json.dumps(webhook.posts[0], ensure_ascii=False)
    for mention in ("@channel", "@here", "@all"):
        assert mention not in body
    assert "channel look at this" in body


def test_help_documents_every_option_env_and_exit_code():
    result = run_job("push-logs", "--help")
    assert result.code == 0
    for needle in (
        "INGEST_DATE", "INGEST_SOURCE", "INGEST_TABLE", "INGEST_LAKE", "INGEST_MAX_REJECT_RATIO",
        "MATTERMOST_WEBHOOK_URL", "Exit codes", "130", "YYYY/MM/DD",
    ):
        assert needle in result.stdout, needle
    contract = json.loads(run_job("push-logs", "--print-contract").stdout)
    assert contract["job"] == "push-logs"
    assert [s["env"] for s in contract["secrets"]] == [
        "MATTERMOST_WEBHOOK_URL", "SNOWFLAKE_PRIVATE_KEY", "SNOWFLAKE_PASSWORD",
    ]
    assert set(contract["required_options"]) == {"--date", "--source", "--table"}
    assert contract["exit_codes"]["3"] == "data error"


def test_bad_options_exit_2_with_what_was_expected(tmp_path):
    result = run_job("push-logs", "--date", "2026-13-01", "--source", "x", "--table", TABLE)
    assert result.code == 2
    assert "YYYY-MM-DD" in result.stderr
    result = run_job("push-logs", "--date", DATE, "--source", str(tmp_path), "--table", "nodot")
    assert result.code == 2
    assert "<schema>.<table>" in result.summary()["error"]


@pytest.mark.parametrize("threads", ["1", "2"])
def test_dry_run_writes_nothing(tmp_path, threads):
    source = make_sample(tmp_path / "sample", files=2, lines=100)
    lake = tmp_path / "lake"
    result = run_job("push-logs", *job_args(str(source), lake, "--dry-run", "--threads", threads))
    assert result.code == 0, result.stderr
    assert result.summary()["rows_loaded"] == 200
    assert not (lake / "push_proxy").exists()


SENTINEL_SESSION_TOKEN = "SENTINEL-session-token-4e7b1a"  # noqa: S105


@pytest.mark.parametrize("level", ["error", "warn", "info", "debug", "trace"])
def test_no_log_level_prints_the_aws_session_token(tmp_path, s3, moto_endpoint, level):
    """IRSA gives pods a session token that signs every S3 request. At every RUST_LOG level,
    including trace (where the AWS SDK logs canonical requests and hyper logs headers), neither
    the token nor the secret key reaches stderr or stdout."""
    client, bucket = s3
    endpoint, _ = moto_endpoint
    root = tmp_path / "sample"
    make_sample(root, files=1, lines=20)
    upload_tree(client, bucket, root)
    env = {
        **s3_env(endpoint),
        "AWS_SESSION_TOKEN": SENTINEL_SESSION_TOKEN,
        "RUST_LOG": level,
    }
    result = run_job(
        "push-logs", *job_args(f"s3://{bucket}/{PREFIX}", f"s3://{bucket}/lake"), env=env
    )
    assert result.code == 0, result.stderr[-2000:]
    out = result.stdout + result.stderr
    if level in ("debug", "trace"):
        assert "run started" in out and len(result.stderr) > 1000, "the level took effect"
    for sentinel in (SENTINEL_SESSION_TOKEN, SENTINEL_AWS_SECRET):
        assert sentinel not in out, f"RUST_LOG={level} leaks {sentinel}"
    # RUST_LOG naming an SDK target directly does not lift the cap either.
    if level == "trace":
        env["RUST_LOG"] = ("trace,aws_sigv4=trace,aws_sigv4::http_request=trace,"
                           "aws_smithy_runtime=trace,hyper=trace,h2=trace")
        result = run_job(
            "push-logs", *job_args(f"s3://{bucket}/{PREFIX}", f"s3://{bucket}/lake"), env=env
        )
        assert result.code == 0, result.stderr[-2000:]
        assert SENTINEL_SESSION_TOKEN not in result.stdout + result.stderr
