"""`leadline worker`: the background worker for deployments that do not run it inside the server."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from leadline.cli.common import database, err
from leadline.config import get_settings
from leadline.jobs import queue
from leadline.jobs.runner import Worker


def worker(
    once: Annotated[bool, typer.Option(help="Do one pass (drain the outbox, run due tasks) and exit.")] = False,
    poll: Annotated[float, typer.Option(help="Seconds between passes.", min=0.05)] = 1.0,
) -> None:
    """Drain the outbox (stage changes, routing, notifications, webhooks), run periodic tasks, and run the job
    queue's workers (nurture steps and emails, woken through huey: SQLite file or Redis)."""
    db = database()
    settings = get_settings()
    runner = Worker(db, intervals={"score-refresh": settings.score_refresh_seconds})
    consumer = None if once else queue.start_consumer(settings, db)  # nurture steps and emails (issue 5)
    if once:
        queue.bind(db, settings)
    try:
        while True:
            done = runner.tick()
            if once:
                err.print(f"worker pass done: {done} item(s)")
                return
            if not done:
                time.sleep(poll)
    except KeyboardInterrupt:
        err.print("worker stopped")
    finally:
        if consumer is not None:
            queue.stop_consumer()
        db.dispose()
