"""The DuckDB warehouse's reads: the frames the services ask for, by name, in DuckDB SQL."""

from __future__ import annotations

from typing import Any, Final, NamedTuple

import polars as pl

from allocation.adapters import schema
from allocation.adapters.duckdb_sql import DuckDBSql, frame_of
from allocation.adapters.shard_staging import in_shard
from allocation.adapters.warehouse_checks import CHECKS
from allocation.domain.status import AllocationStatus, FileStatus, LineStatus, RunStatus

DEMAND_COLUMNS: Final = ("order_id", "sku", "qty", "priority", "ordered_at", "arrival")
"""The columns of an order line the allocation needs."""
ALLOCATION_COLUMNS: Final = "order_id, sku, batch_ref, qty"
HELD_COLUMNS: Final = f"{ALLOCATION_COLUMNS}, status"

OUTPUT_QUERIES: Final = {
    "allocations": "SELECT run_id, order_id, sku, batch_ref, qty, in_stock, eta "
    "FROM run_allocations WHERE run_id = ?",
    "pick_lists": "SELECT pick_list_id, line_no, order_id, sku, batch_ref, qty "
    "FROM pick_list_lines WHERE run_id = ? ORDER BY line_no",
    "shortages": "SELECT order_id, sku, ordered_qty, allocated_qty, short_qty "
    "FROM run_shortages WHERE run_id = ?",
    "rejects": 'SELECT run_id, file, row_number, "column", "check", value, reason '
    "FROM rejects WHERE run_id = ?",
    "withdrawals": "SELECT run_id, order_id, sku, batch_ref, qty, reason "
    "FROM withdrawals WHERE run_id = ?",
}
"""Each output a run publishes, as recorded (the columns of its published contract)."""


class OverFrozen(NamedTuple):
    """Batches whose picks exceed their quantity, those picks, and the picks' order lines."""

    batches: pl.DataFrame
    """reference, purchased_quantity"""
    picks: pl.DataFrame
    """order_id, sku, batch_ref, qty"""
    lines: pl.DataFrame
    """order_id, sku, priority, ordered_at, arrival"""


