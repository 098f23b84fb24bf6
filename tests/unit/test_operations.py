"""The operators' operations on an in-memory warehouse and outbox, with hand-computed results.

Every change is checked against the warehouse's invariants, as the nightly tests do.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import date

import polars as pl
import pytest
from builders import LATER, TOMORROW
from polars.testing import assert_frame_equal

from allocation.adapters.publisher import ParquetPublisher
from allocation.adapters.storage import MemoryStorage
from allocation.adapters.warehouse import DuckDBWarehouse
from allocation.domain import OutOfStock, Policy, UnknownSku
from allocation.domain.status import AllocationStatus, LineStatus
from allocation.service_layer import operation_runs, operations
from allocation.service_layer.errors import Conflict, InvalidInput, NotFound
from allocation.service_layer.invariants import check_invariants
from allocation.service_layer.operations import Allocated, BatchAdded, Held, LineState, Released


class Operator:
    """The operations, bound to one in-memory warehouse and outbox."""

    def __init__(self, warehouse: DuckDBWarehouse) -> None:
        self.warehouse = warehouse
        self.outbox = MemoryStorage()
        self.publisher = ParquetPublisher(self.outbox)

    def add(self, reference: str, sku: str, qty: int, eta: date | str | None = None) -> BatchAdded:
        return operations.add_batch(self.warehouse, self.publisher, reference, sku, qty, eta)

    def stock(self, reference: str, sku: str, qty: int, eta: date | None = None) -> None:
        """Arrange a batch directly, as a night's load would (faster than `add`)."""
        batch = {"reference": reference, "sku": sku, "purchased_quantity": qty, "eta": eta}
        self.warehouse.upsert_batches(
            pl.DataFrame([batch], schema_overrides={"eta": pl.Date()}), "arranged"
        )
        self.warehouse.commit()

    def allocate(
        self, order_id: str, sku: str, qty: int, policy: Policy = Policy.SPLIT
    ) -> Allocated:
        return operations.allocate(
            self.warehouse, self.publisher, order_id, sku, qty, policy=policy
        )

    def deallocate(self, order_id: str, sku: str | None = None) -> Released:
        return operations.deallocate(self.warehouse, self.publisher, order_id, sku)

    def delete(self, reference: str, *, force: bool = False) -> Released:
        return operations.delete_batch(self.warehouse, self.publisher, reference, force=force)

    def line(self, order_id: str, sku: str) -> LineState:
        return operations.line_state(self.warehouse, order_id, sku)

    def available(self, reference: str) -> int:
        return operations.show_batch(self.warehouse, reference).available

    def published(self, name: str, run_id: str | None) -> pl.DataFrame:
        (key,) = [o.key for o in self.outbox.list(name) if o.key.endswith(f"/{run_id}.parquet")]
        return pl.read_parquet(io.BytesIO(self.outbox.read(key)))

    def rows(self, table: str) -> int:
        return int(self.warehouse.query(f"SELECT count(*) AS n FROM {table}")["n"][0])

    def ledger(self, run_id: str | None) -> list[tuple[str, str, int]]:
        rows = self.warehouse.query(
            "SELECT event, batch_ref, qty FROM ledger WHERE run_id = ? ORDER BY event, batch_ref",
            [run_id],
        )
        return list(rows.iter_rows())


@pytest.fixture
def op() -> Iterator[Operator]:
    with DuckDBWarehouse(":memory:") as warehouse:
        operator = Operator(warehouse)
        yield operator
        assert check_invariants(warehouse) == []


def picked(order_id: str, batch_ref: str, qty: int, sku: str = "CHAIR") -> Held:
    return Held(order_id, sku, batch_ref, qty, AllocationStatus.PICKED)


def reserved(order_id: str, batch_ref: str, qty: int, sku: str = "CHAIR") -> Held:
    return Held(order_id, sku, batch_ref, qty, AllocationStatus.RESERVED)


# Batches


def test_an_added_batch_has_all_its_stock_available(op: Operator) -> None:
    added = op.add("b-ship", "CHAIR", 5, "2026-12-01")
    assert added.batch == operations.BatchStock(
        "b-ship", "CHAIR", 5, date(2026, 12, 1), picked=0, reserved=0, available=5
    )
    assert op.warehouse.query("SELECT created_run_id FROM batches")["created_run_id"][0] == (
        added.run_id
    )


