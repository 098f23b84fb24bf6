"""Three nights planned in four SKU shards leave exactly what the same nights leave unsharded."""

from __future__ import annotations

from pathlib import Path

import pytest
from polars.testing import assert_frame_equal
from sharded_nights import (
    SKUS,
    nights_through,
    published,
    run_night_in,
    three_nights,
    warehouse_state,
)

from allocation.domain.policy import Policy
from allocation.domain.sharding import shard_of
from allocation.engine.shards import LINES_PER_SHARD, shards_for


def test_the_nights_skus_fall_in_every_one_of_four_shards() -> None:
    # (Otherwise the comparisons below would compare a night with itself.)
    assert {shard_of(sku, 4) for sku in SKUS} == {0, 1, 2, 3}


@pytest.mark.parametrize("policy", list(Policy))
def test_three_nights_in_four_shards_leave_the_same_tables_and_outputs_as_unsharded(
    tmp_path: Path, policy: Policy
) -> None:
    nights = three_nights()
    whole = nights_through(tmp_path / "whole", nights, run_night_in(policy, 1))
    sharded = nights_through(tmp_path / "sharded", nights, run_night_in(policy, 4))

    tables = warehouse_state(whole / "w.duckdb", whole)
    tables_sharded = warehouse_state(sharded / "w.duckdb", sharded)
    files, files_sharded = published(whole), published(sharded)

    assert tables["withdrawals"].height > 0 and tables["pick_list_lines"].height > 0
    for name, frame in tables.items():
        assert_frame_equal(tables_sharded[name], frame, check_column_order=False)
    assert files_sharded.keys() == files.keys()
    for key, frame in files.items():
        assert_frame_equal(files_sharded[key], frame)


def test_a_sharded_nights_pick_list_is_numbered_once_in_batch_sku_order_order(
    tmp_path: Path,
) -> None:
    root = nights_through(tmp_path, three_nights()[:1], run_night_in(Policy.SPLIT, 4))

    (pick_list,) = [f for key, f in published(root).items() if key.startswith("pick_lists/")]

    numbered = pick_list.sort("line_no")
    assert numbered["line_no"].to_list() == list(range(1, pick_list.height + 1))
    assert_frame_equal(numbered, numbered.sort("batch_ref", "sku", "order_id"))


def test_a_night_left_to_choose_is_one_shard_until_it_has_more_open_lines_than_a_shard_holds() -> (
    None
):
    assert [shards_for(n) for n in (0, 1, LINES_PER_SHARD)] == [1, 1, 1]
    assert [shards_for(LINES_PER_SHARD + 1), shards_for(4 * LINES_PER_SHARD)] == [2, 4]
