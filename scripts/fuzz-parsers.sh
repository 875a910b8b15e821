#!/usr/bin/env bash
# Runs the parsers' property tests (the `proptest` test target of each crate) in release with
# enough cases that every parser gets at least FUZZ_CASES of them (default one million), then
# prints per-parser case counts and elapsed time. Exits 1 if any property failed (proptest prints
# the shrunk input and saves its seed under the crate's tests/*.proptest-regressions: keep that
# file, it replays the case first on every later run), 2 on a usage error.
#
#   scripts/fuzz-parsers.sh                      # >= 1,000,000 cases per parser
#   FUZZ_CASES=20000 scripts/fuzz-parsers.sh     # a quick check
#   scripts/fuzz-parsers.sh --only time          # one parser: alb, cloudfront, csv, query, time
#
# A parser's cases are spread evenly over its properties: PROPTEST_CASES for each of them
# is FUZZ_CASES divided by the number of properties, rounded up.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ingest-tasks/target}"

usage() {
  sed -n '2,13s/^# \{0,1\}//p' "$0" >&2
  exit 2
}

only=""
while [ $# -gt 0 ]; do
  case "$1" in
    --only)
      [ $# -ge 2 ] || usage
      only="$2"
      shift 2
      ;;
    -h | --help) usage ;;
    *) usage ;;
  esac
done

target="${FUZZ_CASES:-1000000}"
case "$target" in
  '' | *[!0-9]*) echo "FUZZ_CASES must be a positive integer, got '$target'" >&2; exit 2 ;;
esac
[ "$target" -gt 0 ] || { echo "FUZZ_CASES must be a positive integer" >&2; exit 2; }

# parser: the prefixes of its property tests' names (unique across the crates below).
RUNS=(
  "alb alb_"
  "cloudfront cloudfront_ telemetry_ pingbacks_"
  "csv csv_ license_"
  "query query_ params_"
  "time time_"
)
# Every command builds and runs the same package set, so features resolve once and nothing is
# rebuilt between parsers.
CRATES=(-p ingest-format -p push-logs -p telemetry -p server-pingbacks -p license-exports)

if [ -n "$only" ]; then
  case "$only" in
    alb | cloudfront | csv | query | time) ;;
    *) echo "--only takes one of: alb cloudfront csv query time" >&2; exit 2 ;;
  esac
fi

echo "== release build of the property tests (takes a while the first time)"
cargo test --release --locked "${CRATES[@]}" --test proptest --no-run

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
failed=()
summary=()
for run in "${RUNS[@]}"; do
  read -r parser filters <<<"$run"
  [ -z "$only" ] || [ "$parser" = "$only" ] || continue
  # shellcheck disable=SC2206 # the prefixes are single words
  filters=($filters)
  # How many properties the prefixes select (`--list` prints `name: test`).
  props="$(cargo test --release --locked -q "${CRATES[@]}" --test proptest -- --list "${filters[@]}" 2>/dev/null |
    grep -c ': test$' || true)"
  if [ "$props" -eq 0 ]; then
    echo "no property test named ${filters[*]}* in the proptest targets" >&2
    exit 1
  fi
  per_property=$(((target + props - 1) / props))
  cases=$((per_property * props))
  echo "== $parser: $props properties x $per_property cases = $cases cases"
  start=$(date +%s)
  status=ok
  if ! PROPTEST_CASES="$per_property" cargo test --release --locked -q "${CRATES[@]}" \
    --test proptest -- "${filters[@]}" >"$log" 2>&1; then
    status=FAILED
    echo "-- $parser failed:" >&2
    tail -n 60 "$log" >&2
  fi
  # Every selected property ran and passed (guards against a filter that selects nothing).
  passed=$(grep -o '[0-9]* passed' "$log" | awk '{n += $1} END {print n + 0}')
  if [ "$status" = ok ] && [ "$passed" -ne "$props" ]; then
    status=FAILED
    echo "-- $parser: $passed of $props properties passed" >&2
  fi
  elapsed=$(($(date +%s) - start))
  [ "$status" = ok ] || failed+=("$parser")
  summary+=("$(printf '%-11s %2s properties %12s cases %6ss  %s' "$parser" "$props" "$cases" "$elapsed" "$status")")
done

echo "== summary (release, PROPTEST_CASES per property as above)"
printf '%s\n' "${summary[@]}"
if [ "${#failed[@]}" -gt 0 ]; then
  echo "FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "all properties held"
