"""Companies and campaigns: plain CRUD, scoped to the caller's workspace."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from leadline.api.deps import Reader, ReadSession, Writer, WriteSession, parse_id
from leadline.api.schemas import CampaignIn, CampaignPatch, CompanyIn, Page, to_raw
from leadline.core.lead_input import CompanyInput, InvalidLeadInput, build_lead_input
from leadline.services import campaigns, companies
from leadline.services.views import CampaignView, CompanyView

router = APIRouter(prefix="/api/v1", tags=["companies", "campaigns"])

Limit = Annotated[int, Query(ge=1, le=200)]
After = Annotated[str | None, Query(max_length=20, pattern="^[0-9]{1,18}$", description="Last id of the page")]


def _company_input(body: CompanyIn) -> CompanyInput:
    parsed = build_lead_input({"company": to_raw(body)}, require_identity=False).company
    if parsed is None:
        raise InvalidLeadInput([])
    return parsed


def _company_changes(body: CompanyIn) -> dict[str, Any]:
    given = body.model_dump(exclude_unset=True)
    parsed = build_lead_input({"company": to_raw(body)}, require_identity=False).company or CompanyInput()
    return {name: getattr(parsed, name) for name in given}


@router.post("/companies", response_model=CompanyView, status_code=201)
def create_company(body: CompanyIn, principal: Writer, session: WriteSession) -> CompanyView:
    return CompanyView.of(companies.create_company(session, principal.workspace_id, _company_input(body)))


@router.get("/companies", response_model=Page)
def list_companies(principal: Reader, session: ReadSession, limit: Limit = 50, after: After = None,
                   domain: Annotated[str | None, Query(max_length=253)] = None) -> Page:
    rows = companies.list_companies(session, principal.workspace_id, after_id=int(after) if after else None,
                                    limit=limit, domain=domain)
    return Page(data=[CompanyView.of(c) for c in rows], next_cursor=str(rows[-1].id) if len(rows) == limit else None)


@router.get("/companies/{company_id}", response_model=CompanyView)
def read_company(company_id: str, principal: Reader, session: ReadSession) -> CompanyView:
    return CompanyView.of(companies.get_company(session, principal.workspace_id, parse_id(company_id, "company")))


@router.patch("/companies/{company_id}", response_model=CompanyView)
def update_company(company_id: str, body: CompanyIn, principal: Writer, session: WriteSession) -> CompanyView:
    return CompanyView.of(companies.update_company(session, principal.workspace_id,
                                                   parse_id(company_id, "company"), _company_changes(body)))


@router.delete("/companies/{company_id}", status_code=204, response_class=Response)
def delete_company(company_id: str, principal: Writer, session: WriteSession) -> Response:
    companies.delete_company(session, principal.workspace_id, parse_id(company_id, "company"))
    return Response(status_code=204)


@router.post("/campaigns", response_model=CampaignView, status_code=201)
def create_campaign(body: CampaignIn, principal: Writer, session: WriteSession) -> CampaignView:
    return CampaignView.of(campaigns.create_campaign(session, principal.workspace_id, body.model_dump()))


@router.get("/campaigns", response_model=Page)
def list_campaigns(principal: Reader, session: ReadSession, limit: Limit = 50, after: After = None) -> Page:
    rows = campaigns.list_campaigns(session, principal.workspace_id, after_id=int(after) if after else None,
                                    limit=limit)
    return Page(data=[CampaignView.of(c) for c in rows], next_cursor=str(rows[-1].id) if len(rows) == limit else None)


@router.get("/campaigns/{campaign_id}", response_model=CampaignView)
def read_campaign(campaign_id: str, principal: Reader, session: ReadSession) -> CampaignView:
    return CampaignView.of(campaigns.get_campaign(session, principal.workspace_id, parse_id(campaign_id, "campaign")))


@router.patch("/campaigns/{campaign_id}", response_model=CampaignView)
def update_campaign(campaign_id: str, body: CampaignPatch, principal: Writer, session: WriteSession) -> CampaignView:
    return CampaignView.of(campaigns.update_campaign(session, principal.workspace_id,
                                                     parse_id(campaign_id, "campaign"),
                                                     body.model_dump(exclude_unset=True)))


@router.delete("/campaigns/{campaign_id}", status_code=204, response_class=Response)
def delete_campaign(campaign_id: str, principal: Writer, session: WriteSession) -> Response:
    campaigns.delete_campaign(session, principal.workspace_id, parse_id(campaign_id, "campaign"))
    return Response(status_code=204)
