"""The consent ledger: every ingestion path writes entries with their proof, the lead's columns are the state
derived from them, merges never widen consent, and an objection stops marketing and scoring at once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from leadline.config import get_settings
from leadline.core.lead_input import ConsentInput, LeadInput
from leadline.services.consent import (
    Action,
    Proof,
    Purpose,
    ledger,
    may_email,
    may_profile,
    rebuild_state,
    record_consent,
)
from leadline.services.events import EventDraft, record_events
from leadline.services.identity import merge_leads
from leadline.services.leads import WriteMode, upsert_lead, upsert_many
from leadline.services.scoring.models import activate, store_version
from leadline.services.suppression import is_suppressed
from leadline.services.workspaces import get_or_create_workspace
from leadline.storage.tables import AuditEntry, Lead, LeadRuleScore

NOW = datetime.now(UTC)
MODEL = {
    "format": "leadline-scoring/1", "name": "privacy", "decay": {"half_life_days": 30},
    "fit": [{"name": "CEO", "when": {"field": "job_title", "matches": "(?i)ceo"}, "points": 40}],
    "engagement": [{"name": "Quote", "event": "quote_request", "points": 30}],
    "thresholds": {"warm": 15, "hot": 35},
}


@pytest.fixture
def workspace(db):
    with db.write() as session:
        return get_or_create_workspace(session, "ledger")


def _upsert(db, workspace, mode=WriteMode.OVERWRITE, **fields):
    with db.write() as session:
        return upsert_lead(session, workspace.id, LeadInput(**fields), mode=mode).lead.id


def test_an_api_grant_is_a_ledger_entry_with_its_proof_and_a_repeat_adds_none(db, workspace):
    consent = ConsentInput(email_marketing=True, tracking=True, source="api", legal_basis="consent",
                           text_version="newsletter-v3", ip="198.51.100.23", user_agent="Mozilla/5.0",
                           subject_type="consumer")
    lead_id = _upsert(db, workspace, email="ada@example.org", consent=consent)
    _upsert(db, workspace, email="ada@example.org", consent=consent)
    with db.read() as session:
        rows = ledger(session, workspace.id, lead_id)
        lead = session.get(Lead, lead_id)
        assert [(r.purpose, r.action) for r in rows] == [("marketing_email", "grant"), ("tracking", "grant")]
        assert {(r.source, r.legal_basis, r.text_version, r.ip_truncated, r.user_agent) for r in rows} == {
            ("api", "consent", "newsletter-v3", "198.51.100.0/24", "Mozilla/5.0")}
        assert (lead.consent_email, lead.consent_tracking, lead.subject_type) == (True, True, "consumer")
        assert rebuild_state(session, lead).as_fields() == {
            "consent_email": True, "consent_tracking": True, "consent_profiling": None, "consent_partners": None,
            "unsubscribed": False, "objected_at": None}
        assert may_email(lead).allowed


def test_an_import_records_its_entries_keeps_provenance_and_owes_the_article_14_notice(db, workspace):
    bought = ConsentInput(email_marketing=True, source="import:partner-list", legal_basis="consent",
                          provenance={"partner": "Salon Expo", "partner_proof": "optin-2026-01.csv"})
    with db.write() as session:
        upsert_many(session, workspace.id, [LeadInput(email="b1@example.org", consent=bought),
                                            LeadInput(email="b2@example.org",
                                                      consent=ConsentInput(unsubscribed=True))],
                    mode=WriteMode.OVERWRITE, at=NOW)
    with db.read() as session:
        b1 = session.scalar(select(Lead).where(Lead.email == "b1@example.org"))
        b2 = session.scalar(select(Lead).where(Lead.email == "b2@example.org"))
        (grant,) = ledger(session, workspace.id, b1.id)
        assert (grant.source, grant.provenance["partner"]) == ("import:partner-list", "Salon Expo")
        assert [(r.purpose, r.action, r.source) for r in ledger(session, workspace.id, b2.id)] == [
            ("marketing_email", "unsubscribe", "import")]
        assert b1.notice_due_at is not None and b1.notice_due_at > NOW + timedelta(days=27)
        assert is_suppressed(session, key=get_settings().signing_key(), workspace_id=workspace.id,
                             email="b2@example.org")
        assert rebuild_state(session, b2).as_fields()["unsubscribed"] is True


def test_a_merge_carries_the_other_leads_withdrawals_as_ledger_entries_never_its_grants(db, workspace):
    survivor = _upsert(db, workspace, email="s@example.org", consent=ConsentInput(tracking=True))
    other = _upsert(db, workspace, email="o@example.org",
                    consent=ConsentInput(email_marketing=True, tracking=False, profiling=False))
    with db.write() as session:
        merge_leads(session, workspace.id, survivor, other, actor="user:alice")
    with db.read() as session:
        lead = session.get(Lead, survivor)
        assert (lead.consent_email, lead.consent_tracking, lead.consent_profiling) == (None, False, False)
        merged = [(r.purpose, r.action) for r in ledger(session, workspace.id, survivor) if r.source == "merge"]
        assert merged == [("tracking", "withdraw"), ("profiling", "withdraw")]
        assert rebuild_state(session, lead).as_fields() == {
            "consent_email": None, "consent_tracking": False, "consent_profiling": False, "consent_partners": None,
            "unsubscribed": False, "objected_at": None}
        assert session.scalar(select(AuditEntry.action).where(AuditEntry.target_id == str(survivor))) == "lead.merged"


def test_an_objection_stops_marketing_and_scoring_at_once(db, workspace):
    with db.write() as session:
        activate(session, workspace.id, store_version(session, workspace.id, MODEL, source=None,
                                                      actor="test").version)
    lead_id = _upsert(db, workspace, email="obj@example.org", job_title="CEO",
                      consent=ConsentInput(email_marketing=True))
    with db.write() as session:
        record_events(session, workspace, [EventDraft(type="quote_request", lead_id=lead_id, occurred_at=NOW)])
    with db.read() as session:
        assert session.get(Lead, lead_id).score > 0
    with db.write() as session:
        lead = session.get(Lead, lead_id)
        record_consent(session, lead, [(Purpose.MARKETING_EMAIL, Action.OBJECT)],
                       Proof(source="api", actor="api_key:1"))
    with db.write() as session:  # later events and profile edits score nothing
        record_events(session, workspace, [EventDraft(type="quote_request", lead_id=lead_id, occurred_at=NOW)])
        upsert_lead(session, workspace.id, LeadInput(email="obj@example.org", job_title="CEO, founder"),
                    mode=WriteMode.OVERWRITE)
    with db.read() as session:
        lead = session.get(Lead, lead_id)
        assert (lead.score, lead.fit_score, lead.engagement_score, lead.temperature) == (0, 0, 0, "cold")
        assert session.scalars(select(LeadRuleScore).where(LeadRuleScore.lead_id == lead_id)).all() == []
        assert not may_email(lead).allowed and not may_profile(lead).allowed
        assert may_profile(lead).reason == "objected (GDPR Art. 21)"
        assert is_suppressed(session, key=get_settings().signing_key(), workspace_id=workspace.id,
                             email="obj@example.org")


def test_an_unsubscribe_event_is_a_ledger_entry(db, workspace):
    lead_id = _upsert(db, workspace, email="u@example.org", consent=ConsentInput(email_marketing=True))
    with db.write() as session:
        record_events(session, workspace, [EventDraft(type="unsubscribe", lead_id=lead_id, occurred_at=NOW)])
    with db.read() as session:
        lead = session.get(Lead, lead_id)
        assert (lead.unsubscribed, lead.consent_email) == (True, False)
        assert [(r.action, r.source) for r in ledger(session, workspace.id, lead_id)][-1] == (
            "unsubscribe", "email_unsubscribe")


def test_the_predictive_model_neither_trains_on_nor_scores_a_lead_that_refused_profiling(db, workspace):
    from leadline.services.predict import current_features, due_for_rescoring

    kept = _upsert(db, workspace, email="keep@example.org")
    refused = _upsert(db, workspace, email="refuse@example.org", consent=ConsentInput(profiling=False))
    with db.read() as session:
        assert due_for_rescoring(session, workspace.id, NOW) == [kept]
        assert list(current_features(session, workspace.id, [], NOW).index) == [kept]
        assert refused not in list(current_features(session, workspace.id, [], NOW, [refused]).index)
