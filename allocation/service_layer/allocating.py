"""The allocation stage of a run: plan the night in bulk and record picks and reservations."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import astuple, dataclass

import polars as pl

from allocation.adapters.warehouse import Warehouse
from allocation.domain import Allocation, Batch, Shortage
from allocation.domain.status import (
    RELEASE_REASON,
    RESERVE_REASON,
    AllocationStatus,
    LedgerEvent,
)
from allocation.engine import ALLOCATION_SCHEMA, SHORTAGE_SCHEMA
from allocation.engine.plan import NightPlan, allocation_changes
from allocation.engine.plan import pick_list as numbered
from allocation.engine.shards import ShardInputs, shards_for
from allocation.service_layer.changes import withdraw_over_frozen
from allocation.service_layer.planning import IN_PROCESS, ShardPlanner
from allocation.service_layer.runs import RunContext

KEY = ["order_id", "sku", "batch_ref"]
PICKED = AllocationStatus.PICKED
RESERVED = AllocationStatus.RESERVED


@dataclass(frozen=True)
class AllocationReport:
    """The figures of the allocation stage (a night's: the sum of its shards')."""

    lines_allocated_full: int = 0
    lines_allocated_part: int = 0
    lines_unallocated: int = 0
    units_allocated: int = 0
    units_short: int = 0
    pick_list_lines: int = 0

    @classmethod
    def of(cls, plan: NightPlan) -> AllocationReport:
        """The figures of one plan (a night's, or a shard's)."""
        short = plan.shortages
        return cls(
            lines_allocated_full=plan.demand_lines - short.height,
            lines_allocated_part=short.filter(pl.col("allocated_qty") > 0).height,
            lines_unallocated=short.filter(pl.col("allocated_qty") == 0).height,
            units_allocated=int(plan.allocations["qty"].sum()),
            units_short=int(short["short_qty"].sum()),
            pick_list_lines=plan.picks.height,
        )

    def __add__(self, other: AllocationReport) -> AllocationReport:
        """The figures of two plans together (shards' figures are counts and sums)."""
        pairs = zip(astuple(self), astuple(other), strict=True)
        return AllocationReport(*(mine + theirs for mine, theirs in pairs))


def allocate_open_demand(
    warehouse: Warehouse,
    run: RunContext,
    planner: ShardPlanner = IN_PROCESS,
    shards: int | None = None,
) -> AllocationReport:
    """Withdraw picks that no longer fit, re-plan open demand shard by shard, record each plan.

    `shards` None: as many as the night's open lines call for (`shards_for`). Each plan is
    written as it comes back from the planner, before the next is asked for, so memory holds
    a shard at a time, never the whole night; all of it is in the night's one transaction.
    Withdrawals are decided for the whole night first: they read only the batches cut below
    their picks, which is cheap at any size.
    """
    if shards is not None and shards < 1:
        raise ValueError(f"a night is planned in at least one shard, not {shards}")
    withdraw_over_frozen(warehouse, run)
    count = shards_for(warehouse.open_line_count()) if shards is None else shards
    if count > 1:
        warehouse.shard_night(count)
    # Holding no reservation (a first night), the night's are all new: nothing to read back,
    # and the ledger shows its inbound allocations as they are rather than each written
    # again (6M rows at 10M lines). Holding no pick, its picks are only inserted.
    reserving_anew = not warehouse.holds_allocations(AllocationStatus.RESERVED)
    picking_anew = not warehouse.holds_allocations(PICKED)
    report, planned = AllocationReport(), 0
    for number, plan in enumerate(planner.plans(_shards(warehouse, count), run.policy)):
        shard = number if count > 1 else None
        record_plan(
            warehouse,
            run,
            plan,
            shard=shard,
            ledger=not reserving_anew,
            picked=picking_anew,
            reserved_anew=reserving_anew,
        )
        report += AllocationReport.of(plan)
        del plan  # (freed before the next shard is read)
        planned += 1
    if planned != count:  # (a shard left unwritten would keep last night's reservations)
        raise RuntimeError(f"the planner returned {planned} plans for {count} shards")
    if reserving_anew:
        warehouse.ledger_reservations_as_planned(run.run_id)
    if count > 1:
        warehouse.append_staged_pick_list(pick_list_id(run), run.run_id)
    return report


def _shards(warehouse: Warehouse, count: int) -> Iterator[ShardInputs]:
    """The night's shards' inputs, each read only when the planner asks for it."""
    if count == 1:
        # Unsharded: the whole night, with the reads the night has always used.
        yield ShardInputs(
            0, warehouse.batches(), warehouse.open_lines(), warehouse.allocations(PICKED)
        )
        return
    for shard in range(count):
        yield ShardInputs(
            shard,
            warehouse.shard_batches(shard),
            warehouse.shard_open_lines(shard),
            warehouse.shard_allocations(PICKED, shard),
        )


def pick_list_id(run: RunContext) -> str:
    """The name of the run's pick list."""
    return f"PL-{run.run_id}"


def record_plan(
    warehouse: Warehouse,
    run: RunContext,
    plan: NightPlan,
    *,
    shard: int | None = None,
    ledger: bool = True,
    picked: bool = False,
    reserved_anew: bool = False,
) -> None:
    """Write the plan: frozen picks grow, reservations change, history is appended.

    The plan's reservations replace those held (the shard's, for a shard): only those that
    differ are written (`Warehouse.changed_allocations`). `shard` None: the plan is the whole
    night's. A shard's picks are staged for the night's pick list, numbered once every shard
    is written (`Warehouse.append_staged_pick_list`). `ledger` False: the reservations'
    ledger rows are left to `Warehouse.ledger_reservations_as_planned`. `picked` True /
    `reserved_anew` True: no pick / no reservation was held before the night, so the plan's
    are only inserted (no key of theirs is held: nothing is compared).
    """
    if picked:
        first = allocation_changes(plan.picks.clear(), plan.picks)
        warehouse.change_allocations(AllocationStatus.PICKED, first, run.run_id)
    else:
        warehouse.add_allocations(AllocationStatus.PICKED, plan.picks, run.run_id)
    if reserved_anew:
        changes = allocation_changes(plan.reservations.clear(), plan.reservations)
    else:
        changes = warehouse.changed_allocations(RESERVED, plan.reservations, shard)
    warehouse.change_allocations(RESERVED, changes, run.run_id)
    if shard is not None:
        warehouse.stage_picks(plan.picks)
    # A planning night's reservations replace the last night's: only those changed are stored.
    reservations = plan.allocations.filter(~pl.col("in_stock")).drop("in_stock")
    warehouse.record_planned_reservations(reservations, run.run_id, shard)
    _record_outputs(warehouse, run, plan, pick_list=shard is None)
    if ledger:
        _record_ledger(warehouse, run, changes)


def record_line(warehouse: Warehouse, run: RunContext, plan: NightPlan) -> None:
    """Write one new line's plan: its picks and reservations are added to what is held.

    The line is new, so it held nothing: the reservations afterwards are those held plus the
    line's, as `record_plan` would make them, but only the line's are written and ledgered
    (replacing every reservation read them all: 17 s and 3.5 GB at 10M allocations).
    """
    warehouse.add_allocations(AllocationStatus.PICKED, plan.picks, run.run_id)
    warehouse.add_allocations(AllocationStatus.RESERVED, plan.reservations, run.run_id)
    warehouse.append("run_allocations", plan.allocations, run_id=run.run_id)
    _record_outputs(warehouse, run, plan)
    _record_ledger(warehouse, run, allocation_changes(plan.reservations.clear(), plan.reservations))


def _record_outputs(
    warehouse: Warehouse, run: RunContext, plan: NightPlan, *, pick_list: bool = True
) -> None:
    """The run's pick list (unless staged) and shortages; its allocations the caller records.

    (The in-stock allocations are the pick-list lines, in `run_allocations` as such.)
    """
    if pick_list:
        warehouse.append(
            "pick_list_lines", numbered(plan.picks, pick_list_id(run)), run_id=run.run_id
        )
    warehouse.append("run_shortages", plan.shortages, run_id=run.run_id)


def _record_ledger(warehouse: Warehouse, run: RunContext, reserved: pl.DataFrame) -> None:
    """Ledger rows: each reservation made, grown, shrunk or released.

    `reserved`: the reservations that changed (`allocation_changes`). The picks are in the
    ledger as their pick-list lines are (`Warehouse.append`).
    """
    stamp = {"run_id": run.run_id, "recorded_at": run.started_at}
    delta = pl.col("qty").fill_null(0) - pl.col("qty_before").fill_null(0)
    change = reserved.select(*KEY, delta=delta)
    grown = change.filter(pl.col("delta") > 0).select(*KEY, qty="delta")
    shrunk = change.filter(pl.col("delta") < 0).select(*KEY, qty=-pl.col("delta"))
    warehouse.append("ledger", grown, event=LedgerEvent.RESERVE, reason=RESERVE_REASON, **stamp)
    warehouse.append(
        "ledger",
        shrunk,
        event=LedgerEvent.RELEASE,
        reason=RELEASE_REASON,
        **stamp,
    )


def plan_of_line(
    made: Sequence[Allocation], shortage: Shortage | None, batches: Sequence[Batch]
) -> NightPlan:
    """One line's allocations in the shape of a night's plan, for `record_line`.

    Its reservations are the line's own (added to those held, not replacing them).
    """
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
    return NightPlan(
        allocations=allocations,
        picks=allocations.filter("in_stock").select(columns),
        reservations=allocations.filter(~pl.col("in_stock")).select(columns),
        shortages=pl.DataFrame(
            [] if shortage is None else [astuple(shortage)], schema=SHORTAGE_SCHEMA, orient="row"
        ),
        demand_lines=1,
    )
