#!/usr/bin/env bash
# Benchmark (not a test): generates ~1 GiB of ALB logs and ~1 GiB of CloudFront telemetry logs
# once, then measures push-logs and telemetry parse-only and parse+write on one core and on all
# cores, and DuckDB's read_csv loading the same files. Prints MB/s of uncompressed input, rows/s
# and peak RSS for each.
#
#   scripts/bench.sh                    # 1 GiB of each
#   BENCH_SIZE=256MiB scripts/bench.sh
#   scripts/bench.sh --only cloudfront  # or --only alb
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ingest-tasks/target}"
export INGEST_VENV="${INGEST_VENV:-$HOME/.cache/ingest-tasks/venv}"
scripts/setup-venv.sh >/dev/null
echo "== release build (takes a while the first time)"
cargo build --release --locked -p push-logs -p telemetry -p sample-data
exec "$INGEST_VENV/bin/python" scripts/bench.py \
  --bin-dir "$CARGO_TARGET_DIR/release" \
  --data-dir "${BENCH_DIR:-$HOME/.cache/ingest-tasks/bench}" \
  --size "${BENCH_SIZE:-1GiB}" "$@"
