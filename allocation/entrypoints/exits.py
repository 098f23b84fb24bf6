"""The `allocation` command's exit statuses, and which of the product's errors earn which.

Only the product's own error types are expected failures: each prints one line on stderr and
exits with its documented status. Anything else, a bare `ValueError` from deep inside included,
is a bug: status 1, with its traceback.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from enum import IntEnum
from typing import Any

import typer
from rich.console import Console
from typer.core import TyperGroup

from allocation.adapters.dask_cluster import ClusterUnavailable
from allocation.adapters.schema import SchemaTooNew
from allocation.adapters.storage import StorageError, StorageNotFound
from allocation.adapters.warehouse import WarehouseBusy
from allocation.domain.model import AllocationError, OutOfStock, UnknownSku
from allocation.service_layer.errors import Conflict, InvalidInput, NotFound

stderr = Console(stderr=True)


class Exit(IntEnum):
    """Exit statuses, the same for every command."""

    OK = 0
    UNEXPECTED = 1
    """A bug: the only status that shows a traceback."""
    INVALID = 2
    """Invalid input: a usage error, or a value an input contract or the domain refuses."""
    NOT_FOUND = 3
    """No such batch, order, allocation, run, SKU (no batch of it), warehouse file or inbox."""
    CONFLICT = 4
    """Contradicts the warehouse: out of stock, duplicate, still allocated, invariant broken."""
    BUSY = 5
    """Another process holds the warehouse file: retry when it has finished."""
    STORAGE = 6
    """The inbox or outbox could not be read or written."""
    PREFECT = 7
    """The Prefect API did not answer: its temporary server did not start, or the one set."""
    CLUSTER = 8
    """The Dask cluster could not be reached, or lost every worker (nothing was committed)."""


class InvalidOption(Exception):  # noqa: N818 - what the operator is told: an invalid option
    """An option or `ALLOCATION_*` setting the command line cannot use (a bad date, say)."""


class PrefectUnavailable(Exception):  # noqa: N818 - says what is wrong
    """The Prefect API did not answer: Prefect's temporary server did not start, or the one set."""


_STATUSES: tuple[tuple[type[Exception] | tuple[type[Exception], ...], Exit], ...] = (
    (WarehouseBusy, Exit.BUSY),
    (PrefectUnavailable, Exit.PREFECT),
    (ClusterUnavailable, Exit.CLUSTER),
    ((NotFound, StorageNotFound, UnknownSku), Exit.NOT_FOUND),
    (StorageError, Exit.STORAGE),  # after StorageNotFound: access denied, unreachable, other
    ((Conflict, OutOfStock, SchemaTooNew), Exit.CONFLICT),
    ((InvalidInput, InvalidOption, AllocationError, typer.TyperException), Exit.INVALID),
)
"""Each expected failure and its status, the first match winning (subclasses come first)."""

EXPECTED_ERRORS: tuple[type[Exception], ...] = tuple(
    kind for kinds, _ in _STATUSES for kind in (kinds if isinstance(kinds, tuple) else (kinds,))
)
"""Every error type that is an expected failure (for handlers that register by type)."""


def exit_status(error: BaseException) -> Exit | None:
    """The documented status for an expected failure, or None for a bug."""
    for kinds, status in _STATUSES:
        if isinstance(error, kinds):
            return status
    return None


def say_error(message: str) -> None:
    """Print one `error: ...` line on stderr, unwrapped and without markup."""
    stderr.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)


def one_line(error: BaseException) -> str:
    """The first line of an error's message (its repr when it has none)."""
    text = str(error).strip()
    return text.splitlines()[0] if text else repr(error)


@contextmanager
def expected_failures() -> Iterator[None]:
    """Turn expected failures into one line on stderr and their exit status; let bugs through."""
    try:
        yield
    except Exception as error:
        status = exit_status(error)
        if status is None:
            raise
        say_error(one_line(error))
        raise typer.Exit(int(status)) from None


class OneLineUsageErrors(TyperGroup):
    """The command group: a usage error, like any expected failure, is one line on stderr."""

    def invoke(self, ctx: Any) -> Any:
        """Run the command; report a usage error (bad or missing argument) in one line."""
        try:
            return super().invoke(ctx)
        except typer.TyperException as error:  # Typer's usage errors (status 2) derive from it
            where = (getattr(error, "ctx", None) or ctx).command_path
            say_error(f"{where}: {error.format_message()} (see --help)")
            raise typer.Exit(error.exit_code) from None
