"""The DuckDB warehouse's writes: rows appended, batches upserted, allocations kept, runs."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Final

import polars as pl

from allocation.adapters.duckdb_sql import DuckDBSql, frame_of
from allocation.adapters.rules_sql import order_by_sql
from allocation.adapters.shard_staging import SKU_SHARDS, in_shard
from allocation.domain.forms import Ordering
from allocation.domain.rules import PICK_LIST_ORDER
from allocation.domain.status import AllocationStatus, LineStatus, RunStatus

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
STORED_IN: Final = {"ledger": "ledger_events", "run_allocations": "run_reservation_rows"}
"""Where a table's appended rows are kept, when not in the table of its name.

The `ledger` is a view (`views.LEDGER`): its picks are the pick lists' lines, the rest of its
rows are appended to `ledger_events`. So is `run_allocations` (`views.RUN_ALLOCATIONS`): its
in-stock rows are its run's pick-list lines, its reservations appended (an operator's) are
kept in `run_reservation_rows`; a planning night's are kept as spans of nights
(`record_planned_reservations`)."""
_STORED_ROWS: Final = {"run_allocations": ("* EXCLUDE (in_stock)", " WHERE NOT in_stock")}
"""The columns and rows of an appended frame that are stored (the rest are derived)."""
_ALLOCATION_KEY: Final = ("order_id", "sku", "batch_ref")
"""An allocation's key within one status (one row per key and status)."""
_SAME_ALLOCATION: Final = " AND ".join(f"a.{column} = r.{column}" for column in _ALLOCATION_KEY)
"""SQL: allocation `a` (a table row) has the key of row `r` (a frame's row)."""


