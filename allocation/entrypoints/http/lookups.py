"""Routes that only read: an order's lines, runs, and the service's health."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from allocation.domain.status import RunStatus
from allocation.entrypoints.http.access import (
    ModelsDep,
    ReadersDep,
    read_holdings,
    reading,
    token_for_reads,
)
from allocation.entrypoints.http.bodies import Health
from allocation.entrypoints.http.errors import ERRORS
from allocation.service_layer import operations
from allocation.service_layer.holdings import LineState
from allocation.service_layer.runs import RunListing, RunSummary

router = APIRouter(responses=ERRORS, dependencies=[Depends(token_for_reads)])


@router.get("/orders/{order_id}", tags=["orders"])
async def show_order(order_id: str, readers: ReadersDep, models: ModelsDep) -> list[LineState]:
    """An order's lines: qty, status, picked, reserved, short (404 for an unknown order)."""
    return await read_holdings(readers, models, lambda on: operations.show_lines(on, order_id))


@router.get("/runs", tags=["runs"])
def list_runs(
    readers: ReadersDep, limit: Annotated[int, Query(ge=1, le=1000)] = 20
) -> list[RunListing]:
    """The most recent runs and operations, latest first."""
    with reading(readers) as warehouse:
        return operations.list_runs(warehouse, limit)


@router.get("/runs/{run_id}", tags=["runs"])
def show_run(run_id: str, readers: ReadersDep) -> RunSummary:
    """One run's summary (404 for an unknown run)."""
    with reading(readers) as warehouse:
        return operations.show_run(warehouse, run_id)


@router.get("/health", tags=["health"])
def health(readers: ReadersDep) -> Health:
    """The warehouse is readable: its schema version and the last committed run, if any."""
    with reading(readers) as warehouse:
        recent = operations.list_runs(warehouse, 100)
        return Health(
            status="ok",
            schema_version=warehouse.schema_version(),
            last_committed_run=next(
                (run for run in recent if run.status == RunStatus.COMMITTED), None
            ),
        )
