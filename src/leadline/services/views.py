"""Read models: the one mapping from database rows to what the API, CLI and UI show."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from leadline.storage.tables import Campaign, Company, Event, Lead


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
            updated_at=lead.updated_at,
            timeline=[EventView.of(e) for e in timeline] if timeline is not None else None,
        )


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
