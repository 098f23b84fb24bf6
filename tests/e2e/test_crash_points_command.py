"""`allocation run` killed (SIGKILL) at a crash point, then run again, ends as if it never died.

The same checks as `tests/integration/test_crash_recovery.py`, through the real executable and
Prefect's temporary server rather than `run_night`: a first night runs cleanly, the second
night's files arrive, the executable dies at the point, and the next `allocation run` recovers.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import duckdb
import pytest
from executable import allocation_run, stop_prefect_servers_of
from polars.testing import assert_frame_equal
from scenario import RUN_DATE
from warehouses import NIGHT_1, NIGHT_2, held, published_pick_lists

from allocation.adapters.storage import open_storage
from allocation.adapters.warehouse import DuckDBWarehouse
from allocation.domain.policy import Policy
from allocation.faults import KILL_AT
from allocation.service_layer.invariants import check_invariants
from allocation.service_layer.nightly import run_night


def drop(root: Path, files: dict[str, str]) -> None:
    inbox = open_storage(str(root / "inbox"))
    for key, text in files.items():
        inbox.write(key, text.encode())


def first_night(root: Path) -> None:
    """Night 1, the day before the executable's night, run in-process (it is not under test)."""
    drop(root, NIGHT_1)
    run_night(
        inbox_url=str(root / "inbox"),
        outbox_url=str(root / "outbox"),
        db=str(root / "w.duckdb"),
        policy=Policy.SPLIT,
        run_date=RUN_DATE - timedelta(days=1),
    )
    drop(root, NIGHT_2)


@pytest.fixture(scope="module")
def twin(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[object, ...]]:
    """The allocations after both nights when nothing dies."""
    root = tmp_path_factory.mktemp("twin")
    first_night(root)
    run_night(
        inbox_url=str(root / "inbox"),
        outbox_url=str(root / "outbox"),
        db=str(root / "w.duckdb"),
        policy=Policy.SPLIT,
        run_date=RUN_DATE,
    )
    return held(root / "w.duckdb")


@pytest.mark.slow
@pytest.mark.parametrize("point", ["mid-load", "mid-publish"])  # before and after the commit
def test_an_allocation_run_killed_at_a_crash_point_is_recovered_by_the_next_one(
    point: str, tmp_path: Path, twin: list[tuple[object, ...]]
) -> None:
    first_night(tmp_path)

    killed = allocation_run(tmp_path, **{KILL_AT: point})
    stop_prefect_servers_of(tmp_path / "prefect-home")  # the killed run could not stop its own
    again = allocation_run(tmp_path)

    assert killed.returncode == -9, killed.stderr
    assert again.returncode == 0, again.stderr
    with DuckDBWarehouse(tmp_path / "w.duckdb") as warehouse:
        assert check_invariants(warehouse) == []
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as con:
        files = con.sql(
            "SELECT location, rows_read, rows_loaded, rows_rejected FROM ingested_files "
            "WHERE status <> 'skipped' ORDER BY location"
        ).pl()
        recorded = con.sql(
            "SELECT pick_list_id, line_no, order_id, sku, batch_ref, qty FROM pick_list_lines "
            "ORDER BY pick_list_id, line_no"
        ).pl()
    assert files["location"].str.extract(r"(\w+/n\d\.csv)$").to_list() == sorted(
        [*NIGHT_1, *NIGHT_2]
    )
    assert (files["rows_read"] == files["rows_loaded"] + files["rows_rejected"]).all()
    assert_frame_equal(published_pick_lists(tmp_path / "outbox"), recorded)
    assert held(tmp_path / "w.duckdb") == twin
