"""Prefect's temporary API server, started early so that it boots while the run imports.

With no Prefect server configured, Prefect starts a temporary one when the flow first needs
it: it imports its server code into this process (about 4 s here), then starts the server
process and waits while that imports the same code again (about 5 s). `allocation run`
instead starts the same server process (Prefect's app, with the settings of Prefect's
`SubprocessASGIServer` less automations, loaded with the garbage collector paused) before it
imports Polars, pandera and Prefect, so the two boot at once on two cores, and hands its
address to the flow as `PREFECT_API_URL`, with flow-run heartbeats off. A server the operator
configured (`PREFECT_API_URL` in the environment or the Prefect profile) is used as it is,
heartbeats and all.

Both processes run with `QUIET_PREFECT`, and the server with `TEMPORARY_SERVER`, unless the
operator set those settings in the environment: no telemetry (a warehouse host is often
offline, and the server would log a failed send every run), warning-level logs, no
automations.
"""

from __future__ import annotations

import atexit
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

from allocation.entrypoints.startup import collector_paused

QUIET_PREFECT: Final[dict[str, str]] = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "PREFECT_LOGGING_LEVEL": "WARNING",
    "PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW": "ignore",
    "PREFECT_SERVER_LOGGING_LEVEL": "WARNING",
    # The temporary server needs 4 to 8 s on this 2-core host; give a busy one room.
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
}
"""Prefect settings for a run on a host where nobody configured Prefect: offline and quiet."""

TEMPORARY_SERVER: Final[dict[str, str]] = {
    # No automations: the server lives for one run, and its triggers and actions services
    # cost about 0.4 s of its boot (they build in-process API clients). Automations belong on
    # a running Prefect server, such as the one `prefect.yaml`'s deployment is served from.
    "PREFECT_SERVER_SERVICES_TRIGGERS_ENABLED": "false",
}
"""Prefect settings for the run's temporary server, unless set in the environment."""

_STARTUP_FAILED = 3  # uvicorn's exit status when it could not start, as when the port was taken


class PrefectUnavailable(Exception):  # noqa: N818 - says what is wrong
    """Prefect's temporary server did not start."""


class TemporaryPrefectServer:
    """A Prefect API server process on 127.0.0.1, stopped when this process exits."""

    def __init__(self) -> None:
        self.port = _free_port()
        # Its output goes here, off the run's one-line errors; the file lives as long as it.
        self.log = tempfile.TemporaryFile()  # noqa: SIM115
        self.process = self._start()
        atexit.register(self.stop)  # before Prefect's own exit hooks, so it stops after them

    @property
    def api_url(self) -> str:
        """The address the flow's client talks to."""
        return f"http://127.0.0.1:{self.port}/api"

    def wait_until_ready(self, timeout: float) -> str:
        """Block until the server answers its health check; return its API URL."""
        deadline = time.monotonic() + timeout
        restarts = 0
        while time.monotonic() < deadline:
            status = self.process.poll()
            if status == _STARTUP_FAILED and restarts < 2:  # perhaps the port was taken
                restarts += 1
                self.port = _free_port()
                self.process = self._start()
            elif status is not None:
                raise PrefectUnavailable(self._failure(f"exited with status {status}"))
            elif _healthy(f"{self.api_url}/health"):
                return self.api_url
            time.sleep(0.05)
        self.stop()
        raise PrefectUnavailable(self._failure(f"did not answer within {timeout:g} s"))

    def stop(self) -> None:
        """Stop the server process (safe to call more than once)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def _failure(self, what: str) -> str:
        self.log.seek(0)
        said = [line for line in self.log.read().decode(errors="replace").splitlines() if line]
        last = f" ({said[-1].strip()})" if said else ""
        return (
            f"Prefect's temporary server {what}{last}; "
            "set PREFECT_API_URL to use a running Prefect server"
        )

    def _start(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [
                sys.executable,
                "-P",  # the working directory is not on the module path: it may hold another
                # checkout of this package
                "-m",
                "uvicorn",
                "--factory",
                f"{__name__}:create_app",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--log-level",
                "error",
                "--lifespan",
                "on",
                # uvicorn, too, would put the working directory first on the module path: give
                # it the folder this package was loaded from
                "--app-dir",
                str(Path(__file__).parents[2]),
            ],
            env={
                **QUIET_PREFECT,
                **TEMPORARY_SERVER,
                **os.environ,  # what the operator set wins
                # As Prefect starts its own temporary server: no UI, only the services an
                # ephemeral server runs. (Not PREFECT__SERVER_FINAL: with this FastAPI it only
                # adds a full garbage collection to the boot, about 0.16 s.)
                "PREFECT_UI_ENABLED": "0",
                "PREFECT__SERVER_EPHEMERAL": "1",
            },
            stdout=self.log,
            stderr=self.log,
        )


def create_app() -> Any:
    """Build Prefect's API app as its own temporary server does, loaded with the collector paused.

    This runs in the server process (uvicorn's factory): Prefect's server code is some two
    thousand modules, the largest part of the server's boot.
    """
    with collector_paused():
        from prefect.server.api.server import create_app as create_prefect_app

        return create_prefect_app()


@contextmanager
def prefect_api(server: TemporaryPrefectServer | None) -> Iterator[None]:
    """Run the block against the configured Prefect API, else against `server` once ready."""
    from prefect.settings import (
        PREFECT_API_URL,
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS,
        temporary_settings,
    )

    if server is None:
        yield
    elif PREFECT_API_URL.value():  # configured in the Prefect profile: ours is not needed
        server.stop()
        yield
    else:
        ready = server.wait_until_ready(PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS.value())
        # No flow-run heartbeats: they let a server notice a run that died, and this server
        # dies with the run. (Their thread sleeps in whole seconds, so a flow waited up to 1 s
        # for it to notice the run had finished.)
        with temporary_settings({PREFECT_API_URL: ready, "flows.heartbeat_frequency": None}):
            yield


def quiet_prefect() -> None:
    """Keep Prefect quiet and offline in this process, unless the operator configured otherwise."""
    for name, value in QUIET_PREFECT.items():
        os.environ.setdefault(name, value)


_started: list[TemporaryPrefectServer] = []


def start_unless_configured() -> TemporaryPrefectServer | None:
    """Start a temporary server now, unless a Prefect API is configured or one was started."""
    if os.environ.get("PREFECT_API_URL"):
        return None
    if "prefect.settings" in sys.modules:  # already loaded (a test harness): asking is free
        from prefect.settings import PREFECT_API_URL

        if PREFECT_API_URL.value():
            return None
    if not _started or _started[-1].process.poll() is not None:
        _started.append(TemporaryPrefectServer())
    return _started[-1]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False
