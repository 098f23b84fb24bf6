"""The warehouse store: repository and unit of work over the DuckDB file analysts query.

`Warehouse` is the small interface the services are written against; `DuckDBWarehouse` is the
real one. A unit of work is one transaction: everything a run changes is committed together
or not at all. Nothing connects until the unit of work is entered.
"""

from __future__ import annotations

import abc
import re
import time
from pathlib import Path
from types import TracebackType
from typing import Final, Self

import duckdb
import polars as pl

from allocation.adapters import schema, snapshot, views

APPENDABLE_TABLES: Final = frozenset(
    {
        "ingested_files",
        "rejects",
        "run_allocations",
        "pick_list_lines",
        "run_shortages",
        "withdrawals",
        "ledger",
        "order_lines",  # rows are added here; only their status changes afterwards
    }
)
_ALLOCATION_KEY: Final = ("order_id", "sku", "batch_ref")
"""An allocation's key within one status (one row per key and status)."""
_SAME_ALLOCATION: Final = " AND ".join(f"a.{column} = r.{column}" for column in _ALLOCATION_KEY)
"""SQL: allocation `a` (a table row) has the key of row `r` (a registered frame's row)."""


class WarehouseBusy(Exception):  # noqa: N818 - what an operator sees: the warehouse is busy
    """Another process holds the warehouse file; retry when it has finished."""


class Warehouse(abc.ABC):
    """Repository and unit of work: the state the services read and change, one transaction."""

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

    @abc.abstractmethod
    def query(self, sql: str, parameters: list[object] | None = None) -> pl.DataFrame:
        """Read a frame with SQL (reads only; writes go through the methods below)."""

    @abc.abstractmethod
    def append(self, table: str, rows: pl.DataFrame, **same_for_every_row: object) -> None:
        """Append rows to a table that grows by rows (history, inputs), matching columns by name.

        `same_for_every_row` gives columns whose value is one for all rows (a run id, an event).
        """

    @abc.abstractmethod
    def upsert_batches(self, batches: pl.DataFrame, run_id: str) -> None:
        """Insert new batches and update the sku-matching ones by reference."""

    @abc.abstractmethod
    def set_line_status(self, keys: pl.DataFrame, status: str) -> None:
        """Set the status of the order lines whose `(order_id, sku)` are in `keys`."""

    @abc.abstractmethod
    def replace_allocations(self, status: str, rows: pl.DataFrame, run_id: str) -> None:
        """Make the allocations of one status ('picked' or 'reserved') equal `rows`.

        `rows`: order_id, sku, batch_ref, qty, one row per key. An allocation whose qty
        changes, or that is new, is stamped with `run_id`; one left as it was keeps its run.
        """

    @abc.abstractmethod
    def add_allocations(self, status: str, rows: pl.DataFrame, run_id: str) -> None:
        """Add `rows`' quantities to the allocations of one status, stamping those with `run_id`.

        A key already allocated grows by the row's qty; a new key is inserted.
        """

    @abc.abstractmethod
    def execute(self, sql: str, parameters: list[object] | None = None) -> None:
        """Run one statement that changes run bookkeeping (`runs`), inside the transaction."""


