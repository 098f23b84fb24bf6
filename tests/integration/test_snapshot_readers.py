"""A long-lived process reads the published snapshot it keeps open, and lets it go when stale.

Real warehouse files in a temporary folder; the writes are real commits in this process
(as the HTTP server makes them), each publishing a new snapshot.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from allocation.adapters import snapshot
from allocation.adapters.publisher import ParquetPublisher
from allocation.adapters.snapshot_readers import SnapshotReaders
from allocation.adapters.storage import open_storage
from allocation.adapters.warehouse import DuckDBWarehouse
from allocation.service_layer import operations


def add_batch(db: Path, reference: str) -> None:
    """Add a batch in a unit of work of its own: one commit, one snapshot published."""
    with DuckDBWarehouse(db) as warehouse:
        outbox = ParquetPublisher(open_storage(str(db.parent / "outbox")))
        operations.add_batch(warehouse, outbox, reference, "SKU-1", 10)


def references(readers: SnapshotReaders) -> list[str]:
    with DuckDBWarehouse.on_snapshot(readers) as warehouse:
        return sorted(warehouse.batches()["reference"].to_list())


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "w.duckdb"
    add_batch(path, "b-1")
    return path


def published(db: Path) -> snapshot.FileId | None:
    return snapshot.file_id(db)


ONE_COMMIT = """
import sys
from allocation.adapters.warehouse import DuckDBWarehouse
with DuckDBWarehouse(sys.argv[1]) as warehouse:
    warehouse.commit()
"""


def commit_in_another_process(db: Path) -> None:
    """One commit (one snapshot published) by another process, as a night or command makes."""
    subprocess.run([sys.executable, "-c", ONE_COMMIT, str(db)], check=True)


def test_a_read_after_a_commit_sees_it(db: Path) -> None:
    readers = SnapshotReaders(db)
    assert references(readers) == ["b-1"]
    add_batch(db, "b-2")
    assert references(readers) == ["b-1", "b-2"]
    readers.close()


def test_a_read_keeps_its_snapshot_to_its_end_and_a_write_here_does_not_rewrite_it(
    db: Path,
) -> None:
    readers = SnapshotReaders(db)
    first = published(db)
    with DuckDBWarehouse.on_snapshot(readers) as before:
        add_batch(db, "b-2")  # two commits: the second's spare is the file `before` reads
        assert published(db) != first  # so a fresh copy took its place
        assert before.batches()["reference"].to_list() == ["b-1"]
        assert references(readers) == ["b-1", "b-2"]
    readers.close()


def test_with_no_read_going_on_a_write_here_updates_the_open_snapshot_in_place(db: Path) -> None:
    readers = SnapshotReaders(db)
    assert references(readers) == ["b-1"]
    first = published(db)
    add_batch(db, "b-2")  # two operations, each published once: the spare,
    add_batch(db, "b-3")  # then the file the readers keep open
    assert published(db) == first  # brought up to date in place
    assert references(readers) == ["b-1", "b-2", "b-3"]  # not read through the stale opening
    readers.close()


def test_a_stale_snapshot_is_let_go_so_another_process_updates_it_in_place(db: Path) -> None:
    readers = SnapshotReaders(db)
    references(readers)
    first = published(db)
    commit_in_another_process(db)  # the file the readers keep open is now the spare
    readers.let_go_of_stale()
    commit_in_another_process(db)
    assert published(db) == first


def test_a_snapshot_kept_open_makes_another_process_copy_it_afresh(db: Path) -> None:
    readers = SnapshotReaders(db)
    references(readers)
    first = published(db)
    commit_in_another_process(db)
    commit_in_another_process(db)  # (what `let_go_of_stale` spares the writers)
    assert published(db) != first
    readers.close()


def test_the_last_read_of_a_stale_snapshot_closes_it(db: Path) -> None:
    readers = SnapshotReaders(db)
    first = published(db)
    with DuckDBWarehouse.on_snapshot(readers):
        commit_in_another_process(db)
    commit_in_another_process(db)  # no read since: the file was let go as the read ended
    assert published(db) == first
    readers.close()


def test_a_missing_warehouse_is_not_found(tmp_path: Path) -> None:
    readers = SnapshotReaders(tmp_path / "none.duckdb")
    with pytest.raises(FileNotFoundError), DuckDBWarehouse.on_snapshot(readers):
        pass
