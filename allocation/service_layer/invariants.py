"""The invariants that hold after every run, checked against the warehouse.

Each check is a query that returns the offending rows; an empty result means the rule holds.
Operators run them with `allocation check`; the tests run them after every night.
"""

from __future__ import annotations

from typing import Final

from allocation.adapters.warehouse import Warehouse

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
    "allocation of an unknown or cancelled line": """
        SELECT a.order_id, a.sku, a.batch_ref, l.status
        FROM allocations a LEFT JOIN order_lines l USING (order_id, sku)
        WHERE l.status IS DISTINCT FROM 'open'
    """,
    "reservation on an in-stock batch": """
        SELECT a.order_id, a.sku, a.batch_ref
        FROM allocations a JOIN batches b ON a.batch_ref = b.reference
        WHERE a.status = 'reserved' AND b.eta IS NULL
    """,
    "picked quantity differs from pick lists published minus withdrawals": """
        WITH published AS (
            SELECT order_id, sku, batch_ref, sum(qty) AS qty FROM pick_list_lines
            GROUP BY ALL
        ), withdrawn AS (
            SELECT order_id, sku, batch_ref, sum(qty) AS qty FROM withdrawals GROUP BY ALL
        ), picked AS (
            SELECT order_id, sku, batch_ref, sum(qty) AS qty FROM allocations
            WHERE status = 'picked' GROUP BY ALL
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
    "pick-list line published more than once": """
        SELECT pick_list_id, line_no, count(*) AS times FROM pick_list_lines
        GROUP BY ALL HAVING count(*) > 1
    """,
    "committed run not published": """
        SELECT r.run_id FROM runs r
        WHERE r.status = 'committed' AND r.published_at IS NULL
          AND r.started_at < (SELECT max(started_at) FROM runs)
    """,
}


def check_invariants(warehouse: Warehouse) -> list[str]:
    """Every violation found, one line each, naming the rule and the offending rows."""
    violations = []
    for rule, sql in CHECKS.items():
        rows = warehouse.query(sql)
        for row in rows.head(20).iter_rows(named=True):
            details = ", ".join(f"{k}={v}" for k, v in row.items())
            violations.append(f"{rule}: {details}")
        if rows.height > 20:
            violations.append(f"{rule}: ... and {rows.height - 20} more")
    return violations
