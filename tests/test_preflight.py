"""The preflight binary end to end, on real local parts: S3 listing against moto's server on
127.0.0.1 (IAM-enforced for the denied case), secrets from moto's Secrets Manager, and the local
webhook receiver for the "deploy check" post.

No Kubernetes API server can run on this machine, so these runs pass `--skip-kubernetes` (the
Secret checks and `--sync` are tested in Rust against kube's mock service,
tasks/preflight/tests/kube_mock.rs, and against a real kind cluster in the preflight-kind
workflow). One test checks that without any cluster configuration preflight fails clearly.
"""

from __future__ import annotations

import json
import uuid

from tests.conftest import s3_env
from tests.harness import SENTINEL_AWS_SECRET, SENTINEL_WEBHOOK_TOKEN, run_job
from tests.test_secrets_manager import aws_client, iam_enforced, pod_user
from tests.test_snowflake import SENTINEL_PASSWORD
from tests.test_snowflake import snowflake as snowflake  # noqa: F401 (fixture)


def preflight(*args: str, env: dict[str, str] | None = None):
    base = {"KUBECONFIG": "/nonexistent/kubeconfig", "INGEST_TERMINATION_LOG": "/nonexistent/x"}
    return run_job("preflight", *args, env={**base, **(env or {})})


def result_doc(result) -> dict:
    for line in reversed(result.stdout.splitlines()):
        if line.startswith("{"):
            doc = json.loads(line)
            if doc.get("event") == "preflight":
                return doc
    raise AssertionError(f"no preflight JSON line:\n{result.stdout}\n{result.stderr}")


def checks(result, check: str) -> list[dict]:
    return [c for c in result_doc(result)["checks"] if c["check"] == check]


def assert_clean(result):
    out = result.stdout + result.stderr
    assert SENTINEL_WEBHOOK_TOKEN not in out
    assert SENTINEL_AWS_SECRET not in out


def test_sources_listable_empty_and_missing(s3, moto_endpoint):
    client, bucket = s3
    endpoint, _ = moto_endpoint
    client.put_object(Bucket=bucket, Key="AWSLogs/1/us/2026/11/20/a.log.gz", Body=b"x")
    env = {
        **s3_env(endpoint),
        "INGEST_JOBS": "push-logs,telemetry,license-exports",
        "INGEST_SOURCE_PUSH_LOGS_US": f"s3://{bucket}/AWSLogs/1/us",
        "INGEST_SOURCE_PUSH_LOGS_EU": f"s3://{bucket}/AWSLogs/1/eu",
        "INGEST_SOURCE_TELEMETRY": f"s3://no-such-bucket-{uuid.uuid4().hex[:8]}/cf",
    }
    result = preflight("--skip-kubernetes", env=env)
    assert result.code == 2, result.stdout + result.stderr
    rows = {(c["jobs"], c["status"]) for c in checks(result, "s3-list")}
    assert rows == {
        ("push-logs (us)", "ok"),
        ("push-logs (eu)", "warn"),
        ("telemetry", "fail"),
        ("license-exports", "fail"),
    }
    by_job = {c["jobs"]: c for c in checks(result, "s3-list")}
    assert "NoSuchBucket" in by_job["telemetry"]["detail"]
    assert "no source configured" in by_job["license-exports"]["detail"]
    assert by_job["license-exports"]["target"] == "INGEST_SOURCE_LICENSE_EXPORTS*"
    # The table names every check; the verdict counts them.
    assert "push-logs (eu)" in result.stdout and "WARN" in result.stdout
    assert "preflight FAILED (exit 2): 2 missing or denied" in result.stdout
    assert checks(result, "secret-key")[0]["status"] == "skipped"
    assert_clean(result)


def test_denied_listing_names_the_permission(s3, moto_endpoint):
    client, bucket = s3
    endpoint, _ = moto_endpoint
    client.put_object(Bucket=bucket, Key="p/2026/11/20/a", Body=b"x")
    creds = pod_user(endpoint, ["secretsmanager:GetSecretValue"])
    env = {**s3_env(endpoint), **creds, "INGEST_JOBS": "server-pingbacks",
           "INGEST_SOURCE_SERVER_PINGBACKS": f"s3://{bucket}/p"}
    with iam_enforced(endpoint):
        result = preflight("--skip-kubernetes", env=env)
    assert result.code == 2, result.stdout + result.stderr
    [row] = checks(result, "s3-list")
    assert row["status"] == "fail"
    assert "AccessDenied" in row["detail"] and "s3:ListBucket" in row["detail"]

    # Listing alone is not enough: the jobs read the objects too.
    list_only = pod_user(endpoint, ["s3:ListBucket"])
    with iam_enforced(endpoint):
        result = preflight("--skip-kubernetes", env={**env, **list_only})
    assert result.code == 2, result.stdout + result.stderr
    assert [r["status"] for r in checks(result, "s3-list")] == ["ok"]
    [read] = checks(result, "s3-read")
    assert read["status"] == "fail"
    assert "GetObject of p/2026/11/20/a" in read["detail"]
    assert "AccessDenied" in read["detail"] and "s3:GetObject" in read["detail"]

    allowed = pod_user(endpoint, ["s3:ListBucket", "s3:GetObject"])
    with iam_enforced(endpoint):
        ok = preflight("--skip-kubernetes", env={**env, **allowed})
    assert ok.code == 0, ok.stdout + ok.stderr
    assert [r["status"] for r in checks(ok, "s3-read")] == ["ok"]


