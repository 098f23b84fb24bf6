"""The floor of the night's fixed shape: each step it cannot skip, done the fastest public way.

Issue 16 asks whether the first night can come within 5x of Polars' bare read and write of
the same data. The night's shape is fixed: Polars reads the inbox, pandera checks it against
the input contracts, DuckDB stores it in a warehouse file, the bulk engine plans the night,
DuckDB stores the plan's allocations, Polars writes the WMS files, all started by a Prefect
flow. This script does each of those steps once, alone and timed, on the inbox the pipeline
benchmark uses (`pipeline.py --inbox`), with nothing around them, so that the sum is the least
the shape can cost on this machine. Everything runs in this one process; each step's wall
time and CPU time (getrusage: user + sys, every thread) are taken on their own.

    .venv/bin/python benchmarks/floor.py --size 1m --repeat 3
    flock /work/wt/heavy.lock .venv/bin/python benchmarks/floor.py --size 10m --repeat 3
    .venv/bin/python benchmarks/floor.py --inbox /tmp/rec/inbox-1m --shards 1

The steps, as the table prints them:

1. Polars reads every inbox file (`pl.read_parquet`, as `pipeline.polars_baseline` does).
2. pandera checks them with the product's own input contracts (`allocation/contracts/
   inputs.py`, through `parsing.checking.check_values`: the product's own checks and
   reasons, only the declared checks, native Parquet types kept as the product keeps them);
   a scan that every text key is already trimmed and not blank (the contract's
   normalisation, only written when needed);
   the rules that span rows (a line key and a batch reference each once: one hash of each,
   as the loader does); rejected rows dropped and the survivors typed (`InputContract.typed`:
   defaults, row numbers, arrival numbers). The rejects' reasons are made for their file.
3. DuckDB stores the valid lines and batches in a fresh warehouse file, in one transaction,
   committed: (a) into the product's own tables (`schema.upgrade`, made before the clock
   starts: the real columns, and batches' primary key), from Arrow; (a') the same, DuckDB
   reading the inbox's Parquet files itself (rejected rows left out by an anti-join on their
   row numbers; not in the sums, only a comparison); (b) compact: SKU codes and order ids as
   integer keys (`skus`, `orders` hold each text once), lines keyed by their arrival number,
   batches by a number. Making the integer keys is timed on its own row.
4. The bulk engine (`allocation.engine.allocate_frames`, split policy, as `benchmarks/engine.py`
   calls it) plans the night in the product's number of shards (`shards_for`, or `--shards`),
   each shard's batches and lines cut by their SKU's hash; each allocation gets its batch's eta
   and in_stock (a join on the batch reference), the picks are those in stock. A first night
   holds nothing, so nothing frozen is joined in. (4') The product's `plan.plan_night` on the
   same shards, which also joins the (empty) frozen picks in and splits picks from
   reservations, is timed too, each shard's plan dropped at once: a comparison, not in the
   sums. Then the night's pick list is numbered once, as the product
   numbers its staged picks, by one sort on (batch_ref, order_id): the rule's order
   (`PICK_LIST_ORDER`, a batch holds one SKU), checked against `plan.pick_list` while warming.
5. DuckDB stores the plan's allocations once, committed: (a) as today's `allocations` table
   (string keys, status, run id); (b) compact (line and batch numbers, a picked flag, a run
   number). The joins that turn the plan's string keys into those numbers are timed on their
   own row (on the keys' 64-bit hashes, which step 2 found distinct): the engine names its
   rows by strings, and no public function gives the positions of their lines and batches,
   which it has (`bulk.py`'s pieces) and which would make that row nearly free.
6. pandera checks the five WMS outputs against the output contracts (in memory, lazily, data
   included, as `publishing.check_outputs` does on the files), then Polars writes them
   (allocations, pick list, shortages, rejects, withdrawals: zstd, as the baseline writes).
7. Start-up: a fresh Python importing Prefect and the flow (`import prefect, flows.nightly`),
   timed from outside; shown apart from the sums, with the pipeline's "start-up" to compare.

Left out, so that nobody mistakes this for the night: the inbox listing, fetching and hashing
(files are read from local disk), the `ingested_files` accounting, storing the rejects in the
warehouse, the run's row and its figures, cancellations and withdrawals (a first night has
none: the withdrawals file is written empty), the look-ups of earlier nights' lines and
batches (a first night's warehouse is empty), every history table (`run_reservations`,
`pick_list_lines`, `run_shortages`, the ledger), the views, the invariant checks, the
snapshot published for readers, the run report, Prefect's flow and task runs, and the Numba
kernels' loading (warmed before the clock starts, as `allocation run` warms them while
Prefect starts). Each step holds its whole input at once (the night holds one shard's plan
at a time); the steps do not overlap (the night overlaps parsing with storing).

The baseline, as `pipeline.py` prints it, is measured in the same repeat: Polars reading the
inbox files, and writing outputs of this run's sizes (`pipeline.polars_baseline`, reading back
the files of step 6). Figures are best / median over `--repeat` repeats, each on fresh
warehouse files; the load average and the CPU yardstick (`pipeline.cpu_yardstick`) are
printed at the start and the end.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import duckdb
import polars as pl
from pandera.config import ValidationDepth, config_context
from pipeline import cpu_yardstick, machine, polars_baseline
from polars.testing import assert_frame_equal

from allocation.adapters import schema
from allocation.contracts import outputs
from allocation.contracts.inputs import CONTRACTS, InputContract, InputKind
from allocation.domain.policy import Policy
from allocation.engine import ALLOCATION_SCHEMA, LINE_COLUMNS, allocate_frames
from allocation.engine.plan import pick_list, plan_night
from allocation.engine.shards import shards_for
from allocation.parsing import REJECT_SCHEMA
from allocation.parsing.checking import check_values
from allocation.service_layer.publishing import OUTPUT_CONTRACTS

REPO: Final = Path(__file__).resolve().parents[1]
INBOXES: Final = {"1m": Path("/tmp/rec/inbox-1m"), "10m": Path("/tmp/rec/inbox-10m")}
KINDS: Final[tuple[InputKind, ...]] = ("batches", "order_lines")
RUN_ID: Final = "floor-run"
PICK_LIST_ID: Final = f"PL-{RUN_ID}"

STEPS: Final = {
    "read": "1. Polars reads the inbox files",
    "validate": "2. pandera checks them (input contracts), keys once, typed",
    "store.real": "3a. DuckDB stores lines + batches, the product's tables (Arrow)",
    "store.parquet": "3a'. the same, DuckDB reading the Parquet files (comparison)",
    "store.encode": "3b. integer keys for SKUs, orders, batches, lines (Polars)",
    "store.compact": "3b. DuckDB stores them compact (Arrow)",
    "plan": "4. the bulk engine plans the night (split)",
    "plan.product": "4'. the product's plan_night on the same shards (comparison)",
    "pick_list": "4. the night's pick list numbered",
    "allocations.real": "5a. DuckDB stores the allocations, string keys",
    "allocations.keys": "5b. the allocations' line and batch numbers (joins)",
    "allocations.compact": "5b. DuckDB stores the allocations compact",
    "outputs.check": "6. pandera checks the five outputs (output contracts)",
    "outputs.write": "6. Polars writes the five outputs (zstd)",
    "startup": "7. start-up: python -c 'import prefect, flows.nightly'",
}
"""Each step's key and its row in the table, in the order they run."""

