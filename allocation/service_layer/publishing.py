"""Publishing committed runs: the outbox gets exactly what the warehouse recorded, once per run.

A run records its outputs in the warehouse in the same transaction as its allocations, and is
published after that commit. If the process dies in between, the run is still 'unpublished'
and the next run (or `publish_pending` alone) publishes it first: nothing is lost, and because
names are fixed by run id, nothing is published twice under two names.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

import polars as pl

from allocation.adapters.publisher import Publisher
from allocation.adapters.warehouse import Warehouse
from allocation.contracts import outputs

OUTPUT_CONTRACTS: Final = {
    "allocations": outputs.AllocationOut,
    "pick_lists": outputs.PickListOut,
    "shortages": outputs.ShortageOut,
    "rejects": outputs.RejectOut,
    "withdrawals": outputs.WithdrawalOut,
}
"""The contract each published output is checked against."""


def publish_pending(warehouse: Warehouse, publisher: Publisher) -> list[str]:
    """Publish every committed, unpublished run in run order; return the locations written."""
    written: list[str] = []
    for run_id, run_date in warehouse.pending_publications().iter_rows():
        written += publisher.publish(run_id, run_date, run_outputs(warehouse, run_id))
        warehouse.mark_published(run_id, datetime.now(UTC))
        warehouse.commit()
    return written


def run_outputs(warehouse: Warehouse, run_id: str) -> dict[str, pl.DataFrame]:
    """A run's outputs as recorded, each checked against its published contract."""
    recorded = warehouse.run_outputs(run_id)
    return {name: contract.validate(recorded[name]) for name, contract in OUTPUT_CONTRACTS.items()}
