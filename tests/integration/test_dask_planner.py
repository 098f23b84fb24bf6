"""Planning shards on a real Dask cluster: a scheduler and two workers, processes on 127.0.0.1.

The plans must be the ones planned in this process, shard for shard, whatever happens to the
workers; a cluster that cannot be reached or loses every worker fails with `ClusterUnavailable`
within the planner's timeout, not after minutes.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from dask_cluster import LocalCluster, kill, running_cluster
from polars.testing import assert_frame_equal
from s3server import free_port

from allocation.adapters.dask_cluster import ClusterUnavailable, DaskPlanner
from allocation.adapters.shard_transport import pack_shard
from allocation.domain.policy import Policy
from allocation.engine.frames import ALLOCATION_SCHEMA, BATCH_COLUMNS, LINE_COLUMNS
from allocation.engine.plan import NightPlan
from allocation.engine.shards import ShardInputs
from allocation.service_layer.planning import IN_PROCESS

pytestmark = pytest.mark.usefixtures("prefect_harness")

TIMEOUT = 5.0
"""The planner's bound in these tests: seconds to reach the scheduler, or to go without workers."""

# The engine's input columns, less what earlier passes hold (the plan works that out).
BATCH_SCHEMA = {k: v for k, v in BATCH_COLUMNS.items() if k != "allocated_qty"}
LINE_SCHEMA = {k: v for k, v in LINE_COLUMNS.items() if k != "allocated_qty"}
PICK_SCHEMA = ALLOCATION_SCHEMA


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    """One scheduler and two one-thread workers for the module; a test that kills workers
    starts new ones before it ends."""
    with running_cluster(workers=2) as running:
        yield running


