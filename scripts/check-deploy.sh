#!/usr/bin/env bash
# Checks the deployment files with the real tools (installed by scripts/install-tools.sh):
#   - the chart: helm lint --strict, helm template with the default values and with a values file
#     that switches every toggle on (ci/all-toggles-values.yaml), the rendered manifests validated
#     with kubernetes-validate --strict against the oldest and newest Kubernetes the chart
#     supports; values.schema.json must reject an unknown key, a floating tag and a bad source;
#   - the Dockerfile: hadolint;
#   - the GitHub workflows: actionlint (which runs shellcheck on their `run:` scripts), and
#     every `uses:` pinned to a full commit SHA;
#   - the shell scripts: shellcheck scripts/*.sh .ci/run;
#   - YAML: yamllint on .github/, the chart's values files and its examples.
# Runs every check, then exits non-zero if any failed, naming them.
set -euo pipefail
cd "$(dirname "$0")/.."

TOOLS="${INGEST_TOOLS:-$HOME/.cache/ingest-tasks/tools}"
PATH="$TOOLS/bin:$TOOLS/venv/bin:$PATH"
CHART=helm/ingest-tasks
# Oldest (Chart.yaml kubeVersion is >=1.27; kubernetes-validate ships schemas from 1.29) and newest.
KUBE_VERSIONS=(1.29.0 1.37.0)

for tool in helm kubernetes-validate hadolint actionlint shellcheck yamllint; do
  command -v "$tool" >/dev/null || { echo "check-deploy: $tool not found: run scripts/install-tools.sh" >&2; exit 1; }
done

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
failed=()
check() { # name command...: runs it, records a failure, prints its output only when it fails
  local name="$1"
  shift
  local t0=$SECONDS
  if "$@" >"$work/out" 2>&1; then
    printf 'ok    %-58s %3ss\n' "$name" "$((SECONDS - t0))"
  else
    printf 'FAIL  %s\n' "$name"
    sed 's/^/      /' "$work/out"
    failed+=("$name")
  fi
}
must_fail() { # name pattern command...: the command must fail with output matching pattern
  local name="$1" pattern="$2"
  shift 2
  if "$@" >"$work/out" 2>&1; then
    printf 'FAIL  %s (was accepted)\n' "$name"
    failed+=("$name")
  elif ! grep -qE "$pattern" "$work/out"; then
    printf 'FAIL  %s (failed, but not with /%s/)\n' "$name" "$pattern"
    sed 's/^/      /' "$work/out"
    failed+=("$name")
  else
    printf 'ok    %s\n' "$name"
  fi
}

# --- chart ---------------------------------------------------------------------------------------
render() { # values-file-or-empty output
  local args=()
  [ -z "$1" ] || args=(-f "$1")
  helm template ingest-tasks "$CHART" --namespace airflow "${args[@]}" >"$2"
}
for vf in "" "$CHART/ci/all-toggles-values.yaml"; do
  label="${vf:+$(basename "$vf" .yaml)}"
  label="${label:-default values}"
  args=()
  [ -z "$vf" ] || args=(-f "$vf")
  check "helm lint --strict ($label)" helm lint --strict "$CHART" "${args[@]}"
  out="$work/rendered-${label// /-}.yaml"
  check "helm template ($label)" render "$vf" "$out"
  for kv in "${KUBE_VERSIONS[@]}"; do
    check "kubernetes-validate --strict -k $kv ($label)" \
      kubernetes-validate --strict --quiet --kubernetes-version "$kv" "$out"
  done
done

# The toggles really render what they promise.
all="$work/rendered-all-toggles-values.yaml"
for kind in ConfigMap Secret ServiceAccount Role RoleBinding NetworkPolicy Job Pod CronJob; do
  check "all toggles render a $kind" grep -q "^kind: $kind\$" "$all"