SUMS: Final = {
    "floor, the product's columns (1 + 2 + 3a + 4 + 5a + 6)": (
        "read",
        "validate",
        "store.real",
        "plan",
        "pick_list",
        "allocations.real",
        "outputs.check",
        "outputs.write",
    ),
    "floor, compact (1 + 2 + 3b + 4 + 5b + 6)": (
        "read",
        "validate",
        "store.encode",
        "store.compact",
        "plan",
        "pick_list",
        "allocations.keys",
        "allocations.compact",
        "outputs.check",
        "outputs.write",
    ),
}
"""The floor's sums: the steps each adds up (start-up is shown on its own, then added)."""

COMPACT_TABLES: Final = """
CREATE TABLE runs (run_no INTEGER NOT NULL, run_id VARCHAR NOT NULL);
CREATE TABLE source_files (file_no INTEGER NOT NULL, location VARCHAR NOT NULL);
CREATE TABLE skus (sku_no INTEGER NOT NULL, sku VARCHAR NOT NULL);
CREATE TABLE orders (order_no INTEGER NOT NULL, order_id VARCHAR NOT NULL);
CREATE TABLE batches (
    batch_no           INTEGER NOT NULL,
    reference          VARCHAR NOT NULL,
    sku_no             INTEGER NOT NULL,
    purchased_quantity BIGINT  NOT NULL CHECK (purchased_quantity >= 0),
    eta                DATE,
    created_run_no     INTEGER NOT NULL,
    updated_run_no     INTEGER NOT NULL
);
CREATE TABLE order_lines (
    line_no    BIGINT  NOT NULL,
    order_no   INTEGER NOT NULL,
    sku_no     INTEGER NOT NULL,
    qty        BIGINT  NOT NULL CHECK (qty > 0),
    priority   BIGINT  NOT NULL,
    ordered_at TIMESTAMPTZ,
    cancelled  BOOLEAN NOT NULL,
    run_no     INTEGER NOT NULL,
    file_no    INTEGER NOT NULL,
    row_number BIGINT
);
CREATE TABLE allocations (
    line_no  BIGINT  NOT NULL,
    batch_no INTEGER NOT NULL,
    qty      BIGINT  NOT NULL CHECK (qty > 0),
    picked   BOOLEAN NOT NULL,
    run_no   INTEGER NOT NULL
);
"""
"""The most compact warehouse issue 16's freedom allows: each repeated text stored once (SKU,
order id, run id, file), integer keys in the high-volume tables (lines keyed by their arrival
number, as unique as their (order_id, sku)). Readable columns would come back in views."""


# --- timing ---


def _cpu_s(who: int = resource.RUSAGE_SELF) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


@dataclass
class Clock:
    """Wall and CPU seconds of each step of one repeat."""

    seconds: dict[str, tuple[float, float]] = field(default_factory=dict)

    @contextlib.contextmanager
    def step(self, name: str, who: int = resource.RUSAGE_SELF) -> Iterator[None]:
        """Time the block as step `name` (`who`: whose CPU, this process's or its children's)."""
        gc.collect()
        wall, cpu = time.perf_counter(), _cpu_s(who)
        yield
        self.seconds[name] = (time.perf_counter() - wall, _cpu_s(who) - cpu)


