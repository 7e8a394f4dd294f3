"""Channels and campaigns: what each brings (leads, MQLs, SQLs, customers), how fast, at what cost, for how
much revenue. Cohorts are leads by their first touch's channel or campaign, created in the period."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from leadline.core.funnel import STEPS, quantile
from leadline.services.reports.cohorts import Dimension, Period, aggregate_cohorts, dimension_column, lead_filter
from leadline.storage.tables import Campaign, Deal, Lead


@dataclass(frozen=True)
class ChannelRow:
    name: str
    leads: int
    mqls: int
    sqls: int
    opportunities: int
    customers: int
    mql_rate: float | None
    sql_rate: float | None
    customer_rate: float | None
    win_rate: float | None  # customers / opportunities (skipped stages count as reached)
    median_days_to_customer: float | None
    cost: float | None
    cost_per_lead: float | None
    cost_per_mql: float | None
    cost_per_customer: float | None
    revenue: float | None


def _ratio(a: float | None, b: float) -> float | None:
    return a / b if a is not None and b else None


def _costs(session: Session, workspace_id: int, dimension: Dimension) -> dict[str, Decimal]:
    """Campaign costs per channel, or per campaign (matched on the campaign's name and its utm_campaign)."""
    rows = session.execute(select(Campaign.name, Campaign.utm_campaign, Campaign.channel, Campaign.cost)
                           .where(Campaign.workspace_id == workspace_id, Campaign.cost.is_not(None))).all()
    costs: dict[str, Decimal] = defaultdict(Decimal)
    for name, utm, channel, cost in rows:
        if dimension is Dimension.channel:
            costs[channel] += cost
        else:
            for key in {name, utm} - {None}:
                costs[key] += cost
    return costs


def _revenue(session: Session, workspace_id: int, period: Period, dimension: Dimension) -> dict[str, Decimal]:
    """Won deals' amounts per cohort, summed in SQL."""
    group = dimension_column(dimension, session.get_bind().dialect.name)
    assert group is not None
    rows = session.execute(select(group, func.sum(Deal.amount)).select_from(Deal).join(Lead, Lead.id == Deal.lead_id)
                           .where(Deal.workspace_id == workspace_id, Deal.outcome == "won", Deal.amount.is_not(None),
                                  *lead_filter(workspace_id, period)).group_by(group))
    return {"(none)" if name is None else str(name): Decimal(amount) for name, amount in rows}


def channel_report(session: Session, *, workspace_id: int, period: Period = Period(),
                   dimension: Dimension = Dimension.channel) -> list[ChannelRow]:
    if dimension not in (Dimension.channel, Dimension.campaign, Dimension.landing_page):
        raise ValueError("channels report groups by channel, campaign or landing_page")
    groups = aggregate_cohorts(session, workspace_id=workspace_id, period=period, dimension=dimension,
                              with_waits=False)
    revenue = _revenue(session, workspace_id, period, dimension)
    counts: dict[str, dict[str, int]] = {
        name: {step: sum(n for rank, n in g.by_rank.items() if rank >= i) for i, step in enumerate(STEPS[1:])}
        for name, g in groups.items()}
    days = {name: g.days_to_customer or [] for name, g in groups.items()}
    costs = _costs(session, workspace_id, dimension) if dimension is not Dimension.landing_page else {}
    rows = []
    for name, c in counts.items():
        leads = c["lead"]
        cost = float(costs[name]) if name in costs else None
        rows.append(ChannelRow(
            name, leads, c["mql"], c["sql"], c["opportunity"], c["customer"], _ratio(c["mql"], leads),
            _ratio(c["sql"], leads), _ratio(c["customer"], leads), _ratio(c["customer"], c["opportunity"]),
            quantile(sorted(days[name]), 0.5), cost, _ratio(cost, leads), _ratio(cost, c["mql"]),
            _ratio(cost, c["customer"]), float(revenue[name]) if name in revenue else None))
    return sorted(rows, key=lambda r: (-r.leads, r.name))
