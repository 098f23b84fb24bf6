"""Parsing one inbox file: bytes in; typed good rows, rejects with reasons and the accounting out.

Pure: no I/O besides parsing the bytes given. Every file ends in one of two ways, and the
accounting `rows_read == rows.height + rows_rejected` holds for both:

- **Rows checked.** Each data row is loaded (in `rows`, typed) or rejected (in `rejects`, one
  row per failed check, with a reason a person can act on).
- **Whole file rejected** (`file_error` set, one reject row with a null `row_number`): the
  bytes are not a readable CSV or Parquet file, or a required column is missing or repeated.

How: `reading` turns the bytes into a table of text columns, `checking` checks its rows.
"""

from __future__ import annotations

import time
from dataclasses import replace

from allocation.contracts.inputs import CONTRACTS, InputKind
from allocation.parsing.checking import check_table
from allocation.parsing.outcome import FileRejected, ParsedFile
from allocation.parsing.reading import read_table


def parse_inbox_file(kind: InputKind, name: str, data: bytes) -> ParsedFile:
    """Parse one inbox file's bytes against its kind's contract; never raises for bad data."""
    contract = CONTRACTS[kind]
    warnings: list[str] = []
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    try:
        table = read_table(name, data, contract, warnings)
        seconds["read"] = time.perf_counter() - started
        parsed = check_table(contract, name, table, warnings)
        seconds["validate"] = time.perf_counter() - started - seconds["read"]
        return replace(parsed, seconds=seconds)
    except FileRejected as rejected:
        elapsed = time.perf_counter() - started
        seconds["validate"] = elapsed - seconds.setdefault("read", elapsed)
        return rejected.parsed(contract, name, warnings, seconds)
