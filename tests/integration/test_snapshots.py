"""Analysts and the night never wait on each other: readers hold published, consistent snapshots.

Real processes on real files: a reader holding a connection across a night run by the real
`allocation` executable, a reader polling during a night of a few hundred thousand lines,
a read-write open of the analysts' file by mistake, and a file left by an earlier release.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import duckdb
import polars as pl
import pytest

from allocation.adapters import schema, snapshot, views
from allocation.adapters.storage import open_storage
from allocation.adapters.warehouse import DuckDBWarehouse
from allocation.domain.policy import Policy
from allocation.service_layer.nightly import run_night

COUNTS = (
    "SELECT (SELECT count(*) FROM runs) AS runs, (SELECT count(*) FROM order_lines) AS lines, "
    "(SELECT count(*) FROM batches) AS batches"
)

HELD_READER = f"""
import json, sys, duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
for _ in sys.stdin:
    print(json.dumps(con.sql({COUNTS!r}).fetchall()[0]), flush=True)
"""

POLLING_READER = """
import json, os, sys, duckdb
db, stop = sys.argv[1], sys.argv[2]
seen, errors = [], []
while not os.path.exists(stop):
    try:
        with duckdb.connect(db, read_only=True, config={"threads": 1}) as con:
            seen.append(con.sql('''
                SELECT (SELECT count(*) FROM runs WHERE status = 'committed'),
                       (SELECT coalesce(sum(pick_list_lines), 0) FROM runs
                        WHERE status = 'committed'),
                       (SELECT count(*) FROM pick_list_lines),
                       (SELECT count(*) FROM order_lines)
            ''').fetchall()[0])
    except Exception as error:
        errors.append(repr(error))
print(json.dumps({"seen": seen, "errors": errors}))
"""

RUN_NIGHT = """
import sys
from datetime import date
from allocation.domain.policy import Policy
from allocation.service_layer.nightly import run_night
root = sys.argv[1]
run_night(inbox_url=root + "/inbox", outbox_url=root + "/outbox", db=root + "/w.duckdb",
          policy=Policy.SPLIT, run_date=date.fromisoformat(sys.argv[2]))
