"""End-to-end tests of the server-pingbacks binary: release-download CloudFront files on disk and
in moto's S3 server, releases.log_entries read back by DuckDB."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.conftest import s3_env, upload_tree
from tests.harness import query, read_table, run_job, sample_data

DATE = "2026-11-20"
TABLE = "releases.log_entries"
PREFIX = "releases.mattermost.com-cloudfront/us-east-1"
DIST = "E3EXAMPLE2"


def make_sample(root: Path, lines: int = 100, *extra: str, date: str = DATE) -> Path:
    sample_data(
        "cloudfront", "--date", date, "--out", str(root), "--kind", "pingbacks",
        "--prefix", PREFIX, "--distribution", DIST, "--lines", str(lines), *extra,
    )
    return root / PREFIX / DIST


def job_args(source: str, lake: Path, *extra: str) -> list[str]:
    return ["--date", DATE, "--source", source, "--table", TABLE, "--lake", str(lake), *extra]


def parquet(lake: Path, table: str = "log_entries") -> str:
    return str(lake / "releases" / table / f"dt={DATE}" / "*.parquet")


def test_local_run_derives_release_fields_that_agree_with_sql(tmp_path):
    source = make_sample(tmp_path / "sample", 300)
    make_sample(tmp_path / "sample", 5, date="2026-11-21")
    lake = tmp_path / "lake"
    result = run_job("server-pingbacks", *job_args(str(source), lake))
    assert result.code == 0, result.stderr
    summary = result.summary()
    assert (summary["files"], summary["rows_loaded"], summary["rows_rejected"]) == (24, 7200, 0)

    types = dict(query(
        "SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_parquet(?))",
        [parquet(lake)],
    ))
    assert types["bytessent"] == "BIGINT" and types["cs_bytes"] == "BIGINT"
    assert types["is_download"] == "BOOLEAN" and types["log_at"] == "TIMESTAMP WITH TIME ZONE"

    # The derived columns, recomputed independently in SQL from the raw columns.
    mismatches = query(
        r"""
        WITH t AS (SELECT *, url_decode(uri) AS path FROM read_parquet(?)),
        e AS (SELECT *,
            nullif(regexp_extract(path, '^/(?:desktop/)?(\d+\.\d+\.\d+)/[^/]+$', 1), '') AS v,
            regexp_extract(path, '[^/]*$') AS f
          FROM t)
        SELECT
          count(*) FILTER (WHERE v IS DISTINCT FROM version),
          count(*) FILTER (WHERE version IS NOT NULL AND f IS DISTINCT FROM file_name),
          count(*) FILTER (WHERE (method = 'GET' AND status BETWEEN 200 AND 299
                                  AND bytessent > 1000000 AND v IS NOT NULL) <> is_download),
          count(*) FILTER (WHERE version IS NOT NULL AND download_type IS DISTINCT FROM CASE
              WHEN path LIKE '/desktop/%' THEN 'desktop'
              WHEN f LIKE 'mattermost-team-%' THEN 'server-team'
              WHEN f LIKE 'mattermost-enterprise-%' OR regexp_matches(f, '^mattermost-\d')
                THEN 'server-enterprise' END),
          count(*) FILTER (WHERE useragent IS NOT NULL AND user_agent IS DISTINCT FROM
              url_decode(useragent)),
          count(*) FILTER (WHERE is_download),
          count(DISTINCT download_type),
          count(DISTINCT target_os)
        FROM e
        """,
        [parquet(lake)],
    )[0]
    assert mismatches[:5] == (0, 0, 0, 0, 0), mismatches
    assert mismatches[5] > 1000 and mismatches[6] == 3 and mismatches[7] == 3
    # The reference table's duplicate rows are kept: one row per request id is a downstream step.
    (rows, ids) = query(
        "SELECT count(*), count(DISTINCT x_edge_request_id) FROM read_parquet(?)", [parquet(lake)]
    )[0]
    assert ids < rows
    assert not list((lake / ".staging").glob("*"))


def test_old_files_with_double_encoding_and_malformed_lines(tmp_path):
    source = make_sample(tmp_path / "sample", 100, "--fields", "26", "--malformed-every", "50")
    lake = tmp_path / "lake"
    # 2% of the lines are broken: over the default 1%.
    result = run_job("server-pingbacks", *job_args(str(source), lake))
    assert result.code == 3, result.stderr
    summary = result.summary()
    assert (summary["rows_loaded"], summary["rows_rejected"]) == (2352, 48)
    assert not (lake / "releases" / "log_entries").exists()
    rejects = query("SELECT _source_key, _source_line, reason FROM read_parquet(?)",
                    [parquet(lake, "log_entries_rejects")])
    assert len(rejects) == 48
    assert all(r[1] % 50 == 2 for r in rejects), "line numbers count the two header lines"

    result = run_job("server-pingbacks", *job_args(str(source), lake, "--max-reject-ratio", "0.05"))
    assert result.code == 0, result.stderr
    (newer, encoded, decoded_ok) = query(
        "SELECT count(*) FILTER (WHERE c_port IS NOT NULL OR sc_range_start IS NOT NULL), "
        "count(*) FILTER (WHERE contains(useragent, '%2520')), "
        "count(*) FILTER (WHERE contains(useragent, '%2520') "
        "AND user_agent = url_decode(url_decode(useragent))) FROM read_parquet(?)",
        [parquet(lake)],
    )[0]
    assert newer == 0
    assert encoded > 0 and decoded_ok == encoded


def test_s3_run_twice_is_identical_and_a_late_file_is_picked_up(tmp_path, s3, moto_endpoint):
    client, bucket = s3
    endpoint, _ = moto_endpoint
    root = tmp_path / "sample"
    source = make_sample(root, 60)
    late = sorted(source.parent.glob(f"{DIST}.{DATE}-07.*.gz"))[0]
    held = tmp_path / late.name
    shutil.move(late, held)
    upload_tree(client, bucket, root)
    lake = tmp_path / "lake"
    s3_source = f"s3://{bucket}/{PREFIX}/{DIST}"
    first = run_job("server-pingbacks", *job_args(s3_source, lake, "--threads", "2"),
                    env=s3_env(endpoint))
    assert first.code == 0, first.stderr
    assert first.summary()["files"] == 23
    rows_first = read_table(lake, TABLE, DATE)
    again = run_job("server-pingbacks", *job_args(s3_source, lake, "--threads", "1"),
                    env=s3_env(endpoint))
    assert again.code == 0, again.stderr
    assert read_table(lake, TABLE, DATE) == rows_first

    client.upload_file(str(held), bucket, f"{PREFIX}/{late.name}")
    rerun = run_job("server-pingbacks", *job_args(s3_source, lake), env=s3_env(endpoint))
    assert rerun.code == 0, rerun.stderr
    assert rerun.summary()["files"] == 24
    rows = read_table(lake, TABLE, DATE)
    assert len(rows) == 24 * 60
    assert set(rows_first) < set(rows), "the late file's rows were added, nothing else changed"
    keys = query("SELECT count(DISTINCT _source_key) FROM read_parquet(?)", [parquet(lake)])
    assert keys == [(24,)]


def test_no_files_for_the_date_fails_unless_allowed(tmp_path):
    source = make_sample(tmp_path / "sample", 5)
    lake = tmp_path / "lake"
    args = ["--date", "2026-11-19", "--source", str(source), "--table", TABLE,
            "--lake", str(lake)]
    result = run_job("server-pingbacks", *args)
    assert result.code == 3
    assert "no input files for 2026-11-19" in result.summary()["error"]
    assert run_job("server-pingbacks", *args, "--allow-empty").code == 0


def test_help_and_contract():
    result = run_job("server-pingbacks", "--help")
    assert result.code == 0
    text = " ".join(result.stdout.split())
    for needle in ("<source>.YYYY-MM-DD-", "download type", "is_download", "Exit codes"):
        assert needle in text, needle
    contract = json.loads(run_job("server-pingbacks", "--print-contract").stdout)
    assert contract["job"] == "server-pingbacks"
    assert contract["default_table"] == TABLE
