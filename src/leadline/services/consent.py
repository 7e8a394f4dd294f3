"""The consent gate every marketing send, tracking write and scoring run asks, and the consent ledger it
answers from.

Every change of consent is an entry in `consent_records` (purpose, action, time, source, legal basis, text or
version shown, proof: form id, truncated IP, user agent; provenance for lists from partners). The lead's
columns `consent_email`, `consent_tracking`, `consent_profiling`, `consent_partners`, `unsubscribed` and
`objected_at` are the state derived from those entries (`leadline.core.consent`), written in the same
transaction as each entry, so the gates read one row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from leadline.core.consent import (
    Action,
    ConsentState,
    EmailFacts,
    Entry,
    Purpose,
    apply_entry,
    derive,
    email_rule,
    truncate_ip,
)
from leadline.core.freemail import is_free_mail
from leadline.storage.tables import ConsentRecord, Lead
from leadline.storage.types import utcnow

__all__ = ["Action", "ConsentDecision", "Proof", "Purpose", "ledger", "may_email", "may_profile", "may_track",
           "rebuild_state", "record_consent"]


@dataclass(frozen=True, slots=True)
class ConsentDecision:
    allowed: bool
    reason: str


@dataclass(frozen=True, slots=True)
class Proof:
    """Where a consent change came from and what proves it."""

    source: str
    actor: str
    legal_basis: str | None = None
    text_version: str | None = None
    form_id: int | None = None
    ip: str | None = None
    user_agent: str | None = None
    provenance: dict[str, Any] | None = field(default=None)

    def row(self) -> dict[str, Any]:
        return {"source": self.source[:100], "actor": self.actor[:200], "legal_basis": self.legal_basis,
                "text_version": (self.text_version or None) and self.text_version[:200],
                "form_id": self.form_id, "ip_truncated": truncate_ip(self.ip),
                "user_agent": (self.user_agent or None) and self.user_agent[:300], "provenance": self.provenance}


def _state(lead: Any) -> ConsentState:
    return ConsentState.of({name: getattr(lead, name, None) for name in
                            ("consent_email", "consent_tracking", "consent_profiling", "consent_partners",
                             "unsubscribed", "objected_at")})


def _domain(email: str | None) -> str:
    return email.rpartition("@")[2].lower() if email else ""


def may_email(lead: Lead) -> ConsentDecision:
    """Marketing email: consent granted and no unsubscribe or objection; or the B2B opt-out rule for a
    professional at a professional address; or the soft opt-in for an existing customer."""
    allowed, reason = email_rule(EmailFacts(
        state=_state(lead), subject_type=getattr(lead, "subject_type", None),
        is_customer=getattr(lead, "stage", None) == "customer",
        free_mail_address=not lead.email or is_free_mail(_domain(lead.email))))
    return ConsentDecision(allowed, reason)


def may_track(lead: Lead) -> ConsentDecision:
    """Identified tracking (open pixels, per-person click tokens, page views) needs tracking consent."""
    if getattr(lead, "objected_at", None) is not None:
        return ConsentDecision(False, "objected (GDPR Art. 21)")
    if lead.consent_tracking is True:
        return ConsentDecision(True, "consent granted")
    if lead.consent_tracking is False:
        return ConsentDecision(False, "consent withdrawn")
    return ConsentDecision(False, "no consent recorded")


def may_profile(lead: Lead) -> ConsentDecision:
    """Scoring (rule-based and predictive) is profiling: allowed on legitimate interest until the person
    refuses or objects (Art. 21), then stopped at once."""
    if getattr(lead, "objected_at", None) is not None:
        return ConsentDecision(False, "objected (GDPR Art. 21)")
    flag = getattr(lead, "consent_profiling", None)
    if flag is False:
        return ConsentDecision(False, "profiling refused")
    if flag is True:
        return ConsentDecision(True, "consent granted")
    return ConsentDecision(True, "legitimate interest (the person may object)")


def apply_changes(lead: Any, changes: Sequence[tuple[Purpose, Action]], *, source: str,
                  at: datetime) -> list[tuple[Purpose, Action]]:
    """Apply entries to a lead (an ORM row or an attribute bag) and return those that changed its state:
    an entry that changes nothing is not worth a ledger row."""
    state, kept = _state(lead), []
    for purpose, action in changes:
        after = apply_entry(state, Entry(purpose, action, source, at))
        if after != state or action is Action.OBJECT:
            kept.append((purpose, action))
            state = after
    for name, value in state.as_fields().items():
        setattr(lead, name, value)
    return kept


def ledger_rows(workspace_id: int, lead_id: int, changes: Sequence[tuple[Purpose, Action]], proof: Proof,
                at: datetime) -> list[dict[str, Any]]:
    return [{"workspace_id": workspace_id, "lead_id": lead_id, "purpose": purpose.value, "action": action.value,
             "recorded_at": at, **proof.row()} for purpose, action in changes]


def record_consent(session: Session, lead: Lead, changes: Sequence[tuple[Purpose, Action]], proof: Proof, *,
                   at: datetime | None = None, key: bytes | None = None) -> list[ConsentRecord]:
    """Append ledger entries for a lead and update its derived columns, in the caller's transaction. Side
    effects of the new state follow: an unsubscribe or objection puts the address on the suppression list,
    a refusal of profiling clears the lead's scores."""
    now = at or utcnow()
    kept = apply_changes(lead, changes, source=proof.source, at=now)
    rows = [ConsentRecord(**row) for row in ledger_rows(lead.workspace_id, lead.id, kept, proof, now)]
    session.add_all(rows)
    session.flush()
    if kept:
        after_change(session, [lead.id], workspace_id=lead.workspace_id, at=now, key=key)
    return rows


