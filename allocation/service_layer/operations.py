"""The operators' day-to-day operations: batches, one line allocated now, releases, look-ups.

Each operation applies the nightly's own rules to one thing. What an operator types is checked
by the inbox contracts, like a row of an inbox file; a line is allocated by the domain's
`allocate_line` over the warehouse's batches and their current allocations (picked and
reserved); and the result is recorded, withdrawn and published by the run's own service
functions. Every change is a run of its own (a row in `runs`): it is committed in one
transaction, then published with every other pending run, so the WMS, the ledger and the
invariants see operations and nights alike.
"""

from __future__ import annotations

import io
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import asdict, astuple, dataclass
from datetime import UTC, date, datetime
from typing import Final

import polars as pl

from allocation.adapters.publisher import Publisher
from allocation.adapters.warehouse import Warehouse
from allocation.domain import (
    Allocation,
    Batch,
    LineKey,
    OrderLine,
    Policy,
    Shortage,
    allocate_line,
    batch_preference,
)
from allocation.engine import ALLOCATION_SCHEMA, SHORTAGE_SCHEMA
from allocation.engine.plan import NightPlan
from allocation.parsing import InputKind, parse_inbox_file
from allocation.service_layer import publishing, runs
from allocation.service_layer.allocating import KEY, record_plan
from allocation.service_layer.changes import withdraw
from allocation.service_layer.errors import Conflict, InvalidInput, NotFound
from allocation.service_layer.loading import insert_lines, lines_to_load
from allocation.service_layer.runs import RunContext, RunSummary

OPERATOR: Final = "operator"
"""The source recorded for what an operator entered (`order_lines.source_file`)."""

PICKED: Final = "picked"
RESERVED: Final = "reserved"
HELD_SCHEMA: Final = pl.Schema({**ALLOCATION_SCHEMA, "status": pl.String()})
NOTHING_ALLOCATED: Final = {"units_allocated": 0}
"""The figures of an operation that allocates nothing (`finish_run` records at least one)."""


@dataclass(frozen=True)
class Held:
    """Units of one order line held on one batch: picked (on a pick list) or reserved."""

    order_id: str
    sku: str
    batch_ref: str
    qty: int
    status: str


@dataclass(frozen=True)
class BatchStock:
    """A batch, what is promised from it (picked, reserved) and what is still available."""

    reference: str
    sku: str
    purchased_quantity: int
    eta: date | None
    picked: int
    reserved: int
    available: int
    allocations: tuple[Held, ...] = ()


@dataclass(frozen=True)
class LineState:
    """An order line: its quantity, status, and how much is picked, reserved and still short."""

    order_id: str
    sku: str
    qty: int
    status: str
    picked: int
    reserved: int
    short: int


@dataclass(frozen=True)
class BatchAdded:
    """A batch added by an operator, and the run that recorded it."""

    batch: BatchStock
    run_id: str
    published: tuple[str, ...]


@dataclass(frozen=True)
class Allocated:
    """A line allocated now; `run_id` is None when the line was already known (nothing done)."""

    line: LineState
    allocations: tuple[Held, ...]
    run_id: str | None
    published: tuple[str, ...] = ()


@dataclass(frozen=True)
class Released:
    """Allocations taken back: picked units withdrawn (published as withdrawals), reservations."""

    run_id: str
    withdrawn: tuple[Held, ...]
    released: tuple[Held, ...]
    published: tuple[str, ...]


@dataclass(frozen=True)
class RunListing:
    """One row of the runs list: a nightly run or an operation."""

    run_id: str
    run_date: date
    policy: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    published_at: datetime | None
    units_allocated: int
    units_short: int
    pick_list_lines: int
    reason: str | None


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
    row = _checked(
        "batches",
        reference=reference,
        sku=sku,
        purchased_quantity=str(qty),
        eta=eta.isoformat() if isinstance(eta, date) else eta,
    )
    reference = row["reference"][0]
    existing = _stock(warehouse, reference=reference)
    if existing:
        known, _ = existing[0]
        raise Conflict(
            f"batch {reference} already exists ({known.sku}, {known.purchased_quantity} units): "
            "use another reference"
        )
    run = _begin(warehouse, policy)
    warehouse.upsert_batches(row.drop("row_number"), run.run_id)
    published = _finish(warehouse, publisher, run, {"rows_read": 1, "rows_loaded": 1})
    return BatchAdded(show_batch(warehouse, reference), run.run_id, published)