def test_the_lake_is_listed_written_and_the_probe_deleted(s3, moto_endpoint):
    client, bucket = s3
    endpoint, _ = moto_endpoint
    client.put_object(Bucket=bucket, Key="lic/2026-11-20.csv", Body=b"x")
    env = {
        **s3_env(endpoint),
        "INGEST_JOBS": "license-exports",
        "INGEST_SOURCE_LICENSE_EXPORTS": f"s3://{bucket}/lic",
        "INGEST_LAKE": f"s3://{bucket}/lake",
    }
    result = preflight("--skip-kubernetes", env=env)
    assert result.code == 0, result.stdout + result.stderr
    [row] = checks(result, "lake-write")
    assert row["status"] == "ok", row
    assert row["target"] == f"s3://{bucket}/lake"
    assert "written and deleted" in row["detail"]
    # Nothing is left in the lake.
    listed = client.list_objects_v2(Bucket=bucket, Prefix="lake/")
    assert listed.get("KeyCount", 0) == 0, listed.get("Contents")

    # A role that may list and write but not delete: the probe stays, and the row says so.
    no_delete = pod_user(endpoint, ["s3:ListBucket", "s3:GetObject", "s3:PutObject"])
    with iam_enforced(endpoint):
        denied = preflight("--skip-kubernetes", env={**env, **no_delete})
    assert denied.code == 2, denied.stdout + denied.stderr
    [row] = checks(denied, "lake-write")
    assert row["status"] == "fail"
    assert "s3:DeleteObject" in row["detail"] and "the probe object is left behind" in row["detail"]
    assert "/_preflight/probe-" in row["detail"]

    read_only = pod_user(endpoint, ["s3:ListBucket", "s3:GetObject"])
    with iam_enforced(endpoint):
        denied = preflight("--skip-kubernetes", env={**env, **read_only})
    [row] = checks(denied, "lake-write")
    assert row["status"] == "fail"
    assert "s3:PutObject" in row["detail"], row


def test_all_present_posts_the_deploy_check_with_the_webhook_from_secrets_manager(
    s3, moto_endpoint, webhook
):
    client, bucket = s3
    endpoint, _ = moto_endpoint
    client.put_object(Bucket=bucket, Key="lic/2026-11-20.csv", Body=b"x")
    sm = aws_client("secretsmanager", endpoint)
    secret = f"ingest/{uuid.uuid4().hex[:8]}"
    sm.create_secret(Name=secret, SecretString=json.dumps({"url": webhook.url}))
    env = {
        **s3_env(endpoint),
        "AWS_ENDPOINT_URL_SECRETS_MANAGER": endpoint,
        "INGEST_JOBS": "license-exports",
        "INGEST_SOURCE_LICENSE_EXPORTS": f"s3://{bucket}/lic",
        "INGEST_PREFLIGHT_WEBHOOK_CHECK": "true",
        "MATTERMOST_WEBHOOK_URL_SECRET_ID": secret,
        "MATTERMOST_WEBHOOK_URL_SECRET_KEY": "url",
        "MATTERMOST_CHANNEL": "deploys",
    }
    result = preflight("--skip-kubernetes", env=env)
    assert result.code == 0, result.stdout + result.stderr
    doc = result_doc(result)
    assert doc["ok"] is True
    assert [c["status"] for c in checks(result, "aws-secret")] == ["ok"]
    assert checks(result, "aws-secret")[0]["target"] == f"{secret}#url"
    assert [c["status"] for c in checks(result, "webhook")] == ["ok"]
    assert len(webhook.posts) == 1
    post = webhook.posts[0]
    assert post["channel"] == "deploys"
    assert "Deploy check" in post["text"] and "preflight passed" in post["text"]
    assert "preflight passed: " in result.stdout
    assert_clean(result)


def test_webhook_down_is_unavailable_not_missing(moto_endpoint, webhook):
    endpoint, _ = moto_endpoint
    webhook.statuses.extend([503] * 5)
    env = {**s3_env(endpoint), "MATTERMOST_WEBHOOK_URL": webhook.url}
    result = preflight("--skip-kubernetes", "--skip-s3", "--check-webhook", env=env)
    assert result.code == 4, result.stdout + result.stderr
    [row] = checks(result, "webhook")
    assert row["status"] == "unavailable"
    assert "HTTP 503 (after 3 attempts)" in row["detail"]
    assert_clean(result)


