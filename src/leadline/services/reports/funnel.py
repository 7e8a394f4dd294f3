"""The funnel report: per cohort, how many leads reached each stage, conversion with Wilson intervals, time
between stages, leads stuck in a stage, and each cohort's maturity."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from leadline.core.funnel import Funnel, Maturity, funnel_from_counts, maturity, spread
from leadline.services.reports.cohorts import Dimension, GroupAggregate, Period, aggregate_cohorts
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
    groups = aggregate_cohorts(session, workspace_id=workspace_id, period=period, dimension=dimension,
                               segment_id=segment_id, stuck_before=now - stuck_after)
    to_customer = [d for g in groups.values() for d in g.days_to_customer or []]
    typical = spread(to_customer).p90

    def cohort(name: str, parts: list[GroupAggregate], visitors: int | None = None) -> CohortFunnel:
        by_rank: dict[int, int] = defaultdict(int)
        waits: dict[str, list[float]] = defaultdict(list)
        stuck: dict[str, int] = defaultdict(int)
        for part in parts:
            for rank, count in part.by_rank.items():
                by_rank[rank] += count
            for step, values in (part.waits or {}).items():
                waits[step].extend(values)
            for stage, count in (part.stuck or {}).items():
                stuck[stage] += count
        firsts = [p.first_created for p in parts if p.first_created is not None]
        start = period.start or (min(firsts) if firsts else None)
        funnel = funnel_from_counts(by_rank, {step: spread(v) for step, v in waits.items()}, visitors=visitors)
        return CohortFunnel(name, funnel, maturity(start, now, typical) if start else None, dict(stuck))

    total_leads = sum(sum(g.by_rank.values()) for g in groups.values())
    anonymous = _anonymous_visitors(session, workspace_id, period) if segment_id is None else 0
    # Without any anonymous visitor on record (leads sent by API or import) the funnel starts at "lead".
    total = cohort("all", list(groups.values()), visitors=anonymous + total_leads if anonymous else None)
    cohorts = ([cohort(name, [g]) for name, g in sorted(groups.items())] if dimension is not None else [])
    return FunnelReport(period, dimension.value if dimension else None, typical,
                        stuck_after.total_seconds() / 86_400, total, cohorts)