done
hook_runs_preflight() {
  grep -A3 '^kind: Job' "$all" | grep -q 'name: ingest-tasks-preflight' &&
    grep -q 'helm.sh/hook: pre-install,pre-upgrade$' "$all" &&
    grep -q 'image: "registry.example.test/data/ingest/preflight:0.4.1"' "$all"
}
check "pre-install/pre-upgrade hook Job runs the preflight image" hook_runs_preflight
watchdog_cronjob() { # the watchdog: preflight --check-freshness, hourly by default, one at a time,
  # the jobs' ServiceAccount and webhook, the job pods' securityContext; only with a lake
  "$TOOLS/venv/bin/python" - "$all" "$work/rendered-default-values.yaml" <<'PY' || return 1
import sys, yaml
(cron,) = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d and d["kind"] == "CronJob"]
assert cron["metadata"]["name"] == "ingest-tasks-watchdog", cron["metadata"]
spec = cron["spec"]
assert spec["concurrencyPolicy"] == "Forbid" and spec["timeZone"] == "Etc/UTC", spec
assert spec["schedule"] == "5,35 * * * *", spec["schedule"]
job = spec["jobTemplate"]["spec"]
assert job["backoffLimit"] == 0 and job["activeDeadlineSeconds"] == 600, job
pod = job["template"]["spec"]
assert pod["serviceAccountName"] == "ingest-tasks" and pod["restartPolicy"] == "Never", pod
(c,) = pod["containers"]
assert c["image"] == "registry.example.test/data/ingest/preflight:0.4.1", c["image"]
assert c["args"] == ["--check-freshness"], c["args"]
sc = c["securityContext"]
assert sc["readOnlyRootFilesystem"] and sc["runAsNonRoot"] and not sc["allowPrivilegeEscalation"], sc
env = {e["name"]: e for e in c["env"]}
ref = env["MATTERMOST_WEBHOOK_URL"]["valueFrom"]["secretKeyRef"]
assert ref == {"name": "ingest-env", "key": "mattermost-webhook-url"}, ref
for name, value in {"INGEST_LAKE": "s3://acme-lake/ingest", "INGEST_WATCHDOG_LOOKBACK_DAYS": "7",
                    "INGEST_WATCHDOG_DUE_AFTER_HOURS": "12", "INGEST_WATCHDOG_START_DATE": "2026-11-01",
                    "INGEST_PUSH_LOGS_DEPLOYMENTS": "us,test,eu", "INGEST_LOG_FORMAT": "json"}.items():
    assert env[name]["value"] == value, (name, env.get(name))
