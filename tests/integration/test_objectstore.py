"""The S3 store: TLS with our CA, access keys enforced, SSE-S3 (AES256) on every object."""

from __future__ import annotations

import boto3
import botocore.exceptions
import pytest
from botocore.config import Config

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _client(status, key: str, secret: str):  # noqa: ANN202
    return boto3.client(
        "s3",
        endpoint_url=status.s3.endpoint,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        region_name="us-east-1",
        verify=status.s3.ca_file,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


def test_object_reads_back_with_server_side_encryption(stack):
    platform = stack.platform()
    status = platform.status()
    secrets = platform.context().secrets
    s3 = _client(status, secrets.s3_access_key, secrets.s3_secret_key)
    body = b"ledger-snapshot " * 1000
    s3.put_object(Bucket=status.s3.bucket, Key="it/probe.bin", Body=body)
    head = s3.head_object(Bucket=status.s3.bucket, Key="it/probe.bin")
    assert head["ServerSideEncryption"] == "AES256"
    assert s3.get_object(Bucket=status.s3.bucket, Key="it/probe.bin")["Body"].read() == body
    s3.delete_object(Bucket=status.s3.bucket, Key="it/probe.bin")


def test_wrong_secret_is_refused(stack):
    platform = stack.platform()
    status = platform.status()
    s3 = _client(status, platform.context().secrets.s3_access_key, "not-the-secret")
    with pytest.raises(botocore.exceptions.ClientError, match="SignatureDoesNotMatch|AccessDenied|InvalidAccessKey"):
        s3.list_objects_v2(Bucket=status.s3.bucket)


def test_endpoint_is_tls_only(stack):
    import http.client

    status = stack.platform().status()
    port = int(status.s3.endpoint.rsplit(":", 1)[1])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=3)
    with pytest.raises((ConnectionError, http.client.HTTPException, OSError)):
        conn.request("GET", "/")
        resp = conn.getresponse()
        # A TLS server answering plain HTTP replies 400 "client sent an HTTP request to an HTTPS server".
        if resp.status == 400:
            raise ConnectionError(resp.read().decode(errors="replace"))
