"""Erasure (GDPR Art. 17) and anonymisation.

`erase` removes a person from every table (see `datamap`): the lead, the leads merged into it, their events
(by owner, by subject as received, by the person's anonymous visitor ids), event keys, visitors, merges,
consent ledger, emails, webhook deliveries and their attempts, scores, predictions, segment memberships and
every table added later with a `lead_id`. Their addresses go on the suppression list as keyed hashes (reason
`erased`), so they are never re-imported or mailed by mistake; webhook receivers are told (Art. 19) through a
`lead.erased` message carrying only the lead id and that hash. Then `scrub` makes sure the deleted bytes do not
survive in the database files.

`anonymise` keeps the rows that analytics counts (the lead with its stage, dates and channels; its events with
their types, times and campaign fields) and removes everything that identifies the person.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ColumnElement, String, Table, Text, delete, func, or_, select, update
from sqlalchemy.orm import Session

from leadline.core.keyed_hash import email_hash
from leadline.services import audit, outbox
from leadline.services.errors import NotFound
from leadline.services.leads import MAX_MERGE_HOPS, follow_merges
from leadline.services.privacy.datamap import children, generic_tables
from leadline.services.suppression import SuppressionReason, suppress
from leadline.storage.tables import (
    Company,
    Event,
    EventKey,
    Lead,
    LeadMerge,
    Suppression,
    Visitor,
)
from leadline.storage.types import utcnow

logger = logging.getLogger(__name__)
CHUNK = 500


@dataclass
class ErasureReport:
    lead_id: int
    lead_ids: list[int]
    rows: dict[str, int] = field(default_factory=dict)
    email_hashes: list[str] = field(default_factory=list)

    @property
    def tables(self) -> list[str]:
        return sorted(name for name, count in self.rows.items() if count)


def person_leads(session: Session, workspace_id: int, lead_id: int) -> list[Lead]:
    """The lead (followed to its survivor if it was merged) and every lead merged into it."""
    lead = session.scalar(select(Lead).where(Lead.workspace_id == workspace_id, Lead.id == lead_id))
    if lead is None:
        raise NotFound("lead not found")
    lead = follow_merges(session, workspace_id, lead)
    found, frontier = {lead.id: lead}, [lead.id]
    for _ in range(MAX_MERGE_HOPS):
        # by merged_into_id alone (its own index; with the workspace in the query SQLite may pick a
        # workspace index and scan every lead), the workspace checked on the rows
        more = [m for m in session.scalars(select(Lead).where(Lead.merged_into_id.in_(frontier)))
                if m.workspace_id == workspace_id]
        frontier = [m.id for m in more if m.id not in found]
        found.update({m.id: m for m in more})
        if not frontier:
            break
    return [found[lead.id], *(m for i, m in sorted(found.items()) if i != lead.id)]


def find_by_email(session: Session, workspace_id: int, email: str) -> Lead | None:
    lead = session.scalar(select(Lead).where(Lead.workspace_id == workspace_id,
                                             Lead.email == email.strip().lower()))
    return follow_merges(session, workspace_id, lead) if lead is not None else None


def _count(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def _delete(session: Session, table: Table, condition: ColumnElement[bool], report: ErasureReport,
            depth: int = 0) -> None:
    """Delete rows and, first, the rows of tables that reference them (whatever their foreign-key rules)."""
    if depth < 5:
        for child, column, referenced in children(table):
            if child.name == "leads":
                continue
            _delete(session, child, column.in_(select(referenced).where(condition)), report, depth + 1)
    report.rows[table.name] = report.rows.get(table.name, 0) + _count(session.execute(delete(table).where(condition)))


def _anonymous_ids(session: Session, workspace_id: int, ids: list[int]) -> list[str]:
    return list(session.scalars(select(Visitor.anonymous_id).where(Visitor.workspace_id == workspace_id,
                                                                   Visitor.lead_id.in_(ids))))


def person_events(session: Session, workspace_id: int, ids: list[int], anonymous: list[str]
                  ) -> list[tuple[int, str | None]]:
    """(id, client key) of the person's events: by current owner, by the person's anonymous visitor ids, and
    by subject as received when a merge moved them elsewhere; three indexed lookups (an OR of the three
    would scan the whole table)."""
    found: dict[int, str | None] = {}
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start:start + CHUNK]
        found.update((i, k) for i, k in session.execute(select(Event.id, Event.event_key).where(
            Event.workspace_id == workspace_id, Event.lead_id.in_(chunk))).all())
        found.update((i, k) for i, k in session.execute(select(Event.id, Event.event_key).where(  # ix_events_moved
            Event.workspace_id == workspace_id, Event.subject_lead_id.in_(chunk),
            Event.subject_lead_id != Event.lead_id)).all())
    for start in range(0, len(anonymous), CHUNK):
        found.update((i, k) for i, k in session.execute(select(Event.id, Event.event_key).where(  # ix_events_anonymous
            Event.workspace_id == workspace_id, Event.anonymous_id.is_not(None),
            Event.anonymous_id.in_(anonymous[start:start + CHUNK]))).all())
    return sorted(found.items())


def _forget_events(session: Session, workspace_id: int, events: list[tuple[int, str | None]], *,
                   values: dict[str, Any] | None = None) -> tuple[int, int]:
    """Delete the events (or, with `values`, update them) and their client keys: (events, keys)."""
    keys = [key for _, key in events if key is not None]
    removed_keys = 0
    for start in range(0, len(keys), CHUNK):
        removed_keys += _count(session.execute(delete(EventKey).where(
            EventKey.workspace_id == workspace_id, EventKey.event_key.in_(keys[start:start + CHUNK]))))
    ids = [event_id for event_id, _ in events]
    for start in range(0, len(ids), CHUNK):
        chunk = Event.id.in_(ids[start:start + CHUNK])
        session.execute(update(Event).where(chunk).values(values) if values is not None
                        else delete(Event).where(chunk))
    return len(ids), removed_keys


def _merge_condition(workspace_id: int, ids: list[int]) -> ColumnElement[bool]:
    return (LeadMerge.workspace_id == workspace_id) & or_(LeadMerge.survivor_id.in_(ids),
                                                          LeadMerge.merged_id.in_(ids))


def erase(session: Session, *, workspace_id: int, lead_id: int, key: bytes, actor: str,
          now: datetime | None = None) -> ErasureReport:
    """Erase the person in the caller's transaction; call `scrub` after the commit."""
    at = now or utcnow()
    leads = person_leads(session, workspace_id, lead_id)
    ids = [lead.id for lead in leads]
    report = ErasureReport(lead_id=leads[0].id, lead_ids=ids)
    emails = sorted({lead.email for lead in leads if lead.email})
    companies = {lead.company_id for lead in leads if lead.company_id is not None}
    anonymous = _anonymous_ids(session, workspace_id, ids)
    events = person_events(session, workspace_id, ids, anonymous)
    report.rows["events"], report.rows["event_keys"] = _forget_events(session, workspace_id, events)
    if anonymous:
        report.rows["visitors"] = _count(session.execute(delete(Visitor).where(
            Visitor.workspace_id == workspace_id, Visitor.anonymous_id.in_(anonymous))))
    report.rows["lead_merges"] = _count(session.execute(delete(LeadMerge).where(_merge_condition(workspace_id, ids))))
    for table, columns in generic_tables():
        _delete(session, table, or_(*(column.in_(ids) for column in columns)), report)
    session.expunge_all()
    report.rows["leads"] = _count(session.execute(delete(Lead).where(Lead.workspace_id == workspace_id,
                                                                      Lead.id.in_(ids))))
    for company_id in companies:  # the person's own company record, when nobody else is at it
        if session.scalar(select(func.count()).select_from(Lead).where(Lead.company_id == company_id)) == 0:
            report.rows["companies"] = report.rows.get("companies", 0) + _count(session.execute(
                delete(Company).where(Company.workspace_id == workspace_id, Company.id == company_id)))
    for email in emails:
        digest = email_hash(key, email)
        report.email_hashes.append(digest)
        suppress(session, key=key, workspace_id=workspace_id, email=email, reason=SuppressionReason.ERASED,
                 source="erasure", now=at)
        session.execute(update(Suppression).where(Suppression.workspace_id == workspace_id,
                                                  Suppression.email_hash == digest)
                        .values(reason=SuppressionReason.ERASED.value))
    for digest in report.email_hashes or [None]:  # Art. 19: tell the receivers, with no address
        outbox.emit(session, workspace_id=workspace_id, topic="lead.erased", lead_id=report.lead_id,
                    payload={"email_hash": digest} if digest else {}, now=at)
    audit.record(session, workspace_id=workspace_id, actor=actor, action=audit.AuditAction.LEAD_ERASED,
                 target_type="lead", target_id=report.lead_id,
                 detail={"lead_ids": ids, "rows": {k: v for k, v in sorted(report.rows.items()) if v}}, at=at)
    logger.info("erased lead %s (%d records) in workspace %s", report.lead_id, len(ids), workspace_id)
    return report


