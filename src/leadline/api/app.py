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
from leadline.api.rate_limits import IpRateLimit
from leadline.api.routes import (
    accounts,
    broadcasts,
    demo_site,
    email_links,
    events,
    experiments,
    forms,
    health,
    identity,
    leads,
    predict,
    privacy,
    qualification,
    reports,
    routing,
    scoring,
    segments,
    tracking,
    users,
    webhooks,
    workflows,
)
from leadline.config import Settings, get_settings
from leadline.jobs import queue
from leadline.jobs.runner import Worker
from leadline.services.tracking import SiteCache
from leadline.services.workspaces import PrincipalCache
from leadline.storage.database import Database
from leadline.web import app as web

logger = logging.getLogger(__name__)


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    # Everything imported so far lives as long as the process: keep it out of the collector's full passes,
    # which otherwise walk every SQLAlchemy and pydantic object now and then in the middle of a request.
    gc.collect()
    gc.freeze()
    settings: Settings = app.state.settings
    task = asyncio.create_task(_work(app, settings)) if settings.worker_poll_seconds > 0 else None
    if task is not None:  # issue 5: the job queue's workers (nurture steps and emails) run in the server too
        queue.start_consumer(settings, app.state.db)
    try:
        yield
    finally:
        if task is not None:
            await run_in_threadpool(queue.stop_consumer)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def _work(app: FastAPI, settings: Settings) -> None:
    """The embedded worker: drains the outbox and runs periodic tasks (see `leadline.jobs.runner`) while the
    server runs; production can set `LEADLINE_WORKER_POLL_SECONDS=0` and run `leadline worker` instead."""
    gates: ConnectionGates = app.state.gates
    worker = Worker(app.state.db, intervals={"score-refresh": settings.score_refresh_seconds})
    while True:
        await asyncio.sleep(settings.worker_poll_seconds)
        # The drain is all database work: it takes its turn at the writer like a request. Periodic tasks may
        # wait on the network (webhooks, SMTP) between their short transactions, so they do not hold the gate.
        async with gates.write:
            drained = await run_in_threadpool(worker.drain)
        if await run_in_threadpool(worker.run_periodic) or drained:
            async with gates.write:
                await run_in_threadpool(worker.drain)


def create_app(settings: Settings | None = None, db: Database | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPI(title="Leadline", version=__version__, lifespan=_lifespan,
                  description="Lead management API: capture, track, score, qualify and measure leads.")
    app.state.settings = settings
    app.state.db = db or Database(settings.database_url, echo=settings.sql_echo)
    app.state.principals = PrincipalCache(ttl=settings.key_cache_seconds)
    app.state.gates = ConnectionGates(app.state.db)
    app.state.sites = SiteCache(ttl=settings.key_cache_seconds)
    app.state.tracking_limit = IpRateLimit(settings.tracking_rate_limit, "tracking")
    app.state.form_limit = IpRateLimit(settings.form_rate_limit, "forms")
    install_error_handlers(app)
    app.include_router(health.router)
    # First: the snippet's endpoint takes the most requests, and routes are matched in order.
    app.include_router(tracking.router, responses=COMMON_ERRORS)
    for module in (leads, qualification, scoring, events, identity, accounts, forms, reports, experiments,
                   webhooks, users, routing, segments, predict):
        app.include_router(module.router, responses=COMMON_ERRORS)
    app.include_router(demo_site.router)
    app.include_router(privacy.router, responses=COMMON_ERRORS)
    app.include_router(privacy.public_router)
    app.include_router(workflows.router, responses=COMMON_ERRORS)
    app.include_router(broadcasts.router, responses=COMMON_ERRORS)
    app.include_router(email_links.router)  # public email links: open pixel, clicks, unsubscribe, provider hooks
    web.install(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    return app
