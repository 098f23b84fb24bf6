"""A run's identity and bookkeeping: started, finished or failed, and what it did."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime

from allocation.adapters.warehouse import Warehouse
from allocation.domain.policy import Policy
from allocation.domain.status import RunStatus
from allocation.faults import fault_point


@dataclass(frozen=True)
class RunContext:
    """Who a run is: its id, business date, policy and start time."""

    run_id: str
    run_date: date
    policy: Policy
    started_at: datetime


@dataclass(frozen=True)
class RunSummary:
    """What a run did, as recorded in `runs` and shown to the operator."""

    run_id: str
    run_date: date
    policy: str
    status: RunStatus
    files_read: int
    files_skipped: int
    files_rejected: int
    rows_read: int
    rows_loaded: int
    rows_rejected: int
    duplicate_lines: int
    lines_allocated_full: int
    lines_allocated_part: int
    lines_unallocated: int
    units_allocated: int
    units_short: int
    pick_list_lines: int


@dataclass(frozen=True)
class RunListing:
    """One row of the runs list: a nightly run or an operation."""

    run_id: str
    run_date: date
    policy: str
    status: RunStatus
    started_at: datetime
    finished_at: datetime | None
    published_at: datetime | None
    units_allocated: int
    units_short: int
    pick_list_lines: int
    reason: str | None


def new_run(run_date: date, policy: Policy, now: datetime | None = None) -> RunContext:
    """A fresh run id that sorts by time: `<run date>-<start time>-<random suffix>`."""
    started = now or datetime.now(UTC)
    run_id = f"{run_date:%Y%m%d}-{started:%H%M%S}-{uuid.uuid4().hex[:6]}"
    return RunContext(run_id, run_date, policy, started)


def start_run(warehouse: Warehouse, run: RunContext) -> None:
    """Record the run as running (inside the run's transaction)."""
    warehouse.start_run(run.run_id, run.run_date, str(run.policy), run.started_at)


def finish_run(warehouse: Warehouse, run: RunContext, figures: dict[str, int]) -> RunSummary:
    """Record the run's figures as committed and commit the run's transaction."""
    warehouse.finish_run(run.run_id, figures, datetime.now(UTC))
    fault_point("before-commit")
    warehouse.commit()
    return summary_of(warehouse, run.run_id)


def record_failure(warehouse: Warehouse, run: RunContext, reason: str) -> None:
    """Undo the run's changes, then record that it failed and why, in a transaction of its own."""
    warehouse.rollback()
    start_run(warehouse, run)
    warehouse.fail_run(run.run_id, reason, datetime.now(UTC))
    warehouse.commit()


def summary_of(warehouse: Warehouse, run_id: str) -> RunSummary:
    """Read a run's summary back from `runs` (the run must exist)."""
    row = warehouse.run(run_id)
    if row is None:
        raise LookupError(f"no run {run_id}")
    fields = {name: row[name] for name in RunSummary.__dataclass_fields__}
    return RunSummary(**{**fields, "status": RunStatus(row["status"])})


def recent_runs(warehouse: Warehouse, limit: int) -> list[RunListing]:
    """The most recent runs and operations, latest first."""
    listed = []
    for row in warehouse.recent_runs(limit).iter_rows(named=True):
        fields = {name: row[name] for name in RunListing.__dataclass_fields__}
        listed.append(RunListing(**{**fields, "status": RunStatus(row["status"])}))
    return listed
