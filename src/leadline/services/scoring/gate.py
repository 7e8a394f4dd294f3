"""Scoring is profiling: a lead that refused profiling or objected (GDPR Art. 21) is not scored, by rules or by
the predictive model, and loses what was computed about it at once. Every score write goes through
`state.write_scores`, which asks `refused_among`; predictions filter with `profiling_allowed()`."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, and_, delete, or_, select, update
from sqlalchemy.orm import Session

from leadline.storage.tables import Lead, LeadPrediction, LeadRuleDay, LeadRuleScore


def profiling_allowed() -> ColumnElement[bool]:
    """SQL condition: the lead may be profiled (no refusal, no objection)."""
    return and_(Lead.objected_at.is_(None), or_(Lead.consent_profiling.is_(None), Lead.consent_profiling.is_(True)))


def refused_among(session: Session, lead_ids: Sequence[int]) -> set[int]:
    found: set[int] = set()
    ids = list(lead_ids)
    for start in range(0, len(ids), 500):
        found.update(session.scalars(select(Lead.id).where(Lead.id.in_(ids[start:start + 500]), or_(
            Lead.objected_at.is_not(None), Lead.consent_profiling.is_(False)))))
    return found


def clear_profiles(session: Session, workspace_id: int, lead_ids: Sequence[int]) -> None:
    """Forget every score, rule state and prediction of these leads."""
    ids = list(lead_ids)
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        session.execute(update(Lead).where(Lead.workspace_id == workspace_id, Lead.id.in_(chunk)).values(
            score=0.0, fit_score=0.0, engagement_score=0.0, temperature="cold", mql_ready=False,
            score_due_at=None, score_computed_at=None, score_model_version=None, named_scores=None,
            updated_at=Lead.updated_at), execution_options={"synchronize_session": False})
        for table in (LeadRuleScore, LeadRuleDay, LeadPrediction):
            session.execute(delete(table).where(table.lead_id.in_(chunk)),
                            execution_options={"synchronize_session": False})
