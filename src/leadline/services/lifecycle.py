"""Moving leads through the lifecycle: every stage change goes through `change_stage`, the one writer of
`leads.stage` and of the stage history, which emits `lead.stage_changed` for routing, webhooks and segments."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from leadline.core.lead_input import FieldProblem
from leadline.core.leads import Stage
from leadline.core.lifecycle import (
    MQL_REJECT_REASONS,
    Actor,
    ActorType,
    ReasonLists,
    check_transition,
    mql_ready_moves,
)
from leadline.services import outbox
from leadline.services.errors import Conflict, Invalid, NotFound
from leadline.services.funnel_facts import record_entry
from leadline.storage.tables import Lead, MqlReview, OutboxMessage, StageTransition, Workspace
from leadline.storage.types import utcnow

SCORING_RULE = Actor(ActorType.RULE, "scoring")


def reason_lists(session: Session, workspace_id: int) -> ReasonLists:
    workspace = session.get(Workspace, workspace_id)
    defaults = ReasonLists()
    if workspace is None:
        return defaults
    return ReasonLists(tuple(workspace.disqualify_reasons or defaults.disqualify),
                       tuple(workspace.recycle_reasons or defaults.recycle))


def locked_lead(session: Session, workspace_id: int, lead_id: int) -> Lead:
    """The live lead, locked for the rest of the transaction (two moves of one lead never interleave)."""
    query = select(Lead).where(Lead.workspace_id == workspace_id, Lead.id == lead_id,
                               Lead.merged_into_id.is_(None)).with_for_update()
    lead = session.scalars(query).first()
    if lead is None:
        raise NotFound("lead not found")
    return lead


def change_stage(session: Session, *, workspace_id: int, lead: Lead | int, to: Stage, actor: Actor,
                 reason: str | None = None, note: str | None = None, now: datetime | None = None,
                 reasons: ReasonLists | None = None) -> StageTransition:
    """Move a lead to `to`, or raise Conflict (the move is not allowed) or Invalid (the reason is missing or not
    one of the workspace's). Records the transition and emits `lead.stage_changed` in the same transaction."""
    row = lead if isinstance(lead, Lead) else locked_lead(session, workspace_id, lead)
    current = Stage(row.stage)
    refused = check_transition(current, to, reason, reasons or reason_lists(session, workspace_id))
    if refused is not None:
        if refused.field == "reason":
            raise Invalid([FieldProblem("reason", refused.message)])
        raise Conflict(refused.message, field="stage")
    at = now or utcnow()
    row.stage, row.stage_changed_at, row.status = to.value, at, None
    record_entry(row, to.value, at)
    text = reason if not note else f"{reason}: {note}" if reason else note
    transition = StageTransition(workspace_id=workspace_id, lead_id=row.id, from_stage=current.value,
                                 to_stage=to.value, occurred_at=at, actor_type=actor.type.value,
                                 actor=actor.id, reason=text)
    session.add(transition)
    session.flush()
    outbox.emit(session, workspace_id=workspace_id, topic="lead.stage_changed", lead_id=row.id, now=at,
                payload={"from": current.value, "to": to.value, "transition_id": transition.id,
                         "actor_type": actor.type.value})
    return transition


def stage_history(session: Session, *, workspace_id: int, lead_id: int) -> list[StageTransition]:
    if session.scalar(select(Lead.id).where(Lead.workspace_id == workspace_id, Lead.id == lead_id)) is None:
        raise NotFound("lead not found")
    return list(session.scalars(select(StageTransition).where(StageTransition.workspace_id == workspace_id,
                                                              StageTransition.lead_id == lead_id)
                                .order_by(StageTransition.occurred_at, StageTransition.id)))


def review_mql(session: Session, *, workspace_id: int, lead_id: int, accept: bool, actor: Actor,
               reason: str | None = None, note: str | None = None, now: datetime | None = None) -> MqlReview:
    """Sales accepts an MQL (it becomes SQL) or rejects it with a reason (it goes back to nurturing as
    recycled, reason `rejected_by_sales`); both are kept for marketing's report and the scoring backtest."""
    lead = locked_lead(session, workspace_id, lead_id)
    if lead.stage != Stage.MQL:
        raise Conflict(f"only an mql can be accepted or rejected; this lead is {lead.stage}", field="stage")
    if not accept and reason not in MQL_REJECT_REASONS:
        raise Invalid([FieldProblem("reason", "a rejection needs a reason, one of: "
                                    + ", ".join(MQL_REJECT_REASONS))])
    at = now or utcnow()
    review = MqlReview(workspace_id=workspace_id, lead_id=lead_id, decision="accepted" if accept else "rejected",
                       reason=None if accept else reason, note=note, actor=actor.label(), score=lead.score,
                       reviewed_at=at)
    session.add(review)
    if accept:
        change_stage(session, workspace_id=workspace_id, lead=lead, to=Stage.SQL, actor=actor,
                     reason="accepted_by_sales", note=note, now=at)
    else:  # the rejection reason is sales' own list; it goes with the transition as its note
        recycle_for(session, workspace_id=workspace_id, lead=lead, reason="rejected_by_sales", actor=actor,
                    note=reason, now=at)
    session.flush()
    return review


def recycle_for(session: Session, *, workspace_id: int, lead: Lead, reason: str, actor: Actor,
                note: str | None, now: datetime) -> StageTransition:
    """Recycle a lead for a reason Leadline itself gives (a rejected MQL, a lost deal): accepted whatever the
    workspace's own list of recycle reasons holds."""
    lists = reason_lists(session, workspace_id)
    return change_stage(session, workspace_id=workspace_id, lead=lead, to=Stage.RECYCLED, actor=actor,
                        reason=reason, note=note, now=now,
                        reasons=ReasonLists(lists.disqualify, (*lists.recycle, reason)))


@outbox.consumer("lifecycle-mql", "lead.mql_ready")
def make_mql(session: Session, messages: Sequence[OutboxMessage], now: datetime) -> None:
    """Crossing the MQL threshold makes a new or recycled lead MQL (actor: the scoring rule)."""
    crossed: dict[int, datetime] = {}
    for m in messages:
        if m.lead_id is not None:
            crossed.setdefault(m.lead_id, m.created_at)
    if not crossed:
        return
    leads = session.scalars(select(Lead).where(Lead.id.in_(sorted(crossed)), Lead.merged_into_id.is_(None))
                            .order_by(Lead.id).with_for_update()).all()
    for lead in leads:
        # Re-checked here: the lead may have dropped below the threshold or been moved by hand since.
        if lead.mql_ready and mql_ready_moves(Stage(lead.stage)):
            # The history says when the threshold was crossed, not when the worker got to it.
            change_stage(session, workspace_id=lead.workspace_id, lead=lead, to=Stage.MQL, actor=SCORING_RULE,
                         reason="crossed the MQL threshold", now=min(crossed[lead.id], now))
