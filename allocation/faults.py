"""Named points where a test can kill the process, to prove a run survives dying anywhere.

Set `ALLOCATION_KILL_AT=<point>` and the process sends itself SIGKILL when it reaches that
point: no cleanup, no `finally`, exactly like a power cut or the OOM killer. Unset (always,
in production), a fault point is a dictionary lookup and nothing else.
"""

from __future__ import annotations

import os
import signal
from typing import Final

KILL_AT: Final = "ALLOCATION_KILL_AT"

POINTS: Final = (
    "after-read",
    "after-validate",
    "mid-load",
    "after-allocate",
    "before-commit",
    "after-commit",
    "mid-publish",
)


def fault_point(name: str) -> None:
    """Die here, at once, if the environment asks for it."""
    if os.environ.get(KILL_AT) == name:
        os.kill(os.getpid(), signal.SIGKILL)
