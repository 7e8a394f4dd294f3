"""BANT facts and the sales status of a lead inside its stage."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy.orm import Session

from leadline.core.lifecycle import LeadStatus
from leadline.core.qualification import Authority, Timeline
from leadline.services.lifecycle import locked_lead
from leadline.storage.tables import Lead


@dataclass(frozen=True)
class Bant:
    budget: Decimal | None = None
    currency: str | None = None
    authority: Authority | None = None
    need: str | None = None
    timeline: Timeline | None = None


_FIELDS = {"budget": "bant_budget", "currency": "bant_currency", "authority": "bant_authority",
           "need": "bant_need", "timeline": "bant_timeline"}


def bant_of(lead: Lead) -> Bant:
    return Bant(lead.bant_budget, lead.bant_currency,
                Authority(lead.bant_authority) if lead.bant_authority else None, lead.bant_need,
                Timeline(lead.bant_timeline) if lead.bant_timeline else None)


def update_bant(session: Session, *, workspace_id: int, lead_id: int, changes: dict[str, object]) -> Lead:
    """Set the given BANT fields (a None value clears one); fields not given are kept."""
    lead = locked_lead(session, workspace_id, lead_id)
    for name, value in changes.items():
        setattr(lead, _FIELDS[name], value.value if isinstance(value, Authority | Timeline) else value)
    session.flush()
    return lead


def set_status(session: Session, *, workspace_id: int, lead_id: int, status: LeadStatus | None) -> Lead:
    lead = locked_lead(session, workspace_id, lead_id)
    lead.status = status.value if status else None
    session.flush()
    return lead
