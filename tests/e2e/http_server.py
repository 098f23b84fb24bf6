"""`allocation serve` as a process of its own on a free loopback port, and a client for it."""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from executable import ALLOCATION

TOKEN = "test-token-" + uuid.uuid4().hex
WRITE = {"Authorization": f"Bearer {TOKEN}"}


def free_port() -> int:
    """A TCP port nobody listens on at the moment (the server binds it right after)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def serving(root: Path, **env: str) -> Iterator[httpx.Client]:
    """Run `allocation serve` on `root/w.duckdb`, `root/outbox`; a client on its address.

    The server has the token `TOKEN` (writes send it with `WRITE`); `env` adds settings.
    """
    port = free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("ALLOCATION_")}
    command = [
        str(ALLOCATION),
        "serve",
        "--port",
        str(port),
        "--db",
        str(root / "w.duckdb"),
        "--outbox",
        str(root / "outbox"),
    ]
    with tempfile.TemporaryFile() as log:
        server = subprocess.Popen(
            command,
            stdout=log,
            stderr=log,
            cwd=root,
            env={**environment, "ALLOCATION_API_TOKEN": TOKEN, **env},
        )
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
                _wait_until_up(client, server, log)
                yield client
        finally:
            server.terminate()
            server.wait(timeout=30)


def _wait_until_up(client: httpx.Client, server: subprocess.Popen[bytes], log: Any) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            log.seek(0)
            raise RuntimeError(f"allocation serve exited: {log.read().decode()}")
        try:
            if client.get("/openapi.json").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError("allocation serve did not answer within 60 s")


def unique(prefix: str) -> str:
    """A name no other test uses (tests of a module share one server and warehouse)."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"
