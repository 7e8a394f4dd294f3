"""The periodic tasks, registered with the runner."""

from __future__ import annotations

from datetime import datetime

from leadline.jobs.runner import periodic
from leadline.services.scoring.refresh import DUE_BATCH, refresh_due
from leadline.services.segments.membership import recheck_due
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


@periodic("segments", seconds=1)
def recheck_segments(db: Database, now: datetime) -> int:
    """Dynamic-segment memberships: leads marked dirty by changes, and memberships whose time window passed
    (see `services.segments.membership`)."""
    return recheck_due(db, now)
