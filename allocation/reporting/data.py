"""What one run's report shows, as read from the warehouse, and how much of it the page holds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import polars as pl

from allocation.adapters.report_reads import RunRecord

HISTORY_RUNS: Final = 30
"""Committed runs the fill rate chart goes back over (this one included)."""
TOP_SHORT_SKUS: Final = 10
"""SKUs the short chart and table show, shortest first."""
REJECT_ROWS: Final = 50
"""Rejected rows the page lists; the run's rejects file holds them all."""


@dataclass(frozen=True)
class RunReport:
    """Everything one run's page shows (frames as `allocation.adapters.report_reads` reads them)."""

    run: RunRecord
    history: pl.DataFrame
    """Fill rates of the last HISTORY_RUNS committed runs up to this one, oldest first."""
    short_skus: pl.DataFrame
    """The TOP_SHORT_SKUS shortest SKUs of the run, with their stock now."""
    stock_weeks: pl.DataFrame
    """Units of all batches now: in stock, then by week of eta."""
    rejects_by_check: pl.DataFrame
    """The run's rejects counted by column and check."""
    rejected_rows: pl.DataFrame
    """The run's first REJECT_ROWS rejects."""
    files: pl.DataFrame
    """Every input file the run saw, skipped ones included."""
