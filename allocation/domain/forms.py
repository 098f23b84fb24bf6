"""The shapes a declared rule takes (an ordering, a missing value, a difference), in plain Python.

`allocation.domain.rules` declares the allocation's shared rules with these shapes, as data.
Each shape carries its Python form here; the engine derives its Polars forms and the adapters
their SQL from the same data, so no rule is written twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Nulls(StrEnum):
    """Where rows with no value in a sort key's column go, whatever the key's direction."""

    FIRST = "first"
    LAST = "last"


@dataclass(frozen=True)
class SortKey:
    """One column of an ordering: its name, its direction and where missing values go."""

    column: str
    descending: bool = False
    nulls: Nulls = Nulls.FIRST


@dataclass(frozen=True)
class Ordering:
    """An order over rows: sort keys compared in turn, the first that differs deciding.

    The last keys must identify a row, so that the order is total: then every derived form
    (Python, Polars, the packed key, SQL) puts the same rows in the same places, whether or
    not its sort is stable.
    """

    name: str
    keys: tuple[SortKey, ...]

    @property
    def columns(self) -> tuple[str, ...]:
        """The keys' columns, in the order they are compared."""
        return tuple(key.column for key in self.keys)

    def sort_key(self, row: object) -> tuple[object, ...]:
        """The row's place in this order, as a tuple `sorted` compares; columns are attributes."""
        return tuple(_place(key, getattr(row, key.column)) for key in self.keys)


@dataclass(frozen=True)
class IsMissing:
    """A condition on a row: its column holds no value."""

    column: str

    def holds_for(self, row: object) -> bool:
        """True when the row's column (an attribute) is None."""
        return getattr(row, self.column) is None


@dataclass(frozen=True)
class Difference:
    """A quantity that is one column less others, e.g. short = qty - picked - reserved."""

    name: str
    minuend: str
    subtrahends: tuple[str, ...]

    @property
    def columns(self) -> tuple[str, ...]:
        """The minuend, then the subtrahends."""
        return (self.minuend, *self.subtrahends)

    def of(self, values: Mapping[str, int]) -> int:
        """The difference over a row given as a mapping of column to value."""
        return values[self.minuend] - sum(values[column] for column in self.subtrahends)


def _place(key: SortKey, value: Any) -> object:
    """One value's stand-in in a sort tuple: direction applied, missing values placed."""
    if value is None:
        return _MISSING_FIRST if key.nulls is Nulls.FIRST else _MISSING_LAST
    if not key.descending:
        return value
    # Negating an int reverses its order and compares much faster than a wrapper object.
    return -value if type(value) is int else _Descending(value)


class _Descending:
    """A value that sorts in reverse."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Descending) and self.value == other.value

    def __hash__(self) -> int:
        return hash(self.value)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, _Descending):
            return NotImplemented
        return bool(other.value < self.value)

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, _Descending):
            return NotImplemented
        return bool(other.value > self.value)


class _Missing:
    """A missing value: before every value (first) or after every value (last)."""

    __slots__ = ("first",)

    def __init__(self, first: bool) -> None:
        self.first = first

    def __repr__(self) -> str:
        return "<missing, sorts first>" if self.first else "<missing, sorts last>"

    def __lt__(self, other: object) -> bool:
        return self.first and other is not self

    def __gt__(self, other: object) -> bool:
        return not self.first and other is not self


_MISSING_FIRST = _Missing(first=True)
_MISSING_LAST = _Missing(first=False)
