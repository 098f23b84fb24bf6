"""A sharded night's shard placement, and each shard's reads: from the tables, or staged.

Reading a shard straight from the tables scans every open line, batch and allocation of the
night for the shard's SKUs: a night of N shards scans its tables N times (at 100M lines, 40
shards, that was more than half of the allocation stage). From `stage_from_shards` shards on,
`shard_night` instead copies each table's rows, with their shard, once into Parquet files
partitioned by shard (DuckDB's `COPY ... PARTITION_BY`, streamed: no table is held in memory),
in a temporary folder; each shard then reads only its own files. Below it, the copy costs more
than the scans it saves (at 3M lines in 4 shards: 5 s of copying for 2 s of scans).
The copy is taken inside the night's transaction, so it sees the night's loads; shards hold
disjoint SKUs, so what one shard writes never changes what another reads, and the copy taken
before the first shard is what each shard would read later. The folder is removed when the
night is sharded again or the unit of work ends.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Final

import polars as pl

from allocation.adapters.duckdb_sql import DuckDBSql
from allocation.adapters.rules_sql import shard_sql
from allocation.domain.status import AllocationStatus, LineStatus

SKU_SHARDS: Final = "_sku_shards"
"""The night's SKUs and their shards: a temporary table `shard_night` fills (per connection)."""

STAGED: Final = {
    "batches": ("batches", "reference, sku, purchased_quantity, eta", "TRUE"),
    "open_lines": (
        "order_lines",
        "order_id, sku, qty, priority, ordered_at, arrival",
        "t.status = $open",
    ),
    "allocations": ("allocations", "status, order_id, sku, batch_ref, qty", "TRUE"),
}
"""What is staged: name -> (table, its columns a shard reads, which rows)."""

_OPTIONS: Final = "FORMAT parquet, COMPRESSION lz4_raw, PARTITION_BY (shard)"
"""Quick to write and read back; the files live only for the allocation stage."""


def in_shard(alias: str | None = None) -> str:
    """SQL: the row's (`alias.`) SKU is in shard `$shard` of `shard_night`'s placement."""
    sku = "sku" if alias is None else f"{alias}.sku"
    return f"{sku} IN (SELECT sku FROM {SKU_SHARDS} WHERE shard = $shard)"


class DuckDBShardStaging(DuckDBSql):
    """The night's shard placement, its inputs staged by shard, and each shard's reads."""

    _staged_in: Path | None = None
    stage_from_shards: int = 8
    """Nights of this many shards or more stage their inputs; fewer read the tables."""

    def shard_night(self, shards: int) -> None:
        """Place the night's SKUs in shards (each hashed once) and stage the inputs by shard.

        The placement is a temporary table (this connection only, never in the file); the
        inputs go to a temporary folder (`tempfile`'s, so `TMPDIR` chooses the disk).
        """
        self.unstage_night()
        self._run(
            f"""
            CREATE OR REPLACE TEMPORARY TABLE {SKU_SHARDS} AS
            SELECT sku, {shard_sql(shards)} AS shard FROM (
                SELECT sku FROM batches
                UNION SELECT sku FROM order_lines WHERE status = $open
                UNION SELECT sku FROM allocations
            )
            """,
            {"open": LineStatus.OPEN},
        )
        if shards < self.stage_from_shards:
            return
        folder = Path(tempfile.mkdtemp(prefix="allocation-shards-"))
        self._staged_in = folder
        for name, (table, columns, rows) in STAGED.items():
            target = str(folder / name).replace("'", "''")
            self._run(
                f"""
                COPY (
                    SELECT s.shard, {_qualified(columns)} FROM {table} t
                    JOIN {SKU_SHARDS} s ON s.sku = t.sku WHERE {rows}
                ) TO '{target}' ({_OPTIONS})
                """,
                {"open": LineStatus.OPEN} if "$open" in rows else None,
            )

    def unstage_night(self) -> None:
        """Remove the staged inputs, if any (idempotent)."""
        if self._staged_in is not None:
            shutil.rmtree(self._staged_in, ignore_errors=True)
            self._staged_in = None

    def shard_batches(self, shard: int) -> pl.DataFrame:
        """Batches of the shard's SKUs."""
        return self._shard_rows("batches", shard)

    def shard_open_lines(self, shard: int) -> pl.DataFrame:
        """Open lines of the shard's SKUs."""
        return self._shard_rows("open_lines", shard)

    def shard_allocations(self, status: AllocationStatus, shard: int) -> pl.DataFrame:
        """Allocations of one status on the shard's SKUs, as held when the night was sharded."""
        held = ("status = $status", {"status": status})
        rows = self._shard_rows("allocations", shard, where=held)
        return rows.drop("status")

    def _shard_rows(
        self, name: str, shard: int, where: tuple[str, Mapping[str, object]] | None = None
    ) -> pl.DataFrame:
        """One shard's rows of `name`: staged, or from the table if the night is not staged."""
        table, columns, rows = STAGED[name]
        condition, parameters = where or ("TRUE", {})
        if self._staged_in is None:  # read from the table
            return self.query(
                f"SELECT {_qualified(columns)} FROM {table} t "
                f"WHERE {rows} AND {condition} AND {in_shard('t')}",
                {"shard": shard, "open": LineStatus.OPEN, **parameters}
                if "$open" in rows
                else {"shard": shard, **parameters},
            )
        files = self._staged_in / name / f"shard={shard}"
        if not files.is_dir():
            return self.query(f"SELECT {columns} FROM {table} WHERE FALSE")
        source = str(files / "*.parquet").replace("'", "''")
        return self.query(
            f"SELECT {columns} FROM read_parquet('{source}') WHERE {condition}",
            parameters or None,
        )


def _qualified(columns: str) -> str:
    """`t.`-qualified column names (the staged table's alias)."""
    return ", ".join(f"t.{column.strip()}" for column in columns.split(","))