default = [d for d in yaml.safe_load_all(open(sys.argv[2])) if d and d["kind"] == "CronJob"]
assert default == [], "the watchdog renders without a lake"
PY
  local schedule
  schedule="$(helm template x "$CHART" --set lake=s3://acme-lake/x | sed -n 's/^  schedule: //p')"
  [ "$schedule" = '"15 * * * *"' ] || { echo "the default schedule is not hourly: $schedule"; return 1; }
  ! helm template x "$CHART" --set lake=s3://acme-lake/x --set watchdog.enabled=false | grep -q '^kind: CronJob' ||
    { echo "watchdog.enabled=false still renders the CronJob"; return 1; }
}
check "watchdog CronJob runs preflight --check-freshness (only with a lake)" watchdog_cronjob
dag_settings() { # the names docs/dags.md lists under "Deploy-time configuration"
  local k
  for k in INGEST_IMAGE_REGISTRY INGEST_IMAGE_TAG INGEST_LAKE INGEST_NAMESPACE INGEST_SERVICE_ACCOUNT \
    INGEST_SECRET_NAME INGEST_ALERT_CHANNEL INGEST_ALERT_USERNAME INGEST_ALERT_CONN_ID; do
    grep -q "^  $k: " "$all" || { echo "ConfigMap lacks $k"; return 1; }
  done
  # Every job of the registry: its image, and its source settings when its values give the
  # registry's example sources.
  local job_settings
  job_settings="$(scripts/registry.py json | python3 -c '
import json, sys
jobs = json.load(sys.stdin)["jobs"]
values = {"jobs": {}}
for name, job in jobs.items():
    src, key = job["source"], name.upper().replace("-", "_")
    print(f"INGEST_IMAGE_{key}")
    if "deployments" in src:
        values["jobs"][name] = {"sourcesByDeployment": dict(zip(src["deployments"], src["examples"]))}
        print(f"INGEST_{key}_DEPLOYMENTS")
        print(*(src["setting"] + "_" + d.upper() for d in src["deployments"]))
    else:
        values["jobs"][name] = {"sources": src["examples"]}
        print(src["setting"])
json.dump(values, open(sys.argv[1], "w"))
' "$work/example-sources.json")" || return 1
  local with_sources
  with_sources="$(helm template x "$CHART" -f "$CHART/ci/all-toggles-values.yaml" -f "$work/example-sources.json")"
  for k in $job_settings; do
    grep -q "^  $k: " <<<"$with_sources" || { echo "ConfigMap lacks $k"; return 1; }
  done
  grep -q '^  INGEST_PUSH_LOGS_DEPLOYMENTS: "us,test,eu"$' "$all" ||
    { echo "INGEST_PUSH_LOGS_DEPLOYMENTS is not the default us,test,eu"; return 1; }
  # A new deployment is a chart value: its task list and its source setting.
  local added
  added="$(helm template x "$CHART" -f "$CHART/ci/all-toggles-values.yaml" \
    --set 'jobs.push-logs.deployments={us,apac}' \
    --set jobs.push-logs.sourcesByDeployment.apac=s3://acme-alb-apac/AWSLogs/1/elasticloadbalancing/ap-southeast-1)"
  grep -q '^  INGEST_PUSH_LOGS_DEPLOYMENTS: "us,apac"$' <<<"$added" ||
    { echo "jobs.push-logs.deployments does not render the deployment list"; return 1; }
  grep -q '^  INGEST_SOURCE_PUSH_LOGS_APAC: "s3://acme-alb-apac/' <<<"$added" ||
    { echo "a new deployment's source is not rendered"; return 1; }
  # A disabled job is not published.
  ! helm template x "$CHART" -f "$CHART/ci/all-toggles-values.yaml" \
    --set jobs.license-exports.enabled=false | grep -q 'LICENSE_EXPORTS' ||
    { echo "a disabled job is still published"; return 1; }
  # Every INGEST_* setting the DAG guide documents is one the chart renders (the webhook URL
  # is a secret of Airflow's workers, mapped from the Secret: examples/airflow-values.yaml).
  if [ -f docs/dags.md ]; then # the rows of its settings table: | `INGEST_...` | ...
    local missing
    missing="$(grep -E '^\| *.INGEST_' docs/dags.md | cut -d'|' -f2 | grep -oE 'INGEST_[A-Z_]+[A-Z]' |
      sort -u | grep -vx 'INGEST_ALERT_WEBHOOK_URL' |
      while read -r k; do
        grep -qE "^  $k: " "$all" "$work/rendered-default-values.yaml" || echo "$k"
      done)"
    [ -z "$missing" ] || { echo "docs/dags.md lists settings the chart does not render: ${missing//$'\n'/ }"; return 1; }
  fi
}
check "ConfigMap holds the DAG settings (docs/dags.md)" dag_settings
no_duplicate_env() { # kubernetes-validate accepts duplicate env names; the API keeps the last one
  "$TOOLS/venv/bin/python" - "$work"/rendered-*.yaml <<'PY'
import sys, yaml
bad = []
for path in sys.argv[1:]:
    for doc in yaml.safe_load_all(open(path)):
        if not doc:
            continue
        spec = doc.get("spec", {})
        if doc["kind"] == "CronJob":
            spec = spec.get("jobTemplate", {}).get("spec", {})
        pod = spec.get("template", {}).get("spec", {}) if doc["kind"] in ("Job", "CronJob") else spec
        for c in pod.get("containers", []) if doc["kind"] in ("Pod", "Job", "CronJob") else []:
            names = [e["name"] for e in c.get("env", [])]
            bad += [f"{doc['kind']}/{doc['metadata']['name']}: {n}" for n in set(names) if names.count(n) > 1]
sys.exit("duplicate env: " + ", ".join(bad) if bad else 0)
PY
}
check "no duplicate env names in the rendered pods" no_duplicate_env
default_tag_is_app_version() {
  local v
  v="$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$CHART/Chart.yaml")"
  helm template x "$CHART" | grep -q "INGEST_IMAGE_TAG: \"$v\"" ||
    { echo "INGEST_IMAGE_TAG is not appVersion $v"; return 1; }
}
check "default image tag is the chart's appVersion" default_tag_is_app_version
must_fail "values.schema.json rejects an unknown key" "additional properties 'replicaCount' not allowed" \
  helm template x "$CHART" --set replicaCount=2
