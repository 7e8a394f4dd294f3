"""Notification emails through SMTP, at most once.

The outbox consumer records one `notification_emails` row (ids only) per `lead.assigned` / `lead.overdue`
message. The sender claims pending rows by marking them `sending` in a committed transaction before it talks to
the server, then records `sent` or `failed`. A sender that dies in between leaves rows in `sending`; the next
run marks those `unknown` after `STUCK_AFTER` and never sends them again: a person may miss a notification, but
never gets it twice. Rows that could not have gone out (the server unreachable, login refused) go back to
`pending` and are tried on the next run.
"""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from leadline.config import Settings
from leadline.core.notifications import KINDS, Context, LeadFacts, compose, lead_label, one_line, recipient_of
from leadline.services import outbox
from leadline.storage.database import Database
from leadline.storage.tables import Lead, NotificationEmail, OutboxMessage, User
from leadline.storage.types import utcnow

logger = logging.getLogger(__name__)

BATCH = 100
STUCK_AFTER = timedelta(minutes=10)
#: What the payload keeps of the message (ids and times, as the outbox carries them).
KEPT = ("owner_id", "previous_owner_id", "manager_id", "rule", "follow_up_due_at", "escalation")


@dataclass(frozen=True, slots=True)
class SmtpConfig:
    host: str | None
    port: int = 587
    sender: str = "leadline@localhost"
    starttls: bool = True
    user: str | None = None
    password: str | None = None
    timeout: float = 10.0
    app_url: str = "http://localhost:8000"

    @classmethod
    def of(cls, settings: Settings) -> SmtpConfig:
        return cls(host=settings.smtp_host, port=settings.smtp_port, sender=settings.smtp_from,
                   starttls=settings.smtp_starttls, user=settings.smtp_user,
                   password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
                   timeout=settings.smtp_timeout, app_url=settings.app_url.rstrip("/"))


@outbox.consumer("notification-emails", *KINDS)
def record_emails(session: Session, messages: Sequence[OutboxMessage], now: datetime) -> None:
    rows = []
    for message in messages:
        user_id = recipient_of(message.topic, message.payload)
        if user_id is None:
            continue
        rows.append(NotificationEmail(
            workspace_id=message.workspace_id, kind=KINDS[message.topic], user_id=user_id, lead_id=message.lead_id,
            payload={k: message.payload[k] for k in KEPT if k in message.payload}, status="pending", created_at=now))
    session.add_all(rows)


def _user(session: Session, workspace_id: int, user_id: object) -> User | None:
    if not isinstance(user_id, int):
        return None
    user = session.get(User, user_id)
    return user if user is not None and user.workspace_id == workspace_id else None


def _draft(session: Session, row: NotificationEmail, smtp: SmtpConfig) -> EmailMessage | str:
    """The message for a row, or why there is none."""
    user = _user(session, row.workspace_id, row.user_id)
    if user is None or not user.email:
        return "the recipient has no email address"
    lead = session.get(Lead, row.lead_id) if row.lead_id is not None else None
    if lead is None or lead.workspace_id != row.workspace_id:
        return "the lead no longer exists"
    owner = _user(session, row.workspace_id, row.payload.get("owner_id"))
    facts = LeadFacts(id=lead.id, label=lead_label(lead_id=lead.id, first_name=lead.first_name,
                                                   last_name=lead.last_name, email=lead.email),
                      stage=lead.stage, score=round(lead.score, 1), temperature=lead.temperature)
    to_manager = owner is not None and owner.id != user.id
    draft = compose(row.kind, Context(recipient_name=user.name, lead=facts, payload=row.payload,
                                      lead_url=f"{smtp.app_url}/leads/{lead.id}",
                                      owner_name=owner.name if to_manager and owner else None))
    message = EmailMessage()
    message["From"] = smtp.sender
    message["To"] = formataddr((one_line(user.name, 80), user.email))
    message["Subject"] = draft.subject
    message["Message-ID"] = make_msgid(domain=smtp.sender.rpartition("@")[2] or "leadline")
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(draft.body)
    return message


