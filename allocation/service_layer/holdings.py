"""What the warehouse holds now, as operators look it up: batches' stock, lines' state.

A batch is read as the domain's `Batch`, carrying its current allocations (picked and
reserved), so its available quantity is the domain's own rule; an order line's shortage is
what is neither picked nor reserved while it is open.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol

import polars as pl

from allocation.domain import Batch, LineKey
from allocation.domain.rules import SHORT
from allocation.domain.status import AllocationStatus, LineStatus


class HoldingsReads(Protocol):
    """The reads the look-ups below need: a `Warehouse`'s, or a server's in-memory read model."""

    def batches(self, *, sku: str | None = None, reference: str | None = None) -> pl.DataFrame:
        """As `Warehouse.batches`."""
        ...

    def held_on_batches(
        self, *, sku: str | None = None, reference: str | None = None
    ) -> pl.DataFrame:
        """As `Warehouse.held_on_batches`."""
        ...

    def held_by_order(self, order_id: str, sku: str | None = None) -> pl.DataFrame:
        """As `Warehouse.held_by_order`."""
        ...

    def line_holdings(self, order_id: str, sku: str | None = None) -> pl.DataFrame:
        """As `Warehouse.line_holdings`."""
        ...


@dataclass(frozen=True)
class Held:
    """Units of one order line held on one batch: picked (on a pick list) or reserved."""

    order_id: str
    sku: str
    batch_ref: str
    qty: int
    status: AllocationStatus


@dataclass(frozen=True)
class BatchStock:
    """A batch, what is promised from it (picked, reserved) and what is still available."""

    reference: str
    sku: str
    purchased_quantity: int
    eta: date | None
    picked: int
    reserved: int
    available: int
    allocations: tuple[Held, ...] = ()


@dataclass(frozen=True)
class LineState:
    """An order line: its quantity, status, and how much is picked, reserved and still short."""

    order_id: str
    sku: str
    qty: int
    status: LineStatus
    picked: int
    reserved: int
    short: int


def stock(
    warehouse: HoldingsReads, *, sku: str | None = None, reference: str | None = None
) -> list[tuple[Batch, tuple[Held, ...]]]:
    """Batches (by reference) as domain objects carrying their allocations, and those."""
    found_batches = warehouse.batches(sku=sku, reference=reference)
    if found_batches.is_empty():
        return []  # (no allocation to look for: a scan of millions saved)
    # (A batch's allocations are looked up by its reference alone: narrowed by its SKU too,
    # the scan reads two text columns of every allocation instead of one, 0.03 s more of CPU
    # at 10M allocations.)
    batches = found_batches.iter_rows(named=True)
    held: dict[str, list[Held]] = defaultdict(list)
    for held_row in warehouse.held_on_batches(sku=sku, reference=reference).iter_rows(named=True):
        held[held_row["batch_ref"]].append(_held(held_row))
    found = []
    # (Sorted here rather than by Polars: a SKU has a few batches, fewer than a query costs.)
    for row in sorted(batches, key=lambda row: str(row["reference"])):
        on_batch = held[row["reference"]]
        per_line = Counter[LineKey]()
        for h in on_batch:
            per_line[LineKey(h.order_id, h.sku)] += h.qty
        found.append((Batch(**row, allocations=per_line), tuple(on_batch)))
    return found


def stock_of(batch: Batch, held: Sequence[Held], *, with_allocations: bool) -> BatchStock:
    """A batch's stock: picked, reserved, available (and what it holds, if asked)."""
    return BatchStock(
        reference=batch.reference,
        sku=batch.sku,
        purchased_quantity=batch.purchased_quantity,
        eta=batch.eta,
        picked=sum(h.qty for h in held if h.status == AllocationStatus.PICKED),
        reserved=sum(h.qty for h in held if h.status == AllocationStatus.RESERVED),
        available=batch.available_quantity,
        allocations=tuple(held) if with_allocations else (),
    )


def held_by(warehouse: HoldingsReads, order_id: str, sku: str | None = None) -> tuple[Held, ...]:
    """What an order (or one of its lines) holds, batch by batch."""
    rows = warehouse.held_by_order(order_id, sku)
    return tuple(_held(row) for row in rows.iter_rows(named=True))


def line_states(warehouse: HoldingsReads, order_id: str, sku: str | None = None) -> list[LineState]:
    """An order's lines (or one), in arrival order, with what each holds and lacks."""
    states = []
    for row in warehouse.line_holdings(order_id, sku).iter_rows(named=True):
        status = LineStatus(row["status"])
        short = SHORT.of(row) if status == LineStatus.OPEN else 0
        states.append(LineState(**{**row, "status": status}, short=short))
    return states


def _held(row: dict[str, Any]) -> Held:
    return Held(**{**row, "status": AllocationStatus(row["status"])})
