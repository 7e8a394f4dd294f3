"""The FastAPI application: REST API under /api/v1, public forms under /f, health at /healthz."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from leadline import __version__
from leadline.api.deps import ConnectionGates
from leadline.api.errors import COMMON_ERRORS, install_error_handlers
from leadline.api.limits import BodySizeLimit
from leadline.api.routes import accounts, events, forms, health, identity, leads, scoring
from leadline.config import Settings, get_settings
from leadline.services.scoring.refresh import DUE_BATCH, refresh_due
from leadline.services.workspaces import PrincipalCache
from leadline.storage.database import Database

logger = logging.getLogger(__name__)


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    # Everything imported so far lives as long as the process: keep it out of the collector's full passes,
    # which otherwise walk every SQLAlchemy and pydantic object now and then in the middle of a request.
    gc.collect()
    gc.freeze()
    interval = app.state.settings.score_refresh_seconds
    task = asyncio.create_task(_refresh_scores(app, interval)) if interval > 0 else None
    try:
        yield
    finally:
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def _refresh_scores(app: FastAPI, interval: float) -> None:
    """Move leads whose band changes by decay alone, on time (see `services.scoring.refresh`)."""
    db: Database = app.state.db
    gates: ConnectionGates = app.state.gates

    def batch() -> int:
        with db.write() as session:
            return refresh_due(session)

    while True:
        await asyncio.sleep(interval)
        try:
            while True:
                async with gates.write:
                    moved = await run_in_threadpool(batch)
                if moved < DUE_BATCH:
                    break
        except Exception:  # a failed pass is retried at the next tick; the server keeps serving
            logger.exception("score refresh failed")


def create_app(settings: Settings | None = None, db: Database | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPI(title="Leadline", version=__version__, lifespan=_lifespan,
                  description="Lead management API: capture, track, score, qualify and measure leads.")
    app.state.settings = settings
    app.state.db = db or Database(settings.database_url, echo=settings.sql_echo)
    app.state.principals = PrincipalCache(ttl=settings.key_cache_seconds)
    app.state.gates = ConnectionGates(app.state.db)
    install_error_handlers(app)
    app.include_router(health.router)
    for module in (leads, scoring, events, identity, accounts, forms):
        app.include_router(module.router, responses=COMMON_ERRORS)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    return app
