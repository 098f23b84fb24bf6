"""The run report: its figures and chart marks agree with the warehouse, and it renders offline.

Figures are read back from the elements' ids and `data-*` attributes, then compared with the
views and history tables they come from, for the two nights of `analyst_scenario`.
"""

from __future__ import annotations

import html
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, date, datetime
from html.parser import HTMLParser
from importlib.resources import files
from pathlib import Path

import polars as pl
import pytest
from analyst_scenario import NIGHT_2, two_nights

from allocation.adapters.storage import MemoryStorage
from allocation.adapters.warehouse import DuckDBWarehouse
from allocation.domain.policy import Policy
from allocation.service_layer import runs
from allocation.service_layer.run_report import (
    publish_run_report,
    render_run_report,
    report_key,
)
from allocation.service_layer.runs import RunSummary

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SVG_NAMESPACE = "http://www.w3.org/2000/svg"


class Elements(HTMLParser):
    """Every start tag of a page with its attributes, and the text inside elements with an id."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.text: dict[str, str] = {}
        self._open: list[str | None] = []
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {k: v or "" for k, v in attrs}
        self.tags.append((tag, attributes))
        if tag not in {"meta", "br", "img", "input", "link"}:
            self._open.append(attributes.get("id"))
            if "id" in attributes:
                self.text[attributes["id"]] = ""

    def handle_endtag(self, tag: str) -> None:
        if self._open:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        for ident in self._open:
            if ident is not None:
                self.text[ident] += data

    def with_attribute(self, name: str) -> list[dict[str, str]]:
        return [attrs for _, attrs in self.tags if name in attrs]

    def by_id(self, ident: str) -> dict[str, str]:
        (found,) = [attrs for _, attrs in self.tags if attrs.get("id") == ident]
        return found


@pytest.fixture(scope="module")
def nights() -> Iterator[tuple[DuckDBWarehouse, list[RunSummary]]]:
    with two_nights() as result:
        yield result


@pytest.fixture(scope="module")
def page(nights: tuple[DuckDBWarehouse, list[RunSummary]]) -> str:
    warehouse, (_, second) = nights
    return render_run_report(warehouse, second.run_id)


def cells_of(page: str, table_id: str) -> list[str]:
    """The text of every body cell of the table with this id, row by row, unescaped."""
    table = re.search(rf'<table id="{table_id}">.*?</table>', page, re.S)
    assert table is not None, table_id
    return [html.unescape(cell) for cell in re.findall(r"<td[^>]*>(.*?)</td>", table.group(0))]


def run_row(warehouse: DuckDBWarehouse, run_id: str) -> dict[str, object]:
    return warehouse.query("SELECT * FROM run_history WHERE run_id = ?", [run_id]).row(
        0, named=True
    )


def a_run_with_only_rejects(
    warehouse: DuckDBWarehouse, value: str, reason: str, *, rows: int = 1
) -> str:
    """A committed run that read `rows` bad rows and allocated nothing (no batch, no line)."""
    run = runs.new_run(date(2026, 11, 28), Policy.SPLIT)
    runs.start_run(warehouse, run)
    warehouse.append(
        "rejects",
        pl.DataFrame(
            {
                "file": "order_lines/<night>.csv",
                "row_number": range(1, rows + 1),
                "column": "sku",
                "check": "not_blank",
                "value": value,
                "reason": reason,
            }
        ),
        run_id=run.run_id,
    )
    runs.finish_run(warehouse, run, {"rows_read": rows, "rows_rejected": rows, "files_read": 1})
    return run.run_id


# ---------------------------------------------------------------------------------------------
# Figures and chart marks against the warehouse
# ---------------------------------------------------------------------------------------------


def test_the_figures_are_the_runs_figures(
    nights: tuple[DuckDBWarehouse, list[RunSummary]], page: str
) -> None:
    warehouse, (_, second) = nights
    run = run_row(warehouse, second.run_id)
    elements = Elements(page)
    figures = {
        "line-fill-rate": "line_fill_rate",
        "unit-fill-rate": "unit_fill_rate",
        "units-allocated": "units_allocated",
        "units-short": "units_short",
        "pick-list-lines": "pick_list_lines",
        "lines-full": "lines_allocated_full",
        "lines-part": "lines_allocated_part",
        "lines-unallocated": "lines_unallocated",
        "rows-rejected": "rows_rejected",
        "files-read": "files_read",
    }
    for key, column in figures.items():
        value = float(elements.by_id(f"fig-{key}")["data-value"])
        assert value == pytest.approx(run[column]), key
    assert elements.text["fig-line-fill-rate"] == "66.7%"
    assert elements.text["fig-unit-fill-rate"] == "82.9%"
    assert elements.text["fig-units-short"] == "7"
    assert elements.text["run-id"] == second.run_id
    assert elements.text["run-status"] == "committed"


def test_the_fill_rate_chart_has_both_rates_of_every_committed_run_up_to_this_one(
    nights: tuple[DuckDBWarehouse, list[RunSummary]], page: str
) -> None:
    warehouse, _ = nights
    history = warehouse.query(
        "SELECT run_id, line_fill_rate, unit_fill_rate FROM run_history ORDER BY started_at"
    )
    points = Elements(page).with_attribute("data-series")
    for series, column in (("lines", "line_fill_rate"), ("units", "unit_fill_rate")):
        plotted = [
            (p["data-run-id"], float(p["data-value"])) for p in points if p["data-series"] == series
        ]
        assert plotted == list(history.select("run_id", column).iter_rows())


def test_the_first_nights_report_plots_only_the_first_night(
    nights: tuple[DuckDBWarehouse, list[RunSummary]],
) -> None:
    warehouse, (first, _) = nights
    points = Elements(render_run_report(warehouse, first.run_id)).with_attribute("data-series")
    assert {p["data-run-id"] for p in points} == {first.run_id}


def test_the_short_sku_bars_are_the_runs_shortages_by_sku(
    nights: tuple[DuckDBWarehouse, list[RunSummary]], page: str
) -> None:
    warehouse, (_, second) = nights
    shortages = warehouse.query(
        "SELECT sku, sum(short_qty)::BIGINT AS short FROM run_shortages WHERE run_id = ? "
        "GROUP BY sku ORDER BY short DESC, sku",
        [second.run_id],
    )
    bars = [
        (b["data-sku"], int(b["data-value"])) for b in Elements(page).with_attribute("data-sku")
    ]
    assert bars == list(shortages.iter_rows()) == [("CHAIR", 7)]


def test_the_short_sku_table_shows_stock_as_sku_summary_does(
    nights: tuple[DuckDBWarehouse, list[RunSummary]], page: str
) -> None:
    warehouse, _ = nights
    summary = warehouse.query(
        "SELECT in_stock, inbound, next_eta FROM sku_summary WHERE sku = 'CHAIR'"
    ).row(0)
    in_stock, inbound, next_eta = summary
    assert cells_of(page, "short-skus") == [
        "CHAIR",
        "7",
        "2",
        str(in_stock),
        str(inbound),
        next_eta.isoformat(),
    ]


def test_the_stock_bars_are_stock_in_hand_then_inbound_by_week_of_eta(page: str) -> None:
    stacks = [
        (s["data-week"], int(s["data-promised"]), int(s["data-free"]))
        for s in Elements(page).with_attribute("data-week")
    ]
    # In stock: chair 10 picked, lamp 3 + 4 picked and 1 free. Weeks start on Monday:
    # 2026-12-01 -> 11-30 (chair 20); 12-10 -> 12-07 (chair 5); 12-15 and 12-20 -> 12-14
    # (chair 4 reserved, sofa 1 reserved and 3 free).
    assert stacks == [
        ("in-stock", 17, 1),
        ("2026-11-30", 20, 0),
        ("2026-12-07", 5, 0),
        ("2026-12-14", 5, 3),
    ]


def test_the_reject_bars_count_the_runs_rejects_by_column_and_check(
    nights: tuple[DuckDBWarehouse, list[RunSummary]], page: str
) -> None:
    warehouse, (_, second) = nights
    by_reason = warehouse.query(
        """SELECT "column" || ': ' || "check" AS reason, count(*) AS n FROM rejects
        WHERE run_id = ? GROUP BY ALL ORDER BY n DESC, reason""",
        [second.run_id],
    )
    elements = Elements(page)
    bars = [
        (b["data-reason"], int(b["data-value"])) for b in elements.with_attribute("data-reason")
    ]
    assert bars == list(by_reason.iter_rows())
    assert "missing required column 'order_id'" in elements.text["rejects"]
    assert "night-2-no-order-id.csv" in elements.text["files"]


# ---------------------------------------------------------------------------------------------
# A page that stands on its own, whatever the data holds
# ---------------------------------------------------------------------------------------------


def test_the_page_fetches_nothing_and_runs_no_script(page: str) -> None:
    assert page.startswith("<!DOCTYPE html>")
    lowered = page.lower()
    for forbidden in ("<script", "<link", "<img", "@import", "url(", "src=", "@font-face"):
        assert forbidden not in lowered, forbidden
    assert set(re.findall(r"https?://[^\s\"'<>]+", page)) == {SVG_NAMESPACE}


def test_every_chart_is_well_formed_svg(page: str) -> None:
    charts = re.findall(r"<svg .*?</svg>", page, flags=re.DOTALL)
    assert len(charts) == 4
    for chart in charts:
        assert ET.fromstring(chart).tag == f"{{{SVG_NAMESPACE}}}svg"


def test_text_from_the_data_is_escaped() -> None:
    hostile = "<script>alert('x')</script> & \"quoted\""
    with DuckDBWarehouse(":memory:") as warehouse:
        run_id = a_run_with_only_rejects(warehouse, hostile, f"sku {hostile} is blank")
        page = render_run_report(warehouse, run_id)
    elements = Elements(page)
    assert "<script" not in page
    assert "script" not in {tag for tag, _ in elements.tags}
    assert cells_of(page, "rejects") == [
        "order_lines/<night>.csv",
        "1",
        "sku",
        hostile,
        f"sku {hostile} is blank",
    ]
    for chart in re.findall(r"<svg .*?</svg>", page, flags=re.DOTALL):
        ET.fromstring(chart)


def test_a_run_with_no_batches_lines_or_files_says_so_instead_of_drawing_empty_charts() -> None:
    with DuckDBWarehouse(":memory:") as warehouse:
        run_id = a_run_with_only_rejects(warehouse, "", "sku must not be blank")
        elements = Elements(render_run_report(warehouse, run_id))
    assert elements.text["fig-line-fill-rate"] == "\u2013"
    assert elements.by_id("fig-line-fill-rate")["data-value"] == ""
    assert "No line was short after this run." in elements.text["short"]
    assert "No batches yet." in elements.text["stock"]
    assert "No input file in the inbox." in elements.text["files"]


def test_the_page_lists_the_first_fifty_rejects_and_counts_the_rest() -> None:
    with DuckDBWarehouse(":memory:") as warehouse:
        run_id = a_run_with_only_rejects(warehouse, "", "sku must not be blank", rows=53)
        page = render_run_report(warehouse, run_id)
    elements = Elements(page)
    assert [int(b["data-value"]) for b in elements.with_attribute("data-reason")] == [53]
    listed_rows = cells_of(page, "rejects")[1::5]
    assert listed_rows == [str(n) for n in range(1, 51)]
    assert "\u2026 and 3 more in the run's rejects file." in elements.text["rejected"]


def test_the_page_carries_its_stylesheet_as_written() -> None:
    stylesheet = files("allocation.reporting").joinpath("templates", "report.css").read_text()
    assert "--ink: #1f2937" in stylesheet
    with DuckDBWarehouse(":memory:") as warehouse:
        run_id = a_run_with_only_rejects(warehouse, "", "sku must not be blank")
        page = render_run_report(warehouse, run_id)
    style = re.search(r"<style>(.*?)</style>", page, re.S)
    assert style is not None
    assert style.group(1).strip() == stylesheet.strip()


def test_a_failed_run_shows_why_it_failed() -> None:
    with DuckDBWarehouse(":memory:") as warehouse:
        run = runs.new_run(NIGHT_2, Policy.SPLIT)
        runs.start_run(warehouse, run)
        runs.record_failure(warehouse, run, "batches/x.csv: storage unavailable")
        elements = Elements(render_run_report(warehouse, run.run_id))
    assert elements.text["run-status"] == "failed"
    assert elements.text["run-reason"] == "batches/x.csv: storage unavailable"


def test_an_unknown_run_is_an_error() -> None:
    with DuckDBWarehouse(":memory:") as warehouse, pytest.raises(ValueError, match="no run"):
        render_run_report(warehouse, "20990101-000000-abcdef")


# ---------------------------------------------------------------------------------------------
# Publishing
# ---------------------------------------------------------------------------------------------


def test_the_report_key_sits_beside_the_runs_other_outputs() -> None:
    assert (
        report_key("20261127-010000-abc123", date(2026, 11, 27))
        == "reports/run_date=2026-11-27/20261127-010000-abc123.html"
    )


def test_publishing_writes_the_report_under_its_key_and_returns_where(
    nights: tuple[DuckDBWarehouse, list[RunSummary]], page: str
) -> None:
    warehouse, (_, second) = nights
    outbox = MemoryStorage()
    location = publish_run_report(warehouse, outbox, second.run_id)
    key = report_key(second.run_id, NIGHT_2)
    assert location == outbox.describe(key)
    assert outbox.read(key).decode() == page


# ---------------------------------------------------------------------------------------------
# In a real browser
# ---------------------------------------------------------------------------------------------


needs_chromium = pytest.mark.skipif(
    CHROMIUM is None,
    reason="chromium is not installed (apt-get install -y chromium); the browser check is skipped",
)


def chromium(page: str, tmp_path: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    """Open the page from a file in headless Chromium, offline, with a throwaway profile."""
    assert CHROMIUM is not None
    report = tmp_path / "report.html"
    report.write_text(page)
    browser = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            *arguments,
            report.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert browser.returncode == 0, browser.stderr[-2000:]
    return browser


@needs_chromium
def test_the_report_renders_in_headless_chromium(page: str, tmp_path: Path) -> None:
    screenshot = tmp_path / "report.png"
    started = datetime.now(UTC)
    chromium(page, tmp_path, f"--screenshot={screenshot}", "--window-size=1200,2000")
    data = screenshot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(data) > 20_000, f"screenshot of {len(data)} bytes: is the page blank?"
    assert (datetime.now(UTC) - started).total_seconds() < 120


@needs_chromium
def test_chromium_shows_the_run_id_and_its_headline_figures(
    nights: tuple[DuckDBWarehouse, list[RunSummary]], page: str, tmp_path: Path
) -> None:
    _, (_, second) = nights
    dom = Elements(chromium(page, tmp_path, "--dump-dom").stdout)
    assert dom.text["run-id"] == second.run_id
    assert dom.text["run-status"] == "committed"
    # The analyst scenario's second night: 4 of 6 lines in full, 34 of 41 units, 7 short.
    assert {key: dom.text[f"fig-{key}"] for key in ("line-fill-rate", "unit-fill-rate")} == {
        "line-fill-rate": "66.7%",
        "unit-fill-rate": "82.9%",
    }
    assert {
        key: dom.text[f"fig-{key}"]
        for key in ("units-allocated", "units-short", "lines-full", "rows-rejected")
    } == {"units-allocated": "34", "units-short": "7", "lines-full": "4", "rows-rejected": "3"}
    assert len(dom.with_attribute("data-series")) == 4  # two rates of two runs
    assert [s["data-week"] for s in dom.with_attribute("data-week")] == [
        "in-stock",
        "2026-11-30",
        "2026-12-07",
        "2026-12-14",
    ]
