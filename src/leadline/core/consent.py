"""Consent rules without I/O: how the ledger's entries fold into a lead's current state, who may lift an
unsubscribe, and how proof is minimised (IP addresses truncated).

The ledger (table `consent_records`) is the truth: a list of entries (purpose, action, source, time). A lead's
consent columns are the fold of its entries through `apply_entry`, kept in the same transaction as each entry:

* `grant` sets the purpose's flag to True, except that a marketing-email grant does not lift an unsubscribe or
  an objection unless the person gave it themselves (`PERSON_SOURCES`: the preference centre or a double
  opt-in confirmation); a re-import can never put an opted-out person back on a mailing list;
* `withdraw` sets the purpose's flag to False;
* `unsubscribe` withdraws marketing email and marks the lead unsubscribed (the suppression list follows);
* `object` (GDPR Art. 21) withdraws every purpose at once (marketing, tracking, profiling i.e. scoring,
  partner sharing) and marks the lead unsubscribed and objected; only the person can undo it, purpose by
  purpose, through the preference centre or a double opt-in.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any


class Purpose(StrEnum):
    MARKETING_EMAIL = "marketing_email"
    TRACKING = "tracking"
    PROFILING = "profiling"
    PARTNER_SHARING = "partner_sharing"


class Action(StrEnum):
    GRANT = "grant"
    WITHDRAW = "withdraw"
    UNSUBSCRIBE = "unsubscribe"
    OBJECT = "object"


class SubjectType(StrEnum):
    CONSUMER = "consumer"
    PROFESSIONAL = "professional"


class LegalBasis(StrEnum):
    CONSENT = "consent"
    LEGITIMATE_INTEREST = "legitimate_interest"
    CONTRACT = "contract"


#: Sources through which the person acts themselves, with proof: only these lift an unsubscribe.
PERSON_SOURCES = frozenset({"preference_centre", "double_opt_in"})

#: The lead column holding each purpose's derived flag (True granted, False refused, None unknown).
COLUMNS: dict[Purpose, str] = {
    Purpose.MARKETING_EMAIL: "consent_email",
    Purpose.TRACKING: "consent_tracking",
    Purpose.PROFILING: "consent_profiling",
    Purpose.PARTNER_SHARING: "consent_partners",
}
STATE_FIELDS = (*COLUMNS.values(), "unsubscribed", "objected_at")


@dataclass(frozen=True, slots=True)
class ConsentState:
    """The derived state: one flag per purpose, the unsubscribe and the objection."""

    flags: tuple[tuple[Purpose, bool | None], ...] = tuple((p, None) for p in Purpose)
    unsubscribed: bool = False
    objected_at: datetime | None = None

    def flag(self, purpose: Purpose) -> bool | None:
        return dict(self.flags)[purpose]

    def with_flag(self, purpose: Purpose, value: bool | None) -> ConsentState:
        return replace(self, flags=tuple((p, value if p is purpose else v) for p, v in self.flags))

    @classmethod
    def of(cls, fields: Mapping[str, Any]) -> ConsentState:
        return cls(flags=tuple((p, fields.get(column)) for p, column in COLUMNS.items()),
                   unsubscribed=bool(fields.get("unsubscribed")), objected_at=fields.get("objected_at"))

    def as_fields(self) -> dict[str, Any]:
        return {**{COLUMNS[p]: v for p, v in self.flags}, "unsubscribed": self.unsubscribed,
                "objected_at": self.objected_at}


@dataclass(frozen=True, slots=True)
class Entry:
    purpose: Purpose
    action: Action
    source: str
    at: datetime


def apply_entry(state: ConsentState, entry: Entry) -> ConsentState:
    """The state after one ledger entry (see the module notes)."""
    by_person = entry.source in PERSON_SOURCES
    if entry.action is Action.OBJECT:
        for purpose in Purpose:
            state = state.with_flag(purpose, False)
        return replace(state, unsubscribed=True, objected_at=state.objected_at or entry.at)
    if entry.action is Action.UNSUBSCRIBE:
        return replace(state.with_flag(Purpose.MARKETING_EMAIL, False), unsubscribed=True)
    if entry.action is Action.WITHDRAW:
        return state.with_flag(entry.purpose, False)
    # grant
    if not by_person and (state.objected_at is not None
                          or (state.unsubscribed and entry.purpose is Purpose.MARKETING_EMAIL)):
        return state  # an opt-out or objection stands until the person lifts it themselves
    state = state.with_flag(entry.purpose, True)
    if by_person:
        if entry.purpose is Purpose.MARKETING_EMAIL:
            state = replace(state, unsubscribed=False)
        state = replace(state, objected_at=None)
    return state


def derive(entries: Iterable[Entry], start: ConsentState | None = None) -> ConsentState:
    """Fold the ledger, oldest entry first."""
    state = start or ConsentState()
    for entry in entries:
        state = apply_entry(state, entry)
    return state


def changes_from_flags(current: ConsentState, *, email_marketing: bool | None, unsubscribed: bool | None,
                       tracking: bool | None = None, profiling: bool | None = None,
                       partner_sharing: bool | None = None) -> list[tuple[Purpose, Action]]:
    """The ledger entries a source's consent facts amount to, leaving out those that change nothing (a
    re-import writes no entry). `None` means the source says nothing."""
    wanted: list[tuple[Purpose, Action]] = []
    if unsubscribed and not current.unsubscribed:
        wanted.append((Purpose.MARKETING_EMAIL, Action.UNSUBSCRIBE))
    for purpose, value in ((Purpose.MARKETING_EMAIL, email_marketing), (Purpose.TRACKING, tracking),
                           (Purpose.PROFILING, profiling), (Purpose.PARTNER_SHARING, partner_sharing)):
        if value is None or (unsubscribed and purpose is Purpose.MARKETING_EMAIL):
            continue
        if current.flag(purpose) is not value:
            wanted.append((purpose, Action.GRANT if value else Action.WITHDRAW))
    return wanted


def truncate_ip(value: str | None) -> str | None:
    """Keep the network, not the host: IPv4 to /24, IPv6 to /48 (enough to prove a submission's origin)."""
    if not value:
        return None
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        return None
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


@dataclass(frozen=True, slots=True)
class EmailFacts:
    """What the B2C/B2B email rule reads of a lead."""

    state: ConsentState
    subject_type: str | None
    is_customer: bool
    free_mail_address: bool


def email_rule(facts: EmailFacts) -> tuple[bool, str]:
    """May we send this person marketing email? French rules (CPCE L.34-5, CNIL): a consumer needs prior
    consent, except the soft opt-in for existing customers about similar products; a professional at a
    professional address may be mailed on an opt-out basis about their job. Unknown kind: treated as a
    consumer (the strict rule)."""
    state = facts.state
    if state.objected_at is not None:
        return False, "objected (GDPR Art. 21)"
    if state.unsubscribed:
        return False, "unsubscribed"
    flag = state.flag(Purpose.MARKETING_EMAIL)
    if flag is True:
        return True, "consent granted"
    if flag is False:
        return False, "consent withdrawn"
    if facts.subject_type == SubjectType.PROFESSIONAL and not facts.free_mail_address:
        return True, "professional address: opt-out basis (legitimate interest)"
    if facts.is_customer:
        return True, "soft opt-in: existing customer"
    return False, "no consent recorded"


def notice_deadline(collected_at: datetime) -> datetime:
    """GDPR Art. 14(3)(a): a person whose data came from someone else is told within one month."""
    year, month = collected_at.year + collected_at.month // 12, collected_at.month % 12 + 1
    day = min(collected_at.day, 28 if month == 2 else 30 if month in (4, 6, 9, 11) else 31)
    return collected_at.replace(year=year, month=month, day=day)