# --- steps 1 and 2: read and check ---


@dataclass(frozen=True)
class InboxFile:
    """One inbox file read: its kind, path and rows as sent."""

    kind: InputKind
    path: Path
    rows: pl.DataFrame


@dataclass
class Checked:
    """One kind's valid rows, typed (with `row_number`, `file_no`; lines with `arrival`)."""

    rows: pl.DataFrame
    rejected: dict[Path, pl.Series]
    """Each file's rejected rows, by position (0-based) in the file."""
    rejects: pl.DataFrame
    """The rejects output's rows (without run_id)."""


def inbox_files(inbox: Path) -> dict[InputKind, list[Path]]:
    """The inbox's Parquet files of each kind, as `pipeline.inbox_files` lists them."""
    found = {kind: sorted((inbox / kind).glob("*.parquet")) for kind in KINDS}
    if not all(found.values()):
        raise SystemExit(f"{inbox} holds no batches or no order lines (make it with pipeline.py)")
    return found


def read_inbox(files: Mapping[InputKind, list[Path]]) -> list[InboxFile]:
    """Step 1: every file read by Polars."""
    return [InboxFile(kind, path, pl.read_parquet(path)) for kind in KINDS for path in files[kind]]


def _native(contract: InputContract, frame: pl.DataFrame) -> frozenset[str]:
    """The columns already of their contract type (the product checks those as values)."""
    native = frozenset(
        name
        for name in frame.columns
        if name in contract.native and frame.schema[name] == contract.schema[name]
    )
    other = [name for name in frame.columns if frame.schema[name] != pl.String()]
    if set(other) - native:
        raise SystemExit(f"the floor expects text or native types, not {frame.schema}")
    return native


def _needs_normalising(frame: pl.DataFrame) -> bool:
    """Whether any text value has surrounding whitespace or is blank (the contract trims)."""
    text = [name for name, dtype in frame.schema.items() if dtype == pl.String()]
    if not text:
        return False
    bare = pl.col(text).str.strip_chars().str.len_bytes()
    return bool(frame.select(((bare != pl.col(text).str.len_bytes()) | (bare == 0)).any()).row(0))


def _normalised(frame: pl.DataFrame) -> pl.DataFrame:
    text = [name for name, dtype in frame.schema.items() if dtype == pl.String()]
    trimmed = pl.col(text).str.strip_chars()
    return frame.with_columns(pl.when(trimmed.str.len_bytes() > 0).then(trimmed).name.keep())


def check_inbox(read: list[InboxFile]) -> dict[InputKind, Checked]:
    """Step 2: each file checked by its contract, its rejected rows dropped, the rest typed.

    Then the rules that span rows: each line key and batch reference once in the night (the
    first night's warehouse is empty, so nothing else can repeat them).
    """
    checked: dict[InputKind, Checked] = {}
    for kind in KINDS:
        contract = CONTRACTS[kind]
        parts: list[pl.DataFrame] = []
        rejected: dict[Path, pl.Series] = {}
        reasons: list[pl.DataFrame] = []
        for file_no, item in enumerate(f for f in read if f.kind == kind):
            rows = item.rows
            if _needs_normalising(rows):
                rows = _normalised(rows)
            native = _native(contract, rows)
            failed = check_values(contract, rows, native)
            bad = failed["index"].unique()
            rejected[item.path] = bad
            reasons.append(
                failed.select(
                    pl.lit(item.path.name).alias("file"),
                    (pl.col("index") + 1).alias("row_number"),
                    *REJECT_SCHEMA.names()[2:],
                )
            )
            numbered = rows.with_columns(row_number=pl.int_range(1, pl.len() + 1, dtype=pl.Int64()))
            if bad.len():
                keep = pl.repeat(True, rows.height, eager=True).scatter(bad, False)
                numbered = numbered.filter(keep)
            parts.append(
                contract.typed(numbered, native).with_columns(file_no=pl.lit(file_no, pl.Int32()))
            )
        rows = pl.concat(parts) if len(parts) > 1 else parts[0]
        if kind == "order_lines":
            rows = rows.with_columns(arrival=pl.int_range(1, pl.len() + 1, dtype=pl.Int64()))
            key = pl.col("order_id").hash(1) ^ pl.col("sku").hash(2)
        else:
            key = pl.col("reference").hash(1)
        if rows.select(key.n_unique()).item() != rows.height:
            raise SystemExit(
                f"{kind}: a key repeats (or two hash alike); the floor does not "
                "reject repeats: use an inbox made by pipeline.py"
            )
        checked[kind] = Checked(rows, rejected, pl.concat(reasons))
    return checked


# --- step 3: store the inputs ---


def _connect(path: Path) -> duckdb.DuckDBPyConnection:
    """A new warehouse file, in the product's storage format."""
    return duckdb.connect(str(path), config=schema.CONFIG)


def _arrow(frame: pl.DataFrame) -> Any:
    """The frame as Polars' newest Arrow (string views DuckDB reads without copying)."""
    return frame.to_arrow(compat_level=pl.CompatLevel.newest())


def new_real_warehouse(path: Path) -> duckdb.DuckDBPyConnection:
    """A fresh file with the product's tables (made before the clock starts)."""
    connection = _connect(path)
    connection.execute("BEGIN").fetchall()
    schema.upgrade(connection)
    connection.execute("COMMIT").fetchall()
    return connection