def _sweep(session: Session, now: datetime) -> None:
    session.execute(update(NotificationEmail)
                    .where(NotificationEmail.status == "sending", NotificationEmail.sending_at < now - STUCK_AFTER)
                    .values(status="unknown", finished_at=now,
                            error="the sender stopped mid-send: it may or may not have gone out; not resent"))


def claim(session: Session, *, smtp: SmtpConfig, now: datetime, limit: int = BATCH) -> list[tuple[int, EmailMessage]]:
    """Mark up to `limit` pending rows `sending` and build their messages; rows that cannot be sent are
    `skipped` with the reason."""
    _sweep(session, now)
    query = (select(NotificationEmail).where(NotificationEmail.status == "pending")
             .order_by(NotificationEmail.id).limit(limit))
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    claimed = []
    for row in session.scalars(query):
        draft = _draft(session, row, smtp) if smtp.host else "SMTP is not configured (LEADLINE_SMTP_HOST)"
        if isinstance(draft, str):
            row.status, row.finished_at, row.error = "skipped", now, draft
            continue
        row.status, row.sending_at = "sending", now
        claimed.append((row.id, draft))
    return claimed


def connect_smtp(smtp: SmtpConfig) -> smtplib.SMTP:
    assert smtp.host is not None
    client = smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout)
    try:
        if smtp.starttls:
            client.starttls()
        if smtp.user:
            client.login(smtp.user, smtp.password or "")
    except BaseException:
        client.close()
        raise
    return client


# Refusals the server gave for one message before accepting it: nothing went out.
REFUSED = (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused, smtplib.SMTPDataError)


def send_all(smtp: SmtpConfig, claimed: list[tuple[int, EmailMessage]]) -> dict[int, tuple[str, str | None]]:
    """row id -> (status, error). Rows left out of the answer were never started: back to pending."""
    outcome: dict[int, tuple[str, str | None]] = {}
    try:
        client = connect_smtp(smtp)
    except (OSError, smtplib.SMTPException) as error:
        logger.warning("SMTP server %s:%s unavailable: %s", smtp.host, smtp.port, error)
        return outcome
    try:
        for row_id, message in claimed:
            try:
                client.send_message(message)
                outcome[row_id] = ("sent", None)
            except REFUSED as error:
                outcome[row_id] = ("failed", f"{type(error).__name__}: {error}"[:1000])
            except (OSError, smtplib.SMTPException) as error:  # mid-conversation: it may have gone out
                outcome[row_id] = ("unknown", f"{type(error).__name__}: {error}"[:1000])
                break
    finally:
        try:
            client.quit()
        except (OSError, smtplib.SMTPException):
            client.close()
    return outcome


def send_due_emails(db: Database, *, smtp: SmtpConfig, now: datetime | None = None, limit: int = BATCH) -> int:
    """One batch over one SMTP connection; returns how many rows changed state (sent, failed, unknown, skipped
    or sent back to pending)."""
    at = now or utcnow()
    with db.write() as session:
        claimed = claim(session, smtp=smtp, now=at, limit=limit)
    if not claimed:
        return 0
    outcome = send_all(smtp, claimed)
    with db.write() as session:
        settle(session, NotificationEmail, claimed, outcome, at)
    return len(claimed)


def settle(session: Session, table: type[Any], claimed: list[tuple[int, EmailMessage]],
           outcome: dict[int, tuple[str, str | None]], at: datetime) -> None:
    """Write what `send_all` answered back to the claimed rows of `table` (a table with `status`, `error`,
    `finished_at` and `sending_at`); rows it never started go back to pending."""
    for row_id, _message in claimed:
        row = session.get(table, row_id)
        if row is None:
            continue
        if row_id in outcome:
            row.status, row.error = outcome[row_id]
            row.finished_at = at
        else:
            row.status, row.sending_at = "pending", None
