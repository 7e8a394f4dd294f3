"""Retention: how long a workspace keeps what, and the job that applies it.

Defaults follow the French rule (CNIL): a prospect's data is kept **3 years from the last contact the prospect
started** (a form, a click, a visit, a reply: our own sends, deliveries and email opens, which a mail
client's proxy makes on its own, do not reset the clock, nor do events flagged `"bot": true`); anonymous
visitors' events after 13 months (395 days); raw events after 25 months, kept as monthly counts per type and
channel (`event_monthly_counts`). Customers (a contract relationship) and leads with an open deal are left
alone. Inactive leads are erased, or anonymised when the workspace prefers to keep its funnel counts.

Retention bounds what later work can reach: event replays, scoring backtests, unmerges and predictive
retraining see only what retention kept.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, exists, func, select
from sqlalchemy.orm import Session

from leadline.config import get_settings
from leadline.core.lead_input import FieldProblem
from leadline.services import audit
from leadline.services.errors import Invalid
from leadline.services.privacy.erasure import anonymise, erase
from leadline.services.privacy.scrub import scrub
from leadline.storage.database import Database
from leadline.storage.tables import Deal, Event, EventKey, EventMonthlyCount, Lead, PrivacySettings, Visitor
from leadline.storage.types import utcnow

logger = logging.getLogger(__name__)

#: Events that are ours or a machine's, not the prospect's: they never reset the retention clock.
NOT_PROSPECT_STARTED = frozenset({"email_sent", "email_delivered", "email_open", "email_bounce", "email_deferred",
                                  "sms_sent", "sms_delivered", "consent_confirmation_sent"})
DEFAULTS = {"enabled": False, "lead_inactive_months": 36, "lead_action": "delete", "visitor_days": 395,
            "raw_event_months": 25}
EVENT_CHUNK = 5000
LEAD_BATCH = 200


def months_before(moment: datetime, months: int) -> datetime:
    year, month = divmod(moment.year * 12 + moment.month - 1 - months, 12)
    day = min(moment.day, 28)
    return moment.replace(year=year, month=month + 1, day=day)


def settings_of(session: Session, workspace_id: int) -> PrivacySettings:
    row = session.get(PrivacySettings, workspace_id)
    if row is None:
        row = PrivacySettings(workspace_id=workspace_id, **DEFAULTS)
    return row


def update_settings(session: Session, workspace_id: int, changes: dict[str, Any], *, actor: str) -> PrivacySettings:
    problems = []
    for name, value in changes.items():
        if name not in DEFAULTS:
            problems.append(FieldProblem(name, "unknown setting"))
        elif name == "lead_action" and value not in ("delete", "anonymise"):
            problems.append(FieldProblem(name, "must be delete or anonymise"))
        elif name == "enabled" and not isinstance(value, bool):
            problems.append(FieldProblem(name, "must be true or false"))
        elif name not in ("lead_action", "enabled") and not (isinstance(value, int) and 1 <= value <= 1200):
            problems.append(FieldProblem(name, "must be a whole number from 1 to 1200"))
    if problems:
        raise Invalid(problems)
    row = session.get(PrivacySettings, workspace_id)
    if row is None:
        row = PrivacySettings(workspace_id=workspace_id, **DEFAULTS)
        session.add(row)
    for name, value in changes.items():
        setattr(row, name, value)
    row.updated_at = utcnow()
    session.flush()
    audit.record(session, workspace_id=workspace_id, actor=actor, action=audit.AuditAction.SETTINGS_CHANGED,
                 target_type="workspace", target_id=workspace_id, detail=dict(changes))
    return row


@dataclass
class RetentionReport:
    workspace_id: int
    dry_run: bool
    lead_cutoff: datetime
    visitor_cutoff: datetime
    event_cutoff: datetime
    lead_action: str
    inactive_leads: int = 0
    anonymous_events: int = 0
    anonymous_visitors: int = 0
    raw_events: int = 0
    lead_ids: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"workspace_id": str(self.workspace_id), "dry_run": self.dry_run,
                "lead_cutoff": self.lead_cutoff.isoformat(), "visitor_cutoff": self.visitor_cutoff.isoformat(),
                "event_cutoff": self.event_cutoff.isoformat(), "lead_action": self.lead_action,
                "inactive_leads": self.inactive_leads, "anonymous_events": self.anonymous_events,
                "anonymous_visitors": self.anonymous_visitors, "raw_events": self.raw_events,
                "sample_lead_ids": [str(i) for i in self.lead_ids[:20]]}


def _prospect_started() -> ColumnElement[bool]:
    bot = func.coalesce(Event.properties["bot"].as_string(), "")  # true is 'true' on PostgreSQL, '1' on SQLite
    return and_(Event.type.not_in(sorted(NOT_PROSPECT_STARTED)), bot.not_in(["true", "1"]))


def inactive_leads(session: Session, workspace_id: int, cutoff: datetime, limit: int | None = None) -> list[int]:
    """Live leads created before the cutoff with no contact they started since, not customers, no open deal."""
    recent = exists().where(Event.workspace_id == workspace_id, Event.lead_id == Lead.id,
                            Event.occurred_at >= cutoff, _prospect_started())
    open_deal = exists().where(Deal.lead_id == Lead.id, Deal.outcome.is_(None))
    query = (select(Lead.id).where(Lead.workspace_id == workspace_id, Lead.merged_into_id.is_(None),
                                   Lead.created_at < cutoff, Lead.stage != "customer", ~recent, ~open_deal)
             .order_by(Lead.id))
    if limit is not None:
        query = query.limit(limit)
    return [int(i) for i in session.scalars(query)]


def _anonymous_events(workspace_id: int, cutoff: datetime) -> ColumnElement[bool]:
    return and_(Event.workspace_id == workspace_id, Event.lead_id.is_(None), Event.occurred_at < cutoff)


def _stale_visitors(workspace_id: int, cutoff: datetime) -> ColumnElement[bool]:
    return and_(Visitor.workspace_id == workspace_id, Visitor.lead_id.is_(None), Visitor.first_seen_at < cutoff,
                ~exists().where(Event.workspace_id == workspace_id, Event.anonymous_id == Visitor.anonymous_id,
                                Event.occurred_at >= cutoff))


def plan(session: Session, workspace_id: int, *, now: datetime | None = None) -> RetentionReport:
    at = now or utcnow()
    rules = settings_of(session, workspace_id)
    report = RetentionReport(
        workspace_id=workspace_id, dry_run=True, lead_action=rules.lead_action,
        lead_cutoff=months_before(at, rules.lead_inactive_months),
        visitor_cutoff=at - timedelta(days=rules.visitor_days),
        event_cutoff=months_before(at, rules.raw_event_months))
    report.lead_ids = inactive_leads(session, workspace_id, report.lead_cutoff)
    report.inactive_leads = len(report.lead_ids)
    report.anonymous_events = int(session.scalar(select(func.count()).select_from(Event).where(
        _anonymous_events(workspace_id, report.visitor_cutoff))) or 0)
    report.anonymous_visitors = int(session.scalar(select(func.count()).select_from(Visitor).where(
        _stale_visitors(workspace_id, report.visitor_cutoff))) or 0)
    report.raw_events = int(session.scalar(select(func.count()).select_from(Event).where(
        Event.workspace_id == workspace_id, Event.occurred_at < report.event_cutoff)) or 0)
    return report


def _month(dialect: str) -> ColumnElement[str]:
    if dialect == "postgresql":
        return func.to_char(func.timezone("UTC", Event.occurred_at), "YYYY-MM")
    return func.substr(Event.occurred_at, 1, 7)


def _delete_events(session: Session, condition: ColumnElement[bool], *, keep_counts: bool) -> int:
    """Delete one chunk of matching events (their client keys too); with `keep_counts`, first add them to
    the monthly counts."""
    ids = list(session.scalars(select(Event.id).where(condition).order_by(Event.id).limit(EVENT_CHUNK)))
    if not ids:
        return 0
    chunk = Event.id.in_(ids)
    if keep_counts:
        dialect = session.get_bind().dialect.name
        month = _month(dialect)
        channel = func.coalesce(Event.channel, "")
        groups = session.execute(select(Event.workspace_id, month, Event.type, channel, func.count())
                                 .where(chunk).group_by(Event.workspace_id, month, Event.type, channel)).all()
        for workspace_id, month_value, kind, channel_value, count in groups:
            key = {"workspace_id": workspace_id, "month": month_value, "type": kind, "channel": channel_value}
            row = session.get(EventMonthlyCount, key)
            if row is None:
                session.add(EventMonthlyCount(**key, count=count))
            else:
                row.count += count
        session.flush()
    keys = select(Event.event_key).where(chunk, Event.event_key.is_not(None))
    workspace_ids = select(Event.workspace_id).where(chunk)
    session.execute(delete(EventKey).where(EventKey.workspace_id.in_(workspace_ids), EventKey.event_key.in_(keys)))
    session.execute(delete(Event).where(chunk))
    return len(ids)


def run(db: Database, workspace_id: int, *, dry_run: bool, actor: str = "retention",
        now: datetime | None = None, key: bytes | None = None) -> RetentionReport:
    """The dry-run report, or the report of what was done (leads, visitors and raw events in short
    transactions of their own, then the freed pages scrubbed)."""
    at = now or utcnow()
    with db.read() as session:
        report = plan(session, workspace_id, now=at)
    report.dry_run = dry_run
    if dry_run:
        return report
    # Raw events first, so that the monthly counts include those of the leads erased below.
    for condition, keep in ((and_(Event.workspace_id == workspace_id, Event.occurred_at < report.event_cutoff), True),
                            (_anonymous_events(workspace_id, report.visitor_cutoff), False)):
        while True:
            with db.write() as session:
                if _delete_events(session, condition, keep_counts=keep) < EVENT_CHUNK:
                    break
    secret = key or get_settings().signing_key()
    action = anonymise if report.lead_action == "anonymise" else erase
    for lead_id in report.lead_ids:
        with db.write() as session:
            action(session, workspace_id=workspace_id, lead_id=lead_id, key=secret, actor=actor, now=at)
    with db.write() as session:
        session.execute(delete(Visitor).where(_stale_visitors(workspace_id, report.visitor_cutoff)))
        audit.record(session, workspace_id=workspace_id, actor=actor, action=audit.AuditAction.RETENTION_RUN,
                     target_type="workspace", target_id=workspace_id,
                     detail={k: v for k, v in report.as_dict().items() if k != "sample_lead_ids"}, at=at)
    scrub(db, ["leads", "events", "event_keys", "visitors"])
    logger.info("retention in workspace %s: %d leads, %d anonymous events, %d raw events", workspace_id,
                report.inactive_leads, report.anonymous_events, report.raw_events)
    return report


def run_enabled(db: Database, now: datetime) -> int:
    """The scheduled job: every workspace that turned retention on."""
    with db.read() as session:
        workspaces = list(session.scalars(select(PrivacySettings.workspace_id).where(
            PrivacySettings.enabled.is_(True))))
    total = 0
    for workspace_id in workspaces:
        report = run(db, workspace_id, dry_run=False, now=now)
        total += report.inactive_leads + report.raw_events + report.anonymous_events
    return total

