"""One published snapshot's holdings in memory, looked up by key in microseconds, not a scan.

DuckDB answers a look-up of one batch, SKU or order by scanning a column of millions of strings
(the tables are not ordered by those keys, and its string statistics keep only a prefix every id
shares). A `ReadModel` loads the tables those look-ups read (batches, allocations, order lines)
once per publication and keeps, for each key looked up, the keys in order and where each row is:
a look-up is two binary searches and a gather of the rows found. It answers the four holdings
reads of the `Warehouse` interface (`HoldingsReads`) with the same rows, columns and order as
the DuckDB reads, for the one publication it was loaded from.

An allocation's SKU is its batch's (an invariant `check_invariants` verifies after every night),
so a batch's allocations are found among its SKU's rather than through an index of their own.
"""

from __future__ import annotations

from typing import Final

import duckdb
import polars as pl

from allocation.adapters.snapshot_readers import Publication
from allocation.adapters.warehouse_reads import HELD_COLUMNS
from allocation.domain.status import AllocationStatus

BATCH_COLUMNS: Final = "reference, sku, purchased_quantity, eta"
LINE_COLUMNS: Final = "order_id, sku, qty, status, arrival"
_HELD_ON_BATCHES_ORDER: Final = ("batch_ref", "status", "order_id", "sku")
_HELD_BY_ORDER_ORDER: Final = ("sku", "status", "batch_ref")


class _Index:
    """The rows of a frame by one key column: the keys in order, and each one's row."""

    def __init__(self, frame: pl.DataFrame, column: str) -> None:
        self._frame = frame
        self._rows = frame.get_column(column).arg_sort()
        self._keys = frame.get_column(column).gather(self._rows)

    def rows(self, key: str) -> pl.DataFrame:
        """The rows whose key column equals `key` (in no particular order)."""
        first = self._keys.search_sorted(key, side="left")
        end = self._keys.search_sorted(key, side="right")
        return self._frame[self._rows.slice(first, end - first)]


class ReadModel:
    """The holdings of one publication, in memory, with an index for each key looked up."""

    def __init__(self, connection: duckdb.DuckDBPyConnection, published: Publication) -> None:
        """Load the tables from `connection`, a read on the snapshot of `published`."""
        self.published = published
        self._batches: pl.DataFrame = connection.sql(f"SELECT {BATCH_COLUMNS} FROM batches").pl()
        self._held: pl.DataFrame = connection.sql(f"SELECT {HELD_COLUMNS} FROM allocations").pl()
        self._lines: pl.DataFrame = connection.sql(f"SELECT {LINE_COLUMNS} FROM order_lines").pl()
        self._batch_by_reference = _Index(self._batches, "reference")
        self._batches_by_sku = _Index(self._batches, "sku")
        self._held_by_sku = _Index(self._held, "sku")
        self._held_by_order = _Index(self._held, "order_id")
        self._lines_by_order = _Index(self._lines, "order_id")

    @property
    def rows(self) -> int:
        """Rows held, all tables together."""
        return self._batches.height + self._held.height + self._lines.height

    def size(self) -> int:
        """Bytes held (the frames and their indexes, as Polars estimates them)."""
        frames = self._batches.estimated_size() + self._held.estimated_size()
        indexes = sum(
            index._keys.estimated_size() + index._rows.estimated_size()
            for index in (
                self._batch_by_reference,
                self._batches_by_sku,
                self._held_by_sku,
                self._held_by_order,
                self._lines_by_order,
            )
        )
        return int(frames + self._lines.estimated_size() + indexes)

    def batches(self, *, sku: str | None = None, reference: str | None = None) -> pl.DataFrame:
        """Batches (reference, sku, purchased_quantity, eta), of one sku or reference if given."""
        if reference is not None:
            found = self._batch_by_reference.rows(reference)
            return found if sku is None else found.filter(pl.col("sku") == sku)
        if sku is not None:
            return self._batches_by_sku.rows(sku)
        return self._batches

    def held_on_batches(
        self, *, sku: str | None = None, reference: str | None = None
    ) -> pl.DataFrame:
        """Allocations on the batches `batches(sku=, reference=)` returns, as DuckDB orders them.

        Columns: order_id, sku, batch_ref, qty, status; by batch_ref, status, order_id, sku.
        """
        batches = self.batches(sku=sku, reference=reference)
        if sku is None and reference is None:
            held = self._held.filter(pl.col("batch_ref").is_in(batches.get_column("reference")))
        elif batches.is_empty():
            held = self._held.clear()
        else:
            # One SKU's allocations (a batch's are among its SKU's), then those batches' only.
            held = self._held_by_sku.rows(sku if sku is not None else batches.item(0, "sku"))
            if reference is not None:
                held = held.filter(pl.col("batch_ref") == reference)
        return held.sort(_HELD_ON_BATCHES_ORDER)

    def held_by_order(self, order_id: str, sku: str | None = None) -> pl.DataFrame:
        """Allocations of an order, or of one of its lines; by sku, status, batch_ref."""
        held = self._held_by_order.rows(order_id)
        if sku is not None:
            held = held.filter(pl.col("sku") == sku)
        return held.sort(_HELD_BY_ORDER_ORDER)

    def line_holdings(self, order_id: str, sku: str | None = None) -> pl.DataFrame:
        """An order's lines (or one), in arrival order, with the units picked and reserved.

        Columns: order_id, sku, qty, status, picked, reserved.
        """
        lines = self._lines_by_order.rows(order_id)
        held = self._held_by_order.rows(order_id)
        if sku is not None:
            lines = lines.filter(pl.col("sku") == sku)
            held = held.filter(pl.col("sku") == sku)
        units = held.group_by("sku").agg(
            picked=pl.col("qty").filter(pl.col("status") == AllocationStatus.PICKED).sum(),
            reserved=pl.col("qty").filter(pl.col("status") == AllocationStatus.RESERVED).sum(),
        )
        return (
            lines.sort("arrival")
            .join(units, on="sku", how="left", maintain_order="left")
            .select(
                "order_id",
                "sku",
                "qty",
                "status",
                pl.col("picked", "reserved").fill_null(0).cast(pl.Int64),
            )
        )


def rows_in(connection: duckdb.DuckDBPyConnection) -> int:
    """Rows of the tables a model loads, all together (DuckDB counts them without a scan)."""
    counted = connection.execute(
        "SELECT (SELECT count(*) FROM batches) + (SELECT count(*) FROM allocations) "
        "+ (SELECT count(*) FROM order_lines)"
    ).fetchall()
    rows: int = counted[0][0]
    return rows
