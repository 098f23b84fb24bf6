"""Every derived form of the declared rules agrees with the declaration itself.

The reference reads the declaration literally: compare two rows key by key, missing values
where the key places them, the first difference deciding. The Python sort key, the Polars
sort, the packed integer key and the SQL `ORDER BY` (on a real in-memory DuckDB) must all put
random rows in the reference's order; the in-stock predicate and the short arithmetic must
agree row by row.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import duckdb
import polars as pl
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from allocation.adapters.rules_sql import (
    BATCH_PREFERENCE_SQL,
    DEMAND_ORDER_SQL,
    batch_preference_sql,
    demand_order_sql,
    in_stock_sql,
    inbound_sql,
    order_by_sql,
    short_sql,
)
from allocation.domain import Batch, OrderLine
from allocation.domain.forms import Nulls, Ordering, SortKey
from allocation.domain.rules import BATCH_PREFERENCE, DEMAND_ORDER, IN_STOCK, SHORT
from allocation.engine.frames import BATCH_COLUMNS, LINE_COLUMNS, in_stock, sorted_by
from allocation.engine.packed_key import packed_key

LINE_FIELDS = ("order_id", "sku", "qty", "priority", "ordered_at", "arrival")
BATCH_FIELDS = ("reference", "sku", "purchased_quantity", "eta")

names = st.text(alphabet="abAZ09-é", min_size=1, max_size=3)  # sorts across case and non-ASCII
earliest, latest = datetime(1, 1, 2), datetime(9999, 12, 30)
times = st.datetimes(earliest, latest, timezones=st.just(UTC))
order_times = st.one_of(
    st.none(),
    times,  # microseconds: only Int128 may pack a wide spread of these
    times.map(lambda t: t.replace(microsecond=0)),  # whole seconds: packed in seconds
    times.map(lambda t: t.replace(microsecond=t.microsecond // 1000 * 1000)),
    st.sampled_from([datetime(2025, 3, 1, 9, tzinfo=UTC), datetime(2025, 3, 1, 9, 1, tzinfo=UTC)]),
)
spreads = st.sampled_from([2, 1000, 2**40, 2**62])  # narrow (many ties) to huge


@st.composite
def line_sets(draw: st.DrawFn) -> list[OrderLine]:
    """Lines with unique keys whose priorities and arrivals spread narrowly or hugely."""
    priority_spread, arrival_spread = draw(spreads), draw(spreads)
    lines = st.builds(
        OrderLine,
        order_id=names,
        sku=names,
        qty=st.integers(1, 5),
        priority=st.integers(-priority_spread, priority_spread),
        ordered_at=order_times,
        arrival=st.integers(-arrival_spread, arrival_spread),
    )
    return draw(st.lists(lines, max_size=25, unique_by=lambda line: line.key))


batch_sets = st.lists(
    st.builds(
        Batch,
        reference=names,
        sku=st.sampled_from(["A", "B"]),
        purchased_quantity=st.integers(0, 5),
        eta=st.none() | st.dates(date(1, 1, 2), date(9999, 12, 30)) | st.just(date(2025, 3, 3)),
    ),
    max_size=25,
    unique_by=lambda batch: batch.reference,
)


def as_declared(ordering: Ordering) -> Callable[[object], Any]:
    """The reference: a comparison that reads the declaration key by key."""

    def compare(a: object, b: object) -> int:
        for key in ordering.keys:
            x, y = getattr(a, key.column), getattr(b, key.column)
            if x == y:
                continue
            if x is None or y is None:
                missing_first = (x is None) == (key.nulls is Nulls.FIRST)
                return -1 if missing_first else 1
            return -1 if (x < y) != key.descending else 1
        return 0

    return functools.cmp_to_key(compare)


def positions(rows: Sequence[object], ordered: Sequence[object]) -> list[int]:
    """Where each row of `ordered` stands in `rows` (rows are told apart by identity)."""
    index = {id(row): i for i, row in enumerate(rows)}
    return [index[id(row)] for row in ordered]


def frame(
    rows: Sequence[object], fields: Sequence[str], schema: dict[str, pl.DataType]
) -> pl.DataFrame:
    """The rows as a frame in the engine's column types, with their position as `row`."""
    columns = {name: schema[name] for name in fields}
    data = [{name: getattr(row, name) for name in fields} for row in rows]
    return pl.DataFrame(data, schema=columns, orient="row").with_row_index("row")


