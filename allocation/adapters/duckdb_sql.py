"""What the DuckDB warehouse's operations share: the open connection and how SQL is run."""

from __future__ import annotations

import abc
import re
from collections.abc import Callable, Mapping
from typing import Final

import duckdb
import polars as pl

_PARAMETER: Final = re.compile(r"\$([a-z_][a-z0-9_]*)")
"""A named parameter (`$name`) in the adapters' SQL."""

FrameSql = Callable[[str, Mapping[str, object] | None], duckdb.DuckDBPyRelation | None]
"""Runs one statement that reads a frame by name: (sql, its `$name` parameters) -> its rows."""


def frame_of(rows: duckdb.DuckDBPyRelation | None) -> pl.DataFrame:
    """The rows a SELECT read (run by a `FrameSql`), as a Polars frame."""
    if rows is None:  # (DuckDB gives a relation for every statement that only reads)
        raise RuntimeError("a SELECT gave no rows to read")
    frame: pl.DataFrame = rows.pl()
    return frame


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

    def _reading(self, name: str, rows: pl.DataFrame) -> FrameSql:
        """A runner of statements in which table `name` reads `rows`.

        Not `connection.register`: inside a transaction a registered frame stays alive until
        the commit, unregistered or not (its view's removal could still be rolled back), so a
        night held every frame it wrote: 0.8 GiB of a 10M-line first night's 4.8 GiB peak. A
        relation's `query` names the frame for that one call and keeps nothing afterwards. It
        takes no parameters, so each `$name` is bound as an SQL variable (`getvariable`).
        The frame goes as Polars' newest Arrow, whose string views DuckDB reads without
        copying every text value (half the time and most of the memory of a large insert).
        """
        relation = self.connection.from_arrow(rows.to_arrow(compat_level=pl.CompatLevel.newest()))

        def run(
            sql: str, parameters: Mapping[str, object] | None = None
        ) -> duckdb.DuckDBPyRelation | None:
            given = parameters or {}
            # (A variable outlives its statement: one not given here would read a stale value.)
            missing = set(_PARAMETER.findall(sql)) - set(given)
            if missing:
                raise ValueError(f"no value given for {', '.join(sorted(missing))}")
            for key, value in given.items():
                self._run(f"SET VARIABLE {key} = ?", [value])
            return relation.query(name, _PARAMETER.sub(r"getvariable('\1')", sql))

        return run

    def _run(self, sql: str, parameters: object = None) -> None:
        """Run a statement to completion (DuckDB 2 keeps a result open until it is consumed)."""
        self.connection.execute(sql, parameters).complete()
