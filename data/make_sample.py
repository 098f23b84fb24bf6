"""Write the sample inbox under data/inbox: one night of a furniture and homeware warehouse.

Run `python data/make_sample.py` to regenerate it; the seed is fixed, so the CSV files come out
byte for byte the same. What the sample holds, on purpose:

- batches/2026-11-25.csv: 40 batches of 15 SKUs, some in stock (blank eta), some inbound over
  the six weeks after 2026-11-26. VELVET-ARMCHAIR and BRASS-LAMP are short of demand. Two bad
  rows: an eta that is not a date, and a batch reference sent twice (the caller's rule).
- order_lines/2026-11-25.csv: ~300 lines of orders ORD-100001..., 1-4 lines each, ordered over
  2026-11-25; some priority 1 or 2; LINEN-THROW has no batch at all. Three bad rows: a blank
  sku, qty 0 and qty 2.5.
- order_lines/2026-11-25-marketplace.parquet: ~40 lines from a marketplace, typed columns.
- cancellations/2026-11-25.csv: one whole order and one line of another order cancelled.
"""

from __future__ import annotations

import csv
import random
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl

INBOX = Path(__file__).parent / "inbox"
SEED = 20261125
RUN_DAY = date(2026, 11, 26)
ORDER_DAY = datetime(2026, 11, 25, tzinfo=UTC)

# SKU -> relative popularity of the SKU in orders.
SKUS = {
    "RED-CHAIR": 9,
    "OAK-TABLE-140": 4,
    "OAK-TABLE-180": 2,
    "VELVET-ARMCHAIR": 6,
    "WALNUT-BOOKCASE": 3,
    "BRASS-LAMP": 7,
    "LINEN-CURTAIN-PAIR": 5,
    "WOOL-RUG-200": 3,
    "CERAMIC-VASE-TALL": 6,
    "PINE-BED-DOUBLE": 2,
    "STEEL-STOOL": 5,
    "GLASS-SIDE-TABLE": 3,
    "JUTE-BASKET": 6,
    "MARBLE-TRAY": 4,
    "LINEN-THROW": 4,  # ordered, but no batch of it exists
}
SHORT = ("VELVET-ARMCHAIR", "BRASS-LAMP")


def main() -> None:
    """Write the four sample files."""
    rng = random.Random(SEED)
    orders = _order_lines(rng, first_order=100001, count=140)
    marketplace = _order_lines(rng, first_order=500001, count=18)
    demand: dict[str, int] = {}
    for _, sku, qty, _, _ in orders + marketplace:
        demand[sku] = demand.get(sku, 0) + qty
    _write_csv(
        INBOX / "batches" / "2026-11-25.csv",
        ["reference", "sku", "purchased_quantity", "eta"],
        _batches(rng, demand),
    )
    rows = [
        [order_id, sku, str(qty), "" if priority == 0 else str(priority), at]
        for order_id, sku, qty, priority, at in orders
    ]
    # Deliberate bad rows, each in an order of its own so the good orders stay whole.
    rows[40:40] = [["ORD-199901", "", "2", "", _timestamp(rng)]]
    rows[90:90] = [["ORD-199902", "RED-CHAIR", "0", "", _timestamp(rng)]]
    rows[150:150] = [["ORD-199903", "STEEL-STOOL", "2.5", "", _timestamp(rng)]]
    _write_csv(
        INBOX / "order_lines" / "2026-11-25.csv",
        ["order_id", "sku", "qty", "priority", "ordered_at"],
        rows,
    )
    pl.DataFrame(
        marketplace,
        schema={
            "order_id": pl.String(),
            "sku": pl.String(),
            "qty": pl.Int64(),
            "priority": pl.Int64(),
            "ordered_at": pl.String(),
        },
        orient="row",
    ).with_columns(pl.col("ordered_at").str.to_datetime(time_zone="UTC")).write_parquet(
        INBOX / "order_lines" / "2026-11-25-marketplace.parquet"
    )
    _write_csv(
        INBOX / "cancellations" / "2026-11-25.csv",
        ["order_id", "sku"],
        [[orders[-1][0], ""], [orders[0][0], orders[0][1]]],
    )


def _order_lines(
    rng: random.Random, first_order: int, count: int
) -> list[tuple[str, str, int, int, str]]:
    """Orders of 1-4 lines, each line a distinct SKU; qty mostly 1-5, now and then more."""
    names, weights = list(SKUS), list(SKUS.values())
    lines = []
    for number in range(first_order, first_order + count):
        size = rng.choices([1, 2, 3, 4], weights=[3, 4, 2, 1])[0]
        skus: list[str] = []
        while len(skus) < size:
            sku = rng.choices(names, weights=weights)[0]
            if sku not in skus:
                skus.append(sku)
        priority = rng.choices([0, 1, 2], weights=[16, 3, 1])[0]
        at = _timestamp(rng)
        for sku in skus:
            qty = (
                rng.choice([1, 1, 1, 2, 2, 3, 4, 5]) if rng.random() > 0.05 else rng.randint(8, 20)
            )
            lines.append((f"ORD-{number}", sku, qty, priority, at))
    return lines


def _batches(rng: random.Random, demand: dict[str, int]) -> list[list[str]]:
    """Two or three batches per stocked SKU, covering its demand unless the SKU is short."""
    rows = []
    reference = 0
    stocked = [sku for sku in SKUS if sku != "LINEN-THROW"]
    for position, sku in enumerate(stocked):
        wanted = demand.get(sku, 10)
        total = wanted // 2 if sku in SHORT else wanted + rng.randint(5, 25)
        count = 3 if position < 12 else 2  # 12 * 3 + 2 * 2 = 40 batches
        cuts = sorted(rng.sample(range(1, total), count - 1))
        sizes = [b - a for a, b in zip([0, *cuts], [*cuts, total], strict=True)]
        for index, size in enumerate(sizes):
            reference += 1
            in_stock = index == 0 or rng.random() < 0.3
            eta = "" if in_stock else (RUN_DAY + timedelta(days=rng.randint(1, 42))).isoformat()
            rows.append([f"batch-2026-{reference:04d}", sku, str(size), eta])
    rows[7][3] = "2026-12-32"  # an eta that is not a date
    rows.append(list(rows[20]))  # a batch reference sent twice
    return rows


def _timestamp(rng: random.Random) -> str:
    """A moment of the order day, in UTC, as ISO-8601."""
    moment = ORDER_DAY + timedelta(seconds=rng.randint(0, 86399))
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _write_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


if __name__ == "__main__":
    main()
