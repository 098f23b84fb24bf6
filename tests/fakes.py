"""An in-memory warehouse over Polars frames, behind the services' own `Warehouse` interface.

Each table is a frame (runs are rows of a dict, as they change one at a time); a unit of work
is a snapshot of them, taken at commit and restored at rollback. Reads are plain filters,
joins and sorts of those frames, so the fake stays short and obviously right; the tests that
run the services on it run the same scenarios on DuckDB too, and compare.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any, Final

import polars as pl
from fake_invariants import breaches

from allocation.adapters.warehouse import APPENDABLE_TABLES, OverFrozen, Warehouse
from allocation.domain.status import (
    PICK_REASON,
    RESERVE_REASON,
    AllocationStatus,
    FileStatus,
    LedgerEvent,
    LineStatus,
    RunStatus,
)
from allocation.engine.plan import pick_list
from allocation.engine.shards import of_shard

TEXT, WHOLE, DAY, BOOL = pl.String(), pl.Int64(), pl.Date(), pl.Boolean()
MOMENT = pl.Datetime("us", "UTC")
KEY: Final = ["order_id", "sku"]
ALLOCATION_KEY: Final = ["order_id", "sku", "batch_ref"]
MOVES = {"order_id": TEXT, "sku": TEXT, "batch_ref": TEXT, "qty": WHOLE}
TABLES: Final[dict[str, dict[str, pl.DataType]]] = {
    "batches": {
        "reference": TEXT,
        "sku": TEXT,
        "purchased_quantity": WHOLE,
        "eta": DAY,
        "created_run_id": TEXT,
        "updated_run_id": TEXT,
    },
    "order_lines": {
        "order_id": TEXT,
        "sku": TEXT,
        "qty": WHOLE,
        "priority": WHOLE,
        "ordered_at": MOMENT,
        "arrival": WHOLE,
        "status": TEXT,
        "run_id": TEXT,
        "source_file": TEXT,
        "row_number": WHOLE,
    },
    "allocations": {**MOVES, "status": TEXT, "run_id": TEXT},
    "ingested_files": {
        "run_id": TEXT,
        "kind": TEXT,
        "location": TEXT,
        "size": WHOLE,
        "content_hash": TEXT,
        "status": TEXT,
        "rows_read": WHOLE,
        "rows_loaded": WHOLE,
        "rows_rejected": WHOLE,
        "reason": TEXT,
    },
    "rejects": {
        "run_id": TEXT,
        "file": TEXT,
        "row_number": WHOLE,
        "column": TEXT,
        "check": TEXT,
        "value": TEXT,
        "reason": TEXT,
    },
    "run_allocations": {"run_id": TEXT, **MOVES, "in_stock": BOOL, "eta": DAY},
    "pick_list_lines": {"run_id": TEXT, "pick_list_id": TEXT, "line_no": WHOLE, **MOVES},
    "run_shortages": {
        "run_id": TEXT,
        "order_id": TEXT,
        "sku": TEXT,
        "ordered_qty": WHOLE,
        "allocated_qty": WHOLE,
        "short_qty": WHOLE,
    },
    "withdrawals": {"run_id": TEXT, **MOVES, "reason": TEXT},
    "ledger": {"run_id": TEXT, "recorded_at": MOMENT, "event": TEXT, **MOVES, "reason": TEXT},
}
FIGURES: Final = (
    "files_read",
    "files_skipped",
    "files_rejected",
    "rows_read",
    "rows_loaded",
    "rows_rejected",
    "duplicate_lines",
    "lines_allocated_full",
    "lines_allocated_part",
    "lines_unallocated",
    "units_allocated",
    "units_short",
    "pick_list_lines",
)
RUNS: Final[dict[str, pl.DataType]] = {
    "run_id": TEXT,
    "run_date": DAY,
    "policy": TEXT,
    "started_at": MOMENT,
    "finished_at": MOMENT,
    "published_at": MOMENT,
    "status": TEXT,
    "reason": TEXT,
    **dict.fromkeys(FIGURES, WHOLE),
}
OUTPUTS: Final = {
    "allocations": ("run_allocations", ["run_id", *MOVES, "in_stock", "eta"]),
    "pick_lists": ("pick_list_lines", ["pick_list_id", "line_no", *MOVES]),
    "shortages": ("run_shortages", [*KEY, "ordered_qty", "allocated_qty", "short_qty"]),
    "rejects": ("rejects", ["run_id", "file", "row_number", "column", "check", "value", "reason"]),
    "withdrawals": ("withdrawals", ["run_id", *MOVES, "reason"]),
}


def conform(rows: pl.DataFrame, schema: Mapping[str, pl.DataType]) -> pl.DataFrame:
    """Rows in a table's columns and types, by name; a column not given is null."""
    return rows.select(
        (pl.col(name) if name in rows.columns else pl.lit(None)).cast(dtype).alias(name)
        for name, dtype in schema.items()
    )


