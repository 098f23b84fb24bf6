"""A throwaway S3 endpoint for tests: moto's server on a free local port, and fresh buckets."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

ACCESS_KEY = "testing"
SECRET_KEY = "testing"
REGION = "us-east-1"


@dataclass(frozen=True)
class S3Server:
    """A running S3 endpoint that accepts the test credentials."""

    endpoint_url: str
    # One boto3 client for the session: building one costs ~50 ms, a bucket costs ~5 ms.
    client: Any = field(repr=False)

    def create_bucket(self) -> str:
        """Create an empty bucket with a name no other test uses, and return the name."""
        name = f"test-{uuid.uuid4().hex[:16]}"
        self.client.create_bucket(Bucket=name)
        return name


@dataclass(frozen=True)
class S3Env:
    """A fresh bucket on the test server, with the AWS_* variables pointing at it."""

    bucket: str
    endpoint_url: str

    def url(self, prefix: str = "") -> str:
        """Return the s3:// URL of `prefix` in the bucket."""
        return f"s3://{self.bucket}/{prefix}"


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def running_s3_server() -> Iterator[S3Server]:
    """Run moto's S3 server on 127.0.0.1 for the duration of the block."""
    # Imported here, not at the top: conftest imports this module in every pytest run, and
    # moto plus boto3 take about a second to import; only sessions that use S3 should pay.
    import boto3  # type: ignore[import-untyped]  # boto3 ships no type hints
    from moto.server import ThreadedMotoServer

    port = free_port()
    # verbose=False keeps werkzeug's per-request log lines out of the test output.
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        endpoint_url = f"http://127.0.0.1:{port}"
        client = boto3.client(
            "s3",
            endpoint_url=endpoint_url,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name=REGION,
        )
        yield S3Server(endpoint_url=endpoint_url, client=client)
    finally:
        server.stop()
