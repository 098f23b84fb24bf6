"""Each invariant `allocation check` holds fires on a warehouse that breaks that one rule.

Two real nights build a warehouse file that keeps every rule and has something for each rule
to look at (picks, a reservation, a pick list, a withdrawal, a cancelled line, two runs). Each
test copies it, breaks one rule with plain SQL (what a bug in a writer would leave behind),
and checks that `check_invariants` names that rule, for the offending rows, and nothing else.

The warehouse, worked out by hand (split policy):

- Night 1. Batches st CHAIR 5 (in stock), ship CHAIR 10 (inbound), lamp LAMP 2 (in stock).
  Lines in demand order: o1 CHAIR 3 (priority 1), o2 CHAIR 4, o3 SOFA 1, o4 LAMP 1.
  o1 picks 3 of st; o2 picks the other 2 of st and reserves 2 of ship; o3 is short (no SOFA);
  o4 picks 1 of lamp. The pick list has three lines.
- Night 2. st is cut to 4: o2's pick gives way by 1 (a withdrawal) and o2 reserves 3 of ship.
  o4 is cancelled: its pick is withdrawn.
- So: allocations o1 st picked 3, o2 st picked 1, o2 ship reserved 3; withdrawals o2 st 1 and
  o4 lamp 1; o4 cancelled; two committed, published runs.
"""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import duckdb
import pytest
from warehouses import nights_into

from allocation.adapters.warehouse import DuckDBWarehouse
from allocation.service_layer.invariants import check_invariants

BATCHES = "reference,sku,purchased_quantity,eta"
LINES = "order_id,sku,qty,priority,ordered_at"
NIGHTS = [
    {
        "batches/1.csv": f"{BATCHES}\nst,CHAIR,5,\nship,CHAIR,10,2026-12-01\nlamp,LAMP,2,\n",
        "order_lines/1.csv": f"{LINES}\no1,CHAIR,3,1,\no2,CHAIR,4,0,\no3,SOFA,1,0,\no4,LAMP,1,0,\n",
    },
    {
        "batches/2.csv": f"{BATCHES}\nst,CHAIR,4,\n",
        "cancellations/2.csv": "order_id,sku\no4,\n",
    },
]

BATCH_OVER_QUANTITY = "batch allocated beyond its purchased quantity"
LINE_OVER_QTY = "line allocated beyond its qty"
WRONG_BATCH = "allocation to a batch of another sku or to no batch"
NOT_OPEN_LINE = "allocation of an unknown or cancelled line"
RESERVED_IN_STOCK = "reservation on an in-stock batch"
PICKED_VS_PUBLISHED = "picked quantity differs from pick lists published minus withdrawals"
LINE_TWICE = "order line stored more than once"
ALLOCATION_TWICE = "allocation stored more than once"
PICK_LINE_TWICE = "pick-list line published more than once"
RUN_NOT_PUBLISHED = "committed run not published"


