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

venv="${INGEST_VENV:-$HOME/.cache/ingest-tasks/venv}"
if ! "$venv/bin/python" -c 'import duckdb' 2>/dev/null && ! python3 -c 'import duckdb' 2>/dev/null; then
  # A fresh machine: a small venv with just the DuckDB wheel (the reader; never linked into jobs).
  venv="$HOME/.cache/ingest-tasks/demo-venv"
  if ! "$venv/bin/python" -c 'import duckdb' 2>/dev/null; then
    echo "== installing the DuckDB wheel into $venv"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check 'duckdb==1.5.5' 'pytz>=2024.1'
  fi
fi

# Prints a query (to copy into the duckdb CLI or Python), then its result.
duck() {
  echo
  echo "== look at it with DuckDB (pip install duckdb, or the duckdb CLI):"
  echo "$1;"
  for py in "$venv/bin/python" python3; do
    if "$py" -c 'import duckdb' 2>/dev/null; then
      echo
      "$py" - "$1" <<'PY'
import sys, duckdb
print(duckdb.sql(sys.argv[1]))
PY
      break
    fi
  done
}

duck "$query"

# --- telemetry, server-pingbacks, license-exports -----------------------------------------------

echo
echo "== generating CloudFront logs (two telemetry distributions, release downloads) and the license export"
"$bin/sample-data" cloudfront --kind telemetry --date "$DATE" --out "$SAMPLE" --prefix telemetry \
  --distribution E2EXAMPLE1 --lines 400 --seed 1 >/dev/null
"$bin/sample-data" cloudfront --kind telemetry --date "$DATE" --out "$SAMPLE" --prefix telemetry \
  --distribution E1EXAMPLE9 --lines 200 --seed 2 >/dev/null
"$bin/sample-data" cloudfront --kind pingbacks --date "$DATE" --out "$SAMPLE" \
  --prefix releases.mattermost.com-cloudfront/us-east-1 --distribution E3EXAMPLE2 --lines 300 >/dev/null
# license-exports for date D reads the export named for D+1 (written at the end of D).
next_day="$(python3 -c 'import datetime, sys; print(datetime.date.fromisoformat(sys.argv[1]) + datetime.timedelta(days=1))' "$DATE")"
"$bin/sample-data" licenses --date "$next_day" --out "$SAMPLE" --rows 1000 --shuffle-columns --bom \
  --embedded-newlines >/dev/null

echo
echo "== telemetry"
"$bin/telemetry" --log-format text --date "$DATE" \
  --source "$SAMPLE/telemetry/E2EXAMPLE1" --source "$SAMPLE/telemetry/E1EXAMPLE9" \
  --table diagnostics.log_entries --lake "$LAKE"
duck "SELECT version_major || '.' || version_minor AS version, count(*) AS servers,
       sum(count_active_users) FILTER (WHERE NOT is_excluded) AS active_users,
       count(*) FILTER (WHERE is_excluded) AS excluded
FROM read_parquet('$LAKE/diagnostics/server_daily/*/*.parquet', hive_partitioning = true)
WHERE dt = '$DATE' GROUP BY 1 ORDER BY servers DESC LIMIT 6"

echo
echo "== server-pingbacks"
"$bin/server-pingbacks" --log-format text --date "$DATE" \
  --source "$SAMPLE/releases.mattermost.com-cloudfront/us-east-1/E3EXAMPLE2" \
  --table releases.log_entries --lake "$LAKE"
duck "SELECT download_type, target_os, count(DISTINCT x_edge_request_id) AS downloads
FROM read_parquet('$LAKE/releases/log_entries/*/*.parquet', hive_partitioning = true)
WHERE dt = '$DATE' AND is_download GROUP BY ALL ORDER BY downloads DESC LIMIT 8"

echo
echo "== license-exports (reads the export named for $next_day)"
"$bin/license-exports" --log-format text --date "$DATE" --source "$SAMPLE/licenses" \
  --table licenses.licenses --lake "$LAKE"
duck "WITH l AS (SELECT DISTINCT licenseid, issuedat, expiresat, number
  FROM read_parquet('$LAKE/licenses/licenses/*/*.parquet', hive_partitioning = true)
  WHERE dt = '$DATE')  -- the export repeats some rows
SELECT count(*) AS licenses, count(*) FILTER (WHERE expiresat > TIMESTAMPTZ '$DATE') AS active,
       sum(number) FILTER (WHERE expiresat > TIMESTAMPTZ '$DATE') AS active_seats FROM l"
