"""Storage faults on the S3 path: transient errors are retried; permanent ones stop the run cleanly.

A proxy in front of the moto server injects the faults. A run that cannot read its inbox
stops with a storage error naming the location, and the warehouse keeps every batch, line
and allocation it had (only a `runs` row records the failure).
"""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path

import pytest
from flaky_proxy import Faults, flaky_proxy
from s3server import S3Env, free_port

from allocation.adapters.storage import (
    RETRY_TIMEOUT,
    StorageAccessDenied,
    StorageError,
    StorageNotFound,
    StorageUnavailable,
    open_storage,
)
from allocation.adapters.warehouse import DuckDBWarehouse
from allocation.domain.policy import Policy
from allocation.service_layer.nightly import run_night

BATCHES = b"reference,sku,purchased_quantity,eta\nst,CHAIR,5,\n"
LINES = b"order_id,sku,qty,priority,ordered_at\no1,CHAIR,2,0,\n"


def night(s3: S3Env, db: Path) -> None:
    run_night(
        inbox_url=s3.url("inbox"),
        outbox_url=s3.url("outbox"),
        db=str(db),
        policy=Policy.SPLIT,
        run_date=date(2026, 11, 26),
    )


def state(db: Path) -> tuple[int, int, int, list[str]]:
    with DuckDBWarehouse(db) as warehouse:
        counts = warehouse.query(
            "SELECT (SELECT count(*) FROM batches) AS b, (SELECT count(*) FROM order_lines) AS l,"
            " (SELECT count(*) FROM allocations) AS a"
        ).row(0)
        failed = warehouse.query("SELECT reason FROM runs WHERE status = 'failed'")
    return (counts[0], counts[1], counts[2], failed["reason"].to_list())


@pytest.fixture
def s3(s3_env: S3Env) -> S3Env:
    inbox = open_storage(s3_env.url("inbox"))
    inbox.write("batches/n1.csv", BATCHES)
    inbox.write("order_lines/n1.csv", LINES)
    return s3_env


def test_requests_that_fail_twice_are_retried_and_the_run_succeeds(
    s3: S3Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    faults = Faults(fail_first=2, status=503)
    with flaky_proxy(s3.endpoint_url, faults) as endpoint:
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
        night(s3, tmp_path / "w.duckdb")

    assert faults.failed == 2 and faults.forwarded > 0
    assert state(tmp_path / "w.duckdb") == (1, 1, 1, [])


def test_a_missing_bucket_stops_the_run_and_leaves_the_warehouse_unchanged(
    s3: S3Env, tmp_path: Path
) -> None:
    db = tmp_path / "w.duckdb"
    gone = S3Env(bucket="no-such-bucket-here", endpoint_url=s3.endpoint_url)

    with pytest.raises(StorageNotFound, match="s3://no-such-bucket-here/inbox"):
        night(gone, db)

    (batches, lines, allocations, failures) = state(db)
    assert (batches, lines, allocations) == (0, 0, 0)
    assert len(failures) == 1 and "no-such-bucket-here" in failures[0]


def test_access_denied_stops_the_run_with_a_clear_reason(
    s3: S3Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with flaky_proxy(s3.endpoint_url, Faults(always=True, status=403)) as endpoint:
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
        with pytest.raises(StorageAccessDenied, match="s3://"):
            night(s3, tmp_path / "w.duckdb")

    assert state(tmp_path / "w.duckdb")[:3] == (0, 0, 0)


def test_an_unreachable_endpoint_stops_the_run_within_seconds(
    s3: S3Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")

    started = time.monotonic()
    with pytest.raises(StorageUnavailable, match="cannot reach"):
        night(s3, tmp_path / "w.duckdb")
    took = time.monotonic() - started

    # A refused connection is retried a few times within a second, not for obstore's retry
    # timeout (RETRY_TIMEOUT, 15 s); the rest is opening the warehouse.
    assert took < RETRY_TIMEOUT.total_seconds() / 2
    assert state(tmp_path / "w.duckdb")[:3] == (0, 0, 0)


def test_a_permanent_error_in_the_second_night_keeps_the_first_nights_state(
    s3: S3Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "w.duckdb"
    night(s3, db)
    open_storage(s3.url("inbox")).write("order_lines/n2.csv", LINES.replace(b"o1", b"o2"))

    with flaky_proxy(s3.endpoint_url, Faults(always=True, status=503)) as endpoint:
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
        with pytest.raises(StorageError):
            night(s3, db)

    assert state(db)[:3] == (1, 1, 1)
