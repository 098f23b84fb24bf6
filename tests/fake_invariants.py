"""The warehouse's invariants over the fake's frames: the rows that break each rule, in Polars.

The rules are worded as `allocation.adapters.warehouse_checks.CHECKS` words them, so the
service that reports them reads the same from the fake as from DuckDB.
"""

from __future__ import annotations

import polars as pl

from allocation.domain.status import AllocationStatus, LineStatus, RunStatus

KEY = ["order_id", "sku"]
ALLOCATION_KEY = ["order_id", "sku", "batch_ref"]


def breaches(tables: dict[str, pl.DataFrame], runs: pl.DataFrame) -> dict[str, pl.DataFrame]:
    """For each rule, the offending rows (none when it holds)."""
    allocations, batches, lines = tables["allocations"], tables["batches"], tables["order_lines"]
    picks, withdrawals = tables["pick_list_lines"], tables["withdrawals"]
    reservations = tables["run_allocations"].filter(~pl.col("in_stock"))
    on_batch = allocations.join(batches, left_on="batch_ref", right_on="reference", how="left")
    on_line = allocations.join(lines, on=KEY, how="left", suffix="_line")

    def total(frame: pl.DataFrame, name: str) -> pl.DataFrame:
        return frame.group_by(ALLOCATION_KEY).agg(pl.col("qty").sum().alias(name))

    ledger = (
        total(picks, "published")
        .join(total(withdrawals, "withdrawn"), on=ALLOCATION_KEY, how="full", coalesce=True)
        .join(
            total(allocations.filter(status=AllocationStatus.PICKED), "picked"),
            on=ALLOCATION_KEY,
            how="full",
            coalesce=True,
        )
        .fill_null(0)
    )
    return {
        "batch allocated beyond its purchased quantity": on_batch.filter(
            pl.col("purchased_quantity").is_not_null()
        )
        .group_by("batch_ref", "purchased_quantity")
        .agg(allocated=pl.col("qty").sum())
        .filter(pl.col("allocated") > pl.col("purchased_quantity")),
        "line allocated beyond its qty": on_line.filter(pl.col("qty_line").is_not_null())
        .group_by(*KEY, "qty_line")
        .agg(allocated=pl.col("qty").sum())
        .filter(pl.col("allocated") > pl.col("qty_line")),
        "allocation to a batch of another sku or to no batch": on_batch.filter(
            pl.col("sku_right").ne_missing(pl.col("sku"))
        ),
        "allocation of an unknown or cancelled line": on_line.filter(
            pl.col("status_line").ne_missing(pl.lit(LineStatus.OPEN))
        ),
        "reservation on an in-stock batch": on_batch.filter(
            pl.col("status") == AllocationStatus.RESERVED,
            pl.col("sku_right").is_not_null(),
            pl.col("eta").is_null(),
        ),
        "picked quantity differs from pick lists published minus withdrawals": ledger.filter(
            pl.col("published") - pl.col("withdrawn") != pl.col("picked")
        ),
        "order line stored more than once": lines.filter(pl.struct(KEY).is_duplicated()),
        "allocation stored more than once": allocations.filter(
            pl.struct(*ALLOCATION_KEY, "status").is_duplicated()
        ),
        "reservation planned more than once by a night": reservations.filter(
            pl.struct("run_id", *ALLOCATION_KEY).is_duplicated()
        ),
        "pick-list line published more than once": picks.filter(
            pl.struct("pick_list_id", "line_no").is_duplicated()
        ),
        "committed run not published": runs.filter(
            pl.col("status") == RunStatus.COMMITTED,
            pl.col("published_at").is_null(),
            pl.col("started_at") < pl.col("started_at").max(),
        ),
    }
