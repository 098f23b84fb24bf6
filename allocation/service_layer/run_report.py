"""The run report: one self-contained HTML page per run for the operations lead.

The page carries its own CSS and draws its charts as inline SVG, so it opens offline, from
the outbox or as an e-mail attachment, with no script, font or image to fetch. It shows the
run's figures, fill rate over the last 30 runs, the SKUs short, stock in hand against
inbound stock by week of eta, and the rows rejected, by reason.

Every figure is read from the analyst views (`allocation.adapters.views`) and the run's
history tables. Each figure and chart mark carries an `id` or `data-*` attribute, so the
page can be checked against the warehouse.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Final

import polars as pl

from allocation.adapters.storage import ObjectStorage
from allocation.adapters.views import sku_stock
from allocation.adapters.warehouse import DuckDBWarehouse as Warehouse  # reads SQL: DuckDB only

HISTORY_RUNS: Final = 30
TOP_SHORT_SKUS: Final = 10
STOCK_WEEKS: Final = 12
REJECT_ROWS: Final = 50
NO_VALUE: Final = "\u2013"  # an en dash where a figure is missing

LINES_COLOUR: Final = "#2563eb"
UNITS_COLOUR: Final = "#d97706"
SHORT_COLOUR: Final = "#dc2626"
REJECT_COLOUR: Final = "#7c3aed"
PROMISED_COLOUR: Final = "#0f766e"
FREE_COLOUR: Final = "#99d5cc"


def report_key(run_id: str, run_date: date) -> str:
    """Return the report's key in the outbox: `reports/run_date=YYYY-MM-DD/<run_id>.html`."""
    return f"reports/run_date={run_date.isoformat()}/{run_id}.html"


def publish_run_report(warehouse: Warehouse, outbox: ObjectStorage, run_id: str) -> str:
    """Render the run's report, write it to the outbox and return its location."""
    run_date = _run(warehouse, run_id)["run_date"]
    key = report_key(run_id, run_date)
    outbox.write(key, render_run_report(warehouse, run_id).encode())
    return outbox.describe(key)


def render_run_report(warehouse: Warehouse, run_id: str) -> str:
    """Render the run's report as a complete HTML page (inline CSS and SVG, no script)."""
    run = _run(warehouse, run_id)
    title = f"Nightly allocation {run_id}"
    body = [
        _header(run),
        _failure(run),
        _figures(run),
        _section(
            "Fill rate, last runs",
            "Share of the lines (in full) and of the units that still lacked stock when "
            "each run planned, that the run allocated. The newest run is ringed.",
            _fill_rate_chart(_history(warehouse, run)),
            section_id="fill-rate",
        ),
        '<div class="pair">',
        _short_skus(warehouse, run_id),
        _stock_by_week(warehouse),
        "</div>",
        _rejects(warehouse, run_id),
        _files(warehouse, run_id),
    ]
    return _page(title, "\n".join(part for part in body if part))


# ---------------------------------------------------------------------------------------------
# Reading the warehouse
# ---------------------------------------------------------------------------------------------


def _run(warehouse: Warehouse, run_id: str) -> dict[str, Any]:
    rows = warehouse.query("SELECT * FROM run_history WHERE run_id = ?", [run_id])
    if not rows.height:
        raise ValueError(f"no run {run_id!r} in the warehouse")
    return rows.row(0, named=True)


def _history(warehouse: Warehouse, run: dict[str, Any]) -> pl.DataFrame:
    """Read the last committed runs up to this one (itself if committed), oldest first."""
    return warehouse.query(
        """
        SELECT run_id, run_date, line_fill_rate, unit_fill_rate FROM run_history
        WHERE status = 'committed'
          AND (started_at < ? OR (started_at = ? AND run_id <= ?))
        ORDER BY started_at DESC, run_id DESC LIMIT ?
        """,
        [run["started_at"], run["started_at"], run["run_id"], HISTORY_RUNS],
    ).reverse()


