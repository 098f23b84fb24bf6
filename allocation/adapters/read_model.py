"""One published snapshot's holdings in memory, looked up by key in microseconds, not a scan.

DuckDB answers a look-up of one batch, SKU or order by scanning a column of millions of strings
(the tables are not ordered by those keys, and its string statistics keep only a prefix every id
shares). A `ReadModel` loads the tables those look-ups read (batches, allocations, order lines)
once per publication, each table once, sorted by the key it is most looked up by (batches and
allocations by SKU, lines by order), and for each key a compact index (`_Index`: each key once,
sorted, as bytes in a NumPy array, and where its rows begin; for a table not sorted by that key,
its rows' positions too, 4 bytes a row), where a dictionary of Python strings and a copy of the
table per key took three times the memory. A look-up is a binary search and a slice (or a gather
of a few rows). It answers
the four holdings reads of the `Warehouse` interface (`HoldingsReads`) with the same rows,
columns and order as the DuckDB reads, for the one publication it was loaded from.

After a write of its own process, a model is patched rather than rebuilt (`patched`): the rows
of the SKUs and orders the write touched are read again from the new publication and answer
for those keys. Until then (`pending`), a look-up of a touched key raises `Stale`, and the
caller asks DuckDB, so a read never sees less than the publication it was given.

An allocation's SKU is its batch's (an invariant `check_invariants` verifies after every night),
so a batch's allocations are found among its SKU's rather than through an index of their own.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Final, Self

import duckdb
import numpy as np
import numpy.typing as npt
import polars as pl

from allocation.adapters.snapshot_readers import Publication
from allocation.adapters.warehouse_reads import HELD_COLUMNS
from allocation.domain.status import AllocationStatus

BATCH_COLUMNS: Final = "reference, sku, purchased_quantity, eta"
LINE_COLUMNS: Final = "order_id, sku, qty, status"
_HELD_ON_BATCHES_ORDER: Final = ("batch_ref", "status", "order_id", "sku")
_HELD_BY_ORDER_ORDER: Final = ("sku", "status", "batch_ref")
_LINE_HOLDINGS: Final = {
    "order_id": pl.String,
    "sku": pl.String,
    "qty": pl.Int64,
    "status": pl.String,
    "picked": pl.Int64,
    "reserved": pl.Int64,
}


class Stale(Exception):  # noqa: N818 - what it means for the caller: ask the snapshot
    """The model cannot answer this look-up: a key it reads was changed by a write since."""


@dataclass(frozen=True)
class Touched:
    """What a write changed: the SKUs, orders and batch references whose rows it may change.

    A write that changes an allocation names its order and its SKU; a batch, its reference
    (and its SKU when known); a line, its order.
    """

    skus: frozenset[str] = frozenset()
    orders: frozenset[str] = frozenset()
    references: frozenset[str] = frozenset()

    def __or__(self, other: Touched) -> Touched:
        return Touched(
            self.skus | other.skus, self.orders | other.orders, self.references | other.references
        )

    def __bool__(self) -> bool:
        return bool(self.skus or self.orders or self.references)


class _Index:
    """Where each key's rows are in a frame: its keys, sorted, and where each key's rows begin.

    The keys are held once each, as fixed-width bytes in a NumPy array, so finding one is a
    binary search in C (a few microseconds, where a Polars call costs tens). A frame not
    sorted by the key gets its rows' positions in key order too (4 bytes a row).
    """

    def __init__(self, frame: pl.DataFrame, by: tuple[str, ...], *, sorted_by_key: bool) -> None:
        """Index `frame` by its column `by[0]`; a key's rows come in the order of `by`."""
        self._frame = frame
        keys = frame.get_column(by[0])
        self._positions: npt.NDArray[np.uint32] | None = None
        if not sorted_by_key:
            order = frame.select(pl.arg_sort_by(list(by))).to_series()
            self._positions = order.to_numpy().astype(np.uint32)
            keys = keys.gather(order)
        starts = (keys != keys.shift()).fill_null(value=True).arg_true()
        distinct = keys.gather(starts)
        self._width: int = max(distinct.str.len_bytes().fill_null(0).max() or 0, 1)  # type: ignore[assignment]
        self._keys = np.array([k.encode() for k in distinct.to_list()], dtype=f"S{self._width}")
        self._starts = np.append(starts.to_numpy(), frame.height).astype(np.int64)

    def rows(self, key: str) -> pl.DataFrame:
        """The rows whose key is `key`, in the order of `by` (none if there are none)."""
        wanted = key.encode()
        at = int(np.searchsorted(self._keys, wanted)) if len(wanted) <= self._width else -1
        if at < 0 or at == len(self._keys) or self._keys[at] != wanted:
            return self._frame.clear()
        first, last = int(self._starts[at]), int(self._starts[at + 1])
        if self._positions is None:
            return self._frame.slice(first, last - first)
        positions = self._positions[first:last]
        if last - first == 1 or bool(np.all(np.diff(positions) == 1)):
            return self._frame.slice(int(positions[0]), last - first)  # (~30x cheaper)
        return self._frame[positions.astype(np.int64)]

    def size(self) -> int:
        """Bytes held by the index."""
        positions = 0 if self._positions is None else self._positions.nbytes
        return self._keys.nbytes + self._starts.nbytes + positions


