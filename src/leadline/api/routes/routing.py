"""Routing: the workspace's assignment rules, manual assignment, a lead's routing and the overdue list."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from leadline.api.deps import Admin, Reader, ReadSession, Writer, WriteSession, parse_id
from leadline.services.routing import assign_lead, overdue_leads, routing_info
from leadline.services.routing_rules import RuleOut, RulesIn, list_rules, replace_rules
from leadline.storage.tables import Assignment
from leadline.storage.types import utcnow

router = APIRouter(prefix="/api/v1", tags=["routing"])


def _id(value: int | None) -> str | None:
    return str(value) if value is not None else None


class RulesOut(BaseModel):
    rules: list[RuleOut]


class AssignIn(BaseModel):
    owner_id: str = Field(pattern=r"^[1-9][0-9]{0,17}$", description="The user who gets the lead")


class AssignmentOut(BaseModel):
    owner_id: str | None
    previous_owner_id: str | None
    rule: str | None
    reason: str
    at: datetime
    actor: str
    follow_up_due_at: datetime | None

    @classmethod
    def of(cls, row: Assignment) -> AssignmentOut:
        return cls(owner_id=_id(row.owner_id), previous_owner_id=_id(row.previous_owner_id), rule=row.rule,
                   reason=row.reason, at=row.at, actor=row.actor, follow_up_due_at=row.follow_up_due_at)


class RoutingOut(BaseModel):
    lead_id: str
    owner_id: str | None
    assigned_at: datetime | None
    follow_up_due_at: datetime | None
    overdue_at: datetime | None = Field(description="When the overdue job flagged the lead (null once reassigned)")
    overdue: bool = Field(description="Past its deadline with no sales touch since the assignment")
    first_sales_touch_at: datetime | None
    time_to_first_touch_seconds: float | None = Field(description="first_sales_touch_at - assigned_at")
    history: list[AssignmentOut] = Field(description="Assignments, newest first (up to 100)")


class OverdueOut(BaseModel):
    lead_id: str
    owner_id: str | None
    stage: str
    temperature: str
    assigned_at: datetime | None
    follow_up_due_at: datetime | None
    overdue_at: datetime | None
    minutes_late: float = Field(description="Real (not business) minutes since the deadline")


@router.get("/routing/rules", response_model=RulesOut)
def get_rules(principal: Reader, session: ReadSession) -> RulesOut:
    return RulesOut(rules=list_rules(session, workspace_id=principal.workspace_id))


@router.put("/routing/rules", response_model=RulesOut)
def put_rules(body: RulesIn, principal: Admin, session: WriteSession) -> RulesOut:
    """Replace the whole ordered list (the first rule that matches a lead routes it)."""
    return RulesOut(rules=replace_rules(session, workspace_id=principal.workspace_id, rules=body.rules,
                                        actor=principal.actor, now=utcnow()))


@router.post("/leads/{lead_id}/assign", response_model=RoutingOut)
def assign(lead_id: str, body: AssignIn, principal: Writer, session: WriteSession) -> RoutingOut:
    """Give the lead to a user by hand; recorded in its history with the API key as actor."""
    lead = assign_lead(session, workspace_id=principal.workspace_id, lead_id=parse_id(lead_id),
                       owner_id=int(body.owner_id),
                       now=utcnow(), actor=principal.actor)
    return _routing(session, principal.workspace_id, lead.id)


@router.get("/leads/{lead_id}/routing", response_model=RoutingOut)
def lead_routing(lead_id: str, principal: Reader, session: ReadSession) -> RoutingOut:
    return _routing(session, principal.workspace_id, parse_id(lead_id))


def _routing(session: ReadSession, workspace_id: int, lead_id: int) -> RoutingOut:
    info = routing_info(session, workspace_id=workspace_id, lead_id=lead_id)
    now = utcnow()
    overdue = (info.follow_up_due_at is not None and info.follow_up_due_at <= now
               and info.time_to_first_touch_seconds is None and info.owner_id is not None)
    return RoutingOut(lead_id=str(info.lead_id), owner_id=_id(info.owner_id), assigned_at=info.assigned_at,
                      follow_up_due_at=info.follow_up_due_at, overdue_at=info.overdue_at, overdue=overdue,
                      first_sales_touch_at=info.first_sales_touch_at,
                      time_to_first_touch_seconds=info.time_to_first_touch_seconds,
                      history=[AssignmentOut.of(row) for row in info.history])


@router.get("/routing/overdue", response_model=list[OverdueOut])
def overdue(principal: Reader, session: ReadSession,
            owner_id: Annotated[str | None, Query(pattern=r"^[1-9][0-9]{0,17}$")] = None,
            limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[OverdueOut]:
    """Leads past their follow-up deadline with no sales touch since they were assigned, oldest first."""
    now = utcnow()
    owner = int(owner_id) if owner_id is not None else None
    return [OverdueOut(lead_id=str(lead.id), owner_id=_id(lead.owner_id), stage=lead.stage,
                       temperature=lead.temperature, assigned_at=lead.assigned_at,
                       follow_up_due_at=lead.follow_up_due_at, overdue_at=lead.overdue_at,
                       minutes_late=round((now - lead.follow_up_due_at).total_seconds() / 60, 1)
                       if lead.follow_up_due_at else 0.0)
            for lead in overdue_leads(session, workspace_id=principal.workspace_id, now=now, owner_id=owner,
                                      limit=limit)]
