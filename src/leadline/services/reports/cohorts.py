"""What every report shares: the period, the cohort dimension, and reading the stage history in one query."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.orm import Session

from leadline.core.funnel import LIFECYCLE_STEPS, LeadPath
from leadline.core.leads import Stage
from leadline.storage.tables import Lead, SegmentMembership, StageTransition
from leadline.storage.types import UTCDateTime

FUNNEL_STAGES = [s.value for s in LIFECYCLE_STEPS]


class Dimension(StrEnum):
    """How leads are grouped into cohorts."""

    month = "month"
    channel = "channel"
    campaign = "campaign"
    owner = "owner"
    landing_page = "landing_page"


@dataclass(frozen=True)
class Period:
    """Leads created in [start, end); either bound may be open."""

    start: datetime | None = None
    end: datetime | None = None


def dimension_column(dimension: Dimension | None, dialect: str) -> ColumnElement[Any] | None:
    if dimension is None:
        return None
    if dimension is Dimension.month:
        if dialect == "postgresql":
            return func.to_char(func.timezone("UTC", Lead.created_at), "YYYY-MM")
        return func.substr(Lead.created_at, 1, 7)
    if dimension is Dimension.landing_page:
        return Lead.first_touch["landing_page"].as_string()
    column = {Dimension.channel: Lead.first_channel, Dimension.campaign: Lead.first_campaign,
              Dimension.owner: Lead.owner_id}[dimension]
    return column


def lead_filter(workspace_id: int, period: Period, segment_id: int | None = None) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [Lead.workspace_id == workspace_id, Lead.merged_into_id.is_(None)]
    if period.start is not None:
        conditions.append(Lead.created_at >= period.start)
    if period.end is not None:
        conditions.append(Lead.created_at < period.end)
    if segment_id is not None:
        conditions.append(Lead.id.in_(select(SegmentMembership.lead_id).where(
            SegmentMembership.segment_id == segment_id, SegmentMembership.workspace_id == workspace_id)))
    return conditions


@dataclass(frozen=True)
class CohortLead:
    lead_id: int
    group: str
    path: LeadPath
    stage: str
    stage_changed_at: datetime | None


def cohort_leads(session: Session, *, workspace_id: int, period: Period, dimension: Dimension | None = None,
                 segment_id: int | None = None) -> Iterator[CohortLead]:
    """Every lead of the period with its path down the funnel, in one query (leads x first entries)."""
    dialect = session.get_bind().dialect.name
    group = dimension_column(dimension, dialect)
    # A plain join grouped per lead and stage: it stays an index lookup per lead even when the planner's
    # statistics are stale (a join to a grouped subquery became a 70 s nested loop on fresh PostgreSQL data).
    first_at = func.min(StageTransition.occurred_at, type_=UTCDateTime())
    keys = [Lead.id, Lead.created_at, Lead.stage, Lead.stage_changed_at, StageTransition.to_stage]
    grouping = [*keys, *([group] if group is not None else [])]
    query = (select(*keys, first_at, *([group.label("grp")] if group is not None else []))
             .outerjoin(StageTransition, and_(StageTransition.lead_id == Lead.id,
                                              StageTransition.workspace_id == workspace_id,
                                              StageTransition.to_stage.in_(FUNNEL_STAGES)))
             .where(*lead_filter(workspace_id, period, segment_id)).group_by(*grouping).order_by(Lead.id))
    current: list[Any] | None = None
    entered: dict[Stage, datetime] = {}
    for row in session.execute(query).yield_per(10_000):
        if current is None or row[0] != current[0]:
            if current is not None:
                yield _cohort_lead(current, entered)
            current, entered = list(row), {}
        if row[4] is not None:
            entered[Stage(row[4])] = row[5]
    if current is not None:
        yield _cohort_lead(current, entered)


def _cohort_lead(row: list[Any], entered: dict[Stage, datetime]) -> CohortLead:
    group = row[6] if len(row) > 6 else None
    return CohortLead(row[0], "(none)" if group is None else str(group), LeadPath(row[1], dict(entered)), row[2],
                      row[3])
