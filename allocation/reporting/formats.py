"""How the report writes figures: counts, rates, dates, times, durations and SVG coordinates."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Final

NO_VALUE: Final = "\u2013"  # an en dash where a figure is missing


def thousands(value: int | None) -> str:
    """A count with thousands separators: `12,345`."""
    return NO_VALUE if value is None else f"{value:,}"


def percent(rate: float | None) -> str:
    """A rate as a percentage with one decimal: `66.7%`."""
    return NO_VALUE if rate is None else f"{rate:.1%}"


def day(value: date | None) -> str:
    """A date as `YYYY-MM-DD`."""
    return NO_VALUE if value is None else value.isoformat()


def timestamp(value: datetime | None) -> str:
    """A time to the second, with its zone when it has one."""
    return NO_VALUE if value is None else f"{value:%Y-%m-%d %H:%M:%S %Z}".strip()


def duration(seconds: float | None) -> str:
    """Seconds to one decimal under a minute (`4.2 s`), else `H:MM:SS`."""
    if seconds is None:
        return NO_VALUE
    return str(timedelta(seconds=round(seconds))) if seconds >= 60 else f"{seconds:.1f} s"


def coordinate(value: float) -> str:
    """An SVG coordinate or length, to a tenth of a unit."""
    return f"{value:.1f}"


def clipped(text: str, length: int) -> str:
    """The text cut to `length` characters, an ellipsis last when it was cut."""
    return text if len(text) <= length else text[: length - 1] + "…"
