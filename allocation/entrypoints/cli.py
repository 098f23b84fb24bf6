"""The `allocation` command: run the nightly job, and the operators' day-to-day operations.

Expected failures print one line on stderr and exit with a documented status; only a bug
(status 1) shows a traceback.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import date
from enum import IntEnum
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from allocation.adapters.storage import (
    StorageAccessDenied,
    StorageError,
    StorageNotFound,
)
from allocation.adapters.warehouse import WarehouseBusy
from allocation.config import Settings
from allocation.domain.model import AllocationError, OutOfStock, UnknownSku
from allocation.domain.policy import Policy

app = typer.Typer(
    help="Allocate warehouse stock batches to customer order lines.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
stdout = Console()
stderr = Console(stderr=True)


class Exit(IntEnum):
    """Exit statuses, the same for every command."""

    OK = 0
    UNEXPECTED = 1
    INVALID = 2
    NOT_FOUND = 3
    CONFLICT = 4
    BUSY = 5
    STORAGE = 6


def exit_status(error: BaseException) -> Exit | None:
    """The documented status for an expected failure, or None for a bug."""
    if isinstance(error, WarehouseBusy):
        return Exit.BUSY
    if isinstance(error, StorageNotFound | UnknownSku):
        return Exit.NOT_FOUND
    if isinstance(error, StorageAccessDenied | StorageError):
        return Exit.STORAGE
    if isinstance(error, OutOfStock):
        return Exit.CONFLICT
    if isinstance(error, AllocationError | ValueError):
        return Exit.INVALID
    return None


@contextmanager
def expected_failures() -> Iterator[None]:
    """Turn expected failures into one line on stderr and their exit status."""
    try:
        yield
    except Exception as error:
        status = exit_status(error)
        if status is None:
            raise
        message = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
        stderr.print(f"error: {message}", highlight=False, soft_wrap=True)
        raise typer.Exit(int(status)) from None


def quiet_prefect() -> None:
    """Keep an ephemeral Prefect quiet and offline unless the operator configured otherwise."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW", "ignore")
    os.environ.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "WARNING")


def print_json(payload: Any) -> None:
    """Print a JSON document on stdout (dates as ISO strings)."""
    stdout.print_json(data=payload, default=str)


@app.command()
def run(
    inbox: Annotated[str | None, typer.Option(help="Inbox URL (path or s3://...).")] = None,
    outbox: Annotated[str | None, typer.Option(help="Outbox URL (path or s3://...).")] = None,
    db: Annotated[str | None, typer.Option(help="Warehouse DuckDB file.")] = None,
    policy: Annotated[Policy | None, typer.Option(help="Allocation policy.")] = None,
    run_date: Annotated[
        str | None, typer.Option(help="Business date, YYYY-MM-DD (default: today).")
    ] = None,
    busy_timeout: Annotated[
        float | None, typer.Option(help="Seconds to wait for a busy warehouse.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Run the nightly allocation flow once."""
    with expected_failures():
        overrides = {
            "inbox": inbox,
            "outbox": outbox,
            "db": db,
            "policy": policy,
            "run_date": _parse_date(run_date) if run_date else None,
            "busy_timeout": busy_timeout,
        }
        settings = Settings(**{k: v for k, v in overrides.items() if v is not None})
        quiet_prefect()
        from flows.nightly import nightly  # Prefect loads only when a run is asked for

        summary = nightly(
            inbox_url=settings.inbox,
            outbox_url=settings.outbox,
            db=settings.db,
            policy=settings.policy,
            run_date=settings.run_date,
            busy_timeout=settings.busy_timeout,
        )
        if as_json:
            print_json(asdict(summary))
        else:
            _print_summary(asdict(summary), settings)


def _parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"--run-date must be YYYY-MM-DD, got {text!r}") from None


def _print_summary(summary: dict[str, Any], settings: Settings) -> None:
    table = Table(title=f"Run {summary['run_id']}", show_header=False)
    for name, value in summary.items():
        table.add_row(name.replace("_", " "), str(value))
    stdout.print(table)
    stdout.print(f"Outputs in {settings.outbox}, warehouse {settings.db}")


if __name__ == "__main__":
    app()
