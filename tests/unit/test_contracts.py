"""The output contracts: what is published for the WMS, checked column by column."""

from __future__ import annotations

from datetime import date

import pandera.errors
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from allocation.contracts import (
    CONTRACTS,
    AllocationOut,
    PickListOut,
    RejectOut,
    ShortageOut,
    WithdrawalOut,
)


def allocation(**changes: object) -> pl.DataFrame:
    row = {
        "run_id": "run-1",
        "order_id": "ORD-100001",
        "sku": "RED-CHAIR",
        "batch_ref": "batch-2026-0001",
        "qty": 2,
        "in_stock": True,
        "eta": None,
    } | changes
    return pl.DataFrame(
        [row],
        schema={
            "run_id": pl.String,
            "order_id": pl.String,
            "sku": pl.String,
            "batch_ref": pl.String,
            "qty": pl.Int64,
            "in_stock": pl.Boolean,
            "eta": pl.Date,
        },
    )


def test_a_valid_allocation_passes_unchanged() -> None:
    frame = allocation(in_stock=False, eta=date(2026, 12, 3))
    assert_frame_equal(AllocationOut.validate(frame), frame)


@pytest.mark.parametrize(
    "changes",
    [{"qty": 0}, {"qty": -1}, {"order_id": ""}, {"in_stock": None}],
    ids=["qty 0", "negative qty", "blank order_id", "null flag"],
)
def test_an_allocation_breaking_a_column_rule_is_refused(changes: dict[str, object]) -> None:
    with pytest.raises(pandera.errors.SchemaError):
        AllocationOut.validate(allocation(**changes))


def test_an_output_with_an_extra_column_is_refused() -> None:
    with pytest.raises(pandera.errors.SchemaError):
        AllocationOut.validate(allocation().with_columns(note=pl.lit("x")))


def test_an_output_with_a_wrongly_typed_column_is_refused() -> None:
    with pytest.raises(pandera.errors.SchemaError):
        AllocationOut.validate(allocation().with_columns(pl.col("qty").cast(pl.Int32)))


def test_a_shortage_must_add_up() -> None:
    good = pl.DataFrame(
        {
            "order_id": ["ORD-1"],
            "sku": ["RED-CHAIR"],
            "ordered_qty": [5],
            "allocated_qty": [2],
            "short_qty": [3],
        }
    )
    ShortageOut.validate(good)
    with pytest.raises(pandera.errors.SchemaError):
        ShortageOut.validate(good.with_columns(short_qty=pl.lit(4, pl.Int64)))


def test_pick_lists_rejects_and_withdrawals_accept_their_valid_rows() -> None:
    PickListOut.validate(
        pl.DataFrame(
            {
                "pick_list_id": ["PL-1"],
                "line_no": [1],
                "order_id": ["ORD-1"],
                "sku": ["RED-CHAIR"],
                "batch_ref": ["batch-2026-0001"],
                "qty": [2],
            }
        )
    )
    RejectOut.validate(
        pl.DataFrame(
            {
                "run_id": ["run-1", "run-1"],
                "file": ["order_lines/a.csv", "order_lines/b.csv"],
                "row_number": [3, None],
                "column": ["qty", None],
                "check": ["not_blank", "required_column"],
                "value": [None, None],
                "reason": ["qty must not be blank", "missing required column 'qty'"],
            },
            schema_overrides={"value": pl.String},
        )
    )
    WithdrawalOut.validate(
        pl.DataFrame(
            {
                "run_id": ["run-1"],
                "order_id": ["ORD-1"],
                "sku": ["RED-CHAIR"],
                "batch_ref": ["batch-2026-0001"],
                "qty": [2],
                "reason": ["cancelled"],
            }
        )
    )


def test_every_input_check_has_words_for_its_reject_reason() -> None:
    for contract in CONTRACTS.values():
        assert contract.rules["rule"].null_count() == 0
        assert set(contract.schema) == {*contract.columns, "row_number"}
