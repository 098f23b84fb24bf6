"""The services against the `Warehouse` interface: each scenario on the fake and on DuckDB.

The fake (`tests/fakes.py`) lets a service be tested without a database; running every
scenario on DuckDB `:memory:` as well shows the fake answers as the real warehouse does.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

import polars as pl
import pytest
from builders import TODAY, TOMORROW, ordered_at
from fakes import FakeWarehouse
from polars.testing import assert_frame_equal

from allocation.adapters.publisher import ParquetPublisher
from allocation.adapters.storage import MemoryStorage
from allocation.adapters.warehouse import DuckDBWarehouse, Warehouse
from allocation.domain import Policy
from allocation.domain.status import AllocationStatus, LineStatus, RunStatus
from allocation.service_layer import allocating, operations, publishing, runs
from allocation.service_layer.errors import Conflict
from allocation.service_layer.invariants import check_invariants
from allocation.service_layer.publishing import OUTPUT_CONTRACTS

MOVES = {"order_id": pl.String, "sku": pl.String, "batch_ref": pl.String, "qty": pl.Int64}


@pytest.fixture(params=["fake", "duckdb"])
def warehouse(request: pytest.FixtureRequest) -> Iterator[Warehouse]:
    """An empty warehouse, in memory: the fake or DuckDB; its invariants hold at the end."""
    with FakeWarehouse() if request.param == "fake" else DuckDBWarehouse(":memory:") as opened:
        yield opened
        assert check_invariants(opened) == []


@pytest.fixture(params=["fake", "duckdb"])
def store(request: pytest.FixtureRequest) -> Iterator[Warehouse]:
    """An empty warehouse for one repository operation alone (no run: invariants not checked)."""
    with FakeWarehouse() if request.param == "fake" else DuckDBWarehouse(":memory:") as opened:
        yield opened


@pytest.fixture
def publisher() -> ParquetPublisher:
    return ParquetPublisher(MemoryStorage())


def stock(
    warehouse: Warehouse, reference: str, sku: str, qty: int, eta: date | None = None
) -> None:
    """Arrange a batch, as a night's load would."""
    batch = {"reference": reference, "sku": sku, "purchased_quantity": qty, "eta": eta}
    warehouse.upsert_batches(pl.DataFrame([batch], schema_overrides={"eta": pl.Date()}), "arranged")


def order(warehouse: Warehouse, order_id: str, sku: str, qty: int, day: int) -> None:
    """Arrange an open order line, ordered on the given day of March 2025, arriving last."""
    line = {"order_id": order_id, "sku": sku, "qty": qty, "priority": 0}
    warehouse.append(
        "order_lines",
        pl.DataFrame([line]).with_columns(
            ordered_at=pl.lit(ordered_at(day)),
            arrival=pl.lit(warehouse.last_arrival() + 1),
            source_file=pl.lit("arranged.csv"),
        ),
        status=LineStatus.OPEN,
        run_id="arranged",
    )


def moves(*rows: tuple[str, str, str, int]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=MOVES, orient="row")


def held(warehouse: Warehouse, status: AllocationStatus) -> pl.DataFrame:
    return warehouse.allocations(status).sort(pl.all())


def night(warehouse: Warehouse) -> runs.RunContext:
    """A night's run, started."""
    run = runs.new_run(TODAY, Policy.SPLIT, now=datetime(2025, 3, 3, 22, tzinfo=UTC))
    runs.start_run(warehouse, run)
    return run


