"""The warehouse's look-ups for the load stage: only the rows a file names, joined in DuckDB.

A file's keys are registered and joined to the table, so a night's file is checked against
the lines and batches it names, never by reading every line of the warehouse into Python.
"""

from __future__ import annotations

import polars as pl

from allocation.adapters.arrow_streams import read_once
from allocation.adapters.duckdb_sql import DuckDBSql


class DuckDBLoads(DuckDBSql):
    """The load stage's reads in DuckDB SQL."""

    def known_lines(self, keys: pl.DataFrame) -> pl.DataFrame:
        """The order lines (order_id, sku, qty) of the keys given (order_id, sku)."""
        self.connection.register("_keys", read_once(keys.select("order_id", "sku")))
        try:
            return self.query(
                "SELECT order_id, sku, qty FROM order_lines SEMI JOIN _keys USING (order_id, sku)"
            )
        finally:
            self.connection.unregister("_keys")

    def known_batches(self, references: pl.DataFrame) -> pl.DataFrame:
        """The batches (reference, sku, purchased_quantity, eta) of the references given."""
        self.connection.register("_references", read_once(references.select("reference")))
        try:
            return self.query(
                "SELECT reference, sku, purchased_quantity, eta FROM batches "
                "SEMI JOIN _references USING (reference)"
            )
        finally:
            self.connection.unregister("_references")
