"""The engine's table shapes, and the domain's declared rules as Polars sorts and expressions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

import polars as pl

from allocation.domain.forms import Nulls, Ordering, SortKey
from allocation.domain.rules import DEMAND_ORDER, IN_STOCK

Frame = TypeVar("Frame", pl.DataFrame, pl.LazyFrame)

BATCH_COLUMNS: dict[str, pl.DataType] = {
    "reference": pl.String(),
    "sku": pl.String(),
    "purchased_quantity": pl.Int64(),
    "eta": pl.Date(),
    "allocated_qty": pl.Int64(),
}
"""Batches as the engine takes them: `allocated_qty` is what earlier passes already hold."""

LINE_COLUMNS: dict[str, pl.DataType] = {
    "order_id": pl.String(),
    "sku": pl.String(),
    "qty": pl.Int64(),
    "priority": pl.Int64(),
    "ordered_at": pl.Datetime("us", "UTC"),
    "arrival": pl.Int64(),
    "allocated_qty": pl.Int64(),
}
"""Order lines as the engine takes them: `allocated_qty` is what the line already holds."""

ALLOCATION_SCHEMA = pl.Schema(
    {"order_id": pl.String(), "sku": pl.String(), "batch_ref": pl.String(), "qty": pl.Int64()}
)
SHORTAGE_SCHEMA = pl.Schema(
    {
        "order_id": pl.String(),
        "sku": pl.String(),
        "ordered_qty": pl.Int64(),
        "allocated_qty": pl.Int64(),
        "short_qty": pl.Int64(),
    }
)


@dataclass(frozen=True)
class EngineResult:
    """Allocations made by one bulk pass and the lines left short.

    Rows come in the reference's order: lines in demand order, then batches in preference order.
    """

    allocations: pl.DataFrame
    shortages: pl.DataFrame


def sorted_by(frame: Frame, ordering: Ordering, *, within: Sequence[str] = ()) -> Frame:
    """Sort a frame (eager or lazy) in the declared order, grouped first by `within` (ascending).

    Each key's direction and null placement come from the declaration; Polars places nulls
    independently of direction, as the declaration means.
    """
    keys = [SortKey(column) for column in within] + list(ordering.keys)
    return frame.sort(
        [key.column for key in keys],
        descending=[key.descending for key in keys],
        nulls_last=[key.nulls is Nulls.LAST for key in keys],
    )


def in_demand_order(lines: pl.DataFrame) -> pl.DataFrame:
    """Sort lines in `rules.DEMAND_ORDER`: priority (high first), ordered_at, arrival, line key."""
    return sorted_by(lines, DEMAND_ORDER)


def in_stock() -> pl.Expr:
    """True for a batch in stock, `rules.IN_STOCK`: a row whose eta is null."""
    return pl.col(IN_STOCK.column).is_null()


def conform(frame: pl.DataFrame, columns: dict[str, pl.DataType]) -> pl.DataFrame:
    """Select and cast the engine's columns, failing loudly if one is missing."""
    missing = [name for name in columns if name not in frame.columns]
    if missing:
        raise ValueError(f"engine input lacks column(s): {', '.join(missing)}")
    return frame.select(pl.col(name).cast(dtype) for name, dtype in columns.items())