# ---------------------------------------------------------------------------------------------
# Sections
# ---------------------------------------------------------------------------------------------


def _header(run: dict[str, Any]) -> str:
    status = str(run["status"])
    facts = [
        ("Run date", _date(run["run_date"])),
        ("Policy", str(run["policy"])),
        ("Started", _time(run["started_at"])),
        ("Finished", _time(run["finished_at"])),
        ("Duration", _duration(run["duration_s"])),
        ("Published", _time(run["published_at"])),
    ]
    items = "".join(f"<div><dt>{_e(k)}</dt><dd>{_e(v)}</dd></div>" for k, v in facts)
    return (
        "<header>"
        f'<p class="eyebrow">Nightly allocation report</p>'
        f'<h1>Run <span id="run-id">{_e(run["run_id"])}</span> '
        f'<span class="badge badge-{_e(status)}" id="run-status">{_e(status)}</span></h1>'
        f'<dl class="facts">{items}</dl>'
        "</header>"
    )


def _failure(run: dict[str, Any]) -> str:
    if run["status"] != "failed":
        return ""
    return (
        '<div class="alert" role="alert"><strong>This run failed</strong> and changed nothing. '
        f'Reason: <span id="run-reason">{_e(run["reason"] or "not recorded")}</span></div>'
    )


@dataclass(frozen=True)
class _Figure:
    key: str
    label: str
    value: int | float | None
    text: str
    note: str = ""


def _figures(run: dict[str, Any]) -> str:
    """Show the run's headline figures as cards, each with an id and its exact value."""

    def count(key: str, label: str, column: str, note: str = "") -> _Figure:
        return _Figure(key, label, run[column], _count(run[column]), note)

    figures = [
        _Figure(
            "line-fill-rate",
            "Line fill rate",
            run["line_fill_rate"],
            _percent(run["line_fill_rate"]),
            f"{run['lines_allocated_full']} of {run['demand_lines']} lines in full",
        ),
        _Figure(
            "unit-fill-rate",
            "Unit fill rate",
            run["unit_fill_rate"],
            _percent(run["unit_fill_rate"]),
            f"{_count(run['units_allocated'])} of {_count(run['units_demanded'])} units",
        ),
        count("units-allocated", "Units allocated", "units_allocated", "picked or reserved"),
        count("units-short", "Units short", "units_short", "still lacking stock"),
        count("pick-list-lines", "Pick-list lines", "pick_list_lines", "sent to the WMS"),
        count("lines-full", "Lines filled in full", "lines_allocated_full"),
        count("lines-part", "Lines part-filled", "lines_allocated_part"),
        count("lines-unallocated", "Lines with nothing", "lines_unallocated"),
        count(
            "rows-rejected",
            "Rows rejected",
            "rows_rejected",
            f"of {_count(run['rows_read'])} read; {_count(run['rows_loaded'])} loaded",
        ),
        count(
            "files-read",
            "Files read",
            "files_read",
            f"{run['files_skipped']} skipped, {run['files_rejected']} rejected whole",
        ),
    ]
    cards = "".join(
        f'<div class="card"><div class="label">{_e(f.label)}</div>'
        f'<div class="value" id="fig-{f.key}" data-value="{_e(_raw(f.value))}">{_e(f.text)}'
        "</div>" + (f'<div class="note">{_e(f.note)}</div>' if f.note else "") + "</div>"
        for f in figures
    )
    return f'<section class="cards" aria-label="Figures">{cards}</section>'


