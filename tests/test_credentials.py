"""Credential failures end to end: push-logs with an `s3://` source on moto's S3 server on
127.0.0.1, for each credential failure this machine can produce. Each is a configuration error
(exit 2, which the DAG does not retry), posts exactly one alert whose cause line says what to fix
(the ServiceAccount's IRSA annotation and the role's trust policy, or the variables to set
locally), and no credential value appears anywhere: stdout (the run summary), stderr (the logs),
the termination message or the alert. Sentinel values make a leak findable by grep.

- No credentials at all: no keys, empty AWS config files, no web identity token, and the instance
  metadata endpoint pointed at a closed port on 127.0.0.1 (unreachable).
- A web identity token file (IRSA) that does not exist.
- An invalid access key and a wrong secret key, with the server checking signatures: moto
  evaluates auth for every request once its `/moto-api/reset-auth` counter is 0, and answers S3's
  real `InvalidAccessKeyId`, `SignatureDoesNotMatch` and `InvalidToken` errors.
- An expired session token: moto never checks a session token's expiry, so this one case uses a
  stand-in, a small HTTP server on 127.0.0.1 answering every request as S3 does for an expired
  token (HTTP 400, `ExpiredToken`, the token echoed back in `<Token-0>` as S3 does).
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.harness import (
    SENTINEL_AWS_SECRET,
    SENTINEL_WEBHOOK_TOKEN,
    assert_no_debug_dump,
    free_port,
    run_job,
)
from tests.test_secrets_manager import iam_enforced, pod_user

DATE = "2026-11-20"
TABLE = "push_proxy.logs_us_new"
PREFIX = "AWSLogs/123456789012/elasticloadbalancing/us-east-1"

# Credential values that must never be shown. The key id looks like one (moto checks its shape).
SENTINEL_KEY_ID = "AKIASENTINEL7KEY0001"
SENTINEL_SECRET = "SENTINEL-cred-secret-5d1e"
SENTINEL_SESSION = "SENTINEL-cred-session-8a2f"
SENTINELS = (
    SENTINEL_KEY_ID, SENTINEL_SECRET, SENTINEL_SESSION, SENTINEL_AWS_SECRET, SENTINEL_WEBHOOK_TOKEN,
)

# What a person reading the alert must be told to check.
FIX = ("eks.amazonaws.com/role-arn", "trust policy", "AWS_ACCESS_KEY_ID")


def base_env(endpoint: str, webhook, termination: Path) -> dict[str, str]:
    termination.write_text("")
    return {
        "INGEST_S3_ENDPOINT": endpoint,
        "INGEST_S3_FORCE_PATH_STYLE": "true",
        "INGEST_S3_MAX_ATTEMPTS": "2",
        "AWS_REGION": "us-east-1",
        "MATTERMOST_WEBHOOK_URL": webhook.url,
        "INGEST_TERMINATION_LOG": str(termination),
    }


def push_logs(tmp_path: Path, bucket: str, env: dict[str, str]):
    args = ["--date", DATE, "--source", f"s3://{bucket}/{PREFIX}", "--table", TABLE,
            "--lake", str(tmp_path / "lake")]
    return run_job("push-logs", *args, env=env)


def alert_text(webhook) -> str:
    """The posted alert's text, markdown escapes removed."""
    assert len(webhook.posts) == 1, f"expected exactly one alert, got {len(webhook.posts)}"
    return json.dumps(webhook.posts[0]).replace("\\\\", "")


def check_config_failure(result, webhook, termination: Path, *must: str, secrets=SENTINELS) -> str:
    """Exit 2, one alert, the cause line names `must` and the fix, no secret anywhere.
    Returns the summary's error."""
    assert result.code == 2, result.stdout + result.stderr
    summary = result.summary()
    assert summary["error_kind"] == "configuration error", summary
    assert summary["alert_sent"] is True
    error = summary["error"]
    alert = alert_text(webhook)
    for word in (*must, *FIX):
        assert word in error, f"{word!r} not in the summary's error: {error}"
        assert word in alert, f"{word!r} not in the alert: {alert}"
    terminated = termination.read_text()
    assert json.loads(terminated)["exit_code"] == 2
    alerts = [r.decode("utf-8", "replace") for r in webhook.raw]
    everything = "\n".join([result.stdout, result.stderr, terminated, *alerts])
    for secret in secrets:
        assert secret not in everything, f"credential value {secret!r} shown"
    assert_no_debug_dump(everything, "the run's outputs")
    # The DAG retries only exit 4; the alert says it is configuration.
    assert "configuration error" in alert
    return error


