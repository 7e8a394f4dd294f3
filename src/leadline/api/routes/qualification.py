"""Qualification: stage moves and history, MQL review, BANT, sales status, activities, tasks and deals."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field, StringConstraints
from sqlalchemy import select
from sqlalchemy.orm import Session

from leadline.api.deps import Admin, Reader, ReadSession, Writer, WriteSession, parse_id, workspace_of
from leadline.api.schemas import AwareDatetime, Strict
from leadline.core.leads import Stage
from leadline.core.lifecycle import MQL_REJECT_REASONS, Actor, ActorType, LeadStatus
from leadline.core.qualification import ActivityKind, Authority, DealOutcome, Timeline
from leadline.services import activities, deals, lifecycle, qualification
from leadline.services.leads import company_of
from leadline.services.views import (
    ActivityView,
    DealView,
    LeadView,
    MqlReviewView,
    StageTransitionView,
    TaskView,
)
from leadline.services.workspaces import Principal
from leadline.storage.tables import Lead, MqlReview

router = APIRouter(prefix="/api/v1", tags=["qualification"])

ReasonCode = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,49}$")]
Note = Annotated[str, StringConstraints(max_length=2000)]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
Money = Annotated[Decimal, Field(ge=0, le=Decimal("999999999999.99"), decimal_places=2)]


def _actor(principal: Principal) -> Actor:
    return Actor(ActorType.API_KEY, str(principal.key_id))


def _lead_view(session: Session, lead: Lead) -> LeadView:
    return LeadView.of(lead, company_of(session, lead))


class StageIn(Strict):
    stage: Stage
    reason: Annotated[str, StringConstraints(max_length=200)] | None = Field(
        default=None, description="Required for disqualified and recycled: one of the workspace's reason codes")
    note: Note | None = None


class StageMoveOut(BaseModel):
    lead: LeadView
    transition: StageTransitionView


@router.post("/leads/{lead_id}/stage", response_model=StageMoveOut)
def move_stage(lead_id: str, body: StageIn, principal: Writer, session: WriteSession) -> StageMoveOut:
    """Move a lead to another stage; 409 with the reason when the move is not allowed."""
    workspace = workspace_of(session, principal)
    lead = lifecycle.locked_lead(session, workspace.id, parse_id(lead_id))
    transition = lifecycle.change_stage(session, workspace_id=workspace.id, lead=lead, to=body.stage,
                                        actor=_actor(principal), reason=body.reason, note=body.note)
    return StageMoveOut(lead=_lead_view(session, lead), transition=StageTransitionView.of(transition))


@router.get("/leads/{lead_id}/stages", response_model=list[StageTransitionView])
def stage_history(lead_id: str, principal: Reader, session: ReadSession) -> list[StageTransitionView]:
    workspace = workspace_of(session, principal)
    return [StageTransitionView.of(t) for t in
            lifecycle.stage_history(session, workspace_id=workspace.id, lead_id=parse_id(lead_id))]


class Decision(StrEnum):
    accepted = "accepted"
    rejected = "rejected"


class MqlReviewIn(Strict):
    decision: Decision
    reason: Annotated[str, StringConstraints(max_length=50)] | None = Field(
        default=None, description=f"Required to reject: one of {', '.join(MQL_REJECT_REASONS)}")
    note: Note | None = None


@router.post("/leads/{lead_id}/mql-review", response_model=MqlReviewView)
def review_mql(lead_id: str, body: MqlReviewIn, principal: Writer, session: WriteSession) -> MqlReviewView:
    """Sales accepts an MQL (it becomes SQL) or rejects it with a reason (back to nurturing, reported to
    marketing and to the scoring backtest)."""
    workspace = workspace_of(session, principal)
    review = lifecycle.review_mql(session, workspace_id=workspace.id, lead_id=parse_id(lead_id),
                                  accept=body.decision is Decision.accepted, actor=_actor(principal),
                                  reason=body.reason, note=body.note)
    return MqlReviewView.of(review)


@router.get("/qualification/mql-reviews", response_model=list[MqlReviewView])
def mql_reviews(principal: Reader, session: ReadSession, decision: Decision | None = None,
                limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[MqlReviewView]:
    """Sales' verdicts on MQLs, newest first: what marketing reads to tune scoring."""
    workspace = workspace_of(session, principal)
    query = select(MqlReview).where(MqlReview.workspace_id == workspace.id)
    if decision is not None:
        query = query.where(MqlReview.decision == decision.value)
    rows = session.scalars(query.order_by(MqlReview.reviewed_at.desc(), MqlReview.id.desc()).limit(limit))
    return [MqlReviewView.of(r) for r in rows]


