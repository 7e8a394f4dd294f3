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

import logging
import smtplib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import formataddr, make_msgid
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from leadline.config import Settings
from leadline.nurture import tokens
from leadline.nurture.engine import _definitions
from leadline.nurture.rendering import TemplateProblem, render
from leadline.services.consent import may_email, may_track
from leadline.services.notifications import SmtpConfig
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


def _template(session: Session, row: EmailSend, broadcasts: dict[int, Broadcast]) -> dict[str, Any] | None:
    if row.broadcast_id is not None:
        broadcast = broadcasts.get(row.broadcast_id) or session.get(Broadcast, row.broadcast_id)
        if broadcast is not None:
            broadcasts[row.broadcast_id] = broadcast
        return broadcast.template if broadcast is not None else None
    if row.workflow_id is None:
        return None
    definition = _definitions(session, [row.workflow_id]).get(row.workflow_id)
    if definition is None:
        return None
    index = definition.index(row.step or "")
    step = definition.steps[index] if index is not None else None
    if step is None or step.send_email is None:
        return None
    return step.send_email.model_dump()


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
    message: EmailMessage


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
    broadcasts: dict[int, Broadcast] = {}
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
        template = _template(session, row, broadcasts)
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
        message = EmailMessage()
        message["From"] = formataddr((template.get("from_name") or policy.from_name or "", policy.smtp.sender))
        message["To"] = lead.email
        message["Subject"] = rendered.subject
        message["Message-ID"] = make_msgid(idstring=f"s{row.id}", domain=policy.smtp.sender.rpartition("@")[2]
                                           or "leadline")
        message["List-Unsubscribe"] = f"<{unsubscribe}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        message["X-Leadline-Send"] = str(row.id)
        message.set_content(rendered.text)
        if rendered.html is not None:
            message.add_alternative(rendered.html, subtype="html")
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


def _connect(smtp: SmtpConfig) -> smtplib.SMTP:
    assert smtp.host is not None
    client = smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout)
    try:
        if smtp.starttls:
            client.starttls()
        if smtp.user:
            client.login(smtp.user, smtp.password or "")
    except BaseException:
        client.close()
        raise
    return client


_REFUSED = (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused, smtplib.SMTPDataError)


def _deliver(smtp: SmtpConfig, batch: list[_Claimed]) -> dict[int, tuple[str, str | None]]:
    """send id -> (status, error); ids left out were never started (they go back to `queued`)."""
    outcome: dict[int, tuple[str, str | None]] = {}
    try:
        client = _connect(smtp)
    except (OSError, smtplib.SMTPException) as error:
        logger.warning("SMTP server %s:%s unavailable: %s", smtp.host, smtp.port, error)
        return outcome
    try:
        for item in batch:
            try:
                client.sendmail(smtp.sender, [item.recipient], item.message.as_bytes(policy=SMTP_POLICY))
                outcome[item.send_id] = ("sent", None)
            except _REFUSED as error:
                outcome[item.send_id] = ("failed", f"{type(error).__name__}: {error}"[:1000])
            except (OSError, smtplib.SMTPException) as error:  # mid-conversation: it may have gone out
                outcome[item.send_id] = ("unknown", f"{type(error).__name__}: {error}"[:1000])
                break
    finally:
        try:
            client.quit()
        except (OSError, smtplib.SMTPException):
            client.close()
    return outcome


def send_due(db: Database, *, settings: Settings, now: datetime | None = None, limit: int = BATCH,
             lease: timedelta = DEFAULT_LEASE, max_batches: int = 1000) -> int:
    """Send queued emails batch after batch until none is due; returns how many were handed to SMTP."""
    key = settings.signing_key()
    total = 0
    for _ in range(max_batches):
        at = now or utcnow()
        with db.write() as session:
            claimed = claim(session, settings=settings, key=key, now=at, limit=limit, lease=lease)
            policies = {c.workspace_id: policy_for(session, c.workspace_id, settings) for c in claimed}
        if not claimed:
            return total
        outcome: dict[int, tuple[str, str | None]] = {}
        for ws, policy in policies.items():
            outcome.update(_deliver(policy.smtp, [c for c in claimed if c.workspace_id == ws]))
        with db.write() as session:
            for item in claimed:
                if item.send_id in outcome:
                    status, error = outcome[item.send_id]
                    session.execute(update(EmailSend).where(
                        EmailSend.id == item.send_id, EmailSend.status.in_(("sending", "unknown"))).values(
                        status=status, error=error, finished_at=at), execution_options={"synchronize_session": False})
                else:
                    session.execute(update(EmailSend).where(
                        EmailSend.id == item.send_id, EmailSend.status == "sending").values(
                        status="queued", sending_at=None), execution_options={"synchronize_session": False})
        total += sum(1 for s, _ in outcome.values() if s == "sent")
        if not outcome:  # the server is down: try again on the next run
            return total
    return total
