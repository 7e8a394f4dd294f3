"""Marketing email through SMTP, at most once, with every gate checked at send time.

`send_due` takes queued `email_sends` rows in one transaction: each is checked against the suppression list,
the consent gate (`may_email`), the lead's address and bounce state, and the workspace's frequency cap
(`suppressed` with the reason when one says no); rows outside the send window or over the per-minute throttle
wait (`not_before` moves); the rest are rendered and marked `sending`, and that is committed before the SMTP
conversation. Then one connection per workspace sends them and a second transaction records `sent` or
`failed`. A sender that dies in between leaves rows in `sending`; after the lease they become `unknown` and are
never sent again: a person may miss an email, never get it twice.
"""

from __future__ import annotations

import binascii
import logging
import secrets
import smtplib
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from email.header import Header
from email.utils import formataddr, formatdate, make_msgid
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from leadline.config import Settings
from leadline.nurture import tokens
from leadline.nurture.engine import _definitions
from leadline.nurture.rendering import Rendered, TemplateProblem, render
from leadline.services.consent import may_email, may_track
from leadline.services.notifications import REFUSED, SmtpConfig, connect_smtp
from leadline.services.suppression import suppressed_among
from leadline.storage.database import Database
from leadline.storage.tables import Broadcast, Company, EmailSend, Lead, NurtureSettings, User
from leadline.storage.types import utcnow

logger = logging.getLogger(__name__)

BATCH = 200
DEFAULT_LEASE = timedelta(minutes=5)
COUNTED = ("sending", "sent", "unknown")
LEAD_FIELDS = ("first_name", "last_name", "email", "job_title", "country", "language", "stage")
COMPANY_FIELDS = ("name", "domain", "industry", "country")


@dataclass(frozen=True, slots=True)
class SendPolicy:
    smtp: SmtpConfig
    from_name: str | None = None
    frequency_cap: int | None = None
    frequency_days: int = 7
    window: tuple[int, int] | None = None
    timezone: str = "UTC"
    per_minute: int | None = None


def policy_for(session: Session, workspace_id: int, settings: Settings) -> SendPolicy:
    """The workspace's sending settings, with the instance's SMTP settings as fallback."""
    base = SmtpConfig.of(settings)
    row = session.get(NurtureSettings, workspace_id)
    if row is None:
        return SendPolicy(base)
    smtp = replace(base, host=row.smtp_host or base.host, port=row.smtp_port or base.port,
                   starttls=base.starttls if row.smtp_starttls is None else row.smtp_starttls,
                   user=row.smtp_user or base.user, password=row.smtp_password or base.password,
                   sender=row.from_address or base.sender)
    window = None
    if row.window_start_hour is not None and row.window_end_hour is not None:
        window = (row.window_start_hour, row.window_end_hour)
    return SendPolicy(smtp, row.from_name, row.frequency_cap, row.frequency_days, window, row.timezone,
                      row.per_minute)


def _zone(name: str | None, fallback: str) -> ZoneInfo:
    for candidate in (name, fallback, "UTC"):
        if isinstance(candidate, str) and candidate:
            try:
                return ZoneInfo(candidate)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")


def window_opens(now: datetime, window: tuple[int, int], zone: ZoneInfo) -> datetime | None:
    """None when `now` is inside [start, end) local hours; else the next moment the window opens."""
    start, end = window
    local = now.astimezone(zone)
    hour = local.hour
    inside = start <= hour < end if start < end else (hour >= start or hour < end)
    if inside:
        return None
    opening = local.replace(hour=start, minute=0, second=0, microsecond=0)
    if opening <= local:
        opening += timedelta(days=1)
    return opening.astimezone(now.tzinfo)


@dataclass(frozen=True, slots=True)
class Links:
    app_url: str
    key: bytes

    def unsubscribe(self, workspace_id: int, lead_id: int, send_id: int) -> str:
        token = tokens.sign(self.key, "unsubscribe", {"w": workspace_id, "l": lead_id, "s": send_id})
        return f"{self.app_url}/e/u/{token}"

    def open_pixel(self, workspace_id: int, subject: dict[str, Any]) -> str:
        return f"{self.app_url}/e/o/{tokens.sign(self.key, 'open', {'w': workspace_id, **subject})}.gif"

    def click(self, workspace_id: int, subject: dict[str, Any], url: str) -> str:
        return f"{self.app_url}/e/c/{tokens.sign(self.key, 'click', {'w': workspace_id, **subject, 'u': url})}"


