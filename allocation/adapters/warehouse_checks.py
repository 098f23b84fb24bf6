"""The invariants that hold after every run, as DuckDB queries of the rows that break them.

Each query returns the offending rows; an empty result means the rule holds. The service
layer (`service_layer.invariants`) words what they find.
"""

from __future__ import annotations

from typing import Final

from allocation.adapters.rules_sql import in_stock_sql
from allocation.domain.status import AllocationStatus, LineStatus, RunStatus

IN_STOCK: Final = in_stock_sql("b")
"""SQL: batch `b` is in stock (`domain.rules.IN_STOCK`, derived by `rules_sql`)."""

_PICKED: Final = f"'{AllocationStatus.PICKED}'"
_RESERVED: Final = f"'{AllocationStatus.RESERVED}'"

CHECKS: Final[dict[str, str]] = {
    "batch allocated beyond its purchased quantity": """
        SELECT b.reference, b.purchased_quantity, sum(a.qty) AS allocated
        FROM allocations a JOIN batches b ON a.batch_ref = b.reference
        GROUP BY b.reference, b.purchased_quantity
        HAVING sum(a.qty) > b.purchased_quantity
    """,
    "line allocated beyond its qty": """
        SELECT l.order_id, l.sku, l.qty, sum(a.qty) AS allocated
        FROM allocations a JOIN order_lines l USING (order_id, sku)
        GROUP BY l.order_id, l.sku, l.qty
        HAVING sum(a.qty) > l.qty
    """,
    "allocation to a batch of another sku or to no batch": """
        SELECT a.order_id, a.sku, a.batch_ref, b.sku AS batch_sku
        FROM allocations a LEFT JOIN batches b ON a.batch_ref = b.reference
        WHERE b.sku IS DISTINCT FROM a.sku
    """,
    "allocation of an unknown or cancelled line": f"""
        SELECT a.order_id, a.sku, a.batch_ref, l.status
        FROM allocations a LEFT JOIN order_lines l USING (order_id, sku)
        WHERE l.status IS DISTINCT FROM '{LineStatus.OPEN}'
    """,
    "reservation on an in-stock batch": f"""
        SELECT a.order_id, a.sku, a.batch_ref
        FROM allocations a JOIN batches b ON a.batch_ref = b.reference
        WHERE a.status = {_RESERVED} AND {IN_STOCK}
    """,
    "picked quantity differs from pick lists published minus withdrawals": f"""
        WITH published AS (
            SELECT order_id, sku, batch_ref, sum(qty) AS qty FROM pick_list_lines
            GROUP BY ALL
        ), withdrawn AS (
            SELECT order_id, sku, batch_ref, sum(qty) AS qty FROM withdrawals GROUP BY ALL
        ), picked AS (
            SELECT order_id, sku, batch_ref, sum(qty) AS qty FROM allocations
            WHERE status = {_PICKED} GROUP BY ALL
        )
        SELECT order_id, sku, batch_ref,
               coalesce(p.qty, 0) AS published, coalesce(w.qty, 0) AS withdrawn,
               coalesce(k.qty, 0) AS picked
        FROM published p
        FULL JOIN withdrawn w USING (order_id, sku, batch_ref)
        FULL JOIN picked k USING (order_id, sku, batch_ref)
        WHERE coalesce(p.qty, 0) - coalesce(w.qty, 0) <> coalesce(k.qty, 0)
    """,
    "order line stored more than once": """
        SELECT order_id, sku, count(*) AS times FROM order_lines
        GROUP BY ALL HAVING count(*) > 1
    """,
    "allocation stored more than once": """
        SELECT order_id, sku, batch_ref, status, count(*) AS times FROM allocations
        GROUP BY ALL HAVING count(*) > 1
    """,
    # The spans still open are the last planning night's reservations: checked after every
    # night, each night's are (an earlier night's spans are closed, never changed again).
    "reservation planned more than once by a night": """
        SELECT order_id, sku, batch_ref, count(*) AS times FROM reservation_spans
        WHERE until_night IS NULL GROUP BY ALL HAVING count(*) > 1
    """,
    "pick-list line published more than once": """
        SELECT pick_list_id, line_no, count(*) AS times FROM pick_list_lines
        GROUP BY ALL HAVING count(*) > 1
    """,
    "committed run not published": f"""
        SELECT r.run_id FROM runs r
        WHERE r.status = '{RunStatus.COMMITTED}' AND r.published_at IS NULL
          AND r.started_at < (SELECT max(started_at) FROM runs)
    """,
}
"""Each invariant, by the rule it states, with the query of the rows that break it."""
