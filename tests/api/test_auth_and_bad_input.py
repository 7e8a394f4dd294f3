"""Security and bad input: every malformed request gets a precise 4xx, and nothing is half-written."""

import pytest
from sqlalchemy import func, select

from leadline.storage.tables import ApiKey, Event, Lead


def _leads(db):
    with db.read() as session:
        return session.scalar(select(func.count()).select_from(Lead))


def test_missing_or_wrong_key_is_401(client):
    assert client.get("/api/v1/leads").status_code == 401
    r = client.get("/api/v1/leads", headers={"Authorization": "Bearer ll_wrong"})
    assert r.status_code == 401
    assert r.json()["error"]["message"] == "invalid or revoked API key"


def test_keys_are_stored_hashed(db, make_key):
    token = make_key()
    with db.read() as session:
        stored = session.scalars(select(ApiKey.key_hash)).all()
    assert token not in stored
    assert all(len(h) == 64 for h in stored)


def test_revoked_key_is_401(client, db, make_key):
    token = make_key()
    with db.write() as session:
        for key in session.scalars(select(ApiKey)):
            key.revoked_at = key.created_at
    assert client.get("/api/v1/leads", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_read_only_key_cannot_write(client, make_key):
    headers = {"Authorization": f"Bearer {make_key(scopes='read')}"}
    assert client.get("/api/v1/leads", headers=headers).status_code == 200
    r = client.post("/api/v1/leads", json={"email": "a@b.io"}, headers=headers)
    assert r.status_code == 403
    assert "write" in r.json()["error"]["message"]


def test_write_key_cannot_manage_forms(client, make_key):
    headers = {"Authorization": f"Bearer {make_key(scopes='read,write')}"}
    assert client.post("/api/v1/forms", json={"name": "Contact"}, headers=headers).status_code == 403


def test_another_workspaces_lead_is_404(client, make_key, create_lead):
    lead = create_lead()
    other = {"Authorization": f"Bearer {make_key('other-co')}"}
    assert client.get(f"/api/v1/leads/{lead['id']}", headers=other).status_code == 404
    assert client.patch(f"/api/v1/leads/{lead['id']}", json={"first_name": "X"}, headers=other).status_code == 404
    listed = client.get("/api/v1/leads", headers=other).json()["data"]
    assert listed == []
    event = client.post("/api/v1/events", json={"type": "page_view", "lead_id": lead["id"]}, headers=other).json()
    assert event["results"][0]["status"] == "error"


@pytest.mark.parametrize("lead_id", ["abc", "0", "-1", "99999999999999999999999", "1.5", "²", "١٢"])
def test_malformed_ids_are_404_not_500(client, auth, lead_id):
    assert client.get(f"/api/v1/leads/{lead_id}", headers=auth).status_code == 404


@pytest.mark.parametrize(("body", "field"), [
    ({"email": "not-an-email"}, "email"),
    ({"email": "a@b.io", "phone": "123"}, "phone"),
    ({"email": "a@b.io", "country": "Atlantis"}, "country"),
    ({"email": "a@b.io", "first_name": 12}, "first_name"),
    ({"email": "a@b.io", "unknown_field": 1}, "unknown_field"),
    ({"email": "a@b.io", "company": {"domain": "no spaces allowed.com"}}, "company.domain"),
    ({"email": "a@b.io", "source": {"channel": "carrier-pigeon"}}, "source.channel"),
    ({"first_name": "No identity"}, "email"),
])
def test_invalid_lead_gets_422_with_the_field_and_writes_nothing(client, auth, db, body, field):
    r = client.post("/api/v1/leads", json=body, headers=auth)
    assert r.status_code == 422
    fields = [f["field"] for f in r.json()["error"]["fields"]]
    assert field in fields, r.json()
    assert all(f["reason"] for f in r.json()["error"]["fields"])
    assert _leads(db) == 0


def test_malformed_json_is_422(client, auth):
    r = client.post("/api/v1/leads", content=b"{not json", headers={**auth, "content-type": "application/json"})
    assert r.status_code == 422


@pytest.mark.parametrize(("event", "field"), [
    ({"type": "Page View", "anonymous_id": "v"}, "type"),
    ({"type": "page_view"}, "email"),
    ({"type": "page_view", "anonymous_id": "v", "occurred_at": "2026-01-01T00:00:00"}, "occurred_at"),
    ({"type": "page_view", "anonymous_id": "v", "occurred_at": "yesterday"}, "occurred_at"),
    ({"type": "page_view", "lead_id": "abc"}, "lead_id"),
])
def test_invalid_events_get_422_with_the_field(client, auth, db, event, field):
    r = client.post("/api/v1/events", json=event, headers=auth)
    assert r.status_code == 422, r.text
    assert any(field in f["field"] for f in r.json()["error"]["fields"]), r.json()
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(Event)) == 0


def test_event_far_in_the_future_is_an_item_error(client, auth):
    r = client.post("/api/v1/events", json={"type": "page_view", "anonymous_id": "v",
                                            "occurred_at": "2999-01-01T00:00:00Z"}, headers=auth)
    assert r.json()["results"][0] == {"index": 0, "status": "error", "event_id": None, "lead_id": None,
                                      "error": "occurred_at is more than a day in the future", "field": "occurred_at"}


def test_batch_over_the_limit_is_refused_whole(client, auth, db):
    events = [{"type": "page_view", "anonymous_id": "v"} for _ in range(1001)]
    r = client.post("/api/v1/events", json={"events": events}, headers=auth)
    assert r.status_code == 413
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(Event)) == 0


def test_oversized_body_is_413(client, auth):
    big = b'{"email": "a@b.io", "first_name": "' + b"x" * (3 * 1024 * 1024) + b'"}'
    r = client.post("/api/v1/leads", content=big, headers={**auth, "content-type": "application/json"})
    assert r.status_code == 413


def test_unknown_route_is_a_json_404(client):
    r = client.get("/api/v1/nothing-here")
    assert r.status_code == 404 and r.json()["error"]["status"] == 404


@pytest.mark.parametrize(("ttl", "after_revocation"), [(0.0, 401), (3600.0, 200)])
def test_authenticated_keys_are_cached_for_the_configured_time(db, make_key, ttl, after_revocation):
    from fastapi.testclient import TestClient

    from leadline.api.app import create_app
    from leadline.config import Settings

    token = make_key()
    headers = {"Authorization": f"Bearer {token}"}
    with TestClient(create_app(Settings(database_url=db.url, key_cache_seconds=ttl), db)) as client:
        assert client.get("/api/v1/leads", headers=headers).status_code == 200
        with db.write() as session:
            for key in session.scalars(select(ApiKey)):
                key.revoked_at = key.created_at
        assert client.get("/api/v1/leads", headers=headers).status_code == after_revocation