def _short_skus(warehouse: Warehouse, run_id: str) -> str:
    # The top SKUs are found first and only their batches summed: joining `sku_summary`
    # summed every SKU's batches, allocations and lines (8 s at 10M lines).
    short = warehouse.query(
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
        [run_id, TOP_SHORT_SKUS],
    )
    if not short.height:
        return _section(
            "Top short SKUs", "", _empty("No line was short after this run."), section_id="short"
        )
    chart = _bar_chart(
        [(str(r["sku"]), int(r["short"])) for r in short.iter_rows(named=True)],
        colour=SHORT_COLOUR,
        chart_id="short-skus-chart",
        data_name="sku",
        unit="units",
    )
    table = _table(
        ["SKU", "short", "lines", "in stock", "inbound", "next eta"],
        [
            [r["sku"], r["short"], r["lines"], r["in_stock"], r["inbound"], _date(r["next_eta"])]
            for r in short.iter_rows(named=True)
        ],
        table_id="short-skus",
        numeric={1, 2, 3, 4},
        wrap={0},
    )
    return _section(
        "Top short SKUs",
        "Units still lacking stock after this run, by SKU; stock and inbound as of now.",
        chart + table,
        section_id="short",
    )


def _stock_by_week(warehouse: Warehouse) -> str:
    """Stock in hand, then inbound stock by week of eta: promised part and free part."""
    weeks = warehouse.query(
        """
        SELECT CASE WHEN in_stock THEN NULL ELSE date_trunc('week', eta)::DATE END AS week,
               CAST(sum(purchased) AS BIGINT) AS purchased,
               CAST(sum(allocated) AS BIGINT) AS allocated,
               CAST(sum(available) AS BIGINT) AS available
        FROM batch_availability GROUP BY week ORDER BY week NULLS FIRST
        """
    )
    if not weeks.height:
        return _section(
            "Stock in hand and inbound by week of eta",
            "",
            _empty("No batches yet."),
            section_id="stock",
        )
    bars: list[tuple[str, str, int, int]] = []
    rows = list(weeks.iter_rows(named=True))
    for row in rows[: STOCK_WEEKS + 1]:
        week = row["week"]
        label = "In stock" if week is None else f"{week.day} {week:%b}"
        key = "in-stock" if week is None else week.isoformat()
        bars.append((key, label, int(row["allocated"]), int(row["available"])))
    if len(rows) > STOCK_WEEKS + 1:
        later = rows[STOCK_WEEKS + 1 :]
        bars.append(
            (
                "later",
                "Later",
                sum(int(r["allocated"]) for r in later),
                sum(int(r["available"]) for r in later),
            )
        )
    return _section(
        "Stock in hand and inbound by week of eta",
        "Units per week of arrival, labelled by the Monday the week starts: promised to lines "
        "(picked or reserved) and still free.",
        _stacked_chart(bars),
        section_id="stock",
    )


def _rejects(warehouse: Warehouse, run_id: str) -> str:
    by_reason = warehouse.query(
        """
        SELECT coalesce("column", '') || ': ' || "check" AS reason, count(*) AS rejects
        FROM rejects WHERE run_id = ? GROUP BY ALL ORDER BY rejects DESC, reason
        """,
        [run_id],
    )
    if not by_reason.height:
        return _section(
            "Rejected rows", "", _empty("Nothing was rejected in this run."), section_id="rejected"
        )
    rows = warehouse.query(
        """
        SELECT file, row_number, "column", value, reason FROM rejects WHERE run_id = ?
        ORDER BY file, row_number NULLS FIRST, "column"
        """,
        [run_id],
    )
    chart = _bar_chart(
        [(str(r["reason"]), int(r["rejects"])) for r in by_reason.iter_rows(named=True)],
        colour=REJECT_COLOUR,
        chart_id="rejects-chart",
        data_name="reason",
        unit="rejects",
        width=900,
        label_w=320,
    )
    table = _table(
        ["file", "row", "column", "value", "reason"],
        [
            [
                r["file"],
                "whole file" if r["row_number"] is None else r["row_number"],
                r["column"],
                r["value"],
                r["reason"],
            ]
            for r in rows.head(REJECT_ROWS).iter_rows(named=True)
        ],
        table_id="rejects",
        numeric={1},
        wrap={3, 4},
    )
    more = (
        f'<p class="muted">… and {rows.height - REJECT_ROWS} more in the run\'s rejects file.</p>'
        if rows.height > REJECT_ROWS
        else ""
    )
    return _section(
        "Rejected rows, by column and check",
        "One reject per failed check; a file rejected whole counts once.",
        chart + table + more,
        section_id="rejected",
    )


