"""Benchmark the operators' one-line commands on a large warehouse: wall time and peak memory.

Each command is the real `allocation` command line, start-up included, on a copy of the
warehouse made before every write command (so every measurement starts from the same state).
With `--source`, the same commands run from another checkout too, interleaved with this one's.
Each code first brings its own copy of the warehouse to its schema, untimed (a warehouse made
by older code is upgraded, and published, by the first command that writes: once, not on every
command), then written to once more (a batch added), so that its spare snapshot is a commit
behind, as between any two operations; the measured copies are made from that one.
`--as-given` measures on copies of the warehouse as it is.

    .venv/bin/python benchmarks/pipeline.py --preset 10m --keep   # leaves warehouse-0.duckdb
    .venv/bin/python benchmarks/operations.py --db /tmp/.../warehouse-0.duckdb
    .venv/bin/python benchmarks/operations.py --db ... --source /tmp/main-old --repeat 3
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
from pipeline import cpu_yardstick

VENV_BIN = Path(sys.executable).parent

# Runs `allocation` from another source tree: the editable install's import hook would
# otherwise find this checkout's package first, whatever the path says.
_LAUNCHER = """
import sys
sys.meta_path = [f for f in sys.meta_path if "editable" not in type(f).__module__]
sys.path.insert(0, {source!r})
sys.argv[0] = "allocation"
from allocation.entrypoints.main import main
main()
"""


@dataclass(frozen=True)
class Subjects:
    """What the commands act on: an order holding stock, a SKU with stock, a held batch."""

    order: str
    sku: str
    batch: str


def pick_subjects(db: Path) -> Subjects:
    """An order holding picks and reservations, a SKU with in-stock units, a batch with picks."""
    with duckdb.connect(str(db), read_only=True) as connection:

        def first(sql: str) -> str:
            rows = connection.sql(sql).fetchall()
            if not rows:
                raise SystemExit(f"the warehouse has nothing to measure on: {sql}")
            return str(rows[0][0])

        order = first(
            "SELECT order_id FROM allocations GROUP BY order_id "
            "HAVING count(DISTINCT status) = 2 ORDER BY order_id LIMIT 1"
        )
        sku = first(
            """
            WITH held AS (SELECT batch_ref, sum(qty) AS qty FROM allocations GROUP BY ALL)
            SELECT b.sku FROM batches b LEFT JOIN held h ON h.batch_ref = b.reference
            WHERE b.eta IS NULL AND b.purchased_quantity - coalesce(h.qty, 0) >= 3
            ORDER BY b.sku LIMIT 1
            """
        )
        batch = first(
            "SELECT batch_ref FROM allocations WHERE status = 'picked' GROUP BY batch_ref "
            "ORDER BY count(*) DESC, batch_ref LIMIT 1"
        )
    return Subjects(order, sku, batch)


def commands(subjects: Subjects) -> dict[str, tuple[list[str], bool]]:
    """Each command measured, by name: its arguments and whether it writes."""
    return {
        "allocate": (["allocate", "ORD-BENCH-1", subjects.sku, "3"], True),
        "deallocate": (["deallocate", subjects.order], True),
        "batches delete --force": (["batches", "delete", subjects.batch, "--force"], True),
        "batches add": (["batches", "add", "B-BENCH-1", subjects.sku, "50"], True),
        "lines show": (["lines", "show", subjects.order], False),
        "batches show": (["batches", "show", subjects.batch], False),
    }


def copy_warehouse(source: Path, target: Path) -> None:
    """Copy the warehouse file and, if it has one, its writers' folder (master and snapshots).

    Without the folder, the first write of every run would adopt the file again (minutes).
    """
    writers = source.parent / f".{source.name}.writer"
    copied = target.parent / f".{target.name}.writer"
    shutil.rmtree(copied, ignore_errors=True)
    target.unlink(missing_ok=True)
    if writers.exists():
        shutil.copytree(writers, copied, copy_function=shutil.copyfile)
    # The analysts' file is one of the snapshot files under another name (a hard link).
    shown = [slot for slot in writers.glob("snapshot-*") if slot.samefile(source)]
    if shown:
        os.link(copied / shown[0].name, target)
    else:
        shutil.copyfile(source, target)
    # Flushed before the command runs: otherwise its fsync of a snapshot would write the
    # whole fresh copy to disk, which no real commit does.
    for path in [target, *copied.glob("*")]:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def settled(db: Path, start: list[str], folder: Path) -> Path:
    """A copy of `db` brought to the schema of the code `start` runs, then written to once.

    Deleting a batch that does not exist opens the warehouse for writing (which upgrades it and
    publishes the upgrade) and then changes nothing: it ends with status 3 (not found). Adding
    a batch of a SKU nothing orders then commits and publishes once more, so that the spare
    snapshot holds the state of a commit before, as it does between any two operations. (After
    the upgrade alone the spare is the file as it was before it, and every measured write would
    pay for rewriting most of it, which only the first write after an upgrade does.)
    """
    folder.mkdir(parents=True, exist_ok=True)
    copy = folder / "warehouse.duckdb"
    copy_warehouse(db, copy)
    env = {**os.environ, "ALLOCATION_DB": str(copy), "ALLOCATION_OUTBOX": str(folder / "out")}
    for arguments, expected in (
        (["batches", "delete", "B-NO-SUCH-BATCH-BENCH"], 3),
        (["batches", "add", "B-SETTLED-BENCH", "SKU-NOT-ORDERED-BENCH", "0"], 0),
    ):
        done = subprocess.run(
            [*start, *arguments],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != expected:
            raise SystemExit(f"settling {db} failed ({done.returncode}): {done.stderr.strip()}")
    return copy


def launcher(source: Path | None) -> list[str]:
    """How to start `allocation`: this checkout's command, or the package in `source`."""
    if source is None:
        return [str(VENV_BIN / "allocation")]
    return [sys.executable, "-c", _LAUNCHER.format(source=str(source))]


