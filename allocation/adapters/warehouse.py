"""The warehouse store: repository and unit of work over the DuckDB file analysts query.

`Warehouse` is the interface the services are written against: named operations that read
and write frames, no SQL. `DuckDBWarehouse` is the real one; its SQL lives in
`warehouse_reads` and `warehouse_writes`. A unit of work is one transaction: everything a run
changes is committed together or not at all. Nothing connects until the unit of work is entered.
"""

from __future__ import annotations

import abc
import re
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from datetime import date, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import duckdb
import polars as pl

from allocation.adapters import schema, schema_record, snapshot
from allocation.adapters.night_operations import NightOperations
from allocation.adapters.report_reads import DuckDBReportReads
from allocation.adapters.shard_staging import DuckDBShardStaging
from allocation.adapters.snapshot_readers import SnapshotReaders
from allocation.adapters.warehouse_exports import DuckDBExports, OutputFile
from allocation.adapters.warehouse_loads import DuckDBLoads
from allocation.adapters.warehouse_reads import DEMAND_COLUMNS, DuckDBReads, OverFrozen
from allocation.adapters.warehouse_writes import APPENDABLE_TABLES, DuckDBWrites
from allocation.domain.status import AllocationStatus, LineStatus
from allocation.engine.plan import allocation_changes

__all__ = [
    "APPENDABLE_TABLES",
    "DuckDBWarehouse",
    "OutputFile",
    "OverFrozen",
    "Warehouse",
    "WarehouseBusy",
]


class WarehouseBusy(Exception):  # noqa: N818 - what an operator sees: the warehouse is busy
    """Another process holds the warehouse file; retry when it has finished."""


