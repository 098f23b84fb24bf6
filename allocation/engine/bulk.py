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
(priority, ordered_at and arrival packed together, `packed_key.py`) sorted once by a radix
sort (`first_fit.radix_order`), which is several times cheaper than sorting on five columns of
which two are strings. Only if two lines tie on all three fields do the string keys have a
say, and then the engine falls back to the full sort.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import polars as pl

from allocation.domain.policy import Policy
from allocation.domain.rules import BATCH_PREFERENCE, DEMAND_ORDER
from allocation.engine.first_fit import (
    Handout,
    Int64Array,
    RowArray,
    as_rows,
    first_fit,
    positions_of,
    radix_order,
    split_fill,
)
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
    # two overlap: Polars and the compiled kernels let go of the GIL while they work.
    with ThreadPoolExecutor(max_workers=1) as helper:
        # Supply and demand: the helper sorts the lines by their packed key while this thread
        # readies the batches and the lines' SKU codes.
        sorting = helper.submit(_demand_order, packed_key(lines, DEMAND_ORDER), lines)
        supply = _supply(batches)
        skus = supply.filter(pl.col("sku_code").is_first_distinct())["sku"]  # in code order
        line_sku = _guessed_codes(lines["sku"], skus, supply)
        order = sorting.result()
        # The pass runs on the guessed codes while the helper puts the order ids in demand
        # order, for naming, and confirms the guess (which holds unless a hash collides).
        in_demand_order = helper.submit(lines["order_id"].gather, order)
        confirming = helper.submit(_confirmed, line_sku, lines["sku"], skus)
        missing = np.take(lines["qty"].to_numpy() - lines["allocated_qty"].to_numpy(), order)
        handout = _hand_out(policy, np.take(line_sku, order), missing, supply)
        if not confirming.result():
            line_sku = _joined_codes(lines["sku"], skus)
            handout = _hand_out(policy, np.take(line_sku, order), missing, supply)
        # The results: the helper names the pieces' lines and collects the shortages while
        # this thread names their batches.
        order_ids = helper.submit(lambda: in_demand_order.result().gather(handout.piece_line))
        shortages = helper.submit(_shortages, lines, order, handout)
        allocations = _name_allocations(handout, order_ids.result(), supply)
        return EngineResult(allocations, shortages.result())


def _hand_out(
    policy: Policy, line_sku: Int64Array, missing: Int64Array, supply: pl.DataFrame
) -> Handout:
    """Run the policy's pass over the lines (in demand order): its pieces and short lines."""
    run_pass = split_fill if policy is Policy.SPLIT else first_fit
    return run_pass(
        line_sku, missing, supply["sku_code"].to_numpy(), supply["available"].to_numpy()
    )


def _supply(batches: pl.DataFrame) -> pl.DataFrame:
    """Batches with stock to give, grouped by SKU, in preference order within a SKU.

    Within a SKU the order is `rules.BATCH_PREFERENCE`: in stock (null eta) first, then
    earliest eta, then reference. The SKUs are grouped by their hashes, which sorts several
    times faster than the strings; each SKU is then one run of rows, numbered by its code. Two
    SKUs with stock that share a hash would share a run, so then the strings group them.
    """
    available = (pl.col("purchased_quantity") - pl.col("allocated_qty")).clip(lower_bound=0)
    with_stock = (
        batches.lazy()
        .select("reference", "sku", "eta", available=available)
        .filter(pl.col("available") > 0)
        .with_columns(sku_hash=_sku_hash(pl.col("sku")))
        .collect()  # sorted eagerly: Polars 2.1 sorts this frame in half the time it does lazily
    )
    for group in ("sku_hash", "sku"):
        supply = (
            with_stock.pipe(sorted_by, BATCH_PREFERENCE, within=[group])
            .with_columns(sku_code=pl.col("sku").rle_id().cast(pl.Int64))
            .rechunk()  # the sort leaves chunks; gathers from one chunk are much cheaper
        )
        if supply.select(pl.col("sku_hash").rle_id().max() == pl.col("sku_code").max()).item():
            break  # one SKU per hash run (or no batch with stock)
    return supply


