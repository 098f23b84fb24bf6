"""Publish a run's HTML report: read its figures, render the page, write it to the outbox.

The reads are the warehouse's (`allocation.adapters.report_reads`); the page is
`allocation.reporting`.
"""

from __future__ import annotations

from datetime import date

from allocation.adapters.report_reads import RunReportReads
from allocation.adapters.storage import ObjectStorage
from allocation.reporting import (
    HISTORY_RUNS,
    REJECT_ROWS,
    TOP_SHORT_SKUS,
    RunReport,
    render_report,
)


def report_key(run_id: str, run_date: date) -> str:
    """Return the report's key in the outbox: `reports/run_date=YYYY-MM-DD/<run_id>.html`."""
    return f"reports/run_date={run_date.isoformat()}/{run_id}.html"


def publish_run_report(warehouse: RunReportReads, outbox: ObjectStorage, run_id: str) -> str:
    """Render the run's report, write it to the outbox and return its location."""
    report = read_run_report(warehouse, run_id)
    key = report_key(run_id, report.run.run_date)
    outbox.write(key, render_report(report).encode())
    return outbox.describe(key)


def render_run_report(warehouse: RunReportReads, run_id: str) -> str:
    """The run's report as a complete HTML page."""
    return render_report(read_run_report(warehouse, run_id))


def read_run_report(warehouse: RunReportReads, run_id: str) -> RunReport:
    """Everything the run's report shows, read from the warehouse."""
    run = warehouse.run_record(run_id)
    if run is None:
        raise ValueError(f"no run {run_id!r} in the warehouse")
    return RunReport(
        run=run,
        history=warehouse.fill_rate_history(run, HISTORY_RUNS),
        short_skus=warehouse.top_short_skus(run_id, TOP_SHORT_SKUS),
        stock_weeks=warehouse.stock_by_week_of_eta(),
        rejects_by_check=warehouse.rejects_by_check(run_id),
        rejected_rows=warehouse.first_rejected_rows(run_id, REJECT_ROWS),
        files=warehouse.files_of_run(run_id),
    )
