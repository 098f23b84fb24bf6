"""The night's plan: what goes on the pick list, what is reserved on inbound stock, what is short.

Pick lists are final: stock allocated from an in-stock batch is picked and frozen. Inbound
stock is only reserved, and reservations are re-planned from scratch every run against what
is not frozen, so the plan depends only on the frozen picks and the open demand, never on the
history of earlier plans.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import polars as pl

from allocation.domain.policy import Policy
from allocation.domain.rules import PICK_LIST_ORDER
from allocation.engine.frames import in_demand_order, in_stock, sorted_by

PLAN_LINE_COLUMNS = ("order_id", "sku", "qty", "priority", "ordered_at", "arrival")
ALLOCATION_KEY: Final = ("order_id", "sku", "batch_ref")
"""An allocation's key within one status (one row per key and status)."""


@dataclass(frozen=True)
class NightPlan:
    """The allocations one run makes, split into picks and reservations, and its shortages."""

    allocations: pl.DataFrame
    """Every allocation of the run: order_id, sku, batch_ref, qty, in_stock, eta."""
    picks: pl.DataFrame
    """New allocations from in-stock batches: order_id, sku, batch_ref, qty."""
    reservations: pl.DataFrame
    """All reservations on inbound batches after the run: order_id, sku, batch_ref, qty."""
    shortages: pl.DataFrame
    """Lines still short after the run: order_id, sku, ordered_qty, allocated_qty, short_qty."""
    demand_lines: int
    """Open lines that still lacked units before the run."""


def plan_night(
    batches: pl.DataFrame, open_lines: pl.DataFrame, picked: pl.DataFrame, policy: Policy
) -> NightPlan:
    """Allocate open demand against stock not yet frozen on pick lists.

    `batches`: reference, sku, purchased_quantity, eta. `open_lines`: order_id, sku, qty,
    priority, ordered_at, arrival. `picked`: the frozen allocations, order_id, sku, batch_ref,
    qty (several rows per line and batch are summed).
    """
    frozen_per_batch = picked.group_by("batch_ref").agg(allocated_qty=pl.col("qty").sum())
    frozen_per_line = picked.group_by("order_id", "sku").agg(allocated_qty=pl.col("qty").sum())
    supply = batches.join(
        frozen_per_batch, left_on="reference", right_on="batch_ref", how="left"
    ).with_columns(pl.col("allocated_qty").fill_null(0))
    demand = (
        open_lines.select(PLAN_LINE_COLUMNS)
        .join(frozen_per_line, on=["order_id", "sku"], how="left")
        .with_columns(pl.col("allocated_qty").fill_null(0))
    )
    # Imported here: the bulk kernel's NumPy and Numba cost every one-line command half a
    # second of start-up, and only the nightly plan runs it.
    from allocation.engine.bulk import allocate_frames

    result = allocate_frames(supply, demand, policy)
    allocations = result.allocations.join(
        batches.select(batch_ref="reference", eta="eta"),
        on="batch_ref",
        how="left",
        maintain_order="left",
    ).with_columns(in_stock=in_stock())
    columns = ("order_id", "sku", "batch_ref", "qty")
    return NightPlan(
        allocations=allocations.select(*columns, "in_stock", "eta"),
        picks=allocations.filter(pl.col("in_stock")).select(columns),
        reservations=allocations.filter(~pl.col("in_stock")).select(columns),
        shortages=result.shortages,
        demand_lines=demand.filter(pl.col("qty") > pl.col("allocated_qty")).height,
    )


def pick_list(picks: pl.DataFrame, pick_list_id: str) -> pl.DataFrame:
    """Number the picks for the WMS: in `rules.PICK_LIST_ORDER`, `line_no` from 1."""
    return (
        sorted_by(picks, PICK_LIST_ORDER)
        .with_row_index("line_no", offset=1)
        .select(
            pick_list_id=pl.lit(pick_list_id),
            line_no=pl.col("line_no").cast(pl.Int64),
            order_id="order_id",
            sku="sku",
            batch_ref="batch_ref",
            qty="qty",
        )
    )


def allocation_changes(before: pl.DataFrame, after: pl.DataFrame) -> pl.DataFrame:
    """The allocations that differ between `before` and `after`: the key, qty and qty_before.

    Both are order_id, sku, batch_ref, qty, one row per key. `qty` null: the allocation is
    gone; `qty_before` null: it is new. In no particular order (keeping `after`'s cost a
    third more at 1.6M rows). Streamed, so only the changes are held, not the whole join of
    two frames of millions of rows (most allocations stay from night to night).
    """
    if before.is_empty():  # (a first night: every allocation is new)
        return after.select(*ALLOCATION_KEY, "qty", qty_before=pl.lit(None, pl.Int64()))
    return (
        after.lazy()
        .select(*ALLOCATION_KEY, "qty")
        .join(
            before.lazy().select(*ALLOCATION_KEY, qty_before="qty"),
            on=ALLOCATION_KEY,
            how="full",
            coalesce=True,
        )
        .filter(pl.col("qty").ne_missing(pl.col("qty_before")))
        .collect(engine="streaming")
    )


def withdrawals_to_fit(
    batches: pl.DataFrame, picked: pl.DataFrame, lines: pl.DataFrame
) -> pl.DataFrame:
    """Picks to withdraw from batches whose stock fell below what is frozen on pick lists.

    On each such batch, the picks of the lines last in demand order (lowest priority, latest
    ordered_at, latest arrival) give way first, each only as much as is needed, until the
    batch's frozen quantity fits its purchased quantity. Returns order_id, sku, batch_ref, qty.
    """
    frozen = picked.join(
        batches.select(batch_ref="reference", purchased="purchased_quantity"), on="batch_ref"
    )
    excess = (pl.col("qty").sum() - pl.col("purchased")).over("batch_ref")
    ranked = in_demand_order(
        frozen.filter(excess > 0).join(
            lines.select("order_id", "sku", "priority", "ordered_at", "arrival"),
            on=["order_id", "sku"],
        )
    ).reverse()  # last in demand order first
    given_before = pl.col("qty").cum_sum().over("batch_ref") - pl.col("qty")
    return (
        ranked.with_columns(
            take=(pl.col("qty").sum().over("batch_ref") - pl.col("purchased") - given_before)
            .clip(0, None)
            .clip(None, pl.col("qty"))
        )
        .filter(pl.col("take") > 0)
        .select("order_id", "sku", "batch_ref", qty="take")
    )
