"""One writer at a time, and readers out of the way: a second run, an analyst's session.

Writers open the warehouse's private master file, which one process may write at a time: a
run that finds it held waits up to its busy timeout, then stops with a one-line reason
naming the holder, and changes nothing. Analysts open the published snapshot read-only,
which no writer ever waits for.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import pytest

from allocation.adapters.storage import open_storage
from allocation.adapters.warehouse import DuckDBWarehouse, WarehouseBusy
from allocation.domain.policy import Policy
from allocation.service_layer.invariants import check_invariants
from allocation.service_layer.nightly import run_night

HOLD = """
import sys, time, duckdb
from allocation.adapters.warehouse import DuckDBWarehouse
if sys.argv[2] == "writer":
    held = DuckDBWarehouse(sys.argv[1]).__enter__()
else:
    con = duckdb.connect(sys.argv[1], read_only=True)
print("ready", flush=True)
time.sleep(float(sys.argv[3]))
"""


@contextmanager
def held(db: Path, mode: str, seconds: float = 30) -> Iterator[subprocess.Popen[str]]:
    """Another process holding the warehouse: a `writer` (a run) or a `reader` (an analyst)."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(db), mode, str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        yield holder
    finally:
        holder.kill()
        holder.communicate()


@pytest.fixture
def night_ready(tmp_path: Path) -> Path:
    """A warehouse with one night done, and the next night's files waiting in the inbox."""
    inbox = open_storage(str(tmp_path / "inbox"))
    inbox.write("batches/n1.csv", b"reference,sku,purchased_quantity,eta\nst,CHAIR,5,\n")
    night(tmp_path)
    inbox.write("order_lines/n2.csv", b"order_id,sku,qty\no1,CHAIR,2\n")
    return tmp_path


def night(root: Path, busy_timeout: float = 0.0) -> None:
    run_night(
        inbox_url=str(root / "inbox"),
        outbox_url=str(root / "outbox"),
        db=str(root / "w.duckdb"),
        policy=Policy.SPLIT,
        run_date=date(2026, 11, 26),
        busy_timeout=busy_timeout,
    )


def lines_loaded(root: Path) -> int:
    with DuckDBWarehouse(root / "w.duckdb") as warehouse:
        assert check_invariants(warehouse) == []
        return int(warehouse.query("SELECT count(*) AS n FROM order_lines")["n"][0])


def test_a_run_that_finds_another_writer_stops_naming_it_and_changes_nothing(
    night_ready: Path,
) -> None:
    with held(night_ready / "w.duckdb", "writer") as holder:
        started = time.monotonic()
        with pytest.raises(WarehouseBusy, match=rf"held by process {holder.pid}.*retry"):
            night(night_ready, busy_timeout=1.0)
        waited = time.monotonic() - started

    assert 0.9 < waited < 10
    assert lines_loaded(night_ready) == 0
    night(night_ready)
    assert lines_loaded(night_ready) == 1


def test_a_run_waiting_for_another_writer_goes_ahead_once_it_lets_go(night_ready: Path) -> None:
    with held(night_ready / "w.duckdb", "writer", seconds=1.5):
        night(night_ready, busy_timeout=30)

    assert lines_loaded(night_ready) == 1


def test_a_run_goes_ahead_at_once_while_an_analyst_holds_the_warehouse(night_ready: Path) -> None:
    with held(night_ready / "w.duckdb", "reader"):
        night(night_ready, busy_timeout=0)

    assert lines_loaded(night_ready) == 1


def test_a_second_allocation_run_is_refused_at_once_with_status_5(night_ready: Path) -> None:
    with held(night_ready / "w.duckdb", "writer") as holder:
        started = time.monotonic()
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "allocation.entrypoints.cli",
                "run",
                "--inbox",
                str(night_ready / "inbox"),
                "--outbox",
                str(night_ready / "outbox"),
                "--db",
                str(night_ready / "w.duckdb"),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "PREFECT_HOME": str(night_ready / "prefect")},
        )
        elapsed = time.monotonic() - started

    assert done.returncode == 5
    assert done.stderr.strip().count("\n") == 0
    assert f"held by process {holder.pid}" in done.stderr
    assert "Traceback" not in done.stderr
    assert elapsed < 6  # refused before Prefect's temporary server would even start
    assert lines_loaded(night_ready) == 0
