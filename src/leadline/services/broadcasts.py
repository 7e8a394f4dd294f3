"""One-off sends to a segment ("broadcasts": a newsletter), the workspace's sending settings, and bounce and
complaint notifications from providers.

A broadcast queues one `email_sends` row per current member of its segment (set-based, one statement); each
row then goes through the same gates as workflow email (suppression, consent, frequency cap across workflows
and broadcasts, send window, throttle) when the sender takes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, insert, literal, select
from sqlalchemy.orm import Session

from leadline.core.email_feedback import Parsed
from leadline.core.lead_input import FieldProblem
from leadline.core.workflows import EmailTemplate
from leadline.nurture import tokens
from leadline.nurture.engine import wake_after_commit
from leadline.nurture.rendering import check_templates
from leadline.services.email_tracking import suppress_address
from leadline.services.errors import Conflict, Invalid, NotFound
from leadline.services.suppression import SuppressionReason
from leadline.storage.tables import (
    Broadcast,
    EmailEngagementCount,
    EmailSend,
    NurtureSettings,
    Segment,
    SegmentMembership,
)
from leadline.storage.types import utcnow

SETTINGS_FIELDS = ("smtp_host", "smtp_port", "smtp_starttls", "smtp_user", "smtp_password", "from_address",
                   "from_name", "frequency_cap", "frequency_days", "window_start_hour", "window_end_hour",
                   "timezone", "per_minute")


def check_template(raw: Any, field: str = "template") -> dict[str, Any]:
    try:
        template = EmailTemplate.model_validate(raw)
    except ValidationError as error:
        raise Invalid([FieldProblem(".".join([field, *map(str, e["loc"])]), str(e["msg"]))
                       for e in error.errors()]) from None
    problems = check_templates({"subject": template.subject, "text": template.text, "html": template.html})
    if problems:
        raise Invalid([FieldProblem(f"{field}.{part}", why) for part, why in problems])
    return template.model_dump(exclude_none=True)


def create_broadcast(session: Session, *, workspace_id: int, name: str, segment_id: int, template: Any,
                     actor: str) -> Broadcast:
    segment = session.get(Segment, segment_id)
    if segment is None or segment.workspace_id != workspace_id:
        raise Invalid([FieldProblem("segment_id", "no such segment in this workspace")])
    row = Broadcast(workspace_id=workspace_id, name=name, segment_id=segment_id,
                    template=check_template(template), status="draft", created_by=actor)
    session.add(row)
    session.flush()
    return row


def get_broadcast(session: Session, *, workspace_id: int, broadcast_id: int) -> Broadcast:
    row = session.get(Broadcast, broadcast_id)
    if row is None or row.workspace_id != workspace_id:
        raise NotFound("broadcast not found")
    return row


def list_broadcasts(session: Session, *, workspace_id: int) -> list[Broadcast]:
    return list(session.scalars(select(Broadcast).where(Broadcast.workspace_id == workspace_id)
                                .order_by(Broadcast.id.desc())))


def send_broadcast(session: Session, *, workspace_id: int, broadcast_id: int, now: datetime | None = None
                   ) -> Broadcast:
    """Queue one email per current member of the segment (once: a queued broadcast is a 409)."""
    row = get_broadcast(session, workspace_id=workspace_id, broadcast_id=broadcast_id)
    if row.status != "draft":
        raise Conflict("this broadcast was already sent", field="status")
    at = now or utcnow()
    members = select(literal(workspace_id), SegmentMembership.lead_id, literal(row.id), literal("queued"),
                     literal(at), literal(at), literal(False)).where(
        SegmentMembership.segment_id == row.segment_id, SegmentMembership.workspace_id == workspace_id)
    session.execute(insert(EmailSend).from_select(
        ["workspace_id", "lead_id", "broadcast_id", "status", "created_at", "not_before", "tracked"], members))
    row.recipients = int(session.scalar(select(func.count()).select_from(EmailSend).where(
        EmailSend.broadcast_id == row.id)) or 0)
    row.status, row.queued_at = "queued", at
    session.flush()
    wake_after_commit(session)
    return row


@dataclass(frozen=True, slots=True)
class BroadcastStats:
    emails: dict[str, int]
    opened: int
    clicked: int
    unsubscribed: int


def broadcast_stats(session: Session, *, workspace_id: int, broadcast_id: int) -> BroadcastStats:
    get_broadcast(session, workspace_id=workspace_id, broadcast_id=broadcast_id)
    S = EmailSend
    emails: dict[str, int] = {}
    opened = clicked = unsubscribed = 0
    for status, count, o, c, u in session.execute(
            select(S.status, func.count(), func.count(S.opened_at), func.count(S.clicked_at),
                   func.count(S.unsubscribed_at)).where(S.broadcast_id == broadcast_id).group_by(S.status)):
        emails[status] = count
        opened, clicked, unsubscribed = opened + o, clicked + c, unsubscribed + u
    counts = session.get(EmailEngagementCount, (workspace_id, f"b:{broadcast_id}"))
    if counts is not None:
        opened, clicked = opened + counts.opens, clicked + counts.clicks
    return BroadcastStats(emails, opened, clicked, unsubscribed)


# -- sending settings ---------------------------------------------------------------------------------------------
def sending_settings(session: Session, *, workspace_id: int) -> NurtureSettings:
    row = session.get(NurtureSettings, workspace_id)
    return row if row is not None else NurtureSettings(workspace_id=workspace_id, frequency_days=7, timezone="UTC")


def update_sending_settings(session: Session, *, workspace_id: int, changes: dict[str, Any]) -> NurtureSettings:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    unknown = [k for k in changes if k not in SETTINGS_FIELDS]
    if unknown:
        raise Invalid([FieldProblem(unknown[0], "unknown setting")])
    if "timezone" in changes:
        try:
            ZoneInfo(str(changes["timezone"]))
        except (ZoneInfoNotFoundError, ValueError):
            raise Invalid([FieldProblem("timezone", "not an IANA time zone (e.g. Europe/Paris)")]) from None
    row = session.get(NurtureSettings, workspace_id)
    if row is None:
        row = NurtureSettings(workspace_id=workspace_id, frequency_days=7, timezone="UTC")
        session.add(row)
    defaults = {"frequency_days": 7, "timezone": "UTC"}  # null puts these back to their default
    for key, value in changes.items():
        setattr(row, key, defaults.get(key) if value is None and key in defaults else value)
    if (row.window_start_hour is None) != (row.window_end_hour is None):
        raise Invalid([FieldProblem("window_end_hour" if row.window_end_hour is None else "window_start_hour",
                                    "a send window needs both a start and an end hour")])
    session.flush()
    return row


# -- bounces and complaints ---------------------------------------------------------------------------------------
def inbound_token(key: bytes, workspace_id: int) -> str:
    """The secret part of a workspace's bounce-notification URL."""
    return tokens.sign(key, "email-feedback", {"w": workspace_id})


def workspace_of_inbound(key: bytes, token: str) -> int | None:
    try:
        payload = tokens.verify(key, "email-feedback", token)
    except tokens.BadToken:
        return None
    workspace_id = payload.get("w")
    return workspace_id if isinstance(workspace_id, int) else None


def apply_feedback(session: Session, *, key: bytes, workspace_id: int, parsed: Parsed,
                   now: datetime | None = None) -> int:
    """Suppress every hard-bounced or complaining address; returns how many addresses were suppressed."""
    for item in parsed.feedback:
        reason = SuppressionReason.COMPLAINED if item.kind == "complaint" else SuppressionReason.BOUNCED
        suppress_address(session, key=key, workspace_id=workspace_id, email=item.email, reason=reason,
                         source=f"{item.provider}: {item.detail}"[:100], now=now)
    return len(parsed.feedback)
