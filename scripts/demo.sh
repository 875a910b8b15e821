#!/usr/bin/env bash
# Runs the jobs locally on generated sample data into the embedded local lake (./lake), prints
# each run summary, then shows the data with DuckDB.
#
#   scripts/demo.sh            # date 2026-11-20
#   DATE=2026-11-21 scripts/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ingest-tasks/target}"
DATE="${DATE:-2026-11-20}"
SAMPLE="${SAMPLE:-./sample}"
LAKE="${LAKE:-./lake}"
bin="$CARGO_TARGET_DIR/debug"

echo "== building the jobs (debug build; the first one takes a few minutes)"
cargo build --quiet --workspace --bins

echo "== generating sample data for $DATE into $SAMPLE"
"$bin/sample-data" alb --date "$DATE" --out "$SAMPLE" --files 12 --lines 2000 >/dev/null

alb="$SAMPLE/AWSLogs/123456789012/elasticloadbalancing/us-east-1"
echo "== push-logs"
"$bin/push-logs" --log-format text --date "$DATE" --source "$alb" \
  --table push_proxy.logs_us_new --lake "$LAKE"

query="SELECT date_trunc('hour', time) AS hour,
       count(*) FILTER (WHERE request_method = 'POST' AND request_url LIKE '%/api/v1/send_push%' AND elb_status_code = 200) AS pushes_ok,
       count(*) FILTER (WHERE request_url LIKE '%/api/v1/ack%' AND elb_status_code = 200) AS acks_ok,
       count(*) FILTER (WHERE elb_status_code >= 500) AS errors
FROM read_parquet('$LAKE/push_proxy/logs_us_new/*/*.parquet', hive_partitioning = true)
WHERE dt = '$DATE' GROUP BY 1 ORDER BY 1 LIMIT 6"

echo
echo "== look at it with DuckDB (pip install duckdb, or the duckdb CLI):"
echo "$query;"
venv="${INGEST_VENV:-$HOME/.cache/ingest-tasks/venv}"
for py in "$venv/bin/python" python3; do
  if "$py" -c 'import duckdb' 2>/dev/null; then
    echo
    "$py" - "$query" <<'PY'
import sys, duckdb
print(duckdb.sql(sys.argv[1]))
PY
    break
  fi
done
