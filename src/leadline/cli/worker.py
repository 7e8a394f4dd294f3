"""`leadline worker`: the background worker for deployments that do not run it inside the server."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from leadline.cli.common import database, err
from leadline.config import get_settings
from leadline.jobs.runner import Worker


def worker(
    once: Annotated[bool, typer.Option(help="Do one pass (drain the outbox, run due tasks) and exit.")] = False,
    poll: Annotated[float, typer.Option(help="Seconds between passes.", min=0.05)] = 1.0,
) -> None:
    """Drain the outbox (stage changes, routing, notifications, webhooks) and run periodic tasks."""
    db = database()
    runner = Worker(db, intervals={"score-refresh": get_settings().score_refresh_seconds})
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
        db.dispose()
