"""Routes of allocations: allocate one line now, list what is held, deallocate."""

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
from allocation.entrypoints.http.bodies import NewLine
from allocation.entrypoints.http.errors import ERRORS
from allocation.service_layer import operations
from allocation.service_layer.holdings import Held
from allocation.service_layer.outcomes import Allocated

router = APIRouter(prefix="/allocations", tags=["allocations"], responses=ERRORS)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    dependencies=[Depends(token_for_writes)],
    responses={200: {"model": Allocated, "description": "The same line again: unchanged."}},
)
def allocate(
    body: NewLine,
    settings: SettingsDep,
    readers: ReadersDep,
    models: ModelsDep,
    response: Response,
) -> Allocated:
    """Allocate one new order line now: 201 with what it holds and any short qty.

    Out of stock: 409, nothing recorded. No batch of the SKU: 404. The same line again with
    the same qty: 200, unchanged; with another qty: 409.
    """
    with writing(settings, readers, models) as write:
        allocated = operations.allocate(
            write.warehouse,
            outbox(settings),
            body.order_id,
            body.sku,
            body.qty,
            priority=body.priority,
            policy=body.policy or settings.policy,
            holdings=write.holdings,
        )
        write.touching(allocated)
    if allocated.run_id is None:
        response.status_code = status.HTTP_200_OK
    return allocated


@router.get("", dependencies=[Depends(token_for_reads)])
async def list_allocations(
    readers: ReadersDep,
    models: ModelsDep,
    order_id: Annotated[str | None, Query()] = None,
    sku: Annotated[str | None, Query()] = None,
    batch_ref: Annotated[str | None, Query()] = None,
) -> list[Held]:
    """What is held now, picked and reserved, optionally for one order, SKU and/or batch."""
    return await read_holdings(
        readers, models, lambda on: operations.list_allocations(on, order_id, sku, batch_ref)
    )


@router.delete(
    "/{order_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    dependencies=[Depends(token_for_writes)],
)
def deallocate(
    order_id: str,
    settings: SettingsDep,
    readers: ReadersDep,
    models: ModelsDep,
    sku: Annotated[str | None, Query()] = None,
) -> None:
    """Release what an order (or its line of `sku`) holds; 404 when nothing is allocated.

    Picked units are withdrawn and published; the lines stay open for the next run.
    """
    with writing(settings, readers, models) as write:
        released = operations.deallocate(
            write.warehouse,
            outbox(settings),
            order_id,
            sku,
            policy=settings.policy,
            holdings=write.holdings,
        )
        write.touching(released)


@router.delete(
    "/{order_id}/batch/{reference}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    dependencies=[Depends(token_for_writes)],
)
def deallocate_batch(
    order_id: str, reference: str, settings: SettingsDep, readers: ReadersDep, models: ModelsDep
) -> None:
    """Release what an order holds on one batch; 404 when it holds nothing there."""
    with writing(settings, readers, models) as write:
        released = operations.deallocate_batch(
            write.warehouse,
            outbox(settings),
            order_id,
            reference,
            policy=settings.policy,
            holdings=write.holdings,
        )
        write.touching(released)
