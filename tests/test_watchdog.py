"""The watchdog outside Airflow (`preflight --check-freshness`, docs/preflight.md "The
watchdog"), end to end on real local parts: the lake in moto's S3 server on 127.0.0.1, dates
committed by the real push-logs binary (so the watchdog reads the manifest the lake's own write
path writes), the local Mattermost receiver, and the CronJob rendered by the real helm and
started as the kubelet would (the rehearsal's helpers: env resolved from the rendered chart,
user 65532, read-only root).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from pathlib import Path

import pytest

from tests.conftest import s3_env
from tests.harness import SENTINEL_AWS_SECRET, SENTINEL_WEBHOOK_TOKEN, binary, run_job, sample_data
from tests.rehearsal import cluster

DATE = "2026-11-20"
DUE = "2026-11-21T10:00:00Z"  # D+1 00:00 UTC + 10 h: the default due time
LATER = "2026-11-21T13:30:00Z"
PREFIX = "AWSLogs/123456789012/elasticloadbalancing/us-east-1"
MARKER = f"lake/_watchdog/dt={DATE}.json"


def load(tmp_path: Path, bucket: str, endpoint: str, deployment: str) -> None:
    """Commits DATE of push-logs' `deployment` table with the real job binary."""
    root = tmp_path / f"sample-{deployment}"
    sample_data("alb", "--date", DATE, "--out", str(root), "--files", "1", "--lines", "50")
    result = run_job(
        "push-logs", "--date", DATE, "--source", str(root / PREFIX),
        "--table", f"push_proxy.logs_{deployment}_new", "--lake", f"s3://{bucket}/lake",
        env=s3_env(endpoint),
    )
    assert result.code == 0, result.stderr


def watchdog(bucket: str, endpoint: str, webhook, now: str, *args: str, deployments="us,eu"):
    env = {
        **s3_env(endpoint),
        "INGEST_JOBS": "push-logs",
        "INGEST_PUSH_LOGS_DEPLOYMENTS": deployments,
        "MATTERMOST_WEBHOOK_URL": webhook.url,
        "MATTERMOST_CHANNEL": "ingest-alerts",
    }
    result = run_job(
        "preflight", "--check-freshness", "--lake", f"s3://{bucket}/lake", "--now", now,
        "--lookback-days", "1", *args, env=env,
    )
    out = result.stdout + result.stderr
    assert SENTINEL_WEBHOOK_TOKEN not in out and SENTINEL_AWS_SECRET not in out
    return result, doc_of(result.stdout)


def doc_of(stdout: str) -> dict:
    for line in reversed(stdout.splitlines()):
        if line.startswith("{") and json.loads(line).get("event") == "watchdog":
            return json.loads(line)
    raise AssertionError(f"no watchdog JSON line:\n{stdout}")


def marker(client, bucket: str) -> dict | None:
    try:
        return json.loads(client.get_object(Bucket=bucket, Key=MARKER)["Body"].read())
    except client.exceptions.NoSuchKey:
        return None


def test_a_date_with_every_partition_committed_posts_nothing(tmp_path, s3, moto_endpoint, webhook):
    client, bucket = s3
    endpoint, _ = moto_endpoint
    for deployment in ("us", "eu"):
        load(tmp_path, bucket, endpoint, deployment)
    result, doc = watchdog(bucket, endpoint, webhook, DUE)
    assert result.code == 0, result.stdout + result.stderr
    (date,) = doc["dates"]
    assert date["date"] == DATE and date["alert"] == "not_needed", date
    assert date["loaded"] == ["push_proxy.logs_us_new", "push_proxy.logs_eu_new"]
    assert webhook.raw == [] and marker(client, bucket) is None


