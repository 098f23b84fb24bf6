"""The night, stage by stage: the one sequence both the Prefect flow and plain Python run.

`run_night` opens the warehouse, runs the stages in order inside one transaction, commits,
then publishes. The stages are passed in, so the Prefect flow hands over its tasks (with
retries, states and logs) and tests or benchmarks hand over the plain functions: one
sequence, two ways to run it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date

from allocation.adapters.publisher import ParquetPublisher
from allocation.adapters.storage import open_storage
from allocation.adapters.warehouse import DuckDBWarehouse, Warehouse
from allocation.domain.policy import Policy
from allocation.domain.status import FileStatus
from allocation.faults import fault_point
from allocation.service_layer import allocating, inbox, loading, publishing, run_report, runs
from allocation.service_layer.planning import IN_PROCESS, ShardPlanner
from allocation.service_layer.report import run_figures

progress = logging.getLogger("allocation.progress")
"""One line per stage as a run goes; the CLI shows them on a terminal (see `--quiet`)."""


def discover_at(inbox_url: str) -> inbox.Discovery:
    """List the night's input files at an inbox URL."""
    return inbox.discover(open_storage(inbox_url))


def fetch_from(inbox_url: str, discovery: inbox.Discovery) -> list[inbox.FetchedFile]:
    """Read the discovered files' bytes from an inbox URL."""
    return inbox.fetch(open_storage(inbox_url), discovery.files)


def commit_run(
    warehouse: Warehouse,
    run: runs.RunContext,
    load: loading.LoadReport,
    allocation: allocating.AllocationReport,
) -> runs.RunSummary:
    """Record the run's figures and commit everything it changed, at once."""
    return runs.finish_run(warehouse, run, run_figures(load, allocation))


def publish_to(warehouse: Warehouse, outbox_url: str) -> list[str]:
    """Publish every committed run not yet in the outbox (this one, and any a crash left)."""
    return publishing.publish_pending(warehouse, ParquetPublisher(open_storage(outbox_url)))


def publish_report_to(warehouse: DuckDBWarehouse, outbox_url: str, run_id: str) -> str:
    """Render the run's HTML report into the outbox; return its location."""
    return run_report.publish_run_report(warehouse, open_storage(outbox_url), run_id)


@dataclass(frozen=True)
class Stages:
    """The stages of a night, as callables (plain functions, or Prefect tasks wrapping them)."""

    discover: Callable[[str], inbox.Discovery] = discover_at
    fetch: Callable[[str, inbox.Discovery], list[inbox.FetchedFile]] = fetch_from
    load: Callable[[Warehouse, runs.RunContext, list[inbox.FetchedFile]], loading.LoadReport] = (
        loading.load_inputs
    )
    allocate: Callable[
        [Warehouse, runs.RunContext, ShardPlanner, int | None], allocating.AllocationReport
    ] = allocating.allocate_open_demand
    commit: Callable[
        [Warehouse, runs.RunContext, loading.LoadReport, allocating.AllocationReport],
        runs.RunSummary,
    ] = commit_run
    publish: Callable[[Warehouse, str], list[str]] = publish_to
    report: Callable[[DuckDBWarehouse, str, str], str] = publish_report_to


@dataclass(frozen=True)
class NightResult:
    """What a night did: its summary, the per-file accounting, and the outputs written."""

    summary: runs.RunSummary
    load: loading.LoadReport
    written: list[str]
    report: str
    """Where the run's HTML report is (a file:// or s3:// URL)."""
    seconds: dict[str, float] = field(default_factory=dict)
    """Wall time per stage (open, discover, fetch, load, allocate, commit, publish, report,
    close), and of the load stage's steps (`load.read`, `load.validate`, `load.store`)."""


@contextmanager
def _timed(seconds: dict[str, float], stage: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        seconds[stage] = round(time.perf_counter() - started, 3)


def run_night(
    *,
    inbox_url: str,
    outbox_url: str,
    db: str,
    policy: Policy,
    run_date: date,
    busy_timeout: float = 0.0,
    stages: Stages | None = None,
    shards: int | None = None,
    planner: ShardPlanner = IN_PROCESS,
    memory_limit: str | None = None,
) -> NightResult:
    """Load the night's new inputs, re-plan open demand, commit, and publish for the WMS.

    Everything up to the commit is one transaction: if any stage fails, the warehouse is left
    as it was and the run is recorded as failed with the reason. The night is planned in
    `shards` SKU shards (None: as many as its size calls for) by `planner`; neither changes
    any result, only the time and memory a night takes.
    """
    stages = stages or Stages()
    run = runs.new_run(run_date, policy)
    seconds: dict[str, float] = {}
    with _timed(seconds, "open"):
        warehouse = DuckDBWarehouse(
            db, busy_timeout=busy_timeout, memory_limit=memory_limit
        ).__enter__()
    try:
        runs.start_run(warehouse, run)
        try:
            with _timed(seconds, "discover"):
                discovery = stages.discover(inbox_url)
            with _timed(seconds, "fetch"):
                fetched = stages.fetch(inbox_url, discovery)
            size = sum(len(f.data) for f in fetched)
            progress.info("read %d files (%s bytes) from %s", len(fetched), f"{size:,}", inbox_url)
            fault_point("after-read")
            with _timed(seconds, "load"):
                load = stages.load(warehouse, run, fetched)
            seconds.update({f"load.{step}": round(t, 3) for step, t in load.seconds.items()})
            load.warnings[:0] = discovery.warnings
            progress.info(
                "validated %s rows: %s loaded, %s rejected; %d files skipped as already loaded",
                f"{load.rows_read:,}",
                f"{load.rows_loaded:,}",
                f"{load.rows_rejected:,}",
                load.count(FileStatus.SKIPPED),
            )
            with _timed(seconds, "allocate"):
                allocation = stages.allocate(warehouse, run, planner, shards)
            fault_point("after-allocate")
            progress.info(
                "allocated %s lines: %s in full, %s in part, %s not at all",
                f"{allocation.lines_allocated_full + allocation.lines_allocated_part:,}",
                f"{allocation.lines_allocated_full:,}",
                f"{allocation.lines_allocated_part:,}",
                f"{allocation.lines_unallocated:,}",
            )
            with _timed(seconds, "commit"):
                summary = stages.commit(warehouse, run, load, allocation)
            fault_point("after-commit")
        except Exception as error:
            runs.record_failure(warehouse, run, str(error).strip().splitlines()[0])
            raise
        with _timed(seconds, "publish"):
            written = stages.publish(warehouse, outbox_url)
        with _timed(seconds, "report"):
            report = stages.report(warehouse, outbox_url, run.run_id)
        progress.info("wrote %d files to %s; report at %s", len(written) + 1, outbox_url, report)
    finally:
        with _timed(seconds, "close"):
            warehouse.__exit__(None, None, None)
    return NightResult(summary, load, written, report, seconds)