"""


def night(root: Path, run_date: date = date(2026, 11, 26)) -> None:
    run_night(
        inbox_url=str(root / "inbox"),
        outbox_url=str(root / "outbox"),
        db=str(root / "w.duckdb"),
        policy=Policy.SPLIT,
        run_date=run_date,
    )


def drop(root: Path, key: str, text: str) -> None:
    open_storage(str(root / "inbox")).write(key, text.encode())


def counts(db: Path) -> tuple[int, int, int]:
    """What a reader opening the analysts' path now sees (in a process of its own)."""
    done = subprocess.run(
        [sys.executable, "-c", HELD_READER, str(db)],
        input="count\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    runs, lines, batches = json.loads(done.stdout)
    return runs, lines, batches


@contextmanager
def held_reader(db: Path) -> Iterator[subprocess.Popen[str]]:
    """A reader process holding one read-only connection open; each line sent asks for counts."""
    reader = subprocess.Popen(
        [sys.executable, "-c", HELD_READER, str(db)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        yield reader
    finally:
        reader.kill()
        reader.communicate()


def ask(reader: subprocess.Popen[str]) -> tuple[int, int, int]:
    assert reader.stdin is not None and reader.stdout is not None
    reader.stdin.write("count\n")
    reader.stdin.flush()
    runs, lines, batches = json.loads(reader.stdout.readline())
    return runs, lines, batches


def allocation(*args: str, root: Path) -> subprocess.CompletedProcess[str]:
    """The real `allocation` executable, as an operator or the scheduler runs it."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    return subprocess.run(
        [str(Path(sys.executable).parent / "allocation"), *args],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=root,
        env={**environment, "PREFECT_HOME": str(root / "prefect-home")},
    )


@pytest.mark.slow  # two `allocation` processes, Prefect's temporary server each: 15 to 70 s
def test_a_reader_held_open_across_a_night_never_stops_it_and_keeps_its_state(
    tmp_path: Path,
) -> None:
    drop(tmp_path, "batches/n1.csv", "reference,sku,purchased_quantity,eta\nst,CHAIR,5,\n")
    night(tmp_path)
    db = tmp_path / "w.duckdb"
    before = counts(db)
    drop(tmp_path, "order_lines/n2.csv", "order_id,sku,qty\no1,CHAIR,2\no2,CHAIR,1\n")

    with held_reader(db) as reader:
        assert ask(reader) == before
        where = ["--db", str(db), "--outbox", str(tmp_path / "outbox"), "--busy-timeout", "0"]
        run = allocation("run", "--inbox", str(tmp_path / "inbox"), *where, root=tmp_path)
        assert run.returncode == 0, run.stderr
        command = allocation("batches", "add", "b2", "LAMP", "3", *where[:4], root=tmp_path)
        assert command.returncode == 0, command.stderr

        assert ask(reader) == before  # still the state it opened
        # A reader opening now sees the night (1 run, 2 lines) and the command (1 run, 1 batch).
        assert counts(db) == (before[0] + 2, before[1] + 2, before[2] + 1)


def write_big_inbox(root: Path, lines: int, skus: int) -> None:
    inbox = root / "inbox"
    (inbox / "batches").mkdir(parents=True)
    (inbox / "order_lines").mkdir()
    batches = pl.DataFrame({"n": range(skus * 4)}).select(
        reference=pl.format("b{}", "n"),
        sku=pl.format("S{}", pl.col("n") % skus),
        purchased_quantity=(pl.col("n") * 7919 % 40 + 1).cast(pl.Int64),
        eta=pl.when(pl.col("n") % 3 == 0)
        .then(None)
        .otherwise(pl.lit(date(2026, 12, 1)) + pl.duration(days=pl.col("n") % 60)),
    )
    batches.write_parquet(inbox / "batches" / "b.parquet")
    pl.DataFrame({"n": range(lines)}).select(
        order_id=pl.format("o{}", "n"),
        sku=pl.format("S{}", pl.col("n") * 31 % skus),
        qty=(pl.col("n") % 5 + 1).cast(pl.Int64),
    ).write_parquet(inbox / "order_lines" / "o.parquet")


@pytest.mark.slow  # a night of 200,000 lines
def test_a_polling_reader_sees_only_whole_commits_during_a_large_night(tmp_path: Path) -> None:
    write_big_inbox(tmp_path, lines=200_000, skus=5_000)
    db = tmp_path / "w.duckdb"
    with DuckDBWarehouse(db) as warehouse:  # an empty warehouse, published
        warehouse.commit()
    stop = tmp_path / "stop"
    reader = subprocess.Popen(
        [sys.executable, "-c", POLLING_READER, str(db), str(stop)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        done = subprocess.run(
            [sys.executable, "-c", RUN_NIGHT, str(tmp_path), "2026-11-26"],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
    finally:
        stop.touch()
        output, _ = reader.communicate(timeout=60)
    polled = json.loads(output)

    assert polled["errors"] == []
    seen = [tuple(row) for row in polled["seen"]]
    assert all(planned == listed for _, planned, listed, _ in seen), set(seen)
    # It saw the empty warehouse and then the whole night, and never anything in between.
    assert (0, 0, 0, 0) in seen
    night_rows = {row for row in seen if row[0] == 1}
    assert len(night_rows) == 1 and next(iter(night_rows))[3] == 200_000
    assert {row[0] for row in seen} <= {0, 1}


def test_a_read_write_open_by_mistake_changes_only_a_copy_the_next_commit_replaces(
    tmp_path: Path,
) -> None:
    drop(tmp_path, "batches/n1.csv", "reference,sku,purchased_quantity,eta\nst,CHAIR,5,\n")
    night(tmp_path)
    db = tmp_path / "w.duckdb"
    committed = counts(db)
    with duckdb.connect(str(db)) as mistaken:  # no read_only=True
        mistaken.execute("DELETE FROM batches")
        mistaken.execute("CREATE TABLE scratch AS SELECT 1 AS x")
    assert counts(db)[2] == 0  # the analysts' copy shows the mistake until the next commit

    with DuckDBWarehouse(db) as warehouse:  # the job's own data never saw it
        assert warehouse.query("SELECT count(*) AS n FROM batches")["n"][0] == 1
        warehouse.commit()

    assert counts(db) == committed
    with duckdb.connect(str(db), read_only=True) as analyst:
        tables = analyst.sql("SELECT table_name FROM duckdb_tables()").fetchall()
    assert ("scratch",) not in tables
    assert not snapshot.wal(db).exists()


def test_a_file_from_an_earlier_release_is_adopted_and_rewritten_for_older_readers(
    tmp_path: Path,
) -> None:
    db = tmp_path / "w.duckdb"
    with duckdb.connect(str(db)) as con:  # as today's release writes it: DuckDB 2's format
        con.execute("BEGIN TRANSACTION")
        schema.upgrade(con)
        views.create_views(con)
        con.execute("COMMIT")
        con.execute(
            "INSERT INTO runs (run_id, run_date, policy, started_at, status) "
            "VALUES ('r1', DATE '2026-11-25', 'split', now(), 'committed')"
        )
    assert storage_version(db).startswith("v2.")

    with DuckDBWarehouse(db) as warehouse:
        assert warehouse.query("SELECT run_id FROM runs")["run_id"].to_list() == ["r1"]

    layout = snapshot.Layout(db)
    assert storage_version(layout.master) == storage_version(db) == "v1.4.0+"
    assert counts(db) == (1, 0, 0)


def storage_version(path: Path) -> str:
    with duckdb.connect() as con:
        con.execute(f"ATTACH '{path}' AS f (READ_ONLY)")
        (row,) = con.sql(
            "SELECT tags['storage_version'] FROM duckdb_databases() WHERE database_name = 'f'"
        ).fetchall()
    return str(row[0])


def test_old_states_do_not_pile_up_on_disk_while_a_reader_holds_one(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    add_run(db, "r0")
    with held_reader(db) as reader:
        assert ask(reader)[0] == 1
        for n in range(1, 5):
            add_run(db, f"r{n}")
        assert ask(reader)[0] == 1
        layout = snapshot.Layout(db)
        assert sorted(p.name for p in tmp_path.iterdir()) == [layout.writer_dir.name, db.name]
        # The master, the published snapshot and the spare (and the digest of an up-to-date
        # schema); the reader's state is unlinked.
        assert sorted(p.name for p in layout.writer_dir.iterdir()) == [
            "schema-record",
            "snapshot-a.duckdb",
            "snapshot-b.duckdb",
            "warehouse.duckdb",
        ]
        assert db.stat().st_ino in {slot.stat().st_ino for slot in layout.slots}
    assert counts(db)[0] == 5


def add_run(db: Path, run_id: str) -> None:
    with DuckDBWarehouse(db) as warehouse:
        warehouse.execute(
            "INSERT INTO runs (run_id, run_date, policy, started_at, status) "
            "VALUES (?, DATE '2026-11-25', 'split', now(), 'committed')",
            [run_id],
        )
        warehouse.commit()


def test_an_operation_reaches_readers_in_one_snapshot_already_marked_published(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from allocation.adapters.publisher import ParquetPublisher
    from allocation.service_layer import operations

    db = tmp_path / "w.duckdb"
    publisher = ParquetPublisher(open_storage(str(tmp_path / "outbox")))
    with DuckDBWarehouse(db) as warehouse:
        operations.add_batch(warehouse, publisher, "B-1", "LAMP", 5)
    published: list[Path] = []
    real = snapshot.publish

    def counted(layout: snapshot.Layout) -> None:
        published.append(layout.public)
        real(layout)

    monkeypatch.setattr(snapshot, "publish", counted)
    with DuckDBWarehouse(db) as warehouse:
        added = operations.add_batch(warehouse, publisher, "B-2", "LAMP", 7)

    assert published == [db]  # its run's commit and its publication mark, together
    with duckdb.connect(str(db), read_only=True) as reader:
        shown = reader.sql(
            "SELECT status, published_at IS NOT NULL FROM runs WHERE run_id = ?",
            params=[added.run_id],
        ).fetchall()
        batches = reader.sql("SELECT reference FROM batches ORDER BY 1").fetchall()
    assert shown == [("committed", True)]
    assert batches == [("B-1",), ("B-2",)]


def test_commits_in_a_block_that_fails_still_reach_readers_and_the_rest_is_rolled_back(
    tmp_path: Path,
) -> None:
    db = tmp_path / "w.duckdb"
    with DuckDBWarehouse(db) as warehouse:
        pass  # created and published, empty
    with (
        DuckDBWarehouse(db) as warehouse,
        pytest.raises(RuntimeError, match="outbox down"),
        warehouse.readers_see_once(),
    ):
        warehouse.connection.execute("CREATE TABLE kept (x INTEGER)")
        warehouse.commit()
        warehouse.connection.execute("CREATE TABLE dropped (x INTEGER)")
        raise RuntimeError("outbox down")

    assert not snapshot.needs_publishing(snapshot.Layout(db))
    with duckdb.connect(str(db), read_only=True) as reader:
        tables = {name for (name,) in reader.sql("SHOW TABLES").fetchall()}
    assert "kept" in tables
    assert "dropped" not in tables
