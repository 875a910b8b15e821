#!/usr/bin/env bash
# Installs everything the tests need, then runs every test: Rust (fmt, clippy, unit and
# integration tests) and Python (end-to-end tests of the binaries against a local S3 server and
# DuckDB, the Airflow DAG tests), and the deployment checks (chart, Dockerfile, workflows, images).
#
# Reuses a build directory and a Python venv outside the checkout when they exist:
#   CARGO_TARGET_DIR (default ~/.cache/ingest-tasks/target)
#   INGEST_VENV      (default ~/.cache/ingest-tasks/venv)
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ingest-tasks/target}"
export INGEST_VENV="${INGEST_VENV:-$HOME/.cache/ingest-tasks/venv}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

step() { printf '\n== %s\n' "$*"; }

step "Python venv with the test requirements ($INGEST_VENV)"
scripts/setup-venv.sh

if [ -x scripts/install-tools.sh ]; then
  step "Deployment tools (helm, linters, buildah)"
  scripts/install-tools.sh
fi

step "Job registry: generated files up to date (scripts/registry.py check)"
scripts/registry.py check

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo build (binaries for the end-to-end tests)"
cargo build --workspace --bins --locked

step "cargo test"
cargo test --workspace --locked

step "ruff"
"$INGEST_VENV/bin/ruff" check dags tests

if [ -x scripts/check-deploy.sh ]; then
  step "Chart, Dockerfile, workflows"
  scripts/check-deploy.sh
fi

if [ -x scripts/check-images.sh ]; then
  step "Images (buildah)"
  scripts/check-images.sh
fi

# The deployment rehearsal (tests/rehearsal) runs the binaries the images ship: the release-profile
# static builds check-images just made. They are copied out first, because the fault-injection
# build below writes the same path; the rehearsal's panic scenario needs that build (the shipped
# binary has no fault hook).
step "Release binaries for the deployment rehearsal"
static="$CARGO_TARGET_DIR/x86_64-unknown-linux-gnu/release"
rehearsal="$CARGO_TARGET_DIR/rehearsal"
rm -rf "$rehearsal" && mkdir -p "$rehearsal/release" "$rehearsal/fault-injection"
for bin in $(scripts/registry.py list) sample-data; do
  [ ! -f "$static/$bin" ] || cp "$static/$bin" "$rehearsal/release/"
done
RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --locked --quiet \
  --target x86_64-unknown-linux-gnu -p push-logs --features fault-injection
cp "$static/push-logs" "$rehearsal/fault-injection/"

step "pytest (end-to-end, DAG tests and the deployment rehearsal)"
INGEST_BIN_DIR="$CARGO_TARGET_DIR/debug" \
  INGEST_RELEASE_BIN_DIR="$rehearsal/release" \
  INGEST_FAULT_BIN_DIR="$rehearsal/fault-injection" \
  "$INGEST_VENV/bin/python" -m pytest
