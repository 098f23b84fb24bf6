"""A shard of a night: the batches, open lines and frozen picks of some SKUs, planned alone.

A line only ever takes stock of its own SKU, so the night splits by SKU without changing any
allocation: planning each shard alone and putting the plans together gives the night's plan.
`ShardInputs` is all a shard's plan depends on, so it can travel to another process or machine.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import polars as pl

from allocation.domain.policy import Policy
from allocation.domain.sharding import shard_of
from allocation.engine.plan import NightPlan, plan_night

LINES_PER_SHARD: Final = 2_500_000
"""Open lines per shard when the shard count is left to the night's size (see the README)."""


@dataclass(frozen=True)
class ShardInputs:
    """What one shard's plan depends on, as `plan_night` takes it."""

    shard: int
    """The shard's number, from 0."""
    batches: pl.DataFrame
    """reference, sku, purchased_quantity, eta: the shard's SKUs' batches."""
    open_lines: pl.DataFrame
    """order_id, sku, qty, priority, ordered_at, arrival: the shard's SKUs' open lines."""
    picked: pl.DataFrame
    """order_id, sku, batch_ref, qty: the frozen picks on the shard's SKUs' batches."""


def plan_shard(inputs: ShardInputs, policy: Policy) -> NightPlan:
    """Plan one shard exactly as `plan_night` plans a whole night."""
    return plan_night(inputs.batches, inputs.open_lines, inputs.picked, policy)


def shards_for(open_lines: int) -> int:
    """How many shards a night of that many open lines is planned in: 1 up to LINES_PER_SHARD."""
    return max(1, math.ceil(open_lines / LINES_PER_SHARD))


def shard_column(skus: pl.Series, shards: int) -> pl.Series:
    """Each SKU's shard (`sharding.shard_of`), hashing each distinct SKU once."""
    distinct = skus.unique()
    return skus.replace_strict(
        distinct, [shard_of(sku, shards) for sku in distinct], return_dtype=pl.Int64()
    )


def of_shard(frame: pl.DataFrame, shard: int, shards: int) -> pl.DataFrame:
    """The rows of a frame (with a `sku` column) whose SKU is in the given shard."""
    if shards == 1:
        return frame
    return frame.filter(shard_column(frame["sku"], shards) == shard)
