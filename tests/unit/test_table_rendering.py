"""The commands' tables: written line by line when rich would print them plainly, identically."""

from __future__ import annotations

import io
from collections.abc import Sequence

import pytest
from rich.console import Console

from allocation.entrypoints.rendering import plain_table, rich_table

Rows = Sequence[Sequence[object]]


def console(width: int = 80, *, colours: bool = False) -> Console:
    return Console(file=io.StringIO(), width=width, force_terminal=colours or None)


def as_rich_prints_it(title: str, header: Sequence[str], rows: Rows, width: int = 80) -> str:
    printer = console(width)
    printer.print(rich_table(title, header, rows))
    out = printer.file
    assert isinstance(out, io.StringIO)
    return out.getvalue()


TABLES: dict[str, tuple[str, tuple[str, ...], Rows]] = {
    "allocations": (
        "Withdrawn from pick lists: 15 units",
        ("order", "sku", "batch", "qty", "status"),
        [("ORD-1", "SKU-1", "B-1", 3, "picked"), ("ORD-000000002", "SKU-0033", "B-9", 12, "x")],
    ),
    "a record": ("Run abc", (), [("run id", "abc"), ("units", 5), ("done", True)]),
    "no rows": ("0 batches", ("reference", "sku"), []),
    "no title": ("", ("a", "b"), [("x", 1)]),
    "an odd gap around the title": ("Order 42", ("sku", "qty"), [("SKU-1", 3), ("S", 10)]),
    "wide characters": ("漢字 é", ("a", "b"), [("漢字x", 1), ("é", 22)]),
}


@pytest.mark.parametrize("name", TABLES)
def test_a_plain_table_is_what_rich_prints_without_colours(name: str) -> None:
    title, header, rows = TABLES[name]
    assert plain_table(title, header, rows, console()) == as_rich_prints_it(title, header, rows)


def test_a_long_table_is_written_line_by_line_as_rich_would() -> None:
    rows = [
        (f"ORD-{n:09d}", f"SKU-{n % 7:07d}", f"B-{n:09d}", n % 20, "picked") for n in range(500)
    ]
    header = ("order", "sku", "batch", "qty", "status")
    assert plain_table("Held", header, rows, console()) == as_rich_prints_it("Held", header, rows)


@pytest.mark.parametrize(
    ("title", "rows", "width"),
    [
        ("Too wide", [("x" * 60, "y" * 30)], 80),
        ("A title far wider than the little table under it", [("x", "y")], 80),
        ("Batch [bold]B-1[/bold]", [("x", "y")], 80),
        ("Emoji :smile: code", [("x", "y")], 80),
        ("Two lines", [("x\ny", "z")], 80),
        ("An empty cell everywhere", [("", "z")], 80),
    ],
)
def test_rich_lays_out_what_it_would_wrap_style_or_interpret(
    title: str, rows: Rows, width: int
) -> None:
    assert plain_table(title, ("a", "b"), rows, console(width)) is None


def test_rich_lays_out_a_header_with_markup() -> None:
    assert plain_table("T", ("[b]a[/b]",), [("x",)], console()) is None


def test_rich_prints_for_a_terminal_with_colours() -> None:
    assert plain_table("T", ("a",), [("x",)], console(colours=True)) is None