class FakeWarehouse(Warehouse):
    """The warehouse in memory: the same interface as `DuckDBWarehouse`, tables as frames."""

    def __init__(self) -> None:
        self.tables = {name: pl.DataFrame(schema=schema) for name, schema in TABLES.items()}
        self.runs: dict[str, dict[str, Any]] = {}
        self._shards = 1
        self._staged: list[pl.DataFrame] = []
        self.commit()

    def commit(self) -> None:
        self._saved = dict(self.tables), {k: dict(v) for k, v in self.runs.items()}

    def rollback(self) -> None:
        tables, runs = self._saved
        self.tables, self.runs = dict(tables), {k: dict(v) for k, v in runs.items()}

    # --- order lines

    def lines(
        self, *columns: str, status: LineStatus | None = None, order_id: str | None = None
    ) -> pl.DataFrame:
        return self._of(self.tables["order_lines"], status=status, order_id=order_id).select(
            columns
        )

    def last_arrival(self) -> int:
        return int(self.tables["order_lines"].select(pl.col("arrival").max()).item() or 0)

    def line_holdings(self, order_id: str, sku: str | None = None) -> pl.DataFrame:
        def held(status: AllocationStatus) -> pl.Expr:
            return pl.col("qty").filter(pl.col("status") == status).sum()

        held_per_line = (
            self.tables["allocations"]
            .group_by(KEY)
            .agg(picked=held(AllocationStatus.PICKED), reserved=held(AllocationStatus.RESERVED))
        )
        return (
            self._of(self.tables["order_lines"], order_id=order_id, sku=sku)
            .join(held_per_line, on=KEY, how="left")
            .sort("arrival")
            .select(*KEY, "qty", "status", pl.col("picked", "reserved").fill_null(0))
        )

    def set_line_status(self, keys: pl.DataFrame, status: LineStatus) -> None:
        hit = keys.select(KEY).unique().with_columns(_hit=pl.lit(True))
        self.tables["order_lines"] = (
            self.tables["order_lines"]
            .join(hit, on=KEY, how="left", maintain_order="left")
            .with_columns(status=pl.when("_hit").then(pl.lit(status)).otherwise("status"))
            .drop("_hit")
        )

    # --- batches

    def batches(self, *, sku: str | None = None, reference: str | None = None) -> pl.DataFrame:
        batches = self._of(self.tables["batches"], sku=sku, reference=reference)
        return batches.select("reference", "sku", "purchased_quantity", "eta")

    def upsert_batches(self, batches: pl.DataFrame, run_id: str) -> None:
        old = self.tables["batches"]
        stamped = batches.with_columns(created_run_id=pl.lit(run_id), updated_run_id=pl.lit(run_id))
        incoming = conform(stamped, TABLES["batches"])
        updated = old.select("reference", "sku", "created_run_id").join(
            incoming.drop("sku", "created_run_id"), on="reference"
        )
        self.tables["batches"] = pl.concat(
            [
                old.join(incoming, on="reference", how="anti"),
                updated.select(*TABLES["batches"]),
                incoming.join(old, on="reference", how="anti"),
            ]
        )

    def delete_batch(self, reference: str) -> None:
        self.tables["batches"] = self.tables["batches"].filter(pl.col("reference") != reference)

    # --- allocations

    def allocations(self, status: AllocationStatus) -> pl.DataFrame:
        return self.tables["allocations"].filter(status=status).select(*MOVES)

    def held_on_batches(
        self, *, sku: str | None = None, reference: str | None = None
    ) -> pl.DataFrame:
        references = self.batches(sku=sku, reference=reference)["reference"]
        return (
            self.tables["allocations"]
            .filter(pl.col("batch_ref").is_in(references.implode()))
            .sort("batch_ref", "status", "order_id", "sku")
            .select(*MOVES, "status")
        )

    def held_by_order(self, order_id: str, sku: str | None = None) -> pl.DataFrame:
        held = self._of(self.tables["allocations"], order_id=order_id, sku=sku)
        return held.sort("sku", "status", "batch_ref").select(*MOVES, "status")

    def over_frozen(self) -> OverFrozen:
        picked = self.allocations(AllocationStatus.PICKED)
        batches = self.batches().select("reference", "purchased_quantity")
        over = (
            picked.group_by("batch_ref")
            .agg(pl.col("qty").sum())
            .join(batches, left_on="batch_ref", right_on="reference")
            .filter(pl.col("qty") > pl.col("purchased_quantity"))["batch_ref"]
            .implode()
        )
        picks = picked.filter(pl.col("batch_ref").is_in(over))
        return OverFrozen(
            batches.filter(pl.col("reference").is_in(over)),
            picks,
            self.lines("order_id", "sku", "priority", "ordered_at", "arrival").join(
                picks.select(KEY), on=KEY, how="semi"
            ),
        )

    def change_allocations(
        self, status: AllocationStatus, changes: pl.DataFrame, run_id: str
    ) -> None:
        mine, others = self._split_allocations(status)
        named = changes.select(*ALLOCATION_KEY, new_qty="qty")
        # Named with a qty: set and stamped; named without: gone; not named: as they were.
        changed = (
            mine.join(named.drop_nulls("new_qty"), on=ALLOCATION_KEY)
            .with_columns(qty="new_qty", run_id=pl.lit(run_id))
            .drop("new_qty")
        )
        untouched = mine.join(named, on=ALLOCATION_KEY, how="anti")
        new = changes.filter(pl.col("qty_before").is_null()).select(*MOVES)
        added = new.with_columns(status=pl.lit(status), run_id=pl.lit(run_id))
        self.tables["allocations"] = pl.concat(
            [
                others,
                untouched,
                changed,
                conform(added, TABLES["allocations"]),
            ]
        )

    def add_allocations(self, status: AllocationStatus, rows: pl.DataFrame, run_id: str) -> None:
        mine, others = self._split_allocations(status)
        added = rows.select(*ALLOCATION_KEY, added="qty")
        grown = mine.join(added, on=ALLOCATION_KEY, how="full", coalesce=True).with_columns(
            qty=pl.col("qty").fill_null(0) + pl.col("added").fill_null(0),
            status=pl.lit(status),
            run_id=pl.when(pl.col("added").is_null()).then("run_id").otherwise(pl.lit(run_id)),
        )
        self.tables["allocations"] = pl.concat([others, conform(grown, TABLES["allocations"])])

    def subtract_allocations(self, rows: pl.DataFrame, run_id: str) -> None:
        taken = rows.select(*ALLOCATION_KEY, "status", taken="qty")
        shrunk = (
            self.tables["allocations"]
            .join(taken, on=[*ALLOCATION_KEY, "status"], how="left", maintain_order="left")
            .with_columns(
                qty=pl.col("qty") - pl.col("taken").fill_null(0),
                run_id=pl.when(pl.col("taken").is_null()).then("run_id").otherwise(pl.lit(run_id)),
            )
        )
        self.tables["allocations"] = shrunk.filter(pl.col("qty") > 0).drop("taken")

    def drop_reservations_of_cancelled_lines(self) -> None:
        cancelled = self.lines(*KEY, status=LineStatus.CANCELLED)
        reserved, others = self._split_allocations(AllocationStatus.RESERVED)
        kept = reserved.join(cancelled, on=KEY, how="anti")
        self.tables["allocations"] = pl.concat([others, kept])

    # --- history

    def append(self, table: str, rows: pl.DataFrame, **same_for_every_row: object) -> None:
        if table not in APPENDABLE_TABLES:
            raise ValueError(f"{table} is not a table rows are appended to")
        if rows.height:
            stamped = rows.with_columns(pl.lit(v).alias(k) for k, v in same_for_every_row.items())
            self.tables[table] = pl.concat([self.tables[table], conform(stamped, TABLES[table])])
            if table == "pick_list_lines":  # (its lines are the ledger's picks)
                self.append("ledger", self._picks_in_ledger(stamped))

    def ingested_hashes(self) -> set[str]:
        files = self.tables["ingested_files"].filter(pl.col("status") != FileStatus.SKIPPED)
        return set(files["content_hash"])

    def run_outputs(self, run_id: str) -> dict[str, pl.DataFrame]:
        outputs = {
            name: self.tables[table].filter(run_id=run_id).select(columns)
            for name, (table, columns) in OUTPUTS.items()
        }
        outputs["pick_lists"] = outputs["pick_lists"].sort("line_no")
        return outputs

    # --- runs

    def start_run(self, run_id: str, run_date: date, policy: str, started_at: datetime) -> None:
        if run_id in self.runs:
            raise ValueError(f"run {run_id} is already recorded")
        self.runs[run_id] = {
            **dict.fromkeys(RUNS),
            **dict.fromkeys(FIGURES, 0),
            "run_id": run_id,
            "run_date": run_date,
            "policy": policy,
            "started_at": started_at,
            "status": RunStatus.RUNNING,
        }

    def finish_run(self, run_id: str, figures: Mapping[str, int], finished_at: datetime) -> None:
        unknown = set(figures) - set(FIGURES)
        if unknown:
            raise ValueError(f"runs has no column {sorted(unknown)}")
        self.runs[run_id] |= {**figures, "status": RunStatus.COMMITTED, "finished_at": finished_at}

    def fail_run(self, run_id: str, reason: str, finished_at: datetime) -> None:
        self.runs[run_id] |= {
            "status": RunStatus.FAILED,
            "reason": reason,
            "finished_at": finished_at,
        }

    def run(self, run_id: str) -> dict[str, Any] | None:
        return dict(self.runs[run_id]) if run_id in self.runs else None

    def recent_runs(self, limit: int) -> pl.DataFrame:
        runs = pl.DataFrame(list(self.runs.values()), schema=RUNS)
        return runs.sort("started_at", "run_id", descending=True).head(limit)

    def pending_publications(self) -> pl.DataFrame:
        runs = pl.DataFrame(list(self.runs.values()), schema=RUNS)
        pending = runs.filter(
            pl.col("status") == RunStatus.COMMITTED, pl.col("published_at").is_null()
        )
        return pending.sort("started_at", "run_id").select("run_id", "run_date")

    def mark_published(self, run_id: str, published_at: datetime) -> None:
        self.runs[run_id]["published_at"] = published_at

    # --- invariants

    def invariant_breaches(self) -> dict[str, pl.DataFrame]:
        return breaches(self.tables, pl.DataFrame(list(self.runs.values()), schema=RUNS))

    # --- a night's shards

    def holds_allocations(self, status: AllocationStatus) -> bool:
        return not self.tables["allocations"].filter(status=status).is_empty()

    def ledger_reservations_as_planned(self, run_id: str) -> None:
        planned = self.tables["run_allocations"].filter(run_id=run_id, in_stock=False)
        self.append(
            "ledger",
            self._stamped_with_start(planned.drop("in_stock", "eta")),
            event=LedgerEvent.RESERVE.value,
            reason=RESERVE_REASON,
        )

    def record_planned_reservations(
        self, reservations: pl.DataFrame, run_id: str, shard: int | None = None
    ) -> None:
        self.append("run_allocations", reservations.with_columns(in_stock=False), run_id=run_id)

    def open_line_count(self) -> int:
        return self.lines("sku", status=LineStatus.OPEN).height

    def shard_night(self, shards: int) -> None:
        self._shards = shards  # (placed on the fly by the pure form of the hash)

    def shard_batches(self, shard: int) -> pl.DataFrame:
        return of_shard(self.batches(), shard, self._shards)

    def shard_open_lines(self, shard: int) -> pl.DataFrame:
        return of_shard(self.open_lines(), shard, self._shards)

    def shard_allocations(self, status: AllocationStatus, shard: int) -> pl.DataFrame:
        return of_shard(self.allocations(status), shard, self._shards)

    def stage_picks(self, picks: pl.DataFrame) -> None:
        self._staged.append(picks.select(*MOVES))

    def append_staged_pick_list(self, pick_list_id: str, run_id: str) -> None:
        staged = pl.concat([pl.DataFrame(schema=MOVES), *self._staged])
        self.append("pick_list_lines", pick_list(staged, pick_list_id), run_id=run_id)
        self._staged = []

    # --- helpers

    def _picks_in_ledger(self, lines: pl.DataFrame) -> pl.DataFrame:
        """Pick-list lines as the ledger's pick events, stamped with their run's start."""
        return self._stamped_with_start(lines).with_columns(
            event=pl.lit(LedgerEvent.PICK.value), reason=pl.lit(PICK_REASON)
        )

    def _stamped_with_start(self, rows: pl.DataFrame) -> pl.DataFrame:
        """Rows of runs, with their run's start time as `recorded_at` (rows of no run dropped)."""
        started = pl.DataFrame(
            [(run_id, run["started_at"]) for run_id, run in self.runs.items()],
            schema={"run_id": TEXT, "recorded_at": MOMENT},
            orient="row",
        )
        return rows.join(started, on="run_id")

    def _split_allocations(self, status: AllocationStatus) -> tuple[pl.DataFrame, pl.DataFrame]:
        allocations = self.tables["allocations"]
        return allocations.filter(status=status), allocations.filter(pl.col("status") != status)

    @staticmethod
    def _of(table: pl.DataFrame, **equal: str | None) -> pl.DataFrame:
        """The rows whose columns equal the values given (None: any value)."""
        given = {column: value for column, value in equal.items() if value is not None}
        return table.filter(**given) if given else table
