"""Website tracking rules: what a snippet batch may hold, which sites may send it, who is a bot, and the
definitions of embeddable forms. Pure: no I/O, no database.

A batch (`POST /t/collect?k=PUBLIC_KEY`, sent by `t.js` as text/plain JSON so browsers need no preflight)::

    {"consent": true, "visitor": "v1.k3j...", "events": [
        {"type": "page_view", "id": "e1", "at": 1732380000000,
         "props": {"path": "/pricing", "title": "Pricing", "url": "https://acme.fr/pricing?x=1",
                   "referrer": "https://www.google.com/"},
         "source": {"utm_source": "google", "gclid": "abc", "landing_page": "https://acme.fr/?gclid=abc"}},
        {"type": "identify", "id": "e2", "email": "jane@acme.fr", "source": {...}}]}

Without consent (`"consent": false`) only page views count, and only as a number per day and path.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from leadline.core.channels import TOUCH_FIELDS
from leadline.core.lead_input import FieldProblem
from leadline.core.leads import EVENT_TYPE_PATTERN

#: Known crawlers, link previewers, monitoring tools, HTTP libraries and headless or automated browsers.
BOT_PATTERN = re.compile(
    r"bot\b|bot/|crawl|spider|slurp|headless|phantomjs|puppeteer|playwright|selenium|webdriver|lighthouse"
    r"|pagespeed|gtmetrix|pingdom|uptime|monitor|facebookexternalhit|embedly|quora link preview|preview"
    r"|python-requests|python-httpx|aiohttp|curl/|wget/|go-http-client|java/|okhttp|libwww|httpclient|scrapy"
    r"|axios/|node-fetch|bingpreview|yandex(bot|images)|baiduspider|semrush|ahrefs|mj12|dotbot|petalbot|bytespider"
    r"|gptbot|ccbot|claudebot|anthropic-ai|perplexity|applebot|google-inspectiontool|feedfetcher|validator",
    re.IGNORECASE)
#: Event types the snippet sends besides the site's own custom ones.
IDENTIFY = "identify"
PAGE_VIEW = "page_view"
MAX_EVENTS = 100
MAX_PROPERTIES = 30
MAX_TEXT = 2000
MAX_PATH = 500
VISITOR_PATTERN = re.compile(r"^[A-Za-z0-9._-]{8,100}$")
EVENT_ID_PATTERN = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")
DOMAIN_PATTERN = re.compile(r"^(?=.{1,253}$)(localhost|(\d{1,3}\.){3}\d{1,3}|([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+"
                            r"[a-z]{2,63}|\[[0-9a-f:]+\])$")
#: Touch facts the events table has no column for: kept in the event's properties so identify can use them.
EXTRA_TOUCH_FIELDS = ("gclid", "fbclid", "li_fat_id", "msclkid", "landing_page")


class InvalidBatch(ValueError):
    def __init__(self, problems: list[FieldProblem]):
        super().__init__("; ".join(f"{p.field}: {p.reason}" for p in problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class SnippetEvent:
    type: str
    event_id: str | None
    occurred_at: datetime | None
    properties: dict[str, Any] = field(default_factory=dict)
    source: dict[str, str] = field(default_factory=dict)
    email: str | None = None
    #: `identify` by the signed token a tracked email click adds to the link (`ll_id`), instead of an email.
    token: str | None = None
    #: The lead that token names, once the endpoint has verified it (never taken from the browser).
    lead_id: int | None = None


@dataclass(frozen=True, slots=True)
class SnippetBatch:
    consent: bool
    visitor: str | None
    events: tuple[SnippetEvent, ...]


def is_bot(user_agent: str | None) -> bool:
    """Empty user agents count as bots: every real browser sends one."""
    return not user_agent or BOT_PATTERN.search(user_agent) is not None


def normalise_domain(value: str) -> str:
    """A host name as users type it (`https://www.Acme.fr/`, `acme.fr`) -> `www.acme.fr`; ValueError if none."""
    text = value.strip().lower()
    if "://" in text:
        text = urlsplit(text).hostname or ""
    text = text.split("/")[0].rstrip(".")
    if text.startswith("*."):
        text = text[2:]
    if ":" in text and not text.startswith("["):
        text = text.split(":")[0]
    if not DOMAIN_PATTERN.match(text):
        raise ValueError(f"{value!r} is not a host name")
    return text


def origin_host(origin: str | None) -> str | None:
    """The host of an `Origin` (or `Referer`) header, lowercased; None for `null`, opaque or malformed ones."""
    if not origin or origin == "null":
        return None
    try:
        host = urlsplit(origin).hostname
    except ValueError:
        return None
    return host.lower() if host else None


def host_allowed(host: str | None, allowed_domains: list[str] | tuple[str, ...]) -> bool:
    """A listed domain allows itself and its subdomains (`acme.fr` allows `www.acme.fr`, not `evilacme.fr`)."""
    if not host:
        return False
    return any(host == domain or host.endswith("." + domain) for domain in allowed_domains)


def aggregate_path(value: Any) -> str:
    """The path alone (no query string or fragment, which may carry personal data), for consent-free counts."""
    text = value if isinstance(value, str) else ""
    try:
        path = urlsplit(text).path if "://" in text else text.split("?")[0].split("#")[0]
    except ValueError:
        path = ""
    if not path.startswith("/"):
        path = "/" + path
    return path[:MAX_PATH]


def _text(value: Any, limit: int = MAX_TEXT) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        value = str(value)
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value[:limit] or None


def _time(value: Any, where: str, problems: list[FieldProblem]) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 10**14:
        problems.append(FieldProblem(where, "a time in milliseconds since 1970"))
        return None
    return datetime.fromtimestamp(value / 1000, tz=UTC)


def _properties(value: Any, where: str, problems: list[FieldProblem]) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        problems.append(FieldProblem(where, "an object"))
        return {}
    items = list(value.items())[:MAX_PROPERTIES]
    # Fast path (what t.js sends): short string keys, string or null values.
    if all(type(k) is str and 0 < len(k) <= 64 and (v is None or (type(v) is str and len(v) <= MAX_TEXT))
           for k, v in items):
        return dict(items)
    props: dict[str, Any] = {}
    for key, item in items:
        if not isinstance(key, str) or not key:
            continue
        if isinstance(item, bool | int | float) or item is None:
            props[key[:64]] = item
        elif isinstance(item, str):
            props[key[:64]] = item[:MAX_TEXT]
    return props


def _source(value: Any, where: str, problems: list[FieldProblem]) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        problems.append(FieldProblem(where, "an object"))
        return {}
    return {name: text for name in TOUCH_FIELDS if name != "channel" and (text := _text(value.get(name)))}


def _event(raw: Any, where: str, problems: list[FieldProblem]) -> SnippetEvent | None:
    if not isinstance(raw, Mapping):
        problems.append(FieldProblem(where, "an object"))
        return None
    kind = raw.get("type")
    if kind != PAGE_VIEW and (not isinstance(kind, str) or not EVENT_TYPE_PATTERN.match(kind)):
        problems.append(FieldProblem(f"{where}.type", "a lowercase event name such as page_view"))
        return None
    event_id = raw.get("id")
    if event_id is not None and (not isinstance(event_id, str) or not EVENT_ID_PATTERN.match(event_id)):
        problems.append(FieldProblem(f"{where}.id", "up to 100 letters, digits, dots, dashes or colons"))
        return None
    email = token = None
    if kind == IDENTIFY:
        email, token = _text(raw.get("email"), 320), _text(raw.get("token"), 2000)
        if email is None and token is None:
            problems.append(FieldProblem(f"{where}.email", "identify needs an email (or an email link's token)"))
            return None
    return SnippetEvent(type=kind, event_id=event_id, occurred_at=_time(raw.get("at"), f"{where}.at", problems),
                        properties=_properties(raw.get("props"), f"{where}.props", problems),
                        source=_source(raw.get("source"), f"{where}.source", problems), email=email,
                        token=token)


def parse_batch(data: Any, *, max_events: int = MAX_EVENTS) -> SnippetBatch:
    """Check a snippet batch; InvalidBatch names each field at fault (nothing of a bad batch is stored)."""
    if not isinstance(data, Mapping):
        raise InvalidBatch([FieldProblem("body", "a JSON object with an events list")])
    problems: list[FieldProblem] = []
    events = data.get("events")
    if not isinstance(events, list) or not events:
        raise InvalidBatch([FieldProblem("events", "a non-empty list")])
    if len(events) > max_events:
        raise InvalidBatch([FieldProblem("events", f"at most {max_events} events per batch")])
    consent = data.get("consent") is True
    visitor = data.get("visitor")
    if visitor is not None and (not isinstance(visitor, str) or not VISITOR_PATTERN.match(visitor)):
        problems.append(FieldProblem("visitor", "8 to 100 letters, digits, dots, dashes or underscores"))
        visitor = None
    parsed = [_event(raw, f"events.{i}", problems) for i, raw in enumerate(events)]
    if consent and visitor is None and not problems:
        problems.append(FieldProblem("visitor", "a consented batch names its anonymous visitor"))
    if problems:
        raise InvalidBatch(problems)
    return SnippetBatch(consent=consent, visitor=visitor if consent else None,
                        events=tuple(e for e in parsed if e is not None))


# --- bot timing on forms --------------------------------------------------------------------------------------


def timing_token(secret: bytes, form_key: str, issued: datetime) -> str:
    """When a form was shown, signed: a submission faster than a person can type is a bot's."""
    stamp = str(int(issued.timestamp()))
    return f"{stamp}.{_sign(secret, form_key, stamp)}"


