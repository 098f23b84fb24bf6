"""`allocation run --dask ADDRESS`: the night planned on a real Dask cluster, the same outputs.

The cluster is a scheduler and two workers, processes on 127.0.0.1 started by this module. The
same three nights (arrivals, cancellations, batch cuts) go through three runs: unsharded, in
four shards in process, and through the executable with `--dask` (Prefect's temporary server
included, so the workers report to the run's own API); every output and table is identical.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import duckdb
import pytest
from dask_cluster import LocalCluster, running_cluster
from executable import allocation_run
from polars.testing import assert_frame_equal
from s3server import free_port
from scenario import write_inbox
from sharded_nights import nights_through, published, run_night_in, three_nights, warehouse_state

from allocation.adapters.storage import open_storage
from allocation.domain.policy import Policy
from allocation.entrypoints.exits import Exit


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    """One scheduler and two one-thread workers for the module."""
    with running_cluster(workers=2) as running:
        yield running


def test_an_unreachable_cluster_is_one_line_and_status_8_and_commits_nothing(
    tmp_path: Path,
) -> None:
    write_inbox(open_storage(str(tmp_path / "inbox")))
    nobody = f"tcp://127.0.0.1:{free_port()}"

    done = allocation_run(tmp_path, "--dask", nobody, ALLOCATION_DASK_TIMEOUT="2")

    assert done.returncode == Exit.CLUSTER
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"error: the Dask scheduler at {nobody} did not answer within 2 s")
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as con:
        assert con.sql("SELECT status FROM runs").fetchall() == [("failed",)]
        assert con.sql("SELECT count(*) FROM order_lines").fetchall() == [(0,)]
        assert con.sql("SELECT count(*) FROM allocations").fetchall() == [(0,)]
    assert not list((tmp_path / "outbox").rglob("*.parquet"))


@pytest.mark.slow
@pytest.mark.parametrize("policy", list(Policy))
def test_three_nights_on_the_cluster_match_the_nights_in_process_sharded_or_not(
    tmp_path: Path, cluster: LocalCluster, policy: Policy
) -> None:
    def on_the_cluster(root: Path, run_date: date) -> None:
        done = allocation_run(
            root,
            *("--dask", cluster.address, "--shards", "4"),
            *("--policy", policy.value, "--run-date", run_date.isoformat()),
        )
        assert done.returncode == 0, done.stderr

    nights = three_nights()
    whole = nights_through(tmp_path / "whole", nights, run_night_in(policy, 1))
    tables, files = warehouse_state(whole / "w.duckdb", whole), published(whole)
    sharded = nights_through(tmp_path / "sharded", nights, run_night_in(policy, 4))
    with cluster.tasks_run() as tasks:
        dask = nights_through(tmp_path / "dask", nights, on_the_cluster)

    assert len([key for key in tasks if key.startswith("plan_packed_shard-")]) == 3 * 4
    for root in (sharded, dask):
        for name, frame in warehouse_state(root / "w.duckdb", root).items():
            assert_frame_equal(frame, tables[name], check_column_order=False)
        outputs = published(root)
        assert outputs.keys() == files.keys()
        for key, frame in outputs.items():
            assert_frame_equal(frame, files[key])
