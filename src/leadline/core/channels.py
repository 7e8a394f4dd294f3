"""Where a lead or a visit came from: the touch, and the rules that derive its channel.

The rules, in order (first match wins); they are documented in the README:

1. a channel given explicitly is kept;
2. a paid click id: `gclid` or `msclkid` -> `sea`; `li_fat_id` -> `paid_social`; `fbclid` -> `paid_social`
   when `utm_medium` says paid, else `social` (Facebook adds fbclid to organic links too);
3. `utm_medium` by its family (cpc/ppc -> `sea`, or `paid_social` when `utm_source` is a social network;
   display/banner/cpm -> `display`; email/newsletter -> `email`; social -> `social`; affiliate; referral; sms;
   event/tradeshow -> `events`; coreg -> `co-registration`; organic -> `seo`);
4. `utm_source` alone: a search engine -> `seo`, a social network -> `social`, a mail provider -> `email`,
   anything else -> `other` (someone tagged the link but said nothing we know);
5. the referrer's host: search engine -> `seo`, social network -> `social`, webmail -> `email`, the site's own
   host -> `direct`, any other host -> `referral`;
6. nothing at all -> `direct`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from leadline.core.leads import PAID_CHANNELS, Channel

SEARCH_ENGINES = ("google.", "bing.", "yahoo.", "duckduckgo.", "baidu.", "yandex.", "ecosia.", "qwant.",
                  "search.brave.", "startpage.", "naver.", "seznam.")
SOCIAL_NETWORKS = ("facebook.", "fb.", "instagram.", "linkedin.", "lnkd.in", "twitter.", "t.co", "x.com",
                   "youtube.", "tiktok.", "pinterest.", "reddit.", "snapchat.", "threads.net", "mastodon.",
                   "bsky.", "whatsapp.", "telegram.", "xing.", "viadeo.", "quora.")
WEBMAILS = ("mail.google.", "outlook.live.", "outlook.office", "mail.yahoo.", "webmail.", "mail.", "laposte.net",
            "orange.fr")
SOCIAL_SOURCE_NAMES = frozenset({"facebook", "fb", "instagram", "ig", "linkedin", "twitter", "x", "youtube",
                                 "tiktok", "pinterest", "reddit", "snapchat", "meta", "xing"})
SEARCH_SOURCE_NAMES = frozenset({"google", "bing", "yahoo", "duckduckgo", "baidu", "yandex", "ecosia", "qwant"})
MAIL_SOURCE_NAMES = frozenset({"newsletter", "email", "mailchimp", "brevo", "sendinblue", "hubspot", "mautic"})

_MEDIUM_FAMILIES: dict[Channel, frozenset[str]] = {
    Channel.SEA: frozenset({"cpc", "ppc", "paid", "paidsearch", "paid_search", "paid-search", "sem", "search_ads"}),
    Channel.PAID_SOCIAL: frozenset({"paid_social", "paidsocial", "paid-social", "social_paid", "social-paid",
                                    "socialads", "social_ads"}),
    Channel.DISPLAY: frozenset({"display", "banner", "cpm", "programmatic", "retargeting", "video", "native"}),
    Channel.EMAIL: frozenset({"email", "e-mail", "e_mail", "newsletter", "mail", "emailing"}),
    Channel.SOCIAL: frozenset({"social", "social-network", "social_network", "sm", "social-media", "organic_social"}),
    Channel.AFFILIATE: frozenset({"affiliate", "affiliates", "affiliation", "partner"}),
    Channel.REFERRAL: frozenset({"referral", "referer", "link"}),
    Channel.SMS: frozenset({"sms", "text", "mms"}),
    Channel.EVENTS: frozenset({"event", "events", "tradeshow", "trade_show", "trade-show", "salon", "webinar",
                               "conference"}),
    Channel.CO_REGISTRATION: frozenset({"coreg", "co-registration", "co_registration", "coregistration"}),
    Channel.SEO: frozenset({"organic", "seo", "organic_search"}),
}
_PAID_MEDIUMS = _MEDIUM_FAMILIES[Channel.SEA] | _MEDIUM_FAMILIES[Channel.PAID_SOCIAL] | {"cpm", "display"}

TOUCH_FIELDS = ("channel", "campaign", "utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content",
                "gclid", "fbclid", "li_fat_id", "msclkid", "referrer", "landing_page")


@dataclass(frozen=True, slots=True)
class Touch:
    """One marketing touch: the attribution facts of a visit, a form or an import row."""

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
    def from_mapping(cls, data: dict[str, Any] | None) -> Touch:
        if not data:
            return cls()
        values = {name: _clean(data.get(name)) for name in TOUCH_FIELDS}
        return cls(**values)

    def is_empty(self) -> bool:
        return all(getattr(self, name) is None for name in TOUCH_FIELDS)

    def as_dict(self) -> dict[str, str | None]:
        return {name: getattr(self, name) for name in TOUCH_FIELDS}

    def with_derived_channel(self) -> Touch:
        """The same touch with `channel` set by the rules above, and `campaign` defaulting to utm_campaign."""
        return _with_derived_channel(self)

    @property
    def is_direct(self) -> bool:
        return (self.channel or derive_channel(self)) == Channel.DIRECT

    @property
    def is_paid(self) -> bool:
        return (self.channel or derive_channel(self)) in PAID_CHANNELS


@lru_cache(maxsize=4096)
def _with_derived_channel(touch: Touch) -> Touch:
    """Cached: a stream of events carries a handful of distinct touches, and the rules scan ~40 host patterns."""
    channel = derive_channel(touch)
    campaign = touch.campaign or touch.utm_campaign
    if channel == touch.channel and campaign == touch.campaign:
        return touch
    return Touch(channel, campaign, touch.utm_source, touch.utm_medium, touch.utm_campaign, touch.utm_term,
                 touch.utm_content, touch.gclid, touch.fbclid, touch.li_fat_id, touch.msclkid, touch.referrer,
                 touch.landing_page)


def _clean(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text[:2000] or None


def _host(url: str | None) -> str:
    if not url:
        return ""
    candidate = url if "://" in url else f"//{url}"
    try:
        return (urlsplit(candidate).hostname or "").lower()
    except ValueError:
        return ""


def _host_matches(host: str, patterns: tuple[str, ...]) -> bool:
    bare = host.removeprefix("www.").removeprefix("m.")
    return any(bare.startswith(p) or f".{p}" in f".{bare}" for p in patterns)


def _from_click_ids(touch: Touch, medium: str) -> Channel | None:
    if touch.gclid or touch.msclkid:
        return Channel.DISPLAY if medium in _MEDIUM_FAMILIES[Channel.DISPLAY] else Channel.SEA
    if touch.li_fat_id:
        return Channel.PAID_SOCIAL
    if touch.fbclid:
        return Channel.PAID_SOCIAL if medium in _PAID_MEDIUMS else Channel.SOCIAL
    return None


def _from_medium(medium: str, source: str) -> Channel | None:
    for channel, names in _MEDIUM_FAMILIES.items():
        if medium in names:
            if channel == Channel.SEA and source in SOCIAL_SOURCE_NAMES:
                return Channel.PAID_SOCIAL
            return channel
    return None


def _from_source(source: str) -> Channel:
    if source in SEARCH_SOURCE_NAMES:
        return Channel.SEO
    if source in SOCIAL_SOURCE_NAMES:
        return Channel.SOCIAL
    if source in MAIL_SOURCE_NAMES:
        return Channel.EMAIL
    return Channel.OTHER


def _from_referrer(referrer_host: str, landing_host: str) -> Channel:
    if landing_host and referrer_host.removeprefix("www.") == landing_host.removeprefix("www."):
        return Channel.DIRECT
    if _host_matches(referrer_host, WEBMAILS):
        return Channel.EMAIL
    if _host_matches(referrer_host, SEARCH_ENGINES):
        return Channel.SEO
    if _host_matches(referrer_host, SOCIAL_NETWORKS):
        return Channel.SOCIAL
    return Channel.REFERRAL


def derive_channel(touch: Touch) -> Channel:
    if touch.channel:
        try:
            return Channel(touch.channel.lower())
        except ValueError:
            return Channel.OTHER
    medium = (touch.utm_medium or "").lower()
    source = (touch.utm_source or "").lower()
    by_click = _from_click_ids(touch, medium)
    if by_click is not None:
        return by_click
    if medium:
        by_medium = _from_medium(medium, source)
        if by_medium is not None:
            return by_medium
    if source:
        return _from_source(source)
    referrer_host = _host(touch.referrer)
    if referrer_host:
        return _from_referrer(referrer_host, _host(touch.landing_page))
    return Channel.DIRECT
