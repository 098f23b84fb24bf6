"""A shard's inputs and plan come out of their packing exactly as they went in."""

from __future__ import annotations

from datetime import UTC, date, datetime

import polars as pl
from polars.testing import assert_frame_equal

from allocation.adapters.shard_transport import pack_plan, pack_shard, unpack_plan, unpack_shard
from allocation.domain.policy import Policy
from allocation.engine.shards import ShardInputs, plan_shard

BATCHES = pl.DataFrame(
    {
        "reference": ["b-stock", "b-ship", "b-empty"],
        "sku": ["CHAISE-É", "CHAISE-É", "CHAISE-É"],
        "purchased_quantity": [3, 10, 0],
        "eta": [None, date(2026, 12, 10), None],
    }
)
LINES = pl.DataFrame(
    {
        "order_id": ["o1", "o2", "o3"],
        "sku": ["CHAISE-É"] * 3,
        "qty": [2, 5, 20],
        "priority": [0, 1, 0],
        "ordered_at": [datetime(2026, 11, 25, 9, tzinfo=UTC), None, None],
        "arrival": [1, 2, 3],
    }
)
PICKED = pl.DataFrame(
    {"order_id": ["o1"], "sku": ["CHAISE-É"], "batch_ref": ["b-stock"], "qty": [1]}
)


def test_a_packed_shard_unpacks_to_the_same_frames_nulls_and_types_included() -> None:
    shard = ShardInputs(3, BATCHES, LINES, PICKED.clear())

    back = unpack_shard(pack_shard(shard))

    assert back.shard == 3
    assert_frame_equal(back.batches, BATCHES)
    assert_frame_equal(back.open_lines, LINES)
    assert_frame_equal(back.picked, PICKED.clear())


def test_a_packed_plan_unpacks_to_the_same_plan() -> None:
    plan = plan_shard(ShardInputs(0, BATCHES, LINES, PICKED), Policy.SPLIT)

    back = unpack_plan(pack_plan(plan))

    for name in ("allocations", "picks", "reservations", "shortages"):
        assert_frame_equal(getattr(back, name), getattr(plan, name))
    assert back.demand_lines == plan.demand_lines
    assert plan.shortages.height == 1  # the plan is not empty: o3 is short