def random_shards(seed: int, shards: int, lines: int = 400) -> list[ShardInputs]:
    """Shards of a random night: each its own SKUs, in-stock and inbound batches, open lines
    with ties in priority and time, and a few frozen picks."""
    rng = np.random.default_rng(seed)
    made = []
    for shard in range(shards):
        skus = [f"SKU-{shard}-{i}" for i in range(int(rng.integers(1, 8)))]
        batch_rows = []
        for sku in skus:
            for b in range(int(rng.integers(1, 5))):
                eta = (
                    None
                    if rng.random() < 0.4
                    else date(2026, 12, 1) + timedelta(int(rng.integers(1, 60)))
                )
                batch_rows.append((f"{sku}-b{b}", sku, int(rng.integers(0, 200)), eta))
        line_rows = [
            (
                f"o-{int(rng.integers(0, lines // 2))}-{n}",
                skus[int(rng.integers(0, len(skus)))],
                int(rng.integers(1, 40)),
                int(rng.integers(0, 3)),
                datetime(2026, 11, 1, tzinfo=UTC) + timedelta(hours=int(rng.integers(0, 48))),
                n + 1,
            )
            for n in range(int(rng.integers(1, lines)))
        ]
        # A frozen pick per in-stock batch, for one of its SKU's lines, within both quantities.
        pick_rows = []
        for reference, sku, quantity, eta in batch_rows:
            wanting = [row for row in line_rows if row[1] == sku]
            if eta is None and wanting and quantity and rng.random() < 0.5:
                line = wanting[int(rng.integers(0, len(wanting)))]
                pick_rows.append((line[0], sku, reference, min(quantity, line[2]) // 2 or 1))
        made.append(
            ShardInputs(
                shard=shard,
                batches=pl.DataFrame(batch_rows, schema=BATCH_SCHEMA, orient="row"),
                open_lines=pl.DataFrame(line_rows, schema=LINE_SCHEMA, orient="row"),
                picked=pl.DataFrame(pick_rows, schema=PICK_SCHEMA, orient="row"),
            )
        )
    return made


def assert_same_plans(got: list[NightPlan], expected: list[NightPlan]) -> None:
    assert len(got) == len(expected)
    for mine, theirs in zip(got, expected, strict=True):
        assert_frame_equal(mine.allocations, theirs.allocations)
        assert_frame_equal(mine.picks, theirs.picks)
        assert_frame_equal(mine.reservations, theirs.reservations)
        assert_frame_equal(mine.shortages, theirs.shortages)
        assert mine.demand_lines == theirs.demand_lines


@pytest.mark.parametrize("policy", list(Policy))
def test_plans_on_the_cluster_are_the_plans_made_in_process(
    cluster: LocalCluster, policy: Policy
) -> None:
    for seed in (1, 2):
        shards = random_shards(seed, shards=int(np.random.default_rng(seed).integers(1, 9)))
        got = list(DaskPlanner(cluster.address, timeout=TIMEOUT).plans(shards, policy))
        assert_same_plans(got, list(IN_PROCESS.plans(shards, policy)))


def test_pulls_shards_as_plans_are_taken_rather_than_the_whole_night_at_once(
    cluster: LocalCluster,
) -> None:
    pulled: list[int] = []

    def night() -> Iterator[ShardInputs]:
        for shard in random_shards(4, shards=12, lines=20):
            pulled.append(shard.shard)
            yield shard

    plans = DaskPlanner(cluster.address, timeout=TIMEOUT).plans(night(), Policy.SPLIT)
    next(plans)
    assert len(pulled) == 4  # two workers, two shards in flight each
    assert len(list(plans)) == 11


def test_shards_larger_than_dasks_large_task_threshold_are_planned_without_a_warning(
    cluster: LocalCluster,
) -> None:
    (shard,) = random_shards(8, shards=1, lines=2)
    rng = np.random.default_rng(8)
    lines = pl.concat([shard.open_lines] * 500_000).with_columns(
        order_id=pl.Series([f"{n:016x}" for n in rng.integers(0, 2**62, 500_000)]),
        arrival=pl.int_range(1, pl.len() + 1),
    )
    big = ShardInputs(0, shard.batches, lines, shard.picked.clear())
    assert len(pack_shard(big).open_lines) > 10 * 2**20  # Dask warns of tasks above 10 MB

    (plan,) = DaskPlanner(cluster.address, timeout=TIMEOUT).plans([big], Policy.SPLIT)

    assert_same_plans([plan], list(IN_PROCESS.plans([big], Policy.SPLIT)))


def test_a_worker_killed_during_planning_leaves_the_plans_unchanged(
    cluster: LocalCluster,
) -> None:
    shards = random_shards(5, shards=8, lines=20_000)
    plans = DaskPlanner(cluster.address, timeout=TIMEOUT).plans(shards, Policy.SPLIT)
    got = [next(plans)]  # the first plan is back: three more shards are on the workers
    busy = [name for name, tasks in cluster.scheduler_view().items() if tasks]
    assert busy  # a shard planning or a plan waiting to be taken: the kill loses it
    cluster.kill(busy[0])
    got.extend(plans)
    try:
        assert_same_plans(got, list(IN_PROCESS.plans(shards, Policy.SPLIT)))
    finally:
        cluster.add_workers(1)


def test_an_unreachable_scheduler_fails_within_the_timeout() -> None:
    nobody = f"tcp://127.0.0.1:{free_port()}"
    started = time.monotonic()
    with pytest.raises(ClusterUnavailable, match=f"the Dask scheduler at {nobody} did not answer"):
        next(DaskPlanner(nobody, timeout=2).plans(random_shards(6, shards=2), Policy.SPLIT))
    assert time.monotonic() - started < 2 + 10


@pytest.mark.slow  # the workers started again are cold: the next test pays ~15 s
def test_a_cluster_that_loses_every_worker_fails_within_the_timeout(
    cluster: LocalCluster,
) -> None:
    shards = random_shards(7, shards=6, lines=20_000)
    plans = DaskPlanner(cluster.address, timeout=TIMEOUT).plans(shards, Policy.WHOLE)
    next(plans)
    cluster.kill_workers()
    started = time.monotonic()
    try:
        with pytest.raises(ClusterUnavailable, match="had no worker for 5 s"):
            list(plans)
        assert time.monotonic() - started < TIMEOUT + 5
    finally:
        cluster.add_workers(2)


@pytest.mark.slow  # a cluster of its own, since it loses its scheduler
def test_a_scheduler_lost_mid_night_fails_at_once() -> None:
    with running_cluster(workers=1) as doomed:
        shards = random_shards(9, shards=6, lines=20_000)
        plans = DaskPlanner(doomed.address, timeout=TIMEOUT).plans(shards, Policy.SPLIT)
        next(plans)
        kill(doomed.scheduler)
        started = time.monotonic()
        with pytest.raises(
            ClusterUnavailable, match=f"lost the Dask scheduler at {doomed.address}"
        ):
            list(plans)
        assert time.monotonic() - started < TIMEOUT + 5
