"""The `allocation` command: run the nightly job, and the operators' day-to-day operations.

Expected failures print one line on stderr and exit with a documented status (`Exit`); only a
bug (status 1) shows a traceback. A usage error (a missing argument, a value of the wrong type)
is one line too, with status 2.

The operators' commands (`batches`, `allocate`, `deallocate`, `lines`, `runs`, `check`) call
`allocation.service_layer.operations`, which applies the nightly's own rules and service code.
Each takes `--db` (default `ALLOCATION_DB`, else `data/warehouse.duckdb`) and `--json`
(machine-readable output on stdout; tables otherwise). A command that changes the warehouse
does it in one unit of work, records it as a run and publishes to `--outbox` (default
`ALLOCATION_OUTBOX`, else `data/outbox`). A look-up opens the same unit of work and never
commits. Only `batches add` (like `run`) may create the warehouse file; any other command on
a missing file is refused (status 3) rather than leave an empty one behind. DuckDB lets one
process at a time open a file for writing and refuses even a read-only open while it does, so
look-ups use the ordinary open: while a run holds the warehouse, every command is told it is
busy (status 5) and to retry.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from datetime import date, datetime
from enum import IntEnum
from pathlib import Path
from typing import Annotated, Any, Final

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table
from rich.text import Text
from typer.core import TyperGroup

from allocation.adapters.publisher import ParquetPublisher
from allocation.adapters.schema import SchemaTooNew
from allocation.adapters.storage import (
    StorageAccessDenied,
    StorageError,
    StorageNotFound,
    open_storage,
)
from allocation.adapters.warehouse import DuckDBWarehouse, WarehouseBusy
from allocation.config import Settings
from allocation.domain.model import AllocationError, OutOfStock, UnknownSku
from allocation.domain.policy import Policy
from allocation.entrypoints import prefect_server
from allocation.entrypoints.startup import collector_paused, load_what_a_run_uses
from allocation.service_layer import operations
from allocation.service_layer.errors import Conflict, InvalidInput, NotFound
from allocation.service_layer.invariants import check_invariants
from allocation.service_layer.operations import Held


class OneLineUsageErrors(TyperGroup):
    """The command group: a usage error, like any expected failure, is one line on stderr."""

    def invoke(self, ctx: Any) -> Any:
        """Run the command; report a usage error (bad or missing argument) in one line."""
        try:
            return super().invoke(ctx)
        except typer.TyperException as error:  # Typer's usage errors (status 2) derive from it
            where = (getattr(error, "ctx", None) or ctx).command_path
            message = f"error: {where}: {error.format_message()} (see --help)"
            stderr.print(message, markup=False, highlight=False, soft_wrap=True)
            raise typer.Exit(error.exit_code) from None


app = typer.Typer(
    cls=OneLineUsageErrors,
    help="Allocate warehouse stock batches to customer order lines.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
batches_app = typer.Typer(help="Stock batches: add, list, show, delete.")
lines_app = typer.Typer(help="Order lines and what they hold.")
runs_app = typer.Typer(help="Runs and operations, as recorded.")
app.add_typer(batches_app, name="batches")
app.add_typer(lines_app, name="lines")
app.add_typer(runs_app, name="runs")
stdout = Console()
stderr = Console(stderr=True)


class Exit(IntEnum):
    """Exit statuses, the same for every command."""

    OK = 0
    UNEXPECTED = 1
    """A bug: the only status that shows a traceback."""
    INVALID = 2
    """Invalid input: a usage error, or a value an input contract or the domain refuses."""
    NOT_FOUND = 3
    """No such batch, order, allocation, run, SKU (no batch of it) or warehouse file."""
    CONFLICT = 4
    """Contradicts the warehouse: out of stock, duplicate, still allocated, invariant broken."""
    BUSY = 5
    """Another process holds the warehouse file: retry when it has finished."""
    STORAGE = 6
    """The inbox or outbox could not be read or written."""
    PREFECT = 7
    """Prefect's temporary server did not start (or set PREFECT_API_URL to a running one)."""


def exit_status(error: BaseException) -> Exit | None:
    """The documented status for an expected failure, or None for a bug."""
    if isinstance(error, WarehouseBusy):
        return Exit.BUSY
    if isinstance(error, prefect_server.PrefectUnavailable):
        return Exit.PREFECT
    if isinstance(error, NotFound | StorageNotFound | UnknownSku):
        return Exit.NOT_FOUND
    if isinstance(error, StorageAccessDenied | StorageError):
        return Exit.STORAGE
    if isinstance(error, Conflict | OutOfStock | SchemaTooNew):
        return Exit.CONFLICT
    if isinstance(error, InvalidInput | AllocationError | ValueError):
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
        stderr.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(int(status)) from None


