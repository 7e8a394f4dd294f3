"""The vocabulary of a lead: lifecycle stages, temperatures, channels and event types."""

from __future__ import annotations

import re
from enum import StrEnum


class Stage(StrEnum):
    NEW = "new"
    MQL = "mql"
    SQL = "sql"
    OPPORTUNITY = "opportunity"
    CUSTOMER = "customer"
    DISQUALIFIED = "disqualified"
    RECYCLED = "recycled"


class Temperature(StrEnum):
    COLD = "cold"
    WARM = "warm"
    HOT = "hot"


class Channel(StrEnum):
    """Marketing channels. Paid and organic search are told apart (`sea` vs `seo`), as are paid and organic
    social (`social` vs `paid_social`)."""

    SEO = "seo"
    SEA = "sea"
    SOCIAL = "social"
    PAID_SOCIAL = "paid_social"
    EMAIL = "email"
    DISPLAY = "display"
    AFFILIATE = "affiliate"
    CO_REGISTRATION = "co-registration"
    SMS = "sms"
    EVENTS = "events"
    REFERRAL = "referral"
    DIRECT = "direct"
    OTHER = "other"


PAID_CHANNELS = frozenset({Channel.SEA, Channel.PAID_SOCIAL, Channel.DISPLAY, Channel.AFFILIATE,
                           Channel.CO_REGISTRATION})


class Scope(StrEnum):
    READ = "read"
    WRITE = "write"
    ADMIN = "admin"


#: Event types Leadline itself understands; workspaces may add their own unless they restrict the list.
STANDARD_EVENT_TYPES = frozenset({
    "page_view", "form_submit", "email_sent", "email_delivered", "email_open", "email_click", "email_bounce",
    "unsubscribe", "download", "webinar_registered", "webinar_attended", "pricing_view", "quote_request",
    "demo_request", "trial_started", "meeting_booked", "call", "event_attended", "import", "custom",
})

EVENT_TYPE_PATTERN = re.compile(r"^[a-z][a-z0-9_.:-]{0,63}$")


def is_valid_event_type(name: str) -> bool:
    return EVENT_TYPE_PATTERN.fullmatch(name) is not None
