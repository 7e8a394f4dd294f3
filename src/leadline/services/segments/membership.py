"""Keeping dynamic-segment memberships up to date without periodic rebuilds.

1. A change marks leads dirty, set-based and only when some dynamic segment of the workspace reads what changed
   (event types, fields; scores when events arrive, since scoring runs in the same request): `mark_*`. The
   workspace's dependencies are cached per process and re-read when its segments change (one indexed
   aggregate per call decides that).
2. `recheck_due` (a periodic task, every second) takes due dirty leads in batches, evaluates every dynamic
   segment of the workspace for the batch in SQL (correlated probes through the events index), writes
   `segment_memberships` and emits `segment.entered` / `segment.left` through the outbox.
3. Time: a membership that holds through a time window gets `expires_at`, the moment its oldest counted event
   leaves the window (the earliest time it may drop out with no new event); a lead that may *enter* by time
   alone ("never did X in the last 14 days") gets a dirty row due at that moment. `expire_memberships` turns
   due expiries into dirty rows, so the lead leaves on time.

Scores: events mark their leads (scoring runs in the same request); the score-refresh job (a band or
temperature change by decay alone) and bulk rescores mark the leads they write. Limits: a raw score that decays
between two band changes is re-checked at the next one (a segment on `score >= 50` may hold a lead whose score
has slipped under 50 until then; conditions on `temperature` are exact). Company changes made through one lead
mark its colleagues too, and a visitor's anonymous events attached at identification mark the lead; stage
changes arrive through `lead.stage_changed`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, delete, func, insert, literal, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from leadline.core.lead_input import LeadInput
from leadline.core.segments import FIELDS, SCORE_FIELDS, Filter, parse_filter, windowed_leaves
from leadline.services import outbox
from leadline.storage.database import Database
from leadline.storage.segment_sql import EVENTS, SegmentCompiler, matching_leads, window_starts
from leadline.storage.tables import Lead, OutboxMessage, Segment, SegmentDirtyLead, SegmentMembership
from leadline.storage.types import UTCDateTime

BATCH = 500
MAX_BATCHES_PER_RUN = 40
ENTERED, LEFT = "segment.entered", "segment.left"
_DIRTY = SegmentDirtyLead.__table__
_MEMBERS = SegmentMembership.__table__


@dataclass(frozen=True, slots=True)
class Dependencies:
    fields: frozenset[str]
    event_types: frozenset[str]
    reads_scores: bool
    any_segment: bool


_NONE = Dependencies(frozenset(), frozenset(), False, False)
_deps_cache: dict[int, tuple[tuple[Any, ...], Dependencies]] = {}
_filter_cache: dict[tuple[int, Any], Filter] = {}


def dependencies_of(flt: Filter) -> dict[str, Any]:
    return {"fields": sorted(flt.fields), "event_types": sorted(flt.event_types), "windowed": flt.windowed,
            "enters_by_time": flt.enters_by_time}


def workspace_dependencies(session: Session, workspace_id: int) -> Dependencies:
    """What the workspace's dynamic segments read, cached until a segment is created, changed or deleted."""
    dynamic = (Segment.workspace_id == workspace_id, Segment.kind == "dynamic")
    stamp = tuple(session.execute(select(func.count(), func.max(Segment.id), func.max(Segment.updated_at))
                                  .where(*dynamic)).one())
    cached = _deps_cache.get(workspace_id)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    fields: set[str] = set()
    types: set[str] = set()
    for (deps,) in session.execute(select(Segment.dependencies).where(*dynamic)):
        fields.update((deps or {}).get("fields", ()))
        types.update((deps or {}).get("event_types", ()))
    result = Dependencies(frozenset(fields), frozenset(types), bool(fields & SCORE_FIELDS), stamp[0] > 0)
    _deps_cache[workspace_id] = (stamp, result)
    return result


def mark_dirty(session: Session, workspace_id: int, lead_ids: Iterable[int], *, now: datetime) -> int:
    """Queue these leads for a re-check at `now` (an earlier due time already queued wins)."""
    rows = [{"workspace_id": workspace_id, "lead_id": lead_id, "due_at": now} for lead_id in sorted(set(lead_ids))]
    if not rows:
        return 0
    for start in range(0, len(rows), 5000):
        _upsert_dirty(session, rows[start:start + 5000])
    return len(rows)


