"""Identity: identify anonymous visitors, merge and unmerge leads, list duplicate candidates."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from leadline.api.deps import Reader, ReadSession, Writer, WriteSession, parse_id, workspace_of
from leadline.api.schemas import IdentifyIn, MergeIn, to_raw
from leadline.core.lead_input import FieldProblem, build_lead_input
from leadline.services.errors import Invalid
from leadline.services.identity import (
    duplicate_candidates,
    identify_visitor,
    leads_with_companies,
    merge_leads,
    unmerge,
)
from leadline.services.leads import WriteMode, company_of, follow_merges, get_lead, upsert_lead
from leadline.services.views import LeadView

router = APIRouter(prefix="/api/v1", tags=["identity"])


class IdentifyOut(BaseModel):
    lead: LeadView
    created: bool
    attached_events: int


class MergeOut(BaseModel):
    merge_id: str
    survivor: LeadView
    merged_id: str


class UnmergeOut(BaseModel):
    merge_id: str
    survivor: LeadView
    restored: LeadView


class DuplicateOut(BaseModel):
    lead: LeadView
    other: LeadView
    score: int
    reasons: list[str]


class DuplicatesOut(BaseModel):
    data: list[DuplicateOut]


@router.post("/identify", response_model=IdentifyOut)
def identify(body: IdentifyIn, principal: Writer, session: WriteSession) -> IdentifyOut:
    """Tie an anonymous visitor to a lead: by `lead_id`, or by `email` (the lead is created, or its empty fields
    completed from `lead`). The visitor's past events join the lead and may set its first touch."""
    workspace = workspace_of(session, principal)
    email = body.email or (body.lead.email if body.lead is not None else None)
    if body.lead_id is not None:
        if email or body.lead is not None:
            raise Invalid([FieldProblem("lead_id", "give either lead_id, or an email with lead fields")])
        lead = get_lead(session, workspace.id, parse_id(body.lead_id))
        created = False
    elif email:
        raw = to_raw(body.lead) if body.lead is not None else {}
        raw["email"] = email
        data = build_lead_input(raw, default_country=workspace.default_country)
        result = upsert_lead(session, workspace.id, data, mode=WriteMode.FILL_EMPTY)
        lead, created = result.lead, result.created
    else:
        raise Invalid([FieldProblem("email", "identify needs an email or a lead_id")])
    attached = identify_visitor(session, workspace.id, body.anonymous_id, lead.id)
    lead = follow_merges(session, workspace.id, lead)
    return IdentifyOut(lead=LeadView.of(lead, company_of(session, lead)), created=created, attached_events=attached)


@router.post("/leads/{lead_id}/merge", response_model=MergeOut)
def merge(lead_id: str, body: MergeIn, principal: Writer, session: WriteSession) -> MergeOut:
    """Merge `other_id` into this lead. The other lead is kept (marked merged) so the merge can be undone."""
    result = merge_leads(session, principal.workspace_id, parse_id(lead_id), parse_id(body.other_id),
                         actor=principal.actor)
    survivor = get_lead(session, principal.workspace_id, result.survivor_id)
    return MergeOut(merge_id=str(result.id), survivor=LeadView.of(survivor, company_of(session, survivor)),
                    merged_id=str(result.merged_id))


@router.post("/merges/{merge_id}/undo", response_model=UnmergeOut)
def undo_merge(merge_id: str, principal: Writer, session: WriteSession) -> UnmergeOut:
    """Undo a merge: both leads get their own fields and events back."""
    merge_number = parse_id(merge_id, "merge")
    survivor, restored = unmerge(session, principal.workspace_id, merge_number, actor=principal.actor)
    return UnmergeOut(merge_id=str(merge_number), survivor=LeadView.of(survivor, company_of(session, survivor)),
                      restored=LeadView.of(restored, company_of(session, restored)))


@router.get("/duplicates", response_model=DuplicatesOut)
def list_duplicates(
    principal: Reader, session: ReadSession,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    min_score: Annotated[int, Query(ge=50, le=100, description="Lowest score (0-100) to list")] = 85,
) -> DuplicatesOut:
    """Pairs of leads that are probably one person, best first, with the reasons."""
    candidates = duplicate_candidates(session, principal.workspace_id, limit=limit, min_score=min_score)
    leads = leads_with_companies(session, principal.workspace_id,
                                 [i for c in candidates for i in (c.lead_id, c.other_id)])
    data = [DuplicateOut(lead=LeadView.of(*leads[c.lead_id]), other=LeadView.of(*leads[c.other_id]),
                         score=c.score, reasons=list(c.reasons))
            for c in candidates]
    return DuplicatesOut(data=data)