def test_no_credentials_with_metadata_unreachable_is_configuration(
    tmp_path, s3, moto_endpoint, webhook
):
    _, bucket = s3
    endpoint, _ = moto_endpoint
    empty = tmp_path / "empty-aws-config"
    empty.write_text("")
    env = {
        **base_env(endpoint, webhook, tmp_path / "termination"),
        "AWS_CONFIG_FILE": str(empty),
        "AWS_SHARED_CREDENTIALS_FILE": str(empty),
        # Instance metadata enabled but unreachable: a closed port on loopback.
        "AWS_EC2_METADATA_DISABLED": "false",
        "AWS_EC2_METADATA_SERVICE_ENDPOINT": f"http://127.0.0.1:{free_port()}",
    }
    result = push_logs(tmp_path, bucket, env)
    error = check_config_failure(
        result, webhook, tmp_path / "termination", "no AWS credentials found", "ListObjectsV2"
    )
    # It names the providers it tried.
    assert "AWS_ACCESS_KEY_ID not set" in error and "instance metadata" in error
    assert "AWS_WEB_IDENTITY_TOKEN_FILE not set" in error


def test_missing_web_identity_token_file_is_configuration(tmp_path, s3, moto_endpoint, webhook):
    _, bucket = s3
    endpoint, _ = moto_endpoint
    empty = tmp_path / "empty-aws-config"
    empty.write_text("")
    token = tmp_path / "eks.amazonaws.com" / "serviceaccount" / "token"
    env = {
        **base_env(endpoint, webhook, tmp_path / "termination"),
        "AWS_CONFIG_FILE": str(empty),
        "AWS_SHARED_CREDENTIALS_FILE": str(empty),
        "AWS_WEB_IDENTITY_TOKEN_FILE": str(token),
        "AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/ingest-tasks",
    }
    result = push_logs(tmp_path, bucket, env)
    error = check_config_failure(
        result, webhook, tmp_path / "termination", str(token), "AWS_WEB_IDENTITY_TOKEN_FILE",
        "cannot be read",
    )
    assert "No such file or directory" in error


@pytest.mark.parametrize(
    ("which", "code", "what"),
    [
        ("unknown key", "InvalidAccessKeyId", "the access key id does not exist"),
        ("wrong secret", "SignatureDoesNotMatch", "does not match the access key id"),
        ("token of no session", "InvalidToken", "the session token is invalid"),
    ],
)
def test_keys_the_server_refuses_are_configuration(
    tmp_path, s3, moto_endpoint, webhook, which, code, what
):
    client, bucket = s3
    endpoint, _ = moto_endpoint
    env = base_env(endpoint, webhook, tmp_path / "termination")
    secrets = SENTINELS
    if which == "unknown key":
        env |= {"AWS_ACCESS_KEY_ID": SENTINEL_KEY_ID, "AWS_SECRET_ACCESS_KEY": SENTINEL_SECRET}
    else:
        # A real IAM user's key id: with a wrong secret, or with a session token it has none of.
        user = pod_user(endpoint, ["s3:ListBucket", "s3:GetObject"])
        env["AWS_ACCESS_KEY_ID"] = user["AWS_ACCESS_KEY_ID"]
        if which == "wrong secret":
            env["AWS_SECRET_ACCESS_KEY"] = SENTINEL_SECRET
        else:
            env["AWS_SECRET_ACCESS_KEY"] = user["AWS_SECRET_ACCESS_KEY"]
            env["AWS_SESSION_TOKEN"] = SENTINEL_SESSION
        secrets = (*SENTINELS, user["AWS_SECRET_ACCESS_KEY"])
    with iam_enforced(endpoint):
        result = push_logs(tmp_path, bucket, env)
    error = check_config_failure(
        result, webhook, tmp_path / "termination", code, what, secrets=secrets
    )
    assert "AWS refused the credentials" in error


