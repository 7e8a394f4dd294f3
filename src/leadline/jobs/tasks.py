"""The periodic tasks, registered with the runner."""

from __future__ import annotations

from datetime import datetime

from leadline.jobs.runner import periodic
from leadline.services.activities import send_due_reminders
from leadline.services.scoring.refresh import DUE_BATCH, refresh_due
from leadline.storage.database import Database


@periodic("score-refresh", seconds=10)
def refresh_scores(db: Database, now: datetime) -> int:
    """Move leads whose band changes by decay alone, on time (see `services.scoring.refresh`)."""
    moved, total = DUE_BATCH, 0
    while moved >= DUE_BATCH:
        with db.write() as session:
            moved = refresh_due(session, now=now)
        total += moved
    return total


@periodic("task-reminders", seconds=30)
def remind_tasks(db: Database, now: datetime) -> int:
    """Emit `task.reminder` for follow-up tasks whose reminder time has come."""
    with db.write() as session:
        return send_due_reminders(session, now=now)


@periodic("predict-rescore", seconds=60)
def rescore_predictions(db: Database, now: datetime) -> int:
    """Rescore, set-based, the open leads that are new, had events since their last scoring, or are a day old."""
    from leadline.services.predict import rescore_due

    return rescore_due(db, now)