def store_real(
    connection: duckdb.DuckDBPyConnection,
    checked: Mapping[InputKind, Checked],
    files: Mapping[InputKind, list[Path]],
) -> None:
    """Step 3a: lines and batches into the product's tables, from Arrow, one transaction."""
    batches = checked["batches"].rows
    lines = checked["order_lines"].rows
    run = connection.execute
    run("BEGIN").fetchall()
    run("SET VARIABLE run_id = ?", [RUN_ID]).fetchall()
    b = _arrow(batches.select("reference", "sku", "purchased_quantity", "eta"))
    connection.register("_batches", b)
    run(
        "INSERT INTO batches BY NAME SELECT reference, sku, purchased_quantity, eta, "
        "getvariable('run_id') AS created_run_id, getvariable('run_id') AS updated_run_id "
        "FROM _batches"
    ).fetchall()
    several = len(files["order_lines"]) > 1
    for file_no, path in enumerate(files["order_lines"]):
        part = lines.filter(pl.col("file_no") == file_no) if several else lines
        connection.register(
            "_lines",
            _arrow(
                part.select(
                    "order_id", "sku", "qty", "priority", "ordered_at", "arrival", "row_number"
                )
            ),
        )
        run("SET VARIABLE source_file = ?", [str(path)]).fetchall()
        run(
            "INSERT INTO order_lines BY NAME SELECT *, 'open' AS status, "
            "getvariable('run_id') AS run_id, getvariable('source_file') AS source_file "
            "FROM _lines"
        ).fetchall()
        connection.unregister("_lines")
    connection.unregister("_batches")
    run("COMMIT").fetchall()


def store_real_from_parquet(
    connection: duckdb.DuckDBPyConnection, checked: Mapping[InputKind, Checked]
) -> None:
    """Step 3a': the same tables, DuckDB reading the inbox files, rejected rows left out.

    Lines take their row number plus the lines of the files before as their arrival: unique
    and in arrival order, with gaps where rows were rejected.
    """
    run = connection.execute
    run("BEGIN").fetchall()
    run("SET VARIABLE run_id = ?", [RUN_ID]).fetchall()
    before = 0
    for kind in KINDS:
        for path, bad in checked[kind].rejected.items():
            connection.register("_rejected", _arrow(bad.cast(pl.Int64()).alias("i").to_frame()))
            source = (
                f"read_parquet('{path}', file_row_number = true) "
                "WHERE file_row_number NOT IN (SELECT i FROM _rejected)"
            )
            if kind == "batches":
                sql = (
                    "INSERT INTO batches BY NAME SELECT reference, sku, purchased_quantity, eta, "
                    "getvariable('run_id') AS created_run_id, "
                    f"getvariable('run_id') AS updated_run_id FROM {source}"
                )
            else:
                sql = (
                    "INSERT INTO order_lines BY NAME SELECT order_id, sku, qty, "
                    "coalesce(priority, 0) AS priority, ordered_at, "
                    f"file_row_number + 1 + {before} AS arrival, 'open' AS status, "
                    f"getvariable('run_id') AS run_id, '{path}' AS source_file, "
                    f"file_row_number + 1 AS row_number FROM {source}"
                )
                before += pl.scan_parquet(path).select(pl.len()).collect().item()
            run(sql).fetchall()
            connection.unregister("_rejected")
    run("COMMIT").fetchall()


@dataclass(frozen=True)
class Compact:
    """The compact warehouse's rows, integer keys made: what step 3b stores."""

    skus: pl.DataFrame
    orders: pl.DataFrame
    batches: pl.DataFrame
    lines: pl.DataFrame


def encode(checked: Mapping[InputKind, Checked]) -> Compact:
    """Step 3b, first half: integer keys for SKUs and orders, numbers for batches and lines."""
    batches = checked["batches"].rows
    lines = checked["order_lines"].rows
    every_sku = pl.concat([batches["sku"], lines["sku"]])
    # Distinct by their 64-bit hashes (a third of the cost of `unique` on the strings at 10M
    # lines); should two SKUs hash alike, one would be missing and the strict cast refuse it.
    skus = every_sku.filter(every_sku.hash().is_first_distinct())
    try:
        line_skus = lines["sku"].cast(pl.Enum(skus))
    except pl.exceptions.InvalidOperationError:
        skus = every_sku.unique()
        line_skus = lines["sku"].cast(pl.Enum(skus))
    sku_codes = pl.Enum(skus)
    order_no = lines["order_id"].rank("dense").cast(pl.Int32()) - 1
    coded = lines.select(
        line_no="arrival",
        order_no=order_no,
        sku_no=line_skus.to_physical().cast(pl.Int32()),
        qty="qty",
        priority="priority",
        ordered_at="ordered_at",
        file_no="file_no",
        row_number="row_number",
    )
    orders = pl.DataFrame({"order_no": order_no, "order_id": lines["order_id"]}).filter(
        pl.col("order_no").is_first_distinct()
    )
    return Compact(
        skus=skus.to_frame("sku").with_row_index("sku_no").cast({"sku_no": pl.Int32()}),
        orders=orders,
        batches=batches.select(
            batch_no=pl.int_range(0, pl.len(), dtype=pl.Int32()),
            reference="reference",
            sku_no=pl.col("sku").cast(sku_codes).to_physical().cast(pl.Int32()),
            purchased_quantity="purchased_quantity",
            eta="eta",
        ),
        lines=coded,
    )


