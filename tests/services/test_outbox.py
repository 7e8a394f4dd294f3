"""The transactional outbox: each consumer gets each message once, in order, atomically with its own work;
a failing message is retried with backoff and never holds the others back."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from leadline.api.app import create_app
from leadline.config import Settings
from leadline.jobs.runner import Worker, periodic
from leadline.services import outbox
from leadline.services.workspaces import get_or_create_workspace
from leadline.storage.database import Database
from leadline.storage.tables import OutboxMessage, User
from leadline.storage.types import utcnow

SEEN: list[tuple[str, int | None]] = []
POISON = {"poison": True}


@outbox.consumer("test-recorder", "test.topic", "test.chained", batch=3)
def _record(session: Session, messages: Sequence[OutboxMessage], now: datetime) -> None:
    for message in messages:
        if message.payload.get("poison"):
            raise ValueError("cannot handle this one")
        SEEN.append((message.topic, message.lead_id))
        # A consumer's own database work commits with the message being marked done.
        session.add(User(workspace_id=message.workspace_id, handle=f"u{message.id}", name="x"))
        if message.payload.get("chain"):
            outbox.emit(session, workspace_id=message.workspace_id, topic="test.chained", lead_id=message.lead_id,
                        now=now)


@outbox.consumer("test-second", "test.topic")
def _second(session: Session, messages: Sequence[OutboxMessage], now: datetime) -> None:
    SEEN.extend(("second", m.lead_id) for m in messages)


@pytest.fixture
def ws(db: Database) -> int:
    SEEN.clear()
    with db.write() as session:
        return get_or_create_workspace(session, "acme").id


def _emit(db: Database, ws: int, *items: tuple[int | None, dict[str, object]], topic: str = "test.topic") -> None:
    with db.write() as session:
        outbox.emit_many(session, workspace_id=ws, topic=topic, items=items)


def test_each_consumer_gets_each_message_once_in_order(db: Database, ws: int) -> None:
    _emit(db, ws, *[(i, {}) for i in range(1, 8)])
    assert outbox.drain(db) == 14
    assert [lead for topic, lead in SEEN if topic == "test.topic"] == list(range(1, 8))
    assert [lead for topic, lead in SEEN if topic == "second"] == list(range(1, 8))
    assert outbox.drain(db) == 0
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(User)) == 7
        assert outbox.pending_count(session, ws) == 0


def test_a_topic_nobody_listens_to_writes_nothing(db: Database, ws: int) -> None:
    _emit(db, ws, (1, {}), topic="test.nobody")
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 0


def test_messages_emitted_while_draining_are_handled_in_the_same_drain(db: Database, ws: int) -> None:
    _emit(db, ws, (5, {"chain": True}))
    outbox.drain(db)
    assert ("test.chained", 5) in SEEN


def test_a_poison_message_is_retried_with_backoff_and_never_blocks_the_others(db: Database, ws: int) -> None:
    _emit(db, ws, (1, {}), (2, POISON), (3, {}))
    start = utcnow()
    outbox.drain(db, now=start)
    # (SEEN is Python memory, so the failed batch's first attempt at 1 shows in it; the database does not.)
    assert {lead for topic, lead in SEEN if topic == "test.topic"} == {1, 3}
    with db.read() as session:
        bad = session.scalars(select(OutboxMessage).where(OutboxMessage.consumer == "test-recorder",
                                                          OutboxMessage.lead_id == 2)).one()
        # The failed batch's work was rolled back whole: only messages 1 and 3 created a user.
        assert session.scalar(select(func.count()).select_from(User)) == 2
    assert bad.done_at is None and bad.attempts == 1 and "cannot handle" in (bad.last_error or "")
    assert bad.available_at == start + outbox.backoff(1)
    # Not due yet: nothing happens; once due, it fails again until it is given up.
    assert outbox.drain(db, now=start + timedelta(seconds=1)) == 0
    at = start
    for _ in range(outbox.MAX_ATTEMPTS):
        at += timedelta(hours=2)
        outbox.drain(db, now=at)
    with db.read() as session:
        bad = session.get_one(OutboxMessage, bad.id)
    assert bad.done_at is not None and (bad.last_error or "").startswith("gave up after 8 attempts")


def test_worker_runs_periodic_tasks_at_their_interval(db: Database) -> None:
    runs: list[datetime] = []

    @periodic("test-counter", seconds=3600)
    def _count(_db: Database, now: datetime) -> int:
        runs.append(now)
        return 1

    worker = Worker(db)
    worker.tick()
    worker.tick()
    assert len(runs) == 1
    assert Worker(db, intervals={"test-counter": 0}).tick() == 0 and len(runs) == 1


def test_the_server_drains_the_outbox_by_itself(db: Database, ws: int) -> None:
    settings = Settings(database_url=db.url, worker_poll_seconds=0.05)
    with TestClient(create_app(settings, db)):
        _emit(db, ws, (42, {}))
        deadline = time.monotonic() + 10
        while ("test.topic", 42) not in SEEN and time.monotonic() < deadline:
            time.sleep(0.05)
    assert ("test.topic", 42) in SEEN
