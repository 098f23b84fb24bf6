"""A run killed (SIGKILL) at any stage, then run again, ends as if it had never died.

Each case runs a first night cleanly, drops the second night's files, and kills the second
run at one fault point. Then it runs again and checks: the invariants hold, every input row
is accounted for once, the pick lists in the outbox are exactly the ones the warehouse
recorded (none missing, none twice), every published file is complete, and the warehouse
holds the same allocations as a twin that never crashed. Right after the kill, the analysts'
path opens read-only and holds the last commit, with nothing left lying around.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import duckdb
import polars as pl
import pytest
from warehouses import NIGHT_1, NIGHT_2, held, published_pick_lists

from allocation.adapters import snapshot
from allocation.adapters.storage import open_storage
from allocation.adapters.warehouse import DuckDBWarehouse
from allocation.domain.policy import Policy
from allocation.faults import KILL_AT, POINTS
from allocation.service_layer.invariants import check_invariants
from allocation.service_layer.nightly import run_night

RUN_NIGHT = """
import sys
from datetime import date
from allocation.domain.policy import Policy
from allocation.service_layer.nightly import run_night
root = sys.argv[1]
run_night(inbox_url=root + "/inbox", outbox_url=root + "/outbox", db=root + "/w.duckdb",
          policy=Policy.SPLIT, run_date=date.fromisoformat(sys.argv[2]))
"""


def night(root: Path, run_date: date) -> None:
    run_night(
        inbox_url=str(root / "inbox"),
        outbox_url=str(root / "outbox"),
        db=str(root / "w.duckdb"),
        policy=Policy.SPLIT,
        run_date=run_date,
    )


def drop(root: Path, files: dict[str, str]) -> None:
    inbox = open_storage(str(root / "inbox"))
    for key, text in files.items():
        inbox.write(key, text.encode())


def killed_night(root: Path, run_date: date, point: str) -> int:
    done = subprocess.run(
        [sys.executable, "-c", RUN_NIGHT, str(root), run_date.isoformat()],
        env={**os.environ, KILL_AT: point},
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.returncode


@pytest.fixture(scope="module")
def twin(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[object, ...]]:
    """The allocations after both nights when nothing crashes."""
    root = tmp_path_factory.mktemp("twin")
    drop(root, NIGHT_1)
    night(root, date(2026, 11, 26))
    drop(root, NIGHT_2)
    night(root, date(2026, 11, 27))
    return held(root / "w.duckdb")


# Two points run by default (one inside the transaction, one after it); all run with -m slow.
DEFAULT_POINTS = ("mid-load", "mid-publish")


@pytest.mark.parametrize(
    "point",
    [p if p in DEFAULT_POINTS else pytest.param(p, marks=pytest.mark.slow) for p in POINTS],
)
def test_a_run_killed_at_any_stage_and_run_again_ends_as_if_it_never_died(
    point: str, tmp_path: Path, twin: list[tuple[object, ...]]
) -> None:
    drop(tmp_path, NIGHT_1)
    night(tmp_path, date(2026, 11, 26))
    drop(tmp_path, NIGHT_2)

    assert killed_night(tmp_path, date(2026, 11, 27), point) == -9
    night(tmp_path, date(2026, 11, 27))

    with DuckDBWarehouse(tmp_path / "w.duckdb") as warehouse:
        assert check_invariants(warehouse) == []
        files = warehouse.query(
            "SELECT location, rows_read, rows_loaded, rows_rejected FROM ingested_files "
            "WHERE status <> 'skipped' ORDER BY location"
        )
        recorded = warehouse.query(
            "SELECT pick_list_id, line_no, order_id, sku, batch_ref, qty FROM pick_list_lines "
            "ORDER BY pick_list_id, line_no"
        )
    assert files["location"].str.extract(r"(\w+/n\d\.csv)$").to_list() == sorted(
        [*NIGHT_1, *NIGHT_2]
    )
    assert (files["rows_read"] == files["rows_loaded"] + files["rows_rejected"]).all()
    assert published_pick_lists(tmp_path / "outbox").equals(recorded)
    assert held(tmp_path / "w.duckdb") == twin


@pytest.mark.parametrize("point", ["mid-publish", "after-commit"])
def test_every_published_run_is_complete_once_its_manifest_is_there(
    point: str, tmp_path: Path
) -> None:
    drop(tmp_path, NIGHT_1)
    assert killed_night(tmp_path, date(2026, 11, 26), point) == -9
    assert list((tmp_path / "outbox").glob("manifests/**/*.json")) == []  # the WMS sees no run

    night(tmp_path, date(2026, 11, 26))
    outbox = open_storage(str(tmp_path / "outbox"))

    # The killed run had committed, so the next run publishes it first, then itself.
    manifests = outbox.list("manifests/")
    assert len(manifests) == 2
    for manifest in manifests:
        for entry in json.loads(outbox.read(manifest.key))["files"].values():
            frame = pl.read_parquet(io.BytesIO(outbox.read(entry["path"])))
            assert frame.height == entry["rows"]


def everything_in(path: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every table of a warehouse file, row by row (opened read-only)."""
    with duckdb.connect(str(path), read_only=True) as con:
        names = [name for (name,) in con.sql("SELECT table_name FROM duckdb_tables()").fetchall()]
        return {name: con.sql(f"SELECT * FROM {name} ORDER BY ALL").fetchall() for name in names}