class Warehouse(NightOperations):
    """Repository and unit of work: the state the services read and change, one transaction.

    Reads return Polars frames (or plain values); writes take frames. No operation takes SQL.
    """

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.rollback()

    @abc.abstractmethod
    def commit(self) -> None:
        """Make every change since the unit of work began durable, at once."""

    @abc.abstractmethod
    def rollback(self) -> None:
        """Forget every uncommitted change (a no-op after commit)."""

    @contextmanager
    def readers_see_once(self) -> Iterator[None]:
        """Commits within the block reach readers together, once, when the block ends.

        For a warehouse without readers of its own (this default) it changes nothing.
        """
        yield

    # --- order lines ---------------------------------------------------------------------------

    @abc.abstractmethod
    def lines(
        self, *columns: str, status: LineStatus | None = None, order_id: str | None = None
    ) -> pl.DataFrame:
        """The given columns of every order line, or of those of one status and/or order."""

    def open_lines(self) -> pl.DataFrame:
        """The open demand: order_id, sku, qty, priority, ordered_at, arrival."""
        return self.lines(*DEMAND_COLUMNS, status=LineStatus.OPEN)

    @abc.abstractmethod
    def last_arrival(self) -> int:
        """The arrival number of the last line received (0 before the first)."""

    def known_lines(self, keys: pl.DataFrame) -> pl.DataFrame:
        """The order lines (order_id, sku, qty) of `keys`' (order_id, sku); only those read."""
        return self.lines("order_id", "sku", "qty").join(
            keys.select("order_id", "sku").unique(), on=["order_id", "sku"], how="semi"
        )

    @abc.abstractmethod
    def line_holdings(self, order_id: str, sku: str | None = None) -> pl.DataFrame:
        """An order's lines (or one), in arrival order, with the units picked and reserved.

        Columns: order_id, sku, qty, status, picked, reserved.
        """

    @abc.abstractmethod
    def set_line_status(self, keys: pl.DataFrame, status: LineStatus) -> None:
        """Set the status of the order lines whose `(order_id, sku)` are in `keys`."""

    # --- batches -------------------------------------------------------------------------------

    @abc.abstractmethod
    def batches(self, *, sku: str | None = None, reference: str | None = None) -> pl.DataFrame:
        """Batches (reference, sku, purchased_quantity, eta), of one sku or reference if given."""

    def known_batches(self, references: pl.DataFrame) -> pl.DataFrame:
        """The batches, as `batches` gives them, of `references`' references; only those read."""
        return self.batches().join(
            references.select("reference").unique(), on="reference", how="semi"
        )

    @abc.abstractmethod
    def upsert_batches(self, batches: pl.DataFrame, run_id: str) -> None:
        """Insert new batches and update the sku-matching ones by reference."""

    @abc.abstractmethod
    def delete_batch(self, reference: str) -> None:
        """Remove a batch (its allocations are taken back first, by the caller)."""

    # --- allocations ---------------------------------------------------------------------------

    @abc.abstractmethod
    def allocations(self, status: AllocationStatus) -> pl.DataFrame:
        """The allocations of one status: order_id, sku, batch_ref, qty."""

    @abc.abstractmethod
    def held_on_batches(
        self, *, sku: str | None = None, reference: str | None = None
    ) -> pl.DataFrame:
        """Allocations (with status) on the batches `batches(sku=, reference=)` returns.

        Columns: order_id, sku, batch_ref, qty, status; by batch_ref, status, order_id, sku.
        Only the allocations of those batches are read, not every allocation.
        """

    @abc.abstractmethod
    def held_by_order(self, order_id: str, sku: str | None = None) -> pl.DataFrame:
        """Allocations (with status) of an order, or of one of its lines.

        Columns: order_id, sku, batch_ref, qty, status; by sku, status, batch_ref.
        """

    @abc.abstractmethod
    def over_frozen(self) -> OverFrozen:
        """The batches whose picks exceed their quantity, with those picks and their lines."""

    @abc.abstractmethod
    def change_allocations(
        self, status: AllocationStatus, changes: pl.DataFrame, run_id: str
    ) -> None:
        """Apply `changes` to the allocations of one status, touching only the keys they name.

        `changes`: order_id, sku, batch_ref, qty, qty_before (`plan.allocation_changes` of
        the allocations held and those wanted), one row per key. `qty` null: the allocation
        is deleted; `qty_before` null: it is inserted; otherwise its qty is set. Inserted and
        updated allocations are stamped with `run_id`.
        """

    @abc.abstractmethod
    def add_allocations(self, status: AllocationStatus, rows: pl.DataFrame, run_id: str) -> None:
        """Add `rows`' quantities to the allocations of one status, stamping those with `run_id`.

        A key already allocated grows by the row's qty; a new key is inserted. Only the
        allocations of the keys given are touched (one line's, for an operator's allocate).
        """

    @abc.abstractmethod
    def subtract_allocations(self, rows: pl.DataFrame, run_id: str) -> None:
        """Take `rows`' quantities off the allocations of the same key and status.

        `rows`: order_id, sku, batch_ref, status, qty, one row per key and status. An
        allocation left with nothing is deleted; one that shrinks is stamped with `run_id`;
        a row naming no allocation changes nothing. Only the allocations named are touched.
        """

    @abc.abstractmethod
    def drop_reservations_of_cancelled_lines(self) -> None:
        """Delete every reservation whose order line is cancelled."""

    # --- history: inputs, outputs, ledger ------------------------------------------------------

    @abc.abstractmethod
    def append(self, table: str, rows: pl.DataFrame, **same_for_every_row: object) -> None:
        """Append rows to a table that grows by rows (history, inputs), matching columns by name.

        `same_for_every_row` gives columns whose value is one for all rows (a run id, an event).
        Lines appended to `pick_list_lines` are in the `ledger` as its pick events too (with
        their run's start time), so picks are never appended to the ledger themselves; and
        they are their run's in-stock `run_allocations`, so the in-stock rows appended there
        must be the run's pick-list lines (only the others are kept).
        """

    @abc.abstractmethod
    def ingested_hashes(self) -> set[str]:
        """The content hashes of the input files already ingested (loaded or rejected)."""

    @abc.abstractmethod
    def run_outputs(self, run_id: str) -> dict[str, pl.DataFrame]:
        """A run's recorded outputs, by name, in the columns of their published contracts.

        allocations, pick_lists (by line number), shortages, rejects, withdrawals.
        """

    def write_run_outputs(self, run_id: str, folder: Path) -> dict[str, OutputFile]:
        """Write each of `run_outputs` to `folder/<name>.parquet` (zstd), by name.

        (The DuckDB warehouse writes them from its tables, never reading rows into Python.)
        """
        files: dict[str, OutputFile] = {}
        for name, frame in self.run_outputs(run_id).items():
            path = folder / f"{name}.parquet"
            frame.write_parquet(path, compression="zstd")
            files[name] = OutputFile(path, frame.height)
        return files

    # --- runs ----------------------------------------------------------------------------------

    @abc.abstractmethod
    def start_run(self, run_id: str, run_date: date, policy: str, started_at: datetime) -> None:
        """Record a run as running."""

    @abc.abstractmethod
    def finish_run(self, run_id: str, figures: Mapping[str, int], finished_at: datetime) -> None:
        """Record a run's figures, and the run as committed."""

    @abc.abstractmethod
    def fail_run(self, run_id: str, reason: str, finished_at: datetime) -> None:
        """Record a run as failed, and why."""

    @abc.abstractmethod
    def run(self, run_id: str) -> dict[str, Any] | None:
        """A run's row in `runs`, by column name (None if there is no such run)."""

    @abc.abstractmethod
    def recent_runs(self, limit: int) -> pl.DataFrame:
        """The latest runs' rows in `runs`, latest first."""

    @abc.abstractmethod
    def pending_publications(self) -> pl.DataFrame:
        """Committed runs not yet published (run_id, run_date), in run order."""

    @abc.abstractmethod
    def mark_published(self, run_id: str, published_at: datetime) -> None:
        """Record that a run's outputs are in the outbox."""

    # --- invariants ----------------------------------------------------------------------------

    @abc.abstractmethod
    def invariant_breaches(self) -> dict[str, pl.DataFrame]:
        """For each invariant (named by its rule), the rows that break it (none: it holds)."""

    # --- a night's plan (and its shards: `NightOperations`) -----------------------------------

    def changed_allocations(
        self, status: AllocationStatus, wanted: pl.DataFrame, shard: int | None = None
    ) -> pl.DataFrame:
        """The allocations of one status that differ from `wanted`: held, wanted, or both.

        The night's allocations (`shard` None) or a shard's are compared with `wanted`
        (order_id, sku, batch_ref, qty, one row per key), as `plan.allocation_changes` of the
        two: the key, qty (null: not wanted) and qty_before (null: not held). (The DuckDB
        warehouse compares them where they are held, never reading them all out.)
        """
        held = self.allocations(status) if shard is None else self.shard_allocations(status, shard)
        return allocation_changes(held, wanted)


