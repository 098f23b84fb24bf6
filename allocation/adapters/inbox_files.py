"""Parsing one inbox file: bytes in; typed good rows, rejects with reasons and the accounting out.

Pure: no I/O besides parsing the bytes given. Every file ends in one of two ways, and the
accounting `rows_read == rows.height + rows_rejected` holds for both:

- **Rows checked.** Each data row is loaded (in `rows`, typed) or rejected (in `rejects`, one
  row per failed check, with a reason a person can act on).
- **Whole file rejected** (`file_error` set, one reject row with a null `row_number`): the
  bytes are not a readable CSV or Parquet file, or a required column is missing or repeated.

Columns are matched by header name, exactly and case-sensitively, after trimming whitespace
around the names; their order does not matter. The rules per column live in
`allocation.contracts.inputs`. Unknown extra columns are ignored, with a warning. Values are
trimmed of surrounding whitespace, and a value left blank counts as missing.

`row_number` is 1 for the first record after the header. For CSV it counts every record,
blank lines included, so in a file without line breaks inside quoted values the row is on
line `row_number + 1`.

CSV handling, where files go wrong in practice:

- Every column is read as text, so no value is lost or altered by type inference.
- A UTF-8 byte-order mark and CRLF line ends are accepted; quoted values may hold commas,
  quotes (doubled) and line breaks.
- **Not UTF-8** (e.g. an Excel export in Windows-1252 / Latin-1): the file is still read, as
  Windows-1252 (Latin-1 for the five bytes Windows-1252 leaves undefined), and a warning names
  the first byte that is not UTF-8. Every byte has a meaning in Latin-1, so no row is lost;
  identifiers are ASCII in practice and read the same either way, while the warning asks for
  accented text to be checked.
- **Blank lines** (and lines of only whitespace or only delimiters) are skipped with a
  warning; they are not rows and are not counted in `rows_read`.
- **Too many fields**: a row whose first field past the header's width holds a value is
  rejected (`field_count`); usually a value with an unquoted comma. An extra *empty* field
  (a trailing delimiter) cannot be told from none and is accepted, as are fields after it.
- **Too few fields**: the reader pads a short row with blanks, indistinguishable from empty
  trailing fields, so the row fails on its first missing required value ("qty must not be
  blank") or, if only optional columns are missing, loads with their defaults.
- An unclosed quote, a file with no header line, or CR-only line ends reject the file.

Parquet is read natively (only the contract's columns). A column already of its contract type
(an integer quantity, a date, a timestamp to the microsecond) is checked as values by the same
rules, with the same reasons; any other column is cast to text so the same checks run as for
CSV: 2.0 in a Float column is the text "2.0" and fails "whole number", and a warning names each
column whose Parquet type does not fit its contract type. Timestamps are read in UTC (a
Datetime without a zone is taken as UTC). A nested (List, Struct, Array) contract column
rejects the file, naming the column and its type; a nested extra column is ignored like any
other. A corrupt file that makes the Parquet reader panic is rejected like any unreadable file.
Rows of blanks are rows in Parquet (blank lines are a CSV matter) and are rejected as blank.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass, field, replace
from pathlib import PurePosixPath
from typing import Final

import polars as pl
from pandera.errors import SchemaErrors
from polars.exceptions import PanicException

from allocation.contracts.inputs import CONTRACTS, NOT_BLANK, InputContract, InputKind

__all__ = ["REJECT_SCHEMA", "InputKind", "ParsedFile", "parse_inbox_file"]

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

_UTF8_BOM: Final = b"\xef\xbb\xbf"
_PARQUET_MAGIC: Final = b"PAR1"
_OVERFLOW: Final = "_overflow"  # the field just past the header's width, to spot long rows
_MAX_NAMES_SHOWN: Final = 12  # a garbage header is still summarised in one readable line
_MAX_MESSAGE: Final = 200
# What a reader raises for bytes it cannot make sense of. Polars can also panic on a corrupt
# Parquet footer (seen with ranges past the end of the file): that too is a bad file, not a
# reason to stop the night's run.
_UNREADABLE: Final = (pl.exceptions.PolarsError, PanicException)


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


class _FileRejected(Exception):  # noqa: N818 - an outcome, not a programming error
    """The file as a whole cannot be loaded; raised inside the parser, never out of it."""

    def __init__(
        self, check: str, reason: str, column: str | None = None, rows_read: int = 0
    ) -> None:
        super().__init__(reason)
        self.check = check
        self.reason = reason
        self.column = column
        self.rows_read = rows_read


@dataclass
class _Table:
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
    """Columns of `frame` kept in their contract type, not text (see `_parquet_as_native`)."""


def parse_inbox_file(kind: InputKind, name: str, data: bytes) -> ParsedFile:
    """Parse one inbox file's bytes against its kind's contract; never raises for bad data."""
    contract = CONTRACTS[kind]
    warnings: list[str] = []
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    try:
        table = _read(name, data, contract, warnings)
        seconds["read"] = time.perf_counter() - started
        parsed = _check_rows(contract, name, table, warnings)
        seconds["validate"] = time.perf_counter() - started - seconds["read"]
        return replace(parsed, seconds=seconds)
    except _FileRejected as rejected:
        elapsed = time.perf_counter() - started
        seconds["validate"] = elapsed - seconds.setdefault("read", elapsed)
        return ParsedFile(
            kind=kind,
            name=name,
            rows_read=rejected.rows_read,
            rows=contract.schema.to_frame(),
            rejects=pl.DataFrame(
                [(name, None, rejected.column, rejected.check, None, rejected.reason)],
                schema=REJECT_SCHEMA,
                orient="row",
            ),
            file_error=rejected.reason,
            warnings=tuple(warnings),
            seconds=seconds,
        )


# --- reading -------------------------------------------------------------------------------


def _read(name: str, data: bytes, contract: InputContract, warnings: list[str]) -> _Table:
    suffix = PurePosixPath(name).suffix.lower()
    if not data:
        raise _FileRejected(
            "not_empty", f"file is empty (0 bytes); expected {_expected_header(contract)}"
        )
    if suffix == ".csv":
        return _read_csv(data, contract, warnings)
    if suffix == ".parquet":
        return _read_parquet(data, contract, warnings)
    raise _FileRejected(
        "file_type", f"unsupported file type {suffix or '(none)'!r}: send .csv or .parquet"
    )


def _read_csv(data: bytes, contract: InputContract, warnings: list[str]) -> _Table:
    if data.startswith(_PARQUET_MAGIC):
        raise _FileRejected(
            "readable_csv", "file is Parquet, not CSV (it starts with 'PAR1'): name it .parquet"
        )
    if b"\n" not in data and b"\r" in data:
        raise _FileRejected(
            "readable_csv",
            "file has CR-only line ends (old Mac style): save it with LF or CRLF line ends",
        )
    try:
        return _parse_csv(data, contract)
    except _NotUtf8:
        pass
    text, encoding = _decode_legacy(data)
    warnings.append(f"{_first_bad_utf8(data)}; read it as {encoding}: check accented text")
    return _parse_csv(text.encode("utf-8"), contract)


def _parse_csv(data: bytes, contract: InputContract) -> _Table:
    """Read the header line, then every record as text with its row number and overflow field."""
    header = _csv_header(data, contract)
    width = len(header)
    try:
        frame = pl.read_csv(
            data,
            has_header=False,
            skip_rows=1,
            schema={**{f"_{i}": pl.String() for i in range(width)}, _OVERFLOW: pl.String()},
            # Long rows keep one field past the header (to be rejected) and drop the rest;
            # short rows are padded with nulls. The width is taken from the first data row, so
            # a short or long first row must not stop the read.
            truncate_ragged_lines=True,
            missing_columns="insert",
            extra_columns="ignore",
            raise_if_empty=False,
            row_index_name="row_number",
            row_index_offset=1,
        )
    except _UNREADABLE as error:
        _raise_if_not_utf8(error)
        raise _FileRejected(
            "readable_csv",
            f"file could not be parsed as CSV, often an unclosed quote ({_first_line(error)})",
        ) from error
    return _Table(header, frame.with_columns(pl.col("row_number").cast(pl.Int64)), is_csv=True)


def _csv_header(data: bytes, contract: InputContract) -> list[str]:
    try:
        first = pl.read_csv(
            data,
            has_header=False,
            n_rows=1,
            infer_schema=False,
            truncate_ragged_lines=True,
            raise_if_empty=False,
        )
    except pl.exceptions.NoDataError:
        first = pl.DataFrame()
    except _UNREADABLE as error:
        _raise_if_not_utf8(error)
        raise _FileRejected(
            "readable_csv", f"the header line could not be parsed as CSV ({_first_line(error)})"
        ) from error
    names = [(value or "").strip() for value in first.row(0)] if first.height else []
    # A legacy decode keeps a UTF-8 byte-order mark as text; it is not part of the name.
    if names and names[0].startswith(_UTF8_BOM.decode("cp1252")):
        names[0] = names[0][3:].strip()
    if not any(names):
        raise _FileRejected(
            "header",
            f"file has no header line (the first line is blank); expected "
            f"{_expected_header(contract)}",
        )
    return names


class _NotUtf8(Exception):  # noqa: N818 - a signal to re-read the bytes, caught in _read_csv
    """The CSV reader refused the bytes as invalid UTF-8."""


def _raise_if_not_utf8(error: BaseException) -> None:
    if "utf-8" in str(error).lower() or "utf8" in str(error).lower():
        raise _NotUtf8 from error


def _decode_legacy(data: bytes) -> tuple[str, str]:
    """Decode non-UTF-8 text as Windows-1252, or Latin-1 where that leaves a byte undefined."""
    try:
        return data.decode("cp1252"), "Windows-1252"
    except UnicodeDecodeError:
        return data.decode("latin-1"), "Latin-1"


def _first_bad_utf8(data: bytes) -> str:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        return f"file is not UTF-8 (byte 0x{data[error.start]:02X} on line {line})"
    return "file is not UTF-8"  # pragma: no cover - only called after the reader refused it


def _read_parquet(data: bytes, contract: InputContract, warnings: list[str]) -> _Table:
    if not data.startswith(_PARQUET_MAGIC):
        looks_like = " (it looks like text: name a CSV file .csv)" if _is_text(data) else ""
        raise _FileRejected(
            "readable_parquet", f"file is not Parquet: it does not start with 'PAR1'{looks_like}"
        )
    try:
        schema = pl.read_parquet_schema(io.BytesIO(data))
        rows = pl.scan_parquet(io.BytesIO(data)).select(pl.len()).collect().item()
    except _UNREADABLE as error:
        raise _FileRejected(
            "readable_parquet", f"Parquet file is truncated or corrupt ({_first_line(error)})"
        ) from error
    header = list(schema)
    wanted = [name for name in header if name in contract.columns]
    for name in wanted:
        if schema[name].is_nested():
            raise _FileRejected(
                "column_type",
                f"column {name!r} has the nested Parquet type {schema[name]}: expected one "
                f"plain value per row (text, a number or a date)",
                column=name,
                rows_read=rows,
            )
        warning = _parquet_type_warning(name, schema[name], contract.schema[name])
        if warning:
            warnings.append(warning)
    try:
        frame = pl.read_parquet(io.BytesIO(data), columns=wanted)
    except _UNREADABLE as error:
        raise _FileRejected(
            "readable_parquet",
            f"Parquet file is truncated or corrupt ({_first_line(error)})",
            rows_read=rows,
        ) from error
    native = {
        name: form
        for name in wanted
        if name in contract.native
        and (form := _parquet_as_native(frame[name], contract.schema[name])) is not None
    }
    try:
        text = frame.select(
            native.get(name, _parquet_as_text(frame[name])).alias(f"_{header.index(name)}")
            for name in wanted
        )
    except _UNREADABLE as error:
        raise _FileRejected(
            "column_type",
            f"Parquet columns could not be read as text ({_first_line(error)})",
            rows_read=rows,
        ) from error
    numbers = pl.Series("row_number", range(1, rows + 1), dtype=pl.Int64())
    exact = frozenset(f"_{header.index(name)}" for name in wanted if _prints_exact(schema[name]))
    return _Table(
        header,
        text.with_columns(numbers) if wanted else numbers.to_frame(),
        False,
        exact,
        frozenset(f"_{header.index(name)}" for name in native),
    )


def _prints_exact(dtype: pl.DataType) -> bool:
    """Tell whether a type's text is never padded nor blank, so trimming it changes nothing."""
    return dtype.is_numeric() or dtype == pl.Boolean() or isinstance(dtype, pl.Date | pl.Datetime)