def test_the_allocation_stage_picks_in_stock_reserves_inbound_and_reports_the_short(
    warehouse: Warehouse,
) -> None:
    stock(warehouse, "b-stock", "CHAIR", 10)
    stock(warehouse, "b-ship", "CHAIR", 10, TOMORROW)
    stock(warehouse, "b-lamp", "LAMP", 2)
    order(warehouse, "o1", "CHAIR", 6, day=1)
    order(warehouse, "o2", "CHAIR", 8, day=2)
    order(warehouse, "o3", "LAMP", 5, day=3)

    report = allocating.allocate_open_demand(warehouse, night(warehouse))

    assert report == allocating.AllocationReport(
        lines_allocated_full=2,
        lines_allocated_part=1,
        lines_unallocated=0,
        units_allocated=16,
        units_short=3,
        pick_list_lines=3,
    )
    assert_frame_equal(
        held(warehouse, AllocationStatus.PICKED),
        moves(
            ("o1", "CHAIR", "b-stock", 6),
            ("o2", "CHAIR", "b-stock", 4),
            ("o3", "LAMP", "b-lamp", 2),
        ),
    )
    assert_frame_equal(
        held(warehouse, AllocationStatus.RESERVED), moves(("o2", "CHAIR", "b-ship", 4))
    )


def test_a_second_allocation_stage_keeps_the_picks_and_changes_nothing(
    warehouse: Warehouse,
) -> None:
    stock(warehouse, "b-stock", "CHAIR", 5)
    stock(warehouse, "b-ship", "CHAIR", 10, TOMORROW)
    order(warehouse, "o1", "CHAIR", 8, day=1)
    allocating.allocate_open_demand(warehouse, night(warehouse))

    again = allocating.allocate_open_demand(warehouse, night(warehouse))

    assert (again.units_allocated, again.pick_list_lines, again.units_short) == (3, 0, 0)
    assert_frame_equal(
        held(warehouse, AllocationStatus.PICKED), moves(("o1", "CHAIR", "b-stock", 5))
    )
    assert_frame_equal(
        held(warehouse, AllocationStatus.RESERVED), moves(("o1", "CHAIR", "b-ship", 3))
    )


def test_a_committed_run_is_published_once_and_its_summary_read_back(
    warehouse: Warehouse, publisher: ParquetPublisher
) -> None:
    stock(warehouse, "b-stock", "CHAIR", 5)
    order(warehouse, "o1", "CHAIR", 2, day=1)
    run = night(warehouse)
    allocating.allocate_open_demand(warehouse, run)

    summary = runs.finish_run(warehouse, run, {"units_allocated": 2, "pick_list_lines": 1})

    assert (summary.status, summary.units_allocated, summary.units_short) == (
        RunStatus.COMMITTED,
        2,
        0,
    )
    written = publishing.publish_pending(warehouse, publisher)
    folders = [location.removeprefix("memory:///").split("/")[0] for location in written]
    assert sorted(folders) == sorted([*OUTPUT_CONTRACTS, "manifests"])
    assert all(run.run_id in location for location in written)
    assert publishing.publish_pending(warehouse, publisher) == []


def test_a_failed_run_is_recorded_with_its_reason_and_its_changes_undone(
    warehouse: Warehouse,
) -> None:
    stock(warehouse, "b-stock", "CHAIR", 5)
    warehouse.commit()
    run = night(warehouse)
    stock(warehouse, "b-other", "CHAIR", 5)

    runs.record_failure(warehouse, run, "disk full")

    assert warehouse.batches()["reference"].to_list() == ["b-stock"]
    recorded = warehouse.run(run.run_id)
    assert recorded is not None
    assert (recorded["status"], recorded["reason"]) == (RunStatus.FAILED, "disk full")


def test_an_added_batch_can_be_deleted_and_its_reference_used_again(
    warehouse: Warehouse, publisher: ParquetPublisher
) -> None:
    added = operations.add_batch(warehouse, publisher, "b1", "CHAIR", 5)
    assert (added.batch.reference, added.batch.available) == ("b1", 5)
    with pytest.raises(Conflict, match="batch b1 already exists"):
        operations.add_batch(warehouse, publisher, "b1", "LAMP", 3)

    released = operations.delete_batch(warehouse, publisher, "b1")

    assert (released.withdrawn, released.released) == ((), ())
    assert warehouse.batches().is_empty()
    assert operations.add_batch(warehouse, publisher, "b1", "LAMP", 3).batch.sku == "LAMP"


