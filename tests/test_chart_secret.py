"""The jobs' Secret and `helm rollback`, with the real helm: by default the chart renders no
Secret, so no release revision holds a secret value and no rollback can put an old webhook or
key back. A chart-managed Secret is opt-in, says what it costs, and survives the migration to
a Secret managed outside helm."""

from __future__ import annotations

import subprocess

import pytest
import yaml

from tests.rehearsal.cluster import CHART, helm_binary

WEBHOOK = "https://mattermost.example.test/hooks/SENTINEL-rollback-0a1b"


def render(*sets: str, ok: bool = True):
    args = [helm_binary(), "template", "ingest-tasks", str(CHART), "--namespace", "airflow"]
    for s in sets:
        args += ["--set", s]
    out = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
    if not ok:
        assert out.returncode != 0, "helm accepted the values"
        return out.stderr
    assert out.returncode == 0, out.stderr
    return out.stdout, [d for d in yaml.safe_load_all(out.stdout) if d]


def kinds(docs, kind):
    return [d for d in docs if d["kind"] == kind]


def settings(docs) -> dict:
    (configmap,) = kinds(docs, "ConfigMap")
    return configmap["data"]


def test_by_default_no_revision_holds_a_secret():
    text, docs = render("lake=s3://acme-lake/ingest")
    assert kinds(docs, "Secret") == []
    # The jobs use the Secret named after the release, created outside helm.
    assert settings(docs)["INGEST_SECRET_NAME"] == "ingest-tasks"
    assert "stringData" not in text


def test_secret_values_without_a_chart_managed_secret_are_refused():
    error = render(f"secret.stringData.mattermost-webhook-url={WEBHOOK}", ok=False)
    assert "secret.stringData is set, but the chart creates no Secret" in error
    assert "secret.create=true" in error
    assert WEBHOOK not in error
    error = render(
        "secret.create=true",
        "secret.existingSecret=ingest-env",
        f"secret.stringData.mattermost-webhook-url={WEBHOOK}",
        ok=False,
    )
    assert "secret.existingSecret is set" in error


def test_a_chart_managed_secret_is_opt_in_kept_and_migrates_without_a_gap():
    text, docs = render("secret.create=true", f"secret.stringData.mattermost-webhook-url={WEBHOOK}")
    (secret,) = kinds(docs, "Secret")
    # What opting in costs: the value is in the manifest, so in every release revision.
    assert secret["stringData"]["mattermost-webhook-url"] == WEBHOOK
    # Kept by helm when the release stops managing it...
    assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    before = settings(docs)["INGEST_SECRET_NAME"]
    # ...so the migration (docs/deploy.md) is an upgrade that names the same Secret as existing:
    # the pods keep their Secret, and from then on no revision holds its values.
    text, docs = render("secret.existingSecret=" + before)
    assert kinds(docs, "Secret") == []
    assert settings(docs)["INGEST_SECRET_NAME"] == before
    assert WEBHOOK not in text


@pytest.mark.parametrize("create", ["true", "false"])
def test_the_hook_checks_the_secret_the_pods_will_use(create):
    sets = ["preflight.hook.enabled=true", f"secret.create={create}"]
    if create == "true":
        sets.append(f"secret.stringData.mattermost-webhook-url={WEBHOOK}")
    _, docs = render(*sets)
    (job,) = [d for d in kinds(docs, "Job") if d["metadata"]["name"] == "ingest-tasks-preflight"]
    (container,) = job["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    if create == "true":
        assert env["INGEST_SECRET_NAME"] == "ingest-tasks-preflight-candidate"
        candidate = [
            d
            for d in kinds(docs, "Secret")
            if d["metadata"]["name"] == "ingest-tasks-preflight-candidate"
        ]
        assert candidate and candidate[0]["stringData"]["mattermost-webhook-url"] == WEBHOOK
    else:
        assert env["INGEST_SECRET_NAME"] == "ingest-tasks"
        assert kinds(docs, "Secret") == []


@pytest.mark.parametrize("setup", ["existing", "chart-managed"])
def test_the_watchdog_reads_the_webhook_from_the_jobs_secret(setup):
    sets = ["lake=s3://acme-lake/ingest"]
    if setup == "existing":
        sets.append("secret.existingSecret=ingest-env")
    else:
        sets += ["secret.create=true", f"secret.stringData.mattermost-webhook-url={WEBHOOK}"]
    text, docs = render(*sets)
    (cron,) = kinds(docs, "CronJob")
    (container,) = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    (var,) = [e for e in container["env"] if e["name"] == "MATTERMOST_WEBHOOK_URL"]
    # The same Secret and key as the job pods (INGEST_SECRET_NAME), never the value itself.
    ref = var["valueFrom"]["secretKeyRef"]
    assert ref == {"name": settings(docs)["INGEST_SECRET_NAME"], "key": "mattermost-webhook-url"}
    assert WEBHOOK not in str(container)
    expected = "ingest-env" if setup == "existing" else "ingest-tasks"
    assert settings(docs)["INGEST_SECRET_NAME"] == expected
