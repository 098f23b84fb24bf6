"""Start-up of `allocation run`: the collector paused for imports, heartbeats off on our server."""

from __future__ import annotations

import gc
import time
from pathlib import Path

import pytest
from prefect.settings import PREFECT_API_URL, get_current_settings, temporary_settings

from allocation.entrypoints import prefect_server
from allocation.entrypoints.startup import collector_paused


def test_the_collector_is_paused_inside_and_running_again_after() -> None:
    frozen_before = gc.get_freeze_count()
    assert gc.isenabled()

    with collector_paused():
        assert not gc.isenabled()
        made_while_paused = [[i] for i in range(1000)]

    assert gc.isenabled()
    assert gc.get_freeze_count() >= frozen_before + len(made_while_paused)
    gc.unfreeze()


def test_a_collector_disabled_before_stays_disabled_after() -> None:
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
        gc.unfreeze()


class ReadyServer:
    """Stands in for `TemporaryPrefectServer`: already answering at a fixed address."""

    def wait_until_ready(self, timeout: float) -> str:
        return "http://127.0.0.1:4999/api"

    def stop(self) -> None:
        raise AssertionError("a server the run started is not stopped before the run")


def test_a_run_on_its_own_temporary_server_sends_no_heartbeats_and_talks_to_it() -> None:
    with temporary_settings(restore_defaults={PREFECT_API_URL}):
        assert get_current_settings().flows.heartbeat_frequency is not None

        with prefect_server.prefect_api(ReadyServer()):  # type: ignore[arg-type]
            assert PREFECT_API_URL.value() == "http://127.0.0.1:4999/api"
            assert get_current_settings().flows.heartbeat_frequency is None

        assert get_current_settings().flows.heartbeat_frequency is not None


def test_a_configured_prefect_server_keeps_its_heartbeats() -> None:
    configured = {PREFECT_API_URL: "http://prefect.example:4200/api"}
    with temporary_settings(configured), prefect_server.prefect_api(None):
        assert get_current_settings().flows.heartbeat_frequency is not None


def environment_of(pid: int) -> dict[str, str]:
    """A process's environment as the kernel holds it, once it runs its own program."""
    deadline = time.monotonic() + 10
    while b"uvicorn" not in Path(f"/proc/{pid}/cmdline").read_bytes():  # still being started
        assert time.monotonic() < deadline, "the server process never started"
        time.sleep(0.01)
    entries = Path(f"/proc/{pid}/environ").read_bytes().decode().split("\0")
    return dict(entry.split("=", 1) for entry in entries if "=" in entry)


def test_the_temporary_server_runs_offline_quiet_and_without_automations_unless_told_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in [*prefect_server.QUIET_PREFECT, *prefect_server.TEMPORARY_SERVER]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PREFECT_SERVER_LOGGING_LEVEL", "DEBUG")  # the operator's choice

    server = prefect_server.TemporaryPrefectServer()  # as the launcher starts it, first thing
    try:
        environment = environment_of(server.process.pid)
    finally:
        server.stop()

    assert environment["PREFECT_SERVER_ANALYTICS_ENABLED"] == "false"
    assert environment["DO_NOT_TRACK"] == "1"
    assert environment["PREFECT_SERVER_LOGGING_LEVEL"] == "DEBUG"
    assert environment["PREFECT_SERVER_SERVICES_TRIGGERS_ENABLED"] == "false"  # no automations
