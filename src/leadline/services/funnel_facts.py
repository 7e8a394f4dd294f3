"""The funnel rollup on each lead (`funnel_rank`, `mql_at` ... `customer_at`): how far it went and when it
first entered each funnel stage. `change_stage` keeps it as it writes the history; whoever writes stage
history in bulk (the demo loader, imports of past data) calls `refresh_funnel_facts` after, which recomputes
it from the history, set-based. A test holds the two equal."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import case, func, select, update
from sqlalchemy.orm import Session

from leadline.storage.tables import Lead, StageTransition

RANKS = {"mql": 1, "sql": 2, "opportunity": 3, "customer": 4}
STAGE_COLUMNS = {"mql": Lead.mql_at, "sql": Lead.sql_at, "opportunity": Lead.opportunity_at,
                 "customer": Lead.customer_at}


def record_entry(lead: Lead, stage: str, at: datetime) -> None:
    """A lead entered `stage` at `at` (a non-funnel stage changes nothing)."""
    rank = RANKS.get(stage)
    if rank is None:
        return
    attribute = f"{stage}_at"
    current = getattr(lead, attribute)
    if current is None or at < current:
        setattr(lead, attribute, at)
    lead.funnel_rank = max(lead.funnel_rank or 0, rank)


def refresh_funnel_facts(session: Session, *, workspace_id: int, lead_ids: Sequence[int] | None = None) -> None:
    """Recompute the rollup from the stage history, for the workspace or some of its leads."""
    values = {}
    for stage, column in STAGE_COLUMNS.items():
        values[column.key] = (select(func.min(StageTransition.occurred_at))
                              # workspace first: the history's index is (workspace_id, lead_id, occurred_at)
                              .where(StageTransition.workspace_id == Lead.workspace_id,
                                     StageTransition.lead_id == Lead.id, StageTransition.to_stage == stage)
                              .scalar_subquery())
    query = update(Lead).where(Lead.workspace_id == workspace_id)
    if lead_ids is not None:
        query = query.where(Lead.id.in_(list(lead_ids)))
    session.execute(query.values(**values).execution_options(synchronize_session=False))
    rank = case(*((column.is_not(None), RANKS[stage]) for stage, column in reversed(STAGE_COLUMNS.items())),
                else_=0)
    rank_query = update(Lead).where(Lead.workspace_id == workspace_id)
    if lead_ids is not None:
        rank_query = rank_query.where(Lead.id.in_(list(lead_ids)))
    session.execute(rank_query.values(funnel_rank=rank).execution_options(synchronize_session=False))
