"""Reading one inbox file's bytes into a table of text (or already typed) columns.

A file that cannot be read as a table at all raises `FileRejected`; everything else is left to
`checking`. `row_number` is 1 for the first record after the header. For CSV it counts every
record, blank lines included, so in a file without line breaks inside quoted values the row is
on line `row_number + 1`.

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
from pathlib import PurePosixPath
from typing import Final

import polars as pl
from polars.exceptions import PanicException

from allocation.contracts.inputs import InputContract
from allocation.parsing.outcome import OVERFLOW, FileRejected, Table, first_line

_UTF8_BOM: Final = b"\xef\xbb\xbf"
_PARQUET_MAGIC: Final = b"PAR1"
# What a reader raises for bytes it cannot make sense of. Polars can also panic on a corrupt
# Parquet footer (seen with ranges past the end of the file): that too is a bad file, not a
# reason to stop the night's run.
_UNREADABLE: Final = (pl.exceptions.PolarsError, PanicException)


def read_table(name: str, data: bytes, contract: InputContract, warnings: list[str]) -> Table:
    """Read a file's bytes by its suffix (.csv or .parquet); raise `FileRejected` if unreadable."""
    """Read a file's bytes by its suffix (.csv or .parquet); raise `FileRejected` if unreadable."""
    suffix = PurePosixPath(name).suffix.lower()
    if not data:
        raise FileRejected(
            "not_empty", f"file is empty (0 bytes); expected {_expected_header(contract)}"
        )
    if suffix == ".csv":
        return _read_csv(data, contract, warnings)
    if suffix == ".parquet":
        return _read_parquet(data, contract, warnings)
    raise FileRejected(
        "file_type", f"unsupported file type {suffix or '(none)'!r}: send .csv or .parquet"
    )


def _read_csv(data: bytes, contract: InputContract, warnings: list[str]) -> Table:
    if data.startswith(_PARQUET_MAGIC):
        raise FileRejected(
            "readable_csv", "file is Parquet, not CSV (it starts with 'PAR1'): name it .parquet"
        )
    if b"\n" not in data and b"\r" in data:
        raise FileRejected(
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


def _parse_csv(data: bytes, contract: InputContract) -> Table:
    """Read the header line, then every record as text with its row number and overflow field."""
    header = _csv_header(data, contract)
    width = len(header)
    try:
        frame = pl.read_csv(
            data,
            has_header=False,
            skip_rows=1,
            schema={**{f"_{i}": pl.String() for i in range(width)}, OVERFLOW: pl.String()},
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
        raise FileRejected(
            "readable_csv",
            f"file could not be parsed as CSV, often an unclosed quote ({first_line(error)})",
        ) from error
    return Table(header, frame.with_columns(pl.col("row_number").cast(pl.Int64)), is_csv=True)


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
        raise FileRejected(
            "readable_csv", f"the header line could not be parsed as CSV ({first_line(error)})"
        ) from error
    names = [(value or "").strip() for value in first.row(0)] if first.height else []
    # A legacy decode keeps a UTF-8 byte-order mark as text; it is not part of the name.
    if names and names[0].startswith(_UTF8_BOM.decode("cp1252")):
        names[0] = names[0][3:].strip()
    if not any(names):
        raise FileRejected(
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


def _read_parquet(data: bytes, contract: InputContract, warnings: list[str]) -> Table:
    if not data.startswith(_PARQUET_MAGIC):
        looks_like = " (it looks like text: name a CSV file .csv)" if _is_text(data) else ""
        raise FileRejected(
            "readable_parquet", f"file is not Parquet: it does not start with 'PAR1'{looks_like}"
        )
    try:
        schema = pl.read_parquet_schema(io.BytesIO(data))
        rows = pl.scan_parquet(io.BytesIO(data)).select(pl.len()).collect().item()
    except _UNREADABLE as error:
        raise FileRejected(
            "readable_parquet", f"Parquet file is truncated or corrupt ({first_line(error)})"
        ) from error
    header = list(schema)
    wanted = [name for name in header if name in contract.columns]
    for name in wanted:
        if schema[name].is_nested():
            raise FileRejected(
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
        raise FileRejected(
            "readable_parquet",
            f"Parquet file is truncated or corrupt ({first_line(error)})",
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
            (native[name] if name in native else _parquet_as_text(frame[name])).alias(
                f"_{header.index(name)}"
            )
            for name in wanted
        )
    except _UNREADABLE as error:
        raise FileRejected(
            "column_type",
            f"Parquet columns could not be read as text ({first_line(error)})",
            rows_read=rows,
        ) from error
    numbers = pl.Series("row_number", range(1, rows + 1), dtype=pl.Int64())
    exact = frozenset(f"_{header.index(name)}" for name in wanted if _prints_exact(schema[name]))
    return Table(
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


def _expected_header(contract: InputContract) -> str:
    optional = "".join(f"[, {column}]" for column in contract.optional)
    return f"a header line: {', '.join(contract.required)}{optional}"
