"""The analysts' views in the warehouse file: stock per batch, open lines, SKUs and run history.

The views are plain SQL over the tables in `schema`. They are created, or replaced, when the
warehouse is opened for writing and differs from what this release writes (`schema_record`),
so a file always carries the views of the release that last wrote it. Every view and column
carries a comment, which DuckDB stores in its catalog:
`SELECT column_name, comment FROM duckdb_columns() WHERE table_name = 'open_lines'`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import duckdb

from allocation.adapters.rules_sql import demand_order_sql, in_stock_sql, inbound_sql, short_sql
from allocation.domain.status import PICK_REASON, RESERVE_REASON, LedgerEvent

_PICKED = "coalesce(h.picked, 0)"
_RESERVED = "coalesce(h.reserved, 0)"
_SHORT_OF_LINE = short_sql(qty="l.qty", picked=_PICKED, reserved=_RESERVED)
_SHORT_OF_SKU = short_sql(qty="coalesce(d.demand, 0)", picked=_PICKED, reserved=_RESERVED)


def sku_stock(where: str = "TRUE") -> str:
    """SQL for each SKU's units in stock, units inbound and next eta, over batches `where` holds.

    `sku_summary` and the run report both read a SKU's stock from here.
    """
    return f"""
        SELECT sku,
               CAST(coalesce(sum(purchased_quantity) FILTER (WHERE {in_stock_sql()}), 0)
                    AS BIGINT)                                              AS in_stock,
               CAST(coalesce(sum(purchased_quantity) FILTER (WHERE {inbound_sql()}), 0)
                    AS BIGINT)                                              AS inbound,
               min(eta)                                                     AS next_eta
        FROM batches WHERE {where} GROUP BY sku
    """


@dataclass(frozen=True)
class View:
    """One analyst view: its name, what a row is, its columns (in order, documented) and SQL."""

    name: str
    description: str
    columns: dict[str, str]
    sql: str


BATCH_AVAILABILITY: Final = View(
    name="batch_availability",
    description="One row per batch: what it holds, what is promised from it and what is left.",
    columns={
        "reference": "Batch reference.",
        "sku": "SKU the batch holds.",
        "eta": "Expected arrival date; NULL for a batch in stock.",
        "in_stock": "True when the batch is in the warehouse (no eta).",
        "purchased": "Units the batch holds (purchased_quantity).",
        "allocated": "Units promised from the batch: picked + reserved.",
        "picked": "Units frozen on pick lists (in-stock batches only).",
        "reserved": "Units reserved for open lines (inbound batches only).",
        "available": "Units not yet promised: purchased - allocated.",
    },
    sql=f"""
    WITH held AS (
        SELECT batch_ref,
               CAST(sum(qty) FILTER (WHERE status = 'picked') AS BIGINT)   AS picked,
               CAST(sum(qty) FILTER (WHERE status = 'reserved') AS BIGINT) AS reserved
        FROM allocations GROUP BY batch_ref
    )
    SELECT b.reference,
           b.sku,
           b.eta,
           {in_stock_sql("b")}                                         AS in_stock,
           b.purchased_quantity                                        AS purchased,
           coalesce(h.picked, 0) + coalesce(h.reserved, 0)             AS allocated,
           coalesce(h.picked, 0)                                       AS picked,
           coalesce(h.reserved, 0)                                     AS reserved,
           b.purchased_quantity - coalesce(h.picked, 0) - coalesce(h.reserved, 0) AS available
    FROM batches b LEFT JOIN held h ON h.batch_ref = b.reference
    """,
)

OPEN_LINES: Final = View(
    name="open_lines",
    description=(
        "One row per open order line still lacking units (not fully picked or reserved), "
        "with its place in the queue for its SKU."
    ),
    columns={
        "order_id": "Order the line belongs to.",
        "sku": "SKU ordered.",
        "qty": "Units ordered.",
        "picked": "Units of the line frozen on pick lists.",
        "reserved": "Units of the line reserved on inbound batches.",
        "remaining": "Units with no stock yet: qty - picked - reserved (always > 0 here).",
        "priority": "Line priority (higher is served first).",
        "ordered_at": "When the customer ordered (NULL if not sent).",
        "arrival": "Order in which the warehouse received the line (1 = first ever).",
        "demand_rank": (
            "Place among this SKU's lines in this view, in demand order (priority desc, "
            "ordered_at asc with missing last, arrival asc): 1 is served first when stock "
            "frees up or arrives."
        ),
        "first_run_id": "Run that loaded the line.",
        "received_at": "When that run started, i.e. when the line was received.",
        "source_file": "Input file the line came from.",
    },
    sql=f"""
    WITH held AS (
        SELECT order_id, sku,
               CAST(sum(qty) FILTER (WHERE status = 'picked') AS BIGINT)   AS picked,
               CAST(sum(qty) FILTER (WHERE status = 'reserved') AS BIGINT) AS reserved
        FROM allocations GROUP BY order_id, sku
    ), lacking AS (
        SELECT l.order_id, l.sku, l.qty,
               coalesce(h.picked, 0)                                    AS picked,
               coalesce(h.reserved, 0)                                  AS reserved,
               {_SHORT_OF_LINE} AS remaining,
               l.priority, l.ordered_at, l.arrival, l.run_id, l.source_file
        FROM order_lines l LEFT JOIN held h USING (order_id, sku)
        WHERE l.status = 'open'
    )
    SELECT x.order_id, x.sku, x.qty, x.picked, x.reserved, x.remaining,
           x.priority, x.ordered_at, x.arrival,
           row_number() OVER (
               PARTITION BY x.sku
               ORDER BY {demand_order_sql("x")}
           )                AS demand_rank,
           x.run_id         AS first_run_id,
           r.started_at     AS received_at,
           x.source_file
    FROM lacking x LEFT JOIN runs r ON r.run_id = x.run_id
    WHERE x.remaining > 0
    """,
)

SKU_SUMMARY: Final = View(
    name="sku_summary",
    description=(
        "One row per SKU that has a batch or an open line: stock, inbound, demand, "
        "what is promised and what is short."
    ),
    columns={
        "sku": "SKU.",
        "in_stock": "Units in the warehouse: purchased quantity of batches with no eta.",
        "inbound": "Units on the way: purchased quantity of batches with an eta.",
        "next_eta": "Earliest eta of an inbound batch (NULL if none).",
        "next_eta_qty": "Units arriving on next_eta.",
        "demand": "Units ordered on open lines (including units already picked).",
        "picked": "Units frozen on pick lists.",
        "reserved": "Units reserved on inbound batches.",
        "allocated": "picked + reserved.",
        "short": "Units ordered with no stock yet: demand - allocated.",
        "available": "Units not yet promised: in_stock + inbound - allocated.",
        "open_lines": "Number of open lines.",
        "short_lines": "Open lines still lacking units (their rows are in open_lines).",
    },
    sql=f"""
    WITH stock AS ({sku_stock()}), next_arrival AS (
        SELECT s.sku, CAST(sum(b.purchased_quantity) AS BIGINT) AS next_eta_qty
        FROM stock s JOIN batches b ON b.sku = s.sku AND b.eta = s.next_eta
        GROUP BY s.sku
    ), held AS (
        SELECT a.sku,
               CAST(sum(a.qty) FILTER (WHERE a.status = 'picked') AS BIGINT)   AS picked,
               CAST(sum(a.qty) FILTER (WHERE a.status = 'reserved') AS BIGINT) AS reserved
        FROM allocations a GROUP BY a.sku
    ), demand AS (
        SELECT sku, CAST(sum(qty) AS BIGINT) AS demand, count(*) AS open_lines
        FROM order_lines WHERE status = 'open' GROUP BY sku
    ), lacking AS (
        SELECT sku, count(*) AS short_lines FROM open_lines GROUP BY sku
    ), skus AS (
        SELECT sku FROM stock UNION SELECT sku FROM demand
    )
    SELECT k.sku,
           coalesce(s.in_stock, 0)                                   AS in_stock,
           coalesce(s.inbound, 0)                                    AS inbound,
           s.next_eta,
           coalesce(n.next_eta_qty, 0)                               AS next_eta_qty,
           coalesce(d.demand, 0)                                     AS demand,
           coalesce(h.picked, 0)                                     AS picked,
           coalesce(h.reserved, 0)                                   AS reserved,
           coalesce(h.picked, 0) + coalesce(h.reserved, 0)           AS allocated,
           {_SHORT_OF_SKU} AS short,
           coalesce(s.in_stock, 0) + coalesce(s.inbound, 0)
               - coalesce(h.picked, 0) - coalesce(h.reserved, 0)     AS available,
           coalesce(d.open_lines, 0)                                 AS open_lines,
           coalesce(x.short_lines, 0)                                AS short_lines
    FROM skus k
    LEFT JOIN stock s USING (sku)
    LEFT JOIN next_arrival n USING (sku)
    LEFT JOIN held h USING (sku)
    LEFT JOIN demand d USING (sku)
    LEFT JOIN lacking x USING (sku)
    """,
)

RUN_HISTORY: Final = View(
    name="run_history",
    description="One row per run: when, how long, what it read and allocated, its fill rates.",
    columns={
        "run_id": "Run id (sorts by start time).",
        "run_date": "Business date of the run.",
        "policy": "Allocation policy: split or whole.",
        "status": "running, committed or failed.",
        "reason": "Why the run failed (NULL otherwise).",
        "started_at": "When the run started.",
        "finished_at": "When the run committed or failed.",
        "published_at": "When its outputs reached the outbox (NULL until then).",
        "duration_s": "finished_at - started_at, in seconds.",
        "files_read": "Input files read (loaded or rejected).",
        "files_skipped": "Input files skipped as already ingested.",
        "files_rejected": "Input files rejected whole.",
        "rows_read": "Rows read from the files.",
        "rows_loaded": "Rows that passed every check.",
        "rows_rejected": "Rows kept in rejects, with a reason.",
        "duplicate_lines": "Order lines sent again with the same qty (loaded as nothing new).",
        "demand_lines": "Open lines that still lacked units when the run planned.",
        "lines_allocated_full": "Of those, lines that got every unit they lacked.",
        "lines_allocated_part": "Lines that got some units, not all.",
        "lines_unallocated": "Lines that got nothing.",
        "units_demanded": "Units those lines lacked: units_allocated + units_short.",
        "units_allocated": "Units the run allocated (picked or reserved).",
        "units_short": "Units still lacking after the run.",
        "pick_list_lines": "Lines on the run's pick list.",
        "line_fill_rate": "lines_allocated_full / demand_lines (NULL when no line lacked units).",
        "unit_fill_rate": "units_allocated / units_demanded (NULL when no unit was lacking).",
    },
    sql="""
    WITH figures AS (
        SELECT *,
               lines_allocated_full + lines_allocated_part + lines_unallocated AS demand_lines,
               units_allocated + units_short                                   AS units_demanded
        FROM runs
    )
    SELECT run_id, run_date, policy, status, reason, started_at, finished_at, published_at,
           date_diff('millisecond', started_at, finished_at) / 1000.0 AS duration_s,
           files_read, files_skipped, files_rejected,
           rows_read, rows_loaded, rows_rejected, duplicate_lines,
           demand_lines, lines_allocated_full, lines_allocated_part, lines_unallocated,
           units_demanded, units_allocated, units_short, pick_list_lines,
           lines_allocated_full / nullif(demand_lines, 0)  AS line_fill_rate,
           units_allocated / nullif(units_demanded, 0)     AS unit_fill_rate
    FROM figures
    """,
)

LEDGER: Final = View(
    name="ledger",
    description=(
        "Append-only history, one row per change to a line's units: each pick, reservation "
        "made, grown, shrunk or released, withdrawal and cancellation, with its run and reason. "
        "Pick rows are the runs' pick-list lines, and the reserve rows of a run in "
        "ledger_planned_reservations its reservations (run_reservations); the others are "
        "stored in ledger_events."
    ),
    columns={
        "run_id": "Run (night or operator command) that made the change.",
        "recorded_at": "When that run started.",
        "event": "pick, reserve, release, withdraw or cancel.",
        "order_id": "Order of the line.",
        "sku": "SKU of the line.",
        "batch_ref": "Batch the units are on (NULL for a cancellation).",
        "qty": "Units picked, reserved, released or withdrawn (NULL for a cancellation).",
        "reason": "Why, in words.",
    },
    sql=f"""
    SELECT run_id, recorded_at, event, order_id, sku, batch_ref, qty, reason FROM ledger_events
    UNION ALL
    SELECT * FROM (
        SELECT p.run_id, r.started_at, '{LedgerEvent.PICK.value}', p.order_id, p.sku,
               p.batch_ref, p.qty, '{PICK_REASON}'
        FROM pick_list_lines p JOIN runs r ON r.run_id = p.run_id
        UNION ALL
        SELECT a.run_id, r.started_at, '{LedgerEvent.RESERVE.value}', a.order_id, a.sku,
               a.batch_ref, a.qty, '{RESERVE_REASON}'
        FROM run_reservations a JOIN runs r ON r.run_id = a.run_id
        WHERE a.run_id IN (SELECT run_id FROM ledger_planned_reservations)
    )
    """,
)

RUN_RESERVATIONS: Final = View(
    name="run_reservations",
    description=(
        "Each run's reservations on inbound batches, as published in its allocations file. "
        "A planning night's are stored once per span of nights that planned them alike "
        "(reservation_spans, nights numbered in planning_nights); an operator's allocation's, "
        "and those recorded before schema version 5, one row per run (run_reservation_rows)."
    ),
    columns={
        "run_id": "Run that made the reservation.",
        "order_id": "Order of the line.",
        "sku": "SKU of the line.",
        "batch_ref": "Inbound batch the units are reserved on.",
        "qty": "Units reserved.",
        "eta": "The batch's eta when the run planned.",
    },
    # A span covers nights first_night <= night < until_night (NULL: still planned); the
    # open end is written as the largest night number so the join is a range join.
    sql="""
    SELECT run_id, order_id, sku, batch_ref, qty, eta FROM run_reservation_rows
    UNION ALL
    SELECT n.run_id, s.order_id, s.sku, s.batch_ref, s.qty, s.eta
    FROM reservation_spans s JOIN planning_nights n
      ON n.night >= s.first_night AND n.night < coalesce(s.until_night, 9223372036854775807)
    """,
)

RUN_ALLOCATIONS: Final = View(
    name="run_allocations",
    description=(
        "Each run's allocations, as published in its allocations file: its new picks (its "
        "pick-list lines, in stock) and its reservations on inbound batches (the view "
        "run_reservations)."
    ),
    columns={
        "run_id": "Run that made the allocation.",
        "order_id": "Order of the line.",
        "sku": "SKU of the line.",
        "batch_ref": "Batch the units are on.",
        "qty": "Units allocated.",
        "in_stock": "True for a pick (an in-stock batch), false for a reservation.",
        "eta": "The batch's eta when the run planned (NULL for a pick).",
    },
    sql="""
    SELECT run_id, order_id, sku, batch_ref, qty, FALSE AS in_stock, eta FROM run_reservations
    UNION ALL
    SELECT run_id, order_id, sku, batch_ref, qty, TRUE AS in_stock, CAST(NULL AS DATE) AS eta
    FROM pick_list_lines
    """,
)

VIEWS: Final[tuple[View, ...]] = (
    BATCH_AVAILABILITY,
    OPEN_LINES,
    SKU_SUMMARY,
    RUN_HISTORY,
    RUN_RESERVATIONS,
    RUN_ALLOCATIONS,
    LEDGER,
)
"""In creation order: a view may read the ones before it (`sku_summary` reads `open_lines`,
`run_allocations` and `ledger` read `run_reservations`)."""


def create_views(connection: duckdb.DuckDBPyConnection) -> None:
    """Create or replace every view and its comments, inside the caller's transaction."""
    for view in VIEWS:
        connection.execute(f"CREATE OR REPLACE VIEW {view.name} AS {view.sql}").complete()
        connection.execute(
            f"COMMENT ON VIEW {view.name} IS {_literal(view.description)}"
        ).complete()
        for column, comment in view.columns.items():
            connection.execute(
                f"COMMENT ON COLUMN {view.name}.{column} IS {_literal(comment)}"
            ).complete()


def _literal(text: str) -> str:
    """Quote text as a SQL string literal (COMMENT ON takes no parameters)."""
    return "'" + text.replace("'", "''") + "'"
