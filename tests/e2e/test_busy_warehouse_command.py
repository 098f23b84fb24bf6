"""One writer at a time, through the real executable: a second `allocation run` is told it is busy.

The first holder is a real process with the warehouse open (as a running night has it).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from executable import allocation_run
from scenario import write_inbox

from allocation.adapters.storage import open_storage
from allocation.adapters.warehouse import DuckDBWarehouse

HOLD = """
import sys, time
from allocation.adapters.warehouse import DuckDBWarehouse
with DuckDBWarehouse(sys.argv[1]):
    print("holding", flush=True)
    time.sleep(float(sys.argv[2]))
"""


@contextmanager
def holding(db: Path, seconds: float) -> Iterator[subprocess.Popen[str]]:
    """A process that opens the warehouse, holds it for `seconds` (or until killed), then exits."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(db), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        yield holder
    finally:
        holder.kill()
        holder.communicate()


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    """A warehouse file that exists, and a night's inbox beside it."""
    db = tmp_path / "w.duckdb"
    with DuckDBWarehouse(db) as created:
        created.commit()
    write_inbox(open_storage(str(tmp_path / "inbox")))
    return db


def assert_busy(done: subprocess.CompletedProcess[str], holder: int) -> None:
    assert done.returncode == 5, done.stderr
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("error: warehouse "), done.stderr
    assert f"is busy (held by process {holder})" in done.stderr
    assert "retry later" in done.stderr


def test_a_second_run_is_refused_at_once_with_status_5_before_prefect_starts(
    tmp_path: Path, warehouse: Path
) -> None:
    with holding(warehouse, 120) as holder:
        started = time.monotonic()
        done = allocation_run(tmp_path)
        took = time.monotonic() - started

    assert_busy(done, holder.pid)
    assert took < 30  # its own start-up only (a few seconds), not the holder's two minutes
    assert not (tmp_path / "prefect-home" / "prefect.db").exists()  # no Prefect server started


@pytest.mark.parametrize("given_as", ["option", "environment"])
def test_a_busy_timeout_waits_about_that_long_then_exits_5(
    tmp_path: Path, warehouse: Path, given_as: str
) -> None:
    wait = 4.0
    options = ("--busy-timeout", str(wait)) if given_as == "option" else ()
    env = {"ALLOCATION_BUSY_TIMEOUT": str(wait)} if given_as == "environment" else {}
    with holding(warehouse, 120) as holder:
        started = time.monotonic()
        done = allocation_run(tmp_path, *options, **env)
        took = time.monotonic() - started

    assert_busy(done, holder.pid)
    assert took >= wait
    assert took < wait + 30  # then it gives up, long before the holder lets go


@pytest.mark.slow
def test_a_run_that_waits_longer_than_the_holder_runs_the_night(
    tmp_path: Path, warehouse: Path
) -> None:
    with holding(warehouse, 3):
        done = allocation_run(tmp_path, "--busy-timeout", "120")

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["status"] == "committed"
