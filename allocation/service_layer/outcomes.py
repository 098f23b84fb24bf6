"""What an operator's change did: a batch added, a line allocated, allocations taken back."""

from __future__ import annotations

from dataclasses import dataclass

from allocation.service_layer.holdings import BatchStock, Held, LineState


@dataclass(frozen=True)
class BatchAdded:
    """A batch added by an operator, and the run that recorded it."""

    batch: BatchStock
    run_id: str
    published: tuple[str, ...]


@dataclass(frozen=True)
class Allocated:
    """A line allocated now; `run_id` is None when the line was already known (nothing done)."""

    line: LineState
    allocations: tuple[Held, ...]
    run_id: str | None
    published: tuple[str, ...] = ()


@dataclass(frozen=True)
class Released:
    """Allocations taken back: picked units withdrawn (published as withdrawals), reservations."""

    run_id: str
    withdrawn: tuple[Held, ...]
    released: tuple[Held, ...]
    published: tuple[str, ...]
