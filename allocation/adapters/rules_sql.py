"""The domain's declared rules (`allocation.domain.rules`) as SQL text, for the warehouse's queries.

Column names are the declarations'; `alias` qualifies them (`x.priority`). The text is built
from the declarations at import, so a rule changed in the domain changes here too.
"""

from __future__ import annotations

from typing import Final

from allocation.domain.forms import Difference, IsMissing, Ordering
from allocation.domain.rules import (
    BATCH_PREFERENCE,
    DEMAND_ORDER,
    IN_STOCK,
    SHORT,
)
from allocation.domain.sharding import SHARD_HASH, SHARD_HASH_BYTES


def order_by_sql(ordering: Ordering, alias: str | None = None) -> str:
    """The ordering as the body of an `ORDER BY`, every direction and null placement explicit."""
    return ", ".join(
        f"{_column(key.column, alias)} {'DESC' if key.descending else 'ASC'} "
        f"NULLS {key.nulls.value.upper()}"
        for key in ordering.keys
    )


def missing_sql(condition: IsMissing, alias: str | None = None, *, holds: bool = True) -> str:
    """The condition as a SQL predicate (or, with `holds=False`, its negation)."""
    return f"{_column(condition.column, alias)} IS {'' if holds else 'NOT '}NULL"


def difference_sql(difference: Difference, alias: str | None = None, **expressions: str) -> str:
    """The difference as SQL arithmetic; `expressions` replace columns (e.g. `coalesce(...)`)."""
    unknown = set(expressions) - set(difference.columns)
    if unknown:
        raise ValueError(f"{difference.name} has no column(s) {', '.join(sorted(unknown))}")
    return " - ".join(
        expressions.get(column, _column(column, alias)) for column in difference.columns
    )


def demand_order_sql(alias: str | None = None) -> str:
    """`ORDER BY` body for order lines in demand order, columns qualified by `alias`."""
    return order_by_sql(DEMAND_ORDER, alias)


def batch_preference_sql(alias: str | None = None) -> str:
    """`ORDER BY` body for batches in preference order, columns qualified by `alias`."""
    return order_by_sql(BATCH_PREFERENCE, alias)


def in_stock_sql(alias: str | None = None) -> str:
    """Predicate: the batch is in stock (`rules.IN_STOCK`, no eta)."""
    return missing_sql(IN_STOCK, alias)


def inbound_sql(alias: str | None = None) -> str:
    """Predicate: the batch is inbound (not in stock: it has an eta)."""
    return missing_sql(IN_STOCK, alias, holds=False)


def short_sql(alias: str | None = None, **expressions: str) -> str:
    """Units short (`rules.SHORT`, qty - picked - reserved); `expressions` replace columns."""
    return difference_sql(SHORT, alias, **expressions)


def shard_sql(shards: int, column: str = "sku") -> str:
    """The shard of the SKU in `column` among `shards` (`sharding.shard_of`), as SQL arithmetic.

    DuckDB's `md5` is the digest of the text's UTF-8 bytes in hex; its first bytes, parsed as
    a hexadecimal unsigned integer, are the big-endian number `shard_of` takes modulo.
    """
    digits = 2 * SHARD_HASH_BYTES
    return f"('0x' || left({SHARD_HASH}({column}), {digits}))::UBIGINT % {int(shards)}"


def _column(column: str, alias: str | None) -> str:
    return column if alias is None else f"{alias}.{column}"


DEMAND_ORDER_SQL: Final = order_by_sql(DEMAND_ORDER)
"""`ORDER BY` body for order lines in demand order (unqualified columns)."""

BATCH_PREFERENCE_SQL: Final = order_by_sql(BATCH_PREFERENCE)
"""`ORDER BY` body for a SKU's batches in preference order (unqualified columns)."""
