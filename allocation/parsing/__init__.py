"""The input parser: inbox files (or rows typed in by an operator) checked by their contracts.

Pure, no I/O: `reading` turns a file's bytes into a table, `checking` checks its rows against
`allocation.contracts.inputs`, and `inbox_file` puts the two together for one file.
"""

from allocation.contracts.inputs import InputKind
from allocation.parsing.checking import check_rows
from allocation.parsing.inbox_file import parse_inbox_file
from allocation.parsing.outcome import REJECT_SCHEMA, ParsedFile

__all__ = ["REJECT_SCHEMA", "InputKind", "ParsedFile", "check_rows", "parse_inbox_file"]
