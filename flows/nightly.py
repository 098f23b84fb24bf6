"""The nightly allocation flow: inbox -> validate -> DuckDB -> allocate -> Parquet for the WMS.

Each task is a thin call into `allocation.service_layer`; no business rule lives here. Only
the tasks that touch object storage retry: a database or validation error will not go away
by trying again.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from allocation.adapters.publisher import ParquetPublisher
from allocation.adapters.storage import open_storage
from allocation.adapters.warehouse import DuckDBWarehouse, Warehouse
from allocation.domain.policy import Policy
from allocation.service_layer import allocating, inbox, loading, publishing, runs
from allocation.service_layer.report import run_figures, summary_markdown

STORAGE_RETRIES = {"retries": 3, "retry_delay_seconds": [2, 5, 15]}


@task(cache_policy=NO_CACHE, **STORAGE_RETRIES)  # type: ignore[call-overload]
def discover_inputs(inbox_url: str) -> inbox.Discovery:
    """List the night's input files."""
    return inbox.discover(open_storage(inbox_url))


@task(cache_policy=NO_CACHE, **STORAGE_RETRIES)  # type: ignore[call-overload]
def fetch_inputs(inbox_url: str, discovery: inbox.Discovery) -> list[inbox.FetchedFile]:
    """Read the input files' bytes."""
    return inbox.fetch(open_storage(inbox_url), discovery.files)


@task(cache_policy=NO_CACHE)
def load_inputs(
    warehouse: Warehouse, run: runs.RunContext, fetched: list[inbox.FetchedFile]
) -> loading.LoadReport:
    """Validate the files and load their good rows; keep every other row in rejects."""
    return loading.load_inputs(warehouse, run, fetched)


@task(cache_policy=NO_CACHE)
def allocate(warehouse: Warehouse, run: runs.RunContext) -> allocating.AllocationReport:
    """Plan open demand against stock in bulk."""
    return allocating.allocate_open_demand(warehouse, run)


@task(cache_policy=NO_CACHE)
def commit_run(
    warehouse: Warehouse,
    run: runs.RunContext,
    load: loading.LoadReport,
    allocation: allocating.AllocationReport,
) -> runs.RunSummary:
    """Commit everything the run changed, in one transaction."""
    return runs.finish_run(warehouse, run, run_figures(load, allocation))


@task(cache_policy=NO_CACHE, **STORAGE_RETRIES)  # type: ignore[call-overload]
def publish(warehouse: Warehouse, outbox_url: str) -> list[str]:
    """Publish every committed run not yet in the outbox (this one, and any a crash left)."""
    return publishing.publish_pending(warehouse, ParquetPublisher(open_storage(outbox_url)))


@task(cache_policy=NO_CACHE)
def report(summary: runs.RunSummary, load: loading.LoadReport, written: list[str]) -> str:
    """Publish the run's summary as a Prefect markdown artifact."""
    markdown = summary_markdown(summary, load, written)
    create_markdown_artifact(
        markdown=markdown, key="nightly-allocation", description="Nightly allocation summary"
    )
    return markdown


@flow(name="nightly-allocation")
def nightly(
    inbox_url: str = "data/inbox",
    outbox_url: str = "data/outbox",
    db: str = "data/warehouse.duckdb",
    policy: Policy = Policy.SPLIT,
    run_date: date | None = None,
    busy_timeout: float = 0.0,
) -> runs.RunSummary:
    """Allocate the night: load new inputs, re-plan open demand, publish for the WMS."""
    run = runs.new_run(run_date or datetime.now(UTC).date(), policy)
    with DuckDBWarehouse(db, busy_timeout=busy_timeout) as warehouse:
        runs.start_run(warehouse, run)
        try:
            discovery = discover_inputs(inbox_url)
            fetched = fetch_inputs(inbox_url, discovery)
            load = load_inputs(warehouse, run, fetched)
            load.warnings[:0] = discovery.warnings
            allocation = allocate(warehouse, run)
            summary = commit_run(warehouse, run, load, allocation)
        except Exception as error:
            runs.record_failure(warehouse, run, str(error))
            raise
        written = publish(warehouse, outbox_url)
    report(summary, load, written)
    return summary