def print_json(payload: Any) -> None:
    """Print a JSON document on stdout, plain (no colour even on a terminal), dates in ISO."""
    typer.echo(json.dumps(payload, indent=2, default=_json_value))


def _json_value(value: object) -> str:
    return value.isoformat() if isinstance(value, date | datetime) else str(value)


@app.callback()
def main() -> None:
    """Allocate warehouse stock batches to customer order lines."""


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
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress lines, only the summary.")
    ] = False,
) -> None:
    """Run the nightly allocation flow once."""
    with expected_failures(), show_progress(enabled=not quiet and stderr.is_terminal):
        overrides = {
            "inbox": inbox,
            "outbox": outbox,
            "db": db,
            "policy": policy,
            "run_date": _parse_date(run_date) if run_date else None,
            "busy_timeout": busy_timeout,
        }
        settings = settings_with(**overrides)
        # Refuse at once if the warehouse is busy, before Prefect's temporary server starts.
        DuckDBWarehouse(settings.db, busy_timeout=settings.busy_timeout).ensure_available()
        prefect_server.quiet_prefect()
        # Started already by the `allocation` launcher; else now, to boot while the flow imports.
        server = prefect_server.start_unless_configured()
        with collector_paused():
            from flows.nightly import nightly  # Prefect loads only when a run is asked for

            load_what_a_run_uses()  # still waiting for the server: load the rest meanwhile
        with prefect_server.prefect_api(server):
            result = nightly(
                inbox_url=settings.inbox,
                outbox_url=settings.outbox,
                db=settings.db,
                policy=settings.policy,
                run_date=settings.run_date,
                busy_timeout=settings.busy_timeout,
            )
        if as_json:
            print_json(
                {**asdict(result.summary), "stage_seconds": result.seconds, "report": result.report}
            )
        else:
            _print_summary(asdict(result.summary), settings)
            stdout.print(f"Report: {result.report}", soft_wrap=True)


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


def _parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"--run-date must be YYYY-MM-DD, got {text!r}") from None


def _print_summary(summary: dict[str, Any], settings: Settings) -> None:
    _print_record(f"Run {summary['run_id']}", summary)
    stdout.print(f"Outputs in {settings.outbox}, warehouse {settings.db}")


# --- the operators' commands -----------------------------------------------------------------

