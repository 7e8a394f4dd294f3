"""Channel derivation rules, in the order the README documents them."""

import pytest

from leadline.core.channels import Touch, derive_channel
from leadline.core.leads import Channel


@pytest.mark.parametrize(("touch", "expected"), [
    (Touch(channel="events"), Channel.EVENTS),
    (Touch(channel="EMAIL", utm_medium="cpc"), Channel.EMAIL),
    (Touch(gclid="abc"), Channel.SEA),
    (Touch(msclkid="abc"), Channel.SEA),
    (Touch(gclid="abc", utm_medium="display"), Channel.DISPLAY),
    (Touch(li_fat_id="abc"), Channel.PAID_SOCIAL),
    (Touch(fbclid="abc"), Channel.SOCIAL),
    (Touch(fbclid="abc", utm_medium="cpc"), Channel.PAID_SOCIAL),
    (Touch(utm_medium="cpc", utm_source="google"), Channel.SEA),
    (Touch(utm_medium="cpc", utm_source="linkedin"), Channel.PAID_SOCIAL),
    (Touch(utm_medium="newsletter"), Channel.EMAIL),
    (Touch(utm_medium="banner"), Channel.DISPLAY),
    (Touch(utm_medium="coreg"), Channel.CO_REGISTRATION),
    (Touch(utm_medium="salon"), Channel.EVENTS),
    (Touch(utm_medium="organic", utm_source="google"), Channel.SEO),
    (Touch(utm_source="google"), Channel.SEO),
    (Touch(utm_source="facebook"), Channel.SOCIAL),
    (Touch(utm_source="partner-site"), Channel.OTHER),
    (Touch(referrer="https://www.google.fr/search?q=x"), Channel.SEO),
    (Touch(referrer="https://duckduckgo.com/"), Channel.SEO),
    (Touch(referrer="https://www.linkedin.com/feed"), Channel.SOCIAL),
    (Touch(referrer="https://t.co/xyz"), Channel.SOCIAL),
    (Touch(referrer="https://mail.google.com/mail/u/0"), Channel.EMAIL),
    (Touch(referrer="https://blog.partner.org/post", landing_page="https://acme.fr/"), Channel.REFERRAL),
    (Touch(referrer="https://acme.fr/blog", landing_page="https://www.acme.fr/pricing"), Channel.DIRECT),
    (Touch(), Channel.DIRECT),
    (Touch(referrer="not a url at all ::"), Channel.REFERRAL),
])
def test_channel_rules(touch, expected):
    assert derive_channel(touch) == expected


def test_paid_is_told_apart_from_organic():
    assert Touch(utm_medium="cpc", utm_source="google").is_paid
    assert not Touch(utm_source="google").is_paid
    assert not Touch(referrer="https://www.google.com/").is_paid


def test_derived_touch_defaults_campaign_to_utm_campaign():
    touch = Touch(utm_medium="email", utm_campaign="spring-2026").with_derived_channel()
    assert (touch.channel, touch.campaign) == ("email", "spring-2026")


def test_from_mapping_strips_and_drops_empty_values():
    touch = Touch.from_mapping({"utm_source": "  google ", "utm_medium": "", "unknown": "x"})
    assert touch.utm_source == "google"
    assert touch.utm_medium is None
