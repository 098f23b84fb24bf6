"""Data contracts at the product's edges: the inbox files it reads and the tables it publishes."""

from allocation.contracts import inputs, outputs
from allocation.contracts.inputs import (
    CONTRACTS,
    BatchesIn,
    CancellationsIn,
    InputContract,
    InputKind,
    OrderLinesIn,
)
from allocation.contracts.outputs import (
    AllocationOut,
    PickListOut,
    RejectOut,
    ShortageOut,
    WithdrawalOut,
)

__all__ = [
    "CONTRACTS",
    "AllocationOut",
    "BatchesIn",
    "CancellationsIn",
    "InputContract",
    "InputKind",
    "OrderLinesIn",
    "PickListOut",
    "RejectOut",
    "ShortageOut",
    "WithdrawalOut",
    "inputs",
    "outputs",
]