Db = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="Warehouse DuckDB file (default: ALLOCATION_DB, else data/warehouse.duckdb).",
        show_default=False,
    ),
]
Outbox = Annotated[
    str | None,
    typer.Option(
        "--outbox",
        help="Where to publish for the WMS, a folder or s3:// URL "
        "(default: ALLOCATION_OUTBOX, else data/outbox).",
        show_default=False,
    ),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")]

NEGATIVE_NUMBERS: Final = {"ignore_unknown_options": True}
"""Let `-5` be a value (refused with its reason) rather than an unknown option."""


def settings_with(**overrides: Any) -> Settings:
    """The settings, with the options the operator gave in place of their defaults."""
    return Settings(**{k: v for k, v in overrides.items() if v is not None})


def warehouse_at(settings: Settings, *, create: bool = False) -> DuckDBWarehouse:
    """The command's unit of work, on a warehouse file that exists unless it may `create` it.

    Only adding a batch (like a run) starts a new warehouse; any other command on a missing
    file is refused, rather than leave an empty file behind. Look-ups never commit.
    """
    if not create and settings.db != ":memory:" and not Path(settings.db).exists():
        raise NotFound(f"no warehouse at {settings.db}: give --db or set ALLOCATION_DB")
    return DuckDBWarehouse(settings.db, busy_timeout=settings.busy_timeout)


def say(text: str) -> None:
    """Print a sentence on stdout, unwrapped (a terminal wraps it; a log keeps it whole)."""
    stdout.print(text, markup=False, highlight=False, soft_wrap=True)


def outbox_of(settings: Settings) -> ParquetPublisher:
    """The publisher to the outbox (nothing is contacted until the first write)."""
    return ParquetPublisher(open_storage(settings.outbox))


@batches_app.command("add", context_settings=NEGATIVE_NUMBERS)
def batches_add(
    reference: Annotated[str, typer.Argument(help="The new batch's reference.")],
    sku: Annotated[str, typer.Argument(help="The SKU it holds.")],
    qty: Annotated[int, typer.Argument(help="Units purchased, 0 or more.")],
    eta: Annotated[
        str | None, typer.Option(help="Expected arrival, YYYY-MM-DD; none = in stock.")
    ] = None,
    db: Db = None,
    outbox: Outbox = None,
    as_json: AsJson = False,
) -> None:
    """Add a batch. A reference already in use is a conflict (4)."""
    with expected_failures():
        settings = settings_with(db=db, outbox=outbox)
        with warehouse_at(settings, create=True) as warehouse:
            added = operations.add_batch(
                warehouse, outbox_of(settings), reference, sku, qty, eta, policy=settings.policy
            )
        if as_json:
            print_json(asdict(added))
            return
        _print_stock([added.batch], f"Added batch {added.batch.reference} (run {added.run_id})")
        _print_published(added.published)


@batches_app.command("list")
def batches_list(
    sku: Annotated[str | None, typer.Option(help="Only batches of this SKU.")] = None,
    in_stock: Annotated[bool, typer.Option("--in-stock", help="Only batches in stock.")] = False,
    inbound: Annotated[bool, typer.Option("--inbound", help="Only inbound batches.")] = False,
    db: Db = None,
    as_json: AsJson = False,
) -> None:
    """List batches with what is picked, reserved and available, in preference order."""
    with expected_failures():
        if in_stock and inbound:
            raise InvalidInput("give --in-stock or --inbound, not both")
        settings = settings_with(db=db)
        with warehouse_at(settings) as warehouse:
            stock = operations.list_batches(
                warehouse, sku, in_stock=True if in_stock else False if inbound else None
            )
        if as_json:
            print_json([asdict(s) for s in stock])
        else:
            _print_stock(stock, f"{len(stock)} batches")


@batches_app.command("show")
def batches_show(
    reference: Annotated[str, typer.Argument(help="The batch's reference.")],
    db: Db = None,
    as_json: AsJson = False,
) -> None:
    """Show a batch: its allocations, picked and reserved, and what is still available."""
    with expected_failures():
        settings = settings_with(db=db)
        with warehouse_at(settings) as warehouse:
            stock = operations.show_batch(warehouse, reference)
        if as_json:
            print_json(asdict(stock))
            return
        _print_stock([stock], f"Batch {stock.reference}")
        _print_held(stock.allocations, "Allocations")


@batches_app.command("delete")
def batches_delete(
    reference: Annotated[str, typer.Argument(help="The batch's reference.")],
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Delete it even while it holds allocations: withdraw its picks (published "
            "as withdrawals) and drop its reservations; the lines stay open.",
        ),
    ] = False,
    db: Db = None,
    outbox: Outbox = None,
    as_json: AsJson = False,
) -> None:
    """Delete a batch; refused (4) while it holds allocations, unless forced."""
    with expected_failures():
        settings = settings_with(db=db, outbox=outbox)
        with warehouse_at(settings) as warehouse:
            released = operations.delete_batch(
                warehouse, outbox_of(settings), reference, force=force, policy=settings.policy
            )
        if as_json:
            print_json({"reference": reference, **asdict(released)})
            return
        say(f"Deleted batch {reference} (run {released.run_id}).")
        _print_released(released)


@app.command(context_settings=NEGATIVE_NUMBERS)
def allocate(
    order_id: Annotated[str, typer.Argument(help="The customer order.")],
    sku: Annotated[str, typer.Argument(help="The SKU ordered.")],
    qty: Annotated[int, typer.Argument(help="Units ordered, more than 0.")],
    priority: Annotated[int, typer.Option(help="Higher is served first.")] = 0,
    policy: Annotated[
        Policy | None,
        typer.Option(help="Allocation policy (default: ALLOCATION_POLICY, else split)."),
    ] = None,
    db: Db = None,
    outbox: Outbox = None,
    as_json: AsJson = False,
) -> None:
    """Allocate one new order line now, by the nightly's rules, and publish it.

    Stock in the warehouse is picked, inbound stock reserved.
    A partial fill leaves the rest as a backorder.
    Unknown SKU: 3. Nothing available: 4, and nothing is recorded.
    The same line again changes nothing; with another qty it is a conflict (4).
    """
    with expected_failures():
        settings = settings_with(db=db, outbox=outbox, policy=policy)
        with warehouse_at(settings) as warehouse:
            allocated = operations.allocate(
                warehouse,
                outbox_of(settings),
                order_id,
                sku,
                qty,
                priority=priority,
                policy=settings.policy,
            )
        if as_json:
            print_json(asdict(allocated))
            return
        line = allocated.line
        name = f"order line {line.order_id}/{line.sku}"
        if allocated.run_id is None:
            say(f"The {name} (qty {line.qty}, {line.status}) is already known: unchanged.")
        else:
            held = line.picked + line.reserved
            say(f"Allocated {held} of {line.qty} units of {name} (run {allocated.run_id}).")
        _print_held(allocated.allocations, "Allocations")
        if line.short:
            say(f"Short {line.short} units: the line stays open as a backorder.")
        _print_published(allocated.published)