def test_allocating_one_line_picks_from_stock_and_reserves_the_rest_inbound(
    warehouse: Warehouse, publisher: ParquetPublisher
) -> None:
    stock(warehouse, "b-stock", "CHAIR", 3)
    stock(warehouse, "b-ship", "CHAIR", 10, TOMORROW)

    allocated = operations.allocate(warehouse, publisher, "o1", "CHAIR", 5)

    assert allocated.allocations == (
        operations.Held("o1", "CHAIR", "b-stock", 3, AllocationStatus.PICKED),
        operations.Held("o1", "CHAIR", "b-ship", 2, AllocationStatus.RESERVED),
    )
    assert allocated.line == operations.LineState(
        "o1", "CHAIR", 5, LineStatus.OPEN, picked=3, reserved=2, short=0
    )
    assert allocated.run_id is not None
    assert_frame_equal(
        warehouse.run_outputs(allocated.run_id)["pick_lists"].select(*MOVES),
        moves(("o1", "CHAIR", "b-stock", 3)),
    )


def test_deallocating_withdraws_the_picks_drops_the_reservations_and_keeps_the_line_open(
    warehouse: Warehouse, publisher: ParquetPublisher
) -> None:
    stock(warehouse, "b-stock", "CHAIR", 3)
    stock(warehouse, "b-ship", "CHAIR", 10, TOMORROW)
    operations.allocate(warehouse, publisher, "o1", "CHAIR", 5)

    released = operations.deallocate(warehouse, publisher, "o1")

    assert [(h.batch_ref, h.qty) for h in released.withdrawn] == [("b-stock", 3)]
    assert [(h.batch_ref, h.qty) for h in released.released] == [("b-ship", 2)]
    assert operations.line_state(warehouse, "o1", "CHAIR") == operations.LineState(
        "o1", "CHAIR", 5, LineStatus.OPEN, picked=0, reserved=0, short=5
    )
    withdrawals = warehouse.run_outputs(released.run_id)["withdrawals"]
    assert withdrawals.select("batch_ref", "qty", "reason").rows() == [
        ("b-stock", 3, "deallocated by an operator")
    ]


@pytest.mark.parametrize("kind", ["fake", "duckdb"])
def test_the_invariant_checks_find_a_pick_beyond_its_batch_of_an_unknown_line(kind: str) -> None:
    with FakeWarehouse() if kind == "fake" else DuckDBWarehouse(":memory:") as warehouse:
        stock(warehouse, "b1", "CHAIR", 5)
        warehouse.add_allocations(AllocationStatus.PICKED, moves(("o1", "CHAIR", "b1", 7)), "r1")

        found = {violation.split(":")[0] for violation in check_invariants(warehouse)}

    assert found == {
        "batch allocated beyond its purchased quantity",
        "allocation of an unknown or cancelled line",
        "picked quantity differs from pick lists published minus withdrawals",
    }


def test_subtracting_allocations_deletes_the_emptied_shrinks_the_rest_and_leaves_others(
    store: Warehouse,
) -> None:
    stock(store, "b1", "CHAIR", 20)
    stock(store, "b2", "CHAIR", 20, TOMORROW)
    store.add_allocations(
        AllocationStatus.PICKED, moves(("o1", "CHAIR", "b1", 3), ("o2", "CHAIR", "b1", 4)), "r1"
    )
    store.add_allocations(AllocationStatus.RESERVED, moves(("o1", "CHAIR", "b2", 5)), "r1")
    taken = moves(("o1", "CHAIR", "b1", 3), ("o2", "CHAIR", "b1", 1), ("o9", "CHAIR", "b1", 2))

    store.subtract_allocations(
        taken.with_columns(status=pl.lit(AllocationStatus.PICKED.value)), "r2"
    )

    assert_frame_equal(held(store, AllocationStatus.PICKED), moves(("o2", "CHAIR", "b1", 3)))
    assert_frame_equal(held(store, AllocationStatus.RESERVED), moves(("o1", "CHAIR", "b2", 5)))


