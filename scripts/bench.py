"""Benchmark driver for scripts/bench.sh: runs each case as a child process and reads its peak
RSS from wait4(), so every figure is measured the same way."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DATE = "2026-11-20"
PREFIX = "AWSLogs/123456789012/elasticloadbalancing/us-east-1"
# CloudFront (telemetry): <prefix>/<distribution-id>.YYYY-MM-DD-HH.<id>.gz, 4 files an hour.
CF_PREFIX = "telemetry"
CF_DIST = "E2EXAMPLE1"
CF_FIELDS = [
    "date", "time", "x-edge-location", "sc-bytes", "c-ip", "cs-method", "cs(Host)", "cs-uri-stem",
    "sc-status", "cs(Referer)", "cs(User-Agent)", "cs-uri-query", "cs(Cookie)",
    "x-edge-result-type", "x-edge-request-id", "x-host-header", "cs-protocol", "cs-bytes",
    "time-taken", "x-forwarded-for", "ssl-protocol", "ssl-cipher", "x-edge-response-result-type",
    "cs-protocol-version", "fle-status", "fle-encrypted-fields", "c-port", "time-to-first-byte",
    "x-edge-detailed-result-type", "sc-content-type", "sc-content-len", "sc-range-start",
    "sc-range-end",
]
ALB_COLUMNS = [
    "type", "time", "elb", "client_and_port", "target_and_port", "request_processing_time",
    "target_processing_time", "response_processing_time", "elb_status_code",
    "target_status_code", "received_bytes", "sent_bytes", "request", "user_agent", "ssl_cipher",
    "ssl_protocol", "target_group_arn", "trace_id", "domain_name", "chosen_cert_arn",
    "matched_rule_priority", "request_creation_time", "actions_executed", "redirect_url",
    "error_reason", "target_port_list", "target_status_code_list", "classification",
    "classification_reason", "conn_trace_id", "transformed_host", "transformed_uri",
    "request_transform_status",
]


def measure(cmd: list[str], env: dict | None = None) -> tuple[float, int, str]:
    """Wall seconds, peak RSS in bytes, stdout of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    out, err = b"", b""
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    out = proc.stdout.read()
    err = proc.stderr.read()
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        sys.exit(f"{cmd[0]} failed ({code}):\n{err.decode()[-2000:]}")
    return elapsed, usage.ru_maxrss * 1024, out.decode()


def generate(marker_dir: Path, label: str, cmd: list[str]) -> None:
    """Runs a generator once; a marker file makes the data reusable across runs."""
    marker = marker_dir / ".complete"
    if marker.exists():
        return
    shutil.rmtree(marker_dir, ignore_errors=True)
    print(f"== generating {label} into {marker_dir}")
    t, _, out = measure(cmd)
    print(f"   generated in {t:.1f} s: {out.strip()}")
    marker.touch()


def job_cases(binary: Path, job: str, source_args: list[str], table: str, cores: int,
              env: dict) -> list[tuple]:
    """parse-only and parse+write, on one core and on all."""
    results = []
    for label, extra, threads in [
        (f"{job} parse-only", ["--dry-run"], 1),
        (f"{job} parse-only", ["--dry-run"], cores),
        (f"{job} parse+write", [], 1),
        (f"{job} parse+write", [], cores),
    ]:
        with tempfile.TemporaryDirectory() as lake:
            secs, rss, out = measure([
                str(binary), "--date", DATE, *source_args, "--table", table, "--lake", lake,
                "--threads", str(threads), *extra,
            ], env)
        summary = json.loads(out.strip().splitlines()[-1])
        results.append((f"{label}, {threads} thread(s)", secs, rss,
                        summary["bytes_uncompressed"],
                        summary["rows_loaded"] + summary["rows_rejected"]))
    return results


def duckdb_cases(read_csv: str, cores: int, uncompressed: int) -> list[tuple]:
    """DuckDB loading the same gzip files with read_csv(...), on one core and on all."""
    results = []
    for threads in (1, cores):
        # Our own paths and options, not user input.
        sql = (
            f"SET enable_progress_bar = false; SET threads = {threads}; "  # noqa: S608
            f"CREATE TABLE t AS SELECT * FROM {read_csv}; "
            "SELECT count(*) FROM t;"
        )
        secs, rss, out = measure([sys.executable, "-c",
                                  "import duckdb,sys; c=duckdb.connect(); "
                                  "[c.execute(s) for s in sys.argv[1].split(';')[:-2]]; "
                                  "print(c.execute(sys.argv[1].split(';')[-2]).fetchone()[0])",
                                  sql])
        results.append((f"duckdb read_csv, {threads} thread(s)", secs, rss, uncompressed,
                        int(out.strip())))
    return results


