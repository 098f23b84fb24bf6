"""Whole nights over a temp inbox: drop files, run the night, check every row is accounted for.

`Site` is one temp folder holding an inbox, an outbox and a warehouse file. `assert_accounted`
checks a night's per-file accounting against the warehouse: rows read = loaded + rejected in
`result.load.files` and in `ingested_files`, every rejected row is in `rejects`, and every
loaded row is in `order_lines` or `batches` (or was a repeat of a known line).
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import polars as pl

from allocation.adapters.storage import open_storage
from allocation.domain.policy import Policy
from allocation.service_layer.nightly import NightResult, run_night

FIRST_NIGHT = date(2026, 11, 26)

Query = Callable[[str, list[object] | None], pl.DataFrame]
"""Run a read-only query on the warehouse: SQL and its parameters in, a frame out."""


@dataclass(frozen=True)
class Site:
    """An inbox, an outbox and a warehouse file under one temp folder."""

    root: Path

    @property
    def inbox(self) -> str:
        return str(self.root / "inbox")

    @property
    def outbox(self) -> str:
        return str(self.root / "outbox")

    @property
    def db(self) -> str:
        return str(self.root / "warehouse.duckdb")

    def drop(self, files: Mapping[str, bytes]) -> None:
        """Put files in the inbox, keyed like `order_lines/x.csv` (as a sender would, no fsync)."""
        for key, data in files.items():
            path = self.root.joinpath("inbox", *key.split("/"))
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)

    def night(self, run_date: date = FIRST_NIGHT, policy: Policy = Policy.SPLIT) -> NightResult:
        """Run one night over the inbox, as the flow does, without Prefect."""
        return run_night(
            inbox_url=self.inbox,
            outbox_url=self.outbox,
            db=self.db,
            policy=policy,
            run_date=run_date,
        )

    def key_of(self, location: str) -> str:
        """The inbox key of a file from its location (URL) in the accounting."""
        prefix = open_storage(self.inbox).url + "/"
        assert location.startswith(prefix), location
        return location.removeprefix(prefix)

    @contextmanager
    def reading(self) -> Iterator[Query]:
        """Query the warehouse read-only, on one connection (only between nights)."""
        # One thread: these queries are tiny, and a connection opens faster without a pool.
        with duckdb.connect(self.db, read_only=True, config={"threads": 1}) as connection:

            def query(sql: str, parameters: list[object] | None = None) -> pl.DataFrame:
                frame: pl.DataFrame = connection.sql(sql, params=parameters).pl()
                return frame

            yield query

    def query(self, sql: str, parameters: list[object] | None = None) -> pl.DataFrame:
        """Run one read-only query on the warehouse."""
        with self.reading() as query:
            return query(sql, parameters)


def parquet_bytes(frame: pl.DataFrame) -> bytes:
    """A frame as the bytes of a Parquet file."""
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    return buffer.getvalue()


def csv_bytes(frame: pl.DataFrame) -> bytes:
    """A frame as the bytes of a CSV file with a header line."""
    return frame.write_csv().encode()


ACCOUNT_COLUMNS = ("kind", "location", "status", "rows_read", "rows_loaded", "rows_rejected")


def assert_accounted(site: Site, result: NightResult, query: Query | None = None) -> None:
    """Every row the night read is loaded or rejected, once, in the accounting and the tables.

    Pass `query` to reuse an open `site.reading()` connection.
    """
    if query is None:
        with site.reading() as opened:
            return assert_accounted(site, result, opened)
    run_id = result.summary.run_id
    files = result.load.files
    for f in files:
        assert f.rows_read == f.rows_loaded + f.rows_rejected, f
        assert f.status in ("loaded", "rejected", "skipped"), f
        assert (f.reason is not None) == (f.status != "loaded"), f

    recorded = query(
        f"SELECT {', '.join(ACCOUNT_COLUMNS)}, reason FROM ingested_files WHERE run_id = ?",
        [run_id],
    )
    reported = (
        pl.DataFrame([vars(f) for f in files], schema_overrides={"reason": pl.String}).select(
            *ACCOUNT_COLUMNS, "reason"
        )
        if files
        else recorded.clear()
    )
    assert sorted(recorded.rows()) == sorted(reported.rows())

    summary = result.summary
    assert (summary.rows_read, summary.rows_loaded, summary.rows_rejected) == (
        result.load.rows_read,
        result.load.rows_loaded,
        result.load.rows_rejected,
    )
    assert summary.rows_read == summary.rows_loaded + summary.rows_rejected

    rejects = query("SELECT file, row_number, reason FROM rejects WHERE run_id = ?", [run_id])
    lines = query("SELECT source_file, row_number FROM order_lines WHERE run_id = ?", [run_id])
    for f in files:
        if f.status == "skipped":
            continue
        key = site.key_of(f.location)
        mine = rejects.filter(pl.col("file") == key)
        if f.status == "rejected":
            assert mine.rows() == [(key, None, f.reason)], mine
            continue
        assert mine["row_number"].null_count() == 0, mine
        rejected = set(mine["row_number"])
        assert len(rejected) == f.rows_rejected, (f, mine)
        if f.kind == "order_lines":
            inserted = set(lines.filter(pl.col("source_file") == key)["row_number"])
            assert inserted.isdisjoint(rejected), (inserted, rejected)
            assert len(inserted) <= f.rows_loaded, (f, inserted)

    def loaded(kind: str) -> int:
        return sum(f.rows_loaded for f in files if f.kind == kind and f.status == "loaded")

    (batches,) = query("SELECT count(*) FROM batches WHERE updated_run_id = ?", [run_id]).row(0)
    assert batches == loaded("batches")
    # A line sent again with the same qty passes its checks but adds no row.
    assert lines.height + result.load.duplicate_lines == loaded("order_lines")