@pytest.fixture(scope="module")
def warehouse() -> Iterator[duckdb.DuckDBPyConnection]:
    """One in-memory DuckDB for the module (a connection per example would be most of the time)."""
    with duckdb.connect() as connection:
        yield connection


def duckdb_rows(
    connection: duckdb.DuckDBPyConnection,
    table: pl.DataFrame,
    select: str,
    alias: str,
    order_by: str,
) -> list[tuple[Any, ...]]:
    """Run `SELECT {select} FROM rows AS {alias} ORDER BY {order_by}` over the frame."""
    connection.register("source", table.to_arrow())
    connection.execute("CREATE OR REPLACE TABLE rows AS SELECT * FROM source")
    connection.unregister("source")
    query = f"SELECT {select} FROM rows AS {alias} ORDER BY {order_by}"
    return connection.execute(query).fetchall()


def duckdb_order(
    connection: duckdb.DuckDBPyConnection, table: pl.DataFrame, order_by: str, alias: str = "t"
) -> list[int]:
    """The rows' positions as DuckDB orders them by `order_by` (the table is named `alias`)."""
    rows = duckdb_rows(connection, table, f"{alias}.row", alias, order_by)
    return [row for (row,) in rows]


def packed_key_agrees(
    table: pl.DataFrame, ordering: Ordering, expected: list[int], covers: tuple[str, ...]
) -> bool:
    """True when the packed key never contradicts the expected order and ties only equal rows.

    The key covers the ordering's leading integer and time columns (`covers`): rows equal on
    those must get equal keys, rows that differ must get keys in the expected order.
    """
    key = packed_key(table, ordering)
    event("packed key: " + ("none" if key is None else str(key.dtype)))
    if key is None:
        return True
    packed = [key[i] for i in expected]
    values = table.select(covers).rows()
    prefix = [values[i] for i in expected]
    return all(
        packed[i] < packed[i + 1] if prefix[i] != prefix[i + 1] else packed[i] == packed[i + 1]
        for i in range(len(expected) - 1)
    )


@settings(max_examples=150, deadline=None)
@given(lines=line_sets())
def test_every_form_of_the_demand_order_sorts_lines_as_declared(
    warehouse: duckdb.DuckDBPyConnection, lines: list[OrderLine]
) -> None:
    expected = positions(lines, sorted(lines, key=as_declared(DEMAND_ORDER)))
    table = frame(lines, LINE_FIELDS, LINE_COLUMNS)

    assert positions(lines, sorted(lines, key=DEMAND_ORDER.sort_key)) == expected
    assert sorted_by(table, DEMAND_ORDER)["row"].to_list() == expected
    assert packed_key_agrees(table, DEMAND_ORDER, expected, ("priority", "ordered_at", "arrival"))
    assert duckdb_order(warehouse, table, DEMAND_ORDER_SQL) == expected
    assert duckdb_order(warehouse, table, demand_order_sql("x"), alias="x") == expected


@settings(max_examples=150, deadline=None)
@given(batches=batch_sets)
def test_every_form_of_the_batch_preference_sorts_batches_as_declared(
    warehouse: duckdb.DuckDBPyConnection, batches: list[Batch]
) -> None:
    expected = positions(batches, sorted(batches, key=as_declared(BATCH_PREFERENCE)))
    table = frame(batches, BATCH_FIELDS, BATCH_COLUMNS)

    assert positions(batches, sorted(batches, key=BATCH_PREFERENCE.sort_key)) == expected
    assert sorted_by(table, BATCH_PREFERENCE)["row"].to_list() == expected
    assert packed_key_agrees(table, BATCH_PREFERENCE, expected, ("eta",))
    assert duckdb_order(warehouse, table, BATCH_PREFERENCE_SQL) == expected


@settings(max_examples=100, deadline=None)
@given(batches=batch_sets)
def test_sorting_within_skus_keeps_each_skus_batches_in_preference_order(
    warehouse: duckdb.DuckDBPyConnection, batches: list[Batch]
) -> None:
    by_sku = sorted(batches, key=lambda b: (b.sku, BATCH_PREFERENCE.sort_key(b)))
    table = frame(batches, BATCH_FIELDS, BATCH_COLUMNS)

    expected = positions(batches, by_sku)
    assert sorted_by(table, BATCH_PREFERENCE, within=["sku"])["row"].to_list() == expected
    assert (
        duckdb_order(warehouse, table, f"b.sku, {batch_preference_sql('b')}", alias="b") == expected
    )