def list_batches(
    warehouse: Warehouse, sku: str | None = None, in_stock: bool | None = None
) -> list[BatchStock]:
    """List batches by SKU, each SKU's in preference order; only in stock or inbound if asked."""
    stock = sorted(_stock(warehouse, sku=sku), key=lambda s: (s[0].sku, batch_preference(s[0])))
    return [
        _stock_of(batch, held, with_allocations=False)
        for batch, held in stock
        if in_stock is None or batch.in_stock == in_stock
    ]


def show_batch(warehouse: Warehouse, reference: str) -> BatchStock:
    """Show a batch: each allocation it holds, and its available quantity."""
    found = _stock(warehouse, reference=reference)
    if not found:
        raise NotFound(f"no batch {reference}")
    batch, held = found[0]
    return _stock_of(batch, held, with_allocations=True)


def delete_batch(
    warehouse: Warehouse,
    publisher: Publisher,
    reference: str,
    *,
    force: bool = False,
    policy: Policy = Policy.SPLIT,
) -> Released:
    """Delete a batch; while it holds allocations, only by force, which takes them back first.

    Forced, the picked units are withdrawn (published as withdrawals) and the reservations
    dropped; the lines stay open, for the next run to serve from other stock.
    """
    stock = show_batch(warehouse, reference)
    if stock.allocations and not force:
        raise Conflict(
            f"batch {reference} has {stock.picked} units picked and {stock.reserved} reserved: "
            "deallocate them first, or force the delete"
        )
    run = _begin(warehouse, policy)
    _release(warehouse, run, stock.allocations, f"batch {reference} deleted by an operator")
    warehouse.execute("DELETE FROM batches WHERE reference = ?", [reference])
    published = _finish(warehouse, publisher, run, NOTHING_ALLOCATED)
    return _released(run, stock.allocations, published)


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
) -> Allocated:
    """Allocate one new order line now, record it as a run does, and publish.

    The line arrives after every known line and is ordered now. Refused, with nothing
    recorded, when no batch of the SKU exists (`UnknownSku`) or none has a unit to give
    (`OutOfStock`). A partial fill records the rest as the line's shortage. The same line
    again with the same qty changes nothing; with another qty it is a conflict.
    """
    run = runs.new_run(datetime.now(UTC).date(), policy)
    row = _checked(
        "order_lines",
        order_id=order_id,
        sku=sku,
        qty=str(qty),
        priority=str(priority),
        ordered_at=run.started_at.isoformat(),
    )
    new, conflicts, known = lines_to_load(warehouse, row)
    order_id, sku = row["order_id"][0], row["sku"][0]
    if conflicts.height:
        raise Conflict(conflicts["reason"][0])
    if known:
        return Allocated(
            line_state(warehouse, order_id, sku), _held(warehouse, order_id, sku), None
        )

    line = OrderLine(
        **row.select("order_id", "sku", "qty", "priority", "ordered_at").row(0, named=True)
    )
    batches = [batch for batch, _ in _stock(warehouse, sku=sku)]
    made, shortage = allocate_line(line, batches, policy)

    runs.start_run(warehouse, run)
    insert_lines(warehouse, run, new)
    reserved_before = _allocations(warehouse, RESERVED)
    plan = _plan_of_line(made, shortage, batches, reserved_before)
    record_plan(warehouse, run, plan, reserved_before)
    figures = {
        "rows_read": 1,
        "rows_loaded": 1,
        "lines_allocated_full": int(shortage is None),
        "lines_allocated_part": int(shortage is not None),
        "units_allocated": sum(a.qty for a in made),
        "units_short": 0 if shortage is None else shortage.short_qty,
        "pick_list_lines": plan.picks.height,
    }
    published = _finish(warehouse, publisher, run, figures)
    return Allocated(
        line_state(warehouse, order_id, sku), _held(warehouse, order_id, sku), run.run_id, published
    )


def deallocate(
    warehouse: Warehouse,
    publisher: Publisher,
    order_id: str,
    sku: str | None = None,
    *,
    policy: Policy = Policy.SPLIT,
) -> Released:
    """Take back what an order (or one line of it) holds; its lines stay open.

    Picked units are withdrawn (the WMS has them on a pick list, so they are published as
    withdrawals); reservations are dropped. The next run serves the lines again.
    """
    held = _held(warehouse, order_id, sku)
    if not held:
        what = f"order line {order_id}/{sku}" if sku is not None else f"order {order_id}"
        raise NotFound(f"{what} has nothing allocated")
    run = _begin(warehouse, policy)
    _release(warehouse, run, held, "deallocated by an operator")
    published = _finish(warehouse, publisher, run, NOTHING_ALLOCATED)
    return _released(run, held, published)


