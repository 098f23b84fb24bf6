"""The engine's table shapes and the two orders (batch preference, demand) as Polars expressions."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

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


def in_preference_order(batches: pl.DataFrame) -> pl.DataFrame:
    """Sort batches in stock first (null eta), then earliest eta, then reference ascending."""
    return batches.sort(["eta", "reference"], nulls_last=[False, False])


def in_demand_order(lines: pl.DataFrame) -> pl.DataFrame:
    """Sort lines by priority (high first), ordered_at (missing last), arrival, then line key."""
    return lines.sort(
        ["priority", "ordered_at", "arrival", "order_id", "sku"],
        descending=[True, False, False, False, False],
        nulls_last=[False, True, False, False, False],
    )


def conform(frame: pl.DataFrame, columns: dict[str, pl.DataType]) -> pl.DataFrame:
    """Select and cast the engine's columns, failing loudly if one is missing."""
    missing = [name for name in columns if name not in frame.columns]
    if missing:
        raise ValueError(f"engine input lacks column(s): {', '.join(missing)}")
    return frame.select(pl.col(name).cast(dtype) for name, dtype in columns.items())
