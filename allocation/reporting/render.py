"""Render a run's report as one self-contained HTML page, from `templates/report.html.j2`.

The page carries its own CSS (`templates/report.css`, inlined) and draws its charts as inline
SVG, so it opens offline, from the outbox or as an e-mail attachment, with no script, font or
image to fetch. Each figure and chart mark carries an `id` or `data-*` attribute, so the page
can be checked against the warehouse. Autoescaping is on: text from the data is never markup.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import jinja2
import polars as pl

from allocation.adapters.report_reads import RunRecord
from allocation.domain.status import FileStatus
from allocation.reporting import charts, formats
from allocation.reporting.data import REJECT_ROWS, RunReport


@dataclass(frozen=True)
class Figure:
    """A headline figure's card: `fig-<key>` holds the text, `data-value` the exact value."""

    key: str
    label: str
    value: int | float | None
    text: str
    note: str = ""


@dataclass(frozen=True)
class Cell:
    """A table cell's text and CSS classes (`num` aligns right, `wrap` lets free text wrap)."""

    text: str
    classes: str


@dataclass(frozen=True)
class Table:
    """A table with an id; its header and rows as cells."""

    table_id: str
    header: tuple[Cell, ...]
    rows: tuple[tuple[Cell, ...], ...]


def render_report(report: RunReport) -> str:
    """The run's report as a complete HTML page (inline CSS and SVG, no script)."""
    history = [
        charts.RunRates(r["run_id"], r["run_date"], r["line_fill_rate"], r["unit_fill_rate"])
        for r in report.history.iter_rows(named=True)
    ]
    short = list(report.short_skus.iter_rows(named=True))
    weeks = [
        (r["week"], int(r["allocated"]), int(r["available"]))
        for r in report.stock_weeks.iter_rows(named=True)
    ]
    by_check = [(str(reason), int(n)) for reason, n in report.rejects_by_check.iter_rows()]
    read = report.files.filter(pl.col("status") != FileStatus.SKIPPED)
    return (
        _environment()
        .get_template("report.html.j2")
        .render(
            run=report.run,
            figures=headline_figures(report.run),
            fill_rate=charts.fill_rate_chart(history),
            short_chart=short_skus_chart(short) if short else None,
            short_table=short_skus_table(short),
            stock_chart=charts.stacked_chart(charts.stock_stacks(weeks)) if weeks else None,
            rejects_chart=rejects_chart(by_check) if by_check else None,
            rejects_table=rejects_table(report.rejected_rows.head(REJECT_ROWS)),
            # Every reject is counted under one check, so these counts sum to the run's rejects.
            rejects_not_listed=max(0, sum(n for _, n in by_check) - REJECT_ROWS),
            files_table=table(
                "files-read",
                ["file", "kind", "status", "read", "loaded", "rejected", "reason"],
                list(read.iter_rows()),
                numeric={3, 4, 5},
                wrap={0, 6},
            ),
            files_skipped=report.files.height - read.height,
        )
    )


def short_skus_chart(short: Sequence[dict[str, Any]]) -> charts.BarChart:
    """Units short per SKU, as bars marked `data-sku`."""
    return charts.bar_chart(
        [(str(r["sku"]), int(r["short"])) for r in short],
        colour=charts.SHORT_COLOUR,
        chart_id="short-skus-chart",
        data_name="sku",
        unit="units",
    )


def short_skus_table(short: Sequence[dict[str, Any]]) -> Table:
    """The short SKUs with their stock now and their next eta."""
    return table(
        "short-skus",
        ["SKU", "short", "lines", "in stock", "inbound", "next eta"],
        [
            (
                r["sku"],
                r["short"],
                r["lines"],
                r["in_stock"],
                r["inbound"],
                formats.day(r["next_eta"]),
            )
            for r in short
        ],
        numeric={1, 2, 3, 4},
        wrap={0},
    )


def rejects_chart(by_check: Sequence[tuple[str, int]]) -> charts.BarChart:
    """Rejects per `column: check`, as wide bars marked `data-reason`."""
    return charts.bar_chart(
        by_check,
        colour=charts.REJECT_COLOUR,
        chart_id="rejects-chart",
        data_name="reason",
        unit="rejects",
        width=900,
        label_w=320,
    )


def rejects_table(rows: pl.DataFrame) -> Table:
    """Rejected rows: file, row (or "whole file"), column, value and reason."""
    return table(
        "rejects",
        ["file", "row", "column", "value", "reason"],
        [
            (file, "whole file" if row is None else row, column, value, reason)
            for file, row, column, value, reason in rows.iter_rows()
        ],
        numeric={1},
        wrap={3, 4},
    )


def headline_figures(run: RunRecord) -> list[Figure]:
    """The run's headline figures, in the order their cards appear."""

    def count(key: str, label: str, value: int | None, note: str = "") -> Figure:
        return Figure(key, label, value, formats.thousands(value), note)

    return [
        Figure(
            "line-fill-rate",
            "Line fill rate",
            run.line_fill_rate,
            formats.percent(run.line_fill_rate),
            f"{run.lines_allocated_full} of {run.demand_lines} lines in full",
        ),
        Figure(
            "unit-fill-rate",
            "Unit fill rate",
            run.unit_fill_rate,
            formats.percent(run.unit_fill_rate),
            f"{formats.thousands(run.units_allocated)} of "
            f"{formats.thousands(run.units_demanded)} units",
        ),
        count("units-allocated", "Units allocated", run.units_allocated, "picked or reserved"),
        count("units-short", "Units short", run.units_short, "still lacking stock"),
        count("pick-list-lines", "Pick-list lines", run.pick_list_lines, "sent to the WMS"),
        count("lines-full", "Lines filled in full", run.lines_allocated_full),
        count("lines-part", "Lines part-filled", run.lines_allocated_part),
        count("lines-unallocated", "Lines with nothing", run.lines_unallocated),
        count(
            "rows-rejected",
            "Rows rejected",
            run.rows_rejected,
            f"of {formats.thousands(run.rows_read)} read; "
            f"{formats.thousands(run.rows_loaded)} loaded",
        ),
        count(
            "files-read",
            "Files read",
            run.files_read,
            f"{run.files_skipped} skipped, {run.files_rejected} rejected whole",
        ),
    ]


def table(
    table_id: str,
    header: Sequence[str],
    rows: Sequence[Sequence[object]],
    *,
    numeric: set[int],
    wrap: set[int],
) -> Table:
    """A table whose `numeric` columns align right and whose `wrap` cells (free text) wrap."""

    def cell(i: int, value: object, *, heading: bool = False) -> Cell:
        classes = ["num"] if i in numeric else []
        if not heading and i in wrap:
            classes.append("wrap")
        return Cell("" if value is None else str(value), " ".join(classes))

    return Table(
        table_id,
        tuple(cell(i, h, heading=True) for i, h in enumerate(header)),
        tuple(tuple(cell(i, v) for i, v in enumerate(row)) for row in rows),
    )


@functools.cache
def _environment() -> jinja2.Environment:
    """The templates' environment, built on first use (reading the package's templates)."""
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("allocation.reporting", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters.update(
        thousands=formats.thousands,
        percent=formats.percent,
        day=formats.day,
        timestamp=formats.timestamp,
        duration=formats.duration,
        coordinate=formats.coordinate,
    )
    return environment
