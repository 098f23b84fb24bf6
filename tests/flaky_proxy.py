"""An HTTP proxy in front of the test S3 server that fails on purpose, for storage-fault tests."""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit


@dataclass
class Faults:
    """What the proxy does: fail the first `fail_first` requests with `status`, or always."""

    fail_first: int = 0
    status: int = 503
    always: bool = False
    failed: int = 0
    forwarded: int = 0


@contextmanager
def flaky_proxy(upstream: str, faults: Faults) -> Iterator[str]:
    """Serve on a free 127.0.0.1 port; yield the proxy's endpoint URL."""
    target = urlsplit(upstream)
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass  # keep test output clean

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            with lock:
                fail = faults.always or faults.failed < faults.fail_first
                if fail:
                    faults.failed += 1
                else:
                    faults.forwarded += 1
            if fail:
                payload = b"<Error><Code>SlowDown</Code><Message>injected</Message></Error>"
                if faults.status == 403:
                    payload = b"<Error><Code>AccessDenied</Code><Message>no</Message></Error>"
                self.send_response(faults.status)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                return
            connection = http.client.HTTPConnection(target.netloc, timeout=30)
            headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
            headers["Host"] = target.netloc
            connection.request(self.command, self.path, body=body, headers=headers)
            response = connection.getresponse()
            data = response.read()
            self.send_response(response.status)
            for key, value in response.getheaders():
                if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            connection.close()

        do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _handle  # noqa: N815

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
