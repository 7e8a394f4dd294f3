"""Pipeline boards: opportunities by deal stage (SQL, open deal, won, lost) and leads handed to sales by sales
status. A move on a board is the service call the column stands for, so the stage machine and the deal rules
decide, and a refused move comes back with their reason."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import func, null, select
from sqlalchemy.orm import Session

from leadline.core.lead_input import FieldProblem
from leadline.core.leads import Stage
from leadline.core.lifecycle import Actor, LeadStatus, check_transition
from leadline.core.qualification import DealOutcome
from leadline.services import deals, lifecycle, qualification
from leadline.services.errors import Conflict, Invalid
from leadline.storage.tables import Company, Deal, Lead

CARDS_PER_COLUMN = 30


class Board(StrEnum):
    DEALS = "deals"
    SALES = "sales"


DEAL_COLUMNS = ("sql", "opportunity", "won", "lost")
STATUS_COLUMNS = tuple(s.value for s in LeadStatus)
#: The sales board shows the leads sales works on before a deal: MQLs and SQLs.
SALES_STAGES = ("mql", "sql")


@dataclass(frozen=True)
class Card:
    lead_id: int
    name: str
    company: str | None
    score: float
    temperature: str
    amount: Decimal | None
    currency: str | None


@dataclass(frozen=True)
class Column:
    key: str
    count: int
    value: Decimal | None
    currency: str
    cards: list[Card]


def columns_for(board: Board) -> tuple[str, ...]:
    return DEAL_COLUMNS if board is Board.DEALS else STATUS_COLUMNS


def _display_name(lead: Lead) -> str:
    name = " ".join(p for p in (lead.first_name, lead.last_name) if p)
    return name or lead.email or lead.phone or f"#{lead.id}"


def _visible(query, workspace_id: int, owner_ids: tuple[int, ...] | None):  # type: ignore[no-untyped-def]
    query = query.where(Lead.workspace_id == workspace_id, Lead.merged_into_id.is_(None))
    return query.where(Lead.owner_id.in_(owner_ids)) if owner_ids is not None else query


#: Each column: the leads' stage, the deals that give its amounts, and whether a lead needs such a deal to be
#: there (a customer without a recorded deal is still won; a recycled lead is "lost" only through a lost deal).
_DEAL_COLUMNS = {"sql": ("sql", None, False), "opportunity": ("opportunity", "open", False),
                 "won": ("customer", "won", False), "lost": ("recycled", "lost", True)}


def _deal_column(session: Session, workspace_id: int, key: str, owner_ids: tuple[int, ...] | None) -> Column:
    stage, outcome, required = _DEAL_COLUMNS[key]
    base = _visible(select(Lead.id.label("lead_id")), workspace_id, owner_ids).where(Lead.stage == stage)
    amount = None
    if outcome is not None:
        deal_cond = Deal.outcome.is_(None) if outcome == "open" else Deal.outcome == outcome
        deals = (select(Deal.lead_id, func.sum(Deal.amount).label("amount"), func.max(Deal.currency).label("cur"))
                 .where(Deal.workspace_id == workspace_id, deal_cond).group_by(Deal.lead_id).subquery())
        joined = (Lead.id == deals.c.lead_id)
        base = (base.join(deals, joined) if required else base.outerjoin(deals, joined))
        amounts = base.add_columns(deals.c.amount.label("deal_amount")).subquery()
        amount = select(func.sum(amounts.c.deal_amount))
    count = session.scalar(select(func.count()).select_from(base.subquery())) or 0
    rows_query = _visible(select(Lead, Company.name), workspace_id, owner_ids).where(Lead.stage == stage).outerjoin(
        Company, Company.id == Lead.company_id)
    if outcome is not None:
        rows_query = rows_query.add_columns(deals.c.amount, deals.c.cur)
        rows_query = (rows_query.join(deals, joined) if required else rows_query.outerjoin(deals, joined))
        rows_query = rows_query.order_by(deals.c.amount.desc().nulls_last(), Lead.score.desc(), Lead.id.desc())
    else:
        rows_query = rows_query.add_columns(null(), null()).order_by(Lead.score.desc(), Lead.id.desc())
    cards = [Card(lead.id, _display_name(lead), company, lead.score, lead.temperature,
                  Decimal(value) if value is not None else None, currency)
             for lead, company, value, currency in session.execute(rows_query.limit(CARDS_PER_COLUMN)).all()]
    total = session.scalar(amount) if amount is not None else None
    return Column(key, int(count), (Decimal(total) if total is not None else Decimal(0)) if outcome else None,
                  "EUR", cards)


def _status_column(session: Session, workspace_id: int, key: str, owner_ids: tuple[int, ...] | None) -> Column:
    status_cond = Lead.status.is_(None) | (Lead.status == key) if key == LeadStatus.NEW else Lead.status == key
    base = _visible(select(func.count()).select_from(Lead), workspace_id, owner_ids).where(
        Lead.stage.in_(SALES_STAGES), status_cond)
    count = session.scalar(base) or 0
    rows = session.execute(_visible(select(Lead, Company.name), workspace_id, owner_ids)
                           .outerjoin(Company, Company.id == Lead.company_id)
                           .where(Lead.stage.in_(SALES_STAGES), status_cond)
                           .order_by(Lead.score.desc(), Lead.id.desc()).limit(CARDS_PER_COLUMN)).all()
    cards = [Card(lead.id, _display_name(lead), company, lead.score, lead.temperature, None, None)
             for lead, company in rows]
    return Column(key, int(count), None, "EUR", cards)


def board(session: Session, *, workspace_id: int, which: Board, owner_ids: tuple[int, ...] | None) -> list[Column]:
    make = _deal_column if which is Board.DEALS else _status_column
    return [make(session, workspace_id, key, owner_ids) for key in columns_for(which)]


def move(session: Session, *, workspace_id: int, which: Board, lead_id: int, to: str, actor: Actor,
         reason: str | None = None) -> None:
    """Move a card to column `to`; raises Conflict or Invalid with the reason when the move is not allowed."""
    if to not in columns_for(which):
        raise Invalid([FieldProblem("to", f"one of: {', '.join(columns_for(which))}")])
    if which is Board.SALES:
        lead = lifecycle.locked_lead(session, workspace_id, lead_id)
        if lead.stage not in SALES_STAGES:
            raise Invalid([FieldProblem("to", f"the sales board holds mql and sql leads; this lead is {lead.stage}")])
        qualification.set_status(session, workspace_id=workspace_id, lead_id=lead_id, status=LeadStatus(to))
    elif to == "sql":
        lifecycle.change_stage(session, workspace_id=workspace_id, lead=lead_id, to=Stage.SQL, actor=actor)
    elif to == "opportunity":
        current = lifecycle.locked_lead(session, workspace_id, lead_id)
        problem = check_transition(Stage(current.stage), Stage.OPPORTUNITY, None,
                                   lifecycle.reason_lists(session, workspace_id))
        if problem is not None:
            raise Conflict(problem.message, field="to")
        deals.save_deal(session, workspace_id=workspace_id, lead_id=lead_id, actor=actor)
    else:
        deals.close_deal(session, workspace_id=workspace_id, lead_id=lead_id,
                         outcome=DealOutcome.WON if to == "won" else DealOutcome.LOST, actor=actor, reason=reason)
