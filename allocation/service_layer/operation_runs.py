"""An operator's change as a run: what was typed checked, the run begun, changes, committed.

Every change an operator makes is a run of its own (a row in `runs`): it is committed in one
transaction, then published with every other pending run, so the WMS, the ledger and the
invariants see operations and nights alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Final

import polars as pl

from allocation.adapters.publisher import Publisher
from allocation.adapters.warehouse import Warehouse
from allocation.domain import Policy
from allocation.domain.status import AllocationStatus, LedgerEvent
from allocation.engine import ALLOCATION_SCHEMA
from allocation.parsing import InputKind, check_rows
from allocation.service_layer import publishing, runs
from allocation.service_layer.changes import record_withdrawals
from allocation.service_layer.errors import InvalidInput
from allocation.service_layer.holdings import Held
from allocation.service_layer.outcomes import Released
from allocation.service_layer.runs import RunContext

OPERATOR: Final = "operator"
"""The source recorded for what an operator entered (`order_lines.source_file`)."""

HELD_SCHEMA: Final = pl.Schema({**ALLOCATION_SCHEMA, "status": pl.String()})
NOTHING_ALLOCATED: Final = {"units_allocated": 0}
"""The figures of an operation that allocates nothing (`finish_run` records at least one)."""


def checked(kind: InputKind, **values: str | None) -> pl.DataFrame:
    """One row entered by an operator, checked and typed by its inbox contract."""
    typed = pl.DataFrame(
        {k: [v] for k, v in values.items()}, schema=dict.fromkeys(values, pl.String())
    )
    rows, rejects = check_rows(kind, typed, source=OPERATOR)
    if rejects.height:
        raise InvalidInput("; ".join(rejects["reason"]))
    return rows.with_columns(file=pl.lit(OPERATOR), row_number=pl.lit(None, pl.Int64()))


def warm_up() -> None:
    """Check a sample row as an operation would: its checks' code loaded before the first one.

    For a long-lived process (the HTTP server), whose first write would otherwise wait for
    pandera's backend to load (tenths of a second).
    """
    checked("batches", reference="warm-up", sku="warm-up", purchased_quantity="1", eta=None)


def begin(warehouse: Warehouse, policy: Policy) -> RunContext:
    """Start the run that records an operation."""
    run = runs.new_run(datetime.now(UTC).date(), policy)
    runs.start_run(warehouse, run)
    return run


def finish(
    warehouse: Warehouse, publisher: Publisher, run: RunContext, figures: dict[str, int]
) -> tuple[str, ...]:
    """Commit the operation's run, then publish it (and any run still pending).

    Readers see the run once, already marked published (one snapshot, not one per commit).
    """
    with warehouse.readers_see_once():
        runs.finish_run(warehouse, run, figures)
        return tuple(publishing.publish_pending(warehouse, publisher))


def release(warehouse: Warehouse, run: RunContext, held: Sequence[Held], reason: str) -> None:
    """Withdraw the picked units held and drop the reservations, with ledger entries.

    Both are taken off in one change that touches only the allocations held.
    """
    # (Rows as tuples: `asdict` copies each field deeply, 7 times as long for 800 allocations.)
    frame = pl.DataFrame(
        [tuple(getattr(h, name) for name in HELD_SCHEMA) for h in held],
        schema=HELD_SCHEMA,
        orient="row",
    )
    warehouse.subtract_allocations(frame, run.run_id)
    picked = frame.filter(pl.col("status") == AllocationStatus.PICKED).drop("status")
    record_withdrawals(warehouse, run, picked, reason)
    dropped = frame.filter(pl.col("status") == AllocationStatus.RESERVED).drop("status")
    warehouse.append(
        "ledger",
        dropped.with_columns(
            event=pl.lit(LedgerEvent.RELEASE),
            reason=pl.lit(reason),
            run_id=pl.lit(run.run_id),
            recorded_at=pl.lit(run.started_at),
        ),
    )


def released(run: RunContext, held: Sequence[Held], published: tuple[str, ...]) -> Released:
    """What a release took back: the picks withdrawn, the reservations dropped."""
    return Released(
        run_id=run.run_id,
        withdrawn=tuple(h for h in held if h.status == AllocationStatus.PICKED),
        released=tuple(h for h in held if h.status == AllocationStatus.RESERVED),
        published=published,
    )