def new_compact_warehouse(path: Path) -> duckdb.DuckDBPyConnection:
    """A fresh file with the compact tables (made before the clock starts)."""
    connection = _connect(path)
    connection.execute(COMPACT_TABLES).fetchall()
    return connection


def store_compact(
    connection: duckdb.DuckDBPyConnection, compact: Compact, files: Mapping[InputKind, list[Path]]
) -> None:
    """Step 3b, second half: the compact rows stored, from Arrow, one transaction."""
    run = connection.execute
    run("BEGIN").fetchall()
    run("INSERT INTO runs VALUES (0, ?)", [RUN_ID]).fetchall()
    for file_no, path in enumerate(files["order_lines"]):
        run("INSERT INTO source_files VALUES (?, ?)", [file_no, str(path)]).fetchall()
    for table, frame, extra in (
        ("skus", compact.skus, ""),
        ("orders", compact.orders, ""),
        ("batches", compact.batches, ", 0 AS created_run_no, 0 AS updated_run_no"),
        ("order_lines", compact.lines, ", false AS cancelled, 0 AS run_no"),
    ):
        connection.register("_rows", _arrow(frame))
        run(f"INSERT INTO {table} BY NAME SELECT *{extra} FROM _rows").fetchall()
        connection.unregister("_rows")
    run("COMMIT").fetchall()


# --- step 4: plan ---


@dataclass(frozen=True)
class Planned:
    """The night's plan as the floor needs it: every allocation (with in_stock and eta), the
    picks (allocations from in-stock batches) and the short lines."""

    allocations: pl.DataFrame
    picks: pl.DataFrame
    shortages: pl.DataFrame