class DuckDBWarehouse(
    DuckDBShardStaging,
    DuckDBReads,
    DuckDBWrites,
    DuckDBLoads,
    DuckDBExports,
    DuckDBReportReads,
    Warehouse,
):
    """The warehouse in DuckDB files: one writer process at a time, readers never in the way.

    Writers open a private master file; each commit is published at `path` as a snapshot that
    any number of readers can hold open (see `snapshot`). `read_only=True` opens that snapshot
    for reading: it never waits for a writer nor makes one wait.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        busy_timeout: float = 0.0,
        read_only: bool = False,
        memory_limit: str | None = None,
    ) -> None:
        self.path = str(path)
        self.busy_timeout = busy_timeout
        self.read_only = read_only
        self.memory_limit = memory_limit
        """DuckDB's `memory_limit` for the writer's connection (None: DuckDB's default).

        Beyond it DuckDB evicts blocks already in the file and spills temporary ones to disk;
        without one, a night's uncommitted writes stay in its buffers until the commit."""
        self._connection: duckdb.DuckDBPyConnection | None = None
        self._layout = None if self.path == ":memory:" else snapshot.Layout(Path(self.path))
        self._deferring = False
        self._unpublished = False

    def __enter__(self) -> Self:
        self._connection = self._connect()
        if self.read_only:
            return self
        try:
            # The schema is brought up to date in a transaction of its own, so that a unit of
            # work rolled back later (a failed run) never takes the tables away with it. When
            # it changes nothing it is rolled back, so the master file is left untouched.
            self._run("BEGIN TRANSACTION")
            record = None if self._layout is None else self._layout.schema_record
            if schema_record.bring_up_to_date(self._connection, record):
                self.commit()
            else:
                self._run("ROLLBACK")
                if self._layout is not None and snapshot.needs_publishing(self._layout):
                    # The last writer died between its commit and publishing it.
                    self._run("CHECKPOINT")
                    snapshot.publish(self._layout)
                self._run("BEGIN TRANSACTION")
        except BaseException:
            self._connection.close()
            self._connection = None
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self.rollback()
        finally:
            self.unstage_night()
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    @classmethod
    @contextmanager
    def on_snapshot(cls, readers: SnapshotReaders) -> Iterator[DuckDBWarehouse]:
        """The published snapshot for one read, on a cursor of the snapshot `readers` keep open.

        Read-only, like `read_only=True`, without the cost of opening the file each time.
        """
        with ExitStack() as held:
            try:
                connection = held.enter_context(readers.cursor())
            except duckdb.IOException as error:
                if "lock" not in str(error).lower():
                    raise
                raise WarehouseBusy(_busy_message(str(readers.path), str(error))) from None
            warehouse = cls(readers.path, read_only=True)
            warehouse._connection = connection
            try:
                yield warehouse
            finally:
                warehouse._connection = None

    def ensure_available(self) -> None:
        """Fail fast with `WarehouseBusy` if another writer holds the warehouse (waits as usual).

        Opened and closed as a unit of work, so a new warehouse is created and published, and
        a commit a dead writer left unpublished is published, before anything else happens.
        """
        with self:
            pass

    @property
    def connection(self) -> duckdb.DuckDBPyConnection:
        """The open connection (only inside the unit of work)."""
        if self._connection is None:
            raise RuntimeError("the warehouse is only open inside `with DuckDBWarehouse(...)`")
        return self._connection

    def commit(self) -> None:
        """Commit, publish the commit at `path`, and start a fresh transaction.

        The master is checkpointed first, so the published copy is the whole committed state
        in one file. A writer killed before the commit leaves the published state as it was;
        killed after it, before the snapshot is in place, the next writer publishes it.
        """
        if self.read_only:
            raise RuntimeError(f"warehouse {self.path} was opened read-only")
        if self._layout is None:
            self._run("COMMIT")
        else:
            snapshot.mark_unpublished(self._layout)
            self._run("COMMIT")
            if self._deferring:
                self._unpublished = True
            else:
                self._publish()
        self._run("BEGIN TRANSACTION")

    @contextmanager
    def readers_see_once(self) -> Iterator[None]:
        """Commits within the block are published at `path` once, when the block ends.

        An operation commits its run, then marks it published once its files are out: one
        publication instead of two (each compares the whole file: 0.17 s at 10M lines). The
        commits are durable at once; a writer killed in the block leaves the marker, so the
        next writer publishes them. Changes left uncommitted when the block ends are rolled back
        (the snapshot is taken outside a transaction), as the unit of work would on leaving.
        """
        self._deferring = True
        try:
            yield
        finally:
            self._deferring = False
            if self._unpublished:
                self._unpublished = False
                self._run("ROLLBACK")
                self._publish()
                self._run("BEGIN TRANSACTION")

    def _publish(self) -> None:
        """Checkpoint the master and publish it as the readers' snapshot."""
        if self._layout is None:
            return
        self._run("CHECKPOINT")
        snapshot.publish(self._layout)

    def rollback(self) -> None:
        """Roll back whatever is uncommitted."""
        if self._connection is not None and not self.read_only:
            self._run("ROLLBACK")
            self._run("BEGIN TRANSACTION")

    def _connect(self) -> duckdb.DuckDBPyConnection:
        """Open the master (read-only: the snapshot), waiting up to `busy_timeout` s if held."""
        deadline = time.monotonic() + self.busy_timeout
        while True:
            try:
                return self._open()
            except duckdb.IOException as error:
                if "lock" not in str(error).lower():
                    raise
                if time.monotonic() >= deadline:
                    raise WarehouseBusy(_busy_message(self.path, str(error))) from None
                time.sleep(0.25)

    def _open(self) -> duckdb.DuckDBPyConnection:
        """One attempt at opening the file this unit of work reads or writes."""
        if self._layout is None:
            return duckdb.connect(self.path)
        if self.read_only:
            if not self._layout.public.exists():
                raise FileNotFoundError(f"no warehouse at {self.path} yet")
            return duckdb.connect(self.path, read_only=True)
        self._layout.writer_dir.mkdir(parents=True, exist_ok=True)
        snapshot.adopt(self._layout)  # a file of an earlier release, if there is one
        limit = {} if self.memory_limit is None else {"memory_limit": self.memory_limit}
        return duckdb.connect(str(self._layout.master), config={**schema.CONFIG, **limit})


def _busy_message(path: str, error: str) -> str:
    holder = re.search(r"PID (\d+)", error)
    who = f" (held by process {holder.group(1)})" if holder else ""
    return f"warehouse {path} is busy{who}: another run or operation is using it; retry later"
