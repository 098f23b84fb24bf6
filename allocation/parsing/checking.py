"""Checking a table's rows against their kind's contract: typed good rows and rejects.

Columns are matched by header name, exactly and case-sensitively, after trimming whitespace
around the names; their order does not matter. The rules per column live in
`allocation.contracts.inputs`. Unknown extra columns are ignored, with a warning. Values are
trimmed of surrounding whitespace, and a value left blank counts as missing.

Each row is kept (typed) or rejected, with one reject row per failed check and a reason a
person can act on; a required column missing or repeated rejects the whole file.
"""

from __future__ import annotations

from typing import Final

import polars as pl
from pandera.errors import SchemaErrors

from allocation.contracts.inputs import CONTRACTS, NOT_BLANK, InputContract, InputKind
from allocation.parsing.outcome import (
    OVERFLOW,
    REJECT_SCHEMA,
    FileRejected,
    ParsedFile,
    Table,
    shortened,
)

_MAX_NAMES_SHOWN: Final = 12  # a garbage header is still summarised in one readable line


def check_rows(
    kind: InputKind, frame: pl.DataFrame, *, source: str
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Check rows held in memory (text values, named by column) as an inbox file's rows.

    Gives the good rows, typed and numbered from 1 in `row_number`, and the rejects (their
    `file` is `source`): what `parse_inbox_file` gives for a Parquet file of these columns.
    """
    contract = CONTRACTS[kind]
    not_text = [name for name, dtype in frame.schema.items() if dtype != pl.String()]
    if not_text:
        raise TypeError(f"columns to check must hold text, not {frame.schema}: {not_text}")
    header = frame.columns
    numbers = pl.int_range(1, pl.len() + 1, dtype=pl.Int64()).alias("row_number")
    table = Table(
        header,
        frame.select(
            *(
                pl.col(name).alias(f"_{i}")
                for i, name in enumerate(header)
                if name in contract.columns
            ),
            numbers,
        ),
        is_csv=False,
    )
    warnings: list[str] = []
    try:
        parsed = check_table(contract, source, table, warnings)
    except FileRejected as rejected:
        parsed = rejected.parsed(contract, source, warnings)
    return parsed.rows, parsed.rejects


def check_table(
    contract: InputContract, name: str, table: Table, warnings: list[str]
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
    if OVERFLOW in frame.columns:
        too_long = pl.col(OVERFLOW).is_not_null()
        rejects.append(
            frame.filter(too_long).select(
                file=pl.lit(name),
                row_number="row_number",
                column=pl.lit(None, pl.String()),
                check=pl.lit("field_count"),
                value=OVERFLOW,
                reason=pl.format(
                    "row has more fields than the header's {} (first extra value '{}'): "
                    "quote values that contain a comma",
                    pl.lit(len(table.header)),
                    pl.col(OVERFLOW),
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
    failures = check_values(contract, raw.drop("row_number"), native)
    if failures.height:
        # By position: a join to every row's number would hash the whole file for a few rows.
        failed = failures["index"]
        rejects.append(
            failures.with_columns(row_number=raw["row_number"].gather(failed)).select(
                pl.lit(name).alias("file"), *REJECT_SCHEMA.names()[1:]
            )
        )
        raw = raw.filter(pl.repeat(True, raw.height, eager=True).scatter(failed.unique(), False))
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
    contract: InputContract, table: Table, rows_read: int, warnings: list[str]
) -> dict[str, int]:
    """Map each contract column found to its position; refuse missing or repeated columns."""
    header = table.header
    positions: dict[str, list[int]] = {}
    for position, column in enumerate(header):
        positions.setdefault(column, []).append(position + 1)
    for column in contract.columns:
        if len(positions.get(column, [])) > 1:
            raise FileRejected(
                "duplicate_column",
                f"column {column!r} appears {len(positions[column])} times in the header "
                f"(columns {', '.join(map(str, positions[column]))}): keep one",
                column=column,
                rows_read=rows_read,
            )
    missing = [column for column in contract.required if column not in positions]
    if missing:
        listed = ", ".join(repr(column) for column in missing)
        found = [shortened(column) or "(blank)" for column in header]
        shown = ", ".join(found[:_MAX_NAMES_SHOWN]) + (
            f", ... ({len(found)} in all)" if len(found) > _MAX_NAMES_SHOWN else ""
        )
        hint = ""
        lower = {column.lower() for column in header}
        if any(column.lower() in lower for column in missing):
            hint = "; names are case-sensitive"
        elif len(header) == 1 and (other := next((d for d in ";\t|" if d in header[0]), None)):
            hint = f"; the header looks separated by {other!r}: send comma-separated values"
        raise FileRejected(
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


def check_values(
    contract: InputContract, raw: pl.DataFrame, native: frozenset[str]
) -> pl.DataFrame:
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
