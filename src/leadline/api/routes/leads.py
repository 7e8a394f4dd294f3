"""Leads: upsert by email, read one with its timeline, list with filters and cursor pagination."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from leadline.api.deps import Reader, ReadSession, Writer, WriteSession, parse_id, workspace_of
from leadline.api.schemas import AwareDatetime, LeadIn, Page, to_raw
from leadline.core.lead_input import build_lead_input
from leadline.core.leads import Stage, Temperature
from leadline.services import audit
from leadline.services.leads import (
    LeadFilter,
    WriteMode,
    company_of,
    get_lead,
    list_leads,
    timeline,
    update_lead,
    upsert_lead,
)
from leadline.services.views import LeadView

router = APIRouter(prefix="/api/v1/leads", tags=["leads"])


@router.post("", response_model=LeadView, status_code=201,
             responses={200: {"description": "An existing lead (same email) was updated", "model": LeadView}})
def create_or_update_lead(body: LeadIn, principal: Writer, session: WriteSession, response: Response) -> LeadView:
    workspace = workspace_of(session, principal)
    data = build_lead_input(to_raw(body), default_country=workspace.default_country)
    result = upsert_lead(session, workspace.id, data, mode=WriteMode.OVERWRITE)
    if not result.created:
        response.status_code = 200
    return LeadView.of(result.lead, company_of(session, result.lead))


@router.patch("/{lead_id}", response_model=LeadView)
def patch_lead(lead_id: str, body: LeadIn, principal: Writer, session: WriteSession) -> LeadView:
    workspace = workspace_of(session, principal)
    lead = get_lead(session, workspace.id, parse_id(lead_id))
    data = build_lead_input(to_raw(body), default_country=lead.country or workspace.default_country,
                            require_identity=False)
    lead = update_lead(session, workspace.id, lead.id, data)
    audit.record(session, workspace_id=workspace.id, actor=principal.actor, action=audit.AuditAction.LEAD_RECTIFIED,
                 target_type="lead", target_id=lead.id, detail={"fields": sorted(to_raw(body))})
    return LeadView.of(lead, company_of(session, lead))


@router.get("/{lead_id}", response_model=LeadView)
def read_lead(lead_id: str, principal: Reader, session: ReadSession,
              events: Annotated[int, Query(ge=0, le=500, description="How many recent events to include")] = 100,
              ) -> LeadView:
    lead = get_lead(session, principal.workspace_id, parse_id(lead_id))
    return LeadView.of(lead, company_of(session, lead), timeline(session, principal.workspace_id, lead.id,
                                                                 limit=events))


@router.get("", response_model=Page)
def search_leads(
    principal: Reader, session: ReadSession,
    email: Annotated[str | None, Query(max_length=320)] = None,
    stage: Stage | None = None,
    temperature: Temperature | None = None,
    owner_id: Annotated[str | None, Query(max_length=20, pattern="^[0-9]{1,18}$")] = None,
    score_min: Annotated[float | None, Query(ge=0, le=100)] = None,
    score_max: Annotated[float | None, Query(ge=0, le=100)] = None,
    q: Annotated[str | None, Query(max_length=200, description="Text search on email, names, company")] = None,
    channel: Annotated[str | None, Query(max_length=30)] = None,
    created_after: AwareDatetime | None = None,
    created_before: AwareDatetime | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=100)] = None,
) -> Page:
    filters = LeadFilter(
        email=email, stage=stage, temperature=temperature, owner_id=int(owner_id) if owner_id else None,
        score_min=score_min, score_max=score_max, q=q, channel=channel,
        created_after=created_after, created_before=created_before,
    )
    rows, next_cursor = list_leads(session, principal.workspace_id, filters, limit=limit, cursor=cursor)
    return Page(data=[LeadView.of(lead, company) for lead, company in rows], next_cursor=next_cursor)