# --- look-ups ------------------------------------------------------------------------------


def show_lines(warehouse: Warehouse, order_id: str) -> list[LineState]:
    """Show every line of an order, in arrival order."""
    lines = _line_states(warehouse, order_id)
    if not lines:
        raise NotFound(f"no order {order_id}")
    return lines


def line_state(warehouse: Warehouse, order_id: str, sku: str) -> LineState:
    """Show one order line."""
    (line,) = _line_states(warehouse, order_id, sku)
    return line


def list_runs(warehouse: Warehouse, limit: int = 20) -> list[RunListing]:
    """List the most recent runs and operations, latest first."""
    rows = warehouse.query(
        f"SELECT {', '.join(RunListing.__dataclass_fields__)} FROM runs "
        "ORDER BY started_at DESC, run_id DESC LIMIT ?",
        [limit],
    )
    return [RunListing(**row) for row in rows.iter_rows(named=True)]


def show_run(warehouse: Warehouse, run_id: str) -> RunSummary:
    """Read a run's summary back."""
    if not warehouse.query("SELECT 1 FROM runs WHERE run_id = ?", [run_id]).height:
        raise NotFound(f"no run {run_id}")
    return runs.summary_of(warehouse, run_id)


# --- helpers -------------------------------------------------------------------------------


def _checked(kind: InputKind, **values: str | None) -> pl.DataFrame:
    """One row entered by an operator, checked and typed by its inbox contract."""
    buffer = io.BytesIO()
    pl.DataFrame(
        {k: [v] for k, v in values.items()}, schema=dict.fromkeys(values, pl.String())
    ).write_parquet(buffer)
    parsed = parse_inbox_file(kind, f"{OPERATOR}.parquet", buffer.getvalue())
    if parsed.rejects.height:
        raise InvalidInput("; ".join(parsed.rejects["reason"]))
    return parsed.rows.with_columns(file=pl.lit(OPERATOR), row_number=pl.lit(None, pl.Int64()))


def _begin(warehouse: Warehouse, policy: Policy) -> RunContext:
    """Start the run that records an operation."""
    run = runs.new_run(datetime.now(UTC).date(), policy)
    runs.start_run(warehouse, run)
    return run


def _finish(
    warehouse: Warehouse, publisher: Publisher, run: RunContext, figures: dict[str, int]
) -> tuple[str, ...]:
    """Commit the operation's run, then publish it (and any run still pending)."""
    runs.finish_run(warehouse, run, figures)
    return tuple(publishing.publish_pending(warehouse, publisher))


def _stock(
    warehouse: Warehouse, *, sku: str | None = None, reference: str | None = None
) -> list[tuple[Batch, tuple[Held, ...]]]:
    """Batches as domain objects carrying their current allocations, and those allocations."""
    filters = {"sku": sku, "reference": reference}
    conditions = [f"{column} = ?" for column, value in filters.items() if value is not None]
    parameters: list[object] = [value for value in filters.values() if value is not None]
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    batches = warehouse.query(
        f"SELECT reference, sku, purchased_quantity, eta FROM batches{where} ORDER BY reference",
        parameters,
    )
    held_rows = warehouse.query(
        "SELECT order_id, sku, batch_ref, qty, status FROM allocations "
        f"WHERE batch_ref IN (SELECT reference FROM batches{where}) "
        "ORDER BY batch_ref, status, order_id, sku",
        parameters,
    )
    held: dict[str, list[Held]] = defaultdict(list)
    for row in held_rows.iter_rows(named=True):
        held[row["batch_ref"]].append(Held(**row))
    stock = []
    for row in batches.iter_rows(named=True):
        on_batch = held[row["reference"]]
        per_line = Counter[LineKey]()
        for h in on_batch:
            per_line[LineKey(h.order_id, h.sku)] += h.qty
        stock.append((Batch(**row, allocations=per_line), tuple(on_batch)))
    return stock


