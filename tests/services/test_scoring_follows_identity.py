"""Scores follow the events when identity moves them: identify a visitor, merge, unmerge, bulk import."""

from datetime import UTC, datetime, timedelta

import pytest

from leadline.core.lead_input import CompanyInput, LeadInput
from leadline.services.events import EventDraft, record_events
from leadline.services.identity import identify_visitor, merge_leads, unmerge
from leadline.services.leads import WriteMode, upsert_lead, upsert_many
from leadline.services.scoring.explain import explain_lead
from leadline.services.scoring.models import activate, store_version
from leadline.services.workspaces import get_or_create_workspace
from leadline.storage.tables import Lead

MODEL = {
    "format": "leadline-scoring/1", "name": "identity", "decay": {"half_life_days": 30},
    "fit": [{"name": "Mid-size", "when": {"field": "company.size", "between": [50, 500]}, "points": 60}],
    "engagement": [{"name": "Pricing", "event": "page_view", "where": {"field": "path", "starts_with": "/pricing"},
                    "points": 10},
                   {"name": "Quote", "event": "quote_request", "points": 30}],
    "thresholds": {"warm": 15, "hot": 35}, "mql": {"fit": 50, "engagement": 15},
}
NOW = datetime.now(UTC)


@pytest.fixture
def workspace(db):
    with db.write() as session:
        workspace = get_or_create_workspace(session, "identity")
        activate(session, workspace.id, store_version(session, workspace.id, MODEL, source=None,
                                                      actor="test").version)
        return workspace


def _lead(db, workspace, email, **fields):
    with db.write() as session:
        return upsert_lead(session, workspace.id, LeadInput(email=email, **fields), mode=WriteMode.OVERWRITE).lead.id


def _record(db, workspace, *drafts):
    with db.write() as session:
        assert {o.status for o in record_events(session, workspace, list(drafts))} == {"accepted"}


def _engagement(db, workspace, lead_id):
    with db.read() as session:
        result = explain_lead(session, workspace.id, lead_id).result
        return result.engagement, session.get(Lead, lead_id).temperature


def test_identifying_a_visitor_scores_its_anonymous_past(db, workspace):
    lead_id = _lead(db, workspace, "v@example.com")
    _record(db, workspace, *[EventDraft(type="page_view", anonymous_id="anon-1", occurred_at=NOW - timedelta(hours=1),
                                        properties={"path": "/pricing"}) for _ in range(2)])
    assert _engagement(db, workspace, lead_id)[0] == 0
    with db.write() as session:
        assert identify_visitor(session, workspace.id, "anon-1", lead_id) == 2
    engagement, temperature = _engagement(db, workspace, lead_id)
    assert engagement == pytest.approx(20, abs=0.05) and temperature == "warm"


def test_merge_adds_up_both_histories_and_unmerge_splits_them_again(db, workspace):
    a, b = _lead(db, workspace, "a@example.com"), _lead(db, workspace, "b@example.com")
    _record(db, workspace, EventDraft(type="quote_request", lead_id=a),
            EventDraft(type="page_view", lead_id=b, properties={"path": "/pricing"}))
    with db.write() as session:
        merge = merge_leads(session, workspace.id, a, b, actor="test")
    engagement, temperature = _engagement(db, workspace, a)
    assert engagement == pytest.approx(40, abs=0.01) and temperature == "hot"
    with db.write() as session:
        unmerge(session, workspace.id, merge.id, actor="test")
    assert _engagement(db, workspace, a)[0] == pytest.approx(30, abs=0.01)
    assert _engagement(db, workspace, b) == (pytest.approx(10, abs=0.01), "cold")


def test_a_bulk_import_scores_fit_of_created_and_updated_leads(db, workspace):
    existing = _lead(db, workspace, "old@mid.example")
    with db.write() as session:
        upsert_many(session, workspace.id, [
            LeadInput(email="new@mid.example", company=CompanyInput(name="Mid", size=120)),
            LeadInput(email="old@mid.example", company=CompanyInput(name="Mid", size=120)),
            LeadInput(email="tiny@small.example", company=CompanyInput(name="Small", size=3)),
        ], mode=WriteMode.OVERWRITE)
    with db.read() as session:
        fits = {lead.email: lead.fit_score for lead in session.query(Lead).filter(Lead.workspace_id == workspace.id)}
        assert session.get(Lead, existing).score_model_version == 1
    assert fits == {"new@mid.example": 60, "old@mid.example": 60, "tiny@small.example": 0}


def test_rescore_chunks_stay_small_around_busy_leads(db, workspace):
    from leadline.services.scoring.bulk import lead_chunks

    ids = [_lead(db, workspace, f"c{i}@example.com") for i in range(6)]
    busy = ids[2]
    _record(db, workspace, *[EventDraft(type="quote_request", lead_id=busy) for _ in range(5)],
            EventDraft(type="quote_request", lead_id=ids[4]))
    with db.read() as session:
        chunks = lead_chunks(session, workspace.id, size=3, events=4)
    assert chunks == [(ids[0], busy), (ids[3], ids[5])]  # the busy lead closes its chunk; then 3 leads
    with db.read() as session:
        assert lead_chunks(session, workspace.id, size=10, events=100) == [(ids[0], ids[5])]


def test_concurrent_requests_scoring_one_lead_lose_nothing(db, workspace):
    """On PostgreSQL several requests write at once: each must add to the total the other left, and the
    daily cap must hold across them."""
    import threading

    capped = {**MODEL, "engagement": [{"name": "Quote", "event": "quote_request", "points": 1, "decay": False},
                                      {"name": "Click", "event": "email_click", "points": 10, "max_per_day": 2,
                                       "decay": False}]}
    with db.write() as session:
        activate(session, workspace.id, store_version(session, workspace.id, capped, source=None,
                                                      actor="test").version)
    lead_id = _lead(db, workspace, "busy@example.com")
    barrier = threading.Barrier(6)
    failures = []

    def client(kind):
        barrier.wait()
        try:
            for _ in range(10):
                _record(db, workspace, EventDraft(type=kind, lead_id=lead_id, occurred_at=NOW))
        except Exception as exc:  # reported below: a thread's exception would not fail the test by itself
            failures.append(repr(exc))

    threads = [threading.Thread(target=client, args=(kind,))
               for kind in ["quote_request"] * 4 + ["email_click"] * 2]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    with db.read() as session:
        rules = {r.key: (r.points, r.occurrences) for r in explain_lead(session, workspace.id, lead_id).result.rules}
    assert rules == {"quote": (40.0, 40), "click": (20.0, 2)}


def test_a_merged_lead_keeps_no_score_and_nothing_due(db, workspace):
    a, b = _lead(db, workspace, "keep@example.com"), _lead(db, workspace, "gone@example.com")
    _record(db, workspace, EventDraft(type="quote_request", lead_id=b, occurred_at=NOW - timedelta(days=1)))
    with db.read() as session:
        assert session.get(Lead, b).score_due_at is not None
    with db.write() as session:
        merge_leads(session, workspace.id, a, b, actor="test")
    with db.read() as session:
        gone = session.get(Lead, b)
        assert (gone.score, gone.temperature, gone.score_due_at) == (0.0, "cold", None)
        assert session.get(Lead, a).temperature == "warm"
