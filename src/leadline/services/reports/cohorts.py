"""What every report shares: the period, the cohort dimension, and reading the stage history in one query."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, case, func, literal, select
from sqlalchemy.orm import Session

from leadline.core.funnel import LIFECYCLE_STEPS, LeadPath
from leadline.storage.tables import Lead, SegmentMembership
from leadline.storage.types import UTCDateTime

FUNNEL_STAGES = [s.value for s in LIFECYCLE_STEPS]
#: The open stages a lead can be stuck in (customer is final, new and unqualified are not in the funnel yet).
STUCK_STAGES = ("mql", "sql", "opportunity")


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
                 segment_id: int | None = None, min_rank: int = 0) -> Iterator[CohortLead]:
    """The leads of the period (those that went at least `min_rank` down the funnel) with their paths, read
    from the leads' funnel rollup in one scan."""
    dialect = session.get_bind().dialect.name
    group = dimension_column(dimension, dialect)
    stages = (Lead.mql_at, Lead.sql_at, Lead.opportunity_at, Lead.customer_at)
    query = (select(Lead.id, Lead.created_at, Lead.stage, Lead.stage_changed_at, *stages,
                    *([group.label("grp")] if group is not None else []))
             .where(*lead_filter(workspace_id, period, segment_id)))
    if min_rank > 0:
        query = query.where(Lead.funnel_rank >= min_rank)
    for row in session.execute(query.order_by(Lead.id)).yield_per(10_000):
        entered = {stage: at for stage, at in zip(LIFECYCLE_STEPS, row[4:8], strict=True) if at is not None}
        name = row[8] if group is not None else None
        yield CohortLead(row[0], "(none)" if name is None else str(name), LeadPath(row[1], entered), row[2], row[3])


# --- set-based aggregation: what the funnel and channel reports read, without loading leads one by one -------

def epoch(column: Any, dialect: str) -> ColumnElement[float]:
    """Seconds since 1970 as a float, in SQL (SQLite stores timestamps as UTC text)."""
    if dialect == "postgresql":
        return func.extract("epoch", column)
    return (func.julianday(column) - 2440587.5) * 86400.0


@dataclass
class GroupAggregate:
    """One cohort's aggregates."""

    by_rank: dict[int, int]
    first_created: datetime | None = None
    stuck: dict[str, int] | None = None
    #: Days between consecutive steps, per step, for the leads that entered both.
    waits: dict[str, list[float]] | None = None
    days_to_customer: list[float] | None = None


def aggregate_cohorts(session: Session, *, workspace_id: int, period: Period, dimension: Dimension | None,
                      segment_id: int | None = None, stuck_before: datetime | None = None,
                      with_waits: bool = True, with_days_to_customer: bool = True) -> dict[str, GroupAggregate]:
    """Two scans of the leads' funnel rollup (no join with the stage history), both read from the covering index
    `ix_leads_funnel_cover`: counts per (cohort, rank) with the first creation time over all leads, then, for
    the third of leads that entered any stage (only customers when neither waits nor stuck counts are asked),
    their stage times as floats, from which the waits, the days to customer and the leads stuck in a stage
    since before `stuck_before` are computed in numpy."""
    import numpy as np

    dialect = session.get_bind().dialect.name
    group = dimension_column(dimension, dialect)
    grp = (group if group is not None else literal("all")).label("grp")
    rank = Lead.funnel_rank.label("rank")
    counts = (select(grp, rank, func.count(), func.min(Lead.created_at, type_=UTCDateTime()))
              .where(*lead_filter(workspace_id, period, segment_id)).group_by(grp, rank))
    out: dict[str, GroupAggregate] = {}
    for name, lead_rank, count, first in session.execute(counts):
        key = "(none)" if name is None else str(name)
        agg = out.setdefault(key, GroupAggregate({}, None, {}, {}, []))
        agg.by_rank[int(lead_rank)] = agg.by_rank.get(int(lead_rank), 0) + int(count)
        if first is not None and (agg.first_created is None or first < agg.first_created):
            agg.first_created = first
    if not out or not (with_waits or with_days_to_customer or stuck_before is not None):
        return out
    from_rank = 1 if with_waits or stuck_before is not None else len(FUNNEL_STAGES)
    stage_times = [epoch(column, dialect) for column in (Lead.mql_at, Lead.sql_at, Lead.opportunity_at,
                                                           Lead.customer_at)]
    stuck_code = case(*((Lead.stage == stage, float(code)) for code, stage in enumerate(STUCK_STAGES)),
                      else_=None)
    since = epoch(func.coalesce(Lead.stage_changed_at, Lead.created_at), dialect)
    times = (select(grp, epoch(Lead.created_at, dialect), *stage_times, stuck_code, since)
             .where(*lead_filter(workspace_id, period, segment_id), Lead.funnel_rank >= from_rank))
    # Plain DB-API tuples (no ORM row objects): a third of a million rows per million leads.
    result = session.connection().execute(times)
    rows = result.cursor.fetchall()
    result.close()
    if not rows:
        return out
    names = np.array(["(none)" if r[0] is None else str(r[0]) for r in rows])
    # created, mql, sql, opportunity, customer (NaN: never), stuck-stage code (NaN: not open), in stage since
    matrix = np.array([r[1:] for r in rows], dtype=float)
    limit = stuck_before.timestamp() if stuck_before is not None else None
    for key, agg in out.items():
        mine = matrix[names == key]
        if limit is not None:
            codes = mine[:, 5][~np.isnan(mine[:, 5]) & (mine[:, 6] < limit)].astype(int)
            agg.stuck = {STUCK_STAGES[code]: int(n) for code, n in enumerate(np.bincount(codes, minlength=3)) if n}
        if with_waits:
            agg.waits = _waits(mine)
        if with_days_to_customer:
            customer = mine[:, 4]
            done = ~np.isnan(customer) & (customer >= mine[:, 0])
            agg.days_to_customer = ((customer[done] - mine[done, 0]) / 86_400).tolist()
    return out


def _waits(mine: Any) -> dict[str, list[float]]:
    """Days from the previous step to each stage, counting only leads that entered both steps themselves."""
    import numpy as np

    waits: dict[str, list[float]] = {}
    for column, stage in enumerate(FUNNEL_STAGES, start=1):
        at, before = mine[:, column], mine[:, column - 1]
        ok = ~np.isnan(at) & ~np.isnan(before) & (at >= before)
        waits[stage] = ((at[ok] - before[ok]) / 86_400).tolist()
    return waits