@app.command()
def deallocate(
    order_id: Annotated[str, typer.Argument(help="The customer order.")],
    sku: Annotated[str | None, typer.Option(help="Only this line of the order.")] = None,
    db: Db = None,
    outbox: Outbox = None,
    as_json: AsJson = False,
) -> None:
    """Release what an order (or one line) holds; its lines stay open for the next run.

    Picked units are withdrawn (published as withdrawals), reservations dropped.
    Nothing allocated: 3.
    """
    with expected_failures():
        settings = settings_with(db=db, outbox=outbox)
        with warehouse_at(settings) as warehouse:
            released = operations.deallocate(
                warehouse, outbox_of(settings), order_id, sku, policy=settings.policy
            )
        if as_json:
            print_json(asdict(released))
            return
        say(f"Released order {order_id} (run {released.run_id}); its lines stay open.")
        _print_released(released)


@lines_app.command("show")
def lines_show(
    order_id: Annotated[str, typer.Argument(help="The customer order.")],
    db: Db = None,
    as_json: AsJson = False,
) -> None:
    """Show an order's lines: qty, status, and units picked, reserved and short."""
    with expected_failures():
        settings = settings_with(db=db)
        with warehouse_at(settings) as warehouse:
            lines = operations.show_lines(warehouse, order_id)
        if as_json:
            print_json([asdict(line) for line in lines])
            return
        print_table(
            f"Order {order_id}",
            ("sku", "qty", "status", "picked", "reserved", "short"),
            [(x.sku, x.qty, x.status, x.picked, x.reserved, x.short) for x in lines],
        )


@runs_app.command("list")
def runs_list(
    limit: Annotated[int, typer.Option(help="How many runs to show.")] = 20,
    db: Db = None,
    as_json: AsJson = False,
) -> None:
    """List the recent runs and operations, latest first."""
    with expected_failures():
        settings = settings_with(db=db)
        with warehouse_at(settings) as warehouse:
            listed = operations.list_runs(warehouse, limit)
        if as_json:
            print_json([asdict(r) for r in listed])
            return
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


@runs_app.command("show")
def runs_show(
    run_id: Annotated[str, typer.Argument(help="The run's id.")],
    db: Db = None,
    as_json: AsJson = False,
) -> None:
    """Show a run's summary."""
    with expected_failures():
        settings = settings_with(db=db)
        with warehouse_at(settings) as warehouse:
            summary = operations.show_run(warehouse, run_id)
        if as_json:
            print_json(asdict(summary))
        else:
            _print_record(f"Run {run_id}", asdict(summary))


@app.command()
def check(db: Db = None, as_json: AsJson = False) -> None:
    """Check the warehouse's invariants; each violation is printed, and the status is 4."""
    with expected_failures():
        settings = settings_with(db=db)
        with warehouse_at(settings) as warehouse:
            violations = check_invariants(warehouse)
        if as_json:
            print_json({"violations": violations})
        elif violations:
            for violation in violations:
                say(violation)
        else:
            say("Every invariant holds.")
        if violations:
            raise Conflict(f"{len(violations)} invariant violation(s) found")


def print_table(title: str, header: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    """Print a table: values as plain text (never markup), numbers on the right."""
    table = Table(title=title, show_header=bool(header))
    for column in header:
        table.add_column(column, no_wrap=column == "run id")
    for row in rows:
        table.add_row(
            *(Text(str(v), justify="right" if isinstance(v, int) else "left") for v in row)
        )
    stdout.print(table)


def _print_stock(stock: Sequence[operations.BatchStock], title: str) -> None:
    print_table(
        title,
        ("reference", "sku", "eta", "purchased", "picked", "reserved", "available"),
        [
            (
                s.reference,
                s.sku,
                "in stock" if s.eta is None else s.eta.isoformat(),
                s.purchased_quantity,
                s.picked,
                s.reserved,
                s.available,
            )
            for s in stock
        ],
    )


def _print_held(held: Sequence[Held], title: str) -> None:
    if not held:
        say(f"{title}: none.")
        return
    print_table(
        title,
        ("order", "sku", "batch", "qty", "status"),
        [(h.order_id, h.sku, h.batch_ref, h.qty, h.status) for h in held],
    )


def _print_released(released: operations.Released) -> None:
    if released.withdrawn:
        units = sum(h.qty for h in released.withdrawn)
        _print_held(released.withdrawn, f"Withdrawn from pick lists: {units} units")
    if released.released:
        units = sum(h.qty for h in released.released)
        _print_held(released.released, f"Reservations dropped: {units} units")
    _print_published(released.published)


def _print_published(published: Sequence[str]) -> None:
    say(f"Published {len(published)} files:" if published else "Nothing published.")
    for location in published:
        say(f"  {location}")


def _print_record(title: str, record: dict[str, Any]) -> None:
    print_table(title, (), [(name.replace("_", " "), value) for name, value in record.items()])


if __name__ == "__main__":
    app()