def _plan_shard(batches: pl.DataFrame, lines: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """One shard's allocations (with in_stock and eta) and shortages: the engine, then the eta."""
    result = allocate_frames(batches, lines, Policy.SPLIT)
    allocations = result.allocations.join(
        batches.select(batch_ref="reference", eta="eta"), on="batch_ref", how="left"
    ).select("order_id", "sku", "batch_ref", "qty", in_stock=pl.col("eta").is_null(), eta="eta")
    return allocations, result.shortages


def _shard_inputs(
    checked: Mapping[InputKind, Checked], shards: int
) -> list[tuple[pl.DataFrame, pl.DataFrame]]:
    """Each shard's batches and lines, in the engine's columns (nothing held: `allocated_qty`
    0), cut by their SKU's hash (any cut by SKU gives the same plan)."""
    batches = checked["batches"].rows.select(
        "reference", "sku", "purchased_quantity", "eta", allocated_qty=pl.lit(0, pl.Int64())
    )
    lines = checked["order_lines"].rows.select(
        *[name for name in LINE_COLUMNS if name != "allocated_qty"],
        allocated_qty=pl.lit(0, pl.Int64()),
    )
    if shards == 1:
        return [(batches, lines)]
    cut = pl.col("sku").hash() % shards
    batch_parts = batches.with_columns(_shard=cut).partition_by(
        "_shard", as_dict=True, include_key=False
    )
    line_parts = lines.with_columns(_shard=cut).partition_by(
        "_shard", as_dict=True, include_key=False
    )
    return [
        (batch_parts.get((shard,), batches.clear()), line_parts.get((shard,), lines.clear()))
        for shard in range(shards)
    ]


def plan_as_the_night_does(checked: Mapping[InputKind, Checked], shards: int) -> None:
    """Step 4': the product's `plan_night` on each shard, each plan dropped at once."""
    picked = pl.DataFrame(schema=ALLOCATION_SCHEMA)
    parts = _shard_inputs(checked, shards)
    while parts:
        batches, lines = parts.pop(0)
        plan_night(batches.drop("allocated_qty"), lines.drop("allocated_qty"), picked, Policy.SPLIT)
        del batches, lines


def plan(checked: Mapping[InputKind, Checked], shards: int) -> Planned:
    """Step 4: the engine plans the night shard by shard (cut by SKU), plans put together.

    A first night: nothing is held, so every batch and line comes with `allocated_qty` 0
    (what `plan.plan_night` gives the engine when no pick is frozen).
    """
    parts = _shard_inputs(checked, shards)
    planned = []
    while parts:  # (each shard's inputs let go once planned)
        planned.append(_plan_shard(*parts.pop(0)))
    return Planned(
        allocations=pl.concat([a for a, _ in planned]),
        picks=pl.concat(
            [a.filter("in_stock").select("order_id", "sku", "batch_ref", "qty") for a, _ in planned]
        ),
        shortages=pl.concat([s for _, s in planned]),
    )


def numbered_pick_list(picks: pl.DataFrame) -> pl.DataFrame:
    """Step 4, end: the night's pick list, numbered once in `rules.PICK_LIST_ORDER`.

    By batch, then SKU, then order: a batch holds one SKU, and a line of an order one SKU, so
    (batch_ref, order_id) orders the picks exactly as the rule's three keys do; sorted as one
    struct key, the cheapest sort Polars offered at 10M lines. `warm_up` checks it gives
    `plan.pick_list`'s rows.
    """
    return (
        picks.sort(pl.struct("batch_ref", "order_id"))
        .with_row_index("line_no", offset=1)
        .select(
            pick_list_id=pl.lit(PICK_LIST_ID),
            line_no=pl.col("line_no").cast(pl.Int64()),
            order_id="order_id",
            sku="sku",
            batch_ref="batch_ref",
            qty="qty",
        )
    )


# --- step 5: store the allocations ---


def store_allocations_real(connection: duckdb.DuckDBPyConnection, night: Planned) -> None:
    """Step 5a: the allocations once, as today's `allocations` table, committed."""
    run = connection.execute
    run("BEGIN").fetchall()
    run("SET VARIABLE run_id = ?", [RUN_ID]).fetchall()
    connection.register(
        "_allocations",
        _arrow(night.allocations.select("order_id", "sku", "batch_ref", "qty", "in_stock")),
    )
    run(
        "INSERT INTO allocations BY NAME SELECT order_id, sku, batch_ref, qty, "
        "CASE WHEN in_stock THEN 'picked' ELSE 'reserved' END AS status, "
        "getvariable('run_id') AS run_id FROM _allocations"
    ).fetchall()
    connection.unregister("_allocations")
    run("COMMIT").fetchall()


def allocation_keys(night: Planned, checked: Mapping[InputKind, Checked]) -> pl.DataFrame:
    """Step 5b, first half: each allocation's line number and batch number, by joins.

    Joined on the keys' 64-bit hashes, which step 2 found distinct among the lines and among
    the batches (an allocation's line and batch are among them): about half the cost of
    joining on the strings at 10M lines.
    """
    line_key = pl.col("order_id").hash(1) ^ pl.col("sku").hash(2)
    lines = checked["order_lines"].rows.select(_line=line_key, line_no="arrival")
    batches = checked["batches"].rows.select(
        _batch=pl.col("reference").hash(1), batch_no=pl.int_range(0, pl.len(), dtype=pl.Int32())
    )
    return (
        night.allocations.select(
            "qty", picked="in_stock", _line=line_key, _batch=pl.col("batch_ref").hash(1)
        )
        .join(lines, on="_line", how="inner")
        .join(batches, on="_batch", how="inner")
        .select("line_no", "batch_no", "qty", "picked")
    )


def store_allocations_compact(connection: duckdb.DuckDBPyConnection, keyed: pl.DataFrame) -> None:
    """Step 5b, second half: the compact allocations stored, committed."""
    run = connection.execute
    run("BEGIN").fetchall()
    connection.register("_allocations", _arrow(keyed))
    run("INSERT INTO allocations BY NAME SELECT *, 0 AS run_no FROM _allocations").fetchall()
    connection.unregister("_allocations")
    run("COMMIT").fetchall()


# --- step 6: the outputs ---


def output_frames(
    night: Planned, numbered: pl.DataFrame, checked: Mapping[InputKind, Checked]
) -> dict[str, pl.DataFrame]:
    """The five WMS outputs of the run, as frames in their contracts' columns."""
    run_id = pl.lit(RUN_ID)
    withdrawals = {n: c.dtype.type for n, c in outputs.WithdrawalOut.to_schema().columns.items()}
    return {
        "allocations": night.allocations.select(
            run_id.alias("run_id"), "order_id", "sku", "batch_ref", "qty", "in_stock", "eta"
        ),
        "pick_lists": numbered,
        "shortages": night.shortages,
        "rejects": pl.concat([checked[kind].rejects for kind in KINDS]).select(
            run_id.alias("run_id"), pl.all()
        ),
        "withdrawals": pl.DataFrame(schema=withdrawals),
    }


def check_output_frames(frames: Mapping[str, pl.DataFrame]) -> None:
    """Step 6, first half: each output checked by its contract, data included, lazily."""
    with config_context(validation_depth=ValidationDepth.SCHEMA_AND_DATA):
        for name, contract in OUTPUT_CONTRACTS.items():
            contract.validate(frames[name].lazy())


def write_outputs(frames: Mapping[str, pl.DataFrame], outbox: Path) -> None:
    """Step 6, second half: each output written by Polars, zstd."""
    outbox.mkdir(parents=True, exist_ok=True)
    for name, frame in frames.items():
        frame.write_parquet(outbox / f"{name}.parquet", compression="zstd")


# --- step 7: start-up ---


def startup(clock: Clock) -> None:
    """Step 7: a fresh Python importing Prefect and the flow, timed from outside."""
    with clock.step("startup", resource.RUSAGE_CHILDREN):
        subprocess.run(
            [sys.executable, "-c", "import prefect, flows.nightly"], cwd=REPO, check=True
        )


# --- one repeat ---


@dataclass
class Repeat:
    """One repeat's figures: each step's (wall, CPU) seconds, the baseline, the counts."""

    seconds: dict[str, tuple[float, float]]
    baseline: dict[str, float]
    counts: dict[str, int]
    sizes: dict[str, int]


def one_repeat(
    inbox: Path,
    shards: int | None,
    scratch: Path,
    comparisons: bool,
    warming: bool = False,
) -> Repeat:
    """Every step once, on fresh warehouse files in `scratch`; then the baseline.

    `comparisons`: time steps 3a' and 4' too. `warming`: check what the steps made (the pick
    list as the product numbers it, every row stored), and leave out the start-up.
    """
    files = inbox_files(inbox)
    clock = Clock()
    with clock.step("read"):
        read = read_inbox(files)
    with clock.step("validate"):
        checked = check_inbox(read)
    del read

    real = new_real_warehouse(scratch / "real.duckdb")
    with clock.step("store.real"):
        store_real(real, checked, files)
    if comparisons:
        from_parquet = new_real_warehouse(scratch / "from-parquet.duckdb")
        with clock.step("store.parquet"):
            store_real_from_parquet(from_parquet, checked)
        from_parquet.close()
        (scratch / "from-parquet.duckdb").unlink()
    compact = new_compact_warehouse(scratch / "compact.duckdb")
    with clock.step("store.encode"):
        coded = encode(checked)
    with clock.step("store.compact"):
        store_compact(compact, coded, files)
    del coded

    count = shards or shards_for(checked["order_lines"].rows.height)
    with clock.step("plan"):
        night = plan(checked, count)
    if comparisons:
        with clock.step("plan.product"):
            plan_as_the_night_does(checked, count)
    with clock.step("pick_list"):
        numbered = numbered_pick_list(night.picks)

    with clock.step("allocations.real"):
        store_allocations_real(real, night)
    with clock.step("allocations.keys"):
        keyed = allocation_keys(night, checked)
    with clock.step("allocations.compact"):
        store_allocations_compact(compact, keyed)
    del keyed
    if warming:
        _check_stored(real, compact, checked, night, numbered)
    sizes = {
        "real.duckdb": (scratch / "real.duckdb").stat().st_size,
        "compact.duckdb": (scratch / "compact.duckdb").stat().st_size,
    }
    real.close()
    compact.close()

    frames = output_frames(night, numbered, checked)
    outbox = scratch / "outbox"
    with clock.step("outputs.check"):
        check_output_frames(frames)
    with clock.step("outputs.write"):
        write_outputs(frames, outbox)
    counts = {
        "lines stored": checked["order_lines"].rows.height,
        "batches stored": checked["batches"].rows.height,
        "rejects": frames["rejects"].height,
        "allocations": frames["allocations"].height,
        "pick-list lines": frames["pick_lists"].height,
        "shortages": frames["shortages"].height,
        "shards": count,
    }
    del frames, night, numbered, checked
    if not warming:
        startup(clock)

    work = scratch / "baseline"
    work.mkdir()
    baseline = polars_baseline([p for paths in files.values() for p in paths], outbox, work)
    shutil.rmtree(work)
    shutil.rmtree(outbox)
    for name in ("real.duckdb", "compact.duckdb"):
        (scratch / name).unlink()
    return Repeat(clock.seconds, baseline, counts, sizes)


def _check_stored(
    real: duckdb.DuckDBPyConnection,
    compact: duckdb.DuckDBPyConnection,
    checked: Mapping[InputKind, Checked],
    night: Planned,
    numbered: pl.DataFrame,
) -> None:
    """Fail unless every valid row and allocation is stored and the pick list is the product's."""
    expected = {
        "order_lines": checked["order_lines"].rows.height,
        "batches": checked["batches"].rows.height,
        "allocations": night.allocations.height,
    }
    for connection in (real, compact):
        for table, rows in expected.items():
            (stored,) = connection.execute(f"SELECT count(*) FROM {table}").fetchall()[0]
            if stored != rows:
                raise AssertionError(f"{table}: {stored} rows stored, not {rows}")
    assert_frame_equal(numbered, pick_list(night.picks, PICK_LIST_ID))


# --- the table ---


def _bm(values: Sequence[float], digits: int = 2) -> str:
    if not values:
        return "-"
    return f"{min(values):,.{digits}f} / {statistics.median(values):,.{digits}f}"


def summed(seconds: Mapping[str, tuple[float, float]], steps: Sequence[str]) -> tuple[float, float]:
    """The (wall, CPU) of the steps together."""
    return (
        sum(seconds[step][0] for step in steps),
        sum(seconds[step][1] for step in steps),
    )


def _ratio(values: Sequence[float], base: Sequence[float]) -> str:
    """Best / best and median / median of `values` over `base`."""
    best = min(values) / min(base)
    return f"{best:.1f}x / {statistics.median(values) / statistics.median(base):.1f}x"


POLARS_STEPS: Final = ("read", "outputs.write")
"""The floor's own steps that are Polars' bare read and write (the same reads and writes as
the baseline's): their CPU is the baseline's CPU, which `polars_baseline` does not time."""


def table(
    repeats: Sequence[Mapping[str, tuple[float, float]]], baselines: Sequence[Mapping[str, float]]
) -> str:
    """The steps, the floor's sums, the baseline and the ratios, best / median, in Markdown.

    Each sum's wall is set against Polars' read + write (the baseline's wall), and its CPU
    against the CPU of the floor's own Polars read and write (steps 1 and 6's write), which
    compares better than wall while others share the machine.
    """
    rows: list[tuple[str, str, str]] = []
    for step, label in STEPS.items():
        if any(step in seconds for seconds in repeats):
            walls = [seconds[step][0] for seconds in repeats if step in seconds]
            cpus = [seconds[step][1] for seconds in repeats if step in seconds]
            rows.append((label, _bm(walls), _bm(cpus)))
    base = [b["read_s"] + b["write_s"] for b in baselines]
    polars = [summed(seconds, POLARS_STEPS) for seconds in repeats]
    rows += [
        ("Polars alone: read the inputs", _bm([b["read_s"] for b in baselines]), ""),
        ("Polars alone: write the outputs, zstd", _bm([b["write_s"] for b in baselines]), ""),
        (
            "**Polars alone: read + write** (CPU: steps 1 + 6's write)",
            _bm(base),
            _bm([cpu for _, cpu in polars]),
        ),
    ]
    for label, steps in SUMS.items():
        sums = [summed(seconds, steps) for seconds in repeats]
        walls, cpus = [wall for wall, _ in sums], [cpu for _, cpu in sums]
        rows.append((f"**{label}**", _bm(walls), _bm(cpus)))
        if not base:
            continue
        rows.append(
            (
                "  / Polars alone (best / best, median / median)",
                _ratio(walls, base),
                _ratio(cpus, [cpu for _, cpu in polars]),
            )
        )
        with_startup = [
            wall + seconds["startup"][0]
            for wall, seconds in zip(walls, repeats, strict=True)
            if "startup" in seconds
        ]
        if len(with_startup) == len(walls):
            rows.append(
                (
                    "  with start-up (7): wall, / Polars alone",
                    f"{_bm(with_startup)}: {_ratio(with_startup, base)}",
                    "",
                )
            )
    lines = ["| step | wall (s) | CPU (s) |", "| --- | ---: | ---: |"]
    lines += [f"| {label} | {wall} | {cpu} |" for label, wall, cpu in rows]
    return "\n".join(lines)


WARM_UP_ROWS: Final = 20_000


def warm_up(inbox: Path) -> None:
    """Every step once on the inbox's first rows, untimed: first calls' costs left out.

    The engine's compiled kernels are loaded (as `allocation run` loads them while Prefect
    starts), pandera builds its schemas, Polars and DuckDB load what they load once.
    """
    with tempfile.TemporaryDirectory(prefix="floor-warm-") as folder:
        small = Path(folder) / "inbox"
        for kind, paths in inbox_files(inbox).items():
            (small / kind).mkdir(parents=True)
            pl.scan_parquet(paths[0]).head(WARM_UP_ROWS).sink_parquet(small / kind / paths[0].name)
        scratch = Path(folder) / "scratch"
        scratch.mkdir()
        one_repeat(small, 2, scratch, comparisons=True, warming=True)


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--size",
        choices=sorted(INBOXES),
        default="1m",
        help="the shared inbox of that size (default 1m)",
    )
    parser.add_argument("--inbox", type=Path, help="another inbox made by pipeline.py --inbox")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--shards", type=int, help="shards to plan in (default: the product's)")
    parser.add_argument(
        "--no-comparisons",
        action="store_true",
        help="leave out steps 3a' (DuckDB reading the Parquet files) and 4' (plan_night)",
    )
    args = parser.parse_args(argv)
    inbox = args.inbox or INBOXES[args.size]

    warm_up(inbox)
    started = datetime.now(UTC)
    print(
        f"Machine: {machine()}; Python {sys.version.split()[0]}, Polars {pl.__version__}, "
        f"DuckDB {duckdb.__version__}"
    )
    yardstick_start, load_start = cpu_yardstick(), os.getloadavg()
    print(
        f"Inbox: {inbox}; started {started:%H:%M:%S} UTC; load average "
        f"{load_start[0]:.1f} / {load_start[1]:.1f}; CPU yardstick {yardstick_start:.3f} s"
    )
    repeats: list[Repeat] = []
    for attempt in range(args.repeat):
        scratch = Path(tempfile.mkdtemp(prefix="floor-"))
        try:
            repeat = one_repeat(inbox, args.shards, scratch, not args.no_comparisons)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        repeats.append(repeat)
        sums = {label: summed(repeat.seconds, steps)[0] for label, steps in SUMS.items()}
        print(
            f"{time.strftime('%H:%M:%S')} repeat {attempt + 1}: "
            + ", ".join(f"{k} {w:.2f}/{c:.2f}" for k, (w, c) in repeat.seconds.items())
            + "; sums "
            + ", ".join(f"{s:.2f}" for s in sums.values())
            + f"; baseline {repeat.baseline['read_s']:.2f} + {repeat.baseline['write_s']:.2f}"
            + f"; load {os.getloadavg()[0]:.1f}; peak RSS {_peak_mib():,.0f} MiB",
            file=sys.stderr,
            flush=True,
        )
    yardstick_end, load_end = cpu_yardstick(), os.getloadavg()
    last = repeats[-1]
    print(", ".join(f"{name} {value:,}" for name, value in last.counts.items()))
    print(
        "Warehouse files after step 5: "
        + ", ".join(f"{name} {size / 2**20:,.0f} MiB" for name, size in last.sizes.items())
    )
    print(
        f"Best / median of {len(repeats)} repeat(s); CPU = user + sys of every thread "
        "(of the child, for step 7)\n"
    )
    print(table([r.seconds for r in repeats], [r.baseline for r in repeats]))
    print(
        f"\nEnded {datetime.now(UTC):%H:%M:%S} UTC; load average {load_end[0]:.1f} / "
        f"{load_end[1]:.1f}; CPU yardstick {yardstick_end:.3f} s; peak RSS of this process "
        f"{_peak_mib():,.0f} MiB"
    )


if __name__ == "__main__":
    main()
