#!/usr/bin/env bash
# Benchmark (not a test): generates ALB logs and CloudFront telemetry logs once (BENCH_SIZE of
# each, uncompressed; default 256MiB), then on one thread measures push-logs and telemetry
# parse+write and --dry-run beside DuckDB's typed read_csv -> COPY TO Parquet (snappy) and its
# all-VARCHAR read_csv into memory: wall time, MB/s of uncompressed input, peak RSS, Parquet bytes
# (per column), two typical queries over both outputs, and the ratios. See scripts/bench.py.
#
#   scripts/bench.sh                          # 256 MiB of each
#   BENCH_SIZE=1GiB scripts/bench.sh --repeat 3
#   scripts/bench.sh --only cloudfront        # or --only alb
#   scripts/bench.sh --save-baseline          # keep this output; later runs check their rows
#   scripts/bench.sh --before-bin-dir DIR     # also run older binaries, alternating (paired)
#   BENCH_BIN_DIR=DIR scripts/bench.sh        # these binaries (push-logs, telemetry, sample-data),
#                                             # no build: e.g. the images' static ones
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ingest-tasks/target}"
export INGEST_VENV="${INGEST_VENV:-$HOME/.cache/ingest-tasks/venv}"
scripts/setup-venv.sh >/dev/null
if [ -z "${BENCH_BIN_DIR:-}" ]; then
  echo "== release build (takes a while the first time)"
  cargo build --release --locked -p push-logs -p telemetry -p sample-data
fi
exec "$INGEST_VENV/bin/python" scripts/bench.py \
  --bin-dir "${BENCH_BIN_DIR:-$CARGO_TARGET_DIR/release}" \
  --data-dir "${BENCH_DIR:-$HOME/.cache/ingest-tasks/bench}" \
  --size "${BENCH_SIZE:-256MiB}" "$@"
