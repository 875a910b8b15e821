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
# A parser's cases are spread evenly over its properties: PROPTEST_CASES for each of its test
# filters is FUZZ_CASES divided by the number of properties, rounded up.
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

# parser  crate  test-name prefix (the property tests of that parser in that crate's test target)
RUNS=(
  "alb push-logs alb_"
  "cloudfront ingest-runtime cloudfront_"
  "cloudfront telemetry telemetry_"
  "cloudfront server-pingbacks pingbacks_"
  "csv ingest-runtime csv_"
  "csv license-exports license_"
  "query ingest-runtime query_"
  "query telemetry params_"
  "time ingest-runtime time_"
)
PARSERS=(alb cloudfront csv query time)

if [ -n "$only" ]; then
  case " ${PARSERS[*]} " in
    *" $only "*) ;;
    *) echo "--only takes one of: ${PARSERS[*]}" >&2; exit 2 ;;
  esac
fi

crates=()
for run in "${RUNS[@]}"; do
  read -r parser crate _ <<<"$run"
  if [ -z "$only" ] || [ "$parser" = "$only" ]; then
    case " ${crates[*]-} " in
      *" -p $crate "*) ;;
      *) crates+=(-p "$crate") ;;
    esac
  fi
done

echo "== release build of the property tests (takes a while the first time)"
cargo test --release --locked "${crates[@]}" --test proptest --no-run

# How many properties a filter selects (cargo test -- --list prints `name: test`).
count_tests() {
  cargo test --release --locked -q -p "$1" --test proptest -- --list "$2" 2>/dev/null |
    grep -c ': test$' || true
}

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
failed=()
summary=()
for parser in "${PARSERS[@]}"; do
  [ -z "$only" ] || [ "$parser" = "$only" ] || continue
  # Properties of this parser, across crates.
  props=0
  for run in "${RUNS[@]}"; do
    read -r p crate prefix <<<"$run"
    [ "$p" = "$parser" ] || continue
    n="$(count_tests "$crate" "$prefix")"
    if [ "$n" -eq 0 ]; then
      echo "no property test named $prefix* in $crate's proptest target" >&2
      exit 1
    fi
    props=$((props + n))
  done
  per_property=$(((target + props - 1) / props))
  cases=$((per_property * props))
  echo "== $parser: $props properties x $per_property cases = $cases cases"
  start=$(date +%s)
  status=ok
  for run in "${RUNS[@]}"; do
    read -r p crate prefix <<<"$run"
    [ "$p" = "$parser" ] || continue
    if ! PROPTEST_CASES="$per_property" cargo test --release --locked -q -p "$crate" \
      --test proptest -- "$prefix" >"$log" 2>&1; then
      status=FAILED
      echo "-- $parser: $crate $prefix* failed:" >&2
      tail -n 60 "$log" >&2
    fi
  done
  elapsed=$(($(date +%s) - start))
  [ "$status" = ok ] || failed+=("$parser")
  summary+=("$(printf '%-11s %12s cases %6ss  %s' "$parser" "$cases" "$elapsed" "$status")")
done

echo "== summary (release, PROPTEST_CASES per property as above)"
printf '%s\n' "${summary[@]}"
if [ "${#failed[@]}" -gt 0 ]; then
  echo "FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "all properties held"
