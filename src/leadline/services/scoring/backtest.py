"""Backtest: replay a model over the event history and see how well its bands separated the leads that
went on to convert, so thresholds are tuned on evidence.

As of a date D, every lead created before D that had not converted yet is scored from its events before D
only (nothing after D leaks in); then its outcome is whether it reached the outcome stage (default
`customer`) within the horizon after D, read from the stage history. Reported per temperature band and for
MQL-readiness: leads, conversions, conversion rate, lift (rate / overall rate), and sales' verdicts within the
horizon (MQLs accepted and rejected): a band full of rejected MQLs is a threshold set too low. Fit uses the
leads' current fields: profiles rarely change, but say so when reading the figures.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select

from leadline.core.leads import Temperature
from leadline.core.scoring.model import ScoringModel
from leadline.core.scoring.score import band_of, engagement_at
from leadline.services.scoring.bulk import CHUNK_LEADS, compute_chunk
from leadline.storage.database import Database
from leadline.storage.tables import Lead, MqlReview, StageTransition


@dataclass
class BandResult:
    band: str
    leads: int = 0
    converted: int = 0
    rate: float = 0.0
    lift: float | None = None
    accepted_by_sales: int = 0
    rejected_by_sales: int = 0


@dataclass
class BacktestResult:
    as_of: datetime
    horizon_days: float
    outcome_stage: str
    leads: int
    converted: int
    rate: float
    temperatures: list[BandResult] = field(default_factory=list)
    mql: list[BandResult] = field(default_factory=list)


def _finish(bands: list[BandResult], base_rate: float) -> list[BandResult]:
    for band in bands:
        band.rate = band.converted / band.leads if band.leads else 0.0
        band.lift = band.rate / base_rate if base_rate and band.leads else None
    return bands


def backtest(db: Database, workspace_id: int, model: ScoringModel, *, as_of: datetime, horizon: timedelta,
             outcome_stage: str = "customer") -> BacktestResult:
    try:
        end = as_of + horizon
    except OverflowError:  # a horizon past year 9999: everything after as_of counts
        end = datetime.max.replace(tzinfo=as_of.tzinfo)
    with db.read() as session:
        reached = select(StageTransition.lead_id, StageTransition.occurred_at).where(
            StageTransition.workspace_id == workspace_id, StageTransition.to_stage == outcome_stage)
        converted_before = {lead_id for lead_id, at in session.execute(reached) if at < as_of}
        converted_after = {lead_id for lead_id, at in session.execute(reached) if as_of <= at < end}
        verdicts: dict[int, str] = {lead_id: decision for lead_id, decision in session.execute(
            select(MqlReview.lead_id, MqlReview.decision).where(
                MqlReview.workspace_id == workspace_id, MqlReview.reviewed_at >= as_of, MqlReview.reviewed_at < end
            ).order_by(MqlReview.reviewed_at, MqlReview.id))}  # the latest verdict wins
        candidates = [lead_id for lead_id in session.scalars(select(Lead.id).where(
            Lead.workspace_id == workspace_id, Lead.merged_into_id.is_(None), Lead.created_at < as_of
        ).order_by(Lead.id)) if lead_id not in converted_before]
        temperatures = {t: BandResult(t.value) for t in Temperature}
        mql = {True: BandResult("mql_ready"), False: BandResult("not_mql_ready")}
        for start in range(0, len(candidates), CHUNK_LEADS):
            chunk = candidates[start:start + CHUNK_LEADS]
            for lead_id, fit, states, _ in compute_chunk(session, model, workspace_id, chunk, t0=as_of,
                                                           before=as_of):
                band = band_of(model, fit, engagement_at(model, states, as_of))
                won, verdict = lead_id in converted_after, verdicts.get(lead_id)
                for result in (temperatures[band.temperature], mql[band.mql_ready]):
                    result.leads += 1
                    result.converted += won
                    result.accepted_by_sales += verdict == "accepted"
                    result.rejected_by_sales += verdict == "rejected"
    total = len(candidates)
    converted = sum(r.converted for r in temperatures.values())
    base = converted / total if total else 0.0
    return BacktestResult(as_of, horizon.total_seconds() / 86_400, outcome_stage, total, converted, base,
                          _finish(list(temperatures.values()), base), _finish(list(mql.values()), base))