# --- anonymisation ------------------------------------------------------------------------------------------

#: Lead columns that identify the person; everything else (stage, dates, scores, channels) stays for counts.
PERSONAL_LEAD_COLUMNS = ("email", "phone", "first_name", "last_name", "job_title", "external_id", "bant_need",
                         "consent_source", "first_touch", "last_touch", "last_non_direct_touch", "named_scores")
#: Text columns analytics groups by: kept on events and leads (campaign codes, not people).
KEPT_TEXT = frozenset({"type", "channel", "campaign", "utm_source", "utm_medium", "utm_campaign", "utm_term",
                       "utm_content", "stage", "status", "temperature", "first_channel", "first_campaign",
                       "last_channel", "last_non_direct_channel", "last_non_direct_campaign", "kind",
                       "from_stage", "to_stage", "actor_type", "decision", "outcome", "currency", "topic",
                       "purpose", "action", "rule_key", "day", "cause", "from_value", "to_value", "country",
                       "language", "subject_type", "bant_currency", "bant_authority", "bant_timeline"})
#: Rows that are pure personal data or proof about the person: deleted on anonymisation.
ANONYMISE_DELETES = ("consent_records", "consent_emails", "webhook_deliveries", "notification_emails", "outbox")


def _scrub_values(table: Table) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for column in table.columns:
        if column.name in KEPT_TEXT or column.primary_key or column.foreign_keys:
            continue
        if isinstance(column.type, (String, Text, JSON)) and not column.name.endswith("_id"):
            if column.nullable:
                values[column.name] = None
            elif isinstance(column.type, JSON):
                values[column.name] = {}
            else:
                values[column.name] = "anonymised"[: getattr(column.type, "length", None) or 10]
    return values