def _files(warehouse: Warehouse, run_id: str) -> str:
    """The files the run read; those skipped as already ingested are only counted."""
    files = warehouse.query(
        """
        SELECT location, kind, status, rows_read, rows_loaded, rows_rejected, reason
        FROM ingested_files WHERE run_id = ? ORDER BY kind, location
        """,
        [run_id],
    )
    read = files.filter(pl.col("status") != "skipped")
    skipped = files.height - read.height
    note = (
        f'<p class="muted" id="files-skipped" data-value="{skipped}">{skipped} file'
        f"{'' if skipped == 1 else 's'} in the inbox skipped: already ingested by an earlier "
        "run.</p>"
        if skipped
        else ""
    )
    if not read.height:
        text = "No new input file in the inbox." if skipped else "No input file in the inbox."
        return _section("Input files", "", _empty(text) + note, section_id="files")
    table = _table(
        ["file", "kind", "status", "read", "loaded", "rejected", "reason"],
        [list(r) for r in read.iter_rows()],
        table_id="files-read",
        numeric={3, 4, 5},
        wrap={0, 6},
    )
    return _section("Input files", "", table + note, section_id="files")


# ---------------------------------------------------------------------------------------------
# Charts (inline SVG)
# ---------------------------------------------------------------------------------------------


