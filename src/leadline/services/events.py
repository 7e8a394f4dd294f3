"""Recording behaviour: one event or a batch, idempotent on the client's `event_id`.

One batch costs a fixed number of statements whatever its size: look up the leads it names, create the ones
known only by email, claim the event ids (`INSERT .. ON CONFLICT DO NOTHING RETURNING`, which also settles
races between concurrent requests), insert the events, then move each touched lead's last touch once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from leadline.core.channels import Touch
from leadline.core.contacts import InvalidContact, email_lookup_key, normalise_email
from leadline.core.lead_input import LeadInput
from leadline.services.leads import WriteMode, upsert_lead
from leadline.services.touches import apply_touch
from leadline.storage.partitions import ensure_event_partitions
from leadline.storage.tables import Event, EventKey, Lead, Visitor, Workspace
from leadline.storage.types import utcnow

#: How far in the future a client clock may be before an event is refused.
MAX_CLOCK_SKEW = timedelta(days=1)
PROMOTED_PROPERTIES = ("url", "path", "email_id")


@dataclass(frozen=True, slots=True)
class EventDraft:
    type: str
    event_key: str | None = None
    email: str | None = None
    lead_id: int | None = None
    anonymous_id: str | None = None
    occurred_at: datetime | None = None
    properties: dict[str, Any] = field(default_factory=dict)
    source: Touch = field(default_factory=Touch)


@dataclass(frozen=True, slots=True)
class EventOutcome:
    index: int
    status: str  # accepted | duplicate | error
    event_id: str | None = None
    lead_id: int | None = None
    error: str | None = None
    field: str | None = None


@dataclass
class _Pending:
    index: int
    draft: EventDraft
    occurred_at: datetime
    lead_id: int | None = None


def _path_of(properties: dict[str, Any]) -> str | None:
    path = properties.get("path")
    if isinstance(path, str):
        return path[:2000]
    url = properties.get("url")
    if isinstance(url, str):
        try:
            return urlsplit(url).path[:2000] or "/"
        except ValueError:
            return None
    return None


def _insert_ignoring_conflicts(session: Session, rows: list[dict[str, Any]]) -> set[str]:
    """Claim event keys; returns the ones this call inserted (the others were already taken)."""
    if not rows:
        return set()
    dialect = session.get_bind().dialect.name
    stmt: Any = (postgresql.insert(EventKey) if dialect == "postgresql" else sqlite.insert(EventKey))
    stmt = stmt.on_conflict_do_nothing().returning(EventKey.event_key)
    return set(session.scalars(stmt, rows))


def _resolve_subjects(session: Session, workspace: Workspace, pending: list[_Pending],
                      outcomes: dict[int, EventOutcome]) -> None:
    ws = workspace.id
    wanted_ids = {p.draft.lead_id for p in pending if p.draft.lead_id is not None}
    by_id: dict[int, int] = {}
    if wanted_ids:
        rows = session.execute(select(Lead.id, Lead.merged_into_id).where(
            Lead.workspace_id == ws, Lead.id.in_(wanted_ids)))
        by_id = {lead_id: merged or lead_id for lead_id, merged in rows}
    emails = {email_lookup_key(p.draft.email) for p in pending if p.draft.lead_id is None and p.draft.email}
    by_email: dict[str, int] = {}
    if emails:
        rows = session.execute(select(Lead.email, Lead.id, Lead.merged_into_id).where(
            Lead.workspace_id == ws, Lead.email.in_(emails)))
        by_email = {email: merged or lead_id for email, lead_id, merged in rows}
    anonymous = {p.draft.anonymous_id for p in pending
                 if p.draft.lead_id is None and not p.draft.email and p.draft.anonymous_id}
    by_visitor: dict[str, int | None] = {}
    if anonymous:
        rows = session.execute(select(Visitor.anonymous_id, Visitor.lead_id).where(
            Visitor.workspace_id == ws, Visitor.anonymous_id.in_(anonymous)))
        by_visitor = {anonymous_id: lead_id for anonymous_id, lead_id in rows}
        new_visitors = [{"workspace_id": ws, "anonymous_id": a, "first_seen_at": utcnow()}
                        for a in sorted(anonymous - by_visitor.keys())]
        if new_visitors:
            session.execute(insert(Visitor), new_visitors)
    for p in pending:
        d = p.draft
        if d.lead_id is not None:
            if d.lead_id not in by_id:
                outcomes[p.index] = EventOutcome(p.index, "error", d.event_key, error="lead not found",
                                                 field="lead_id")
            else:
                p.lead_id = by_id[d.lead_id]
        elif d.email:
            key = email_lookup_key(d.email)
            if key not in by_email:
                try:
                    email = normalise_email(d.email)
                except InvalidContact as exc:
                    outcomes[p.index] = EventOutcome(p.index, "error", d.event_key, error=str(exc), field="email")
                    continue
                result = upsert_lead(session, ws, LeadInput(email=email), mode=WriteMode.FILL_EMPTY,
                                     at=p.occurred_at)
                by_email[key] = result.lead.id
                by_email[email] = result.lead.id
            p.lead_id = by_email[key]
        else:
            p.lead_id = by_visitor.get(d.anonymous_id or "")


def record_events(session: Session, workspace: Workspace, drafts: Sequence[EventDraft]) -> list[EventOutcome]:
    now = utcnow()
    outcomes: dict[int, EventOutcome] = {}
    pending: list[_Pending] = []
    seen_keys: set[str] = set()
    allowed = set(workspace.allowed_event_types) if workspace.allowed_event_types is not None else None
    for index, draft in enumerate(drafts):
        occurred = draft.occurred_at or now
        if allowed is not None and draft.type not in allowed:
            outcomes[index] = EventOutcome(index, "error", draft.event_key, field="type",
                                           error=f"event type {draft.type!r} is not enabled in this workspace")
        elif occurred > now + MAX_CLOCK_SKEW:
            outcomes[index] = EventOutcome(index, "error", draft.event_key, field="occurred_at",
                                           error="occurred_at is more than a day in the future")
        elif draft.event_key is not None and draft.event_key in seen_keys:
            outcomes[index] = EventOutcome(index, "duplicate", draft.event_key)
        else:
            if draft.event_key is not None:
                seen_keys.add(draft.event_key)
            pending.append(_Pending(index, draft, occurred))
    _resolve_subjects(session, workspace, pending, outcomes)
    pending = [p for p in pending if p.index not in outcomes]
    claimed = _insert_ignoring_conflicts(session, [
        {"workspace_id": workspace.id, "event_key": p.draft.event_key} for p in pending if p.draft.event_key])
    rows: list[dict[str, Any]] = []
    latest_touch: dict[int, tuple[datetime, Touch]] = {}
    for p in pending:
        d = p.draft
        if d.event_key is not None and d.event_key not in claimed:
            outcomes[p.index] = EventOutcome(p.index, "duplicate", d.event_key)
            continue
        touch = d.source.with_derived_channel() if not d.source.is_empty() else d.source
        rows.append({
            "workspace_id": workspace.id, "event_key": d.event_key, "type": d.type, "occurred_at": p.occurred_at,
            "received_at": now, "lead_id": p.lead_id, "subject_lead_id": d.lead_id if d.lead_id else p.lead_id,
            "anonymous_id": d.anonymous_id, "channel": touch.channel, "campaign": touch.campaign,
            "utm_source": touch.utm_source, "utm_medium": touch.utm_medium, "utm_campaign": touch.utm_campaign,
            "utm_term": touch.utm_term, "utm_content": touch.utm_content, "referrer": touch.referrer,
            "url": _text(d.properties.get("url")), "path": _path_of(d.properties),
            "email_id": _text(d.properties.get("email_id")), "properties": d.properties or None,
        })
        outcomes[p.index] = EventOutcome(p.index, "accepted", d.event_key, lead_id=p.lead_id)
        if p.lead_id is not None and not touch.is_empty():
            best = latest_touch.get(p.lead_id)
            if best is None or p.occurred_at >= best[0]:
                latest_touch[p.lead_id] = (p.occurred_at, touch)
    if rows:
        ensure_event_partitions(session.connection(), (r["occurred_at"] for r in rows))
        session.execute(insert(Event), rows)
    _apply_touches(session, workspace.id, latest_touch)
    return [outcomes[i] for i in range(len(drafts))]


def _apply_touches(session: Session, workspace_id: int, latest: dict[int, tuple[datetime, Touch]]) -> None:
    if not latest:
        return
    leads = session.scalars(select(Lead).where(Lead.workspace_id == workspace_id, Lead.id.in_(latest.keys())))
    for lead in leads:
        at, touch = latest[lead.id]
        apply_touch(lead, touch, at)
    session.flush()


def _text(value: Any) -> str | None:
    return value[:2000] if isinstance(value, str) else None
