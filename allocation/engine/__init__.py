"""The bulk engine: the domain's policy over whole tables, agreeing with it row for row."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

# Where each name lives. Imported on first use: the bulk kernel needs NumPy and Numba (about
# half a second to import), which the operators' one-line commands never run.
_HOMES = {
    "ALLOCATION_SCHEMA": "allocation.engine.frames",
    "BATCH_COLUMNS": "allocation.engine.frames",
    "LINE_COLUMNS": "allocation.engine.frames",
    "SHORTAGE_SCHEMA": "allocation.engine.frames",
    "EngineResult": "allocation.engine.frames",
    "allocate_frames": "allocation.engine.bulk",
    "warm_up": "allocation.engine.first_fit",
}


def __getattr__(name: str) -> Any:
    """The engine's public name `name`, imported from its module on first use."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(home), name)
    globals()[name] = value
    return value
