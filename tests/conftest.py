"""Fixtures for the end-to-end tests of the job binaries (see harness.py)."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import pytest

from tests.harness import SENTINEL_AWS_SECRET, assert_no_debug_dump, free_port, start_webhook


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
    # Every test that receives alerts checks them for Debug dumps of SDK structs.
    for raw in hook.raw:
        assert_no_debug_dump(raw.decode("utf-8", "replace"), "a posted alert")


# fakesnow.server() works once per process as shipped: its own `import fakesnow.server` replaces
# the package attribute (the function) with the submodule. Keep the function from the first use
# and undo that import around each use, so several test modules can each start a server.
_fakesnow_server_fn = None


@pytest.fixture(scope="module")
def fakesnow_server(moto_endpoint):
    """fakesnow's server on 127.0.0.1, with a database, a schema and DuckDB's S3 secret for moto."""
    global _fakesnow_server_fn
    import fakesnow
    import snowflake.connector

    if _fakesnow_server_fn is None:
        _fakesnow_server_fn = fakesnow.server

    def reset():
        sys.modules.pop("fakesnow.server", None)
        fakesnow.server = _fakesnow_server_fn

    _, moto_port = moto_endpoint
    reset()
    try:
        with _fakesnow_server_fn() as kwargs:
            conn = snowflake.connector.connect(**kwargs)
            cur = conn.cursor()
            cur.execute("CREATE DATABASE IF NOT EXISTS DB")
            cur.execute("CREATE SCHEMA IF NOT EXISTS DB.INGEST")
            # What a storage integration does for real Snowflake: give the stage the bucket.
            cur.execute(
                f"CREATE SECRET moto (TYPE s3, KEY_ID 'testing', SECRET '{SENTINEL_AWS_SECRET}', "
                f"REGION 'us-east-1', ENDPOINT '127.0.0.1:{moto_port}', URL_STYLE 'path', "
                "USE_SSL false)"
            )
            yield kwargs, conn
            conn.close()
    finally:
        reset()
