"""Segments: saved filters (dynamic), static lists and personas; counts (saved or ad hoc) and members.

A filter is a `leadline-filter/1` JSON document or the text syntax (README, "Segments"); a bad one is a 422
whose `fields[0].field` is the path to the bad node (`filter.where.all[1].in[0]`) and `reason` says why.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from leadline.api.deps import Reader, ReadSession, Writer, WriteSession, parse_id
from leadline.services.segments import catalog
from leadline.storage.tables import Segment

router = APIRouter(prefix="/api/v1/segments", tags=["segments"])

FilterIn = Annotated[dict[str, Any] | str, Field(description=(
    'A `{"format": "leadline-filter/1", "where": {...}}` document, or the same filter in the text syntax, e.g. '
    '`did page_view where path starts_with "/pricing" at least 2 times in the last 14 days and stage != customer`'),
    max_length=20_000)]


class PersonaIn(BaseModel):
    description: str = Field(min_length=1, max_length=5000, description="Who this persona is (the fit profile)")
    traits: dict[str, Any] = Field(default_factory=dict, description="Free-form profile details")


class SegmentIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    kind: str = Field("dynamic", pattern="^(dynamic|static)$", description="dynamic (a filter) or static (a list)")
    filter: FilterIn | None = None
    description: str | None = Field(None, max_length=5000)
    persona: PersonaIn | None = Field(None, description="Makes this segment a persona")


class SegmentPatch(BaseModel):
    name: str | None = Field(None, min_length=1, max_length=200)
    filter: FilterIn | None = None
    description: str | None = Field(None, max_length=5000)
    persona: PersonaIn | None = None
    clear_persona: bool = False


class SegmentOut(BaseModel):
    id: str
    name: str
    kind: str
    filter: dict[str, Any] | None = Field(description="The filter as a normalised JSON document")
    description: str | None
    persona: dict[str, Any] | None
    reads: dict[str, Any] | None = Field(description="Fields and event types the filter reads; windowed or not")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, s: Segment) -> SegmentOut:
        return cls(id=str(s.id), name=s.name, kind=s.kind, filter=s.filter, description=s.description,
                   persona=s.persona, reads=s.dependencies, created_at=s.created_at, updated_at=s.updated_at)


class SegmentList(BaseModel):
    data: list[SegmentOut]


class CountOut(BaseModel):
    count: int


class CountIn(BaseModel):
    filter: FilterIn


class MemberOut(BaseModel):
    lead_id: str
    email: str | None
    stage: str
    score: float
    entered_at: datetime
    expires_at: datetime | None = Field(description="When a time window lets the lead go, with no new event")


class MemberPage(BaseModel):
    data: list[MemberOut]
    next_cursor: str | None


class LeadIds(BaseModel):
    lead_ids: list[Annotated[str, Field(max_length=20)]] = Field(min_length=1, max_length=10_000)


class ChangedOut(BaseModel):
    changed: int


def _lead_ids(body: LeadIds) -> list[int]:
    return [parse_id(value) for value in body.lead_ids]


@router.post("", response_model=SegmentOut, status_code=201)
def create(body: SegmentIn, principal: Writer, session: WriteSession) -> SegmentOut:
    segment = catalog.create_segment(session, principal.workspace_id, name=body.name, kind=body.kind,
                                     filter=body.filter, description=body.description,
                                     persona=body.persona.model_dump() if body.persona else None)
    return SegmentOut.of(segment)


@router.get("", response_model=SegmentList)
def list_all(principal: Reader, session: ReadSession,
             personas: Annotated[bool, Query(description="Only personas")] = False) -> SegmentList:
    return SegmentList(data=[SegmentOut.of(s) for s in catalog.list_segments(session, principal.workspace_id,
                                                                             personas_only=personas)])


@router.post("/count", response_model=CountOut)
def count_adhoc(body: CountIn, principal: Reader, session: ReadSession) -> CountOut:
    """Count the leads meeting a filter now, without saving it."""
    flt = catalog.parse_or_invalid(body.filter)
    return CountOut(count=catalog.count_filter(session, principal.workspace_id, flt))


@router.get("/{segment_id}", response_model=SegmentOut)
def read(segment_id: str, principal: Reader, session: ReadSession) -> SegmentOut:
    return SegmentOut.of(catalog.get_segment(session, principal.workspace_id, parse_id(segment_id, "segment")))


@router.patch("/{segment_id}", response_model=SegmentOut)
def patch(segment_id: str, body: SegmentPatch, principal: Writer, session: WriteSession) -> SegmentOut:
    change = catalog.SegmentChange(name=body.name, filter=body.filter, description=body.description,
                                   persona=body.persona.model_dump() if body.persona else None,
                                   clear_persona=body.clear_persona)
    return SegmentOut.of(catalog.update_segment(session, principal.workspace_id, parse_id(segment_id, "segment"),
                                                change))


@router.delete("/{segment_id}", status_code=204)
def remove(segment_id: str, principal: Writer, session: WriteSession) -> Response:
    catalog.delete_segment(session, principal.workspace_id, parse_id(segment_id, "segment"))
    return Response(status_code=204)


@router.get("/{segment_id}/count", response_model=CountOut)
def count(segment_id: str, principal: Reader, session: ReadSession) -> CountOut:
    """A dynamic segment is counted live (exact now); a static list counts its members."""
    return CountOut(count=catalog.count_segment(session, principal.workspace_id, parse_id(segment_id, "segment")))


@router.get("/{segment_id}/members", response_model=MemberPage)
def members(segment_id: str, principal: Reader, session: ReadSession,
            limit: Annotated[int, Query(ge=1, le=200)] = 50,
            cursor: Annotated[str | None, Query(max_length=100)] = None) -> MemberPage:
    """The stored members (kept up to date within seconds of a change), newest lead first."""
    rows, next_cursor = catalog.list_members(session, principal.workspace_id, parse_id(segment_id, "segment"),
                                             limit=limit, cursor=cursor)
    return MemberPage(data=[MemberOut(lead_id=str(m.lead.id), email=m.lead.email, stage=m.lead.stage,
                                      score=m.lead.score, entered_at=m.entered_at, expires_at=m.expires_at)
                            for m in rows], next_cursor=next_cursor)


@router.post("/{segment_id}/members", response_model=ChangedOut)
def add(segment_id: str, body: LeadIds, principal: Writer, session: WriteSession) -> ChangedOut:
    """Add leads to a static list (409 for a dynamic segment)."""
    return ChangedOut(changed=catalog.add_members(session, principal.workspace_id, parse_id(segment_id, "segment"),
                                                  _lead_ids(body)))


@router.post("/{segment_id}/members/remove", response_model=ChangedOut)
def remove_some(segment_id: str, body: LeadIds, principal: Writer, session: WriteSession) -> ChangedOut:
    """Remove leads from a static list."""
    return ChangedOut(changed=catalog.remove_members(session, principal.workspace_id,
                                                     parse_id(segment_id, "segment"), _lead_ids(body)))
