"""A run's outputs written as Parquet files from DuckDB's Arrow stream, batch by batch.

Each output's query (`OUTPUT_QUERIES`) is read as a stream of Arrow record batches and each
batch is written to a local file as it comes (zstd, row groups of 122,880 rows), so
publishing holds one batch of an output in memory, whatever the night's size.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

import pyarrow.parquet as pq

from allocation.adapters.duckdb_sql import DuckDBSql
from allocation.adapters.warehouse_reads import OUTPUT_QUERIES

ROW_GROUP: Final = 122_880
"""Rows per Parquet row group (DuckDB's own row group size, as its `COPY` wrote them)."""
BATCH: Final = 8 * ROW_GROUP
"""Rows read from DuckDB at a time: whole row groups, so only a file's last group is short."""


@dataclass(frozen=True)
class OutputFile:
    """One output of a run, written as a local Parquet file, and how many rows it holds."""

    path: Path
    rows: int


class DuckDBExports(DuckDBSql):
    """The warehouse's exports: files written from its own tables' rows."""

    def write_run_outputs(self, run_id: str, folder: Path) -> dict[str, OutputFile]:
        """Write each output of the run to `folder/<name>.parquet`, in its recorded order.

        Written by pyarrow from DuckDB's Arrow batches rather than by DuckDB's `COPY`: at
        9.7M allocations it takes less CPU (see RESULTS-pipeline, session 10), and every
        column is OPTIONAL in the Parquet schema, as Polars, which wrote the outputs first,
        made them (DuckDB's `COPY` marks a column REQUIRED when its statistics show no null,
        and needed a union with a row of nulls that never comes to keep it from doing so).
        No Arrow schema is stored, so text reads as `string` in pyarrow, as before.
        """
        files: dict[str, OutputFile] = {}
        for name, query in OUTPUT_QUERIES.items():
            path = folder / f"{name}.parquet"
            batches = self.connection.sql(query, params=[run_id]).to_arrow_reader(BATCH)
            rows = 0
            with pq.ParquetWriter(
                path, batches.schema, compression="zstd", compression_level=1, store_schema=False
            ) as writer:
                for batch in batches:
                    writer.write_batch(batch, row_group_size=ROW_GROUP)
                    rows += batch.num_rows
            files[name] = OutputFile(path, rows)
        return files