def test_chart_env_false_turns_the_webhook_check_off(moto_endpoint):
    endpoint, _ = moto_endpoint
    env = {**s3_env(endpoint), "INGEST_PREFLIGHT_WEBHOOK_CHECK": "false"}
    result = preflight("--skip-kubernetes", "--skip-s3", env=env)
    assert result.code == 0, result.stdout + result.stderr
    assert checks(result, "webhook") == []


def test_secrets_manager_errors_fail_preflight(moto_endpoint):
    endpoint, _ = moto_endpoint
    env = {**s3_env(endpoint), "AWS_ENDPOINT_URL_SECRETS_MANAGER": endpoint,
           "MATTERMOST_WEBHOOK_URL_SECRET_ID": "ingest/does-not-exist"}
    result = preflight("--skip-kubernetes", "--skip-s3", env=env)
    assert result.code == 2
    [row] = checks(result, "aws-secret")
    assert row["status"] == "fail"
    assert "ingest/does-not-exist does not exist" in row["detail"]


def test_without_a_cluster_the_secret_check_fails_clearly(moto_endpoint):
    endpoint, _ = moto_endpoint
    result = preflight("--skip-s3", env=s3_env(endpoint))
    assert result.code == 2
    [row] = checks(result, "secret-key")
    assert row["status"] == "fail"
    assert "no Kubernetes client configuration" in row["detail"]


def test_usage_errors_exit_2():
    sync_without_cluster = preflight("--skip-kubernetes", "--sync", "k=ingest/x")
    assert sync_without_cluster.code == 2
    assert "cannot be combined with --skip-kubernetes" in sync_without_cluster.stderr
    bad_key = preflight("--sync", "bad key=ingest/x")
    assert bad_key.code == 2 and "not a valid Secret key" in bad_key.stderr
    bad_required = preflight("--required-keys", "a b")
    assert bad_required.code == 2 and "not a valid Secret key" in bad_required.stderr


def test_warehouse_check_needs_its_url(moto_endpoint):
    endpoint, _ = moto_endpoint
    result = preflight("--skip-kubernetes", "--skip-s3", "--check-warehouse", env=s3_env(endpoint))
    assert result.code == 2
    [row] = checks(result, "warehouse")
    assert "needs the warehouse URL" in row["detail"]


def test_help_documents_the_checks_env_and_exit_codes():
    result = preflight("--help")
    assert result.code == 0
    for text in ("INGEST_NAMESPACE", "INGEST_SECRET_NAME", "INGEST_REQUIRED_SECRET_KEYS",
                 "INGEST_JOBS", "INGEST_PREFLIGHT_SYNC", "--skip-kubernetes", "--skip-s3",
                 "INGEST_PREFLIGHT_WEBHOOK_CHECK", "INGEST_PREFLIGHT_WAREHOUSE_CHECK",
                 "secret-key", "s3-list", "Exit codes", "docs/preflight.md"):
        assert text in result.stdout, text


def test_warehouse_check_logs_in_with_the_password_from_secrets_manager(
    snowflake, moto_endpoint
):
    """fakesnow's server (tests/test_snowflake.py) behind its recording proxy: preflight logs in
    with SNOWFLAKE_PASSWORD read from Secrets Manager and runs SELECT 1; a refused login FAILs."""
    endpoint, _ = moto_endpoint
    _, proxy, env = snowflake
    secret = f"ingest/{uuid.uuid4().hex[:8]}"
    aws_client("secretsmanager", endpoint).create_secret(
        Name=secret, SecretString=json.dumps({"password": SENTINEL_PASSWORD})
    )
    env = {k: v for k, v in env.items() if k != "SNOWFLAKE_PASSWORD"}
    env.update({
        "AWS_ENDPOINT_URL_SECRETS_MANAGER": endpoint,
        "SNOWFLAKE_PASSWORD_SECRET_ID": secret,
        "SNOWFLAKE_PASSWORD_SECRET_KEY": "password",
        "INGEST_PREFLIGHT_WAREHOUSE_CHECK": "true",
    })
    result = preflight("--skip-kubernetes", "--skip-s3", env=env)
    assert result.code == 0, result.stdout + result.stderr
    [row] = checks(result, "warehouse")
    assert row["status"] == "ok" and row["detail"] == "logged in and ran SELECT 1"
    assert proxy.logins[-1]["data"]["PASSWORD"] == SENTINEL_PASSWORD
    assert "SELECT 1" in proxy.statements
    assert SENTINEL_PASSWORD not in result.stdout + result.stderr

    proxy.reject_login = True
    refused = preflight("--skip-kubernetes", "--skip-s3", env=env)
    assert refused.code == 2
    [row] = checks(refused, "warehouse")
    assert row["status"] == "fail" and "rejected the login" in row["detail"]
    assert SENTINEL_PASSWORD not in refused.stdout + refused.stderr
