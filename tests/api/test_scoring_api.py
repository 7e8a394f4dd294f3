"""Scoring through the API: apply a model, score in the ingest request, explain, preview, roll back."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from leadline.services.scoring.models import built_in_source, load_document
from leadline.services.scoring.refresh import refresh_due
from leadline.storage.tables import Lead, ScoreChange

MODEL = {
    "format": "leadline-scoring/1",
    "name": "API test",
    "decay": {"half_life_days": 10},
    "fit": [
        {"name": "Decision maker", "when": {"field": "job_title", "matches": "(?i)ceo|director"}, "points": 40},
        {"name": "Mid-size company", "when": {"field": "company.size", "between": [50, 500]}, "points": 30},
        {"name": "Outside target", "when": {"all": [{"field": "country", "exists": True},
                                                    {"field": "country", "not_in": ["FR", "BE"]}]}, "points": -50},
    ],
    "engagement": [
        {"name": "Pricing page", "event": "page_view", "where": {"field": "path", "starts_with": "/pricing"},
         "points": 15},
        {"name": "Email click", "event": "email_click", "points": 10},
        {"name": "Quote request", "event": "quote_request", "points": 40},
        {"name": "Careers page", "event": "page_view", "where": {"field": "path", "starts_with": "/careers"},
         "points": -10},
        {"name": "Email open", "event": "email_open", "points": 1, "max": 2},
    ],
    "thresholds": {"warm": 20, "hot": 50},
    "mql": {"fit": 50, "engagement": 40},
}


@pytest.fixture
def model(client, auth):
    r = client.post("/api/v1/scoring/models", json=MODEL, headers=auth)
    assert r.status_code == 201, r.text
    return r.json()


@pytest.fixture
def director(create_lead):
    return create_lead(email="dana@mid.example", job_title="Director of Sales", country="FR",
                       company={"name": "Mid", "size": 120})


def _events(client, auth, lead_id, *events):
    r = client.post("/api/v1/events", json={"events": [{"lead_id": lead_id, **e} for e in events]}, headers=auth)
    assert r.status_code == 200 and r.json()["accepted"] == len(events), r.text
    return r.json()


def _score(client, auth, lead_id):
    r = client.get(f"/api/v1/leads/{lead_id}/score", headers=auth)
    assert r.status_code == 200, r.text
    return r.json()


def test_an_event_updates_score_and_temperature_in_the_same_request(client, auth, model, director):
    assert _score(client, auth, director["id"])["temperature"] == "cold"
    _events(client, auth, director["id"], {"type": "quote_request"}, {"type": "page_view", "properties": {
        "path": "/pricing/teams"}})
    lead = client.get(f"/api/v1/leads/{director['id']}", headers=auth).json()
    assert lead["temperature"] == "hot"
    assert lead["score"] == pytest.approx(0.5 * 70 + 0.5 * 55, abs=1e-3)


def test_the_explanation_adds_up_to_the_score(client, auth, model, director):
    _events(client, auth, director["id"], {"type": "email_click"}, {"type": "page_view",
                                                                     "properties": {"path": "/careers"}},
            *[{"type": "email_open"}] * 5)
    body = _score(client, auth, director["id"])
    by_name = {r["name"]: r for r in body["rules"]}
    assert set(by_name) == {"Decision maker", "Mid-size company", "Email click", "Careers page", "Email open"}
    assert by_name["Email open"]["points"] == pytest.approx(2, abs=1e-6) and by_name["Email open"]["capped"]
    assert by_name["Email open"]["occurrences"] == 5
    fit = sum(r["points"] for r in body["rules"] if r["axis"] == "fit")
    engagement = sum(r["points"] for r in body["rules"] if r["axis"] == "engagement")
    assert body["fit"] == pytest.approx(min(100, max(0, fit)))
    assert body["engagement"] == pytest.approx(min(100, max(0, engagement)))
    assert body["score"] == pytest.approx(body["weights"]["fit"] * body["fit"]
                                          + body["weights"]["engagement"] * body["engagement"])
    assert body["model_version"] == model["version"]


def test_fit_follows_profile_changes(client, auth, model, director):
    assert _score(client, auth, director["id"])["fit"] == 70
    r = client.patch(f"/api/v1/leads/{director['id']}", json={"country": "US"}, headers=auth)
    assert r.status_code == 200
    assert r.json()["score"] == pytest.approx(0.5 * 20)
    assert _score(client, auth, director["id"])["fit"] == 20


def test_clicks_from_mail_scanners_are_recorded_but_not_scored(client, auth, model, director):
    sent = datetime.now(UTC) - timedelta(minutes=5)
    _events(client, auth, director["id"],
            {"type": "email_click", "properties": {"user_agent": "Mozilla/5.0 Proofpoint URL Defense"}},
            {"type": "email_click", "occurred_at": (sent + timedelta(seconds=2)).isoformat(),
             "properties": {"sent_at": sent.isoformat()}})
    assert not [r for r in _score(client, auth, director["id"])["rules"] if r["name"] == "Email click"]
    _events(client, auth, director["id"], {"type": "email_click", "properties": {"sent_at": sent.isoformat()}})
    clicks = [r for r in _score(client, auth, director["id"])["rules"] if r["name"] == "Email click"]
    assert clicks and clicks[0]["occurrences"] == 1


def test_unsubscribe_is_a_state_not_only_points(client, auth, model, director, db):
    _events(client, auth, director["id"], {"type": "unsubscribe"}, {"type": "email_bounce"})
    with db.read() as session:
        lead = session.get(Lead, int(director["id"]))
        assert lead.unsubscribed is True and lead.email_bounced_at is not None


def test_an_invalid_model_is_refused_with_every_problem_and_the_active_one_stays(client, auth, model):
    bad = copy.deepcopy(MODEL)
    bad["engagement"][0]["where"] = {"field": "path", "begins_with": "/pricing"}
    bad["fit"][1]["points"] = "thirty"
    r = client.post("/api/v1/scoring/models", json=bad, headers=auth)
    assert r.status_code == 422
    fields = {f["field"] for f in r.json()["error"]["fields"]}
    assert 'engagement[0] "Pricing page".where' in fields
    assert 'fit[1] "Mid-size company".points' in fields
    active = client.get("/api/v1/scoring/model", headers=auth).json()
    assert active["version"] == model["version"] and active["active"]


def test_preview_counts_changes_without_writing_then_rollback_restores(client, auth, model, director):
    _events(client, auth, director["id"], *[{"type": "email_click"}] * 3)  # 30 points, decaying from now on
    assert _score(client, auth, director["id"])["temperature"] == "warm"
    stricter = {**copy.deepcopy(MODEL), "thresholds": {"warm": 35, "hot": 60}}
    preview = client.post("/api/v1/scoring/models/preview", json=stricter, headers=auth).json()
    assert preview["temperature_changes"] == {"warm->cold": 1}
    assert preview["examples"][0]["lead_id"] == int(director["id"])
    assert _score(client, auth, director["id"])["temperature"] == "warm"  # nothing written

    applied = client.post("/api/v1/scoring/models", json=stricter, headers=auth).json()
    assert applied == {"version": model["version"] + 1, "leads_rescored": 1}
    assert client.get(f"/api/v1/leads/{director['id']}", headers=auth).json()["temperature"] == "cold"
    rolled = client.post(f"/api/v1/scoring/models/{model['version']}/activate", headers=auth)
    assert rolled.status_code == 200
    assert client.get(f"/api/v1/leads/{director['id']}", headers=auth).json()["temperature"] == "warm"
    versions = client.get("/api/v1/scoring/models", headers=auth).json()
    assert [(v["version"], v["active"]) for v in versions] == [(2, False), (1, True)]


def test_a_lead_cools_down_on_time_without_any_new_event(client, auth, model, director, db):
    yesterday = (datetime.now(UTC) - timedelta(days=1)).isoformat()  # 65 points then, ~60.6 now: hot
    _events(client, auth, director["id"], {"type": "quote_request", "occurred_at": yesterday},
            {"type": "email_click", "occurred_at": yesterday},
            {"type": "page_view", "occurred_at": yesterday, "properties": {"path": "/pricing"}})
    body = _score(client, auth, director["id"])
    assert body["temperature"] == "hot" and body["next_change_at"] is not None
    due = datetime.fromisoformat(body["next_change_at"])
    with db.write() as session:
        assert refresh_due(session, now=due - timedelta(seconds=5)) == 0
    with db.write() as session:
        assert refresh_due(session, now=due + timedelta(seconds=1)) == 1
    with db.read() as session:
        lead = session.get(Lead, int(director["id"]))
        assert lead.temperature == "warm"
        changes = session.scalars(select(ScoreChange).where(ScoreChange.lead_id == lead.id)
                                  .order_by(ScoreChange.id)).all()
    assert [(c.kind, c.from_value, c.to_value, c.cause) for c in changes][-1] == (
        "temperature", "hot", "warm", "decay")
    history = client.get(f"/api/v1/leads/{director['id']}/score/history", headers=auth).json()
    assert ("cold", "hot") in [(h["from_value"], h["to_value"]) for h in history if h["kind"] == "temperature"]
    assert any(h["kind"] == "mql_ready" and h["to_value"] == "true" for h in history)


def test_rescore_endpoint_recomputes_from_history(client, auth, model, director, db):
    _events(client, auth, director["id"], {"type": "quote_request"})
    with db.write() as session:  # damage the stored score behind the engine's back
        session.get(Lead, int(director["id"])).score = 0.0
    r = client.post("/api/v1/scoring/rescore", headers=auth)
    assert r.status_code == 200 and r.json()["leads_rescored"] == 1
    assert client.get(f"/api/v1/leads/{director['id']}", headers=auth).json()["score"] == pytest.approx(55, abs=1e-3)


def test_scoring_needs_admin_to_change_and_read_to_explain(client, make_key, model, director):
    reader = {"Authorization": f"Bearer {make_key(scopes='read')}"}
    assert client.post("/api/v1/scoring/models", json=MODEL, headers=reader).status_code == 403
    assert client.get(f"/api/v1/leads/{director['id']}/score", headers=reader).status_code == 200


def test_another_workspace_sees_neither_the_model_nor_the_score(client, make_key, model, director):
    other = {"Authorization": f"Bearer {make_key('other')}"}
    assert client.get("/api/v1/scoring/model", headers=other).status_code == 404
    assert client.get(f"/api/v1/leads/{director['id']}/score", headers=other).status_code == 404


def test_starter_models_apply_cleanly(client, auth, director):
    for name in ("default-b2b", "default-b2c"):
        r = client.post("/api/v1/scoring/models", json=load_document(built_in_source(name)), headers=auth)
        assert r.status_code == 201, r.text
    assert _score(client, auth, director["id"])["model_version"] == 2


def test_backtest_replays_a_model_without_writing(client, auth, director):
    as_of = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    _events(client, auth, director["id"], {"type": "quote_request"}, {"type": "email_click"})
    r = client.post("/api/v1/scoring/backtest", json={"as_of": as_of, "horizon_days": 30, "model": MODEL},
                    headers=auth)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["leads"] == 1 and body["converted"] == 0
    assert {b["band"]: b["leads"] for b in body["temperatures"]} == {"cold": 0, "warm": 1, "hot": 0}
    assert client.post("/api/v1/scoring/backtest", json={"as_of": as_of}, headers=auth).status_code == 404
    assert client.post("/api/v1/scoring/backtest", json={"as_of": "2025-01-01T00:00:00"},
                       headers=auth).status_code == 422  # naive time refused


@pytest.mark.parametrize("aggregate, expected", [("max", 70.0), ("top_average", (70 + 50) / 2)])
def test_companies_are_ranked_by_their_leads_scores(client, auth, create_lead, aggregate, expected):
    doc = {**copy.deepcopy(MODEL), "engagement": [{"name": "Quote", "event": "quote_request", "points": 100,
                                                   "decay": False}],
           "fit": [{"name": "Has title", "when": {"field": "job_title", "exists": True}, "points": 40}],
           "company": {"aggregate": aggregate, "top": 2}}
    assert client.post("/api/v1/scoring/models", json=doc, headers=auth).status_code == 201
    big = [create_lead(email=f"p{i}@big.example", company={"name": "Big"}, **fields) for i, fields in
           enumerate([{"job_title": "CEO"}, {}, {"job_title": "CTO"}])]  # scores 70 (after the quote), 0, 20
    small = create_lead(email="solo@small.example", company={"name": "Small"})
    _events(client, auth, big[0]["id"], {"type": "quote_request"})
    _events(client, auth, big[1]["id"], {"type": "quote_request"})  # 50: no title
    _events(client, auth, small["id"], {"type": "quote_request"})
    ranked = client.get("/api/v1/scoring/companies", headers=auth).json()
    assert [c["name"] for c in ranked] == ["Big", "Small"]
    assert ranked[0]["score"] == pytest.approx(expected) and ranked[0]["leads"] == 3
    one = client.get(f"/api/v1/companies/{big[0]['company']['id']}/score", headers=auth).json()
    assert one["score"] == pytest.approx(expected) and one["aggregate"] == aggregate


def test_named_scores_sit_beside_the_main_one(client, auth, director, db):
    doc = copy.deepcopy(MODEL)
    doc["engagement"] += [
        {"name": "Product A page", "event": "page_view", "where": {"field": "path", "starts_with": "/a/"},
         "points": 30, "scores": ["product_a"], "main": False},
    ]
    doc["fit"][1]["scores"] = ["product_a"]  # company size matters for product A too
    doc["engagement"][2]["scores"] = ["product_a"]  # a quote counts for both
    assert client.post("/api/v1/scoring/models", json=doc, headers=auth).status_code == 201
    _events(client, auth, director["id"], {"type": "page_view", "properties": {"path": "/a/pricing"}},
            {"type": "quote_request"})
    body = _score(client, auth, director["id"])
    assert body["engagement"] == pytest.approx(40, abs=1e-3)  # the product-A page is not in the main score
    named = body["named"]["product_a"]
    assert named["fit"] == 30 and named["engagement"] == pytest.approx(70, abs=1e-3)
    assert named["score"] == pytest.approx(0.5 * 30 + 0.5 * 70, abs=1e-3) and named["temperature"] == "hot"
    tagged = {r["name"]: (r["main"], r["scores"]) for r in body["rules"]}
    assert tagged["Product A page"] == (False, ["product_a"])
    with db.read() as session:
        stored = session.get(Lead, int(director["id"])).named_scores
    assert stored["product_a"]["score"] == pytest.approx(named["score"], abs=1e-3)
    bad = copy.deepcopy(doc)
    bad["engagement"][-1]["scores"] = []
    r = client.post("/api/v1/scoring/models", json=bad, headers=auth)
    assert r.status_code == 422
    assert 'engagement[5] "Product A page".main' in {f["field"] for f in r.json()["error"]["fields"]}


def test_a_company_change_through_one_lead_moves_its_colleagues_fit(client, auth, model, create_lead):
    first = create_lead(email="a@grow.example", company={"name": "Grow", "size": 10})
    second = create_lead(email="b@grow.example")
    assert _score(client, auth, second["id"])["fit"] == 0
    r = client.post("/api/v1/leads", json={"email": "a@grow.example", "company": {"size": 120}}, headers=auth)
    assert r.status_code == 200 and r.json()["company"]["id"] == first["company"]["id"]
    assert _score(client, auth, second["id"])["fit"] == 30
    assert client.get(f"/api/v1/leads/{second['id']}", headers=auth).json()["score"] == pytest.approx(15)


def test_a_named_score_cools_down_on_time_too(client, auth, director, db):
    doc = {**copy.deepcopy(MODEL), "engagement": [
        {"name": "Product B demo", "event": "demo_request", "points": 60, "scores": ["product_b"], "main": False}]}
    assert client.post("/api/v1/scoring/models", json=doc, headers=auth).status_code == 201
    _events(client, auth, director["id"], {"type": "demo_request"})
    body = _score(client, auth, director["id"])
    assert body["temperature"] == "cold" and body["named"]["product_b"]["temperature"] == "hot"
    with db.read() as session:
        due = session.get(Lead, int(director["id"])).score_due_at
    assert due is not None  # only the named score can change: the lead is still due
    with db.write() as session:
        assert refresh_due(session, now=due + timedelta(seconds=1)) == 1
    with db.read() as session:
        assert session.get(Lead, int(director["id"])).named_scores["product_b"]["temperature"] == "warm"


def test_a_lead_that_cools_down_by_decay_leaves_a_segment_of_hot_leads(client, auth, model, director, db):
    from leadline.services.segments.membership import recheck_due

    yesterday = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    _events(client, auth, director["id"], {"type": "quote_request", "occurred_at": yesterday},
            {"type": "email_click", "occurred_at": yesterday},
            {"type": "page_view", "occurred_at": yesterday, "properties": {"path": "/pricing"}})
    created = client.post("/api/v1/segments", json={"name": "Hot", "filter": "temperature = hot"}, headers=auth)
    segment = created.json()["id"]

    def members() -> list[str]:
        return [m["lead_id"] for m in client.get(f"/api/v1/segments/{segment}/members", headers=auth).json()["data"]]

    assert members() == [director["id"]]
    due = datetime.fromisoformat(_score(client, auth, director["id"])["next_change_at"])
    with db.write() as session:
        assert refresh_due(session, now=due + timedelta(seconds=1)) == 1
    recheck_due(db, due + timedelta(seconds=2))
    assert members() == []
