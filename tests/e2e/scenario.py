"""A small night, hand-computed: in-stock and inbound batches, competing lines, shortages, bad rows.

CHAIR stock, in preference order: b-stock-chair 10 (in stock), b-ship-chair-2 20 (eta
2026-12-01), b-ship-chair-1 5 (eta 2026-12-10). Demand order: o2 (priority 1) 6, o1 (09:00)
8, o3 (11:00) 30. So o2 takes 6 in stock; o1 takes the last 4 in stock and 4 from
b-ship-chair-2; o3 takes the other 16 and all 5 of b-ship-chair-1, and is 9 short.
LAMP: 3 in stock; o4 (arrived first) takes 2, o5 takes 1 and is 1 short. SOFA has no batch.
"""

from __future__ import annotations

from datetime import date

import polars as pl

from allocation.adapters.storage import ObjectStorage

BATCHES_CSV = b"""reference,sku,purchased_quantity,eta
b-stock-chair,CHAIR,10,
b-ship-chair-1,CHAIR,5,2026-12-10
b-ship-chair-2,CHAIR,20,2026-12-01
b-stock-lamp,LAMP,3,
b-bad,LAMP,abc,
"""

ORDER_LINES_CSV = b"""order_id,sku,qty,priority,ordered_at
o1,CHAIR,8,0,2026-11-25T09:00:00Z
o2,CHAIR,6,1,2026-11-25T10:00:00Z
o3,CHAIR,30,0,2026-11-25T11:00:00Z
o4,LAMP,2,0,
o5,LAMP,2,0,
o6,SOFA,1,0,
o7,,3,0,
o8,LAMP,0,0,
"""

RUN_DATE = date(2026, 11, 26)

PICK_LIST = pl.DataFrame(
    {
        "line_no": [1, 2, 3, 4],
        "order_id": ["o1", "o2", "o4", "o5"],
        "sku": ["CHAIR", "CHAIR", "LAMP", "LAMP"],
        "batch_ref": ["b-stock-chair", "b-stock-chair", "b-stock-lamp", "b-stock-lamp"],
        "qty": [4, 6, 2, 1],
    }
)

ALLOCATIONS = pl.DataFrame(
    {
        "order_id": ["o2", "o1", "o1", "o3", "o3", "o4", "o5"],
        "sku": ["CHAIR", "CHAIR", "CHAIR", "CHAIR", "CHAIR", "LAMP", "LAMP"],
        "batch_ref": [
            "b-stock-chair",
            "b-stock-chair",
            "b-ship-chair-2",
            "b-ship-chair-2",
            "b-ship-chair-1",
            "b-stock-lamp",
            "b-stock-lamp",
        ],
        "qty": [6, 4, 4, 16, 5, 2, 1],
        "in_stock": [True, True, False, False, False, True, True],
        "eta": [None, None, date(2026, 12, 1), date(2026, 12, 1), date(2026, 12, 10), None, None],
    }
)

SHORTAGES = pl.DataFrame(
    {
        "order_id": ["o3", "o5", "o6"],
        "sku": ["CHAIR", "LAMP", "SOFA"],
        "ordered_qty": [30, 2, 1],
        "allocated_qty": [21, 1, 0],
        "short_qty": [9, 1, 1],
    }
)

REJECTED = {
    ("batches/night-1.csv", 5, "purchased_quantity"),
    ("order_lines/night-1.csv", 7, "sku"),
    ("order_lines/night-1.csv", 8, "qty"),
}

SUMMARY = {
    "files_read": 2,
    "files_skipped": 0,
    "files_rejected": 0,
    "rows_read": 13,
    "rows_loaded": 10,
    "rows_rejected": 3,
    "lines_allocated_full": 3,
    "lines_allocated_part": 2,
    "lines_unallocated": 1,
    "units_allocated": 38,
    "units_short": 11,
    "pick_list_lines": 4,
}


def write_inbox(storage: ObjectStorage) -> None:
    """Put the night's two files into an inbox."""
    storage.write("batches/night-1.csv", BATCHES_CSV)
    storage.write("order_lines/night-1.csv", ORDER_LINES_CSV)