@dataclass(frozen=True)
class _Tables:
    """One publication's tables and their indexes (shared by the models patched from it)."""

    batches: pl.DataFrame
    """by sku, reference"""
    held: pl.DataFrame
    """by sku, batch_ref, status, order_id"""
    lines: pl.DataFrame
    """by order_id, arrival"""
    batch: _Index
    batches_of_sku: _Index
    held_on_sku: _Index
    held_by_order: _Index
    lines_of_order: _Index

    @classmethod
    def load(cls, connection: duckdb.DuckDBPyConnection) -> _Tables:
        """Load the tables from `connection`, DuckDB sorting them (in parallel)."""

        def load(sql: str) -> pl.DataFrame:
            frame: pl.DataFrame = connection.sql(sql).pl().rechunk()
            return frame

        batches = load(f"SELECT {BATCH_COLUMNS} FROM batches ORDER BY sku, reference")
        held = load(f"SELECT {HELD_COLUMNS} FROM allocations ORDER BY {_HELD_ON_SKU}")
        lines = load(f"SELECT {LINE_COLUMNS} FROM order_lines ORDER BY order_id, arrival")
        return cls(
            batches,
            held,
            lines,
            _Index(batches, ("reference",), sorted_by_key=False),
            _Index(batches, ("sku", "reference"), sorted_by_key=True),
            _Index(held, ("sku", *_HELD_ON_BATCHES_ORDER), sorted_by_key=True),
            _Index(held, ("order_id", *_HELD_BY_ORDER_ORDER), sorted_by_key=False),
            _Index(lines, ("order_id",), sorted_by_key=True),
        )


_HELD_ON_SKU: Final = "sku, batch_ref, status, order_id"


@dataclass(frozen=True)
class _Patch:
    """The rows of the keys writes touched, as the latest publication holds them."""

    batches_of_sku: dict[str, pl.DataFrame]
    held_on_sku: dict[str, pl.DataFrame]
    sku_of_batch: dict[str, str]
    held_by_order: dict[str, pl.DataFrame]
    lines_of_order: dict[str, pl.DataFrame]

    def keys(self) -> int:
        """How many keys the patch answers for."""
        return len(self.batches_of_sku) + len(self.held_by_order)


_NO_PATCH: Final = _Patch({}, {}, {}, {}, {})


