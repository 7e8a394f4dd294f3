"""Signals sales can trust: clicks that look automated are recorded but never scored.

Mail security scanners (Proofpoint, Mimecast, Microsoft Safe Links...) open and click every link of a
message within seconds of delivery, and link-preview bots fetch whatever is posted. An email click is
flagged `automated` at ingest when its user agent is a known bot, or when it comes less than
`MIN_HUMAN_SECONDS` after the message was sent (`properties.sent_at`). Rules skip flagged events.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

#: Event types checked for automation.
CHECKED_TYPES = frozenset({"email_click", "email_open"})
#: A person needs longer than this to open a message and click a link in it.
MIN_HUMAN_SECONDS = 10.0
#: The property set on flagged events; rules never count an event that has it.
AUTOMATED_PROPERTY = "automated"

_BOT_AGENTS = re.compile(
    r"bot\b|crawler|spider|slurp|preview|scanner|headless|python-requests|curl/|wget/|go-http-client|"
    r"proofpoint|mimecast|barracuda|safelinks|urldefense|forcepoint|symantec|trendmicro|sophos|\bcisco\b|"
    r"googleimageproxy|yahoomailproxy|microsoft office existence|ms-office|skypeuripreview|facebookexternalhit|"
    r"slackbot|linkedinbot|twitterbot|whatsapp",
    re.IGNORECASE,
)


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def automated_reason(event_type: str, properties: dict[str, Any], occurred_at: datetime) -> str | None:
    """Why this event looks automated (`bot_agent`, `too_fast`), or None for a plausible human."""
    if event_type not in CHECKED_TYPES:
        return None
    agent = properties.get("user_agent")
    if isinstance(agent, str) and _BOT_AGENTS.search(agent):
        return "bot_agent"
    sent_at = _parse_time(properties.get("sent_at"))
    if sent_at is not None and 0 <= (occurred_at - sent_at).total_seconds() < MIN_HUMAN_SECONDS:
        return "too_fast"
    return None
