"""How a request reaches the warehouse: its settings, the token, one unit of work per write.

The server never holds the writers' master between requests: each write opens it, and closes
it before the answer goes out, so a night (or a CLI command) can run while the server serves.
Writes wait at most `http_busy_timeout` seconds for another process to let the warehouse go,
then fail as busy (503). Within this process, writes take turns (DuckDB would otherwise
refuse the second as a transaction conflict) under the same bound.

Reads use the published snapshot, which the app keeps open between requests (`SnapshotReaders`:
a cursor per read, the newest snapshot opened when one is published, the previous one closed
once no read uses it). A snapshot held by readers never makes a writer wait. Look-ups of
batches, allocations and order lines use the in-memory model of the latest publication once it
is built (`ReadModels`), the snapshot until then. Each write tells the models what it touched
(`Write.touching`), so that they are patched rather than rebuilt.
"""

from __future__ import annotations

import hmac
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Annotated, TypeVar

import polars as pl
from fastapi import Depends, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from allocation.adapters import snapshot
from allocation.adapters.publisher import ParquetPublisher
from allocation.adapters.read_model import ReadModel, Stale, Touched
from allocation.adapters.read_models import ReadModels
from allocation.adapters.snapshot_readers import SnapshotReaders
from allocation.adapters.storage import open_storage
from allocation.adapters.warehouse import DuckDBWarehouse, WarehouseBusy
from allocation.config import Settings
from allocation.entrypoints.cli import warehouse_at
from allocation.service_layer.errors import NotFound
from allocation.service_layer.holdings import Held, HoldingsReads
from allocation.service_layer.outcomes import Allocated, BatchAdded, Released

T = TypeVar("T")

_turns = threading.Lock()
"""One unit of work on the warehouse at a time in this process (see `writing`)."""

_bearer = HTTPBearer(auto_error=False, description="`Authorization: Bearer <ALLOCATION_API_TOKEN>`")


# The dependencies are coroutines, though they never wait: FastAPI runs a plain function in its
# thread pool, a hand-over that costs a read more than the look-up itself.


async def settings_of(request: Request) -> Settings:
    """The settings the app was made with."""
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(settings_of)]


async def readers_of(request: Request) -> SnapshotReaders:
    """The published snapshot the app keeps open for reads."""
    readers: SnapshotReaders = request.app.state.readers
    return readers


ReadersDep = Annotated[SnapshotReaders, Depends(readers_of)]


async def models_of(request: Request) -> ReadModels:
    """The in-memory read model of the latest publication the app keeps (when built)."""
    models: ReadModels = request.app.state.models
    return models


ModelsDep = Annotated[ReadModels, Depends(models_of)]


def _check_token(settings: Settings, credentials: HTTPAuthorizationCredentials | None) -> None:
    token = settings.api_token
    given = credentials.credentials if credentials is not None else ""
    if token is None or not hmac.compare_digest(given.encode(), token.encode()):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "this needs the header Authorization: Bearer <ALLOCATION_API_TOKEN>",
            headers={"WWW-Authenticate": "Bearer"},
        )


