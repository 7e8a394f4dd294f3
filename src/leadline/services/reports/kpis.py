"""KPIs for a period, each with the previous period of the same length beside it: leads per day, MQLs and the
lead velocity rate (growth of MQLs period over period), speed to lead, MQL acceptance by sales, and the
current share of leads by temperature."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, literal, select
from sqlalchemy.orm import Session

from leadline.core.funnel import quantile
from leadline.services.reports.cohorts import Period, lead_filter
from leadline.storage.tables import Lead, MqlReview

_FUNNEL_COLUMNS = (Lead.mql_at, Lead.sql_at, Lead.opportunity_at, Lead.customer_at)
_NEVER = datetime(9999, 12, 31, tzinfo=UTC)


@dataclass(frozen=True)
class Kpi:
    name: str
    value: float | None
    previous: float | None
    change: float | None  # relative change (0.25 = +25 %); None when the previous value is 0 or unknown
    unit: str


@dataclass(frozen=True)
class KpiReport:
    start: datetime
    end: datetime
    kpis: list[Kpi]
    temperatures: dict[str, int]


def _change(value: float | None, previous: float | None) -> float | None:
    return (value - previous) / previous if value is not None and previous else None


def _speed_to_lead(session: Session, workspace_id: int, start: datetime, end: datetime) -> tuple[float | None,
                                                                                                 float | None]:
    """Median hours from assignment to first touch, and the share touched before the deadline, for leads
    assigned in the period."""
    rows = session.execute(select(Lead.assigned_at, Lead.first_sales_touch_at, Lead.follow_up_due_at).where(
        Lead.workspace_id == workspace_id, Lead.merged_into_id.is_(None), Lead.assigned_at >= start,
        Lead.assigned_at < end)).all()
    if not rows:
        return None, None
    hours = sorted((touch - assigned).total_seconds() / 3600 for assigned, touch, _ in rows
                   if touch is not None and touch >= assigned)
    on_time = sum(1 for _, touch, due in rows if touch is not None and (due is None or touch <= due))
    return quantile(hours, 0.5), on_time / len(rows)


def _acceptance(session: Session, workspace_id: int, start: datetime, end: datetime) -> float | None:
    rows: dict[str, int] = {decision: count for decision, count in session.execute(
        select(MqlReview.decision, func.count()).where(
            MqlReview.workspace_id == workspace_id, MqlReview.reviewed_at >= start, MqlReview.reviewed_at < end
        ).group_by(MqlReview.decision))}
    total = sum(rows.values())
    return rows.get("accepted", 0) / total if total else None


def reached_mql_column(dialect: str) -> ColumnElement[Any]:
    """When a lead reached MQL, in SQL: the earliest of its MQL, SQL, opportunity and customer entries (a skipped
    stage counts as reached when the later one was, as `core.funnel.reached` says)."""
    if dialect == "postgresql":
        return func.least(*_FUNNEL_COLUMNS)  # LEAST ignores NULLs
    # SQLite's many-argument min() is NULL if any argument is: stand in a time after every real one.
    return func.min(*(func.coalesce(column, literal(_NEVER, Lead.mql_at.type)) for column in _FUNNEL_COLUMNS))


def _funnel_counts(session: Session, workspace_id: int, previous_start: datetime, start: datetime, end: datetime
                   ) -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
    """Leads created, reaching MQL and becoming customers in [start, end) and in the period before, counted in
    one SQL scan."""
    reached_mql = reached_mql_column(session.get_bind().dialect.name)

    def buckets(at: ColumnElement[Any]) -> tuple[ColumnElement[Any], ColumnElement[Any]]:
        return (func.coalesce(func.sum(case((and_(at >= start, at < end), 1), else_=0)), 0),
                func.coalesce(func.sum(case((and_(at >= previous_start, at < start), 1), else_=0)), 0))

    row = session.execute(select(*buckets(Lead.created_at), *buckets(reached_mql), *buckets(Lead.customer_at))
                          .where(*lead_filter(workspace_id, Period()))).one()
    return ({"now": int(row[0]), "before": int(row[1])}, {"now": int(row[2]), "before": int(row[3])},
            {"now": int(row[4]), "before": int(row[5])})


def kpi_report(session: Session, *, workspace_id: int, start: datetime, end: datetime) -> KpiReport:
    previous_start = start - (end - start)
    leads, mqls, customers = _funnel_counts(session, workspace_id, previous_start, start, end)
    days = (end - start).total_seconds() / 86_400
    speed, on_time = _speed_to_lead(session, workspace_id, start, end)
    speed_before, on_time_before = _speed_to_lead(session, workspace_id, previous_start, start)
    accept, accept_before = (_acceptance(session, workspace_id, start, end),
                             _acceptance(session, workspace_id, previous_start, start))
    velocity = _change(mqls["now"], mqls["before"])

    def kpi(name: str, value: float | None, previous: float | None, unit: str) -> Kpi:
        return Kpi(name, value, previous, _change(value, previous), unit)

    kpis = [
        kpi("leads", leads["now"], leads["before"], "leads"),
        kpi("leads_per_day", leads["now"] / days if days else None, leads["before"] / days if days else None,
            "leads/day"),
        kpi("mqls", mqls["now"], mqls["before"], "leads"),
        Kpi("lead_velocity_rate", velocity, None, None, "growth of MQLs over the previous period"),
        kpi("customers", customers["now"], customers["before"], "leads"),
        kpi("speed_to_lead_median_hours", speed, speed_before, "hours"),
        kpi("touched_before_deadline", on_time, on_time_before, "share"),
        kpi("mql_acceptance", accept, accept_before, "share"),
    ]
    temperatures = {temperature: count for temperature, count in session.execute(
        select(Lead.temperature, func.count()).where(
            Lead.workspace_id == workspace_id, Lead.merged_into_id.is_(None),
            Lead.stage.not_in(("customer", "disqualified"))).group_by(Lead.temperature))}
    return KpiReport(start, end, kpis, {t: int(temperatures.get(t, 0)) for t in ("cold", "warm", "hot")})
