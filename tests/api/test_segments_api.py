"""/api/v1/segments: saved and ad-hoc counts, CRUD, members with cursors, static lists, located filter errors."""

from leadline.services import outbox
from leadline.services.segments.membership import recheck_due
from leadline.storage.types import utcnow

FILTER = {"format": "leadline-filter/1", "where": {"field": "country", "in": ["FR", "BE"]}}


def test_create_count_members_patch_delete(client, auth, create_lead, db):
    ids = [create_lead(country=c)["id"] for c in ("FR", "BE", "DE", "FR")]
    created = client.post("/api/v1/segments", json={"name": "Benelux+FR", "filter": FILTER}, headers=auth)
    assert created.status_code == 201, created.text
    segment = created.json()
    assert segment["reads"]["fields"] == ["country"] and segment["kind"] == "dynamic"
    sid = segment["id"]
    assert client.get(f"/api/v1/segments/{sid}/count", headers=auth).json() == {"count": 3}

    page = client.get(f"/api/v1/segments/{sid}/members?limit=2", headers=auth).json()
    assert [m["lead_id"] for m in page["data"]] == [ids[3], ids[1]]
    rest = client.get(f"/api/v1/segments/{sid}/members", params={"limit": 2, "cursor": page["next_cursor"]},
                      headers=auth).json()
    assert [m["lead_id"] for m in rest["data"]] == [ids[0]] and rest["next_cursor"] is None

    # a lead changes country: it enters within a worker pass
    assert client.patch(f"/api/v1/leads/{ids[2]}", json={"country": "BE"}, headers=auth).status_code == 200
    recheck_due(db, utcnow())
    outbox.drain(db)
    members = client.get(f"/api/v1/segments/{sid}/members", headers=auth).json()["data"]
    assert ids[2] in {m["lead_id"] for m in members}

    patched = client.patch(f"/api/v1/segments/{sid}", json={"filter": "country = DE", "persona": {
        "description": "German buyers"}}, headers=auth)
    assert patched.status_code == 200 and patched.json()["persona"]["description"] == "German buyers"
    assert client.get(f"/api/v1/segments/{sid}/count", headers=auth).json() == {"count": 0}
    personas = client.get("/api/v1/segments?personas=true", headers=auth).json()["data"]
    assert [p["id"] for p in personas] == [sid]
    assert client.delete(f"/api/v1/segments/{sid}", headers=auth).status_code == 204
    assert client.get(f"/api/v1/segments/{sid}", headers=auth).status_code == 404


def test_bad_filters_are_422_with_the_node_and_the_reason(client, auth):
    bad = {"format": "leadline-filter/1", "where": {"all": [{"field": "score", "gt": "high"}]}}
    response = client.post("/api/v1/segments/count", json={"filter": bad}, headers=auth)
    assert response.status_code == 422
    assert response.json()["error"]["fields"] == [{"field": "filter.where.all[0].gt",
                                                   "reason": "expected a number, got a text"}]
    text = client.post("/api/v1/segments", json={"name": "x", "filter": "country in [FR"}, headers=auth)
    assert text.status_code == 422
    assert text.json()["error"]["fields"] == [{"field": "filter",
                                               "reason": "column 15: expected ',' or ']'; found the end"}]
    assert client.post("/api/v1/segments", json={"name": "x"}, headers=auth).status_code == 422


def test_adhoc_count_with_hostile_text_and_other_workspaces(client, auth, create_lead, make_key):
    create_lead(job_title="'; DROP TABLE leads; --")
    create_lead(job_title="100% pure")
    other = {"Authorization": f"Bearer {make_key('other')}"}
    client.post("/api/v1/leads", json={"email": "o@x.example", "job_title": "100% pure"}, headers=other)
    count = client.post("/api/v1/segments/count", json={"filter": 'job_title contains "%"'}, headers=auth)
    assert count.json() == {"count": 1}
    hostile = client.post("/api/v1/segments/count", json={"filter": {"format": "leadline-filter/1", "where": {
        "field": "job_title", "equals": "'; DROP TABLE leads; --"}}}, headers=auth)
    assert hostile.json() == {"count": 1}
    assert client.get("/api/v1/leads", headers=auth).json()["data"]


def test_static_list_members_and_conflicts(client, auth, create_lead):
    a, b = create_lead()["id"], create_lead()["id"]
    sid = client.post("/api/v1/segments", json={"name": "VIP", "kind": "static"}, headers=auth).json()["id"]
    added = client.post(f"/api/v1/segments/{sid}/members", json={"lead_ids": [a, b]}, headers=auth)
    assert added.json() == {"changed": 2}
    assert client.get(f"/api/v1/segments/{sid}/count", headers=auth).json() == {"count": 2}
    assert client.post(f"/api/v1/segments/{sid}/members/remove", json={"lead_ids": [a]},
                       headers=auth).json() == {"changed": 1}
    missing = client.post(f"/api/v1/segments/{sid}/members", json={"lead_ids": ["999999"]}, headers=auth)
    assert missing.status_code == 422 and missing.json()["error"]["fields"][0]["field"] == "lead_ids"
    dynamic = client.post("/api/v1/segments", json={"name": "D", "filter": FILTER}, headers=auth).json()["id"]
    assert client.post(f"/api/v1/segments/{dynamic}/members", json={"lead_ids": [a]},
                       headers=auth).status_code == 409
    assert client.post("/api/v1/segments", json={"name": "VIP", "kind": "static"}, headers=auth).status_code == 409