class ReasonsIn(Strict):
    disqualify: Annotated[list[ReasonCode], Field(min_length=1, max_length=50)]
    recycle: Annotated[list[ReasonCode], Field(min_length=1, max_length=50)]


class ReasonsOut(BaseModel):
    disqualify: list[str]
    recycle: list[str]


@router.get("/qualification/reasons", response_model=ReasonsOut)
def get_reasons(principal: Reader, session: ReadSession) -> ReasonsOut:
    lists = lifecycle.reason_lists(session, workspace_of(session, principal).id)
    return ReasonsOut(disqualify=list(lists.disqualify), recycle=list(lists.recycle))


@router.put("/qualification/reasons", response_model=ReasonsOut)
def set_reasons(body: ReasonsIn, principal: Admin, session: WriteSession) -> ReasonsOut:
    """The workspace's reason codes for disqualifying and recycling leads."""
    workspace = workspace_of(session, principal)
    workspace.disqualify_reasons = list(dict.fromkeys(body.disqualify))
    workspace.recycle_reasons = list(dict.fromkeys(body.recycle))
    return ReasonsOut(disqualify=workspace.disqualify_reasons, recycle=workspace.recycle_reasons)


class BantIn(Strict):
    """Only the fields sent change; send null to clear one."""

    budget: Money | None = None
    currency: Currency | None = None
    authority: Authority | None = None
    need: Note | None = None
    timeline: Timeline | None = None


@router.patch("/leads/{lead_id}/bant", response_model=LeadView)
def patch_bant(lead_id: str, body: BantIn, principal: Writer, session: WriteSession) -> LeadView:
    workspace = workspace_of(session, principal)
    lead = qualification.update_bant(session, workspace_id=workspace.id, lead_id=parse_id(lead_id),
                                     changes={k: getattr(body, k) for k in body.model_fields_set})
    return _lead_view(session, lead)


class StatusIn(Strict):
    status: LeadStatus | None


@router.put("/leads/{lead_id}/status", response_model=LeadView)
def put_status(lead_id: str, body: StatusIn, principal: Writer, session: WriteSession) -> LeadView:
    """Where sales is with the lead inside its stage (reset to none by every stage change)."""
    workspace = workspace_of(session, principal)
    lead = qualification.set_status(session, workspace_id=workspace.id, lead_id=parse_id(lead_id),
                                    status=body.status)
    return _lead_view(session, lead)


class ActivityIn(Strict):
    kind: ActivityKind
    occurred_at: AwareDatetime | None = None
    user_id: Annotated[str, StringConstraints(pattern=r"^[0-9]{1,18}$")] | None = None
    subject: Annotated[str, StringConstraints(max_length=300)] | None = None
    body: Annotated[str, StringConstraints(max_length=20_000)] | None = None
    outcome: Annotated[str, StringConstraints(max_length=50)] | None = None


@router.post("/leads/{lead_id}/activities", response_model=ActivityView, status_code=201)
def log_activity(lead_id: str, body: ActivityIn, principal: Writer, session: WriteSession) -> ActivityView:
    """Log a call, email, meeting or note; the first contact ends the follow-up deadline."""
    workspace = workspace_of(session, principal)
    activity = activities.log_activity(
        session, workspace_id=workspace.id, lead_id=parse_id(lead_id), kind=body.kind, actor=_actor(principal),
        occurred_at=body.occurred_at, user_id=int(body.user_id) if body.user_id else None, subject=body.subject,
        body=body.body, outcome=body.outcome)
    return ActivityView.of(activity)


