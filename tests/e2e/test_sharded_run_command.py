"""`allocation run --shards N`: the same nights, the same outputs; a shard count below 1 refused."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from executable import allocation_run
from polars.testing import assert_frame_equal
from sharded_nights import nights_through, published, run_night_in, three_nights, warehouse_state

from allocation.domain.policy import Policy
from allocation.entrypoints.exits import Exit


@pytest.mark.parametrize(
    ("options", "env"), [(["--shards", "0"], {}), ([], {"ALLOCATION_SHARDS": "-2"})]
)
def test_a_shard_count_below_one_is_refused_in_one_line_before_anything_runs(
    tmp_path: Path, options: list[str], env: dict[str, str]
) -> None:
    done = allocation_run(tmp_path, *options, **env)

    assert done.returncode == Exit.INVALID
    assert len(done.stderr.strip().splitlines()) == 1 and "shards" in done.stderr.lower()
    assert not (tmp_path / "w.duckdb").exists()


@pytest.mark.slow
@pytest.mark.parametrize("policy", list(Policy))
def test_three_nights_through_the_executable_in_four_shards_match_the_nights_unsharded(
    tmp_path: Path, policy: Policy
) -> None:
    def night(root: Path, run_date: date) -> None:
        done = allocation_run(
            root, "--shards", "4", "--policy", policy.value, "--run-date", run_date.isoformat()
        )
        assert done.returncode == 0, done.stderr

    nights = three_nights()
    whole = nights_through(tmp_path / "whole", nights, run_night_in(policy, 1))
    sharded = nights_through(tmp_path / "sharded", nights, night)

    tables = warehouse_state(whole / "w.duckdb", whole)
    for name, frame in warehouse_state(sharded / "w.duckdb", sharded).items():
        assert_frame_equal(frame, tables[name], check_column_order=False)
    files = published(whole)
    for key, frame in published(sharded).items():
        assert_frame_equal(frame, files[key])
    assert published(sharded).keys() == files.keys()