class DuckDBWarehouse(Warehouse):
    """The warehouse in DuckDB files: one writer process at a time, readers never in the way.

    Writers open a private master file; each commit is published at `path` as a snapshot that
    any number of readers can hold open (see `snapshot`). `read_only=True` opens that snapshot
    for reading: it never waits for a writer nor makes one wait.
    """

    def __init__(
        self, path: str | Path, *, busy_timeout: float = 0.0, read_only: bool = False
    ) -> None:
        self.path = str(path)
        self.busy_timeout = busy_timeout
        self.read_only = read_only
        self._connection: duckdb.DuckDBPyConnection | None = None
        self._layout = None if self.path == ":memory:" else snapshot.Layout(Path(self.path))

    def __enter__(self) -> Self:
        self._connection = self._connect()
        if self.read_only:
            return self
        try:
            # The schema is brought up to date in a transaction of its own, so that a unit of
            # work rolled back later (a failed run) never takes the tables away with it. When
            # it changes nothing it is rolled back, so the master file is left untouched.
            self._run("BEGIN TRANSACTION")
            before = schema.fingerprint(self._connection)
            schema.upgrade(self._connection)
            views.create_views(self._connection)
            if schema.fingerprint(self._connection) != before:
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
            if self._connection is not None:
                self._connection.close()
                self._connection = None

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
            self._run("CHECKPOINT")
            snapshot.publish(self._layout)
        self._run("BEGIN TRANSACTION")

    def rollback(self) -> None:
        """Roll back whatever is uncommitted."""
        if self._connection is not None and not self.read_only:
            self._run("ROLLBACK")
            self._run("BEGIN TRANSACTION")

    def query(self, sql: str, parameters: list[object] | None = None) -> pl.DataFrame:
        """Run a read query and return a Polars frame."""
        frame: pl.DataFrame = self.connection.sql(sql, params=parameters or None).pl()
        return frame

    def execute(self, sql: str, parameters: list[object] | None = None) -> None:
        """Run one statement inside the transaction."""
        self._run(sql, parameters or [])

    def append(self, table: str, rows: pl.DataFrame, **same_for_every_row: object) -> None:
        """Append rows by column name.

        The columns the same for every row are added in SQL: as frame columns, a run id or a
        reason would be written out once per row on the way to DuckDB (about half a gigabyte
        for the ten million rows of a large first night's ledger).
        """
        if table not in APPENDABLE_TABLES:
            raise ValueError(f"{table} is not a table rows are appended to")
        if rows.height:
            self._register("_rows", rows)
            constants = "".join(f", ${name} AS {name}" for name in same_for_every_row)
            self._run(
                f"INSERT INTO {table} BY NAME SELECT *{constants} FROM _rows",
                same_for_every_row or None,
            )
            self.connection.unregister("_rows")

    def upsert_batches(self, batches: pl.DataFrame, run_id: str) -> None:
        """Insert or update batches by reference, keeping who created them."""
        if not batches.height:
            return
        self._register("_batches", batches)
        self._run(
            """
            INSERT INTO batches BY NAME
            SELECT reference, sku, purchased_quantity, eta,
                   $run_id AS created_run_id, $run_id AS updated_run_id
            FROM _batches
            ON CONFLICT (reference) DO UPDATE SET
                purchased_quantity = excluded.purchased_quantity,
                eta = excluded.eta,
                updated_run_id = excluded.updated_run_id
            """,
            {"run_id": run_id},
        )
        self.connection.unregister("_batches")

    def set_line_status(self, keys: pl.DataFrame, status: str) -> None:
        """Update the status of the given lines."""
        if not keys.height:
            return
        self._register("_keys", keys.select("order_id", "sku"))
        self._run(
            """
            UPDATE order_lines SET status = $status
            FROM _keys WHERE order_lines.order_id = _keys.order_id
                        AND order_lines.sku = _keys.sku
            """,
            {"status": status},
        )
        self.connection.unregister("_keys")

    def replace_allocations(self, status: str, rows: pl.DataFrame, run_id: str) -> None:
        """Make the allocations of `status` equal `rows`, touching only the rows that differ.

        Most allocations are the same from night to night, so rows no longer wanted are
        deleted, rows whose qty changed are updated in place, and only new keys are inserted,
        rather than rewriting (and re-stamping) the whole table every night.
        """
        if not rows.height:
            self._run("DELETE FROM allocations WHERE status = ?", [status])
            return
        self._register("_allocations", rows.select(*_ALLOCATION_KEY, "qty"))
        parameters = {"status": status, "run_id": run_id}
        self._run(
            f"""
            DELETE FROM allocations a WHERE a.status = $status
            AND NOT EXISTS (SELECT 1 FROM _allocations r WHERE {_SAME_ALLOCATION})
            """,
            {"status": status},
        )
        self._run(
            f"""
            UPDATE allocations a SET qty = r.qty, run_id = $run_id FROM _allocations r
            WHERE a.status = $status AND {_SAME_ALLOCATION} AND a.qty <> r.qty
            """,
            parameters,
        )
        self._insert_new_keys(parameters)

    def add_allocations(self, status: str, rows: pl.DataFrame, run_id: str) -> None:
        """Grow the allocations of `status` by `rows`: existing keys by their qty, new inserted."""
        if not rows.height:
            return
        self._register("_allocations", rows.select(*_ALLOCATION_KEY, "qty"))
        parameters = {"status": status, "run_id": run_id}
        self._run(
            f"""
            UPDATE allocations a SET qty = a.qty + r.qty, run_id = $run_id FROM _allocations r
            WHERE a.status = $status AND {_SAME_ALLOCATION}
            """,
            parameters,
        )
        self._insert_new_keys(parameters)

    def _insert_new_keys(self, parameters: dict[str, str]) -> None:
        """Insert the rows of `_allocations` whose key has no allocation of the status yet."""
        self._run(
            f"""
            INSERT INTO allocations BY NAME
            SELECT order_id, sku, batch_ref, qty, $status AS status, $run_id AS run_id
            FROM _allocations r
            WHERE NOT EXISTS (
                SELECT 1 FROM allocations a WHERE a.status = $status AND {_SAME_ALLOCATION}
            )
            """,
            parameters,
        )
        self.connection.unregister("_allocations")

    def _register(self, name: str, rows: pl.DataFrame) -> None:
        """Make a frame readable in SQL as `name`, without copying its text.

        Registered as is, a Polars frame reaches DuckDB as Arrow large strings, a copy of every
        text value; Polars' newest Arrow export keeps its string views, which DuckDB reads as
        they are. On millions of rows that halves the time of an insert and most of its memory.
        """
        self.connection.register(name, rows.to_arrow(compat_level=pl.CompatLevel.newest()))

    def _run(self, sql: str, parameters: object = None) -> None:
        """Run a statement to completion (DuckDB 2 keeps a result open until it is consumed)."""
        self.connection.execute(sql, parameters).complete()

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
        return duckdb.connect(str(self._layout.master), config=schema.CONFIG)


def _busy_message(path: str, error: str) -> str:
    holder = re.search(r"PID (\d+)", error)
    who = f" (held by process {holder.group(1)})" if holder else ""
    return f"warehouse {path} is busy{who}: another run or operation is using it; retry later"