def _source_of(row: EmailSend) -> str:
    return f"b:{row.broadcast_id}" if row.broadcast_id is not None else f"w:{row.workflow_id}:{row.step}"


class _Templates:
    """The templates of one batch: each workflow step's or broadcast's looked up once."""

    def __init__(self, session: Session, rows: Sequence[EmailSend]) -> None:
        self.found: dict[tuple[str, int, str | None], dict[str, Any] | None] = {}
        definitions = _definitions(session, {r.workflow_id for r in rows if r.workflow_id is not None})
        for workflow_id, definition in definitions.items():
            for step in definition.steps:
                if step.send_email is not None:
                    self.found[("w", workflow_id, step.id)] = step.send_email.model_dump()
        broadcast_ids = {r.broadcast_id for r in rows if r.broadcast_id is not None}
        if broadcast_ids:
            for broadcast in session.scalars(select(Broadcast).where(Broadcast.id.in_(broadcast_ids))):
                self.found[("b", broadcast.id, None)] = broadcast.template

    def of(self, row: EmailSend) -> dict[str, Any] | None:
        if row.broadcast_id is not None:
            return self.found.get(("b", row.broadcast_id, None))
        if row.workflow_id is None:
            return None
        return self.found.get(("w", row.workflow_id, row.step))


def _context(lead: Lead, company: Company | None, owner: User | None, unsubscribe_url: str) -> dict[str, Any]:
    return {"lead": {**{f: getattr(lead, f) for f in LEAD_FIELDS}, "custom": dict(lead.custom or {}),
                     "score": round(lead.score or 0.0, 1)},
            "company": {f: getattr(company, f) for f in COMPANY_FIELDS} if company else {},
            "owner": {"name": owner.name, "email": owner.email} if owner else {},
            "unsubscribe_url": unsubscribe_url}


@dataclass
class _Claimed:
    send_id: int
    workspace_id: int
    recipient: str
    message: bytes


def _header(value: str) -> str:
    """A header value on one line; non-ASCII as RFC 2047 encoded words (folded with CRLF)."""
    return value if value.isascii() else Header(value, "utf-8").encode(linesep="\r\n")


def _qp(text: str) -> bytes:
    body = binascii.b2a_qp(text.replace("\r\n", "\n").encode(), istext=True)
    return body.replace(b"\n", b"\r\n")


def _message(rendered: Rendered, *, sender: str, from_name: str | None, to: str, send_id: int,
             unsubscribe: str) -> bytes:
    """The message's bytes, built directly (the `email` package's generator and header classes cost several
    milliseconds a message): CRLF line ends, quoted-printable UTF-8 parts, the unsubscribe headers."""
    name = from_name or ""
    headers = [
        f"From: {formataddr((_header(name) if name else '', sender))}",
        f"To: {to}",
        f"Subject: {_header(rendered.subject)}",
        f"Date: {formatdate(localtime=False)}",
        f"Message-ID: {make_msgid(idstring=f's{send_id}', domain=sender.rpartition('@')[2] or 'leadline')}",
        f"List-Unsubscribe: <{unsubscribe}>",
        "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
        f"X-Leadline-Send: {send_id}",
        "MIME-Version: 1.0",
    ]
    part = b'Content-Type: text/%s; charset="utf-8"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n'
    if rendered.html is None:
        return "\r\n".join(headers).encode() + b"\r\n" + part % b"plain" + _qp(rendered.text) + b"\r\n"
    boundary = f"=_leadline_{send_id}_{secrets.token_hex(8)}".encode()
    headers.append(f'Content-Type: multipart/alternative; boundary="{boundary.decode()}"')
    return b"".join([
        "\r\n".join(headers).encode(), b"\r\n\r\n",
        b"--" + boundary + b"\r\n", part % b"plain", _qp(rendered.text), b"\r\n",
        b"--" + boundary + b"\r\n", part % b"html", _qp(rendered.html), b"\r\n",
        b"--" + boundary + b"--\r\n"])


