"""S3 answers that are not all configuration (exit codes of the one S3 classifier, shared by the
source and the S3 lake): `RequestTimeout` after the SDK's retries is transient (exit 4); an object
listed moments before and gone when read (`NoSuchKey`: deleted or replaced between the list and
the get) is transient too, since the listing changed under the run and a re-run lists again;
`NoSuchBucket` is configuration (exit 2).

The first two use a stand-in S3 server on 127.0.0.1, because moto cannot produce them on demand:
moto never answers `RequestTimeout` (S3 sends it when a request body stalls), and deleting an
object between the job's list and its get would be a race. The stand-in answers with S3's real
XML error bodies and headers. `NoSuchBucket` uses moto.
"""

from __future__ import annotations

import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.conftest import s3_env
from tests.harness import run_job

DATE = "2026-11-20"
TABLE = "push_proxy.logs_us_new"
PREFIX = "AWSLogs/123456789012/elasticloadbalancing/us-east-1"
KEY = (
    f"{PREFIX}/2026/11/20/"
    "123456789012_elasticloadbalancing_us-east-1_app.x_20261120T0000Z_a.log.gz"
)


def error_xml(code: str, message: str) -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
        f"<Message>{message}</Message><RequestId>STANDINREQ0002</RequestId>"
        "<HostId>c3RhbmQtaW4=</HostId></Error>"
    ).encode()


LISTING = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>logs</Name>'
    f"<Prefix>{PREFIX}/2026/11/20/</Prefix><KeyCount>1</KeyCount><MaxKeys>1000</MaxKeys>"
    f"<IsTruncated>false</IsTruncated><Contents><Key>{KEY}</Key>"
    "<LastModified>2026-11-20T01:00:00.000Z</LastModified><ETag>&quot;0a1b&quot;</ETag>"
    "<Size>1234</Size><StorageClass>STANDARD</StorageClass></Contents></ListBucketResult>"
).encode()


def stand_in(mode: str):
    """`gone`: lists one object, answers its GET with 404 NoSuchKey. `timeout`: answers every
    request with 400 RequestTimeout. Counts the requests per method."""
    counts: dict[str, int] = {}

    class Handler(BaseHTTPRequestHandler):
        def _answer(self):
            counts[self.command] = counts.get(self.command, 0) + 1
            if mode == "timeout":
                status, body = 400, error_xml(
                    "RequestTimeout",
                    "Your socket connection to the server was not read from or written to "
                    "within the timeout period. Idle connections will be closed.",
                )
            elif self.command == "GET" and "list-type=2" in self.path:
                status, body = 200, LISTING
            else:
                status, body = 404, error_xml("NoSuchKey", "The specified key does not exist.")
            self.send_response(status)
            self.send_header("Content-Type", "application/xml")
            self.send_header("x-amz-request-id", "STANDINREQ0002")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_PUT = do_POST = do_DELETE = _answer  # noqa: N815 (http.server API)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, counts


@pytest.mark.parametrize("mode", ["gone", "timeout"])
def test_transient_s3_answers_exit_4(tmp_path, mode):
    server, counts = stand_in(mode)
    try:
        env = s3_env(f"http://127.0.0.1:{server.server_address[1]}")
        args = ["--date", DATE, "--source", f"s3://logs/{PREFIX}", "--table", TABLE,
                "--lake", str(tmp_path / "lake")]
        result = run_job("push-logs", *args, env=env)
    finally:
        server.shutdown()
    assert result.code == 4, result.stdout + result.stderr
    summary = result.summary()
    assert summary["error_kind"] == "transient infrastructure error"
    error = summary["error"]
    # The service's code, message and request id are kept.
    assert "request id STANDINREQ0002" in error, error
    if mode == "gone":
        assert f"S3 GetObject s3://logs/{KEY}: the object is gone (NoSuchKey)" in error, error
        assert "a re-run lists the date again" in error
    else:
        assert "S3 is unavailable: ListObjectsV2" in error, error
        assert "RequestTimeout: Your socket connection" in error
        # Retried by the SDK before giving up (INGEST_S3_MAX_ATTEMPTS=2 in s3_env).
        assert counts["GET"] == 2, counts


def test_a_missing_source_bucket_is_configuration(tmp_path, moto_endpoint):
    endpoint, _ = moto_endpoint
    bucket = f"no-such-bucket-{uuid.uuid4().hex[:8]}"
    args = ["--date", DATE, "--source", f"s3://{bucket}/{PREFIX}", "--table", TABLE,
            "--lake", str(tmp_path / "lake")]
    result = run_job("push-logs", *args, env=s3_env(endpoint))
    assert result.code == 2, result.stdout + result.stderr
    error = result.summary()["error"]
    assert f"the bucket {bucket} does not exist (NoSuchBucket)" in error, error
    assert "NoSuchBucket: The specified bucket does not exist" in error
