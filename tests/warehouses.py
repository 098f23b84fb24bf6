"""Warehouses the tests build and look into: nights run into a folder, what they hold."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from pathlib import Path

import duckdb
import polars as pl

from allocation.adapters import schema
from allocation.adapters.storage import open_storage
from allocation.domain.policy import Policy
from allocation.service_layer.nightly import run_night

# Two nights the crash tests kill runs in: picks, a reservation, a cancellation, a reject.
NIGHT_1 = {
    "batches/n1.csv": (
        "reference,sku,purchased_quantity,eta\nst,CHAIR,6,\nship,CHAIR,20,2026-12-01\n"
    ),
    "order_lines/n1.csv": "order_id,sku,qty,priority,ordered_at\no1,CHAIR,4,0,\no2,CHAIR,5,0,\n",
}
NIGHT_2 = {
    "batches/n2.csv": "reference,sku,purchased_quantity,eta\nst2,CHAIR,3,\nlamp,LAMP,2,\n",
    "order_lines/n2.csv": (
        "order_id,sku,qty,priority,ordered_at\no3,CHAIR,2,1,\no4,LAMP,3,0,\nbad,LAMP,0,0,\n"
    ),
    "cancellations/n2.csv": "order_id,sku\no1,\n",
}


def nights_into(root: Path, nights: Sequence[Mapping[str, str]], first: date) -> Path:
    """Run one night per mapping of inbox key to file text, a day apart; the warehouse's path."""
    inbox = open_storage(str(root / "inbox"))
    for day, files in enumerate(nights):
        for key, text in files.items():
            inbox.write(key, text.encode())
        run_night(
            inbox_url=str(root / "inbox"),
            outbox_url=str(root / "outbox"),
            db=str(root / "w.duckdb"),
            policy=Policy.SPLIT,
            run_date=first + timedelta(days=day),
        )
    return root / "w.duckdb"


def held(db: Path) -> list[tuple[object, ...]]:
    """Every allocation in the warehouse (as analysts read it), in a stable order."""
    with duckdb.connect(str(db), read_only=True) as con:
        return con.sql(
            "SELECT order_id, sku, batch_ref, status, qty FROM allocations ORDER BY ALL"
        ).fetchall()


def published_pick_lists(outbox: Path) -> pl.DataFrame:
    """Every pick-list line published in the outbox, by pick list and line number."""
    storage = open_storage(str(outbox))
    frames = [
        pl.read_parquet(io.BytesIO(storage.read(o.key)))
        for o in storage.list("pick_lists/")
        if o.key.endswith(".parquet")
    ]
    return pl.concat(frames).sort("pick_list_id", "line_no")


def two_nights_at_version(con: duckdb.DuckDBPyConnection, version: int) -> None:
    """Make the file as release `version` left it: its schema, a first night r1 and a re-plan r2.

    r1's one pick-list line is o1's 3 CHAIR on b1; each test adds what its version stored.
    """
    con.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    for number, migration in enumerate(schema.MIGRATIONS[:version], start=1):
        con.execute(migration)
        con.execute("INSERT INTO schema_version VALUES (?)", [number])
    con.execute(
        "INSERT INTO runs (run_id, run_date, policy, started_at, status) VALUES "
        "('r1', '2026-11-26', 'split', '2026-11-26 22:00:00+00', 'committed'), "
        "('r2', '2026-11-27', 'split', '2026-11-27 22:00:00+00', 'committed')"
    )
    con.execute("INSERT INTO pick_list_lines VALUES ('r1', 'PL-r1', 1, 'o1', 'CHAIR', 'b1', 3)")
