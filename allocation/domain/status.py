"""The status words the warehouse stores, as enums (stored as the same strings)."""

from __future__ import annotations

from enum import StrEnum
from typing import Final


class LineStatus(StrEnum):
    """An order line is open (demand to serve) until it is cancelled."""

    OPEN = "open"
    CANCELLED = "cancelled"


class AllocationStatus(StrEnum):
    """Picked units are on a pick list (frozen); reserved ones wait on an inbound batch."""

    PICKED = "picked"
    RESERVED = "reserved"


class RunStatus(StrEnum):
    """A run is running until it commits, or fails and records why."""

    RUNNING = "running"
    COMMITTED = "committed"
    FAILED = "failed"


class FileStatus(StrEnum):
    """What became of an input file: loaded, rejected whole, or skipped as already ingested."""

    LOADED = "loaded"
    REJECTED = "rejected"
    SKIPPED = "skipped"


class LedgerEvent(StrEnum):
    """What a ledger row records happened to an order line's units."""

    PICK = "pick"
    RESERVE = "reserve"
    RELEASE = "release"
    WITHDRAW = "withdraw"
    CANCEL = "cancel"


PICK_REASON: Final = "allocated from in-stock batch; on the pick list"
"""The reason of a pick's ledger row: every pick is on its run's pick list."""
RESERVE_REASON: Final = "re-planned onto inbound batch"
"""The reason of a night's reserve rows in the ledger."""
RELEASE_REASON: Final = "re-planned away from inbound batch"
"""The reason of a night's release rows in the ledger."""