def after_change(session: Session, lead_ids: Sequence[int], *, workspace_id: int, at: datetime,
                 key: bytes | None = None) -> None:
    """What follows a consent change at once: opted-out addresses go on the suppression list, and leads that
    refused profiling lose their scores and predictions (Art. 21: scoring stops at once)."""
    from leadline.config import get_settings
    from leadline.services.scoring.gate import clear_profiles
    from leadline.services.suppression import SuppressionReason, suppress

    rows = session.execute(select(Lead.id, Lead.email, Lead.unsubscribed, Lead.consent_profiling,
                                  Lead.objected_at).where(Lead.workspace_id == workspace_id,
                                                          Lead.id.in_(list(lead_ids)))).all()
    refused = []
    for lead_id, email, unsubscribed, profiling, objected_at in rows:
        if unsubscribed and email:
            key = key or get_settings().signing_key()
            suppress(session, key=key, workspace_id=workspace_id, email=email,
                     reason=SuppressionReason.UNSUBSCRIBED, source="consent", now=at)
        if profiling is False or objected_at is not None:
            refused.append(lead_id)
    if refused:
        clear_profiles(session, workspace_id, refused)


def ledger(session: Session, workspace_id: int, lead_id: int) -> list[ConsentRecord]:
    return list(session.scalars(select(ConsentRecord).where(
        ConsentRecord.workspace_id == workspace_id, ConsentRecord.lead_id == lead_id).order_by(ConsentRecord.id)))


def rebuild_state(session: Session, lead: Lead) -> ConsentState:
    """The state folded from the ledger alone (what the lead's columns must equal, for leads whose consent
    was only ever changed through the ledger)."""
    return derive(Entry(Purpose(r.purpose), Action(r.action), r.source, r.recorded_at)
                  for r in ledger(session, lead.workspace_id, lead.id))


def narrow_on_merge(session: Session, survivor: Lead, survivor_before: dict[str, Any], other: dict[str, Any], *,
                    other_id: int, actor: str, at: datetime) -> None:
    """Merging never widens consent: every withdrawal, unsubscribe and objection of the merged lead becomes
    a ledger entry of the survivor (source `merge`); its grants do not carry over (they were proven for the
    other record only). `survivor_before` and `other` are the leads' columns before the merge."""
    mine, theirs = ConsentState.of(survivor_before), ConsentState.of(other)
    changes: list[tuple[Purpose, Action]] = []
    if theirs.objected_at is not None and mine.objected_at is None:
        changes.append((Purpose.MARKETING_EMAIL, Action.OBJECT))
    if theirs.unsubscribed and not mine.unsubscribed:
        changes.append((Purpose.MARKETING_EMAIL, Action.UNSUBSCRIBE))
    changes += [(purpose, Action.WITHDRAW) for purpose in Purpose
                if theirs.flag(purpose) is False and mine.flag(purpose) is not False]
    if not changes:
        return
    for name, value in mine.as_fields().items():  # replay from the survivor's own state before the merge
        setattr(survivor, name, value)
    record_consent(session, survivor, changes, Proof(source="merge", actor=actor,
                                                     provenance={"merged_lead_id": other_id}), at=at)
