"""The Prefect settings `allocation run` gives its flow run: no heartbeats unless asked for."""

from __future__ import annotations

import pytest
from prefect.settings import get_current_settings

from allocation.entrypoints.prefect_api import one_off_run


def test_a_one_off_run_sends_no_heartbeats(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PREFECT_FLOWS_HEARTBEAT_FREQUENCY", raising=False)
    monkeypatch.delenv("PREFECT_RUNNER_HEARTBEAT_FREQUENCY", raising=False)
    with one_off_run():
        assert get_current_settings().flows.heartbeat_frequency is None
    assert get_current_settings().flows.heartbeat_frequency is not None


def test_heartbeats_are_kept_when_the_operator_sets_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREFECT_FLOWS_HEARTBEAT_FREQUENCY", "45")
    before = get_current_settings().flows.heartbeat_frequency
    with one_off_run():
        assert get_current_settings().flows.heartbeat_frequency == before is not None
