"""The lake in S3 (`--lake s3://bucket/prefix`), end to end against moto's S3 server: the same
partitions as the local lake, read back by DuckDB over S3 (httpfs), replaced whole per date, and
nothing left behind by a failed run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import s3_env
from tests.harness import SENTINEL_AWS_SECRET, query, read_table, run_job, sample_data

DATE = "2026-11-20"
TABLE = "push_proxy.logs_us_new"
PREFIX = "AWSLogs/123456789012/elasticloadbalancing/us-east-1"
PARTITION = f"push_proxy/logs_us_new/dt={DATE}/"
REJECTS = f"push_proxy/logs_us_new_rejects/dt={DATE}/"


def make_sample(root: Path, files: int = 3, lines: int = 400, *extra: str) -> Path:
    sample_data(
        "alb", "--date", DATE, "--out", str(root), "--files", str(files), "--lines", str(lines),
        *extra,
    )
    return root / PREFIX


def keys(client, bucket: str, prefix: str) -> list[str]:
    out: list[str] = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        out += [o["Key"] for o in page.get("Contents", [])]
    return sorted(out)


def pending_uploads(client, bucket: str) -> list[str]:
    return [u["Key"] for u in client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])]


def duckdb_s3(port: int):
    """DuckDB reading moto through httpfs (the extension file is installed by setup-venv.sh)."""
    import duckdb

    con = duckdb.connect()
    con.execute("LOAD httpfs")
    con.execute(
        f"CREATE SECRET moto (TYPE s3, KEY_ID 'testing', SECRET '{SENTINEL_AWS_SECRET}', "
        f"REGION 'us-east-1', ENDPOINT '127.0.0.1:{port}', URL_STYLE 'path', USE_SSL false)"
    )
    return con


def s3_rows(port: int, bucket: str, lake_prefix: str, partition: str = PARTITION) -> list[tuple]:
    return (
        duckdb_s3(port)
        .execute(
            f"SELECT * EXCLUDE (_run_id, _loaded_at) FROM "  # noqa: S608
            f"read_parquet('s3://{bucket}/{lake_prefix}/{partition}*.parquet') "
            "ORDER BY _source_key, _source_line"
        )
        .fetchall()
    )


def test_s3_lake_writes_the_local_lakes_partitions(tmp_path, s3, moto_endpoint):
    client, bucket = s3
    endpoint, port = moto_endpoint
    source = make_sample(tmp_path / "sample", files=3, lines=300)
    # A few malformed lines, so the rejects partition has rows too.
    bad = source / "2026/11/20/bad.log"
    bad.write_text("not an alb line\nh2 also bad\n")
    local = tmp_path / "lake"
    args = ["--date", DATE, "--source", str(source), "--table", TABLE, "--max-reject-ratio", "0.5"]
    assert run_job("push-logs", *args, "--lake", str(local)).code == 0

    result = run_job(
        "push-logs", *args, "--lake", f"s3://{bucket}/lake/v1", env=s3_env(endpoint)
    )
    assert result.code == 0, result.stderr
    summary = result.summary()
    assert summary["rows_loaded"] == 900 and summary["rows_rejected"] == 2
    assert summary["partition"] == f"s3://{bucket}/lake/v1/{PARTITION}"

    # Same rows as the local lake, read by an independent reader straight from S3.
    assert s3_rows(port, bucket, "lake/v1") == read_table(local, TABLE, DATE)
    rejects = s3_rows(port, bucket, "lake/v1", REJECTS)
    assert [r[2] for r in rejects] == ["not an alb line", "h2 also bad"]
    # The column types are the local lake's.
    con = duckdb_s3(port)
    s3_types = con.execute(
        f"DESCRIBE SELECT * FROM read_parquet('s3://{bucket}/lake/v1/{PARTITION}*.parquet')"  # noqa: S608
    ).fetchall()
    local_types = query(
        f"DESCRIBE SELECT * FROM read_parquet('{local}/{PARTITION}*.parquet')"  # noqa: S608
    )
    assert [(c[0], c[1]) for c in s3_types] == [(c[0], c[1]) for c in local_types]

    # Layout: run-unique part names, a manifest naming exactly them, nothing pending.
    objects = keys(client, bucket, f"lake/v1/{PARTITION}")
    parts = [k.rsplit("/", 1)[1] for k in objects if k.endswith(".parquet")]
    assert parts and all(p.startswith("part-") for p in parts)
    manifest = json.loads(
        client.get_object(Bucket=bucket, Key=f"lake/v1/{PARTITION}_manifest.json")["Body"].read()
    )
    assert sorted(manifest["files"]) == sorted(parts)
    assert manifest["run_id"] == summary["run_id"]
    assert pending_uploads(client, bucket) == []


def test_rerun_replaces_the_s3_partition_and_leaves_no_old_files(tmp_path, s3, moto_endpoint):
    client, bucket = s3
    endpoint, port = moto_endpoint
    source = make_sample(tmp_path / "sample", files=4, lines=200)
    args = ["--date", DATE, "--source", str(source), "--table", TABLE,
            "--lake", f"s3://{bucket}/lake"]
    first = run_job("push-logs", *args, "--threads", "4", env=s3_env(endpoint))
    assert first.code == 0, first.stderr
    first_keys = keys(client, bucket, f"lake/{PARTITION}")
    rows = s3_rows(port, bucket, "lake")

    # Same date again, same run id (an Airflow retry), fewer workers: a new set of files.
    second = run_job(
        "push-logs", *args, "--threads", "2", "--run-id", first.summary()["run_id"],
        env=s3_env(endpoint),
    )
    assert second.code == 0, second.stderr
    second_keys = keys(client, bucket, f"lake/{PARTITION}")
    assert not set(first_keys) & {k for k in second_keys if k.endswith(".parquet")}
    assert len([k for k in second_keys if k.endswith(".parquet")]) == 2
    assert s3_rows(port, bucket, "lake") == rows  # identical rows, no duplicates
    assert len(rows) == 800
    assert pending_uploads(client, bucket) == []


def test_a_failed_run_leaves_the_s3_partition_and_no_uploads(tmp_path, s3, moto_endpoint):
    client, bucket = s3
    endpoint, port = moto_endpoint
    source = make_sample(tmp_path / "sample", files=2, lines=200)
    lake = f"s3://{bucket}/lake"
    args = ["--date", DATE, "--source", str(source), "--table", TABLE, "--lake", lake]
    assert run_job("push-logs", *args, env=s3_env(endpoint)).code == 0
    before = keys(client, bucket, "lake/")
    rows = s3_rows(port, bucket, "lake")

    # A corrupt file: the parse fails after the first parts were uploaded (data error, exit 3).
    corrupt = source / "2026/11/20/zz-corrupt.log.gz"
    corrupt.write_bytes(b"\x1f\x8b\x08\x00" + b"\x00" * 64)
    failed = run_job("push-logs", *args, env=s3_env(endpoint))
    assert failed.code == 3, failed.stderr
    assert keys(client, bucket, "lake/") == before
    assert s3_rows(port, bucket, "lake") == rows
    assert pending_uploads(client, bucket) == []


def test_a_missing_lake_bucket_is_a_configuration_error(tmp_path, s3, moto_endpoint):
    endpoint, _ = moto_endpoint
    source = make_sample(tmp_path / "sample", files=1, lines=50)
    result = run_job(
        "push-logs", "--date", DATE, "--source", str(source), "--table", TABLE,
        "--lake", "s3://no-such-lake-bucket/lake", env=s3_env(endpoint),
    )
    assert result.code == 2, result.stderr
    assert "no-such-lake-bucket" in result.summary()["error"]
    assert SENTINEL_AWS_SECRET not in result.stdout + result.stderr


@pytest.mark.parametrize("bad", ["s3://", "gs://bucket/x", "s3://b/../x"])
def test_bad_lake_urls_exit_2(tmp_path, bad):
    result = run_job(
        "push-logs", "--date", DATE, "--source", str(tmp_path), "--table", TABLE, "--lake", bad
    )
    assert result.code == 2
    assert "--lake" in result.stderr


def test_large_parts_stream_as_multipart_uploads(tmp_path, s3, moto_endpoint):
    """One worker writing > 8 MiB of Parquet: 5 MiB multipart parts, read back whole."""
    client, bucket = s3
    endpoint, port = moto_endpoint
    source = make_sample(tmp_path / "sample", files=2, lines=60000)
    result = run_job(
        "push-logs", "--date", DATE, "--source", str(source), "--table", TABLE,
        "--lake", f"s3://{bucket}/big", "--threads", "1", env=s3_env(endpoint), timeout=600,
    )
    assert result.code == 0, result.stderr
    [part] = [k for k in keys(client, bucket, f"big/{PARTITION}") if k.endswith(".parquet")]
    head = client.head_object(Bucket=bucket, Key=part)
    assert head["ContentLength"] > 8 << 20
    # A multipart object's ETag is "<md5 of md5s>-<parts>". Every part but the last is exactly
    # 5 MiB (S3's minimum, the job's buffer bound), even though row-group chunks arrive in
    # writes larger than a part.
    parts = int(head["ETag"].strip('"').rsplit("-", 1)[1])
    assert parts == -(-head["ContentLength"] // (5 << 20)) >= 2
    (n,) = duckdb_s3(port).execute(
        f"SELECT count(*) FROM read_parquet('s3://{bucket}/{part}')"  # noqa: S608
    ).fetchone()
    assert n == result.summary()["rows_loaded"] == 120000
