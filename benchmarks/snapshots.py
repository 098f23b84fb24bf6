"""Benchmark what the analysts' snapshots cost: per night, per operator command, once per file.

    .venv/bin/python benchmarks/snapshots.py --preset 1m
    .venv/bin/python benchmarks/snapshots.py --preset 10m --repeat 3
    .venv/bin/python benchmarks/snapshots.py --preset 1m --nights 30   # the file's size, nightly

Runs the night's service (`run_night`, in-process, without Prefect) on the synthetic inputs of
`pipeline.py`, timing what publishing adds to each commit (the CHECKPOINT and
`snapshot.publish`): a first night, then a re-plan night. Then, on the warehouse those nights
left, one operator command's unit of work (add a batch), alternating with today's unit of
work on a plain copy of the file (opened read-write, no master, no snapshot); the one-time
adoption of a file in DuckDB 2's format; and that format's size and speed against the
DuckDB 1.4 one. With `--nights N`, N nights of new inputs each, and the files' sizes after each.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
from pipeline import PRESETS, RUN_DATE, Size, cpu_yardstick, generate, machine

from allocation.adapters import schema, snapshot, views
from allocation.adapters.warehouse import DuckDBWarehouse
from allocation.domain.policy import Policy
from allocation.service_layer.nightly import run_night

MIB = 2**20


class Stopwatch:
    """Seconds spent in publishing (CHECKPOINT, `snapshot.publish`), gathered while it is on."""

    def __init__(self) -> None:
        self.checkpoint: list[float] = []
        self.publish: list[float] = []

    @contextmanager
    def watching(self) -> Iterator[Stopwatch]:
        publish, run = snapshot.publish, DuckDBWarehouse._run

        def timed_publish(layout: snapshot.Layout) -> None:
            started = time.perf_counter()
            publish(layout)
            self.publish.append(time.perf_counter() - started)

        def timed_run(warehouse: DuckDBWarehouse, sql: str, parameters: object = None) -> None:
            started = time.perf_counter()
            run(warehouse, sql, parameters)
            if sql == "CHECKPOINT":
                self.checkpoint.append(time.perf_counter() - started)

        snapshot.publish = timed_publish
        DuckDBWarehouse._run = timed_run  # type: ignore[method-assign, assignment]
        try:
            yield self
        finally:
            snapshot.publish = publish
            DuckDBWarehouse._run = run  # type: ignore[method-assign]

    @property
    def extra(self) -> float:
        return sum(self.checkpoint) + sum(self.publish)


def night(root: Path, inbox: Path, db: Path, run_date: date) -> dict[str, Any]:
    """One night in-process; its wall time and what publishing took within it."""
    watch = Stopwatch()
    started = time.perf_counter()
    with watch.watching():
        run_night(
            inbox_url=str(inbox),
            outbox_url=str(root / "outbox"),
            db=str(db),
            policy=Policy.SPLIT,
            run_date=run_date,
        )
    wall = time.perf_counter() - started
    return {
        "wall": wall,
        "extra": watch.extra,
        "publishes": len(watch.publish),
        "publish": watch.publish,
        "checkpoint": watch.checkpoint,
    }


def write_night_inbox(size: Size, inbox: Path, night_no: int) -> None:
    """Night `night_no`'s inputs: new order ids and batch references, so every line is new."""
    batches, lines = generate(Size(size.lines, size.batches, size.skus, 1, size.seed + night_no))
    prefix = f"N{night_no:02d}-"
    for kind, frame, key in (("batches", batches, "reference"), ("order_lines", lines, "order_id")):
        (inbox / kind).mkdir(parents=True, exist_ok=True)
        frame.with_columns(pl.lit(prefix) + pl.col(key)).write_parquet(
            inbox / kind / f"night-{night_no:02d}.parquet"
        )


ADD_BATCH = (
    "INSERT INTO batches (reference, sku, purchased_quantity, eta, created_run_id, "
    "updated_run_id) VALUES (?, 'SKU-0000001', 5, NULL, 'bench', 'bench')"
)


def todays_command(path: Path, reference: str) -> None:
    """Today's unit of work for adding a batch: the analysts' file itself, opened read-write."""
    connection = duckdb.connect(str(path))
    connection.execute("BEGIN TRANSACTION")
    schema.upgrade(connection)
    views.create_views(connection)
    connection.execute("COMMIT")
    connection.execute("BEGIN TRANSACTION")
    connection.execute(ADD_BATCH, [reference])
    connection.execute("COMMIT")
    connection.close()


def snapshot_command(path: Path, reference: str) -> None:
    """The same unit of work through the master and a published snapshot."""
    with DuckDBWarehouse(path) as warehouse:
        warehouse.execute(ADD_BATCH, [reference])
        warehouse.commit()


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def bm(values: list[float], digits: int = 2) -> str:
    return f"{min(values):.{digits}f} / {statistics.median(values):.{digits}f}"


