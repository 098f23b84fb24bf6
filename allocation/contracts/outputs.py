"""Output contracts: the columns of every Parquet file the WMS and analysts import.

Each model is strict (no other columns) and is checked before a file is published, so a
file in the outbox always has exactly the documented columns, types and ranges.
"""

from __future__ import annotations

from datetime import date

import pandera.polars as pa


class _Strict(pa.DataFrameModel):
    class Config:
        strict = True
        coerce = False


class AllocationOut(_Strict):
    """allocations/: every allocation the run made (picks and the re-planned reservations)."""

    run_id: str = pa.Field(description="The run that made the allocation.")
    order_id: str = pa.Field(description="The order of the line.")
    sku: str = pa.Field(description="The SKU of the line and of the batch.")
    batch_ref: str = pa.Field(description="The batch the units come from.")
    qty: int = pa.Field(gt=0, description="Units allocated.")
    in_stock: bool = pa.Field(description="True: picked from stock; False: reserved inbound.")
    eta: date = pa.Field(nullable=True, description="The batch's eta; null when in stock.")


class PickListOut(_Strict):
    """pick_lists/: what the WMS picks, by batch; sorted by batch_ref, sku, order_id."""

    pick_list_id: str = pa.Field(description="One pick list per run: PL-<run_id>.")
    line_no: int = pa.Field(ge=1, description="1..n in the sort order.")
    order_id: str = pa.Field(description="The order to pick for.")
    sku: str = pa.Field(description="The SKU to pick.")
    batch_ref: str = pa.Field(description="The batch to pick from.")
    qty: int = pa.Field(gt=0, description="Units to pick.")


class ShortageOut(_Strict):
    """shortages/: lines that are not fully allocated after the run."""

    order_id: str = pa.Field(description="The order of the line.")
    sku: str = pa.Field(description="The SKU of the line.")
    ordered_qty: int = pa.Field(gt=0, description="The line's qty.")
    allocated_qty: int = pa.Field(ge=0, description="Units it holds (picked and reserved).")
    short_qty: int = pa.Field(gt=0, description="ordered_qty - allocated_qty.")


class RejectOut(_Strict):
    """rejects/: rows and files the run could not load, with a reason a person can act on."""

    run_id: str = pa.Field(description="The run that read the file.")
    file: str = pa.Field(description="The file's key in the inbox.")
    row_number: int = pa.Field(nullable=True, description="1 = first data row; null = file.")
    column: str = pa.Field(nullable=True, description="The column at fault, if one.")
    check: str = pa.Field(description="The rule that failed.")
    value: str = pa.Field(nullable=True, description="The offending value, as sent.")
    reason: str = pa.Field(description="What is wrong and what to do about it.")


class WithdrawalOut(_Strict):
    """withdrawals/: picked quantities taken back; the WMS un-picks them."""

    run_id: str = pa.Field(description="The run that withdrew them.")
    order_id: str = pa.Field(description="The order of the line.")
    sku: str = pa.Field(description="The SKU of the line.")
    batch_ref: str = pa.Field(description="The batch the units were picked from.")
    qty: int = pa.Field(gt=0, description="Units withdrawn.")
    reason: str = pa.Field(description="Why: order cancelled, batch quantity cut, ...")
