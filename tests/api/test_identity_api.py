"""The identity endpoints: /identify, /leads/{id}/merge, /merges/{id}/undo, /duplicates."""

import pytest


def _post_event(client, auth, **event):
    response = client.post("/api/v1/events", json={"type": "page_view", **event}, headers=auth)
    assert response.status_code == 200 and response.json()["accepted"] == 1, response.text
    return response.json()["results"][0]


def _timeline_ids(client, auth, lead_id):
    response = client.get(f"/api/v1/leads/{lead_id}", headers=auth)
    assert response.status_code == 200
    return sorted(int(e["id"]) for e in response.json()["timeline"])


@pytest.fixture
def foreign_auth(make_key):
    return {"Authorization": f"Bearer {make_key('globex')}"}


# --- identify ------------------------------------------------------------------------------------------------


def test_identify_with_an_email_creates_the_lead_and_brings_the_visitors_history(client, auth):
    _post_event(client, auth, anonymous_id="v1", occurred_at="2025-03-01T09:00:00Z",
                source={"utm_source": "google", "utm_medium": "cpc", "utm_campaign": "brand"},
                properties={"path": "/pricing"})
    _post_event(client, auth, anonymous_id="v1", occurred_at="2025-03-02T09:00:00Z")
    response = client.post("/api/v1/identify", headers=auth, json={
        "anonymous_id": "v1", "email": "Jean.Dupont@Acme.fr",
        "lead": {"first_name": "Jean", "source": {"utm_medium": "newsletter"}}})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["created"] is True and body["attached_events"] == 2
    lead = body["lead"]
    assert lead["email"] == "jean.dupont@acme.fr" and lead["first_name"] == "Jean"
    assert lead["first_touch"]["channel"] == "sea" and lead["first_touch"]["campaign"] == "brand"
    assert len(_timeline_ids(client, auth, lead["id"])) == 2
    again = client.post("/api/v1/identify", headers=auth, json={"anonymous_id": "v1", "email": "jean.dupont@acme.fr"})
    assert again.json()["attached_events"] == 0 and again.json()["created"] is False
    assert again.json()["lead"]["id"] == lead["id"]


def test_identify_with_an_email_only_fills_empty_fields(client, auth, create_lead):
    lead = create_lead(email="ceo@acme.fr", job_title="CEO")
    response = client.post("/api/v1/identify", headers=auth, json={
        "anonymous_id": "v9", "email": "ceo@acme.fr", "lead": {"job_title": "Intern", "last_name": "Martin"}})
    assert response.status_code == 200
    body = response.json()["lead"]
    assert body["id"] == lead["id"] and body["job_title"] == "CEO" and body["last_name"] == "Martin"


def test_identify_by_lead_id(client, auth, create_lead):
    lead = create_lead()
    _post_event(client, auth, anonymous_id="v2", occurred_at="2025-03-01T09:00:00Z")
    response = client.post("/api/v1/identify", headers=auth, json={"anonymous_id": "v2", "lead_id": lead["id"]})
    assert response.status_code == 200
    assert response.json()["attached_events"] == 1 and response.json()["lead"]["id"] == lead["id"]


@pytest.mark.parametrize(("body", "status"), [
    ({"anonymous_id": "v"}, 422),
    ({"anonymous_id": "v", "lead_id": "1", "email": "a@acme.fr"}, 422),
    ({"anonymous_id": "v", "lead_id": "abc"}, 422),  # the schema gives lead ids a pattern
    ({"anonymous_id": "v", "lead_id": "999999"}, 404),
    ({"anonymous_id": "v", "email": "not-an-email"}, 422),
    ({"anonymous_id": "", "email": "a@acme.fr"}, 422),
])
def test_identify_refuses_bad_bodies(client, auth, body, status):
    response = client.post("/api/v1/identify", headers=auth, json=body)
    assert response.status_code == status, response.text
    assert response.json()["error"]["status"] == status


def test_identify_will_not_take_a_visitor_from_another_lead(client, auth, create_lead):
    first, second = create_lead(), create_lead()
    assert client.post("/api/v1/identify", headers=auth,
                       json={"anonymous_id": "v3", "lead_id": first["id"]}).status_code == 200
    response = client.post("/api/v1/identify", headers=auth, json={"anonymous_id": "v3", "lead_id": second["id"]})
    assert response.status_code == 409
    assert response.json()["error"]["fields"][0]["field"] == "anonymous_id"


def test_identify_cannot_name_a_lead_of_another_workspace(client, auth, foreign_auth, create_lead):
    lead = create_lead()
    response = client.post("/api/v1/identify", headers=foreign_auth, json={"anonymous_id": "v", "lead_id": lead["id"]})
    assert response.status_code == 404


# --- merge and undo ------------------------------------------------------------------------------------------


