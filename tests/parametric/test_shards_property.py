"""Sharding never changes a night: SKUs placed alike in SQL and Python, shards plan as the whole.

A shard's plan is `plan_night` of its SKUs alone; put together, the shards' plans must be the
night's plan, and the allocation stage on a real warehouse must leave the same tables.
"""

from __future__ import annotations

import tempfile
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal
from sharded_nights import TABLES, nights_through, run_night_in, three_nights

from allocation.adapters.rules_sql import shard_sql
from allocation.adapters.warehouse import DuckDBWarehouse
from allocation.domain.policy import Policy
from allocation.domain.sharding import shard_of
from allocation.engine.plan import (
    NightPlan,
    allocation_changes,
    plan_night,
)
from allocation.engine.shards import ShardInputs, of_shard, plan_shard
from allocation.service_layer import allocating, runs

SKUS = ["A", "B", "C", "D", "É-7", "F"]
ETAS = [None, None, date(2026, 12, 1), date(2026, 12, 9)]
TIMES = [None, datetime(2026, 11, 1, 9, tzinfo=UTC), datetime(2026, 11, 1, 10, tzinfo=UTC)]
KEY = ["order_id", "sku", "batch_ref"]


@settings(max_examples=200, deadline=None)
@given(
    skus=st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=20),
    shards=st.integers(1, 9),
)
def test_sql_and_python_place_every_sku_in_the_same_shard(skus: list[str], shards: int) -> None:
    with duckdb.connect() as con:
        placed = con.execute(
            f"SELECT sku, {shard_sql(shards)} AS shard FROM unnest(?::VARCHAR[]) AS t(sku)",
            [skus],
        ).fetchall()

    assert placed == [(sku, shard_of(sku, shards)) for sku in skus]


@st.composite
def nights(draw: st.DrawFn) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Batches, open lines, and picks frozen on in-stock batches within their quantity."""
    batches = [
        (
            f"b{n}",
            draw(st.sampled_from(SKUS)),
            draw(st.integers(0, 12)),
            draw(st.sampled_from(ETAS)),
        )
        for n in range(draw(st.integers(0, 12)))
    ]
    lines = [
        (
            f"o{n}",
            sku,
            draw(st.integers(1, 8)),
            draw(st.integers(0, 2)),
            draw(st.sampled_from(TIMES)),
            n,
        )
        for n, sku in enumerate(draw(st.lists(st.sampled_from(SKUS), max_size=16)))
    ]
    picks = []
    for reference, sku, quantity, eta in batches:
        holders = [line for line in lines if line[1] == sku]
        if eta is None and holders and quantity:
            order_id, _, qty, *_ = draw(st.sampled_from(holders))
            picks.append((order_id, sku, reference, draw(st.integers(1, min(qty, quantity)))))
    return (
        pl.DataFrame(
            batches,
            schema={
                "reference": pl.String,
                "sku": pl.String,
                "purchased_quantity": pl.Int64,
                "eta": pl.Date,
            },
            orient="row",
        ),
        pl.DataFrame(
            lines,
            schema={
                "order_id": pl.String,
                "sku": pl.String,
                "qty": pl.Int64,
                "priority": pl.Int64,
                "ordered_at": pl.Datetime("us", "UTC"),
                "arrival": pl.Int64,
            },
            orient="row",
        ),
        pl.DataFrame(
            picks,
            schema={
                "order_id": pl.String,
                "sku": pl.String,
                "batch_ref": pl.String,
                "qty": pl.Int64,
            },
            orient="row",
        ),
    )


def together(plans: list[NightPlan]) -> tuple[dict[str, pl.DataFrame], int]:
    """The shards' plans put together, rows in a stable order; and their demand lines."""
    frames = {
        name: pl.concat([getattr(plan, name) for plan in plans]).sort(pl.all())
        for name in ("allocations", "picks", "reservations", "shortages")
    }
    return frames, sum(plan.demand_lines for plan in plans)


@settings(max_examples=150, deadline=None)
@given(night=nights(), shards=st.integers(2, 5), policy=st.sampled_from(list(Policy)))
def test_shards_planned_alone_and_put_together_are_the_night_planned_whole(
    night: tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame], shards: int, policy: Policy
) -> None:
    batches, lines, picked = night
    split = [
        ShardInputs(n, *(of_shard(frame, n, shards) for frame in night)) for n in range(shards)
    ]

    sharded = together([plan_shard(shard, policy) for shard in split])
    whole = together([plan_night(batches, lines, picked, policy)])

    assert sharded[1] == whole[1]
    for name, frame in whole[0].items():
        assert_frame_equal(sharded[0][name], frame)


changes = st.lists(
    st.tuples(st.integers(0, 45), st.integers(0, 9), st.sampled_from([None, 3])), max_size=12
)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(policy=st.sampled_from(list(Policy)), changed=changes)
def test_allocating_in_three_shards_leaves_the_same_tables_as_in_one(
    policy: Policy, changed: list[tuple[int, int, int | None]]
) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        root = nights_through(Path(scratch), three_nights()[:1], run_night_in(policy, 1))
        with DuckDBWarehouse(root / "w.duckdb") as warehouse:
            run = runs.new_run(date(2026, 11, 27), policy)
            runs.start_run(warehouse, run)
            known = warehouse.batches().sort("reference")
            warehouse.upsert_batches(  # arrivals, cuts and new stock, drawn
                pl.DataFrame(
                    [
                        (
                            known["reference"][n] if n < known.height else f"new-{n}",
                            known["sku"][n % known.height],
                            quantity,
                            None if eta is None else date(2026, 12, eta),
                        )
                        for n, quantity, eta in changed
                    ],
                    schema=known.schema,
                    orient="row",
                ).unique("reference"),
                run.run_id,
            )
            warehouse.commit()
            left = []
            for shards in (1, 3):
                allocating.allocate_open_demand(warehouse, run, shards=shards)
                left.append({t: warehouse.query(f"SELECT * FROM {t} ORDER BY ALL") for t in TABLES})
                warehouse.rollback()

    for table in TABLES:
        assert_frame_equal(left[0][table], left[1][table])


held = st.dictionaries(
    st.tuples(st.sampled_from(["o1", "o2", "o3"]), st.just("A"), st.sampled_from(["b1", "b2"])),
    st.integers(1, 4),
    max_size=6,
)


def allocation_frame(rows: dict[tuple[str, str, str], int]) -> pl.DataFrame:
    """Allocations from {key: qty}."""
    return pl.DataFrame(
        [(*key, qty) for key, qty in rows.items()],
        schema={"order_id": pl.String, "sku": pl.String, "batch_ref": pl.String, "qty": pl.Int64},
        orient="row",
    )


@settings(max_examples=150, deadline=None)
@given(before=held, after=held)
def test_allocation_changes_applied_to_what_was_held_give_what_is_wanted(
    before: dict[tuple[str, str, str], int], after: dict[tuple[str, str, str], int]
) -> None:
    changes = allocation_changes(allocation_frame(before), allocation_frame(after))

    applied = dict(before)
    for order_id, sku, batch_ref, qty, qty_before in changes.iter_rows():
        assert qty != qty_before and applied.get((order_id, sku, batch_ref)) == qty_before
        if qty is None:
            del applied[(order_id, sku, batch_ref)]
        else:
            applied[(order_id, sku, batch_ref)] = qty
    assert applied == after