def _upsert_dirty(session: Session, rows: list[dict[str, Any]]) -> None:
    if session.get_bind().dialect.name == "postgresql":
        pg = postgresql.insert(_DIRTY)
        stmt: Any = pg.on_conflict_do_update(index_elements=["workspace_id", "lead_id"],
                                             set_={"due_at": func.least(_DIRTY.c.due_at, pg.excluded.due_at)})
    else:
        lite = sqlite.insert(_DIRTY)
        stmt = lite.on_conflict_do_update(index_elements=["workspace_id", "lead_id"],
                                          set_={"due_at": func.min(_DIRTY.c.due_at, lite.excluded.due_at)})
    session.execute(stmt, rows)


def mark_event_leads(session: Session, workspace_id: int, lead_event_types: Iterable[tuple[int | None, str]],
                     *, now: datetime) -> int:
    """After events are recorded: the leads whose new events some segment reads (or all of them, when a
    segment reads scores, which the events just moved)."""
    deps = workspace_dependencies(session, workspace_id)
    if not deps.any_segment:
        return 0
    leads = {lead_id for lead_id, event_type in lead_event_types
             if lead_id is not None and (deps.reads_scores or event_type in deps.event_types)}
    return mark_dirty(session, workspace_id, leads, now=now)


COMPANY_FIELDS = frozenset(f for f in FIELDS if f.startswith("company.")) | {"company_id"}
_TOUCH_FIELDS = frozenset({"first_channel", "first_campaign", "last_channel", "last_non_direct_channel",
                           "last_non_direct_campaign", "first_touch_at", "last_touch_at"})


def input_fields(data: LeadInput) -> set[str]:
    """The filter fields a lead input may change: the ones it gives, plus scores (fit moves with the profile)
    and `updated_at`."""
    fields = {name for name, value in data.profile_fields().items() if value is not None}
    fields |= {f"custom.{key}" for key in data.custom or {}}
    fields |= SCORE_FIELDS | {"updated_at", "created_at"}
    if data.company is not None or data.email:
        fields |= COMPANY_FIELDS
    if data.consent is not None:
        fields |= {"unsubscribed", "consent_email"}
    if not data.source.is_empty():
        fields |= _TOUCH_FIELDS
    return fields


def mark_lead_fields(session: Session, workspace_id: int, lead_ids: Iterable[int], fields: Iterable[str] | None,
                     *, now: datetime) -> int:
    """After lead fields changed (`fields` None: any of them, e.g. a merge)."""
    deps = workspace_dependencies(session, workspace_id)
    if not deps.any_segment:
        return 0
    if fields is not None and not (set(fields) & deps.fields):
        return 0
    return mark_dirty(session, workspace_id, lead_ids, now=now)


def mark_imported(session: Session, workspace_id: int, inputs: Sequence[LeadInput], *, now: datetime) -> int:
    """After a chunk of an import: the leads it named, when some segment reads a field it gives."""
    deps = workspace_dependencies(session, workspace_id)
    if not deps.any_segment or not inputs or not set().union(*map(input_fields, inputs)) & deps.fields:
        return 0
    emails = [d.email for d in inputs if d.email]
    phones = [d.phone for d in inputs if not d.email and d.phone]
    ids = session.scalars(select(Lead.id).where(Lead.workspace_id == workspace_id, or_(
        Lead.email.in_(emails), and_(Lead.email.is_(None), Lead.phone.in_(phones)))))
    return mark_dirty(session, workspace_id, ids, now=now)


@outbox.consumer("segments-stage", "lead.stage_changed")
def on_stage_changed(session: Session, messages: Sequence[OutboxMessage], now: datetime) -> None:
    by_workspace: dict[int, set[int]] = {}
    for message in messages:
        if message.lead_id is not None:
            by_workspace.setdefault(message.workspace_id, set()).add(message.lead_id)
    for workspace_id, leads in by_workspace.items():
        mark_lead_fields(session, workspace_id, leads, ("stage", "status"), now=now)


# -- re-checking -------------------------------------------------------------------------------------------------
def parsed(segment: Segment) -> Filter:
    key = (segment.id, segment.updated_at)
    flt = _filter_cache.get(key)
    if flt is None:
        flt = _filter_cache[key] = parse_filter(segment.filter)
        if len(_filter_cache) > 10_000:
            _filter_cache.clear()
    return flt


