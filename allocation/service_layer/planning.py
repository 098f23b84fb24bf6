"""Where a night's shards are planned: in this process, or elsewhere (a Dask cluster).

The allocation stage reads the night shard by shard and hands the shards to a `ShardPlanner`;
plans come back in the shards' order, and the stage writes each before it asks for the next,
so memory holds a few shards, never the whole night. The shards' iterable reads the
warehouse as it is pulled: pull it from the thread that called `plans`, one shard at a time.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Protocol

from allocation.domain.policy import Policy
from allocation.engine.plan import NightPlan
from allocation.engine.shards import ShardInputs, plan_shard


class ShardPlanner(Protocol):
    """Plans shards somewhere and yields their plans in the shards' order."""

    def plans(self, shards: Iterable[ShardInputs], policy: Policy) -> Iterator[NightPlan]:
        """Each shard's plan, in the order the shards came, pulling shards as it goes."""
        ...


class InProcessPlanner:
    """Plans each shard in this process, one at a time, as the stage asks for it."""

    def plans(self, shards: Iterable[ShardInputs], policy: Policy) -> Iterator[NightPlan]:
        """Each shard's plan, made here when the stage asks for it."""
        for shard in shards:
            made = [plan_shard(shard, policy)]
            # Nothing of this generator's holds the shard's inputs while its plan is written,
            # nor the plan while the next shard is read: one shard's frames at a time.
            del shard
            yield made.pop()


IN_PROCESS = InProcessPlanner()
"""The planner a run uses unless it is pointed at a cluster."""