def operator_commands(db: Path, scratch: Path, repeat: int) -> None:
    """One operator command, today's way and through the snapshot, alternated."""
    plain = scratch / "plain.duckdb"
    shutil.copyfile(snapshot.Layout(db).master, plain)
    today: list[float] = []
    ours: list[float] = []
    watch = Stopwatch()
    for attempt in range(repeat):
        today.append(timed(lambda n=attempt: todays_command(plain, f"T-{n}")))  # type: ignore[misc]
        with watch.watching():
            ours.append(timed(lambda n=attempt: snapshot_command(db, f"S-{n}")))  # type: ignore[misc]
    extra = [b - a for a, b in zip(today, ours, strict=True)]
    print(
        f"| operator command (add a batch), {repeat} alternated | today {bm(today)} s | "
        f"snapshot {bm(ours)} s | extra {bm(extra)} s | checkpoint {bm(watch.checkpoint)} s, "
        f"publish {bm(watch.publish)} s |"
    )


def file_format(db: Path, scratch: Path) -> None:
    """DuckDB 2's format against 1.4's for the same warehouse: size, write and scan speed."""
    master = snapshot.Layout(db).master
    for label, option in (("DuckDB 2.0 format", ""), ("DuckDB 1.4 format", "v1.4.0")):
        target = scratch / f"format-{option or 'latest'}.duckdb"
        config: dict[str, str | bool | int | float | list[str]] = (
            {"storage_compatibility_version": option} if option else {}
        )
        started = time.perf_counter()
        with duckdb.connect(str(target), config=config) as con:
            con.execute(f"ATTACH '{master}' AS source (READ_ONLY)")
            (name,) = con.sql("SELECT current_database()").fetchall()[0]
            con.execute(f'COPY FROM DATABASE source TO "{name}"')
            con.execute("DETACH source")
            con.execute("CHECKPOINT")
        written = time.perf_counter() - started
        scans = []
        for _ in range(3):
            with duckdb.connect(str(target), read_only=True) as con:
                scans.append(
                    timed(lambda c=con: c.sql("SELECT * FROM sku_summary").fetchall())  # type: ignore[misc]
                )
        print(
            f"| {label} | {target.stat().st_size / MIB:,.0f} MiB | written (COPY FROM DATABASE) "
            f"in {written:.1f} s | `sku_summary` read in {bm(scans)} s |"
        )
        if not option:
            adopt = scratch / "adopt" / "w.duckdb"
            adopt.parent.mkdir()
            shutil.copyfile(target, adopt)
            started = time.perf_counter()
            DuckDBWarehouse(adopt).__enter__().__exit__(None, None, None)
            took = time.perf_counter() - started
            print(f"| adopting a DuckDB 2.0 file (rewrite + first publish, once) | {took:.1f} s |")
        target.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=sorted(PRESETS), default="1m")
    parser.add_argument("--repeat", type=int, default=3, help="first/re-plan night pairs")
    parser.add_argument("--commands", type=int, default=5, help="operator commands each way")
    parser.add_argument("--nights", type=int, help="instead: this many nights of new inputs")
    args = parser.parse_args()
    lines, batches, skus = PRESETS[args.preset]
    size = Size(lines, batches, skus, 1, 20240611)
    root = Path(tempfile.mkdtemp(prefix="snapshot-bench-"))
    print(f"Machine: {machine()}; DuckDB {duckdb.__version__}; {lines:,} lines a night")
    try:
        if args.nights:
            many_nights(size, root, args.nights)
            return
        inbox = root / "inbox"
        write_night_inbox(size, inbox, 0)
        for attempt in range(args.repeat):
            db = root / f"w{attempt}" / "w.duckdb"
            yardstick = cpu_yardstick()
            for label, day in (("first night", 0), ("re-plan night", 1)):
                done = night(root, inbox, db, RUN_DATE + timedelta(days=day))
                print(
                    f"| {label} | wall {done['wall']:.1f} s | extra {done['extra']:.2f} s "
                    f"({100 * done['extra'] / done['wall']:.1f}%) | publishes "
                    + ", ".join(f"{s:.2f}" for s in done["publish"])
                    + " s | checkpoints "
                    + ", ".join(f"{s:.2f}" for s in done["checkpoint"])
                    + f" s | yardstick {yardstick:.2f} s |",
                    flush=True,
                )
            if attempt < args.repeat - 1:
                shutil.rmtree(db.parent)
        master = snapshot.Layout(db).master
        print(f"Warehouse after the nights: {master.stat().st_size / MIB:,.0f} MiB")
        operator_commands(db, root, args.commands)
        file_format(db, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def many_nights(size: Size, root: Path, nights: int) -> None:
    """Nights of new inputs, one after another, and the files' sizes after each."""
    db = root / "w.duckdb"
    for night_no in range(nights):
        inbox = root / f"inbox-{night_no}"
        write_night_inbox(size, inbox, night_no)
        done = night(root, inbox, db, RUN_DATE + timedelta(days=night_no))
        shutil.rmtree(inbox)
        layout = snapshot.Layout(db)
        sizes = [layout.master, db, *(slot for slot in layout.slots if slot.exists())]
        print(
            f"| night {night_no + 1} | wall {done['wall']:.1f} s | extra {done['extra']:.2f} s | "
            f"master {layout.master.stat().st_size / MIB:,.0f} MiB | on disk, all files "
            f"{sum(p.stat().st_size for p in set(sizes) if p != db) / MIB:,.0f} MiB |",
            flush=True,
        )


if __name__ == "__main__":
    main()
