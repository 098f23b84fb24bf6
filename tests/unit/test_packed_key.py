"""The packed demand key stays as narrow as the data allows, and gives up only past Int128."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl

from allocation.domain.rules import DEMAND_ORDER
from allocation.engine.frames import LINE_COLUMNS
from allocation.engine.packed_key import packed_key

FIRST_DAY = datetime(1, 1, 2, tzinfo=UTC)
LAST_DAY = datetime(9999, 12, 30, tzinfo=UTC)


def lines(
    priority: list[int], ordered_at: list[datetime | None], arrival: list[int]
) -> pl.DataFrame:
    """Lines with these demand fields (order ids 0, 1, ...; one SKU)."""
    count = len(priority)
    return pl.DataFrame(
        {
            "order_id": [str(i) for i in range(count)],
            "sku": ["A"] * count,
            "qty": [1] * count,
            "priority": priority,
            "ordered_at": ordered_at,
            "arrival": arrival,
            "allocated_qty": [0] * count,
        },
        schema=LINE_COLUMNS,
    )


def test_times_on_whole_seconds_are_counted_in_seconds_to_stay_within_int64() -> None:
    # In microseconds, nine millennia times 2**20 arrivals need about 2**78 keys; in seconds, 2**58.
    frame = lines([0, 0, 0], [LAST_DAY, FIRST_DAY, None], [2**20, 0, 5])

    key = packed_key(frame, DEMAND_ORDER)

    assert key is not None
    assert key.dtype == pl.Int64
    assert key.arg_sort().to_list() == [1, 0, 2]  # earlier first, missing last


def test_a_key_with_microsecond_times_too_wide_for_int64_is_packed_in_int128() -> None:
    frame = lines([0, 0, 1], [LAST_DAY, FIRST_DAY.replace(microsecond=1), None], [2**20, 0, 7])

    key = packed_key(frame, DEMAND_ORDER)

    assert key is not None
    assert key.dtype == pl.Int128
    assert key.arg_sort().to_list() == [2, 1, 0]  # higher priority first, then earlier


def test_there_is_no_packed_key_when_the_fields_need_more_than_int128() -> None:
    frame = lines(
        [-(2**62), 2**62], [LAST_DAY, FIRST_DAY.replace(microsecond=1)], [-(2**62), 2**62]
    )

    assert packed_key(frame, DEMAND_ORDER) is None
