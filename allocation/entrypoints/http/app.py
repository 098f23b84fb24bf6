"""The FastAPI app: its routers, its error handlers, and the settings it serves with."""

from __future__ import annotations

from fastapi import FastAPI

from allocation.config import Settings
from allocation.entrypoints.http import allocations, batches, lookups
from allocation.entrypoints.http.errors import install_handlers


def create_app(settings: Settings) -> FastAPI:
    """The allocation service's app, serving the warehouse and outbox `settings` name."""
    app = FastAPI(
        title="allocation",
        summary="Batches, allocations, orders and runs of the allocation warehouse.",
        version="1",
    )
    app.state.settings = settings
    for module in (batches, allocations, lookups):
        app.include_router(module.router)
    install_handlers(app)
    return app
