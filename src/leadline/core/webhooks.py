"""Webhooks without I/O: topics, the signature, the body's bytes, and what an attempt's outcome means.

The signature is Stripe-like: header ``Leadline-Signature: t=<unix seconds>,v1=<hex>`` where the hex is
HMAC-SHA256 with the subscription's secret over ``f"{t}.{body}"``. Signing the timestamp lets a receiver
refuse replays older than a few minutes; ``v1`` leaves room for another scheme beside it during a rotation.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

#: What a subscription may listen to (the outbox topics), plus `ping` sent by the test endpoint.
TOPICS: tuple[str, ...] = ("lead.stage_changed", "lead.assigned", "lead.overdue", "lead.mql_ready",
                           "segment.entered", "segment.left", "lead.erased", "workflow.webhook")
PING = "ping"
SIGNATURE_HEADER = "Leadline-Signature"
MAX_ATTEMPTS = 8
FIRST_RETRY = timedelta(seconds=10)
MAX_RETRY = timedelta(hours=1)
#: What a lead contributes to a webhook body: ids and qualification, no contact details (the receiver
#: fetches the lead with its own API key if it needs more, so access stays with the key's scopes).
LEAD_FIELDS: tuple[str, ...] = ("id", "stage", "score", "temperature", "owner_id")


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def body_bytes(payload: dict[str, Any]) -> bytes:
    """One serialisation for every attempt (sorted keys, no spaces), so a retry sends the same bytes."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sign(secret: str, timestamp: int, body: bytes, *, also: Sequence[str] = ()) -> str:
    """The header; during a rotation, `also` (the previous secret) adds a second `v1`, so a receiver still
    holding the old secret verifies too."""
    macs = [hmac.new(key.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
            for key in (secret, *also)]
    return ",".join([f"t={timestamp}", *(f"v1={mac}" for mac in macs)])


def verify(secret: str, header: str, body: bytes, *, now: int, tolerance: int = 300) -> bool:
    """What a receiver does (the README shows the same in a few lines): parse, recompute, compare in constant
    time, refuse stale timestamps."""
    parts = [p.split("=", 1) for p in header.split(",") if "=" in p]
    stamps = [v for k, v in parts if k == "t"]
    macs = [v for k, v in parts if k == "v1"]
    if len(stamps) != 1 or not stamps[0].isdigit() or abs(now - int(stamps[0])) > tolerance:
        return False
    expected = sign(secret, int(stamps[0]), body).split("v1=", 1)[1]
    return any(hmac.compare_digest(expected, m) for m in macs)


def event_body(*, topic: str, workspace_id: int, occurred_at: datetime, lead: dict[str, Any] | None,
               data: dict[str, Any]) -> dict[str, Any]:
    """The JSON a receiver gets, but its `id` (see `with_id`). Ids are strings, as in the API."""
    return {"type": topic, "workspace_id": str(workspace_id), "occurred_at": occurred_at.isoformat(),
            "lead": lead, "data": data}


def with_id(payload: dict[str, Any], delivery_id: int) -> dict[str, Any]:
    """The stored payload plus the delivery id (the idempotency key), added when sent so that deliveries can
    be inserted in bulk."""
    return {**payload, "id": str(delivery_id)}


class Outcome(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Verdict:
    outcome: Outcome
    reason: str | None = None


def judge(status_code: int | None, error: str | None) -> Verdict:
    """2xx delivered; network errors, 5xx and 429 retried; anything else (3xx not followed, 4xx) is the
    receiver's final answer."""
    if status_code is None:
        return Verdict(Outcome.RETRY, error or "no response")
    if 200 <= status_code < 300:
        return Verdict(Outcome.DELIVERED)
    if status_code >= 500 or status_code == 429:
        return Verdict(Outcome.RETRY, f"HTTP {status_code}")
    if 300 <= status_code < 400:
        return Verdict(Outcome.FAILED, f"HTTP {status_code}: redirects are not followed")
    return Verdict(Outcome.FAILED, f"HTTP {status_code}")


def retry_delay(attempts: int, retry_after: float | None = None) -> timedelta:
    """10 s, 20 s, 40 s ... capped at one hour; a receiver's Retry-After (seconds) is honoured up to the cap."""
    delay = FIRST_RETRY * float(2 ** min(max(attempts - 1, 0), 20))
    if retry_after is not None and retry_after > 0:
        delay = max(delay, timedelta(seconds=retry_after))
    return min(delay, MAX_RETRY)
