"""The operators' day-to-day operations: batches, one line allocated now, releases, look-ups.

Each operation applies the nightly's own rules to one thing. What an operator types is checked
by the inbox contracts, like a row of an inbox file; a line is allocated by the domain's
`allocate_line` over the warehouse's batches and their current allocations (picked and
reserved); and the result is recorded, withdrawn and published by the run's own service
functions. Every change is a run of its own (`operation_runs`). What they return lives in
`holdings` (look-ups), `outcomes` (changes) and `runs`; those types are re-exported here.

A change reads what is held before it changes anything, from the warehouse, or from `holdings`
when the caller has them of the same state (the HTTP server's read model of the publication the
unit of work began on: a look-up in memory rather than a scan of the allocations).
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from allocation.adapters.publisher import Publisher
from allocation.adapters.warehouse import Warehouse
from allocation.domain import OrderLine, Policy, allocate_line, batch_preference
from allocation.service_layer import runs
from allocation.service_layer.allocating import plan_of_line, record_line
from allocation.service_layer.errors import Conflict, NotFound
from allocation.service_layer.holdings import (
    BatchStock,
    Held,
    HoldingsReads,
    LineState,
    held_by,
    line_states,
    stock,
    stock_of,
)
from allocation.service_layer.loading import insert_lines, lines_to_load
from allocation.service_layer.operation_runs import (
    NOTHING_ALLOCATED,
    begin,
    checked,
    finish,
    release,
    released,
)
from allocation.service_layer.outcomes import Allocated, BatchAdded, Released
from allocation.service_layer.runs import RunListing, RunSummary

__all__ = [
    "Allocated",
    "BatchAdded",
    "BatchStock",
    "Held",
    "LineState",
    "Released",
    "RunListing",
    "RunSummary",
    "add_batch",
    "allocate",
    "deallocate",
    "deallocate_batch",
    "delete_batch",
    "line_state",
    "list_allocations",
    "list_batches",
    "list_runs",
    "show_batch",
    "show_lines",
    "show_run",
]

# --- batches -------------------------------------------------------------------------------


def add_batch(
    warehouse: Warehouse,
    publisher: Publisher,
    reference: str,
    sku: str,
    qty: int,
    eta: date | str | None = None,
    *,
    policy: Policy = Policy.SPLIT,
) -> BatchAdded:
    """Add a batch (no eta = in stock); a reference already in use is a conflict."""
    row = checked(
        "batches",
        reference=reference,
        sku=sku,
        purchased_quantity=str(qty),
        eta=eta.isoformat() if isinstance(eta, date) else eta,
    )
    reference = row["reference"][0]
    existing = warehouse.batches(reference=reference)  # (not what it holds: one scan less)
    if existing.height:
        known = existing.row(0, named=True)
        raise Conflict(
            f"batch {reference} already exists ({known['sku']}, {known['purchased_quantity']} "
            "units): use another reference"
        )
    run = begin(warehouse, policy)
    warehouse.upsert_batches(row.drop("row_number"), run.run_id)
    published = finish(warehouse, publisher, run, {"rows_read": 1, "rows_loaded": 1})
    return BatchAdded(show_batch(warehouse, reference), run.run_id, published)


def list_batches(
    warehouse: HoldingsReads, sku: str | None = None, in_stock: bool | None = None
) -> list[BatchStock]:
    """List batches by SKU, each SKU's in preference order; only in stock or inbound if asked."""
    found = sorted(stock(warehouse, sku=sku), key=lambda s: (s[0].sku, batch_preference(s[0])))
    return [
        stock_of(batch, held, with_allocations=False)
        for batch, held in found
        if in_stock is None or batch.in_stock == in_stock
    ]


def show_batch(warehouse: HoldingsReads, reference: str) -> BatchStock:
    """Show a batch: each allocation it holds, and its available quantity."""
    found = stock(warehouse, reference=reference)
    if not found:
        raise NotFound(f"no batch {reference}")
    batch, held = found[0]
    return stock_of(batch, held, with_allocations=True)


def delete_batch(
    warehouse: Warehouse,
    publisher: Publisher,
    reference: str,
    *,
    force: bool = False,
    policy: Policy = Policy.SPLIT,
    holdings: HoldingsReads | None = None,
) -> Released:
    """Delete a batch; while it holds allocations, only by force, which takes them back first.

    Forced, the picked units are withdrawn (published as withdrawals) and the reservations
    dropped; the lines stay open, for the next run to serve from other stock.
    """
    batch = show_batch(_before(warehouse, holdings), reference)
    if batch.allocations and not force:
        raise Conflict(
            f"batch {reference} has {batch.picked} units picked and {batch.reserved} reserved: "
            "deallocate them first, or force the delete"
        )
    run = begin(warehouse, policy)
    release(warehouse, run, batch.allocations, f"batch {reference} deleted by an operator")
    warehouse.delete_batch(reference)
    published = finish(warehouse, publisher, run, NOTHING_ALLOCATED)
    return released(run, batch.allocations, published)


# --- allocating one line -------------------------------------------------------------------


