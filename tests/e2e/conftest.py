"""End-to-end fixtures: one Prefect test harness per session, in a temporary Prefect home."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

import pytest

# Prefect reads its settings at import: point its home at a temp dir and keep it offline first.
os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="prefect-home-"))
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """A temporary Prefect server for the whole session (it takes ~10 s to start)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=60):
        yield