def anonymise(session: Session, *, workspace_id: int, lead_id: int, key: bytes, actor: str,
              now: datetime | None = None) -> ErasureReport:
    """Keep the counts, lose the person: the lead row stays (stage, dates, channels, scores) without any
    identifying value, events stay with their type, time and campaign fields, and every free-text field of
    the lead's other rows is cleared. Addresses go on the suppression list as for an erasure."""
    at = now or utcnow()
    leads = person_leads(session, workspace_id, lead_id)
    ids = [lead.id for lead in leads]
    report = ErasureReport(lead_id=leads[0].id, lead_ids=ids)
    emails = sorted({lead.email for lead in leads if lead.email})
    anonymous = _anonymous_ids(session, workspace_id, ids)
    events = person_events(session, workspace_id, ids, anonymous)
    report.rows["events"], report.rows["event_keys"] = _forget_events(session, workspace_id, events, values={
        "event_key": None, "anonymous_id": None, "referrer": None, "url": None, "path": None, "email_id": None,
        "properties": None})
    report.rows["visitors"] = _count(session.execute(delete(Visitor).where(
        Visitor.workspace_id == workspace_id, Visitor.lead_id.in_(ids))))
    report.rows["lead_merges"] = _count(session.execute(delete(LeadMerge).where(_merge_condition(workspace_id, ids))))
    for table, columns in generic_tables():
        condition = or_(*(column.in_(ids) for column in columns))
        if table.name in ANONYMISE_DELETES:
            _delete(session, table, condition, report)
            continue
        values = _scrub_values(table)
        if values:
            report.rows[table.name] = _count(session.execute(update(table).where(condition).values(values)))
    session.expunge_all()
    session.execute(update(Lead).where(Lead.workspace_id == workspace_id, Lead.id.in_(ids)).values(
        {**dict.fromkeys(PERSONAL_LEAD_COLUMNS), "custom": {}, "notice_due_at": None, "updated_at": at}))
    report.rows["leads"] = len(ids)
    for company_id in {lead.company_id for lead in leads if lead.company_id is not None}:
        others = session.scalar(select(func.count()).select_from(Lead).where(
            Lead.company_id == company_id, Lead.id.not_in(ids)))
        if not others:  # the person's own company record: keep its size and industry, not its name
            session.execute(update(Company).where(Company.id == company_id).values(name=None, domain=None))
    for email in emails:
        report.email_hashes.append(email_hash(key, email))
        suppress(session, key=key, workspace_id=workspace_id, email=email, reason=SuppressionReason.ERASED,
                 source="anonymisation", now=at)
    for digest in report.email_hashes or [None]:
        outbox.emit(session, workspace_id=workspace_id, topic="lead.erased", lead_id=report.lead_id,
                    payload={"email_hash": digest, "anonymised": True} if digest else {"anonymised": True}, now=at)
    audit.record(session, workspace_id=workspace_id, actor=actor, action=audit.AuditAction.LEAD_ANONYMISED,
                 target_type="lead", target_id=report.lead_id, detail={"lead_ids": ids}, at=at)
    return report

