"""The consent gate: marketing email and identified tracking need consent granted, and an unsubscribe wins."""

from __future__ import annotations

import pytest

from leadline.services.consent import may_email, may_track
from leadline.storage.tables import Lead


@pytest.mark.parametrize(("consent", "unsubscribed", "allowed", "reason"), [
    (True, False, True, "consent granted"),
    (True, True, False, "unsubscribed"),
    (False, False, False, "consent withdrawn"),
    (None, False, False, "no consent recorded"),
])
def test_marketing_email_needs_consent_and_no_unsubscribe(consent: bool | None, unsubscribed: bool,
                                                           allowed: bool, reason: str) -> None:
    decision = may_email(Lead(consent_email=consent, unsubscribed=unsubscribed))
    assert (decision.allowed, decision.reason) == (allowed, reason)


@pytest.mark.parametrize(("consent", "allowed"), [(True, True), (False, False), (None, False)])
def test_identified_tracking_needs_tracking_consent(consent: bool | None, allowed: bool) -> None:
    assert may_track(Lead(consent_tracking=consent)).allowed is allowed