must_fail "values.schema.json rejects a job the registry does not know" "additional properties 'push-log' not allowed" \
  helm template x "$CHART" --set jobs.push-log.enabled=true
must_fail "values.schema.json rejects a key of another job shape" "additional properties 'deployments' not allowed" \
  helm template x "$CHART" --set 'jobs.telemetry.deployments={us}'
must_fail "values.schema.json rejects an unknown nested key" "additional properties 'enabeld' not allowed" \
  helm template x "$CHART" --set preflight.hook.enabeld=true
must_fail "values.schema.json rejects a floating tag" "/image/tag" \
  helm template x "$CHART" --set image.tag=latest
must_fail "values.schema.json rejects a malformed source" "sourcesByDeployment" \
  helm template x "$CHART" --set jobs.push-logs.sourcesByDeployment.us=http://bucket/x
must_fail "values.schema.json rejects a bad deployment name" "deployments" \
  helm template x "$CHART" --set 'jobs.push-logs.deployments={us,US-East}'
must_fail "values.schema.json rejects a local-path lake" "/lake" \
  helm template x "$CHART" --set lake=/data/lake
must_fail "values.schema.json rejects a watchdog lookback of 0 days" "lookbackDays" \
  helm template x "$CHART" --set watchdog.lookbackDays=0
must_fail "values.schema.json rejects a watchdog schedule that is not cron" "schedule" \
  helm template x "$CHART" --set watchdog.schedule=hourly
check "values.schema.json: additionalProperties false on every object" python3 - "$CHART/values.schema.json" <<'PY'
import json, sys
bad = []
def walk(node, path):
    if isinstance(node, dict):
        if node.get("type") == "object" and path != "/properties/global" and node.get("additionalProperties") is not False:
            bad.append(path or "/")
        for k, v in node.items():
            walk(v, f"{path}/{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            walk(v, f"{path}/{i}")
walk(json.load(open(sys.argv[1])), "")
if bad:
    sys.exit("objects without additionalProperties: false: " + ", ".join(bad))
PY

# --- Dockerfile ------------------------------------------------------------------------------------
check "hadolint Dockerfile" hadolint Dockerfile

# --- workflows -----------------------------------------------------------------------------------
check "actionlint (.github/workflows, with shellcheck)" actionlint
pinned() {
  local unpinned
  unpinned="$(grep -rhoE 'uses: *[^ ]+' .github/workflows | sed 's/uses: *//' | grep -v '^\./' |
    grep -vE '@[0-9a-f]{40}$' || true)"
  [ -z "$unpinned" ] || { echo "not pinned by SHA: $unpinned"; return 1; }
}
check "actions pinned to a full commit SHA" pinned

# --- shell ---------------------------------------------------------------------------------------
check "shellcheck scripts/*.sh .ci/run" shellcheck -x scripts/*.sh .ci/run

# --- YAML ----------------------------------------------------------------------------------------
yamllint_config='{extends: default, rules: {line-length: {max: 120}, truthy: {check-keys: false},
  document-start: disable, comments: {min-spaces-from-content: 1}}}'
check "yamllint .github and chart values" \
  yamllint --strict -d "$yamllint_config" .github "$CHART/values.yaml" "$CHART/Chart.yaml" \
  "$CHART/ci" "$CHART/examples"

if [ "${#failed[@]}" -gt 0 ]; then
  printf '\ncheck-deploy: %d check(s) FAILED:\n' "${#failed[@]}" >&2
  printf '  - %s\n' "${failed[@]}" >&2
  exit 1
fi
printf '\ncheck-deploy: all checks passed\n'
