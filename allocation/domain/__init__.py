"""The domain core: batches, order lines, allocations and the policy, with no I/O."""

from allocation.domain.model import (
    AllocationError,
    Batch,
    InvalidQuantity,
    LineKey,
    OrderLine,
    OutOfStock,
    SkuMismatch,
    UnknownSku,
)
from allocation.domain.policy import (
    Allocation,
    AllocationResult,
    Policy,
    Shortage,
    allocate_line,
    allocate_lines,
    batch_preference,
    demand_order,
)
from allocation.domain.rules import BATCH_PREFERENCE, DEMAND_ORDER, IN_STOCK, SHORT

__all__ = [
    "BATCH_PREFERENCE",
    "DEMAND_ORDER",
    "IN_STOCK",
    "SHORT",
    "Allocation",
    "AllocationError",
    "AllocationResult",
    "Batch",
    "InvalidQuantity",
    "LineKey",
    "OrderLine",
    "OutOfStock",
    "Policy",
    "Shortage",
    "SkuMismatch",
    "UnknownSku",
    "allocate_line",
    "allocate_lines",
    "batch_preference",
    "demand_order",
]