def test_batches_are_listed_in_preference_order_and_filtered_by_stock_or_sku(
    op: Operator,
) -> None:
    op.stock("b-later", "CHAIR", 5, LATER)
    op.stock("b-tomorrow", "CHAIR", 5, TOMORROW)
    op.stock("b-stock", "CHAIR", 5)
    op.stock("b-lamp", "LAMP", 5)

    def refs(sku: str | None = None, in_stock: bool | None = None) -> list[str]:
        return [b.reference for b in operations.list_batches(op.warehouse, sku, in_stock)]

    assert refs() == ["b-stock", "b-tomorrow", "b-later", "b-lamp"]
    assert refs(sku="CHAIR", in_stock=True) == ["b-stock"]
    assert refs(in_stock=False) == ["b-tomorrow", "b-later"]


def test_a_batch_reference_already_in_use_is_a_conflict(op: Operator) -> None:
    op.add("b1", "CHAIR", 5)
    with pytest.raises(Conflict, match="batch b1 already exists"):
        op.add("b1", "LAMP", 3)
    assert op.rows("batches") == 1


@pytest.mark.parametrize(
    ("qty", "eta", "reason"),
    [
        (-5, None, "purchased_quantity must be a whole number of at least 0, got '-5'"),
        (5, "2026-13-01", "eta must be a real date written YYYY-MM-DD, got '2026-13-01'"),
    ],
)
def test_a_negative_quantity_or_an_impossible_eta_is_refused_with_the_contracts_reason(
    op: Operator, qty: int, eta: str | None, reason: str
) -> None:
    with pytest.raises(InvalidInput, match=reason):
        op.add("b1", "CHAIR", qty, eta)
    assert op.rows("batches") == op.rows("runs") == 0


def test_a_batch_shows_each_allocation_and_what_is_still_available(op: Operator) -> None:
    op.stock("b-ship", "CHAIR", 10, TOMORROW)
    op.allocate("o1", "CHAIR", 3)
    op.allocate("o2", "CHAIR", 4)
    shown = operations.show_batch(op.warehouse, "b-ship")
    assert shown.allocations == (reserved("o1", "b-ship", 3), reserved("o2", "b-ship", 4))
    assert (shown.picked, shown.reserved, shown.available) == (0, 7, 3)


def test_an_unknown_batch_is_not_found(op: Operator) -> None:
    with pytest.raises(NotFound, match="no batch b-none"):
        operations.show_batch(op.warehouse, "b-none")
    with pytest.raises(NotFound):
        op.delete("b-none")


def test_a_batch_without_allocations_is_deleted(op: Operator) -> None:
    op.add("b1", "CHAIR", 5)
    op.delete("b1")
    assert op.rows("batches") == 0


def test_a_batch_holding_allocations_is_not_deleted_without_force(op: Operator) -> None:
    op.stock("b-stock", "CHAIR", 10)
    op.allocate("o1", "CHAIR", 4)
    with pytest.raises(Conflict, match="batch b-stock has 4 units picked and 0 reserved"):
        op.delete("b-stock")
    assert op.available("b-stock") == 6


def test_forcing_a_delete_withdraws_the_picks_drops_reservations_and_keeps_lines_open(
    op: Operator,
) -> None:
    op.stock("b-stock", "CHAIR", 10)
    op.stock("b-ship", "CHAIR", 5, TOMORROW)
    op.allocate("o1", "CHAIR", 12)  # 10 picked, 2 reserved on b-ship
    op.allocate("o2", "CHAIR", 1)  # 1 reserved on b-ship

    released = op.delete("b-stock", force=True)
    assert released.withdrawn == (picked("o1", "b-stock", 10),)
    assert released.released == ()
    assert op.published("withdrawals", released.run_id).select(
        "order_id", "batch_ref", "qty", "reason"
    ).rows() == [("o1", "b-stock", 10, "batch b-stock deleted by an operator")]
    assert op.line("o1", "CHAIR") == LineState("o1", "CHAIR", 12, LineStatus.OPEN, 0, 2, 10)

    released = op.delete("b-ship", force=True)
    assert released.released == (reserved("o1", "b-ship", 2), reserved("o2", "b-ship", 1))
    assert op.ledger(released.run_id) == [("release", "b-ship", 2), ("release", "b-ship", 1)]
    assert op.rows("batches") == op.rows("allocations") == 0


# Allocating one line


