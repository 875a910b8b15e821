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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin-dir", type=Path, required=True)
    ap.add_argument("--data-dir", type=Path, required=True)
    ap.add_argument("--size", default="1GiB")
    ap.add_argument("--skip-duckdb", action="store_true")
    args = ap.parse_args()

    data = args.data_dir / args.size
    source = data / PREFIX
    marker = data / ".complete"
    if not marker.exists():
        shutil.rmtree(data, ignore_errors=True)
        print(f"== generating {args.size} of ALB logs into {data}")
        t, _, out = measure([
            str(args.bin_dir / "sample-data"), "alb", "--date", DATE, "--out", str(data),
            "--files", "96", "--bytes", args.size,
        ])
        print(f"   generated in {t:.1f} s: {out.strip()}")
        marker.touch()
    files = sorted(source.rglob("*.gz"))
    compressed = sum(f.stat().st_size for f in files)

    cores = os.cpu_count() or 1
    results = []
    env = {**os.environ, "INGEST_LOG_FORMAT": "json", "RUST_LOG": "warn"}
    for label, extra, threads in [
        ("push-logs parse-only", ["--dry-run"], 1),
        ("push-logs parse-only", ["--dry-run"], cores),
        ("push-logs parse+write", [], 1),
        ("push-logs parse+write", [], cores),
    ]:
        with tempfile.TemporaryDirectory() as lake:
            secs, rss, out = measure([
                str(args.bin_dir / "push-logs"), "--date", DATE, "--source", str(source),
                "--table", "push_proxy.logs_us_new", "--lake", lake, "--threads", str(threads),
                *extra,
            ], env)
        summary = json.loads(out.strip().splitlines()[-1])
        results.append((f"{label}, {threads} thread(s)", secs, rss,
                        summary["bytes_uncompressed"], summary["rows_loaded"] + summary["rows_rejected"]))
    uncompressed = results[0][3]
    rows = results[0][4]

    if not args.skip_duckdb:
        cols = ", ".join(f"'{c}': 'VARCHAR'" for c in ALB_COLUMNS)
        for threads in (1, cores):
            sql = (
                f"SET threads = {threads}; CREATE TABLE t AS SELECT * FROM read_csv("
                f"'{source}/**/*.log.gz', delim = ' ', quote = '\"', escape = '\\', "
                f"header = false, columns = {{{cols}}}, null_padding = true, "
                f"ignore_errors = true); SELECT count(*) FROM t;"
            )
            secs, rss, out = measure([sys.executable, "-c",
                                      "import duckdb,sys; c=duckdb.connect(); "
                                      "[c.execute(s) for s in sys.argv[1].split(';')[:-2]]; "
                                      "print(c.execute(sys.argv[1].split(';')[-2]).fetchone()[0])",
                                      sql])
            results.append((f"duckdb read_csv, {threads} thread(s)", secs, rss, uncompressed,
                            int(out.strip())))

    print(f"\ninput: {len(files)} files, {compressed / 2**20:.0f} MiB gzip, "
          f"{uncompressed / 2**20:.0f} MiB uncompressed, {rows} lines; {cores} cores\n")
    print(f"{'case':<44} {'seconds':>8} {'MB/s':>8} {'rows/s':>10} {'peak RSS':>10}")
    for label, secs, rss, nbytes, nrows in results:
        print(f"{label:<44} {secs:>8.2f} {nbytes / 1e6 / secs:>8.1f} {nrows / secs:>10.0f} "
              f"{rss / 2**20:>7.1f} MiB")


if __name__ == "__main__":
    main()