def _sign(secret: bytes, form_key: str, stamp: str) -> str:
    return hmac.new(secret, f"form-timing:{form_key}:{stamp}".encode(), hashlib.sha256).hexdigest()[:20]


def filled_too_fast(secret: bytes, form_key: str, token: str | None, now: datetime, min_seconds: int) -> bool:
    """True when the token is missing, forged, older than a day or younger than `min_seconds`."""
    if min_seconds <= 0:
        return False
    stamp, _, signature = (token or "").partition(".")
    if not stamp.isdigit() or len(stamp) > 12 or not hmac.compare_digest(signature, _sign(secret, form_key, stamp)):
        return True
    elapsed = now.timestamp() - int(stamp)
    return not min_seconds <= elapsed <= 86_400


# --- embeddable form definitions ------------------------------------------------------------------------------

FIELD_TYPES = frozenset({"text", "email", "tel", "textarea", "select", "checkbox", "hidden"})
FIELD_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
#: Purposes a form's consent box may ask for (they map onto the consent gate's purposes).
CONSENT_PURPOSES = ("marketing_email", "tracking")
RESERVED_NAMES = frozenset({"anonymous_id", "event_id", *TOUCH_FIELDS}) | {f"consent_{p}" for p in CONSENT_PURPOSES}


@dataclass(frozen=True, slots=True)
class FormField:
    name: str
    label: str
    type: str = "text"
    required: bool = False
    options: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "label": self.label, "type": self.type, "required": self.required,
                "options": list(self.options)}