class ExpiredTokenS3(BaseHTTPRequestHandler):
    """Stand-in (moto does not check token expiry): S3's answer to a request signed with an
    expired session token, as S3 sends it, the token echoed back included."""

    def _answer(self):
        token = self.headers.get("X-Amz-Security-Token", "")
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>ExpiredToken</Code>'
            "<Message>The provided token has expired.</Message>"
            f"<Token-0>{token}</Token-0><RequestId>STANDINREQ0001</RequestId>"
            "<HostId>c3RhbmQtaW4gaG9zdCBpZA==</HostId></Error>"
        ).encode()
        self.send_response(400)
        self.send_header("Content-Type", "application/xml")
        self.send_header("x-amz-request-id", "STANDINREQ0001")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _answer  # noqa: N815 (http.server API)

    def log_message(self, *args):
        pass


def test_expired_session_token_is_configuration_and_keeps_the_request_id(tmp_path, webhook):
    server = ThreadingHTTPServer(("127.0.0.1", 0), ExpiredTokenS3)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        env = {
            **base_env(f"http://127.0.0.1:{server.server_address[1]}", webhook,
                       tmp_path / "termination"),
            "AWS_ACCESS_KEY_ID": "ASIA" + SENTINEL_KEY_ID[4:],
            "AWS_SECRET_ACCESS_KEY": SENTINEL_SECRET,
            "AWS_SESSION_TOKEN": SENTINEL_SESSION,
        }
        result = push_logs(tmp_path, "logs", env)
    finally:
        server.shutdown()
    secrets = (*SENTINELS, "ASIA" + SENTINEL_KEY_ID[4:])
    error = check_config_failure(
        result, webhook, tmp_path / "termination", "ExpiredToken", "session token has expired",
        secrets=secrets,
    )
    # The service's code, message and request id: what a support case needs.
    assert "The provided token has expired. (HTTP 400, request id STANDINREQ0001)" in error


def test_secrets_manager_without_credentials_is_configuration(tmp_path, moto_endpoint, webhook):
    """A secret read from Secrets Manager with no credentials: the same fix, exit 2, an alert
    (the webhook URL is given directly), no value shown."""
    endpoint, _ = moto_endpoint
    empty = tmp_path / "empty-aws-config"
    empty.write_text("")
    source = tmp_path / "empty-source"
    source.mkdir()
    termination = tmp_path / "termination"
    env = {
        **base_env(endpoint, webhook, termination),
        "AWS_ENDPOINT_URL_SECRETS_MANAGER": endpoint,
        "AWS_CONFIG_FILE": str(empty),
        "AWS_SHARED_CREDENTIALS_FILE": str(empty),
        "SNOWFLAKE_PASSWORD_SECRET_ID": "ingest/snowflake",
    }
    args = ["--date", DATE, "--source", str(source), "--table", TABLE,
            "--lake", str(tmp_path / "lake")]
    result = run_job("push-logs", *args, env=env)
    error = check_config_failure(
        result, webhook, termination, "SNOWFLAKE_PASSWORD_SECRET_ID", "ingest/snowflake",
        "no AWS credentials found",
    )
    assert "AWS Secrets Manager" in error


def test_preflight_reports_missing_credentials_as_a_failed_check(tmp_path, s3, moto_endpoint):
    _, bucket = s3
    endpoint, _ = moto_endpoint
    empty = tmp_path / "empty-aws-config"
    empty.write_text("")
    env = {
        "INGEST_S3_ENDPOINT": endpoint,
        "INGEST_S3_FORCE_PATH_STYLE": "true",
        "INGEST_S3_MAX_ATTEMPTS": "2",
        "AWS_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(empty),
        "AWS_SHARED_CREDENTIALS_FILE": str(empty),
        "KUBECONFIG": "/nonexistent/kubeconfig",
        "INGEST_JOBS": "server-pingbacks",
        "INGEST_SOURCE_SERVER_PINGBACKS": f"s3://{bucket}/p",
    }
    result = run_job("preflight", "--skip-kubernetes", env=env)
    assert result.code == 2, result.stdout + result.stderr
    doc = next(json.loads(line) for line in reversed(result.stdout.splitlines())
               if line.startswith("{") and json.loads(line).get("event") == "preflight")
    [row] = [c for c in doc["checks"] if c["check"] == "s3-list"]
    assert row["status"] == "fail"
    for word in ("no AWS credentials found", *FIX):
        assert word in row["detail"], row["detail"]