class ReadModel:
    """The holdings of one publication, in memory, looked up by key."""

    def __init__(self, connection: duckdb.DuckDBPyConnection, published: Publication) -> None:
        """Load the tables from `connection`, a read on the snapshot of `published`."""
        self.published = published
        self._tables = _Tables.load(connection)
        self._patch = _NO_PATCH
        self._pending = Touched()

    def _with(self, published: Publication, patch: _Patch, pending: Touched) -> Self:
        model = object.__new__(type(self))
        model.published = published
        model._tables = self._tables
        model._patch = patch
        model._pending = pending
        return model

    @property
    def rows(self) -> int:
        """Rows held, all tables together (each table once)."""
        tables = self._tables
        return tables.batches.height + tables.held.height + tables.lines.height

    @property
    def patched_keys(self) -> int:
        """How many SKUs and orders are answered from patches rather than the tables loaded."""
        return self._patch.keys()

    def size(self) -> int:
        """Bytes held, about: the frames (as Polars estimates them) and their indexes."""
        tables = self._tables
        frames = (tables.batches, tables.held, tables.lines)
        indexes = (
            tables.batch,
            tables.batches_of_sku,
            tables.held_on_sku,
            tables.held_by_order,
            tables.lines_of_order,
        )
        return int(sum(f.estimated_size() for f in frames) + sum(i.size() for i in indexes))

    # --- after a write ---------------------------------------------------------------------

    def pending(self, published: Publication, touched: Touched) -> ReadModel:
        """The model, answering for `published`, except for the keys `touched` (`Stale`).

        `published` is a later publication that differs from this model's only in those keys
        (written by this process).
        """
        return self._with(published, self._patch, self._pending | self._widened(touched))

    def patched(
        self, connection: duckdb.DuckDBPyConnection, published: Publication, touched: Touched
    ) -> ReadModel:
        """The model of `published` (read on `connection`), the keys `touched` read again.

        `published` differs from this model's publication only in those keys.
        """
        touched = self._widened(touched)
        skus, orders = sorted(touched.skus), sorted(touched.orders)

        def load(sql: str, column: str, keys: list[str]) -> pl.DataFrame:
            # (`IN` a list of values: quicker than `list_contains`, and each key column is
            # scanned by its own query, where `OR` would scan both for every row.)
            where = f"{column} IN ({', '.join('?' * len(keys))})" if keys else "false"
            frame: pl.DataFrame = connection.sql(sql.format(where=where), params=keys).pl()
            return frame

        batches = load(
            f"SELECT {BATCH_COLUMNS} FROM batches WHERE {{where}} ORDER BY sku, reference",
            "sku",
            skus,
        )
        held_of_skus = load(f"SELECT {HELD_COLUMNS} FROM allocations WHERE {{where}}", "sku", skus)
        held_of_orders = load(
            f"SELECT {HELD_COLUMNS} FROM allocations WHERE {{where}}", "order_id", orders
        )
        lines = load(
            f"SELECT {LINE_COLUMNS} FROM order_lines WHERE {{where}} ORDER BY order_id, arrival",
            "order_id",
            orders,
        )
        patch = self._patch
        batches_of_sku = dict(patch.batches_of_sku)
        held_on_sku = dict(patch.held_on_sku)
        sku_of_batch = dict(patch.sku_of_batch)
        for sku in skus:
            of_sku = batches.filter(pl.col("sku") == sku)
            for reference in batches_of_sku.get(sku, of_sku).get_column("reference"):
                sku_of_batch.pop(reference, None)
            batches_of_sku[sku] = of_sku
            sku_of_batch.update(dict.fromkeys(of_sku.get_column("reference").to_list(), sku))
            on_sku = held_of_skus.filter(pl.col("sku") == sku)
            known = on_sku.get_column("batch_ref").is_in(of_sku.get_column("reference"))
            held_on_sku[sku] = on_sku.filter(known).sort(_HELD_ON_BATCHES_ORDER)
        held_by_order = dict(patch.held_by_order)
        lines_of_order = dict(patch.lines_of_order)
        # (Split once by order: a batch deleted by force touches hundreds of orders, and a
        # filter of its own for each took seconds, holding the interpreter from the writes.)
        held_of = _by_order(held_of_orders.sort("order_id", *_HELD_BY_ORDER_ORDER))
        lines_of = _by_order(lines)
        for order in orders:
            held_by_order[order] = held_of.get(order, held_of_orders.clear())
            lines_of_order[order] = lines_of.get(order, lines.clear())
        still = Touched(
            self._pending.skus - touched.skus,
            self._pending.orders - touched.orders,
            self._pending.references - touched.references,
        )
        return self._with(
            published,
            _Patch(batches_of_sku, held_on_sku, sku_of_batch, held_by_order, lines_of_order),
            still,
        )

    def _widened(self, touched: Touched) -> Touched:
        """`touched`, with the SKU of each batch reference it names (as this model knows it)."""
        skus = set(touched.skus)
        for reference in touched.references:
            sku = self._patch.sku_of_batch.get(reference)
            if sku is None:
                found = self._tables.batch.rows(reference)
                if found.height and found.item(0, "sku") not in self._patch.batches_of_sku:
                    sku = found.item(0, "sku")
            if sku is not None:
                skus.add(sku)
        return Touched(frozenset(skus), touched.orders, touched.references)

    # --- the holdings reads ----------------------------------------------------------------

    def _unpatched(self) -> None:
        if self._patch.keys() or self._pending:
            raise Stale("a write changed some keys since this model was loaded")

    def _sku(self, sku: str) -> pl.DataFrame | None:
        """The SKU's batches if a patch answers for it (None: the tables loaded do)."""
        if sku in self._pending.skus:
            raise Stale(f"SKU {sku} was written since")
        return self._patch.batches_of_sku.get(sku)

    def _batch(self, reference: str) -> pl.DataFrame:
        """The batch of that reference (no row if there is none)."""
        if reference in self._pending.references:
            raise Stale(f"batch {reference} was written since")
        sku = self._patch.sku_of_batch.get(reference)
        of_sku = None if sku is None else self._sku(sku)  # (`Stale` if written since)
        if of_sku is not None:
            return of_sku.filter(pl.col("reference") == reference)
        found = self._tables.batch.rows(reference)
        if found.height and self._sku(found.item(0, "sku")) is not None:
            return found.clear()  # gone since: its SKU is patched and it is not among them
        return found

    def batches(self, *, sku: str | None = None, reference: str | None = None) -> pl.DataFrame:
        """Batches (reference, sku, purchased_quantity, eta), of one sku or reference if given."""
        if reference is not None:
            found = self._batch(reference)
            if sku is not None and found.height and found.item(0, "sku") != sku:
                return found.clear()
            return found
        if sku is not None:
            patched = self._sku(sku)
            return patched if patched is not None else self._tables.batches_of_sku.rows(sku)
        self._unpatched()
        return self._tables.batches

    def held_on_batches(
        self, *, sku: str | None = None, reference: str | None = None
    ) -> pl.DataFrame:
        """Allocations on the batches `batches(sku=, reference=)` returns, as DuckDB orders them.

        Columns: order_id, sku, batch_ref, qty, status; by batch_ref, status, order_id, sku.
        """
        held = self._tables.held
        if sku is None and reference is None:
            self._unpatched()
            known = held.get_column("batch_ref").is_in(self._tables.batches.get_column("reference"))
            return held.filter(known).sort(_HELD_ON_BATCHES_ORDER)
        found = self.batches(sku=sku, reference=reference)
        if found.is_empty():
            return held.clear()
        of_sku: str = found.item(0, "sku")
        on_sku = (
            self._patch.held_on_sku[of_sku]
            if of_sku in self._patch.held_on_sku
            else self._tables.held_on_sku.rows(of_sku)
        )
        if reference is None:
            return on_sku
        # (The SKU's allocations are sorted by batch first: the batch's are one run of them.)
        refs = on_sku.get_column("batch_ref").to_list()
        first = bisect.bisect_left(refs, reference)
        return on_sku.slice(first, bisect.bisect_right(refs, reference, lo=first) - first)

    def held_by_order(self, order_id: str, sku: str | None = None) -> pl.DataFrame:
        """Allocations of an order, or of one of its lines; by sku, status, batch_ref."""
        if order_id in self._pending.orders:
            raise Stale(f"order {order_id} was written since")
        patched = self._patch.held_by_order.get(order_id)
        if patched is None:
            patched = self._tables.held_by_order.rows(order_id)
        return _of_sku(patched, sku)

    def line_holdings(self, order_id: str, sku: str | None = None) -> pl.DataFrame:
        """An order's lines (or one), in arrival order, with the units picked and reserved.

        Columns: order_id, sku, qty, status, picked, reserved. (Computed in Python: an order
        has a handful of rows, fewer than a Polars query costs to start.)
        """
        held = self.held_by_order(order_id, sku)
        lines = self._patch.lines_of_order.get(order_id)
        if lines is None:
            lines = self._tables.lines_of_order.rows(order_id)
        lines = _of_sku(lines, sku)
        units: dict[tuple[str, str], int] = {}
        for row in held.iter_rows(named=True):
            key = (row["sku"], row["status"])
            units[key] = units.get(key, 0) + row["qty"]
        found: dict[str, list[object]] = {column: [] for column in _LINE_HOLDINGS}
        for line in lines.iter_rows(named=True):
            for column in ("order_id", "sku", "qty", "status"):
                found[column].append(line[column])
            found["picked"].append(units.get((line["sku"], AllocationStatus.PICKED), 0))
            found["reserved"].append(units.get((line["sku"], AllocationStatus.RESERVED), 0))
        return pl.DataFrame(found, schema=_LINE_HOLDINGS)


def _by_order(rows: pl.DataFrame) -> dict[str, pl.DataFrame]:
    """Each order's rows, in the order they come in."""
    parts = rows.partition_by("order_id", as_dict=True, maintain_order=True)
    return {str(order): part for (order,), part in parts.items()}


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
