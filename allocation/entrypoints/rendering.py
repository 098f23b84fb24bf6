"""What the `allocation` commands print: tables for people, JSON for programs, progress lines."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any

import typer
from rich.cells import cell_len
from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table
from rich.text import Text

from allocation.domain.rules import IN_STOCK
from allocation.entrypoints.exits import stderr
from allocation.service_layer.holdings import BatchStock, Held
from allocation.service_layer.outcomes import Released
from allocation.service_layer.runs import RunListing

stdout = Console()


def print_json(payload: Any) -> None:
    """Print a JSON document on stdout, plain (no colour even on a terminal), dates in ISO."""
    typer.echo(json.dumps(payload, indent=2, default=_json_value))


def _json_value(value: object) -> str:
    return value.isoformat() if isinstance(value, date | datetime) else str(value)


def say(text: str) -> None:
    """Print a sentence on stdout, unwrapped (a terminal wraps it; a log keeps it whole)."""
    stdout.print(text, markup=False, highlight=False, soft_wrap=True)


def print_table(title: str, header: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    """Print a table: values as plain text (never markup), numbers on the right."""
    rows = [tuple(row) for row in rows]
    plain = plain_table(title, header, rows, stdout)
    if plain is None:
        stdout.print(rich_table(title, header, rows))
    else:
        stdout.file.write(plain)


def rich_table(title: str, header: Sequence[str], rows: Iterable[Sequence[object]]) -> Table:
    """The table as rich lays it out."""
    table = Table(title=title, show_header=bool(header))
    for column in header:
        table.add_column(column, no_wrap=column == "run id")
    for row in rows:
        table.add_row(
            *(Text(str(v), justify="right" if isinstance(v, int) else "left") for v in row)
        )
    return table


def plain_table(
    title: str, header: Sequence[str], rows: Sequence[Sequence[object]], console: Console
) -> str | None:
    """The table exactly as rich prints it on `console` when that has no colours, else None.

    Rich lays out a table cell by cell: 0.5 s of CPU for the 779 allocations a forced batch
    deletion printed in the 10M benchmark. Without colours (output to a file or a pipe) the
    layout is simple enough to write line by line, so it is, whenever rich would neither wrap
    nor style anything: single-line printable cells, a table and title that fit the width, a
    title and header without markup or emoji codes (rich reads those in them), a UTF-8 output.
    Otherwise rich prints it (None). The box is rich's default (heavy head), as `rich_table`'s.
    """
    cells = [[str(v) for v in row] for row in rows]
    texts = [*header, *(text for row in cells for text in row)]
    if (
        console.color_system is not None
        or not console.encoding.lower().startswith("utf")
        or not (header or cells)
        or any("[" in text or text.count(":") > 1 for text in (title, *header))
        or not all(text.isprintable() for text in (title, *texts))
        or any(len(row) != len(cells[0]) for row in cells)
        or (header and cells and len(cells[0]) != len(header))
    ):
        return None
    columns = len(header) if header else len(cells[0])
    lined_up = [list(header)] if header else []
    widths = [
        max(cell_len(text) for text in column) for column in zip(*lined_up, *cells, strict=True)
    ]
    table_width = sum(widths) + 3 * columns + 1
    if 0 in widths or table_width > console.width or cell_len(title) > table_width:
        return None

    def line(left: str, fill: str, middle: str, right: str) -> str:
        return left + middle.join(fill * (w + 2) for w in widths) + right

    def row(edge: str, texts: Sequence[str], numbers: Sequence[bool]) -> str:
        return (
            edge
            + edge.join(
                " " + (" " * (w - cell_len(t)) + t if n else t + " " * (w - cell_len(t))) + " "
                for t, w, n in zip(texts, widths, numbers, strict=True)
            )
            + edge
        )

    lines = []
    if title:
        gap = table_width - cell_len(title)
        lines.append(" " * (gap // 2) + title + " " * (gap - gap // 2))
    if header:
        lines += [
            line("┏", "━", "┳", "┓"),
            row("┃", header, [False] * columns),
            line("┡", "━", "╇", "┩"),
        ]
    else:
        lines.append(line("┌", "─", "┬", "┐"))
    lines += [
        row("│", texts, [isinstance(v, int) for v in values])
        for texts, values in zip(cells, rows, strict=True)
    ]
    lines.append(line("└", "─", "┴", "┘"))
    return "\n".join(lines) + "\n"


def print_record(title: str, record: dict[str, Any]) -> None:
    """Print one record as a two-column table of its fields and values."""
    print_table(title, (), [(name.replace("_", " "), value) for name, value in record.items()])


def print_stock(stock: Sequence[BatchStock], title: str) -> None:
    """Print batches with what is picked, reserved and available."""
    print_table(
        title,
        ("reference", "sku", "eta", "purchased", "picked", "reserved", "available"),
        [
            (
                s.reference,
                s.sku,
                "in stock" if IN_STOCK.holds_for(s) else str(s.eta),
                s.purchased_quantity,
                s.picked,
                s.reserved,
                s.available,
            )
            for s in stock
        ],
    )


def print_held(held: Sequence[Held], title: str) -> None:
    """Print allocations (picked or reserved), or say there are none."""
    if not held:
        say(f"{title}: none.")
        return
    print_table(
        title,
        ("order", "sku", "batch", "qty", "status"),
        [(h.order_id, h.sku, h.batch_ref, h.qty, h.status) for h in held],
    )


def print_released(released: Released) -> None:
    """Print what an operation withdrew from pick lists and dropped from reservations."""
    if released.withdrawn:
        units = sum(h.qty for h in released.withdrawn)
        print_held(released.withdrawn, f"Withdrawn from pick lists: {units} units")
    if released.released:
        units = sum(h.qty for h in released.released)
        print_held(released.released, f"Reservations dropped: {units} units")
    print_published(released.published)


def print_published(published: Sequence[str]) -> None:
    """Print the files an operation published to the outbox."""
    say(f"Published {len(published)} files:" if published else "Nothing published.")
    for location in published:
        say(f"  {location}")


def print_runs(listed: Sequence[RunListing]) -> None:
    """Print runs and operations, one row each."""
    print_table(
        "Runs, latest first",
        ("run id", "policy", "status", "published", "allocated", "short", "pick lines"),
        [
            (
                r.run_id,
                r.policy,
                r.status if r.reason is None else f"{r.status}: {r.reason}",
                "no" if r.published_at is None else "yes",
                r.units_allocated,
                r.units_short,
                r.pick_list_lines,
            )
            for r in listed
        ],
    )


@contextmanager
def show_progress(*, enabled: bool) -> Iterator[None]:
    """Show the run's progress lines (one per stage) on stderr while the block runs."""
    if not enabled:
        yield
        return
    logger = logging.getLogger("allocation.progress")
    handler = RichHandler(console=stderr, show_path=False, show_level=False, markup=False)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False  # Prefect's console handler on the root logger would repeat them
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
