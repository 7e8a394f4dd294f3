"""Automated email opens and clicks (security scanners, link previews) are flagged so rules never count them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from scoring_factories import T0

from leadline.core.scoring.signals import CHECKED_TYPES, automated_reason

HUMAN_AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.4; rv:125.0) Gecko/20100101 Firefox/125.0",
]
BOT_AGENTS = [
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Proofpoint URL Defense",
    "Mimecast Link Scanner",
    "Mozilla/4.0 (compatible; ms-office; MSOffice 16)",
    "Microsoft Office Existence Discovery",
    "python-requests/2.31.0",
    "curl/8.5.0",
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/124.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)",
]
SENT = T0.isoformat()


def reason(event_type: str = "email_click", after: timedelta | None = None, **properties: object) -> str | None:
    return automated_reason(event_type, {"sent_at": SENT, **properties},
                            T0 + (timedelta(minutes=5) if after is None else after))


@pytest.mark.parametrize("event_type", sorted(CHECKED_TYPES))
@pytest.mark.parametrize("agent", BOT_AGENTS)
def test_a_known_scanner_or_preview_agent_is_flagged(event_type, agent):
    assert reason(event_type, user_agent=agent) == "bot_agent"


@pytest.mark.parametrize("agent", HUMAN_AGENTS)
def test_a_person_clicking_five_minutes_after_the_send_is_not_flagged(agent):
    assert reason(user_agent=agent) is None
    assert reason("email_open", user_agent=agent) is None


@pytest.mark.parametrize("seconds", [0, 0.5, 3, 9.999])
def test_a_click_within_ten_seconds_of_the_send_is_flagged(seconds):
    assert reason(after=timedelta(seconds=seconds), user_agent=HUMAN_AGENTS[0]) == "too_fast"


@pytest.mark.parametrize("seconds", [10, 60, -5])  # ten seconds is humanly possible; a click before the send is skew
def test_a_click_from_ten_seconds_on_or_before_the_send_is_not_too_fast(seconds):
    assert reason(after=timedelta(seconds=seconds)) is None


@pytest.mark.parametrize("sent_at", [
    "2025-03-01T12:00:00Z", "2025-03-01T13:00:00+01:00", "2025-03-01T12:00:00.000+00:00",
])
def test_sent_at_is_read_in_any_offset(sent_at):
    assert automated_reason("email_click", {"sent_at": sent_at}, T0 + timedelta(seconds=2)) == "too_fast"


@pytest.mark.parametrize("sent_at", ["2025-03-01T12:00:00", "yesterday", 1740830400, None])
def test_an_unreadable_or_zoneless_sent_at_is_not_evidence(sent_at):
    assert automated_reason("email_click", {"sent_at": sent_at}, T0 + timedelta(seconds=2)) is None


def test_a_bot_agent_is_the_reason_even_when_the_click_is_also_too_fast():
    assert reason(after=timedelta(seconds=1), user_agent=BOT_AGENTS[0]) == "bot_agent"


@pytest.mark.parametrize("event_type", ["page_view", "form_submit", "email_bounce", "demo_request"])
def test_other_event_types_are_never_flagged(event_type):
    assert reason(event_type, after=timedelta(seconds=1), user_agent=BOT_AGENTS[0]) is None
