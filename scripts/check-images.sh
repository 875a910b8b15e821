#!/usr/bin/env bash
# Builds every job's image with buildah through the Dockerfile's own runtime stage, from a
# static binary built here, and runs it. No Docker engine and no registry are needed: the
# Dockerfile's `prebuilt` stage takes the binary from the build context instead of compiling it
# in the rust image (see the Dockerfile's header), and `buildah run --isolation chroot` runs it.
#
# For each job image it checks that:
#   - the image config runs the job binary as 65532:65532, with OCI labels;
#   - the image holds exactly the binary and the CA bundle: no shell (and running one fails);
#   - `--help` (through the image's ENTRYPOINT) works, and `--print-contract` names the job;
#   - the job loads generated sample data into a lake on a mounted directory, and the files it
#     writes belong to uid 65532 (it really ran as non-root);
#   - HTTPS from the image: against a local TLS server whose throwaway CA is given through
#     SSL_CERT_FILE the handshake succeeds (the server then answers 404, so the job stops with
#     "S3 refused"); with the image's own CA bundle the same server is rejected (UnknownIssuer),
#     so certificates are verified; "localhost" resolves inside the image;
#   - the image is at most INGEST_IMAGE_MAX_MB (25) MB;
#   - arm64: the binary cross-built (static, AArch64), run under qemu-user (--help, the same
#     --print-contract as amd64), its linux/arm64 image, and a manifest list of both platforms.
# Then it prints a table of image sizes. `--list` prints the jobs it would check and their sample
# day (job|sample-data arguments|date|source suffix|table) and stops.
#
# Environment:
#   INGEST_IMAGE_JOBS     jobs to check (default: every image of the registry, scripts/registry.py list)
#   INGEST_IMAGE_PROFILE  cargo profile of the static binaries (default: release, what ships)
#   INGEST_IMAGE_MAX_MB   size limit per image (default 25)
#   INGEST_IMAGE_ARM64=0  skip the arm64 binaries, images and manifest lists (default: checked)
#   INGEST_IMAGE_KEEP=1   keep the images afterwards (localhost/ingest-tasks/<job>:check) in
#                         INGEST_BUILDAH_ROOT (default ~/.cache/ingest-tasks/buildah); otherwise
#                         the buildah storage is a temporary directory removed at the end
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ingest-tasks/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
TOOLS="${INGEST_TOOLS:-$HOME/.cache/ingest-tasks/tools}"
PATH="$TOOLS/bin:$PATH"
PROFILE="${INGEST_IMAGE_PROFILE:-release}"
MAX_MB="${INGEST_IMAGE_MAX_MB:-25}"
TARGET=x86_64-unknown-linux-gnu
DATE=2026-11-20
NEXT_DATE=2026-11-21

fail() { printf 'check-images: FAIL: %s\n' "$*" >&2; exit 1; }
note() { printf 'check-images: %s\n' "$*"; }

# --- which jobs ----------------------------------------------------------------------------------
if [ -n "${INGEST_IMAGE_JOBS:-}" ]; then
  read -r -a jobs <<<"${INGEST_IMAGE_JOBS//,/ }"
else
  # Every crate with a registry entry ([package.metadata.ingest]) is an image.
  listed="$(scripts/registry.py list)" || fail "scripts/registry.py list failed"
  mapfile -t jobs <<<"$listed"
fi
[ "${#jobs[@]}" -gt 0 ] || fail "no images in the registry (scripts/registry.py list)"

sample_args() { # job -> sample-data arguments | date of the sample | --source suffix | table
  # (the registry's `sample` of the job, and its first table; empty for an image without one)
  local gen file_date suffix table
  gen="$(scripts/registry.py get "$1" sample.generate)"
  file_date="$(scripts/registry.py get "$1" sample.file_date)"
  suffix="$(scripts/registry.py get "$1" sample.source_suffix)"
  table="$(scripts/registry.py get "$1" tables | cut -d' ' -f1)"
  [ -n "$gen" ] || { echo ""; return; }
  # A file named for the next day (license-exports: the run for a date reads that export).
  local sample_date="$DATE"
  [ "$file_date" != next ] || sample_date="$NEXT_DATE"
  echo "$gen|$sample_date|$suffix|${table//\{deployment\}/us}"
}

# --list: what a run would check (the jobs and their sample day), without building anything.
if [ "${1:-}" = --list ]; then
  for j in "${jobs[@]}"; do printf '%s|%s\n' "$j" "$(sample_args "$j")"; done
  exit 0
