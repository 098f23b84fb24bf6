"""What parsing gives: the rejects' shape, a parsed file, and the table read from its bytes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

import polars as pl

from allocation.contracts.inputs import InputContract, InputKind

REJECT_SCHEMA: Final[pl.Schema] = pl.Schema(
    {
        "file": pl.String(),
        "row_number": pl.Int64(),
        "column": pl.String(),
        "check": pl.String(),
        "value": pl.String(),
        "reason": pl.String(),
    }
)
"""Rejects of one file: `row_number`, `column` and `value` are null for a file-level reject."""

OVERFLOW: Final = "_overflow"  # the field just past the header's width, to spot long rows
_MAX_MESSAGE: Final = 200


@dataclass(frozen=True)
class ParsedFile:
    """One inbox file, parsed: its good rows typed, its rejects, and whether it was refused."""

    kind: InputKind
    name: str
    rows_read: int
    """Data rows found (blank CSV lines excluded); 0 if the file could not be read."""
    rows: pl.DataFrame
    """Good rows, typed to the contract's schema, plus `row_number` (Int64)."""
    rejects: pl.DataFrame
    """One row per failed check (`REJECT_SCHEMA`); a rejected file has one file-level row."""
    file_error: str | None = None
    """Why the whole file was rejected, or None when its rows were checked."""
    warnings: tuple[str, ...] = field(default_factory=tuple)
    seconds: dict[str, float] = field(default_factory=dict, compare=False)
    """Time spent reading the bytes into text columns (`read`) and checking them (`validate`)."""

    @property
    def rows_rejected(self) -> int:
        """Distinct rows not loaded; all of `rows_read` when the whole file was rejected."""
        return self.rows_read - self.rows.height


class FileRejected(Exception):  # noqa: N818 - an outcome, not a programming error
    """The file as a whole cannot be loaded; raised inside the parser, never out of it."""

    def __init__(
        self, check: str, reason: str, column: str | None = None, rows_read: int = 0
    ) -> None:
        super().__init__(reason)
        self.check = check
        self.reason = reason
        self.column = column
        self.rows_read = rows_read

    def parsed(
        self,
        contract: InputContract,
        name: str,
        warnings: list[str],
        seconds: dict[str, float] | None = None,
    ) -> ParsedFile:
        """The file as refused: no good rows and one file-level reject saying why."""
        return ParsedFile(
            kind=contract.kind,
            name=name,
            rows_read=self.rows_read,
            rows=contract.schema.to_frame(),
            rejects=pl.DataFrame(
                [(name, None, self.column, self.check, None, self.reason)],
                schema=REJECT_SCHEMA,
                orient="row",
            ),
            file_error=self.reason,
            warnings=tuple(warnings),
            seconds=seconds or {},
        )


@dataclass
class Table:
    """A file as read: its header names by position and its values as text.

    `frame` holds `row_number` and, for each position `i` that was read, a String column
    `_i` (CSV reads every position; Parquet only the contract's columns). CSV adds
    `_overflow`, the field past the header's width.
    """

    header: list[str]
    frame: pl.DataFrame
    is_csv: bool
    exact: frozenset[str] = frozenset()
    """Columns of `frame` written from numbers, dates or flags: never padded nor blank."""
    native: frozenset[str] = frozenset()
    """Columns of `frame` kept in their contract type, not text (see `reading`)."""


def shortened(text: str, limit: int = 40) -> str:
    """The text, cut to `limit` characters with an ellipsis when longer."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def first_line(error: BaseException) -> str:
    """The first line of a reader's message, cut short: it may quote a whole file's text."""
    line = str(error).strip().split("\n", 1)[0] or type(error).__name__
    return shortened(line, _MAX_MESSAGE)
