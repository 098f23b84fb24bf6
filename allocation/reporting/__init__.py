"""The run report, presentation only: a run's figures in, one self-contained HTML page out.

`data` says what a page shows, `charts` lays its charts out, `render` fills the Jinja2
templates in `templates/` (the page, its chart macros and its CSS). Nothing here reads the
warehouse: `allocation.service_layer.run_report` reads, renders and writes.
"""

from allocation.reporting.data import HISTORY_RUNS, REJECT_ROWS, TOP_SHORT_SKUS, RunReport
from allocation.reporting.render import render_report

__all__ = ["HISTORY_RUNS", "REJECT_ROWS", "TOP_SHORT_SKUS", "RunReport", "render_report"]
