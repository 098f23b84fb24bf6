"""What the DuckDB warehouse's operations share: the open connection and how SQL is run."""

from __future__ import annotations

import abc

import duckdb
import polars as pl


class DuckDBSql(abc.ABC):
    """SQL over one open DuckDB connection (the base of the warehouse's reads and writes)."""

    @property
    @abc.abstractmethod
    def connection(self) -> duckdb.DuckDBPyConnection:
        """The open connection (only inside the unit of work)."""

    def query(self, sql: str, parameters: object = None) -> pl.DataFrame:
        """Run a read query and return a Polars frame (DuckDB only: not the services' interface).

        For the adapters' own reads, the run report, and tests looking at the file.
        """
        frame: pl.DataFrame = self.connection.sql(sql, params=parameters or None).pl()
        return frame

    def execute(self, sql: str, parameters: object = None) -> None:
        """Run one statement inside the transaction (DuckDB only: not the services' interface)."""
        self._run(sql, parameters or [])

    def _register(self, name: str, rows: pl.DataFrame) -> None:
        """Make a frame readable in SQL as `name`, without copying its text.

        Registered as is, a Polars frame reaches DuckDB as Arrow large strings, a copy of every
        text value; Polars' newest Arrow export keeps its string views, which DuckDB reads as
        they are. On millions of rows that halves the time of an insert and most of its memory.
        """
        self.connection.register(name, rows.to_arrow(compat_level=pl.CompatLevel.newest()))

    def _run(self, sql: str, parameters: object = None) -> None:
        """Run a statement to completion (DuckDB 2 keeps a result open until it is consumed)."""
        self.connection.execute(sql, parameters).complete()
