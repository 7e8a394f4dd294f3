"""The periodic tasks, registered with the runner."""

from __future__ import annotations

from datetime import datetime

from leadline.jobs.runner import periodic
from leadline.services.routing import OVERDUE_BATCH, mark_overdue
from leadline.services.scoring.refresh import DUE_BATCH, refresh_due
from leadline.storage.database import Database


@periodic("score-refresh", seconds=10)
def refresh_scores(db: Database, now: datetime) -> int:
    """Move leads whose band changes by decay alone, on time (see `services.scoring.refresh`)."""
    moved = total = DUE_BATCH
    total = 0
    while moved >= DUE_BATCH:
        with db.write() as session:
            moved = refresh_due(session, now=now)
        total += moved
    return total


@periodic("routing-overdue", seconds=60)
def mark_overdue_follow_ups(db: Database, now: datetime) -> int:
    """Flag and escalate leads whose follow-up deadline passed untouched (see `services.routing`)."""
    total = 0
    while True:
        with db.write() as session:
            marked = mark_overdue(session, now=now).marked
        total += marked
        if marked < OVERDUE_BATCH:
            return total
