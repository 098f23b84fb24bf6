"""The nightly flow, run for real by Prefect, on a local folder and on an S3 API server."""

from __future__ import annotations

import io
from dataclasses import asdict
from pathlib import Path

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal
from scenario import (
    ALLOCATIONS,
    PICK_LIST,
    REJECTED,
    RUN_DATE,
    SHORTAGES,
    SUMMARY,
    write_inbox,
)

from allocation.adapters.storage import ObjectStorage, open_storage
from flows.nightly import nightly

pytestmark = pytest.mark.usefixtures("prefect_harness")


def read_output(outbox: ObjectStorage, name: str, run_id: str) -> pl.DataFrame:
    key = f"{name}/run_date={RUN_DATE.isoformat()}/{run_id}.parquet"
    return pl.read_parquet(io.BytesIO(outbox.read(key)))


@pytest.fixture(params=["local", "s3"])
def locations(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    """Inbox and outbox URLs: folders in tmp_path, or prefixes in a bucket on the moto server."""
    if request.param == "local":
        return str(tmp_path / "inbox"), str(tmp_path / "outbox")
    s3 = request.getfixturevalue("s3_env")
    return s3.url("inbox"), s3.url("outbox")


def test_a_night_publishes_the_hand_computed_pick_list_allocations_and_shortages(
    locations: tuple[str, str], tmp_path: Path
) -> None:
    inbox_url, outbox_url = locations
    write_inbox(open_storage(inbox_url))
    db = tmp_path / "warehouse.duckdb"

    result = nightly(inbox_url=inbox_url, outbox_url=outbox_url, db=str(db), run_date=RUN_DATE)
    summary = result.summary

    assert {k: v for k, v in asdict(summary).items() if k in SUMMARY} == SUMMARY
    outbox = open_storage(outbox_url)
    pick_list = read_output(outbox, "pick_lists", summary.run_id)
    assert (pick_list["pick_list_id"] == f"PL-{summary.run_id}").all()
    assert_frame_equal(pick_list.drop("pick_list_id"), PICK_LIST)
    allocations = read_output(outbox, "allocations", summary.run_id).drop("run_id")
    by_key = ["order_id", "sku", "batch_ref"]  # (the file's rows come in no documented order)
    assert_frame_equal(allocations.sort(by_key), ALLOCATIONS.sort(by_key))
    assert_frame_equal(read_output(outbox, "shortages", summary.run_id), SHORTAGES)
    rejects = read_output(outbox, "rejects", summary.run_id)
    assert set(rejects.select("file", "row_number", "column").iter_rows()) == REJECTED
    assert outbox.exists(f"manifests/run_date={RUN_DATE.isoformat()}/{summary.run_id}.json")


def test_a_night_leaves_the_warehouse_holding_picks_reservations_and_accounted_files(
    tmp_path: Path,
) -> None:
    inbox_url, outbox_url = str(tmp_path / "inbox"), str(tmp_path / "outbox")
    write_inbox(open_storage(inbox_url))
    db = tmp_path / "warehouse.duckdb"

    nightly(inbox_url=inbox_url, outbox_url=outbox_url, db=str(db), run_date=RUN_DATE)

    with duckdb.connect(str(db), read_only=True) as con:
        held = con.sql(
            "SELECT status, sum(qty) FROM allocations GROUP BY status ORDER BY status"
        ).fetchall()
        files = con.sql(
            "SELECT location, status, rows_read, rows_loaded, rows_rejected "
            "FROM ingested_files ORDER BY location"
        ).fetchall()
        lines = con.sql("SELECT count(*) FROM order_lines").fetchall()
    assert held == [("picked", 13), ("reserved", 25)]
    assert [f[1:] for f in files] == [("loaded", 5, 4, 1), ("loaded", 8, 6, 2)]
    assert lines == [(6,)]


def test_running_the_same_night_again_changes_nothing_and_picks_nothing_new(
    tmp_path: Path,
) -> None:
    inbox_url, outbox_url = str(tmp_path / "inbox"), str(tmp_path / "outbox")
    write_inbox(open_storage(inbox_url))
    db = str(tmp_path / "warehouse.duckdb")

    nightly(inbox_url=inbox_url, outbox_url=outbox_url, db=db, run_date=RUN_DATE)
    again = nightly(inbox_url=inbox_url, outbox_url=outbox_url, db=db, run_date=RUN_DATE).summary

    assert (again.files_read, again.files_skipped, again.pick_list_lines) == (0, 2, 0)
    assert again.rows_read == 0
    assert read_output(open_storage(outbox_url), "pick_lists", again.run_id).height == 0