def _next_changes(session: Session, flt: Filter, workspace_id: int, lead_ids: list[int], now: datetime
                  ) -> dict[int, datetime]:
    """Per lead, the earliest moment one of its windowed counts drops (just after the oldest counted event
    leaves the window)."""
    dialect = session.get_bind().dialect.name
    found: dict[int, datetime] = {}
    for leaf in windowed_leaves(flt.root):
        assert leaf.within_days is not None
        span = timedelta(days=leaf.within_days, microseconds=1)
        query = window_starts(leaf, workspace_id=workspace_id, now=now, dialect=dialect, lead_ids=lead_ids)
        for lead_id, oldest in session.execute(query):
            if oldest is not None:
                moment = oldest + span
                found[lead_id] = min(moment, found.get(lead_id, moment))
    return found


def recheck_segment(session: Session, segment: Segment, lead_ids: list[int], now: datetime) -> tuple[int, int]:
    """Bring one segment's memberships of these leads up to date; returns (entered, left)."""
    flt = parsed(segment)
    dialect = session.get_bind().dialect.name
    ws = segment.workspace_id
    members = set(session.scalars(matching_leads(flt, workspace_id=ws, now=now, dialect=dialect, mode="probe",
                                                 lead_ids=lead_ids)))
    current = set(session.scalars(select(SegmentMembership.lead_id).where(
        SegmentMembership.segment_id == segment.id, SegmentMembership.lead_id.in_(lead_ids))))
    entered, left = sorted(members - current), sorted(current - members)
    changes = _next_changes(session, flt, ws, lead_ids, now) if flt.windowed else {}
    if left:
        session.execute(delete(SegmentMembership).where(SegmentMembership.segment_id == segment.id,
                                                        SegmentMembership.lead_id.in_(left)))
    if entered:
        session.execute(insert(_MEMBERS), [
            {"segment_id": segment.id, "lead_id": lead_id, "workspace_id": ws, "entered_at": now,
             "expires_at": changes.get(lead_id)} for lead_id in entered])
    if flt.windowed:
        staying = sorted(members & current)
        if staying:
            by_lead = (update(_MEMBERS)
                       .where(_MEMBERS.c.segment_id == segment.id, _MEMBERS.c.lead_id == bindparam("lead"))
                       .values(expires_at=bindparam("expires", type_=UTCDateTime)))
            session.execute(by_lead, [{"lead": lead_id, "expires": changes.get(lead_id)} for lead_id in staying])
        if flt.enters_by_time:
            later = [{"workspace_id": ws, "lead_id": lead_id, "due_at": at}
                     for lead_id, at in sorted(changes.items()) if lead_id not in members]
            if later:
                _upsert_dirty(session, later)
    payload = {"segment_id": str(segment.id)}
    outbox.emit_many(session, workspace_id=ws, topic=ENTERED, items=[(i, payload) for i in entered], now=now)
    outbox.emit_many(session, workspace_id=ws, topic=LEFT, items=[(i, payload) for i in left], now=now)
    return len(entered), len(left)


def recheck_leads(session: Session, workspace_id: int, lead_ids: Iterable[int], now: datetime) -> tuple[int, int]:
    """Re-check these leads against every dynamic segment of the workspace; returns (entered, left)."""
    ids = sorted(set(lead_ids))
    entered = left = 0
    if not ids:
        return 0, 0
    for segment in session.scalars(select(Segment).where(Segment.workspace_id == workspace_id,
                                                         Segment.kind == "dynamic").order_by(Segment.id)):
        e, gone = recheck_segment(session, segment, ids, now)
        entered, left = entered + e, left + gone
    return entered, left


def _take_due(session: Session, now: datetime) -> list[tuple[int, int]]:
    query = (select(SegmentDirtyLead.workspace_id, SegmentDirtyLead.lead_id)
             .where(SegmentDirtyLead.due_at <= now).order_by(SegmentDirtyLead.due_at).limit(BATCH))
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    rows = [(ws, lead) for ws, lead in session.execute(query)]
    by_ws: dict[int, list[int]] = {}
    for ws, lead in rows:
        by_ws.setdefault(ws, []).append(lead)
    for ws, leads in by_ws.items():
        # Only rows still due: a newer, later due time written meanwhile is kept.
        session.execute(delete(SegmentDirtyLead).where(SegmentDirtyLead.workspace_id == ws,
                                                       SegmentDirtyLead.lead_id.in_(leads),
                                                       SegmentDirtyLead.due_at <= now))
    return rows


