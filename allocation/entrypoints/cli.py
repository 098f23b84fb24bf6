"""The `allocation` command: run the nightly job, and the operators' day-to-day operations.

Expected failures print one line on stderr and exit with a documented status
(`allocation.entrypoints.exits`); only a bug (status 1) shows a traceback. A usage error (a
missing argument, a value of the wrong type) is one line too, with status 2.

The operators' commands (`batches`, `allocate`, `deallocate`, `lines`, `runs`, `check`) call
`allocation.service_layer.operations`, which applies the nightly's own rules and service code.
Each takes `--db` (default `ALLOCATION_DB`, else `data/warehouse.duckdb`) and `--json`
(machine-readable output on stdout; tables otherwise), and opens its settings and warehouse
through `opened`. A command that changes the warehouse does it in one unit of work, records it
as a run and publishes to `--outbox` (default `ALLOCATION_OUTBOX`, else `data/outbox`). A
look-up opens the same unit of work and never commits. Only `batches add` (like `run`) may
create the warehouse file; any other command on a missing file is refused (status 3) rather
than leave an empty one behind. DuckDB lets one process at a time open a file for writing and
refuses even a read-only open while it does, so look-ups use the ordinary open: while a run
holds the warehouse, every command is told it is busy (status 5) and to retry.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Final

import typer
from pydantic import ValidationError

from allocation.adapters.publisher import ParquetPublisher
from allocation.adapters.storage import open_storage
from allocation.adapters.warehouse import DuckDBWarehouse
from allocation.config import Settings
from allocation.domain.policy import Policy
from allocation.entrypoints import prefect_api
from allocation.entrypoints.exits import (
    Exit,
    InvalidOption,
    OneLineUsageErrors,
    expected_failures,
    stderr,
)
from allocation.entrypoints.rendering import (
    print_held,
    print_json,
    print_published,
    print_record,
    print_released,
    print_runs,
    print_stock,
    print_table,
    say,
    show_progress,
    stdout,
)
from allocation.service_layer import operations
from allocation.service_layer.errors import Conflict, InvalidInput, NotFound
from allocation.service_layer.invariants import check_invariants

__all__ = ["Exit", "app"]

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


def settings_with(**options: Any) -> Settings:
    """The settings: the options the operator gave, else `ALLOCATION_*`, else the defaults."""
    try:
        return Settings(**{k: v for k, v in options.items() if v is not None})
    except ValidationError as error:
        (first, *_) = error.errors()
        name = "ALLOCATION_" + "_".join(str(part) for part in first["loc"]).upper()
        raise InvalidOption(f"{name}: {first['msg']}, got {first['input']!r}") from None


def warehouse_at(
    settings: Settings, *, create: bool = False, read_only: bool = False
) -> DuckDBWarehouse:
    """The command's unit of work, on a warehouse file that exists unless it may `create` it.

    Only adding a batch (like a run) starts a new warehouse; any other command on a missing
    file is refused, rather than leave an empty file behind. Look-ups open the published
    snapshot `read_only`, so they never wait for a writer nor make one wait.
    """
    if not create and settings.db != ":memory:" and not Path(settings.db).exists():
        raise NotFound(f"no warehouse at {settings.db}: give --db or set ALLOCATION_DB")
    return DuckDBWarehouse(settings.db, busy_timeout=settings.busy_timeout, read_only=read_only)


@contextmanager
def opened(
    *, create: bool = False, read_only: bool = False, **options: Any
) -> Iterator[tuple[Settings, DuckDBWarehouse]]:
    """A command's settings and warehouse, opened for the block; expected failures end it.

    `options` are the command's own (None = not given). Any expected failure inside the block
    becomes its one line on stderr and its exit status (see `exits.expected_failures`).
    """
    with expected_failures():
        settings = settings_with(**options)
        with warehouse_at(settings, create=create, read_only=read_only) as warehouse:
            yield settings, warehouse


def outbox_of(settings: Settings) -> ParquetPublisher:
    """The publisher to the outbox (nothing is contacted until the first write)."""
    return ParquetPublisher(open_storage(settings.outbox))


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
    shards: Annotated[
        int | None,
        typer.Option(help="SKU shards to plan the night in (default: from the night's size)."),
    ] = None,
    dask: Annotated[
        str | None,
        typer.Option(help="Plan the shards on the Dask scheduler at this address (tcp://...)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress lines, only the summary.")
    ] = False,
) -> None:
    """Run the nightly allocation flow once."""
    with expected_failures(), show_progress(enabled=not quiet and stderr.is_terminal):
        settings = settings_with(
            inbox=inbox,
            outbox=outbox,
            db=db,
            policy=policy,
            run_date=_parse_date(run_date) if run_date else None,
            busy_timeout=busy_timeout,
            shards=shards,
            dask_address=dask,
        )
        if settings.shards is not None and settings.shards < 1:
            raise InvalidOption(f"--shards must be at least 1, got {settings.shards}")
        # Refuse at once if the warehouse is busy, before Prefect's temporary server starts.
        DuckDBWarehouse(settings.db, busy_timeout=settings.busy_timeout).ensure_available()
        prefect_api.quiet_prefect()
        from flows.nightly import nightly  # Prefect loads only when a run is asked for

        prefect_api.connect()
        with prefect_api.one_off_run():
            result = nightly(
                inbox_url=settings.inbox,
                outbox_url=settings.outbox,
                db=settings.db,
                policy=settings.policy,
                run_date=settings.run_date,
                busy_timeout=settings.busy_timeout,
                shards=settings.shards,
                dask_address=settings.dask_address,
                dask_timeout=settings.dask_timeout,
                duckdb_memory_limit=settings.duckdb_memory_limit,
            )
        if as_json:
            print_json(
                {**asdict(result.summary), "stage_seconds": result.seconds, "report": result.report}
            )
        else:
            print_record(f"Run {result.summary.run_id}", asdict(result.summary))
            say(f"Outputs in {settings.outbox}, warehouse {settings.db}")
            stdout.print(f"Report: {result.report}", soft_wrap=True)


def _parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidOption(f"--run-date must be YYYY-MM-DD, got {text!r}") from None


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
    with opened(db=db, outbox=outbox, create=True) as (settings, warehouse):
        added = operations.add_batch(
            warehouse, outbox_of(settings), reference, sku, qty, eta, policy=settings.policy
        )
    if as_json:
        print_json(asdict(added))
        return
    print_stock([added.batch], f"Added batch {added.batch.reference} (run {added.run_id})")
    print_published(added.published)


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
    with opened(db=db, read_only=True) as (_, warehouse):
        stock = operations.list_batches(
            warehouse, sku, in_stock=True if in_stock else False if inbound else None
        )
    if as_json:
        print_json([asdict(s) for s in stock])
    else:
        print_stock(stock, f"{len(stock)} batches")


@batches_app.command("show")
def batches_show(
    reference: Annotated[str, typer.Argument(help="The batch's reference.")],
    db: Db = None,
    as_json: AsJson = False,
) -> None:
    """Show a batch: its allocations, picked and reserved, and what is still available."""
    with opened(db=db, read_only=True) as (_, warehouse):
        stock = operations.show_batch(warehouse, reference)
    if as_json:
        print_json(asdict(stock))
        return
    print_stock([stock], f"Batch {stock.reference}")
    print_held(stock.allocations, "Allocations")


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
    with opened(db=db, outbox=outbox) as (settings, warehouse):
        released = operations.delete_batch(
            warehouse, outbox_of(settings), reference, force=force, policy=settings.policy
        )
    if as_json:
        print_json({"reference": reference, **asdict(released)})
        return
    say(f"Deleted batch {reference} (run {released.run_id}).")
    print_released(released)


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
    with opened(db=db, outbox=outbox, policy=policy) as (settings, warehouse):
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
    print_held(allocated.allocations, "Allocations")
    if line.short:
        say(f"Short {line.short} units: the line stays open as a backorder.")
    print_published(allocated.published)


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
    with opened(db=db, outbox=outbox) as (settings, warehouse):
        released = operations.deallocate(
            warehouse, outbox_of(settings), order_id, sku, policy=settings.policy
        )
    if as_json:
        print_json(asdict(released))
        return
    say(f"Released order {order_id} (run {released.run_id}); its lines stay open.")
    print_released(released)


@lines_app.command("show")
def lines_show(
    order_id: Annotated[str, typer.Argument(help="The customer order.")],
    db: Db = None,
    as_json: AsJson = False,
) -> None:
    """Show an order's lines: qty, status, and units picked, reserved and short."""
    with opened(db=db, read_only=True) as (_, warehouse):
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
    with opened(db=db, read_only=True) as (_, warehouse):
        listed = operations.list_runs(warehouse, limit)
    if as_json:
        print_json([asdict(r) for r in listed])
    else:
        print_runs(listed)


@runs_app.command("show")
def runs_show(
    run_id: Annotated[str, typer.Argument(help="The run's id.")],
    db: Db = None,
    as_json: AsJson = False,
) -> None:
    """Show a run's summary."""
    with opened(db=db, read_only=True) as (_, warehouse):
        summary = operations.show_run(warehouse, run_id)
    if as_json:
        print_json(asdict(summary))
    else:
        print_record(f"Run {run_id}", asdict(summary))


@app.command()
def check(db: Db = None, as_json: AsJson = False) -> None:
    """Check the warehouse's invariants; each violation is printed, and the status is 4."""
    with opened(db=db) as (_, warehouse):  # the job's own file, not the published copy
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


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on (loopback by default).")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    db: Db = None,
    outbox: Outbox = None,
) -> None:
    """Serve the operations over HTTP (OpenAPI at /docs) until stopped.

    Writes need `Authorization: Bearer <ALLOCATION_API_TOKEN>`. A host beyond this machine
    without a token is refused (2).
    """
    with expected_failures():
        settings = settings_with(db=db, outbox=outbox)
        from allocation.entrypoints.http.server import serve as serve_http  # FastAPI on demand

        serve_http(settings, host, port)


if __name__ == "__main__":
    app()
