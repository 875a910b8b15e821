"""Benchmark driver for scripts/bench.sh: runs each case as a child process and reads its peak
RSS from wait4(), so every figure is measured the same way.

Cases, all on one thread unless --scaling: the job parsing and writing Parquet, the job with
--dry-run (parse only), the floor under any parser (`sample-data scan`: gunzip with the jobs'
zlib-rs and count lines and separators), DuckDB's typed read_csv -> COPY TO Parquet (snappy; what
an engineer would write instead of the job) and DuckDB's read_csv of every column as VARCHAR into
memory. For telemetry also DuckDB writing the job's two tables: the typed columns plus the query
parameters (regexp_extract, url_decode) and server_daily (a group by with arg_max), as SQL would
write what the job writes; the typed reference alone does a part of the job's work. The job's
parse+write also runs with the lake in S3 (moto's S3 server on loopback), where production writes
it: the multipart buffers count in its peak RSS. Then the bytes of both Parquet outputs (per shared
column and for the columns only ours has) and two typical queries timed over each, with the
ratios.

With --before-bin-dir the job cases also run with those binaries, alternating with the current
ones (paired runs: both see the same machine load). The job's output is kept in
<data-dir>/lake-<format>-latest; with --save-baseline it becomes <data-dir>/lake-<format>-baseline,
and every later run checks its rows against that baseline through DuckDB (EXCEPT ALL both ways,
lineage columns _run_id and _loaded_at left out) and fails when they differ.

The jobs run with the image's GLIBC_TUNABLES (read from the Dockerfile), so peak RSS is the
figure a pod sees.
"""

# SQL here is built from our own paths and options, never user input.
# ruff: noqa: S608
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

# Runs of each query per file; the bench prints the best.
QUERY_RUNS = 15

DATE = "2026-11-20"
PREFIX = "AWSLogs/123456789012/elasticloadbalancing/us-east-1"
# CloudFront (telemetry): <prefix>/<distribution-id>.YYYY-MM-DD-HH.<id>.gz, 4 files an hour.
CF_PREFIX = "telemetry"
CF_DIST = "E2EXAMPLE1"
# (W3C field, our column name, DuckDB type of the typed reference)
CF_FIELDS = [
    ("date", "logdate", "DATE"), ("time", "logtime", "TIME"),
    ("x-edge-location", "edge", "VARCHAR"),
    ("sc-bytes", "bytessent", "BIGINT"), ("c-ip", "cip", "VARCHAR"),
    ("cs-method", "method", "VARCHAR"), ("cs(Host)", "host", "VARCHAR"),
    ("cs-uri-stem", "uri", "VARCHAR"), ("sc-status", "status", "INTEGER"),
    ("cs(Referer)", "creferrer", "VARCHAR"), ("cs(User-Agent)", "useragent", "VARCHAR"),
    ("cs-uri-query", "cs_uri_query", "VARCHAR"), ("cs(Cookie)", "cookie", "VARCHAR"),
    ("x-edge-result-type", "x_edge_result_type", "VARCHAR"),
    ("x-edge-request-id", "x_edge_request_id", "VARCHAR"),
    ("x-host-header", "x_host_header", "VARCHAR"), ("cs-protocol", "protocol", "VARCHAR"),
    ("cs-bytes", "cs_bytes", "BIGINT"), ("time-taken", "time_taken", "DOUBLE"),
    ("x-forwarded-for", "x_forwarded_for", "VARCHAR"),
    ("ssl-protocol", "ssl_protocol", "VARCHAR"), ("ssl-cipher", "ssl_cipher", "VARCHAR"),
    ("x-edge-response-result-type", "x_edge_response_result_type", "VARCHAR"),
    ("cs-protocol-version", "cs_protocol_version", "VARCHAR"),
    ("fle-status", "file_status", "VARCHAR"),
    ("fle-encrypted-fields", "file_encrypted_fields", "VARCHAR"),
    ("c-port", "c_port", "INTEGER"), ("time-to-first-byte", "time_to_first_byte", "DOUBLE"),
    ("x-edge-detailed-result-type", "x_edge_detailed_result_type", "VARCHAR"),
    ("sc-content-type", "sc_content_type", "VARCHAR"),
    ("sc-content-len", "sc_content_len", "BIGINT"),
    ("sc-range-start", "sc_range_start", "BIGINT"), ("sc-range-end", "sc_range_end", "BIGINT"),
]
# (column as logged, DuckDB type of the typed reference)
ALB_COLUMNS = [
    ("type", "VARCHAR"), ("time", "TIMESTAMP"), ("elb", "VARCHAR"),
    ("client_and_port", "VARCHAR"), ("target_and_port", "VARCHAR"),
    ("request_processing_time", "DOUBLE"), ("target_processing_time", "DOUBLE"),
    ("response_processing_time", "DOUBLE"), ("elb_status_code", "INTEGER"),
    ("target_status_code", "INTEGER"), ("received_bytes", "BIGINT"), ("sent_bytes", "BIGINT"),
    ("request", "VARCHAR"), ("user_agent", "VARCHAR"), ("ssl_cipher", "VARCHAR"),
    ("ssl_protocol", "VARCHAR"), ("target_group_arn", "VARCHAR"), ("trace_id", "VARCHAR"),
    ("domain_name", "VARCHAR"), ("chosen_cert_arn", "VARCHAR"),
    ("matched_rule_priority", "INTEGER"), ("request_creation_time", "TIMESTAMP"),
    ("actions_executed", "VARCHAR"), ("redirect_url", "VARCHAR"), ("error_reason", "VARCHAR"),
    ("target_port_list", "VARCHAR"), ("target_status_code_list", "VARCHAR"),
    ("classification", "VARCHAR"), ("classification_reason", "VARCHAR"),
    ("conn_trace_id", "VARCHAR"), ("transformed_host", "VARCHAR"), ("transformed_uri", "VARCHAR"),
    ("request_transform_status", "VARCHAR"),
]
LINEAGE = ["_source_key", "_source_line", "_run_id", "_loaded_at"]
REPO = Path(__file__).resolve().parent.parent


