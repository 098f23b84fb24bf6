"""Parquet columns already in their contract type are checked as values, not via text.

The rule: a typed Parquet file gives the same good rows, rejects (reasons included) and
warnings as the text path would give for the same file. The text path is the reference:
the same parser with the typed fast path turned off.
"""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from allocation.contracts.inputs import CONTRACTS, MAX_QUANTITY
from allocation.parsing import InputKind, ParsedFile, parse_inbox_file, reading

QUANTITIES = st.one_of(
    st.none(),
    st.integers(-3, 3),
    st.integers(MAX_QUANTITY - 1, MAX_QUANTITY + 1),
    st.integers(-(2**31), 2**31 - 1),
)
MOMENTS = st.one_of(
    st.none(),
    st.datetimes(datetime(1960, 1, 1), datetime(2100, 1, 1), timezones=st.just(UTC)),
)
INTEGER_TYPES = st.sampled_from([pl.Int32(), pl.Int64()])
MOMENT_TYPES = st.sampled_from(
    [
        pl.Datetime("us", "UTC"),
        pl.Datetime("ms", "UTC"),
        pl.Datetime("us", "America/New_York"),
        pl.Datetime("us"),
    ]
)


def parquet(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    return buffer.getvalue()


def both_ways(kind: InputKind, data: bytes) -> tuple[ParsedFile, ParsedFile]:
    fast = parse_inbox_file(kind, f"{kind}/x.parquet", data)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(reading, "_parquet_as_native", lambda column, wanted: None)
        via_text = parse_inbox_file(kind, f"{kind}/x.parquet", data)
    return fast, via_text


def assert_same(fast: ParsedFile, via_text: ParsedFile) -> None:
    assert_frame_equal(fast.rows, via_text.rows)
    assert_frame_equal(fast.rejects, via_text.rejects)
    assert (fast.rows_read, fast.warnings, fast.file_error) == (
        via_text.rows_read,
        via_text.warnings,
        via_text.file_error,
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(st.tuples(QUANTITIES, QUANTITIES, MOMENTS), min_size=1, max_size=20),
    qty_type=INTEGER_TYPES,
    priority_type=INTEGER_TYPES,
    moment_type=MOMENT_TYPES,
)
def test_typed_order_lines_give_what_their_text_would(
    rows: list[tuple[int | None, int | None, datetime | None]],
    qty_type: pl.DataType,
    priority_type: pl.DataType,
    moment_type: pl.Datetime,
) -> None:
    qty = pl.Series("qty", [r[0] for r in rows], dtype=pl.Int64)
    priority = pl.Series("priority", [r[1] for r in rows], dtype=pl.Int64)
    moments = pl.Series("ordered_at", [r[2] for r in rows], dtype=pl.Datetime("us", "UTC"))
    if moment_type.time_zone is None:
        moments = moments.dt.replace_time_zone(None)
    elif moment_type.time_zone != "UTC":
        moments = moments.dt.convert_time_zone(moment_type.time_zone)
    frame = pl.DataFrame(
        {
            "order_id": [f"ORD-{i}" for i in range(len(rows))],
            "sku": "SKU-1",
            "qty": qty.cast(qty_type, strict=False),
            "priority": priority.cast(priority_type, strict=False),
            "ordered_at": moments.dt.cast_time_unit(moment_type.time_unit),
        }
    )

    assert_same(*both_ways("order_lines", parquet(frame)))


@settings(max_examples=40, deadline=None)
@given(
    rows=st.lists(
        st.tuples(QUANTITIES, st.one_of(st.none(), st.dates(date(1990, 1, 1)))),
        min_size=1,
        max_size=20,
    ),
    quantity_type=INTEGER_TYPES,
)
def test_typed_batches_give_what_their_text_would(
    rows: list[tuple[int | None, date | None]], quantity_type: pl.DataType
) -> None:
    frame = pl.DataFrame(
        {
            "reference": [f"B-{i}" for i in range(len(rows))],
            "sku": "SKU-1",
            "purchased_quantity": pl.Series([r[0] for r in rows], dtype=pl.Int64).cast(
                quantity_type, strict=False
            ),
            "eta": pl.Series([r[1] for r in rows], dtype=pl.Date),
        }
    )

    assert_same(*both_ways("batches", parquet(frame)))


def test_typed_quantities_are_rejected_with_the_words_of_the_text_rules() -> None:
    frame = pl.DataFrame(
        {
            "order_id": ["A", "B", "C", "D"],
            "sku": ["X", "X", "X", "X"],
            "qty": [2, 0, None, MAX_QUANTITY + 1],
            "ordered_at": [datetime(2026, 11, 25, 9, 30)] * 4,
        }
    )

    fast, _ = both_ways("order_lines", parquet(frame))

    assert fast.rows["order_id"].to_list() == ["A"]
    assert fast.rows["ordered_at"].to_list() == [datetime(2026, 11, 25, 9, 30, tzinfo=UTC)]
    assert fast.rejects.select("row_number", "check", "reason").rows() == [
        (2, "whole_number_greater_than_0", "qty must be a whole number greater than 0, got '0'"),
        (3, "not_blank", "qty must not be blank"),
        (
            4,
            "at_most_max_quantity",
            f"qty must be at most {MAX_QUANTITY}, got '{MAX_QUANTITY + 1}'",
        ),
    ]


def test_a_zoned_timestamp_column_is_read_in_utc_without_going_through_text() -> None:
    new_york = datetime(2026, 11, 25, 4, 30, tzinfo=ZoneInfo("America/New_York"))
    frame = pl.DataFrame({"order_id": ["A"], "sku": ["X"], "qty": [1], "ordered_at": [new_york]})

    data = parquet(frame)
    table = reading.read_table("order_lines/x.parquet", data, CONTRACTS["order_lines"], [])
    fast, via_text = both_ways("order_lines", data)

    assert table.native >= {"_3"}  # ordered_at, the file's fourth column, kept as a timestamp
    assert table.frame["_3"].dtype == pl.Datetime("us", "UTC")
    assert fast.rows["ordered_at"].to_list() == [datetime(2026, 11, 25, 9, 30, tzinfo=UTC)]
    assert_same(fast, via_text)
