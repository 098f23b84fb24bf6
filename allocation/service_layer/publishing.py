"""Publishing committed runs: the outbox gets exactly what the warehouse recorded, once per run.

A run records its outputs in the warehouse in the same transaction as its allocations, and is
published after that commit. If the process dies in between, the run is still 'unpublished'
and the next run (or `publish_pending` alone) publishes it first: nothing is lost, and because
names are fixed by run id, nothing is published twice under two names.
"""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import polars as pl
from pandera.config import ValidationDepth, config_context

from allocation.adapters.publisher import Publisher
from allocation.adapters.warehouse import OutputFile, Warehouse
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
        with tempfile.TemporaryDirectory(prefix="allocation-outputs-") as folder:
            files = warehouse.write_run_outputs(run_id, Path(folder))
            check_outputs(files)
            written += publisher.publish(run_id, run_date, files)
        warehouse.mark_published(run_id, datetime.now(UTC))
        warehouse.commit()
    return written


def check_outputs(files: dict[str, OutputFile]) -> None:
    """Check each output file against its published contract, as the WMS will read it.

    The files are scanned, not loaded: every check of the contract runs over the file as a
    lazy query, so checking holds no output in memory (pandera checks only the schema of a
    lazy frame unless told to check the data too). A file that holds no row (its footer says
    so) has only its schema checked: no check of the data can fail on no rows, and most of an
    operator's command's five files are empty (their data checks took 0.1 s of each command).
    """
    if files.keys() != OUTPUT_CONTRACTS.keys():
        raise ValueError(f"outputs {sorted(files)} are not {sorted(OUTPUT_CONTRACTS)}")
    for name, contract in OUTPUT_CONTRACTS.items():
        scan = pl.scan_parquet(files[name].path)
        rows = scan.select(pl.len()).collect().item()
        depth = ValidationDepth.SCHEMA_AND_DATA if rows else ValidationDepth.SCHEMA_ONLY
        with config_context(validation_depth=depth):
            contract.validate(scan)
