"""Changes to what is already promised: cancellations, and batches that shrank below their picks.

Both can take back stock that is already on a pick list. The WMS has that pick list, so each
quantity taken back is published as a withdrawal, and the ledger says why.
"""

from __future__ import annotations

import polars as pl

from allocation.adapters.warehouse import Warehouse
from allocation.domain.status import AllocationStatus, LedgerEvent, LineStatus
from allocation.engine.plan import withdrawals_to_fit
from allocation.parsing import REJECT_SCHEMA
from allocation.service_layer.runs import RunContext

KEY = ["order_id", "sku"]


def apply_cancellations(
    warehouse: Warehouse, run: RunContext, cancellations: pl.DataFrame | None
) -> tuple[int, pl.DataFrame]:
    """Close the cancelled lines, withdraw their picks; return lines cancelled and rejects.

    A row with a blank sku cancels every open line of the order. A row naming no open line
    is rejected with a reason, not treated as an error.
    """
    if cancellations is None or not cancellations.height:
        return 0, REJECT_SCHEMA.to_frame()
    open_lines = warehouse.lines(*KEY, status=LineStatus.OPEN)
    rows = cancellations.with_row_index("_row")
    whole_orders = rows.filter(pl.col("sku").is_null()).drop("sku").join(open_lines, on="order_id")
    single_lines = rows.filter(pl.col("sku").is_not_null()).join(open_lines, on=KEY)
    matched = pl.concat([whole_orders, single_lines.select(whole_orders.columns)])
    unmatched = rows.join(matched.select("_row").unique(), on="_row", how="anti")
    rejects = unmatched.select(
        "file",
        pl.col("row_number").cast(pl.Int64),
        column=pl.lit("order_id"),
        check=pl.lit("cancels an open line"),
        value=pl.format("{}/{}", "order_id", pl.col("sku").fill_null("*")),
        reason=pl.when(pl.col("sku").is_null())
        .then(pl.format("order {} has no open line to cancel", "order_id"))
        .otherwise(pl.format("order line {}/{} is not open: nothing to cancel", "order_id", "sku")),
    )
    lines = matched.select(KEY).unique(maintain_order=True)
    picked = warehouse.allocations(AllocationStatus.PICKED).join(lines, on=KEY)
    withdraw(warehouse, run, picked, "order line cancelled")
    warehouse.set_line_status(lines, LineStatus.CANCELLED)
    warehouse.drop_reservations_of_cancelled_lines()
    warehouse.append(
        "ledger",
        lines.with_columns(
            event=pl.lit(LedgerEvent.CANCEL),
            reason=pl.lit("cancelled by a cancellations file"),
            run_id=pl.lit(run.run_id),
            recorded_at=pl.lit(run.started_at),
        ),
    )
    return lines.height, rejects


def withdraw_over_frozen(warehouse: Warehouse, run: RunContext) -> int:
    """Withdraw picks from batches whose quantity fell below what is frozen; return units."""
    # `withdrawals_to_fit` decides, batch by batch, over the batches it would touch only.
    over = warehouse.over_frozen()
    if not over.picks.height:
        return 0
    taken = withdrawals_to_fit(over.batches, over.picks, over.lines)
    withdraw(warehouse, run, taken, "batch quantity fell below quantity on pick lists")
    return int(taken["qty"].sum())


def withdraw(warehouse: Warehouse, run: RunContext, taken: pl.DataFrame, reason: str) -> None:
    """Take back picked quantities: shrink the picks, publish withdrawals, write the ledger."""
    if not taken.height:
        return
    # Only the picks named are touched, not every pick in the warehouse.
    warehouse.subtract_allocations(
        taken.select(*KEY, "batch_ref", "qty", status=pl.lit(AllocationStatus.PICKED.value)),
        run.run_id,
    )
    record_withdrawals(warehouse, run, taken, reason)


def record_withdrawals(
    warehouse: Warehouse, run: RunContext, taken: pl.DataFrame, reason: str
) -> None:
    """Record picked quantities taken back: the withdrawals published, and the ledger."""
    if not taken.height:
        return
    stamped = taken.select(*KEY, "batch_ref", "qty").with_columns(
        run_id=pl.lit(run.run_id), reason=pl.lit(reason)
    )
    warehouse.append("withdrawals", stamped)
    warehouse.append(
        "ledger",
        stamped.with_columns(
            event=pl.lit(LedgerEvent.WITHDRAW), recorded_at=pl.lit(run.started_at)
        ),
    )
