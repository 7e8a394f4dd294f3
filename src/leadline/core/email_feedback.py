"""Bounce and complaint notifications from email providers, read into one shape (no I/O).

Understood formats:

- Amazon SES through SNS: the SNS envelope (`Type: Notification`, `Message` holding the SES JSON) or the SES
  JSON itself: `notificationType` `Bounce` (only `bounceType: Permanent` suppresses) or `Complaint`;
- Postmark: `RecordType` `Bounce` (hard types: `HardBounce`, `BadEmailAddress`, `ManuallyDeactivated`,
  `SpamNotification`...) or `SpamComplaint`, address in `Email`;
- SendGrid event webhook: a JSON list of events, `event` `bounce` (not `type: blocked`), `dropped` with a bounce
  reason, or `spamreport`, address in `email`.

Soft bounces and other events are reported as ignored, never as suppressions.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

Kind = Literal["bounce", "complaint"]
POSTMARK_HARD = frozenset({"HardBounce", "BadEmailAddress", "ManuallyDeactivated", "SpamNotification",
                           "Blocked", "AddressChange"})
MAX_ITEMS = 1000


@dataclass(frozen=True, slots=True)
class Feedback:
    email: str
    kind: Kind
    provider: str
    detail: str


@dataclass(frozen=True, slots=True)
class Parsed:
    provider: str
    feedback: tuple[Feedback, ...]
    ignored: int = 0
    #: SNS asks to confirm a subscription by fetching this URL (done by an operator: we never fetch URLs
    #: named in an unauthenticated request).
    subscribe_url: str | None = None


class UnknownFormat(ValueError):
    pass


def _address(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    text = value.strip()
    if "<" in text and text.endswith(">"):
        text = text[text.rindex("<") + 1:-1]
    return text.lower() if "@" in text and len(text) <= 320 else None


def _ses(message: Mapping[str, Any]) -> Parsed:
    kind = message.get("notificationType") or message.get("eventType")
    found: list[Feedback] = []
    ignored = 0
    if kind == "Bounce":
        bounce = message.get("bounce") or {}
        permanent = bounce.get("bounceType") == "Permanent"
        for recipient in (bounce.get("bouncedRecipients") or [])[:MAX_ITEMS]:
            email = _address(recipient.get("emailAddress") if isinstance(recipient, Mapping) else None)
            if email and permanent:
                found.append(Feedback(email, "bounce", "ses", str(bounce.get("bounceSubType") or "Permanent")))
            else:
                ignored += 1
    elif kind == "Complaint":
        complaint = message.get("complaint") or {}
        for recipient in (complaint.get("complainedRecipients") or [])[:MAX_ITEMS]:
            email = _address(recipient.get("emailAddress") if isinstance(recipient, Mapping) else None)
            if email:
                found.append(Feedback(email, "complaint", "ses", str(complaint.get("complaintFeedbackType")
                                                                     or "complaint")))
    else:
        ignored += 1
    return Parsed("ses", tuple(found), ignored)


def _postmark(body: Mapping[str, Any]) -> Parsed:
    email = _address(body.get("Email"))
    record = body.get("RecordType")
    if email and record == "SpamComplaint":
        return Parsed("postmark", (Feedback(email, "complaint", "postmark", "SpamComplaint"),))
    if email and record == "Bounce" and body.get("Type") in POSTMARK_HARD:
        return Parsed("postmark", (Feedback(email, "bounce", "postmark", str(body.get("Type"))),))
    return Parsed("postmark", (), 1)


def _sendgrid(events: list[Any]) -> Parsed:
    found: list[Feedback] = []
    ignored = 0
    for event in events[:MAX_ITEMS]:
        if not isinstance(event, Mapping):
            ignored += 1
            continue
        email, name = _address(event.get("email")), event.get("event")
        if email and name == "spamreport":
            found.append(Feedback(email, "complaint", "sendgrid", "spamreport"))
        elif email and name == "bounce" and event.get("type") != "blocked":
            found.append(Feedback(email, "bounce", "sendgrid", str(event.get("reason") or "bounce")[:200]))
        elif email and name == "dropped" and "bounce" in str(event.get("reason") or "").lower():
            found.append(Feedback(email, "bounce", "sendgrid", str(event.get("reason"))[:200]))
        else:
            ignored += 1
    return Parsed("sendgrid", tuple(found), ignored)


def parse_feedback(body: Any) -> Parsed:
    """Read a provider's notification (already decoded from JSON); raises UnknownFormat."""
    if isinstance(body, list):
        return _sendgrid(body)
    if not isinstance(body, Mapping):
        raise UnknownFormat("expected a JSON object or list")
    if body.get("Type") == "SubscriptionConfirmation":
        url = body.get("SubscribeURL")
        return Parsed("sns", (), 0, url if isinstance(url, str) else None)
    if body.get("Type") == "Notification" and isinstance(body.get("Message"), str):
        try:
            inner = json.loads(body["Message"])
        except ValueError:
            raise UnknownFormat("the SNS Message is not JSON") from None
        if not isinstance(inner, Mapping):
            raise UnknownFormat("the SNS Message is not a JSON object")
        return _ses(inner)
    if "notificationType" in body or "eventType" in body:
        return _ses(body)
    if "RecordType" in body:
        return _postmark(body)
    raise UnknownFormat("not an SES/SNS, Postmark or SendGrid notification")
