"""Secret env vars given indirectly, `<VAR>_SECRET_ID` (+ `<VAR>_SECRET_KEY`), resolved at start-up
from AWS Secrets Manager: the job binaries against moto's Secrets Manager on 127.0.0.1 (the same
ThreadedMotoServer that serves S3), through the SDK's standard `AWS_ENDPOINT_URL_SECRETS_MANAGER`.

Access denied is real IAM evaluation, not a stub: moto enforces IAM policies once its
`/moto-api/reset-auth` counter is set to 0, so a request signed with the keys of an IAM user
whose only policy allows `s3:ListBucket` is refused with HTTP 403. (moto answers that 403 with
an XML body the JSON protocol cannot parse, so the binary reports it as "denied (HTTP 403)"
where AWS would say AccessDeniedException; both map to the same configuration error.)
"""

from __future__ import annotations

import json
import uuid
from contextlib import contextmanager

import pytest

from tests.conftest import s3_env
from tests.harness import SENTINEL_AWS_SECRET, SENTINEL_WEBHOOK_TOKEN, free_port, run_job
from tests.test_snowflake import job, make_sample
from tests.test_snowflake import snowflake as snowflake  # noqa: F401 (fixture, uses ours below)

TABLE = "push_proxy.logs_us_new"
SENTINEL_JSON_OTHER = "SENTINEL-sm-other-key-91c4"


def aws_client(service: str, endpoint: str):
    """A boto3 client of moto's server, as the test's admin."""
    import boto3

    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key=SENTINEL_AWS_SECRET,
    )


@pytest.fixture()
def sm(moto_endpoint):
    return aws_client("secretsmanager", moto_endpoint[0])


def sm_env(endpoint: str, extra: dict[str, str]) -> dict[str, str]:
    return {**s3_env(endpoint), "AWS_ENDPOINT_URL_SECRETS_MANAGER": endpoint, **extra}


def name() -> str:
    return f"ingest/{uuid.uuid4().hex[:10]}"


def failing_run(tmp_path, env: dict[str, str]):
    """push-logs on an empty source directory: exit 3 and a failure alert, if the webhook works."""
    empty = tmp_path / "empty"
    empty.mkdir(exist_ok=True)
    args = ["--date", "2026-11-19", "--source", str(empty), "--table", TABLE,
            "--lake", str(tmp_path / "lake")]
    return run_job("push-logs", *args, env=env)


def assert_no_sentinels(result):
    out = result.stdout + result.stderr
    assert SENTINEL_WEBHOOK_TOKEN not in out
    assert SENTINEL_JSON_OTHER not in out


def test_plain_secret_is_the_value(tmp_path, sm, moto_endpoint, webhook):
    endpoint, _ = moto_endpoint
    arn = sm.create_secret(Name=name(), SecretString=webhook.url + "\n")["ARN"]
    result = failing_run(tmp_path, sm_env(endpoint, {"MATTERMOST_WEBHOOK_URL_SECRET_ID": arn}))
    assert result.code == 3, result.stderr
    assert result.summary()["alert_sent"] is True
    assert len(webhook.posts) == 1, "the alert went to the URL read from Secrets Manager"
    read = [log for log in result.logs()
            if log.get("message") == "secret read from AWS Secrets Manager"]
    assert read and read[0]["env"] == "MATTERMOST_WEBHOOK_URL" and read[0]["secret_id"] == arn
    assert_no_sentinels(result)


def test_json_secret_key_picks_one_value(tmp_path, sm, moto_endpoint, webhook):
    endpoint, _ = moto_endpoint
    secret = name()
    sm.create_secret(
        Name=secret,
        SecretString=json.dumps({"webhook": webhook.url, "other": SENTINEL_JSON_OTHER}),
    )
    env = sm_env(endpoint, {
        "MATTERMOST_WEBHOOK_URL_SECRET_ID": secret,
        "MATTERMOST_WEBHOOK_URL_SECRET_KEY": "webhook",
    })
    result = failing_run(tmp_path, env)
    assert result.code == 3, result.stderr
    assert len(webhook.posts) == 1
    assert SENTINEL_JSON_OTHER not in json.dumps(webhook.posts)
    assert_no_sentinels(result)


def test_missing_secret_is_a_configuration_error_naming_var_and_id(tmp_path, moto_endpoint):
    endpoint, _ = moto_endpoint
    missing = name()
    result = failing_run(tmp_path, sm_env(endpoint, {"MATTERMOST_WEBHOOK_URL_SECRET_ID": missing}))
    assert result.code == 2, result.stderr
    summary = result.summary()
    assert summary["error_kind"] == "configuration error"
    assert "MATTERMOST_WEBHOOK_URL_SECRET_ID" in summary["error"]
    assert missing in summary["error"]
    assert "ResourceNotFoundException" in summary["error"]


def test_missing_json_key_and_non_json_secret(tmp_path, sm, moto_endpoint, webhook):
    endpoint, _ = moto_endpoint
    doc = name()
    sm.create_secret(Name=doc, SecretString=json.dumps({"other": SENTINEL_JSON_OTHER}))
    plain = name()
    sm.create_secret(Name=plain, SecretString=f"not json {SENTINEL_JSON_OTHER}")
    for secret, why in ((doc, 'has no JSON key "webhook"'), (plain, "is not a JSON object")):
        env = sm_env(endpoint, {
            "MATTERMOST_WEBHOOK_URL_SECRET_ID": secret,
            "MATTERMOST_WEBHOOK_URL_SECRET_KEY": "webhook",
        })
        result = failing_run(tmp_path, env)
        assert result.code == 2, result.stderr
        assert why in result.summary()["error"]
        assert secret in result.summary()["error"]
        assert_no_sentinels(result)
    assert webhook.raw == []


