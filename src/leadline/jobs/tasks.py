"""The periodic tasks, registered with the runner."""

from __future__ import annotations

from datetime import datetime

from leadline.config import get_settings
from leadline.jobs.runner import periodic
from leadline.services.activities import send_due_reminders
from leadline.services.notifications import SmtpConfig, send_due_emails
from leadline.services.routing import OVERDUE_BATCH, mark_overdue
from leadline.services.scoring.refresh import DUE_BATCH, refresh_due
from leadline.services.segments.membership import recheck_due
from leadline.services.webhook_sender import send_due_webhooks
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


@periodic("webhook-deliveries", seconds=1)
def deliver_webhooks(db: Database, now: datetime) -> int:
    """Send due webhook deliveries, one batch per tick (see `services.webhook_sender`)."""
    return send_due_webhooks(db, now=now)


@periodic("notification-emails", seconds=5)
def send_emails(db: Database, now: datetime) -> int:
    """Send pending notification emails over one SMTP connection (see `services.notifications`)."""
    return send_due_emails(db, smtp=SmtpConfig.of(get_settings()), now=now)


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


@periodic("segments", seconds=1)
def recheck_segments(db: Database, now: datetime) -> int:
    """Dynamic-segment memberships: leads marked dirty by changes, and memberships whose time window passed
    (see `services.segments.membership`)."""
    return recheck_due(db, now)


@periodic("predict-rescore", seconds=60)
def rescore_predictions(db: Database, now: datetime) -> int:
    """Rescore, set-based, the open leads that are new, had events since their last scoring, or are a day old."""
    from leadline.services.predict import rescore_due

    return rescore_due(db, now)


@periodic("consent-confirmations", seconds=5)
def send_consent_confirmations(db: Database, now: datetime) -> int:
    """Send pending double opt-in confirmation emails (see `services.privacy.preferences`)."""
    from leadline.services.privacy.preferences import send_due_confirmations

    settings = get_settings()
    return send_due_confirmations(db, smtp=SmtpConfig.of(settings), key=settings.signing_key(), now=now)


@periodic("privacy-retention", seconds=3600)
def apply_retention(db: Database, now: datetime) -> int:
    """Delete or anonymise what the workspaces that turned retention on keep no longer (see
    `services.privacy.retention`)."""
    from leadline.services.privacy.retention import run_enabled

    return run_enabled(db, now)


@periodic("nurture", seconds=1)
def nurture(db: Database, now: datetime) -> int:
    """The sweeper of the nurture queue: when due enrolments or queued emails wait, wake a queue worker (this
    process runs one) or do the work here (it does not); rows leased by a dead worker are due again once
    their lease ran out, so nothing a killed worker held is lost (see `jobs.queue`)."""
    from leadline.jobs import queue
    from leadline.nurture.engine import due_count
    from leadline.nurture.sending import queued_count

    settings = queue.current_settings()
    with db.read() as session:
        waiting = due_count(session, now) + queued_count(session, now, settings.nurture_lease_seconds)
    if not waiting:
        return 0
    if queue.consumer_running():
        queue.wake()
        return 0
    return queue.run_nurture(db, settings)