def expire_memberships(session: Session, now: datetime) -> int:
    """Memberships whose window has passed become dirty leads (re-checked at once)."""
    due = session.execute(select(SegmentMembership.workspace_id, SegmentMembership.lead_id)
                          .where(SegmentMembership.expires_at <= now).distinct().limit(BATCH * 10)).all()
    by_ws: dict[int, set[int]] = {}
    for ws, lead in due:
        by_ws.setdefault(ws, set()).add(lead)
    for ws, leads in by_ws.items():
        mark_dirty(session, ws, leads, now=now)
        # Not due again until the re-check sets a new expiry (it rewrites expires_at of every staying member).
        session.execute(update(SegmentMembership).where(SegmentMembership.workspace_id == ws,
                                                        SegmentMembership.lead_id.in_(leads),
                                                        SegmentMembership.expires_at <= now)
                        .values(expires_at=None))
    return len(due)


def recheck_due(db: Database, now: datetime) -> int:
    """The worker's job: expired memberships, then due dirty leads, in batches of `BATCH` leads, each batch
    in its own short write transaction; returns how many leads were re-checked."""
    with db.read() as session:  # the usual case, nothing due, costs two index probes and no write lock
        expired = session.scalar(select(SegmentMembership.lead_id).where(SegmentMembership.expires_at <= now)
                                 .limit(1))
        dirty = session.scalar(select(SegmentDirtyLead.lead_id).where(SegmentDirtyLead.due_at <= now).limit(1))
    if expired is None and dirty is None:
        return 0
    if expired is not None:
        with db.write() as session:
            expire_memberships(session, now)
    total = 0
    for _ in range(MAX_BATCHES_PER_RUN):
        with db.write() as session:
            rows = _take_due(session, now)
            by_ws: dict[int, list[int]] = {}
            for ws, lead in rows:
                by_ws.setdefault(ws, []).append(lead)
            for ws, leads in by_ws.items():
                recheck_leads(session, ws, leads, now)
        total += len(rows)
        if len(rows) < BATCH:
            break
    return total


def rebuild(session: Session, segment: Segment, flt: Filter, now: datetime) -> None:
    """Set-based (re)build of a dynamic segment's memberships after it is created or its filter changes: leads
    that no longer match leave, new ones enter, quietly (triggers fire for changes from now on). Windowed
    memberships are made due at once so the worker computes their exact expiry in batches."""
    dialect = session.get_bind().dialect.name
    ws = segment.workspace_id
    matching = matching_leads(flt, workspace_id=ws, now=now, dialect=dialect, mode="scan")
    session.execute(delete(SegmentMembership).where(SegmentMembership.segment_id == segment.id,
                                                    SegmentMembership.lead_id.not_in(matching)))
    ids = matching.subquery()
    existing = select(SegmentMembership.lead_id).where(SegmentMembership.segment_id == segment.id)
    source = select(literal(segment.id), ids.c.id, literal(ws), literal(now, UTCDateTime),
                    literal(now if flt.windowed else None, UTCDateTime)).where(ids.c.id.not_in(existing))
    session.execute(insert(_MEMBERS).from_select(
        ["segment_id", "lead_id", "workspace_id", "entered_at", "expires_at"], source))
    if flt.windowed:
        session.execute(update(SegmentMembership).where(SegmentMembership.segment_id == segment.id)
                        .values(expires_at=now))
    if flt.enters_by_time:
        _dirty_window_leads(session, flt, ws, now)


def _dirty_window_leads(session: Session, flt: Filter, workspace_id: int, now: datetime) -> None:
    """Leads with events inside a negated window: each may enter when those events age out."""
    compiler = SegmentCompiler(workspace_id=workspace_id, now=now, dialect=session.get_bind().dialect.name,
                               mode="scan")
    for leaf in windowed_leaves(flt.root):
        leads = session.scalars(select(EVENTS.c.lead_id).where(compiler.event_match(leaf),
                                                               EVENTS.c.lead_id.is_not(None)).distinct())
        mark_dirty(session, workspace_id, leads, now=now)