def _fill_rate_chart(history: pl.DataFrame) -> str:
    """Line and unit fill rate per run, 0-100 %, the newest run ringed."""
    if not history.height:
        return _empty("No committed run yet.")
    width, height = 1000, 260
    left, right, top, bottom = 48, 32, 34, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    n = history.height

    def x(i: int) -> float:
        return left + (plot_w / 2 if n == 1 else plot_w * i / (n - 1))

    def y(rate: float) -> float:
        return top + plot_h * (1 - rate)

    parts = [_svg_open(width, height, "fill-rate-chart", "Fill rate of lines and units per run")]
    for tick in (0, 0.25, 0.5, 0.75, 1):
        parts.append(
            f'<line class="grid" x1="{left}" x2="{width - right}" y1="{y(tick):.1f}" '
            f'y2="{y(tick):.1f}"/>'
            f'<text class="axis" x="{left - 8}" y="{y(tick) + 4:.1f}" text-anchor="end">'
            f"{tick:.0%}</text>"
        )
    step = max(1, -(-n // 10))
    rows = list(history.iter_rows(named=True))
    for i, row in enumerate(rows):
        if (n - 1 - i) % step == 0:
            parts.append(
                f'<text class="axis" x="{x(i):.1f}" y="{height - bottom + 18}" '
                f'text-anchor="middle">{_e(format(row["run_date"], "%d %b"))}</text>'
            )
    for name, column, colour in (
        ("lines", "line_fill_rate", LINES_COLOUR),
        ("units", "unit_fill_rate", UNITS_COLOUR),
    ):
        points = [(x(i), y(float(r[column]))) for i, r in enumerate(rows) if r[column] is not None]
        if len(points) > 1:
            path = " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
            parts.append(
                f'<polyline fill="none" stroke="{colour}" stroke-width="2.5" '
                f'stroke-linejoin="round" points="{path}"/>'
            )
        for i, r in enumerate(rows):
            rate = r[column]
            if rate is None:
                continue
            newest = i == n - 1
            parts.append(
                f'<circle class="point" cx="{x(i):.1f}" cy="{y(float(rate)):.1f}" '
                f'r="{5 if newest else 3.5}" fill="{colour}" '
                f'data-series="{name}" data-run-id="{_e(r["run_id"])}" data-value="{rate!r}">'
                f"<title>{_e(r['run_id'])} ({_e(_date(r['run_date']))}): "
                f"{_e(_percent(rate))} of {name}</title></circle>"
            )
            if newest:
                parts.append(
                    f'<circle cx="{x(i):.1f}" cy="{y(float(rate)):.1f}" r="9" fill="none" '
                    f'stroke="{colour}" stroke-width="1.5"/>'
                )
    parts.append(_legend([("lines in full", LINES_COLOUR), ("units", UNITS_COLOUR)], left, 14))
    parts.append("</svg>")
    return "".join(parts)


def _bar_chart(
    bars: Sequence[tuple[str, int]],
    *,
    colour: str,
    chart_id: str,
    data_name: str,
    unit: str,
    width: int = 500,
    label_w: int = 150,
) -> str:
    """Horizontal bars, one per label, in the order given."""
    row_h, value_w = 28, 56
    clip = max(8, int(label_w / 7.4))
    height = row_h * len(bars) + 8
    scale = _nice_max(max(v for _, v in bars))
    plot_w = width - label_w - value_w
    parts = [_svg_open(width, height, chart_id, f"{unit} by {data_name}")]
    for i, (label, value) in enumerate(bars):
        top = 4 + i * row_h
        bar_w = plot_w * value / scale if scale else 0
        parts.append(
            f'<text class="label" x="{label_w - 8}" y="{top + row_h / 2 + 4:.1f}" '
            f'text-anchor="end">{_e(_clip(label, clip))}<title>{_e(label)}</title></text>'
            f'<rect class="bar" x="{label_w}" y="{top + 4}" width="{bar_w:.1f}" '
            f'height="{row_h - 8}" rx="3" fill="{colour}" data-{data_name}="{_e(label)}" '
            f'data-value="{value}"><title>{_e(label)}: {value} {_e(unit)}</title></rect>'
            f'<text class="value" x="{label_w + bar_w + 6:.1f}" y="{top + row_h / 2 + 4:.1f}">'
            f"{_e(_count(value))}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _stacked_chart(bars: Sequence[tuple[str, str, int, int]]) -> str:
    """Vertical bars (key, label, promised, free), promised at the bottom."""
    crowded = len(bars) > 6
    width, height = 520, 300 if crowded else 280
    left, right, top, bottom = 48, 8, 34, 68 if crowded else 48
    plot_w, plot_h = width - left - right, height - top - bottom
    scale = _nice_max(max(p + f for _, _, p, f in bars))
    slot = plot_w / len(bars)
    bar_w = min(56.0, slot * 0.7)
    parts = [_svg_open(width, height, "stock-chart", "Stock in hand and inbound by week")]
    for tick in range(5):
        value = scale * tick / 4
        ty = top + plot_h * (1 - tick / 4)
        parts.append(
            f'<line class="grid" x1="{left}" x2="{width - right}" y1="{ty:.1f}" y2="{ty:.1f}"/>'
            f'<text class="axis" x="{left - 8}" y="{ty + 4:.1f}" text-anchor="end">'
            f"{_e(_count(round(value)))}</text>"
        )
    for i, (key, label, promised, free) in enumerate(bars):
        bx = left + slot * i + (slot - bar_w) / 2
        promised_h = plot_h * promised / scale if scale else 0
        free_h = plot_h * free / scale if scale else 0
        base = top + plot_h
        parts.append(
            f'<g class="stack" data-week="{_e(key)}" data-promised="{promised}" '
            f'data-free="{free}"><title>{_e(label)}: {promised} promised, {free} free</title>'
            f'<rect x="{bx:.1f}" y="{base - promised_h:.1f}" width="{bar_w:.1f}" '
            f'height="{promised_h:.1f}" fill="{PROMISED_COLOUR}"/>'
            f'<rect x="{bx:.1f}" y="{base - promised_h - free_h:.1f}" width="{bar_w:.1f}" '
            f'height="{free_h:.1f}" fill="{FREE_COLOUR}"/>'
            f'<text class="value" x="{bx + bar_w / 2:.1f}" '
            f'y="{base - promised_h - free_h - 5:.1f}" text-anchor="middle">'
            f"{_e(_count(promised + free))}</text>"
            + _axis_label(bx + bar_w / 2, base, label, rotate=crowded)
            + "</g>"
        )
    parts.append(
        _legend(
            [("promised (picked or reserved)", PROMISED_COLOUR), ("free", FREE_COLOUR)], left, 14
        )
    )
    parts.append("</svg>")
    return "".join(parts)


def _axis_label(x: float, base: float, label: str, *, rotate: bool) -> str:
    if not rotate:
        return (
            f'<text class="axis" x="{x:.1f}" y="{base + 18}" text-anchor="middle">'
            f"{_e(label)}</text>"
        )
    return (
        f'<text class="axis" x="{x:.1f}" y="{base + 14}" text-anchor="end" '
        f'transform="rotate(-40 {x:.1f} {base + 14})">{_e(label)}</text>'
    )


def _svg_open(width: int, height: int, chart_id: str, title: str) -> str:
    return (
        f'<svg id="{_e(chart_id)}" class="chart" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{_e(title)}" '
        f'xmlns="http://www.w3.org/2000/svg">'
    )


def _legend(entries: Sequence[tuple[str, str]], x: float, y: float) -> str:
    parts = []
    for label, colour in entries:
        parts.append(
            f'<rect x="{x:.1f}" y="{y - 9}" width="12" height="12" rx="2" fill="{colour}"/>'
            f'<text class="legend" x="{x + 18:.1f}" y="{y + 1}">{_e(label)}</text>'
        )
        x += 30 + 7.2 * len(label)
    return "".join(parts)


def _nice_max(value: float) -> float:
    """Round up to the next 1, 2, 2.5 or 5 x 10^k, for an axis (1 when there is nothing)."""
    if value <= 0:
        return 1.0
    magnitude = 1.0
    while magnitude * 10 < value:
        magnitude *= 10
    while magnitude > value:
        magnitude /= 10
    for step in (1, 2, 2.5, 5, 10):
        if magnitude * step >= value:
            return magnitude * step
    return magnitude * 10  # pragma: no cover - the loop always returns


# ---------------------------------------------------------------------------------------------
# HTML pieces and formatting
# ---------------------------------------------------------------------------------------------


def _section(title: str, intro: str, content: str, *, section_id: str | None = None) -> str:
    ident = f' id="{_e(section_id)}"' if section_id else ""
    lead = f'<p class="muted">{_e(intro)}</p>' if intro else ""
    return f"<section{ident}><h2>{_e(title)}</h2>{lead}{content}</section>"


def _table(
    header: Sequence[str],
    rows: Sequence[Sequence[object]],
    *,
    table_id: str,
    numeric: set[int],
    wrap: set[int] | None = None,
) -> str:
    """A table; `numeric` columns align right, only `wrap` columns (free text) wrap."""

    def cell(tag: str, i: int, value: object) -> str:
        classes = ["num"] if i in numeric else []
        if tag == "td" and i in (wrap or set()):
            classes.append("wrap")
        cls = f' class="{" ".join(classes)}"' if classes else ""
        return f"<{tag}{cls}>{_e('' if value is None else value)}</{tag}>"

    head = "".join(cell("th", i, h) for i, h in enumerate(header))
    body = "".join(
        "<tr>" + "".join(cell("td", i, v) for i, v in enumerate(row)) + "</tr>" for row in rows
    )
    return (
        f'<div class="table-wrap"><table id="{_e(table_id)}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table></div>"
    )


def _empty(text: str) -> str:
    return f'<p class="empty">{_e(text)}</p>'


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _raw(value: int | float | None) -> str:
    return "" if value is None else repr(value)


def _clip(text: str, length: int) -> str:
    return text if len(text) <= length else text[: length - 1] + "…"


def _count(value: int | None) -> str:
    return NO_VALUE if value is None else f"{value:,}"


def _percent(rate: float | None) -> str:
    return NO_VALUE if rate is None else f"{rate:.1%}"


def _date(value: date | None) -> str:
    return NO_VALUE if value is None else value.isoformat()


def _time(value: datetime | None) -> str:
    return NO_VALUE if value is None else f"{value:%Y-%m-%d %H:%M:%S %Z}".strip()


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return NO_VALUE
    return str(timedelta(seconds=round(seconds))) if seconds >= 60 else f"{seconds:.1f} s"


CSS: Final = """
:root {
  --ink: #1f2937; --muted: #6b7280; --line: #e5e7eb; --paper: #ffffff; --wash: #f8fafc;
  --accent: #2563eb;
}
* { box-sizing: border-box; }
html { background: var(--wash); }
body {
  margin: 0 auto; max-width: 1120px; padding: 32px 28px 48px; color: var(--ink);
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
        "Noto Sans", "Liberation Sans", sans-serif;
  font-variant-numeric: tabular-nums;
}
header { margin-bottom: 20px; }
.eyebrow { margin: 0; color: var(--muted); font-size: 13px; letter-spacing: .06em;
  text-transform: uppercase; }
h1 { margin: 2px 0 12px; font-size: 26px; font-weight: 650; letter-spacing: -.01em; }
h2 { margin: 0 0 4px; font-size: 17px; font-weight: 620; }
.badge { display: inline-block; vertical-align: middle; margin-left: 8px; padding: 2px 10px;
  border-radius: 999px; font-size: 13px; font-weight: 600; background: #e5e7eb; }
.badge-committed { background: #dcfce7; color: #166534; }
.badge-failed { background: #fee2e2; color: #991b1b; }
.badge-running { background: #fef9c3; color: #854d0e; }
.facts { display: flex; flex-wrap: wrap; gap: 6px 28px; margin: 0; }
.facts dt { color: var(--muted); font-size: 12px; }
.facts dd { margin: 0; font-size: 14px; }
.alert { margin: 0 0 20px; padding: 12px 16px; border-radius: 8px; background: #fef2f2;
  border: 1px solid #fecaca; color: #7f1d1d; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(170px, 1fr));
  gap: 12px; margin-bottom: 20px; }
.card { background: var(--paper); border: 1px solid var(--line); border-radius: 10px;
  padding: 12px 14px; }
.card .label { color: var(--muted); font-size: 13px; }
.card .value { font-size: 26px; font-weight: 650; line-height: 1.25; }
.card .note { color: var(--muted); font-size: 12px; }
section { background: var(--paper); border: 1px solid var(--line); border-radius: 10px;
  padding: 18px 20px; margin-bottom: 20px; }
.cards { background: none; border: 0; padding: 0; }
.pair { display: grid; grid-template-columns: repeat(auto-fit, minmax(440px, 1fr));
  gap: 20px; }
.pair section { margin-bottom: 20px; }
.muted, .empty { color: var(--muted); font-size: 13px; margin: 0 0 12px; }
.empty { font-style: italic; }
svg.chart { display: block; max-width: 100%; height: auto; margin: 4px 0 8px; }
svg text { font-family: inherit; fill: var(--ink); }
svg .axis { font-size: 12px; fill: var(--muted); }
svg .legend, svg .label { font-size: 13px; }
svg .value { font-size: 12px; font-weight: 600; }
svg .grid { stroke: var(--line); stroke-width: 1; }
.table-wrap { overflow-x: auto; }
table { width: 100%; border-collapse: collapse; font-size: 13px; }
th, td { white-space: nowrap; }
td.wrap { white-space: normal; }
th { text-align: left; color: var(--muted); font-weight: 600; border-bottom: 1px solid var(--line);
  padding: 6px 10px 6px 0; }
td { border-bottom: 1px solid #f1f5f9; padding: 6px 10px 6px 0; vertical-align: top; }
.num { text-align: right; }
@media print { html { background: none; } section, .card { break-inside: avoid; } }
"""


def _page(title: str, body: str) -> str:
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_e(title)}</title>\n<style>{CSS}</style>\n</head>\n"
        f"<body>\n{body}\n</body>\n</html>\n"
    )