_LOSSLESS_IN_INT64: Final = (
    pl.Int8(),
    pl.Int16(),
    pl.Int32(),
    pl.Int64(),
    pl.UInt8(),
    pl.UInt16(),
    pl.UInt32(),
)


def _parquet_as_native(column: pl.Series, wanted: pl.DataType) -> pl.Expr | None:
    """The column in its contract type, if its Parquet type holds exactly that; else None.

    Integers that fit 64 bits, dates, and timestamps to the microsecond (in UTC, or without a
    zone, taken as UTC) keep their type and are checked as values, which gives the same rows
    and rejects as their text would, without writing and parsing it. Anything else (floats,
    UInt64, nanoseconds, text) goes through text.
    """
    found = column.dtype
    value = pl.col(column.name)
    if wanted == pl.Int64() and found in _LOSSLESS_IN_INT64:
        return value.cast(pl.Int64())
    if wanted == pl.Date() and found == pl.Date():
        return value
    if isinstance(wanted, pl.Datetime) and isinstance(found, pl.Datetime):
        if found.time_unit == "ns":
            return None
        in_utc = (
            value.dt.replace_time_zone("UTC")
            if found.time_zone is None
            else value.dt.convert_time_zone("UTC")
        )
        return in_utc.dt.cast_time_unit("us")
    return None