@router.get("/leads/{lead_id}/activities", response_model=list[ActivityView])
def list_activities(lead_id: str, principal: Reader, session: ReadSession) -> list[ActivityView]:
    workspace = workspace_of(session, principal)
    return [ActivityView.of(a) for a in
            activities.activities_of(session, workspace_id=workspace.id, lead_id=parse_id(lead_id))]


class TaskIn(Strict):
    title: Annotated[str, StringConstraints(min_length=1, max_length=300, strip_whitespace=True)]
    due_at: AwareDatetime | None = None
    remind_at: AwareDatetime | None = None
    assignee_id: Annotated[str, StringConstraints(pattern=r"^[0-9]{1,18}$")] | None = None


class TaskPatch(Strict):
    done: bool


@router.post("/leads/{lead_id}/tasks", response_model=TaskView, status_code=201)
def add_task(lead_id: str, body: TaskIn, principal: Writer, session: WriteSession) -> TaskView:
    """A follow-up task (assigned to the lead's owner unless said otherwise); a reminder is sent at
    `remind_at` as a `task.reminder` notification."""
    workspace = workspace_of(session, principal)
    task = activities.add_task(session, workspace_id=workspace.id, lead_id=parse_id(lead_id), title=body.title,
                               actor=_actor(principal), due_at=body.due_at, remind_at=body.remind_at,
                               assignee_id=int(body.assignee_id) if body.assignee_id else None)
    return TaskView.of(task)


@router.get("/leads/{lead_id}/tasks", response_model=list[TaskView])
def list_tasks(lead_id: str, principal: Reader, session: ReadSession) -> list[TaskView]:
    workspace = workspace_of(session, principal)
    return [TaskView.of(t) for t in activities.tasks_of(session, workspace_id=workspace.id,
                                                        lead_id=parse_id(lead_id))]


@router.patch("/tasks/{task_id}", response_model=TaskView)
def patch_task(task_id: str, body: TaskPatch, principal: Writer, session: WriteSession) -> TaskView:
    workspace = workspace_of(session, principal)
    return TaskView.of(activities.complete_task(session, workspace_id=workspace.id,
                                                task_id=parse_id(task_id, "task"), done=body.done))


class DealIn(Strict):
    name: Annotated[str, StringConstraints(max_length=200)] | None = None
    amount: Money | None = None
    currency: Currency = "EUR"
    expected_close_on: date | None = None


class DealCloseIn(Strict):
    outcome: DealOutcome
    reason: Annotated[str, StringConstraints(max_length=200)] | None = None


@router.put("/leads/{lead_id}/deal", response_model=DealView)
def put_deal(lead_id: str, body: DealIn, principal: Writer, session: WriteSession) -> DealView:
    """Open or update the lead's deal; the lead becomes an opportunity if it is not one yet."""
    workspace = workspace_of(session, principal)
    deal = deals.save_deal(session, workspace_id=workspace.id, lead_id=parse_id(lead_id), actor=_actor(principal),
                           name=body.name, amount=body.amount, currency=body.currency,
                           expected_close_on=body.expected_close_on)
    return DealView.of(deal)


@router.post("/leads/{lead_id}/deal/close", response_model=DealView)
def close_deal(lead_id: str, body: DealCloseIn, principal: Writer, session: WriteSession) -> DealView:
    """Won makes the lead a customer; lost recycles it (reason lost_deal)."""
    workspace = workspace_of(session, principal)
    deal = deals.close_deal(session, workspace_id=workspace.id, lead_id=parse_id(lead_id), outcome=body.outcome,
                            actor=_actor(principal), reason=body.reason)
    return DealView.of(deal)


@router.get("/leads/{lead_id}/deals", response_model=list[DealView])
def list_deals(lead_id: str, principal: Reader, session: ReadSession) -> list[DealView]:
    workspace = workspace_of(session, principal)
    return [DealView.of(d) for d in deals.deals_of(session, workspace_id=workspace.id, lead_id=parse_id(lead_id))]
