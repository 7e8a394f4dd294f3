"""Channels and campaigns: what each brings (leads, MQLs, SQLs, customers), how fast, at what cost, for how
much revenue. Cohorts are leads by their first touch's channel or campaign, created in the period."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from leadline.core.funnel import quantile, reached
from leadline.services.reports.cohorts import Dimension, Period, cohort_leads
from leadline.storage.tables import Campaign, Deal


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


def _revenue(session: Session, workspace_id: int) -> dict[int, Decimal]:
    rows = session.execute(select(Deal.lead_id, func.sum(Deal.amount)).where(
        Deal.workspace_id == workspace_id, Deal.outcome == "won", Deal.amount.is_not(None)).group_by(Deal.lead_id))
    return {lead_id: Decimal(amount) for lead_id, amount in rows}


def channel_report(session: Session, *, workspace_id: int, period: Period = Period(),
                   dimension: Dimension = Dimension.channel) -> list[ChannelRow]:
    if dimension not in (Dimension.channel, Dimension.campaign, Dimension.landing_page):
        raise ValueError("channels report groups by channel, campaign or landing_page")
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    days: dict[str, list[float]] = defaultdict(list)
    revenue_by_lead = _revenue(session, workspace_id)
    revenue: dict[str, Decimal] = defaultdict(Decimal)
    for lead in cohort_leads(session, workspace_id=workspace_id, period=period, dimension=dimension):
        steps = reached(lead.path)
        for step in steps:
            counts[lead.group][step] += 1
        won = steps.get("customer")
        if won is not None and won >= lead.path.created_at:
            days[lead.group].append((won - lead.path.created_at).total_seconds() / 86_400)
        if lead.lead_id in revenue_by_lead:
            revenue[lead.group] += revenue_by_lead[lead.lead_id]
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