def _parquet_as_text(column: pl.Series) -> pl.Expr:
    """Turn a Parquet column to text; timestamps to ISO-8601 in UTC, the shape parsed fastest."""
    if not isinstance(column.dtype, pl.Datetime):
        return pl.col(column.name).cast(pl.String())
    utc = pl.col(column.name)
    if column.dtype.time_zone is not None:
        utc = utc.dt.convert_time_zone("UTC")  # a Datetime without a zone is UTC already
    fraction = "%.6f" if (column.dt.nanosecond() != 0).any() else ""
    return utc.dt.to_string(f"%Y-%m-%dT%H:%M:%S{fraction}Z")


def _parquet_type_warning(name: str, found: pl.DataType, wanted: pl.DataType) -> str | None:
    """Say when a Parquet column's type does not fit its contract type (its text still counts)."""
    text_like = found == pl.String() or isinstance(found, pl.Categorical | pl.Enum | pl.Null)
    if wanted in (pl.String(), pl.Int64()):
        fits = text_like or found.is_integer()
    elif wanted == pl.Date():
        fits = text_like or found == pl.Date()
    else:  # a timestamp
        fits = text_like or isinstance(found, pl.Datetime) or found == pl.Date()
    if fits:
        return None
    return (
        f"column {name!r} has Parquet type {found}, not {wanted}: its values were checked as "
        f"text; write the column as {wanted}"
    )