def report(title: str, files: list[Path], results: list[tuple], cores: int) -> None:
    compressed = sum(f.stat().st_size for f in files)
    uncompressed, rows = results[0][3], results[0][4]
    print(f"\n{title} input: {len(files)} files, {compressed / 2**20:.0f} MiB gzip, "
          f"{uncompressed / 2**20:.0f} MiB uncompressed, {rows} lines; {cores} cores\n")
    print(f"{'case':<44} {'seconds':>8} {'MB/s':>8} {'rows/s':>10} {'peak RSS':>10}")
    for label, secs, rss, nbytes, nrows in results:
        print(f"{label:<44} {secs:>8.2f} {nbytes / 1e6 / secs:>8.1f} {nrows / secs:>10.0f} "
              f"{rss / 2**20:>7.1f} MiB")


def bench_alb(args, cores: int, env: dict) -> None:
    data = args.data_dir / args.size
    source = data / PREFIX
    generate(data, f"{args.size} of ALB logs", [
        str(args.bin_dir / "sample-data"), "alb", "--date", DATE, "--out", str(data),
        "--files", "96", "--bytes", args.size,
    ])
    files = sorted(source.rglob("*.gz"))
    results = job_cases(args.bin_dir / "push-logs", "push-logs", ["--source", str(source)],
                        "push_proxy.logs_us_new", cores, env)
    if not args.skip_duckdb:
        cols = ", ".join(f"'{c}': 'VARCHAR'" for c in ALB_COLUMNS)
        results += duckdb_cases(
            f"read_csv('{source}/**/*.log.gz', delim = ' ', quote = '\"', escape = '\\', "
            f"header = false, columns = {{{cols}}}, null_padding = true, ignore_errors = true)",
            cores, results[0][3])
    report("ALB (push-logs)", files, results, cores)


def bench_cloudfront(args, cores: int, env: dict) -> None:
    data = args.data_dir / f"cloudfront-{args.size}"
    source = data / CF_PREFIX / CF_DIST
    generate(data, f"{args.size} of CloudFront telemetry logs", [
        str(args.bin_dir / "sample-data"), "cloudfront", "--kind", "telemetry", "--date", DATE,
        "--out", str(data), "--prefix", CF_PREFIX, "--distribution", CF_DIST,
        "--files-per-hour", "4", "--bytes", args.size,
    ])
    files = sorted(source.parent.glob(f"{CF_DIST}.{DATE}-*.gz"))
    # telemetry also builds server_daily (one row per server: about a million here).
    results = job_cases(args.bin_dir / "telemetry", "telemetry", ["--source", str(source)],
                        "diagnostics.log_entries", cores, env)
    if not args.skip_duckdb:
        cols = ", ".join(f"'{c}': 'VARCHAR'" for c in CF_FIELDS)
        results += duckdb_cases(
            f"read_csv('{source.parent}/{CF_DIST}.{DATE}-*.gz', delim = '\t', quote = '', "
            f"escape = '', comment = '#', header = false, columns = {{{cols}}}, "
            f"null_padding = true, ignore_errors = true)",
            cores, results[0][3])
    report("CloudFront (telemetry)", files, results, cores)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin-dir", type=Path, required=True)
    ap.add_argument("--data-dir", type=Path, required=True)
    ap.add_argument("--size", default="1GiB")
    ap.add_argument("--skip-duckdb", action="store_true")
    ap.add_argument("--only", choices=["alb", "cloudfront"],
                    help="run one format's cases (default: both)")
    args = ap.parse_args()

    cores = os.cpu_count() or 1
    env = {**os.environ, "INGEST_LOG_FORMAT": "json", "RUST_LOG": "warn"}
    if args.only in (None, "alb"):
        bench_alb(args, cores, env)
    if args.only in (None, "cloudfront"):
        bench_cloudfront(args, cores, env)


if __name__ == "__main__":
    main()
