"""Request bodies of the REST API (validated at the boundary; never the tables)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, JsonValue, SkipValidation

from leadline.core.leads import EVENT_TYPE_PATTERN, Channel

Short = Annotated[str, Field(max_length=200)]
Url = Annotated[str, Field(max_length=2000)]


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise ValueError("timestamp needs a time zone (e.g. 2026-01-31T12:00:00Z)")
    return value


AwareDatetime = Annotated[datetime, AfterValidator(_aware)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class SourceIn(Strict):
    channel: Channel | None = None
    campaign: Short | None = None
    utm_source: Short | None = None
    utm_medium: Short | None = None
    utm_campaign: Short | None = None
    utm_term: Short | None = None
    utm_content: Short | None = None
    gclid: Short | None = None
    fbclid: Short | None = None
    li_fat_id: Short | None = None
    msclkid: Short | None = None
    referrer: Url | None = None
    landing_page: Url | None = None


class CompanyIn(Strict):
    name: Short | None = None
    domain: Annotated[str, Field(max_length=253)] | None = None
    industry: Short | None = None
    size: Annotated[int, Field(ge=0, le=10_000_000)] | None = None
    revenue: Annotated[float, Field(ge=0, le=1e15)] | None = None
    country: Annotated[str, Field(max_length=60)] | None = None


class ProvenanceIn(Strict):
    """Where a list came from (bought, rented, co-registration): an Art. 14 notice is owed within a month."""

    list: Short | None = None
    partner: Short | None = None
    partner_proof: Annotated[str, Field(max_length=2000)] | None = None
    collected_at: Short | None = None


class ConsentIn(Strict):
    email_marketing: bool | None = None
    unsubscribed: bool | None = None
    source: Short | None = None
    legal_basis: Annotated[str, Field(pattern="^(consent|legitimate_interest|contract)$")] | None = None
    tracking: bool | None = None
    profiling: bool | None = None
    partner_sharing: bool | None = None
    subject_type: Annotated[str, Field(pattern="^(consumer|professional)$")] | None = None
    text_version: Short | None = None
    provenance: ProvenanceIn | None = None


CustomFields = dict[Annotated[str, Field(max_length=64)], JsonValue]


class LeadIn(Strict):
    email: Annotated[str, Field(max_length=320)] | None = None
    first_name: Short | None = None
    last_name: Short | None = None
    phone: Annotated[str, Field(max_length=40)] | None = None
    job_title: Short | None = None
    country: Annotated[str, Field(max_length=60)] | None = None
    language: Annotated[str, Field(max_length=40)] | None = None
    external_id: Short | None = None
    company: CompanyIn | None = None
    source: SourceIn | None = None
    consent: ConsentIn | None = None
    custom: Annotated[CustomFields, Field(max_length=100)] | None = None


#: Lead ids are opaque strings made of digits (up to 18: always within a signed 64-bit integer).
LeadId = Annotated[str, Field(pattern=r"^[1-9][0-9]{0,17}$", description="A lead id as returned by the API")]


class EventIn(Strict):
    event_id: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    type: Annotated[str, Field(pattern=EVENT_TYPE_PATTERN.pattern, description=(
        "Lowercase letters, digits, _ . : - starting with a letter, at most 64 characters"))]
    email: Annotated[str, Field(max_length=320)] | None = None
    lead_id: LeadId | None = None
    anonymous_id: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    occurred_at: AwareDatetime | None = None
    # The values come from a parsed JSON body, so they are JSON already: checking each one again through
    # `JsonValue` cost a third of the validation of a batch. The documented schema stays `JsonValue`.
    properties: Annotated[dict[Annotated[str, Field(max_length=64)], Annotated[JsonValue, SkipValidation]],
                          Field(max_length=100)] = {}
    source: SourceIn | None = None



class EventBatchIn(Strict):
    events: Annotated[list[EventIn], Field(min_length=1)]


class EventResultOut(BaseModel):
    index: int
    status: str
    event_id: str | None = None
    lead_id: str | None = None
    error: str | None = None
    field: str | None = None


class EventBatchOut(BaseModel):
    accepted: int
    duplicates: int
    errors: int
    results: list[EventResultOut]


class IdentifyIn(Strict):
    anonymous_id: Annotated[str, Field(min_length=1, max_length=200)]
    email: Annotated[str, Field(max_length=320)] | None = None
    lead_id: LeadId | None = None
    lead: LeadIn | None = None


class MergeIn(Strict):
    other_id: Annotated[str, Field(max_length=20)]


class CampaignIn(Strict):
    name: Annotated[str, Field(min_length=1, max_length=200)]
    channel: Channel
    utm_campaign: Short | None = None
    cost: Annotated[float, Field(ge=0, le=1e12)] | None = None
    currency: Annotated[str, Field(pattern="^[A-Z]{3}$")] = "EUR"
    starts_on: date | None = None
    ends_on: date | None = None


class CampaignPatch(Strict):
    name: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    channel: Channel | None = None
    utm_campaign: Short | None = None
    cost: Annotated[float, Field(ge=0, le=1e12)] | None = None
    currency: Annotated[str, Field(pattern="^[A-Z]{3}$")] | None = None
    starts_on: date | None = None
    ends_on: date | None = None


class FormFieldIn(Strict):
    name: Annotated[str, Field(pattern="^[a-z][a-z0-9_]{0,63}$", description="A lead field (email, first_name, "
                                "phone, company...) or a custom one")]
    label: Annotated[str, Field(min_length=1, max_length=200)]
    type: Literal["text", "email", "tel", "textarea", "select", "checkbox", "hidden"] = "text"
    required: bool = False
    options: Annotated[list[Annotated[str, Field(min_length=1, max_length=200)]], Field(max_length=100)] = []


class ConsentBoxIn(Strict):
    purpose: Literal["marketing_email", "tracking"]
    label: Annotated[str, Field(min_length=1, max_length=500, description="The text beside the box (never "
                                                                           "pre-ticked)")]


class FormIn(Strict):
    name: Annotated[str, Field(min_length=1, max_length=200)]
    redirect_url: Annotated[str, Field(max_length=2000, pattern="^https?://")] | None = None
    honeypot_field: Annotated[str, Field(pattern="^[a-z_]{1,64}$")] = "website"
    fields: Annotated[list[FormFieldIn], Field(max_length=40, description=(
        "Makes the form embeddable: rendered by the snippet or hosted at /f/{key}"))] | None = None
    consent_boxes: Annotated[list[ConsentBoxIn], Field(max_length=2)] | None = None
    thank_you_message: Annotated[str, Field(max_length=2000)] | None = None
    double_opt_in: bool = Field(default=False, description=(
        "Ticked boxes only ask for a confirmation (by email); consent is granted when it comes back."))
    min_fill_seconds: int = Field(default=0, ge=0, le=3600, description=(
        "Submissions faster than this after the form was shown are bots' (embedded and hosted forms)."))


class FormOut(BaseModel):
    id: str
    key: str
    name: str
    redirect_url: str | None
    honeypot_field: str
    action_url: str
    fields: list[dict[str, Any]] | None = None
    consent_boxes: list[dict[str, Any]] | None = None
    thank_you_message: str | None = None
    double_opt_in: bool = False
    min_fill_seconds: int = 0
    hosted_url: str | None = None
    embed_code: str | None = None


class Page(BaseModel):
    data: list[Any]
    next_cursor: str | None


def to_raw(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(exclude_none=True)
