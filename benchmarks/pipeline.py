"""Benchmark the nightly job end to end: inbox Parquet files -> `allocation run` -> outbox.

Generates synthetic inbox files in a temporary folder, then runs the real command line
(`allocation run --json`, Prefect's temporary server included) as a subprocess against a fresh
DuckDB file, and prints, as Markdown: wall time, the run process's peak RSS, the time of each
stage, and a Polars-only baseline (read the same inputs, write outputs of the same sizes) with
the ratio of the run to it. A second run on the same warehouse, with the same inbox (every file
skipped as already ingested), measures the nightly re-plan with a full warehouse.

    .venv/bin/python benchmarks/pipeline.py --preset 1m
    .venv/bin/python benchmarks/pipeline.py --lines 200000 --batches 20000 --files 4 --keep
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

PRESETS: dict[str, tuple[int, int, int]] = {
    "small": (100_000, 10_000, 1_000),
    "1m": (1_000_000, 100_000, 10_000),
    "10m": (10_000_000, 1_000_000, 100_000),
}
"""(order lines, batches, SKUs)."""

DEFAULT_SEED = 20240611
RUN_DATE = date(2026, 11, 25)
IN_STOCK_SHARE = 0.30
INBOUND_DAYS = 90
BAD_ROW_SHARE = 0.001
NULL_ORDERED_AT_SHARE = 0.03
ORDER_WINDOW_S = 2 * 24 * 3600
VENV_BIN = Path(sys.executable).parent


# --- synthetic inbox ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Size:
    """One data size and how the inputs are split into files."""

    lines: int
    batches: int
    skus: int
    files: int
    seed: int


def _names(prefix: str, numbers: np.ndarray, width: int) -> pl.Series:
    """Zero-padded names such as SKU-0000042, built column-wise."""
    return (
        pl.DataFrame({"n": numbers})
        .select(pl.concat_str(pl.lit(prefix), pl.col("n").cast(pl.String).str.zfill(width)))
        .to_series()
    )


def generate(size: Size) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Batches and order lines as a WMS and a shop would send them, reproducible from the seed.

    Natural Parquet types (Int64 quantities, Date eta, UTC Datetime ordered_at). Orders hold
    1..5 lines of neighbouring SKUs, SKU popularity is log-normal; each SKU's supply is its
    demand times 0.6..1.4, so about half the SKUs run short. 30% of batches are in stock, the
    rest arrive within 90 days. About 0.1% of rows break a contract rule (qty 0, a blank key,
    a negative purchased quantity) and are rejected.
    """
    rng = np.random.default_rng(size.seed)
    n_skus = size.skus
    popularity = rng.lognormal(0.0, 1.0, n_skus)
    popularity /= popularity.sum()

    per_order = rng.integers(1, 6, size.lines // 2 + 1)
    n_orders = int(np.searchsorted(np.cumsum(per_order), size.lines) + 1)
    per_order = per_order[:n_orders]
    line_order = np.repeat(np.arange(n_orders), per_order)[: size.lines]
    position = (
        np.arange(size.lines) - np.repeat(np.cumsum(per_order) - per_order, per_order)[: size.lines]
    )
    first_sku = rng.choice(n_skus, n_orders, p=popularity)
    line_sku = (first_sku[line_order] + position) % n_skus
    seconds = np.sort(rng.integers(0, ORDER_WINDOW_S, n_orders))
    ordered_at = np.datetime64(f"{RUN_DATE - timedelta(days=2)}T00:00:00", "us") + seconds.astype(
        "timedelta64[s]"
    )
    no_time = rng.random(n_orders) < NULL_ORDERED_AT_SHARE
    priority = rng.choice(4, n_orders, p=[0.90, 0.07, 0.02, 0.01])
    qty = rng.integers(1, 21, size.lines)
    bad = rng.random(size.lines) < BAD_ROW_SHARE
    qty[bad & (rng.random(size.lines) < 0.5)] = 0
    lines = pl.DataFrame(
        {
            "order_id": _names("ORD-", line_order, 9),
            "sku": _names("SKU-", line_sku, 7),
            "qty": qty,
            "priority": priority[line_order],
            "ordered_at": pl.Series(ordered_at[line_order]).dt.replace_time_zone("UTC"),
        }
    ).with_columns(
        ordered_at=pl.when(pl.Series(no_time[line_order])).then(None).otherwise("ordered_at"),
        order_id=pl.when(pl.Series(bad & (qty != 0))).then(None).otherwise("order_id"),
    )

    batch_sku = rng.choice(n_skus, size.batches, p=popularity)
    batch_sku[:n_skus] = np.arange(min(n_skus, size.batches))  # every SKU has a batch
    batches_of_sku = np.bincount(batch_sku, minlength=n_skus)
    demand = np.bincount(line_sku, weights=qty, minlength=n_skus)
    mean_batch = (demand * rng.uniform(0.6, 1.4, n_skus) / np.maximum(batches_of_sku, 1))[batch_sku]
    purchased = np.rint(mean_batch * rng.uniform(0.5, 1.5, size.batches)).astype(np.int64)
    in_stock = rng.random(size.batches) < IN_STOCK_SHARE
    eta_days = rng.integers(1, INBOUND_DAYS + 1, size.batches)
    bad = rng.random(size.batches) < BAD_ROW_SHARE
    purchased[bad] = -1
    batches = pl.DataFrame(
        {
            "reference": _names("B-", rng.permutation(size.batches), 9),
            "sku": _names("SKU-", batch_sku, 7),
            "purchased_quantity": purchased,
            "eta": pl.Series(eta_days, dtype=pl.Int32),
        }
    ).with_columns(
        eta=pl.when(pl.Series(in_stock))
        .then(None)
        .otherwise(pl.lit(RUN_DATE) + pl.duration(days=pl.col("eta")))
        .cast(pl.Date)
    )
    return batches, lines


def write_inbox(size: Size, inbox: Path) -> dict[str, list[Path]]:
    """Write the batches and order lines, each split into `size.files` Parquet files."""
    batches, lines = generate(size)
    written: dict[str, list[Path]] = {}
    for kind, frame in (("batches", batches), ("order_lines", lines)):
        folder = inbox / kind
        folder.mkdir(parents=True, exist_ok=True)
        step = -(-frame.height // size.files)
        written[kind] = []
        for part in range(size.files):
            path = folder / f"{RUN_DATE}-part-{part:03d}.parquet"
            frame.slice(part * step, step).write_parquet(path)
            written[kind].append(path)
    return written


# --- running the command line -------------------------------------------------------------------


def _status_kib(pid: int, field: str) -> int | None:
    try:
        for row in Path(f"/proc/{pid}/status").read_text().splitlines():
            if row.startswith(field + ":"):
                return int(row.split()[1])
    except (OSError, ValueError):
        return None
    return None


def _descendants(pid: int) -> list[int]:
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []
    found = [int(c) for c in children]
    for child in list(found):
        found += _descendants(child)
    return found


class PeakWatcher(threading.Thread):
    """Samples each process's high-water RSS (VmHWM) in a tree until its root exits."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peaks: dict[int, int] = {}
        self.names: dict[int, str] = {}
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            for pid in [self.pid, *_descendants(self.pid)]:
                hwm = _status_kib(pid, "VmHWM")
                if hwm is not None:
                    self.peaks[pid] = max(self.peaks.get(pid, 0), hwm)
                    if pid not in self.names:
                        try:
                            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                            self.names[pid] = " ".join(c.decode() for c in cmd[:4])
                        except OSError:
                            self.names[pid] = "?"
            time.sleep(0.05)


def run_allocation(
    inbox: Path, outbox: Path, db: Path, run_date: date, env: dict[str, str]
) -> dict[str, Any]:
    """Run `allocation run --json` once; return its JSON, wall time and memory peaks."""
    command = [
        str(VENV_BIN / "allocation"),
        "run",
        "--json",
        f"--inbox={inbox}",
        f"--outbox={outbox}",
        f"--db={db}",
        f"--run-date={run_date}",
    ]
    started = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    watcher = PeakWatcher(child.pid)
    watcher.start()
    stdout, stderr = child.communicate()
    wall = time.perf_counter() - started
    watcher.done.set()
    watcher.join()
    if child.returncode != 0:
        raise RuntimeError(f"allocation run failed ({child.returncode}):\n{stderr.decode()}")
    text = stdout.decode()
    result: dict[str, Any] = json.loads(text[text.index("{") :])
    run_peak = watcher.peaks.get(child.pid, 0)
    others = [kib for pid, kib in watcher.peaks.items() if pid != child.pid]
    return {
        "wall_s": wall,
        "summary": result,
        "stage_seconds": result.pop("stage_seconds"),
        "run_peak_mib": run_peak / 1024,
        "server_peak_mib": max(others, default=0) / 1024,
        "children_maxrss_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    }


# --- the Polars-only baseline ---------------------------------------------------------------------


def polars_baseline(inputs: dict[str, list[Path]], outbox: Path, scratch: Path) -> dict[str, float]:
    """Seconds for Polars alone to read the inputs and to write outputs of the run's sizes."""
    started = time.perf_counter()
    frames = [pl.read_parquet(path) for paths in inputs.values() for path in paths]
    read_s = time.perf_counter() - started
    del frames
    outputs = [pl.read_parquet(path) for path in sorted(outbox.rglob("*.parquet"))]
    started = time.perf_counter()
    for number, frame in enumerate(outputs):
        frame.write_parquet(scratch / f"out-{number}.parquet", compression="zstd")
    write_s = time.perf_counter() - started
    return {"read_s": read_s, "write_s": write_s, "rows_out": sum(f.height for f in outputs)}


# --- the report -----------------------------------------------------------------------------------

GROUPS: dict[str, tuple[str, ...]] = {
    "read": ("discover", "fetch", "load.read"),
    "validate": ("load.validate",),
    "load": ("open", "load.store"),
    "allocate": ("allocate",),
    "write": ("commit", "publish", "close"),
}
"""The issue's stages, as sums of the run's own stage timings (`NightResult.seconds`)."""


def grouped(seconds: dict[str, float]) -> dict[str, float]:
    """The issue's five stages from the run's timings; without a load split, load is all of it."""
    if not any(name.startswith("load.") for name in seconds):
        seconds = {**seconds, "load.store": seconds.get("load", 0.0)}
    return {group: sum(seconds.get(n, 0.0) for n in names) for group, names in GROUPS.items()}


def _bm(values: list[float], digits: int = 2) -> str:
    return f"{min(values):,.{digits}f} / {statistics.median(values):,.{digits}f}"


def report(
    size: Size, label: str, runs: list[dict[str, Any]], baselines: list[dict[str, float]]
) -> None:
    """Print one Markdown table for a set of repeated runs (best / median of each figure)."""
    summary = runs[0]["summary"]
    print(
        f"\n### {label}: {size.lines:,} lines, {size.batches:,} batches, {size.skus:,} SKUs, "
        f"{size.files} file(s) per input; {len(runs)} run(s), best / median\n"
    )
    print("| figure | value |")
    print("| --- | ---: |")
    print(
        f"| wall, `allocation run` incl. Prefect start-up (s) | {_bm([r['wall_s'] for r in runs])} |"
    )
    groups = [grouped(r["stage_seconds"]) for r in runs]
    for name in GROUPS:
        print(f"| {name} (s) | {_bm([g[name] for g in groups])} |")
    stages = [sum(g.values()) for g in groups]
    print(f"| sum of stages (s) | {_bm(stages)} |")
    overhead = [r["wall_s"] - s for r, s in zip(runs, stages, strict=True)]
    print(f"| start-up (Python, Prefect, its server) = wall - stages (s) | {_bm(overhead)} |")
    print(f"| peak RSS, run process (MiB) | {_bm([r['run_peak_mib'] for r in runs], 0)} |")
    print(f"| peak RSS, Prefect server (MiB) | {_bm([r['server_peak_mib'] for r in runs], 0)} |")
    if baselines:
        base = [b["read_s"] + b["write_s"] for b in baselines]
        print(f"| Polars alone: read the inputs (s) | {_bm([b['read_s'] for b in baselines])} |")
        print(
            f"| Polars alone: write the outputs, zstd (s) | {_bm([b['write_s'] for b in baselines])} |"
        )
        print(
            f"| wall / Polars alone (best / best) | {min(r['wall_s'] for r in runs) / min(base):.1f}x |"
        )
        print(f"| stages / Polars alone (best / best) | {min(stages) / min(base):.1f}x |")
    raw = ", ".join(
        f"{name} {_bm([r['stage_seconds'].get(name, 0.0) for r in runs])}"
        for name in runs[0]["stage_seconds"]
    )
    print(f"\nStage timings as the run reports them (s, best / median): {raw}.")
    print(
        f"Rows read {summary['rows_read']:,}, loaded {summary['rows_loaded']:,}, rejected "
        f"{summary['rows_rejected']:,}; files skipped {summary['files_skipped']}; lines allocated "
        f"in full {summary['lines_allocated_full']:,}, in part {summary['lines_allocated_part']:,}, "
        f"not at all {summary['lines_unallocated']:,}; pick-list "
        f"lines {summary['pick_list_lines']:,}."
    )


def machine() -> str:
    """nproc, CPU model and RAM of this machine."""
    model = next(
        (
            row.split(":", 1)[1].strip()
            for row in Path("/proc/cpuinfo").read_text().splitlines()
            if row.startswith("model name")
        ),
        "unknown CPU",
    )
    mem_kib = int(Path("/proc/meminfo").read_text().split()[1])
    return f"{os.cpu_count()} cores ({model}), {mem_kib / 2**20:.0f} GiB RAM"


# --- main -------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=sorted(PRESETS), help="a named size (overrides sizes)")
    parser.add_argument("--lines", type=int, default=PRESETS["small"][0])
    parser.add_argument("--batches", type=int, default=PRESETS["small"][1])
    parser.add_argument("--skus", type=int, default=PRESETS["small"][2])
    parser.add_argument("--files", type=int, default=1, help="split each input into N files")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each kind")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    lines, batches, skus = (
        PRESETS[args.preset] if args.preset else (args.lines, args.batches, args.skus)
    )
    size = Size(lines, batches, skus, args.files, args.seed)

    root = Path(tempfile.mkdtemp(prefix="pipeline-bench-"))
    env = {**os.environ, "PREFECT_HOME": str(root / "prefect-home")}
    try:
        print(f"Machine: {machine()}; Python {sys.version.split()[0]}, Polars {pl.__version__}")
        started = time.perf_counter()
        inputs = write_inbox(size, root / "inbox")
        megabytes = sum(p.stat().st_size for paths in inputs.values() for p in paths) / 2**20
        print(
            f"Generated the inbox ({megabytes:,.0f} MiB of Parquet) in {time.perf_counter() - started:.1f} s"
        )

        # A first run on an empty inbox sets up Prefect's home (database migrations) untimed.
        (root / "empty").mkdir()
        warm = run_allocation(
            root / "empty", root / "warm-out", root / "warm.duckdb", RUN_DATE, env
        )
        print(f"Prefect warm-up run (empty inbox, new Prefect home): {warm['wall_s']:.1f} s wall")

        first: list[dict[str, Any]] = []
        second: list[dict[str, Any]] = []
        baselines: list[dict[str, float]] = []
        for attempt in range(args.repeat):
            db = root / f"warehouse-{attempt}.duckdb"
            outbox = root / f"outbox-{attempt}"
            first.append(run_allocation(root / "inbox", outbox, db, RUN_DATE, env))
            second.append(
                run_allocation(
                    root / "inbox",
                    root / f"outbox-{attempt}-next",
                    db,
                    RUN_DATE + timedelta(days=1),
                    env,
                )
            )
            scratch = root / "scratch"
            scratch.mkdir(exist_ok=True)
            baselines.append(polars_baseline(inputs, outbox, scratch))
            shutil.rmtree(scratch)
            if not args.keep and attempt < args.repeat - 1:
                db.unlink()
            print(
                f"attempt {attempt + 1}: first run {first[-1]['wall_s']:.1f} s, "
                f"second run {second[-1]['wall_s']:.1f} s",
                file=sys.stderr,
                flush=True,
            )
        report(size, "First night (every file new)", first, baselines)
        report(
            size,
            "Second night (same inbox, every file skipped; re-plan on a full warehouse)",
            second,
            [],
        )
        print(
            f"\nLargest single child process (RUSAGE_CHILDREN ru_maxrss): {first[-1]['children_maxrss_mib']:,.0f} MiB"
        )
    finally:
        if args.keep:
            print(f"Kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
