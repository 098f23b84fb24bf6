"""Routes of batches: add, list, show, delete."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from allocation.entrypoints.http.access import (
    ModelsDep,
    ReadersDep,
    SettingsDep,
    outbox,
    read_holdings,
    token_for_reads,
    token_for_writes,
    writing,
)
from allocation.entrypoints.http.bodies import NewBatch
from allocation.entrypoints.http.errors import ERRORS
from allocation.service_layer import operations
from allocation.service_layer.holdings import BatchStock
from allocation.service_layer.outcomes import BatchAdded

router = APIRouter(prefix="/batch", tags=["batches"], responses=ERRORS)


@router.post("", status_code=status.HTTP_201_CREATED, dependencies=[Depends(token_for_writes)])
def add_batch(
    body: NewBatch, settings: SettingsDep, readers: ReadersDep, models: ModelsDep
) -> BatchAdded:
    """Add a batch; a reference already in use is a conflict (409)."""
    with writing(settings, readers, models, create=True) as write:
        added = operations.add_batch(
            write.warehouse,
            outbox(settings),
            body.reference,
            body.sku,
            body.purchased_quantity,
            body.eta,
            policy=settings.policy,
        )
        write.touching(added, added.batch.reference)
        return added


@router.get("", dependencies=[Depends(token_for_reads)])
async def list_batches(
    readers: ReadersDep, models: ModelsDep, sku: Annotated[str | None, Query()] = None
) -> list[BatchStock]:
    """Batches with purchased, picked, reserved and available units, in preference order."""
    return await read_holdings(readers, models, lambda on: operations.list_batches(on, sku))


@router.get("/{reference}", dependencies=[Depends(token_for_reads)])
async def show_batch(reference: str, readers: ReadersDep, models: ModelsDep) -> BatchStock:
    """One batch with its allocations (404 if there is no such batch)."""
    return await read_holdings(readers, models, lambda on: operations.show_batch(on, reference))


@router.delete(
    "/{reference}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    dependencies=[Depends(token_for_writes)],
)
def delete_batch(
    reference: str,
    settings: SettingsDep,
    readers: ReadersDep,
    models: ModelsDep,
    force: Annotated[bool, Query()] = False,
) -> None:
    """Delete a batch; refused (409) while it holds allocations unless `force=true`.

    Forced, its picks are withdrawn (published) and its reservations dropped; the lines
    stay open.
    """
    with writing(settings, readers, models) as write:
        released = operations.delete_batch(
            write.warehouse,
            outbox(settings),
            reference,
            force=force,
            policy=settings.policy,
            holdings=write.holdings,
        )
        write.touching(released, reference)
