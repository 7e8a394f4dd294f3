"""Real time and bulk agree: any stream of events, scored as it arrives (in batches, out of order), gives the
same rule totals, daily counts and bands as rescoring the same leads from the stored events, within 1e-9
points, on both databases."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from leadline.core.lead_input import LeadInput
from leadline.core.scoring.score import band_of, engagement_at
from leadline.services.events import EventDraft, record_events
from leadline.services.leads import WriteMode, upsert_lead
from leadline.services.scoring.bulk import rescore_leads
from leadline.services.scoring.models import activate, store_version
from leadline.services.scoring.state import load_states
from leadline.services.workspaces import get_or_create_workspace
from leadline.storage.tables import LeadRuleDay

MODEL = {
    "format": "leadline-scoring/1",
    "name": "property test",
    "decay": {"half_life_days": 1},
    "fit": [{"name": "Director", "when": {"field": "job_title", "matches": "(?i)director"}, "points": 60}],
    "engagement": [
        {"name": "Any page", "event": "page_view", "points": 1, "max": 4, "max_per_day": 3},
        {"name": "Pricing", "event": "page_view", "where": {"field": "path", "starts_with": "/pricing"},
         "points": 7},
        {"name": "Careers", "event": "page_view", "points": -5, "where": {"any": [
            {"field": "path", "contains": "career"}, {"field": "properties.section", "equals": "jobs"}]}},
        {"name": "Click", "event": "email_click", "points": 10, "max_per_day": 2,
         "decay": {"half_life_days": 0.25}},
        {"name": "Long read", "event": "download", "where": {"field": "properties.pages", "gte": 10},
         "points": 8, "scores": ["content"], "main": False},
        {"name": "Not a number", "event": "download", "points": 2,
         "where": {"not": {"field": "properties.pages", "in": [12, 3]}}},
        {"name": "Unsubscribed", "event": "unsubscribe", "points": -20, "decay": False},
        {"name": "Tagged", "event": "form_submit", "where": {"field": "properties.tags", "exists": True}, "points": 3},
    ],
    "thresholds": {"warm": 10, "hot": 25},
    "mql": {"fit": 50, "engagement": 10},
}
BASE = datetime(2025, 6, 1, 8, 0, tzinfo=UTC)
READ_AT = BASE + timedelta(days=7)
PATHS = ["/", "/pricing", "/pricing/team", "/careers", "/PRICING", "/about-careers"]
PROPERTIES = [{}, {"section": "jobs"}, {"pages": 12}, {"pages": "12"}, {"pages": 3}, {"pages": 12.5},
              {"user_agent": "Mozilla/5.0 (compatible; Mimecast scanner)"}, {"section": None},
              {"tags": ["a"]}, {"tags": {}}, {"tags": ""}, {"pages": 10**30}, {"pages": True}, {"automated": None}]
_workspaces = itertools.count()

events = st.lists(st.tuples(
    st.integers(0, 3),  # which lead
    st.sampled_from(["page_view", "page_view", "email_click", "download", "unsubscribe", "form_submit"]),
    st.integers(0, 5 * 86_400 * 1_000_000),  # microseconds after BASE: arrival order is not time order
    st.sampled_from(PATHS),
    st.sampled_from(PROPERTIES),
), min_size=1, max_size=40)


def _snapshot(db, model, lead_ids):
    with db.read() as session:
        states = load_states(session, lead_ids)
        days = {(d.lead_id, d.rule_key, d.day): d.occurrences for d in session.scalars(
            select(LeadRuleDay).where(LeadRuleDay.lead_id.in_(lead_ids)))}
    rules = {r.key: r for r in model.engagement}
    values = {(lead_id, key): (s.value_at(READ_AT, rules[key].half_life_seconds), s.hits, s.last_fired_at)
              for lead_id, by_rule in states.items() for key, s in by_rule.items()}
    bands = {lead_id: (band_of(model, 0.0, engagement_at(model, by_rule, READ_AT)),
                       engagement_at(model, by_rule, READ_AT, "content"))
             for lead_id, by_rule in states.items()}
    return values, days, bands


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(stream=events, cuts=st.lists(st.integers(1, 39), max_size=3))
def test_events_scored_as_they_arrive_equal_a_rescore_from_history(db, stream, cuts):
    with db.write() as session:
        workspace = get_or_create_workspace(session, f"prop-{next(_workspaces)}")
        model = activate(session, workspace.id, store_version(session, workspace.id, MODEL, source=None,
                                                              actor="test").version)
        lead_ids = [upsert_lead(session, workspace.id, LeadInput(email=f"p{i}@example.com"),
                                mode=WriteMode.OVERWRITE).lead.id for i in range(4)]
    drafts = [EventDraft(type=kind, lead_id=lead_ids[who], occurred_at=BASE + timedelta(microseconds=offset),
                         properties={"path": path, **props})
              for who, kind, offset, path, props in stream]
    bounds = [0, *sorted({c for c in cuts if c < len(drafts)}), len(drafts)]
    for start, end in itertools.pairwise(bounds):
        with db.write() as session:
            outcomes = record_events(session, workspace, drafts[start:end])
            assert all(o.status == "accepted" for o in outcomes)

    realtime = _snapshot(db, model, lead_ids)
    with db.write() as session:
        rescore_leads(session, workspace.id, lead_ids, cause="test")
    bulk = _snapshot(db, model, lead_ids)

    rt_values, rt_days, rt_bands = realtime
    bulk_values, bulk_days, bulk_bands = bulk
    assert rt_values.keys() == bulk_values.keys()
    for key, (value, hits, last) in rt_values.items():
        b_value, b_hits, b_last = bulk_values[key]
        assert (hits, last) == (b_hits, b_last), key
        assert value == pytest.approx(b_value, abs=1e-9), key
    assert rt_days == bulk_days
    assert rt_bands.keys() == bulk_bands.keys()
    for lead_id, (band, content) in rt_bands.items():
        assert band == bulk_bands[lead_id][0]
        assert content == pytest.approx(bulk_bands[lead_id][1], abs=1e-9)


def test_microseconds_count_in_both_paths(db):
    """SQLite keeps microseconds in its timestamps, but its date functions read milliseconds: the bulk path
    must not lose them (a 30-day half-life makes 1 ms worth ~3e-8 points on 100)."""
    model_doc = {**MODEL, "decay": {"half_life_days": 1 / 24}, "engagement": [
        {"name": "Quote", "event": "quote_request", "points": 100}]}
    with db.write() as session:
        workspace = get_or_create_workspace(session, "micro")
        model = activate(session, workspace.id, store_version(session, workspace.id, model_doc, source=None,
                                                              actor="test").version)
        lead_id = upsert_lead(session, workspace.id, LeadInput(email="m@example.com"),
                              mode=WriteMode.OVERWRITE).lead.id
        record_events(session, workspace, [
            EventDraft(type="quote_request", lead_id=lead_id, occurred_at=BASE + timedelta(microseconds=us))
            for us in (999, 1_000_001, 7)])
    with db.read() as session:
        before = load_states(session, [lead_id])[lead_id]["quote"]
    with db.write() as session:
        rescore_leads(session, workspace.id, [lead_id], cause="test")
    with db.read() as session:
        after = load_states(session, [lead_id])[lead_id]["quote"]
    moment = BASE + timedelta(seconds=2)
    half_life = model.engagement[0].half_life_seconds
    assert after.as_of == before.as_of == BASE + timedelta(microseconds=1_000_001)
    assert after.value_at(moment, half_life) == pytest.approx(before.value_at(moment, half_life), abs=1e-9)
