"""One published snapshot's holdings in memory, looked up by key in microseconds, not a scan.

DuckDB answers a look-up of one batch, SKU or order by scanning a column of millions of strings
(the tables are not ordered by those keys, and its string statistics keep only a prefix every id
shares). A `ReadModel` loads the tables those look-ups read (batches, allocations, order lines)
once per publication, a copy sorted by each key looked up, and a dictionary of where each key's
rows are: a look-up is a dictionary look-up and a slice (no Polars query, whose start alone
costs more than the look-up). It answers the four holdings reads of the `Warehouse` interface
(`HoldingsReads`) with the same rows, columns and order as the DuckDB reads, for the one
publication it was loaded from.

An allocation's SKU is its batch's (an invariant `check_invariants` verifies after every night),
so a batch's allocations are found among its SKU's rather than through an index of their own.
"""

from __future__ import annotations

from typing import Final

import duckdb
import numpy as np
import polars as pl

from allocation.adapters.snapshot_readers import Publication
from allocation.adapters.warehouse_reads import HELD_COLUMNS
from allocation.domain.status import AllocationStatus

BATCH_COLUMNS: Final = "reference, sku, purchased_quantity, eta"
LINE_COLUMNS: Final = "order_id, sku, qty, status, arrival"
_HELD_ON_BATCHES_ORDER: Final = ("batch_ref", "status", "order_id", "sku")
_LINE_HOLDINGS: Final = {
    "order_id": pl.String,
    "sku": pl.String,
    "qty": pl.Int64,
    "status": pl.String,
    "picked": pl.Int64,
    "reserved": pl.Int64,
}


class _Runs:
    """Where each key's rows are in a frame sorted by that key: one run of rows per key."""

    def __init__(self, frame: pl.DataFrame, column: str) -> None:
        keys = frame.get_column(column)
        starts = (keys != keys.shift()).fill_null(value=True).arg_true()
        self._frame = frame
        self._run_of = {key: run for run, key in enumerate(keys.gather(starts).to_list())}
        self._bounds = np.append(starts.to_numpy(), frame.height).astype(np.int64)

    def rows(self, key: str) -> pl.DataFrame:
        """The rows whose key is `key`, in the frame's order (none if there are none)."""
        run = self._run_of.get(key)
        if run is None:
            return self._frame.clear()
        first = int(self._bounds[run])
        return self._frame.slice(first, int(self._bounds[run + 1]) - first)

    def size(self) -> int:
        """Bytes held by the index itself (roughly: its keys are shared with Python's)."""
        return self._bounds.nbytes + 100 * len(self._run_of)