def test_a_line_allocated_from_stock_is_on_the_published_pick_list(op: Operator) -> None:
    op.stock("b-stock", "CHAIR", 10)
    allocated = op.allocate("o1", "CHAIR", 4)

    assert allocated.allocations == (picked("o1", "b-stock", 4),)
    assert allocated.line == LineState(
        "o1", "CHAIR", 4, LineStatus.OPEN, picked=4, reserved=0, short=0
    )
    pick_list = op.published("pick_lists", allocated.run_id)
    assert_frame_equal(
        pick_list,
        pl.DataFrame(
            {
                "pick_list_id": [f"PL-{allocated.run_id}"],
                "line_no": [1],
                "order_id": ["o1"],
                "sku": ["CHAIR"],
                "batch_ref": ["b-stock"],
                "qty": [4],
            }
        ),
    )
    assert any(path.endswith(f"{allocated.run_id}.json") for path in allocated.published)
    assert op.ledger(allocated.run_id) == [("pick", "b-stock", 4)]
    assert op.available("b-stock") == 6


def test_a_line_allocated_from_inbound_stock_is_reserved_not_picked(op: Operator) -> None:
    op.stock("b-ship", "CHAIR", 5, TOMORROW)
    allocated = op.allocate("o1", "CHAIR", 3)

    assert allocated.allocations == (reserved("o1", "b-ship", 3),)
    assert op.published("pick_lists", allocated.run_id).height == 0
    assert op.published("allocations", allocated.run_id).select(
        "batch_ref", "qty", "in_stock", "eta"
    ).rows() == [("b-ship", 3, False, TOMORROW)]
    assert op.ledger(allocated.run_id) == [("reserve", "b-ship", 3)]


def test_a_partly_filled_line_stays_open_with_the_rest_as_a_backorder(op: Operator) -> None:
    op.stock("b-stock", "CHAIR", 10)
    op.stock("b-ship", "CHAIR", 5, TOMORROW)
    allocated = op.allocate("o1", "CHAIR", 20)

    assert allocated.allocations == (picked("o1", "b-stock", 10), reserved("o1", "b-ship", 5))
    assert allocated.line == LineState(
        "o1", "CHAIR", 20, LineStatus.OPEN, picked=10, reserved=5, short=5
    )
    assert op.published("shortages", allocated.run_id).rows() == [("o1", "CHAIR", 20, 15, 5)]
    summary = operations.show_run(op.warehouse, str(allocated.run_id))
    assert (summary.lines_allocated_part, summary.units_allocated, summary.units_short) == (
        1,
        15,
        5,
    )


def test_the_whole_policy_skips_a_batch_too_small_and_is_recorded(op: Operator) -> None:
    op.stock("b-stock", "CHAIR", 3)
    op.stock("b-ship", "CHAIR", 5, TOMORROW)
    allocated = op.allocate("o1", "CHAIR", 4, policy=Policy.WHOLE)

    assert allocated.allocations == (reserved("o1", "b-ship", 4),)
    assert operations.show_run(op.warehouse, str(allocated.run_id)).policy == "whole"


def test_what_other_lines_hold_picked_or_reserved_is_not_available(op: Operator) -> None:
    op.stock("b-stock", "CHAIR", 2)
    op.stock("b-ship", "CHAIR", 5, TOMORROW)
    op.allocate("o1", "CHAIR", 5)  # 2 picked, 3 reserved
    allocated = op.allocate("o2", "CHAIR", 4)

    assert allocated.allocations == (reserved("o2", "b-ship", 2),)
    assert allocated.line.short == 2


def test_a_line_with_nothing_available_is_refused_and_nothing_is_recorded(op: Operator) -> None:
    op.stock("b-stock", "CHAIR", 2)
    op.allocate("o1", "CHAIR", 2)
    runs, files = op.rows("runs"), len(op.outbox.list())

    with pytest.raises(OutOfStock, match="wanted 1, available 0"):
        op.allocate("o2", "CHAIR", 1)
    assert (op.rows("runs"), len(op.outbox.list())) == (runs, files)
    assert op.rows("order_lines") == 1


def test_a_line_of_a_sku_without_any_batch_is_refused(op: Operator) -> None:
    op.stock("b-stock", "CHAIR", 2)
    with pytest.raises(UnknownSku, match="SOFA"):
        op.allocate("o1", "SOFA", 1)
    assert op.rows("order_lines") == 0


def test_allocating_the_same_line_again_changes_nothing(op: Operator) -> None:
    op.stock("b-stock", "CHAIR", 10)
    first = op.allocate("o1", "CHAIR", 4)
    runs = op.rows("runs")

    again = op.allocate("o1", "CHAIR", 4)
    assert again == Allocated(first.line, first.allocations, run_id=None)
    assert op.rows("runs") == runs
    assert op.available("b-stock") == 6