def _sweep(session: Session, now: datetime, lease: timedelta) -> int:
    result = session.execute(update(EmailSend).where(
        EmailSend.status == "sending", EmailSend.sending_at < now - lease).values(
        status="unknown", finished_at=now,
        error="the sender stopped mid-send: it may or may not have gone out; not resent"),
        execution_options={"synchronize_session": False})
    return int(getattr(result, "rowcount", 0) or 0)


class _Gate:
    """Per-batch lookups: suppression in one query per workspace, frequency counts in one query."""

    def __init__(self, session: Session, rows: Sequence[EmailSend], leads: dict[int, Lead], key: bytes,
                 policies: dict[int, SendPolicy], now: datetime) -> None:
        self.suppressed: dict[int, set[str]] = {}
        for ws in {r.workspace_id for r in rows}:
            emails = [lead.email for lead in leads.values() if lead.workspace_id == ws and lead.email]
            self.suppressed[ws] = suppressed_among(session, key=key, workspace_id=ws, emails=emails)
        self.recent: dict[int, int] = {}
        self.minute: dict[int, int] = {}
        for ws, policy in policies.items():
            if policy.frequency_cap is not None:
                ids = [r.lead_id for r in rows if r.workspace_id == ws]
                since = now - timedelta(days=policy.frequency_days)
                for lead_id, count in session.execute(
                        select(EmailSend.lead_id, func.count()).where(
                            EmailSend.workspace_id == ws, EmailSend.lead_id.in_(ids),
                            EmailSend.status.in_(COUNTED), EmailSend.sending_at >= since)
                        .group_by(EmailSend.lead_id)):
                    self.recent[lead_id] = int(count)
            if policy.per_minute is not None:
                self.minute[ws] = int(session.scalar(select(func.count()).select_from(EmailSend).where(
                    EmailSend.workspace_id == ws, EmailSend.status.in_(COUNTED),
                    EmailSend.sending_at >= now - timedelta(minutes=1))) or 0)

    def postpone(self, lead: Lead, policy: SendPolicy, now: datetime) -> datetime | None:
        """When a send must wait: outside the send window (the lead's `custom.timezone`, else the workspace's),
        or over the workspace's per-minute throttle."""
        if policy.window is not None:
            opens = window_opens(now, policy.window, _zone((lead.custom or {}).get("timezone"), policy.timezone))
            if opens is not None:
                return opens
        if policy.per_minute is not None:
            if self.minute.get(lead.workspace_id, 0) >= policy.per_minute:
                return now + timedelta(seconds=60)
            self.minute[lead.workspace_id] = self.minute.get(lead.workspace_id, 0) + 1
        return None

    def refusal(self, lead: Lead | None, policy: SendPolicy) -> str | None:
        if lead is None or lead.merged_into_id is not None:
            return "the lead no longer exists"
        if not lead.email:
            return "the lead has no email address"
        if lead.email in self.suppressed.get(lead.workspace_id, set()):
            return "suppressed address"
        decision = may_email(lead)
        if not decision.allowed:
            return f"no marketing consent: {decision.reason}"
        if lead.email_bounced_at is not None:
            return "the address bounced"
        if policy.frequency_cap is not None and self.recent.get(lead.id, 0) >= policy.frequency_cap:
            return f"frequency cap: {policy.frequency_cap} in {policy.frequency_days} days"
        return None