fi
[ $# -eq 0 ] || fail "unknown arguments: $* (only --list)"
note "jobs: ${jobs[*]} (profile $PROFILE)"

command -v buildah >/dev/null || fail "buildah not found: run scripts/install-tools.sh"
command -v cargo >/dev/null || fail "cargo not found"
[ "$(id -u)" = 0 ] || fail "buildah's chroot isolation needs root here (sudo, or CI's root user)"

work="$(mktemp -d)"
# Buildah storage of its own (vfs: no overlay or FUSE needed): a throwaway one inside $work, so a
# run leaves nothing behind, or a kept one with INGEST_IMAGE_KEEP=1.
if [ "${INGEST_IMAGE_KEEP:-0}" = 1 ]; then
  buildah_root="${INGEST_BUILDAH_ROOT:-$HOME/.cache/ingest-tasks/buildah}"
else
  buildah_root="$work/buildah"
fi
mkdir -p "$buildah_root/storage"
B=(buildah --root "$buildah_root/storage" --runroot "$buildah_root/run" --storage-driver vfs)
server_pid=""
cleanup() {
  [ -z "$server_pid" ] || kill "$server_pid" 2>/dev/null || true
  "${B[@]}" rm --all >/dev/null 2>&1 || true
  rm -rf "$work" 2>/dev/null || true
}
trap cleanup EXIT

# --- static binaries -----------------------------------------------------------------------------
bin_args=(--bin sample-data)
for j in "${jobs[@]}"; do bin_args+=(--bin "$j"); done
t0=$SECONDS
# --target keeps these artifacts apart from the host build in the same target directory (and
# keeps crt-static away from build scripts and proc macros).
RUSTFLAGS="-C target-feature=+crt-static" \
  cargo build --locked --quiet --profile "$PROFILE" --target "$TARGET" "${bin_args[@]}"
profile_dir="$PROFILE"
[ "$PROFILE" != dev ] || profile_dir=debug
bindir="$CARGO_TARGET_DIR/$TARGET/$profile_dir"
note "static binaries built in $((SECONDS - t0)) s ($bindir)"
for j in "${jobs[@]}"; do
  readelf -d "$bindir/$j" | grep -q '(NEEDED)' && fail "$j is dynamically linked"
done

# --- a local TLS server with a throwaway CA --------------------------------------------------------
tls="$work/tls"
mkdir -p "$tls"
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=ingest-check test CA" \
  -keyout "$tls/ca.key" -out "$tls/ca.pem" \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign >/dev/null 2>&1
openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
  -keyout "$tls/server.key" -out "$tls/server.csr" >/dev/null 2>&1
printf 'subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n' >"$tls/ext"
openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" -CAcreateserial \
  -days 1 -extfile "$tls/ext" -out "$tls/server.pem" >/dev/null 2>&1
chmod 0644 "$tls/ca.pem"
python3 - "$tls" >"$tls/port" 2>"$tls/server.log" <<'PY' &
import http.server, socketserver, ssl, sys
d = sys.argv[1]
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b'<?xml version="1.0"?><Error><Code>NoSuchBucket</Code><Message>none</Message></Error>'
        self.send_response(404)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    do_HEAD = do_GET
    def log_message(self, *a): pass
class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
srv = S(("127.0.0.1", 0), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(f"{d}/server.pem", f"{d}/server.key")
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
print(srv.server_address[1], flush=True)
srv.serve_forever()
PY
server_pid=$!
for _ in $(seq 50); do [ -s "$tls/port" ] && break; sleep 0.1; done
[ -s "$tls/port" ] || fail "local TLS server did not start: $(cat "$tls/server.log")"
tls_port="$(cat "$tls/port")"

# --- per job -------------------------------------------------------------------------------------

# buildah run. A container that buildah itself could not start is started once more: under load
# its copy of itself into a sealed memfd can fail ("sealing memfd copy: Device or resource busy",
# the kernel's EBUSY while pages are still pinned), before the job runs. Nothing else is retried.
run() {
  local out err rc=0
  out="$(mktemp)" err="$(mktemp)"
  "${B[@]}" run --isolation chroot "$@" >"$out" 2>"$err" || rc=$?
  if [ "$rc" -ne 0 ] && grep -q 'sealing memfd copy' "$err"; then
    note "buildah could not start the container ($(grep -m1 'sealing memfd copy' "$err")); once more"
    sleep 2
    rc=0
    "${B[@]}" run --isolation chroot "$@" >"$out" 2>"$err" || rc=$?
  fi
  cat "$out"
  cat "$err" >&2
  rm -f "$out" "$err"
  return "$rc"
}

# The S3-over-TLS run of the job in container $ctr (options before the container, e.g. --env),
# its stderr in $1, its exit code in $rc. A container that never started the job (no "run
# started" line: a buildah failure, seen once under load) is started once more; a job that
# started is never retried.
run_tls() {
  local out="$1" attempt
  shift
  for attempt in 1 2; do
    rc=0
    run "${aws[@]}" "$@" "$ctr" -- "$ep" "${s3[@]}" >/dev/null 2>"$out" || rc=$?
    grep -q '"run started"' "$out" && return 0
    note "$j: the container did not start the job (exit $rc, try $attempt): $(tail -n 3 "$out")"
  done
}

sizes=()
arm_sizes=()
for j in "${jobs[@]}"; do
  t0=$SECONDS
  image="localhost/ingest-tasks/$j:check"
  ctx="$work/ctx-$j"
  mkdir -p "$ctx/out"
  install -m 0555 "$bindir/$j" "$ctx/out/$j"
  install -m 0444 /etc/ssl/certs/ca-certificates.crt "$ctx/out/ca-certificates.crt"
  "${B[@]}" bud --quiet --isolation chroot -f "$repo/Dockerfile" \
    --build-arg BIN_STAGE=prebuilt --build-arg JOB="$j" --build-arg TARGETARCH=amd64 \
    --build-arg VERSION="$(git describe --tags --always --dirty 2>/dev/null || echo dev)" \
    --build-arg REVISION="$(git rev-parse HEAD 2>/dev/null || echo unknown)" \
    -t "$image" "$ctx" >/dev/null

  # Image config.
  user="$("${B[@]}" inspect --type image --format '{{.OCIv1.Config.User}}' "$image")"
  entry="$("${B[@]}" inspect --type image --format '{{.OCIv1.Config.Entrypoint}}' "$image")"
  title="$("${B[@]}" inspect --type image --format '{{index .OCIv1.Config.Labels "org.opencontainers.image.title"}}' "$image")"
  [ "$user" = "65532:65532" ] || fail "$j: image user is '$user', expected 65532:65532"
  # One runtime stage for every image: the binary is always /usr/local/bin/job.
  [ "$entry" = "[/usr/local/bin/job]" ] || fail "$j: entrypoint is $entry"
  [ "$title" = "$j" ] || fail "$j: label org.opencontainers.image.title is '$title'"
  # The allocator setting the memory figures were measured with (Dockerfile, scripts/bench.py).
  env="$("${B[@]}" inspect --type image --format '{{.OCIv1.Config.Env}}' "$image")"
  env="${env#[}"
  [[ " ${env%]} " == *" GLIBC_TUNABLES=glibc.malloc.mmap_threshold=131072 "* ]] ||
    fail "$j: image env lacks the fixed mmap threshold: $env"

  # Contents: exactly the binary and the CA bundle.
  ctr="$("${B[@]}" from --quiet "$image")"
  root="$("${B[@]}" mount "$ctr")"
  files="$(cd "$root" && find . -type f -o -type l | sort | tr '\n' ' ')"
  unpacked="$(du -sb "$root" | cut -f1)"
  "${B[@]}" umount "$ctr" >/dev/null
  [ "$files" = "./etc/ssl/certs/ca-certificates.crt ./usr/local/bin/job " ] ||
    fail "$j: unexpected files in the image: $files"
  certs="$(grep -c 'BEGIN CERTIFICATE' "$ctx/out/ca-certificates.crt")"
  [ "$certs" -ge 50 ] || fail "$j: CA bundle holds only $certs certificates"
  if "${B[@]}" run --isolation chroot "$ctr" -- /bin/sh -c true >/dev/null 2>&1; then
    fail "$j: /bin/sh runs in the image"
  fi

  # The ENTRYPOINT, as Kubernetes would start it (with the pod's arguments appended).
  ep="/usr/local/bin/job"
  run "$ctr" -- "$ep" --help >"$work/$j.help" 2>&1 || fail "$j --help failed: $(cat "$work/$j.help")"
  grep -q "Usage: $j" "$work/$j.help" || fail "$j --help does not print its usage"
  if [ "$(scripts/registry.py get "$j" role)" = job ]; then
    run "$ctr" -- "$ep" --print-contract >"$work/$j.contract" 2>/dev/null ||
      fail "$j --print-contract failed"
    python3 -c 'import json,sys; c=json.load(open(sys.argv[1])); assert c["job"]==sys.argv[2], c["job"]' \
      "$work/$j.contract" "$j" || fail "$j --print-contract does not name the job"
  fi

  IFS='|' read -r gen sample_date suffix table <<<"$(sample_args "$j")"
  if [ -n "$gen" ]; then
    # A day of sample data, loaded into a lake on a mounted directory.
    in="$work/in-$j"
    lake="$work/lake-$j"
    mkdir -p "$lake"
    chmod 0777 "$lake"
    # shellcheck disable=SC2086 # $gen is a word list
    summary="$("$bindir/sample-data" $gen --date "$sample_date" --out "$in" | tail -n 1)"
    source="$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["source"])' "$summary")$suffix"
    rows="$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["rows"])' "$summary")"
    run -v "$in:/in:ro" -v "$lake:/lake" "$ctr" -- "$ep" \
      --date "$DATE" --source "/in${source#"$in"}" --table "$table" --lake /lake \
      --log-format json >"$work/$j.run" 2>"$work/$j.log" ||
      fail "$j on sample data failed: $(tail -n 5 "$work/$j.log")"
    [ -s "$work/$j.run" ] ||
      fail "$j on sample data printed no run summary on stdout; its log ends: $(tail -n 5 "$work/$j.log")"
    loaded="$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).read().splitlines()[-1])["rows_loaded"])' "$work/$j.run")"
    [ "$loaded" -gt 0 ] || fail "$j loaded no rows from $rows sample rows"
    part="$lake/${table%%.*}/${table#*.}/dt=$DATE"
    [ -n "$(find "$part" -name '*.parquet' -user 65532 2>/dev/null)" ] ||
      fail "$j: no Parquet file owned by uid 65532 under $part"

    # HTTPS: trusted through SSL_CERT_FILE -> the handshake works and S3 answers 404 (exit 2).
    s3=(--date "$DATE" --source s3://ingest-check/prefix --table "$table" --lake /tmp --dry-run
      --s3-endpoint "https://localhost:$tls_port" --s3-force-path-style --log-format json)
    aws=(--env AWS_ACCESS_KEY_ID=check --env AWS_SECRET_ACCESS_KEY=check --env AWS_REGION=us-east-1
      --env AWS_EC2_METADATA_DISABLED=true)
    run_tls "$work/$j.tls" --env SSL_CERT_FILE=/tls/ca.pem -v "$tls/ca.pem:/tls/ca.pem:ro"
    { [ "$rc" = 2 ] && grep -q 'NotFound\|NoSuchBucket' "$work/$j.tls"; } ||
      fail "$j: HTTPS with a trusted CA: exit $rc, expected 2 (S3 404); its output ends: $(tail -n 5 "$work/$j.tls")"
    # ... and the image's own bundle rejects the throwaway CA.
    run_tls "$work/$j.tls2"
    { [ "$rc" = 4 ] && grep -q 'UnknownIssuer' "$work/$j.tls2"; } ||
      fail "$j: HTTPS with an untrusted CA: exit $rc, expected 4 (UnknownIssuer); its output ends: $(tail -n 5 "$work/$j.tls2")"
    ran="help, contract, $loaded rows of sample data as uid 65532, TLS"
  else
    ran="help"
  fi

  # Sizes: unpacked (the files) and pushed (gzip layers + config + manifest, what a pull moves).
  "${B[@]}" push --quiet --format oci "$image" "oci:$work/oci-$j:check" >/dev/null
  pushed="$(du -sb "$work/oci-$j/blobs" | cut -f1)"
  [ "$unpacked" -le $((MAX_MB * 1000000)) ] ||
    fail "$j: image is $unpacked bytes unpacked, over the ${MAX_MB} MB limit"
  sizes+=("$(python3 -c 'import sys; u,p=int(sys.argv[2]),int(sys.argv[3]); print(f"{sys.argv[1]:<17} {u/1e6:6.1f} MB unpacked {p/1e6:6.1f} MB compressed   {sys.argv[4]}")' \
    "$j" "$unpacked" "$pushed" "($ran; $((SECONDS - t0)) s)")")
done

# --- arm64 ---------------------------------------------------------------------------------------
# The same binaries cross-built for aarch64 (static glibc, like amd64), each checked as an arm64
# ELF without dynamic dependencies and run under qemu-user; its image built from the same
# Dockerfile stages for linux/arm64; both images joined in a manifest list, which must name both
# platforms. (The images' own `buildah run` checks above are amd64-only: this machine cannot
# start an arm64 container.)
if [ "${INGEST_IMAGE_ARM64:-1}" = 1 ]; then
  ARM=aarch64-unknown-linux-gnu
  if ! command -v aarch64-linux-gnu-gcc >/dev/null || ! command -v qemu-aarch64-static >/dev/null; then
    fail "the arm64 toolchain is missing: run scripts/install-tools.sh (or INGEST_IMAGE_ARM64=0)"
  fi
  t0=$SECONDS
  CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc \
    CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar \
    RUSTFLAGS="-C target-feature=+crt-static" \
    cargo build --locked --quiet --profile "$PROFILE" --target "$ARM" "${bin_args[@]}"
  armdir="$CARGO_TARGET_DIR/$ARM/$profile_dir"
  note "arm64 static binaries built in $((SECONDS - t0)) s ($armdir)"
  for j in "${jobs[@]}"; do
    bin="$armdir/$j"
    readelf -h "$bin" | grep -q 'Machine: *AArch64' || fail "$j (arm64): not an AArch64 binary"
    readelf -d "$bin" | grep -q '(NEEDED)' && fail "$j (arm64) is dynamically linked"
    file "$bin" | grep -q 'ARM aarch64.*statically linked' || fail "$j (arm64): file says $(file -b "$bin")"
    qemu-aarch64-static "$bin" --help >"$work/$j.arm.help" 2>&1 ||
      fail "$j (arm64) --help under qemu failed: $(tail -n 3 "$work/$j.arm.help")"
    grep -q "Usage: $j" "$work/$j.arm.help" || fail "$j (arm64) --help does not print its usage"
    if [ "$(scripts/registry.py get "$j" role)" = job ]; then
      qemu-aarch64-static "$bin" --print-contract >"$work/$j.arm.contract" ||
        fail "$j (arm64) --print-contract under qemu failed"
      cmp -s "$work/$j.arm.contract" "$work/$j.contract" ||
        fail "$j (arm64) prints a different contract than amd64"
    fi
    ctx="$work/ctx-arm64-$j"
    mkdir -p "$ctx/out"
    install -m 0555 "$bin" "$ctx/out/$j"
    install -m 0444 /etc/ssl/certs/ca-certificates.crt "$ctx/out/ca-certificates.crt"
    "${B[@]}" bud --quiet --isolation chroot --platform linux/arm64 -f "$repo/Dockerfile" \
      --build-arg BIN_STAGE=prebuilt --build-arg JOB="$j" --build-arg TARGETARCH=arm64 \
      -t "localhost/ingest-tasks/$j:check-arm64" "$ctx" >/dev/null
    arch="$("${B[@]}" inspect --type image --format '{{.OCIv1.Architecture}}' "localhost/ingest-tasks/$j:check-arm64")"
    [ "$arch" = arm64 ] || fail "$j: the arm64 image says architecture '$arch'"
    list="localhost/ingest-tasks/$j:check-multi"
    "${B[@]}" manifest create "$list" >/dev/null
    "${B[@]}" manifest add "$list" "localhost/ingest-tasks/$j:check" >/dev/null
    "${B[@]}" manifest add "$list" "localhost/ingest-tasks/$j:check-arm64" >/dev/null
    platforms="$("${B[@]}" manifest inspect "$list" |
      python3 -c 'import json,sys; print(" ".join(sorted(m["platform"]["architecture"] for m in json.load(sys.stdin)["manifests"])))')"
    [ "$platforms" = "amd64 arm64" ] || fail "$j: the manifest list holds '$platforms'"
    arm_sizes+=("$(printf '%-17s %6.1f MB binary, manifest list: %s' "$j" "$(python3 -c "print($(stat -c %s "$bin")/1e6)")" "$platforms")")
  done
fi

printf '\nimage sizes (limit %s MB unpacked):\n' "$MAX_MB"
printf '  %s\n' "${sizes[@]}"
if [ "${#arm_sizes[@]}" -gt 0 ]; then
  printf 'arm64 (qemu-user: --help and --print-contract):\n'
  printf '  %s\n' "${arm_sizes[@]}"
fi
note "OK: ${#jobs[@]} image(s), amd64$([ "${#arm_sizes[@]}" -eq 0 ] || echo ' and arm64')"