def _demand_order(key: pl.Series | None, lines: pl.DataFrame) -> RowArray:
    """Row numbers of the lines in `rules.DEMAND_ORDER`, by its packed `key` when that decides."""
    if key is not None:
        if key.dtype == pl.Int64:
            order, tie = radix_order(key.to_numpy())
        else:  # Int128: past the compiled sort's reach
            order_series = key.arg_sort()
            keys = key.gather(order_series)
            tie = bool((keys.slice(1) == keys.slice(0, len(keys) - 1)).any())
            order = as_rows(order_series.to_numpy())
        # Distinct keys decide the whole order; a tie would be settled by the line key.
        if not tie:
            return order
    sort_keys = lines.select(DEMAND_ORDER.columns).with_row_index("row")
    return as_rows(sorted_by(sort_keys, DEMAND_ORDER)["row"].to_numpy())


def _sku_hash(skus: pl.Expr) -> pl.Expr:
    """The SKUs' 64-bit hashes, the same for lines and batches (Polars' fixed default seeds)."""
    return skus.hash()


def _guessed_codes(line_skus: pl.Series, skus: pl.Series, supply: pl.DataFrame) -> Int64Array:
    """Each line's SKU code (its place in `skus`), or -1 if no batch of its SKU has stock.

    Matching 64-bit hashes is several times cheaper than joining on the strings, but a line
    whose SKU has no stock might share the hash of one that has: the codes hold once
    `_confirmed`. Should two SKUs with stock share a hash, the strings are joined instead. A
    line whose SKU's hash matches no SKU with stock cannot have one, so -1 is always exact.
    """
    if skus.is_empty():
        return np.full(len(line_skus), -1, dtype=np.int64)
    hashes = supply.filter(pl.col("sku_code").is_first_distinct())["sku_hash"]
    if hashes.n_unique() == len(hashes):
        line_hashes = line_skus.to_frame("sku").select(_sku_hash(pl.col("sku"))).to_series()
        return positions_of(line_hashes.to_numpy(), hashes.to_numpy())
    return _joined_codes(line_skus, skus)


def _confirmed(line_sku: Int64Array, line_skus: pl.Series, skus: pl.Series) -> bool:
    """Whether every line given a code (its place in `skus`) has that code's SKU."""
    codes = pl.Series(line_sku)
    if skus.is_empty():
        return bool((codes < 0).all())
    same = (skus.gather(codes.clip(lower_bound=0)) == line_skus).fill_null(False)
    return bool((same | (codes < 0)).all())


def _joined_codes(line_skus: pl.Series, skus: pl.Series) -> Int64Array:
    """Each line's SKU code (its place in `skus`) by joining on the strings, or -1."""
    table = skus.to_frame("sku").with_row_index("sku_code")
    return (
        line_skus.to_frame("sku")
        .join(table, on="sku", how="left", maintain_order="left")["sku_code"]
        .cast(pl.Int64)
        .fill_null(-1)
        .to_numpy()
    )


def _name_allocations(handout: Handout, order_ids: pl.Series, supply: pl.DataFrame) -> pl.DataFrame:
    """Turn the pass's pieces into allocation rows, given the pieces' order ids."""
    return pl.DataFrame(
        {
            "order_id": order_ids,
            # The batch's SKU is the line's: gathering from the few batches beats the many lines.
            "sku": supply["sku"].gather(handout.piece_batch),
            "batch_ref": supply["reference"].gather(handout.piece_batch),
            "qty": handout.piece_qty,
        },
        schema=ALLOCATION_SCHEMA,
    )


def _shortages(lines: pl.DataFrame, order: RowArray, handout: Handout) -> pl.DataFrame:
    """Lines whose missing units were not all filled, in demand order, with what they hold."""
    got = pl.Series(handout.short_got)
    return (
        lines.select("order_id", "sku", "qty", "allocated_qty")[order[handout.short_line]]
        .select(
            "order_id",
            "sku",
            ordered_qty="qty",
            allocated_qty=pl.col("allocated_qty") + got,
            short_qty=pl.col("qty") - pl.col("allocated_qty") - got,
        )
        .cast(SHORTAGE_SCHEMA)
    )
