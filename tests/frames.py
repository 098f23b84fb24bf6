"""Convert domain objects to the bulk engine's frames and back, so one test can drive either."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

import polars as pl

from allocation.domain import (
    Allocation,
    AllocationResult,
    Batch,
    OrderLine,
    Policy,
    Shortage,
    allocate_lines,
)
from allocation.engine import (
    ALLOCATION_SCHEMA,
    BATCH_COLUMNS,
    LINE_COLUMNS,
    SHORTAGE_SCHEMA,
    EngineResult,
    allocate_frames,
)


class Allocate(Protocol):
    """Allocate lines against batches under a policy, as the reference or the engine does."""

    def __call__(
        self, lines: Sequence[OrderLine], batches: Sequence[Batch], policy: Policy = ...
    ) -> AllocationResult: ...


def batches_frame(batches: Iterable[Batch]) -> pl.DataFrame:
    """Batches as the engine takes them; `allocated_qty` is the sum of their allocations."""
    rows = [
        {
            "reference": batch.reference,
            "sku": batch.sku,
            "purchased_quantity": batch.purchased_quantity,
            "eta": batch.eta,
            "allocated_qty": batch.allocated_quantity,
        }
        for batch in batches
    ]
    return pl.DataFrame(rows, schema=BATCH_COLUMNS, orient="row")


def lines_frame(lines: Iterable[OrderLine], batches: Sequence[Batch]) -> pl.DataFrame:
    """Lines as the engine takes them; `allocated_qty` is what the batches of the SKU hold for them.

    This mirrors the reference, which derives a line's prior allocation from the batches it is
    given (only those of the line's SKU).
    """
    rows = [
        {
            "order_id": line.order_id,
            "sku": line.sku,
            "qty": line.qty,
            "priority": line.priority,
            "ordered_at": line.ordered_at,
            "arrival": line.arrival,
            "allocated_qty": sum(b.quantity_for(line) for b in batches if b.sku == line.sku),
        }
        for line in lines
    ]
    return pl.DataFrame(rows, schema=LINE_COLUMNS, orient="row")


def allocations_frame(allocations: Iterable[Allocation]) -> pl.DataFrame:
    """The reference's allocations as the engine's allocations frame, same row order."""
    rows = [(a.order_id, a.sku, a.batch_ref, a.qty) for a in allocations]
    return pl.DataFrame(rows, schema=ALLOCATION_SCHEMA, orient="row")


def shortages_frame(shortages: Iterable[Shortage]) -> pl.DataFrame:
    """The reference's shortages as the engine's shortages frame, same row order."""
    rows = [(s.order_id, s.sku, s.ordered_qty, s.allocated_qty, s.short_qty) for s in shortages]
    return pl.DataFrame(rows, schema=SHORTAGE_SCHEMA, orient="row")


def result_from_frames(result: EngineResult) -> AllocationResult:
    """The engine's result as domain objects, same row order."""
    return AllocationResult(
        allocations=[Allocation(**row) for row in result.allocations.iter_rows(named=True)],
        shortages=[Shortage(**row) for row in result.shortages.iter_rows(named=True)],
    )


def allocate_with_engine(
    lines: Sequence[OrderLine], batches: Sequence[Batch], policy: Policy = Policy.SPLIT
) -> AllocationResult:
    """Run the bulk engine on domain objects (the batches are left untouched)."""
    engine = allocate_frames(batches_frame(batches), lines_frame(lines, batches), policy)
    return result_from_frames(engine)


def allocate_with_reference(
    lines: Sequence[OrderLine], batches: Sequence[Batch], policy: Policy = Policy.SPLIT
) -> AllocationResult:
    """Run the reference policy (the batches are updated in place)."""
    return allocate_lines(lines, batches, policy)
