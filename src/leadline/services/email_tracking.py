"""What the links in a marketing email do: the open pixel, click links, one-click unsubscribe; and bounce and
complaint notifications from email providers.

Opens and clicks of a tracked send (the lead allowed tracking when it was sent) are recorded as `email_open` /
`email_click` events through `record_events`, so they feed the score; the first open of a send and the first
click of each link count (their event ids are derived from the send). Untracked sends carry no person in their
tokens: they only add to per-step or per-broadcast counters. Unsubscribing marks the lead, adds its address to
the suppression list, records an `unsubscribe` event and ends its enrolments.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from leadline.nurture import tokens
from leadline.nurture.engine import on_lead_changed
from leadline.services.events import EventDraft, record_events
from leadline.services.suppression import SuppressionReason, suppress
from leadline.storage.tables import EmailEngagementCount, EmailSend, Lead, Workspace
from leadline.storage.types import utcnow


def _workspace(session: Session, workspace_id: Any) -> Workspace | None:
    return session.get(Workspace, workspace_id) if isinstance(workspace_id, int) else None


def _count(session: Session, workspace_id: int, source: str, *, opens: int = 0, clicks: int = 0) -> None:
    table = EmailEngagementCount.__table__
    builder = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    statement = builder(table).values(workspace_id=workspace_id, source=source[:100], opens=opens, clicks=clicks)
    session.execute(statement.on_conflict_do_update(
        index_elements=["workspace_id", "source"],
        set_={"opens": table.c.opens + opens, "clicks": table.c.clicks + clicks}))


def _tracked_send(session: Session, payload: dict[str, Any]) -> EmailSend | None:
    send_id = payload.get("s")
    if not isinstance(send_id, int):
        return None
    row = session.get(EmailSend, send_id)
    return row if row is not None and row.workspace_id == payload.get("w") and row.tracked else None


def _record(session: Session, workspace: Workspace, row: EmailSend, kind: str, key: str,
            properties: dict[str, Any]) -> None:
    record_events(session, workspace, [
        EventDraft(type=kind, event_key=key, lead_id=row.lead_id,
                   properties={"email_id": str(row.id), **properties})])


def record_open(session: Session, *, key: bytes, token: str, now: datetime | None = None) -> bool:
    """True when the token was ours (the pixel is served either way)."""
    try:
        payload = tokens.verify(key, "open", token)
    except tokens.BadToken:
        return False
    workspace = _workspace(session, payload.get("w"))
    if workspace is None:
        return False
    at = now or utcnow()
    row = _tracked_send(session, payload)
    if row is not None:
        if row.opened_at is None:
            row.opened_at = at
        _record(session, workspace, row, "email_open", f"email_open:{row.id}", {})
    elif isinstance(payload.get("a"), str):
        _count(session, workspace.id, payload["a"], opens=1)
    return True


#: How long the identity an email click carries to the website stays valid.
LINK_IDENTITY_DAYS = 30


def link_identity(key: bytes, workspace_id: int, lead_id: int, now: datetime) -> str:
    """The signed `ll_id` a tracked click adds to its landing URL: the snippet sends it back to identify."""
    return tokens.sign(key, "identify", {"w": workspace_id, "l": lead_id, "t": int(now.timestamp())})


def lead_of_link_identity(key: bytes, token: str, workspace_id: int, now: datetime) -> int | None:
    """The lead an `ll_id` names, if it is ours, for this workspace, and recent; else None."""
    try:
        payload = tokens.verify(key, "identify", token)
    except tokens.BadToken:
        return None
    issued, lead_id = payload.get("t"), payload.get("l")
    if payload.get("w") != workspace_id or not isinstance(issued, int) or not isinstance(lead_id, int):
        return None
    return lead_id if 0 <= now.timestamp() - issued <= LINK_IDENTITY_DAYS * 86_400 else None


def _with_identity(url: str, token: str) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "ll_id"]
    return urlunsplit(parts._replace(query=urlencode([*query, ("ll_id", token)])))


def record_click(session: Session, *, key: bytes, token: str, now: datetime | None = None) -> str | None:
    """The URL to redirect to (only ever one we signed), or None for a bad token. A per-person tracked click
    (the lead allowed tracking) also carries `ll_id`, so the snippet on the landing site can identify the
    visitor."""
    try:
        payload = tokens.verify(key, "click", token)
    except tokens.BadToken:
        return None
    url = payload.get("u")
    workspace = _workspace(session, payload.get("w"))
    if not isinstance(url, str) or not url.startswith(("https://", "http://")) or workspace is None:
        return None
    at = now or utcnow()
    row = _tracked_send(session, payload)
    if row is not None:
        if row.clicked_at is None:
            row.clicked_at = at
        if row.opened_at is None:  # a click proves the open (images may be blocked)
            row.opened_at = at
        digest = hashlib.sha256(url.encode()).hexdigest()[:16]
        _record(session, workspace, row, "email_click", f"email_click:{row.id}:{digest}", {"url": url})
        return _with_identity(url, link_identity(key, workspace.id, row.lead_id, at))
    elif isinstance(payload.get("a"), str):
        _count(session, workspace.id, payload["a"], clicks=1)
    return url


@dataclass(frozen=True, slots=True)
class Unsubscribed:
    lead_id: int
    already: bool


def check_unsubscribe(key: bytes, token: str) -> dict[str, Any] | None:
    try:
        payload = tokens.verify(key, "unsubscribe", token)
    except tokens.BadToken:
        return None
    return payload if isinstance(payload.get("w"), int) and isinstance(payload.get("l"), int) else None


def unsubscribe(session: Session, *, key: bytes, token: str, source: str = "one-click link",
                now: datetime | None = None) -> Unsubscribed | None:
    """Unsubscribe the lead the token names (idempotent); None for a bad token."""
    payload = check_unsubscribe(key, token)
    if payload is None:
        return None
    workspace = _workspace(session, payload["w"])
    lead = session.get(Lead, payload["l"])
    if workspace is None or lead is None or lead.workspace_id != workspace.id:
        return None
    at = now or utcnow()
    already = bool(lead.unsubscribed)
    lead.unsubscribed = True
    if lead.email:
        suppress(session, key=key, workspace_id=workspace.id, email=lead.email,
                 reason=SuppressionReason.UNSUBSCRIBED, source=source, now=at)
    send_id = payload.get("s")
    if isinstance(send_id, int):
        session.execute(update(EmailSend).where(EmailSend.id == send_id, EmailSend.lead_id == lead.id,
                                                EmailSend.unsubscribed_at.is_(None))
                        .values(unsubscribed_at=at), execution_options={"synchronize_session": False})
    if not already:
        record_events(session, workspace, [EventDraft(
            type="unsubscribe", event_key=f"unsubscribe:{send_id}" if isinstance(send_id, int) else None,
            lead_id=lead.id, properties={"email_id": str(send_id)} if isinstance(send_id, int) else {})])
    on_lead_changed(session, workspace.id, [lead.id], now=at, unsubscribed=True)
    return Unsubscribed(lead.id, already)


def suppress_address(session: Session, *, key: bytes, workspace_id: int, email: str, reason: SuppressionReason,
                     source: str, now: datetime | None = None) -> bool:
    """A bounce or complaint for an address: suppress it, and mark the lead (bounce: `email_bounce` event;
    complaint: unsubscribed). Returns whether a lead of the workspace had that address."""
    at = now or utcnow()
    normalised = email.strip().lower()
    suppress(session, key=key, workspace_id=workspace_id, email=normalised, reason=reason, source=source, now=at)
    lead = session.scalars(select(Lead).where(Lead.workspace_id == workspace_id, Lead.email == normalised,
                                              Lead.merged_into_id.is_(None))).first()
    if lead is None:
        return False
    workspace = session.get(Workspace, workspace_id)
    assert workspace is not None
    if reason is SuppressionReason.COMPLAINED:
        lead.unsubscribed = True
        on_lead_changed(session, workspace_id, [lead.id], now=at, unsubscribed=True)
        kind = "unsubscribe"
    else:
        kind = "email_bounce"
    record_events(session, workspace, [EventDraft(type=kind, lead_id=lead.id, properties={"source": source})])
    return True
