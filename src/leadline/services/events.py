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

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from leadline.core.channels import Touch
from leadline.core.contacts import InvalidContact, email_lookup_key, normalise_email
from leadline.core.lead_input import LeadInput
from leadline.core.scoring.signals import AUTOMATED_PROPERTY, automated_reason
from leadline.core.scoring.signals import CHECKED_TYPES as AUTOMATION_CHECKED
from leadline.services import outbox
from leadline.services.email_states import apply_email_states
from leadline.services.leads import WriteMode, follow_merges, upsert_lead
from leadline.services.scoring.realtime import score_events
from leadline.services.segments.membership import mark_event_leads
from leadline.services.touches import TouchBatch
from leadline.services.workflows import interest_of
from leadline.services.workspaces import WorkspacePolicy
from leadline.storage.bulk import bulk_insert, select_in
from leadline.storage.partitions import ensure_event_partitions
from leadline.storage.tables import Event, EventKey, Lead, Visitor, Workspace
from leadline.storage.types import utcnow

_EVENTS = Event.__table__
_KEYS = EventKey.__table__
_NO_TOUCH = Touch()
EVENT_COLUMNS = ("workspace_id", "event_key", "type", "occurred_at", "received_at", "lead_id", "subject_lead_id",
                 "anonymous_id", "channel", "campaign", "utm_source", "utm_medium", "utm_campaign", "utm_term",
                 "utm_content", "referrer", "url", "path", "email_id", "properties")
EVENT_INDEX = {name: i for i, name in enumerate(EVENT_COLUMNS)}

#: How far in the future a client clock may be before an event is refused.
MAX_CLOCK_SKEW = timedelta(days=1)
PROMOTED_PROPERTIES = ("url", "path", "email_id")


@dataclass(slots=True)  # not frozen: a frozen dataclass costs a setattr call per field, per event
class EventDraft:
    type: str
    event_key: str | None = None
    email: str | None = None
    lead_id: int | None = None
    anonymous_id: str | None = None
    occurred_at: datetime | None = None
    properties: dict[str, Any] = field(default_factory=dict)
    source: Touch = _NO_TOUCH


@dataclass(slots=True)
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
    lead_id: int | None = None  # the lead the event belongs to now
    subject_id: int | None = None  # the lead it named as received (NULL for an anonymous visitor)


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


def _claim_event_keys(session: Session, workspace_id: int, keys: list[str]) -> set[str]:
    """Claim client event ids; returns the ones this call claimed (the others were already taken).

    SQLite: transactions start with BEGIN IMMEDIATE, so no other writer can run between the check and the
    insert. PostgreSQL: INSERT .. ON CONFLICT DO NOTHING RETURNING settles concurrent retries.
    """
    if not keys:
        return set()
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        stmt = postgresql.insert(_KEYS).on_conflict_do_nothing().returning(_KEYS.c.event_key)
        return set(conn.execute(stmt, [{"workspace_id": workspace_id, "event_key": k} for k in keys]).scalars())
    taken = {key for key, in select_in(
        conn, "SELECT event_key FROM event_keys WHERE workspace_id = {p} AND event_key IN ({values})",
        (workspace_id,), keys)}
    claimed = [k for k in keys if k not in taken]
    bulk_insert(conn, _KEYS, ("workspace_id", "event_key"), [(workspace_id, k) for k in claimed])
    return set(claimed)


def _current(session: Session, workspace_id: int, lead_id: int, merged_into_id: int | None) -> int:
    """The lead that stands for `lead_id` now: itself, or the end of its merge chain (rare: one lookup each)."""
    if merged_into_id is None:
        return lead_id
    lead = session.get(Lead, lead_id)
    return follow_merges(session, workspace_id, lead).id if lead is not None else lead_id


def _resolve_subjects(session: Session, workspace: Workspace | WorkspacePolicy, pending: list[_Pending],
                      outcomes: dict[int, EventOutcome]) -> None:
    ws = workspace.id
    session.flush()  # the lookups below go straight to the driver: no autoflush of pending ORM changes
    conn = session.connection()
    wanted_ids = {p.draft.lead_id for p in pending if p.draft.lead_id is not None}
    by_id: dict[int, int] = {}
    if wanted_ids:
        rows = select_in(conn, "SELECT id, merged_into_id FROM leads WHERE workspace_id = {p} AND id IN ({values})",
                         (ws,), list(wanted_ids))
        by_id = {lead_id: _current(session, ws, lead_id, merged) for lead_id, merged in rows}
    emails = {email_lookup_key(p.draft.email) for p in pending if p.draft.lead_id is None and p.draft.email}
    by_email: dict[str, tuple[int, int]] = {}  # email -> (its own lead, the lead that stands for it now)
    if emails:
        rows = select_in(conn, "SELECT email, id, merged_into_id FROM leads "
                               "WHERE workspace_id = {p} AND email IN ({values})", (ws,), list(emails))
        by_email = {email: (lead_id, _current(session, ws, lead_id, merged)) for email, lead_id, merged in rows}
    anonymous = {p.draft.anonymous_id for p in pending
                 if p.draft.lead_id is None and not p.draft.email and p.draft.anonymous_id}
    by_visitor: dict[str, int | None] = {}
    if anonymous:
        rows = session.execute(
            select(Visitor.anonymous_id, Visitor.lead_id, Lead.merged_into_id)
            .outerjoin(Lead, Lead.id == Visitor.lead_id)
            .where(Visitor.workspace_id == ws, Visitor.anonymous_id.in_(anonymous)))
        by_visitor = {anonymous_id: _current(session, ws, lead_id, merged) if lead_id else None
                      for anonymous_id, lead_id, merged in rows}
        new_visitors = [{"workspace_id": ws, "anonymous_id": a, "first_seen_at": utcnow()}
                        for a in sorted(anonymous - by_visitor.keys())]
        if new_visitors:
            # Another request may be first to see the same visitor: its row is as good as ours.
            visitors = Visitor.__table__
            stmt: Any = (postgresql.insert(visitors) if session.get_bind().dialect.name == "postgresql"
                         else sqlite.insert(visitors))
            session.execute(stmt.on_conflict_do_nothing(), new_visitors)
    for p in pending:
        d = p.draft
        if d.lead_id is not None:
            if d.lead_id not in by_id:
                outcomes[p.index] = EventOutcome(p.index, "error", d.event_key, error="lead not found",
                                                 field="lead_id")
            else:
                p.lead_id, p.subject_id = by_id[d.lead_id], d.lead_id
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
                by_email[key] = by_email[email] = (result.lead.id, result.lead.id)
            p.subject_id, p.lead_id = by_email[key]
        else:
            p.lead_id = by_visitor.get(d.anonymous_id or "")


