"""Rows checked in memory get the same answer as the same rows sent in a Parquet file of text.

`check_rows` is what an operator's typed-in row goes through; `parse_inbox_file` is what the
nightly inbox goes through. For the same text values they must keep and type the same rows
and reject the same ones for the same reasons, whole-file rejects (a required column left out)
included.
"""

from __future__ import annotations

import io

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from allocation.contracts.inputs import CONTRACTS, MAX_QUANTITY
from allocation.parsing import InputKind, check_rows, parse_inbox_file

SOURCE = "operator.parquet"
KINDS: list[InputKind] = ["batches", "order_lines", "cancellations"]

# Values an operator might type: good ones, blanks, padding, and each kind of bad value.
TEXTS = st.one_of(
    st.none(),
    st.sampled_from(["", " ", "  CHAIR ", "o-1", "0", "1", "-1", "+2", "007", "2.0", "abc"]),
    st.sampled_from([str(MAX_QUANTITY), str(MAX_QUANTITY + 1), "99999999999999999999"]),
    st.sampled_from(["2026-12-01", "2026-02-30", "01/12/2026", " 2026-12-01 "]),
    st.sampled_from(["2026-11-25T09:00:00Z", "2026-11-25T09:00:00+01:00", "2026-11-25 09:00"]),
    st.text(max_size=6),
)


@st.composite
def typed_in_rows(draw: st.DrawFn) -> tuple[InputKind, pl.DataFrame]:
    """A kind and a few rows of text under some of its columns, maybe with an unknown one."""
    kind = draw(st.sampled_from(KINDS))
    known = list(CONTRACTS[kind].columns)
    columns = draw(st.lists(st.sampled_from(known), unique=True, min_size=1))
    if draw(st.booleans()):
        columns.append("note")
    height = draw(st.integers(1, 3))
    values = {name: draw(st.lists(TEXTS, min_size=height, max_size=height)) for name in columns}
    return kind, pl.DataFrame(values, schema=dict.fromkeys(columns, pl.String()))


def as_parquet(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    return buffer.getvalue()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(typed_in_rows())
def test_rows_checked_in_memory_match_the_same_rows_parsed_from_a_parquet_file(
    case: tuple[InputKind, pl.DataFrame],
) -> None:
    kind, frame = case
    from_file = parse_inbox_file(kind, SOURCE, as_parquet(frame))

    rows, rejects = check_rows(kind, frame, source=SOURCE)

    assert_frame_equal(rows, from_file.rows)
    assert_frame_equal(rejects, from_file.rejects)


def test_a_typed_in_batch_is_typed_and_a_bad_one_rejected_with_its_reason() -> None:
    frame = pl.DataFrame(
        {
            "reference": ["b-1", "b-2"],
            "sku": ["CHAIR", "CHAIR"],
            "purchased_quantity": ["5", "five"],
            "eta": ["2026-12-01", None],
        }
    )

    rows, rejects = check_rows("batches", frame, source=SOURCE)

    assert rows.select("reference", "purchased_quantity", "row_number").rows() == [("b-1", 5, 1)]
    assert rejects.select("file", "row_number", "column", "reason").rows() == [
        (
            SOURCE,
            2,
            "purchased_quantity",
            "purchased_quantity must be a whole number of at least 0, got 'five'",
        )
    ]


def test_a_required_column_left_out_rejects_the_rows_as_a_whole() -> None:
    rows, rejects = check_rows("order_lines", pl.DataFrame({"order_id": ["o1"]}), source=SOURCE)

    assert rows.height == 0
    assert rejects.select("row_number", "check").rows() == [(None, "required_column")]
