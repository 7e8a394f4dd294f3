"""Notification emails without I/O: who gets one for a topic, and its plain-text subject and body.

Plain text only, so nothing in a lead's fields can become markup; values that go into a header (the subject, a
display name) are cut to one line, so a name with a line break cannot add a header.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")

#: The topics that send an email, and the kind of email each one is.
KINDS: dict[str, str] = {"lead.assigned": "assigned", "lead.overdue": "overdue"}


def one_line(text: str, limit: int = 150) -> str:
    flat = " ".join(_CONTROL.sub(" ", text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def recipient_of(topic: str, payload: Mapping[str, Any]) -> int | None:
    """The user to tell: the new owner of an assigned lead; for an overdue one the owner, or the manager when
    the escalation notifies a manager."""
    if topic == "lead.overdue" and payload.get("escalation") == "notified" and payload.get("manager_id"):
        return _as_id(payload["manager_id"])
    return _as_id(payload.get("owner_id"))


def _as_id(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


@dataclass(frozen=True, slots=True)
class LeadFacts:
    id: int
    label: str  # the lead's name, else its email, else "lead <id>"
    stage: str
    score: float
    temperature: str


@dataclass(frozen=True, slots=True)
class Draft:
    subject: str
    body: str


@dataclass(frozen=True, slots=True)
class Context:
    recipient_name: str
    lead: LeadFacts
    payload: Mapping[str, Any]
    lead_url: str
    owner_name: str | None = None  # for a manager's copy


def lead_label(*, lead_id: int, first_name: str | None, last_name: str | None, email: str | None) -> str:
    name = " ".join(p for p in (first_name, last_name) if p)
    return one_line(name or email or f"lead {lead_id}", 80)


def _due(payload: Mapping[str, Any]) -> str:
    raw = payload.get("follow_up_due_at")
    if not isinstance(raw, str):
        return "not set"
    try:
        return datetime.fromisoformat(raw).strftime("%Y-%m-%d %H:%M %Z").strip()
    except ValueError:
        return one_line(raw, 40)


def _facts(lead: LeadFacts) -> str:
    return f"Lead: {lead.label}\nStage: {lead.stage}\nScore: {lead.score:g} ({lead.temperature})"


def _assigned(c: Context) -> Draft:
    rule = c.payload.get("rule")
    how = f" by the rule {one_line(str(rule), 80)!r}" if rule else ""
    body = (f"Hello {one_line(c.recipient_name)},\n\n"
            f"A lead was assigned to you{how}.\n\n{_facts(c.lead)}\nFollow up by: {_due(c.payload)}\n\n"
            f"Open the lead: {c.lead_url}\n\n-- Leadline\n")
    return Draft(subject=one_line(f"New lead for you: {c.lead.label}"), body=body)


def _overdue(c: Context) -> Draft:
    if c.owner_name is not None:
        whose = f"{one_line(c.owner_name)}'s follow-up of this lead"
        subject = f"Overdue follow-up by {c.owner_name}: {c.lead.label}"
    else:
        whose = "Your follow-up of this lead"
        subject = f"Overdue follow-up: {c.lead.label}"
    escalation = c.payload.get("escalation")
    after = " It was reassigned." if escalation == "reassigned" else ""
    body = (f"Hello {one_line(c.recipient_name)},\n\n"
            f"{whose} was due {_due(c.payload)} and no call, email or meeting has been logged.{after}\n\n"
            f"{_facts(c.lead)}\n\nOpen the lead: {c.lead_url}\n\n-- Leadline\n")
    return Draft(subject=one_line(subject), body=body)


COMPOSERS: dict[str, Callable[[Context], Draft]] = {"assigned": _assigned, "overdue": _overdue}


def compose(kind: str, context: Context) -> Draft:
    return COMPOSERS[kind](context)