def record_events(session: Session, workspace: Workspace | WorkspacePolicy, drafts: Sequence[EventDraft]
                  ) -> list[EventOutcome]:
    now = utcnow()
    outcomes: dict[int, EventOutcome] = {}
    pending: list[_Pending] = []
    seen_keys: set[str] = set()
    allowed = set(workspace.allowed_event_types) if workspace.allowed_event_types is not None else None
    latest = now + MAX_CLOCK_SKEW
    for index, draft in enumerate(drafts):
        occurred = draft.occurred_at or now
        if allowed is not None and draft.type not in allowed:
            outcomes[index] = EventOutcome(index, "error", draft.event_key, field="type",
                                           error=f"event type {draft.type!r} is not enabled in this workspace")
        elif occurred > latest:
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
    claimed = _claim_event_keys(session, workspace.id, [p.draft.event_key for p in pending if p.draft.event_key])
    rows: list[tuple[Any, ...]] = []
    touches = TouchBatch()
    ws = workspace.id
    derived: dict[int, Touch] = {}  # id of a draft's touch -> with its channel (drafts share touch objects)
    for p in pending:
        d = p.draft
        if d.event_key is not None and d.event_key not in claimed:
            outcomes[p.index] = EventOutcome(p.index, "duplicate", d.event_key)
            continue
        touch = d.source
        if touch is not _NO_TOUCH:
            touch = derived.get(id(touch)) or derived.setdefault(
                id(touch), _NO_TOUCH if touch.is_empty() else touch.with_derived_channel())
            if touch is not _NO_TOUCH and p.lead_id is not None:
                touches.add(p.lead_id, touch, p.occurred_at)
        props = _stored_properties(d, p.occurred_at)
        rows.append((
            ws, d.event_key, d.type, p.occurred_at, now, p.lead_id, p.subject_id, d.anonymous_id,
            touch.channel, touch.campaign, touch.utm_source, touch.utm_medium, touch.utm_campaign, touch.utm_term,
            touch.utm_content, touch.referrer, _text(props.get("url")), _path_of(props),
            _text(props.get("email_id")), props or None,
        ))
        outcomes[p.index] = EventOutcome(p.index, "accepted", d.event_key, lead_id=p.lead_id)
    if rows:
        conn = session.connection()
        ensure_event_partitions(conn, (row[3] for row in rows))  # read on PostgreSQL only
        bulk_insert(conn, _EVENTS, EVENT_COLUMNS, rows)
    touches.write(session, ws)
    if rows:
        apply_email_states(session, ws, EVENT_INDEX, rows)
        score_events(session, ws, EVENT_INDEX, rows, now=now)
        mark_event_leads(session, ws, ((row[5], row[2]) for row in rows), now=now)  # lead_id, type
        _tell_workflows(session, ws, rows, now)
    return [outcomes[i] for i in range(len(drafts))]


def _tell_workflows(session: Session, workspace_id: int, rows: list[tuple[Any, ...]], now: datetime) -> None:
    """Emit `lead.event_recorded` for the event types an active workflow triggers on or waits for (one cached
    lookup per batch; nothing is emitted in a workspace without workflows)."""
    interest = interest_of(session, workspace_id)
    if not interest.types:
        return
    type_at, lead_at, props_at = EVENT_INDEX["type"], EVENT_INDEX["lead_id"], EVENT_INDEX["properties"]
    items = []
    for row in rows:
        if row[type_at] in interest.types and row[lead_at] is not None:
            payload: dict[str, Any] = {"type": row[type_at]}
            if row[type_at] in interest.conditioned:  # which property-conditioned triggers it meets (ids only)
                payload["workflows"] = interest.matching(row[type_at], row[props_at])
            form_key = (row[props_at] or {}).get("form_key") if row[type_at] == "form_submit" else None
            if isinstance(form_key, str):
                payload["form_key"] = form_key
            items.append((row[lead_at], payload))
    if items:
        outbox.emit_many(session, workspace_id=workspace_id, topic="lead.event_recorded", items=items, now=now)


def _stored_properties(draft: EventDraft, occurred_at: datetime) -> dict[str, Any]:
    """The properties as given, plus the `automated` flag on clicks that look like a scanner's."""
    if draft.type in AUTOMATION_CHECKED and (reason := automated_reason(draft.type, draft.properties, occurred_at)):
        return {**draft.properties, AUTOMATED_PROPERTY: reason}  # recorded, never scored
    return draft.properties


def _text(value: Any) -> str | None:
    return value[:2000] if isinstance(value, str) else None
