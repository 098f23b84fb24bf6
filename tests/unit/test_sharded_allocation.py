"""The allocation stage shard by shard, on the fake and on DuckDB: written as it goes, summed."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime

import polars as pl
import pytest
from builders import TODAY, TOMORROW, ordered_at
from fakes import FakeWarehouse

from allocation.adapters.warehouse import DuckDBWarehouse, Warehouse
from allocation.domain import Policy
from allocation.domain.sharding import shard_of
from allocation.domain.status import LineStatus
from allocation.engine.plan import NightPlan
from allocation.engine.shards import ShardInputs, plan_shard
from allocation.service_layer import allocating, runs
from allocation.service_layer.invariants import check_invariants

SKUS = ["CHAIR", "LAMP", "SOFA", "DESK", "RUG", "BED"]


@pytest.fixture(params=["fake", "duckdb"])
def warehouse(request: pytest.FixtureRequest) -> Iterator[Warehouse]:
    """A warehouse with stock and inbound batches of six SKUs and lines competing for them."""
    with FakeWarehouse() if request.param == "fake" else DuckDBWarehouse(":memory:") as opened:
        for n, sku in enumerate(SKUS):
            stock(opened, f"st-{sku}", sku, 4 + n)
            stock(opened, f"in-{sku}", sku, 3, TOMORROW)
            for k in range(3):
                order(opened, f"o{k}", sku, 2 + k + n % 2)
        opened.commit()
        yield opened
        assert check_invariants(opened) == []


def stock(
    warehouse: Warehouse, reference: str, sku: str, qty: int, eta: date | None = None
) -> None:
    batch = {"reference": reference, "sku": sku, "purchased_quantity": qty, "eta": eta}
    warehouse.upsert_batches(pl.DataFrame([batch], schema_overrides={"eta": pl.Date()}), "arranged")


def order(warehouse: Warehouse, order_id: str, sku: str, qty: int) -> None:
    line = {"order_id": order_id, "sku": sku, "qty": qty, "priority": 0}
    warehouse.append(
        "order_lines",
        pl.DataFrame([line]).with_columns(
            ordered_at=pl.lit(ordered_at(1)),
            arrival=pl.lit(warehouse.last_arrival() + 1),
            source_file=pl.lit("arranged.csv"),
        ),
        status=LineStatus.OPEN,
        run_id="arranged",
    )


def night(warehouse: Warehouse) -> runs.RunContext:
    run = runs.new_run(TODAY, Policy.SPLIT, now=datetime(2025, 3, 3, 22, tzinfo=UTC))
    runs.start_run(warehouse, run)
    return run


class WatchingPlanner:
    """Plans in process, noting what the warehouse had written each time it reads a shard.

    What is counted: each plan's reservations and shortages among the run's outputs (its picks
    are staged for the night's pick list, numbered once every shard is written).
    """

    def __init__(self, warehouse: Warehouse, run: runs.RunContext) -> None:
        self.warehouse, self.run = warehouse, run
        self.written_before: list[tuple[int, int]] = []
        self.planned: list[tuple[int, int]] = []

    def plans(self, shards: Iterable[ShardInputs], policy: Policy) -> Iterator[NightPlan]:
        for shard in shards:
            outputs = self.warehouse.run_outputs(self.run.run_id)
            reserved = outputs["allocations"].filter(~pl.col("in_stock"))
            self.written_before.append((reserved.height, outputs["shortages"].height))
            plan = plan_shard(shard, policy)
            self.planned.append((plan.reservations.height, plan.shortages.height))
            yield plan


def test_the_six_skus_fall_in_every_one_of_three_shards() -> None:
    assert {shard_of(sku, 3) for sku in SKUS} == {0, 1, 2}


def test_each_shards_plan_is_written_before_the_next_shard_is_read(warehouse: Warehouse) -> None:
    run = night(warehouse)
    planner = WatchingPlanner(warehouse, run)

    allocating.allocate_open_demand(warehouse, run, planner, shards=3)

    assert len(planner.planned) == 3 and all(map(sum, planner.planned))
    assert planner.written_before == [
        tuple(map(sum, zip(*planner.planned[:n], strict=True))) if n else (0, 0) for n in range(3)
    ]


def test_the_stage_reports_the_sum_of_its_shards_figures_which_are_the_unsharded_ones(
    warehouse: Warehouse,
) -> None:
    run = night(warehouse)
    whole = allocating.allocate_open_demand(warehouse, run, shards=1)
    warehouse.rollback()
    run = night(warehouse)

    sharded = allocating.allocate_open_demand(warehouse, run, shards=3)

    assert sharded == whole
    assert whole.units_allocated > 0 and whole.units_short > 0


def test_a_shard_count_below_one_is_refused_before_anything_changes(warehouse: Warehouse) -> None:
    run = night(warehouse)

    with pytest.raises(ValueError, match="at least one shard"):
        allocating.allocate_open_demand(warehouse, run, shards=0)
    assert warehouse.run_outputs(run.run_id)["allocations"].is_empty()


class ForgetfulPlanner:
    """Plans every shard but the last (a planner that lost one)."""

    def plans(self, shards: Iterable[ShardInputs], policy: Policy) -> Iterator[NightPlan]:
        made = [plan_shard(shard, policy) for shard in shards]
        yield from made[:-1]


def test_a_planner_that_returns_fewer_plans_than_shards_fails_the_stage(
    warehouse: Warehouse,
) -> None:
    run = night(warehouse)

    with pytest.raises(RuntimeError, match="2 plans for 3 shards"):
        allocating.allocate_open_demand(warehouse, run, ForgetfulPlanner(), shards=3)
    warehouse.rollback()


def ledger_rows(warehouse: DuckDBWarehouse, table: str, run_id: str) -> list[tuple[object, ...]]:
    return warehouse.query(
        f"SELECT event, order_id, sku, batch_ref, qty FROM {table} WHERE run_id = ? ORDER BY ALL",
        [run_id],
    ).rows()


@pytest.mark.parametrize("shards", [1, 3])
def test_a_first_nights_ledger_shows_its_picks_and_reservations_without_storing_them_again(
    shards: int,
) -> None:
    with DuckDBWarehouse(":memory:") as warehouse:
        for n, sku in enumerate(SKUS):
            stock(warehouse, f"st-{sku}", sku, 4 + n)
            stock(warehouse, f"in-{sku}", sku, 3, TOMORROW)
            order(warehouse, "o1", sku, 9)
        first = night(warehouse)
        allocating.allocate_open_demand(warehouse, first, shards=shards)
        held = warehouse.query(
            "SELECT CASE status WHEN 'picked' THEN 'pick' ELSE 'reserve' END AS event, "
            "order_id, sku, batch_ref, qty FROM allocations ORDER BY ALL"
        ).rows()
        shown = ledger_rows(warehouse, "ledger", first.run_id)
        stored = ledger_rows(warehouse, "ledger_events", first.run_id)
        stock(warehouse, "in-CHAIR", "CHAIR", 1, TOMORROW)  # cut: the next night re-plans it
        second = runs.new_run(TODAY, Policy.SPLIT, now=datetime(2025, 3, 4, 22, tzinfo=UTC))
        runs.start_run(warehouse, second)
        allocating.allocate_open_demand(warehouse, second, shards=shards)
        released = ledger_rows(warehouse, "ledger_events", second.run_id)

    assert shown == held and {event for event, *_ in held} == {"pick", "reserve"}
    assert stored == []
    assert released == [("release", "o1", "CHAIR", "in-CHAIR", 2)]
