"""Fixtures for the end-to-end tests of the job binaries (see harness.py)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.harness import SENTINEL_AWS_SECRET, free_port, start_webhook


@pytest.fixture(scope="session")
def moto_endpoint():
    """A real S3-compatible server (moto, server mode) on 127.0.0.1 for the whole session."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}", port
    server.stop()


@pytest.fixture()
def s3(moto_endpoint):
    """A boto3 client and a fresh bucket on the local S3 server."""
    import boto3

    endpoint, _ = moto_endpoint
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key=SENTINEL_AWS_SECRET,
    )
    bucket = f"logs-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=bucket)
    return client, bucket


def s3_env(endpoint: str) -> dict[str, str]:
    return {
        "INGEST_S3_ENDPOINT": endpoint,
        "INGEST_S3_FORCE_PATH_STYLE": "true",
        "INGEST_S3_MAX_ATTEMPTS": "2",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": SENTINEL_AWS_SECRET,
        "AWS_REGION": "us-east-1",
    }


def upload_tree(client, bucket: str, root: Path) -> int:
    count = 0
    for path in sorted(root.rglob("*")):
        if path.is_file():
            client.upload_file(str(path), bucket, path.relative_to(root).as_posix())
            count += 1
    return count


@pytest.fixture()
def webhook():
    hook = start_webhook()
    yield hook
    hook.server.shutdown()
