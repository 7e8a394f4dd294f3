"""Applying marketing touches to a lead: first touch, last touch and last non-direct touch."""

from __future__ import annotations

from datetime import datetime

from leadline.core.channels import Touch
from leadline.storage.tables import Lead


def apply_touch(lead: Lead, touch: Touch, at: datetime) -> None:
    """Record `touch` seen at `at`. An earlier touch than the known first one becomes the first touch (a visitor
    identified late brings older history); later ones move the last touches."""
    if touch.is_empty():
        return
    touch = touch.with_derived_channel()
    data = {k: v for k, v in touch.as_dict().items() if v is not None}
    if lead.first_touch_at is None or at < lead.first_touch_at:
        lead.first_touch, lead.first_touch_at = data, at
        lead.first_channel, lead.first_campaign = touch.channel, touch.campaign
    if lead.last_touch_at is None or at >= lead.last_touch_at:
        lead.last_touch, lead.last_touch_at, lead.last_channel = data, at, touch.channel
    if not touch.is_direct and (lead.last_non_direct_touch_at is None or at >= lead.last_non_direct_touch_at):
        lead.last_non_direct_touch, lead.last_non_direct_touch_at = data, at
        lead.last_non_direct_channel, lead.last_non_direct_campaign = touch.channel, touch.campaign
