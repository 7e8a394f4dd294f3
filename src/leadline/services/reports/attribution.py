"""Attribution report: each conversion in the period shares one unit of credit among the marketing touches
before it, under every model side by side (see `leadline.core.attribution`).

Touches are marketing touches: visits that carry a campaign or UTM source, form submissions, email clicks and
the other actions a person takes (downloads, webinars, quote and demo requests, trade-show visits); email opens
are not touches (scanners open mail too), nor are visits with no campaign.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from leadline.core.attribution import DEFAULT_HALF_LIFE_DAYS, Journey, Model, Touch, attribute
from leadline.core.funnel import reached
from leadline.services.reports.cohorts import FUNNEL_STAGES, Period, cohort_leads
from leadline.storage.tables import Event

ACTION_TOUCHES = ("form_submit", "email_click", "download", "webinar_registered", "webinar_attended",
                  "quote_request", "demo_request", "event_attended", "trial_started")
VISIT_TOUCHES = ("page_view", "pricing_view")
CHUNK = 1000


@dataclass(frozen=True)
class AttributionRow:
    name: str
    credit: dict[str, float]  # model -> conversions credited


@dataclass(frozen=True)
class AttributionReport:
    outcome: str
    conversions: int
    by: str
    half_life_days: float
    models: list[str]
    rows: list[AttributionRow]


def _touches(session: Session, workspace_id: int, lead_ids: Sequence[int]) -> dict[int, list[Touch]]:
    out: dict[int, list[Touch]] = defaultdict(list)
    is_touch = or_(Event.type.in_(ACTION_TOUCHES),
                   and_(Event.type.in_(VISIT_TOUCHES),
                        or_(Event.campaign.is_not(None), Event.utm_source.is_not(None))))
    for start in range(0, len(lead_ids), CHUNK):
        chunk = lead_ids[start:start + CHUNK]
        rows = session.execute(select(Event.lead_id, Event.occurred_at, Event.channel, Event.campaign,
                                      Event.utm_campaign)
                               .where(Event.workspace_id == workspace_id, Event.lead_id.in_(chunk), is_touch)
                               .order_by(Event.lead_id, Event.occurred_at, Event.id))
        for lead_id, at, channel, campaign, utm_campaign in rows:
            out[lead_id].append(Touch(at, channel or "other", campaign or utm_campaign))
    return out


def attribution_report(session: Session, *, workspace_id: int, period: Period = Period(), outcome: str = "customer",
                       by: str = "channel", models: Sequence[Model] = tuple(Model),
                       half_life_days: float = DEFAULT_HALF_LIFE_DAYS) -> AttributionReport:
    """Conversions (leads reaching `outcome`) that happened in the period, credited by channel or campaign."""
    converted: dict[int, tuple[datetime, datetime, datetime | None]] = {}
    rank = FUNNEL_STAGES.index(outcome) + 1
    for lead in cohort_leads(session, workspace_id=workspace_id, period=Period(), min_rank=rank):
        steps = reached(lead.path)
        at = steps.get(outcome)
        if at is None or (period.start and at < period.start) or (period.end and at >= period.end):
            continue
        converted[lead.lead_id] = (at, lead.path.created_at, steps.get("opportunity"))
    touches = _touches(session, workspace_id, sorted(converted))
    journeys = [Journey([t for t in touches.get(lead_id, []) if t.at <= at], converted_at=at, created_at=created,
                        opportunity_at=opportunity)
                for lead_id, (at, created, opportunity) in converted.items()]
    key = (lambda t: t.channel) if by == "channel" else (lambda t: t.campaign or "(no campaign)")
    table = attribute(journeys, list(models), key=key, half_life_days=half_life_days)
    names = sorted({name for per_model in table.values() for name in per_model})
    rows = [AttributionRow(name, {m.value: round(table[m].get(name, 0.0), 6) for m in models}) for name in names]
    rows.sort(key=lambda r: -max(r.credit.values(), default=0))
    return AttributionReport(outcome, len(journeys), by, half_life_days, [m.value for m in models], rows)
