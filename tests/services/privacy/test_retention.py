"""Retention: 3 years from the last contact the prospect started (our sends and opens do not count), old
anonymous visits and raw events beyond the limit (kept as monthly counts), a dry run that changes nothing,
and the scheduled job acting only where a workspace turned it on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text

from leadline.core.lead_input import LeadInput
from leadline.services.events import EventDraft, record_events
from leadline.services.leads import WriteMode, upsert_lead
from leadline.services.privacy import retention
from leadline.services.workspaces import get_or_create_workspace
from leadline.storage.tables import AuditEntry, Event, EventMonthlyCount, Lead

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
LONG_AGO = NOW - timedelta(days=4 * 365)


@pytest.fixture
def world(db):
    with db.write() as session:
        workspace = get_or_create_workspace(session, "keep")
        ids = {}
        for name in ("silent", "clicked", "opened", "customer", "bot"):
            ids[name] = upsert_lead(session, workspace.id, LeadInput(email=f"{name}@example.org",
                                                                     created_at=LONG_AGO),
                                    mode=WriteMode.OVERWRITE, at=LONG_AGO).lead.id
        session.execute(text("UPDATE leads SET stage = 'customer' WHERE id = :id"), {"id": ids["customer"]})
        recent = NOW - timedelta(days=30)
        record_events(session, workspace, [
            EventDraft(type="page_view", lead_id=ids["silent"], occurred_at=LONG_AGO),
            EventDraft(type="email_click", lead_id=ids["clicked"], occurred_at=recent),
            EventDraft(type="email_open", lead_id=ids["opened"], occurred_at=recent),
            EventDraft(type="email_click", lead_id=ids["bot"], occurred_at=recent, properties={"bot": True}),
            EventDraft(type="page_view", anonymous_id="anon-old", occurred_at=NOW - timedelta(days=500)),
            EventDraft(type="page_view", anonymous_id="anon-new", occurred_at=NOW - timedelta(days=5)),
        ])
        return workspace.id, ids


def test_the_dry_run_reports_and_changes_nothing(db, world):
    workspace_id, ids = world
    report = retention.run(db, workspace_id, dry_run=True, now=NOW)
    assert sorted(report.lead_ids) == sorted([ids["silent"], ids["opened"], ids["bot"]])
    assert (report.anonymous_events, report.raw_events) == (1, 1)
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(Lead)) == 5


def test_applying_retention_erases_inactive_leads_and_keeps_counts_of_old_events(db, world):
    workspace_id, ids = world
    retention.run(db, workspace_id, dry_run=False, now=NOW, key=b"k")
    with db.read() as session:
        assert sorted(session.scalars(select(Lead.id))) == sorted([ids["clicked"], ids["customer"]])
        assert session.scalars(select(Event.anonymous_id).where(Event.anonymous_id.is_not(None))).all() == [
            "anon-new"]
        counts = session.execute(select(EventMonthlyCount.month, EventMonthlyCount.type,
                                        EventMonthlyCount.count)).all()
        assert counts == [(LONG_AGO.strftime("%Y-%m"), "page_view", 1)]
        assert session.scalar(select(AuditEntry.action).order_by(AuditEntry.id.desc())) == "retention.run"


def test_the_scheduled_job_acts_only_where_retention_is_enabled(db, world):
    workspace_id, _ids = world
    assert retention.run_enabled(db, NOW) == 0
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(Lead)) == 5
    with db.write() as session:
        retention.update_settings(session, workspace_id, {"enabled": True, "lead_action": "anonymise"}, actor="t")
    assert retention.run_enabled(db, NOW) == 3 + 1 + 1
    with db.read() as session:  # anonymised: the rows stay for the counts, without the person
        assert session.scalar(select(func.count()).select_from(Lead).where(Lead.email.is_(None))) == 3