@dataclass(frozen=True, slots=True)
class ConsentBox:
    purpose: str
    label: str

    @property
    def field_name(self) -> str:
        return f"consent_{self.purpose}"

    def as_dict(self) -> dict[str, Any]:
        return {"purpose": self.purpose, "label": self.label}


def parse_fields(raw: Any, *, honeypot: str) -> list[FormField]:
    """A form's field list, checked: known types, unique names, a label each (screen readers read it)."""
    if not isinstance(raw, list) or not raw:
        raise InvalidBatch([FieldProblem("fields", "a non-empty list of fields")])
    problems: list[FieldProblem] = []
    fields: list[FormField] = []
    seen: set[str] = set()
    for i, item in enumerate(raw[:40]):
        where = f"fields.{i}"
        if not isinstance(item, Mapping):
            problems.append(FieldProblem(where, "an object with name, label and type"))
            continue
        name, label, kind = item.get("name"), item.get("label"), item.get("type", "text")
        if not isinstance(name, str) or not FIELD_NAME.match(name) or name in RESERVED_NAMES or name == honeypot:
            problems.append(FieldProblem(f"{where}.name", "lowercase letters, digits and _ (not a reserved name)"))
            continue
        if name in seen:
            problems.append(FieldProblem(f"{where}.name", "used twice"))
            continue
        seen.add(name)
        if kind not in FIELD_TYPES:
            problems.append(FieldProblem(f"{where}.type", f"one of {', '.join(sorted(FIELD_TYPES))}"))
            continue
        if not isinstance(label, str) or not label.strip() or len(label) > 200:
            problems.append(FieldProblem(f"{where}.label", "a label of 1 to 200 characters"))
            continue
        options = item.get("options") or []
        if kind == "select" and (not isinstance(options, list) or not options
                                 or not all(isinstance(o, str) and 0 < len(o) <= 200 for o in options)):
            problems.append(FieldProblem(f"{where}.options", "a select needs a list of option texts"))
            continue
        fields.append(FormField(name, label.strip(), str(kind), item.get("required") is True,
                                tuple(options) if kind == "select" else ()))
    if not problems and not any(f.name in ("email", "phone") for f in fields):
        problems.append(FieldProblem("fields", "a form needs an email or a phone field"))
    if problems:
        raise InvalidBatch(problems)
    return fields


def parse_consent_boxes(raw: Any) -> list[ConsentBox]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise InvalidBatch([FieldProblem("consent_boxes", "a list")])
    boxes: list[ConsentBox] = []
    problems: list[FieldProblem] = []
    for i, item in enumerate(raw):
        purpose = item.get("purpose") if isinstance(item, Mapping) else None
        label = item.get("label") if isinstance(item, Mapping) else None
        if purpose not in CONSENT_PURPOSES or any(b.purpose == purpose for b in boxes):
            problems.append(FieldProblem(f"consent_boxes.{i}.purpose", f"one of {', '.join(CONSENT_PURPOSES)}, "
                                                                        "once"))
        elif not isinstance(label, str) or not label.strip() or len(label) > 500:
            problems.append(FieldProblem(f"consent_boxes.{i}.label", "the text next to the box (1 to 500 chars)"))
        else:
            boxes.append(ConsentBox(str(purpose), label.strip()))
    if problems:
        raise InvalidBatch(problems)
    return boxes


def missing_required(fields: list[FormField], submitted: Mapping[str, str]) -> list[FieldProblem]:
    return [FieldProblem(f.name, "required") for f in fields
            if f.required and not (submitted.get(f.name) or "").strip()]


def invalid_choices(fields: list[FormField], submitted: Mapping[str, str]) -> list[FieldProblem]:
    return [FieldProblem(f.name, "not one of the choices") for f in fields
            if f.type == "select" and submitted.get(f.name) and submitted[f.name] not in f.options]
