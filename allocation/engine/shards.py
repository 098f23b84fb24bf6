"""A shard of a night: the batches, open lines and frozen picks of some SKUs, planned alone.

A line only ever takes stock of its own SKU, so the night splits by SKU without changing any
allocation: planning each shard alone and putting the plans together gives the night's plan.
`ShardInputs` is all a shard's plan depends on, so it can travel to another process or machine.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from allocation.domain.policy import Policy
from allocation.engine.plan import NightPlan, plan_night


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
