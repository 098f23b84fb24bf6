"""Publishing committed runs: the outbox gets exactly what the warehouse recorded, once per run.

A run records its outputs in the warehouse in the same transaction as its allocations, and is
published after that commit. If the process dies in between, the run is still 'unpublished'
and the next run (or `publish_pending` alone) publishes it first: nothing is lost, and because
names are fixed by run id, nothing is published twice under two names.
"""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl

from allocation.adapters.publisher import Publisher
from allocation.adapters.warehouse import Warehouse
from allocation.contracts import outputs

OUTPUT_QUERIES = {
    "allocations": (
        "SELECT run_id, order_id, sku, batch_ref, qty, in_stock, eta "
        "FROM run_allocations WHERE run_id = ?",
        outputs.AllocationOut,
    ),
    "pick_lists": (
        "SELECT pick_list_id, line_no, order_id, sku, batch_ref, qty "
        "FROM pick_list_lines WHERE run_id = ? ORDER BY line_no",
        outputs.PickListOut,
    ),
    "shortages": (
        "SELECT order_id, sku, ordered_qty, allocated_qty, short_qty "
        "FROM run_shortages WHERE run_id = ?",
        outputs.ShortageOut,
    ),
    "rejects": (
        'SELECT run_id, file, row_number, "column", "check", value, reason '
        "FROM rejects WHERE run_id = ?",
        outputs.RejectOut,
    ),
    "withdrawals": (
        "SELECT run_id, order_id, sku, batch_ref, qty, reason FROM withdrawals WHERE run_id = ?",
        outputs.WithdrawalOut,
    ),
}


def publish_pending(warehouse: Warehouse, publisher: Publisher) -> list[str]:
    """Publish every committed, unpublished run in run order; return the locations written."""
    pending = warehouse.query(
        "SELECT run_id, run_date FROM runs "
        "WHERE status = 'committed' AND published_at IS NULL ORDER BY started_at, run_id"
    )
    written: list[str] = []
    for run_id, run_date in pending.iter_rows():
        written += publisher.publish(run_id, run_date, run_outputs(warehouse, run_id))
        warehouse.execute(
            "UPDATE runs SET published_at = ? WHERE run_id = ?", [datetime.now(UTC), run_id]
        )
        warehouse.commit()
    return written


def run_outputs(warehouse: Warehouse, run_id: str) -> dict[str, pl.DataFrame]:
    """A run's outputs as recorded, each checked against its published contract."""
    frames: dict[str, pl.DataFrame] = {}
    for name, (sql, contract) in OUTPUT_QUERIES.items():
        frames[name] = contract.validate(warehouse.query(sql, [run_id]))
    return frames
