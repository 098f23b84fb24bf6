"""The allocation policy in plain loops: the executable specification the engine must match."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from allocation.domain.model import (
    AllocationError,
    Batch,
    LineKey,
    OrderLine,
    OutOfStock,
    UnknownSku,
)
from allocation.domain.rules import BATCH_PREFERENCE, DEMAND_ORDER


class Policy(StrEnum):
    """How a line may be served by batches."""

    SPLIT = "split"
    """Take stock from batches in preference order until the line is filled; the rest is short."""
    WHOLE = "whole"
    """The whole (remaining) line goes to the first batch that can hold it, or it gets nothing."""


@dataclass(frozen=True)
class Allocation:
    """Units of one order line served by one batch."""

    order_id: str
    sku: str
    batch_ref: str
    qty: int


@dataclass(frozen=True)
class Shortage:
    """What an order line still lacks after allocation."""

    order_id: str
    sku: str
    ordered_qty: int
    allocated_qty: int
    short_qty: int


@dataclass
class AllocationResult:
    """The allocations made by one pass and the lines left short.

    Both come in the order the pass made them: lines in demand order, and within a line,
    batches in preference order. The bulk engine returns the same rows in the same order.
    """

    allocations: list[Allocation] = field(default_factory=list)
    shortages: list[Shortage] = field(default_factory=list)


def batch_preference(batch: Batch) -> tuple[object, ...]:
    """Sort key for batches, `rules.BATCH_PREFERENCE`: in stock first, earliest eta, reference."""
    return BATCH_PREFERENCE.sort_key(batch)


def demand_order(line: OrderLine) -> tuple[object, ...]:
    """Sort key for competing lines, `rules.DEMAND_ORDER`: priority, ordered_at, arrival, key."""
    return DEMAND_ORDER.sort_key(line)


def allocate_line(
    line: OrderLine, batches: Iterable[Batch], policy: Policy = Policy.SPLIT
) -> tuple[list[Allocation], Shortage | None]:
    """Allocate one line's missing units from the batches; refuse if nothing at all can be given.

    Raises `UnknownSku` when no batch of the line's SKU exists and `OutOfStock` when batches
    exist but no unit could be allocated. A partial fill (split policy) returns its shortage.
    """
    candidates = sorted((b for b in batches if b.sku == line.sku), key=batch_preference)
    if not candidates:
        raise UnknownSku(line.sku)
    allocations, shortage = _place(line, candidates, policy)
    if shortage is not None and not allocations:
        available = sum(b.available_quantity for b in candidates)
        raise OutOfStock(line.sku, shortage.short_qty, available)
    return allocations, shortage


def allocate_lines(
    lines: Iterable[OrderLine], batches: Iterable[Batch], policy: Policy = Policy.SPLIT
) -> AllocationResult:
    """Allocate every line, in demand order, against the batches, which are updated in place.

    Batches may already carry allocations (of these lines or of others); a line already partly
    allocated only asks for its remaining units. A line whose SKU has no batch, or whose
    remaining units cannot be served, is reported as a shortage, never as an error.
    """
    by_sku: dict[str, list[Batch]] = defaultdict(list)
    for batch in batches:
        by_sku[batch.sku].append(batch)
    for candidates in by_sku.values():
        candidates.sort(key=batch_preference)

    result = AllocationResult()
    seen: set[LineKey] = set()
    for line in sorted(lines, key=demand_order):
        if line.key in seen:
            raise AllocationError(f"Order line {line.key} appears twice in one allocation pass")
        seen.add(line.key)
        allocations, shortage = _place(line, by_sku.get(line.sku, []), policy)
        result.allocations.extend(allocations)
        if shortage is not None:
            result.shortages.append(shortage)
    return result


def _place(
    line: OrderLine, candidates: Sequence[Batch], policy: Policy
) -> tuple[list[Allocation], Shortage | None]:
    """Serve the line's remaining units from candidates (same SKU, in preference order)."""
    remaining = line.qty - _held(line.key, candidates)
    allocations: list[Allocation] = []
    if policy is Policy.SPLIT:
        for batch in candidates:
            if remaining == 0:
                break
            take = min(remaining, batch.available_quantity)
            if take > 0:
                batch.allocate_part(line, take)
                allocations.append(Allocation(line.order_id, line.sku, batch.reference, take))
                remaining -= take
    else:
        for batch in candidates:
            if remaining > 0 and batch.available_quantity >= remaining:
                batch.allocate_part(line, remaining)
                allocations.append(Allocation(line.order_id, line.sku, batch.reference, remaining))
                remaining = 0
                break
    if remaining <= 0:
        return allocations, None
    shortage = Shortage(line.order_id, line.sku, line.qty, line.qty - remaining, remaining)
    return allocations, shortage


def _held(key: LineKey, candidates: Iterable[Batch]) -> int:
    return sum(batch.quantity_for(key) for batch in candidates)