class ReadModel:
    """The holdings of one publication, in memory, each table sorted by each key looked up."""

    def __init__(self, connection: duckdb.DuckDBPyConnection, published: Publication) -> None:
        """Load the tables from `connection`, a read on the snapshot of `published`.

        DuckDB sorts each copy (its sort is parallel, and quicker than Polars' on strings), in
        the order the DuckDB reads give their answers, so that a look-up is a slice.
        """
        self.published = published

        def load(sql: str) -> pl.DataFrame:
            frame: pl.DataFrame = connection.sql(sql).pl()
            return frame

        batches = f"SELECT {BATCH_COLUMNS} FROM batches"
        held = f"SELECT {HELD_COLUMNS} FROM allocations"
        self._frames = (
            load(f"{batches} ORDER BY reference"),
            load(f"{batches} ORDER BY sku, reference"),
            load(f"{held} ORDER BY sku, batch_ref, status, order_id"),
            load(f"{held} ORDER BY order_id, sku, status, batch_ref"),
            load(f"SELECT {LINE_COLUMNS} FROM order_lines ORDER BY order_id, arrival"),
        )
        by_reference, by_sku, held_by_sku, held_by_order, lines_by_order = self._frames
        self._batch = _Runs(by_reference, "reference")
        self._batches_of_sku = _Runs(by_sku, "sku")
        self._held_on_sku = _Runs(held_by_sku, "sku")
        self._held_on_batch = _Runs(held_by_sku, "batch_ref")
        self._held_by_order = _Runs(held_by_order, "order_id")
        self._lines_of_order = _Runs(lines_by_order, "order_id")

    @property
    def rows(self) -> int:
        """Rows held, all tables together (each table once)."""
        by_reference, _, held, _, lines = self._frames
        return by_reference.height + held.height + lines.height

    def size(self) -> int:
        """Bytes held, about: the frames (as Polars estimates them) and their indexes."""
        indexes = (
            self._batch,
            self._batches_of_sku,
            self._held_on_sku,
            self._held_on_batch,
            self._held_by_order,
            self._lines_of_order,
        )
        frames = sum(frame.estimated_size() for frame in self._frames)
        return int(frames + sum(index.size() for index in indexes))

    def batches(self, *, sku: str | None = None, reference: str | None = None) -> pl.DataFrame:
        """Batches (reference, sku, purchased_quantity, eta), of one sku or reference if given."""
        if reference is not None:
            found = self._batch.rows(reference)
            if sku is not None and found.height and found.item(0, "sku") != sku:
                return found.clear()
            return found
        if sku is not None:
            return self._batches_of_sku.rows(sku)
        return self._frames[0]

    def held_on_batches(
        self, *, sku: str | None = None, reference: str | None = None
    ) -> pl.DataFrame:
        """Allocations on the batches `batches(sku=, reference=)` returns, as DuckDB orders them.

        Columns: order_id, sku, batch_ref, qty, status; by batch_ref, status, order_id, sku.
        """
        if sku is None and reference is None:
            held = self._frames[2]
            known = held.get_column("batch_ref").is_in(self._frames[0].get_column("reference"))
            return held.filter(known).sort(_HELD_ON_BATCHES_ORDER)
        if self.batches(sku=sku, reference=reference).is_empty():
            return self._frames[2].clear()
        if reference is not None:  # (a batch's allocations are among its SKU's: sorted alike)
            return self._held_on_batch.rows(reference)
        assert sku is not None
        return self._held_on_sku.rows(sku)

    def held_by_order(self, order_id: str, sku: str | None = None) -> pl.DataFrame:
        """Allocations of an order, or of one of its lines; by sku, status, batch_ref."""
        return _of_sku(self._held_by_order.rows(order_id), sku)

    def line_holdings(self, order_id: str, sku: str | None = None) -> pl.DataFrame:
        """An order's lines (or one), in arrival order, with the units picked and reserved.

        Columns: order_id, sku, qty, status, picked, reserved. (Computed in Python: an order
        has a handful of rows, fewer than a Polars query costs to start.)
        """
        lines = _of_sku(self._lines_of_order.rows(order_id), sku)
        units: dict[tuple[str, str], int] = {}
        for held in _of_sku(self._held_by_order.rows(order_id), sku).iter_rows(named=True):
            key = (held["sku"], held["status"])
            units[key] = units.get(key, 0) + held["qty"]
        found: dict[str, list[object]] = {column: [] for column in _LINE_HOLDINGS}
        for line in lines.iter_rows(named=True):
            for column in ("order_id", "sku", "qty", "status"):
                found[column].append(line[column])
            found["picked"].append(units.get((line["sku"], AllocationStatus.PICKED), 0))
            found["reserved"].append(units.get((line["sku"], AllocationStatus.RESERVED), 0))
        return pl.DataFrame(found, schema=_LINE_HOLDINGS)


def _of_sku(rows: pl.DataFrame, sku: str | None) -> pl.DataFrame:
    """The rows of one SKU, when given, of rows sorted by SKU (an order's: a few rows)."""
    if sku is None:
        return rows
    skus = rows.get_column("sku").to_list()
    if sku not in skus:
        return rows.clear()
    first = skus.index(sku)
    return rows.slice(first, skus.count(sku))


def rows_in(connection: duckdb.DuckDBPyConnection) -> int:
    """Rows of the tables a model loads, all together (DuckDB counts them without a scan)."""
    counted = connection.execute(
        "SELECT (SELECT count(*) FROM batches) + (SELECT count(*) FROM allocations) "
        "+ (SELECT count(*) FROM order_lines)"
    ).fetchall()
    rows: int = counted[0][0]
    return rows
