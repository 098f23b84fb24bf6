"""The allocation invariants under load: nights of thousands of random lines each.

Every night drops a batches file (new batches, and changes to known ones: arrivals that clear
the eta, quantity cuts, cancelled batches cut to 0, a few SKU changes that must be refused), an
order-lines file of 2,000-5,000 lines over ~200 SKUs (a few bad rows, lines sent again) and a
cancellations file, alternately as CSV and Parquet, into one inbox, and runs the night with
`run_night` into one warehouse. After each night the invariants hold and every row read is
loaded or rejected; at the end, no pick-list line has been published twice. The inputs are
made with numpy from a fixed seed, so every run of the test sees the same nights.

Thirty nights take about a minute on two cores, so they are marked slow; the first three run
by default (a few seconds), enough to reach the cross-night rules (lines sent again, batch
changes, cancellations of lines picked the night before).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from inboxes import FIRST_NIGHT, Site, assert_accounted, csv_bytes, parquet_bytes
from polars.testing import assert_frame_equal

from allocation.adapters.storage import open_storage
from allocation.adapters.warehouse import DuckDBWarehouse
from allocation.service_layer.invariants import check_invariants

SKUS = np.array([f"SKU-{i:03d}" for i in range(200)])
# Some SKUs sell far more than others (and are bought more): ~8% of lines are for the first.
POPULARITY = 1 / np.arange(1, len(SKUS) + 1) ** 0.9
POPULARITY /= POPULARITY.sum()
SEED = 20261126


@dataclass
class Sender:
    """Makes each night's inbox files, remembering the batches and orders it has sent."""

    rng: np.random.Generator
    batches: pl.DataFrame = field(
        default_factory=lambda: pl.DataFrame(
            schema={
                "reference": pl.String,
                "sku": pl.String,
                "purchased_quantity": pl.Int64,
                "eta": pl.Date,
            }
        )
    )
    lines: pl.DataFrame = field(
        default_factory=lambda: pl.DataFrame(schema={"order_id": pl.String, "sku": pl.String})
    )

    def night(self, n: int, run_date: date) -> dict[str, bytes]:
        """The night's files: batches, order lines and cancellations (CSV or Parquet)."""
        batches = self._batches(n, run_date)
        lines = self._order_lines(n, run_date)
        cancellations = self._cancellations(n)
        as_bytes, suffix = (csv_bytes, "csv") if n % 2 == 0 else (parquet_bytes, "parquet")
        name = f"{run_date.isoformat()}.{suffix}"
        return {
            f"batches/{name}": as_bytes(batches),
            f"order_lines/{name}": as_bytes(lines),
            f"cancellations/{name}": as_bytes(cancellations),
        }

    def _batches(self, n: int, run_date: date) -> pl.DataFrame:
        rng = self.rng
        count = int(rng.integers(80, 200))
        new = pl.DataFrame(
            {
                "index": np.arange(count),
                "sku": rng.choice(SKUS, count, p=POPULARITY),
                "purchased_quantity": rng.integers(20, 300, count),
                "in_stock": rng.random(count) < 0.5,
                "days": rng.integers(1, 15, count),
            }
        ).select(
            reference=pl.format(
                "B{}-{}", pl.lit(f"{n:02d}"), pl.col("index").cast(pl.String).str.zfill(4)
            ),
            sku="sku",
            purchased_quantity="purchased_quantity",
            eta=pl.when(~pl.col("in_stock")).then(pl.lit(run_date) + pl.duration(days="days")),
        )
        known = self.batches.with_columns(u=pl.Series(rng.random(self.batches.height)))
        arrived = (
            known.filter(pl.col("eta") <= run_date).head(60).with_columns(eta=pl.lit(None, pl.Date))
        )
        rest = known.join(arrived, on="reference", how="anti")
        cut = rest.filter(pl.col("u") < 0.03).with_columns(
            purchased_quantity=(pl.col("purchased_quantity") * 0.6).cast(pl.Int64)
        )
        cancelled = rest.filter(pl.col("u").is_between(0.03, 0.04)).with_columns(
            purchased_quantity=pl.lit(0, pl.Int64)
        )
        changes = pl.concat([arrived, cut, cancelled]).drop("u")
        self.batches = pl.concat(
            [self.batches.join(changes, on="reference", how="anti"), changes, new]
        )
        # A batch cannot change SKU: these rows are rejected and change nothing.
        moved = rest.filter(pl.col("u") > 0.997).drop("u").with_columns(sku=pl.lit("SKU-MOVED"))
        return pl.concat([new, changes, moved]).sample(fraction=1.0, shuffle=True, seed=n)

    def _order_lines(self, n: int, run_date: date) -> pl.DataFrame:
        rng = self.rng
        count = int(rng.integers(2000, 5000))
        started = datetime(run_date.year, run_date.month, run_date.day) - timedelta(days=1)
        lines = (
            pl.DataFrame(
                {
                    "order": rng.integers(0, count // 2, count),
                    "sku": rng.choice(SKUS, count, p=POPULARITY),
                    "qty": rng.integers(1, 12, count),
                    "bad": rng.random(count) < 0.005,
                    "priority": rng.choice([0, 0, 0, 1, 2], count),
                    "minutes": rng.integers(0, 24 * 60, count),
                }
            )
            .select(
                order_id=pl.format(
                    "O{}-{}", pl.lit(f"{n:02d}"), pl.col("order").cast(pl.String).str.zfill(5)
                ),
                sku="sku",
                # A few bad rows, to be rejected with a reason.
                qty=pl.when("bad").then(pl.lit("0")).otherwise(pl.col("qty").cast(pl.String)),
                priority="priority",
                ordered_at=pl.lit(started) + pl.duration(minutes="minutes"),
            )
            .unique(["order_id", "sku"], keep="first", maintain_order=True)
        )
        # Some lines of earlier nights are sent again (same qty or not: duplicate or conflict).
        again = self.lines.sample(min(30, self.lines.height), seed=n).select(
            "order_id", "sku", qty=pl.lit("3"), priority=pl.lit(0), ordered_at=pl.lit(started)
        )
        self.lines = pl.concat([self.lines, lines.select("order_id", "sku").unique()])
        return pl.concat([lines, again], how="vertical_relaxed")

    def _cancellations(self, n: int) -> pl.DataFrame:
        picked = self.lines.sample(40, seed=n)
        whole = picked.head(10).select("order_id", sku=pl.lit(None, pl.String))
        unknown = pl.DataFrame({"order_id": [f"NOPE-{n}"], "sku": [None]}, schema=whole.schema)
        return pl.concat([whole, picked.tail(30), unknown])


def published_pick_lists(site: Site) -> pl.DataFrame:
    outbox = open_storage(site.outbox)
    return pl.concat(
        pl.read_parquet(io.BytesIO(outbox.read(o.key)))
        for o in outbox.list("pick_lists/")
        if o.key.endswith(".parquet")
    )


@pytest.mark.parametrize(
    "nights", [3, pytest.param(30, marks=pytest.mark.slow)], ids=lambda n: f"{n} nights"
)
def test_the_invariants_hold_night_after_night_of_thousands_of_lines(
    nights: int, tmp_path: Path
) -> None:
    site = Site(tmp_path)
    sender = Sender(np.random.default_rng(SEED))
    totals = {"read": 0, "rejected": 0, "picked": 0}
    for n in range(nights):
        run_date = FIRST_NIGHT + timedelta(days=n)
        site.drop(sender.night(n, run_date))

        result = site.night(run_date)

        assert result.summary.status == "committed"
        assert_accounted(site, result)
        with DuckDBWarehouse(site.db) as warehouse:
            assert check_invariants(warehouse) == [], f"night {n}"
        assert result.load.count("rejected") == 0
        assert 2000 < result.summary.rows_read < 5500
        totals["read"] += result.summary.rows_read
        totals["rejected"] += result.summary.rows_rejected
        totals["picked"] += result.summary.pick_list_lines

    published = published_pick_lists(site).sort("pick_list_id", "line_no")
    assert published.height == totals["picked"]
    assert published.select("pick_list_id", "line_no").is_unique().all()
    assert not published.drop("line_no").is_duplicated().any()
    recorded = site.query(
        "SELECT pick_list_id, line_no, order_id, sku, batch_ref, qty FROM pick_list_lines "
        "ORDER BY pick_list_id, line_no",
        None,
    )
    assert_frame_equal(published.select(recorded.columns), recorded)
    # The nights did exercise the rules: rows rejected, lines cancelled and short, picks taken
    # back (cancelled after picking, or their batch cut).
    assert 0 < totals["rejected"] < totals["read"] / 20
    exercised = site.query(
        "SELECT (SELECT count(*) FROM withdrawals) AS withdrawn, "
        "(SELECT count(*) FROM order_lines WHERE status = 'cancelled') AS cancelled, "
        "(SELECT count(*) FROM open_lines) AS short",
        None,
    )
    assert all(value > 0 for value in exercised.row(0)), exercised
