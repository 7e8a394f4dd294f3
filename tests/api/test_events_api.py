"""POST /api/v1/events: single and batch, idempotency, subjects, per-item results."""

from sqlalchemy import func, select

from leadline.storage.tables import Event, Lead, Workspace


def _count_events(db):
    with db.read() as session:
        return session.scalar(select(func.count()).select_from(Event))


def test_single_event_for_a_new_email_creates_the_lead(client, auth, db):
    r = client.post("/api/v1/events", json={"event_id": "e-1", "type": "download", "email": "New@Lead.io",
                                            "properties": {"asset": "white-paper"}}, headers=auth)
    assert r.status_code == 200
    body = r.json()
    assert body["accepted"] == 1 and body["results"][0]["status"] == "accepted"
    with db.read() as session:
        lead = session.scalar(select(Lead).where(Lead.email == "new@lead.io"))
        assert lead is not None and str(lead.id) == body["results"][0]["lead_id"]


def test_repeated_event_id_is_accepted_once_and_reported_as_duplicate(client, auth, db, create_lead):
    lead = create_lead()
    event = {"event_id": "dup-1", "type": "page_view", "lead_id": lead["id"]}
    first = client.post("/api/v1/events", json={"events": [event, event]}, headers=auth).json()
    assert [r["status"] for r in first["results"]] == ["accepted", "duplicate"]
    again = client.post("/api/v1/events", json=event, headers=auth).json()
    assert again["results"][0]["status"] == "duplicate"
    assert _count_events(db) == 1


def test_event_ids_are_unique_per_workspace_not_globally(client, make_key, db):
    for workspace in ("one", "two"):
        headers = {"Authorization": f"Bearer {make_key(workspace)}"}
        r = client.post("/api/v1/events", json={"event_id": "same", "type": "page_view", "anonymous_id": "v"},
                        headers=headers)
        assert r.json()["results"][0]["status"] == "accepted"
    assert _count_events(db) == 2


def test_batch_reports_each_item_and_keeps_the_good_ones(client, auth, db, create_lead):
    lead = create_lead()
    batch = {"events": [
        {"type": "page_view", "lead_id": lead["id"], "properties": {"url": "https://a.fr/pricing?x=1"}},
        {"type": "page_view", "lead_id": "999999"},
        {"type": "email_click", "email": "not-an-email"},
        {"type": "page_view", "anonymous_id": "visitor-1"},
    ]}
    body = client.post("/api/v1/events", json=batch, headers=auth).json()
    assert [r["status"] for r in body["results"]] == ["accepted", "error", "error", "accepted"]
    assert body["results"][1]["field"] == "lead_id"
    assert body["results"][2]["field"] == "email"
    with db.read() as session:
        paths = session.scalars(select(Event.path).order_by(Event.id)).all()
    assert paths == ["/pricing", None]


def test_event_source_moves_the_leads_last_touch(client, auth, create_lead):
    lead = create_lead()
    client.post("/api/v1/events", json={"type": "page_view", "lead_id": lead["id"],
                                        "occurred_at": "2026-01-02T10:00:00+01:00",
                                        "source": {"gclid": "abc", "utm_campaign": "brand"}}, headers=auth)
    detail = client.get(f"/api/v1/leads/{lead['id']}", headers=auth).json()
    assert detail["last_touch"]["channel"] == "sea"
    assert detail["timeline"][0]["occurred_at"].startswith("2026-01-02T09:00:00")


def test_workspace_can_restrict_event_types(client, auth, db, workspace_id):
    with db.write() as session:
        session.get(Workspace, workspace_id).allowed_event_types = ["page_view"]
    body = client.post("/api/v1/events", json={"events": [
        {"type": "page_view", "anonymous_id": "v"}, {"type": "webinar_attended", "anonymous_id": "v"}]},
        headers=auth).json()
    assert [r["status"] for r in body["results"]] == ["accepted", "error"]
    assert body["results"][1]["field"] == "type"


def test_anonymous_events_keep_the_visitor_id(client, auth, db):
    client.post("/api/v1/events", json={"type": "page_view", "anonymous_id": "anon-42"}, headers=auth)
    with db.read() as session:
        event = session.scalar(select(Event))
    assert (event.anonymous_id, event.lead_id) == ("anon-42", None)


def test_events_spanning_months_land_in_their_partitions(client, auth, db):
    months = ["2025-01-15T00:00:00Z", "2025-02-15T00:00:00Z", "2026-11-01T00:00:00Z"]
    body = client.post("/api/v1/events", json={"events": [
        {"type": "page_view", "anonymous_id": "v", "occurred_at": m} for m in months]}, headers=auth).json()
    assert body["accepted"] == 3
    assert _count_events(db) == 3


def test_batch_touch_rules_match_the_single_lead_rules(client, auth, create_lead):
    lead = create_lead(source={"utm_source": "newsletter", "utm_medium": "email"})
    created_at = client.get(f"/api/v1/leads/{lead['id']}", headers=auth).json()["first_touch"]["at"]
    client.post("/api/v1/events", json={"events": [
        {"type": "page_view", "lead_id": lead["id"], "occurred_at": "2020-01-01T00:00:00Z",
         "source": {"referrer": "https://www.google.com/"}},
        {"type": "page_view", "lead_id": lead["id"], "occurred_at": "2020-06-01T00:00:00Z",
         "source": {"utm_source": "linkedin", "utm_medium": "paid_social"}},
        {"type": "page_view", "lead_id": lead["id"], "source": {"landing_page": "https://acme.fr/"}},
    ]}, headers=auth)
    detail = client.get(f"/api/v1/leads/{lead['id']}", headers=auth).json()
    assert detail["first_touch"]["channel"] == "seo"            # older than the stored first touch
    assert detail["first_touch"]["at"].startswith("2020-01-01")
    assert detail["last_touch"]["channel"] == "direct"          # the newest one, even direct
    assert detail["last_non_direct_touch"]["channel"] == "email"  # 2020 touches are older than creation
    assert detail["last_non_direct_touch"]["at"] == created_at


def test_properties_round_trip_including_unicode_and_big_integers(client, auth, create_lead):
    lead = create_lead()
    props = {"title": "Tarifs — été", "count": 2**70, "nested": {"list": [1, 2.5, None, True]}}
    client.post("/api/v1/events", json={"type": "download", "lead_id": lead["id"], "properties": props},
                headers=auth)
    stored = client.get(f"/api/v1/leads/{lead['id']}", headers=auth).json()["timeline"][0]["properties"]
    assert stored == props
