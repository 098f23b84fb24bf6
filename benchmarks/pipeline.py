"""Benchmark the nightly job end to end: inbox Parquet files -> `allocation run` -> outbox.

Generates synthetic inbox files in a temporary folder, then runs the real command line
(`allocation run --json`) as a subprocess against a fresh DuckDB file, and prints a Markdown
table: wall time, the time of each stage (read, validate, load, allocate, write, from the run's
own `stage_seconds`), the run process's peak RSS, and a Polars-only baseline (read the same
inputs, write outputs of the same sizes as the run's) with the ratio of the run to it. A second
night on the same warehouse, with the same inbox (every file skipped as already ingested),
measures the nightly re-plan with a full warehouse. Each night runs `--repeat` times on a fresh
warehouse; figures are best / median.

With `--prefect-server` the runs talk to a `prefect server start` that the benchmark starts
first (on 127.0.0.1, a free port, its own PREFECT_HOME, no analytics) and stops at the end,
through `PREFECT_API_URL`: the production shape, where a worker talks to a running server.
Without it each run starts and stops Prefect's temporary server.

    .venv/bin/python benchmarks/pipeline.py --preset 1m
    .venv/bin/python benchmarks/pipeline.py --preset 1m --prefect-server --repeat 5
    .venv/bin/python benchmarks/pipeline.py --lines 200000 --batches 20000 --files 4 --keep
    .venv/bin/python benchmarks/pipeline.py --preset 1m --source /tmp/older  # another checkout
    .venv/bin/python benchmarks/pipeline.py --preset 10m --shards 4 --repeat 1  # in 4 shards
    .venv/bin/python benchmarks/pipeline.py --preset 10m --shards 4 --dask tcp://127.0.0.1:8786
    .venv/bin/python benchmarks/pipeline.py --preset 100m --inbox /work/wt/inbox-100m --repeat 1

Inboxes above 10M order lines are generated file by file, in bounded memory (`--inbox DIR`
keeps one to reuse: it is made once, then reused by every run given the same size).

Peak RSS is the run process's own high-water mark (VmHWM, sampled every 50 ms until it
exits). `getrusage(RUSAGE_CHILDREN)` would report only the largest single child, and Prefect's
temporary server is a process of its own; its peak is shown on its own row. "All processes
together" is the largest sum of the resident sets (VmRSS) of the run and every process under
it, sampled at the same moments every 50 ms (a spike shorter than that can be missed; the
sum of each process's own peak, an upper bound, is shown beside it). With `--dask`, the Dask
scheduler and worker processes found on this machine (`dask scheduler`, `dask worker` and
their children) are sampled at the same moments and counted in "all processes together".
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

PRESETS: dict[str, tuple[int, int, int]] = {
    "small": (100_000, 10_000, 1_000),
    "1m": (1_000_000, 100_000, 10_000),
    "10m": (10_000_000, 1_000_000, 100_000),
    "100m": (100_000_000, 10_000_000, 1_000_000),
}
"""(order lines, batches, SKUs)."""

PRESET_FILES: dict[str, tuple[int, int]] = {"100m": (16, 4)}
"""(order-line files, batch files) of a preset, unless `--files` says otherwise."""

STREAMED_ABOVE = 10_000_000
"""Inboxes of more order lines are generated file by file (`generate_parts`), in bounded
memory; smaller ones all at once (`generate`), as they always were."""

DEFAULT_SEED = 20240611
RUN_DATE = date(2026, 11, 25)
IN_STOCK_SHARE = 0.30
INBOUND_DAYS = 90
BAD_ROW_SHARE = 0.001
NULL_ORDERED_AT_SHARE = 0.03
ORDER_WINDOW_S = 2 * 24 * 3600
VENV_BIN = Path(sys.executable).parent


# --- synthetic inbox ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Size:
    """One data size and how the inputs are split into files."""

    lines: int
    batches: int
    skus: int
    files: int
    seed: int
    batch_files: int | None = None
    """Files of batches; None = as many as of order lines (`files`)."""
    streamed: bool | None = None
    """Generated file by file (`generate_parts`); None = if above STREAMED_ABOVE lines."""

    def by_file(self) -> bool:
        """Whether the inbox is generated file by file (`generate_parts`)."""
        return self.lines > STREAMED_ABOVE if self.streamed is None else self.streamed


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
    lines = _lines_frame(line_order, line_order, line_sku, qty, priority, ordered_at, no_time, bad)

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
    references = rng.permutation(size.batches)
    return _batches_frame(references, batch_sku, purchased, eta_days, in_stock), lines


def _split(total: int, parts: int) -> list[int]:
    """`total` in `parts` near-equal counts, the larger ones first."""
    return [total // parts + (part < total % parts) for part in range(parts)]


def _part_lines(
    rng: np.random.Generator,
    count: int,
    popularity: np.ndarray,
    first_order: int,
    window: tuple[int, int],
) -> tuple[pl.DataFrame, np.ndarray, int]:
    """One file's order lines (whole orders, numbered from `first_order`), their SKU numbers
    and how many orders they hold.

    The same shape as `generate`'s: 1..5 lines of neighbouring SKUs an order, the first SKU
    drawn by popularity, ordered_at sorted within the file's share `window` of the two days.
    """
    n_skus = popularity.size
    per_order = rng.integers(1, 6, count // 2 + 1)
    n_orders = int(np.searchsorted(np.cumsum(per_order), count) + 1)
    per_order = per_order[:n_orders]
    line_order = np.repeat(np.arange(n_orders), per_order)[:count]
    position = np.arange(count) - np.repeat(np.cumsum(per_order) - per_order, per_order)[:count]
    first_sku = rng.choice(n_skus, n_orders, p=popularity)
    line_sku = (first_sku[line_order] + position) % n_skus
    del position, first_sku
    seconds = np.sort(rng.integers(window[0], window[1], n_orders))
    ordered_at = np.datetime64(f"{RUN_DATE - timedelta(days=2)}T00:00:00", "us") + seconds.astype(
        "timedelta64[s]"
    )
    no_time = rng.random(n_orders) < NULL_ORDERED_AT_SHARE
    priority = rng.choice(4, n_orders, p=[0.90, 0.07, 0.02, 0.01])
    qty = rng.integers(1, 21, count)
    bad = rng.random(count) < BAD_ROW_SHARE
    qty[bad & (rng.random(count) < 0.5)] = 0
    lines = _lines_frame(
        first_order + line_order, line_order, line_sku, qty, priority, ordered_at, no_time, bad
    )
    return lines, line_sku, n_orders


def generate_parts(size: Size) -> Iterator[tuple[str, pl.DataFrame]]:
    """The inbox file by file, (kind, frame): order lines first, then batches.

    What `generate` makes, in the same shape, but one file's rows in memory at a time (plus a
    few arrays per SKU and per batch), so a 100M-line inbox takes about what one file does.
    Reproducible from the seed: each file has its own random stream, (seed, kind, part).
    Orders do not straddle files; file k's orders fall in the k-th share of the two days.
    A SKU's batches share its supply of 0.6..1.4 times its demand over the whole night.
    """
    rng = np.random.default_rng(size.seed)
    n_skus = size.skus
    popularity = rng.lognormal(0.0, 1.0, n_skus)
    popularity /= popularity.sum()
    demand = np.zeros(n_skus)
    line_files = size.files
    first_order = 0
    for part, count in enumerate(_split(size.lines, line_files)):
        window = (ORDER_WINDOW_S * part // line_files, ORDER_WINDOW_S * (part + 1) // line_files)
        part_rng = np.random.default_rng([size.seed, 1, part])
        lines, line_sku, orders = _part_lines(part_rng, count, popularity, first_order, window)
        demand += np.bincount(line_sku, weights=lines["qty"].to_numpy(), minlength=n_skus)
        first_order += orders
        del line_sku
        yield "order_lines", lines
        del lines

    rng = np.random.default_rng([size.seed, 2])
    batch_sku = rng.choice(n_skus, size.batches, p=popularity)
    batch_sku[:n_skus] = np.arange(min(n_skus, size.batches))  # every SKU has a batch
    batches_of_sku = np.bincount(batch_sku, minlength=n_skus)
    mean_batch = demand * rng.uniform(0.6, 1.4, n_skus) / np.maximum(batches_of_sku, 1)
    references = rng.permutation(size.batches)
    start = 0
    for part, count in enumerate(_split(size.batches, size.batch_files or size.files)):
        part_rng = np.random.default_rng([size.seed, 3, part])
        sku = batch_sku[start : start + count]
        purchased = np.rint(mean_batch[sku] * part_rng.uniform(0.5, 1.5, count)).astype(np.int64)
        in_stock = part_rng.random(count) < IN_STOCK_SHARE
        eta_days = part_rng.integers(1, INBOUND_DAYS + 1, count)
        purchased[part_rng.random(count) < BAD_ROW_SHARE] = -1
        yield (
            "batches",
            _batches_frame(references[start : start + count], sku, purchased, eta_days, in_stock),
        )
        start += count


def _lines_frame(
    order_numbers: np.ndarray,
    line_order: np.ndarray,
    line_sku: np.ndarray,
    qty: np.ndarray,
    priority: np.ndarray,
    ordered_at: np.ndarray,
    no_time: np.ndarray,
    bad: np.ndarray,
) -> pl.DataFrame:
    """Order lines as a shop sends them: some without a time, bad rows without an order id.

    `line_order` indexes each line's order in the per-order arrays; `order_numbers` names it.
    """
    return pl.DataFrame(
        {
            "order_id": _names("ORD-", order_numbers, 9),
            "sku": _names("SKU-", line_sku, 7),
            "qty": qty,
            "priority": priority[line_order],
            "ordered_at": pl.Series(ordered_at[line_order]).dt.replace_time_zone("UTC"),
        }
    ).with_columns(
        ordered_at=pl.when(pl.Series(no_time[line_order])).then(None).otherwise("ordered_at"),
        order_id=pl.when(pl.Series(bad & (qty != 0))).then(None).otherwise("order_id"),
    )


def _batches_frame(
    references: np.ndarray,
    sku: np.ndarray,
    purchased: np.ndarray,
    eta_days: np.ndarray,
    in_stock: np.ndarray,
) -> pl.DataFrame:
    """Batches as a WMS sends them: in-stock ones without an eta."""
    return pl.DataFrame(
        {
            "reference": _names("B-", references, 9),
            "sku": _names("SKU-", sku, 7),
            "purchased_quantity": purchased,
            "eta": pl.Series(eta_days, dtype=pl.Int32),
        }
    ).with_columns(
        eta=pl.when(pl.Series(in_stock))
        .then(None)
        .otherwise(pl.lit(RUN_DATE) + pl.duration(days=pl.col("eta")))
        .cast(pl.Date)
    )


def _part_path(inbox: Path, kind: str, part: int) -> Path:
    return inbox / kind / f"{RUN_DATE}-part-{part:03d}.parquet"


def write_inbox(size: Size, inbox: Path) -> dict[str, list[Path]]:
    """Write the batches and order lines, each split into files (`size.files`, `batch_files`)."""
    written: dict[str, list[Path]] = {"batches": [], "order_lines": []}
    for kind in written:
        (inbox / kind).mkdir(parents=True, exist_ok=True)
    if size.by_file():
        for kind, frame in generate_parts(size):
            path = _part_path(inbox, kind, len(written[kind]))
            frame.write_parquet(path)
            written[kind].append(path)
        return written
    batches, lines = generate(size)
    for kind, frame, files in (
        ("batches", batches, size.batch_files or size.files),
        ("order_lines", lines, size.files),
    ):
        step = -(-frame.height // files)
        for part in range(files):
            path = _part_path(inbox, kind, part)
            frame.slice(part * step, step).write_parquet(path)
            written[kind].append(path)
    return written


def inbox_files(size: Size, inbox: Path) -> dict[str, list[Path]]:
    """The inbox's files: those already in `inbox` if it was made for this size, else new.

    A made inbox holds `size.json` (the size it was made for); a folder without one, or made
    for another size, is refused rather than overwritten.
    """
    stamp = inbox / "size.json"
    wanted = json.dumps(asdict(size), sort_keys=True)
    if inbox.exists() and any(inbox.iterdir()):
        if not stamp.exists() or stamp.read_text() != wanted:
            raise SystemExit(f"{inbox} holds another inbox than this size's; not reused")
        return {
            kind: sorted((inbox / kind).glob("*.parquet")) for kind in ("batches", "order_lines")
        }
    written = write_inbox(size, inbox)
    stamp.write_text(wanted)
    return written


# --- running the command line ---------------------------------------------------------------------

# Runs the `allocation` command from another source tree (`--source`): the editable install's
# import hook would otherwise find this checkout's package first, whatever the path says.
_LAUNCHER = """
import sys
sys.meta_path = [f for f in sys.meta_path if "editable" not in type(f).__module__]
sys.path.insert(0, {source!r})
from allocation.entrypoints.cli import app
app()
"""


def _status_kib(pid: int, field: str) -> int | None:
    """A memory figure of a process from /proc/<pid>/status, in KiB (None once it is gone)."""
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


def cluster_pids(address: str) -> list[int]:
    """This machine's processes of the Dask cluster at `address` (`dask scheduler`, `dask
    worker`): a scheduler started with its port (`--port P`), workers given its address."""
    port = address.rsplit(":", 1)[-1].encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            words = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        dask = any(w.endswith(b"dask") for w in words[:2])
        role = {b"scheduler", b"worker"} & set(words)
        ours = port in words or any(w.endswith(b":" + port) for w in words)
        if dask and role and ours:
            found.append(int(entry.name))
    return found


class PeakWatcher(threading.Thread):
    """Samples the high-water RSS (VmHWM) of each process in a tree until told to stop.

    `cluster`: more processes (a local Dask cluster's, and theirs) sampled at the same moments;
    their resident sets are added to the tree's in `together`, and their own sum in `cluster`.
    Their VmHWM may predate the run, so their peak is the largest sample (VmRSS), not VmHWM.
    """

    def __init__(self, pid: int, cluster: tuple[int, ...] = ()) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.cluster_roots = cluster
        self.peaks: dict[int, int] = {}
        self.together = 0
        """The largest sum of the tree's resident sets at one sample (KiB)."""
        self.cluster = 0
        """The largest sum of the cluster's resident sets at one sample (KiB)."""
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            now = 0
            for pid in [self.pid, *_descendants(self.pid)]:
                hwm = _status_kib(pid, "VmHWM")
                if hwm is not None:
                    self.peaks[pid] = max(self.peaks.get(pid, 0), hwm)
                now += _status_kib(pid, "VmRSS") or 0
            cluster = sum(
                _status_kib(pid, "VmRSS") or 0
                for root in self.cluster_roots
                for pid in [root, *_descendants(root)]
            )
            self.cluster = max(self.cluster, cluster)
            self.together = max(self.together, now + cluster)
            time.sleep(0.05)


@dataclass(frozen=True)
class Runner:
    """How to start `allocation run`: this checkout's command, or the package in `source`."""

    env: dict[str, str]
    source: Path | None = None
    timeout: float | None = None
    options: tuple[str, ...] = ()
    """More options of `allocation run` (`--shards N`, `--dask ADDRESS`)."""
    cluster: tuple[int, ...] = ()
    """Processes of a local Dask cluster, sampled with the run's (`PeakWatcher`)."""

    def command(self) -> list[str]:
        if self.source is None:
            return [str(VENV_BIN / "allocation")]
        return [sys.executable, "-c", _LAUNCHER.format(source=str(self.source))]

    def run(self, inbox: Path, outbox: Path, db: Path, run_date: date) -> dict[str, Any] | None:
        """Run one night; its JSON summary, wall time and memory peaks (None if timed out)."""
        command = [
            *self.command(),
            "run",
            "--json",
            f"--inbox={inbox}",
            f"--outbox={outbox}",
            f"--db={db}",
            f"--run-date={run_date}",
            *self.options,
        ]
        started = time.perf_counter()
        child = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=self.env
        )
        watcher = PeakWatcher(child.pid, self.cluster)
        watcher.start()
        try:
            stdout, stderr = child.communicate(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            for pid in reversed([child.pid, *_descendants(child.pid)]):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            child.communicate()
            return None
        finally:
            wall = time.perf_counter() - started
            watcher.done.set()
            watcher.join()
        if child.returncode != 0:
            raise RuntimeError(f"allocation run failed ({child.returncode}):\n{stderr.decode()}")
        text = stdout.decode()
        summary: dict[str, Any] = json.loads(text[text.index("{") :])
        others = [kib for pid, kib in watcher.peaks.items() if pid != child.pid]
        return {
            "wall_s": wall,
            "summary": summary,
            "stage_seconds": summary.pop("stage_seconds"),
            "run_peak_mib": watcher.peaks.get(child.pid, 0) / 1024,
            "server_peak_mib": max(others, default=0) / 1024,
            "together_peak_mib": watcher.together / 1024,
            "peaks_sum_mib": sum(watcher.peaks.values()) / 1024,
            "cluster_peak_mib": watcher.cluster / 1024,
        }


# --- a running Prefect server -------------------------------------------------------------------


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.contextmanager
def prefect_server(home: Path, timeout: float = 180.0) -> Iterator[str]:
    """Start `prefect server start` on 127.0.0.1 for the block; its API URL.

    Its own PREFECT_HOME (a fresh database), no analytics nor telemetry, its log in the home
    folder. Waits for `/api/health` to answer; stops the server (SIGTERM, then SIGKILL) after.
    """
    port = free_port()
    home.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "PREFECT_SERVER_LOGGING_LEVEL": "WARNING",
    }
    env.pop("PREFECT_API_URL", None)
    url = f"http://127.0.0.1:{port}/api"
    with (home / "server.log").open("wb") as log:
        server = subprocess.Popen(
            [
                *(str(VENV_BIN / "prefect"), "server", "start", "--host", "127.0.0.1"),
                *("--port", str(port), "--analytics-off", "--no-ui"),
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + timeout
        while True:
            if server.poll() is not None:
                log_text = (home / "server.log").read_text()[-2000:]
                raise RuntimeError(f"prefect server exited ({server.returncode}):\n{log_text}")
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(f"{url}/health", timeout=2) as answer,
            ):
                if answer.status == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"prefect server did not answer at {url} in {timeout:.0f} s")
            time.sleep(0.2)
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGKILL)
            server.wait()


# --- the Polars-only baseline ---------------------------------------------------------------------


BASELINE_SLICE = 10_000_000
"""Rows of an output the baseline holds at once: larger outputs are written in slices."""


def polars_baseline(inputs: list[Path], outbox: Path, scratch: Path) -> dict[str, float]:
    """Seconds for Polars alone to read the inputs, and to write outputs of the run's sizes.

    One file at a time (each read, then dropped), and an output of more than BASELINE_SLICE
    rows in slices of that many (each read, then only its writing timed, to a file of its
    own), so memory holds one file or slice at any size.
    """
    read_s = write_s = 0.0
    for path in inputs:
        started = time.perf_counter()
        frame = pl.read_parquet(path)
        read_s += time.perf_counter() - started
        del frame
    for number, path in enumerate(sorted(outbox.rglob("*.parquet"))):
        rows = pl.scan_parquet(path).select(pl.len()).collect().item()
        for offset in range(0, max(rows, 1), BASELINE_SLICE):
            frame = pl.scan_parquet(path).slice(offset, BASELINE_SLICE).collect()
            target = scratch / f"out-{number}-{offset}.parquet"
            started = time.perf_counter()
            frame.write_parquet(target, compression="zstd")
            write_s += time.perf_counter() - started
            del frame
            target.unlink()
    return {"read_s": read_s, "write_s": write_s}


# --- the report -----------------------------------------------------------------------------------

GROUPS: dict[str, tuple[str, ...]] = {
    "read": ("discover", "fetch", "load.read"),
    "validate": ("load.validate",),
    "load": ("open", "load.store"),
    "allocate": ("allocate",),
    "write": ("commit", "publish", "report", "close"),
}
"""The issue's stages, as sums of the run's own stage timings (`NightResult.seconds`): read is
listing and fetching the files and parsing them to text; validate, the contracts' checks and
typing; load, opening the warehouse, the cross-file rules and the inserts; write, the DuckDB
commit, the Parquet outputs, the HTML report and closing the file."""


def grouped(seconds: dict[str, float]) -> dict[str, float]:
    """The issue's five stages (and `other`) from the stage timings a run reports."""
    if not any(name.startswith("load.") for name in seconds):  # an older run: no load split
        seconds = {**seconds, "load.store": seconds.get("load", 0.0)}
    known = {name for names in GROUPS.values() for name in names} | {"load"}
    figures = {group: sum(seconds.get(n, 0.0) for n in names) for group, names in GROUPS.items()}
    figures["other"] = sum(v for name, v in seconds.items() if name not in known)
    return figures


def _bm(values: list[float], digits: int = 1) -> str:
    if not values:
        return "-"
    return f"{min(values):,.{digits}f} / {statistics.median(values):,.{digits}f}"


def table(nights: dict[str, list[dict[str, Any]]], baselines: list[dict[str, float]]) -> str:
    """The figures of each night side by side, best / median, as a Markdown table."""
    names = list(nights)
    rows: list[tuple[str, list[str]]] = []

    def row(label: str, value: Any) -> None:
        rows.append((label, [value(runs) if runs else "timed out" for runs in nights.values()]))

    row("wall, incl. Prefect start-up (s)", lambda runs: _bm([r["wall_s"] for r in runs]))
    for group in [*GROUPS, "other"]:
        row(
            f"{group} (s)",
            lambda runs, g=group: _bm([grouped(r["stage_seconds"])[g] for r in runs]),
        )
    stage_sums = {n: [sum(grouped(r["stage_seconds"]).values()) for r in nights[n]] for n in names}
    row(
        "sum of the stages (s)",
        lambda runs: _bm([sum(grouped(r["stage_seconds"]).values()) for r in runs]),
    )
    row(
        "start-up and shut-down: wall - stages (s)",
        lambda runs: _bm([r["wall_s"] - sum(grouped(r["stage_seconds"]).values()) for r in runs]),
    )
    row("peak RSS, run process (MiB)", lambda runs: _bm([r["run_peak_mib"] for r in runs], 0))
    row(
        "peak RSS, processes under the run: the temporary server (MiB)",
        lambda runs: _bm([r["server_peak_mib"] for r in runs], 0),
    )
    row(
        "peak RSS, all processes together (MiB)",
        lambda runs: _bm([r["together_peak_mib"] for r in runs], 0),
    )
    row(
        "sum of each process's own peak (MiB)",
        lambda runs: _bm([r["peaks_sum_mib"] for r in runs], 0),
    )
    if any(r["cluster_peak_mib"] for runs in nights.values() for r in runs):
        row(
            "of which the local Dask cluster's processes, at their peak (MiB)",
            lambda runs: _bm([r["cluster_peak_mib"] for r in runs], 0),
        )
    lines = [
        "| figure | " + " | ".join(names) + " |",
        "| --- |" + " ---: |" * len(names),
        *(f"| {label} | " + " | ".join(values) + " |" for label, values in rows),
    ]
    first = nights[names[0]]
    if baselines and first:
        base = min(b["read_s"] + b["write_s"] for b in baselines)
        blank = " |" * (len(names) - 1)
        extra = {
            "CPU yardstick before the first night: a pure-Python loop (s)": _bm(
                [r["yardstick_s"] for r in first], 2
            ),
            "Polars alone: read the inputs (s)": _bm([b["read_s"] for b in baselines], 2),
            "Polars alone: write the outputs, zstd (s)": _bm([b["write_s"] for b in baselines], 2),
            "wall / Polars alone (best / best)": f"{min(r['wall_s'] for r in first) / base:.0f}x",
            "stages / Polars alone (best / best)": f"{min(stage_sums[names[0]]) / base:.0f}x",
        }
        lines += [f"| {label} | {value} |{blank}" for label, value in extra.items()]
    return "\n".join(lines)


def _wall_and_stages(night: dict[str, Any]) -> str:
    stages = sum(grouped(night["stage_seconds"]).values())
    return f"{night['wall_s']:.1f} s (stages {stages:.1f} s)"


def _progress(label: str, night: dict[str, Any]) -> None:
    """One night's figures on stderr as soon as it ends (a long benchmark may be cut short)."""
    stages = ", ".join(f"{name} {s:.1f}" for name, s in night["stage_seconds"].items())
    print(
        f"{time.strftime('%H:%M:%S')} {label} night: {_wall_and_stages(night)}; peak RSS all "
        f"processes {night['together_peak_mib']:,.0f} MiB (run {night['run_peak_mib']:,.0f}); "
        f"load average {os.getloadavg()[0]:.1f}; stage seconds: {stages}",
        file=sys.stderr,
        flush=True,
    )


def _counts(summary: dict[str, Any]) -> str:
    return (
        f"rows read {summary['rows_read']:,}, loaded {summary['rows_loaded']:,}, rejected "
        f"{summary['rows_rejected']:,}; files skipped {summary['files_skipped']}; lines "
        f"allocated in full {summary['lines_allocated_full']:,}, in part "
        f"{summary['lines_allocated_part']:,}, not at all {summary['lines_unallocated']:,}; "
        f"pick-list lines {summary['pick_list_lines']:,}"
    )


def cpu_yardstick() -> float:
    """Seconds for a fixed pure-Python loop (median of five): how quick the machine is now.

    This machine's two cores run at one of two speeds, flipping within seconds: the loop takes
    about 0.05 s or about 0.09 s, with nothing else running here and /proc/stat's steal time
    near zero (another guest on the host, by the look of it). Timed just before each night,
    the loop says which way the machine leaned when the night ran.
    """
    times = []
    for _ in range(5):
        started = time.perf_counter()
        total = 0
        for number in range(1_000_000):
            total += number
        times.append(time.perf_counter() - started)
    return statistics.median(times)


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


# --- main -----------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=sorted(PRESETS), help="a named size (sets the sizes)")
    parser.add_argument("--lines", type=int, default=PRESETS["small"][0])
    parser.add_argument("--batches", type=int, default=PRESETS["small"][1])
    parser.add_argument("--skus", type=int, default=PRESETS["small"][2])
    parser.add_argument(
        "--files", type=int, help="split each input into N files (default 1, or the preset's)"
    )
    parser.add_argument("--batch-files", type=int, help="files of batches (default: --files)")
    parser.add_argument(
        "--inbox",
        type=Path,
        help="make the inbox in this folder and keep it, or reuse it if made for the same size",
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each night")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--source", type=Path, help="run the allocation package in this tree")
    parser.add_argument("--timeout", type=float, help="give up a run after this many seconds")
    parser.add_argument(
        "--shards", type=int, help="plan the night in N SKU shards (default: the run's own choice)"
    )
    parser.add_argument("--dask", help="plan the shards on the Dask scheduler at this address")
    parser.add_argument(
        "--prefect-server",
        action="store_true",
        help="run against a `prefect server start` (started and stopped here) rather than "
        "Prefect's temporary server in each run",
    )
    args = parser.parse_args()
    lines, batches, skus = (
        PRESETS[args.preset] if args.preset else (args.lines, args.batches, args.skus)
    )
    line_files, batch_files = PRESET_FILES.get(args.preset or "", (1, None))
    size = Size(
        lines,
        batches,
        skus,
        args.files or line_files,
        args.seed,
        args.batch_files or (None if args.files else batch_files),
    )

    root = Path(tempfile.mkdtemp(prefix="pipeline-bench-"))
    with contextlib.ExitStack() as stack:
        env = {**os.environ, "PREFECT_HOME": str(root / "prefect-home")}
        if args.prefect_server:
            env["PREFECT_API_URL"] = stack.enter_context(prefect_server(root / "server-home"))
        else:
            env.pop("PREFECT_API_URL", None)
        bench(args, size, root, env)


def bench(args: argparse.Namespace, size: Size, root: Path, env: dict[str, str]) -> None:
    """Make the inbox, run the nights and print the figures (`env`: the runs' environment)."""
    runner = Runner(
        env=env,
        source=args.source.resolve() if args.source else None,
        timeout=args.timeout,
        options=(
            *(() if args.shards is None else ("--shards", str(args.shards))),
            *(() if args.dask is None else ("--dask", args.dask)),
        ),
        cluster=tuple(cluster_pids(args.dask)) if args.dask else (),
    )
    try:
        print(f"Machine: {machine()}; Python {sys.version.split()[0]}, Polars {pl.__version__}")
        print(f"Code: {args.source or 'this checkout'}")
        shards = "from the night's size" if args.shards is None else args.shards
        print(f"Shards: {shards}; planned on: {args.dask or 'the run process'}")
        if runner.cluster:
            print(f"Dask processes on this machine, sampled with the run's: {runner.cluster}")
        prefect = env.get("PREFECT_API_URL") or "Prefect's temporary server, in each run"
        print(f"Prefect: {prefect}; load average {os.getloadavg()[0]:.1f}\n")
        started = time.perf_counter()
        inbox = (args.inbox or root / "inbox").resolve()
        inputs = inbox_files(size, inbox)
        files = [path for paths in inputs.values() for path in paths]
        mib = sum(path.stat().st_size for path in files) / 2**20
        took = time.perf_counter() - started
        print(f"Inbox: {len(files)} Parquet files, {mib:,.0f} MiB, in {inbox}, {took:.0f} s")

        # A first run on an empty inbox sets up Prefect's home (its database), untimed.
        (root / "empty").mkdir()
        warm = runner.run(root / "empty", root / "warm-out", root / "warm.duckdb", RUN_DATE)
        assert warm is not None, "the warm-up run timed out"
        print(f"Warm-up run (empty inbox, new Prefect home): {warm['wall_s']:.1f} s\n")

        first: list[dict[str, Any]] = []
        second: list[dict[str, Any]] = []
        baselines: list[dict[str, float]] = []
        for attempt in range(args.repeat):
            db = root / f"warehouse-{attempt}.duckdb"
            outbox = root / f"outbox-{attempt}"
            yardstick = cpu_yardstick()
            night = runner.run(inbox, outbox, db, RUN_DATE)
            if night is None:
                print(f"attempt {attempt + 1}: first night timed out", file=sys.stderr)
                break
            first.append({**night, "yardstick_s": yardstick})
            _progress("first", night)
            scratch = root / "scratch"
            scratch.mkdir(exist_ok=True)
            baselines.append(polars_baseline(files, outbox, scratch))
            shutil.rmtree(scratch)
            night = runner.run(
                inbox, root / f"{outbox.name}-next", db, RUN_DATE + timedelta(days=1)
            )
            if night is not None:
                second.append(night)
                _progress("second", night)
            print(
                f"attempt {attempt + 1}: first night {_wall_and_stages(first[-1])}, second night "
                + (_wall_and_stages(night) if night else "timed out")
                + f"; CPU yardstick {yardstick:.2f} s",
                file=sys.stderr,
                flush=True,
            )
            if not args.keep:
                db.unlink(missing_ok=True)
            if night is None:
                break
        print(
            f"{size.lines:,} order lines, {size.batches:,} batches, {size.skus:,} SKUs, "
            f"{size.files} file(s) per input, seed {size.seed}; best / median of "
            f"{len(first)} run(s)\n"
        )
        print(table({"first night": first, "second night (re-plan)": second}, baselines))
        if first:
            print(f"\nFirst night: {_counts(first[0]['summary'])}.")
        if second:
            print(f"Second night: {_counts(second[0]['summary'])}.")
        for label, runs in (("first", first), ("second", second)):
            if runs:
                raw = ", ".join(
                    f"{name} {_bm([r['stage_seconds'].get(name, 0.0) for r in runs], 2)}"
                    for name in runs[0]["stage_seconds"]
                )
                print(f"Stage seconds as the {label} night reports them: {raw}.")
    finally:
        if args.keep:
            print(f"\nKept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
