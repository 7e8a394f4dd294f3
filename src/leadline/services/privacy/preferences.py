"""The preference centre and double opt-in: signed links, no login.

A link carries a token: the workspace, the lead, what it is for (`prefs` or `confirm`), the purposes and form
of a confirmation, and an expiry, signed with HMAC-SHA256 under the instance secret (`settings.signing_key()`).
Nothing is stored for it, and it can be neither forged nor redirected to another lead.

Choices made there are ledger entries with source `preference_centre` or `double_opt_in` (the person acting
themselves, with the truncated IP and user agent as proof): the only sources that lift an unsubscribe, and a
marketing grant by the person takes the address off the suppression list (`lift`; an erasure stays).

Double opt-in: a form that asks for it emits `consent.confirmation_requested` (payload `{"purposes": [...],
"form_id": int | null}`, the lead on the message); the consumer below records a `consent_emails` row (ids
only), and `send_due_confirmations` mails the link over SMTP, at most once (the claim pattern of
`services.notifications`). Confirming records the grants and a `consent_confirmed` event.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import make_msgid

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from leadline.core.consent import Action, Purpose
from leadline.services import audit, outbox
from leadline.services.consent import Proof, record_consent
from leadline.services.events import EventDraft, record_events
from leadline.services.notifications import STUCK_AFTER, SmtpConfig, send_all, settle
from leadline.services.suppression import lift
from leadline.storage.database import Database
from leadline.storage.tables import ConsentEmail, Lead, OutboxMessage, Workspace
from leadline.storage.types import utcnow

logger = logging.getLogger(__name__)

PREFS_TTL = timedelta(days=365)
CONFIRM_TTL = timedelta(days=7)
BATCH = 100
TOPIC = "consent.confirmation_requested"


class BadToken(Exception):
    """The link is malformed, forged, for another purpose or expired."""


@dataclass(frozen=True, slots=True)
class Token:
    workspace_id: int
    lead_id: int
    kind: str  # prefs | confirm
    purposes: tuple[Purpose, ...] = ()
    form_id: int | None = None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, payload: str) -> str:
    return _b64(hmac.new(key, b"leadline-privacy-link:" + payload.encode(), hashlib.sha256).digest())


def make_token(key: bytes, token: Token, *, now: datetime | None = None) -> str:
    ttl = CONFIRM_TTL if token.kind == "confirm" else PREFS_TTL
    body = {"w": token.workspace_id, "l": token.lead_id, "k": token.kind, "p": [p.value for p in token.purposes],
            "f": token.form_id, "e": int(((now or utcnow()) + ttl).timestamp())}
    payload = _b64(json.dumps(body, separators=(",", ":")).encode())
    return f"{payload}.{_mac(key, payload)}"


def read_token(key: bytes, text: str, *, kind: str, now: datetime | None = None) -> Token:
    payload, _, mac = text.partition(".")
    if not payload or len(text) > 2000 or not hmac.compare_digest(mac, _mac(key, payload)):
        raise BadToken("this link is not valid")
    try:
        body = json.loads(_unb64(payload))
        token = Token(workspace_id=int(body["w"]), lead_id=int(body["l"]), kind=str(body["k"]),
                      purposes=tuple(Purpose(p) for p in body["p"]),
                      form_id=int(body["f"]) if body["f"] is not None else None)
        expires = int(body["e"])
    except (ValueError, KeyError, TypeError) as exc:
        raise BadToken("this link is not valid") from exc
    if token.kind != kind:
        raise BadToken("this link is not valid here")
    if expires < (now or utcnow()).timestamp():
        raise BadToken("this link has expired")
    return token


def lead_of(session: Session, token: Token) -> Lead:
    lead = session.scalar(select(Lead).where(Lead.workspace_id == token.workspace_id, Lead.id == token.lead_id))
    if lead is None or lead.merged_into_id is not None:
        raise BadToken("we hold no data about you any more")
    return lead


def preferences_url(app_url: str, key: bytes, lead: Lead) -> str:
    token = make_token(key, Token(workspace_id=lead.workspace_id, lead_id=lead.id, kind="prefs"))
    return f"{app_url.rstrip('/')}/privacy/preferences/{token}"


@dataclass(frozen=True, slots=True)
class Visit:
    """Proof of the person's own action."""

    ip: str | None
    user_agent: str | None


def _proof(source: str, visit: Visit, form_id: int | None = None) -> Proof:
    return Proof(source=source, actor="subject", legal_basis="consent", form_id=form_id, ip=visit.ip,
                 user_agent=visit.user_agent, text_version=None)


def _after_person_choice(session: Session, lead: Lead, key: bytes, changes: Sequence[tuple[Purpose, Action]],
                         at: datetime) -> None:
    if lead.email and any(p is Purpose.MARKETING_EMAIL and a is Action.GRANT for p, a in changes) \
            and not lead.unsubscribed:
        lift(session, key=key, workspace_id=lead.workspace_id, email=lead.email)
    if changes:
        audit.record(session, workspace_id=lead.workspace_id, actor="subject",
                     action=audit.AuditAction.CONSENT_CHANGED, target_type="lead", target_id=lead.id,
                     detail={"changes": [f"{p.value}:{a.value}" for p, a in changes]}, at=at)


