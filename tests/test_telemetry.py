"""End-to-end tests of the telemetry binary: CloudFront files of two distributions on disk and in
moto's S3 server, diagnostics.log_entries and diagnostics.server_daily read back by DuckDB."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import s3_env, upload_tree
from tests.harness import query, read_table, run_job, sample_data

DATE = "2026-11-20"
TABLE = "diagnostics.log_entries"
DISTS = ("E2EXAMPLE1", "E1EXAMPLE9")


def make_sample(root: Path, dist: str = "E2EXAMPLE1", lines: int = 100, *extra: str,
                seed: int = 1, date: str = DATE) -> Path:
    sample_data(
        "cloudfront", "--date", date, "--out", str(root), "--kind", "telemetry",
        "--prefix", "telemetry", "--distribution", dist, "--lines", str(lines),
        "--seed", str(seed), *extra,
    )
    return root / "telemetry" / dist


def job_args(sources: list[str], lake: Path, *extra: str) -> list[str]:
    args = ["--date", DATE, "--table", TABLE, "--lake", str(lake)]
    for s in sources:
        args += ["--source", s]
    return [*args, *extra]


def parquet(lake: Path, table: str = "log_entries", date: str = DATE) -> str:
    return str(lake / "diagnostics" / table / f"dt={date}" / "*.parquet")


def count_records(files) -> int:
    total = 0
    for path in files:
        with gzip.open(path, "rt", encoding="utf-8", errors="replace") as f:
            total += sum(1 for line in f if line.strip() and not line.startswith("#"))
    return total


# The server_daily definition, written independently in SQL over log_entries: pings are GET
# /security from Go-http-client with a server id; the latest ping per (server, day) wins; a server
# is excluded when any ping that day ran unit tests or reported uc < auc.
SERVER_DAILY_SQL = """
WITH pings AS (
    SELECT * FROM read_parquet(?)
    WHERE uri = '/security' AND method = 'GET' AND user_agent LIKE 'Go-http-client/%'
      AND server_id IS NOT NULL
), ranked AS (
    SELECT *,
        row_number() OVER (PARTITION BY server_id, logdate ORDER BY log_at DESC) AS rn,
        count(*) OVER (PARTITION BY server_id, logdate) AS n_pings,
        count(*) OVER (PARTITION BY server_id, logdate, log_at) AS same_second,
        bool_or(coalesce(has_run_unit_tests, false))
            OVER (PARTITION BY server_id, logdate) AS any_ut,
        bool_or(coalesce(count_users < count_active_users, false))
            OVER (PARTITION BY server_id, logdate) AS any_lt
    FROM pings
)
SELECT server_id, logdate, log_at, n_pings, any_ut OR any_lt, same_second,
       cip, version, version_major, version_minor, version_patch, is_enterprise_ready,
       database_type, operating_system, count_users, count_teams, count_active_users,
       has_run_unit_tests
