"""Bulk allocation over Polars frames: the same policy as the domain core, without a loop per line.

Within one SKU, the split policy lays the lines' missing units end to end in demand order and
the batches' available units end to end in preference order. Each unit of demand then meets
the unit of supply at the same position, so line i takes from batch j exactly the overlap of
their intervals. Cutting the SKU's axis at every line end and batch end gives segments that
each belong to one (line, batch) pair: the allocations are the segments.

The whole policy is sequential by nature (whether a line fits a batch depends on every line
before it), so it runs a first-fit pass per SKU in `first_fit.py`, compiled with Numba.
"""

from __future__ import annotations

import polars as pl

from allocation.domain.policy import Policy
from allocation.engine.first_fit import first_fit
from allocation.engine.frames import (
    ALLOCATION_SCHEMA,
    BATCH_COLUMNS,
    LINE_COLUMNS,
    SHORTAGE_SCHEMA,
    EngineResult,
    conform,
    in_demand_order,
    in_preference_order,
)


def allocate_frames(
    batches: pl.DataFrame, lines: pl.DataFrame, policy: Policy = Policy.SPLIT
) -> EngineResult:
    """Allocate the lines' missing units against the batches' available units, in bulk.

    Inputs follow `BATCH_COLUMNS` and `LINE_COLUMNS`; line keys must be unique. The result
    equals `allocation.domain.allocate_lines` on the same data, row for row.
    """
    supply = _supply(conform(batches, BATCH_COLUMNS))
    demand = _demand(conform(lines, LINE_COLUMNS), supply)
    if policy is Policy.SPLIT:
        allocations, filled = _split(supply, demand)
    else:
        allocations, filled = _whole(supply, demand)
    return EngineResult(allocations, _shortages(demand, filled))


def _supply(batches: pl.DataFrame) -> pl.DataFrame:
    """Batches with stock to give, in preference order, with a dense SKU code and a batch index."""
    available = (pl.col("purchased_quantity") - pl.col("allocated_qty")).clip(lower_bound=0)
    supply = in_preference_order(
        batches.select("reference", "sku", "eta", available.alias("available")).filter(
            pl.col("available") > 0
        )
    )
    codes = supply.select(pl.col("sku").unique(maintain_order=True)).with_row_index("sku_code")
    return (
        supply.join(codes, on="sku", how="left", maintain_order="left")
        .with_columns(pl.col("sku_code").cast(pl.Int64))
        .sort("sku_code", maintain_order=True)  # stable: preference order holds within a SKU
        .with_row_index("batch_idx")
    )


def _demand(lines: pl.DataFrame, supply: pl.DataFrame) -> pl.DataFrame:
    """Lines still missing units, in demand order, with their rank and their SKU's code.

    A line whose SKU has no available batch gets a null code: it can only be short.
    """
    codes = supply.select("sku", "sku_code").unique("sku")
    return (
        in_demand_order(lines.filter(pl.col("qty") > pl.col("allocated_qty")))
        .with_columns(remaining=pl.col("qty") - pl.col("allocated_qty"))
        .join(codes, on="sku", how="left", maintain_order="left")
        .with_row_index("line_idx")
    )


def _split(supply: pl.DataFrame, demand: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Cut each SKU's demand and supply intervals at every end point; a segment is an allocation."""
    known = demand.filter(pl.col("sku_code").is_not_null())
    line_ends = known.select(
        "sku_code",
        pos=pl.col("remaining").cum_sum().over("sku_code"),
        line_idx=pl.col("line_idx"),
        batch_idx=pl.lit(None, pl.UInt32),
    )
    batch_ends = supply.select(
        "sku_code",
        pos=pl.col("available").cum_sum().over("sku_code"),
        line_idx=pl.lit(None, pl.UInt32),
        batch_idx=pl.col("batch_idx"),
    )
    cuts = pl.concat([line_ends, batch_ends]).sort(["sku_code", "pos"])
    segments = (
        cuts.lazy()
        .with_columns(
            start=pl.col("pos").shift(1, fill_value=0).over("sku_code"),
            line_idx=pl.col("line_idx").backward_fill().over("sku_code"),
            batch_idx=pl.col("batch_idx").backward_fill().over("sku_code"),
        )
        .filter(
            (pl.col("pos") > pl.col("start"))
            & pl.col("line_idx").is_not_null()
            & pl.col("batch_idx").is_not_null()
        )
        .select("line_idx", "batch_idx", qty=pl.col("pos") - pl.col("start"))
        .sort(["line_idx", "batch_idx"])
        .collect()
    )
    allocations = _name_allocations(segments, supply, demand)
    filled = segments.group_by("line_idx").agg(filled=pl.col("qty").sum())
    return allocations, filled


def _whole(supply: pl.DataFrame, demand: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Give each line's remaining units to the first batch of its SKU that can hold them all."""
    known = demand.filter(pl.col("sku_code").is_not_null()).sort("sku_code", maintain_order=True)
    chosen = first_fit(
        line_sku=known["sku_code"].to_numpy(),
        line_qty=known["remaining"].to_numpy(),
        batch_sku=supply["sku_code"].to_numpy(),
        batch_available=supply["available"].to_numpy(),
    )
    segments = (
        known.select("line_idx", qty="remaining")
        .with_columns(batch_idx=pl.Series(chosen, dtype=pl.Int64))
        .filter(pl.col("batch_idx") >= 0)
        .select("line_idx", pl.col("batch_idx").cast(pl.UInt32), "qty")
        .sort("line_idx")
    )
    allocations = _name_allocations(segments, supply, demand)
    filled = segments.select("line_idx", filled="qty")
    return allocations, filled


def _name_allocations(
    segments: pl.DataFrame, supply: pl.DataFrame, demand: pl.DataFrame
) -> pl.DataFrame:
    """Turn (line_idx, batch_idx, qty) into (order_id, sku, batch_ref, qty)."""
    lines = demand.select("order_id", "sku")
    refs = supply["reference"]
    return segments.select(
        lines["order_id"].gather(segments["line_idx"]),
        lines["sku"].gather(segments["line_idx"]),
        batch_ref=refs.gather(segments["batch_idx"]),
        qty=segments["qty"],
    ).cast(dict(ALLOCATION_SCHEMA))


def _shortages(demand: pl.DataFrame, filled: pl.DataFrame) -> pl.DataFrame:
    """Lines whose remaining units were not all filled, with what they hold in total."""
    return (
        demand.join(filled, on="line_idx", how="left", maintain_order="left")
        .with_columns(pl.col("filled").fill_null(0))
        .filter(pl.col("filled") < pl.col("remaining"))
        .select(
            "order_id",
            "sku",
            ordered_qty="qty",
            allocated_qty=pl.col("allocated_qty") + pl.col("filled"),
            short_qty=pl.col("remaining") - pl.col("filled"),
        )
        .cast(dict(SHORTAGE_SCHEMA))
    )