def test_a_missing_table_is_posted_once_and_then_never_again(
    tmp_path, s3, moto_endpoint, webhook
):
    client, bucket = s3
    endpoint, _ = moto_endpoint
    load(tmp_path, bucket, endpoint, "us")
    result, doc = watchdog(bucket, endpoint, webhook, LATER)
    # Alerting is the watchdog doing its job: exit 0 (docs/preflight.md, exit codes).
    assert result.code == 0, result.stdout + result.stderr
    (date,) = doc["dates"]
    assert (date["alert"], date["missing"]) == ("sent", ["push_proxy.logs_eu_new"]), date
    (post,) = webhook.posts
    text = post["text"]
    assert f"watchdog: not loaded: {DATE}" in text
    assert "| `ingest_push_logs` | `load_eu` | `push_proxy.logs_eu_new` |" in text
    assert "push_proxy.logs_us_new" not in text
    assert "1 of 2 tables" in text and "due since 2026-11-21 10:00 UTC (3 h 30 min ago)" in text
    for command in (
        "airflow dags list-import-errors -o plain",
        "airflow dags list -o plain",
        "airflow dags unpause ingest_push_logs",
        "airflow jobs check --job-type SchedulerJob",
        f"airflow backfill create --dag-id ingest_push_logs --from-date {DATE} "
        f"--to-date {DATE}T23:59:59 --reprocess-behavior failed",
    ):
        assert command in text, command
    assert post["channel"] == "ingest-alerts" and post["username"] == "ingest-bot"
    assert post["props"]["ingest_alert"]["missing"] == ["push_proxy.logs_eu_new"]
    assert SENTINEL_WEBHOOK_TOKEN not in json.dumps(post)
    record = marker(client, bucket)
    assert record["missing"] == ["push_proxy.logs_eu_new"]
    assert record["alerted_at"] == "2026-11-21T13:30:00Z"

    # The next hourly run finds the marker: no second post.
    again, doc = watchdog(bucket, endpoint, webhook, "2026-11-21T14:30:00Z")
    assert again.code == 0
    assert doc["dates"][0]["alert"] == "already_sent"
    assert len(webhook.raw) == 1
    assert marker(client, bucket) == record  # never overwritten

    # Loaded late (a backfill): nothing to say, the marker stays as the record.
    load(tmp_path, bucket, endpoint, "eu")
    loaded, doc = watchdog(bucket, endpoint, webhook, "2026-11-21T15:30:00Z")
    assert loaded.code == 0 and doc["dates"][0]["alert"] == "not_needed"
    assert len(webhook.raw) == 1


def test_part_files_without_a_manifest_count_as_missing(s3, moto_endpoint, webhook):
    client, bucket = s3
    endpoint, _ = moto_endpoint
    # A run that uploaded its files but never committed (its manifest is the commit).
    client.put_object(
        Bucket=bucket, Key=f"lake/push_proxy/logs_us_new/dt={DATE}/part-00000-x.parquet", Body=b"x"
    )
    result, doc = watchdog(bucket, endpoint, webhook, DUE, deployments="us")
    assert result.code == 0
    assert doc["dates"][0]["missing"] == ["push_proxy.logs_us_new"]
    (post,) = webhook.posts
    assert "push_proxy.logs_us_new" in post["text"]


def test_a_date_not_yet_due_is_not_checked(s3, moto_endpoint, webhook):
    client, bucket = s3
    endpoint, _ = moto_endpoint
    # One second before DATE is due, the newest due date is the day before: not watched here.
    early, doc = watchdog(
        bucket, endpoint, webhook, "2026-11-21T09:59:59Z", "--start-date", DATE
    )
    assert early.code == 0 and doc["dates"] == [], doc
    assert webhook.raw == []
    due, doc = watchdog(bucket, endpoint, webhook, DUE, "--start-date", DATE)
    assert [d["date"] for d in doc["dates"]] == [DATE]
    assert len(webhook.posts) == 1


def test_a_failed_post_writes_no_marker_and_the_next_run_posts(s3, moto_endpoint, webhook):
    client, bucket = s3
    endpoint, _ = moto_endpoint
    webhook.statuses = [503, 503, 503]  # every attempt of the first run
    failed, doc = watchdog(bucket, endpoint, webhook, DUE, deployments="us")
    assert failed.code == 4, failed.stdout + failed.stderr
    assert doc["dates"][0]["alert"] == "failed"
    assert "the next run posts again" in doc["dates"][0]["error"]
    assert webhook.posts == [] and marker(client, bucket) is None
    ok, doc = watchdog(bucket, endpoint, webhook, LATER, deployments="us")
    assert ok.code == 0 and doc["dates"][0]["alert"] == "sent"
    assert len(webhook.posts) == 1 and marker(client, bucket) is not None


def test_a_denied_lake_fails_the_run_and_posts_nothing(moto_endpoint, webhook):
    endpoint, _ = moto_endpoint
    result, doc = watchdog(f"no-such-bucket-{uuid.uuid4().hex[:8]}", endpoint, webhook, DUE)
    assert result.code == 2, result.stdout
    assert doc["dates"][0]["alert"] == "unchecked"
    assert "the bucket does not exist" in doc["dates"][0]["error"], doc
    assert webhook.raw == []


