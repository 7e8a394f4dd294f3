"""Reports: funnel, channels and campaigns, attribution, KPIs (JSON)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from pydantic import AfterValidator

from leadline.api.deps import Reader, ReadSession, workspace_of
from leadline.api.schemas import AwareDatetime
from leadline.core.attribution import Model
from leadline.services.reports.attribution import AttributionReport, attribution_report
from leadline.services.reports.channels import ChannelRow, channel_report
from leadline.services.reports.cohorts import Dimension, Period
from leadline.services.reports.funnel import FunnelReport, funnel_report
from leadline.services.reports.kpis import KpiReport, kpi_report

router = APIRouter(prefix="/api/v1/reports", tags=["reports"])

EARLIEST, LATEST = datetime(1970, 1, 1, tzinfo=UTC), datetime(2200, 1, 1, tzinfo=UTC)


def _in_range(at: datetime) -> datetime:
    # Reports compare with the previous period of the same length: far-off dates would overflow `datetime`.
    if not EARLIEST <= at < LATEST:
        raise ValueError(f"must be between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d}")
    return at


ReportTime = Annotated[AwareDatetime, AfterValidator(_in_range)]
Start = Annotated[ReportTime | None, Query(description="Leads created from (inclusive), ISO 8601 with offset")]
End = Annotated[ReportTime | None, Query(description="Leads created before (exclusive)")]


class ChannelDimension(StrEnum):
    channel = "channel"
    campaign = "campaign"
    landing_page = "landing_page"


class AttributionKey(StrEnum):
    channel = "channel"
    campaign = "campaign"


class Outcome(StrEnum):
    mql = "mql"
    sql = "sql"
    opportunity = "opportunity"
    customer = "customer"


def _period(start: datetime | None, end: datetime | None) -> Period:
    if start is not None and end is not None and end <= start:
        raise HTTPException(422, "end must be after start")
    return Period(start, end)


@router.get("/funnel", response_model=FunnelReport)
def funnel(principal: Reader, session: ReadSession, start: Start = None, end: End = None,
           by: Dimension | None = None,
           segment_id: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
           stuck_days: Annotated[float, Query(gt=0, le=3650)] = 30) -> FunnelReport:
    """Leads at each stage (skipped stages count as passed), conversion between stages with 95 % Wilson
    intervals, median and p90 days between stages, TOFU/MOFU/BOFU, leads stuck in a stage, and each cohort's
    maturity (how long it has had to convert against how long conversions usually take)."""
    workspace = workspace_of(session, principal)
    return funnel_report(session, workspace_id=workspace.id, period=_period(start, end), dimension=by,
                         segment_id=segment_id, stuck_after=timedelta(days=stuck_days))


@router.get("/channels", response_model=list[ChannelRow])
def channels(principal: Reader, session: ReadSession, start: Start = None, end: End = None,
             by: ChannelDimension = ChannelDimension.channel) -> list[ChannelRow]:
    """Per first-touch channel, campaign or landing page: leads, MQL/SQL/customer rates, win rate, days to
    close, cost per lead, MQL and customer (from campaign costs), revenue from won deals."""
    workspace = workspace_of(session, principal)
    return channel_report(session, workspace_id=workspace.id, period=_period(start, end),
                          dimension=Dimension(by.value))


@router.get("/attribution", response_model=AttributionReport)
def attribution(principal: Reader, session: ReadSession, start: Start = None, end: End = None,
                by: AttributionKey = AttributionKey.channel, outcome: Outcome = Outcome.customer,
                model: Annotated[list[Model] | None, Query(description="Models to compare (default: all)")] = None,
                half_life_days: Annotated[float, Query(gt=0, le=3650)] = 7) -> AttributionReport:
    """Credit for the conversions that happened in the period (start/end bound the conversion time), shared
    among each lead's marketing touches before it, every model side by side."""
    workspace = workspace_of(session, principal)
    return attribution_report(session, workspace_id=workspace.id, period=_period(start, end),
                              outcome=outcome.value, by=by.value, models=model or list(Model),
                              half_life_days=half_life_days)


@router.get("/kpis", response_model=KpiReport)
def kpis(principal: Reader, session: ReadSession, start: Start = None, end: End = None) -> KpiReport:
    """KPIs for the period (default: the last 30 days) beside the previous period of the same length."""
    end = end or datetime.now(UTC)
    start = start or end - timedelta(days=30)
    _period(start, end)
    workspace = workspace_of(session, principal)
    return kpi_report(session, workspace_id=workspace.id, start=start, end=end)
