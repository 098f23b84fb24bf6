"""The FastAPI app: its routers, its error handlers, and the settings it serves with."""

from __future__ import annotations

import os
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Final

from fastapi import FastAPI

from allocation.adapters.read_models import ReadModels
from allocation.adapters.snapshot_readers import SnapshotReaders
from allocation.config import Settings
from allocation.entrypoints.http import allocations, batches, lookups
from allocation.entrypoints.http.errors import install_handlers
from allocation.service_layer import operation_runs

LET_GO_EVERY: Final = 0.05
"""Seconds between looks for a snapshot that a newer publication made stale and nobody reads."""


def create_app(settings: Settings) -> FastAPI:
    """The allocation service's app, serving the warehouse and outbox `settings` name."""
    app = FastAPI(
        title="allocation",
        summary="Batches, allocations, orders and runs of the allocation warehouse.",
        version="1",
        lifespan=_snapshot_kept_open,
    )
    app.state.settings = settings
    app.state.readers = SnapshotReaders(settings.db, at_once=os.cpu_count() or 1)
    app.state.models = ReadModels(app.state.readers, max_rows=settings.http_read_model_rows)
    for module in (batches, allocations, lookups):
        app.include_router(module.router)
    install_handlers(app)
    return app


@asynccontextmanager
async def _snapshot_kept_open(app: FastAPI) -> AsyncIterator[None]:
    """While serving, let go of a stale snapshot even when no read comes to notice it.

    And build the read model of each publication in the background (`ReadModels`), and warm
    up what the first write's checks need (`operation_runs.warm_up`).

    A night or a command publishing from another process does not tell the server; without
    this, an idle server would hold the old snapshot, and the next writer would have to copy
    the whole file rather than bring its spare up to date.
    """
    readers: SnapshotReaders = app.state.readers
    models: ReadModels = app.state.models
    stop = threading.Event()

    def let_go_while_serving() -> None:
        while not stop.wait(LET_GO_EVERY):
            readers.let_go_of_stale()

    watcher = threading.Thread(target=let_go_while_serving, name="snapshot-watcher", daemon=True)
    watcher.start()
    # (Beside the first reads, so the first write does not wait for it.)
    threading.Thread(target=operation_runs.warm_up, name="warm-up", daemon=True).start()
    models.start()
    try:
        yield
    finally:
        stop.set()
        models.stop()
        watcher.join()
        readers.close()