def measure(command: list[str], db: Path, outbox: Path) -> tuple[float, float, float]:
    """Run one command to the end; its wall time (s), peak resident memory (MB) and CPU (s).

    CPU time (user + system) moves less than wall time when other work shares the machine.
    """
    env = {**os.environ, "ALLOCATION_DB": str(db), "ALLOCATION_OUTBOX": str(outbox)}
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as peak:
        # GNU time reports the command's own peak: a child forked from this process would
        # be charged this process's peak too (Linux keeps the high-water mark across exec).
        started = time.perf_counter()
        done = subprocess.run(
            ["/usr/bin/time", "-f", "%M %U %S", "-o", peak.name, *command],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
        )
        wall = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(command)} failed: {done.stderr.strip()}")
        kib, user, system = peak.read().split()[-3:]
        return wall, int(kib) / 1024, float(user) + float(system)


def main() -> None:
    """Measure every command, interleaved between the checkouts, and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, required=True, help="the warehouse to measure on")
    parser.add_argument("--source", type=Path, help="also run the package in this tree")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each command")
    parser.add_argument("--only", action="append", help="measure only this command")
    parser.add_argument(
        "--as-given",
        action="store_true",
        help="measure on copies of the warehouse as it is (each write command then pays any "
        "schema upgrade the code makes)",
    )
    args = parser.parse_args()

    subjects = pick_subjects(args.db)
    codes = {"this checkout": launcher(None)}
    if args.source is not None:
        codes = {f"{args.source}": launcher(args.source.resolve()), **codes}
    chosen = {
        name: spec
        for name, spec in commands(subjects).items()
        if not args.only or name in args.only
    }
    print(f"Warehouse: {args.db} ({args.db.stat().st_size / 1e6:.0f} MB); {subjects}")
    print(
        f"Started {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load {os.getloadavg()[0]:.1f}, "
        f"CPU yardstick {cpu_yardstick():.2f} s\n"
    )

    figures: dict[tuple[str, str], list[tuple[float, float, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="operations-bench-") as folder:
        work = Path(folder)
        bases = {
            code: args.db if args.as_given else settled(args.db, start, work / f"base-{number}")
            for number, (code, start) in enumerate(codes.items())
        }
        print("Warehouse copies: " + ("as given" if args.as_given else "settled per code") + "\n")
        unchanged_copy_of: Path | None = None  # the base the working copy still equals
        for _ in range(args.repeat):
            for name, (arguments, writes) in chosen.items():
                for code, start in codes.items():
                    db = work / "warehouse.duckdb"
                    if writes or unchanged_copy_of != bases[code]:
                        copy_warehouse(bases[code], db)
                    # A look-up leaves the copy as it was, so the next one on it reuses it.
                    unchanged_copy_of = None if writes else bases[code]
                    outbox = work / "outbox"
                    shutil.rmtree(outbox, ignore_errors=True)
                    figures.setdefault((name, code), []).append(
                        measure([*start, *arguments], db, outbox)
                    )

    print(
        f"{'command':<24} {'code':<16} {'wall best':>9} {'median':>7} {'RSS best':>9} {'median':>7}"
        f" {'CPU best':>8} {'median':>7}"
    )
    for (name, code), runs in figures.items():
        walls, peaks, cpus = ([run[i] for run in runs] for i in range(3))
        print(
            f"{name:<24} {code[-16:]:<16} {min(walls):8.2f}s {statistics.median(walls):6.2f}s "
            f"{min(peaks):6.0f} MB {statistics.median(peaks):4.0f} MB "
            f"{min(cpus):7.2f}s {statistics.median(cpus):6.2f}s"
        )
    print(
        f"\nFinished {datetime.now(UTC):%H:%M} UTC, load {os.getloadavg()[0]:.1f}, "
        f"CPU yardstick {cpu_yardstick():.2f} s"
    )


if __name__ == "__main__":
    main()
