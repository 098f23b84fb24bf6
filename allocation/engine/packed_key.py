"""An ordering's leading integer and time keys packed into one integer whose order is theirs.

Sorting one integer column is several times cheaper than sorting several columns, two of them
strings, so the engine sorts the lines by this key when it can (`bulk._demand_order`). Each
packed key is shifted to start at 0 (reversed when descending, with one extra value for nulls
when it has any), and the keys are combined in mixed radix, so integer order is their order.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from allocation.domain.forms import Nulls, Ordering, SortKey

_INT64_ROOM = 2**63
_INT128_ROOM = 2**127
_COARSER_UNITS = {"ns": (10**9, 10**6, 10**3), "us": (10**6, 10**3), "ms": (10**3,)}
"""Per time unit, the coarser units (whole seconds, milliseconds, ...) a time key may count in."""


def packed_key(frame: pl.DataFrame, ordering: Ordering) -> pl.Series | None:
    """The ordering's leading integer, date and datetime keys as one integer, or None.

    The key covers the longest prefix of the ordering whose columns are signed integers, dates
    or datetimes; rows that differ on the prefix get keys in the declared order, rows that
    agree get equal keys. Times that all fall on whole seconds (or milliseconds) are counted in
    those units, which keeps most keys within Int64; Int128 takes the rest. None when no key
    can be packed, the frame is empty, or the keys' ranges multiply past 2**127.
    """
    keys = _packable_prefix(frame.schema, ordering)
    if not keys or frame.is_empty():
        return None
    bounds = frame.select(
        *(pl.col(key.column).to_physical().min().alias(f"low{i}") for i, key in enumerate(keys)),
        *(pl.col(key.column).to_physical().max().alias(f"high{i}") for i, key in enumerate(keys)),
    ).row(0)
    fields = [
        _Field(key, low, high, frame[key.column].has_nulls())
        for key, low, high in zip(keys, bounds[: len(keys)], bounds[len(keys) :], strict=True)
    ]
    if _room(fields) > _INT64_ROOM:
        for i, field in enumerate(fields):
            fields[i] = _coarsest(frame, field)
            if _room(fields) <= _INT64_ROOM:
                break
    room = _room(fields)
    if room <= _INT64_ROOM:
        dtype: pl.DataType = pl.Int64()
    elif room <= _INT128_ROOM:
        dtype = pl.Int128()
    else:
        return None
    packed = fields[0].value(dtype)
    for field in fields[1:]:
        packed = packed * pl.lit(field.span, dtype) + field.value(dtype)
    return frame.select(packed).to_series()


@dataclass(frozen=True)
class _Field:
    """One packed key: the range of its column's physical values, its nulls and its unit."""

    key: SortKey
    low: int | None  # None when every value is missing
    high: int | None
    has_nulls: bool
    unit: int = 1

    @property
    def span(self) -> int:
        """How many values the field takes: its range in units, and one for nulls if any."""
        values = 0 if self.low is None or self.high is None else (self.high - self.low) // self.unit
        return values + 1 + int(self.has_nulls)

    def value(self, dtype: pl.DataType) -> pl.Expr:
        """The field's place, 0 to span - 1, in the declared direction, nulls where declared."""
        column = pl.col(self.key.column).to_physical().cast(dtype)
        if self.low is None or self.high is None:
            return column.fill_null(pl.lit(0, dtype))  # every value missing: one place, 0
        if self.key.descending:
            place = pl.lit(self.high, dtype) - column
        else:
            place = column - pl.lit(self.low, dtype)
        if self.unit != 1:
            place = place // pl.lit(self.unit, dtype)
        if not self.has_nulls:
            return place
        if self.key.nulls is Nulls.FIRST:
            return (place + pl.lit(1, dtype)).fill_null(pl.lit(0, dtype))
        return place.fill_null(pl.lit(self.span - 1, dtype))


def _packable_prefix(schema: pl.Schema, ordering: Ordering) -> list[SortKey]:
    """The ordering's leading keys whose columns are signed integers, dates or datetimes."""
    keys: list[SortKey] = []
    for key in ordering.keys:
        dtype = schema.get(key.column)
        if dtype is None or not (
            dtype.is_signed_integer() or isinstance(dtype, pl.Date | pl.Datetime)
        ):
            break
        keys.append(key)
    return keys


def _room(fields: list[_Field]) -> int:
    """How many distinct packed keys the fields need: the product of their spans."""
    room = 1
    for field in fields:
        room *= field.span
    return room


def _coarsest(frame: pl.DataFrame, field: _Field) -> _Field:
    """The field counted in the coarsest unit all its values fall on (datetimes only)."""
    dtype = frame.schema[field.key.column]
    if not isinstance(dtype, pl.Datetime) or field.low is None:
        return field
    physical = pl.col(field.key.column).to_physical()
    for unit in _COARSER_UNITS.get(dtype.time_unit or "us", ()):
        if frame.select(((physical - field.low) % unit == 0).all()).item():
            return _Field(field.key, field.low, field.high, field.has_nulls, unit)
    return field