def claim(session: Session, *, settings: Settings, key: bytes, now: datetime, limit: int = BATCH,
          lease: timedelta = DEFAULT_LEASE) -> list[_Claimed]:
    """Check, render and mark `sending` up to `limit` queued sends (see the module's docstring)."""
    _sweep(session, now, lease)
    query = (select(EmailSend).where(EmailSend.status == "queued", EmailSend.not_before <= now)
             .order_by(EmailSend.not_before, EmailSend.id).limit(limit))
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    rows = list(session.scalars(query))
    if not rows:
        return []
    leads = {lead.id: lead for lead in session.scalars(select(Lead).where(Lead.id.in_([r.lead_id for r in rows])))}
    companies = {c.id: c for c in session.scalars(select(Company).where(
        Company.id.in_({lead.company_id for lead in leads.values() if lead.company_id})))}
    owners = {u.id: u for u in session.scalars(select(User).where(
        User.id.in_({lead.owner_id for lead in leads.values() if lead.owner_id})))}
    policies = {ws: policy_for(session, ws, settings) for ws in {r.workspace_id for r in rows}}
    gate = _Gate(session, rows, leads, key, policies, now)
    links = Links(settings.app_url.rstrip("/"), key)
    own_links = f"{links.app_url}/e/"  # the unsubscribe link stays as it is
    templates = _Templates(session, rows)
    claimed: list[_Claimed] = []
    for row in rows:
        policy = policies[row.workspace_id]
        lead = leads.get(row.lead_id)
        refused = gate.refusal(lead, policy)
        if refused is not None:
            row.status, row.finished_at, row.error = "suppressed", now, refused
            continue
        assert lead is not None and lead.email is not None
        if policy.smtp.host is None:
            row.status, row.finished_at, row.error = "failed", now, "SMTP is not configured"
            continue
        later = gate.postpone(lead, policy, now)
        if later is not None:
            row.not_before = later
            continue
        template = templates.of(row)
        if template is None:
            row.status, row.finished_at, row.error = "failed", now, "the template no longer exists"
            continue
        tracked = may_track(lead).allowed
        subject: dict[str, Any] = {"s": row.id} if tracked else {"a": _source_of(row)}
        unsubscribe = links.unsubscribe(row.workspace_id, lead.id, row.id)
        context = _context(lead, companies.get(lead.company_id or 0), owners.get(lead.owner_id or 0), unsubscribe)
        try:
            rendered = render(template, context, link=lambda url, s=subject, w=row.workspace_id:
                              links.click(w, s, url) if not url.startswith(own_links) else url,
                              pixel_url=links.open_pixel(row.workspace_id, subject))
        except TemplateProblem as error:
            row.status, row.finished_at, row.error = "failed", now, f"template: {error}"[:1000]
            continue
        message = _message(rendered, sender=policy.smtp.sender, from_name=template.get("from_name") or policy.from_name,
                           to=lead.email, send_id=row.id, unsubscribe=unsubscribe)
        row.status, row.sending_at, row.tracked = "sending", now, tracked
        gate.recent[lead.id] = gate.recent.get(lead.id, 0) + 1
        claimed.append(_Claimed(row.id, row.workspace_id, lead.email, message))
    return claimed


def queued_count(session: Session, now: datetime, lease_seconds: float) -> int:
    """Emails due to be sent, or left mid-send longer than the lease (to be marked unknown)."""
    stuck = now - timedelta(seconds=lease_seconds)
    return int(session.scalar(select(func.count()).select_from(EmailSend).where(or_(
        and_(EmailSend.status == "queued", EmailSend.not_before <= now),
        and_(EmailSend.status == "sending", EmailSend.sending_at < stuck)))) or 0)


def _refusal(error: smtplib.SMTPException) -> str:
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        answers = list(error.recipients.values())
        code, text = answers[0] if answers else (0, b"")
    else:
        code, text = getattr(error, "smtp_code", 0), getattr(error, "smtp_error", b"")
    reply = text.decode(errors="replace") if isinstance(text, bytes) else str(text)
    return f"{type(error).__name__}: {code} {reply}"[:500]


def _deliver(smtp: SmtpConfig, batch: list[_Claimed]) -> dict[int, tuple[str, str | None]]:
    """send id -> (status, error); ids left out were never started (they go back to `queued`)."""
    outcome: dict[int, tuple[str, str | None]] = {}
    try:
        client = connect_smtp(smtp)
    except (OSError, smtplib.SMTPException) as error:
        logger.warning("SMTP server %s:%s unavailable: %s", smtp.host, smtp.port, error)
        return outcome
    try:
        for item in batch:
            try:
                client.sendmail(smtp.sender, [item.recipient], item.message)
                outcome[item.send_id] = ("sent", None)
            except REFUSED as error:  # the reason without the address (the row stays free of personal data)
                outcome[item.send_id] = ("failed", _refusal(error))
            except (OSError, smtplib.SMTPException) as error:  # mid-conversation: it may have gone out
                outcome[item.send_id] = ("unknown", f"{type(error).__name__}: {error}"[:1000])
                break
    finally:
        try:
            client.quit()
        except (OSError, smtplib.SMTPException):
            client.close()
    return outcome


