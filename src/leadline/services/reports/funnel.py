"""The funnel report: per cohort, how many leads reached each stage, conversion with Wilson intervals, time
between stages, leads stuck in a stage, and each cohort's maturity."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from leadline.core.funnel import Funnel, LeadPath, Maturity, build_funnel, maturity, quantile, reached
from leadline.services.reports.cohorts import Dimension, Period, cohort_leads
from leadline.storage.tables import Visitor
from leadline.storage.types import utcnow

OPEN_FUNNEL_STAGES = ("mql", "sql", "opportunity")
DEFAULT_STUCK = timedelta(days=30)


@dataclass(frozen=True)
class CohortFunnel:
    cohort: str
    funnel: Funnel
    maturity: Maturity | None
    #: Leads sitting in an open stage for longer than the threshold, per stage.
    stuck: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class FunnelReport:
    period: Period
    dimension: str | None
    outcome_days_p90: float | None  # how long conversions usually take (creation -> customer)
    stuck_after_days: float
    total: CohortFunnel
    cohorts: list[CohortFunnel]


def _anonymous_visitors(session: Session, workspace_id: int, period: Period) -> int:
    """Visitors first seen in the period who never became a lead (every lead was a visitor too)."""
    query = select(func.count()).select_from(Visitor).where(Visitor.workspace_id == workspace_id,
                                                            Visitor.lead_id.is_(None))
    if period.start is not None:
        query = query.where(Visitor.first_seen_at >= period.start)
    if period.end is not None:
        query = query.where(Visitor.first_seen_at < period.end)
    return int(session.scalar(query) or 0)


def funnel_report(session: Session, *, workspace_id: int, period: Period = Period(),
                  dimension: Dimension | None = None, segment_id: int | None = None,
                  stuck_after: timedelta = DEFAULT_STUCK, as_of: datetime | None = None) -> FunnelReport:
    now = as_of or utcnow()
    paths: dict[str, list[LeadPath]] = defaultdict(list)
    stuck: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    starts: dict[str, datetime] = {}
    to_customer: list[float] = []
    for lead in cohort_leads(session, workspace_id=workspace_id, period=period, dimension=dimension,
                             segment_id=segment_id):
        paths[lead.group].append(lead.path)
        starts[lead.group] = min(starts.get(lead.group, lead.path.created_at), lead.path.created_at)
        won = reached(lead.path).get("customer")
        if won is not None and won >= lead.path.created_at:
            to_customer.append((won - lead.path.created_at).total_seconds() / 86_400)
        entered = lead.stage_changed_at or lead.path.created_at
        if lead.stage in OPEN_FUNNEL_STAGES and now - entered > stuck_after:
            stuck[lead.group][lead.stage] += 1
    typical = quantile(sorted(to_customer), 0.9)
    anonymous = _anonymous_visitors(session, workspace_id, period) if segment_id is None else 0
    cohorts = [CohortFunnel(name, build_funnel(group), maturity(starts[name], now, typical), dict(stuck[name]))
               for name, group in sorted(paths.items())] if dimension is not None else []
    everyone = [p for group in paths.values() for p in group]
    total_stuck: dict[str, int] = defaultdict(int)
    for per_stage in stuck.values():
        for stage, count in per_stage.items():
            total_stuck[stage] += count
    start = period.start or (min(starts.values()) if starts else None)
    # Without any anonymous visitor on record (leads sent by API or import) the funnel starts at "lead".
    total = CohortFunnel("all", build_funnel(everyone, visitors=anonymous + len(everyone) if anonymous else None),
                         maturity(start, now, typical) if start else None, dict(total_stuck))
    return FunnelReport(period, dimension.value if dimension else None, typical,
                        stuck_after.total_seconds() / 86_400, total, cohorts)