def _is_text(data: bytes) -> bool:
    head = data[:4096]
    return b"\x00" not in head and (b"," in head or b"\n" in head)


# --- checking ------------------------------------------------------------------------------


def _check_rows(
    contract: InputContract, name: str, table: _Table, warnings: list[str]
) -> ParsedFile:
    """Resolve the header against the contract, then check and type every row."""
    frame = _normalised(table.frame, skip=table.exact | table.native)
    if table.is_csv:
        blank = pl.all_horizontal(pl.exclude("row_number").is_null())
        skipped = frame.select(blank.sum()).item()
        if skipped:
            frame = frame.filter(~blank)
            warnings.append(f"skipped {skipped} blank line(s)")
    rows_read = frame.height
    positions = _resolve_header(contract, table, rows_read, warnings)

    rejects: list[pl.DataFrame] = []
    if _OVERFLOW in frame.columns:
        too_long = pl.col(_OVERFLOW).is_not_null()
        rejects.append(
            frame.filter(too_long).select(
                file=pl.lit(name),
                row_number="row_number",
                column=pl.lit(None, pl.String()),
                check=pl.lit("field_count"),
                value=_OVERFLOW,
                reason=pl.format(
                    "row has more fields than the header's {} (first extra value '{}'): "
                    "quote values that contain a comma",
                    pl.lit(len(table.header)),
                    pl.col(_OVERFLOW),
                ),
            )
        )
        frame = frame.filter(~too_long)

    raw = frame.select(
        *(
            (
                pl.col(f"_{positions[column]}")
                if column in positions
                else pl.lit(None, pl.String())
            ).alias(column)
            for column in contract.columns
        ),
        "row_number",
    )
    native = frozenset(
        column for column, position in positions.items() if f"_{position}" in table.native
    )
    failures = _failures(contract, raw.drop("row_number"), native)
    if failures.height:
        positioned = raw.with_row_index("index").with_columns(pl.col("index").cast(pl.Int64()))
        rejects.append(
            failures.join(positioned.select("index", "row_number"), on="index", how="left").select(
                pl.lit(name).alias("file"), *REJECT_SCHEMA.names()[1:]
            )
        )
        raw = positioned.join(failures.select("index").unique(), on="index", how="anti").drop(
            "index"
        )
    return ParsedFile(
        kind=contract.kind,
        name=name,
        rows_read=rows_read,
        rows=contract.typed(raw, native),
        rejects=pl.concat([REJECT_SCHEMA.to_frame(), *rejects], how="vertical_relaxed")
        .cast(REJECT_SCHEMA)
        .sort("row_number", maintain_order=True),
        warnings=tuple(warnings),
    )