@settings(max_examples=100, deadline=None)
@given(batches=batch_sets)
def test_every_form_of_in_stock_agrees_that_a_batch_without_eta_is_in_stock(
    warehouse: duckdb.DuckDBPyConnection, batches: list[Batch]
) -> None:
    expected = [batch.eta is None for batch in batches]
    table = frame(batches, BATCH_FIELDS, BATCH_COLUMNS)

    assert [IN_STOCK.holds_for(batch) for batch in batches] == expected
    assert [batch.in_stock for batch in batches] == expected
    assert table.select(in_stock())[IN_STOCK.column].to_list() == expected
    select = f"{in_stock_sql('b')}, {inbound_sql('b')}"
    rows = duckdb_rows(warehouse, table, select, "b", "b.row")
    assert [in_stock_row for in_stock_row, _ in rows] == expected
    assert [not inbound_row for _, inbound_row in rows] == expected


@dataclass(frozen=True)
class Held:
    """An order line's quantity and what is picked and reserved for it."""

    qty: int
    picked: int
    reserved: int


@settings(deadline=None)
@given(held=st.lists(st.builds(Held, *(st.integers(0, 10**12),) * 3), min_size=1, max_size=20))
def test_every_form_of_short_is_qty_less_picked_less_reserved(
    warehouse: duckdb.DuckDBPyConnection, held: list[Held]
) -> None:
    expected = [h.qty - h.picked - h.reserved for h in held]
    table = pl.DataFrame(held, schema={"qty": pl.Int64, "picked": pl.Int64, "reserved": pl.Int64})

    assert [SHORT.of(vars(h)) for h in held] == expected
    select = f"{short_sql()}, {short_sql('h')}, {short_sql('h', picked='coalesce(NULL, h.picked)')}"
    rows = duckdb_rows(warehouse, table.with_row_index("row"), select, "h", "h.row")
    assert [row[0] for row in rows] == expected
    assert [row[1] for row in rows] == expected
    assert [row[2] for row in rows] == expected


def test_short_sql_refuses_a_term_the_rule_does_not_have() -> None:
    with pytest.raises(ValueError, match="no column"):
        short_sql(ordered="x.qty")


@dataclass(frozen=True)
class Row:
    """A row with one column of each kind an ordering may sort on; `id` tells rows apart."""

    id: int
    text: str | None
    number: int | None
    day: date | None


ROW_COLUMNS: dict[str, pl.DataType] = {
    "id": pl.Int64(),
    "text": pl.String(),
    "number": pl.Int64(),
    "day": pl.Date(),
}


@st.composite
def orderings(draw: st.DrawFn) -> Ordering:
    """Any ordering of the row's columns, any directions and null placements, closed by `id`."""
    columns = draw(st.permutations(["text", "number", "day"]))
    chosen = columns[: draw(st.integers(0, 3))]
    keys = [
        SortKey(column, draw(st.booleans()), draw(st.sampled_from(list(Nulls))))
        for column in [*chosen, "id"]
    ]
    return Ordering("drawn", tuple(keys))


@st.composite
def row_sets(draw: st.DrawFn) -> list[Row]:
    """Rows with distinct ids and few distinct values, so keys tie and nulls meet values."""
    count = draw(st.integers(0, 20))
    ids = draw(st.lists(st.integers(-50, 50), min_size=count, max_size=count, unique=True))
    return [
        Row(
            ident,
            draw(st.none() | st.sampled_from(["a", "B", "é", "ab"])),
            draw(st.none() | st.integers(-3, 3)),
            draw(st.none() | st.sampled_from([date(2025, 1, 1), date(2025, 1, 2)])),
        )
        for ident in ids
    ]


@settings(max_examples=150, deadline=None)
@given(ordering=orderings(), rows=row_sets())
def test_every_form_of_any_declared_ordering_sorts_rows_as_declared(
    warehouse: duckdb.DuckDBPyConnection, ordering: Ordering, rows: list[Row]
) -> None:
    expected = positions(rows, sorted(rows, key=as_declared(ordering)))
    table = frame(rows, list(ROW_COLUMNS), ROW_COLUMNS)
    packable = []
    for column in ordering.columns:
        if column == "text":
            break
        packable.append(column)

    assert positions(rows, sorted(rows, key=ordering.sort_key)) == expected
    assert sorted_by(table, ordering)["row"].to_list() == expected
    assert packed_key_agrees(table, ordering, expected, tuple(packable))
    assert duckdb_order(warehouse, table, order_by_sql(ordering, "t")) == expected