@pytest.fixture(scope="module")
def kept(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A warehouse file after the two nights, every rule kept (made once, copied per test)."""
    return nights_into(tmp_path_factory.mktemp("two-nights"), NIGHTS, date(2026, 11, 26))


@pytest.fixture
def db(kept: Path, tmp_path: Path) -> Path:
    """This test's own copy of the warehouse file."""
    copy = tmp_path / "w.duckdb"
    shutil.copyfile(kept, copy)
    return copy


def broken(db: Path, *statements: str) -> list[str]:
    """Break the warehouse with plain SQL, then run the check through the real adapter."""
    with duckdb.connect(str(db)) as con:
        for statement in statements:
            con.execute(statement)
    with DuckDBWarehouse(str(db)) as warehouse:
        return check_invariants(warehouse)


def rules(violations: list[str]) -> list[str]:
    """The rule each violation line names (the text before its first colon)."""
    return [line.split(": ", 1)[0] for line in violations]


def sql(db: Path, query: str) -> list[tuple[object, ...]]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.sql(query).fetchall()


def test_the_warehouse_two_nights_leave_keeps_every_rule_and_has_something_for_each(
    db: Path,
) -> None:
    held = "SELECT order_id, batch_ref, status, qty FROM allocations ORDER BY ALL"
    assert sql(db, held) == [
        ("o1", "st", "picked", 3),
        ("o2", "ship", "reserved", 3),
        ("o2", "st", "picked", 1),
    ]
    withdrawn = "SELECT order_id, batch_ref, qty FROM withdrawals ORDER BY ALL"
    assert sql(db, withdrawn) == [("o2", "st", 1), ("o4", "lamp", 1)]
    assert sql(db, "SELECT count(*) FROM pick_list_lines") == [(3,)]
    assert sql(db, "SELECT order_id FROM order_lines WHERE status = 'cancelled'") == [("o4",)]
    assert sql(db, "SELECT status, published_at IS NOT NULL FROM runs") == [
        ("committed", True),
        ("committed", True),
    ]
    assert broken(db) == []


def test_a_batch_allocated_beyond_its_quantity_is_reported(db: Path) -> None:
    violations = broken(db, "UPDATE batches SET purchased_quantity = 3 WHERE reference = 'st'")

    assert rules(violations) == [BATCH_OVER_QUANTITY]
    assert "reference=st" in violations[0]
    assert "allocated=4" in violations[0]


def test_a_line_allocated_beyond_its_qty_is_reported(db: Path) -> None:
    violations = broken(db, "UPDATE order_lines SET qty = 2 WHERE order_id = 'o1'")

    assert rules(violations) == [LINE_OVER_QTY]
    assert "order_id=o1" in violations[0]


def test_an_allocation_to_a_batch_of_another_sku_is_reported(db: Path) -> None:
    violations = broken(db, "UPDATE batches SET sku = 'LAMP' WHERE reference = 'ship'")

    assert rules(violations) == [WRONG_BATCH]
    assert "order_id=o2" in violations[0]
    assert "batch_ref=ship" in violations[0]


def test_an_allocation_to_a_batch_that_is_not_there_is_reported(db: Path) -> None:
    violations = broken(db, "DELETE FROM batches WHERE reference = 'ship'")

    assert rules(violations) == [WRONG_BATCH]
    assert "batch_ref=ship" in violations[0]


def test_an_allocation_of_a_cancelled_line_is_reported(db: Path) -> None:
    violations = broken(db, "UPDATE order_lines SET status = 'cancelled' WHERE order_id = 'o2'")

    assert rules(violations) == [NOT_OPEN_LINE, NOT_OPEN_LINE]  # its pick and its reservation
    assert all("order_id=o2" in line for line in violations)


def test_an_allocation_of_an_unknown_line_is_reported(db: Path) -> None:
    violations = broken(db, "DELETE FROM order_lines WHERE order_id = 'o1'")

    assert rules(violations) == [NOT_OPEN_LINE]
    assert "order_id=o1" in violations[0]


def test_a_reservation_on_an_in_stock_batch_is_reported(db: Path) -> None:
    violations = broken(db, "UPDATE batches SET eta = NULL WHERE reference = 'ship'")

    assert rules(violations) == [RESERVED_IN_STOCK]
    assert "order_id=o2" in violations[0]
    assert "batch_ref=ship" in violations[0]


def test_a_pick_whose_withdrawal_is_missing_is_reported(db: Path) -> None:
    violations = broken(db, "DELETE FROM withdrawals WHERE order_id = 'o2'")

    assert rules(violations) == [PICKED_VS_PUBLISHED]
    assert "order_id=o2" in violations[0]
    assert "published=2, withdrawn=0, picked=1" in violations[0]


def test_a_pick_never_published_on_a_pick_list_is_reported(db: Path) -> None:
    violations = broken(
        db, "UPDATE allocations SET status = 'picked' WHERE order_id = 'o2' AND batch_ref = 'ship'"
    )

    assert rules(violations) == [PICKED_VS_PUBLISHED]
    assert "batch_ref=ship" in violations[0]
    assert "published=0, withdrawn=0, picked=3" in violations[0]


def test_an_order_line_stored_twice_is_reported(db: Path) -> None:
    # o3 holds no allocation, so the copy breaks no other rule.
    violations = broken(
        db, "INSERT INTO order_lines SELECT * FROM order_lines WHERE order_id = 'o3'"
    )

    assert rules(violations) == [LINE_TWICE]
    assert "order_id=o3" in violations[0]
    assert "times=2" in violations[0]


def test_an_allocation_stored_twice_is_reported(db: Path) -> None:
    # o2's reservation of 3 split into rows of 2 and 1: every total stays right.
    violations = broken(
        db,
        "INSERT INTO allocations SELECT order_id, sku, batch_ref, 1, status, run_id "
        "FROM allocations WHERE order_id = 'o2' AND status = 'reserved'",
        "UPDATE allocations SET qty = 2 WHERE order_id = 'o2' AND status = 'reserved' AND qty = 3",
    )

    assert rules(violations) == [ALLOCATION_TWICE]
    assert "batch_ref=ship" in violations[0]
    assert "times=2" in violations[0]


def test_a_pick_list_line_published_twice_is_reported(db: Path) -> None:
    # Line 2 renumbered 1: two lines under one number, every quantity unchanged.
    violations = broken(db, "UPDATE pick_list_lines SET line_no = 1 WHERE line_no = 2")

    assert rules(violations) == [PICK_LINE_TWICE]
    assert "line_no=1" in violations[0]
    assert "times=2" in violations[0]


def test_a_committed_run_left_unpublished_behind_a_later_run_is_reported(db: Path) -> None:
    first = "(SELECT min(started_at) FROM runs)"
    violations = broken(db, f"UPDATE runs SET published_at = NULL WHERE started_at = {first}")

    (run_id,) = sql(db, f"SELECT run_id FROM runs WHERE started_at = {first}")[0]
    assert rules(violations) == [RUN_NOT_PUBLISHED]
    assert f"run_id={run_id}" in violations[0]


def test_the_latest_run_not_yet_published_is_not_a_violation(db: Path) -> None:
    # The latest run may be publishing right now; the next run publishes it if it died.
    latest = "(SELECT max(started_at) FROM runs)"

    assert broken(db, f"UPDATE runs SET published_at = NULL WHERE started_at = {latest}") == []
