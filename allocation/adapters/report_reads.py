"""The run report's reads of the warehouse: one method per read, plain rows and frames back.

Every figure comes from the analyst views (`allocation.adapters.views`) and the run's
history tables, so the report shows what an analyst querying the file would see.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date, datetime
from typing import Protocol

import polars as pl

from allocation.adapters.duckdb_sql import DuckDBSql
from allocation.adapters.views import sku_stock
from allocation.domain.status import RunStatus


@dataclass(frozen=True)
class RunRecord:
    """One run's row of `run_history`: when, how, and its figures (see the view's comments)."""

    run_id: str
    run_date: date
    policy: str
    status: str
    reason: str | None
    started_at: datetime
    finished_at: datetime | None
    published_at: datetime | None
    duration_s: float | None
    files_read: int | None
    files_skipped: int | None
    files_rejected: int | None
    rows_read: int | None
    rows_loaded: int | None
    rows_rejected: int | None
    demand_lines: int | None
    lines_allocated_full: int | None
    lines_allocated_part: int | None
    lines_unallocated: int | None
    units_demanded: int | None
    units_allocated: int | None
    units_short: int | None
    pick_list_lines: int | None
    line_fill_rate: float | None
    unit_fill_rate: float | None


class RunReportReads(Protocol):
    """What the run report reads from the warehouse (`DuckDBWarehouse` provides it)."""

    def run_record(self, run_id: str) -> RunRecord | None:
        """The run's row of `run_history`, or None when there is no such run."""

    def fill_rate_history(self, run: RunRecord, runs: int) -> pl.DataFrame:
        """The last `runs` committed runs up to this one, oldest first."""

    def top_short_skus(self, run_id: str, skus: int) -> pl.DataFrame:
        """The `skus` SKUs the run left shortest, with their stock now."""

    def stock_by_week_of_eta(self) -> pl.DataFrame:
        """Units of every batch now, stock in hand first, then by week of eta."""

    def rejects_by_check(self, run_id: str) -> pl.DataFrame:
        """The run's rejects counted by column and check, most first."""

    def first_rejected_rows(self, run_id: str, rows: int) -> pl.DataFrame:
        """The run's first `rows` rejects, by file and row."""

    def files_of_run(self, run_id: str) -> pl.DataFrame:
        """Every input file the run saw, by kind and location."""


class DuckDBReportReads(DuckDBSql):
    """The run report's reads, part of the DuckDB warehouse (see `RunReportReads`)."""

    def run_record(self, run_id: str) -> RunRecord | None:
        """The run's row of `run_history`, or None when there is no such run."""
        rows = self.query("SELECT * FROM run_history WHERE run_id = ?", [run_id])
        if not rows.height:
            return None
        row = rows.row(0, named=True)
        return RunRecord(**{f.name: row[f.name] for f in fields(RunRecord)})

    def fill_rate_history(self, run: RunRecord, runs: int) -> pl.DataFrame:
        """The last `runs` committed runs up to this one (itself if committed), oldest first.

        Columns: run_id, run_date, line_fill_rate, unit_fill_rate.
        """
        return self.query(
            """
            SELECT run_id, run_date, line_fill_rate, unit_fill_rate FROM run_history
            WHERE status = ?
              AND (started_at < ? OR (started_at = ? AND run_id <= ?))
            ORDER BY started_at DESC, run_id DESC LIMIT ?
            """,
            [RunStatus.COMMITTED, run.started_at, run.started_at, run.run_id, runs],
        ).reverse()

    def top_short_skus(self, run_id: str, skus: int) -> pl.DataFrame:
        """The `skus` SKUs the run left shortest, most units short first, with their stock now.

        Columns: sku, short (units), lines (short lines), in_stock, inbound, next_eta.
        """
        # The top SKUs are found first and only their batches summed: joining `sku_summary`
        # summed every SKU's batches, allocations and lines (8 s at 10M lines).
        return self.query(
            f"""
            WITH top AS (
                SELECT sku, CAST(sum(short_qty) AS BIGINT) AS short, count(*) AS lines
                FROM run_shortages WHERE run_id = ?
                GROUP BY sku ORDER BY short DESC, sku LIMIT ?
            )
            SELECT t.sku, t.short, t.lines, coalesce(k.in_stock, 0) AS in_stock,
                   coalesce(k.inbound, 0) AS inbound, k.next_eta
            FROM top t LEFT JOIN ({sku_stock("sku IN (SELECT sku FROM top)")}) k USING (sku)
            ORDER BY t.short DESC, t.sku
            """,
            [run_id, skus],
        )

    def stock_by_week_of_eta(self) -> pl.DataFrame:
        """Units of every batch now, stock in hand first (week null), then by week of eta.

        Columns: week (the Monday it starts; null = in stock), purchased, allocated, available.
        """
        return self.query(
            """
            SELECT CASE WHEN in_stock THEN NULL ELSE date_trunc('week', eta)::DATE END AS week,
                   CAST(sum(purchased) AS BIGINT) AS purchased,
                   CAST(sum(allocated) AS BIGINT) AS allocated,
                   CAST(sum(available) AS BIGINT) AS available
            FROM batch_availability GROUP BY week ORDER BY week NULLS FIRST
            """
        )

    def rejects_by_check(self, run_id: str) -> pl.DataFrame:
        """The run's rejects counted by column and check, most first.

        Columns: reason (`column: check`; `: check` for a file rejected whole), rejects.
        """
        return self.query(
            """
            SELECT coalesce("column", '') || ': ' || "check" AS reason, count(*) AS rejects
            FROM rejects WHERE run_id = ? GROUP BY ALL ORDER BY rejects DESC, reason
            """,
            [run_id],
        )

    def first_rejected_rows(self, run_id: str, rows: int) -> pl.DataFrame:
        """The run's first `rows` rejects, by file and row (whole files first).

        Columns: file, row_number (null = the whole file), column, value, reason.
        """
        return self.query(
            """
            SELECT file, row_number, "column", value, reason FROM rejects WHERE run_id = ?
            ORDER BY file, row_number NULLS FIRST, "column" LIMIT ?
            """,
            [run_id, rows],
        )

    def files_of_run(self, run_id: str) -> pl.DataFrame:
        """Every input file the run saw, skipped ones included, by kind and location.

        Columns: location, kind, status, rows_read, rows_loaded, rows_rejected, reason.
        """
        return self.query(
            """
            SELECT location, kind, status, rows_read, rows_loaded, rows_rejected, reason
            FROM ingested_files WHERE run_id = ? ORDER BY kind, location
            """,
            [run_id],
        )
