"""The bulk engine: the domain's policy over whole tables, agreeing with it row for row."""

from allocation.engine.bulk import allocate_frames
from allocation.engine.first_fit import warm_up
from allocation.engine.frames import (
    ALLOCATION_SCHEMA,
    BATCH_COLUMNS,
    LINE_COLUMNS,
    SHORTAGE_SCHEMA,
    EngineResult,
)

__all__ = [
    "ALLOCATION_SCHEMA",
    "BATCH_COLUMNS",
    "LINE_COLUMNS",
    "SHORTAGE_SCHEMA",
    "EngineResult",
    "allocate_frames",
    "warm_up",
]
