"""Batches, order lines and the allocation of lines to batches: the domain's nouns and rules."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import NamedTuple

from allocation.domain.rules import IN_STOCK


class AllocationError(Exception):
    """Base of every rule the domain refuses to break."""


class InvalidQuantity(AllocationError, ValueError):  # noqa: N818 - a warehouse word, not "...Error"
    """A quantity that can never be right (zero or negative where stock or demand is counted)."""


class OutOfStock(AllocationError):  # noqa: N818
    """No batch of the SKU has enough available stock for the request."""

    def __init__(self, sku: str, wanted: int, available: int) -> None:
        super().__init__(f"Out of stock for sku {sku}: wanted {wanted}, available {available}")
        self.sku = sku
        self.wanted = wanted
        self.available = available


class UnknownSku(AllocationError):  # noqa: N818
    """No batch of the SKU exists at all (distinct from having run out)."""

    def __init__(self, sku: str) -> None:
        super().__init__(f"Unknown sku {sku}: no batch of it exists")
        self.sku = sku


class SkuMismatch(AllocationError):  # noqa: N818
    """A line was offered to a batch of another SKU."""

    def __init__(self, line_sku: str, batch_reference: str, batch_sku: str) -> None:
        super().__init__(
            f"Cannot allocate sku {line_sku} from batch {batch_reference} of sku {batch_sku}"
        )


class LineKey(NamedTuple):
    """The identity of an order line: one SKU within one order."""

    order_id: str
    sku: str


@dataclass(frozen=True)
class OrderLine:
    """A customer's demand for a quantity of one SKU, a value object.

    `priority` (higher first), `ordered_at` and `arrival` (the sequence in which lines were
    received) fix the line's place in the demand order when lines compete for stock.
    """

    order_id: str
    sku: str
    qty: int
    priority: int = 0
    ordered_at: datetime | None = None
    arrival: int = 0

    def __post_init__(self) -> None:
        if self.qty <= 0:
            raise InvalidQuantity(
                f"Order line {self.order_id}/{self.sku}: qty must be positive, got {self.qty}"
            )

    @property
    def key(self) -> LineKey:
        """The line's identity, `(order_id, sku)`."""
        return LineKey(self.order_id, self.sku)


class Batch:
    """A quantity of one SKU, in stock (no eta) or inbound (with an eta), an entity.

    A batch remembers, per order line, how many units it has allocated to that line, so a line
    split across batches and a line topped up later are both exact.
    """

    def __init__(
        self,
        reference: str,
        sku: str,
        purchased_quantity: int,
        eta: date | None = None,
        allocations: Mapping[LineKey, int] | None = None,
    ) -> None:
        if purchased_quantity < 0:
            raise InvalidQuantity(
                f"Batch {reference}: purchased quantity cannot be negative, "
                f"got {purchased_quantity}"
            )
        self.reference = reference
        self.sku = sku
        self.purchased_quantity = purchased_quantity
        self.eta = eta
        self._allocations: dict[LineKey, int] = {}
        for key, qty in (allocations or {}).items():
            if qty <= 0:
                raise InvalidQuantity(f"Batch {reference}: allocation of {key} must be positive")
            self._allocations[LineKey(*key)] = qty
        if self.allocated_quantity > purchased_quantity:
            raise InvalidQuantity(
                f"Batch {reference}: allocations ({self.allocated_quantity}) exceed "
                f"purchased quantity ({purchased_quantity})"
            )

    def __repr__(self) -> str:
        return f"<Batch {self.reference} {self.sku} {self.purchased_quantity} eta={self.eta}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Batch) and other.reference == self.reference

    def __hash__(self) -> int:
        return hash(self.reference)

    @property
    def in_stock(self) -> bool:
        """True when the stock is physically in the warehouse (no eta): `rules.IN_STOCK`."""
        return IN_STOCK.holds_for(self)

    @property
    def allocations(self) -> Mapping[LineKey, int]:
        """Units allocated from this batch, per order line (read-only view)."""
        return dict(self._allocations)

    @property
    def allocated_quantity(self) -> int:
        """Units of this batch promised to order lines."""
        return sum(self._allocations.values())

    @property
    def available_quantity(self) -> int:
        """Units of this batch not yet promised to anyone."""
        return self.purchased_quantity - self.allocated_quantity

    def quantity_for(self, line: OrderLine | LineKey) -> int:
        """Units this batch has allocated to the line (0 if none)."""
        key = line.key if isinstance(line, OrderLine) else line
        return self._allocations.get(key, 0)

    def can_allocate(self, line: OrderLine) -> bool:
        """True when this batch alone can hold the whole line (same SKU, enough available)."""
        missing = line.qty - self.quantity_for(line)
        return self.sku == line.sku and self.available_quantity >= missing

    def allocate(self, line: OrderLine) -> None:
        """Allocate the whole line from this batch; doing it twice counts once."""
        self._check_sku(line)
        missing = line.qty - self.quantity_for(line)
        if missing <= 0:
            return
        if self.available_quantity < missing:
            raise OutOfStock(line.sku, missing, self.available_quantity)
        self._allocations[line.key] = line.qty

    def allocate_part(self, line: OrderLine, qty: int) -> None:
        """Allocate `qty` more units of the line from this batch (the split policy's step)."""
        self._check_sku(line)
        if qty <= 0:
            raise InvalidQuantity(f"Cannot allocate {qty} units of {line.key}: must be positive")
        if qty > self.available_quantity:
            raise OutOfStock(line.sku, qty, self.available_quantity)
        held = self.quantity_for(line)
        if held + qty > line.qty:
            raise InvalidQuantity(
                f"Cannot allocate {qty} more units of {line.key} from batch {self.reference}: "
                f"it already holds {held} of {line.qty}"
            )
        self._allocations[line.key] = held + qty

    def deallocate(self, line: OrderLine | LineKey) -> int:
        """Release the line's units from this batch and return how many; a no-op if it has none."""
        key = line.key if isinstance(line, OrderLine) else line
        return self._allocations.pop(key, 0)

    def _check_sku(self, line: OrderLine) -> None:
        if line.sku != self.sku:
            raise SkuMismatch(line.sku, self.reference, self.sku)
