"""Read models: the one mapping from database rows to what the API, CLI and UI show."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from leadline.storage.tables import (
    Activity,
    Campaign,
    Company,
    Deal,
    Event,
    Lead,
    MqlReview,
    SalesTask,
    StageTransition,
)


class CompanyView(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str | None
    domain: str | None
    industry: str | None
    size: int | None
    revenue: float | None
    country: str | None
    created_at: datetime

    @classmethod
    def of(cls, company: Company) -> CompanyView:
        return cls(id=str(company.id), name=company.name, domain=company.domain, industry=company.industry,
                   size=company.size, revenue=company.revenue, country=company.country,
                   created_at=company.created_at)


class ConsentView(BaseModel):
    email_marketing: bool | None
    tracking: bool | None
    unsubscribed: bool
    source: str | None
    legal_basis: str | None


class TouchView(BaseModel):
    at: datetime | None
    channel: str | None = None
    campaign: str | None = None
    utm_source: str | None = None
    utm_medium: str | None = None
    utm_campaign: str | None = None
    utm_term: str | None = None
    utm_content: str | None = None
    gclid: str | None = None
    fbclid: str | None = None
    li_fat_id: str | None = None
    msclkid: str | None = None
    referrer: str | None = None
    landing_page: str | None = None

    @classmethod
    def of(cls, touch: dict[str, Any] | None, at: datetime | None) -> TouchView | None:
        if not touch:
            return None
        return cls(at=at, **{k: v for k, v in touch.items() if k in cls.model_fields})


class EventView(BaseModel):
    id: str
    event_id: str | None
    type: str
    occurred_at: datetime
    received_at: datetime
    lead_id: str | None
    anonymous_id: str | None
    source: dict[str, str]
    properties: dict[str, Any]

    @classmethod
    def of(cls, event: Event) -> EventView:
        source = {name: value for name in ("channel", "campaign", "utm_source", "utm_medium", "utm_campaign",
                                           "utm_term", "utm_content", "referrer")
                  if (value := getattr(event, name)) is not None}
        return cls(id=str(event.id), event_id=event.event_key, type=event.type, occurred_at=event.occurred_at,
                   received_at=event.received_at, lead_id=_sid(event.lead_id), anonymous_id=event.anonymous_id,
                   source=source, properties=event.properties or {})


class LeadView(BaseModel):
    id: str
    email: str | None
    phone: str | None
    first_name: str | None
    last_name: str | None
    job_title: str | None
    country: str | None
    language: str | None
    external_id: str | None
    company: CompanyView | None
    owner_id: str | None
    stage: str
    status: str | None
    temperature: str
    score: float
    fit_score: float
    engagement_score: float
    consent: ConsentView
    first_touch: TouchView | None
    last_touch: TouchView | None
    last_non_direct_touch: TouchView | None
    custom: dict[str, Any]
    merged_into_id: str | None
    created_at: datetime
    updated_at: datetime
    stage_changed_at: datetime | None = None
    bant: BantView
    follow_up: FollowUpView
    timeline: list[EventView] | None = None

    @classmethod
    def of(cls, lead: Lead, company: Company | None, timeline: list[Event] | None = None) -> LeadView:
        return cls(
            id=str(lead.id), email=lead.email, phone=lead.phone, first_name=lead.first_name,
            last_name=lead.last_name, job_title=lead.job_title, country=lead.country, language=lead.language,
            external_id=lead.external_id, company=CompanyView.of(company) if company else None,
            owner_id=_sid(lead.owner_id), stage=lead.stage, status=lead.status, temperature=lead.temperature,
            score=lead.score, fit_score=lead.fit_score, engagement_score=lead.engagement_score,
            consent=ConsentView(email_marketing=lead.consent_email, tracking=lead.consent_tracking,
                                unsubscribed=lead.unsubscribed, source=lead.consent_source,
                                legal_basis=lead.consent_legal_basis),
            first_touch=TouchView.of(lead.first_touch, lead.first_touch_at),
            last_touch=TouchView.of(lead.last_touch, lead.last_touch_at),
            last_non_direct_touch=TouchView.of(lead.last_non_direct_touch, lead.last_non_direct_touch_at),
            custom=lead.custom or {}, merged_into_id=_sid(lead.merged_into_id), created_at=lead.created_at,
            updated_at=lead.updated_at, stage_changed_at=lead.stage_changed_at,
            bant=BantView(budget=float(lead.bant_budget) if lead.bant_budget is not None else None,
                          currency=lead.bant_currency, authority=lead.bant_authority, need=lead.bant_need,
                          timeline=lead.bant_timeline),
            follow_up=FollowUpView(assigned_at=lead.assigned_at, due_at=lead.follow_up_due_at,
                                   overdue_at=lead.overdue_at, first_touch_at=lead.first_sales_touch_at),
            timeline=[EventView.of(e) for e in timeline] if timeline is not None else None,
        )


class BantView(BaseModel):
    budget: float | None
    currency: str | None
    authority: str | None
    need: str | None
    timeline: str | None


class FollowUpView(BaseModel):
    """Sales follow-up: when the owner got the lead, by when they must touch it, and when they did."""

    assigned_at: datetime | None
    due_at: datetime | None
    overdue_at: datetime | None
    first_touch_at: datetime | None


class StageTransitionView(BaseModel):
    id: str
    from_stage: str | None
    to_stage: str
    occurred_at: datetime
    actor_type: str
    actor: str | None
    reason: str | None

    @classmethod
    def of(cls, t: StageTransition) -> StageTransitionView:
        return cls(id=str(t.id), from_stage=t.from_stage, to_stage=t.to_stage, occurred_at=t.occurred_at,
                   actor_type=t.actor_type, actor=t.actor, reason=t.reason)


class MqlReviewView(BaseModel):
    id: str
    lead_id: str
    decision: str
    reason: str | None
    note: str | None
    actor: str
    score: float
    reviewed_at: datetime

    @classmethod
    def of(cls, r: MqlReview) -> MqlReviewView:
        return cls(id=str(r.id), lead_id=str(r.lead_id), decision=r.decision, reason=r.reason, note=r.note,
                   actor=r.actor, score=r.score, reviewed_at=r.reviewed_at)


class DealView(BaseModel):
    id: str
    lead_id: str
    name: str | None
    amount: float | None
    currency: str
    expected_close_on: date | None
    outcome: str | None
    outcome_reason: str | None
    closed_at: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, d: Deal) -> DealView:
        return cls(id=str(d.id), lead_id=str(d.lead_id), name=d.name,
                   amount=float(d.amount) if d.amount is not None else None, currency=d.currency,
                   expected_close_on=d.expected_close_on, outcome=d.outcome, outcome_reason=d.outcome_reason,
                   closed_at=d.closed_at, created_at=d.created_at)


class ActivityView(BaseModel):
    id: str
    lead_id: str
    kind: str
    occurred_at: datetime
    user_id: str | None
    actor: str
    subject: str | None
    body: str | None
    outcome: str | None

    @classmethod
    def of(cls, a: Activity) -> ActivityView:
        return cls(id=str(a.id), lead_id=str(a.lead_id), kind=a.kind, occurred_at=a.occurred_at,
                   user_id=_sid(a.user_id), actor=a.actor, subject=a.subject, body=a.body, outcome=a.outcome)


class TaskView(BaseModel):
    id: str
    lead_id: str
    title: str
    assignee_id: str | None
    due_at: datetime | None
    remind_at: datetime | None
    done_at: datetime | None
    created_by: str
    created_at: datetime

    @classmethod
    def of(cls, t: SalesTask) -> TaskView:
        return cls(id=str(t.id), lead_id=str(t.lead_id), title=t.title, assignee_id=_sid(t.assignee_id),
                   due_at=t.due_at, remind_at=t.remind_at, done_at=t.done_at, created_by=t.created_by,
                   created_at=t.created_at)


class CampaignView(BaseModel):
    id: str
    name: str
    channel: str
    utm_campaign: str | None
    cost: float | None
    currency: str
    starts_on: Any | None
    ends_on: Any | None
    created_at: datetime

    @classmethod
    def of(cls, campaign: Campaign) -> CampaignView:
        return cls(id=str(campaign.id), name=campaign.name, channel=campaign.channel,
                   utm_campaign=campaign.utm_campaign,
                   cost=float(campaign.cost) if campaign.cost is not None else None, currency=campaign.currency,
                   starts_on=campaign.starts_on, ends_on=campaign.ends_on, created_at=campaign.created_at)


def _sid(value: int | None) -> str | None:
    return None if value is None else str(value)


LeadView.model_rebuild()  # it names views defined after it