def _resolve_header(
    contract: InputContract, table: _Table, rows_read: int, warnings: list[str]
) -> dict[str, int]:
    """Map each contract column found to its position; refuse missing or repeated columns."""
    header = table.header
    positions: dict[str, list[int]] = {}
    for position, column in enumerate(header):
        positions.setdefault(column, []).append(position + 1)
    for column in contract.columns:
        if len(positions.get(column, [])) > 1:
            raise _FileRejected(
                "duplicate_column",
                f"column {column!r} appears {len(positions[column])} times in the header "
                f"(columns {', '.join(map(str, positions[column]))}): keep one",
                column=column,
                rows_read=rows_read,
            )
    missing = [column for column in contract.required if column not in positions]
    if missing:
        listed = ", ".join(repr(column) for column in missing)
        found = [_shortened(column) or "(blank)" for column in header]
        shown = ", ".join(found[:_MAX_NAMES_SHOWN]) + (
            f", ... ({len(found)} in all)" if len(found) > _MAX_NAMES_SHOWN else ""
        )
        hint = ""
        lower = {column.lower() for column in header}
        if any(column.lower() in lower for column in missing):
            hint = "; names are case-sensitive"
        elif len(header) == 1 and (other := next((d for d in ";\t|" if d in header[0]), None)):
            hint = f"; the header looks separated by {other!r}: send comma-separated values"
        raise _FileRejected(
            "required_column",
            f"missing required column{'s' if len(missing) > 1 else ''} {listed} "
            f"(found: {shown}){hint}",
            column=", ".join(missing),
            rows_read=rows_read,
        )
    unknown = sorted({column for column in header if column and column not in contract.columns})
    if unknown:
        warnings.append(f"ignored unknown column(s): {', '.join(unknown)}")
    unnamed = sum(1 for column in header if not column)
    if unnamed and table.is_csv:
        warnings.append(f"ignored {unnamed} column(s) with a blank header")
    return {
        column: found[0] - 1 for column, found in positions.items() if column in contract.columns
    }


def _normalised(frame: pl.DataFrame, skip: frozenset[str] = frozenset()) -> pl.DataFrame:
    """Trim every text value and turn blank ones into nulls (but in `skip`, already exact)."""
    trimmed = pl.exclude("row_number", *skip).str.strip_chars()
    return frame.with_columns(pl.when(trimmed.str.len_bytes() > 0).then(trimmed).name.keep())


def _failures(contract: InputContract, raw: pl.DataFrame, native: frozenset[str]) -> pl.DataFrame:
    """Validate the raw rows with the contract's checks; one row per failed (row, check).

    `native` names the columns that are typed already, not text. Columns: index (position in
    `raw`), column, check, value, reason.
    """
    try:
        contract.checks(native).validate(raw, lazy=True)
    except SchemaErrors as errors:
        cases: pl.DataFrame = errors.failure_cases
    else:
        return pl.DataFrame(
            schema={
                "index": pl.Int64(),
                **{column: REJECT_SCHEMA[column] for column in REJECT_SCHEMA.names()[2:]},
            }
        )
    schema_level = cases.filter(pl.col("index").is_null())
    if schema_level.height:
        # The parser builds the raw frame to fit the model, so this is a bug, not bad data.
        raise RuntimeError(f"raw frame does not fit {contract.model.__name__}: {schema_level}")
    check = pl.when(pl.col("check") == "not_nullable").then(pl.lit(NOT_BLANK)).otherwise("check")
    return (
        cases.select(
            pl.col("index").cast(pl.Int64()),
            "column",
            check.alias("check"),
            pl.col("failure_case").alias("value"),
        )
        .join(contract.rules, on=["column", "check"], how="left")
        .select(
            "index",
            "column",
            "check",
            "value",
            reason=pl.when(pl.col("check") == NOT_BLANK)
            .then(pl.format("{} must not be blank", "column"))
            .otherwise(pl.format("{} must be {}, got '{}'", "column", "rule", "value")),
        )
    )


def _expected_header(contract: InputContract) -> str:
    optional = "".join(f"[, {column}]" for column in contract.optional)
    return f"a header line: {', '.join(contract.required)}{optional}"


def _shortened(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _first_line(error: BaseException) -> str:
    """The first line of a reader's message, cut short: it may quote a whole file's text."""
    line = str(error).strip().split("\n", 1)[0] or type(error).__name__
    return _shortened(line, _MAX_MESSAGE)
