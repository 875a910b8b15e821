"""The benchmark (scripts/bench.sh, the README's bench command) on a tiny input: it must run, print
every case with its figures, the ratios and budgets derived from those figures, the Parquet size
and query tables, and its row check must pass on an unchanged build and fail on changed rows.

Figures at 2 MiB mean nothing; this only keeps the command working and its arithmetic honest.
The jobs are the release binaries the images ship (INGEST_RELEASE_BIN_DIR, as scripts/test.sh sets
it), else the debug build.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from tests.harness import bin_dir

REPO = Path(__file__).resolve().parents[1]
TABLES = {"alb": 2, "cloudfront": 3}  # partitions per format: the table, rejects, server_daily
CASE_ROW = re.compile(r"^\| (?P<label>[^|]+?) \| (?P<wall>[\d.]+) \| (?P<mbs>\d+) \| "
                      r"(?P<rss>\d+) \| (?P<pq>[\d.]*) \|$")
BUDGET = re.compile(r"^budget, (?P<goal>.+?): (?P<goal_s>[\d.]+) s; --dry-run \(parse only\) takes "
                    r"(?P<parse_s>[\d.]+) s \((?P<pct>\d+)% of it\), "
                    r"(?:(?P<left_s>[\d.]+) s left|nothing left) for the write$")


def run_bench(data_dir: Path, *extra: str) -> subprocess.CompletedProcess:
    """The README's command, scripts/bench.sh, on binaries already built (no release build)."""
    env = {**os.environ, "INGEST_VENV": sys.prefix, "BENCH_DIR": str(data_dir),
           "BENCH_SIZE": "2MiB",
           "BENCH_BIN_DIR": os.environ.get("INGEST_RELEASE_BIN_DIR") or str(bin_dir())}
    return subprocess.run([str(REPO / "scripts" / "bench.sh"), *extra], env=env,
                          capture_output=True, text=True, timeout=600, check=False)


def sections(stdout: str) -> dict[str, str]:
    """The output split per format, at the line that opens each format's figures."""
    parts = re.split(r"^(alb|cloudfront): \d+ MiB uncompressed", stdout, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def cases(section: str) -> dict[str, dict[str, str]]:
    return {m["label"]: m.groupdict() for m in map(CASE_ROW.match, section.splitlines()) if m}


@pytest.fixture(scope="module")
def bench_runs(tmp_path_factory):
    """Two runs on the same data: the first saves the baseline, the second checks its rows."""
    data = tmp_path_factory.mktemp("bench")
    first = run_bench(data, "--save-baseline")
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    second = run_bench(data)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    return data, first.stdout, second.stdout


def test_every_case_is_measured(bench_runs):
    _, out, _ = bench_runs
    per_format = sections(out)
    assert sorted(per_format) == ["alb", "cloudfront"], out[-3000:]
    for fmt, job in (("alb", "push-logs"), ("cloudfront", "telemetry")):
        rows = cases(per_format[fmt])
        expected = [f"{job} parse+write, 1 thread(s)", f"{job} --dry-run (parse only), 1 thread(s)",
                    f"{job} parse+write, lake in S3 (loopback), 1 thread(s)",
                    "DuckDB typed read_csv -> Parquet, 1 thread",
                    "DuckDB read_csv all VARCHAR -> memory, 1 thread"]
        assert set(expected) <= set(rows), (fmt, sorted(rows))
        for label in (expected[0], "DuckDB typed read_csv -> Parquet, 1 thread"):
            assert float(rows[label]["pq"]) > 0, (fmt, rows[label])
        for row in rows.values():
            assert float(row["wall"]) > 0 and int(row["rss"]) > 0, (fmt, row)


def test_ratios_and_budgets_follow_from_the_table(bench_runs):
    _, out, _ = bench_runs
    for fmt, job in (("alb", "push-logs"), ("cloudfront", "telemetry")):
        section = sections(out)[fmt]
        rows = cases(section)
        wall = {label: float(row["wall"]) for label, row in rows.items()}
        duck = wall["DuckDB typed read_csv -> Parquet, 1 thread"]
        parse = wall[f"{job} --dry-run (parse only), 1 thread(s)"]
        floor = next(w for label, w in wall.items() if label.startswith("decode + line split"))
        assert re.search(r"^speed, job parse\+write / DuckDB typed: [\d.]+x \(goal >= 2\); "
                         r"Parquet bytes ours / DuckDB: [\d.]+$", section, re.M), section
        budgets = {m["goal"]: m for m in map(BUDGET.match, section.splitlines()) if m}
        # The table rounds to 10 ms; the budget lines print from the unrounded figures.
        expected = {f"{job} at 2x DuckDB typed": duck / 2}
        if job == "push-logs":
            expected[f"{job} at 50% of the floor"] = 2 * floor
        assert sorted(budgets) == sorted(expected), section
        for goal, goal_s in expected.items():
            line = budgets[goal]
            assert float(line["goal_s"]) == pytest.approx(goal_s, abs=0.011), line.string
            assert float(line["parse_s"]) == pytest.approx(parse, abs=0.006), line.string
            left = float(line["goal_s"]) - float(line["parse_s"])
            if line["left_s"] is None:
                assert left <= 0.006, line.string
            else:
                assert float(line["left_s"]) == pytest.approx(left, abs=0.011), line.string


def test_sizes_and_queries_are_compared(bench_runs):
    _, out, _ = bench_runs
    for fmt, section in sections(out).items():
        shared = re.search(r"^\| \*\*shared columns\*\* \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) ",
                           section, re.M)
        assert shared and float(shared[3]) > 0, (fmt, section)
        queries = re.findall(r"^\| (5xx in one hour.*|requests per user agent.*) \| ([\d.]+) \| "
                             r"([\d.]+) \| ([\d.]+) \|$", section, re.M)
        assert len(queries) == 2, (fmt, section)


def test_row_check_passes_on_the_same_build(bench_runs):
    _, _, out = bench_runs
    for fmt, section in sections(out).items():
        checks = re.findall(r"^row check (\S+): (\d+) rows, 0 missing, 0 added: same rows$",
                            section, re.M)
        assert len(checks) == TABLES[fmt], (fmt, section)
        assert any(int(n) > 0 for _, n in checks), (fmt, checks)


def test_row_check_fails_on_a_changed_row(bench_runs, tmp_path):
    # In place, not on a copy: the rows' _source_key holds the input's path. Last in the module,
    # and the baseline is put back after.
    data, _, _ = bench_runs
    part = next(p for p in (data / "lake-alb-baseline").glob("*/*/dt=*/part-00000.parquet")
                if not p.parent.parent.name.endswith("_rejects"))
    kept = tmp_path / "kept.parquet"
    shutil.copy(part, kept)
    try:
        # One row fewer in the baseline's ALB table: the next run has one row the baseline lacks.
        con = duckdb.connect()
        n = con.execute(f"SELECT count(*) FROM read_parquet('{kept}')").fetchone()[0]
        con.execute(f"COPY (SELECT * FROM read_parquet('{kept}') LIMIT {n - 1}) TO '{part}' "
                    "(FORMAT parquet)")
        run = run_bench(data, "--only", "alb", "--skip-s3", "--skip-duckdb")
    finally:
        shutil.copy(kept, part)
    assert run.returncode != 0, run.stdout[-3000:]
    assert re.search(rf"^row check \S+: {n - 1} rows, 0 missing, 1 added: DIFFERENT$",
                     run.stdout, re.M), run.stdout[-3000:]
    assert "row check failed" in run.stderr, run.stderr[-3000:]
