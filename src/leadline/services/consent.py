"""The consent gate every marketing send, tracking write and scoring run asks. The answer is derived from the
lead's current consent state; the privacy work (consent ledger) refines how that state is derived, while callers
keep asking these questions."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from leadline.storage.tables import Lead


class Purpose(StrEnum):
    MARKETING_EMAIL = "marketing_email"
    TRACKING = "tracking"
    PROFILING = "profiling"
    PARTNER_SHARING = "partner_sharing"


@dataclass(frozen=True, slots=True)
class ConsentDecision:
    allowed: bool
    reason: str


def may_email(lead: Lead) -> ConsentDecision:
    """Marketing email needs consent granted and no unsubscribe."""
    if lead.unsubscribed:
        return ConsentDecision(False, "unsubscribed")
    if lead.consent_email is True:
        return ConsentDecision(True, "consent granted")
    if lead.consent_email is False:
        return ConsentDecision(False, "consent withdrawn")
    return ConsentDecision(False, "no consent recorded")


def may_track(lead: Lead) -> ConsentDecision:
    """Identified tracking (open pixels, per-person click tokens, page views) needs tracking consent."""
    if lead.consent_tracking is True:
        return ConsentDecision(True, "consent granted")
    if lead.consent_tracking is False:
        return ConsentDecision(False, "consent withdrawn")
    return ConsentDecision(False, "no consent recorded")
