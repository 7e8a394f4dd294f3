"""Saved segments: create, change, delete, list; counts and members; static lists; personas."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from leadline.core.lead_input import FieldProblem
from leadline.core.segments import Filter, FilterError, parse_any
from leadline.services import outbox
from leadline.services.errors import Conflict, Invalid, NotFound
from leadline.services.leads import decode_cursor, encode_cursor
from leadline.services.segments.membership import ENTERED, LEFT, dependencies_of, rebuild
from leadline.storage.segment_sql import count_query
from leadline.storage.tables import Lead, Segment, SegmentMembership
from leadline.storage.types import utcnow

KINDS = ("dynamic", "static")
MAX_NAME = 200
MAX_STATIC_BATCH = 10_000


@dataclass(frozen=True, slots=True)
class SegmentInfo:
    id: int
    name: str
    kind: str
    filter: dict[str, Any] | None
    description: str | None
    persona: dict[str, Any] | None
    dependencies: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, s: Segment) -> SegmentInfo:
        return cls(s.id, s.name, s.kind, s.filter, s.description, s.persona, s.dependencies, s.created_at,
                   s.updated_at)


@dataclass(frozen=True, slots=True)
class SegmentChange:
    """What to change; None leaves a value as it is (`clear_*` empties an optional one)."""

    name: str | None = None
    filter: str | Mapping[str, Any] | None = None
    description: str | None = None
    persona: dict[str, Any] | None = None
    clear_persona: bool = False


def parse_or_invalid(source: str | Mapping[str, Any], field: str = "filter") -> Filter:
    """Parse a filter; a bad one is an `Invalid` naming the node (`filter.where.all[1].in`) and the reason."""
    try:
        return parse_any(source)
    except FilterError as exc:
        if exc.where.startswith("column "):  # a syntax error in the text form: where in the text
            raise Invalid([FieldProblem(field, f"{exc.where}: {exc.reason}")]) from None
        where = f"{field}.{exc.where}" if exc.where else field
        raise Invalid([FieldProblem(where, exc.reason)]) from None


def _check_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > MAX_NAME:
        raise Invalid([FieldProblem("name", f"expected 1 to {MAX_NAME} characters")])
    return name


def _check_persona(persona: dict[str, Any] | None) -> dict[str, Any] | None:
    if persona is None:
        return None
    description = persona.get("description")
    if not isinstance(description, str) or not description.strip():
        raise Invalid([FieldProblem("persona.description", "a persona needs a description of its fit profile")])
    return persona


def _flush_unique(session: Session, name: str) -> None:
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise Conflict(f"a segment named {name!r} already exists", field="name") from None


def create_segment(session: Session, workspace_id: int, *, name: str, kind: str = "dynamic",
                   filter: str | Mapping[str, Any] | None = None, description: str | None = None,
                   persona: dict[str, Any] | None = None, now: datetime | None = None) -> Segment:
    """A dynamic segment needs a filter (its members are built at once, set-based, without triggers); a static
    list has none (members are added by hand)."""
    now = now or utcnow()
    if kind not in KINDS:
        raise Invalid([FieldProblem("kind", f"expected one of {', '.join(KINDS)}")])
    flt = None
    if kind == "dynamic":
        if filter is None:
            raise Invalid([FieldProblem("filter", "a dynamic segment needs a filter")])
        flt = parse_or_invalid(filter)
    elif filter is not None:
        raise Invalid([FieldProblem("filter", "a static list has no filter; add members instead")])
    segment = Segment(workspace_id=workspace_id, name=_check_name(name), kind=kind,
                      filter=flt.to_document() if flt else None, description=description,
                      persona=_check_persona(persona), dependencies=dependencies_of(flt) if flt else None,
                      created_at=now, updated_at=now)
    session.add(segment)
    _flush_unique(session, segment.name)
    if flt is not None:
        rebuild(session, segment, flt, now)
    return segment


def get_segment(session: Session, workspace_id: int, segment_id: int) -> Segment:
    segment = session.scalar(select(Segment).where(Segment.workspace_id == workspace_id, Segment.id == segment_id))
    if segment is None:
        raise NotFound("segment not found")
    return segment


def find_segment(session: Session, workspace_id: int, ref: str) -> Segment:
    """By id or by name (for the CLI)."""
    if ref.isdigit() and len(ref) < 19:
        found = session.scalar(select(Segment).where(Segment.workspace_id == workspace_id, Segment.id == int(ref)))
        if found is not None:
            return found
    found = session.scalar(select(Segment).where(Segment.workspace_id == workspace_id, Segment.name == ref))
    if found is None:
        raise NotFound(f"no segment {ref!r}")
    return found


def update_segment(session: Session, workspace_id: int, segment_id: int, change: SegmentChange,
                   *, now: datetime | None = None) -> Segment:
    now = now or utcnow()
    segment = get_segment(session, workspace_id, segment_id)
    if change.name is not None:
        segment.name = _check_name(change.name)
    if change.description is not None:
        segment.description = change.description
    if change.clear_persona:
        segment.persona = None
    elif change.persona is not None:
        segment.persona = _check_persona(change.persona)
    flt = None
    if change.filter is not None:
        if segment.kind != "dynamic":
            raise Invalid([FieldProblem("filter", "a static list has no filter")])
        flt = parse_or_invalid(change.filter)
        segment.filter, segment.dependencies = flt.to_document(), dependencies_of(flt)
    segment.updated_at = now
    _flush_unique(session, segment.name)
    if flt is not None:
        rebuild(session, segment, flt, now)
    return segment


def delete_segment(session: Session, workspace_id: int, segment_id: int) -> None:
    """Its members leave it (`segment.left`, so workflows and webhooks that follow the segment hear of it)."""
    segment = get_segment(session, workspace_id, segment_id)
    members = session.scalars(delete(SegmentMembership).where(SegmentMembership.segment_id == segment.id)
                              .returning(SegmentMembership.lead_id)).all()
    payload = {"segment_id": str(segment.id), "deleted": True}
    outbox.emit_many(session, workspace_id=workspace_id, topic=LEFT,
                     items=[(lead_id, payload) for lead_id in sorted(members)])
    session.delete(segment)
    session.flush()


def list_segments(session: Session, workspace_id: int, *, personas_only: bool = False) -> list[Segment]:
    query = select(Segment).where(Segment.workspace_id == workspace_id)
    if personas_only:
        query = query.where(Segment.persona.is_not(None))
    return list(session.scalars(query.order_by(Segment.name)))


def count_filter(session: Session, workspace_id: int, flt: Filter, *, now: datetime | None = None) -> int:
    """Leads meeting the filter now, evaluated on demand (one SQL statement)."""
    query = count_query(flt, workspace_id=workspace_id, now=now or utcnow(), dialect=session.get_bind().dialect.name)
    return int(session.scalar(query) or 0)


def count_segment(session: Session, workspace_id: int, segment_id: int, *, now: datetime | None = None) -> int:
    """A dynamic segment is counted live (exact now); a static list counts its members."""
    segment = get_segment(session, workspace_id, segment_id)
    if segment.kind == "dynamic" and segment.filter is not None:
        return count_filter(session, workspace_id, parse_or_invalid(segment.filter), now=now)
    return int(session.scalar(select(func.count()).select_from(SegmentMembership)
                              .where(SegmentMembership.segment_id == segment.id)) or 0)


@dataclass(frozen=True, slots=True)
class Member:
    lead: Lead
    entered_at: datetime
    expires_at: datetime | None


def list_members(session: Session, workspace_id: int, segment_id: int, *, limit: int, cursor: str | None = None
                 ) -> tuple[list[Member], str | None]:
    """The stored members (what triggers saw), newest lead first, keyset-paginated like leads."""
    segment = get_segment(session, workspace_id, segment_id)
    query = (select(Lead, SegmentMembership.entered_at, SegmentMembership.expires_at)
             .join(SegmentMembership, SegmentMembership.lead_id == Lead.id)
             .where(SegmentMembership.segment_id == segment.id, Lead.workspace_id == workspace_id))
    if cursor:
        query = query.where(Lead.id < decode_cursor(cursor))
    rows = session.execute(query.order_by(Lead.id.desc()).limit(limit + 1)).all()
    next_cursor = encode_cursor(rows[limit - 1][0].id) if len(rows) > limit else None
    return [Member(lead, entered, expires) for lead, entered, expires in rows[:limit]], next_cursor


def _static(session: Session, workspace_id: int, segment_id: int, lead_ids: Sequence[int]) -> Segment:
    segment = get_segment(session, workspace_id, segment_id)
    if segment.kind != "static":
        raise Conflict("members of a dynamic segment follow its filter; only static lists take members by hand")
    if len(lead_ids) > MAX_STATIC_BATCH:
        raise Invalid([FieldProblem("lead_ids", f"at most {MAX_STATIC_BATCH} leads per call")])
    return segment


def add_members(session: Session, workspace_id: int, segment_id: int, lead_ids: Sequence[int],
                *, now: datetime | None = None) -> int:
    """Add leads of this workspace (merged-away ones stand for their survivor's absence: refused) to a static
    list; unknown ids are an error, leads already in are skipped. Emits `segment.entered`; returns how many."""
    now = now or utcnow()
    segment = _static(session, workspace_id, segment_id, lead_ids)
    wanted = set(lead_ids)
    known = set(session.scalars(select(Lead.id).where(Lead.workspace_id == workspace_id, Lead.id.in_(wanted),
                                                      Lead.merged_into_id.is_(None))))
    if missing := sorted(wanted - known):
        shown = ", ".join(map(str, missing[:10]))
        raise Invalid([FieldProblem("lead_ids", f"no such lead in this workspace: {shown}")])
    present = set(session.scalars(select(SegmentMembership.lead_id).where(
        SegmentMembership.segment_id == segment.id, SegmentMembership.lead_id.in_(wanted))))
    new = sorted(wanted - present)
    if new:
        session.execute(insert(SegmentMembership), [
            {"segment_id": segment.id, "lead_id": i, "workspace_id": workspace_id, "entered_at": now,
             "expires_at": None} for i in new])
        outbox.emit_many(session, workspace_id=workspace_id, topic=ENTERED, now=now,
                         items=[(i, {"segment_id": str(segment.id)}) for i in new])
    return len(new)


def remove_members(session: Session, workspace_id: int, segment_id: int, lead_ids: Sequence[int],
                   *, now: datetime | None = None) -> int:
    now = now or utcnow()
    segment = _static(session, workspace_id, segment_id, lead_ids)
    present = sorted(set(session.scalars(select(SegmentMembership.lead_id).where(
        SegmentMembership.segment_id == segment.id, SegmentMembership.lead_id.in_(set(lead_ids))))))
    if present:
        session.execute(delete(SegmentMembership).where(SegmentMembership.segment_id == segment.id,
                                                        SegmentMembership.lead_id.in_(present)))
        outbox.emit_many(session, workspace_id=workspace_id, topic=LEFT, now=now,
                         items=[(i, {"segment_id": str(segment.id)}) for i in present])
    return len(present)
