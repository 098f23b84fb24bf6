"""Two small nights for the analyst views and the run report, hand-computed, run in memory.

Night 1 (2026-11-26) is the e2e scenario: CHAIR b-stock-chair 10 in stock, b-ship-chair-2 20
(eta 2026-12-01), b-ship-chair-1 5 (eta 2026-12-10); o2 (priority 1) 6, o1 8, o3 30 take
6 + 4 in stock, 4 + 16 reserved on b-ship-chair-2 and 5 on b-ship-chair-1; o3 is 9 short.
LAMP b-stock-lamp 3: o4 2, o5 1 (1 short). SOFA o6 1 has no batch. Three rows are rejected.

Night 2 (2026-11-27) adds b-ship-chair-3 CHAIR 4 (eta 2026-12-20), b-stock-lamp-2 LAMP 5 in
stock and b-ship-sofa SOFA 4 (eta 2026-12-15); lines o9 LAMP 3 (priority 2) and o10 CHAIR 2
(ordered after o1 and o3); o11 SOFA -1 is rejected, and o1 CHAIR 9 conflicts with o1's qty 8.
A third file lacks the `order_id` column and is rejected whole. Night-1 files are skipped.
Frozen picks stay; the open demand is re-planned: o1 needs 4 -> b-ship-chair-2; o3 needs 30
-> 16 + 5 + 4 reserved, 5 short; o10 2 gets nothing; o9 3 and o5 1 are picked from
b-stock-lamp-2 (1 left); o6 1 is reserved on b-ship-sofa (3 left). Lines lacking units: 6;
full 4 (o1, o5, o9, o6), part 1 (o3), none 1 (o10); units 34 allocated, 7 short.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date

from allocation.adapters.storage import MemoryStorage, ObjectStorage
from allocation.adapters.warehouse import DuckDBWarehouse
from allocation.domain.policy import Policy
from allocation.service_layer import allocating, inbox, loading, report, runs

NIGHT_1 = date(2026, 11, 26)
NIGHT_2 = date(2026, 11, 27)

NIGHT_1_FILES = {
    "batches/night-1.csv": b"""reference,sku,purchased_quantity,eta
b-stock-chair,CHAIR,10,
b-ship-chair-1,CHAIR,5,2026-12-10
b-ship-chair-2,CHAIR,20,2026-12-01
b-stock-lamp,LAMP,3,
b-bad,LAMP,abc,
""",
    "order_lines/night-1.csv": b"""order_id,sku,qty,priority,ordered_at
o1,CHAIR,8,0,2026-11-25T09:00:00Z
o2,CHAIR,6,1,2026-11-25T10:00:00Z
o3,CHAIR,30,0,2026-11-25T11:00:00Z
o4,LAMP,2,0,
o5,LAMP,2,0,
o6,SOFA,1,0,
o7,,3,0,
o8,LAMP,0,0,
""",
}

NIGHT_2_FILES = {
    "batches/night-2.csv": b"""reference,sku,purchased_quantity,eta
b-ship-chair-3,CHAIR,4,2026-12-20
b-stock-lamp-2,LAMP,5,
b-ship-sofa,SOFA,4,2026-12-15
""",
    "order_lines/night-2.csv": b"""order_id,sku,qty,priority,ordered_at
o9,LAMP,3,2,2026-11-26T12:00:00Z
o10,CHAIR,2,0,2026-11-26T08:00:00Z
o11,SOFA,-1,0,
o1,CHAIR,9,0,2026-11-25T09:00:00Z
""",
    "order_lines/night-2-no-order-id.csv": b"""order,sku,qty
o12,LAMP,1
""",
}


def run_night(
    warehouse: DuckDBWarehouse, storage: ObjectStorage, run_date: date
) -> runs.RunSummary:
    """One night through the real services (no Prefect, no publishing)."""
    run = runs.new_run(run_date, Policy.SPLIT)
    runs.start_run(warehouse, run)
    discovery = inbox.discover(storage)
    load = loading.load_inputs(warehouse, run, inbox.fetch(storage, discovery.files))
    allocation = allocating.allocate_open_demand(warehouse, run)
    return runs.finish_run(warehouse, run, report.run_figures(load, allocation))


@contextmanager
def two_nights() -> Iterator[tuple[DuckDBWarehouse, list[runs.RunSummary]]]:
    """An in-memory warehouse after both nights, and the two runs' summaries."""
    storage = MemoryStorage()
    with DuckDBWarehouse(":memory:") as warehouse:
        for key, data in NIGHT_1_FILES.items():
            storage.write(key, data)
        first = run_night(warehouse, storage, NIGHT_1)
        for key, data in NIGHT_2_FILES.items():
            storage.write(key, data)
        second = run_night(warehouse, storage, NIGHT_2)
        yield warehouse, [first, second]
