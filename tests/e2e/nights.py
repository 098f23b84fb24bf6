"""Helpers for multi-night scenarios: write the night's files, run the real flow, read results."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import duckdb
import polars as pl

from allocation.adapters.storage import open_storage
from allocation.adapters.warehouse import DuckDBWarehouse
from allocation.domain.policy import Policy
from allocation.service_layer.invariants import check_invariants
from allocation.service_layer.runs import RunSummary
from flows.nightly import nightly

FIRST_NIGHT = date(2026, 11, 26)


@dataclass
class Warehouse:
    """A temporary inbox, outbox and warehouse file, and the nights run against them."""

    root: Path
    policy: Policy = Policy.SPLIT
    nights: int = 0

    @property
    def inbox(self) -> str:
        return str(self.root / "inbox")

    @property
    def outbox(self) -> str:
        return str(self.root / "outbox")

    @property
    def db(self) -> str:
        return str(self.root / "warehouse.duckdb")

    def drop(self, key: str, text: str) -> None:
        """Put an input file (CSV text, header first) into the inbox."""
        open_storage(self.inbox).write(key, text.strip().encode() + b"\n")

    def run(self) -> RunSummary:
        """Run one night with the real flow, then check every invariant."""
        run_date = FIRST_NIGHT + timedelta(days=self.nights)
        self.nights += 1
        summary = nightly(
            inbox_url=self.inbox,
            outbox_url=self.outbox,
            db=self.db,
            policy=self.policy,
            run_date=run_date,
        ).summary
        with DuckDBWarehouse(self.db) as warehouse:
            assert check_invariants(warehouse) == []
        return summary

    def output(self, name: str, summary: RunSummary) -> pl.DataFrame:
        """One of a run's published Parquet outputs."""
        key = f"{name}/run_date={summary.run_date.isoformat()}/{summary.run_id}.parquet"
        return pl.read_parquet(io.BytesIO(open_storage(self.outbox).read(key)))

    def picks(self, summary: RunSummary) -> list[tuple[str, str, str, int]]:
        """The run's pick list as (order_id, sku, batch_ref, qty) in line order."""
        frame = self.output("pick_lists", summary)
        return list(frame.select("order_id", "sku", "batch_ref", "qty").iter_rows())

    def sql(self, query: str) -> list[tuple[object, ...]]:
        """Read the warehouse (read-only) between runs."""
        with duckdb.connect(self.db, read_only=True) as con:
            return con.sql(query).fetchall()

    def held(self) -> list[tuple[object, ...]]:
        """Current allocations: (order_id, sku, batch_ref, status, qty), sorted."""
        return self.sql(
            "SELECT order_id, sku, batch_ref, status, qty FROM allocations ORDER BY ALL"
        )