async def token_for_writes(
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """Refuse a write (401) without the server's bearer token (compared in constant time)."""
    _check_token(settings, credentials)


async def token_for_reads(
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """Refuse a read (401) without the token, only when `api_token_for_reads` is set."""
    if settings.api_token_for_reads:
        _check_token(settings, credentials)


@contextmanager
def _turn(settings: Settings) -> Iterator[None]:
    if not _turns.acquire(timeout=settings.http_busy_timeout):
        raise WarehouseBusy(
            f"warehouse {settings.db} is busy: other requests are using it; retry later"
        )
    try:
        yield
    finally:
        _turns.release()


@contextmanager
def reading(readers: SnapshotReaders) -> Iterator[DuckDBWarehouse]:
    """The warehouse for one read request: the latest published snapshot, read-only.

    The one place a read reaches the warehouse: a read never waits for a night or a write,
    nor makes one wait, and sees every commit published before it began.
    """
    with ExitStack() as opened:
        try:
            warehouse = opened.enter_context(DuckDBWarehouse.on_snapshot(readers))
        except FileNotFoundError:
            raise NotFound(
                f"no warehouse at {readers.path}: give --db or set ALLOCATION_DB"
            ) from None
        yield warehouse


async def read_holdings(
    readers: SnapshotReaders, models: ReadModels, read: Callable[[HoldingsReads], T]
) -> T:
    """`read` what batches, allocations and order lines hold now, for one read request.

    On the in-memory model of the latest publication when it is built: a look-up in memory,
    answered at once. Else on the snapshot, as `reading` gives it, in the thread pool (DuckDB
    takes milliseconds). Either way the latest publication.
    """
    model = models.current()
    if model is not None:
        try:
            return read(model)
        except Stale:
            pass  # a key a write of this server touched, not yet patched: the snapshot has it
    return await run_in_threadpool(_read_snapshot, readers, read)


def _read_snapshot(readers: SnapshotReaders, read: Callable[[HoldingsReads], T]) -> T:
    with reading(readers) as warehouse:
        return read(warehouse)


class Write:
    """One write request's unit of work, and what it touched (for the read models).

    `holdings`: what is held as the unit of work begins, for the operation's reads before it
    changes anything (`operations`' `holdings`): the read model of the publication the writer
    found, where it answers, else the warehouse (the same state).
    """

    def __init__(self, warehouse: DuckDBWarehouse, model: ReadModel | None = None) -> None:
        self.warehouse = warehouse
        self.holdings = _ModelFirst(model, warehouse)
        self.touched: Touched | None = None

    def touching(self, outcome: Allocated | BatchAdded | Released, *references: str) -> None:
        """Record what the operation whose `outcome` this is changed (and batches it named)."""
        if isinstance(outcome, BatchAdded):
            touched = Touched(frozenset({outcome.batch.sku}), references=frozenset(references))
        else:
            held: tuple[Held, ...] = (
                outcome.allocations
                if isinstance(outcome, Allocated)
                else (*outcome.withdrawn, *outcome.released)
            )
            skus = {h.sku for h in held}
            orders = {h.order_id for h in held}
            if isinstance(outcome, Allocated):
                skus.add(outcome.line.sku)
                orders.add(outcome.line.order_id)
            touched = Touched(frozenset(skus), frozenset(orders), frozenset(references))
        self.touched = touched if self.touched is None else self.touched | touched


class _ModelFirst:
    """The holdings reads on a model of the warehouse's state, or on the warehouse itself.

    Each read is the model's, unless it cannot answer (`Stale`: a key a write of this server
    touched, not patched yet) or there is no model: then it is the warehouse's.
    """

    def __init__(self, model: ReadModel | None, warehouse: DuckDBWarehouse) -> None:
        self._model = model
        self._warehouse = warehouse

    def _read(self, read: Callable[[HoldingsReads], T]) -> T:
        if self._model is not None:
            try:
                return read(self._model)
            except Stale:
                pass
        return read(self._warehouse)

    def batches(self, *, sku: str | None = None, reference: str | None = None) -> pl.DataFrame:
        """As `Warehouse.batches`."""
        return self._read(lambda on: on.batches(sku=sku, reference=reference))

    def held_on_batches(
        self, *, sku: str | None = None, reference: str | None = None
    ) -> pl.DataFrame:
        """As `Warehouse.held_on_batches`."""
        return self._read(lambda on: on.held_on_batches(sku=sku, reference=reference))

    def held_by_order(self, order_id: str, sku: str | None = None) -> pl.DataFrame:
        """As `Warehouse.held_by_order`."""
        return self._read(lambda on: on.held_by_order(order_id, sku))

    def line_holdings(self, order_id: str, sku: str | None = None) -> pl.DataFrame:
        """As `Warehouse.line_holdings`."""
        return self._read(lambda on: on.line_holdings(order_id, sku))


@contextmanager
def writing(
    settings: Settings, readers: SnapshotReaders, models: ReadModels, *, create: bool = False
) -> Iterator[Write]:
    """The warehouse opened for one write request (a unit of work), closed at the end.

    The operation reads what is held before its change from the read model of the
    publication found once the warehouse is held, where it answers (`Write.holdings`). The
    route says what the write touched (`Write.touching`); the read models are then
    patched for those keys rather than rebuilt. A write that does not say, or fails after a
    commit, leaves them to be rebuilt. Afterwards the readers let go of the snapshot the write
    replaced, if no read uses it, so that the next writer in another process (a night, a
    command) finds its spare free to bring up to date in place rather than copy the whole file.
    """
    try:
        with (
            _turn(settings),
            models.writing(),
            warehouse_at(_bounded(settings), create=create) as warehouse,
        ):
            before = snapshot.publication(readers.path)  # (the writers' lock is held)
            write = Write(warehouse, models.of(before))
            yield write
            if write.touched is not None:
                models.written(before, snapshot.publication(readers.path), write.touched)
    finally:
        readers.let_go_of_stale()


def outbox(settings: Settings) -> ParquetPublisher:
    """The publisher to the outbox (nothing is contacted until the first write)."""
    return ParquetPublisher(open_storage(settings.outbox))


def _bounded(settings: Settings) -> Settings:
    return settings.model_copy(update={"busy_timeout": settings.http_busy_timeout})
