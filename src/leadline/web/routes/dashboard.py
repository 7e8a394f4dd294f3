"""The dashboard: KPIs with the previous period beside them, the funnel, leads by channel, hot leads waiting
for a first touch and overdue follow-ups."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from leadline.api.deps import ReadSession
from leadline.services.lead_table import hot_waiting, latest_created
from leadline.services.reports.channels import ChannelRow, channel_report
from leadline.services.reports.cohorts import Period
from leadline.services.reports.kpis import kpi_report
from leadline.services.routing import overdue_leads
from leadline.storage.types import utcnow
from leadline.web.auth import WebUser
from leadline.web.templating import render

router = APIRouter()
PERIODS = (7, 30, 90, 365)
DASHBOARD_KPIS = ("leads", "mqls", "customers", "speed_to_lead_median_hours", "touched_before_deadline",
                  "mql_acceptance")


def funnel_bars(steps: list[tuple[str, int, float | None]], width: int = 600, bar: int = 34, gap: int = 10
                ) -> list[dict[str, float | int | str | None]]:
    """Geometry of the funnel chart (server-side SVG): one centred bar per step, width by count."""
    top = max((count for _, count, _ in steps), default=0) or 1
    bars = []
    for index, (name, count, rate) in enumerate(steps):
        w = max(2.0, width * count / top) if count else 0.0
        bars.append({"name": name, "count": count, "rate": rate, "x": (width - w) / 2, "y": index * (bar + gap),
                     "w": w, "h": bar})
    return bars


def funnel_steps(rows: list[ChannelRow]) -> list[tuple[str, int, float | None]]:
    """The funnel of the period, summed from the channel report's cohorts (one aggregation for both charts;
    skipped stages count as reached, as in the funnel report)."""
    counts = [("lead", sum(r.leads for r in rows)), ("mql", sum(r.mqls for r in rows)),
              ("sql", sum(r.sqls for r in rows)), ("opportunity", sum(r.opportunities for r in rows)),
              ("customer", sum(r.customers for r in rows))]
    return [(name, count, count / counts[i - 1][1] if i and counts[i - 1][1] else None)
            for i, (name, count) in enumerate(counts)]


@router.get("/")
def dashboard(request: Request, user: WebUser, session: ReadSession,
              days: Annotated[int, Query(ge=1, le=3650)] = 30) -> Response:
    now = utcnow()
    newest = latest_created(session, workspace_id=user.workspace_id)
    # An imported history (like the demo's) ends before today: the period ends with the newest lead then.
    end = min(now, newest + timedelta(days=1)) if newest is not None else now
    start = end - timedelta(days=days)
    kpis = {k.name: k for k in kpi_report(session, workspace_id=user.workspace_id, start=start, end=end).kpis}
    rows = sorted(channel_report(session, workspace_id=user.workspace_id, period=Period(start, end)),
                  key=lambda row: -row.leads)
    channels = rows[:10]
    overdue = [lead for lead in overdue_leads(session, workspace_id=user.workspace_id, now=now, limit=100)
               if user.owner_ids is None or lead.owner_id in user.owner_ids][:10]
    return render(request, "dashboard.html", {
        "days": days, "periods": PERIODS, "start": start, "end": end, "now": now,
        "kpis": [kpis[name] for name in DASHBOARD_KPIS if name in kpis], "bars": funnel_bars(funnel_steps(rows)),
        "channels": channels, "channel_max": max((c.leads for c in channels), default=0) or 1,
        "hot": hot_waiting(session, workspace_id=user.workspace_id, owner_ids=user.owner_ids), "overdue": overdue})