FROM ranked WHERE rn = 1 ORDER BY server_id
"""


def check_server_daily(lake: Path) -> int:
    expected = query(SERVER_DAILY_SQL, [parquet(lake)])
    got = query(
        "SELECT server_id, server_date, last_ping_at, pings, is_excluded, server_ip, version, "
        "version_major, version_minor, version_patch, is_enterprise_ready, database_type, "
        "operating_system, count_users, count_teams, count_active_users, has_run_unit_tests, "
        "exclusion_reason FROM read_parquet(?) ORDER BY server_id",
        [parquet(lake, "server_daily")],
    )
    assert len(got) == len(expected) > 0
    for e, g in zip(expected, got, strict=True):
        server_id, logdate, log_at, n_pings, excluded, same_second, *values = e
        assert g[:5] == (server_id, logdate, log_at, n_pings, excluded), (e, g)
        assert (g[17] is not None) == excluded
        if same_second == 1:
            # Without a tie for the latest second, every value is the latest ping's.
            assert tuple(g[5:17]) == tuple(values), (e, g)
    return len(got)


def test_two_distributions_load_typed_with_params_and_server_daily(tmp_path):
    root = tmp_path / "sample"
    # Enough pings that each worker sorts and spills several runs of server_daily to $TMPDIR.
    sources = [make_sample(root, d, 2500, seed=i + 1) for i, d in enumerate(DISTS)]
    # A distribution that is not given, and the next day, are not read.
    make_sample(root, "E9OTHER999", 5)
    make_sample(root, DISTS[0], 5, date="2026-11-21")
    lake = tmp_path / "lake"
    spill = tmp_path / "tmp"
    spill.mkdir()
    result = run_job("telemetry", *job_args([str(s) for s in sources], lake, "--threads", "2"),
                     env={"TMPDIR": str(spill)})
    assert result.code == 0, result.stderr
    summary = result.summary()
    assert summary["status"] == "succeeded"
    assert summary["files"] == 48
    expected_rows = sum(count_records(s.parent.glob(s.name + f".{DATE}-*.gz")) for s in sources)
    assert summary["rows_loaded"] == expected_rows == 2 * 24 * 2500
    assert summary["rows_rejected"] == 0
    # The generator puts odd values in about 1 ping in 200: they are counted, not rejected.
    counters = summary["counters"]
    assert counters.get("malformed_param_uc", 0) > 0 and counters.get("malformed_param_be", 0) > 0
    assert list(spill.iterdir()) == [], "spill files are anonymous and gone"

    types = dict(query(
        "SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_parquet(?))",
        [parquet(lake)],
    ))
    assert types["log_at"] == "TIMESTAMP WITH TIME ZONE"
    assert types["bytessent"] == "BIGINT" and types["cs_bytes"] == "BIGINT"
    assert types["status"] == "INTEGER" and types["c_port"] == "INTEGER"
    assert types["time_taken"] == "DOUBLE"
    assert types["version_major"] == "INTEGER"
    assert types["count_users"] == "BIGINT"
    assert types["is_enterprise_ready"] == "BOOLEAN"
    assert types["logdate"] == "VARCHAR"

    (keys, dists, days, pings, enterprise) = query(
        "SELECT count(DISTINCT _source_key), count(DISTINCT split_part(regexp_extract("
        "_source_key, '[^/]+$'), '.', 1)), count(DISTINCT logdate), "
        "count(*) FILTER (WHERE server_id IS NOT NULL), "
        "count(*) FILTER (WHERE is_enterprise_ready) FROM read_parquet(?)",
        [parquet(lake)],
    )[0]
    assert (keys, dists, days) == (48, 2, 1)
    assert pings > 0.9 * expected_rows and enterprise > 0
    # Parsed parameters agree with the raw query string.
    mismatched = query(
        "SELECT count(*) FROM read_parquet(?) WHERE server_id IS NOT NULL AND ("
        "cs_uri_query NOT LIKE ('id=' || server_id || '&%') "
        "OR (version_major IS NOT NULL AND version NOT LIKE (version_major || '.' || "
        "version_minor || '.' || version_patch || '%')))",
        [parquet(lake)],
    )[0][0]
    assert mismatched == 0
    servers = check_server_daily(lake)
    assert servers > 1000
    excluded = query("SELECT count(*) FILTER (WHERE is_excluded), count(DISTINCT exclusion_reason) "
                     "FROM read_parquet(?)", [parquet(lake, "server_daily")])[0]
    assert excluded[0] > 0 and excluded[1] >= 2


def test_old_26_field_files_load_with_newer_columns_null(tmp_path):
    source = make_sample(tmp_path / "sample", "E2EXAMPLE1", 50, "--fields", "26")
    lake = tmp_path / "lake"
    result = run_job("telemetry", *job_args([str(source)], lake))
    assert result.code == 0, result.stderr
    assert result.summary()["rows_loaded"] == 24 * 50
    (newer, browsers_encoded, decoded) = query(
        "SELECT count(*) FILTER (WHERE c_port IS NOT NULL OR sc_content_type IS NOT NULL), "
        "count(*) FILTER (WHERE useragent LIKE '%\\%2520%' ESCAPE '\\'), "
        "count(*) FILTER (WHERE useragent LIKE '%\\%2520%' ESCAPE '\\' AND user_agent LIKE '% %' "
        "AND user_agent NOT LIKE '%\\%%' ESCAPE '\\') FROM read_parquet(?)",
        [parquet(lake)],
    )[0]
    assert newer == 0
    assert browsers_encoded > 0 and decoded == browsers_encoded
    check_server_daily(lake)


def test_s3_sources_load_the_same_rows_as_local(tmp_path, s3, moto_endpoint):
    client, bucket = s3
    endpoint, _ = moto_endpoint
    root = tmp_path / "sample"
    sources = [make_sample(root, d, 40, seed=i + 1) for i, d in enumerate(DISTS)]
    make_sample(root, DISTS[0], 5, date="2026-11-21")
    upload_tree(client, bucket, root)
    local_lake, s3_lake = tmp_path / "local", tmp_path / "s3"
    assert run_job("telemetry", *job_args([str(s) for s in sources], local_lake)).code == 0
    result = run_job(
        "telemetry",
        *job_args([f"s3://{bucket}/telemetry/{d}" for d in DISTS], s3_lake),
        env=s3_env(endpoint),
    )
    assert result.code == 0, result.stderr
    assert result.summary()["files"] == 48
    strip = "SELECT * EXCLUDE (_source_key, _run_id, _loaded_at) FROM read_parquet(?) " \
            "ORDER BY x_edge_request_id"
    assert query(strip, [parquet(s3_lake)]) == query(strip, [parquet(local_lake)])
    keys = query("SELECT DISTINCT _source_key FROM read_parquet(?) ORDER BY 1 LIMIT 1",
                 [parquet(s3_lake)])
    assert keys[0][0].startswith(f"telemetry/{DISTS[1]}.{DATE}-")
    daily = "SELECT * EXCLUDE (_run_id, _loaded_at) FROM read_parquet(?) ORDER BY server_id"
    assert query(daily, [parquet(s3_lake, "server_daily")]) == \
        query(daily, [parquet(local_lake, "server_daily")])


def test_running_twice_leaves_identical_partitions(tmp_path):
    source = make_sample(tmp_path / "sample", lines=200)
    lake = tmp_path / "lake"
    first = run_job("telemetry", *job_args([str(source)], lake, "--threads", "2"))
    assert first.code == 0, first.stderr
    rows_first = read_table(lake, TABLE, DATE)
    daily = "SELECT * EXCLUDE (_run_id, _loaded_at) FROM read_parquet(?)"
    daily_first = query(daily, [parquet(lake, "server_daily")])
    second = run_job("telemetry", *job_args([str(source)], lake, "--threads", "1"))
    assert second.code == 0, second.stderr
    assert read_table(lake, TABLE, DATE) == rows_first
    assert query(daily, [parquet(lake, "server_daily")]) == daily_first, "same rows, same order"
    runs = query("SELECT DISTINCT _run_id FROM read_parquet(?)", [parquet(lake, "server_daily")])
    assert runs == [(second.summary()["run_id"],)]


def test_a_late_file_is_loaded_by_a_rerun_without_duplicates(tmp_path):
    source = make_sample(tmp_path / "sample", lines=100)
    late = sorted(source.parent.glob(f"{source.name}.{DATE}-23.*.gz"))
    assert len(late) == 1
    held_back = tmp_path / late[0].name
    shutil.move(late[0], held_back)
    lake = tmp_path / "lake"
    first = run_job("telemetry", *job_args([str(source)], lake))
    assert first.code == 0, first.stderr
    assert first.summary()["rows_loaded"] == 23 * 100
    pings_before = query("SELECT sum(pings) FROM read_parquet(?)", [parquet(lake, "server_daily")])

    shutil.move(held_back, late[0])  # CloudFront delivers the hour-23 file late
    second = run_job("telemetry", *job_args([str(source)], lake))
    assert second.code == 0, second.stderr
    assert second.summary()["rows_loaded"] == 24 * 100
    (rows, ids) = query(
        "SELECT count(*), count(DISTINCT x_edge_request_id) FROM read_parquet(?)", [parquet(lake)]
    )[0]
    assert rows == ids == 2400, "the date was replaced, not appended to"
    pings_after = query("SELECT sum(pings) FROM read_parquet(?)", [parquet(lake, "server_daily")])
    assert pings_after[0][0] > pings_before[0][0]
    check_server_daily(lake)


def test_rejects_over_the_threshold_fail_and_keep_the_partition(tmp_path, webhook):
    good = make_sample(tmp_path / "good", lines=100)
    lake = tmp_path / "lake"
    assert run_job("telemetry", *job_args([str(good)], lake)).code == 0
    before = read_table(lake, TABLE, DATE)
    daily_before = query("SELECT count(*) FROM read_parquet(?)", [parquet(lake, "server_daily")])

    bad = make_sample(tmp_path / "bad", "E2EXAMPLE1", 100, "--malformed-every", "10")
    result = run_job("telemetry", *job_args([str(bad)], lake),
                     env={"MATTERMOST_WEBHOOK_URL": webhook.url})
    assert result.code == 3, result.stderr
    summary = result.summary()
    assert summary["rows_rejected"] == 24 * 10
    assert "over --max-reject-ratio 0.01" in summary["error"]
    assert summary["alert_sent"] is True and len(webhook.posts) == 1
    assert read_table(lake, TABLE, DATE) == before
    assert query("SELECT count(*) FROM read_parquet(?)",
                 [parquet(lake, "server_daily")]) == daily_before
    reasons = dict(query(
        "SELECT reason, count(*) FROM read_parquet(?) GROUP BY 1",
        [parquet(lake, "log_entries_rejects")],
    ))
    # The generator breaks lines four ways in turn; each reason names the field and expectation.
    assert set(reasons) == {
        "expected 33 tab-separated fields (per the #Fields line), found 9",
        "field 9 (sc-status): expected an integer or \"-\", got \"abc\"",
        "field 2 (time): expected a time as HH:MM:SS, got \"25:61:07\"",
        "field 4 (sc-bytes): expected an integer or \"-\", got \"12kB\"",
    }
    assert sum(reasons.values()) == 240

    allowed = run_job("telemetry", *job_args([str(bad)], lake, "--max-reject-ratio", "0.2"))
    assert allowed.code == 0, allowed.stderr
    assert allowed.summary()["rows_loaded"] == 24 * 90


def test_no_files_for_the_date_fails_clearly(tmp_path):
    source = make_sample(tmp_path / "sample", lines=5)
    lake = tmp_path / "lake"
    args = ["--date", "2026-11-19", "--source", str(source), "--table", TABLE,
            "--lake", str(lake)]
    result = run_job("telemetry", *args)
    assert result.code == 3
    assert "no input files for 2026-11-19" in result.summary()["error"]
    assert f"{source.name}.2026-11-19-" in result.summary()["error"]
    allowed = run_job("telemetry", *args, "--allow-empty")
    assert allowed.code == 0, allowed.stderr
    assert query("SELECT count(*) FROM read_parquet(?)",
                 [parquet(lake, "server_daily", "2026-11-19")]) == [(0,)]


def test_help_and_contract_state_the_key_selection():
    result = run_job("telemetry", "--help")
    assert result.code == 0
    text = " ".join(result.stdout.split())
    for needle in ("<source>.YYYY-MM-DD-", "server_daily", "INGEST_SOURCE", "first value per key",
                   "Exit codes", "$TMPDIR"):
        assert needle in text, needle
    contract = json.loads(run_job("telemetry", "--print-contract").stdout)
    assert contract["job"] == "telemetry"
    assert contract["default_table"] == TABLE
    assert "YYYY-MM-DD-" in contract["date_semantics"]


def _mount_tmpfs(path: Path, size: str) -> bool:
    """A tiny tmpfs, when this environment lets the tests mount one (root in a container with
    CAP_SYS_ADMIN); it is the only way to get a real ENOSPC from a directory."""
    import subprocess

    path.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                          capture_output=True, check=False)
    return proc.returncode == 0


def test_a_full_or_missing_tmpdir_is_transient_and_names_it(tmp_path):
    """A spill that cannot be written (no $TMPDIR, or a full one) is exit 4 with a message
    naming $TMPDIR, its size and the limit to raise, not exit 1 (a bug)."""
    import subprocess

    root = tmp_path / "sample"
    # ~24k pings: more than one sorted run (1 MiB) per worker, so server_daily spills.
    source = make_sample(root, DISTS[0], 1000)
    lake = tmp_path / "lake"
    missing = tmp_path / "no-such-dir"
    result = run_job("telemetry", *job_args([str(source)], lake, "--threads", "1"),
                     env={"TMPDIR": str(missing)})
    assert result.code == 4, result.stderr
    error = result.summary()["error"]
    assert f"server_daily: spilling pings in $TMPDIR ({missing}:" in error, error
    assert "sizeLimit" in error and "No such file or directory" in error, error
    assert not (lake / "diagnostics").exists(), "nothing was committed"

    full = tmp_path / "full"
    if not _mount_tmpfs(full, "256k"):
        pytest.skip("cannot mount a tmpfs here: the ENOSPC case needs one")
    try:
        result = run_job("telemetry", *job_args([str(source)], lake, "--threads", "1"),
                         env={"TMPDIR": str(full)})
        assert result.code == 4, result.stderr
        error = result.summary()["error"]
        assert "No space left on device" in error and "free of 256.0 KiB" in error, error
        assert not (lake / "diagnostics").exists()
    finally:
        subprocess.run(["umount", str(full)], check=False)