def files_beside(db: Path) -> tuple[list[str], list[str]]:
    """The names in the analysts' folder (inputs and outputs aside) and in the writers' one."""
    layout = snapshot.Layout(db)
    analysts = sorted(p.name for p in db.parent.iterdir() if p.name not in {"inbox", "outbox"})
    return analysts, sorted(p.name for p in layout.writer_dir.iterdir())


SETTLED = (
    [".w.duckdb.writer", "w.duckdb"],
    ["schema-record", "snapshot-a.duckdb", "snapshot-b.duckdb", "warehouse.duckdb"],
)
"""What the folders hold between writers: the snapshot, the master, the spare snapshot (and the
digest of an up-to-date schema)."""


@pytest.mark.parametrize(
    "point",
    [p if p in DEFAULT_POINTS else pytest.param(p, marks=pytest.mark.slow) for p in POINTS],
)
def test_after_a_kill_at_any_stage_the_analysts_path_holds_the_last_commit(
    point: str, tmp_path: Path
) -> None:
    drop(tmp_path, NIGHT_1)
    night(tmp_path, date(2026, 11, 26))
    drop(tmp_path, NIGHT_2)
    db = tmp_path / "w.duckdb"

    assert killed_night(tmp_path, date(2026, 11, 27), point) == -9

    assert everything_in(db) == everything_in(snapshot.Layout(db).master)
    analysts, writers = files_beside(db)
    assert analysts == SETTLED[0]
    assert set(writers) <= {*SETTLED[1], "warehouse.duckdb.wal"}
    night(tmp_path, date(2026, 11, 27))
    assert files_beside(db) == SETTLED


DIE_BEFORE_PUBLISHING = """
import os, signal, sys
from pathlib import Path
from allocation.adapters import snapshot
from allocation.adapters.warehouse import DuckDBWarehouse
db = Path(sys.argv[1])
layout = snapshot.Layout(db)
warehouse = DuckDBWarehouse(db).__enter__()
warehouse.execute("UPDATE batches SET purchased_quantity = 99 WHERE reference = 'st'")
# What `commit` does, up to the commit of the master, then death before the snapshot moves.
snapshot.mark_unpublished(layout)
warehouse.connection.execute("COMMIT")
os.link(layout.slots[0], layout.staging)  # as if killed mid-publish, just before the rename
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_commit_the_writer_died_before_publishing_is_published_by_the_next_writer(
    tmp_path: Path,
) -> None:
    drop(tmp_path, NIGHT_1)
    night(tmp_path, date(2026, 11, 26))
    db = tmp_path / "w.duckdb"
    killed = subprocess.run([sys.executable, "-c", DIE_BEFORE_PUBLISHING, str(db)], timeout=60)
    assert killed.returncode == -9
    stale = everything_in(db)
    assert ("st", "CHAIR", 6) in [row[:3] for row in stale["batches"]]

    with DuckDBWarehouse(db):  # the next writer, with nothing of its own to commit
        pass

    assert everything_in(db) == everything_in(snapshot.Layout(db).master) != stale
    assert ("st", "CHAIR", 99) in [row[:3] for row in everything_in(db)["batches"]]
    assert files_beside(db) == SETTLED