def _record(db: Database, claimed: list[_Claimed], outcome: dict[int, tuple[str, str | None]],
            at: datetime) -> None:
    """Store what happened: one statement per outcome kind for the plain cases, one per row with an error."""
    sent = [c.send_id for c in claimed if outcome.get(c.send_id, ("", None))[0] == "sent"]
    untried = [c.send_id for c in claimed if c.send_id not in outcome]
    with db.write() as session:
        for start in range(0, len(sent), 500):
            session.execute(update(EmailSend).where(
                EmailSend.id.in_(sent[start:start + 500]), EmailSend.status.in_(("sending", "unknown"))).values(
                status="sent", error=None, finished_at=at), execution_options={"synchronize_session": False})
        if untried:  # never started (the server was unreachable): back to the queue
            session.execute(update(EmailSend).where(EmailSend.id.in_(untried), EmailSend.status == "sending")
                            .values(status="queued", sending_at=None),
                            execution_options={"synchronize_session": False})
        for send_id, (status, error) in outcome.items():
            if status != "sent":
                session.execute(update(EmailSend).where(
                    EmailSend.id == send_id, EmailSend.status.in_(("sending", "unknown"))).values(
                    status=status, error=error, finished_at=at), execution_options={"synchronize_session": False})


def deliver_parallel(smtp: SmtpConfig, batch: list[_Claimed], *, connections: int
                     ) -> dict[int, tuple[str, str | None]]:
    """Hand a batch to the server over up to `connections` SMTP connections at once (each message's
    round trips overlap with the others'; the work is waiting on the network, so threads suffice)."""
    if connections <= 1 or len(batch) < 2 * connections:
        return _deliver(smtp, batch)
    chunks = [batch[i::connections] for i in range(connections)]
    outcome: dict[int, tuple[str, str | None]] = {}
    with ThreadPoolExecutor(max_workers=connections, thread_name_prefix="smtp") as pool:
        for part in pool.map(lambda chunk: _deliver(smtp, chunk), chunks):
            outcome.update(part)
    return outcome


def _deliver_and_record(db: Database, claimed: list[_Claimed], policies: dict[int, SendPolicy], at: datetime,
                        connections: int) -> int:
    outcome: dict[int, tuple[str, str | None]] = {}
    for ws, policy in policies.items():
        outcome.update(deliver_parallel(policy.smtp, [c for c in claimed if c.workspace_id == ws],
                                        connections=connections))
    _record(db, claimed, outcome, at)
    return -1 if not outcome else sum(1 for s, _ in outcome.values() if s == "sent")


def send_due(db: Database, *, settings: Settings, now: datetime | None = None, limit: int = BATCH,
             lease: timedelta = DEFAULT_LEASE, max_batches: int = 1000, connections: int | None = None) -> int:
    """Send queued emails batch after batch until none is due; returns how many were handed to SMTP.

    Pipelined: the next batch is checked and rendered (and its rows marked `sending`, committed) while the
    previous one is in SMTP conversations on a helper thread."""
    key = settings.signing_key()
    connections = connections or settings.smtp_connections
    total = 0
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="smtp-batch") as pool:
        running: Future[int] | None = None
        for _ in range(max_batches):
            at = now or utcnow()
            with db.write() as session:
                claimed = claim(session, settings=settings, key=key, now=at, limit=limit, lease=lease)
                policies = {ws: policy_for(session, ws, settings) for ws in {c.workspace_id for c in claimed}}
            if running is not None:
                sent = running.result()
                running = None
                if sent < 0:  # the server is down: put this batch back and try again on the next run
                    _record(db, claimed, {}, at)
                    return total
                total += sent
            if not claimed:
                return total
            running = pool.submit(_deliver_and_record, db, claimed, policies, at, connections)
        if running is not None:
            total += max(running.result(), 0)
    return total