def allocate(
    warehouse: Warehouse,
    publisher: Publisher,
    order_id: str,
    sku: str,
    qty: int,
    *,
    priority: int = 0,
    policy: Policy = Policy.SPLIT,
    holdings: HoldingsReads | None = None,
) -> Allocated:
    """Allocate one new order line now, record it as a run does, and publish.

    The line arrives after every known line and is ordered now. Refused, with nothing
    recorded, when no batch of the SKU exists (`UnknownSku`) or none has a unit to give
    (`OutOfStock`). A partial fill records the rest as the line's shortage. The same line
    again with the same qty changes nothing; with another qty it is a conflict.
    """
    run = runs.new_run(datetime.now(UTC).date(), policy)
    row = checked(
        "order_lines",
        order_id=order_id,
        sku=sku,
        qty=str(qty),
        priority=str(priority),
        ordered_at=run.started_at.isoformat(),
    )
    new, conflicts, known = lines_to_load(warehouse, row, order_id=row["order_id"][0])
    order_id, sku = row["order_id"][0], row["sku"][0]
    if conflicts.height:
        raise Conflict(conflicts["reason"][0])
    if known:
        return Allocated(
            line_state(warehouse, order_id, sku), held_by(warehouse, order_id, sku), None
        )

    line = OrderLine(
        **row.select("order_id", "sku", "qty", "priority", "ordered_at").row(0, named=True)
    )
    batches = [batch for batch, _ in stock(_before(warehouse, holdings), sku=sku)]
    made, shortage = allocate_line(line, batches, policy)

    runs.start_run(warehouse, run)
    insert_lines(warehouse, run, new)
    plan = plan_of_line(made, shortage, batches)
    record_line(warehouse, run, plan)
    figures = {
        "rows_read": 1,
        "rows_loaded": 1,
        "lines_allocated_full": int(shortage is None),
        "lines_allocated_part": int(shortage is not None),
        "units_allocated": sum(a.qty for a in made),
        "units_short": 0 if shortage is None else shortage.short_qty,
        "pick_list_lines": plan.picks.height,
    }
    published = finish(warehouse, publisher, run, figures)
    return Allocated(
        line_state(warehouse, order_id, sku),
        held_by(warehouse, order_id, sku),
        run.run_id,
        published,
    )


def deallocate(
    warehouse: Warehouse,
    publisher: Publisher,
    order_id: str,
    sku: str | None = None,
    *,
    policy: Policy = Policy.SPLIT,
    holdings: HoldingsReads | None = None,
) -> Released:
    """Take back what an order (or one line of it) holds; its lines stay open.

    Picked units are withdrawn (the WMS has them on a pick list, so they are published as
    withdrawals); reservations are dropped. The next run serves the lines again.
    """
    held = held_by(_before(warehouse, holdings), order_id, sku)
    if not held:
        what = f"order line {order_id}/{sku}" if sku is not None else f"order {order_id}"
        raise NotFound(f"{what} has nothing allocated")
    run = begin(warehouse, policy)
    release(warehouse, run, held, "deallocated by an operator")
    published = finish(warehouse, publisher, run, NOTHING_ALLOCATED)
    return released(run, held, published)


# --- look-ups ------------------------------------------------------------------------------


def show_lines(warehouse: HoldingsReads, order_id: str) -> list[LineState]:
    """Show every line of an order, in arrival order."""
    lines = line_states(warehouse, order_id)
    if not lines:
        raise NotFound(f"no order {order_id}")
    return lines


def line_state(warehouse: Warehouse, order_id: str, sku: str) -> LineState:
    """Show one order line."""
    (line,) = line_states(warehouse, order_id, sku)
    return line


def list_runs(warehouse: Warehouse, limit: int = 20) -> list[RunListing]:
    """List the most recent runs and operations, latest first."""
    return runs.recent_runs(warehouse, limit)


def show_run(warehouse: Warehouse, run_id: str) -> RunSummary:
    """Read a run's summary back."""
    if warehouse.run(run_id) is None:
        raise NotFound(f"no run {run_id}")
    return runs.summary_of(warehouse, run_id)


# --- for the HTTP service (one batch of an order; allocations by filter) ------------------


def deallocate_batch(
    warehouse: Warehouse,
    publisher: Publisher,
    order_id: str,
    reference: str,
    *,
    policy: Policy = Policy.SPLIT,
    holdings: HoldingsReads | None = None,
) -> Released:
    """Take back what an order holds on one batch, as `deallocate` does; its lines stay open."""
    held = tuple(
        h for h in held_by(_before(warehouse, holdings), order_id) if h.batch_ref == reference
    )
    if not held:
        raise NotFound(f"order {order_id} has nothing allocated on batch {reference}")
    run = begin(warehouse, policy)
    release(warehouse, run, held, "deallocated by an operator")
    published = finish(warehouse, publisher, run, NOTHING_ALLOCATED)
    return released(run, held, published)


def list_allocations(
    warehouse: HoldingsReads,
    order_id: str | None = None,
    sku: str | None = None,
    batch_ref: str | None = None,
) -> list[Held]:
    """What is held now, picked and reserved, narrowed to an order, a SKU and/or a batch."""
    if order_id is not None:
        found: tuple[Held, ...] = held_by(warehouse, order_id, sku)
    else:
        found = tuple(h for _, held in stock(warehouse, sku=sku, reference=batch_ref) for h in held)
    return [h for h in found if batch_ref is None or h.batch_ref == batch_ref]


def _before(warehouse: Warehouse, holdings: HoldingsReads | None) -> HoldingsReads:
    """Where a change reads what is held before it: `holdings` if given, else the warehouse."""
    return warehouse if holdings is None else holdings
