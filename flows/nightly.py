"""The nightly allocation flow: inbox -> validate -> DuckDB -> allocate -> Parquet for the WMS.

The flow is a thin shell: each task wraps one stage from `allocation.service_layer.nightly`,
and `run_night` sequences them, so no business rule lives here. Only the tasks that touch
object storage retry, and only what can pass on retry: storage that could not be reached or
kept failing. A missing bucket or key, denied access or a database or validation error will not
go away by trying again. The parameters' defaults are the settings' (`allocation.config`).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

from prefect import Task, flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import State, TaskRun

from allocation.adapters.dask_cluster import DaskPlanner
from allocation.adapters.storage import StorageUnavailable
from allocation.config import DEFAULTS
from allocation.domain.policy import Policy
from allocation.service_layer import allocating, loading
from allocation.service_layer import nightly as stages
from allocation.service_layer.planning import IN_PROCESS
from allocation.service_layer.report import summary_markdown


def can_pass_on_retry(task: Task[..., Any], task_run: TaskRun, state: State[Any]) -> bool:
    """Retry a storage task only if the storage could not be reached or kept failing."""
    try:
        state.result()
    except StorageUnavailable:
        return True
    except Exception:  # anything else fails the same way again
        return False
    return False


STORAGE = {
    "cache_policy": NO_CACHE,
    "retries": 3,
    "retry_delay_seconds": [2, 5, 15],
    "retry_condition_fn": can_pass_on_retry,
}
DATABASE = {"cache_policy": NO_CACHE}

discover_inputs = task(name="discover inputs", **STORAGE)(stages.discover_at)  # type: ignore[call-overload]
fetch_inputs = task(name="fetch inputs", **STORAGE)(stages.fetch_from)  # type: ignore[call-overload]
load_inputs = task(name="validate and load", **DATABASE)(loading.load_inputs)  # type: ignore[call-overload]
allocate = task(name="allocate", **DATABASE)(allocating.allocate_open_demand)  # type: ignore[call-overload]
commit_run = task(name="commit", **DATABASE)(stages.commit_run)  # type: ignore[call-overload]
publish = task(name="publish", **STORAGE)(stages.publish_to)  # type: ignore[call-overload]
publish_report = task(name="publish report", **STORAGE)(stages.publish_report_to)  # type: ignore[call-overload]

PREFECT_STAGES = stages.Stages(
    discover=discover_inputs,
    fetch=fetch_inputs,
    load=load_inputs,
    allocate=allocate,
    commit=commit_run,
    publish=publish,
    report=publish_report,
)

# With a cluster, the allocation stage runs in the flow itself, not as a task: a task run's
# parameters travel with every task it submits, and the warehouse (an open DuckDB connection)
# cannot travel. Its "plan shard" tasks are then the flow run's own.
ON_A_CLUSTER = replace(PREFECT_STAGES, allocate=allocating.allocate_open_demand)


@flow(name="nightly-allocation")
def nightly(
    inbox_url: str = DEFAULTS.inbox,
    outbox_url: str = DEFAULTS.outbox,
    db: str = DEFAULTS.db,
    policy: Policy = DEFAULTS.policy,
    run_date: date | None = DEFAULTS.run_date,
    busy_timeout: float = DEFAULTS.busy_timeout,
    shards: int | None = DEFAULTS.shards,
    dask_address: str | None = DEFAULTS.dask_address,
    dask_timeout: float = DEFAULTS.dask_timeout,
    duckdb_memory_limit: str | None = DEFAULTS.duckdb_memory_limit,
) -> stages.NightResult:
    """Allocate the night: load new inputs, re-plan open demand, publish for the WMS.

    With `dask_address`, the shards are planned as "plan shard" tasks on that Dask cluster.
    """
    result = stages.run_night(
        inbox_url=inbox_url,
        outbox_url=outbox_url,
        db=db,
        policy=policy,
        run_date=run_date or datetime.now(UTC).date(),
        busy_timeout=busy_timeout,
        stages=PREFECT_STAGES if dask_address is None else ON_A_CLUSTER,
        shards=shards,
        planner=IN_PROCESS if dask_address is None else DaskPlanner(dask_address, dask_timeout),
        memory_limit=duckdb_memory_limit,
    )
    create_markdown_artifact(
        markdown=summary_markdown(result.summary, result.load, result.written)
        + f"\n[Run report]({result.report})\n",
        key="nightly-allocation",
        description="Nightly allocation summary",
    )
    return result