class DuckDBWrites(DuckDBSql):
    """The warehouse's writes in DuckDB SQL, inside the unit of work's transaction."""

    def append(self, table: str, rows: pl.DataFrame, **same_for_every_row: object) -> None:
        """Append rows by column name.

        The columns the same for every row are added in SQL: as frame columns, a run id or a
        reason would be written out once per row on the way to DuckDB (about half a gigabyte
        for the ten million rows of a large first night's ledger). Of `run_allocations`' rows
        only the reservations are stored: the picks are the run's pick-list lines, appended
        as such (3.2M rows of a 10M-line first night not written twice).
        """
        if table not in APPENDABLE_TABLES:
            raise ValueError(f"{table} is not a table rows are appended to")
        if rows.height:
            constants = "".join(f", ${name} AS {name}" for name in same_for_every_row)
            columns, where = _STORED_ROWS.get(table, ("*", ""))
            self._reading("_rows", rows)(
                f"INSERT INTO {STORED_IN.get(table, table)} BY NAME "
                f"SELECT {columns}{constants} FROM _rows{where}",
                same_for_every_row,
            )

    def record_planned_reservations(
        self, reservations: pl.DataFrame, run_id: str, shard: int | None = None
    ) -> None:
        """Record the night's (shard's) reservations as spans: only what changed is written.

        The night is numbered in `planning_nights` on its first call. Each reservation the
        last planning night planned alike (same key, qty and eta) keeps its open span; one it
        plans otherwise or not at all has its span closed at this night, and one it plans anew
        or otherwise opens a span. A re-plan with nothing new writes no reservation (it wrote
        6.5M rows at 10M lines), for about half the CPU of writing them (2.6 s against 4.5 s
        at 6.5M reservations, load 4): the comparison is one join in DuckDB. When no span was
        open before the night (a first night), the reservations are only inserted.
        """
        night, first_call = self._planning_night(run_id)
        if first_call and shard is not None:
            # A SKU placed in no shard (its batches, open lines and allocations all gone since)
            # is planned by no shard of the night: its open spans end here.
            self._run(
                "UPDATE reservation_spans SET until_night = ? "
                f"WHERE until_night IS NULL AND sku NOT IN (SELECT sku FROM {SKU_SHARDS})",
                [night],
            )
        rows = reservations.select(*_ALLOCATION_KEY, "qty", "eta")
        held_before = self.query(
            "SELECT 1 AS held FROM reservation_spans "
            "WHERE until_night IS NULL AND first_night < ? LIMIT 1",
            [night],
        ).height
        if held_before:
            rows = self._changed_spans(rows, night, shard)
            closed = rows.filter(pl.col("qty_before").is_not_null()).select(*_ALLOCATION_KEY)
            if closed.height:
                self._reading("_closed", closed)(
                    f"""
                    UPDATE reservation_spans a SET until_night = $night FROM _closed r
                    WHERE a.until_night IS NULL AND {_SAME_ALLOCATION}
                    """,
                    {"night": night},
                )
            rows = rows.filter(pl.col("qty").is_not_null()).drop("qty_before")
        if rows.height:
            self._reading("_opened", rows)(
                "INSERT INTO reservation_spans BY NAME "
                "SELECT *, $night AS first_night FROM _opened",
                {"night": night},
            )

    def _planning_night(self, run_id: str) -> tuple[int, bool]:
        """The run's number among planning nights, and whether it was numbered just now."""
        numbered = self.query("SELECT night FROM planning_nights WHERE run_id = ?", [run_id])
        if numbered.height:
            return int(numbered["night"][0]), False
        night = int(
            self.query("SELECT coalesce(max(night), 0) + 1 AS night FROM planning_nights").item()
        )
        self._run("INSERT INTO planning_nights VALUES (?, ?)", [run_id, night])
        return night, True

    def _changed_spans(self, rows: pl.DataFrame, night: int, shard: int | None) -> pl.DataFrame:
        """`rows` joined in DuckDB to the spans open before `night` (the shard's SKUs').

        Only the rows that differ come out: key, qty and eta as planned now (null: no longer
        planned), `qty_before` that of the open span (null: none was open).
        """
        parameters: dict[str, object] = {"night": night}
        held = "SELECT * FROM reservation_spans WHERE until_night IS NULL AND first_night < $night"
        if shard is not None:
            held += f" AND {in_shard()}"
            parameters["shard"] = shard
        keys = ", ".join(
            f"coalesce(r.{column}, a.{column}) AS {column}" for column in _ALLOCATION_KEY
        )
        changed = self._reading("_planned", rows)(
            f"""
            SELECT {keys}, r.qty, r.eta, a.qty AS qty_before
            FROM _planned r FULL JOIN ({held}) a ON {_SAME_ALLOCATION}
            WHERE r.qty IS DISTINCT FROM a.qty OR r.eta IS DISTINCT FROM a.eta
            """,
            parameters,
        )
        return frame_of(changed)

    def upsert_batches(self, batches: pl.DataFrame, run_id: str) -> None:
        """Insert or update batches by reference, keeping who created them.

        Into a warehouse without batches (a first night) nothing can conflict, so the rows are
        inserted plainly: `ON CONFLICT` looks every reference up first (0.35 s of CPU more for
        a million new batches).
        """
        if not batches.height:
            return
        held = self.query("SELECT count(*) FROM batches").item()
        self._reading("_batches", batches)(
            """
            INSERT INTO batches BY NAME
            SELECT reference, sku, purchased_quantity, eta,
                   $run_id AS created_run_id, $run_id AS updated_run_id
            FROM _batches
            """
            + (
                """
            ON CONFLICT (reference) DO UPDATE SET
                purchased_quantity = excluded.purchased_quantity,
                eta = excluded.eta,
                updated_run_id = excluded.updated_run_id
            """
                if held
                else ""
            ),
            {"run_id": run_id},
        )

    def delete_batch(self, reference: str) -> None:
        """Delete the batch of that reference."""
        self._run("DELETE FROM batches WHERE reference = ?", [reference])

    def set_line_status(self, keys: pl.DataFrame, status: LineStatus) -> None:
        """Update the status of the given lines."""
        if not keys.height:
            return
        self._reading("_keys", keys.select("order_id", "sku"))(
            """
            UPDATE order_lines SET status = $status
            FROM _keys WHERE order_lines.order_id = _keys.order_id
                        AND order_lines.sku = _keys.sku
            """,
            {"status": status},
        )

    def change_allocations(
        self, status: AllocationStatus, changes: pl.DataFrame, run_id: str
    ) -> None:
        """Delete, update and insert the allocations `changes` name, and only those.

        Each statement runs only when it has rows: a night that changes no reservation
        writes nothing, and a first night only inserts (no statement joins the table).
        """
        if not changes.height:
            return
        run = self._reading("_changes", changes.select(*_ALLOCATION_KEY, "qty", "qty_before"))
        gone, new = changes["qty"].null_count(), changes["qty_before"].null_count()
        if gone:
            run(
                f"""
                DELETE FROM allocations a USING _changes r
                WHERE a.status = $status AND {_SAME_ALLOCATION} AND r.qty IS NULL
                """,
                {"status": status},
            )
        if gone + new < changes.height:
            run(
                f"""
                UPDATE allocations a SET qty = r.qty, run_id = $run_id FROM _changes r
                WHERE a.status = $status AND {_SAME_ALLOCATION}
                  AND r.qty IS NOT NULL AND r.qty_before IS NOT NULL
                """,
                {"status": status, "run_id": run_id},
            )
        if new:
            run(
                """
                INSERT INTO allocations BY NAME
                SELECT order_id, sku, batch_ref, qty, $status AS status, $run_id AS run_id
                FROM _changes WHERE qty_before IS NULL
                """,
                {"status": status, "run_id": run_id},
            )

    def add_allocations(self, status: AllocationStatus, rows: pl.DataFrame, run_id: str) -> None:
        """Grow the allocations of `status` by `rows`: existing keys by their qty, new inserted.

        One MERGE: the rows are joined to the table by key, and only the allocations they
        name are read. (An insert of the keys `NOT EXISTS` among the allocations hashed every
        allocation of the status first: 1.5 s at 10M allocations for one line's one row.)
        """
        if not rows.height:
            return
        self._reading("_allocations", rows.select(*_ALLOCATION_KEY, "qty"))(
            f"""
            MERGE INTO allocations a USING _allocations r
            ON a.status = $status AND {_SAME_ALLOCATION}
            WHEN MATCHED THEN UPDATE SET qty = a.qty + r.qty, run_id = $run_id
            WHEN NOT MATCHED THEN INSERT (order_id, sku, batch_ref, qty, status, run_id)
                VALUES (r.order_id, r.sku, r.batch_ref, r.qty, $status, $run_id)
            """,
            {"status": status, "run_id": run_id},
        )

    def subtract_allocations(self, rows: pl.DataFrame, run_id: str) -> None:
        """Shrink the allocations named by `rows`; delete those left with nothing.

        The rows are joined to the table by key, so only the allocations they name are read.
        The allocations taken back whole are deleted first; when that is every row (an order
        or a batch released), there is nothing left to shrink and the update is skipped.
        """
        if not rows.height:
            return
        run = self._reading("_taken", rows.select(*_ALLOCATION_KEY, "status", "qty"))
        same = f"a.status = r.status AND {_SAME_ALLOCATION}"
        deleted = run(
            f"DELETE FROM allocations a USING _taken r WHERE {same} AND a.qty <= r.qty RETURNING 1",
            None,
        )
        if deleted is None or len(deleted.fetchall()) < rows.height:
            run(
                f"""
                UPDATE allocations a SET qty = a.qty - r.qty, run_id = $run_id FROM _taken r
                WHERE {same} AND a.qty > r.qty
                """,
                {"run_id": run_id},
            )

    def drop_reservations_of_cancelled_lines(self) -> None:
        """Delete the reservations of cancelled lines."""
        self._run(
            "DELETE FROM allocations WHERE status = ? AND (order_id, sku) IN "
            "(SELECT (order_id, sku) FROM order_lines WHERE status = ?)",
            [AllocationStatus.RESERVED, LineStatus.CANCELLED],
        )

    def start_run(self, run_id: str, run_date: date, policy: str, started_at: datetime) -> None:
        """Insert the run's row, as running."""
        self._run(
            "INSERT INTO runs (run_id, run_date, policy, started_at, status) "
            "VALUES (?, ?, ?, ?, ?)",
            [run_id, run_date, policy, started_at, RunStatus.RUNNING],
        )

    def finish_run(self, run_id: str, figures: Mapping[str, int], finished_at: datetime) -> None:
        """Set the run's figures (columns of `runs` by name), status committed and end time."""
        columns = ", ".join(f"{name} = ?" for name in figures)
        self._run(
            f"UPDATE runs SET {columns}, status = ?, finished_at = ? WHERE run_id = ?",
            [*figures.values(), RunStatus.COMMITTED, finished_at, run_id],
        )

    def fail_run(self, run_id: str, reason: str, finished_at: datetime) -> None:
        """Set the run's status to failed, with the reason and end time."""
        self._run(
            "UPDATE runs SET status = ?, reason = ?, finished_at = ? WHERE run_id = ?",
            [RunStatus.FAILED, reason, finished_at, run_id],
        )

    def mark_published(self, run_id: str, published_at: datetime) -> None:
        """Stamp the run's publication time."""
        self._run("UPDATE runs SET published_at = ? WHERE run_id = ?", [published_at, run_id])

    def ledger_reservations_as_planned(self, run_id: str) -> None:
        """Name the run in `ledger_planned_reservations` (the `ledger` view reads it)."""
        self._run("INSERT INTO ledger_planned_reservations VALUES (?)", [run_id])

    def stage_picks(self, picks: pl.DataFrame) -> None:
        """Add the picks to a temporary table of the night's picks, unnumbered."""
        self._run(_STAGE_PICKS)
        if picks.height:
            self._reading("_picks", picks.select(*_ALLOCATION_KEY, "qty"))(
                f"INSERT INTO {_STAGED_PICKS} BY NAME SELECT * FROM _picks", None
            )

    def append_staged_pick_list(self, pick_list_id: str, run_id: str) -> None:
        """Number the staged picks in SQL over the whole night, append them, drop the stage.

        A pick's line number is its place in pick-list order: the picks before its own first
        key's value (its batch), counted per value, plus its place among the picks of that
        value. The same numbers as one `row_number()` over the whole order, without sorting
        every pick by every key on one thread (4 s of a 10M-line night's 3.2M picks, against
        about 2 s): the picks are ranked within their batch in parallel, and only the
        batches' counts are put in order.
        """
        self._run(_STAGE_PICKS)
        first = PICK_LIST_ORDER.keys[0].column
        self._run(
            f"""
            INSERT INTO pick_list_lines BY NAME
            WITH ranked AS (
                SELECT *, row_number() OVER (PARTITION BY {first} ORDER BY {_WITHIN_FIRST_SQL})
                              AS within
                FROM {_STAGED_PICKS}
            ), counted AS (
                SELECT {first}, count(*) AS picks FROM {_STAGED_PICKS} GROUP BY {first}
            ), offsets AS (
                SELECT {first}, sum(picks) OVER (ORDER BY {_FIRST_SQL}) - picks AS before
                FROM counted
            )
            SELECT $run_id AS run_id, $pick_list_id AS pick_list_id,
                   CAST(o.before + r.within AS BIGINT) AS line_no,
                   r.order_id, r.sku, r.batch_ref, r.qty
            FROM ranked r JOIN offsets o ON o.{first} IS NOT DISTINCT FROM r.{first}
            """,
            {"run_id": run_id, "pick_list_id": pick_list_id},
        )
        self._run(f"DROP TABLE {_STAGED_PICKS}")


_FIRST_SQL: Final = order_by_sql(Ordering(PICK_LIST_ORDER.name, PICK_LIST_ORDER.keys[:1]))
"""`ORDER BY` body: pick-list order's first key alone (a pick's batch)."""
_WITHIN_FIRST_SQL: Final = order_by_sql(Ordering(PICK_LIST_ORDER.name, PICK_LIST_ORDER.keys[1:]))
"""`ORDER BY` body: pick-list order among the picks of one first key's value."""
_STAGED_PICKS: Final = "_night_picks"
"""The night's picks, shard by shard, before they are numbered (a temporary table)."""
_STAGE_PICKS: Final = (
    f"CREATE TEMPORARY TABLE IF NOT EXISTS {_STAGED_PICKS} "
    "(order_id VARCHAR, sku VARCHAR, batch_ref VARCHAR, qty BIGINT)"
)
