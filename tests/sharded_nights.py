"""Three nights with arrivals, cancellations and batch cuts, and what a warehouse holds after.

The same nights are run sharded and unsharded; `warehouse_state` and `published` put what each
leaves in a form to compare: run ids mapped to their order, wall-clock columns left out.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from pathlib import Path

import duckdb
import polars as pl

from allocation.adapters.storage import open_storage
from allocation.domain.policy import Policy
from allocation.service_layer.nightly import run_night

FIRST_NIGHT = date(2026, 11, 26)
SKUS = [f"SKU-{n:02d}" for n in range(12)] + ["CHAISE-É", "NO-STOCK"]
TIMES = {"started_at", "finished_at", "published_at", "recorded_at", "duration_s", "received_at"}
TABLES = (
    "batches",
    "order_lines",
    "allocations",
    "runs",
    "ingested_files",
    "rejects",
    "run_allocations",
    "pick_list_lines",
    "run_shortages",
    "withdrawals",
    "ledger",
)
BATCHES = "reference,sku,purchased_quantity,eta"
LINES = "order_id,sku,qty,priority,ordered_at"


def three_nights(seed: int = 15) -> list[dict[str, str]]:
    """Night 1: stock in and inbound, lines; 2: arrivals, cuts below picks, cancellations, more
    lines; 3: more arrivals and cuts, a cancelled order, new stock and lines."""
    rng = random.Random(seed)
    stocked = SKUS[:-1]
    batches = [
        (f"b{n:03d}", rng.choice(stocked), rng.randint(1, 12), rng.choice([None, None, 5, 20]))
        for n in range(40)
    ]

    def eta(days: int | None) -> str:
        return "" if days is None else (FIRST_NIGHT + timedelta(days=days)).isoformat()

    def lines(night: int, count: int) -> str:
        rows = [
            f"o{night}-{rng.randint(0, count // 2)},{sku},{rng.randint(1, 6)},"
            f"{rng.randint(0, 2)},2026-11-2{rng.randint(0, 5)}T0{rng.randint(0, 9)}:00:00Z"
            for sku in (rng.choice(SKUS) for _ in range(count))
        ]
        return "\n".join([LINES, *dict.fromkeys(rows)])  # (a repeated row: a duplicate)

    def batch_rows(rows: Sequence[tuple[str, str, int, int | None]]) -> str:
        return "\n".join([BATCHES, *(f"{r},{s},{q},{eta(e)}" for r, s, q, e in rows)])

    inbound = [b for b in batches if b[3] is not None]
    in_stock = [b for b in batches if b[3] is None]
    return [
        {"batches/1.csv": batch_rows(batches), "order_lines/1.csv": lines(1, 80)},
        {
            "batches/2.csv": batch_rows(
                [(r, s, q, None) for r, s, q, _ in inbound[:5]]  # arrived
                + [(r, s, 0, None) for r, s, _, _ in in_stock[:4]]  # cut below their picks
                + [(f"n2-{n}", rng.choice(stocked), 7, 3) for n in range(4)]
            ),
            "order_lines/2.csv": lines(2, 50),
            "cancellations/2.csv": "order_id,sku\no1-1,\no1-2,\no1-3," + SKUS[0] + "\n",
        },
        {
            "batches/3.csv": batch_rows(
                [(r, s, q, None) for r, s, q, _ in inbound[5:9]]
                + [(r, s, 1, None) for r, s, _, _ in in_stock[4:8]]
                + [(f"n3-{n}", rng.choice(SKUS), 9, None) for n in range(3)]
            ),
            "order_lines/3.csv": lines(3, 40),
            "cancellations/3.csv": "order_id,sku\no2-4,\no2-5,",
        },
    ]


def nights_through(
    root: Path,
    nights: list[dict[str, str]],
    night: Callable[[Path, date], object],
) -> Path:
    """Drop each night's files into `root`'s inbox and run it (`night(root, run_date)`)."""
    inbox = open_storage(str(root / "inbox"))
    for index, files in enumerate(nights):
        for key, text in files.items():
            inbox.write(key, text.encode() + b"\n")
        night(root, FIRST_NIGHT + timedelta(days=index))
    return root


def run_night_in(policy: Policy, shards: int | None) -> Callable[[Path, date], object]:
    """A night run through `run_night` with plain stages, in that many shards."""

    def night(root: Path, run_date: date) -> object:
        return run_night(
            inbox_url=str(root / "inbox"),
            outbox_url=str(root / "outbox"),
            db=str(root / "w.duckdb"),
            policy=policy,
            run_date=run_date,
            shards=shards,
        )

    return night


def _normalised(frame: pl.DataFrame, names: dict[str, str]) -> pl.DataFrame:
    """Wall-clock columns dropped, run ids and the root folder replaced, rows sorted."""
    frame = frame.drop([column for column in frame.columns if column in TIMES])
    for column, dtype in frame.schema.items():
        if dtype == pl.String:
            text = pl.col(column)
            for name, stand_in in names.items():
                text = text.str.replace_all(name, stand_in, literal=True)
            frame = frame.with_columns(text)
    return frame.sort(frame.columns)


def warehouse_state(db: Path, root: Path) -> dict[str, pl.DataFrame]:
    """Every table of the warehouse file, normalised."""
    with duckdb.connect(str(db), read_only=True) as con:
        runs = con.sql("SELECT run_id FROM runs ORDER BY started_at").fetchall()
        names = {str(root): "ROOT", **{run: f"RUN{i}" for i, (run,) in enumerate(runs)}}
        return {t: _normalised(con.sql(f"SELECT * FROM {t}").pl(), names) for t in TABLES}


def published(root: Path) -> dict[str, pl.DataFrame]:
    """Every Parquet file of the outbox, by output and run (in run order), normalised."""
    with duckdb.connect(str(root / "w.duckdb"), read_only=True) as con:
        runs = con.sql("SELECT run_id FROM runs ORDER BY started_at").fetchall()
    names = {str(root): "ROOT", **{run: f"RUN{i}" for i, (run,) in enumerate(runs)}}
    return {
        f"{path.relative_to(root / 'outbox').parts[0]}/{names[path.stem]}": _normalised(
            pl.read_parquet(path), names
        )
        for path in sorted((root / "outbox").rglob("*.parquet"))
    }
