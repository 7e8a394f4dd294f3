"""The job queue (huey): SqliteHuey in its own SQLite file by default, RedisHuey in production.

Queue messages only wake workers: the one task, `nurture.wake`, runs whatever the database says is due (due
enrolments, queued emails) under leases. A message lost with a killed worker (huey deletes a task when a
worker takes it) costs nothing: the `nurture` periodic task (the sweeper, `jobs/tasks.py`) sends a new wake-up
whenever due rows are waiting, and rows leased by a dead worker become due again when the lease runs out.

`LEADLINE_QUEUE_URL`: unset, a SQLite file beside the database (`<db>-queue.db`, or `leadline-queue.db` in the
working folder for PostgreSQL); `sqlite:///path`; or `redis://host:port/db`. `LEADLINE_QUEUE_NAME` prefixes the
keys (one name per deployment; tests use their own).
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

from huey import Huey, RedisHuey, SqliteHuey

from leadline.config import Settings, get_settings
from leadline.nurture import engine
from leadline.nurture.sending import send_due
from leadline.storage.database import Database

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_state: dict[str, Any] = {}


def queue_location(settings: Settings) -> str:
    if settings.queue_url:
        return settings.queue_url
    url = settings.database_url
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        return f"sqlite:///{url.removeprefix('sqlite:///')}-queue.db"
    return f"sqlite:///{Path.cwd() / 'leadline-queue.db'}"


def build(settings: Settings) -> Huey:
    location = queue_location(settings)
    if location.startswith(("redis://", "rediss://", "unix://")):
        return RedisHuey(settings.queue_name, url=location, utc=True)
    return SqliteHuey(settings.queue_name, filename=location.removeprefix("sqlite:///"), utc=True)


def _database() -> Database:
    db = _state.get("db")
    if db is None:
        settings = get_settings()
        db = _state["db"] = Database(settings.database_url, echo=settings.sql_echo)
    return db  # type: ignore[no-any-return]


def bind(db: Database, settings: Settings) -> None:
    """Use this process's database and settings (the server and `leadline worker` call it at start)."""
    _state["db"], _state["settings"] = db, settings


def run_nurture(db: Database, settings: Settings) -> int:
    """Everything due now: enrolment steps, then emails. Safe in any number of processes at once."""
    lease = timedelta(seconds=settings.nurture_lease_seconds)
    done = engine.run_due(db, lease=lease)
    sent = send_due(db, settings=settings, lease=lease)
    return done.steps + sent


def current_settings() -> Settings:
    settings: Settings = _state.get("settings") or get_settings()
    return settings


def _wake() -> int:
    return run_nurture(_database(), current_settings())


def huey(settings: Settings | None = None) -> Huey:
    """This process's queue (built once), with its task registered."""
    chosen = settings or _state.get("settings") or get_settings()
    with _lock:
        instance = _state.get("huey")
        if instance is None or (settings is not None and _state.get("location") != queue_location(chosen)):
            instance = _state["huey"] = build(chosen)
            _state["location"] = queue_location(chosen)
            _state["wake_task"] = instance.task(name="nurture.wake", retries=0)(_wake)
        return instance  # type: ignore[no-any-return]


def wake() -> None:
    """Send one wake-up message (best effort: the sweeper covers a lost one)."""
    huey()
    _state["wake_task"]()


def start_consumer(settings: Settings, db: Database, *, workers: int | None = None) -> Any:
    """Start huey worker threads in this process (no signal handlers: the caller owns the process) and route
    wake-ups to the queue. Returns the consumer; `stop_consumer` stops it."""
    bind(db, settings)
    instance = huey(settings)
    consumer = instance.create_consumer(workers=workers or settings.queue_workers, worker_type="thread",
                                        periodic=False, initial_delay=0.05, backoff=1.5, max_delay=1.0)
    # What `consumer.start()` does, minus its signal handlers (they belong to whoever owns the process: uvicorn,
    # or `leadline worker`), so it can run in a server or beside the worker loop.
    consumer.scheduler.start()
    for _, thread in consumer.worker_threads:
        thread.start()
    engine.set_waker(wake)
    _state["consumer"] = consumer
    return consumer


def consumer_running() -> bool:
    return _state.get("consumer") is not None


def stop_consumer() -> None:
    consumer = _state.pop("consumer", None)
    engine.set_waker(None)
    if consumer is not None:
        consumer.stop(graceful=True)
