"""Bulk allocation over Polars frames: the same policy as the domain core, without a loop per line.

The engine reads in three steps:

1. Supply: batches with stock to give, grouped by SKU and in preference order within a SKU,
   each SKU numbered with a dense code.
2. Demand: the lines in demand order, each with its row, its SKU's code and its missing units.
3. One sequential pass over the lines in demand order (`first_fit.py`, compiled with Numba)
   hands out the units; the pieces it makes are then named (order id, SKU, batch reference).

Within one SKU, the split policy lays the lines' missing units end to end in demand order and
the batches' available units end to end in preference order: line i takes from batch j exactly
the overlap of their intervals, so the pass only walks both sequences side by side. The whole
policy is sequential by nature (whether a line fits a batch depends on every line before it).
Because the pass visits lines in demand order, its pieces already come in the reference's row
order (lines in demand order, then batches in preference order) and nothing is sorted after it.

Sorting the lines is the biggest cost, so the demand order is first tried as one integer key
(priority, ordered_at and arrival packed together, `packed_key.py`) sorted once, which is
several times cheaper than sorting on five columns of which two are strings. Only if two lines
tie on all three fields do the string keys have a say, and then the engine falls back to the
full sort.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import polars as pl

from allocation.domain.policy import Policy
from allocation.domain.rules import BATCH_PREFERENCE, DEMAND_ORDER
from allocation.engine.first_fit import Int64Array, first_fit, positions_of, split_fill
from allocation.engine.frames import (
    ALLOCATION_SCHEMA,
    BATCH_COLUMNS,
    LINE_COLUMNS,
    SHORTAGE_SCHEMA,
    EngineResult,
    conform,
    sorted_by,
)
from allocation.engine.packed_key import packed_key


def allocate_frames(
    batches: pl.DataFrame, lines: pl.DataFrame, policy: Policy = Policy.SPLIT
) -> EngineResult:
    """Allocate the lines' missing units against the batches' available units, in bulk.

    Inputs follow `BATCH_COLUMNS` and `LINE_COLUMNS`; line keys must be unique. The result
    equals `allocation.domain.allocate_lines` on the same data, row for row.
    """
    batches = conform(batches, BATCH_COLUMNS)
    lines = conform(lines, LINE_COLUMNS).rechunk()  # gathers from one chunk are much cheaper
    # A helper thread takes the work that does not wait on this thread's, so on two cores the
    # two overlap: Polars and the compiled passes let go of the GIL while they work.
    with ThreadPoolExecutor(max_workers=1) as helper:
        # Supply and demand: the helper sorts the lines while this thread readies the batches.
        sorting = helper.submit(_demand_order, lines)
        supply = _supply(batches)
        line_codes = _sku_codes(lines["sku"], supply)
        order = sorting.result()
        # The pass; meanwhile the helper puts the order ids in demand order, for naming.
        naming = helper.submit(lines["order_id"].gather, order)
        demand = pl.DataFrame(
            {"sku_code": line_codes, "remaining": lines["qty"] - lines["allocated_qty"]}
        )[order]
        remaining = demand["remaining"].to_numpy()
        pieces, filled = _hand_out(policy, demand["sku_code"].to_numpy(), remaining, supply)
        # The results: the helper collects the shortages while this thread names the pieces.
        shortages = helper.submit(_shortages, lines, order, remaining, filled)
        allocations = _name_allocations(pieces, naming.result(), supply)
        return EngineResult(allocations, shortages.result())


def _hand_out(
    policy: Policy, line_sku: Int64Array, remaining: Int64Array, supply: pl.DataFrame
) -> tuple[tuple[Int64Array, Int64Array, Int64Array], Int64Array]:
    """Run the policy's pass over the lines (in demand order): its pieces and each line's fill.

    A piece is (line's place in demand order, batch index, units), in the reference's order.
    """
    batch_sku = supply["sku_code"].to_numpy()
    available = supply["available"].to_numpy()
    if policy is Policy.SPLIT:
        piece_line, piece_batch, piece_qty, filled = split_fill(
            line_sku, remaining, batch_sku, available
        )
        return (piece_line, piece_batch, piece_qty), filled
    chosen = first_fit(line_sku, remaining, batch_sku, available)
    piece_line = np.flatnonzero(chosen >= 0)
    filled = np.where(chosen >= 0, remaining, 0)
    return (piece_line, chosen[piece_line], remaining[piece_line]), filled


def _supply(batches: pl.DataFrame) -> pl.DataFrame:
    """Batches with stock to give, grouped by SKU, in preference order within a SKU.

    Sorting by SKU first makes each SKU one run of rows, so its code is just the run number.
    Within a SKU the order is `rules.BATCH_PREFERENCE`: in stock (null eta) first, then
    earliest eta, then reference.
    """
    available = (pl.col("purchased_quantity") - pl.col("allocated_qty")).clip(lower_bound=0)
    return (
        batches.lazy()
        .select("reference", "sku", "eta", available=available)
        .filter(pl.col("available") > 0)
        .pipe(sorted_by, BATCH_PREFERENCE, within=["sku"])
        .with_columns(sku_code=pl.col("sku").rle_id().cast(pl.Int64))
        .collect()
        .rechunk()  # the sort leaves chunks; gathers from one chunk are much cheaper
    )


def _demand_order(lines: pl.DataFrame) -> pl.Series:
    """Row numbers of the lines in `rules.DEMAND_ORDER`, by its packed key when that decides."""
    key = packed_key(lines, DEMAND_ORDER)
    if key is not None:
        order = key.arg_sort()
        keys = key.gather(order)
        # Distinct keys decide the whole order; a tie would be settled by the line key.
        if not (keys.slice(1) == keys.slice(0, len(keys) - 1)).any():
            return order
    sort_keys = lines.select(DEMAND_ORDER.columns).with_row_index("row")
    return sorted_by(sort_keys, DEMAND_ORDER)["row"]


def _sku_codes(line_skus: pl.Series, supply: pl.DataFrame) -> pl.Series:
    """Each line's SKU code in `supply`, or -1 if no batch of its SKU has stock.

    Matching 64-bit hashes is several times cheaper than joining on the strings; every match
    is then confirmed on the strings themselves, and should two SKUs with stock ever share a
    hash, the engine joins on the strings instead. A line whose SKU's hash matches no SKU with
    stock cannot have one, so the result is exact either way.
    """
    skus = supply.filter(pl.col("sku_code").is_first_distinct())["sku"]  # in code order
    if skus.is_empty():
        return pl.repeat(-1, len(line_skus), dtype=pl.Int64, eager=True)
    hashes = skus.hash()
    if hashes.n_unique() == len(hashes):
        codes = pl.Series(positions_of(line_skus.hash().to_numpy(), hashes.to_numpy()))
        same = (skus.gather(codes.clip(lower_bound=0)) == line_skus).fill_null(False)
        if (same | (codes < 0)).all():
            return codes
    table = skus.to_frame("sku").with_row_index("sku_code")
    return (
        line_skus.to_frame("sku")
        .join(table, on="sku", how="left", maintain_order="left")["sku_code"]
        .cast(pl.Int64)
        .fill_null(-1)
    )


def _name_allocations(
    pieces: tuple[Int64Array, Int64Array, Int64Array], order_ids: pl.Series, supply: pl.DataFrame
) -> pl.DataFrame:
    """Turn pieces into allocation rows, given the lines' order ids in demand order."""
    piece_line, piece_batch, piece_qty = pieces
    return pl.DataFrame(
        {
            "order_id": order_ids.gather(piece_line),
            # The batch's SKU is the line's: gathering from the few batches beats the many lines.
            "sku": supply["sku"].gather(piece_batch),
            "batch_ref": supply["reference"].gather(piece_batch),
            "qty": piece_qty,
        },
        schema=ALLOCATION_SCHEMA,
    )


def _shortages(
    lines: pl.DataFrame, order: pl.Series, remaining: Int64Array, filled: Int64Array
) -> pl.DataFrame:
    """Lines whose missing units were not all filled, in demand order, with what they hold."""
    short = np.flatnonzero(filled < remaining)
    got = pl.Series(filled[short])
    return (
        lines.select("order_id", "sku", "qty", "allocated_qty")[order.gather(short)]
        .select(
            "order_id",
            "sku",
            ordered_qty="qty",
            allocated_qty=pl.col("allocated_qty") + got,
            short_qty=pl.Series(remaining[short]) - got,
        )
        .cast(SHORTAGE_SCHEMA)
    )