def save_preferences(session: Session, lead: Lead, chosen: set[Purpose], *, key: bytes, visit: Visit,
                     unsubscribe_all: bool = False, now: datetime | None = None) -> list[tuple[Purpose, Action]]:
    """The person's choices: each purpose ticked is granted, each left unticked refused; "unsubscribe from
    everything" refuses them all and unsubscribes. Returns the entries written."""
    at = now or utcnow()
    current = {Purpose.MARKETING_EMAIL: lead.consent_email, Purpose.TRACKING: lead.consent_tracking,
               Purpose.PROFILING: lead.consent_profiling, Purpose.PARTNER_SHARING: lead.consent_partners}
    changes: list[tuple[Purpose, Action]] = []
    if unsubscribe_all:
        changes.append((Purpose.MARKETING_EMAIL, Action.UNSUBSCRIBE))
        changes += [(p, Action.WITHDRAW) for p in Purpose if current[p] is not False]
    else:
        for purpose in Purpose:
            if purpose in chosen and (current[purpose] is not True or
                                      (purpose is Purpose.MARKETING_EMAIL and lead.unsubscribed)
                                      or lead.objected_at is not None):
                changes.append((purpose, Action.GRANT))
            elif purpose not in chosen and current[purpose] is not False:
                changes.append((purpose, Action.WITHDRAW))
    rows = record_consent(session, lead, changes, _proof("preference_centre", visit), at=at, key=key)
    written = [(Purpose(r.purpose), Action(r.action)) for r in rows]
    _after_person_choice(session, lead, key, written, at)
    return written


def confirm(session: Session, token: Token, *, key: bytes, visit: Visit,
            now: datetime | None = None) -> list[tuple[Purpose, Action]]:
    """The person clicked the confirmation link and pressed the button: record the grants (source
    `double_opt_in`) and a `consent_confirmed` event. A second confirmation writes nothing new."""
    at = now or utcnow()
    lead = lead_of(session, token)
    changes = [(p, Action.GRANT) for p in token.purposes]
    rows = record_consent(session, lead, changes, _proof("double_opt_in", visit, token.form_id), at=at, key=key)
    written = [(Purpose(r.purpose), Action(r.action)) for r in rows]
    if written:
        workspace = session.get(Workspace, lead.workspace_id)
        assert workspace is not None
        record_events(session, workspace, [EventDraft(
            type="consent_confirmed", lead_id=lead.id, occurred_at=at,
            properties={"purposes": [p.value for p, _ in written], "form_id": token.form_id})])
    _after_person_choice(session, lead, key, written, at)
    return written


# --- confirmation emails ------------------------------------------------------------------------------------


@outbox.consumer("consent-confirmations", TOPIC)
def record_confirmation_emails(session: Session, messages: Sequence[OutboxMessage], now: datetime) -> None:
    rows = []
    for message in messages:
        purposes = [p for p in message.payload.get("purposes") or [] if p in {x.value for x in Purpose}]
        form_id = message.payload.get("form_id")
        if message.lead_id is None or not purposes:
            continue
        rows.append(ConsentEmail(workspace_id=message.workspace_id, lead_id=message.lead_id, purposes=purposes,
                                 form_id=form_id if isinstance(form_id, int) else None, status="pending",
                                 created_at=now))
    session.add_all(rows)


def _draft(session: Session, row: ConsentEmail, smtp: SmtpConfig, key: bytes) -> EmailMessage | str:
    lead = session.get(Lead, row.lead_id)
    if lead is None or lead.workspace_id != row.workspace_id or not lead.email:
        return "the lead no longer exists or has no address"
    token = make_token(key, Token(workspace_id=lead.workspace_id, lead_id=lead.id, kind="confirm",
                                  purposes=tuple(Purpose(p) for p in row.purposes), form_id=row.form_id))
    link = f"{smtp.app_url}/privacy/confirm/{token}"
    prefs = preferences_url(smtp.app_url, key, lead)
    message = EmailMessage()
    message["From"] = smtp.sender
    message["To"] = lead.email
    message["Subject"] = "Please confirm your subscription"
    message["Message-ID"] = make_msgid(domain=smtp.sender.rpartition("@")[2] or "leadline")
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(
        "Hello,\n\nYou asked to hear from us. Please confirm by opening this link (valid 7 days):\n\n"
        f"{link}\n\nIf it was not you, ignore this message: nothing will be sent to you.\n\n"
        f"Your choices, at any time: {prefs}\n")
    return message


def send_due_confirmations(db: Database, *, smtp: SmtpConfig, key: bytes, now: datetime | None = None,
                           limit: int = BATCH) -> int:
    """Claim pending rows (`sending`, committed), send over one SMTP connection, record the outcome: at most
    once; a crash mid-send leaves `sending`, swept to `unknown` later and never resent."""
    at = now or utcnow()
    claimed: list[tuple[int, EmailMessage]] = []
    with db.write() as session:
        session.execute(update(ConsentEmail).where(ConsentEmail.status == "sending",
                                                   ConsentEmail.sending_at < at - STUCK_AFTER)
                        .values(status="unknown", finished_at=at, error="the sender stopped mid-send; not resent"))
        query = select(ConsentEmail).where(ConsentEmail.status == "pending").order_by(ConsentEmail.id).limit(limit)
        if db.dialect == "postgresql":
            query = query.with_for_update(skip_locked=True)
        for row in session.scalars(query):
            draft = _draft(session, row, smtp, key) if smtp.host else "SMTP is not configured (LEADLINE_SMTP_HOST)"
            if isinstance(draft, str):
                row.status, row.finished_at, row.error = "skipped", at, draft
                continue
            row.status, row.sending_at = "sending", at
            claimed.append((row.id, draft))
    if not claimed:
        return 0
    outcome = send_all(smtp, claimed)
    with db.write() as session:
        settle(session, ConsentEmail, claimed, outcome, at)
    return len(claimed)