def test_bad_settings_exit_2_naming_them(tmp_path, webhook):
    for args, env, needle in (
        ([], {}, "--check-freshness needs the lake: --lake or INGEST_LAKE"),
        (["--lake", str(tmp_path), "--now", "yesterday"], {}, "--now \"yesterday\""),
        (["--lake", str(tmp_path)], {"INGEST_JOBS": "widgets"}, "\"widgets\" is not a job"),
        (
            ["--lake", str(tmp_path)],
            {"INGEST_PUSH_LOGS_DEPLOYMENTS": "US"},
            "INGEST_PUSH_LOGS_DEPLOYMENTS=\"US\"",
        ),
    ):
        result = run_job("preflight", "--check-freshness", *args, env=env)
        assert result.code == 2, (args, env, result.stdout, result.stderr)
        assert needle in result.stderr, (needle, result.stderr)
        assert doc_of(result.stdout)["exit_code"] == 2
    assert webhook.raw == []


@pytest.fixture()
def pod_bin_dir():
    """The preflight the image ships (the release static build scripts/test.sh hands over in
    INGEST_RELEASE_BIN_DIR; the debug build when run alone), where the pod's user (65532) can
    run it."""
    release = os.environ.get("INGEST_RELEASE_BIN_DIR")
    built = Path(release) / "preflight" if release else binary("preflight")
    path = Path(tempfile.mkdtemp(prefix="watchdog-pod-"))
    path.chmod(0o755)
    shutil.copy2(built, path / "preflight")
    (path / "preflight").chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_the_cronjob_runs_as_rendered_and_its_alert_arrives(
    tmp_path, s3, moto_endpoint, webhook, pod_bin_dir
):
    client, bucket = s3
    endpoint, _ = moto_endpoint
    load(tmp_path, bucket, endpoint, "us")
    values = {
        "image": {"registry": "registry.example.test/ingest", "tag": "0.4.1"},
        "lake": f"s3://{bucket}/lake",
        "jobs": {
            "push-logs": {"deployments": ["us", "eu"]},
            "telemetry": {"enabled": False},
            "server-pingbacks": {"enabled": False},
            "license-exports": {"enabled": False},
        },
        "alerts": {"channel": "ingest-alerts"},
        "secret": {"create": True, "stringData": {"mattermost-webhook-url": webhook.url}},
        # A fixed clock through the chart's own extra-env value; lookback from the values.
        "watchdog": {"lookbackDays": 1, "env": {"INGEST_WATCHDOG_NOW": LATER}},
    }
    manifests = cluster.helm_template(values, pod_bin_dir)
    cron = cluster.find(manifests, "CronJob", "ingest-tasks-watchdog")
    spec = cron["spec"]["jobTemplate"]["spec"]["template"]
    objects = cluster.Objects(*[m for m in manifests if m["kind"] in ("Secret", "ConfigMap")])
    job, command, args, env, sandbox = cluster.start_pod(
        {"metadata": {"name": "ingest-tasks-watchdog-29000000"}, "spec": spec["spec"]},
        objects,
        pod_bin_dir,
        lambda sb: cluster.cluster_env(endpoint, sb),
        "watchdog",
    )
    assert job == "preflight" and args == ["--check-freshness"]
    assert env["MATTERMOST_WEBHOOK_URL"] == webhook.url  # from the Secret, as the jobs get it
    argv = [str(pod_bin_dir / Path(command[0]).name), *command[1:], *args]
    ended = cluster.run_container(
        argv, env, sandbox, policy="File",
        deadline=cron["spec"]["jobTemplate"]["spec"]["activeDeadlineSeconds"],
    )
    assert ended.exit_code == 0, ended.stdout + ended.stderr
    assert sandbox.written_outside_volumes() == []
    for text in (ended.stdout, ended.stderr, ended.termination_message):
        assert SENTINEL_WEBHOOK_TOKEN not in text and SENTINEL_AWS_SECRET not in text
    assert json.loads(ended.termination_message)["event"] == "watchdog"
    (post,) = webhook.posts
    assert post["channel"] == "ingest-alerts"
    assert "| `ingest_push_logs` | `load_eu` | `push_proxy.logs_eu_new` |" in post["text"]
    assert marker(client, bucket)["missing"] == ["push_proxy.logs_eu_new"]
