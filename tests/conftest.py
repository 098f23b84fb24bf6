"""Fixtures shared by every kind of test."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Iterator

import pytest
from frames import Allocate, allocate_with_engine, allocate_with_reference
from s3server import ACCESS_KEY, REGION, SECRET_KEY, S3Env, S3Server, running_s3_server

# Prefect reads its settings at import: give it a temporary home and keep it offline before any
# test module imports it. Only tests that use `prefect_harness` start a server.
if "PREFECT_HOME" not in os.environ:
    _home = tempfile.mkdtemp(prefix="prefect-home-")
    os.environ["PREFECT_HOME"] = _home
    atexit.register(shutil.rmtree, _home, ignore_errors=True)  # (one was left per session)
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """A temporary Prefect server for the whole session (it takes ~10 s to start)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=90):
        yield


# ---------------------------------------------------------------------------------------------
# Allocation: run a test on the reference policy and on the bulk engine.
# ---------------------------------------------------------------------------------------------


@pytest.fixture(params=[allocate_with_reference, allocate_with_engine], ids=["reference", "engine"])
def allocate(request: pytest.FixtureRequest) -> Allocate:
    """The allocation under test: the reference policy, then the bulk engine."""
    chosen: Allocate = request.param
    return chosen


# ---------------------------------------------------------------------------------------------
# Object storage: a local S3 endpoint (moto) and a fresh bucket per test.
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """Run one moto S3 server for the whole session; tests isolate themselves by bucket."""
    with running_s3_server() as server:
        yield server


@pytest.fixture
def s3_env(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3Env:
    """Point the AWS_* variables at the test server and create a fresh, empty bucket."""
    # Drop whatever AWS settings the developer's shell carries (profile, session token, a real
    # endpoint), so the code under test sees only the test server.
    for name in [name for name in os.environ if name.startswith("AWS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server.endpoint_url)
    return S3Env(bucket=s3_server.create_bucket(), endpoint_url=s3_server.endpoint_url)