def test_the_debug_dump_check_catches_what_the_old_code_printed():
    """The check every run goes through (harness.run_job, the webhook fixture) fails on the
    cause text the S3 source printed before (DisplayErrorContext of a dispatch failure), and
    passes the text it prints now."""
    old = (
        "S3 is unavailable: ListObjectsV2 s3://b/p failed after retries: dispatch failure: other: "
        "the credential provider was not enabled (DispatchFailure(DispatchFailure { source: "
        "ConnectorError { kind: Other(None), source: ProviderError(ProviderError { source: "
        "FailedToLoadToken(FailedToLoadToken { source: ServiceError(ServiceError { source: "
        "Unhandled, raw: Response { status: StatusCode(403), body: SdkBody { inner: Once } } }) "
        "}) }), connection: Unknown } }))"
    )
    with pytest.raises(AssertionError, match="Debug rendering"):
        assert_no_debug_dump(old, "a summary")
    for marker in ("Error { code: \"AccessDenied\" }", "status: StatusCode(403)"):
        with pytest.raises(AssertionError):
            assert_no_debug_dump(f"x {marker} y", "a log line")
    assert_no_debug_dump(
        "S3 GetObject s3://b/k: AccessDenied: Access Denied (HTTP 403, request id 1234)", "a line"
    )


class RefusingMetadata(BaseHTTPRequestHandler):
    """Stand-in for the EC2 instance metadata service (none can run here): it refuses the IMDSv2
    session token with 403, as IMDS does for a pod beyond the hop limit or with IMDS locked
    down: the case of a pod whose ServiceAccount lacks its IRSA annotation."""

    def _refuse(self):
        self.send_response(403)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_PUT = _refuse  # noqa: N815 (http.server API)

    def log_message(self, *args):
        pass


def test_instance_metadata_refusing_is_configuration(tmp_path, s3, moto_endpoint, webhook):
    _, bucket = s3
    endpoint, _ = moto_endpoint
    empty = tmp_path / "empty-aws-config"
    empty.write_text("")
    imds = ThreadingHTTPServer(("127.0.0.1", 0), RefusingMetadata)
    threading.Thread(target=imds.serve_forever, daemon=True).start()
    try:
        env = {
            **base_env(endpoint, webhook, tmp_path / "termination"),
            "AWS_CONFIG_FILE": str(empty),
            "AWS_SHARED_CREDENTIALS_FILE": str(empty),
            "AWS_EC2_METADATA_DISABLED": "false",
            "AWS_EC2_METADATA_SERVICE_ENDPOINT": f"http://127.0.0.1:{imds.server_address[1]}",
        }
        result = push_logs(tmp_path, bucket, env)
    finally:
        imds.shutdown()
    error = check_config_failure(result, webhook, tmp_path / "termination", "IMDS")
    # The SDK's own words for what IMDS said, as Display lines (not the 900-character dump).
    assert "failed to load IMDS session token" in error


def test_s3_lake_with_refused_keys_is_configuration(tmp_path, s3, moto_endpoint, webhook):
    """The S3 lake goes through the same classifier as the source: a local source read fine,
    then the lake's first upload is refused for an unknown key."""
    from tests.harness import sample_data

    _, bucket = s3
    endpoint, _ = moto_endpoint
    sample_data("alb", "--date", DATE, "--out", str(tmp_path / "sample"), "--files", "1",
                "--lines", "50")
    env = {
        **base_env(endpoint, webhook, tmp_path / "termination"),
        "AWS_ACCESS_KEY_ID": SENTINEL_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": SENTINEL_SECRET,
    }
    args = ["--date", DATE, "--source", str(tmp_path / "sample" / PREFIX), "--table", TABLE,
            "--lake", f"s3://{bucket}/lake"]
    with iam_enforced(endpoint):
        result = run_job("push-logs", *args, env=env)
    error = check_config_failure(
        result, webhook, tmp_path / "termination", "InvalidAccessKeyId", f"s3://{bucket}/lake"
    )
    assert "AWS refused the credentials" in error
