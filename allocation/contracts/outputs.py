"""Output contracts: what each table published for the WMS holds, one strict pandera model each.

Strict: a frame with a column more or less, or of another type, fails validation, so what the
WMS reads changes only when these models do. Quantities are Int64, dates Date, flags Boolean.
Each field's `description` says what the column means.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pandera.polars as pa
import polars as pl


def _text(description: str) -> Any:  # pandera.Field is typed Any
    """Declare a text column that is never blank (identifiers, reasons)."""
    return pa.Field(str_length={"min_value": 1}, description=description)


class _Output(pa.DataFrameModel):
    """Shared configuration: exactly the declared columns, in the declared order, no coercion."""

    class Config:
        """Strict and ordered, so a published file's layout cannot drift unnoticed."""

        strict = True
        ordered = True
        coerce = False


class AllocationOut(_Output):
    """A quantity of one order line allocated to one batch by a run."""

    run_id: str = _text("The run that made the allocation.")
    order_id: str = _text("The customer order.")
    sku: str = _text("The stock-keeping unit of the line.")
    batch_ref: str = _text("The batch the units come from.")
    qty: int = pa.Field(gt=0, description="Units allocated from the batch to the line, > 0.")
    in_stock: bool = pa.Field(description="True when the batch is in the warehouse (no eta).")
    eta: date = pa.Field(nullable=True, description="The batch's expected arrival; null in stock.")


class PickListOut(_Output):
    """A line of a pick list: units to pick from an in-stock batch for an order."""

    pick_list_id: str = _text("The pick list the line belongs to.")
    line_no: int = pa.Field(ge=1, description="The line's position in its pick list, from 1.")
    order_id: str = _text("The customer order to pick for.")
    sku: str = _text("The stock-keeping unit to pick.")
    batch_ref: str = _text("The batch to pick from.")
    qty: int = pa.Field(gt=0, description="Units to pick, > 0.")


class ShortageOut(_Output):
    """An order line the run could not fully allocate, and by how much."""

    order_id: str = _text("The customer order.")
    sku: str = _text("The stock-keeping unit short.")
    ordered_qty: int = pa.Field(gt=0, description="Units the line asks for, > 0.")
    allocated_qty: int = pa.Field(ge=0, description="Units allocated to the line, >= 0.")
    short_qty: int = pa.Field(gt=0, description="Units missing, ordered_qty - allocated_qty.")

    @pa.dataframe_check(name="short_is_ordered_minus_allocated")
    @classmethod
    def _short_adds_up(cls, data: pa.PolarsData) -> pl.LazyFrame:
        """Check short_qty = ordered_qty - allocated_qty on every row."""
        return data.lazyframe.select(
            pl.col("short_qty") == pl.col("ordered_qty") - pl.col("allocated_qty")
        )


class RejectOut(_Output):
    """An input row (or a whole input file) a run refused, and why."""

    run_id: str = _text("The run that read the file.")
    file: str = _text("The file's key in the inbox.")
    row_number: int = pa.Field(
        nullable=True, ge=1, description="Row after the header, from 1; null for the whole file."
    )
    column: str = pa.Field(nullable=True, description="The column at fault, if one is.")
    check: str = _text("The rule that failed, e.g. not_blank.")
    value: str = pa.Field(nullable=True, description="The value as sent, if there was one.")
    reason: str = _text("What is wrong and how to fix it, for a person.")


class WithdrawalOut(_Output):
    """Units taken back from an order line by a run, e.g. after a cancellation."""

    run_id: str = _text("The run that withdrew the units.")
    order_id: str = _text("The customer order.")
    sku: str = _text("The stock-keeping unit of the line.")
    batch_ref: str = _text("The batch the units return to.")
    qty: int = pa.Field(gt=0, description="Units withdrawn, > 0.")
    reason: str = _text("Why the units were withdrawn, e.g. cancelled.")