@contextmanager
def iam_enforced(endpoint: str):
    """moto evaluates IAM policies for every request while this is active."""
    import requests

    requests.post(f"{endpoint}/moto-api/reset-auth", data=b"0", timeout=10).raise_for_status()
    try:
        yield
    finally:
        requests.post(f"{endpoint}/moto-api/reset-auth", data=b"inf", timeout=10).raise_for_status()


def pod_user(endpoint: str, actions: list[str]) -> dict[str, str]:
    """An IAM user allowed only `actions`: the pod's role, as moto sees it."""
    iam = aws_client("iam", endpoint)
    user = f"pod-{uuid.uuid4().hex[:8]}"
    iam.create_user(UserName=user)
    iam.put_user_policy(
        UserName=user,
        PolicyName="pod",
        PolicyDocument=json.dumps({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}],
        }),
    )
    key = iam.create_access_key(UserName=user)["AccessKey"]
    return {
        "AWS_ACCESS_KEY_ID": key["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
    }


def test_access_denied_is_a_configuration_error(tmp_path, sm, moto_endpoint, webhook):
    endpoint, _ = moto_endpoint
    secret = name()
    sm.create_secret(Name=secret, SecretString=webhook.url)
    creds = pod_user(endpoint, ["s3:ListBucket"])
    env = sm_env(endpoint, {"MATTERMOST_WEBHOOK_URL_SECRET_ID": secret, **creds})
    with iam_enforced(endpoint):
        result = failing_run(tmp_path, env)
    assert result.code == 2, result.stderr
    error = result.summary()["error"]
    assert "access to AWS Secrets Manager secret" in error and "was denied" in error
    assert secret in error and "MATTERMOST_WEBHOOK_URL_SECRET_ID" in error
    assert "secretsmanager:GetSecretValue" in error
    assert webhook.raw == []
    assert_no_sentinels(result)

    # The same user with the permission reads it.
    allowed = pod_user(endpoint, ["secretsmanager:GetSecretValue"])
    with iam_enforced(endpoint):
        ok = failing_run(
            tmp_path, sm_env(endpoint, {"MATTERMOST_WEBHOOK_URL_SECRET_ID": secret, **allowed})
        )
    assert ok.code == 3, ok.stderr
    assert len(webhook.posts) == 1


def test_secrets_manager_unavailable_is_transient(tmp_path):
    nobody = f"http://127.0.0.1:{free_port()}"
    env = sm_env(nobody, {"MATTERMOST_WEBHOOK_URL_SECRET_ID": "ingest/any"})
    result = failing_run(tmp_path, env)
    assert result.code == 4, result.stderr
    summary = result.summary()
    assert summary["error_kind"] == "transient infrastructure error"
    assert "AWS Secrets Manager is unavailable (secret ingest/any)" in summary["error"]


def test_direct_and_indirect_together_is_ambiguous(tmp_path, moto_endpoint, webhook):
    endpoint, _ = moto_endpoint
    env = sm_env(endpoint, {
        "MATTERMOST_WEBHOOK_URL": webhook.url,
        "MATTERMOST_WEBHOOK_URL_SECRET_ID": "ingest/any",
    })
    result = failing_run(tmp_path, env)
    assert result.code == 2
    assert (
        "both MATTERMOST_WEBHOOK_URL and MATTERMOST_WEBHOOK_URL_SECRET_ID are set"
        in result.summary()["error"]
    )
    assert_no_sentinels(result)


def test_contract_and_help_document_the_indirection():
    contract = json.loads(run_job("push-logs", "--print-contract").stdout)
    assert contract["secrets_from_aws_secrets_manager"]["id_env"] == "<VAR>_SECRET_ID"
    assert contract["secrets_from_aws_secrets_manager"]["key_env"] == "<VAR>_SECRET_KEY"
    help_text = run_job("push-logs", "--help").stdout
    assert "<VAR>_SECRET_ID=<arn or name>" in help_text


def test_snowflake_private_key_from_secrets_manager_signs_the_login(tmp_path, s3, snowflake, sm):
    """The issue's example: SNOWFLAKE_PRIVATE_KEY_SECRET_ID=<arn> with a JSON key, through the
    Snowflake load of tests/test_snowflake.py (fakesnow behind a proxy that records the login)."""
    import jwt
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    client, bucket = s3
    _, proxy, env = snowflake
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    arn = sm.create_secret(
        Name=name(), SecretString=json.dumps({"private_key": pem, "other": SENTINEL_JSON_OTHER})
    )["ARN"]
    env = {k: v for k, v in env.items() if k != "SNOWFLAKE_PASSWORD"}
    env.update({
        "AWS_ENDPOINT_URL_SECRETS_MANAGER": env["INGEST_S3_ENDPOINT"],
        "SNOWFLAKE_PRIVATE_KEY_SECRET_ID": arn,
        "SNOWFLAKE_PRIVATE_KEY_SECRET_KEY": "private_key",
    })
    source = make_sample(tmp_path / "sample", files=1, lines=50)
    result = run_job("push-logs", *job(source, bucket), env=env)
    assert result.code == 0, result.stderr
    token = proxy.logins[0]["data"]["TOKEN"]
    jwt.decode(token, key.public_key(), algorithms=["RS256"], options={"verify_aud": False})
    out = result.stdout + result.stderr
    assert "PRIVATE KEY" not in out and SENTINEL_JSON_OTHER not in out
