"""Across nights: re-runs, duplicates, backorders, arrivals, batch changes and cancellations.

Each scenario runs the real flow night after night over one inbox; every expectation is
worked out by hand in the comments. Invariants are checked after every night by `nights.run`.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from nights import Warehouse

pytestmark = pytest.mark.usefixtures("prefect_harness")

BATCHES = "reference,sku,purchased_quantity,eta"
LINES = "order_id,sku,qty,priority,ordered_at"


@pytest.fixture
def wh(tmp_path: Path) -> Warehouse:
    return Warehouse(tmp_path)


def test_a_line_sent_again_is_a_duplicate_and_with_another_qty_a_conflict(wh: Warehouse) -> None:
    wh.drop("batches/1.csv", f"{BATCHES}\nst,CHAIR,10,")
    wh.drop("order_lines/1.csv", f"{LINES}\no1,CHAIR,5,0,")
    wh.run()
    wh.drop("order_lines/2a.csv", f"{LINES}\no1,CHAIR,5,0,\no3,CHAIR,1,0,")
    wh.drop("order_lines/2b.csv", f"{LINES}\no1,CHAIR,7,0,")

    second = wh.run()

    assert (second.duplicate_lines, second.rows_rejected, second.pick_list_lines) == (1, 1, 1)
    rejects = wh.output("rejects", second)
    assert rejects["reason"][0].startswith("conflicts with existing line o1/CHAIR of qty 5")
    assert wh.held() == [("o1", "CHAIR", "st", "picked", 5), ("o3", "CHAIR", "st", "picked", 1)]


def test_a_backorder_is_filled_by_new_stock_two_nights_later_ahead_of_a_newer_order(
    wh: Warehouse,
) -> None:
    wh.drop("batches/1.csv", f"{BATCHES}\nst1,CHAIR,5,")
    wh.drop("order_lines/1.csv", f"{LINES}\no1,CHAIR,8,0,")
    first = wh.run()  # o1 picks 5, 3 short
    wh.drop("order_lines/2.csv", f"{LINES}\no2,CHAIR,4,0,")
    second = wh.run()  # no stock: o1 still 3 short, o2 4 short
    wh.drop("batches/3.csv", f"{BATCHES}\nst2,CHAIR,5,")

    third = wh.run()  # o1 (older) takes 3 of st2 first, o2 gets the other 2

    assert wh.picks(first) == [("o1", "CHAIR", "st1", 5)]
    assert (second.pick_list_lines, second.units_short) == (0, 7)
    assert wh.picks(third) == [("o1", "CHAIR", "st2", 3), ("o2", "CHAIR", "st2", 2)]
    assert wh.output("shortages", third).rows() == [("o2", "CHAIR", 4, 2, 2)]


def test_an_inbound_batch_that_arrives_puts_its_reserved_lines_on_that_nights_pick_list(
    wh: Warehouse,
) -> None:
    wh.drop("batches/1.csv", f"{BATCHES}\nship,CHAIR,10,2026-12-01")
    wh.drop("order_lines/1.csv", f"{LINES}\no1,CHAIR,4,0,")
    first = wh.run()
    assert (first.pick_list_lines, wh.held()) == (0, [("o1", "CHAIR", "ship", "reserved", 4)])
    wh.drop("batches/2.csv", f"{BATCHES}\nship,CHAIR,10,")  # arrived: no eta any more

    second = wh.run()

    assert wh.picks(second) == [("o1", "CHAIR", "ship", 4)]
    assert wh.held() == [("o1", "CHAIR", "ship", "picked", 4)]


def test_a_new_in_stock_batch_pulls_an_inbound_reservation_forward(wh: Warehouse) -> None:
    wh.drop("batches/1.csv", f"{BATCHES}\nship,CHAIR,10,2026-12-01")
    wh.drop("order_lines/1.csv", f"{LINES}\no1,CHAIR,4,0,")
    wh.run()
    wh.drop("batches/2.csv", f"{BATCHES}\nst,CHAIR,6,")

    second = wh.run()

    assert wh.picks(second) == [("o1", "CHAIR", "st", 4)]
    assert wh.held() == [("o1", "CHAIR", "st", "picked", 4)]
    events = wh.sql(
        "SELECT event, batch_ref, qty FROM ledger WHERE order_id = 'o1' ORDER BY recorded_at, event"
    )
    assert events == [("reserve", "ship", 4), ("pick", "st", 4), ("release", "ship", 4)]


def test_a_batch_cut_below_its_picks_withdraws_only_the_excess_from_the_last_pick_and_reopens_it(
    wh: Warehouse,
) -> None:
    wh.drop("batches/1.csv", f"{BATCHES}\nst,CHAIR,5,")
    wh.drop("order_lines/1.csv", f"{LINES}\no1,CHAIR,2,1,\no2,CHAIR,3,0,")
    wh.run()  # both picked: o1 (priority 1) 2, o2 3
    wh.drop("batches/2.csv", f"{BATCHES}\nst,CHAIR,4,")  # 1 damaged after the pick list went out

    second = wh.run()  # 1 too many on st: o2 (last in demand order) gives way by 1, keeps 2

    withdrawals = wh.output("withdrawals", second)
    assert withdrawals.select("order_id", "sku", "batch_ref", "qty").rows() == [
        ("o2", "CHAIR", "st", 1)
    ]
    assert wh.held() == [("o1", "CHAIR", "st", "picked", 2), ("o2", "CHAIR", "st", "picked", 2)]
    assert wh.output("shortages", second).rows() == [("o2", "CHAIR", 3, 2, 1)]
    wh.drop("batches/3.csv", f"{BATCHES}\nst,CHAIR,6,")  # recounted: 6 after all

    third = wh.run()  # o2, reopened, picks the 1 it lost

    assert wh.picks(third) == [("o2", "CHAIR", "st", 1)]
    assert wh.held() == [("o1", "CHAIR", "st", "picked", 2), ("o2", "CHAIR", "st", "picked", 3)]


def test_a_deeper_cut_takes_all_of_the_last_pick_and_only_the_rest_from_the_one_before(
    wh: Warehouse,
) -> None:
    wh.drop("batches/1.csv", f"{BATCHES}\nst,CHAIR,6,")
    wh.drop("order_lines/1.csv", f"{LINES}\no1,CHAIR,2,2,\no2,CHAIR,2,1,\no3,CHAIR,2,0,")
    wh.run()  # all three picked, 2 each, in demand order o1, o2, o3
    wh.drop("batches/2.csv", f"{BATCHES}\nst,CHAIR,3,")

    second = wh.run()  # 3 too many: o3 gives way by its 2, o2 by 1, o1 keeps its 2

    withdrawals = wh.output("withdrawals", second)
    assert sorted(withdrawals.select("order_id", "batch_ref", "qty").rows()) == [
        ("o2", "st", 1),
        ("o3", "st", 2),
    ]
    assert wh.held() == [("o1", "CHAIR", "st", "picked", 2), ("o2", "CHAIR", "st", "picked", 1)]
    assert wh.output("shortages", second).rows() == [
        ("o2", "CHAIR", 2, 1, 1),
        ("o3", "CHAIR", 2, 0, 2),
    ]


def test_cancelling_before_and_after_picking_releases_and_withdraws(wh: Warehouse) -> None:
    wh.drop("batches/1.csv", f"{BATCHES}\nst,CHAIR,2,\nship,CHAIR,10,2026-12-01")
    wh.drop("order_lines/1.csv", f"{LINES}\no1,CHAIR,2,0,\no2,CHAIR,3,0,")
    wh.run()  # o1 picks st 2; o2 reserves ship 3
    wh.drop("cancellations/2.csv", "order_id,sku\no1,\no2,CHAIR\no9,")

    second = wh.run()

    withdrawals = wh.output("withdrawals", second)
    assert withdrawals.select("order_id", "batch_ref", "qty").rows() == [("o1", "st", 2)]
    assert wh.held() == []
    assert wh.sql("SELECT order_id, status FROM order_lines ORDER BY 1") == [
        ("o1", "cancelled"),
        ("o2", "cancelled"),
    ]
    rejects = wh.output("rejects", second)
    assert rejects.select("row_number", "reason").rows() == [
        (3, "order o9 has no open line to cancel")
    ]