def test_the_same_line_with_another_qty_conflicts_with_the_existing_line(op: Operator) -> None:
    op.stock("b-stock", "CHAIR", 10)
    op.allocate("o1", "CHAIR", 4)
    with pytest.raises(Conflict, match="conflicts with existing line o1/CHAIR of qty 4"):
        op.allocate("o1", "CHAIR", 5)
    assert op.available("b-stock") == 6


def test_a_line_of_zero_units_is_refused_with_the_contracts_reason(op: Operator) -> None:
    op.stock("b-stock", "CHAIR", 10)
    with pytest.raises(InvalidInput, match="qty must be a whole number greater than 0"):
        op.allocate("o1", "CHAIR", 0)


def test_an_operators_line_arrives_after_every_known_line(op: Operator) -> None:
    op.stock("b-stock", "CHAIR", 10)
    op.allocate("o1", "CHAIR", 1)
    op.allocate("o2", "CHAIR", 1)
    lines = op.warehouse.query(
        "SELECT order_id, arrival, source_file, ordered_at IS NOT NULL AS dated "
        "FROM order_lines ORDER BY arrival"
    )
    assert lines.rows() == [("o1", 1, "operator", True), ("o2", 2, "operator", True)]


# Deallocating


def test_deallocating_picked_units_publishes_a_withdrawal_and_keeps_the_line_open(
    op: Operator,
) -> None:
    op.stock("b-stock", "CHAIR", 10)
    op.allocate("o1", "CHAIR", 4)

    released = op.deallocate("o1")
    assert released.withdrawn == (picked("o1", "b-stock", 4),)
    assert op.published("withdrawals", released.run_id).select(
        "order_id", "sku", "batch_ref", "qty", "reason"
    ).rows() == [("o1", "CHAIR", "b-stock", 4, "deallocated by an operator")]
    assert op.ledger(released.run_id) == [("withdraw", "b-stock", 4)]
    assert op.line("o1", "CHAIR") == LineState("o1", "CHAIR", 4, LineStatus.OPEN, 0, 0, short=4)
    assert op.available("b-stock") == 10


def test_deallocating_one_line_leaves_the_orders_other_lines_allocated(op: Operator) -> None:
    op.stock("b-chair", "CHAIR", 10)
    op.stock("b-lamp", "LAMP", 10, TOMORROW)
    op.allocate("o1", "CHAIR", 2)
    op.allocate("o1", "LAMP", 3)

    released = op.deallocate("o1", "LAMP")
    assert (released.withdrawn, released.released) == ((), (reserved("o1", "b-lamp", 3, "LAMP"),))
    assert [line.picked for line in operations.show_lines(op.warehouse, "o1")] == [2, 0]


def test_deallocating_an_order_holding_nothing_is_not_found(op: Operator) -> None:
    op.stock("b-stock", "CHAIR", 10)
    op.allocate("o1", "CHAIR", 4)
    op.deallocate("o1")
    with pytest.raises(NotFound, match="order o1 has nothing allocated"):
        op.deallocate("o1")
    with pytest.raises(NotFound, match="order line o9/CHAIR has nothing allocated"):
        op.deallocate("o9", "CHAIR")


# Look-ups


def test_an_unknown_order_or_run_is_not_found(op: Operator) -> None:
    with pytest.raises(NotFound, match="no order o1"):
        operations.show_lines(op.warehouse, "o1")
    with pytest.raises(NotFound, match="no run r1"):
        operations.show_run(op.warehouse, "r1")


def test_runs_are_listed_latest_first(op: Operator) -> None:
    first = op.add("b1", "CHAIR", 5)
    second = op.allocate("o1", "CHAIR", 1)
    listed = operations.list_runs(op.warehouse)
    assert [r.run_id for r in listed] == [second.run_id, first.run_id]
    assert [r.units_allocated for r in listed] == [1, 0]
    assert operations.list_runs(op.warehouse, limit=1)[0].run_id == second.run_id


def test_the_batch_list_agrees_with_the_analysts_batch_availability_view(op: Operator) -> None:
    op.stock("b-stock", "CHAIR", 10)
    op.stock("b-ship", "CHAIR", 5, TOMORROW)
    op.allocate("o1", "CHAIR", 12)
    listed = {
        (b.reference, b.picked, b.reserved, b.available)
        for b in operations.list_batches(op.warehouse)
    }
    view = op.warehouse.query(
        "SELECT reference, picked, reserved, available FROM batch_availability"
    )
    assert listed == set(view.rows()) == {("b-stock", 10, 0, 0), ("b-ship", 0, 2, 3)}


def test_the_servers_warm_up_row_passes_the_batches_contract() -> None:
    operation_runs.warm_up()  # (a row the contract refused would raise InvalidInput)
