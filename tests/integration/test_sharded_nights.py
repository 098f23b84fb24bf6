"""Three nights planned in four SKU shards leave exactly what the same nights leave unsharded."""

from __future__ import annotations

import tempfile
from pathlib import Path

import polars as pl
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

from allocation.adapters.warehouse import DuckDBWarehouse
from allocation.domain.policy import Policy
from allocation.domain.sharding import shard_of
from allocation.domain.status import AllocationStatus
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


@pytest.mark.parametrize("staged", [True, False])
def test_a_shards_inputs_are_its_skus_rows_of_the_tables_staged_or_not_and_go_with_the_night(
    tmp_path: Path, staged: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = nights_through(tmp_path, three_nights()[:2], run_night_in(Policy.SPLIT, 1))
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))  # (TMPDIR, for this test)
    with DuckDBWarehouse(root / "w.duckdb") as warehouse:
        warehouse.stage_from_shards = 4 if staged else 5
        whole: dict[str, pl.DataFrame] = {
            "batches": warehouse.batches(),
            "open lines": warehouse.open_lines(),
            **{status: warehouse.allocations(status) for status in AllocationStatus},
        }
        warehouse.shard_night(4)
        staged_in = list((tmp_path / "tmp").glob("allocation-shards-*"))
        shards = [
            {
                "batches": warehouse.shard_batches(shard),
                "open lines": warehouse.shard_open_lines(shard),
                **{s: warehouse.shard_allocations(s, shard) for s in AllocationStatus},
            }
            for shard in range(4)
        ]
    assert all(frame.height for frame in whole.values())
    for name, frame in whole.items():
        for shard, frames in enumerate(shards):
            assert {shard_of(sku, 4) for sku in frames[name]["sku"]} <= {shard}
        together = pl.concat([frames[name] for frames in shards])
        assert_frame_equal(together.sort(pl.all()), frame.sort(pl.all()))
    assert bool(staged_in) == staged and not any(folder.exists() for folder in staged_in)