class DuckDBReads(DuckDBSql):
    """The warehouse's reads in DuckDB SQL."""

    def schema_version(self) -> int:
        """The schema version recorded in the file (read without writing: works read-only)."""
        return schema.recorded_version(self.connection)

    def lines(
        self, *columns: str, status: LineStatus | None = None, order_id: str | None = None
    ) -> pl.DataFrame:
        """Select the columns of `order_lines`, of one status and/or order if given."""
        where, parameters = _filter(status=status, order_id=order_id)
        return self.query(f"SELECT {', '.join(columns)} FROM order_lines{where}", parameters)

    def last_arrival(self) -> int:
        """The highest arrival number, 0 if no line was received."""
        last: int = self.query("SELECT coalesce(max(arrival), 0) AS last FROM order_lines")["last"][
            0
        ]
        return last

    def line_holdings(self, order_id: str, sku: str | None = None) -> pl.DataFrame:
        """Lines of an order with their picked and reserved units, in arrival order.

        The order's lines and its allocations are each looked up by order_id on their own
        (materialized), so neither side is read whole to join them.
        """
        line_filter, parameters = _filter(order_id=order_id, sku=sku)
        return self.query(
            f"""
            WITH l AS MATERIALIZED (
                SELECT order_id, sku, qty, status, arrival FROM order_lines{line_filter}
            ), a AS MATERIALIZED (
                SELECT order_id, sku, qty, status FROM allocations{line_filter}
            )
            SELECT l.order_id, l.sku, l.qty, l.status,
                   coalesce(sum(a.qty) FILTER (WHERE a.status = ?), 0)::BIGINT AS picked,
                   coalesce(sum(a.qty) FILTER (WHERE a.status = ?), 0)::BIGINT AS reserved
            FROM l LEFT JOIN a USING (order_id, sku)
            GROUP BY l.order_id, l.sku, l.qty, l.status, l.arrival
            ORDER BY l.arrival
            """,
            [*parameters, *parameters, AllocationStatus.PICKED, AllocationStatus.RESERVED],
        )

    def batches(self, *, sku: str | None = None, reference: str | None = None) -> pl.DataFrame:
        """Batches, filtered by sku and reference when given."""
        where, parameters = _filter(sku=sku, reference=reference)
        return self.query(
            f"SELECT reference, sku, purchased_quantity, eta FROM batches{where}", parameters
        )

    def allocations(self, status: AllocationStatus) -> pl.DataFrame:
        """The allocations of one status."""
        return self.query(
            f"SELECT {ALLOCATION_COLUMNS} FROM allocations WHERE status = ?", [status]
        )

    def held_on_batches(
        self, *, sku: str | None = None, reference: str | None = None
    ) -> pl.DataFrame:
        """Allocations on the batches filtered by sku and reference.

        The allocations are first looked up by their own sku and batch_ref (an allocation's
        sku is its batch's, an invariant), materialized, then kept only if their batch is one
        of those batches: a look-up of one SKU or batch, not a match of every allocation
        against the batches.
        """
        where, parameters = _filter(sku=sku, reference=reference)
        own, own_parameters = _filter(sku=sku, batch_ref=reference)
        return self.query(
            f"WITH held AS MATERIALIZED (SELECT {HELD_COLUMNS} FROM allocations{own}) "
            f"SELECT {HELD_COLUMNS} FROM held "
            f"WHERE batch_ref IN (SELECT reference FROM batches{where}) "
            "ORDER BY batch_ref, status, order_id, sku",
            [*own_parameters, *parameters],
        )

    def held_by_order(self, order_id: str, sku: str | None = None) -> pl.DataFrame:
        """Allocations of an order, or of one of its lines."""
        where, parameters = _filter(order_id=order_id, sku=sku)
        return self.query(
            f"SELECT {HELD_COLUMNS} FROM allocations{where} ORDER BY sku, status, batch_ref",
            parameters,
        )

    def over_frozen(self) -> OverFrozen:
        """Only the batches over their quantity, their picks and those picks' lines are read.

        (Not every line ever received: `withdrawals_to_fit` decides batch by batch.)
        """
        over = """
            SELECT a.batch_ref FROM allocations a JOIN batches b ON b.reference = a.batch_ref
            WHERE a.status = $picked
            GROUP BY a.batch_ref, b.purchased_quantity HAVING sum(a.qty) > b.purchased_quantity
        """
        picked = {"picked": AllocationStatus.PICKED}
        picks = self.query(
            f"SELECT {ALLOCATION_COLUMNS} FROM allocations "
            f"WHERE status = $picked AND batch_ref IN ({over})",
            picked,
        )
        batches = "SELECT reference, purchased_quantity FROM batches"
        lines = "SELECT order_id, sku, priority, ordered_at, arrival FROM order_lines"
        if not picks.height:  # (the usual night: no need to look again, only for the columns)
            return OverFrozen(
                self.query(f"{batches} LIMIT 0"), picks, self.query(f"{lines} LIMIT 0")
            )
        return OverFrozen(
            self.query(f"{batches} WHERE reference IN ({over})", picked),
            picks,
            self.query(
                f"{lines} WHERE (order_id, sku) IN (SELECT (order_id, sku) FROM allocations "
                f"WHERE status = $picked AND batch_ref IN ({over}))",
                picked,
            ),
        )

    def ingested_hashes(self) -> set[str]:
        """Hashes of the files recorded as loaded or rejected."""
        hashes = self.query(
            "SELECT content_hash FROM ingested_files WHERE status <> ?", [FileStatus.SKIPPED]
        )
        return set(hashes["content_hash"].to_list())

    def run_outputs(self, run_id: str) -> dict[str, pl.DataFrame]:
        """Each output of the run, read from its history table."""
        return {name: self.query(sql, [run_id]) for name, sql in OUTPUT_QUERIES.items()}

    def run(self, run_id: str) -> dict[str, Any] | None:
        """The run's row, or None."""
        rows = self.query("SELECT * FROM runs WHERE run_id = ?", [run_id])
        return rows.row(0, named=True) if rows.height else None

    def recent_runs(self, limit: int) -> pl.DataFrame:
        """The latest `limit` runs, latest first."""
        return self.query(
            "SELECT * FROM runs ORDER BY started_at DESC, run_id DESC LIMIT ?", [limit]
        )

    def pending_publications(self) -> pl.DataFrame:
        """Committed, unpublished runs in the order they started."""
        return self.query(
            "SELECT run_id, run_date FROM runs "
            "WHERE status = ? AND published_at IS NULL ORDER BY started_at, run_id",
            [RunStatus.COMMITTED],
        )

    def invariant_breaches(self) -> dict[str, pl.DataFrame]:
        """Each invariant's query, run."""
        return {rule: self.query(sql) for rule, sql in CHECKS.items()}

    def holds_allocations(self, status: AllocationStatus) -> bool:
        """Whether any allocation of the status is held (the first one found is enough)."""
        return bool(
            self.query(
                "SELECT 1 AS held FROM allocations WHERE status = ? LIMIT 1", [status]
            ).height
        )

    def open_line_count(self) -> int:
        """A count of the open lines (one column scanned, nothing read out)."""
        count: int = self.query(
            "SELECT count(*) AS n FROM order_lines WHERE status = ?", [LineStatus.OPEN]
        )["n"][0]
        return count

    def changed_allocations(
        self, status: AllocationStatus, wanted: pl.DataFrame, shard: int | None = None
    ) -> pl.DataFrame:
        """Compared in DuckDB: `wanted` joined to those held; only the differing rows come out.

        On a re-plan that is a few rows of millions. Reading the held allocations out to
        compare them in Polars took about twice the CPU (6.5M reservations: 5.3-5.8 s against
        2.6-3.2 s, load 6) and held them all in memory.
        """
        parameters: dict[str, object] = {"status": status}
        held = f"SELECT {ALLOCATION_COLUMNS} FROM allocations WHERE status = $status"
        if shard is not None:
            held += f" AND {in_shard()}"
            parameters["shard"] = shard
        rows = self._reading("_wanted", wanted.select(*_KEY, "qty"))(
            f"""
            SELECT {", ".join(f"coalesce(w.{column}, h.{column}) AS {column}" for column in _KEY)},
                   w.qty AS qty, h.qty AS qty_before
            FROM _wanted w FULL JOIN ({held}) h
              ON {" AND ".join(f"h.{column} = w.{column}" for column in _KEY)}
            WHERE w.qty IS DISTINCT FROM h.qty
            """,
            parameters,
        )
        return frame_of(rows)


_KEY: Final = ("order_id", "sku", "batch_ref")
"""An allocation's key within one status."""


def _filter(**equal: object) -> tuple[str, list[object]]:
    """A WHERE clause: each column equal to its value (only the columns given a value)."""
    given = {column: value for column, value in equal.items() if value is not None}
    conditions = [f"{column} = ?" for column in given]
    return (f" WHERE {' AND '.join(conditions)}" if conditions else ""), list(given.values())
