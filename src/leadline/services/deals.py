"""Deals: what an opportunity is worth, and how it ends (won makes a customer, lost recycles the lead)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from leadline.core.leads import Stage
from leadline.core.lifecycle import Actor
from leadline.core.qualification import DealOutcome
from leadline.services.errors import Conflict
from leadline.services.lifecycle import change_stage, locked_lead, recycle_for
from leadline.storage.tables import Deal
from leadline.storage.types import utcnow


def open_deal(session: Session, *, workspace_id: int, lead_id: int) -> Deal | None:
    return session.scalars(select(Deal).where(Deal.workspace_id == workspace_id, Deal.lead_id == lead_id,
                                              Deal.outcome.is_(None)).order_by(Deal.id.desc())).first()


def deals_of(session: Session, *, workspace_id: int, lead_id: int) -> list[Deal]:
    return list(session.scalars(select(Deal).where(Deal.workspace_id == workspace_id, Deal.lead_id == lead_id)
                                .order_by(Deal.id)))


def save_deal(session: Session, *, workspace_id: int, lead_id: int, actor: Actor, name: str | None = None,
              amount: Decimal | None = None, currency: str = "EUR", expected_close_on: date | None = None,
              now: datetime | None = None) -> Deal:
    """Create the lead's open deal or update it; a lead that is not yet an opportunity becomes one."""
    lead = locked_lead(session, workspace_id, lead_id)
    at = now or utcnow()
    if lead.stage != Stage.OPPORTUNITY:
        change_stage(session, workspace_id=workspace_id, lead=lead, to=Stage.OPPORTUNITY, actor=actor,
                     reason="deal opened", now=at)
    deal = open_deal(session, workspace_id=workspace_id, lead_id=lead_id)
    if deal is None:
        deal = Deal(workspace_id=workspace_id, lead_id=lead_id, created_at=at)
        session.add(deal)
    deal.name, deal.amount, deal.currency, deal.expected_close_on = name, amount, currency, expected_close_on
    session.flush()
    return deal


def close_deal(session: Session, *, workspace_id: int, lead_id: int, outcome: DealOutcome, actor: Actor,
               reason: str | None = None, now: datetime | None = None) -> Deal:
    """Won: the lead becomes a customer. Lost: it goes back to nurturing (recycled, `lost_deal`)."""
    lead = locked_lead(session, workspace_id, lead_id)
    deal = open_deal(session, workspace_id=workspace_id, lead_id=lead_id)
    if deal is None or lead.stage != Stage.OPPORTUNITY:
        raise Conflict("the lead has no open deal to close", field="outcome")
    at = now or utcnow()
    deal.outcome, deal.outcome_reason, deal.closed_at = outcome.value, reason, at
    if outcome is DealOutcome.WON:
        change_stage(session, workspace_id=workspace_id, lead=lead, to=Stage.CUSTOMER, actor=actor,
                     reason="deal won", note=reason, now=at)
    else:
        recycle_for(session, workspace_id=workspace_id, lead=lead, reason="lost_deal", actor=actor, note=reason,
                    now=at)
    session.flush()
    return deal
