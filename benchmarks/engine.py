"""Benchmark the bulk engine against the domain reference on synthetic data.

Each measurement runs in a fresh subprocess. An engine child generates its data (not timed),
runs the engine once on a little data (Numba loads or compiles its pass, Polars warms up), then
runs it on the full data `--repeat` times. Before each run it resets the kernel's peak-RSS mark
(/proc/self/clear_refs), so the peak it reads afterwards (VmHWM) is the engine's own rather than
the data generation's; `ru_maxrss` cannot be reset, which is why it is not used. It also times
the policy's sequential pass alone, on inputs it prepares itself.

The reference (plain Python loops) is slow, so a reference child runs it on a sample: the same
generator with `--reference-lines` lines and the SKUs scaled down in proportion, batches per SKU
unchanged (or on the full data when that is smaller). The child also runs the engine on that
sample and checks both give the same rows. Results print as Markdown tables.

    .venv/bin/python benchmarks/engine.py --preset            # the issue's sizes, and a control
    .venv/bin/python benchmarks/engine.py --preset b --policy split
    .venv/bin/python benchmarks/engine.py --lines 1000000 --skus 10000 --batches-per-sku 10
    git archive <commit> allocation | tar -x -C /tmp/before    # then, in turns with this tree:
    .venv/bin/python benchmarks/engine.py --preset b --before /tmp/before --rounds 3
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from pipeline import cpu_yardstick

from allocation.domain import (
    BATCH_PREFERENCE,
    DEMAND_ORDER,
    Batch,
    LineKey,
    OrderLine,
    Policy,
    allocate_lines,
)
from allocation.engine import ALLOCATION_SCHEMA, SHORTAGE_SCHEMA, allocate_frames
from allocation.engine.frames import sorted_by
from allocation.engine.packed_key import packed_key

DEFAULT_SEED = 20240611
DEFAULT_REFERENCE_LINES = 20_000

PRESETS: dict[str, tuple[int, int, int]] = {
    "a": (1_000_000, 10_000, 10),
    "b": (10_000_000, 100_000, 10),
    "c": (100_000, 100, 1_000),
    "c10": (100_000, 10_000, 10),
}
"""The issue's sizes (a, b, c), as (lines, SKUs, batches per SKU), and a control for (c): the
same lines and batches with 10 batches per SKU, so the cost per line can be compared fairly."""

IN_STOCK_SHARE = 0.30
INBOUND_DAYS = 90
UNKNOWN_SKU_ORDER_SHARE = 0.002
NULL_ORDERED_AT_SHARE = 0.03
PREALLOCATED_BATCH_SHARE = 0.10
TODAY = date(2025, 1, 1)
ORDER_WINDOW_S = 30 * 24 * 3600


@dataclass(frozen=True)
class Size:
    """One data size: how many lines, SKUs and batches per SKU."""

    lines: int
    skus: int
    batches_per_sku: int
    seed: int

    def scaled(self, lines: int) -> Size:
        """The same shape with fewer lines: SKUs shrink in proportion, batches per SKU stay."""
        if lines >= self.lines:
            return self
        skus = max(1, round(self.skus * lines / self.lines))
        return Size(lines, skus, self.batches_per_sku, self.seed)


# --- synthetic data ---------------------------------------------------------------------------


def _names(prefix: str, numbers: np.ndarray, width: int) -> pl.Series:
    """Zero-padded names such as SKU-0000042, built column-wise."""
    return (
        pl.DataFrame({"n": numbers})
        .select(pl.concat_str(pl.lit(prefix), pl.col("n").cast(pl.String).str.zfill(width)))
        .to_series()
    )


def generate(size: Size) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Batches and order lines in the engine's input shape, reproducible from the seed.

    SKU popularity is log-normal. Orders hold 1..5 lines of neighbouring SKUs (so line keys are
    unique); a few orders ask for SKUs with no batch. Each SKU's supply is its demand (its lines
    times the mean quantity) times a factor in 0.6..1.4, so about half the SKUs run short. 30%
    of batches are in stock, the rest arrive within 90 days; 10% already carry allocations from
    earlier passes.
    """
    rng = np.random.default_rng(size.seed)
    n_skus, per_sku = size.skus, size.batches_per_sku
    popularity = rng.lognormal(0.0, 1.0, n_skus)
    popularity /= popularity.sum()

    # Orders of 1..5 lines; an order's lines take consecutive SKUs from a popular start.
    max_per_order = min(5, n_skus)
    sizes = rng.integers(1, max_per_order + 1, size.lines // max(1, max_per_order // 2) + 1)
    while sizes.sum() < size.lines:  # rare: the draw came up short
        sizes = np.concatenate([sizes, rng.integers(1, max_per_order + 1, size.lines)])
    n_orders = int(np.searchsorted(np.cumsum(sizes), size.lines) + 1)
    sizes = sizes[:n_orders]
    line_order = np.repeat(np.arange(n_orders), sizes)[: size.lines]
    position = np.arange(size.lines) - np.repeat(np.cumsum(sizes) - sizes, sizes)[: size.lines]
    first_sku = rng.choice(n_skus, n_orders, p=popularity)
    unknown = rng.random(n_orders) < UNKNOWN_SKU_ORDER_SHARE
    line_sku = (first_sku[line_order] + position) % n_skus + np.where(unknown, n_skus, 0)[
        line_order
    ]

    # Orders arrive in a random order relative to their ids; arrival is unique per line.
    order_rank = rng.permutation(n_orders)
    arrival = order_rank[line_order] * max_per_order + position
    seconds = (order_rank * (ORDER_WINDOW_S / max(1, n_orders))).astype(np.int64)
    ordered_at = np.datetime64("2024-12-01T00:00:00", "us") + seconds.astype("timedelta64[s]")
    no_time = rng.random(n_orders) < NULL_ORDERED_AT_SHARE
    priority = rng.choice(4, n_orders, p=[0.90, 0.07, 0.02, 0.01])
    lines = pl.DataFrame(
        {
            "order_id": _names("O-", line_order, 9),
            "sku": _names("SKU-", line_sku, 7),
            "qty": rng.integers(1, 21, size.lines),
            "priority": priority[line_order],
            "ordered_at": pl.Series(ordered_at[line_order]).dt.replace_time_zone("UTC"),
            "arrival": arrival,
            "allocated_qty": np.zeros(size.lines, dtype=np.int64),
        }
    ).with_columns(
        ordered_at=pl.when(pl.Series(no_time[line_order])).then(None).otherwise("ordered_at")
    )

    # Batches, in shuffled row order so the engine's sort has work to do.
    n_batches = n_skus * per_sku
    batch_sku = np.repeat(np.arange(n_skus), per_sku)
    expected_demand = np.bincount(line_sku, minlength=2 * n_skus)[:n_skus] * 10.5
    supply_factor = rng.uniform(0.6, 1.4, n_skus)
    mean_batch = (expected_demand * supply_factor / per_sku)[batch_sku]
    purchased = np.rint(mean_batch * rng.uniform(0.5, 1.5, n_batches)).astype(np.int64)
    prior = np.where(
        rng.random(n_batches) < PREALLOCATED_BATCH_SHARE,
        np.floor(rng.random(n_batches) * (purchased + 1)).astype(np.int64),
        0,
    )
    in_stock = rng.random(n_batches) < IN_STOCK_SHARE
    eta_days = rng.integers(1, INBOUND_DAYS + 1, n_batches)
    order = rng.permutation(n_batches)
    batches = pl.DataFrame(
        {
            "reference": _names("B-", rng.permutation(n_batches)[order], 9),
            "sku": _names("SKU-", batch_sku[order], 7),
            "purchased_quantity": purchased[order],
            "eta": pl.Series(eta_days[order], dtype=pl.Int32),
            "allocated_qty": prior[order],
        }
    ).with_columns(
        eta=pl.when(pl.Series(in_stock[order]))
        .then(None)
        .otherwise(pl.lit(TODAY) + pl.duration(days=pl.col("eta")))
        .cast(pl.Date)
    )
    return batches, lines


# --- measuring inside a child process --------------------------------------------------------


def _status_kib(field: str) -> int:
    """A memory figure of this process from /proc/self/status, in KiB."""
    for row in Path("/proc/self/status").read_text().splitlines():
        if row.startswith(field + ":"):
            return int(row.split()[1])
    raise KeyError(field)


def _reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark to the current RSS (Linux >= 4.0); False if refused."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _pass_inputs(batches: pl.DataFrame, lines: pl.DataFrame) -> dict[str, np.ndarray]:
    """The sequential pass's inputs, built here (slowly) so the pass can be timed on its own.

    Lines in demand order with their SKU code and missing units; batches grouped by SKU code
    in preference order: the layout `first_fit.py` documents, independent of `bulk.py`.
    """
    available = (pl.col("purchased_quantity") - pl.col("allocated_qty")).clip(lower_bound=0)
    supply = (
        batches.select("reference", "sku", "eta", available=available)
        .filter(pl.col("available") > 0)
        .pipe(sorted_by, BATCH_PREFERENCE, within=["sku"])
        .with_columns(sku_code=pl.col("sku").rank("dense").cast(pl.Int64) - 1)
    )
    codes = supply.select("sku", "sku_code").unique("sku")
    demand = (
        lines.join(codes, on="sku", how="left")
        .pipe(sorted_by, DEMAND_ORDER)
        .select(pl.col("sku_code").fill_null(-1), remaining=pl.col("qty") - pl.col("allocated_qty"))
    )
    return {
        "line_sku": demand["sku_code"].to_numpy(),
        "line_qty": demand["remaining"].to_numpy(),
        "batch_sku": supply["sku_code"].to_numpy(),
        "batch_available": supply["available"].to_numpy(),
    }


def _time_pass(policy: Policy, inputs: dict[str, np.ndarray]) -> float:
    """Seconds the policy's sequential pass takes on its own (already compiled)."""
    from allocation.engine.first_fit import first_fit, split_fill

    run_pass = split_fill if policy is Policy.SPLIT else first_fit
    started = time.perf_counter()
    run_pass(**inputs)
    return time.perf_counter() - started


def _first_call(policy: Policy, batches_per_sku: int, seed: int) -> tuple[float, bool]:
    """Run the engine once on a little data: Numba loads (or compiles) its pass, Polars warms up.

    Returns the seconds it took and whether Numba had to compile (nothing usable in its cache).
    """
    from allocation.engine.first_fit import _first_fit, _split_fill

    batches, lines = generate(Size(2_000, 20, batches_per_sku, seed))
    started = time.perf_counter()
    allocate_frames(batches, lines, policy)
    seconds = time.perf_counter() - started
    kernel = _split_fill if policy is Policy.SPLIT else _first_fit
    return seconds, sum(kernel.stats.cache_misses.values()) > 0


def measure_engine(size: Size, policy: Policy, repeat: int) -> dict[str, Any]:
    """Time the engine on one size and policy in this (fresh) process."""
    started = time.perf_counter()
    batches, lines = generate(size)
    generation_s = time.perf_counter() - started
    first_call_s, compiled = _first_call(policy, size.batches_per_sku, size.seed)

    times: list[float] = []
    cpu_times: list[float] = []
    yardstick_s = cpu_yardstick()
    load = os.getloadavg()[0]
    rss_before = peak = 0
    peak_exact = True
    result = None
    for _ in range(repeat):
        result = None  # the previous result's memory is not this run's
        gc.collect()
        peak_exact = _reset_peak_rss() and peak_exact
        before = _status_kib("VmRSS")
        started, cpu_started = time.perf_counter(), time.process_time()
        result = allocate_frames(batches, lines, policy)
        times.append(time.perf_counter() - started)
        cpu_times.append(time.process_time() - cpu_started)
        if _status_kib("VmHWM") - before > peak - rss_before:
            rss_before, peak = before, _status_kib("VmHWM")
    assert result is not None
    allocation_rows, short_lines = result.allocations.height, result.shortages.height
    del result
    pass_s = _time_pass(policy, _pass_inputs(batches, lines))

    return {
        "generation_s": generation_s,
        "first_call_s": first_call_s,
        "compiled": compiled,
        "engine_s": min(times),
        "engine_median_s": statistics.median(times),
        "engine_cpu_s": min(cpu_times),
        "load": load,
        "yardstick_s": yardstick_s,
        "rss_before_mib": rss_before / 1024,
        "peak_rss_mib": peak / 1024,
        "peak_exact": peak_exact,
        "allocation_rows": allocation_rows,
        "short_lines": short_lines,
        "pass_s": pass_s,
    }


def measure_steps(size: Size, policy: Policy, repeat: int) -> dict[str, Any]:
    """Time the engine's steps one after another (no overlap), best of `repeat`, in this process.

    This reaches into `bulk`'s private steps, in the order `allocate_frames` runs them: keep
    the two in step when the engine changes.
    """
    from allocation.engine import bulk
    from allocation.engine.frames import BATCH_COLUMNS, LINE_COLUMNS, conform

    batches, lines = generate(size)
    _first_call(policy, size.batches_per_sku, size.seed)
    best: dict[str, tuple[float, float]] = {}

    def in_order(rows: pl.DataFrame, order: np.ndarray) -> np.ndarray:
        return np.take(rows["qty"].to_numpy() - rows["allocated_qty"].to_numpy(), order)

    def step(name: str, work: Any, *args: Any) -> Any:
        started, cpu_started = time.perf_counter(), time.process_time()
        answer = work(*args)
        took = (time.perf_counter() - started, time.process_time() - cpu_started)
        best[name] = min(best.get(name, took), took)
        return answer

    for _ in range(repeat):
        gc.collect()
        conformed = conform(batches, BATCH_COLUMNS)
        rows = conform(lines, LINE_COLUMNS).rechunk()
        key = step("packed demand key", packed_key, rows, DEMAND_ORDER)
        order = step("demand order (radix sort of the key)", bulk._demand_order, key, rows)
        supply = step("supply (batches sorted by SKU hash, preference)", bulk._supply, conformed)
        skus = supply.filter(pl.col("sku_code").is_first_distinct())["sku"]
        codes = step("SKU codes (hash lookup)", bulk._guessed_codes, rows["sku"], skus, supply)
        line_sku = step("SKU codes into demand order", np.take, codes, order)
        missing = step("missing units into demand order", in_order, rows, order)
        handout = step(
            f"{policy.value} pass (Numba)", bulk._hand_out, policy, line_sku, missing, supply
        )
        in_demand_order = step("order ids into demand order", rows["order_id"].gather, order)
        step("SKU codes confirmed on the strings", bulk._confirmed, codes, rows["sku"], skus)
        order_ids = step("order ids of the pieces", in_demand_order.gather, handout.piece_line)
        step("name the allocations", bulk._name_allocations, handout, order_ids, supply)
        step("shortages", bulk._shortages, rows, order, handout)
    return {name: list(took) for name, took in best.items()}


def _domain_objects(
    batches: pl.DataFrame, lines: pl.DataFrame
) -> tuple[list[Batch], list[OrderLine]]:
    """The same data as domain objects; a batch's earlier allocations go to a stand-in line."""
    domain_batches = [
        Batch(ref, sku, bought, eta, {LineKey("earlier-pass", sku): held} if held else None)
        for ref, sku, bought, eta, held in batches.iter_rows()
    ]
    domain_lines = [
        OrderLine(order_id, sku, qty, priority, ordered_at, arrival)
        for order_id, sku, qty, priority, ordered_at, arrival, _ in lines.iter_rows()
    ]
    return domain_batches, domain_lines


def measure_reference(size: Size, policy: Policy) -> dict[str, Any]:
    """Time the domain reference on a size, and check the engine returns the same rows."""
    batches, lines = generate(size)
    domain_batches, domain_lines = _domain_objects(batches, lines)
    started = time.perf_counter()
    expected = allocate_lines(domain_lines, domain_batches, policy)
    reference_s = time.perf_counter() - started

    got = allocate_frames(batches, lines, policy)
    expected_allocations = pl.DataFrame(
        [asdict(a) for a in expected.allocations], schema=ALLOCATION_SCHEMA
    )
    expected_shortages = pl.DataFrame(
        [asdict(s) for s in expected.shortages], schema=SHORTAGE_SCHEMA
    )
    identical = got.allocations.equals(expected_allocations) and got.shortages.equals(
        expected_shortages
    )
    return {"reference_s": reference_s, "reference_lines": size.lines, "identical": identical}


# --- the parent: one child per measurement ----------------------------------------------------


def _child(task: dict[str, Any], env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run one measurement in a fresh interpreter and return its JSON answer."""
    done = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(task)],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    answer: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return answer


def _run_child(task: dict[str, Any]) -> None:
    """Child side of `_child`: measure and print one JSON line."""
    size = Size(**task["size"])
    policy = Policy(task["policy"])
    if task["kind"] == "compile":
        seconds, compiled = _first_call(policy, size.batches_per_sku, size.seed)
        answer: dict[str, Any] = {"first_call_s": seconds, "compiled": compiled}
    elif task["kind"] == "engine":
        answer = measure_engine(size, policy, task["repeat"])
    elif task["kind"] == "steps":
        answer = measure_steps(size, policy, task["repeat"])
    else:
        answer = measure_reference(size, policy)
    print(json.dumps(answer))


def _rate(lines: int, seconds: float) -> str:
    return f"{lines / seconds / 1e6:.2f}M" if lines / seconds >= 1e6 else f"{lines / seconds:,.0f}"


def _mib(value: float) -> str:
    return f"{value:,.0f}"


def run(
    sizes: list[tuple[str, Size]], policies: list[Policy], reference_lines: int, repeat: int
) -> None:
    """Measure every size and policy, printing one Markdown table per size."""
    compile_s = {}
    for policy in policies:
        with tempfile.TemporaryDirectory() as empty_cache:
            task = {"kind": "compile", "size": asdict(sizes[0][1]), "policy": policy.value}
            cold = _child(task, env={**os.environ, "NUMBA_CACHE_DIR": empty_cache})
        compile_s[policy] = cold["first_call_s"]
    print(
        "First engine call with an empty Numba cache (compiles the pass): "
        + ", ".join(f"{policy.value} {seconds:.2f} s" for policy, seconds in compile_s.items())
        + "\n"
    )
    for name, size in sizes:
        sample = size.scaled(reference_lines)
        print(
            f"### {name}: {size.lines:,} lines, {size.skus:,} SKUs, "
            f"{size.batches_per_sku:,} batches per SKU ({size.skus * size.batches_per_sku:,} "
            f"batches), seed {size.seed}\n"
        )
        print(
            "| policy | engine s (best / median of "
            f"{repeat}) | CPU s | lines/s | peak RSS MiB (Δ) | pass s | first call s "
            f"| allocations | short lines | reference lines/s ({sample.lines:,} lines) "
            "| engine / reference | same rows | load | yardstick s |"
        )
        print("|" + "---|" * 14)
        notes = []
        for policy in policies:
            engine = _child(
                {"kind": "engine", "size": asdict(size), "policy": policy.value, "repeat": repeat}
            )
            reference = _child(
                {"kind": "reference", "size": asdict(sample), "policy": policy.value}
            )
            engine_rate = size.lines / engine["engine_s"]
            reference_rate = sample.lines / reference["reference_s"]
            delta = engine["peak_rss_mib"] - engine["rss_before_mib"]
            print(
                f"| {policy.value} "
                f"| {engine['engine_s']:.3f} / {engine['engine_median_s']:.3f} "
                f"| {engine['engine_cpu_s']:.2f} | {_rate(size.lines, engine['engine_s'])} "
                f"| {_mib(engine['peak_rss_mib'])} ({_mib(delta)})"
                f"{'' if engine['peak_exact'] else ' process peak'} "
                f"| {engine['pass_s']:.3f} "
                f"| {engine['first_call_s']:.2f}{' compiled' if engine['compiled'] else ''} "
                f"| {engine['allocation_rows']:,} | {engine['short_lines']:,} "
                f"| {_rate(sample.lines, reference['reference_s'])} "
                f"| {engine_rate / reference_rate:,.0f}x "
                f"| {'yes' if reference['identical'] else '**NO**'} | {engine['load']:.1f} "
                f"| {engine['yardstick_s']:.3f} |",
                flush=True,
            )
            notes.append(f"{policy.value} {engine['generation_s']:.2f} s")
        print(f"\nData generation (not counted): {', '.join(notes)}.\n")


def run_against(
    sizes: list[tuple[str, Size]], policies: list[Policy], repeat: int, before: str, rounds: int
) -> None:
    """Time this tree's engine and an earlier one (`before`, an exported tree) in turns.

    Each round runs one engine child per policy for each version, alternating, so both see
    the machine in the same minutes. The earlier tree's `allocation` package is put first on
    the children's PYTHONPATH; the timing code is this script's for both.
    """
    versions = {"after": os.environ.copy(), "before": {**os.environ, "PYTHONPATH": before}}
    versions["after"].pop("PYTHONPATH", None)
    for name, size in sizes:
        print(f"### {name}: {size.lines:,} lines, {size.skus:,} SKUs, before = {before}\n")
        print(
            f"| round | version | policy | engine s (best / median of {repeat}) | CPU s "
            "| lines/s | peak RSS MiB (Δ) | load | yardstick s |"
        )
        print("|" + "---|" * 9)
        runs: dict[tuple[str, Policy], list[dict[str, Any]]] = {}
        for round_ in range(1, rounds + 1):
            for policy in policies:
                for version, env in versions.items():
                    task = {"kind": "engine", "size": asdict(size), "policy": policy.value}
                    engine = _child({**task, "repeat": repeat}, env=env)
                    runs.setdefault((version, policy), []).append(engine)
                    delta = engine["peak_rss_mib"] - engine["rss_before_mib"]
                    print(
                        f"| {round_} | {version} | {policy.value} "
                        f"| {engine['engine_s']:.3f} / {engine['engine_median_s']:.3f} "
                        f"| {engine['engine_cpu_s']:.2f} | {_rate(size.lines, engine['engine_s'])} "
                        f"| {_mib(engine['peak_rss_mib'])} ({_mib(delta)}) "
                        f"| {engine['load']:.1f} | {engine['yardstick_s']:.3f} |",
                        flush=True,
                    )
        print(
            "\n| version | policy | best s | median s (of the runs' medians) | best CPU s "
            "| lines/s (best) |"
        )
        print("|---|---|---|---|---|---|")
        for (version, policy), measured in sorted(
            runs.items(), key=lambda kv: (kv[0][1].value, kv[0][0])
        ):
            best = min(m["engine_s"] for m in measured)
            median = statistics.median(m["engine_median_s"] for m in measured)
            cpu = min(m["engine_cpu_s"] for m in measured)
            print(
                f"| {version} | {policy.value} | {best:.3f} | {median:.3f} | {cpu:.2f} "
                f"| {_rate(size.lines, best)} |"
            )
        print(flush=True)


def run_steps(sizes: list[tuple[str, Size]], policies: list[Policy], repeat: int) -> None:
    """Print, per size and policy, what each of the engine's steps costs on its own."""
    for name, size in sizes:
        for policy in policies:
            task = {"kind": "steps", "size": asdict(size), "policy": policy.value}
            steps = _child({**task, "repeat": repeat})
            total = sum(wall for wall, _ in steps.values())
            print(
                f"### {name} {policy.value}: {size.lines:,} lines, {size.skus:,} SKUs, "
                f"{size.batches_per_sku:,} batches per SKU; steps run one after another, "
                f"best of {repeat}\n"
            )
            print("| step | wall s | CPU s | share of wall |")
            print("|---|---|---|---|")
            for step, (wall, cpu) in steps.items():
                print(f"| {step} | {wall:.3f} | {cpu:.3f} | {wall / total:.0%} |")
            print(f"| total (without overlap) | {total:.3f} | | |\n", flush=True)


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and run the benchmark (or, internally, one child measurement)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--skus", type=int, default=10_000)
    parser.add_argument("--batches-per-sku", type=int, default=10)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--policy", choices=["split", "whole", "both"], default="both")
    parser.add_argument(
        "--reference-lines",
        type=int,
        default=DEFAULT_REFERENCE_LINES,
        help="run the slow reference on this many lines (SKUs scaled down, batches per SKU kept)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="engine runs per measurement")
    parser.add_argument(
        "--preset",
        nargs="*",
        choices=list(PRESETS),
        help="run these sizes (all of them when given without names)",
    )
    parser.add_argument(
        "--steps",
        action="store_true",
        help="instead, time each of the engine's steps on its own (reaches into its internals)",
    )
    parser.add_argument(
        "--before",
        help="instead, time this engine and the one in this exported tree in turns (its root)",
    )
    parser.add_argument("--rounds", type=int, default=3, help="turns each, with --before")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        _run_child(json.loads(args.child))
        return
    if args.preset is not None:
        names = args.preset or list(PRESETS)
        sizes = [(f"({n})", Size(*PRESETS[n], seed=args.seed)) for n in names]
    else:
        sizes = [("custom", Size(args.lines, args.skus, args.batches_per_sku, args.seed))]
    policies = [Policy.SPLIT, Policy.WHOLE] if args.policy == "both" else [Policy(args.policy)]
    if args.before:
        run_against(sizes, policies, args.repeat, args.before, args.rounds)
    elif args.steps:
        run_steps(sizes, policies, args.repeat)
    else:
        run(sizes, policies, args.reference_lines, args.repeat)


if __name__ == "__main__":
    main()