def run_stamps(warehouse: Warehouse) -> list[tuple[str, str, int, str]]:
    """Each allocation's order, batch, qty and the run that last changed it."""
    columns = ["order_id", "batch_ref", "qty", "run_id"]
    if isinstance(warehouse, FakeWarehouse):
        return sorted(warehouse.tables["allocations"].select(columns).rows())
    assert isinstance(warehouse, DuckDBWarehouse)
    return sorted(warehouse.query(f"SELECT {', '.join(columns)} FROM allocations").rows())


def test_subtracting_allocations_stamps_only_the_shrunk_ones_with_the_run(
    store: Warehouse,
) -> None:
    stock(store, "b1", "CHAIR", 20)
    store.add_allocations(
        AllocationStatus.PICKED, moves(("o1", "CHAIR", "b1", 3), ("o2", "CHAIR", "b1", 4)), "r1"
    )
    taken = moves(("o2", "CHAIR", "b1", 1)).with_columns(status=pl.lit("picked"))

    store.subtract_allocations(taken, "r2")

    assert run_stamps(store) == [("o1", "b1", 3, "r1"), ("o2", "b1", 3, "r2")]


def test_the_lines_of_one_order_are_read_alone(store: Warehouse) -> None:
    order(store, "o1", "CHAIR", 2, day=1)
    order(store, "o2", "CHAIR", 3, day=1)
    order(store, "o1", "LAMP", 4, day=2)

    lines = store.lines("order_id", "sku", "qty", order_id="o1").sort("sku")

    assert lines.rows() == [("o1", "CHAIR", 2), ("o1", "LAMP", 4)]
    assert store.lines("sku", status=LineStatus.CANCELLED, order_id="o1").is_empty()


def test_the_allocations_held_on_one_skus_batches_are_read_alone(store: Warehouse) -> None:
    stock(store, "b-chair", "CHAIR", 20)
    stock(store, "b-ship", "CHAIR", 20, TOMORROW)
    stock(store, "b-lamp", "LAMP", 20)
    store.add_allocations(
        AllocationStatus.PICKED,
        moves(
            ("o2", "CHAIR", "b-chair", 1),
            ("o1", "CHAIR", "b-chair", 2),
            ("o1", "LAMP", "b-lamp", 3),
        ),
        "r1",
    )
    store.add_allocations(AllocationStatus.RESERVED, moves(("o1", "CHAIR", "b-ship", 4)), "r1")

    found = store.held_on_batches(sku="CHAIR")

    assert found.rows() == [
        ("o1", "CHAIR", "b-chair", 2, "picked"),
        ("o2", "CHAIR", "b-chair", 1, "picked"),
        ("o1", "CHAIR", "b-ship", 4, "reserved"),
    ]


def test_allocating_one_line_leaves_every_other_allocation_and_its_run_as_it_was(
    warehouse: Warehouse, publisher: ParquetPublisher
) -> None:
    stock(warehouse, "b-stock", "CHAIR", 10)
    stock(warehouse, "b-ship", "CHAIR", 10, TOMORROW)
    order(warehouse, "o1", "CHAIR", 12, day=1)
    allocating.allocate_open_demand(warehouse, night(warehouse))
    (night_run,) = {run_id for *_, run_id in run_stamps(warehouse)}

    allocated = operations.allocate(warehouse, publisher, "o2", "CHAIR", 5)

    assert run_stamps(warehouse) == [
        ("o1", "b-ship", 2, night_run),
        ("o1", "b-stock", 10, night_run),
        ("o2", "b-ship", 5, allocated.run_id),
    ]