def image_env() -> dict[str, str]:
    """The allocator setting the images run with (their Dockerfile's ENV)."""
    m = re.search(r"GLIBC_TUNABLES=(\S+)", (REPO / "Dockerfile").read_text())
    if not m:
        sys.exit("Dockerfile: no GLIBC_TUNABLES in the runtime stage's ENV")
    return {"GLIBC_TUNABLES": m.group(1)}


class LoopbackS3:
    """moto's S3 server on 127.0.0.1 (from the test venv), one bucket, for the S3-lake case. A
    process of its own: a child's peak RSS starts from its parent's, so the server's memory must
    not be this process's."""

    def __init__(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        server = Path(sys.executable).parent / "moto_server"
        self.proc = subprocess.Popen([str(server), "-H", "127.0.0.1", "-p", str(port)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        endpoint = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                # moto does not check signatures: a plain PUT creates the bucket.
                put = urllib.request.Request(f"{endpoint}/lake", method="PUT")  # noqa: S310
                urllib.request.urlopen(put).close()  # noqa: S310
                break
            except OSError:
                time.sleep(0.1)
        else:
            sys.exit(f"moto's S3 server did not start on {endpoint}")
        self.env = {
            "INGEST_S3_ENDPOINT": endpoint, "INGEST_S3_FORCE_PATH_STYLE": "true",
            "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_REGION": "us-east-1",
        }
        self.runs = 0

    def next_lake(self) -> str:
        self.runs += 1
        return f"s3://lake/run-{self.runs}"

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait()


def measure(cmd: list[str], env: dict | None = None) -> tuple[float, int, str]:
    """Wall seconds, peak RSS in bytes, stdout of one child process."""
    # Files, not pipes: wait4 (for the child's own peak RSS) reads nothing, so a child writing
    # more than a pipe holds would block forever.
    with tempfile.TemporaryFile() as out_file, tempfile.TemporaryFile() as err_file:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out_file, stderr=err_file, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        code = os.waitstatus_to_exitcode(status)
        proc.returncode = code  # reaped here: Popen must not wait for it again
        out_file.seek(0)
        err_file.seek(0)
        out, err = out_file.read(), err_file.read()
    if code != 0:
        sys.exit(f"{cmd[0]} failed ({code}):\n{err.decode()[-2000:]}")
    return elapsed, usage.ru_maxrss * 1024, out.decode()


def generate(marker_dir: Path, label: str, cmd: list[str]) -> None:
    """Runs a generator once; a marker file makes the data reusable across runs."""
    marker = marker_dir / ".complete"
    if marker.exists():
        return
    shutil.rmtree(marker_dir, ignore_errors=True)
    print(f"== generating {label} into {marker_dir}", flush=True)
    t, _, out = measure(cmd)
    print(f"   generated in {t:.1f} s: {out.strip()}", flush=True)
    marker.touch()


def dir_bytes(root: Path, suffix: str = ".parquet") -> int:
    return sum(p.stat().st_size for p in root.rglob(f"*{suffix}"))


class Case:
    """One measured case: best wall time of its repeats, highest peak RSS."""

    def __init__(self, label: str, nbytes: int, rows: int):
        self.label, self.nbytes, self.rows = label, nbytes, rows
        self.secs: list[float] = []
        self.rss = 0
        self.parquet = 0

    def add(self, secs: float, rss: int) -> None:
        self.secs.append(secs)
        self.rss = max(self.rss, rss)

    @property
    def best(self) -> float:
        return min(self.secs)


def run_job(binary: Path, source_args: list[str], table: str, threads: int, dry: bool,
            env: dict, keep: Path | None, s3: LoopbackS3 | None = None,
            ) -> tuple[float, int, dict, int]:
    """One run of a job; with `s3` its lake is a fresh prefix in the loopback S3 server."""
    with tempfile.TemporaryDirectory() as lake:
        target = s3.next_lake() if s3 else lake
        secs, rss, out = measure([
            str(binary), "--date", DATE, *source_args, "--table", table, "--lake", target,
            "--threads", str(threads), *(["--dry-run"] if dry else []),
        ], {**env, **s3.env} if s3 else env)
        written = 0 if s3 else dir_bytes(Path(lake) / table.split(".")[0])
        if keep is not None:
            shutil.rmtree(keep, ignore_errors=True)
            shutil.copytree(lake, keep, ignore=shutil.ignore_patterns(".staging"))
    return secs, rss, json.loads(out.strip().splitlines()[-1]), written


def duck(sql: list[str], fetch: str | None = None) -> tuple[float, int, str]:
    """Runs statements in a fresh DuckDB process (one thread); returns wall, peak RSS, result."""
    script = (
        "import duckdb, json, sys; c = duckdb.connect(); "
        "c.execute('SET threads = 1'); c.execute('SET enable_progress_bar = false'); "
        "stmts = json.loads(sys.argv[1]); [c.execute(s) for s in stmts[:-1]]; "
        "r = c.execute(stmts[-1]).fetchall(); print(r[0][0] if r else '')"
    )
    return measure([sys.executable, "-c", script, json.dumps(sql + [fetch or "SELECT 1"])])


FLOOR = "decode + line split + separator count (zlib-rs), 1 thread"
SAME_TABLES = "DuckDB typed read_csv + query parameters + server_daily -> Parquet, 1 thread"


def bench(args, name: str, binary: str, source_args: list[str], table: str, env: dict,
          typed_csv: str, typed_select: str, varchar_csv: str, queries: dict[str, tuple],
          shared: dict[str, str], separator: str,
          same_tables: Callable[[Path], list[str]] | None = None) -> None:
    cores = os.cpu_count() or 1
    work = args.data_dir / "work"
    work.mkdir(parents=True, exist_ok=True)
    latest = args.data_dir / f"lake-{name}-latest"
    baseline = args.data_dir / f"lake-{name}-baseline"
    bins = [("", args.bin_dir)]
    if args.before_bin_dir:
        bins = [(" (before)", args.before_bin_dir), ("", args.bin_dir)]
    thread_counts = [1, cores] if args.scaling and cores > 1 else [1]

    cases: dict[str, Case] = {}
    uncompressed = rows = 0

    def case(label: str) -> Case:
        if label not in cases:
            cases[label] = Case(label, uncompressed, rows)
        return cases[label]

    duck_parquet = work / f"{name}-duckdb.parquet"
    for rep in range(args.repeat):
        for threads in thread_counts:
            for dry in (False, True):
                # Alternate before/current inside each repeat (paired under the same load).
                for suffix, bin_dir in bins:
                    kept = suffix == "" and not dry and threads == 1 and rep == 0
                    keep = latest if kept else None
                    secs, rss, summary, written = run_job(
                        bin_dir / binary, source_args, table, threads, dry, env, keep)
                    uncompressed = summary["bytes_uncompressed"]
                    rows = summary["rows_loaded"] + summary["rows_rejected"]
                    what = "--dry-run (parse only)" if dry else "parse+write"
                    c = case(f"{binary} {what}, {threads} thread(s){suffix}")
                    c.add(secs, rss)
                    c.parquet = written
            if args.s3 is not None and threads == 1:
                for suffix, bin_dir in bins:
                    secs, rss, _, _ = run_job(bin_dir / binary, source_args, table, 1, False,
                                              env, None, args.s3)
                    case(f"{binary} parse+write, lake in S3 (loopback), 1 thread(s){suffix}"
                         ).add(secs, rss)
        # The floor under any parser: gunzip (the jobs' zlib-rs) and count lines and separators.
        secs, rss, _ = measure([str(args.bin_dir / "sample-data"), "scan", "--separator",
                                separator, source_args[1]])
        case(FLOOR).add(secs, rss)
        if args.skip_duckdb:
            continue
        secs, rss, _ = duck([
            f"COPY (SELECT {typed_select} FROM {typed_csv}) TO '{duck_parquet}' "
            "(FORMAT parquet, COMPRESSION snappy)"])
        c = case("DuckDB typed read_csv -> Parquet, 1 thread")
        c.add(secs, rss)
        c.parquet = duck_parquet.stat().st_size
        secs, rss, _ = duck([f"CREATE TABLE t AS SELECT * FROM {varchar_csv}"],
                            "SELECT count(*) FROM t")
        case("DuckDB read_csv all VARCHAR -> memory, 1 thread").add(secs, rss)
        if same_tables:
            tables_dir = work / f"{name}-duckdb-tables"
            shutil.rmtree(tables_dir, ignore_errors=True)
            tables_dir.mkdir()
            secs, rss, _ = duck(same_tables(tables_dir))
            c = case(SAME_TABLES)
            c.add(secs, rss)
            c.parquet = dir_bytes(tables_dir)

    print(f"\n{name}: {uncompressed / 2**20:.0f} MiB uncompressed, {rows} lines, "
          f"best of {args.repeat}, {cores} cores (shared)\n")
    print("| case | wall s | MB/s | peak RSS MiB | Parquet MB |\n|---|---|---|---|---|")
    for c in cases.values():
        pq = f"{c.parquet / 1e6:.1f}" if c.parquet else ""
        print(f"| {c.label} | {c.best:.2f} | {uncompressed / 1e6 / c.best:.0f} | "
              f"{c.rss / 2**20:.0f} | {pq} |")

    job = cases[f"{binary} parse+write, 1 thread(s)"]
    parse_only = cases[f"{binary} --dry-run (parse only), 1 thread(s)"]
    floor = cases[FLOOR]
    print(f"\nspeed, job parse+write / decode + line split floor: {floor.best / job.best:.0%} "
          f"(push-logs goal >= 50%); --dry-run: {floor.best / parse_only.best:.0%}")
    # What a speed goal leaves for the write, once the job's own parse is paid: a goal whose
    # budget the parse alone nearly fills cannot be met by work on the write path.
    if binary == "push-logs":
        budget(f"{binary} at 50% of the floor", 2 * floor.best, parse_only.best)
    if not args.skip_duckdb:
        ref = cases["DuckDB typed read_csv -> Parquet, 1 thread"]
        print(f"\nspeed, job parse+write / DuckDB typed: {ref.best / job.best:.2f}x "
              f"(goal >= 2); Parquet bytes ours / DuckDB: {job.parquet / ref.parquet:.2f}",
              flush=True)
        budget(f"{binary} at 2x DuckDB typed", ref.best / 2, parse_only.best)
        if same_tables:
            same = cases[SAME_TABLES]
            print(f"speed, job parse+write / DuckDB writing the job's tables: "
                  f"{same.best / job.best:.2f}x", flush=True)
    # DuckDB in this process would grow it, and a child's peak RSS (ru_maxrss) starts from its
    # parent's at fork: analyse in a fresh process so later cases stay measured alone.
    proc = multiprocessing.get_context("spawn").Process(target=analyse, args=(
        args.skip_duckdb, latest, baseline, table, duck_parquet, shared, queries,
        args.save_baseline))
    proc.start()
    proc.join()
    if proc.exitcode != 0:
        sys.exit(f"{name}: the size, query or row check failed")


def budget(goal: str, goal_secs: float, parse_secs: float) -> None:
    left = goal_secs - parse_secs
    write = f"{left:.2f} s left for the write" if left > 0 else "nothing left for the write"
    print(f"budget, {goal}: {goal_secs:.2f} s; --dry-run (parse only) takes {parse_secs:.2f} s "
          f"({parse_secs / goal_secs:.0%} of it), {write}", flush=True)


def analyse(skip_duckdb: bool, latest: Path, baseline: Path, table: str, duck_parquet: Path,
            shared: dict[str, str], queries: dict[str, tuple], save_baseline: bool) -> None:
    if not skip_duckdb:
        ours = f"read_parquet('{latest}/{table.replace('.', '/')}/*/*.parquet')"
        compare_sizes(latest / table.replace(".", "/"), duck_parquet, shared)
        compare_queries(ours, f"read_parquet('{duck_parquet}')", queries)
    check_rows(baseline, latest, save_baseline)
    sys.stdout.flush()


def column_bytes(glob: str) -> dict[str, int]:
    import duckdb

    con = duckdb.connect()
    # Our own paths, not user input.
    rows = con.execute(
        "SELECT path_in_schema, sum(total_compressed_size) "  # noqa: S608
        f"FROM parquet_metadata('{glob}') GROUP BY 1").fetchall()
    return {r[0]: int(r[1]) for r in rows}


def compare_sizes(our_dir: Path, duck_file: Path, shared: dict[str, str]) -> None:
    ours = column_bytes(f"{our_dir}/*/*.parquet")
    theirs = column_bytes(str(duck_file))
    print("\n| column (ours / DuckDB's) | ours MB | DuckDB MB | ratio |\n|---|---|---|---|")
    tot_o = tot_d = 0
    for our_name, duck_name in shared.items():
        o, d = ours.get(our_name, 0), theirs.get(duck_name, 0)
        tot_o, tot_d = tot_o + o, tot_d + d
        if o or d:
            print(f"| {our_name} / {duck_name} | {o / 1e6:.2f} | {d / 1e6:.2f} | "
                  f"{o / d if d else float('inf'):.2f} |")
    print(f"| **shared columns** | {tot_o / 1e6:.1f} | {tot_d / 1e6:.1f} | "
          f"{tot_o / tot_d:.3f} (goal <= 1.05) |")
    extra = {k: v for k, v in ours.items() if k not in shared}
    print("\ncolumns only ours has: " + ", ".join(
        f"{k} {v / 1e6:.1f} MB" for k, v in sorted(extra.items(), key=lambda kv: -kv[1])))


def compare_queries(ours: str, theirs: str, queries: dict[str, tuple]) -> None:
    import duckdb

    con = duckdb.connect()
    con.execute("SET threads = 1")
    print("\n| query | ours ms | DuckDB's file ms | ratio |\n|---|---|---|---|")
    for label, (q_ours, q_theirs) in queries.items():
        sqls = [q_ours.format(src=ours), q_theirs.format(src=theirs)]
        for sql in sqls:
            con.execute(sql).fetchall()  # warm the page cache
        # A few milliseconds each, on a shared machine: the best of many runs, the two files
        # taking turns, so a burst of load slows both rather than one.
        best = [float("inf")] * 2
        for _ in range(QUERY_RUNS):
            for i, sql in enumerate(sqls):
                t = time.perf_counter()
                con.execute(sql).fetchall()
                best[i] = min(best[i], time.perf_counter() - t)
        print(f"| {label} | {best[0] * 1e3:.2f} | {best[1] * 1e3:.2f} | {best[0] / best[1]:.2f} |")


def check_rows(baseline: Path, latest: Path, save: bool) -> None:
    """Row-by-row equality of every table of the kept run with the baseline's, through DuckDB."""
    if save:
        shutil.rmtree(baseline, ignore_errors=True)
        shutil.copytree(latest, baseline)
        print(f"\nsaved {latest} as the baseline for the row check")
        return
    if not baseline.exists():
        print("\nno baseline (--save-baseline) to check the rows against")
        return
    import duckdb

    con = duckdb.connect()
    failed = False
    tables = sorted(p.relative_to(baseline) for p in baseline.glob("*/*/dt=*"))
    if sorted(p.relative_to(latest) for p in latest.glob("*/*/dt=*")) != tables:
        sys.exit(f"row check: the partitions differ from the baseline's ({tables})")
    for rel in tables:
        b = f"read_parquet('{baseline / rel}/*.parquet')"
        a = f"read_parquet('{latest / rel}/*.parquet')"
        cols = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {b}").fetchall()]
        keep = ", ".join(f'"{c}"' for c in cols if c not in ("_run_id", "_loaded_at"))
        n = con.execute(f"SELECT count(*) FROM {b}").fetchone()[0]
        missing = con.execute(
            f"SELECT count(*) FROM (SELECT {keep} FROM {b} EXCEPT ALL SELECT {keep} FROM {a})"
        ).fetchone()[0]
        added = con.execute(
            f"SELECT count(*) FROM (SELECT {keep} FROM {a} EXCEPT ALL SELECT {keep} FROM {b})"
        ).fetchone()[0]
        ok = missing == 0 and added == 0
        failed |= not ok
        print(f"row check {rel}: {n} rows, {missing} missing, {added} added: "
              f"{'same rows' if ok else 'DIFFERENT'}")
    if failed:
        sys.exit("row check failed: the output differs from the baseline")


def alb_typed(source: Path) -> tuple[str, str]:
    cols = ", ".join(f"'{c}': '{t}'" for c, t in ALB_COLUMNS)
    csv = (f"read_csv('{source}/**/*.log.gz', delim = ' ', quote = '\"', escape = '\\', "
           f"header = false, columns = {{{cols}}}, nullstr = '-', null_padding = true, "
           "ignore_errors = true, timestampformat = '%Y-%m-%dT%H:%M:%S.%fZ')")
    # The same splits as the job: ip and port of client and target, the three request parts.
    ip = "{c}[1:length({c}) - strpos(reverse({c}), ':')]"
    port = "TRY_CAST({c}[length({c}) - strpos(reverse({c}), ':') + 2:] AS INTEGER)"
    names = [c for c, _ in ALB_COLUMNS]
    sel = []
    for c in names:
        sel.append(c)
        if c in ("client_and_port", "target_and_port"):
            stem = c.split("_")[0]
            sel.append(f"{ip.format(c=c)} AS {stem}_ip")
            sel.append(f"{port.format(c=c)} AS {stem}_port")
        if c == "request":
            sel += [f"split_part(request, ' ', {i}) AS request_{p}"
                    for i, p in ((1, "method"), (2, "url"), (3, "http_version"))]
    return csv, ", ".join(sel)


def bench_alb(args, env: dict) -> None:
    data = args.data_dir / f"alb-{args.size}"
    source = data / PREFIX
    generate(data, f"{args.size} of ALB logs", [
        str(args.bin_dir / "sample-data"), "alb", "--date", DATE, "--out", str(data),
        "--files", "96", "--bytes", args.size,
    ])
    typed_csv, typed_select = alb_typed(source)
    vcols = ", ".join(f"'{c}': 'VARCHAR'" for c, _ in ALB_COLUMNS)
    varchar_csv = (f"read_csv('{source}/**/*.log.gz', delim = ' ', quote = '\"', escape = '\\', "
                   f"header = false, columns = {{{vcols}}}, null_padding = true, "
                   "ignore_errors = true)")
    shared = {c: c for c, _ in ALB_COLUMNS}
    shared.update({c: c for c in ("client_ip", "client_port", "target_ip", "target_port",
                                  "request_method", "request_url", "request_http_version")})
    queries = {
        "5xx in one hour (filter on status and time)": (
            "SELECT count(*), sum(sent_bytes) FROM {src} WHERE elb_status_code >= 500 "
            "AND time >= TIMESTAMPTZ '2026-11-20 10:00:00+00' "
            "AND time < TIMESTAMPTZ '2026-11-20 11:00:00+00'",
            "SELECT count(*), sum(sent_bytes) FROM {src} WHERE elb_status_code >= 500 "
            "AND time >= TIMESTAMP '2026-11-20 10:00:00' "
            "AND time < TIMESTAMP '2026-11-20 11:00:00'"),
        "requests per user agent (group by)": (
            "SELECT user_agent, count(*) FROM {src} GROUP BY 1 ORDER BY 2 DESC LIMIT 20",) * 2,
    }
    bench(args, "alb", "push-logs", ["--source", str(source)], "push_proxy.logs_us_new", env,
          typed_csv, typed_select, varchar_csv, queries, shared, " ")


def bench_cloudfront(args, env: dict) -> None:
    data = args.data_dir / f"cloudfront-{args.size}"
    source = data / CF_PREFIX / CF_DIST
    generate(data, f"{args.size} of CloudFront telemetry logs", [
        str(args.bin_dir / "sample-data"), "cloudfront", "--kind", "telemetry", "--date", DATE,
        "--out", str(data), "--prefix", CF_PREFIX, "--distribution", CF_DIST,
        "--files-per-hour", "4", "--bytes", args.size,
    ])
    files = f"{source.parent}/{CF_DIST}.{DATE}-*.gz"
    opts = ("delim = '\t', quote = '', escape = '', comment = '#', header = false, "
            "null_padding = true, ignore_errors = true")
    typed = ", ".join(f"'{ours}': '{t}'" for _, ours, t in CF_FIELDS)
    typed_csv = f"read_csv('{files}', {opts}, nullstr = '-', columns = {{{typed}}})"
    typed_select = "*, logdate + logtime AS log_at"
    vcols = ", ".join(f"'{ours}': 'VARCHAR'" for _, ours, _ in CF_FIELDS)
    varchar_csv = f"read_csv('{files}', {opts}, columns = {{{vcols}}})"
    shared = {ours: ours for _, ours, _ in CF_FIELDS}
    shared["log_at"] = "log_at"
    queries = {
        "5xx in one hour (filter on status and time)": (
            "SELECT count(*), sum(bytessent) FROM {src} WHERE status >= 500 "
            "AND log_at >= TIMESTAMPTZ '2026-11-20 10:00:00+00' "
            "AND log_at < TIMESTAMPTZ '2026-11-20 11:00:00+00'",
            "SELECT count(*), sum(bytessent) FROM {src} WHERE status >= 500 "
            "AND log_at >= TIMESTAMP '2026-11-20 10:00:00' "
            "AND log_at < TIMESTAMP '2026-11-20 11:00:00'"),
        "requests per user agent (group by)": (
            "SELECT useragent, count(*) FROM {src} GROUP BY 1 ORDER BY 2 DESC LIMIT 20",) * 2,
    }
    bench(args, "cloudfront", "telemetry", ["--source", str(source)], "diagnostics.log_entries",
          env, typed_csv, typed_select, varchar_csv, queries, shared, "\\t",
          lambda out: telemetry_tables(typed_csv, out))


def telemetry_tables(typed_csv: str, out: Path) -> list[str]:
    """DuckDB statements that write what the telemetry job writes, into the directory `out`:
    log_entries with the query parameters typed (first value per key, AWS's then the client's URL
    encoding undone, malformed values NULL) and server_daily (per server and day, the latest ping,
    the pings counted, the exclusion flag). On the bench's 256 MiB they give the job's values:
    the same parameter columns and server_daily rows (EXCEPT ALL both ways, lineage left out)."""
    def param(key: str) -> str:
        raw = f"nullif(regexp_extract(cs_uri_query, '(?:^|&){key}=([^&]*)', 1), '')"
        return f"url_decode(url_decode({raw}))"

    def count(key: str) -> str:
        # Counts are not negative: -1 is a malformed value (NULL), as in the job.
        return f"TRY_CAST(TRY_CAST({param(key)} AS UBIGINT) AS BIGINT)"

    version = "'^(\\d{1,6})\\.(\\d{1,6})\\.(\\d{1,6})(?:\\.|$)'"
    parts = ", ".join(f"TRY_CAST(regexp_extract(version, {version}, {i}) AS INTEGER) AS version_{p}"
                      for i, p in ((1, "major"), (2, "minor"), (3, "patch")))
    select = (
        "*, logdate + logtime AS log_at, url_decode(url_decode(useragent)) AS user_agent, "
        f"{param('id')} AS server_id, {param('b')} AS version, {parts}, "
        f"TRY_CAST({param('be')} AS BOOLEAN) AS is_enterprise_ready, "
        f"{param('db')} AS database_type, {param('os')} AS operating_system, "
        f"{count('uc')} AS count_users, {count('tc')} AS count_teams, "
        f"{count('auc')} AS count_active_users, "
        f"TRY_CAST({param('ut')} AS BOOLEAN) AS has_run_unit_tests")
    latest = ", ".join(f"'{c}': {c}" for c in (
        "version", "version_major", "version_minor", "version_patch", "is_enterprise_ready",
        "database_type", "operating_system", "count_users", "count_teams", "count_active_users",
        "has_run_unit_tests"))
    daily = (
        "SELECT logdate AS date, server_id, max(log_at) AS log_at, count(*) AS pings, "
        f"arg_max({{'server_ip': cip, {latest}}}, log_at) AS latest, "
        "bool_or(coalesce(has_run_unit_tests, false)) AS unit_tests, "
        "bool_or(coalesce(count_users < count_active_users, false)) AS users_lt_active "
        "FROM log_entries WHERE uri = '/security' AND method = 'GET' "
        "AND starts_with(user_agent, 'Go-http-client/') AND server_id IS NOT NULL GROUP BY ALL")
    return [
        f"CREATE TEMP TABLE log_entries AS SELECT {select} FROM {typed_csv}",
        f"COPY log_entries TO '{out}/log_entries.parquet' (FORMAT parquet, COMPRESSION snappy)",
        "COPY (SELECT date, server_id, log_at, pings, latest.*, "
        "unit_tests OR users_lt_active AS is_excluded, CASE "
        "WHEN unit_tests AND users_lt_active THEN 'ran unit tests; active users > users' "
        "WHEN unit_tests THEN 'ran unit tests' WHEN users_lt_active THEN 'active users > users' "
        f"END AS exclusion_reason FROM ({daily}) ORDER BY date, server_id) "
        f"TO '{out}/server_daily.parquet' (FORMAT parquet, COMPRESSION snappy)",
    ]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin-dir", type=Path, required=True)
    ap.add_argument("--data-dir", type=Path, required=True)
    ap.add_argument("--size", default="256MiB", help="uncompressed input per format")
    ap.add_argument("--repeat", type=int, default=1, help="runs per case (best wall time)")
    ap.add_argument("--before-bin-dir", type=Path,
                    help="also run the jobs with these binaries, alternating (paired runs)")
    ap.add_argument("--save-baseline", action="store_true",
                    help="keep this run's output as the baseline of the row check")
    ap.add_argument("--scaling", action="store_true", help="also run the jobs on all cores")
    ap.add_argument("--skip-duckdb", action="store_true")
    ap.add_argument("--skip-s3", action="store_true",
                    help="leave out the S3-lake case (moto's server on loopback)")
    ap.add_argument("--only", choices=["alb", "cloudfront"],
                    help="run one format's cases (default: both)")
    args = ap.parse_args()

    env = {**os.environ, "INGEST_LOG_FORMAT": "json", "RUST_LOG": "warn", **image_env()}
    print(f"jobs run with GLIBC_TUNABLES={env['GLIBC_TUNABLES']} (the images' ENV)", flush=True)
    args.s3 = None if args.skip_s3 else LoopbackS3()
    try:
        if args.only in (None, "alb"):
            bench_alb(args, env)
        if args.only in (None, "cloudfront"):
            bench_cloudfront(args, env)
    finally:
        if args.s3 is not None:
            args.s3.stop()


if __name__ == "__main__":
    main()
