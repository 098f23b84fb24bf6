"""A run's outputs written as Parquet files by DuckDB itself, never read back into Python.

Each output's query (`OUTPUT_QUERIES`) is copied to a local file with `COPY ... TO`: DuckDB
streams the rows from its tables into the file (zstd, row groups of 122,880 rows, each
written in parallel), so publishing holds no output in memory, whatever the night's size.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

from allocation.adapters.duckdb_sql import DuckDBSql
from allocation.adapters.warehouse_reads import OUTPUT_QUERIES

PARQUET_OPTIONS: Final = "FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 1"
"""How the outputs are written: zstd, as the Polars writer of earlier releases wrote them.

Level 1 takes about a tenth less time than DuckDB's default (3) and its files are still
about a fifth smaller than Polars' were (74 MB against 95 MB for 9.7M allocations).
"""

FEW_DICTIONARY_ENTRIES: Final = "DICTIONARY_SIZE_LIMIT 1000"
"""A column chunk gets a dictionary only if it holds at most 1,000 distinct values.

DuckDB's default limit lets a row group's order ids, SKUs and batch references each build a
dictionary of tens of thousands of entries (and a Bloom filter over it), most of them used
once or twice: hashing every value into it was about a quarter of the CPU of writing a 10M-line
night's allocations. With this limit those columns are written plain (zstd still compresses
them) and a run id, the same on every row, keeps its one-entry dictionary. Files: the 10M
night's allocations 74.9 -> 73.9 MB, its pick list 23.1 -> 19.8 MB.
"""
FEW_DICTIONARY_OUTPUTS: Final = frozenset({"allocations", "pick_lists"})
"""The outputs written with `FEW_DICTIONARY_ENTRIES`: their text repeats little per row group.

The shortages keep DuckDB's default: a short line's SKU repeats enough there that the
dictionary pays (their file would grow 6.5 -> 7.0 MB at 10M lines, for 0.1 s).
"""


@dataclass(frozen=True)
class OutputFile:
    """One output of a run, written as a local Parquet file, and how many rows it holds."""

    path: Path
    rows: int


class DuckDBExports(DuckDBSql):
    """The warehouse's exports: files DuckDB writes from its own tables."""

    def write_run_outputs(self, run_id: str, folder: Path) -> dict[str, OutputFile]:
        """Write each output of the run to `folder/<name>.parquet`, in its recorded order."""
        files: dict[str, OutputFile] = {}
        for name, query in OUTPUT_QUERIES.items():
            path = folder / f"{name}.parquet"
            target = str(path).replace("'", "''")
            columns = self.connection.sql(query, params=[run_id]).columns
            written = self.connection.execute(
                f"COPY ({_every_column_optional(query, columns)}) TO '{target}' ({_options(name)})",
                [run_id],
            ).fetchall()
            files[name] = OutputFile(path, int(written[0][0]))
        return files


def _options(name: str) -> str:
    """The `COPY` options output `name` is written with."""
    if name in FEW_DICTIONARY_OUTPUTS:
        return f"{PARQUET_OPTIONS}, {FEW_DICTIONARY_ENTRIES}"
    return PARQUET_OPTIONS


def _every_column_optional(query: str, columns: list[str]) -> str:
    """`query`, written with every column OPTIONAL (nullable) in the Parquet schema.

    DuckDB marks a column REQUIRED when its table's statistics show no null in it, so a
    nullable column (an eta, a reject's row number) would be REQUIRED in one run's file and
    OPTIONAL in the next. Polars, which wrote the outputs before, marks every column OPTIONAL;
    so does this: a union with a row of nulls that never comes (`random()` cannot be folded
    away) leaves the statistics unable to rule nulls out. Row order is kept: the row never
    arrives, and the query's own rows come first, in their order.
    """
    nulls = ", ".join(f'NULL AS "{column}"' for column in columns)
    return f"SELECT * FROM ({query}) UNION ALL BY NAME SELECT {nulls} WHERE random() < 0"
