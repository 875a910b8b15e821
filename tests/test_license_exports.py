"""End-to-end tests of the license-exports binary: CSV exports on disk and in moto's S3 server,
licenses.licenses read back by DuckDB, and DuckDB's own read_csv as the independent CSV reader."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import s3_env, upload_tree
from tests.harness import query, read_table, run_job, sample_data

DATE = "2026-11-20"
NEXT = "2026-11-21"  # the export a run for DATE reads
TABLE = "licenses.licenses"


def make_export(root: Path, date: str = NEXT, rows: int = 500, *extra: str) -> Path:
    sample_data("licenses", "--date", date, "--out", str(root), "--rows", str(rows), *extra)
    return root / "licenses"


def job_args(source: str, lake: Path, *extra: str, date: str = DATE) -> list[str]:
    return ["--date", date, "--source", source, "--table", TABLE, "--lake", str(lake), *extra]


def parquet(lake: Path, table: str = "licenses", date: str = DATE) -> str:
    return str(lake / "licenses" / table / f"dt={date}" / "*.parquet")


def test_a_date_reads_the_export_named_for_the_next_day(tmp_path):
    source = make_export(tmp_path / "sample", NEXT, 300)
    make_export(tmp_path / "sample", DATE, 7)  # the export named for DATE itself: not read
    lake = tmp_path / "lake"
    result = run_job("license-exports", *job_args(str(source), lake))
    assert result.code == 0, result.stderr
    summary = result.summary()
    assert (summary["files"], summary["rows_loaded"], summary["rows_rejected"]) == (1, 300, 0)
    keys = query("SELECT DISTINCT _source_key FROM read_parquet(?)", [parquet(lake)])
    assert [Path(k[0]).name for k in keys] == [f"licenses-{NEXT}.csv"]
    # Every license was issued before the export was written (at the end of DATE).
    latest = query("SELECT max(issuedat)::DATE FROM read_parquet(?)", [parquet(lake)])[0][0]
    assert str(latest) <= DATE

    # The day whose next-day export does not exist yet: a clear data error.
    missing = run_job("license-exports", *job_args(str(source), lake, date=NEXT))
    assert missing.code == 3
    assert f"no input files for {NEXT}" in missing.summary()["error"]


def test_csv_edge_cases_match_duckdbs_own_reading(tmp_path):
    source = make_export(tmp_path / "sample", NEXT, 2000, "--shuffle-columns", "--bom", "--crlf",
                         "--embedded-newlines")
    csv = source / f"licenses-{NEXT}.csv"
    raw = csv.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw
    assert not raw[3:].startswith(b"customerid,company"), "the columns are shuffled"
    lake = tmp_path / "lake"
    result = run_job("license-exports", *job_args(str(source), lake))
    assert result.code == 0, result.stderr
    assert result.summary()["rows_loaded"] == 2000

    ours = query(
        "SELECT customerid, company, email, stripeid, licenseid, issuedat_ms, expiresat_ms, "
        "number, epoch_ms(issuedat), epoch_ms(expiresat) FROM read_parquet(?) "
        "ORDER BY _source_line", [parquet(lake)],
    )
    theirs = query(
        "SELECT customerid, company, nullif(email, ''), nullif(stripeid, ''), licenseid, "
        "issuedat, expiresat, number, issuedat, expiresat FROM read_csv(?, header = true, "
        "all_varchar = false, quote = '\"', escape = '\"', new_line = '\\r\\n', "
        "types = {'issuedat': 'BIGINT', 'expiresat': 'BIGINT', 'number': 'BIGINT', "
        "'email': 'VARCHAR', 'stripeid': 'VARCHAR'})", [str(csv)],
    )
    assert ours == theirs
    assert any("," in r[1] and '"' in r[1] for r in ours), "quoted commas and quotes"
    assert any("\n" in r[1] for r in ours), "a line break inside a quoted field"
    # Line numbers are physical: records after a two-line company name start one line later.
    lines = [r[0] for r in query("SELECT _source_line FROM read_parquet(?) ORDER BY 1",
                                 [parquet(lake)])]
    assert lines[0] == 2 and lines[-1] > 2001
    # About 2% of rows repeat; downstream de-duplicates on (licenseid, issuedat, expiresat).
    distinct = query("SELECT count(DISTINCT (licenseid, issuedat, expiresat)) FROM read_parquet(?)",
                     [parquet(lake)])[0][0]
    assert 1900 < distinct < 2000


def write_export(root: Path, text: str, date: str = NEXT) -> Path:
    d = root / "licenses"
    d.mkdir(parents=True, exist_ok=True)
    (d / f"licenses-{date}.csv").write_text(text)
    return d


def test_a_missing_required_column_fails_naming_it(tmp_path):
    source = write_export(tmp_path / "sample",
                          "customerid,company,email,stripeid,licenseid,issuedat,number\n"
                          "c1,Acme,a@b.c,cus_1,lic1,1700000000000,5\n")
    result = run_job("license-exports", *job_args(str(source), tmp_path / "lake"))
    assert result.code == 3
    error = result.summary()["error"]
    assert "no required column `expiresat`" in error
    assert f"licenses-{NEXT}.csv" in error
    assert not (tmp_path / "lake" / "licenses" / "licenses").exists()


def test_malformed_records_are_rejected_and_counted_against_the_threshold(tmp_path):
    good = "c{0},\"Co, {0}\",a@b.example.com,cus_{0},lic{0},1700000000000,1731536000000,10\n"
    body = "".join(good.format(i) for i in range(97))
    body += "c97,Bad,a@b.example.com,cus_97,lic97,yesterday,1731536000000,10\n"
    body += "c98,Short,a@b.example.com\n"
    body += "c99,\"Tail\"x,a@b.example.com,cus_99,lic99,1700000000000,1731536000000,10\n"
    source = write_export(tmp_path / "sample",
                          "customerid,company,email,stripeid,licenseid,issuedat,expiresat,number\n"
                          + body)
    lake = tmp_path / "lake"
    result = run_job("license-exports", *job_args(str(source), lake))
    assert result.code == 3, result.stderr
    assert result.summary()["rows_rejected"] == 3
    rejects = query("SELECT _source_line, reason FROM read_parquet(?) ORDER BY 1",
                    [parquet(lake, "licenses_rejects")])
    assert rejects == [
        (99, "column 6 (issuedat): expected epoch milliseconds (an integer), got \"yesterday\""),
        (100, "expected 8 comma-separated fields (per the header), found 3"),
        (101, "field 2: unexpected 'x' after the closing quote (a quote inside a quoted field "
              "must be doubled: \"\")"),
    ]
    ok = run_job("license-exports", *job_args(str(source), lake, "--max-reject-ratio", "0.05"))
    assert ok.code == 0, ok.stderr
    assert query("SELECT count(*), count(DISTINCT company) FROM read_parquet(?)",
                 [parquet(lake)]) == [(97, 97)]


def test_s3_run_twice_is_identical(tmp_path, s3, moto_endpoint):
    client, bucket = s3
    endpoint, _ = moto_endpoint
    root = tmp_path / "sample"
    make_export(root, NEXT, 400, "--embedded-newlines")
    upload_tree(client, bucket, root)
    lake = tmp_path / "lake"
    args = job_args(f"s3://{bucket}/licenses", lake)
    first = run_job("license-exports", *args, env=s3_env(endpoint))
    assert first.code == 0, first.stderr
    rows = read_table(lake, TABLE, DATE)
    assert len(rows) == 400
    keys = query("SELECT DISTINCT _source_key FROM read_parquet(?)", [parquet(lake)])
    assert keys == [(f"licenses/licenses-{NEXT}.csv",)]
    second = run_job("license-exports", *args, env=s3_env(endpoint))
    assert second.code == 0, second.stderr
    assert read_table(lake, TABLE, DATE) == rows


def test_help_states_which_file_a_date_reads():
    result = run_job("license-exports", "--help")
    assert result.code == 0
    text = " ".join(result.stdout.split())
    assert "<D+1>.csv" in text and "next_ds" in text
    contract = json.loads(run_job("license-exports", "--print-contract").stdout)
    assert contract["job"] == "license-exports"
    assert "NEXT day" in contract["date_semantics"]


def test_timestamps_outside_years_1_to_9999_go_to_the_rejects(tmp_path):
    """A license expiring in year 287,396 (epoch ms 9e15) parses as an integer, but Snowflake's
    TIMESTAMP holds years 1 to 9999: one such value would abort the whole day's COPY. It is
    rejected at parse time with its reason; the edges of the range load."""
    header = "customerid,company,email,stripeid,licenseid,issuedat,expiresat,number\n"
    good = "c{0},Co {0},a@b.example.com,cus_{0},lic{0},1700000000000,1731536000000,10\n"
    body = "".join(good.format(i) for i in range(96))
    body += "c96,First,a@b.example.com,cus_96,lic96,-62135596800000,1731536000000,1\n"
    body += "c97,Last,a@b.example.com,cus_97,lic97,1700000000000,253402300799999,1\n"
    body += "c98,Far,a@b.example.com,cus_98,lic98,1700000000000,9000000000000000,1\n"
    body += "c99,Early,a@b.example.com,cus_99,lic99,-62135596800001,1731536000000,1\n"
    source = write_export(tmp_path / "sample", header + body)
    lake = tmp_path / "lake"
    result = run_job("license-exports", *job_args(str(source), lake, "--max-reject-ratio", "0.05"))
    assert result.code == 0, result.stderr
    assert (result.summary()["rows_loaded"], result.summary()["rows_rejected"]) == (98, 2)
    expected = "epoch milliseconds in years 1 to 9999 (-62135596800000 to 253402300799999)"
    assert query("SELECT _source_line, reason FROM read_parquet(?) ORDER BY 1",
                 [parquet(lake, "licenses_rejects")]) == [
        (100, f"column 7 (expiresat): expected {expected}, got \"9000000000000000\""),
        (101, f"column 6 (issuedat): expected {expected}, got \"-62135596800001\""),
    ]
    assert query("SELECT min(issuedat_ms), max(expiresat_ms) FROM read_parquet(?)",
                 [parquet(lake)]) == [(-62135596800000, 253402300799999)]
