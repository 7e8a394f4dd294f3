"""Qualification through the API: stage moves and their history, MQL review, BANT, status, activities, tasks
and deals; crossing the MQL threshold makes a lead MQL through the outbox."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from leadline.jobs.runner import Worker
from leadline.services import outbox
from leadline.services.activities import send_due_reminders
from leadline.storage.tables import SalesTask

MODEL = {
    "format": "leadline-scoring/1", "name": "Qualification test",
    "fit": [{"name": "Director", "when": {"field": "job_title", "matches": "(?i)director"}, "points": 60}],
    "engagement": [{"name": "Quote", "event": "quote_request", "points": 50}],
    "thresholds": {"warm": 20, "hot": 50},
    "mql": {"fit": 50, "engagement": 40},
}


def _move(client, auth, lead_id, stage, reason=None, **extra):
    return client.post(f"/api/v1/leads/{lead_id}/stage", json={"stage": stage, "reason": reason, **extra},
                       headers=auth)


def _stages(client, auth, lead_id):
    r = client.get(f"/api/v1/leads/{lead_id}/stages", headers=auth)
    assert r.status_code == 200, r.text
    return [(t["from_stage"], t["to_stage"]) for t in r.json()]


def test_a_lead_moves_forward_skipping_stages_and_its_history_is_kept(client, auth, create_lead):
    lead = create_lead()
    r = _move(client, auth, lead["id"], "sql", note="asked for a quote on the phone")
    assert r.status_code == 200, r.text
    assert r.json()["lead"]["stage"] == "sql" and r.json()["transition"]["actor_type"] == "api_key"
    assert _move(client, auth, lead["id"], "opportunity").status_code == 200
    assert _stages(client, auth, lead["id"]) == [("new", "sql"), ("sql", "opportunity")]
    assert client.get(f"/api/v1/leads/{lead['id']}", headers=auth).json()["stage"] == "opportunity"


def test_an_illegal_move_gets_409_with_the_reason_and_changes_nothing(client, auth, create_lead):
    lead = create_lead()
    assert _move(client, auth, lead["id"], "customer").status_code == 200
    r = _move(client, auth, lead["id"], "new")
    assert r.status_code == 409 and "customer stays a customer" in r.json()["error"]["message"]
    assert r.json()["error"]["fields"][0]["field"] == "stage"
    assert _stages(client, auth, lead["id"]) == [("new", "customer")]


def test_disqualifying_needs_a_reason_from_the_workspace_list(client, auth, create_lead):
    lead = create_lead()
    r = _move(client, auth, lead["id"], "disqualified")
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["field"] == "reason"
    r = _move(client, auth, lead["id"], "disqualified", "duplicate")
    assert r.status_code == 422 and "not_in_target" in r.json()["error"]["message"]
    assert _move(client, auth, lead["id"], "disqualified", "competitor").status_code == 200
    # A workspace may set its own list.
    r = client.put("/api/v1/qualification/reasons", json={"disqualify": ["student"], "recycle": ["later"]},
                   headers=auth)
    assert r.status_code == 200
    assert _move(client, auth, lead["id"], "recycled", "no_answer").status_code == 422
    assert _move(client, auth, lead["id"], "recycled", "later").status_code == 200
    assert client.put("/api/v1/qualification/reasons", json={"disqualify": ["Bad Reason!"], "recycle": ["x"]},
                      headers=auth).status_code == 422


def test_stage_moves_need_write_scope_and_stay_in_their_workspace(client, auth, make_key, create_lead):
    lead = create_lead()
    reader = {"Authorization": f"Bearer {make_key('acme', 'read')}"}
    assert _move(client, reader, lead["id"], "mql").status_code == 403
    other = {"Authorization": f"Bearer {make_key('globex', 'read,write')}"}
    assert _move(client, other, lead["id"], "mql").status_code == 404
    assert client.get(f"/api/v1/leads/{lead['id']}/stages", headers=other).status_code == 404
    assert _move(client, auth, "not-an-id", "mql").status_code == 404
    assert _move(client, auth, lead["id"], "lost").status_code == 422


def test_sales_accepts_or_rejects_an_mql_and_marketing_sees_the_rejections(client, auth, create_lead):
    accepted, rejected = create_lead(), create_lead()
    for lead in (accepted, rejected):
        assert _move(client, auth, lead["id"], "mql").status_code == 200
    r = client.post(f"/api/v1/leads/{accepted['id']}/mql-review", json={"decision": "accepted"}, headers=auth)
    assert r.status_code == 200 and r.json()["decision"] == "accepted"
    assert _stages(client, auth, accepted["id"])[-1] == ("mql", "sql")
    r = client.post(f"/api/v1/leads/{rejected['id']}/mql-review", json={"decision": "rejected"}, headers=auth)
    assert r.status_code == 422
    r = client.post(f"/api/v1/leads/{rejected['id']}/mql-review",
                    json={"decision": "rejected", "reason": "bad_fit", "note": "a student"}, headers=auth)
    assert r.status_code == 200
    assert _stages(client, auth, rejected["id"])[-1] == ("mql", "recycled")
    # Reviewing again: it is no longer an MQL.
    again = client.post(f"/api/v1/leads/{accepted['id']}/mql-review", json={"decision": "accepted"}, headers=auth)
    assert again.status_code == 409
    report = client.get("/api/v1/qualification/mql-reviews?decision=rejected", headers=auth).json()
    assert [(r["lead_id"], r["reason"], r["note"]) for r in report] == [(rejected["id"], "bad_fit", "a student")]


def test_bant_and_status_are_recorded_and_a_stage_change_resets_the_status(client, auth, create_lead):
    lead = create_lead()
    r = client.patch(f"/api/v1/leads/{lead['id']}/bant",
                     json={"budget": "25000", "currency": "EUR", "authority": "decision_maker",
                           "timeline": "this_quarter"}, headers=auth)
    assert r.status_code == 200, r.text
    assert r.json()["bant"] == {"budget": 25000.0, "currency": "EUR", "authority": "decision_maker",
                                "need": None, "timeline": "this_quarter"}
    r = client.patch(f"/api/v1/leads/{lead['id']}/bant", json={"need": "a CRM", "budget": None}, headers=auth)
    assert r.json()["bant"]["need"] == "a CRM" and r.json()["bant"]["budget"] is None
    assert r.json()["bant"]["authority"] == "decision_maker"
    bad = client.patch(f"/api/v1/leads/{lead['id']}/bant", json={"budget": -5, "currency": "euro"}, headers=auth)
    assert bad.status_code == 422 and {f["field"] for f in bad.json()["error"]["fields"]} == {"budget", "currency"}
    r = client.put(f"/api/v1/leads/{lead['id']}/status", json={"status": "attempting_contact"}, headers=auth)
    assert r.json()["status"] == "attempting_contact"
    assert _move(client, auth, lead["id"], "mql").json()["lead"]["status"] is None


def test_the_first_contact_sets_the_first_sales_touch_and_notes_do_not(client, auth, create_lead):
    lead = create_lead()
    note_at = datetime(2026, 3, 1, 9, tzinfo=UTC)
    r = client.post(f"/api/v1/leads/{lead['id']}/activities",
                    json={"kind": "note", "body": "met at the fair", "occurred_at": note_at.isoformat()},
                    headers=auth)
    assert r.status_code == 201
    view = client.get(f"/api/v1/leads/{lead['id']}", headers=auth).json()
    assert view["follow_up"]["first_touch_at"] is None
    call_at = note_at + timedelta(hours=2)
    for at in (call_at, call_at + timedelta(hours=1)):
        client.post(f"/api/v1/leads/{lead['id']}/activities",
                    json={"kind": "call", "outcome": "no_answer", "occurred_at": at.isoformat()}, headers=auth)
    view = client.get(f"/api/v1/leads/{lead['id']}", headers=auth).json()
    assert datetime.fromisoformat(view["follow_up"]["first_touch_at"]) == call_at
    listed = client.get(f"/api/v1/leads/{lead['id']}/activities", headers=auth).json()
    assert [a["kind"] for a in listed] == ["call", "call", "note"]
    unknown_user = client.post(f"/api/v1/leads/{lead['id']}/activities", json={"kind": "call", "user_id": "999"},
                               headers=auth)
    assert unknown_user.status_code == 404 and unknown_user.json()["error"]["fields"][0]["field"] == "user_id"


def test_tasks_are_due_done_and_reminded_once(client, auth, create_lead, db):
    lead = create_lead()
    remind = datetime.now(UTC) - timedelta(minutes=1)
    r = client.post(f"/api/v1/leads/{lead['id']}/tasks",
                    json={"title": "Call back", "due_at": (remind + timedelta(hours=1)).isoformat(),
                          "remind_at": remind.isoformat()}, headers=auth)
    assert r.status_code == 201, r.text
    task_id = r.json()["id"]
    assert client.post(f"/api/v1/leads/{lead['id']}/tasks", json={"title": " "}, headers=auth).status_code == 422
    later = client.post(f"/api/v1/leads/{lead['id']}/tasks",
                        json={"title": "Send the deck", "remind_at": (remind + timedelta(days=2)).isoformat()},
                        headers=auth).json()
    Worker(db).tick()
    with db.read() as session:
        assert session.get_one(SalesTask, int(task_id)).reminded_at is not None
        assert session.get_one(SalesTask, int(later["id"])).reminded_at is None
    with db.write() as session:  # reminded once: nothing left to remind
        assert send_due_reminders(session, now=datetime.now(UTC)) == 0
    r = client.patch(f"/api/v1/tasks/{task_id}", json={"done": True}, headers=auth)
    assert r.status_code == 200 and r.json()["done_at"] is not None
    listed = client.get(f"/api/v1/leads/{lead['id']}/tasks", headers=auth).json()
    assert [(t["id"], t["done_at"] is None) for t in listed] == [(later["id"], True), (task_id, False)]  # open first
    assert client.patch("/api/v1/tasks/424242", json={"done": True}, headers=auth).status_code == 404


def test_a_won_deal_makes_a_customer_and_a_lost_one_recycles_the_lead(client, auth, create_lead):
    won, lost = create_lead(), create_lead()
    for lead in (won, lost):
        r = client.put(f"/api/v1/leads/{lead['id']}/deal",
                       json={"name": "Annual plan", "amount": "12000.50", "expected_close_on": "2026-12-31"},
                       headers=auth)
        assert r.status_code == 200 and r.json()["amount"] == 12000.5
    r = client.post(f"/api/v1/leads/{won['id']}/deal/close", json={"outcome": "won"}, headers=auth)
    assert r.status_code == 200 and r.json()["outcome"] == "won"
    assert _stages(client, auth, won["id"]) == [("new", "opportunity"), ("opportunity", "customer")]
    r = client.post(f"/api/v1/leads/{lost['id']}/deal/close", json={"outcome": "lost", "reason": "price"},
                    headers=auth)
    assert r.status_code == 200
    assert _stages(client, auth, lost["id"])[-1] == ("opportunity", "recycled")
    again = client.post(f"/api/v1/leads/{lost['id']}/deal/close", json={"outcome": "won"}, headers=auth)
    assert again.status_code == 409
    assert len(client.get(f"/api/v1/leads/{lost['id']}/deals", headers=auth).json()) == 1


@pytest.fixture
def model(client, auth):
    r = client.post("/api/v1/scoring/models", json=MODEL, headers=auth)
    assert r.status_code == 201, r.text


def test_crossing_the_mql_threshold_makes_the_lead_mql_through_the_outbox(client, auth, model, create_lead, db):
    lead = create_lead(job_title="Sales Director")
    r = client.post("/api/v1/events", json={"events": [{"lead_id": lead["id"], "type": "quote_request"}]},
                    headers=auth)
    assert r.status_code == 200
    assert client.get(f"/api/v1/leads/{lead['id']}", headers=auth).json()["stage"] == "new"
    outbox.drain(db)
    view = client.get(f"/api/v1/leads/{lead['id']}", headers=auth).json()
    assert view["stage"] == "mql"
    history = client.get(f"/api/v1/leads/{lead['id']}/stages", headers=auth).json()
    assert [(h["to_stage"], h["actor_type"], h["actor"]) for h in history] == [("mql", "rule", "scoring")]
    # Another event above the threshold does not move it again.
    client.post("/api/v1/events", json={"events": [{"lead_id": lead["id"], "type": "quote_request"}]},
                headers=auth)
    outbox.drain(db)
    assert len(client.get(f"/api/v1/leads/{lead['id']}/stages", headers=auth).json()) == 1


def test_a_lead_moved_by_hand_is_not_pulled_back_to_mql(client, auth, model, create_lead, db):
    lead = create_lead(job_title="Sales Director")
    client.post("/api/v1/events", json={"events": [{"lead_id": lead["id"], "type": "quote_request"}]},
                headers=auth)
    assert _move(client, auth, lead["id"], "sql").status_code == 200  # before the worker ran
    outbox.drain(db)
    assert _stages(client, auth, lead["id"]) == [("new", "sql")]