def test_merge_then_undo(client, auth, create_lead):
    survivor = create_lead(first_name="Jean", source={"utm_medium": "newsletter"})
    other = create_lead(job_title="CEO", source={"utm_source": "google", "utm_medium": "cpc"})
    _post_event(client, auth, lead_id=survivor["id"], occurred_at="2025-03-01T09:00:00Z")
    _post_event(client, auth, lead_id=other["id"], occurred_at="2025-03-02T09:00:00Z")
    _post_event(client, auth, lead_id=other["id"], occurred_at="2025-03-03T09:00:00Z")
    own, theirs = _timeline_ids(client, auth, survivor["id"]), _timeline_ids(client, auth, other["id"])
    assert len(own) == 1 and len(theirs) == 2

    response = client.post(f"/api/v1/leads/{survivor['id']}/merge", headers=auth, json={"other_id": other["id"]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["merged_id"] == other["id"] and body["survivor"]["id"] == survivor["id"]
    assert body["survivor"]["job_title"] == "CEO" and body["survivor"]["first_name"] == "Jean"
    assert _timeline_ids(client, auth, survivor["id"]) == sorted(own + theirs)
    merged = client.get(f"/api/v1/leads/{other['id']}", headers=auth).json()
    assert merged["merged_into_id"] == survivor["id"] and merged["timeline"] == []
    # the merged lead's email now stands for the survivor
    again = client.post("/api/v1/leads", headers=auth, json={"email": other["email"], "country": "FR"})
    assert again.status_code == 200 and again.json()["id"] == survivor["id"]

    undo = client.post(f"/api/v1/merges/{body['merge_id']}/undo", headers=auth)
    assert undo.status_code == 200, undo.text
    restored = undo.json()
    assert restored["merge_id"] == body["merge_id"]
    assert restored["restored"]["id"] == other["id"] and restored["restored"]["merged_into_id"] is None
    assert restored["survivor"]["job_title"] is None and restored["survivor"]["country"] == "FR"
    assert _timeline_ids(client, auth, survivor["id"]) == own
    assert _timeline_ids(client, auth, other["id"]) == theirs
    assert client.post(f"/api/v1/merges/{body['merge_id']}/undo", headers=auth).status_code == 409


def test_merge_refusals(client, auth, foreign_auth, create_lead):
    a, b, c = create_lead(), create_lead(), create_lead()
    assert client.post(f"/api/v1/leads/{a['id']}/merge", headers=auth, json={"other_id": a["id"]}).status_code == 409
    assert client.post("/api/v1/leads/abc/merge", headers=auth, json={"other_id": a["id"]}).status_code == 404
    assert client.post(f"/api/v1/leads/{a['id']}/merge", headers=auth, json={"other_id": "x1"}).status_code == 404
    assert client.post(f"/api/v1/leads/{a['id']}/merge", headers=foreign_auth,
                       json={"other_id": b["id"]}).status_code == 404
    assert client.post(f"/api/v1/leads/{a['id']}/merge", headers=auth, json={"other_id": b["id"]}).status_code == 200
    assert client.post(f"/api/v1/leads/{c['id']}/merge", headers=auth, json={"other_id": b["id"]}).status_code == 409
    assert client.get(f"/api/v1/leads/{c['id']}", headers=auth).json()["merged_into_id"] is None


def test_undo_of_another_workspaces_merge_is_not_found(client, auth, foreign_auth, create_lead):
    a, b = create_lead(), create_lead()
    merged = client.post(f"/api/v1/leads/{a['id']}/merge", headers=auth, json={"other_id": b["id"]})
    merge_id = merged.json()["merge_id"]
    assert client.post(f"/api/v1/merges/{merge_id}/undo", headers=foreign_auth).status_code == 404
    assert client.post("/api/v1/merges/nope/undo", headers=auth).status_code == 404
    assert client.get(f"/api/v1/leads/{b['id']}", headers=auth).json()["merged_into_id"] == a["id"]


def test_merging_needs_the_write_scope(client, make_key, create_lead):
    a, b = create_lead(), create_lead()
    reader = {"Authorization": f"Bearer {make_key('acme', 'read')}"}
    response = client.post(f"/api/v1/leads/{a['id']}/merge", headers=reader, json={"other_id": b["id"]})
    assert response.status_code == 403
    assert client.post("/api/v1/identify", headers=reader, json={"anonymous_id": "v", "lead_id": a["id"]}) \
        .status_code == 403


# --- duplicates ----------------------------------------------------------------------------------------------


def test_duplicates_lists_likely_pairs_with_reasons(client, auth, make_key, create_lead):
    dupont = create_lead(email="jean.dupont@acme.fr", first_name="Jean", last_name="Dupont")
    dupond = create_lead(email="j.dupond@acme.fr", first_name="Jean", last_name="Dupond")
    create_lead(email="marie@acme.fr", first_name="Marie", last_name="Curie")
    create_lead(email="jean@globex.com", first_name="Jean", last_name="Dupont")
    reader = {"Authorization": f"Bearer {make_key('acme', 'read')}"}
    response = client.get("/api/v1/duplicates", headers=reader)
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert [(d["lead"]["id"], d["other"]["id"]) for d in data] == [(dupont["id"], dupond["id"])]
    assert data[0]["score"] >= 85 and "same company" in data[0]["reasons"]
    assert data[0]["lead"]["company"]["domain"] == "acme.fr"
    assert client.get("/api/v1/duplicates?min_score=10", headers=reader).status_code == 422


def test_duplicates_are_per_workspace(client, foreign_auth, create_lead):
    create_lead(email="jean.dupont@acme.fr", first_name="Jean", last_name="Dupont")
    create_lead(email="j.dupond@acme.fr", first_name="Jean", last_name="Dupond")
    response = client.get("/api/v1/duplicates", headers=foreign_auth)
    assert response.status_code == 200 and response.json()["data"] == []