def _stock_of(batch: Batch, held: Sequence[Held], *, with_allocations: bool) -> BatchStock:
    return BatchStock(
        reference=batch.reference,
        sku=batch.sku,
        purchased_quantity=batch.purchased_quantity,
        eta=batch.eta,
        picked=sum(h.qty for h in held if h.status == PICKED),
        reserved=sum(h.qty for h in held if h.status == RESERVED),
        available=batch.available_quantity,
        allocations=tuple(held) if with_allocations else (),
    )


def _held(warehouse: Warehouse, order_id: str, sku: str | None = None) -> tuple[Held, ...]:
    """Read what an order (or one of its lines) holds, batch by batch."""
    rows = warehouse.query(
        "SELECT order_id, sku, batch_ref, qty, status FROM allocations "
        "WHERE order_id = ? AND (sku = ? OR ? IS NULL) ORDER BY sku, status, batch_ref",
        [order_id, sku, sku],
    )
    return tuple(Held(**row) for row in rows.iter_rows(named=True))


def _plan_of_line(
    made: Sequence[Allocation],
    shortage: Shortage | None,
    batches: Sequence[Batch],
    reserved_before: pl.DataFrame,
) -> NightPlan:
    """One line's allocations in the shape of a night's plan, so a run's recording applies."""
    by_reference = {batch.reference: batch for batch in batches}
    allocations = pl.DataFrame(
        [
            (*astuple(a), by_reference[a.batch_ref].in_stock, by_reference[a.batch_ref].eta)
            for a in made
        ],
        schema={**ALLOCATION_SCHEMA, "in_stock": pl.Boolean(), "eta": pl.Date()},
        orient="row",
    )
    columns = list(ALLOCATION_SCHEMA)
    reserved = allocations.filter(~pl.col("in_stock")).select(columns)
    return NightPlan(
        allocations=allocations,
        picks=allocations.filter("in_stock").select(columns),
        reservations=pl.concat([reserved_before, reserved]),
        shortages=pl.DataFrame(
            [] if shortage is None else [astuple(shortage)], schema=SHORTAGE_SCHEMA, orient="row"
        ),
        demand_lines=1,
    )


def _allocations(warehouse: Warehouse, status: str) -> pl.DataFrame:
    return warehouse.query(
        "SELECT order_id, sku, batch_ref, qty FROM allocations WHERE status = ?", [status]
    )


def _line_states(warehouse: Warehouse, order_id: str, sku: str | None = None) -> list[LineState]:
    rows = warehouse.query(
        """
        SELECT l.order_id, l.sku, l.qty, l.status,
               coalesce(sum(a.qty) FILTER (WHERE a.status = 'picked'), 0)::BIGINT AS picked,
               coalesce(sum(a.qty) FILTER (WHERE a.status = 'reserved'), 0)::BIGINT AS reserved
        FROM order_lines l LEFT JOIN allocations a USING (order_id, sku)
        WHERE l.order_id = ? AND (l.sku = ? OR ? IS NULL)
        GROUP BY l.order_id, l.sku, l.qty, l.status, l.arrival
        ORDER BY l.arrival
        """,
        [order_id, sku, sku],
    )
    return [
        LineState(
            **row,
            short=row["qty"] - row["picked"] - row["reserved"] if row["status"] == "open" else 0,
        )
        for row in rows.iter_rows(named=True)
    ]


def _release(warehouse: Warehouse, run: RunContext, held: Sequence[Held], reason: str) -> None:
    """Withdraw the picked units held and drop the reservations, with ledger entries."""
    frame = pl.DataFrame([asdict(h) for h in held], schema=HELD_SCHEMA)
    withdraw(warehouse, run, frame.filter(pl.col("status") == PICKED).drop("status"), reason)
    dropped = frame.filter(pl.col("status") == RESERVED).drop("status")
    if not dropped.height:
        return
    kept = _allocations(warehouse, RESERVED).join(dropped, on=KEY, how="anti")
    warehouse.replace_allocations(RESERVED, kept, run.run_id)
    warehouse.append(
        "ledger",
        dropped.with_columns(
            event=pl.lit("release"),
            reason=pl.lit(reason),
            run_id=pl.lit(run.run_id),
            recorded_at=pl.lit(run.started_at),
        ),
    )


def _released(run: RunContext, held: Sequence[Held], published: tuple[str, ...]) -> Released:
    return Released(
        run_id=run.run_id,
        withdrawn=tuple(h for h in held if h.status == PICKED),
        released=tuple(h for h in held if h.status == RESERVED),
        published=published,
    )
